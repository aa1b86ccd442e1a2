//! Identity-token verification: shape guard, issuer, signature, and time and audience claims.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Error;
use super::issuers::{IssuerPool, ResolvedIssuer};
use super::jwks::KeyCache;
use super::jws::JwsKey;

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
/// being stored (the verified claims are parsed in full later); a claims set that is not a
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
    let (header, payload, _) = split(token)?;
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
    let unverified = inspect(token)?;
    let issuer = issuers
        .resolve(&unverified.iss)
        .ok_or_else(|| Error::UnknownIssuer(unverified.iss.clone()))?;

    let candidates = keys
        .candidates(&issuer, unverified.kid.as_deref(), unverified.alg)
        .await?;
    let claims = verified_claims(token, &unverified, &candidates, &issuer, leeway)?;
    Ok(VerifiedToken { issuer, claims })
}

/// The claims of `token`, which `inspect` read as `unverified`, once one of `keys` verifies its
/// signature with the header's algorithm and its registered claims hold for `issuer`.
pub fn verified_claims(
    token: &str,
    unverified: &Unverified,
    keys: &[Arc<JwsKey>],
    issuer: &ResolvedIssuer,
    leeway: Duration,
) -> Result<Map<String, Value>, Error> {
    // `inspect` has run the shape guard; finding the dots again is all that is left. A token
    // it did not see fails here as malformed: a part holding a dot is not base64url.
    let malformed = || Error::Malformed("a JWT has exactly 3 dot-separated parts".into());
    let (signing_input, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
    let (_, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Error::Malformed("the signature is not base64url".into()))?;
    if !keys
        .iter()
        .any(|key| key.verifies(unverified.alg, signing_input.as_bytes(), &signature))
    {
        return Err(Error::BadSignature);
    }
    let claims = decode_segment(payload, "payload")?;
    check_claims(&claims, issuer, leeway, now())?;
    Ok(claims)
}

/// Seconds since the Unix epoch.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The registered claims of a verified token (RFC 7519 §4.1), at time `now`: `exp`, `iat`, `iss`
/// and `aud` are required, `nbf` is checked when present, and the times allow `leeway` of clock
/// skew either way.
fn check_claims(
    claims: &Map<String, Value>,
    issuer: &ResolvedIssuer,
    leeway: Duration,
    now: f64,
) -> Result<(), Error> {
    let leeway = leeway.as_secs_f64();
    let time = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| Error::MissingClaim(name.into())),
    };
    let required =
        |name: &str, value: Option<f64>| value.ok_or_else(|| Error::MissingClaim(name.into()));
    if required("exp", time("exp")?)? < now - leeway {
        return Err(Error::Expired);
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + leeway) {
        return Err(Error::NotYetValid);
    }
    if required("iat", time("iat")?)? > now + leeway {
        return Err(Error::NotYetValid);
    }
    if claims.get("iss").and_then(Value::as_str) != Some(issuer.url.as_str()) {
        return Err(Error::UnknownIssuer(issuer.url.clone()));
    }
    // RFC 7519 §4.1.3: one audience as a string, or several as an array.
    let client_id = issuer.settings.client_id.as_str();
    let audience_has_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(client_id)),
        _ => return Err(Error::MissingClaim("aud".into())),
    };
    if !audience_has_us {
        return Err(Error::WrongAudience(client_id.to_owned()));
    }
    Ok(())
}

