//! The log engine on both storage backends: concurrent submissions, proofs against committed
//! heads, reopening, and two writers sharing one database.
//!
//! PostgreSQL runs against `SIGIL_TEST_DATABASE_URL`. Without it the PostgreSQL half is
//! skipped with a notice, except under `CI=true`, where a missing database fails the run.

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sigil_ctlog::linger::Workload;
use sigil_ctlog::log::{HeadSigner, Log, LogError, LogOptions, Observer, PendingEntry};
use sigil_ctlog::merkle;
use sigil_ctlog::note::Checkpoint;
use sigil_ctlog::rfc6962::{Hash, leaf_hash};
use sigil_ctlog::store::{NewEntry, Store, StoreError, TreeHead};

/// Signs nothing: the engine's tests are about sequencing, not keys.
struct PlainSigner;
impl HeadSigner for PlainSigner {
    fn sign_head(&self, size: u64, root: &Hash, _ts: u64) -> Result<(Vec<u8>, String), String> {
        Ok((
            vec![],
            Checkpoint {
                origin: "test".into(),
                size,
                root: *root,
            }
            .body(),
        ))
    }
}

fn options() -> LogOptions {
    LogOptions {
        interval: Duration::from_millis(5),
        ..LogOptions::default()
    }
}

async fn open(store: &Store, name: &str) -> Arc<Log> {
    open_with(store, name, options()).await
}

async fn open_with(store: &Store, name: &str, options: LogOptions) -> Arc<Log> {
    open_observed(store, name, options, None).await
}

async fn open_observed(
    store: &Store,
    name: &str,
    options: LogOptions,
    observer: Option<Arc<dyn Observer>>,
) -> Arc<Log> {
    let log = Log::open(
        name,
        store.clone(),
        Arc::new(PlainSigner),
        observer,
        options,
    )
    .await
    .unwrap();
    tokio::spawn(log.clone().run_sequencer());
    log
}

fn entry(i: u64) -> PendingEntry {
    PendingEntry {
        leaf_input: format!("entry {i}").into_bytes(),
        extra: i.to_be_bytes().to_vec(),
        timestamp_ms: 1,
    }
}

/// Submits `n` entries concurrently and returns their indices.
async fn submit_all(log: &Arc<Log>, from: u64, n: u64) -> Vec<u64> {
    let tasks: Vec<_> = (from..from + n)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.submit(entry(i)).await.unwrap().index })
        })
        .collect();
    let mut indices = Vec::new();
    for t in tasks {
        indices.push(t.await.unwrap());
    }
    indices
}

/// Every entry is present exactly once, every inclusion proof verifies, and the tree from
/// every earlier head is consistent with the last.
async fn check_log(log: &Log, expected: u64, earlier: &[(u64, Hash)]) {
    let head = log.head().await.unwrap();
    assert_eq!(head.size, expected);
    let entries = log.entries(0, expected).await.unwrap();
    assert_eq!(entries.len() as u64, expected);
    let distinct: BTreeSet<&Vec<u8>> = entries.iter().map(|e| &e.leaf_input).collect();
    assert_eq!(distinct.len() as u64, expected, "no entry twice");
    for e in &entries {
        assert_eq!(e.leaf_hash, leaf_hash(&e.leaf_input));
        let proof = log.inclusion_proof(e.index, expected).await.unwrap();
        merkle::verify_inclusion(e.index, expected, &e.leaf_hash, &proof, &head.root).unwrap();
        assert_eq!(log.index_of(&e.leaf_hash, expected).await.unwrap(), e.index);
    }
    for (size, root) in earlier {
        let proof = log.consistency_proof(*size, expected).await.unwrap();
        merkle::verify_consistency(*size, expected, &proof, root, &head.root).unwrap();
    }
}

