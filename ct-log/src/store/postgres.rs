//! The PostgreSQL backend: durable when the transaction commits; several processes may share it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use super::{
    INSERT_CHUNK, NewEntry, StoreError, StoredEntry, TreeHead, join_hashes, reusable, to_hash,
};
use crate::rfc6962::Hash;
use crate::tile::TileId;

pub(super) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
}

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
    expected_size: u64,
    entries: &[NewEntry<'_>],
    tiles: &BTreeMap<TileId, Vec<Hash>>,
    head: &TreeHead,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    // The compare-and-swap comes first: it locks the head row, so a concurrent writer waits
    // here, then finds the size changed and writes nothing.
    let swapped = sqlx::query(
        "UPDATE tree_heads SET size = $1, root = $2, timestamp = $3, signature = $4, note = $5 \
         WHERE log = $6 AND size = $7",
    )
    .bind(head.size as i64)
    .bind(&head.root[..])
    .bind(head.timestamp_ms as i64)
    .bind(&head.signature)
    .bind(&head.note)
    .bind(log)
    .bind(expected_size as i64)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if swapped != 1 {
        tx.rollback().await?;
        return Err(StoreError::Conflict);
    }
    for (n, chunk) in entries.chunks(INSERT_CHUNK).enumerate() {
        let first = expected_size + (n * INSERT_CHUNK) as u64;
        let mut insert: QueryBuilder<Postgres> =
            QueryBuilder::new("INSERT INTO entries (log, idx, leaf_hash, leaf_input, extra) ");
        insert.push_values(chunk.iter().enumerate(), |mut row, (i, e)| {
            row.push_bind(log)
                .push_bind((first + i as u64) as i64)
                .push_bind(&e.leaf_hash[..])
                .push_bind(e.leaf_input)
                .push_bind(e.extra);
        });
        let reuse = reusable(chunk.len());
        insert.build().persistent(reuse).execute(&mut *tx).await?;
    }
    let tiles: Vec<(&TileId, Vec<u8>)> = tiles.iter().map(|(id, h)| (id, join_hashes(h))).collect();
    for chunk in tiles.chunks(INSERT_CHUNK) {
        let mut upsert: QueryBuilder<Postgres> =
            QueryBuilder::new("INSERT INTO tiles (log, level, idx, hashes) ");
        upsert.push_values(chunk, |mut row, (id, bytes)| {
            row.push_bind(log)
                .push_bind(id.level as i16)
                .push_bind(id.index as i64)
                .push_bind(bytes);
        });
        upsert.push(" ON CONFLICT (log, level, idx) DO UPDATE SET hashes = excluded.hashes");
        let reuse = reusable(chunk.len());
        upsert.build().persistent(reuse).execute(&mut *tx).await?;
    }
    tx.commit().await?;
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
