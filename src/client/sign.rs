//! Keyless signing: an ephemeral P-256 key (in memory only), a certificate for the identity
//! token whose embedded SCT is verified before use, a signature per file, a Rekor entry, a
//! bundle. Several files share one certificate.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509ReqBuilder};
use serde_json::{Value, json};
use sigil_ctlog::ct::take_extension;
use sigil_ctlog::rfc6962::{SCT_LIST_OID, SignedEntry, merkle_tree_leaf, parse_sct_list, sha256};
use x509_parser::prelude::FromDer;

use super::trust::{TrustMaterial, TrustedLog};
use super::{ClientError, bundle};
use crate::public_key::PublicKey;

/// A signing certificate and its private key, which never leaves memory.
pub struct SigningCertificate {
    key: PKey<Private>,
    /// DER of the leaf.
    pub leaf_der: Vec<u8>,
}

/// Signs files against one deployment.
pub struct Signer {
    http: reqwest::Client,
    trust: TrustMaterial,
}

fn service_error(service: &'static str, message: impl Into<String>) -> ClientError {
    ClientError::Service {
        service,
        message: message.into(),
    }
}

/// POSTs JSON and returns the JSON answer, or the server's own error message.
async fn post_json(
    http: &reqwest::Client,
    service: &'static str,
    url: &str,
    body: &Value,
    token: Option<&str>,
    want: u16,
) -> Result<Value, ClientError> {
    let mut request = http.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| service_error(service, format!("{url}: {e}")))?;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status != want {
        let message = answer["message"].as_str().unwrap_or("no message");
        return Err(service_error(service, format!("HTTP {status}: {message}")));
    }
    Ok(answer)
}

impl Signer {
    /// A signer for the deployment described by `trust`.
    pub fn new(trust: TrustMaterial) -> Signer {
        Signer {
            http: reqwest::Client::new(),
            trust,
        }
    }

    /// Obtains a certificate for `token` over a fresh key, and checks its embedded SCT.
    pub async fn certificate(&self, token: &str) -> Result<SigningCertificate, ClientError> {
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(openssl::ec::EcKey::generate(&group)?)?;
        let mut csr = X509ReqBuilder::new()?;
        csr.set_pubkey(&key)?;
        csr.sign(&key, MessageDigest::sha256())?;
        let body = json!({"certificateSigningRequest": STANDARD.encode(csr.build().to_pem()?)});
        let url = format!("{}/api/v2/signingCert", self.trust.ca_url);
        let answer = post_json(
            &self.http,
            "certificate authority",
            &url,
            &body,
            Some(token),
            200,
        )
        .await?;
        let chain: Vec<X509> = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
            .as_array()
            .ok_or_else(|| {
                service_error(
                    "certificate authority",
                    "no certificate with an embedded SCT in the answer",
                )
            })?
            .iter()
            .map(|c| X509::from_pem(c.as_str().unwrap_or_default().as_bytes()))
            .collect::<Result<_, _>>()?;
        if chain.len() < 2 {
            return Err(service_error(
                "certificate authority",
                "the chain lacks the issuer",
            ));
        }
        let leaf_der = chain[0].to_der()?;
        if !chain[0].public_key()?.public_eq(&key) {
            return Err(service_error(
                "certificate authority",
                "the certificate is not for our key",
            ));
        }
        verify_embedded_sct(
            &leaf_der,
            &chain[1].public_key()?.public_key_to_der()?,
            &self.trust.ct_logs,
        )?;
        Ok(SigningCertificate { key, leaf_der })
    }

    /// Signs one file, logs the signature, and writes its bundle to `bundle_path`.
    pub async fn sign_file(
        &self,
        cert: &SigningCertificate,
        file: &Path,
        bundle_path: &Path,
    ) -> Result<(), ClientError> {
        let data = std::fs::read(file).map_err(|e| ClientError::File {
            path: file.display().to_string(),
            message: e.to_string(),
        })?;
        let digest = sha256(&data);
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &cert.key)?;
        let signature = signer.sign_oneshot_to_vec(&data)?;
        let pem = X509::from_der(&cert.leaf_der)?.to_pem()?;
        let entry = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": crate::ca::hex(&digest)}},
                "signature": {"content": STANDARD.encode(&signature), "publicKey": {"content": STANDARD.encode(pem)}},
            },
        });
        let url = format!("{}/api/v1/log/entries", self.trust.rekor_url);
        let answer = post_json(&self.http, "transparency log", &url, &entry, None, 201).await?;
        let tlog = bundle::tlog_entry(&answer)?;
        bundle::write_atomically(
            bundle_path,
            &bundle::message_signature_bundle(&cert.leaf_der, tlog, &digest, &signature),
        )
    }
}