async fn exercise(store: Store, prefix: &str) {
    let name = format!("{prefix}-single");
    let log = open(&store, &name).await;
    let mut heads = vec![];
    let mut total = 0;
    for batch in [1u64, 7, 300, 40] {
        let mut indices = submit_all(&log, total, batch).await;
        indices.sort();
        assert_eq!(
            indices,
            (total..total + batch).collect::<Vec<_>>(),
            "contiguous, no reuse"
        );
        total += batch;
        check_log(&log, total, &heads).await;
        let head = log.head().await.unwrap();
        heads.push((head.size, head.root));
    }
    // A second handle on the same log (a restart) continues the same tree.
    let reopened = open(&store, &name).await;
    submit_all(&reopened, total, 10).await;
    check_log(&reopened, total + 10, &heads).await;

    // Two writers on one database (two replicas): one tree, every entry exactly once. Each
    // wave races them again; on PostgreSQL a lost swap is often a commit sent behind another
    // of the same replica (pipelined), which must be re-based too.
    let name = format!("{prefix}-replicas");
    let (a, b) = (open(&store, &name).await, open(&store, &name).await);
    let mut all = BTreeSet::new();
    for wave in 0..3 {
        let (ia, ib) = tokio::join!(
            submit_all(&a, wave * 1000, 200),
            submit_all(&b, wave * 1000 + 500, 200)
        );
        all.extend(ia.into_iter().chain(ib));
    }
    assert_eq!(
        all,
        (0..1200).collect::<BTreeSet<_>>(),
        "1,200 distinct indices"
    );
    check_log(&a, 1200, &[]).await;
    swap_needs_the_root(&store, &name).await;

    unique_leaves(&store, &format!("{prefix}-unique")).await;
}

/// The compare-and-swap checks the root as well as the size: a batch built on a head that
/// never landed must not land on another head of the same size.
async fn swap_needs_the_root(store: &Store, name: &str) {
    let head = store.head(name).await.unwrap();
    let mut other_root = head.root;
    other_root[0] ^= 1;
    let leaf = entry(u64::MAX);
    let hash = leaf_hash(&leaf.leaf_input);
    let new = NewEntry {
        leaf_hash: &hash,
        leaf_input: &leaf.leaf_input,
        extra: &leaf.extra,
    };
    let next = TreeHead {
        size: head.size + 1,
        ..head.clone()
    };
    let outcome = store
        .append(
            name,
            head.size,
            &other_root,
            &[new],
            &BTreeMap::new(),
            &next,
        )
        .await;
    assert!(matches!(outcome, Err(StoreError::Conflict)), "{outcome:?}");
    let after = store.head(name).await.unwrap();
    assert_eq!((after.size, after.root), (head.size, head.root));
    let entries = store.entries(name, head.size, head.size + 1).await.unwrap();
    assert!(entries.is_empty(), "nothing written");
}

/// A log with unique leaves, on two replicas: each of 100 leaves is submitted four times at
/// once (twice to each replica) and appended exactly once; every other submission is told the
/// index it was appended at, and so is a later one.
async fn unique_leaves(store: &Store, name: &str) {
    let unique = rekor_options();
    let replicas = [
        open_with(store, name, unique.clone()).await,
        open_with(store, name, unique).await,
    ];
    let tasks: Vec<_> = (0..400u64)
        .map(|n| {
            let log = replicas[(n % 2) as usize].clone();
            tokio::spawn(async move { (n / 4, log.submit(entry(n / 4)).await) })
        })
        .collect();
    let mut appended = BTreeMap::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (leaf, Ok(sequenced)) => {
                assert!(
                    appended.insert(leaf, sequenced.index).is_none(),
                    "{leaf} twice"
                );
            }
            (leaf, Err(LogError::Duplicate(index))) => duplicates.push((leaf, index)),
            (_, Err(e)) => panic!("{e}"),
        }
    }
    assert_eq!((appended.len(), duplicates.len()), (100, 300));
    for (leaf, index) in duplicates {
        assert_eq!(
            appended[&leaf], index,
            "a duplicate names the appended entry"
        );
    }
    check_log(&replicas[0], 100, &[]).await;
    match replicas[1].submit(entry(7)).await {
        Err(LogError::Duplicate(index)) => assert_eq!(index, appended[&7]),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(replicas[1].head().await.unwrap().size, 100);
}

