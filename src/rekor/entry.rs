//! Rekor v1 entries: `hashedrekord` 0.0.1 and `dsse` 0.0.1 — parsing, admission checks, and
//! the canonical body that is logged.
//!
//! Canonicalization is what makes one entry one entry: the certificate is re-encoded as PEM
//! with LF and 64-column lines, hashes are lower-case hex, and the body is serialized as RFC
//! 8785 JSON. sigstore-rust submits CRLF PEM, sigstore-python LF; both yield the same bytes,
//! hence the same leaf and UUID (real Rekor does the same in `CanonicalValue`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::x509::X509;
use serde::Deserialize;
use serde_json::{Value, json};

/// Why an entry was refused. Every variant is the submitter's to fix.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The request does not have the shape of a supported entry.
    #[error("malformed entry: {0}")]
    Malformed(String),
    /// A kind or version this log does not take.
    #[error("unsupported entry type: {0} (supported: hashedrekord 0.0.1, dsse 0.0.1)")]
    Unsupported(String),
    /// The certificate is not from this deployment's CA or is not valid now.
    #[error("the certificate is not acceptable: {0}")]
    Certificate(String),
    /// The signature does not verify with the certificate's key.
    #[error("the signature does not verify: {0}")]
    Signature(String),
}

fn malformed(what: impl Into<String>) -> EntryError {
    EntryError::Malformed(what.into())
}

/// A proposed entry, checked and canonicalized.
#[derive(Debug, Clone)]
pub struct CanonicalEntry {
    /// The RFC 8785 JSON body that is logged (and hashed into the tree).
    pub body: Vec<u8>,
    /// The signing certificate, for the admission chain check.
    pub certificate: X509,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proposed {
    api_version: String,
    kind: String,
    spec: Value,
}

/// Parses, verifies and canonicalizes a proposed entry (the JSON body of
/// `POST /api/v1/log/entries`). The certificate chain is checked by the caller.
pub fn canonicalize(request: &[u8]) -> Result<CanonicalEntry, EntryError> {
    let proposed: Proposed = serde_json::from_slice(request)
        .map_err(|e| malformed(format!("expected {{apiVersion, kind, spec}}: {e}")))?;
    match (proposed.kind.as_str(), proposed.api_version.as_str()) {
        ("hashedrekord", "0.0.1") => hashedrekord(&proposed.spec),
        ("dsse", "0.0.1") => dsse(&proposed.spec),
        (kind, version) => Err(EntryError::Unsupported(format!("{kind} {version}"))),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, EntryError> {
    let mut at = v;
    for key in path {
        at = at
            .get(key)
            .ok_or_else(|| malformed(format!("missing spec.{}", path.join("."))))?;
    }
    at.as_str()
        .ok_or_else(|| malformed(format!("spec.{} must be a string", path.join("."))))
}

fn b64(field: &str, value: &str) -> Result<Vec<u8>, EntryError> {
    STANDARD
        .decode(value.trim())
        .map_err(|_| malformed(format!("{field} is not standard base64")))
}

/// A certificate from `base64(PEM)` (or base64 of DER), and its canonical `base64(PEM)`.
fn certificate(field: &str, value: &str) -> Result<(X509, String), EntryError> {
    let bytes = b64(field, value)?;
    let cert = X509::from_pem(&bytes)
        .or_else(|_| X509::from_der(&bytes))
        .map_err(|_| malformed(format!("{field} is not a PEM or DER certificate")))?;
    let pem = cert.to_pem().map_err(|e| malformed(e.to_string()))?;
    Ok((cert, STANDARD.encode(pem)))
}

fn public_key(cert: &X509) -> Result<PKey<Public>, EntryError> {
    cert.public_key()
        .map_err(|e| EntryError::Certificate(e.to_string()))
}

fn hashedrekord(spec: &Value) -> Result<CanonicalEntry, EntryError> {
    let algorithm = str_at(spec, &["data", "hash", "algorithm"])?;
    if algorithm != "sha256" {
        return Err(EntryError::Unsupported(format!(
            "hash algorithm `{algorithm}` (only sha256)"
        )));
    }
    let digest_hex = str_at(spec, &["data", "hash", "value"])?.to_ascii_lowercase();
    let digest = hex_digest(&digest_hex)?;
    let signature_b64 = str_at(spec, &["signature", "content"])?;
    let signature = b64("spec.signature.content", signature_b64)?;
    let (cert, pem_b64) = certificate(
        "spec.signature.publicKey.content",
        str_at(spec, &["signature", "publicKey", "content"])?,
    )?;
    verify_prehashed(&public_key(&cert)?, &digest, &signature)?;
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
            "signature": {"content": STANDARD.encode(&signature), "publicKey": {"content": pem_b64}},
        },
    });
    Ok(CanonicalEntry {
        body: serde_json_canonicalizer::to_vec(&body).map_err(|e| malformed(e.to_string()))?,
        certificate: cert,
    })
}

