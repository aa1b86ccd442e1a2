//! The Rekor v1-compatible signature log, on the same Merkle-log engine as the CT log but with
//! its own key, origin and tree.
//!
//! An entry is admitted only if its signature verifies with its certificate's key and the
//! certificate chains to this deployment's CA and is valid now. Its canonical body is the
//! leaf; its UUID is the leaf hash in hex; its integrated time is stored beside it. An entry is
//! answered only once it is durable, so the inclusion proof is always present.

pub mod entry;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::x509::X509;
use sigil_ctlog::key::LogKey;
use sigil_ctlog::log::{HeadSigner, Log, LogError, LogOptions, Observer, PendingEntry};
use sigil_ctlog::note::{self, Checkpoint, NoteSignature};
use sigil_ctlog::rfc6962::{Hash, leaf_hash};
use sigil_ctlog::store::{Store, TreeHead};

use crate::pki::AuthorityChain;

pub use entry::EntryError;

/// Why a Rekor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RekorError {
    /// The proposed entry was refused.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The same entry is already in the log.
    #[error("an equivalent entry already exists in the log at index {index} (UUID {uuid})")]
    Duplicate {
        /// The existing entry's UUID.
        uuid: String,
        /// The existing entry's index.
        index: u64,
    },
    /// The log failed, or the entry does not exist.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// An entry with everything a Rekor v1 client needs to verify it offline.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Hex leaf hash.
    pub uuid: String,
    /// Position in the log.
    pub index: u64,
    /// The canonical body.
    pub body: Vec<u8>,
    /// Seconds since the Unix epoch at admission.
    pub integrated_time: u64,
    /// Inclusion proof against `head`.
    pub proof: Vec<Hash>,
    /// The tree head the proof is against, with its signed checkpoint.
    pub head: TreeHead,
}

/// Signs Rekor checkpoints: ECDSA over the note body, key hint = the log ID's first 4 bytes
/// (what sigstore-python and sigstore-js check against `logId`).
struct CheckpointSigner {
    key: Arc<LogKey>,
    origin: String,
}

impl HeadSigner for CheckpointSigner {
    fn sign_head(
        &self,
        size: u64,
        root: &Hash,
        _timestamp_ms: u64,
    ) -> Result<(Vec<u8>, String), String> {
        let body = Checkpoint {
            origin: self.origin.clone(),
            size,
            root: *root,
        }
        .body();
        let signature = self.key.sign(body.as_bytes()).map_err(|e| e.to_string())?;
        let id = self.key.log_id();
        let note = note::format(
            &body,
            &[NoteSignature {
                name: self.origin.clone(),
                key_id: [id[0], id[1], id[2], id[3]],
                signature: signature.clone(),
            }],
        );
        Ok((signature, note))
    }
}

/// The Rekor-compatible log.
pub struct RekorLog {
    log: Arc<Log>,
    key: Arc<LogKey>,
    /// The log ID in hex, as entries and SETs carry it.
    log_id_hex: String,
    origin: String,
    /// The CA chain an entry's certificate must chain to, issuing certificate first.
    ca_chain: AuthorityChain,
}

impl RekorLog {
    /// Opens the log stored under `name`, admitting certificates of `ca_chain` (issuing
    /// certificate first, root last).
    pub async fn open(
        name: &str,
        store: Store,
        key: Arc<LogKey>,
        origin: String,
        ca_chain: &[X509],
        observer: Option<Arc<dyn Observer>>,
        options: LogOptions,
    ) -> Result<RekorLog, LogError> {
        let signer = Arc::new(CheckpointSigner {
            key: key.clone(),
            origin: origin.clone(),
        });
        // One body is one entry: the engine refuses a leaf it holds, even when replicas race.
        let options = LogOptions {
            unique_leaves: true,
            ..options
        };
        let log = Log::open(name, store, signer, observer, options).await?;
        // A log must never be continued under another key: its history would stop verifying.
        let head = log.head().await?;
        let body = Checkpoint {
            origin: origin.clone(),
            size: head.size,
            root: head.root,
        }
        .body();
        if !sigil_ctlog::key::verify(key.spki_der(), body.as_bytes(), &head.signature) {
            return Err(LogError::Sign(format!(
                "the stored tree head of log `{name}` was signed by a different key or origin; \
                 use the original key and origin, or another storage location"
            )));
        }
        Ok(RekorLog {
            log,
            log_id_hex: crate::ca::hex(key.log_id()),
            key,
            origin,
            ca_chain: AuthorityChain::new(
                ca_chain
                    .iter()
                    .map(|c| c.to_der())
                    .collect::<Result<_, _>>()
                    .map_err(|e| LogError::Sign(e.to_string()))?,
            ),
        })
    }

