//! The log's steps on the data path, as criterion measures them:
//!
//! - `commit/sqlite-N`: one batch of N entries through the whole sequencer, into a SQLite file
//!   on the target directory's disk: the tree and its tiles extended, the checkpoint signed with
//!   a P-256 key, one transaction with its fsync, and every submitter answered. Batches of 1, 16
//!   and 64 separate what a commit costs whatever its size from what each entry adds.
//! - `checkpoint/sign-p256`: the tree head signature alone, which every commit pays once.
//! - `proof/*`: inclusion and consistency proofs in a log of 65,536 entries, from the tiles the
//!   process holds (the proof a submitter asks for right after its commit) and from the store
//!   (a log opened afresh, its tile cache empty).
//! - `proof/verify-inclusion-65536`: a client's check of such a proof against the root.
//! - `merkle/append-64-and-root`: a batch of 64 leaf hashes appended to the tree's edge and its
//!   new root, in memory: the sequencer's own share of a commit.
//!
//! `cargo bench -p sigil-ctlog --bench log`. `--bench scale` measures the same appends and
//! proofs at 10 million entries.

// A benchmark: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sigil_ctlog::log::{HeadSigner, Log, LogOptions, Observer};
use sigil_ctlog::merkle::{self, CompactRange};
use sigil_ctlog::rfc6962::{Hash, leaf_hash};
use sigil_ctlog::store::Store;
use tokio::runtime::Runtime;

use common::{CheckpointSigner, entry};

/// Bytes of each leaf: a P-384 issuance's CT entry (its TimestampedEntry) is about this long.
const LEAF_BYTES: usize = 540;
/// Entries in the log that proofs are asked of.
const PROOF_LOG: u64 = 1 << 16;

/// Counts committed batches and their entries, so that a run can check that each timed batch
/// was committed as one.
#[derive(Default)]
struct Batches {
    batches: AtomicUsize,
    entries: AtomicUsize,
}

impl Observer for Batches {
    fn batch_committed(&self, _log: &str, entries: usize, _latency: Duration, _size: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.entries.fetch_add(entries, Ordering::Relaxed);
    }
}

/// A SQLite log in a fresh file under the target directory, its sequencer running on `rt`.
fn open(rt: &Runtime, dir: &std::path::Path, observer: Arc<Batches>) -> Arc<Log> {
    rt.block_on(async {
        let store = Store::connect(&format!("sqlite://{}", dir.join("log.db").display()))
            .await
            .unwrap();
        let log = Log::open(
            "bench",
            store,
            Arc::new(CheckpointSigner::new("bench")),
            Some(observer),
            LogOptions::default(),
        )
        .await
        .unwrap();
        tokio::spawn(log.clone().run_sequencer());
        log
    })
}

/// Submits entries `next..next + count` at once and waits until all are committed. On a
/// current-thread runtime every submitter runs before the sequencer it wakes, so they are one
/// batch.
async fn append(log: &Arc<Log>, next: &AtomicU64, count: u64) {
    let mut submitters = tokio::task::JoinSet::new();
    for _ in 0..count {
        let entry = entry(next.fetch_add(1, Ordering::Relaxed), LEAF_BYTES);
        let log = log.clone();
        submitters.spawn(async move { log.submit(entry).await });
    }
    while let Some(sequenced) = submitters.join_next().await {
        sequenced.unwrap().unwrap();
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    for batch in [1u64, 16, 64] {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let rt = runtime();
        let observer = Arc::new(Batches::default());
        let log = open(&rt, dir.path(), observer.clone());
        let next = AtomicU64::new(0);
        group.throughput(Throughput::Elements(batch));
        group.bench_function(format!("sqlite-{batch}"), |b| {
            b.iter_custom(|batches| {
                rt.block_on(async {
                    let started = Instant::now();
                    for _ in 0..batches {
                        append(&log, &next, batch).await;
                    }
                    started.elapsed()
                })
            })
        });
        // Each timed call was one batch: otherwise the figure is not a batch's cost.
        let (batches, entries) = (
            observer.batches.load(Ordering::Relaxed),
            observer.entries.load(Ordering::Relaxed),
        );
        assert_eq!(entries as u64, next.load(Ordering::Relaxed));
        assert_eq!(batches as u64 * batch, entries as u64, "batches were split");
    }
    group.finish();
}

fn checkpoint(c: &mut Criterion) {
    let signer = CheckpointSigner::new("bench");
    let root = leaf_hash(b"root");
    c.bench_function("checkpoint/sign-p256", |b| {
        b.iter(|| signer.sign_head(PROOF_LOG, &root, 1).unwrap())
    });
}

fn proof(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let rt = runtime();
    let log = open(&rt, dir.path(), Arc::default());
    let next = AtomicU64::new(0);
    rt.block_on(async {
        while next.load(Ordering::Relaxed) < PROOF_LOG {
            append(&log, &next, 4096).await;
        }
    });
    let head = rt.block_on(log.head()).unwrap();
    assert_eq!(head.size, PROOF_LOG);
    // Spread-out entries, the same ones for every variant.
    let index = |i: u64| i.wrapping_mul(0x9E37_79B9) % PROOF_LOG;
    let mut group = c.benchmark_group("proof");
    let mut i = 0;
    group.bench_function("inclusion-65536-cached", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(log.inclusion_proof(index(i), PROOF_LOG))
                .unwrap()
        })
    });
    group.bench_function("consistency-65536-cached", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(log.consistency_proof(index(i).max(1), PROOF_LOG))
                .unwrap()
        })
    });
    // A log opened afresh, as after a restart or on another replica: its tiles come from the
    // store. Opening it is not timed.
    let store = log.store().clone();
    let signer: Arc<dyn HeadSigner> = Arc::new(CheckpointSigner::new("bench"));
    group.bench_function("inclusion-65536-store", |b| {
        b.iter_batched(
            || {
                rt.block_on(Log::open(
                    "bench",
                    store.clone(),
                    signer.clone(),
                    None,
                    LogOptions::default(),
                ))
                .unwrap()
            },
            |fresh| {
                i += 1;
                rt.block_on(fresh.inclusion_proof(index(i), PROOF_LOG))
                    .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    // What a client does with a proof: recompute the root from its leaf.
    let at = index(7);
    let leaf = rt.block_on(log.entries(at, at + 1)).unwrap()[0].leaf_hash;
    let path = rt.block_on(log.inclusion_proof(at, PROOF_LOG)).unwrap();
    group.bench_function("verify-inclusion-65536", |b| {
        b.iter(|| merkle::verify_inclusion(at, PROOF_LOG, &leaf, &path, &head.root).unwrap())
    });
    group.finish();
}

fn tree(c: &mut Criterion) {
    let leaves: Vec<Hash> = (0..64u64).map(|n| leaf_hash(&n.to_be_bytes())).collect();
    let mut group = c.benchmark_group("merkle");
    group.throughput(Throughput::Elements(leaves.len() as u64));
    let mut edge = CompactRange::default();
    group.bench_function("append-64-and-root", |b| {
        b.iter(|| {
            for leaf in &leaves {
                edge.append(*leaf);
            }
            edge.root()
        })
    });
    group.finish();
}

criterion_group!(benches, commit, checkpoint, proof, tree);
criterion_main!(benches);
