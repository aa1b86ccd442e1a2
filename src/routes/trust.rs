//! `/.well-known/sigstore/…`: the trust documents of this deployment.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};

use crate::startup::AppState;

/// Registers the trust routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/sigstore/trusted_root.json",
        web::get().to(trusted_root),
    )
    .route(
        "/.well-known/sigstore/signing_config.v0.2.json",
        web::get().to(signing_config),
    )
    .route(
        "/.well-known/sigstore/client_trust_config.json",
        web::get().to(client_trust_config),
    );
}

fn document(body: &serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .json(body)
}

async fn trusted_root(state: web::Data<AppState>) -> HttpResponse {
    document(&state.trust.trusted_root)
}

async fn signing_config(state: web::Data<AppState>) -> HttpResponse {
    document(&state.trust.signing_config)
}

async fn client_trust_config(state: web::Data<AppState>) -> HttpResponse {
    document(&state.trust.client_trust_config)
}
