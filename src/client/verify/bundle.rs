//! The shape of a Sigstore bundle (v0.1–v0.3): which media type, which certificate, which log
//! entry kind, what was signed. Nothing here is trusted yet.

use serde_json::{Value, json};

use super::{VerifyError, b64, fail};

const MEDIA_TYPES: &[(&str, u8)] = &[
    ("application/vnd.dev.sigstore.bundle+json;version=0.1", 1),
    ("application/vnd.dev.sigstore.bundle+json;version=0.2", 2),
    ("application/vnd.dev.sigstore.bundle+json;version=0.3", 3),
    ("application/vnd.dev.sigstore.bundle.v0.3+json", 3),
];

/// The log entry kinds a bundle may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Rekor v1 `hashedrekord` 0.0.1.
    HashedRekordV001,
    /// Rekor v2 `hashedrekord` 0.0.2.
    HashedRekordV002,
    /// Rekor v1 `dsse` 0.0.1.
    DsseV001,
    /// Rekor v2 `dsse` 0.0.2.
    DsseV002,
}

/// What the certificate's key signed.
pub(super) enum Content {
    /// A signature over the artifact's SHA-256 (`messageSignature`).
    Message {
        /// The digest the bundle claims, if it states one.
        digest: Option<Vec<u8>>,
        signature: Vec<u8>,
    },
    /// A DSSE envelope with one signature over its PAE.
    Dsse {
        payload_type: String,
        payload: Vec<u8>,
        signature: Vec<u8>,
    },
}

pub(super) struct Bundle {
    /// The minor version: 1, 2 or 3.
    pub version: u8,
    pub leaf_der: Vec<u8>,
    pub entry: Value,
    pub kind: Kind,
    pub content: Content,
    /// DER `TimeStampResp`s from `timestampVerificationData`.
    pub timestamps: Vec<Vec<u8>>,
}

impl Bundle {
    pub(super) fn parse(bytes: &[u8]) -> Result<Bundle, VerifyError> {
        let mut bundle: Value = match serde_json::from_slice(bytes) {
            Ok(b) => b,
            Err(e) => return fail("bundle", format!("not JSON: {e}")),
        };
        let media_type = bundle["mediaType"].as_str().unwrap_or_default();
        let Some(&(_, version)) = MEDIA_TYPES.iter().find(|(m, _)| *m == media_type) else {
            return fail("bundle", format!("unknown media type `{media_type}`"));
        };
        let material = &mut bundle["verificationMaterial"];
        let leaf_der = if material["certificate"].is_object() {
            b64("bundle", &material["certificate"]["rawBytes"])?
        } else {
            b64(
                "bundle",
                &material["x509CertificateChain"]["certificates"][0]["rawBytes"],
            )?
        };
        let timestamps = material["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|t| b64("bundle", &t["signedTimestamp"]))
            .collect::<Result<_, _>>()?;
        let entry = match material["tlogEntries"].take() {
            Value::Array(mut entries) if entries.len() == 1 => entries.remove(0),
            entries => {
                let n = entries.as_array().map_or(0, Vec::len);
                return fail(
                    "bundle",
                    format!("expected exactly one tlog entry, found {n}"),
                );
            }
        };
        let kind = match &entry["kindVersion"] {
            kv if *kv == json!({"kind": "hashedrekord", "version": "0.0.1"}) => {
                Kind::HashedRekordV001
            }
            kv if *kv == json!({"kind": "hashedrekord", "version": "0.0.2"}) => {
                Kind::HashedRekordV002
            }
            kv if *kv == json!({"kind": "dsse", "version": "0.0.1"}) => Kind::DsseV001,
            kv if *kv == json!({"kind": "dsse", "version": "0.0.2"}) => Kind::DsseV002,
            kv => return fail("bundle", format!("unsupported log entry kind {kv}")),
        };
        let content = match (kind, &bundle["messageSignature"], &bundle["dsseEnvelope"]) {
            (Kind::HashedRekordV001 | Kind::HashedRekordV002, sig, Value::Null) => {
                Content::Message {
                    digest: match &sig["messageDigest"]["digest"] {
                        Value::Null => None,
                        d => Some(b64("bundle", d)?),
                    },
                    signature: b64("bundle", &sig["signature"])?,
                }
            }
            (Kind::DsseV001 | Kind::DsseV002, Value::Null, envelope) => {
                let [signature] = envelope["signatures"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                else {
                    return fail("bundle", "the envelope must carry exactly one signature");
                };
                Content::Dsse {
                    payload_type: envelope["payloadType"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    payload: b64("bundle", &envelope["payload"])?,
                    signature: b64("bundle", &signature["sig"])?,
                }
            }
            _ => {
                return fail(
                    "bundle",
                    "the log entry kind does not match the bundle's content",
                );
            }
        };
        Ok(Bundle {
            version,
            leaf_der,
            entry,
            kind,
            content,
            timestamps,
        })
    }

    /// The signature bytes (what RFC 3161 timestamps are over).
    pub(super) fn signature(&self) -> &[u8] {
        match &self.content {
            Content::Message { signature, .. } | Content::Dsse { signature, .. } => signature,
        }
    }
}
