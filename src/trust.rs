//! Trust distribution: the documents a Sigstore client needs to use this deployment with
//! nothing else (protobuf-specs `TrustedRoot`, `SigningConfig` v0.2, `ClientTrustConfig`).
//!
//! sigstore-python parses them strictly (pydantic `extra="forbid"`): only the fields below,
//! standard base64, RFC 3339 times, an `operator` on every service, and the trusted-root media
//! type `…trustedroot+json;version=0.1` (the `v0.2` form is rejected).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::pkey::{Id, PKey, Public};
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::startup::{AppState, public_host};

/// `TrustedRoot` media type accepted by sigstore-python 4.x.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
const SIGNING_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";
const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

/// The documents of one deployment, computed once at start-up.
pub struct TrustDocuments {
    /// `trusted_root.json`.
    pub trusted_root: Value,
    /// `signing_config.v0.2.json`.
    pub signing_config: Value,
    /// `client_trust_config.json`: both of the above.
    pub client_trust_config: Value,
}

/// protobuf-specs `PublicKeyDetails` of a log key.
fn key_details(spki: &[u8]) -> &'static str {
    let key: Option<PKey<Public>> = PKey::public_key_from_der(spki).ok();
    match key.as_ref().map(|k| (k.id(), k.bits())) {
        Some((Id::EC, 384)) => "PKIX_ECDSA_P384_SHA_384",
        Some((Id::EC, 521)) => "PKIX_ECDSA_P521_SHA_512",
        Some((Id::EC, _)) => "PKIX_ECDSA_P256_SHA_256",
        Some((Id::RSA, 3072)) => "PKIX_RSA_PKCS1V15_3072_SHA256",
        Some((Id::RSA, 4096)) => "PKIX_RSA_PKCS1V15_4096_SHA256",
        Some((Id::RSA, _)) => "PKIX_RSA_PKCS1V15_2048_SHA256",
        _ => "PKIX_ECDSA_P256_SHA_256",
    }
}

fn transparency_log(base_url: &str, spki: &[u8], log_id: &[u8], start: &str) -> Value {
    json!({
        "baseUrl": base_url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": STANDARD.encode(spki),
            "keyDetails": key_details(spki),
            "validFor": {"start": start},
        },
        "logId": {"keyId": STANDARD.encode(log_id)},
    })
}

fn service(url: &str, operator: &str, start: &str) -> Value {
    json!({"url": url, "majorApiVersion": 1, "validFor": {"start": start}, "operator": operator})
}

impl TrustDocuments {
    /// Placeholders, replaced by [`TrustDocuments::build`] before the server starts.
    pub fn empty() -> TrustDocuments {
        TrustDocuments {
            trusted_root: Value::Null,
            signing_config: Value::Null,
            client_trust_config: Value::Null,
        }
    }

    /// Builds the documents from the running CA, logs and public URL.
    pub fn build(state: &AppState) -> Result<TrustDocuments, String> {
        let base = state.public_url.as_str().trim_end_matches('/').to_owned();
        let operator = public_host(&state.public_url);
        let chain = state.ca.chain();
        let root_der = chain.root().to_der().map_err(|e| e.to_string())?;
        let (_, root) = X509Certificate::from_der(&root_der).map_err(|e| e.to_string())?;
        // Every key and service is valid from the root's start: nothing this deployment signed
        // is older than its root.
        let start = root
            .validity()
            .not_before
            .to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string())?;
        let attribute = |oid| {
            root.subject()
                .iter_by_oid(oid)
                .next()
                .and_then(|a| a.as_str().ok())
                .unwrap_or("sigil")
                .to_owned()
        };
        let (organization_oid, common_name_oid) = (
            x509_parser::oid_registry::OID_X509_ORGANIZATION_NAME,
            x509_parser::oid_registry::OID_X509_COMMON_NAME,
        );
        let organization = attribute(&organization_oid);
        let common_name = attribute(&common_name_oid);
        let certificates: Vec<Value> = chain
            .certs()
            .iter()
            .map(|c| c.to_der().map(|d| json!({"rawBytes": STANDARD.encode(d)})))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let ct_key = state.ct.key();
        let rekor_key = state.rekor.key();
        let trusted_root = json!({
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [transparency_log(&base, rekor_key.spki_der(), rekor_key.log_id(), &start)],
            "certificateAuthorities": [{
                "subject": {"organization": organization, "commonName": common_name},
                "uri": base,
                "certChain": {"certificates": certificates},
                "validFor": {"start": start},
            }],
            "ctlogs": [transparency_log(&format!("{base}/ct"), ct_key.spki_der(), ct_key.log_id(), &start)],
            "timestampAuthorities": [],
        });
        let oidc_urls: Vec<Value> = match &state.dev_idp {
            Some(idp) => vec![service(idp.issuer(), &operator, &start)],
            None => vec![],
        };
        let signing_config = json!({
            "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
            "caUrls": [service(&base, &operator, &start)],
            "oidcUrls": oidc_urls,
            "rekorTlogUrls": [service(&base, &operator, &start)],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        });
        let client_trust_config = json!({
            "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
            "trustedRoot": trusted_root,
            "signingConfig": signing_config,
        });
        Ok(TrustDocuments {
            trusted_root,
            signing_config,
            client_trust_config,
        })
    }
}