impl Signer {
    /// Signs an in-toto statement about `file` (predicate `predicate_type`, `predicate`) as a
    /// DSSE envelope, logs it as a `dsse` entry, and writes the bundle to `bundle_path`.
    pub async fn attest_file(
        &self,
        cert: &SigningCertificate,
        file: &Path,
        predicate_type: &str,
        predicate: Value,
        bundle_path: &Path,
    ) -> Result<(), ClientError> {
        let data = std::fs::read(file).map_err(|e| ClientError::File {
            path: file.display().to_string(),
            message: e.to_string(),
        })?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": crate::ca::hex(&sha256(&data))}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        });
        let payload =
            serde_json::to_vec(&statement).map_err(|e| ClientError::Trust(e.to_string()))?;
        let message = crate::rekor::entry::pae(IN_TOTO_PAYLOAD_TYPE, &payload);
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &cert.key)?;
        let signature = signer.sign_oneshot_to_vec(&message)?;
        let envelope = json!({
            "payload": STANDARD.encode(&payload),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": STANDARD.encode(&signature)}],
        });
        let pem = X509::from_der(&cert.leaf_der)?.to_pem()?;
        let entry = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {"proposedContent": {"envelope": envelope.to_string(), "verifiers": [STANDARD.encode(pem)]}},
        });
        let url = format!("{}/api/v1/log/entries", self.trust.rekor_url);
        let answer = post_json(&self.http, "transparency log", &url, &entry, None, 201).await?;
        let tlog = bundle::tlog_entry(&answer)?;
        bundle::write_atomically(
            bundle_path,
            &bundle::dsse_bundle(&cert.leaf_der, tlog, envelope),
        )
    }
}

/// DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Where the bundle of `file` goes by default: `FILE.sigstore.json`.
pub fn default_bundle_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sigstore.json");
    PathBuf::from(name)
}

/// Verifies the single embedded SCT of `leaf_der` (issued by the key `issuer_spki`) with the CT key whose
/// log ID it names (RFC 6962 §3.2: it signs the TBS without the SCT list).
pub fn verify_embedded_sct(
    leaf_der: &[u8],
    issuer_spki: &[u8],
    ct_logs: &[TrustedLog],
) -> Result<(), ClientError> {
    let taken =
        take_extension(leaf_der, SCT_LIST_OID).map_err(|e| ClientError::Sct(e.to_string()))?;
    let (_, list) = x509_parser::der_parser::asn1_rs::OctetString::from_der(&taken.value)
        .map_err(|_| ClientError::Sct("the SCT list is not an OCTET STRING".into()))?;
    let scts = parse_sct_list(list.as_ref())
        .ok_or_else(|| ClientError::Sct("malformed SCT list".into()))?;
    let [sct] = scts.as_slice() else {
        return Err(ClientError::Sct(format!(
            "expected exactly one SCT, found {}",
            scts.len()
        )));
    };
    let log = ct_logs.iter().find(|l| l.id == sct.log_id).ok_or_else(|| {
        ClientError::Sct("it names a CT log the trust configuration does not list".into())
    })?;
    if !log.valid.contains((sct.timestamp_ms / 1000) as i64) {
        return Err(ClientError::Sct(
            "the CT log's key was not trusted when it issued the SCT".into(),
        ));
    }
    let issuer_key_hash = sha256(issuer_spki);
    let signed = merkle_tree_leaf(
        sct.timestamp_ms,
        &SignedEntry::Precert {
            issuer_key_hash,
            tbs: taken.tbs,
        },
        &sct.extensions,
    );
    if !verify_digitally_signed(log.key.as_ref(), &signed, &sct.signature) {
        return Err(ClientError::Sct(
            "the signature does not verify with the CT log's key".into(),
        ));
    }
    Ok(())
}

/// A TLS `DigitallySigned` (RFC 5246 §4.7) over `message` by `key`.
fn verify_digitally_signed(key: Option<&PublicKey>, message: &[u8], signed: &[u8]) -> bool {
    // Hash algorithm SHA-256 (4), the signature algorithm, then the signature with a 2-byte
    // length and nothing after it.
    let [4, _, rest @ ..] = signed else {
        return false;
    };
    let Some((signature, [])) = sigil_ctlog::rfc6962::take_prefixed(rest, 2) else {
        return false;
    };
    key.is_some_and(|key| key.verify(message, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_without_an_sct_list_is_refused_in_the_certificate_s_terms() {
        let der = rcgen::generate_simple_self_signed(vec!["no-sct.example".into()])
            .unwrap()
            .cert
            .der()
            .to_vec();
        match verify_embedded_sct(&der, &[], &[]) {
            Err(ClientError::Sct(why)) => assert_eq!(
                why,
                format!("certificate: exactly one {SCT_LIST_OID} extension is required")
            ),
            other => panic!("expected an SCT error, got {other:?}"),
        }
    }
}
