//! The principal: what a verified token certifies, by issuer type.
//!
//! This is Fulcio's `pkg/identity/*/principal.go` in one place: the SAN, the claim the proof of
//! possession signs (`email` for email issuers, `sub` for all others) and the values of the
//! Fulcio extensions. Values are checked here; the CA only encodes them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use url::Url;

use super::Error;
use super::issuers::{CiMetadata, ExtensionSource, IssuerKind};
use super::token::VerifiedToken;
use crate::ca::extensions::FulcioExt;

/// The one subject alternative name of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
    /// otherName `1.3.6.1.4.1.57264.1.7` holding `user!domain`.
    Username(String),
}

/// Everything the CA needs to know about the requester.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The exact bytes a `publicKeyRequest` proof of possession must sign.
    pub challenge: String,
    /// The certified identity.
    pub san: SubjectAltName,
    /// Fulcio extension values, in OID order, none empty.
    pub extensions: Vec<(FulcioExt, String)>,
    /// The issuer's configured type, for metrics and audit lines.
    pub issuer_type: String,
}

impl Principal {
    /// The certified identity, as written into the SAN.
    pub fn identity(&self) -> &str {
        match &self.san {
            SubjectAltName::Email(s) | SubjectAltName::Uri(s) | SubjectAltName::Username(s) => s,
        }
    }

    /// The issuer written into the certificate (extension .1.1/.1.8, always first).
    pub fn issuer(&self) -> &str {
        self.extensions
            .first()
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// Derives the principal of a verified token.
    pub fn from_token(token: &VerifiedToken) -> Result<Principal, Error> {
        let claims = &token.claims;
        let settings = &token.issuer.settings;
        let sub = string_claim(claims, "sub");
        let mut issuer = token.issuer.url.clone();
        let mut ci_extensions = Vec::new();
        let (challenge, san) = match &settings.kind {
            IssuerKind::Email {
                issuer_claim,
                skip_email_verification,
            } => {
                let email = string_claim(claims, "email")
                    .ok_or_else(|| Error::MissingClaim("email".into()))?;
                if !skip_email_verification && !email_verified(claims) {
                    return Err(Error::EmailNotVerified);
                }
                check_email(&email)?;
                if let Some(path) = issuer_claim {
                    issuer = claim_at_path(claims, path)
                        .ok_or_else(|| Error::MissingClaim(format!("$.{}", path.join("."))))?;
                }
                (email.clone(), SubjectAltName::Email(email))
            }
            IssuerKind::Uri { subject_domain } => {
                let sub = require_sub(&sub)?;
                let uri = Url::parse(sub)
                    .map_err(|_| Error::IdentityNotAllowed(format!("sub `{sub}` is not a URI")))?;
                if uri.scheme() != subject_domain.scheme()
                    || uri.host_str() != subject_domain.host_str()
                {
                    return Err(Error::IdentityNotAllowed(format!(
                        "sub `{sub}` is not under the subject domain {subject_domain}"
                    )));
                }
                (sub.to_owned(), SubjectAltName::Uri(ascii(sub, "sub")?))
            }
            IssuerKind::Username { subject_domain } => {
                let sub = require_sub(&sub)?;
                if sub.contains('!') || sub.contains('@') {
                    return Err(Error::IdentityNotAllowed(format!(
                        "username `{sub}` must not contain `!` or `@`"
                    )));
                }
                (
                    sub.to_owned(),
                    SubjectAltName::Username(format!("{sub}!{subject_domain}")),
                )
            }
            IssuerKind::Kubernetes => {
                let sub = require_sub(&sub)?;
                let k8s = claims
                    .get("kubernetes.io")
                    .and_then(Value::as_object)
                    .ok_or_else(|| Error::MissingClaim("kubernetes.io".into()))?;
                let namespace = k8s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::MissingClaim("kubernetes.io.namespace".into()))?;
                let account = k8s
                    .get("serviceaccount")
                    .and_then(|s| s.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Error::MissingClaim("kubernetes.io.serviceaccount.name".into())
                    })?;
                let uri = format!(
                    "https://kubernetes.io/namespaces/{namespace}/serviceaccounts/{account}"
                );
                (
                    sub.to_owned(),
                    SubjectAltName::Uri(ascii(&uri, "kubernetes.io")?),
                )
            }
            IssuerKind::Spiffe { trust_domain } => {
                let sub = require_sub(&sub)?;
                let domain = sub
                    .strip_prefix("spiffe://")
                    .and_then(|rest| rest.split('/').next())
                    .ok_or_else(|| {
                        Error::IdentityNotAllowed(format!("sub `{sub}` is not a SPIFFE ID"))
                    })?;
                if domain != trust_domain {
                    return Err(Error::IdentityNotAllowed(format!(
                        "SPIFFE ID `{sub}` is not in trust domain `{trust_domain}`"
                    )));
                }
                (sub.to_owned(), SubjectAltName::Uri(ascii(sub, "sub")?))
            }
            IssuerKind::Ci(metadata) => {
                let sub = require_sub(&sub)?;
                let (san, values) = render_ci(metadata, claims)?;
                ci_extensions = values;
                (sub.to_owned(), SubjectAltName::Uri(san))
            }
        };

