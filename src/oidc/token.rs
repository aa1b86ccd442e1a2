//! Identity-token verification: shape guard, issuer, signature, and time and audience claims.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Error;
use super::issuers::{IssuerPool, ResolvedIssuer};
use super::jwks::KeyCache;

/// Largest identity token accepted. Real CI tokens are 1–3 KiB; the cap is checked before any
/// decoding, so an oversized token costs nothing (cf. GHSA-f83f-xpx7-ffpw).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Asymmetric algorithms only: never `none`, never HMAC (an HMAC "verified" with a public key
/// as the secret is the classic JWT forgery).
const ACCEPTED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// A token whose signature, issuer, audience and times were checked.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The issuer that signed it.
    pub issuer: ResolvedIssuer,
    /// All claims, for the principal of the issuer's type.
    pub claims: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// The claims set's issuer, read before verification. Every other member is skipped without
/// being stored (jsonwebtoken parses the verified claims in full); a claims set that is not a
/// JSON object is refused by `decode_segment` before it gets here, and one that names `iss`
/// twice by serde.
#[derive(Deserialize)]
struct ClaimedIssuer {
    #[serde(default)]
    iss: Option<Value>,
}

/// What a token says about itself before anything is verified: enough to choose the keys
/// that must then verify it, and nothing to be trusted.
#[derive(Debug)]
pub struct Unverified {
    /// The signature algorithm, one of the accepted asymmetric ones.
    pub alg: Algorithm,
    /// The key ID the header names, if any.
    pub kid: Option<String>,
    /// The claimed issuer.
    pub iss: String,
}

/// Reads the shape, header and claimed issuer of `token` without verifying anything.
pub fn inspect(token: &str) -> Result<Unverified, Error> {
    let (header, payload) = split(token)?;
    let header: RawHeader = decode_segment(header, "header")?;
    if !ACCEPTED_ALGORITHMS.contains(&header.alg.as_str()) {
        return Err(Error::UnsupportedAlgorithm(header.alg));
    }
    let alg: Algorithm = header
        .alg
        .parse()
        .map_err(|_| Error::UnsupportedAlgorithm(header.alg.clone()))?;
    let claimed: ClaimedIssuer = decode_segment(payload, "payload")?;
    match claimed.iss {
        Some(Value::String(iss)) => Ok(Unverified {
            alg,
            kid: header.kid,
            iss,
        }),
        _ => Err(Error::MissingClaim("iss".into())),
    }
}

/// Verifies `token` against the configured issuers.
pub async fn verify(
    token: &str,
    issuers: &IssuerPool,
    keys: &KeyCache,
    leeway: Duration,
) -> Result<VerifiedToken, Error> {
    // The issuer is read before the signature is checked only to choose the keys that must
    // then verify it.
    let Unverified { alg, kid, iss } = inspect(token)?;
    let issuer = issuers.resolve(&iss).ok_or(Error::UnknownIssuer(iss))?;

    let candidates = keys.candidates(&issuer, kid.as_deref(), alg).await?;

    let mut validation = Validation::new(alg);
    validation.leeway = leeway.as_secs();
    validation.set_audience(&[&issuer.settings.client_id]);
    validation.set_issuer(&[&issuer.url]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_nbf = true;

    let mut last = Error::BadSignature;
    for candidate in &candidates {
        match jsonwebtoken::decode::<Map<String, Value>>(token, &candidate.key, &validation) {
            Ok(data) => {
                check_iat(&data.claims, leeway)?;
                return Ok(VerifiedToken {
                    issuer,
                    claims: data.claims,
                });
            }
            Err(e) => {
                last = map_jwt_error(e.kind(), &issuer);
                // Only a signature failure can be cured by another key.
                if !matches!(last, Error::BadSignature) {
                    return Err(last);
                }
            }
        }
    }
    Err(last)
}

/// The shape guard: bounded size and exactly three non-empty base64url segments.
fn split(token: &str) -> Result<(&str, &str), Error> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Error::Malformed(format!(
            "it is {} bytes; the limit is {MAX_TOKEN_BYTES}",
            token.len()
        )));
    }
    let dots = token.bytes().filter(|&b| b == b'.').count();
    if dots != 2 {
        return Err(Error::Malformed(format!(
            "a JWT has exactly 3 dot-separated parts, this has {}",
            dots + 1
        )));
    }
    let mut parts = token.split('.');
    let (header, payload, signature) = match (parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s)) => (h, p, s),
        _ => return Err(Error::Malformed("missing parts".into())),
    };
    let is_b64url = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !is_b64url(header) || !is_b64url(payload) {
        return Err(Error::Malformed(
            "header and payload must be base64url".into(),
        ));
    }
    if !is_b64url(signature) {
        return Err(Error::Malformed(
            "the signature part is empty or not base64url".into(),
        ));
    }
    Ok((header, payload))
}

