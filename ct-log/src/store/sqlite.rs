//! The SQLite backend: one file, WAL, `synchronous=FULL`, and its leaf-hash index in a second
//! file beside it (`hash_index.rs`). Reads go through sqlx's pool; appends through one
//! connection of their own (`sqlite_writer.rs`).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::hash_index::HashIndex;
use super::sqlite_writer::Writer;
use super::{
    INSERT_CHUNK, NewEntry, StoreError, StoredEntry, TreeHead, join_hashes, reusable, to_hash,
};
use crate::rfc6962::Hash;
use crate::tile::TileId;

/// The log database, its leaf-hash index, and the thread that appends to the log.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    hashes: Arc<HashIndex>,
    writer: Writer,
}

pub(super) async fn connect(path: &str) -> Result<SqliteStore, StoreError> {
    if let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    }
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Only a new file takes it. A batch writes every page it touches to the WAL and again
        // at the checkpoint, two system calls per WAL frame: 16 KiB pages need a quarter of
        // 4 KiB pages' calls for the same bytes, and hold a full tile (8 KiB) without overflow.
        .page_size(PAGE_SIZE)
        .busy_timeout(BUSY_TIMEOUT);
    let options = connection_pragmas()
        .into_iter()
        .fold(options, |options, (name, value)| {
            options.pragma(name, value)
        });
    let pool = kept_open(CONNECTIONS).connect_with(options).await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    // The rest are opened only now: several connections opening a new file at once race for
    // the lock that switches it to WAL, and one of them fails with "database is locked". One
    // that cannot be opened now (on a full disk, say) is opened on demand later.
    let mut opened = Vec::new();
    for _ in 0..CONNECTIONS {
        match pool.acquire().await {
            Ok(connection) => opened.push(connection),
            Err(e) => {
                tracing::warn!(error = %e, "opening the log database's connections");
                break;
            }
        }
    }
    drop(opened);
    let hashes = HashIndex::open(path, pool.clone()).await?;
    let writer = Writer::start(path, hashes.clone())
        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    Ok(SqliteStore {
        pool,
        hashes,
        writer,
    })
}

/// The settings of every connection to the log database, the pool's and the log writer's
/// (`sqlite_writer.rs`), as `PRAGMA name = value`.
pub(super) fn connection_pragmas() -> [(&'static str, String); 5] {
    [
        // Durability before acknowledgement: every commit reaches the disk.
        ("synchronous", "FULL".into()),
        // SQLite checkpoints the WAL every 1,000 pages by default: 16 MiB at this page size,
        // four times what the same default meant at 4 KiB pages, and the file keeps its
        // largest size. 256 pages keep the WAL at the 4 MiB it was; the limit truncates it
        // back to that after a burst, so a disk that filled up and then got space back has
        // room for a restart. A checkpoint runs on the committing connection, so the writer's
        // setting is the one that counts.
        ("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string()),
        (
            "journal_size_limit",
            (WAL_CHECKPOINT_PAGES * PAGE_SIZE).to_string(),
        ),
        // A statement that changes many rows keeps a statement journal, which SQLite spills to
        // a new file in the temporary directory past 64 KiB: an open, write, unlink and close
        // per commit (strace under load), and a commit that fails when that directory is
        // full. It holds only the pages that existed before the statement, so memory is
        // bounded.
        ("temp_store", "MEMORY".into()),
        ("foreign_keys", "ON".into()),
    ]
}

/// How long a connection waits for another's write lock.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The page size of new log files.
const PAGE_SIZE: u32 = 16384;

/// WAL pages between automatic checkpoints (4 MiB at 16 KiB pages).
const WAL_CHECKPOINT_PAGES: u32 = 256;

/// Connections to the log database.
const CONNECTIONS: u32 = 8;

/// A pool whose connections, once opened, are never closed while they work: the caller opens
/// them all at start-up. The driver runs each SQLite connection on a thread of its own, which
/// inherits the priority of the thread that opened it, and a connection opened on demand by a
/// request handler on a deprioritized worker would slow every commit made through it.
pub(super) fn kept_open(connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(connections)
        .idle_timeout(None)
        .max_lifetime(None)
}

pub(super) async fn init_log(
    store: &SqliteStore,
    log: &str,
    empty: &TreeHead,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tree_heads (log, size, root, timestamp, signature, note) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (log) DO NOTHING",
    )
    .bind(log)
    .bind(empty.size as i64)
    .bind(&empty.root[..])
    .bind(empty.timestamp_ms as i64)
    .bind(&empty.signature)
    .bind(&empty.note)
    .execute(&store.pool)
    .await?;
    store.hashes.open_log(log).await
}

pub(super) async fn head(pool: &SqlitePool, log: &str) -> Result<TreeHead, StoreError> {
    let row =
        sqlx::query("SELECT size, root, timestamp, signature, note FROM tree_heads WHERE log = ?")
            .bind(log)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no tree head for log `{log}`")))?;
    Ok(TreeHead {
        size: row.get::<i64, _>(0) as u64,
        root: to_hash(row.get(1))?,
        timestamp_ms: row.get::<i64, _>(2) as u64,
        signature: row.get(3),
        note: row.get(4),
    })
}

pub(super) async fn append(
    store: &SqliteStore,
    log: &str,
    expected: (u64, &Hash),
    entries: &[NewEntry<'_>],
    tiles: &BTreeMap<TileId, Vec<Hash>>,
    head: &TreeHead,
) -> Result<(), StoreError> {
    store.hashes.wait_for_room(log).await?;
    let tiles = tiles.iter().map(|(id, h)| (*id, join_hashes(h))).collect();
    store
        .writer
        .append(log, expected, entries, tiles, head)
        .await
}

pub(super) async fn tiles(
    pool: &SqlitePool,
    log: &str,
    ids: &[TileId],
) -> Result<HashMap<TileId, Vec<u8>>, StoreError> {
    let mut found = HashMap::new();
    for id in ids {
        let row = sqlx::query("SELECT hashes FROM tiles WHERE log = ? AND level = ? AND idx = ?")
            .bind(log)
            .bind(id.level as i64)
            .bind(id.index as i64)
            .fetch_optional(pool)
            .await?;
        if let Some(row) = row {
            found.insert(*id, row.get(0));
        }
    }
    Ok(found)
}

pub(super) async fn entries(
    pool: &SqlitePool,
    log: &str,
    start: u64,
    end: u64,
) -> Result<Vec<StoredEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT idx, leaf_hash, leaf_input, extra FROM entries WHERE log = ? AND idx >= ? AND idx < ? ORDER BY idx",
    )
    .bind(log)
    .bind(start as i64)
    .bind(end as i64)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(StoredEntry {
                index: r.get::<i64, _>(0) as u64,
                leaf_hash: to_hash(r.get(1))?,
                leaf_input: r.get(2),
                extra: r.get(3),
            })
        })
        .collect()
}

