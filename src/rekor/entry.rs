//! Rekor v1 entries: `hashedrekord` 0.0.1 and `dsse` 0.0.1 — parsing, admission checks, and
//! the canonical body that is logged.
//!
//! Canonicalization is what makes one entry one entry: the certificate is re-encoded as PEM
//! with LF and 64-column lines, hashes are lower-case hex, and the body is serialized as RFC
//! 8785 JSON. sigstore-rust submits CRLF PEM, sigstore-python LF; both yield the same bytes,
//! hence the same leaf and UUID (real Rekor does the same in `CanonicalValue`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::public_key::PublicKey;

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
    /// The signing certificate (DER), for the admission chain check.
    pub certificate: Vec<u8>,
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

/// A submitted certificate: its DER, its key, and its canonical `base64(PEM)`.
struct Certificate {
    der: Vec<u8>,
    key: PublicKey,
    pem_b64: String,
}

/// A certificate from `base64(PEM)` (or base64 of DER). The canonical PEM is the DER in
/// 64-column lines with LF endings, which is also what OpenSSL writes.
fn certificate(field: &str, value: &str) -> Result<Certificate, EntryError> {
    let bytes = b64(field, value)?;
    let not_a_certificate = || malformed(format!("{field} is not a PEM or DER certificate"));
    let der = crate::pki::der_from_pem_or_der(&bytes, |label| label == "CERTIFICATE")
        .ok_or_else(not_a_certificate)?;
    let (rest, cert) = X509Certificate::from_der(&der).map_err(|_| not_a_certificate())?;
    let der = der[..der.len() - rest.len()].to_vec();
    let key = PublicKey::from_spki(cert.public_key().raw).ok_or_else(|| {
        EntryError::Certificate(
            "its key is not ECDSA P-256/P-384/P-521, RSA or Ed25519, or is malformed".into(),
        )
    })?;
    Ok(Certificate {
        pem_b64: STANDARD.encode(crate::pki::certificate_pem(&der)),
        der,
        key,
    })
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
    let cert = certificate(
        "spec.signature.publicKey.content",
        str_at(spec, &["signature", "publicKey", "content"])?,
    )?;
    if !cert.key.verify_prehashed(&digest, &signature) {
        return Err(EntryError::Signature(
            "not a signature over spec.data.hash by the certificate's key (ECDSA or RSA; \
             Ed25519 cannot sign a prehashed digest)"
                .into(),
        ));
    }
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
            "signature": {"content": STANDARD.encode(&signature), "publicKey": {"content": cert.pem_b64}},
        },
    });
    Ok(CanonicalEntry {
        body: serde_json_canonicalizer::to_vec(&body).map_err(|e| malformed(e.to_string()))?,
        certificate: cert.der,
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
    let mut certs = verifiers
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
        let cert = certs
            .iter()
            .find(|cert| cert.key.verify(&message, &sig))
            .ok_or_else(|| {
                EntryError::Signature(
                    "an envelope signature verifies with none of the verifiers".into(),
                )
            })?;
        signatures.push(json!({"signature": STANDARD.encode(&sig), "verifier": cert.pem_b64}));
    }
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": crate::ca::hex(&sha256(envelope_json.as_bytes()))},
            "payloadHash": {"algorithm": "sha256", "value": crate::ca::hex(&sha256(&payload))},
            "signatures": signatures,
        },
    });
    let certificate = certs.swap_remove(0).der;
    Ok(CanonicalEntry {
        body: serde_json_canonicalizer::to_vec(&body).map_err(|e| malformed(e.to_string()))?,
        certificate,
    })
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    sigil_ctlog::rfc6962::sha256(bytes)
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

    /// The canonical PEM is byte for byte what OpenSSL writes (entries logged before this
    /// parser keep their UUIDs), whether the certificate came as LF PEM, CRLF PEM or DER.
    #[test]
    fn canonical_pem_matches_openssl_for_every_submitted_form() {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::pkey::PKey;
        let key = PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(openssl::nid::Nid::SECP384R1).unwrap())
                .unwrap(),
        )
        .unwrap();
        let mut builder = openssl::x509::X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        builder.set_pubkey(&key).unwrap();
        let now = openssl::asn1::Asn1Time::days_from_now(0).unwrap();
        let later = openssl::asn1::Asn1Time::days_from_now(1).unwrap();
        builder.set_not_before(&now).unwrap();
        builder.set_not_after(&later).unwrap();
        builder
            .sign(&key, openssl::hash::MessageDigest::sha384())
            .unwrap();
        let cert = builder.build();
        let expected = STANDARD.encode(cert.to_pem().unwrap());
        let lf = String::from_utf8(cert.to_pem().unwrap()).unwrap();
        let crlf = lf.replace('\n', "\r\n");
        for form in [lf.into_bytes(), crlf.into_bytes(), cert.to_der().unwrap()] {
            let parsed = certificate("c", &STANDARD.encode(form)).unwrap();
            assert_eq!(parsed.pem_b64, expected);
            assert_eq!(parsed.der, cert.to_der().unwrap());
        }
        let key_pem = STANDARD.encode(key.public_key_to_pem().unwrap());
        assert!(matches!(
            certificate("c", &key_pem),
            Err(EntryError::Malformed(_))
        ));
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
