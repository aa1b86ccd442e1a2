//! The transparency log entry: which trusted log holds it, and the proof that it does — the
//! signed entry timestamp (SET) of a Rekor v1 log, the inclusion proof up to a checkpoint
//! signed by the log (ECDSA for Rekor v1, Ed25519 for Rekor v2; witness cosignatures on the
//! same checkpoint are allowed and ignored).

use serde_json::{Value, json};
use sigil_ctlog::rfc6962::{Hash, leaf_hash};

use super::bundle::Bundle;
use super::{VerifyError, b64, fail, int};
use crate::client::trust::{TrustMaterial, TrustedLog};

/// A log entry whose inclusion is proven.
pub(super) struct Logged<'a> {
    /// The log that holds it.
    pub log: &'a TrustedLog,
    /// Its index (as the bundle states it; Rekor v1 counts across shards).
    pub index: u64,
    /// The integrated time, when a SET vouches for it (Rekor v1).
    pub integrated_time: Option<i64>,
    /// The canonicalized body the log committed to.
    pub body: Vec<u8>,
}

pub(super) fn verify<'a>(
    bundle: &Bundle,
    trust: &'a TrustMaterial,
) -> Result<Logged<'a>, VerifyError> {
    let entry = &bundle.entry;
    let log_id = b64("bundle", &entry["logId"]["keyId"])?;
    let Some(log) = trust.tlogs.iter().find(|l| l.id == log_id) else {
        return fail(
            "log entry",
            "it names a transparency log the trusted root does not list",
        );
    };
    let body = b64("bundle", &entry["canonicalizedBody"])?;
    let index = int("bundle", &entry["logIndex"])?;

    let promise = &entry["inclusionPromise"];
    let integrated_time = if promise.is_object() {
        Some(verify_set(entry, &body, index, &log_id, log)?)
    } else if bundle.version == 1 {
        return fail(
            "SET",
            "a v0.1 bundle must carry a signed entry timestamp (inclusionPromise)",
        );
    } else {
        None
    };

    let proof = &entry["inclusionProof"];
    if proof.is_object() {
        let root = verify_inclusion(proof, &body)?;
        let checkpoint = &proof["checkpoint"]["envelope"];
        if checkpoint.is_string() {
            verify_checkpoint(checkpoint.as_str().unwrap_or_default(), &root, log)?;
        } else if bundle.version > 1 {
            return fail("checkpoint", "the inclusion proof has no signed checkpoint");
        }
    } else if bundle.version > 1 {
        return fail("inclusion proof", "the entry has no inclusion proof");
    }
    Ok(Logged {
        log,
        index,
        integrated_time,
        body,
    })
}

/// The SET: the log's signature over the RFC 8785 JSON of body, integrated time, log ID and
/// index. Returns the integrated time it vouches for.
fn verify_set(
    entry: &Value,
    body: &[u8],
    index: u64,
    log_id: &[u8],
    log: &TrustedLog,
) -> Result<i64, VerifyError> {
    let set = b64("SET", &entry["inclusionPromise"]["signedEntryTimestamp"])?;
    let time = int("SET", &entry["integratedTime"])?;
    let payload = serde_json_canonicalizer::to_vec(&json!({
        "body": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body),
        "integratedTime": time,
        "logID": crate::ca::hex(log_id),
        "logIndex": index,
    }))
    .map_err(|e| VerifyError {
        check: "SET",
        reason: e.to_string(),
    })?;
    if !log.key.as_ref().is_some_and(|k| k.verify(&payload, &set)) {
        return fail(
            "SET",
            "the signed entry timestamp does not verify with the log's key",
        );
    }
    i64::try_from(time).or_else(|_| fail("SET", "the integrated time is out of range"))
}

/// The RFC 6962 inclusion proof of the body's leaf; returns the root it proves against.
fn verify_inclusion(proof: &Value, body: &[u8]) -> Result<Hash, VerifyError> {
    const CHECK: &str = "inclusion proof";
    let hash = |v: &Value| -> Result<Hash, VerifyError> {
        b64(CHECK, v)?
            .try_into()
            .or_else(|_| fail(CHECK, "a hash is not 32 bytes"))
    };
    let root = hash(&proof["rootHash"])?;
    let hashes = proof["hashes"]
        .as_array()
        .ok_or_else(|| VerifyError {
            check: CHECK,
            reason: "no hashes".into(),
        })?
        .iter()
        .map(hash)
        .collect::<Result<Vec<Hash>, _>>()?;
    let (index, size) = (
        int(CHECK, &proof["logIndex"])?,
        int(CHECK, &proof["treeSize"])?,
    );
    sigil_ctlog::merkle::verify_inclusion(index, size, &leaf_hash(body), &hashes, &root)
        .or_else(|e| fail(CHECK, e.to_string()))?;
    Ok(root)
}

/// The checkpoint: a signed note whose root is the inclusion proof's, with a signature line
/// carrying the log's key hint (the first four bytes of its log ID) that verifies with its key.
fn verify_checkpoint(envelope: &str, root: &Hash, log: &TrustedLog) -> Result<(), VerifyError> {
    const CHECK: &str = "checkpoint";
    let (body, signatures) =
        sigil_ctlog::note::parse(envelope).or_else(|e| fail(CHECK, e.to_string()))?;
    let checkpoint =
        sigil_ctlog::note::Checkpoint::parse(&body).or_else(|e| fail(CHECK, e.to_string()))?;
    if checkpoint.root != *root {
        return fail(CHECK, "its root hash is not the inclusion proof's");
    }
    let mut ours = signatures
        .iter()
        .filter(|s| log.id.get(..4) == Some(&s.key_id[..]))
        .peekable();
    if ours.peek().is_none() {
        return fail(CHECK, "no signature carries the log's key hint");
    }
    let Some(key) = &log.key else {
        return fail(CHECK, "the log's key in the trusted root is not usable");
    };
    if !ours.any(|s| key.verify(body.as_bytes(), &s.signature)) {
        return fail(CHECK, "the signature does not verify with the log's key");
    }
    Ok(())
}
