//! Sigstore bundles v0.3 (protobuf-specs `Bundle`), as sigstore-python writes and reads them:
//! standard base64, 64-bit integers as strings, exactly one tlog entry with its inclusion
//! proof, checkpoint and inclusion promise.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::ClientError;

/// Bundle v0.3 media type.
pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn hex_to_b64(hex: &str) -> Result<String, ClientError> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect();
    bytes
        .map(|b| STANDARD.encode(b))
        .ok_or_else(|| log_error(format!("`{hex}` is not hex")))
}

fn log_error(message: String) -> ClientError {
    ClientError::Service {
        service: "transparency log",
        message,
    }
}

/// The bundle's `tlogEntries[0]` from a Rekor v1 `{uuid: entry}` answer.
pub fn tlog_entry(answer: &Value) -> Result<Value, ClientError> {
    let entry = answer
        .as_object()
        .and_then(|m| m.values().next())
        .ok_or_else(|| log_error("the answer holds no entry".into()))?;
    let proof = &entry["verification"]["inclusionProof"];
    let number = |v: &Value, what: &str| {
        v.as_u64()
            .map(|n| n.to_string())
            .ok_or_else(|| log_error(format!("the answer lacks {what}")))
    };
    let text = |v: &Value, what: &str| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| log_error(format!("the answer lacks {what}")))
    };
    let hashes = proof["hashes"]
        .as_array()
        .ok_or_else(|| log_error("the answer lacks an inclusion proof".into()))?
        .iter()
        .map(|h| hex_to_b64(h.as_str().unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()?;
    let body = text(&entry["body"], "body")?;
    let body_json: Value = serde_json::from_slice(
        &STANDARD
            .decode(&body)
            .map_err(|e| log_error(e.to_string()))?,
    )
    .map_err(|e| log_error(format!("body: {e}")))?;
    Ok(json!({
        "logIndex": number(&entry["logIndex"], "logIndex")?,
        "logId": {"keyId": hex_to_b64(&text(&entry["logID"], "logID")?)?},
        "kindVersion": {"kind": body_json["kind"], "version": body_json["apiVersion"]},
        "integratedTime": number(&entry["integratedTime"], "integratedTime")?,
        "inclusionPromise": {"signedEntryTimestamp": text(&entry["verification"]["signedEntryTimestamp"], "the SET")?},
        "inclusionProof": {
            "logIndex": number(&proof["logIndex"], "the proof's logIndex")?,
            "rootHash": hex_to_b64(&text(&proof["rootHash"], "the proof's rootHash")?)?,
            "treeSize": number(&proof["treeSize"], "the proof's treeSize")?,
            "hashes": hashes,
            "checkpoint": {"envelope": text(&proof["checkpoint"], "the checkpoint")?},
        },
        "canonicalizedBody": body,
    }))
}

/// A message-signature bundle: certificate, one tlog entry, digest and signature.
pub fn message_signature_bundle(
    leaf_der: &[u8],
    tlog_entry: Value,
    digest: &[u8],
    signature: &[u8],
) -> Value {
    json!({
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": {"rawBytes": STANDARD.encode(leaf_der)},
            "tlogEntries": [tlog_entry],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
            "signature": STANDARD.encode(signature),
        },
    })
}

/// A DSSE bundle: certificate, one tlog entry, and the envelope.
pub fn dsse_bundle(leaf_der: &[u8], tlog_entry: Value, envelope: Value) -> Value {
    json!({
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": {"rawBytes": STANDARD.encode(leaf_der)},
            "tlogEntries": [tlog_entry],
        },
        "dsseEnvelope": envelope,
    })
}

/// Writes `bundle` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over the target, so a reader never sees half a bundle.
pub fn write_atomically(path: &Path, bundle: &Value) -> Result<(), ClientError> {
    let fail = |e: std::io::Error| ClientError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let text = serde_json::to_vec_pretty(bundle).map_err(|e| fail(std::io::Error::other(e)))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}