/// A store in a new SQLite file under `dir`.
async fn sqlite_store(dir: &std::path::Path) -> Store {
    Store::connect(&format!("sqlite://{}", dir.join("log.db").display()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_engine_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    exercise(store, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_engine_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let store = Store::connect(&url).await.unwrap();
    let run = format!("pg-{}-{}", std::process::id(), sigil_ctlog::log::now_ms());
    exercise(store, &run).await;
}

/// Counts the batches sequenced again after losing their compare-and-swap.
#[derive(Default)]
struct Rebases(AtomicUsize);
impl Observer for Rebases {
    fn batch_rebased(&self, _log: &str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// On PostgreSQL the next batch gathers while a commit is in flight, and is taken only once
/// that commit has landed: under a steady load a log never re-bases on its own commits, as it
/// did when two commits were in flight on two connections and the one behind reached the
/// database first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_log_never_rebases_on_its_own_commits() {
    let Some(url) = postgres_url() else { return };
    let store = Store::connect(&url).await.unwrap();
    let name = format!(
        "pipeline-{}-{}",
        std::process::id(),
        sigil_ctlog::log::now_ms()
    );
    let rebases = Arc::new(Rebases::default());
    let log = open_observed(&store, &name, options(), Some(rebases.clone())).await;
    // Clients that submit their next entry as soon as the last is durable keep a batch
    // gathering during every commit.
    let (clients, each) = (32u64, 40u64);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut indices = Vec::new();
                for i in 0..each {
                    let sequenced = log.submit(entry(client * each + i)).await.unwrap();
                    indices.push(sequenced.index);
                }
                indices
            })
        })
        .collect();
    let mut indices = Vec::new();
    for task in tasks {
        indices.extend(task.await.unwrap());
    }
    indices.sort_unstable();
    assert_eq!(indices, (0..clients * each).collect::<Vec<_>>());
    assert_eq!(
        rebases.0.load(Ordering::Relaxed),
        0,
        "batches were sequenced again on their own process's commits"
    );
}

/// The pool hands out a connection used in the last moments without pinging it first, but
/// checks one that sat idle for longer: after the database dropped every connection (a restart,
/// a failover), the next submission still lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_after_the_database_dropped_its_connections_lands() {
    let Some(url) = postgres_url() else { return };
    let tag = format!("sigil-dropped-{}", std::process::id());
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = Store::connect(&format!("{url}{separator}application_name={tag}"))
        .await
        .unwrap();
    let name = format!(
        "dropped-{}-{}",
        std::process::id(),
        sigil_ctlog::log::now_ms()
    );
    let log = open(&store, &name).await;
    assert_eq!(log.submit(entry(0)).await.unwrap().index, 0);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let dropped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1) AS t",
    )
    .bind(&tag)
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(dropped > 0, "the store had no connection to drop");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(log.submit(entry(1)).await.unwrap().index, 1);
}

fn postgres_url() -> Option<String> {
    match std::env::var("SIGIL_TEST_DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but SIGIL_TEST_DATABASE_URL is unset: the PostgreSQL tests must run in CI"
            )
        }
        Err(_) => {
            eprintln!(
                "notice: SIGIL_TEST_DATABASE_URL is unset; skipping the PostgreSQL log tests"
            );
            None
        }
    }
}

/// The database file of a SQLite store in `dir`, and its URL.
fn sqlite_in(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let db = dir.join("log.db");
    let url = format!("sqlite://{}", db.display());
    (db, url)
}

/// Rekor's options: a leaf already in the log is a duplicate.
fn rekor_options() -> LogOptions {
    LogOptions {
        unique_leaves: true,
        ..options()
    }
}

