//! One transparency log: submissions wait in a pool, a sequencer commits them in batches, and
//! every waiter is answered only after its entry is durable.
//!
//! The sequencer follows Sunlight, with group commit: as soon as entries are pending and the
//! previous commit has finished, it takes the whole pool, assigns contiguous indices, extends
//! the tree and its tiles in memory, signs the new tree head, and commits entries, tiles and
//! head in one transaction that compare-and-swaps the tree head (size and root). Only then are
//! the waiters released. Under load, what arrives during one commit is the next batch, so a
//! submission waits about one commit, not a fixed period; idle, the sequencer wakes every
//! `interval`. If another process sharing the database advanced the log first, the batch is
//! re-based on the new head and committed again; nothing acknowledged is ever lost, and no
//! index is handed out twice.
//!
//! A log with unique leaves (Rekor's) looks up the whole batch's leaf hashes in one query
//! before it extends the tree, so a leaf already stored, or repeated within the batch, is
//! answered as a duplicate instead of appended. The lookup is repeated after every re-base, and
//! the commit's compare-and-swap fails if another process appended in between: a leaf is
//! appended once even when replicas race.
//!
//! Every tile the sequencer writes stays in a cache, partial ones included, so the inclusion
//! proof a submitter asks for right after its commit is computed from memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use crate::linger::{LingerControl, Workload};
use crate::merkle::{self, CompactRange, NodeId};
use crate::rfc6962::{Hash, leaf_hash};
use crate::store::{NewEntry, Store, StoreError, StoredEntry, TreeHead};
use crate::tile::{self, Tile, TileEdge, TileId};

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The pool is full; the client should retry later.
    #[error("the log is overloaded; retry later")]
    PoolFull,
    /// The entry could not be committed; it is not in the log.
    #[error("the log could not commit the entry: {0}")]
    Unavailable(String),
    /// Arguments outside the tree (an index past the size, a size past the head).
    #[error("{0}")]
    OutOfRange(String),
    /// No entry has that leaf hash.
    #[error("no entry with that leaf hash")]
    NotFound,
    /// A log with unique leaves already holds this leaf, at this index.
    #[error("the entry is already in the log at index {0}")]
    Duplicate(u64),
    /// Signing a tree head failed.
    #[error("signing the tree head: {0}")]
    Sign(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs tree heads in the log's own format: returns the native signature (e.g. an RFC 6962
/// `DigitallySigned` over the STH) and the signed checkpoint note.
pub trait HeadSigner: Send + Sync {
    /// Signs the head `(size, root, timestamp)`.
    fn sign_head(
        &self,
        size: u64,
        root: &Hash,
        timestamp_ms: u64,
    ) -> Result<(Vec<u8>, String), String>;
}

/// Receives sequencing events, for metrics. Every method has a no-op default.
pub trait Observer: Send + Sync {
    /// A batch was committed.
    fn batch_committed(&self, _log: &str, _entries: usize, _latency: Duration, _tree_size: u64) {}
    /// A batch failed and its waiters were told so.
    fn batch_failed(&self, _log: &str, _entries: usize) {}
    /// The linger changed (see [`LingerControl`]).
    fn linger_changed(&self, _log: &str, _linger: Duration) {}
    /// A batch lost its compare-and-swap to another process sharing the database (a replica)
    /// and is sequenced again on the head that process stored.
    fn batch_rebased(&self, _log: &str) {}
}

struct NoObserver;
impl Observer for NoObserver {}

/// What a submitter hands to the log.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    /// The bytes whose leaf hash goes into the tree.
    pub leaf_input: Vec<u8>,
    /// Unhashed data served beside the leaf.
    pub extra: Vec<u8>,
    /// The entry's own timestamp (an SCT's), so the tree head is never older than it.
    pub timestamp_ms: u64,
}

/// A committed entry: its index, and the first tree head that contains it.
#[derive(Debug, Clone)]
pub struct Sequenced {
    /// The entry's index.
    pub index: u64,
    /// The durable head that includes it.
    pub head: Arc<TreeHead>,
}

