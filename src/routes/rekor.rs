//! The Rekor v1 API (`/api/v1/log…`) over the Rekor-compatible log.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{parse_json, read_body};
use crate::ca::hex;
use crate::error::ApiError;
use crate::rekor::LogEntry;
use crate::startup::AppState;

/// Most entries one `retrieve` call may ask for.
const MAX_RETRIEVE: usize = 100;

/// Registers the Rekor routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/log/entries", web::post().to(create_entry))
        .route("/api/v1/log/entries", web::get().to(entry_by_index))
        .route("/api/v1/log/entries/retrieve", web::post().to(retrieve))
        .route("/api/v1/log/entries/{uuid}", web::get().to(entry_by_uuid))
        .route("/api/v1/log", web::get().to(log_info))
        .route("/api/v1/log/proof", web::get().to(consistency))
        .route("/api/v1/log/publicKey", web::get().to(public_key));
}

/// `{uuid: LogEntry}` as Rekor answers it, with the SET and an inclusion proof.
fn entry_json(state: &AppState, entry: &LogEntry) -> Result<Value, ApiError> {
    let body = STANDARD.encode(&entry.body);
    let set = state.rekor.signed_entry_timestamp(entry, &body)?;
    let mut map = Map::new();
    map.insert(
        entry.uuid.clone(),
        json!({
            "body": body,
            "integratedTime": entry.integrated_time,
            "logID": state.rekor.log_id_hex(),
            "logIndex": entry.index,
            "verification": {
                "signedEntryTimestamp": STANDARD.encode(set),
                "inclusionProof": {
                    "logIndex": entry.index,
                    "treeSize": entry.head.size,
                    "rootHash": hex(&entry.head.root),
                    "hashes": entry.proof.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                    "checkpoint": entry.head.note,
                },
            },
        }),
    );
    Ok(Value::Object(map))
}

async fn create_entry(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state, state.config.server.max_body_bytes).await?;
    let entry = state.rekor.add(&body).await?;
    // One JSON audit line per log entry, as per certificate: what, where. Never the body.
    tracing::info!(
        target: "sigil::audit",
        event = "log_entry_created",
        log = "rekor",
        uuid = %entry.uuid,
        index = entry.index,
        integrated_time = entry.integrated_time,
    );
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/log/entries/{}", entry.uuid)))
        .json(entry_json(&state, &entry)?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexQuery {
    log_index: u64,
}

async fn entry_by_index(
    state: web::Data<AppState>,
    q: web::Query<IndexQuery>,
) -> Result<HttpResponse, ApiError> {
    let entry = state.rekor.by_index(q.log_index).await?;
    Ok(HttpResponse::Ok().json(entry_json(&state, &entry)?))
}

async fn entry_by_uuid(
    state: web::Data<AppState>,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let entry = state.rekor.by_uuid(&uuid).await?;
    Ok(HttpResponse::Ok().json(entry_json(&state, &entry)?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetrieveRequest {
    // Rekor spells it `entryUUIDs`, which camelCase would not produce.
    #[serde(default, rename = "entryUUIDs")]
    entry_uuids: Vec<String>,
    #[serde(default)]
    log_indexes: Vec<u64>,
}

/// `POST /api/v1/log/entries/retrieve`: entries by UUID (the hex leaf hash, optionally with a
/// tree-ID prefix) and by index; unknown ones are left out, as Rekor does.
async fn retrieve(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state, state.config.server.max_body_bytes).await?;
    let request: RetrieveRequest = parse_json(&body)?;
    if request.entry_uuids.len() + request.log_indexes.len() > MAX_RETRIEVE {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_RETRIEVE} entries per request"
        )));
    }
    let mut found = Vec::new();
    for uuid in &request.entry_uuids {
        match state.rekor.by_uuid(uuid).await {
            Ok(entry) => found.push(entry_json(&state, &entry)?),
            Err(crate::rekor::RekorError::Log(sigil_ctlog::log::LogError::NotFound)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for index in &request.log_indexes {
        match state.rekor.by_index(*index).await {
            Ok(entry) => found.push(entry_json(&state, &entry)?),
            Err(crate::rekor::RekorError::Log(sigil_ctlog::log::LogError::NotFound)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(HttpResponse::Ok().json(found))
}

/// The one tree this log serves; Rekor's sharded instances have several.
const TREE_ID: &str = "0";

/// Rekor's `treeID` parameter: absent, or this log's tree.
#[derive(Deserialize)]
struct TreeQuery {
    #[serde(default, rename = "treeID")]
    tree_id: Option<String>,
}

impl TreeQuery {
    fn check(&self) -> Result<(), ApiError> {
        match self.tree_id.as_deref() {
            None | Some(TREE_ID) => Ok(()),
            Some(other) => Err(ApiError::BadRequest(format!(
                "unknown treeID `{other}`: this log has one tree, {TREE_ID}"
            ))),
        }
    }
}

#[derive(Deserialize)]
struct LogInfoQuery {
    /// Rekor's `stable` flag, parsed only to refuse nonsense: every checkpoint sigil serves
    /// is stable.
    #[serde(default, rename = "stable")]
    _stable: Option<bool>,
}

async fn log_info(
    state: web::Data<AppState>,
    _q: web::Query<LogInfoQuery>,
) -> Result<HttpResponse, ApiError> {
    let head = state.rekor.log().head().await?;
    Ok(HttpResponse::Ok().json(json!({
        "rootHash": hex(&head.root),
        "treeSize": head.size,
        "signedTreeHead": head.note,
        "treeID": TREE_ID,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofQuery {
    #[serde(default)]
    first_size: u64,
    last_size: u64,
    #[serde(flatten)]
    tree: TreeQuery,
}

async fn consistency(
    state: web::Data<AppState>,
    q: web::Query<ProofQuery>,
) -> Result<HttpResponse, ApiError> {
    q.tree.check()?;
    let log = state.rekor.log();
    let hashes = log.consistency_proof(q.first_size, q.last_size).await?;
    let root = log.root_at(q.last_size).await?;
    Ok(HttpResponse::Ok().json(json!({
        "rootHash": hex(&root),
        "hashes": hashes.iter().map(|h| hex(h)).collect::<Vec<_>>(),
    })))
}

async fn public_key(
    state: web::Data<AppState>,
    q: web::Query<TreeQuery>,
) -> Result<HttpResponse, ApiError> {
    q.check()?;
    let pem = state
        .rekor
        .key()
        .public_pem()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(pem))
}