/// Every log in the database, with its committed tree size.
pub(super) async fn stored_sizes(logs: &SqlitePool) -> Result<Vec<(String, u64)>, StoreError> {
    let rows = sqlx::query("SELECT log, size FROM tree_heads")
        .fetch_all(logs)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.get(0), r.get::<i64, _>(1) as u64))
        .collect())
}

/// The committed tree size of `log`.
pub(super) async fn stored_size(logs: &SqlitePool, log: &str) -> Result<u64, StoreError> {
    let size: i64 = sqlx::query_scalar("SELECT size FROM tree_heads WHERE log = ?")
        .bind(log)
        .fetch_one(logs)
        .await?;
    Ok(size as u64)
}

/// Leaf hashes of entries `[start, end)` of `log`, in order (for the hash index).
pub(super) async fn leaf_hashes(
    logs: &SqlitePool,
    log: &str,
    start: u64,
    end: u64,
) -> Result<Vec<Hash>, StoreError> {
    let rows = sqlx::query(
        "SELECT leaf_hash FROM entries WHERE log = ? AND idx >= ? AND idx < ? ORDER BY idx",
    )
    .bind(log)
    .bind(start as i64)
    .bind(end as i64)
    .fetch_all(logs)
    .await?;
    if rows.len() as u64 != end - start {
        return Err(StoreError::Corrupt(format!(
            "log `{log}`: entries [{start}, {end}) are not all stored"
        )));
    }
    rows.into_iter().map(|r| to_hash(r.get(0))).collect()
}

/// The leaf hash of each of the entries of `log` at `indices` that are stored.
pub(super) async fn leaf_hashes_at(
    logs: &SqlitePool,
    log: &str,
    indices: &[i64],
) -> Result<Vec<(u64, Hash)>, StoreError> {
    let mut found = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(INSERT_CHUNK) {
        let mut select: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT idx, leaf_hash FROM entries WHERE log = ");
        select.push_bind(log).push(" AND idx IN (");
        let mut list = select.separated(", ");
        for index in chunk {
            list.push_bind(*index);
        }
        select.push(")");
        let rows = select
            .build()
            .persistent(reusable(chunk.len()))
            .fetch_all(logs)
            .await?;
        for row in rows {
            found.push((row.get::<i64, _>(0) as u64, to_hash(row.get(1))?));
        }
    }
    Ok(found)
}

pub(super) async fn indices_of(
    store: &SqliteStore,
    log: &str,
    hashes: &[Hash],
) -> Result<HashMap<Hash, u64>, StoreError> {
    store.hashes.lookup(log, hashes).await
}

/// Waits until the leaf-hash index file holds every entry this process knows of.
pub(super) async fn settle_index(store: &SqliteStore) -> Result<(), StoreError> {
    store.hashes.settle().await
}

pub(super) fn set_index_merge_at(store: &SqliteStore, rows: u64) {
    store.hashes.set_merge_at(rows);
}

pub(super) async fn put_issuers(
    pool: &SqlitePool,
    certs: &[(Hash, Vec<u8>)],
) -> Result<(), StoreError> {
    for (fingerprint, der) in certs {
        sqlx::query("INSERT INTO issuers (fingerprint, der) VALUES (?, ?) ON CONFLICT (fingerprint) DO NOTHING")
            .bind(&fingerprint[..])
            .bind(der)
            .execute(pool)
            .await?;
    }
    Ok(())
}

pub(super) async fn issuer(
    pool: &SqlitePool,
    fingerprint: &Hash,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = sqlx::query("SELECT der FROM issuers WHERE fingerprint = ?")
        .bind(&fingerprint[..])
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.get(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statement_journals_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = connect(&dir.path().join("log.db").display().to_string())
            .await
            .unwrap();
        // 2 is MEMORY: no temporary file per commit, whatever the temporary directory holds.
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(temp_store, 2);
        // The pool gets the same settings as the log writer (`sqlite_writer.rs`).
        for (name, expected) in [("synchronous", 2), ("wal_autocheckpoint", 256)] {
            let value: i64 = sqlx::query_scalar(&format!("PRAGMA {name}"))
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(value, expected, "{name}");
        }
    }
}
