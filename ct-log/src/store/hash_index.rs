//! The SQLite backend's leaf-hash index, kept off the commit path.
//!
//! In a B-tree keyed by random hashes, every new key lands on its own page once the index is
//! much larger than a batch. Maintained inside each commit, the index made every entry of a
//! 10-million-entry log write one 4 KiB page to the WAL and again at checkpoint, and such a log
//! appended at 44% of an empty one's rate. Here commits write no index at all: a background
//! indexer moves committed entries into a separate SQLite file (`PATH.hashes`, so its writes
//! never hold the log's write lock) in large transactions sorted by hash, where neighbouring
//! keys share pages; entries it has not reached yet are answered from memory.
//!
//! A row is keyed by the first 8 bytes of its leaf hash and the entry's index, not by the whole
//! hash. Rows are half as long (11 million take 293 MB instead of 595 MB), so every write and
//! merge below moves half the pages: merging a million rows into ten million took 2.3 s
//! instead of 5.0 s, and rebuilding the file for 13.1 million entries 82 s instead of 106 s.
//! The file names candidates, and a lookup keeps those whose `entries.leaf_hash` is the hash
//! asked for, so leaves that share a prefix (by chance about one pair in 4 billion entries, or
//! made on purpose with about 2^32 hashes) cost a read, never a wrong answer.
//!
//! The file has two tables, as a two-level LSM tree has. The indexer inserts into `recent`, which
//! stays small enough (about a million rows) that a batch of sorted keys shares its pages; once
//! it is that large it is merged into `leaf_index` a key range at a time, each range one
//! transaction that moves its rows, so every page of `leaf_index` is rewritten once per million
//! entries instead of about once per entry inserted. Lookups read both tables in one statement.
//!
//! Like Sunlight's and Tessera's deduplication caches, the file is derived data: `entries` stays
//! the only record, and whatever the file lacks (after a crash, an upgrade, or if it is deleted)
//! is re-indexed from `entries` when the store opens. Unlike those caches, lookups stay exact,
//! which Rekor's duplicate rule and `get-proof-by-hash` need:
//! - entries `[0, indexed)` of a log are in the file, `[indexed, known)` in the in-memory tail;
//! - a lookup first extends the tail to the stored tree size (another process may share the
//!   database), reads the tail, and only then the file;
//! - the indexer commits to the file before it drops entries from the tail, so a committed
//!   entry is in at least one of the two when they are read in that order.
//!
//! Most lookups are of new leaves, which no probe of the file would find: each log also keeps a
//! Bloom filter of the prefix of every leaf hash it knows of (about 1.2 bytes per entry), and
//! only hashes whose prefix the filter may hold are looked up in the file. A filter never
//! forgets a prefix it was given, so a "no" is exact; a false "maybe" (1%) costs one probe. On a
//! 10-million-entry log the probes of new leaves, each a random 4 KiB page, were about half of
//! what made appends slower than on an empty log. After a restart the indexer loads the file's
//! prefixes into the filters in the
//! background (21–26 s at 13.1 million entries); until a log's filter is whole, its lookups
//! probe the file for every hash, as they did without one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use growable_bloom_filter::{GrowableBloom, GrowableBloomBuilder};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::Notify;

use super::sqlite::{kept_open, leaf_hashes, leaf_hashes_at, stored_size, stored_sizes};
use super::{INSERT_CHUNK, StoreError, reusable};
use crate::rfc6962::Hash;

/// Under load the indexer waits until a tail holds this many entries: a larger transaction
/// shares more pages between keys (on a 10-million-entry index, 65,536 sorted keys dirty about
/// 0.7 pages each, against one page each when inserted a batch at a time).
const INDEX_BATCH: usize = 65_536;

/// Most entries written in one transaction, when the indexer has fallen behind.
const MAX_WRITE: usize = 2 * INDEX_BATCH;

/// Most entries a log's tail may hold (about 80 bytes each in memory). A commit that finds the
/// tail this long waits for the indexer, and fails after `BACKLOG_WAIT`.
const MAX_TAIL: usize = 4 * INDEX_BATCH;
const BACKLOG_WAIT: Duration = Duration::from_secs(5);

