//! Does the log slow down as it grows? Appends to an empty SQLite log and to one of
//! `SIGIL_SCALE_ENTRIES` entries (default 10 million) are timed the same way, and inclusion
//! proofs are timed at both sizes from a cold tile cache. Last, the leaf-hash index file is
//! deleted and rebuilt from the log, as when upgrading from a version without it.
//!
//! `cargo bench -p sigil-ctlog --bench scale` (about 9 GB of disk in `SIGIL_SCALE_DIR`, default
//! `target/scale`, removed afterwards; about 15 minutes). The log has unique leaves, so every
//! batch also pays Rekor's duplicate lookup in the hash index, and a real P-256 key signs every
//! checkpoint.

// A benchmark: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sigil_ctlog::log::{Log, LogOptions};
use sigil_ctlog::merkle;
use sigil_ctlog::store::Store;

use common::{CheckpointSigner, entry};

/// Bytes of each leaf: about a `hashedrekord` body without its certificate.
const LEAF_BYTES: usize = 512;
/// Entries timed in each window, and windows at each size (the median is reported). A window
/// is as long as the hash index's merge cycle (`MERGE_AT`), so each pays for one merge.
const MEASURED: u64 = 1 << 20;
const WINDOWS: u64 = 3;
/// Concurrent submitters while timing, as the server's 64 connections.
const SUBMITTERS: u64 = 64;
/// Concurrent submitters while filling: the sequencer then commits batches of thousands.
const FILLERS: u64 = 20_000;
/// Proofs timed at each size.
const PROOFS: u64 = 1_000;

/// Appends entries `[from, to)` with `concurrency` submitters.
async fn append(log: &Arc<Log>, from: u64, to: u64, concurrency: u64) {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(from));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (log, next) = (log.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= to {
                        break;
                    }
                    log.submit(entry(n, LEAF_BYTES)).await.expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn open(store: &Store) -> Arc<Log> {
    let options = LogOptions {
        unique_leaves: std::env::var("SIGIL_SCALE_UNIQUE").map_or(true, |v| v != "0"),
        interval: Duration::from_millis(100),
        ..LogOptions::default()
    };
    let log = Log::open(
        "scale",
        store.clone(),
        Arc::new(CheckpointSigner::new("scale")),
        None,
        options,
    )
    .await
    .unwrap();
    tokio::spawn(log.clone().run_sequencer());
    log
}

/// Appends `MEASURED` entries from `from` and returns the rate. The clock stops once they are
/// also in the leaf-hash index, so the rate includes the background indexer's work.
async fn timed_append(store: &Store, log: &Arc<Log>, from: u64) -> f64 {
    let started = Instant::now();
    append(log, from, from + MEASURED, SUBMITTERS).await;
    let appended = started.elapsed();
    store.settle_index().await.unwrap();
    let elapsed = started.elapsed();
    println!(
        "  {MEASURED} appends in {appended:.2?}; the hash index caught up {:.2?} later",
        elapsed - appended
    );
    MEASURED as f64 / elapsed.as_secs_f64()
}

/// The median rate of `WINDOWS` timed windows from `from`; returns it and the log's new size.
async fn median_rate(store: &Store, log: &Arc<Log>, from: u64) -> (f64, u64) {
    let mut rates = Vec::new();
    for window in 0..WINDOWS {
        rates.push(timed_append(store, log, from + window * MEASURED).await);
    }
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() / 2], from + WINDOWS * MEASURED)
}

/// Mean time of `PROOFS` inclusion proofs of spread-out entries in the tree of `size`, each
/// checked, on a freshly opened log (nothing cached).
async fn timed_proofs(store: &Store, size: u64) -> (Duration, usize) {
    let log = open(store).await;
    let head = log.head().await.unwrap();
    assert_eq!(head.size, size);
    // Submitters race, so entry `n` is not at index `n`: read the leaves first, untimed.
    let mut leaves = Vec::new();
    for i in 0..PROOFS {
        let index = i.wrapping_mul(0x9E37_79B9) % size;
        let stored = log.entries(index, index + 1).await.unwrap();
        leaves.push((index, stored[0].leaf_hash));
    }
    let started = Instant::now();
    let mut proofs = Vec::new();
    for (index, _) in &leaves {
        proofs.push(log.inclusion_proof(*index, size).await.unwrap());
    }
    let elapsed = started.elapsed();
    let mut hashes = 0;
    for ((index, leaf), proof) in leaves.iter().zip(&proofs) {
        merkle::verify_inclusion(*index, size, leaf, proof, &head.root).unwrap();
        hashes = hashes.max(proof.len());
    }
    (elapsed / PROOFS as u32, hashes)
}

#[tokio::main]
async fn main() {
    let total: u64 = std::env::var("SIGIL_SCALE_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = std::path::PathBuf::from(
        std::env::var("SIGIL_SCALE_DIR").unwrap_or_else(|_| "target/scale".into()),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::connect(&format!("sqlite://{}", dir.join("scale.db").display()))
        .await
        .unwrap();
    let log = open(&store).await;

    let (empty_rate, mut size) = median_rate(&store, &log, 0).await;
    let (small_proof, small_hashes) = timed_proofs(&store, size).await;
    println!(
        "empty log: {empty_rate:.0} appends/s; proof at {size}: {small_proof:?} ({small_hashes} hashes)"
    );

    let started = Instant::now();
    while size < total {
        let to = (size + 1_000_000).min(total);
        append(&log, size, to, FILLERS).await;
        size = to;
        println!(
            "  filled to {size} in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }

    // The fill's last entries are not the timed window's work, nor is the kernel writing back
    // the gigabytes it left dirty (the empty log's windows start with none).
    store.settle_index().await.unwrap();
    let synced = std::process::Command::new("sync").status().unwrap();
    assert!(synced.success());
    let (full_rate, size) = median_rate(&store, &log, size).await;
    let (large_proof, large_hashes) = timed_proofs(&store, size).await;
    println!(
        "log of {total}: {full_rate:.0} appends/s ({:.0}% of the empty log's rate); proof at {size}: {large_proof:?} ({large_hashes} hashes)",
        100.0 * full_rate / empty_rate
    );

    // A restart: the store opens at once and loads each log's filter from the index file in
    // the background.
    let db = dir.join("scale.db");
    let started = Instant::now();
    let reopened = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let opened = started.elapsed();
    reopened.settle_index().await.unwrap();
    println!(
        "store of {size} entries reopened in {opened:.1?}; filter loaded after {:.1?}",
        started.elapsed()
    );
    drop(reopened);

    // An upgrade from a version without the index file, or a deleted file: opening the store
    // rebuilds it from `entries` before it serves.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}.hashes{suffix}", db.display()));
    }
    let started = Instant::now();
    Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    println!(
        "hash index of {size} entries rebuilt from the log in {:.1?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