        let mut extensions = vec![
            (FulcioExt::Issuer, issuer.clone()),
            (FulcioExt::IssuerV2, issuer),
        ];
        extensions.extend(ci_extensions);
        if let Some(sub) = sub.filter(|s| !s.is_empty()) {
            extensions.push((FulcioExt::Subject, sub));
        }
        extensions.sort_by_key(|(ext, _)| *ext);
        Ok(Principal {
            challenge,
            san,
            extensions,
            issuer_type: settings.type_name.clone(),
        })
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn require_sub(sub: &Option<String>) -> Result<&str, Error> {
    sub.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::MissingClaim("sub".into()))
}

/// `email_verified` as Fulcio reads it: a JSON `true`, or the strings "true"/"True".
fn email_verified(claims: &Map<String, Value>) -> bool {
    match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "True",
        _ => false,
    }
}

/// A plausible address that fits an rfc822Name (IA5String): one `@`, no spaces or controls.
fn check_email(email: &str) -> Result<(), Error> {
    let valid = email.is_ascii()
        && !email
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        && email.len() <= 254
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@')
                && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
    if valid {
        Ok(())
    } else {
        Err(Error::IdentityNotAllowed(format!(
            "`{email}` is not a valid email address"
        )))
    }
}

/// URIs and emails go into IA5String SANs, which hold ASCII only.
fn ascii(value: &str, claim: &str) -> Result<String, Error> {
    if value.is_ascii() && !value.bytes().any(|b| b.is_ascii_control()) {
        Ok(value.to_owned())
    } else {
        Err(Error::IdentityNotAllowed(format!(
            "`{claim}` must be ASCII to fit a URI SAN"
        )))
    }
}

fn claim_at_path(claims: &Map<String, Value>, path: &[String]) -> Option<String> {
    let (first, rest) = path.split_first()?;
    let mut value = claims.get(first)?;
    for part in rest {
        value = value.get(part)?;
    }
    value.as_str().map(str::to_owned)
}

/// Claims as the strings Fulcio's templates see: integers without exponent or fraction.
fn stringify(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e18 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn render_ci(
    metadata: &CiMetadata,
    claims: &Map<String, Value>,
) -> Result<(String, Vec<(FulcioExt, String)>), Error> {
    let mut data: BTreeMap<String, String> = metadata.defaults.clone();
    for (name, value) in claims {
        data.insert(name.clone(), stringify(value));
    }
    let not_allowed = |e: super::template::TemplateError| Error::IdentityNotAllowed(e.to_string());
    let mut values = Vec::new();
    for (ext, source) in &metadata.extensions {
        let value = match source {
            ExtensionSource::Claim(name) => data
                .get(name)
                .cloned()
                .ok_or_else(|| Error::MissingClaim(name.clone()))?,
            ExtensionSource::Template(t) => t.render(&data).map_err(not_allowed)?,
        };
        if !value.is_empty() {
            values.push((*ext, value));
        }
    }
    let san = metadata.san.render(&data).map_err(not_allowed)?;
    Url::parse(&san).map_err(|_| {
        Error::IdentityNotAllowed(format!("the SAN template produced `{san}`, not a URI"))
    })?;
    Ok((ascii(&san, "SAN")?, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_render_as_integers() {
        assert_eq!(stringify(&serde_json::json!(1234567890)), "1234567890");
        assert_eq!(stringify(&serde_json::json!(1.5e9)), "1500000000");
        assert_eq!(stringify(&serde_json::json!(true)), "true");
    }

    #[test]
    fn email_checks() {
        assert!(check_email("alice@example.com").is_ok());
        for bad in [
            "alice",
            "@example.com",
            "a@b@c.com",
            "a b@c.com",
            "ä@example.com",
            "a@com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_verified_accepts_fulcios_spellings() {
        for (v, want) in [
            (serde_json::json!(true), true),
            (serde_json::json!("true"), true),
            (serde_json::json!("True"), true),
            (serde_json::json!(false), false),
            (serde_json::json!("yes"), false),
        ] {
            let mut m = Map::new();
            m.insert("email_verified".into(), v);
            assert_eq!(email_verified(&m), want);
        }
        assert!(!email_verified(&Map::new()));
    }
}