/// Page cache of the lookup connection.
const READER_CACHE_KIB: u32 = 16 * 1024;

/// How long a tail shorter than `INDEX_BATCH` may wait for the indexer.
const LINGER: Duration = Duration::from_secs(5);

/// How often an idle indexer wakes without being told of a commit.
const IDLE: Duration = Duration::from_secs(1);

/// Share of lookups of absent hashes that the filter answers "maybe".
const FILTER_ERROR: f64 = 0.01;

/// The filter's first size, in entries; it grows by doubling.
const FILTER_MIN: usize = 1 << 20;

/// Rows read per query when a filter is loaded from the file: about 30 ms of the indexer's
/// connection at a time.
const FILTER_LOAD_PAGE: usize = 16_384;

/// A log's rows in `recent` that start a merge into `leaf_index`. Each merge rewrites the pages
/// of `leaf_index` once, so its cost per key is that table's size over this; the indexer's
/// inserts into `recent` cost about its size over `INDEX_BATCH`.
const MERGE_AT: u64 = 1 << 20;

/// Rows of `recent` merged per transaction, so that the indexer's passes go on between them.
const MERGE_SLICE: i64 = 65_536;

/// Both tables of the file, read in one statement (one snapshot): a merge moves rows from
/// `recent` to `leaf_index` in one transaction, and two statements could miss a row moved
/// between them.
const BOTH_TABLES: [&str; 2] = ["leaf_index", "recent"];

/// A row's key in the file: the prefix of its leaf hash, and the entry's index.
type Key = (i64, i64);

/// Below every row's key: indices are not negative.
const BEFORE_ALL: Key = (i64::MIN, -1);

/// The first 8 bytes of `hash`, the file's key for it.
fn prefix(hash: &Hash) -> i64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&hash[..8]);
    i64::from_be_bytes(bytes)
}

/// The entries of one log that are committed but not yet in the file, and a filter of all.
#[derive(Debug)]
struct Tail {
    /// Entries below this index are in the file.
    indexed: u64,
    /// Leaf hashes of entries `[indexed, indexed + len)`.
    hashes: VecDeque<Hash>,
    /// The lowest index of each hash in `hashes`.
    positions: HashMap<Hash, u64>,
    /// One past the last entry known to be committed. Past `known()` when another process
    /// appended in between: the entries up to it are then read from `entries`.
    committed: u64,
    /// Holds the hash prefix of every entry below `known()` once `unloaded` is `None`.
    seen: GrowableBloom,
    /// While the file's prefixes are being added to `seen`: the lowest not yet added.
    unloaded: Option<i64>,
    /// The log's rows in `recent`.
    recent: u64,
    /// While `recent` is being merged into `leaf_index`: the key of the last row merged.
    merging: Option<Key>,
}

impl Tail {
    /// The tail of a log whose first `indexed` entries are in the file, `recent` of them not
    /// yet merged.
    fn starting_at(indexed: u64, recent: u64) -> Tail {
        Tail {
            indexed,
            hashes: VecDeque::new(),
            positions: HashMap::new(),
            committed: indexed,
            seen: GrowableBloomBuilder::new()
                .estimated_insertions((indexed as usize).max(FILTER_MIN))
                .desired_error_ratio(FILTER_ERROR)
                .build(),
            unloaded: (indexed > 0).then_some(i64::MIN),
            recent,
            merging: None,
        }
    }

    /// Whether the file holds every entry, the filter is loaded, and no merge is due or under
    /// way.
    fn settled(&self, merge_at: u64) -> bool {
        self.hashes.is_empty()
            && !self.has_gap()
            && self.unloaded.is_none()
            && self.merging.is_none()
            && self.recent < merge_at
    }

    /// Whether `hash` may be in the log; every hash is, until the filter is loaded.
    fn may_hold(&self, hash: &Hash) -> bool {
        self.unloaded.is_some() || self.seen.contains(prefix(hash))
    }

    /// One past the last entry the tail knows of.
    fn known(&self) -> u64 {
        self.indexed + self.hashes.len() as u64
    }

    /// Whether entries past the tail were committed by another process.
    fn has_gap(&self) -> bool {
        self.known() < self.committed
    }

