//! What the log benchmarks share: a checkpoint signer and distinct entries.

use sigil_ctlog::key::LogKey;
use sigil_ctlog::log::{HeadSigner, PendingEntry};
use sigil_ctlog::note::Checkpoint;
use sigil_ctlog::rfc6962::Hash;

/// Signs every tree head as a checkpoint of `origin` with a new P-256 key, as the Rekor log
/// does.
pub struct CheckpointSigner {
    origin: &'static str,
    key: LogKey,
}

impl CheckpointSigner {
    pub fn new(origin: &'static str) -> CheckpointSigner {
        CheckpointSigner {
            origin,
            key: LogKey::generate_p256().expect("a P-256 key"),
        }
    }
}

impl HeadSigner for CheckpointSigner {
    fn sign_head(&self, size: u64, root: &Hash, _ts: u64) -> Result<(Vec<u8>, String), String> {
        let body = Checkpoint {
            origin: self.origin.into(),
            size,
            root: *root,
        }
        .body();
        let signature = self.key.sign(body.as_bytes()).map_err(|e| e.to_string())?;
        Ok((signature, body))
    }
}

/// Entry `n`, `bytes` long (at least 16): distinct for every `n`, and its leaf hash unrelated to
/// its neighbours'.
pub fn entry(n: u64, bytes: usize) -> PendingEntry {
    let mut leaf_input = vec![0u8; bytes];
    leaf_input[..8].copy_from_slice(&n.to_be_bytes());
    leaf_input[8..16].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    PendingEntry {
        leaf_input,
        extra: n.to_be_bytes().to_vec(),
        timestamp_ms: 1,
    }
}
