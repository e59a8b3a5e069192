//! Liveness, readiness and Prometheus metrics (no API key needed).

use actix_web::{get, web, HttpResponse};

use crate::api::AppState;

/// Liveness: the process answers.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the model set is loaded (verified at start) and the audit store answers.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let store_ok = web::block(move || store.count().is_ok())
        .await
        .unwrap_or(false);
    let body = serde_json::json!({
        "status": if store_ok { "ready" } else { "not_ready" },
        "model_set": {"id": state.models.set_manifest().id, "version": state.models.set_manifest().version},
        "audit_store": if store_ok { "ok" } else { "unavailable" },
    });
    if store_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text format: requests by route and status, latency histogram, assessments by outcome.
#[get("/metrics")]
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::render_metrics())
}
