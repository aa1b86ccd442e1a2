//! HTTP handlers and the route table. Handlers parse requests into typed values, call the
//! domain code, and shape responses; they hold no SQL and no crypto.

pub mod ct;
mod fulcio_info;
mod health;
mod rekor;
mod signing_cert;
mod trust;

use actix_web::{HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use futures_util::StreamExt;

use crate::error::ApiError;
use crate::startup::AppState;

/// Registers every route of the public API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v2/signingCert",
        web::post().to(signing_cert::create_v2),
    )
    .route(
        "/api/v1/signingCert",
        web::post().to(signing_cert::create_v1),
    )
    .route(
        "/api/v2/trustBundle",
        web::get().to(fulcio_info::trust_bundle),
    )
    .route(
        "/api/v2/configuration",
        web::get().to(fulcio_info::configuration),
    )
    .route("/api/v1/rootCert", web::get().to(fulcio_info::root_cert))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/metrics", web::get().to(health::metrics))
    .configure(ct::configure)
    .configure(rekor::configure)
    .configure(trust::configure);
}

/// The answer for any path or method that is not routed.
pub async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

/// Reads the whole body, refusing more than `limit` bytes before buffering them, and a client
/// that trickles it slower than `limits.request_timeout` allows.
pub async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let timeout = state.config.limits.request_timeout;
    tokio::time::timeout(timeout, read_body_within(req, payload, limit))
        .await
        .map_err(|_| ApiError::RequestTimeout(timeout))?
}

async fn read_body_within(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a JSON body into `T`, naming what was wrong.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the request body is not valid JSON for this endpoint: {e}"
        ))
    })
}

/// Decodes a protobuf `bytes` field: standard base64, padded or not; URL-safe is accepted too,
/// as Go's protojson does.
pub fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    let value = value.trim();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(value).ok())
        .ok_or_else(|| ApiError::BadRequest(format!("`{field}` is not valid base64")))
}

/// The token of an `Authorization: Bearer` header, if one was sent.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