fn hex_digest(value: &str) -> Result<[u8; 32], EntryError> {
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed(
            "spec.data.hash.value must be 64 hex digits (SHA-256)",
        ));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(&value[2 * i..2 * i + 2], 16).map_err(|_| malformed("bad hex"))?;
    }
    Ok(out)
}

/// A signature over a SHA-256 digest: ECDSA, or RSA PKCS#1 v1.5.
pub(crate) fn verify_prehashed(
    key: &PKey<Public>,
    digest: &[u8; 32],
    signature: &[u8],
) -> Result<(), EntryError> {
    let ok = match key.id() {
        Id::EC => {
            let ec = key
                .ec_key()
                .map_err(|e| EntryError::Certificate(e.to_string()))?;
            openssl::ecdsa::EcdsaSig::from_der(signature)
                .and_then(|sig| sig.verify(digest, &ec))
                .unwrap_or(false)
        }
        Id::RSA => {
            let verify = || -> Result<bool, openssl::error::ErrorStack> {
                let mut ctx = openssl::pkey_ctx::PkeyCtx::new(key)?;
                ctx.verify_init()?;
                ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1)?;
                ctx.set_signature_md(openssl::md::Md::sha256())?;
                ctx.verify(digest, signature)
            };
            verify().unwrap_or(false)
        }
        _ => {
            return Err(EntryError::Signature(
                "hashedrekord needs an ECDSA or RSA key (Ed25519 cannot sign a prehashed digest)"
                    .into(),
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(EntryError::Signature(
            "not a signature over spec.data.hash by the certificate's key".into(),
        ))
    }
}

#[derive(Deserialize)]
struct Envelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

/// DSSE pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn dsse(spec: &Value) -> Result<CanonicalEntry, EntryError> {
    let envelope_json = str_at(spec, &["proposedContent", "envelope"])?;
    let envelope: Envelope = serde_json::from_str(envelope_json).map_err(|e| {
        malformed(format!(
            "spec.proposedContent.envelope is not a DSSE envelope: {e}"
        ))
    })?;
    let verifiers = spec
        .pointer("/proposedContent/verifiers")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            malformed("spec.proposedContent.verifiers must list the signing certificate")
        })?;
    if envelope.signatures.is_empty() {
        return Err(malformed("the envelope has no signatures"));
    }
    let certs = verifiers
        .iter()
        .map(|v| {
            certificate(
                "spec.proposedContent.verifiers[]",
                v.as_str().unwrap_or_default(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let payload = b64("envelope.payload", &envelope.payload)?;
    let message = pae(&envelope.payload_type, &payload);
    let mut signatures = Vec::new();
    for s in &envelope.signatures {
        let sig = b64("envelope.signatures[].sig", &s.sig)?;
        // Each signature must verify with one of the verifiers, which the body then names.
        let (_, pem_b64) = certs
            .iter()
            .find(|(cert, _)| verify_message(cert, &message, &sig))
            .ok_or_else(|| {
                EntryError::Signature(
                    "an envelope signature verifies with none of the verifiers".into(),
                )
            })?;
        signatures.push(json!({"signature": STANDARD.encode(&sig), "verifier": pem_b64}));
    }
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex(&openssl::sha::sha256(envelope_json.as_bytes()))},
            "payloadHash": {"algorithm": "sha256", "value": hex(&openssl::sha::sha256(&payload))},
            "signatures": signatures,
        },
    });
    Ok(CanonicalEntry {
        body: serde_json_canonicalizer::to_vec(&body).map_err(|e| malformed(e.to_string()))?,
        certificate: certs[0].0.clone(),
    })
}

/// A signature over `message` itself, with the key's usual hash (SHA-256 for ECDSA P-256/RSA,
/// SHA-384 for P-384).
pub(crate) fn verify_message(cert: &X509, message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = cert.public_key() else {
        return false;
    };
    let digest = match key.ec_key().ok().and_then(|ec| ec.group().curve_name()) {
        Some(openssl::nid::Nid::SECP384R1) => MessageDigest::sha384(),
        _ => MessageDigest::sha256(),
    };
    openssl::sign::Verifier::new(digest, &key)
        .and_then(|mut v| v.verify_oneshot(signature, message))
        .unwrap_or(false)
}

fn hex(bytes: &[u8]) -> String {
    crate::ca::hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // DSSE spec: PAE("http://example.com/HelloWorld", "hello world")
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn unsupported_and_malformed_entries_are_named() {
        let cases = [
            (
                r#"{"apiVersion":"0.0.1","kind":"rekord","spec":{}}"#,
                "unsupported",
            ),
            (
                r#"{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{}}"#,
                "unsupported",
            ),
            (r#"{"kind":"hashedrekord"}"#, "malformed"),
            (
                r#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{}}}"#,
                "missing spec.data.hash.algorithm",
            ),
            (
                r#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"zz"}}}}"#,
                "64 hex",
            ),
        ];
        for (body, needle) in cases {
            let err = canonicalize(body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }
}