    /// The engine, for the sequencer task.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// The log key.
    pub fn key(&self) -> &LogKey {
        &self.key
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Admits a proposed entry (the JSON body of `POST /api/v1/log/entries`) and returns it
    /// once it is durable.
    pub async fn add(&self, request: &[u8]) -> Result<LogEntry, RekorError> {
        let entry = entry::canonicalize(request)?;
        self.check_certificate(&entry.certificate)?;
        let hash = leaf_hash(&entry.body);
        self.append(hash, entry.body).await.map_err(|e| match e {
            RekorError::Log(LogError::Duplicate(index)) => RekorError::Duplicate {
                uuid: crate::ca::hex(&hash),
                index,
            },
            other => other,
        })
    }

    /// Appends a new body and waits until it is durable.
    async fn append(&self, hash: Hash, body: Vec<u8>) -> Result<LogEntry, RekorError> {
        let integrated_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let sequenced = self
            .log
            .submit(PendingEntry {
                leaf_input: body.clone(),
                extra: integrated_time.to_be_bytes().to_vec(),
                timestamp_ms: integrated_time * 1000,
            })
            .await?;
        let proof = self
            .log
            .inclusion_proof(sequenced.index, sequenced.head.size)
            .await?;
        Ok(LogEntry {
            uuid: crate::ca::hex(&hash),
            index: sequenced.index,
            body,
            integrated_time,
            proof,
            head: (*sequenced.head).clone(),
        })
    }

    /// The entry at `index`, with a proof against the latest tree head.
    pub async fn by_index(&self, index: u64) -> Result<LogEntry, RekorError> {
        let head = self.log.head().await?;
        if index >= head.size {
            return Err(LogError::NotFound.into());
        }
        let stored = self
            .log
            .entries(index, index + 1)
            .await?
            .pop()
            .ok_or(LogError::NotFound)?;
        let integrated_time = stored
            .extra
            .as_slice()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| LogError::Unavailable(format!("entry {index} has no integrated time")))?;
        let proof = self.log.inclusion_proof(index, head.size).await?;
        Ok(LogEntry {
            uuid: crate::ca::hex(&stored.leaf_hash),
            index,
            body: stored.leaf_input,
            integrated_time,
            proof,
            head,
        })
    }

    /// The entry whose UUID (hex leaf hash; a 16-hex-digit tree ID prefix is ignored) is `uuid`.
    pub async fn by_uuid(&self, uuid: &str) -> Result<LogEntry, RekorError> {
        let hex = uuid
            .get(uuid.len().saturating_sub(64)..)
            .unwrap_or_default();
        let hash = parse_hex32(hex).ok_or(LogError::NotFound)?;
        let head = self.log.head().await?;
        let index = self.log.index_of(&hash, head.size).await?;
        self.by_index(index).await
    }

    /// The log ID in hex.
    pub fn log_id_hex(&self) -> &str {
        &self.log_id_hex
    }

    /// The SET: the log's signature over the RFC 8785 JSON of body (`body_b64`, the entry's
    /// body in base64), integratedTime, logID and logIndex (what sigstore-python verifies as the
    /// inclusion promise).
    pub fn signed_entry_timestamp(
        &self,
        entry: &LogEntry,
        body_b64: &str,
    ) -> Result<Vec<u8>, RekorError> {
        let canonical = SetPayload {
            body: body_b64,
            integrated_time: entry.integrated_time,
            log_id: &self.log_id_hex,
            log_index: entry.index,
        }
        .canonical()
        .map_err(|e| LogError::Sign(e.to_string()))?;
        self.key
            .sign(&canonical)
            .map_err(|e| RekorError::Log(LogError::Sign(e.to_string())))
    }

    /// Checks that `cert` (DER) chains to this deployment's CA and is valid now.
    fn check_certificate(&self, cert: &[u8]) -> Result<(), EntryError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        crate::pki::chain_to(cert, &self.ca_chain, now, crate::pki::EKU_CODE_SIGNING)
            .map(|_| ())
            .map_err(|reason| {
                EntryError::Certificate(format!(
                    "it does not chain to this deployment's CA at the current time ({reason})"
                ))
            })
    }
}

/// What a SET signs. The fields are declared in RFC 8785's order (keys sorted by their UTF-16
/// code units), and the strings are base64 and hex, which JSON does not escape: with integers
/// below 2^53, serde_json's compact output is then the canonical form byte for byte, without
/// the canonicalizer's buffers per key (2.4% of the request workers' samples in a profile of
/// uploads).
#[derive(serde::Serialize)]
struct SetPayload<'a> {
    body: &'a str,
    #[serde(rename = "integratedTime")]
    integrated_time: u64,
    #[serde(rename = "logID")]
    log_id: &'a str,
    #[serde(rename = "logIndex")]
    log_index: u64,
}

impl SetPayload<'_> {
    fn canonical(&self) -> serde_json::Result<Vec<u8>> {
        // RFC 8785 writes a number as ECMAScript does, which from 2^53 on is not its digits.
        if self.integrated_time.max(self.log_index) < 1 << 53 {
            serde_json::to_vec(self)
        } else {
            serde_json_canonicalizer::to_vec(self)
        }
    }
}

fn parse_hex32(s: &str) -> Option<Hash> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_payload_is_rfc_8785_json() {
        let log_id = crate::ca::hex(&[0xab; 32]);
        for (integrated_time, log_index) in [
            (0, 0),
            (1_795_338_149, 41_000_123),
            ((1 << 53) - 1, (1 << 53) - 1),
            (1 << 53, 7),
            (5, u64::MAX),
        ] {
            let payload = SetPayload {
                body: "eyJhcGlWZXJzaW9uIjoiMC4wLjEi+/9=",
                integrated_time,
                log_id: &log_id,
                log_index,
            };
            assert_eq!(
                payload.canonical().unwrap(),
                serde_json_canonicalizer::to_vec(&payload).unwrap(),
                "{integrated_time} {log_index}"
            );
        }
    }
}
