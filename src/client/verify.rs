//! Bundle verification for message signatures (bundles v0.1–v0.3 with a Rekor v1
//! `hashedrekord` 0.0.1 entry). Every check is named; the first that fails is reported.
//!
//! Order, as sigstore-python: bundle shape → the log entry (SET, inclusion proof, signed
//! checkpoint) → the certificate at the signed time (chain, SCT, key usage, identity policy)
//! → the signature over the artifact → the log entry's body against the bundle.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509StoreContext, X509VerifyResult};
use serde_json::{Value, json};
use sigil_ctlog::rfc6962::{Hash, leaf_hash, sha256};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use super::trust::TrustMaterial;

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

const MEDIA_TYPES: &[&str] = &[
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];

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
    let bundle: Value = match serde_json::from_slice(bundle) {
        Ok(b) => b,
        Err(e) => return fail("bundle", format!("not JSON: {e}")),
    };
    let media_type = bundle["mediaType"].as_str().unwrap_or_default();
    if !MEDIA_TYPES.contains(&media_type) {
        return fail("bundle", format!("unknown media type `{media_type}`"));
    }
    let material = &bundle["verificationMaterial"];
    let leaf_der = if material["certificate"].is_object() {
        b64("bundle", &material["certificate"]["rawBytes"])?
    } else {
        b64(
            "bundle",
            &material["x509CertificateChain"]["certificates"][0]["rawBytes"],
        )?
    };
    let entries = material["tlogEntries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let [entry] = entries else {
        return fail(
            "bundle",
            format!("expected exactly one tlog entry, found {}", entries.len()),
        );
    };
    let dsse = match &entry["kindVersion"] {
        kv if *kv == json!({"kind": "hashedrekord", "version": "0.0.1"}) => false,
        kv if *kv == json!({"kind": "dsse", "version": "0.0.1"}) => true,
        kv => return fail("bundle", format!("unsupported log entry kind {kv}")),
    };
    if dsse != bundle["dsseEnvelope"].is_object() {
        return fail(
            "bundle",
            "the log entry kind does not match the bundle's content",
        );
    }

    // The log entry: its key, the SET (which makes integratedTime a signed time), the
    // inclusion proof and the checkpoint.
    let log_id = b64("bundle", &entry["logId"]["keyId"])?;
    let Some(log_key) = trust
        .tlog_keys
        .iter()
        .find(|k| sha256(k).as_slice() == log_id)
    else {
        return fail(
            "log entry",
            "it names a transparency log the trusted root does not list",
        );
    };
    let body_b64 = entry["canonicalizedBody"].as_str().unwrap_or_default();
    let body = b64("log entry", &entry["canonicalizedBody"])?;
    let log_index = int("log entry", &entry["logIndex"])?;
    let signed_time = int("log entry", &entry["integratedTime"])?;
    let set = b64("SET", &entry["inclusionPromise"]["signedEntryTimestamp"])?;
    let payload = serde_json_canonicalizer::to_vec(&json!({
        "body": body_b64, "integratedTime": signed_time, "logID": crate::ca::hex(&log_id), "logIndex": log_index,
    }))
    .map_err(|e| VerifyError { check: "SET", reason: e.to_string() })?;
    if !sigil_ctlog::key::verify(log_key, &payload, &set) {
        return fail(
            "SET",
            "the signed entry timestamp does not verify with the log's key",
        );
    }
    let proof = &entry["inclusionProof"];
    let root: Hash = match b64("inclusion proof", &proof["rootHash"])?.try_into() {
        Ok(r) => r,
        Err(_) => return fail("inclusion proof", "the root hash is not 32 bytes"),
    };
    let hashes = proof["hashes"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|h| {
                    b64("inclusion proof", h)?
                        .try_into()
                        .or_else(|_| fail("inclusion proof", "a hash is not 32 bytes"))
                })
                .collect::<Result<Vec<Hash>, _>>()
        })
        .transpose()?
        .ok_or(VerifyError {
            check: "inclusion proof",
            reason: "no hashes".into(),
        })?;
    let (proof_index, tree_size) = (
        int("inclusion proof", &proof["logIndex"])?,
        int("inclusion proof", &proof["treeSize"])?,
    );
    if let Err(e) = sigil_ctlog::merkle::verify_inclusion(
        proof_index,
        tree_size,
        &leaf_hash(&body),
        &hashes,
        &root,
    ) {
        return fail("inclusion proof", e.to_string());
    }
    verify_checkpoint(
        proof["checkpoint"]["envelope"].as_str().unwrap_or_default(),
        &root,
        &log_id,
        log_key,
    )?;

    // The certificate at the signed time.
    let leaf = X509::from_der(&leaf_der)
        .or_else(|_| fail("bundle", "the certificate is not DER X.509"))?;
    let issuer = verify_chain(&leaf, trust, signed_time as i64)?;
    if let Err(e) = super::sign::verify_embedded_sct(&leaf_der, &issuer, &trust.ct_log_keys) {
        return fail("SCT", e.to_string());
    }
    check_certificate(&leaf_der, policy, signed_time)?;

    // The signature over the artifact, then the log entry against the bundle.
    let body: Value = serde_json::from_slice(&body)
        .or_else(|e| fail("log entry", format!("the body is not JSON: {e}")))?;
    if dsse {
        verify_dsse(&bundle["dsseEnvelope"], &leaf, &leaf_der, digest, &body)?;
    } else {
        verify_message_signature(&bundle["messageSignature"], &leaf, &leaf_der, digest, &body)?;
    }
    Ok(Verified {
        log_index,
        signed_time,
    })
}