/// The shape guard: bounded size and exactly three non-empty base64url segments, returned as
/// header, payload and signature.
fn split(token: &str) -> Result<(&str, &str, &str), Error> {
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
    Ok((header, payload, signature))
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
        assert_eq!(split("aGk.aGk.c2ln").unwrap(), ("aGk", "aGk", "c2ln"));
    }

    const NOW: f64 = 1_800_000_000.0;
    const LEEWAY: Duration = Duration::from_secs(60);

    fn issuer() -> ResolvedIssuer {
        IssuerPool::parse(
            "oidc-issuers:\n  https://issuer.example:\n    client-id: sigstore\n    type: email\n",
            "test",
            Duration::from_secs(1),
        )
        .unwrap()
        .resolve("https://issuer.example")
        .unwrap()
    }

    /// A valid claims set with `changes` applied; a null member is removed.
    fn claims(changes: Value) -> Map<String, Value> {
        let mut claims = serde_json::json!({
            "iss": "https://issuer.example", "aud": "sigstore", "sub": "s",
            "iat": NOW, "nbf": NOW, "exp": NOW + 600.0,
        });
        for (name, value) in changes.as_object().unwrap() {
            match value {
                Value::Null => claims.as_object_mut().unwrap().remove(name),
                v => claims
                    .as_object_mut()
                    .unwrap()
                    .insert(name.clone(), v.clone()),
            };
        }
        claims.as_object().unwrap().clone()
    }

    fn check(changes: Value) -> Result<(), Error> {
        check_claims(&claims(changes), &issuer(), LEEWAY, NOW)
    }

    #[test]
    fn valid_claims_pass_within_the_leeway() {
        check(serde_json::json!({})).unwrap();
        check(serde_json::json!({"aud": ["other", "sigstore"]})).unwrap();
        check(serde_json::json!({"nbf": null})).unwrap();
        check(serde_json::json!({"exp": NOW - 60.0})).unwrap();
        check(serde_json::json!({"iat": NOW + 60.0, "nbf": NOW + 60.0})).unwrap();
    }

    #[test]
    fn claims_are_read_only_from_a_token_that_one_of_the_keys_signed() {
        let (signer, public) = crate::oidc::jws::tests::p256();
        let (_, stranger) = crate::oidc::jws::tests::p256();
        let key = |jwk| Arc::new(JwsKey::from_jwk(&serde_json::from_value(jwk).unwrap()).unwrap());
        let (ours, theirs) = (key(public), key(stranger));
        let token = |claims: Map<String, Value>| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(Algorithm::ES256),
                &claims,
                &signer,
            )
            .unwrap()
        };
        let now = now();
        let valid = claims(serde_json::json!({"iat": now, "nbf": now, "exp": now + 600.0}));
        let good = token(valid.clone());
        let verify = |token: &str, keys: &[Arc<JwsKey>]| {
            verified_claims(token, &inspect(token)?, keys, &issuer(), LEEWAY)
        };
        assert_eq!(
            verify(&good, &[theirs.clone(), ours.clone()]).unwrap(),
            valid
        );
        assert!(matches!(verify(&good, &[theirs]), Err(Error::BadSignature)));
        // The same signature under another header or another payload.
        let (_, rest) = good.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let forgeries = [
            format!("{}.{payload}.{signature}", b64(r#"{"alg":"ES384"}"#)),
            format!(
                "{}.{}.{signature}",
                b64(r#"{"alg":"ES256"}"#),
                b64(r#"{"iss":"https://issuer.example","sub":"mallory"}"#)
            ),
        ];
        for forged in forgeries {
            assert!(matches!(
                verify(&forged, std::slice::from_ref(&ours)),
                Err(Error::BadSignature)
            ));
        }
        // A good signature does not excuse the claims.
        let expired = token(claims(
            serde_json::json!({"iat": now, "nbf": now, "exp": now - 3600.0}),
        ));
        assert!(matches!(verify(&expired, &[ours]), Err(Error::Expired)));
    }

    #[test]
    fn each_registered_claim_is_enforced() {
        let cases = [
            (serde_json::json!({"exp": NOW - 61.0}), "expired"),
            (serde_json::json!({"nbf": NOW + 61.0}), "not_yet_valid"),
            (serde_json::json!({"iat": NOW + 61.0}), "not_yet_valid"),
            (serde_json::json!({"aud": "other"}), "audience"),
            (serde_json::json!({"aud": ["other", 7]}), "audience"),
            (
                serde_json::json!({"iss": "https://other.example"}),
                "unknown_issuer",
            ),
        ];
        for (changes, kind) in cases {
            assert_eq!(
                check(changes.clone()).unwrap_err().kind(),
                kind,
                "{changes}"
            );
        }
        for claim in ["exp", "iat", "aud"] {
            let missing = check(serde_json::json!({ claim: null })).unwrap_err();
            assert!(
                matches!(&missing, Error::MissingClaim(c) if c == claim),
                "{missing:?}"
            );
        }
        for (claim, bad) in [("exp", "soon"), ("nbf", "now"), ("iat", "then")] {
            let wrong_type = check(serde_json::json!({ claim: bad })).unwrap_err();
            assert!(
                matches!(&wrong_type, Error::MissingClaim(c) if c == claim),
                "{wrong_type:?}"
            );
        }
        assert!(
            matches!(check(serde_json::json!({"aud": 7})), Err(Error::MissingClaim(c)) if c == "aud")
        );
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
