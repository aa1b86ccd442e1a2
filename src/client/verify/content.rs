//! What was signed: the signature over the artifact (or the DSSE envelope whose statement names
//! it), and the log entry's body against the bundle — the logged digest, signature and
//! certificate must be the bundle's, or a valid entry for something else could be swapped in.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sigil_ctlog::rfc6962::{Hash, sha256};

use super::bundle::{Bundle, Content, Kind};
use super::certificate::Leaf;
use super::{VerifyError, fail};
use crate::rekor::entry::pae;

pub(super) fn verify(
    bundle: &Bundle,
    leaf: &Leaf,
    digest: &Hash,
    body: &[u8],
) -> Result<(), VerifyError> {
    let body: Value = serde_json::from_slice(body)
        .or_else(|e| fail("log entry", format!("the body is not JSON: {e}")))?;
    match &bundle.content {
        Content::Message {
            digest: claimed,
            signature,
        } => {
            if claimed.as_ref().is_some_and(|c| c[..] != digest[..]) {
                return fail(
                    "signature",
                    "the bundle's message digest is not the artifact's SHA-256",
                );
            }
            if !leaf.key.verify_prehashed(digest, signature) {
                return fail(
                    "signature",
                    "the signature does not verify over the artifact's digest with the certificate's key",
                );
            }
            if !logged_message(bundle.kind, &body, digest, signature, &leaf.der) {
                return fail(
                    "log entry",
                    "the logged digest, signature or certificate differs from the bundle's",
                );
            }
        }
        Content::Dsse {
            payload_type,
            payload,
            signature,
        } => {
            if !leaf.key.verify(&pae(payload_type, payload), signature) {
                return fail(
                    "signature",
                    "the envelope signature does not verify with the certificate's key",
                );
            }
            let statement: Value = serde_json::from_slice(payload)
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
            if !logged_envelope(bundle.kind, &body, &sha256(payload), signature, &leaf.der) {
                return fail(
                    "log entry",
                    "the logged payload hash, signature or verifier differs from the envelope's",
                );
            }
        }
    }
    Ok(())
}

/// A `hashedrekord` body (0.0.1 or 0.0.2) records this digest, signature and certificate.
fn logged_message(kind: Kind, body: &Value, digest: &Hash, signature: &[u8], leaf: &[u8]) -> bool {
    match kind {
        Kind::HashedRekordV001 => {
            let spec = &body["spec"];
            header(body, "hashedrekord", "0.0.1")
                && spec["data"]["hash"]["algorithm"] == "sha256"
                && spec["data"]["hash"]["value"].as_str() == Some(crate::ca::hex(digest).as_str())
                && bytes(&spec["signature"]["content"]).as_deref() == Some(signature)
                && same_certificate(&spec["signature"]["publicKey"]["content"], leaf)
        }
        Kind::HashedRekordV002 => {
            let spec = &body["spec"]["hashedRekordV002"];
            header(body, "hashedrekord", "0.0.2")
                && spec["data"]["algorithm"] == "SHA2_256"
                && bytes(&spec["data"]["digest"]).as_deref() == Some(&digest[..])
                && bytes(&spec["signature"]["content"]).as_deref() == Some(signature)
                && v2_verifier_is(&spec["signature"]["verifier"], leaf)
        }
        Kind::DsseV001 | Kind::DsseV002 => false,
    }
}

/// A `dsse` body (0.0.1 or 0.0.2) records this payload hash, one signature, and the
/// certificate.
fn logged_envelope(
    kind: Kind,
    body: &Value,
    payload_hash: &Hash,
    signature: &[u8],
    leaf: &[u8],
) -> bool {
    match kind {
        Kind::DsseV001 => {
            let spec = &body["spec"];
            header(body, "dsse", "0.0.1")
                && spec["payloadHash"]["algorithm"] == "sha256"
                && spec["payloadHash"]["value"].as_str()
                    == Some(crate::ca::hex(payload_hash).as_str())
                && matches!(spec["signatures"].as_array().map(Vec::as_slice), Some([s])
                    if bytes(&s["signature"]).as_deref() == Some(signature)
                        && same_certificate(&s["verifier"], leaf))
        }
        Kind::DsseV002 => {
            let spec = &body["spec"]["dsseV002"];
            header(body, "dsse", "0.0.2")
                && spec["payloadHash"]["algorithm"] == "SHA2_256"
                && bytes(&spec["payloadHash"]["digest"]).as_deref() == Some(&payload_hash[..])
                && matches!(spec["signatures"].as_array().map(Vec::as_slice), Some([s])
                    if bytes(&s["content"]).as_deref() == Some(signature)
                        && v2_verifier_is(&s["verifier"], leaf))
        }
        Kind::HashedRekordV001 | Kind::HashedRekordV002 => false,
    }
}

fn header(body: &Value, kind: &str, version: &str) -> bool {
    body["kind"] == kind && body["apiVersion"] == version
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    v.as_str().and_then(|s| STANDARD.decode(s).ok())
}

/// A Rekor v2 `Verifier` holding this certificate.
fn v2_verifier_is(verifier: &Value, leaf: &[u8]) -> bool {
    bytes(&verifier["x509Certificate"]["rawBytes"]).as_deref() == Some(leaf)
}

/// Whether a base64 PEM (or DER) certificate from a Rekor v1 entry is `leaf`.
fn same_certificate(logged: &Value, leaf: &[u8]) -> bool {
    let Some(bytes) = bytes(logged) else {
        return false;
    };
    // A byte comparison of the DER, with no certificate parser: OpenSSL's took a fifth of a
    // whole bundle verification to decode a key that nothing here uses.
    crate::pki::der_from_pem_or_der(&bytes, |label| label == "CERTIFICATE")
        .is_some_and(|der| *der == *leaf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(name: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec()
    }

    fn logged(bytes: &[u8]) -> Value {
        Value::String(STANDARD.encode(bytes))
    }

    #[test]
    fn a_logged_certificate_matches_only_the_same_der_in_pem_or_der() {
        let leaf = certificate("leaf.example");
        let other = certificate("other.example");
        let pem = |tag: &str, der: &[u8]| pem::encode(&pem::Pem::new(tag, der.to_vec()));
        assert!(same_certificate(
            &logged(pem("CERTIFICATE", &leaf).as_bytes()),
            &leaf
        ));
        assert!(same_certificate(&logged(&leaf), &leaf));
        assert!(!same_certificate(
            &logged(pem("CERTIFICATE", &other).as_bytes()),
            &leaf
        ));
        assert!(!same_certificate(&logged(&other), &leaf));
        assert!(!same_certificate(
            &logged(pem("PUBLIC KEY", &leaf).as_bytes()),
            &leaf
        ));
        assert!(!same_certificate(
            &Value::String("not base64!".into()),
            &leaf
        ));
        assert!(!same_certificate(&Value::Null, &leaf));
    }
}
