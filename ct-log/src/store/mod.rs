//! Durable storage of logs: one interface, two native backends (SQLite, PostgreSQL).
//!
//! Contract, for both backends:
//! - A write is durable when its future resolves `Ok`: SQLite runs in WAL mode with
//!   `synchronous=FULL`, PostgreSQL commits.
//! - [`Store::append`] is atomic and conditional: it commits the entries, the changed tiles and
//!   the new tree head only if the stored tree size and root still equal `expected_size` and
//!   `expected_root` (compare-and-swap in the same transaction); otherwise nothing changes and it returns
//!   [`StoreError::Conflict`]. Several processes may therefore share one database without
//!   forking a log: the loser re-reads the head and re-bases its batch.
//! - Reads see only committed data.
//! - [`Store::indices_of`] sees every committed entry. PostgreSQL indexes leaf hashes in the
//!   appending transaction; SQLite does it in the background (`hash_index.rs`) and answers the
//!   entries not yet indexed from memory.
//!
//! Several logs share one database; every row carries its log's name.

mod hash_index;
mod postgres;
mod sqlite;
mod sqlite_writer;

pub use sqlite::SqliteStore;

use std::collections::{BTreeMap, HashMap};

use crate::rfc6962::Hash;
use crate::tile::TileId;

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stored head is not the expected one (another writer advanced the log, or the
    /// commit the batch was built on failed); nothing was written.
    #[error("the log advanced concurrently (compare-and-swap on the tree head failed)")]
    Conflict,
    /// The URL is not `sqlite://…` or `postgres://…`.
    #[error("unsupported storage URL (expected sqlite://PATH or postgres://…)")]
    Url,
    /// The leaf-hash index file has fallen this many entries behind the log and is not
    /// catching up (it cannot be written); commits wait for it rather than outgrow memory.
    #[error("the leaf-hash index is {0} entries behind and not catching up")]
    IndexBehind(usize),
    /// Stored data contradicts itself (a truncated tile, an unknown log).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The SQLite log writer's connection failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A migration failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A signed tree head as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of leaves.
    pub size: u64,
    /// Merkle tree hash.
    pub root: Hash,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The log's signature over the head in its native form (an RFC 6962 `DigitallySigned`
    /// for a CT log).
    pub signature: Vec<u8>,
    /// The same head as a signed checkpoint note.
    pub note: String,
}

/// One leaf as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Position in the log.
    pub index: u64,
    /// RFC 6962 leaf hash of `leaf_input`.
    pub leaf_hash: Hash,
    /// The bytes that are hashed (a `MerkleTreeLeaf` for CT).
    pub leaf_input: Vec<u8>,
    /// Unhashed data served beside the leaf (`extra_data` for CT).
    pub extra: Vec<u8>,
}

/// One leaf to append; its index is its position after the stored tree.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// RFC 6962 leaf hash of `leaf_input`.
    pub leaf_hash: &'a Hash,
    /// The bytes that are hashed.
    pub leaf_input: &'a [u8],
    /// Unhashed data served beside the leaf.
    pub extra: &'a [u8],
}

/// A database holding logs.
#[derive(Clone, Debug)]
pub enum Store {
    /// An embedded SQLite file, with its leaf-hash index in a second file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database, possibly shared by several sigil processes.
    Postgres(sqlx::PgPool),
}

