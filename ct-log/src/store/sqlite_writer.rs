//! The SQLite log's appends: one connection on a thread of its own, a batch per message.
//!
//! sqlx runs each SQLite connection on a driver thread and sends it one message per statement,
//! so a batch (begin, swap, entries, tiles, commit) was five round trips between the sequencer
//! and that thread, each two thread wake-ups. On a virtual machine those wake-ups cost more CPU
//! than the statements themselves: about 550 µs per commit, against one thread hop each way
//! here. The statements are prepared once for the life of the connection, where sqlx parsed
//! each batch's multi-row INSERT anew for every batch length.
//!
//! Batches are written in the order they are sent, so the leaf-hash index hears of them in
//! that order too (it is told here, on this thread, before the batch is answered).

use std::sync::Arc;
use std::sync::mpsc;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::hash_index::HashIndex;
use super::sqlite::{BUSY_TIMEOUT, connection_pragmas};
use super::{NewEntry, StoreError, TreeHead};
use crate::rfc6962::Hash;
use crate::tile::TileId;

/// The sending end of the writer thread; the thread ends when the last one is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    batches: mpsc::Sender<Batch>,
}

/// One append, owned, so that it can cross to the writer thread.
struct Batch {
    log: String,
    expected_size: u64,
    expected_root: Hash,
    entries: Vec<(Hash, Vec<u8>, Vec<u8>)>,
    tiles: Vec<(TileId, Vec<u8>)>,
    head: TreeHead,
    done: oneshot::Sender<Result<(), StoreError>>,
}

impl Writer {
    /// Starts the writer thread for the database at `path`, which `sqlite::connect` has
    /// created, migrated and switched to WAL.
    pub(super) fn start(path: &str, hashes: Arc<HashIndex>) -> std::io::Result<Writer> {
        let (batches, received) = mpsc::channel();
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("sigil-log-writer".into())
            .spawn(move || run(&path, received, &hashes))?;
        Ok(Writer { batches })
    }

    /// Appends a batch (see [`super::Store::append`]) and waits until it is durable.
    pub(super) async fn append(
        &self,
        log: &str,
        (expected_size, expected_root): (u64, &Hash),
        entries: &[NewEntry<'_>],
        tiles: Vec<(TileId, Vec<u8>)>,
        head: &TreeHead,
    ) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        let batch = Batch {
            log: log.to_owned(),
            expected_size,
            expected_root: *expected_root,
            entries: entries
                .iter()
                .map(|e| (*e.leaf_hash, e.leaf_input.to_vec(), e.extra.to_vec()))
                .collect(),
            tiles,
            head: head.clone(),
            done,
        };
        let stopped = || StoreError::Database(sqlx::Error::WorkerCrashed);
        self.batches.send(batch).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer thread: writes each batch, tells the hash index of it, then answers it.
fn run(path: &str, batches: mpsc::Receiver<Batch>, hashes: &HashIndex) {
    let mut connection = open(path)
        .inspect_err(|e| tracing::warn!(error = %e, "opening the log writer's connection"))
        .ok();
    for (n, batch) in batches.into_iter().enumerate() {
        let written = match connection.as_mut() {
            Some(conn) => write(conn, &batch),
            None => open(path)
                .map_err(StoreError::from)
                .and_then(|conn| write(connection.insert(conn), &batch)),
        };
        match &written {
            Ok(()) => hashes.appended(
                &batch.log,
                batch.expected_size,
                batch.entries.iter().map(|(hash, _, _)| hash),
            ),
            Err(StoreError::Conflict) => {}
            // On SQLITE_FULL or an I/O error SQLite may have rolled the transaction back by
            // itself or left the connection unusable: the next batch opens a new one.
            Err(_) => connection = None,
        }
        let _ = batch.done.send(written);
        if (n + 1) % SHRINK_EVERY == 0
            && let Some(conn) = &connection
            && let Err(e) = conn.execute_batch("PRAGMA shrink_memory")
        {
            tracing::warn!(error = %e, "releasing the log writer's page cache");
        }
    }
}

/// Commits between releases of the writer connection's page cache. Under sustained appends
/// that cache grew past its `cache_size` (2 MiB) without bound: 24 MB after 20 s of P-256
/// issuance (heaptrack), and the process's resident memory by about 2 MiB per second. A release
/// every this many commits keeps it flat and costs one re-read of the B-trees' right edges
/// (from the kernel's cache) per release.
const SHRINK_EVERY: usize = 64;

/// Opens the writer's connection with the pool's settings (`sqlite::connection_pragmas`).
pub(super) fn open(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let pragmas: String = connection_pragmas()
        .iter()
        .map(|(name, value)| format!("PRAGMA {name} = {value};"))
        .collect();
    conn.execute_batch(&pragmas)?;
    Ok(conn)
}

/// One batch in one transaction. The compare-and-swap comes first, so that a lost race writes
/// nothing; `IMMEDIATE` takes the write lock at the start, where a deferred transaction would
/// take it at the swap and could fail there instead of waiting for it.
fn write(conn: &mut Connection, batch: &Batch) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let head = &batch.head;
    let swapped = tx
        .prepare_cached(
            "UPDATE tree_heads SET size = ?, root = ?, timestamp = ?, signature = ?, note = ? \
             WHERE log = ? AND size = ? AND root = ?",
        )?
        .execute(params![
            head.size as i64,
            &head.root[..],
            head.timestamp_ms as i64,
            &head.signature,
            &head.note,
            &batch.log,
            batch.expected_size as i64,
            &batch.expected_root[..],
        ])?;
    if swapped != 1 {
        // Dropping the transaction rolls it back.
        return Err(StoreError::Conflict);
    }
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO entries (log, idx, leaf_hash, leaf_input, extra) VALUES (?, ?, ?, ?, ?)",
        )?;
        for (n, (hash, leaf_input, extra)) in batch.entries.iter().enumerate() {
            let index = (batch.expected_size + n as u64) as i64;
            insert.execute(params![&batch.log, index, &hash[..], leaf_input, extra])?;
        }
        let mut upsert = tx.prepare_cached(
            "INSERT INTO tiles (log, level, idx, hashes) VALUES (?, ?, ?, ?) \
             ON CONFLICT (log, level, idx) DO UPDATE SET hashes = excluded.hashes",
        )?;
        for (id, hashes) in &batch.tiles {
            upsert.execute(params![
                &batch.log,
                id.level as i64,
                id.index as i64,
                hashes
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_writer_connection_commits_durably_in_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db").display().to_string();
        super::super::sqlite::connect(&path).await.unwrap();
        let conn = open(&path).unwrap();
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |row| {
                row.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
        };
        // 2 is FULL for `synchronous` and MEMORY for `temp_store`.
        assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
        assert_eq!(pragma("synchronous"), "Integer(2)");
        assert_eq!(pragma("temp_store"), "Integer(2)");
        assert_eq!(pragma("foreign_keys"), "Integer(1)");
        assert_eq!(pragma("wal_autocheckpoint"), "Integer(256)");
    }
}
