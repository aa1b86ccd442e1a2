//! The PostgreSQL backend: durable when the transaction commits; several processes may share it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool, Row};

use super::{NewEntry, StoreError, StoredEntry, TreeHead, join_hashes, to_hash};
use crate::rfc6962::Hash;
use crate::tile::TileId;

pub(super) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection it hands out, by default: a round trip, and a wake-up of
        // the database's process and of the driver's task, before each commit. A connection
        // that worked moments ago is used without one, as HikariCP does within its 500 ms
        // "alive bypass window"; one idle for longer is still checked. After a database
        // restart, only a request whose connection worked within that window can fail, as a
        // request in flight during the restart would have anyway.
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > TRUSTED_IDLE {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .connect(url)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
}

/// How long a pooled connection may have been idle and still be used without a ping first.
const TRUSTED_IDLE: Duration = Duration::from_millis(500);

pub(super) async fn init_log(pool: &PgPool, log: &str, empty: &TreeHead) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tree_heads (log, size, root, timestamp, signature, note) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (log) DO NOTHING",
    )
    .bind(log)
    .bind(empty.size as i64)
    .bind(&empty.root[..])
    .bind(empty.timestamp_ms as i64)
    .bind(&empty.signature)
    .bind(&empty.note)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn head(pool: &PgPool, log: &str) -> Result<TreeHead, StoreError> {
    let row =
        sqlx::query("SELECT size, root, timestamp, signature, note FROM tree_heads WHERE log = $1")
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
    pool: &PgPool,
    log: &str,
    (expected_size, expected_root): (u64, &Hash),
    entries: &[NewEntry<'_>],
    tiles: &BTreeMap<TileId, Vec<Hash>>,
    head: &TreeHead,
) -> Result<(), StoreError> {
    // One statement, so one round trip and PostgreSQL's implicit transaction: under load
    // each round trip waits for a backend to be scheduled, and BEGIN, the swap, two inserts
    // and COMMIT took five of them. The inserts join the swap's returned row, so they write
    // nothing unless it matched. A concurrent writer's swap waits on the head row's lock, then
    // finds the head changed and matches nothing.
    let indices: Vec<i64> = (0..entries.len())
        .map(|i| (expected_size + i as u64) as i64)
        .collect();
    let leaf_hashes: Vec<&[u8]> = entries.iter().map(|e| &e.leaf_hash[..]).collect();
    let leaf_inputs: Vec<&[u8]> = entries.iter().map(|e| e.leaf_input).collect();
    let extras: Vec<&[u8]> = entries.iter().map(|e| e.extra).collect();
    let tile_levels: Vec<i16> = tiles.keys().map(|id| id.level as i16).collect();
    let tile_indices: Vec<i64> = tiles.keys().map(|id| id.index as i64).collect();
    let tile_hashes: Vec<Vec<u8>> = tiles.values().map(|h| join_hashes(h)).collect();
    let swapped: i64 = sqlx::query_scalar(
        "WITH head AS ( \
             UPDATE tree_heads SET size = $1, root = $2, timestamp = $3, signature = $4, note = $5 \
             WHERE log = $6 AND size = $7 AND root = $8 RETURNING log), \
         appended AS ( \
             INSERT INTO entries (log, idx, leaf_hash, leaf_input, extra) \
             SELECT head.log, e.idx, e.leaf_hash, e.leaf_input, e.extra FROM head, \
                 unnest($9::bigint[], $10::bytea[], $11::bytea[], $12::bytea[]) \
                 AS e (idx, leaf_hash, leaf_input, extra)), \
         tiled AS ( \
             INSERT INTO tiles (log, level, idx, hashes) \
             SELECT head.log, t.level, t.idx, t.hashes FROM head, \
                 unnest($13::smallint[], $14::bigint[], $15::bytea[]) AS t (level, idx, hashes) \
             ON CONFLICT (log, level, idx) DO UPDATE SET hashes = excluded.hashes) \
         SELECT count(*) FROM head",
    )
    .bind(head.size as i64)
    .bind(&head.root[..])
    .bind(head.timestamp_ms as i64)
    .bind(&head.signature)
    .bind(&head.note)
    .bind(log)
    .bind(expected_size as i64)
    .bind(&expected_root[..])
    .bind(&indices)
    .bind(&leaf_hashes)
    .bind(&leaf_inputs)
    .bind(&extras)
    .bind(&tile_levels)
    .bind(&tile_indices)
    .bind(&tile_hashes)
    .fetch_one(pool)
    .await?;
    if swapped != 1 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

pub(super) async fn tiles(
    pool: &PgPool,
    log: &str,
    ids: &[TileId],
) -> Result<HashMap<TileId, Vec<u8>>, StoreError> {
    let mut found = HashMap::new();
    for id in ids {
        let row =
            sqlx::query("SELECT hashes FROM tiles WHERE log = $1 AND level = $2 AND idx = $3")
                .bind(log)
                .bind(id.level as i16)
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
    pool: &PgPool,
    log: &str,
    start: u64,
    end: u64,
) -> Result<Vec<StoredEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT idx, leaf_hash, leaf_input, extra FROM entries WHERE log = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
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

pub(super) async fn indices_of(
    pool: &PgPool,
    log: &str,
    hashes: &[Hash],
) -> Result<HashMap<Hash, u64>, StoreError> {
    let hashes: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
    let rows = sqlx::query(
        "SELECT leaf_hash, MIN(idx) FROM entries WHERE log = $1 AND leaf_hash = ANY($2) \
         GROUP BY leaf_hash",
    )
    .bind(log)
    .bind(&hashes)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| Ok((to_hash(row.get(0))?, row.get::<i64, _>(1) as u64)))
        .collect()
}

pub(super) async fn put_issuers(
    pool: &PgPool,
    certs: &[(Hash, Vec<u8>)],
) -> Result<(), StoreError> {
    for (fingerprint, der) in certs {
        sqlx::query("INSERT INTO issuers (fingerprint, der) VALUES ($1, $2) ON CONFLICT (fingerprint) DO NOTHING")
            .bind(&fingerprint[..])
            .bind(der)
            .execute(pool)
            .await?;
    }
    Ok(())
}

pub(super) async fn issuer(
    pool: &PgPool,
    fingerprint: &Hash,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = sqlx::query("SELECT der FROM issuers WHERE fingerprint = $1")
        .bind(&fingerprint[..])
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.get(0)))
}