/// SQLite keeps its leaf-hash index in a second file, `PATH.hashes`, filled off the commit path
/// (`store/hash_index.rs`). Lookups are exact while entries are only in memory and once they
/// are in the file, from a second store on the same database (another process) whose commits
/// leave a gap in the first one's record, and after the file is deleted, when opening rebuilds
/// it from `entries`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_hash_index_is_exact_in_memory_in_its_file_and_when_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = sqlite_in(dir.path());
    let unique = rekor_options();
    let store = Store::connect(&url).await.unwrap();
    // Logs with 100 rows in the file's `recent` table are merged into its main table.
    store.set_index_merge_at(100);
    let rekor = open_with(&store, "rekor", unique.clone()).await;
    let mut indices = submit_all(&rekor, 0, 300).await;
    // CT appends a repeated leaf again; lookups name the first copy.
    let ct = open(&store, "ct").await;
    let first = ct.submit(entry(7)).await.unwrap().index;
    let second = ct.submit(entry(7)).await.unwrap().index;
    assert_eq!((first, second), (0, 1));
    let seven = leaf_hash(&entry(7).leaf_input);

    // Just committed: answered from memory.
    expect_indexed(&rekor, &indices).await;
    assert_eq!(ct.index_of(&seven, 2).await.unwrap(), 0);

    // In the file, a row per entry: Rekor's merged into the main table, CT's two still recent.
    store.settle_index().await.unwrap();
    assert_eq!(file_rows(&db).await, 300 + 2);
    assert_eq!(merged_rows(&db).await, 300);
    expect_indexed(&rekor, &indices).await;
    assert_eq!(ct.index_of(&seven, 2).await.unwrap(), 0);

    // A second store on the same database sees what the first appends after it opened.
    let other = Store::connect(&url).await.unwrap();
    let other_rekor = open_with(&other, "rekor", unique.clone()).await;
    indices.extend(submit_all(&rekor, 300, 50).await);
    expect_indexed(&other_rekor, &indices).await;
    // Once its filter is loaded from the file, the second store still finds every entry.
    other.settle_index().await.unwrap();
    expect_indexed(&other_rekor, &indices).await;
    // Both append to the CT log, which looks nothing up before it commits: the first store's
    // record of it now has a gap, which its indexer fills from `entries`.
    submit_all(&open(&other, "ct").await, 1000, 20).await;
    submit_all(&ct, 2000, 10).await;
    store.settle_index().await.unwrap();
    other.settle_index().await.unwrap();
    assert_eq!(file_rows(&db).await, 350 + 2 + 30);

    // Deleted, the file is rebuilt from `entries` before the store opens.
    delete_index_file(&db);
    let rebuilt = Store::connect(&url).await.unwrap();
    assert_eq!(file_rows(&db).await, 350 + 2 + 30);
    rebuilt.settle_index().await.unwrap();
    expect_indexed(&open_with(&rebuilt, "rekor", unique).await, &indices).await;
    assert_eq!(
        open(&rebuilt, "ct")
            .await
            .index_of(&seven, 2)
            .await
            .unwrap(),
        0
    );
}

