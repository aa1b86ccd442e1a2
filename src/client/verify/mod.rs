//! Bundle verification: bundles v0.1–v0.3 with a Rekor v1 (`hashedrekord`/`dsse` 0.0.1) or
//! Rekor v2 (0.0.2) entry, and RFC 3161 timestamps. Every check is named; the first that fails
//! is reported.
//!
//! Order, as sigstore-python: bundle shape → the log entry (SET, inclusion proof, signed
//! checkpoint) → the signed times (the SET's integrated time, each RFC 3161 timestamp) → the
//! certificate at each signed time (validity, chain, SCT, key usage, identity policy) → the
//! signature over the artifact → the log entry's body against the bundle.

mod bundle;
mod certificate;
mod content;
mod timestamp;
mod tlog;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sigil_ctlog::rfc6962::Hash;

use super::trust::TrustMaterial;
use bundle::Bundle;
use certificate::Leaf;

/// Which check failed, and why.
#[derive(Debug, thiserror::Error)]
#[error("{check}: {reason}")]
pub struct VerifyError {
    /// The check's name (`bundle`, `SET`, `inclusion proof`, `checkpoint`, `certificate
    /// chain`, `SCT`, `key usage`, `identity`, `issuer`, `signed time`, `signature`, `log entry`).
    pub check: &'static str,
    /// What was found instead of what was expected.
    pub reason: String,
}

fn fail<T>(check: &'static str, reason: impl Into<String>) -> Result<T, VerifyError> {
    Err(VerifyError {
        check,
        reason: reason.into(),
    })
}

/// An expected value: exact, or a regular expression that must match all of it.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equal to this string.
    Exact(String),
    /// Matched in full by this expression.
    Regex(regex::Regex),
}

impl Matcher {
    /// A full-match expression (`^(?:…)$`), or an error naming the flag.
    pub fn regex(pattern: &str) -> Result<Matcher, String> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map(Matcher::Regex)
            .map_err(|e| format!("`{pattern}` is not a valid regular expression: {e}"))
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(re) => re.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "`{s}`"),
            Matcher::Regex(re) => write!(f, "a match of `{}`", re.as_str()),
        }
    }
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The SAN (email, URI, or `user!domain`).
    pub identity: Matcher,
    /// The OIDC issuer (certificate extension 1.3.6.1.4.1.57264.1.8, else .1).
    pub issuer: Matcher,
    /// Further exact values of Fulcio extensions, by the last arc of their OID (GitHub's
    /// 1.2 trigger, 1.3 SHA, 1.4 workflow name, 1.5 repository, 1.6 ref).
    pub claims: Vec<(u64, String)>,
}

impl Policy {
    /// An exact identity and issuer, no further claims.
    pub fn exact(identity: &str, issuer: &str) -> Policy {
        Policy {
            identity: Matcher::Exact(identity.to_owned()),
            issuer: Matcher::Exact(issuer.to_owned()),
            claims: Vec::new(),
        }
    }
}

/// What a successful verification establishes.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The log index of the entry.
    pub log_index: u64,
    /// The signed time (the log's integrated time), in seconds.
    pub signed_time: u64,
}

fn b64(check: &'static str, v: &Value) -> Result<Vec<u8>, VerifyError> {
    match v.as_str().map(|s| STANDARD.decode(s)) {
        Some(Ok(bytes)) => Ok(bytes),
        _ => fail(check, "a field is missing or not standard base64"),
    }
}

fn int(check: &'static str, v: &Value) -> Result<u64, VerifyError> {
    // Bundles carry 64-bit integers as JSON strings.
    match v
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
    {
        Some(n) => Ok(n),
        None => fail(check, "an integer field is missing"),
    }
}

/// Verifies `bundle` for an artifact with SHA-256 `digest`.
pub fn verify(
    bundle: &[u8],
    digest: &Hash,
    trust: &TrustMaterial,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let bundle = Bundle::parse(bundle)?;
    let logged = tlog::verify(&bundle, trust)?;

    // Signed times: the integrated time a SET vouches for, and each RFC 3161 timestamp.
    let mut times: Vec<i64> = logged.integrated_time.into_iter().collect();
    for response in &bundle.timestamps {
        times.push(timestamp::verify(
            response,
            bundle.signature(),
            &trust.timestamp_authorities,
        )?);
    }
    let Some(&signed_time) = times.first() else {
        return fail(
            "signed time",
            "nothing vouches for when it was signed: no SET and no RFC 3161 timestamp",
        );
    };
    if !logged.log.valid.contains(signed_time) {
        return fail(
            "log entry",
            "the trusted root does not trust this log's key at the signed time",
        );
    }

    // The certificate at every signed time.
    let leaf = Leaf::parse(bundle.leaf_der.clone())?;
    let mut issuer = Vec::new();
    for &time in &times {
        leaf.check_time(time)?;
        issuer = leaf.chain(&trust.certificate_authorities, time)?;
    }
    if let Err(e) = super::sign::verify_embedded_sct(&leaf.der, &issuer, &trust.ct_logs) {
        return fail("SCT", e.to_string());
    }
    leaf.check_policy(policy)?;

    content::verify(&bundle, &leaf, digest, &logged.body)?;
    Ok(Verified {
        log_index: logged.index,
        signed_time: signed_time as u64,
    })
}