/// A hashedrekord bundle: the signature over the digest, and the logged digest, signature and
/// certificate equal the bundle's.
fn verify_message_signature(
    sig: &Value,
    leaf: &X509,
    leaf_der: &[u8],
    digest: &Hash,
    body: &Value,
) -> Result<(), VerifyError> {
    let signature = b64("bundle", &sig["signature"])?;
    if let Some(claimed) = sig["messageDigest"]["digest"].as_str() {
        if STANDARD.decode(claimed).ok().as_deref() != Some(digest.as_slice()) {
            return fail(
                "signature",
                "the bundle's message digest is not the artifact's SHA-256",
            );
        }
    }
    let key = leaf
        .public_key()
        .or_else(|e| fail("signature", e.to_string()))?;
    if crate::rekor::entry::verify_prehashed(&key, digest, &signature).is_err() {
        return fail(
            "signature",
            "the signature does not verify over the artifact's digest with the certificate's key",
        );
    }
    let spec = &body["spec"];
    if body["kind"] != "hashedrekord"
        || spec["data"]["hash"]["value"].as_str() != Some(crate::ca::hex(digest).as_str())
        || b64("log entry", &spec["signature"]["content"])? != signature
        || !same_certificate(&spec["signature"]["publicKey"]["content"], leaf_der)
    {
        return fail(
            "log entry",
            "the logged digest, signature or certificate differs from the bundle's",
        );
    }
    Ok(())
}