/// An index file of the layout before prefix keys (rows keyed by the whole leaf hash) is
/// emptied by the migration that changed the layout, and the store re-indexes the log from
/// `entries` when it opens, so lookups stay exact across the upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_file_of_the_earlier_layout_is_rebuilt_on_upgrade() {
    use sqlx::Connection;

    let dir = tempfile::tempdir().unwrap();
    let (db, url) = sqlite_in(dir.path());
    let unique = rekor_options();
    let store = Store::connect(&url).await.unwrap();
    let indices = submit_all(&open_with(&store, "rekor", unique.clone()).await, 0, 50).await;
    store.settle_index().await.unwrap();

    // The file as the earlier layout left it: every entry indexed by its whole hash.
    delete_index_file(&db);
    let hashes = format!("{}.hashes", db.display());
    let mut file = sqlx::SqliteConnection::connect(&format!("sqlite://{hashes}?mode=rwc"))
        .await
        .unwrap();
    let mut earlier = sqlx::migrate!("./migrations/sqlite-hashes");
    earlier.migrations = earlier.migrations[..2].to_vec().into();
    earlier.run(&mut file).await.unwrap();
    for statement in [
        format!("ATTACH '{}' AS logs", db.display()),
        "INSERT INTO leaf_index (log, leaf_hash, idx) \
         SELECT log, leaf_hash, MIN(idx) FROM logs.entries GROUP BY log, leaf_hash"
            .into(),
        "INSERT INTO watermarks (log, indexed) SELECT log, size FROM logs.tree_heads".into(),
        "DETACH logs".into(),
    ] {
        sqlx::query(&statement).execute(&mut file).await.unwrap();
    }
    let whole_hashes: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM leaf_index WHERE length(leaf_hash) = 32")
            .fetch_one(&mut file)
            .await
            .unwrap();
    assert_eq!(whole_hashes, 50);
    file.close().await.unwrap();

    let upgraded = Store::connect(&url).await.unwrap();
    assert_eq!(file_rows(&db).await, 50);
    upgraded.settle_index().await.unwrap();
    expect_indexed(&open_with(&upgraded, "rekor", unique).await, &indices).await;
}

/// Entry `i` is at `indices[i]`: `index_of` says so, and submitting it again is a duplicate of
/// that index.
async fn expect_indexed(log: &Arc<Log>, indices: &[u64]) {
    let size = indices.len() as u64;
    for (i, index) in indices.iter().enumerate() {
        let hash = leaf_hash(&entry(i as u64).leaf_input);
        assert_eq!(
            log.index_of(&hash, size).await.unwrap(),
            *index,
            "entry {i}"
        );
    }
    for i in [0, size / 2, size - 1] {
        match log.submit(entry(i)).await {
            Err(LogError::Duplicate(index)) => assert_eq!(index, indices[i as usize]),
            other => panic!("entry {i}: expected a duplicate, got {other:?}"),
        }
    }
}

/// Deletes the leaf-hash index file of the database `db`, with its WAL.
fn delete_index_file(db: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}.hashes{suffix}", db.display()));
    }
}

/// Rows in the leaf-hash index file of the database `db`.
async fn file_rows(db: &std::path::Path) -> i64 {
    count_in_file(
        db,
        "SELECT (SELECT COUNT(*) FROM leaf_index) + (SELECT COUNT(*) FROM recent)",
    )
    .await
}

/// Rows in the index file's main table, which merges fill.
async fn merged_rows(db: &std::path::Path) -> i64 {
    count_in_file(db, "SELECT COUNT(*) FROM leaf_index").await
}

