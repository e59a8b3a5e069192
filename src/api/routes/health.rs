//! Liveness, readiness and Prometheus metrics (no API key needed).

use actix_web::{get, web, HttpResponse};

use crate::api::AppState;

/// Liveness: the process answers.
///
/// Always 200 while the server runs; no API key.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Alive", body = crate::api::dto::HealthDto, content_type = "application/json",
            example = json!({"status": "ok"})),
    ),
    security(())
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the model set is loaded and the audit store answers.
///
/// 200 when the (verified) model set is loaded and the audit store answers, else 503 with the
/// same body shape (not problem+json: load balancers read the status). No API key.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = crate::api::dto::ReadyDto, content_type = "application/json",
            example = json!(crate::api::dto::examples::ready())),
        (status = 503, description = "Not ready: the audit store does not answer", body = crate::api::dto::ReadyDto, content_type = "application/json",
            example = json!(crate::api::dto::examples::not_ready())),
    ),
    security(())
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let store_ok = web::block(crate::api::in_request_span(move || store.head().is_ok()))
        .await
        .unwrap_or(false);
    let body = serde_json::json!({
        "status": if store_ok { "ready" } else { "not_ready" },
        "model_set": {"id": state.assessor.models().set_manifest().id, "version": state.assessor.models().set_manifest().version},
        "audit_store": if store_ok { "ok" } else { "unavailable" },
    });
    if store_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics.
///
/// Text exposition format 0.0.4: requests by route and status, a latency histogram, and
/// assessments by outcome and status. No API key.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Metrics in Prometheus text format", body = String, content_type = "text/plain; version=0.0.4",
            example = "# TYPE periop_http_requests_total counter\nperiop_http_requests_total{route=\"/v1/assessments\",status=\"201\"} 42\n"),
    ),
    security(())
)]
#[get("/metrics")]
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::render_metrics())
}
