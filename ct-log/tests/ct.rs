//! The CT log's read paths over entries of both stored forms: chains stored by fingerprint, and
//! the RFC 6962 `extra_data` that logs written before held inline, read by a process that has
//! not seen their issuers.

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use sigil_ctlog::ct::{CtLog, Entry};
use sigil_ctlog::key::LogKey;
use sigil_ctlog::log::{LogOptions, PendingEntry};
use sigil_ctlog::rfc6962::{SignedEntry, merkle_tree_leaf, sha256, x509_chain_entry};
use sigil_ctlog::store::Store;

async fn open(store: &Store, key: &Arc<LogKey>) -> CtLog {
    let options = LogOptions {
        interval: Duration::from_millis(5),
        ..LogOptions::default()
    };
    let ct = CtLog::open(
        "ct",
        store.clone(),
        key.clone(),
        "test/ct".into(),
        vec![],
        None,
        options,
    )
    .await
    .unwrap();
    tokio::spawn(ct.log().clone().run_sequencer());
    ct
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_both_stored_forms_read_back_as_rfc_6962_and_tile_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let key = Arc::new(LogKey::generate_p256().unwrap());
    // The log's own code never parses these: certificates are opaque bytes to it.
    let issuer = b"issuing certificate".to_vec();
    let root = b"root certificate".to_vec();
    let chain = [issuer.clone(), root.clone()];

    let store = Store::connect(&url).await.unwrap();
    let ct = open(&store, &key).await;
    // An entry as logs wrote them before chains were stored by fingerprint.
    let old_leaf = merkle_tree_leaf(1, &SignedEntry::X509(b"old".to_vec()), &[]);
    ct.log()
        .submit(PendingEntry {
            leaf_input: old_leaf.clone(),
            extra: x509_chain_entry(&chain),
            timestamp_ms: 1,
        })
        .await
        .unwrap();
    ct.add_own_certificate(b"new", &chain).await.unwrap();
    drop(ct);

    // A new process: no issuer in memory, so `get-entries` reads them from the store.
    let ct = open(&Store::connect(&url).await.unwrap(), &key).await;
    let entries = ct.entries(0, 2).await.unwrap();
    assert_eq!(
        entries[0],
        Entry {
            leaf_input: old_leaf,
            extra_data: x509_chain_entry(&chain),
        }
    );
    assert_eq!(entries[1].extra_data, x509_chain_entry(&chain));
    let stored = ct.log().entries(1, 2).await.unwrap();
    assert_eq!(
        stored[0].extra.len(),
        2 + 2 * 32,
        "the chain is stored as two fingerprints"
    );

    // static-ct-api data tile: each TimestampedEntry, then the chain's fingerprints.
    let tile = ct.data_tile(0, Some(2)).await.unwrap().unwrap();
    let mut fingerprints = vec![0, 64];
    fingerprints.extend_from_slice(&sha256(&issuer));
    fingerprints.extend_from_slice(&sha256(&root));
    let want: Vec<u8> = entries
        .iter()
        .flat_map(|e| [&e.leaf_input[2..], &fingerprints[..]].concat())
        .collect();
    assert_eq!(tile, want);
    assert_eq!(ct.issuer(&sha256(&root)).await.unwrap(), Some(root));
}