    /// Takes the leaf hashes of entries just committed at `first..`, or, if the tail does not
    /// end at `first`, notes that the log reaches past it. The end is kept, not a flag: a
    /// commit may land while a gap is being read, and that read stops at the size it saw.
    fn committed_at(&mut self, first: u64, hashes: impl ExactSizeIterator<Item = Hash>) {
        if self.known() == first {
            hashes.for_each(|h| self.push(h));
        } else {
            self.committed = self.committed.max(first + hashes.len() as u64);
        }
    }

    fn push(&mut self, hash: Hash) {
        let index = self.known();
        self.positions.entry(hash).or_insert(index);
        self.hashes.push_back(hash);
        self.seen.insert(prefix(&hash));
    }

    /// Forgets the first `n` entries, which the file now holds.
    fn drain(&mut self, n: usize) {
        for (i, hash) in self.hashes.drain(..n).enumerate() {
            if self.positions.get(&hash) == Some(&(self.indexed + i as u64)) {
                self.positions.remove(&hash);
            }
        }
        self.indexed += n as u64;
    }
}

/// The index file and the tails of every log in the database.
#[derive(Debug)]
pub(super) struct HashIndex {
    /// The log database, whose `entries` the file is derived from.
    logs: SqlitePool,
    /// Writes (the indexer) and watermark reads.
    file: SqlitePool,
    /// Lookups.
    reader: SqlitePool,
    tails: Mutex<HashMap<String, Tail>>,
    /// Wakes the indexer: a commit added entries.
    work: Arc<Notify>,
    /// Wakes committers waiting for room: the indexer finished a pass.
    drained: Notify,
    /// Set by [`HashIndex::settle`]: the next pass takes tails of any length.
    flush: AtomicBool,
    /// `MERGE_AT`, or less in tests.
    merge_at: AtomicU64,
}

