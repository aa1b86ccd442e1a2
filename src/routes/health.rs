//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the CA key passed its self-test (the server does not start otherwise), the
/// database answers, and the sequencer is advancing. 503 with the failing check otherwise.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = match state.ct.log().store().ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("unreachable: {e}"),
    };
    // The sequencer wakes every `log.sequence_interval`; a commit stuck on the database
    // stops it from waking.
    let stale_after =
        (state.config.log.sequence_interval * 20).max(std::time::Duration::from_secs(2));
    let mut sequencer = "ok".to_owned();
    for log in [state.ct.log(), state.rekor.log()] {
        let since_tick = sigil_ctlog::log::now_ms().saturating_sub(log.last_tick_ms());
        if since_tick > stale_after.as_millis() as u64 {
            sequencer = format!("log `{}` stalled for {since_tick} ms", log.name());
        }
    }
    let ready = database == "ok" && sequencer == "ok";
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": {"ca": "ok", "database": database, "sequencer": sequencer, "issuers": state.auth.issuers().len()},
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(body)
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    for log in [state.ct.log(), state.rekor.log()] {
        state
            .metrics
            .log_pool_depth
            .with_label_values(&[log.name()])
            .set(log.pending() as i64);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