/// Settings of one log.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// How long an idle sequencer sleeps between checks (its heartbeat); pending entries
    /// wake it at once.
    pub interval: Duration,
    /// The longest the sequencer lets a batch fill while entries keep arriving (the previous
    /// batch held more than one); a pause of a quarter of the current linger ends the wait.
    /// Within it, [`LingerControl`] lingers as long as `workload` stays busy. Zero commits at
    /// once, whatever the load.
    pub linger: Duration,
    /// The threads that submit entries, whose idle time shortens the linger; without it the
    /// linger is a quarter of `linger`.
    pub workload: Option<Arc<dyn Workload>>,
    /// Most entries waiting at once; more get [`LogError::PoolFull`].
    pub max_pending: usize,
    /// How many times a batch is re-based after losing a compare-and-swap.
    pub max_rebases: usize,
    /// Whether a leaf already in the log, or repeated within a batch, is refused as
    /// [`LogError::Duplicate`] instead of appended again (Rekor's rule; CT appends every
    /// submission).
    pub unique_leaves: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            interval: Duration::from_millis(100),
            linger: Duration::ZERO,
            workload: None,
            max_pending: 100_000,
            max_rebases: 10,
            unique_leaves: false,
        }
    }
}

/// What the sequencer tells a submitter.
enum Answer {
    Sequenced(Sequenced),
    Duplicate(u64),
    Failed(String),
}

type Waiter = oneshot::Sender<Answer>;

/// Where one submission of a batch ends up.
#[derive(Debug, Clone, Copy)]
enum Placement {
    /// Appended as the batch's `n`-th new entry.
    Append(u64),
    /// The same leaf as the batch's `n`-th new entry.
    Repeat(u64),
    /// Already stored at this index.
    Stored(u64),
}

/// A batch's tree: the edge extended by its leaves, the tiles that changed, the signed head.
struct Extension {
    next: Edge,
    tiles: BTreeMap<TileId, Vec<Hash>>,
    head: TreeHead,
}

/// The in-memory right edge of the tree, owned by the sequencer task.
#[derive(Clone)]
struct Edge {
    range: CompactRange,
    tiles: TileEdge,
    timestamp_ms: u64,
}

/// One log: its name, storage, signer, pool and sequencer state.
pub struct Log {
    name: String,
    store: Store,
    signer: Arc<dyn HeadSigner>,
    observer: Arc<dyn Observer>,
    options: LogOptions,
    // Filled by submitters, emptied by the sequencer.
    pool: Mutex<Vec<(PendingEntry, Waiter)>>,
    // Wakes the sequencer when the pool becomes non-empty or holds a full batch; a permit is
    // kept if it is busy.
    wakeup: tokio::sync::Notify,
    // Owned by the sequencer task; `None` until loaded.
    edge: tokio::sync::Mutex<Option<Edge>>,
    // When the sequencer last woke up (ms since the epoch); readiness watches it.
    last_tick_ms: std::sync::atomic::AtomicU64,
    // The latest head this process committed or read: proofs up to its size need no
    // database read of the head.
    known_head: std::sync::RwLock<Option<Arc<TreeHead>>>,
    // Tiles this process wrote or read, partial ones included. A tile only grows, so a cached
    // one answers every node it covers; proofs of recent entries need no database read.
    tiles: moka::sync::Cache<TileId, Arc<Tile>>,
}

/// Tiles kept in memory: at most 8 KiB of hashes each, and as much again once a proof has
/// built their subtrees, so at most 32 MiB.
const TILE_CACHE: u64 = 2048;