impl HashIndex {
    /// Opens `PATH.hashes` beside the log database `path`, indexes what the file lacks, and
    /// starts the indexer.
    pub(super) async fn open(path: &str, logs: SqlitePool) -> Result<Arc<HashIndex>, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}.hashes"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // The file is rebuilt from `entries` where it falls short, so a commit lost to a
            // power failure costs re-indexing, never a wrong answer; no fsync per transaction.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let file = kept_open(1).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite-hashes")
            .run(&file)
            .await?;
        // Lookups have their own connection, whose cache holds the B-tree's interior pages (about
        // 6 MiB at 10 million entries): a probe then reads one leaf page. The indexer's sorted
        // inserts need no such cache.
        let reader = kept_open(1)
            .connect_with(options.pragma("cache_size", format!("-{}", READER_CACHE_KIB)))
            .await?;
        let index = Arc::new(HashIndex {
            logs,
            file,
            reader,
            tails: Mutex::new(HashMap::new()),
            work: Arc::new(Notify::new()),
            drained: Notify::new(),
            flush: AtomicBool::new(false),
            merge_at: AtomicU64::new(MERGE_AT),
        });
        for (log, size) in stored_sizes(&index.logs).await? {
            index.catch_up(&log, size).await?;
        }
        tokio::spawn(run_indexer(Arc::downgrade(&index), index.work.clone()));
        Ok(index)
    }

    /// Writes entries `[indexed, size)` of `log` from `entries` to the file, in bounded
    /// batches, and starts the log's tail at `size`.
    async fn catch_up(&self, log: &str, size: u64) -> Result<(), StoreError> {
        let mut indexed = self.indexed(log).await?;
        let mut recent = self.recent_rows(log).await?;
        while indexed < size {
            let end = size.min(indexed + INDEX_BATCH as u64);
            let hashes = leaf_hashes(&self.logs, log, indexed, end).await?;
            recent += self.write(log, indexed, &hashes).await?;
            if recent >= self.merge_at.load(Ordering::Relaxed) {
                let mut after = Some(BEFORE_ALL);
                while let Some(last) = after {
                    after = self.merge_slice(log, last).await?;
                }
                recent = self.recent_rows(log).await?;
            }
            indexed = end;
        }
        self.tails()?
            .entry(log.to_owned())
            .or_insert_with(|| Tail::starting_at(indexed, recent));
        self.work.notify_one();
        Ok(())
    }

    /// How many rows of `log` are in `recent`.
    async fn recent_rows(&self, log: &str) -> Result<u64, StoreError> {
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recent WHERE log = ?")
            .bind(log)
            .fetch_one(&self.file)
            .await?;
        Ok(rows as u64)
    }

    /// Moves the next `MERGE_SLICE` rows of `log` after `after` from `recent` into
    /// `leaf_index`, in one transaction; returns the key of the last row moved, or `None` when
    /// no rows were left after `after`.
    async fn merge_slice(&self, log: &str, after: Key) -> Result<Option<Key>, StoreError> {
        let mut tx = self.file.begin().await?;
        let last: Option<Key> = sqlx::query_as(
            "SELECT prefix, idx FROM (SELECT prefix, idx FROM recent \
             WHERE log = ? AND (prefix, idx) > (?, ?) ORDER BY prefix, idx LIMIT ?) \
             ORDER BY prefix DESC, idx DESC LIMIT 1",
        )
        .bind(log)
        .bind(after.0)
        .bind(after.1)
        .bind(MERGE_SLICE)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(last) = last else {
            return Ok(None);
        };
        let slice = "WHERE log = ?1 AND (prefix, idx) > (?2, ?3) AND (prefix, idx) <= (?4, ?5)";
        for statement in [
            format!(
                "INSERT OR IGNORE INTO leaf_index (log, prefix, idx) \
                 SELECT log, prefix, idx FROM recent {slice} ORDER BY prefix, idx"
            ),
            format!("DELETE FROM recent {slice}"),
        ] {
            sqlx::query(&statement)
                .bind(log)
                .bind(after.0)
                .bind(after.1)
                .bind(last.0)
                .bind(last.1)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(last))
    }

    /// Merges the next slice of each log whose merge is under way, and starts the merge of any
    /// log with `merge_at` rows in `recent`; returns whether it merged any.
    async fn merge_step(&self) -> Result<bool, StoreError> {
        let merge_at = self.merge_at.load(Ordering::Relaxed);
        let merging: Vec<(String, Key)> = {
            let mut tails = self.tails()?;
            for tail in tails.values_mut().filter(|t| t.recent >= merge_at) {
                tail.merging.get_or_insert(BEFORE_ALL);
            }
            tails
                .iter()
                .filter_map(|(log, t)| Some((log.clone(), t.merging?)))
                .collect()
        };
        for (log, after) in &merging {
            let next = self.merge_slice(log, *after).await?;
            let recent = match next {
                Some(_) => None,
                // Rows indexed while the merge went on may remain, behind its cursor.
                None => Some(self.recent_rows(log).await?),
            };
            if let Some(tail) = self.tails()?.get_mut(log) {
                tail.merging = next;
                if let Some(rows) = recent {
                    tail.recent = rows;
                }
            }
        }
        if !merging.is_empty() {
            self.drained.notify_waiters();
        }
        Ok(!merging.is_empty())
    }

    /// Adds the next page of the file's prefixes to each filter still loading; returns whether
    /// it read any. Rows are never removed from the file, only moved between its tables, and a
    /// page reads both in one statement, so paging by prefix meets every row that was there when
    /// the tail started; rows written since are the tail's own, already in the filter. A page
    /// reads prefixes alone (sqlx's cost is per column and row, and two columns made loading
    /// twice as slow), and the next page starts past the last prefix read: rows that share it
    /// add nothing to the filter.
    async fn load_filters(&self) -> Result<bool, StoreError> {
        let loading: Vec<(String, i64)> = self
            .tails()?
            .iter()
            .filter_map(|(log, t)| Some((log.clone(), t.unloaded?)))
            .collect();
        for (log, from) in &loading {
            let [base, recent] = BOTH_TABLES;
            let prefixes: Vec<i64> = sqlx::query_scalar(&format!(
                "SELECT prefix FROM {base} WHERE log = ?1 AND prefix >= ?2 UNION ALL \
                 SELECT prefix FROM {recent} WHERE log = ?1 AND prefix >= ?2 \
                 ORDER BY 1 LIMIT ?3"
            ))
            .bind(log)
            .bind(from)
            .bind(FILTER_LOAD_PAGE as i64)
            .fetch_all(&self.file)
            .await?;
            if let Some(tail) = self.tails()?.get_mut(log) {
                prefixes.iter().for_each(|prefix| {
                    tail.seen.insert(prefix);
                });
                tail.unloaded = prefixes
                    .last()
                    .filter(|_| prefixes.len() == FILTER_LOAD_PAGE)
                    .and_then(|last| last.checked_add(1));
            }
        }
        if !loading.is_empty() {
            self.drained.notify_waiters();
        }
        Ok(!loading.is_empty())
    }

    /// Starts tracking `log` (just created, or created by another process): indexes what the
    /// file lacks of it, so that its tail starts at its stored size.
    pub(super) async fn open_log(&self, log: &str) -> Result<(), StoreError> {
        if self.tails()?.contains_key(log) {
            return Ok(());
        }
        self.catch_up(log, stored_size(&self.logs, log).await?)
            .await
    }

    /// How many entries of `log` the file holds.
    async fn indexed(&self, log: &str) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT indexed FROM watermarks WHERE log = ?")
            .bind(log)
            .fetch_optional(&self.file)
            .await?;
        Ok(row.map_or(0, |r| r.get::<i64, _>(0) as u64))
    }

    fn tails(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Tail>>, StoreError> {
        self.tails
            .lock()
            .map_err(|_| StoreError::Corrupt("the hash index's tail lock is poisoned".into()))
    }

    /// Waits until `log`'s tail has room for a commit; fails if the indexer does not make room
    /// within `BACKLOG_WAIT` (its file is failing).
    pub(super) async fn wait_for_room(&self, log: &str) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + BACKLOG_WAIT;
        loop {
            let drained = self.drained.notified();
            let backlog = self.tails()?.get(log).map_or(0, |t| t.hashes.len());
            if backlog < MAX_TAIL {
                return Ok(());
            }
            self.work.notify_one();
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                return Err(StoreError::IndexBehind(backlog));
            }
        }
    }

    /// Records entries just committed at `first..`. A tail that does not end at `first`
    /// (another process appended in between) is marked, and extended from `entries` by the
    /// next lookup or indexer pass.
    pub(super) fn appended<'a>(
        &self,
        log: &str,
        first: u64,
        hashes: impl ExactSizeIterator<Item = &'a Hash>,
    ) {
        let mut tails = self.tails.lock().ok();
        if let Some(tail) = tails.as_mut().and_then(|t| t.get_mut(log)) {
            tail.committed_at(first, hashes.copied());
        }
        drop(tails);
        self.work.notify_one();
    }

    /// The lowest stored index of each of `hashes` in `log`.
    pub(super) async fn lookup(
        &self,
        log: &str,
        hashes: &[Hash],
    ) -> Result<HashMap<Hash, u64>, StoreError> {
        self.extend_tail(log).await?;
        // The tail before the file: see the module comment. A hash in the tail may also be in
        // the file at a lower index, so the filter is asked about every hash.
        let (mut found, maybe): (HashMap<Hash, u64>, Vec<Hash>) = {
            let tails = self.tails()?;
            match tails.get(log) {
                Some(tail) => (
                    hashes
                        .iter()
                        .filter_map(|h| Some((*h, *tail.positions.get(h)?)))
                        .collect(),
                    hashes
                        .iter()
                        .filter(|h| tail.may_hold(h))
                        .copied()
                        .collect(),
                ),
                None => (HashMap::new(), hashes.to_vec()),
            }
        };
        // The file names candidates by prefix; `entries` says which hold a hash asked for.
        let wanted: HashSet<&Hash> = maybe.iter().collect();
        for chunk in maybe.chunks(INSERT_CHUNK / 2) {
            let mut select: QueryBuilder<Sqlite> = QueryBuilder::new("");
            for (i, table) in BOTH_TABLES.iter().enumerate() {
                if i > 0 {
                    select.push(" UNION ALL ");
                }
                select.push(format!("SELECT idx FROM {table} WHERE log = "));
                select.push_bind(log).push(" AND prefix IN (");
                let mut list = select.separated(", ");
                for hash in chunk {
                    list.push_bind(prefix(hash));
                }
                select.push(")");
            }
            let candidates: Vec<i64> = select
                .build_query_scalar()
                .persistent(reusable(2 * chunk.len()))
                .fetch_all(&self.reader)
                .await?;
            for (index, hash) in leaf_hashes_at(&self.logs, log, &candidates).await? {
                if wanted.contains(&hash) {
                    let lowest = found.entry(hash).or_insert(index);
                    *lowest = (*lowest).min(index);
                }
            }
        }
        Ok(found)
    }

    /// Brings `log`'s tail up to the stored tree size from `entries` (after a restart, or
    /// entries another process appended).
    async fn extend_tail(&self, log: &str) -> Result<(), StoreError> {
        self.open_log(log).await?;
        let size = stored_size(&self.logs, log).await?;
        let Some(known) = self.tails()?.get(log).map(Tail::known) else {
            return Ok(());
        };
        if known >= size {
            return Ok(());
        }
        let hashes = leaf_hashes(&self.logs, log, known, size).await?;
        if let Some(tail) = self.tails()?.get_mut(log).filter(|t| t.known() == known) {
            hashes.into_iter().for_each(|h| tail.push(h));
        }
        self.work.notify_one();
        Ok(())
    }

    /// Writes up to `MAX_WRITE` entries of each tail that holds at least `min` to the file;
    /// returns whether it wrote any.
    async fn index_pass(&self, min: usize) -> Result<bool, StoreError> {
        let gaps: Vec<String> = self
            .tails()?
            .iter()
            .filter(|(_, t)| t.has_gap())
            .map(|(log, _)| log.clone())
            .collect();
        for log in gaps {
            self.extend_tail(&log).await?;
        }
        let work: Vec<(String, u64, Vec<Hash>)> = self
            .tails()?
            .iter()
            .filter(|(_, t)| t.hashes.len() >= min.max(1))
            .map(|(log, t)| {
                let n = t.hashes.len().min(MAX_WRITE);
                (
                    log.clone(),
                    t.indexed,
                    t.hashes.range(..n).copied().collect(),
                )
            })
            .collect();
        for (log, first, hashes) in &work {
            let added = self.write(log, *first, hashes).await?;
            if let Some(tail) = self.tails()?.get_mut(log) {
                tail.recent += added;
                if tail.indexed == *first {
                    tail.drain(hashes.len());
                }
            }
        }
        self.drained.notify_waiters();
        Ok(!work.is_empty())
    }

    /// Writes entries `first..` of `log` to `recent` in one transaction, sorted by key, and
    /// advances the log's watermark past them; returns how many rows it added.
    async fn write(&self, log: &str, first: u64, hashes: &[Hash]) -> Result<u64, StoreError> {
        let mut rows: Vec<Key> = hashes
            .iter()
            .zip(first as i64..)
            .map(|(hash, index)| (prefix(hash), index))
            .collect();
        rows.sort_unstable();
        let mut tx = self.file.begin().await?;
        let mut added = 0;
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut insert: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT OR IGNORE INTO recent (log, prefix, idx) ");
            insert.push_values(chunk, |mut row, (prefix, index)| {
                row.push_bind(log).push_bind(*prefix).push_bind(*index);
            });
            added += insert
                .build()
                .persistent(reusable(chunk.len()))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        sqlx::query(
            "INSERT INTO watermarks (log, indexed) VALUES (?, ?) \
             ON CONFLICT (log) DO UPDATE SET indexed = MAX(indexed, excluded.indexed)",
        )
        .bind(log)
        .bind((first + hashes.len() as u64) as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Merges `recent` into `leaf_index` from `rows` rows on, instead of `MERGE_AT`.
    pub(super) fn set_merge_at(&self, rows: u64) {
        self.merge_at.store(rows, Ordering::Relaxed);
    }

    /// Waits until every entry this process knows of is in the file, every filter is loaded,
    /// and no merge is due or under way.
    pub(super) async fn settle(&self) -> Result<(), StoreError> {
        loop {
            let drained = self.drained.notified();
            let merge_at = self.merge_at.load(Ordering::Relaxed);
            if self.tails()?.values().all(|t| t.settled(merge_at)) {
                return Ok(());
            }
            self.flush.store(true, Ordering::Relaxed);
            self.work.notify_one();
            drained.await;
        }
    }
}

/// Indexes full batches as commits announce them, and shorter tails once `LINGER` has passed
/// since the last pass; loads filters a page at a time between passes. Ends when the store is
/// dropped.
async fn run_indexer(index: Weak<HashIndex>, work: Arc<Notify>) {
    let mut last_pass = tokio::time::Instant::now();
    loop {
        let _ = tokio::time::timeout(IDLE, work.notified()).await;
        let Some(index) = index.upgrade() else {
            return;
        };
        let flush = index.flush.swap(false, Ordering::Relaxed);
        let min = if flush || last_pass.elapsed() >= LINGER {
            1
        } else {
            INDEX_BATCH
        };
        let pass = async {
            let wrote = index.index_pass(min).await?;
            let loaded = index.load_filters().await?;
            let merged = index.merge_step().await?;
            Ok::<_, StoreError>((wrote, loaded || merged))
        };
        match pass.await {
            Ok((wrote, more)) => {
                if wrote {
                    last_pass = tokio::time::Instant::now();
                }
                // More may be waiting.
                if wrote || more {
                    index.work.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "updating the leaf-hash index failed; retrying");
                drop(index);
                tokio::time::sleep(IDLE).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(range: std::ops::Range<u8>) -> impl ExactSizeIterator<Item = Hash> {
        range.map(|n| [n; 32])
    }

    /// Leaves whose hashes share the file's 8-byte key are told apart by `entries`, whether the
    /// filter is still loading (every hash is looked up) or loaded.
    #[tokio::test]
    async fn leaves_that_share_a_prefix_are_found_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db").display().to_string();
        let logs = super::super::sqlite::connect(&path).await.unwrap().pool;
        let with_prefix = |rest: u8| {
            let mut hash = [rest; 32];
            hash[..8].copy_from_slice(&[1; 8]);
            hash
        };
        let (a, b, absent, other) = (
            with_prefix(0xaa),
            with_prefix(0xbb),
            with_prefix(0xdd),
            [2; 32],
        );
        // A log of four entries, the last a repeat of the first, written as another process would.
        sqlx::query("INSERT INTO tree_heads VALUES ('t', 4, x'', 0, x'', '')")
            .execute(&logs)
            .await
            .unwrap();
        for (index, hash) in [a, b, other, a].iter().enumerate() {
            sqlx::query("INSERT INTO entries VALUES ('t', ?, ?, x'', x'')")
                .bind(index as i64)
                .bind(&hash[..])
                .execute(&logs)
                .await
                .unwrap();
        }
        // Opening indexes the log into the file; the filter then loads in the background.
        let index = HashIndex::open(&path, logs).await.unwrap();
        let expected = HashMap::from([(a, 0), (b, 1), (other, 2)]);
        assert_eq!(
            index.lookup("t", &[a, b, absent, other]).await.unwrap(),
            expected
        );
        index.settle().await.unwrap();
        assert_eq!(
            index.lookup("t", &[a, b, absent, other]).await.unwrap(),
            expected
        );
    }

    #[test]
    fn a_commit_that_lands_while_a_gap_is_read_keeps_the_gap_open() {
        // Entries 0..2 are this process's; another process then appended 2..22.
        let mut tail = Tail::starting_at(0, 0);
        tail.committed_at(0, hashes(0..2));
        assert!(!tail.has_gap());
        // This process commits 22..23 and 23..32; a read of `entries` started between the two
        // sees a tree of 23 entries.
        tail.committed_at(22, hashes(22..23));
        assert!(tail.has_gap());
        tail.committed_at(23, hashes(23..32));
        hashes(2..23).for_each(|h| tail.push(h));
        assert_eq!(tail.known(), 23);
        assert!(tail.has_gap(), "entries 23..32 are still to be read");
        hashes(23..32).for_each(|h| tail.push(h));
        assert!(!tail.has_gap());
        // A commit the tail already reached past (the read saw it first) opens no gap.
        tail.committed_at(30, hashes(30..32));
        assert!(!tail.has_gap());
        assert_eq!(tail.known(), 32);
    }
}