async fn count_in_file(db: &std::path::Path, query: &str) -> i64 {
    let file = sqlx::SqlitePool::connect(&format!("sqlite://{}.hashes", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query_scalar(query).fetch_one(&file).await.unwrap();
    file.close().await;
    rows
}

/// The size of every batch a log commits.
#[derive(Default)]
struct Batches(std::sync::Mutex<Vec<usize>>);
impl Observer for Batches {
    fn batch_committed(&self, _log: &str, entries: usize, _latency: Duration, _size: u64) {
        self.0.lock().unwrap().push(entries);
    }
}
impl Batches {
    fn last(&self) -> usize {
        self.0.lock().unwrap().last().copied().unwrap_or(0)
    }
}

/// Opens `name` with a heartbeat too slow to hide a missed wake-up and the given linger.
async fn open_lingering(store: &Store, name: &str, linger: Duration) -> (Arc<Log>, Arc<Batches>) {
    let batches = Arc::new(Batches::default());
    let options = LogOptions {
        interval: Duration::from_secs(600),
        linger,
        ..LogOptions::default()
    };
    let log = open_observed(store, name, options, Some(batches.clone())).await;
    (log, batches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequencer_wakes_for_work_and_lingers_only_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let patience = Duration::from_secs(30);

    // A lone client's batches hold one entry each: it waits neither for the heartbeat nor
    // for the (ten-minute) linger.
    let (log, batches) = open_lingering(&store, "lone", Duration::from_secs(600)).await;
    tokio::time::timeout(patience, async {
        for i in 0..5 {
            log.submit(entry(i)).await.unwrap();
        }
    })
    .await
    .expect("a lone client waited for the heartbeat or the linger");
    assert_eq!(*batches.0.lock().unwrap(), [1; 5]);

    // Under load (a batch of two), a full data tile's worth of waiting entries ends the
    // linger at once, in one batch.
    let mut from = 5;
    while batches.last() < 2 {
        submit_all(&log, from, 2).await;
        from += 2;
    }
    tokio::time::timeout(patience, submit_all(&log, from, 256))
        .await
        .expect("a full batch did not end the linger");
    assert_eq!(batches.last(), 256);

    // Entries that trickle in while a loaded log lingers are committed together.
    let (log, batches) = open_lingering(&store, "trickle", Duration::from_secs(2)).await;
    let mut from = 0;
    while batches.last() < 2 {
        submit_all(&log, from, 2).await;
        from += 2;
    }
    let mut tasks = Vec::new();
    for i in from..from + 10 {
        let log = log.clone();
        tasks.push(tokio::spawn(
            async move { log.submit(entry(i)).await.unwrap() },
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(batches.last(), 10);

    // Once entries stop arriving for a quarter of the linger, the batch is committed: its
    // submitters are all waiting for it, and lingering on would leave the CPU idle.
    let linger = Duration::from_secs(8);
    let (log, batches) = open_lingering(&store, "pause", linger).await;
    let mut from = 0;
    while batches.last() < 2 {
        submit_all(&log, from, 2).await;
        from += 2;
    }
    let started = std::time::Instant::now();
    submit_all(&log, from, 3).await;
    assert_eq!(batches.last(), 3);
    assert!(
        started.elapsed() < linger * 3 / 4,
        "a paused batch waited out the linger: {:?}",
        started.elapsed()
    );
}

/// Every linger a log's controller chose.
#[derive(Default)]
struct Lingers(std::sync::Mutex<Vec<Duration>>);
impl Observer for Lingers {
    fn linger_changed(&self, _log: &str, linger: Duration) {
        self.0.lock().unwrap().push(linger);
    }
}

/// One submitting thread that is always busy, or never: its busy time keeps up with the clock,
/// or stays at zero.
struct Steady {
    busy: bool,
    since: std::time::Instant,
}
impl Workload for Steady {
    fn busy(&self) -> Option<(Duration, u32)> {
        let busy = if self.busy {
            self.since.elapsed()
        } else {
            Duration::ZERO
        };
        Some((busy, 1))
    }
}

#[tokio::test]
async fn the_linger_lengthens_while_the_submitters_are_busy_and_shortens_while_they_idle() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let longest = Duration::from_millis(40);
    for (name, busy, settled) in [("busy", true, longest), ("idle", false, Duration::ZERO)] {
        let lingers = Arc::new(Lingers::default());
        let options = LogOptions {
            // Every heartbeat reads the workload; the linger moves once per 25 ms window.
            interval: Duration::from_millis(5),
            linger: longest,
            workload: Some(Arc::new(Steady {
                busy,
                since: std::time::Instant::now(),
            })),
            ..LogOptions::default()
        };
        let _log = open_observed(&store, name, options, Some(lingers.clone())).await;
        tokio::time::timeout(Duration::from_secs(20), async {
            while lingers.0.lock().unwrap().last() != Some(&settled) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{name}: the linger did not settle: {lingers:?}",
                lingers = lingers.0.lock().unwrap()
            )
        });
        let seen = lingers.0.lock().unwrap().clone();
        assert_eq!(seen[0], longest / 4, "{name}: {seen:?}");
        let monotonic = |w: &[Duration]| if busy { w[0] < w[1] } else { w[0] > w[1] };
        assert!(seen.windows(2).all(monotonic), "{name}: {seen:?}");
    }
}