impl Store {
    /// Connects (creating a SQLite file and its directory if needed) and runs migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Store::Sqlite(sqlite::connect(path).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::connect(url).await?))
        } else {
            Err(StoreError::Url)
        }
    }

    /// Creates the log's head row with `empty` if the log does not exist yet.
    pub async fn init_log(&self, log: &str, empty: &TreeHead) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => sqlite::init_log(s, log, empty).await,
            Store::Postgres(pool) => postgres::init_log(pool, log, empty).await,
        }
    }

    /// The latest committed tree head.
    pub async fn head(&self, log: &str) -> Result<TreeHead, StoreError> {
        match self {
            Store::Sqlite(s) => sqlite::head(&s.pool, log).await,
            Store::Postgres(pool) => postgres::head(pool, log).await,
        }
    }

    /// Atomically appends `entries` (indices from `expected_size` on), writes `tiles` and sets
    /// `head`, if the stored head is still the one of `expected_size` entries and root
    /// `expected_root`. The root makes the swap exact: a batch built on a commit that failed
    /// must not land on another one that happens to leave the log at the same size.
    pub async fn append(
        &self,
        log: &str,
        expected_size: u64,
        expected_root: &Hash,
        entries: &[NewEntry<'_>],
        tiles: &BTreeMap<TileId, Vec<Hash>>,
        head: &TreeHead,
    ) -> Result<(), StoreError> {
        let expected = (expected_size, expected_root);
        match self {
            Store::Sqlite(s) => sqlite::append(s, log, expected, entries, tiles, head).await,
            Store::Postgres(pool) => {
                postgres::append(pool, log, expected, entries, tiles, head).await
            }
        }
    }

    /// The stored contents of `ids`; absent tiles are absent from the map.
    pub async fn tiles(
        &self,
        log: &str,
        ids: &[TileId],
    ) -> Result<HashMap<TileId, Vec<Hash>>, StoreError> {
        let raw = match self {
            Store::Sqlite(s) => sqlite::tiles(&s.pool, log, ids).await?,
            Store::Postgres(pool) => postgres::tiles(pool, log, ids).await?,
        };
        raw.into_iter()
            .map(|(id, bytes)| Ok((id, split_hashes(&bytes)?)))
            .collect()
    }

    /// Entries `[start, end)`, in order (fewer if the log is shorter).
    pub async fn entries(
        &self,
        log: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        match self {
            Store::Sqlite(s) => sqlite::entries(&s.pool, log, start, end).await,
            Store::Postgres(pool) => postgres::entries(pool, log, start, end).await,
        }
    }

    /// The lowest index of each of `hashes` that is stored; hashes not stored are absent.
    pub async fn indices_of(
        &self,
        log: &str,
        hashes: &[Hash],
    ) -> Result<HashMap<Hash, u64>, StoreError> {
        match self {
            Store::Sqlite(s) => sqlite::indices_of(s, log, hashes).await,
            Store::Postgres(pool) => postgres::indices_of(pool, log, hashes).await,
        }
    }

    /// Waits until every entry this process appended is in the leaf-hash index file (SQLite);
    /// lookups never need this, benchmarks that time the indexer's work do.
    pub async fn settle_index(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => sqlite::settle_index(s).await,
            Store::Postgres(_) => Ok(()),
        }
    }

    /// Merges the SQLite leaf-hash index file's recent rows into its main table once a log has
    /// `rows` of them (normally about a million), so that tests see merges on small logs.
    #[doc(hidden)]
    pub fn set_index_merge_at(&self, rows: u64) {
        if let Store::Sqlite(s) = self {
            sqlite::set_index_merge_at(s, rows);
        }
    }

    /// Records certificates that logged chains reference, keyed by SHA-256 of their DER.
    pub async fn put_issuers(&self, certs: &[(Hash, Vec<u8>)]) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => sqlite::put_issuers(&s.pool, certs).await,
            Store::Postgres(pool) => postgres::put_issuers(pool, certs).await,
        }
    }

    /// The DER of the issuer with this fingerprint.
    pub async fn issuer(&self, fingerprint: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Sqlite(s) => sqlite::issuer(&s.pool, fingerprint).await,
            Store::Postgres(pool) => postgres::issuer(pool, fingerprint).await,
        }
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => sqlx::query("SELECT 1").execute(&s.pool).await.map(|_| ())?,
            Store::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?,
        }
        Ok(())
    }
}

fn split_hashes(bytes: &[u8]) -> Result<Vec<Hash>, StoreError> {
    if !bytes.len().is_multiple_of(32) {
        return Err(StoreError::Corrupt(
            "a tile is not a whole number of hashes".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| c.try_into().expect("chunks_exact yields 32 bytes"))
        .collect())
}

fn join_hashes(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

fn to_hash(bytes: Vec<u8>) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a stored hash is not 32 bytes".into()))
}

/// Rows per multi-row INSERT on SQLite; stays below its bind-parameter limit. (PostgreSQL binds
/// a batch as arrays, one parameter per column.)
const INSERT_CHUNK: usize = 1000;

/// Whether a multi-row statement of `rows` rows is worth keeping prepared. Only full chunks
/// repeat; every other length is new SQL, which sqlx would otherwise keep prepared (up to 100
/// statements per connection) for the life of the connection, one per batch length seen.
fn reusable(rows: usize) -> bool {
    rows == INSERT_CHUNK
}