/// A DSSE bundle: one signature over the PAE by the certificate's key, the artifact among the
/// in-toto statement's subjects, and the logged payload hash, signature and verifier equal the
/// envelope's.
fn verify_dsse(
    envelope: &Value,
    leaf: &X509,
    leaf_der: &[u8],
    digest: &Hash,
    body: &Value,
) -> Result<(), VerifyError> {
    let payload = b64("bundle", &envelope["payload"])?;
    let payload_type = envelope["payloadType"].as_str().unwrap_or_default();
    let [signature] = envelope["signatures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    else {
        return fail("bundle", "the envelope must carry exactly one signature");
    };
    let signature = b64("bundle", &signature["sig"])?;
    let message = crate::rekor::entry::pae(payload_type, &payload);
    if !crate::rekor::entry::verify_message(leaf, &message, &signature) {
        return fail(
            "signature",
            "the envelope signature does not verify with the certificate's key",
        );
    }
    let statement: Value = serde_json::from_slice(&payload)
        .or_else(|_| fail("signature", "the payload is not an in-toto statement"))?;
    let wanted = crate::ca::hex(digest);
    let covered = statement["subject"].as_array().is_some_and(|s| {
        s.iter()
            .any(|s| s["digest"]["sha256"].as_str() == Some(wanted.as_str()))
    });
    if !covered {
        return fail(
            "signature",
            "the artifact's SHA-256 is not among the statement's subjects",
        );
    }
    let spec = &body["spec"];
    let logged = spec["signatures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let same_signature = matches!(logged, [s]
        if b64("log entry", &s["signature"]).ok().as_deref() == Some(signature.as_slice())
            && same_certificate(&s["verifier"], leaf_der));
    if body["kind"] != "dsse"
        || spec["payloadHash"]["value"].as_str() != Some(crate::ca::hex(&sha256(&payload)).as_str())
        || !same_signature
    {
        return fail(
            "log entry",
            "the logged payload hash, signature or verifier differs from the envelope's",
        );
    }
    Ok(())
}

/// Whether a base64 PEM (or DER) certificate from a log entry is `leaf_der`.
fn same_certificate(logged: &Value, leaf_der: &[u8]) -> bool {
    let Some(bytes) = logged.as_str().and_then(|s| STANDARD.decode(s).ok()) else {
        return false;
    };
    X509::from_pem(&bytes)
        .or_else(|_| X509::from_der(&bytes))
        .ok()
        .and_then(|c| c.to_der().ok())
        .is_some_and(|der| der == leaf_der)
}

/// The checkpoint: a signed note from the log's key (hint = log ID's first 4 bytes) whose root
/// is the inclusion proof's.
fn verify_checkpoint(
    envelope: &str,
    root: &Hash,
    log_id: &[u8],
    key: &[u8],
) -> Result<(), VerifyError> {
    let (body, signatures) =
        sigil_ctlog::note::parse(envelope).or_else(|e| fail("checkpoint", e.to_string()))?;
    let checkpoint = sigil_ctlog::note::Checkpoint::parse(&body)
        .or_else(|e| fail("checkpoint", e.to_string()))?;
    if checkpoint.root != *root {
        return fail("checkpoint", "its root hash is not the inclusion proof's");
    }
    let Some(signature) = signatures.iter().find(|s| s.key_id[..] == log_id[..4]) else {
        return fail("checkpoint", "no signature carries the log's key hint");
    };
    if !sigil_ctlog::key::verify(key, body.as_bytes(), &signature.signature) {
        return fail(
            "checkpoint",
            "the signature does not verify with the log's key",
        );
    }
    Ok(())
}

/// Verifies `leaf` up to a trusted CA root at `time`; returns the certificate that issued it.
fn verify_chain(leaf: &X509, trust: &TrustMaterial, time: i64) -> Result<X509, VerifyError> {
    let mut last = "no trusted certificate authority".to_owned();
    for chain in &trust.ca_chains {
        let certs: Vec<X509> = chain
            .iter()
            .filter_map(|d| X509::from_der(d).ok())
            .collect();
        let Some(root) = certs.last() else { continue };
        let verdict = (|| -> Result<Result<(), String>, openssl::error::ErrorStack> {
            let mut param = openssl::x509::verify::X509VerifyParam::new()?;
            param.set_time(time);
            let mut store = X509StoreBuilder::new()?;
            store.set_param(&param)?;
            store.add_cert(root.clone())?;
            let store = store.build();
            let mut untrusted = Stack::new()?;
            for c in &certs[..certs.len() - 1] {
                untrusted.push(c.clone())?;
            }
            let mut ctx = X509StoreContext::new()?;
            ctx.init(&store, leaf, &untrusted, |c| {
                Ok(if c.verify_cert()? {
                    Ok(())
                } else {
                    Err(c.error().error_string().to_owned())
                })
            })
        })();
        match verdict {
            Ok(Ok(())) => {
                if let Some(issuer) = certs
                    .iter()
                    .find(|c| c.issued(leaf) == X509VerifyResult::OK)
                {
                    return Ok(issuer.clone());
                }
            }
            Ok(Err(reason)) => last = reason,
            Err(e) => last = e.to_string(),
        }
    }
    fail(
        "certificate chain",
        format!("the certificate does not chain to a trusted CA at the signed time ({last})"),
    )
}

