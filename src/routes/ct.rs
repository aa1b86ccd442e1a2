//! The CT log over HTTP: RFC 6962 under `/ct/v1/`, the Static CT read API under `/ct/static/`.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use sigil_ctlog::ct::Logged;
use sigil_ctlog::log::LogError;
use sigil_ctlog::rfc6962::{Hash, Sct};
use sigil_ctlog::tile::{self, TileId};

use super::{decode_base64, parse_json, read_body};
use crate::error::ApiError;
use crate::startup::AppState;

/// RFC 6962 caps one `get-entries` page at this many entries (as CTFE does).
const MAX_ENTRIES_PER_PAGE: u64 = 1000;
/// Largest `add-chain` body: a handful of certificates in base64.
const MAX_SUBMISSION_BYTES: usize = 512 * 1024;

/// Registers the CT routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ct/v1/add-chain", web::post().to(add_chain))
        .route("/ct/v1/add-pre-chain", web::post().to(add_pre_chain))
        .route("/ct/v1/get-sth", web::get().to(get_sth))
        .route(
            "/ct/v1/get-sth-consistency",
            web::get().to(get_sth_consistency),
        )
        .route("/ct/v1/get-proof-by-hash", web::get().to(get_proof_by_hash))
        .route("/ct/v1/get-entries", web::get().to(get_entries))
        .route("/ct/v1/get-roots", web::get().to(get_roots))
        .route(
            "/ct/v1/get-entry-and-proof",
            web::get().to(get_entry_and_proof),
        )
        .route("/ct/static/checkpoint", web::get().to(checkpoint))
        .route("/ct/static/issuer/{fingerprint}", web::get().to(issuer))
        .route("/ct/static/tile/{path:.*}", web::get().to(tile));
}

/// The JSON `AddChainResponse` of an SCT (RFC 6962 §4.1), also Fulcio's detached SCT form.
pub fn add_chain_response(sct: &Sct) -> Value {
    json!({
        "sct_version": 0,
        "id": STANDARD.encode(sct.log_id),
        "timestamp": sct.timestamp_ms,
        "extensions": STANDARD.encode(&sct.extensions),
        "signature": STANDARD.encode(&sct.signature),
    })
}

#[derive(Deserialize)]
struct ChainRequest {
    chain: Vec<String>,
}