/// A JOSE header or claims set: base64url of a JSON object (RFC 7519 §7.2).
fn decode_segment<T: serde::de::DeserializeOwned>(segment: &str, what: &str) -> Result<T, Error> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Error::Malformed(format!("the {what} is not base64url")))?;
    // serde reads a struct from an array as well; a header or claims set is only an object.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(Error::Malformed(format!("the {what} is not a JSON object")));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Malformed(format!("the {what} is not the expected JSON: {e}")))
}

fn check_iat(claims: &Map<String, Value>, leeway: Duration) -> Result<(), Error> {
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or_else(|| Error::MissingClaim("iat".into()))?;
    let now = jsonwebtoken::get_current_timestamp() as f64;
    if iat > now + leeway.as_secs_f64() {
        return Err(Error::NotYetValid);
    }
    Ok(())
}

fn map_jwt_error(kind: &ErrorKind, issuer: &ResolvedIssuer) -> Error {
    match kind {
        ErrorKind::InvalidSignature => Error::BadSignature,
        ErrorKind::ExpiredSignature => Error::Expired,
        ErrorKind::ImmatureSignature => Error::NotYetValid,
        ErrorKind::InvalidAudience => Error::WrongAudience(issuer.settings.client_id.clone()),
        ErrorKind::InvalidIssuer => Error::UnknownIssuer(issuer.url.clone()),
        ErrorKind::MissingRequiredClaim(c) => Error::MissingClaim(c.clone()),
        ErrorKind::InvalidClaimFormat(c) => Error::MissingClaim(c.clone()),
        ErrorKind::InvalidAlgorithm => Error::UnsupportedAlgorithm("for this key".into()),
        other => Error::Malformed(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_guard_rejects_before_decoding() {
        assert!(matches!(split("a.b"), Err(Error::Malformed(_))));
        assert!(matches!(split("a.b.c.d"), Err(Error::Malformed(_))));
        assert!(matches!(
            split(&".".repeat(100_000)),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(split("a.b."), Err(Error::Malformed(_))));
        assert!(matches!(split("a+.b.c"), Err(Error::Malformed(_))));
        let big = format!("{}.b.c", "a".repeat(MAX_TOKEN_BYTES));
        assert!(matches!(split(&big), Err(Error::Malformed(m)) if m.contains("limit")));
        assert!(split("aGk.aGk.c2ln").is_ok());
    }

    #[test]
    fn inspection_reads_the_claimed_issuer_of_a_claims_object() {
        let token = |payload: &str| {
            let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
            format!(
                "{}.{}.c2ln",
                b64(r#"{"alg":"RS256","kid":"k1"}"#),
                b64(payload)
            )
        };
        let seen = inspect(&token(
            r#"{"sub":"s","iss":"https://issuer.example","nested":{"a":[1,{"b":null}]}}"#,
        ))
        .unwrap();
        assert_eq!(seen.iss, "https://issuer.example");
        assert_eq!(seen.kid.as_deref(), Some("k1"));
        for payload in [r#"{"sub":"s"}"#, r#"{"iss":7}"#, r#"{"iss":null}"#] {
            assert!(
                matches!(inspect(&token(payload)), Err(Error::MissingClaim(c)) if c == "iss"),
                "{payload}"
            );
        }
        // RFC 7519 §4: a parser must reject duplicate claim names or keep the last; the
        // issuer that chooses the keys is never ambiguous here.
        let duplicate = r#"{"iss":"https://a.example","iss":"https://b.example"}"#;
        for payload in [
            r#"["iss"]"#,
            r#" ["https://issuer.example"]"#,
            "7",
            duplicate,
        ] {
            assert!(
                matches!(inspect(&token(payload)), Err(Error::Malformed(_))),
                "{payload}"
            );
        }
        let array_header = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"["RS256","k1"]"#),
            URL_SAFE_NO_PAD.encode(r#"{"iss":"https://issuer.example"}"#)
        );
        assert!(matches!(inspect(&array_header), Err(Error::Malformed(_))));
    }
}