/// A pool this full is committed without lingering: a whole data tile's worth of entries,
/// past which a larger batch saves little.
const FULL_BATCH: usize = tile::WIDTH as usize;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Log {
    /// Opens (creating if new) the log `name` in `store`; `observer` receives sequencing events.
    pub async fn open(
        name: &str,
        store: Store,
        signer: Arc<dyn HeadSigner>,
        observer: Option<Arc<dyn Observer>>,
        options: LogOptions,
    ) -> Result<Arc<Log>, LogError> {
        let timestamp_ms = now_ms();
        let (signature, note) = signer
            .sign_head(0, &crate::rfc6962::empty_root(), timestamp_ms)
            .map_err(LogError::Sign)?;
        let empty = TreeHead {
            size: 0,
            root: crate::rfc6962::empty_root(),
            timestamp_ms,
            signature,
            note,
        };
        store.init_log(name, &empty).await?;
        let log = Arc::new(Log {
            name: name.to_owned(),
            store,
            signer,
            observer: observer.unwrap_or_else(|| Arc::new(NoObserver)),
            options,
            pool: Mutex::new(Vec::new()),
            wakeup: tokio::sync::Notify::new(),
            edge: tokio::sync::Mutex::new(None),
            last_tick_ms: std::sync::atomic::AtomicU64::new(0),
            known_head: std::sync::RwLock::new(None),
            tiles: moka::sync::Cache::new(TILE_CACHE),
        });
        *log.edge.lock().await = Some(log.load_edge().await?);
        Ok(log)
    }

    /// The log's name (its key in storage).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the sequencer last woke up, in ms since the epoch (0 if it never ran).
    pub fn last_tick_ms(&self) -> u64 {
        self.last_tick_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Entries waiting to be sequenced.
    pub fn pending(&self) -> usize {
        self.pool.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Submits an entry and waits until it is durably committed.
    pub async fn submit(&self, entry: PendingEntry) -> Result<Sequenced, LogError> {
        let (tx, rx) = oneshot::channel();
        let wake = {
            let mut pool = self
                .pool
                .lock()
                .map_err(|_| LogError::Unavailable("pool poisoned".into()))?;
            if pool.len() >= self.options.max_pending {
                return Err(LogError::PoolFull);
            }
            pool.push((entry, tx));
            // Only the first entry (an idle sequencer) and a full batch (a lingering one)
            // need the sequencer; waking it for every entry would cost a thread switch each.
            pool.len() == 1 || pool.len() == FULL_BATCH
        };
        // Woken only once the pool is unlocked: the woken thread preempts this one as the
        // wake-up's system call returns, and would find the pool still locked, as would every
        // other submitter, until this thread ran again.
        if wake {
            self.wakeup.notify_one();
        }
        match rx.await {
            Ok(Answer::Sequenced(sequenced)) => Ok(sequenced),
            Ok(Answer::Duplicate(index)) => Err(LogError::Duplicate(index)),
            Ok(Answer::Failed(reason)) => Err(LogError::Unavailable(reason)),
            Err(_) => Err(LogError::Unavailable("the sequencer stopped".into())),
        }
    }

    /// Runs the sequencer until the process ends. Spawn it once per log and process.
    pub async fn run_sequencer(self: Arc<Self>) {
        self.last_tick_ms
            .store(now_ms(), std::sync::atomic::Ordering::Relaxed);
        let mut previous = 0;
        // The commit in flight. The next batch gathers and lingers while it runs, and is
        // taken only once it has landed: a batch extends the head that the one before it
        // left, and a duplicate lookup sees every entry committed before it. Lingering only
        // after a commit, PostgreSQL's 4 ms commits and the linger added up, and a fifth of
        // the CPU idled under load.
        let mut in_flight: Option<tokio::task::JoinHandle<()>> = None;
        let mut control = LingerControl::new(self.options.linger);
        self.observer.linger_changed(&self.name, control.current());
        loop {
            // A submission made during the previous commit left a permit: no wait then.
            let _ = tokio::time::timeout(self.options.interval, self.wakeup.notified()).await;
            self.last_tick_ms
                .store(now_ms(), std::sync::atomic::Ordering::Relaxed);
            let before = control.current();
            let workload = self.options.workload.as_ref();
            let linger = control.update(Instant::now(), || workload.and_then(|w| w.busy()));
            if linger != before {
                self.observer.linger_changed(&self.name, linger);
            }
            if previous > 1 && !linger.is_zero() {
                self.linger(linger).await;
            }
            // A commit that panicked dropped its waiters, who are told the sequencer stopped;
            // the compare-and-swap keeps the next batch off an edge it may have left stale.
            if let Some(commit) = in_flight.take()
                && let Err(e) = commit.await
            {
                tracing::error!(log = %self.name, error = %e, "a commit task failed");
            }
            let batch = match self.pool.lock() {
                Ok(mut pool) => std::mem::take(&mut *pool),
                Err(_) => return,
            };
            previous = batch.len();
            if !batch.is_empty() {
                let log = self.clone();
                in_flight = Some(tokio::spawn(async move { log.sequence(batch).await }));
            }
        }
    }

    /// Lets the pool fill for up to `linger`, or until it holds a full batch, or until no entry
    /// has arrived for a quarter of `linger`: once entries stop arriving, every request in
    /// flight is likely waiting for this batch, and waiting longer would only leave the CPU
    /// idle. A lone client never waits here: its batches hold one entry.
    async fn linger(&self, linger: Duration) {
        let deadline = tokio::time::Instant::now() + linger;
        let quiet = linger / 4;
        let mut seen = self.pending();
        while seen < FULL_BATCH {
            let check = (tokio::time::Instant::now() + quiet).min(deadline);
            let woken = tokio::time::timeout_at(check, self.wakeup.notified())
                .await
                .is_ok();
            let pending = self.pending();
            if !woken && (pending == seen || tokio::time::Instant::now() >= deadline) {
                return;
            }
            seen = pending;
        }
    }

    /// Commits one batch and answers its waiters.
    async fn sequence(&self, batch: Vec<(PendingEntry, Waiter)>) {
        let started = Instant::now();
        let (entries, waiters): (Vec<PendingEntry>, Vec<Waiter>) = batch.into_iter().unzip();
        let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(&e.leaf_input)).collect();
        let mut edge_slot = self.edge.lock().await;
        let mut outcome = Err("not attempted".to_owned());
        for _ in 0..=self.options.max_rebases {
            let edge = match edge_slot.as_ref() {
                Some(edge) => edge.clone(),
                None => match self.load_edge().await {
                    Ok(edge) => edge,
                    Err(e) => {
                        outcome = Err(e.to_string());
                        break;
                    }
                },
            };
            let placements = match self.place(&hashes).await {
                Ok(placements) => placements,
                Err(e) => {
                    outcome = Err(e.to_string());
                    break;
                }
            };
            let appended = || {
                entries
                    .iter()
                    .zip(&hashes)
                    .zip(&placements)
                    .filter(|(_, p)| matches!(p, Placement::Append(_)))
                    .map(|((e, h), _)| (e, h))
            };
            let fresh: Vec<NewEntry<'_>> = appended()
                .map(|(e, h)| NewEntry {
                    leaf_hash: h,
                    leaf_input: &e.leaf_input,
                    extra: &e.extra,
                })
                .collect();
            if fresh.is_empty() {
                outcome = Ok((edge.range.size(), None, placements));
                break;
            }
            let newest_ms = appended().map(|(e, _)| e.timestamp_ms).max().unwrap_or(0);
            match self.commit(&edge, &fresh, newest_ms).await {
                Ok((next, head)) => {
                    *edge_slot = Some(next);
                    outcome = Ok((edge.range.size(), Some(Arc::new(head)), placements));
                    break;
                }
                Err(LogError::Store(StoreError::Conflict)) => {
                    // Another process advanced the log: re-base on its head.
                    self.observer.batch_rebased(&self.name);
                    *edge_slot = None;
                }
                Err(e) => {
                    tracing::warn!(log = %self.name, error = %e, "batch commit failed");
                    // The commit may or may not have landed; reload before the next batch.
                    *edge_slot = None;
                    outcome = Err(e.to_string());
                    break;
                }
            }
        }
        drop(edge_slot);
        match outcome {
            Ok((first, head, placements)) => {
                if let Some(head) = &head {
                    let appended = placements
                        .iter()
                        .filter(|p| matches!(p, Placement::Append(_)))
                        .count();
                    self.committed(head, appended, started);
                }
                for (waiter, placement) in waiters.into_iter().zip(placements) {
                    let answer = match (placement, &head) {
                        (Placement::Append(n), Some(head)) => Answer::Sequenced(Sequenced {
                            index: first + n,
                            head: head.clone(),
                        }),
                        (Placement::Repeat(n), _) => Answer::Duplicate(first + n),
                        (Placement::Stored(index), _) => Answer::Duplicate(index),
                        // A batch with a new entry always has a head (see above).
                        (Placement::Append(_), None) => Answer::Failed("not committed".into()),
                    };
                    // A waiter that went away still has its entry in the log.
                    let _ = waiter.send(answer);
                }
            }
            Err(reason) => self.fail(waiters, &reason),
        }
    }

    /// Where each leaf of a batch goes: every one is appended, unless the log's leaves are
    /// unique and the leaf is stored already or repeats an earlier one of the batch.
    async fn place(&self, hashes: &[Hash]) -> Result<Vec<Placement>, LogError> {
        if !self.options.unique_leaves {
            return Ok((0..hashes.len() as u64).map(Placement::Append).collect());
        }
        let stored = self.store.indices_of(&self.name, hashes).await?;
        let mut first_seen: HashMap<Hash, u64> = HashMap::new();
        Ok(hashes
            .iter()
            .map(|h| {
                if let Some(&index) = stored.get(h) {
                    return Placement::Stored(index);
                }
                let next = first_seen.len() as u64;
                match first_seen.entry(*h) {
                    std::collections::hash_map::Entry::Occupied(n) => Placement::Repeat(*n.get()),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(next);
                        Placement::Append(next)
                    }
                }
            })
            .collect())
    }

    /// Extends `edge` by `hashes`, the newest of which is stamped `newest_ms`, and signs the
    /// new head.
    fn extend(&self, edge: &Edge, hashes: &[Hash], newest_ms: u64) -> Result<Extension, LogError> {
        let mut next = edge.clone();
        for h in hashes {
            next.range.append(*h);
        }
        let tiles = next.tiles.append(hashes);
        // RFC 6962 §3.5: the tree head is at least as recent as every timestamp in the tree.
        next.timestamp_ms = now_ms().max(edge.timestamp_ms).max(newest_ms);
        let root = next.range.root();
        let (signature, note) = self
            .signer
            .sign_head(next.range.size(), &root, next.timestamp_ms)
            .map_err(LogError::Sign)?;
        let head = TreeHead {
            size: next.range.size(),
            root,
            timestamp_ms: next.timestamp_ms,
            signature,
            note,
        };
        Ok(Extension { next, tiles, head })
    }

    /// Extends `edge` by `entries`, the newest of which is stamped `newest_ms`, signs, commits
    /// with compare-and-swap, and keeps the written tiles for proofs.
    async fn commit(
        &self,
        edge: &Edge,
        entries: &[NewEntry<'_>],
        newest_ms: u64,
    ) -> Result<(Edge, TreeHead), LogError> {
        let hashes: Vec<Hash> = entries.iter().map(|e| *e.leaf_hash).collect();
        let Extension { next, tiles, head } = self.extend(edge, &hashes, newest_ms)?;
        let (size, root) = (edge.range.size(), edge.range.root());
        self.store
            .append(&self.name, size, &root, entries, &tiles, &head)
            .await?;
        self.keep(tiles);
        Ok((next, head))
    }

    /// Keeps tiles just written for the proofs that follow.
    fn keep(&self, tiles: BTreeMap<TileId, Vec<Hash>>) {
        for (id, hashes) in tiles {
            self.tiles.insert(id, Arc::new(Tile::new(hashes)));
        }
    }

    /// Records a durable head of `appended` new entries, sequenced since `started`.
    fn committed(&self, head: &Arc<TreeHead>, appended: usize, started: Instant) {
        self.remember(head.clone());
        self.observer
            .batch_committed(&self.name, appended, started.elapsed(), head.size);
    }

    /// Tells every waiter of a batch that it failed.
    fn fail(&self, waiters: Vec<Waiter>, reason: &str) {
        self.observer.batch_failed(&self.name, waiters.len());
        for waiter in waiters {
            let _ = waiter.send(Answer::Failed(reason.to_owned()));
        }
    }

    /// Rebuilds the right edge from the stored head and tiles, checking that they agree.
    async fn load_edge(&self) -> Result<Edge, LogError> {
        let head = self.store.head(&self.name).await?;
        let ids = CompactRange::node_ids(head.size);
        let nodes = self.read_nodes(&ids).await?;
        let range = CompactRange::from_nodes(head.size, ids.iter().map(|id| nodes[id]).collect());
        if range.root() != head.root {
            return Err(LogError::Store(StoreError::Corrupt(format!(
                "log `{}`: the stored tiles do not hash to the stored root at size {}",
                self.name, head.size
            ))));
        }
        let partial = tile::partial_tiles(head.size);
        let ids: Vec<TileId> = partial.iter().map(|(id, _)| *id).collect();
        let stored = self.store.tiles(&self.name, &ids).await?;
        let mut partials = Vec::new();
        for (id, width) in partial {
            let hashes = stored
                .get(&id)
                .and_then(|t| t.get(..width))
                .ok_or_else(|| StoreError::Corrupt(format!("missing edge tile {id:?}")))?;
            partials.push(hashes.to_vec());
        }
        Ok(Edge {
            range,
            tiles: TileEdge::from_partials(head.size, partials),
            timestamp_ms: head.timestamp_ms,
        })
    }

    /// The latest durable tree head (possibly written by another process).
    pub async fn head(&self) -> Result<TreeHead, LogError> {
        let head = self.store.head(&self.name).await?;
        self.remember(Arc::new(head.clone()));
        Ok(head)
    }

    /// A durable head of at least `size` entries if one is known without asking the database
    /// (another replica may have committed more), else the stored head.
    async fn head_covering(&self, size: u64) -> Result<Arc<TreeHead>, LogError> {
        let known = self.known_head.read().ok().and_then(|h| h.clone());
        match known {
            Some(head) if head.size >= size => Ok(head),
            _ => Ok(Arc::new(self.head().await?)),
        }
    }

    /// Keeps `head` as the latest known one unless a larger one is already known.
    fn remember(&self, head: Arc<TreeHead>) {
        let Ok(mut known) = self.known_head.write() else {
            return;
        };
        if known.as_ref().is_none_or(|k| k.size <= head.size) {
            *known = Some(head);
        }
    }

    /// The hashes of perfect subtrees, read from cached tiles where they cover the nodes and
    /// from the database otherwise.
    async fn read_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, LogError> {
        // How far into each tile the nodes reach.
        let mut reach: HashMap<TileId, usize> = HashMap::new();
        for id in ids {
            let (tile_id, start, count) = tile::locate(*id);
            let width = reach.entry(tile_id).or_default();
            *width = (*width).max(start + count);
        }
        let mut tiles: HashMap<TileId, Arc<Tile>> = HashMap::new();
        let mut missing = Vec::new();
        for (id, width) in reach {
            match self.tiles.get(&id) {
                Some(tile) if tile.hashes().len() >= width => {
                    tiles.insert(id, tile);
                }
                _ => missing.push(id),
            }
        }
        if !missing.is_empty() {
            for (id, hashes) in self.store.tiles(&self.name, &missing).await? {
                let tile = Arc::new(Tile::new(hashes));
                self.tiles.insert(id, tile.clone());
                tiles.insert(id, tile);
            }
        }
        ids.iter()
            .map(|id| {
                let (tile_id, start, count) = tile::locate(*id);
                tiles
                    .get(&tile_id)
                    .and_then(|t| t.node(start, count))
                    .map(|h| (*id, h))
                    .ok_or_else(|| {
                        LogError::Store(StoreError::Corrupt(format!("node {id:?} is not stored")))
                    })
            })
            .collect()
    }

    /// Hashes for a proof plan.
    async fn prove(&self, plan: &[(u64, u64)]) -> Result<Vec<Hash>, LogError> {
        let ids: Vec<NodeId> = plan
            .iter()
            .flat_map(|&(a, b)| merkle::perfect_nodes(a, b))
            .collect();
        let nodes = self.read_nodes(&ids).await?;
        plan.iter()
            .map(|&(a, b)| {
                merkle::hash_range(a, b, &nodes).map_err(|id| {
                    LogError::Store(StoreError::Corrupt(format!("node {id:?} missing")))
                })
            })
            .collect()
    }

    /// The inclusion proof of `index` in the tree of `size` (at most the durable size).
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        let head = self.head_covering(size).await?;
        if size > head.size || index >= size {
            return Err(LogError::OutOfRange(format!(
                "need leaf index < tree size <= {}; got index {index}, size {size}",
                head.size
            )));
        }
        self.prove(&merkle::inclusion_plan(index, size)).await
    }

    /// The consistency proof from `first` to `second` (at most the durable size).
    pub async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, LogError> {
        let head = self.head_covering(second).await?;
        if first > second || second > head.size {
            return Err(LogError::OutOfRange(format!(
                "need first <= second <= {}; got {first} and {second}",
                head.size
            )));
        }
        self.prove(&merkle::consistency_plan(first, second)).await
    }

    /// The Merkle tree hash of the first `size` entries (at most the durable size).
    pub async fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        let head = self.head_covering(size).await?;
        if size > head.size {
            return Err(LogError::OutOfRange(format!(
                "size {size} is beyond the tree size {}",
                head.size
            )));
        }
        Ok(self
            .prove(&[(0, size)])
            .await?
            .pop()
            .unwrap_or_else(crate::rfc6962::empty_root))
    }

    /// The index of the leaf with `leaf_hash`, if it is within the first `size` entries.
    pub async fn index_of(&self, leaf_hash: &Hash, size: u64) -> Result<u64, LogError> {
        let found = self.store.indices_of(&self.name, &[*leaf_hash]).await?;
        match found.get(leaf_hash) {
            Some(&i) if i < size => Ok(i),
            _ => Err(LogError::NotFound),
        }
    }

    /// Entries `[start, end)`.
    pub async fn entries(&self, start: u64, end: u64) -> Result<Vec<StoredEntry>, LogError> {
        Ok(self.store.entries(&self.name, start, end).await?)
    }

    /// A tile's hashes as served by the tile API: `width` hashes (all 256 when `None`), or
    /// `None` when the durable tree does not hold that many yet.
    pub async fn tile(
        &self,
        id: TileId,
        width: Option<usize>,
    ) -> Result<Option<Vec<u8>>, LogError> {
        let width = width.unwrap_or(tile::WIDTH as usize);
        let head = self.head().await?;
        let available = head.size.checked_shr(8 * u32::from(id.level)).unwrap_or(0);
        if available < id.index * tile::WIDTH + width as u64 {
            return Ok(None);
        }
        if let Some(tile) = self.tiles.get(&id).filter(|t| t.hashes().len() >= width) {
            return Ok(Some(tile.hashes()[..width].concat()));
        }
        let tiles = self.store.tiles(&self.name, &[id]).await?;
        Ok(tiles
            .get(&id)
            .and_then(|t| t.get(..width))
            .map(|h| h.concat()))
    }

    /// The store, for readiness checks.
    pub fn store(&self) -> &Store {
        &self.store
    }
}