async fn chain_body(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Vec<Vec<u8>>, ApiError> {
    let limit = state.config.server.max_body_bytes.min(MAX_SUBMISSION_BYTES);
    let body = read_body(req, payload, state, limit).await?;
    parse_chain_request(&body)
}

/// The DER certificates of an `add-chain` or `add-pre-chain` body, leaf first.
pub fn parse_chain_request(body: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let request: ChainRequest = parse_json(body)?;
    request
        .chain
        .iter()
        .enumerate()
        .map(|(i, c)| decode_base64(&format!("chain[{i}]"), c))
        .collect()
}

async fn add_chain(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let chain = chain_body(&req, payload, &state).await?;
    let logged = state.ct.add_chain(&chain).await?;
    audit("add-chain", &logged);
    Ok(HttpResponse::Ok().json(add_chain_response(&logged.sct)))
}

async fn add_pre_chain(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let chain = chain_body(&req, payload, &state).await?;
    let logged = state.ct.add_pre_chain(&chain).await?;
    audit("add-pre-chain", &logged);
    Ok(HttpResponse::Ok().json(add_chain_response(&logged.sct)))
}

/// One JSON audit line per CT submission from outside: which endpoint, which log entry.
fn audit(endpoint: &'static str, logged: &Logged) {
    tracing::info!(
        target: "sigil::audit",
        event = "log_entry_created",
        log = "ct",
        endpoint,
        index = logged.index,
        timestamp_ms = logged.sct.timestamp_ms,
    );
}

async fn get_sth(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let head = state.ct.head().await?;
    Ok(HttpResponse::Ok().json(json!({
        "tree_size": head.size,
        "timestamp": head.timestamp_ms,
        "sha256_root_hash": STANDARD.encode(head.root),
        "tree_head_signature": STANDARD.encode(&head.signature),
    })))
}

fn hashes(path: &[Hash]) -> Vec<String> {
    path.iter().map(|h| STANDARD.encode(h)).collect()
}

/// Proofs never change: cache them for a day, as CTFE does.
fn immutable_json(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=86400"))
        .json(body)
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    first: u64,
    second: u64,
}

async fn get_sth_consistency(
    state: web::Data<AppState>,
    q: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let proof = state.ct.log().consistency_proof(q.first, q.second).await?;
    Ok(immutable_json(json!({ "consistency": hashes(&proof) })))
}

#[derive(Deserialize)]
struct ProofByHashQuery {
    hash: String,
    tree_size: u64,
}

async fn get_proof_by_hash(
    state: web::Data<AppState>,
    q: web::Query<ProofByHashQuery>,
) -> Result<HttpResponse, ApiError> {
    let hash: Hash = decode_base64("hash", &q.hash)?
        .try_into()
        .map_err(|_| ApiError::BadRequest("`hash` must be a 32-byte SHA-256 leaf hash".into()))?;
    let head = state.ct.head().await?;
    if q.tree_size == 0 || q.tree_size > head.size {
        return Err(ApiError::BadRequest(format!(
            "tree_size must be between 1 and {}",
            head.size
        )));
    }
    let index = state.ct.log().index_of(&hash, q.tree_size).await?;
    let proof = state.ct.log().inclusion_proof(index, q.tree_size).await?;
    Ok(immutable_json(
        json!({ "leaf_index": index, "audit_path": hashes(&proof) }),
    ))
}

#[derive(Deserialize)]
struct EntriesQuery {
    start: u64,
    end: u64,
}

/// Inclusive `[start, end]`; `end` is clamped to the tree and to one page, never refused for
/// being past the tree (certspotter asks for `start + 999`).
async fn get_entries(
    state: web::Data<AppState>,
    q: web::Query<EntriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let size = state.ct.head().await?.size;
    if q.start > q.end {
        return Err(ApiError::BadRequest(
            "start must not be greater than end".into(),
        ));
    }
    if q.start >= size {
        return Err(ApiError::BadRequest(format!(
            "start must be below the tree size {size}"
        )));
    }
    let end = q.end.min(size - 1).min(q.start + MAX_ENTRIES_PER_PAGE - 1);
    let entries = state.ct.entries(q.start, end + 1).await?;
    let full_page = end + 1 - q.start == MAX_ENTRIES_PER_PAGE;
    let body = json!({
        "entries": entries.iter().map(|e| json!({
            "leaf_input": STANDARD.encode(&e.leaf_input),
            "extra_data": STANDARD.encode(&e.extra_data),
        })).collect::<Vec<_>>(),
    });
    Ok(HttpResponse::Ok()
        .insert_header((
            CACHE_CONTROL,
            if full_page {
                "public, max-age=86400"
            } else {
                "public, max-age=60"
            },
        ))
        .json(body))
}

async fn get_roots(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let roots: Vec<String> = state
        .ct
        .roots()
        .iter()
        .map(|r| STANDARD.encode(r))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "certificates": roots })))
}

#[derive(Deserialize)]
struct EntryAndProofQuery {
    leaf_index: u64,
    tree_size: u64,
}

async fn get_entry_and_proof(
    state: web::Data<AppState>,
    q: web::Query<EntryAndProofQuery>,
) -> Result<HttpResponse, ApiError> {
    let proof = state
        .ct
        .log()
        .inclusion_proof(q.leaf_index, q.tree_size)
        .await?;
    let entry = state
        .ct
        .entries(q.leaf_index, q.leaf_index + 1)
        .await?
        .pop()
        .ok_or(ApiError::Log(LogError::NotFound))?;
    Ok(immutable_json(json!({
        "leaf_input": STANDARD.encode(&entry.leaf_input),
        "extra_data": STANDARD.encode(&entry.extra_data),
        "audit_path": hashes(&proof),
    })))
}

/// The signed checkpoint: mutable, so cached for a second at most.
async fn checkpoint(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let head = state.ct.head().await?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-cache, max-age=1"))
        .body(head.note))
}

async fn issuer(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let fingerprint: Hash = parse_hex(&path).ok_or_else(|| {
        ApiError::NotFound(format!("issuer {path}: expected 64 lowercase hex digits"))
    })?;
    let der = state
        .ct
        .issuer(&fingerprint)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("issuer {path}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/pkix-cert"))
        .insert_header((CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(der))
}

/// Hash tiles `tile/<L>/<N>[.p/<W>]` and data tiles `tile/data/<N>[.p/<W>]`. Full tiles never
/// change and are cached for a year; partial ones briefly.
async fn tile(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("tile/{path}"));
    let (level, index, width) = tile::parse_tile_path(&path).ok_or_else(not_found)?;
    let body = match level {
        Some(level) => state.ct.log().tile(TileId { level, index }, width).await?,
        None => state.ct.data_tile(index, width).await?,
    }
    .ok_or_else(not_found)?;
    let cache = if width.is_none() {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=60"
    };
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((CACHE_CONTROL, cache))
        .body(body))
}

fn parse_hex(s: &str) -> Option<Hash> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let bytes: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}