/// Key usage, the identity policy, and the signed time within the validity.
fn check_certificate(
    leaf_der: &[u8],
    policy: &Policy,
    signed_time: u64,
) -> Result<(), VerifyError> {
    let (_, cert) =
        X509Certificate::from_der(leaf_der).or_else(|e| fail("bundle", e.to_string()))?;
    let (mut digital_signature, mut code_signing) = (false, false);
    let (mut sans, mut issuer_v1, mut issuer_v2) = (Vec::new(), None, None);
    let mut raw_claims: Vec<(u64, String)> = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::KeyUsage(ku) => digital_signature = ku.digital_signature(),
            ParsedExtension::ExtendedKeyUsage(eku) => code_signing = eku.code_signing,
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                            sans.push(s.to_string())
                        }
                        GeneralName::OtherName(_, value) => {
                            if let Ok((_, any)) =
                                x509_parser::der_parser::asn1_rs::Any::from_der(value)
                            {
                                if let Ok((_, s)) =
                                    x509_parser::der_parser::asn1_rs::Utf8String::from_der(any.data)
                                {
                                    sans.push(s.string());
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => match ext.oid.to_id_string().as_str() {
                "1.3.6.1.4.1.57264.1.1" => issuer_v1 = String::from_utf8(ext.value.to_vec()).ok(),
                "1.3.6.1.4.1.57264.1.8" => {
                    issuer_v2 = x509_parser::der_parser::asn1_rs::Utf8String::from_der(ext.value)
                        .ok()
                        .map(|(_, s)| s.string())
                }
                // 1.2–1.6: GitHub workflow claims, raw UTF-8.
                oid if oid.starts_with("1.3.6.1.4.1.57264.1.") => {
                    let arc = oid.rsplit('.').next().and_then(|a| a.parse::<u64>().ok());
                    if let (Some(arc @ 2..=6), Ok(value)) =
                        (arc, String::from_utf8(ext.value.to_vec()))
                    {
                        raw_claims.push((arc, value));
                    }
                }
                _ => {}
            },
        }
    }
    if !digital_signature || !code_signing {
        return fail(
            "key usage",
            "the certificate is not for digitalSignature with EKU codeSigning",
        );
    }
    if !sans.iter().any(|san| policy.identity.matches(san)) {
        return fail(
            "identity",
            format!(
                "expected {}, the certificate is for {sans:?}",
                policy.identity
            ),
        );
    }
    let issuer = issuer_v2.or(issuer_v1).unwrap_or_default();
    if !policy.issuer.matches(&issuer) {
        return fail(
            "issuer",
            format!(
                "expected {}, the certificate's OIDC issuer is `{issuer}`",
                policy.issuer
            ),
        );
    }
    for (arc, expected) in &policy.claims {
        let found = raw_claims
            .iter()
            .find(|(a, _)| a == arc)
            .map(|(_, v)| v.as_str());
        if found != Some(expected.as_str()) {
            return fail(
                "identity",
                format!(
                    "expected extension 1.3.6.1.4.1.57264.1.{arc} = `{expected}`, found {found:?}"
                ),
            );
        }
    }
    let validity = cert.validity();
    let time = signed_time as i64;
    if time < validity.not_before.timestamp() || time > validity.not_after.timestamp() {
        return fail(
            "signed time",
            "the log's integrated time is outside the certificate's validity",
        );
    }
    Ok(())
}
