//! The HTTP layer (actix-web): routing, request ids, access logs, API keys and problem+json.
//! Handlers translate HTTP to the service and back; the clinical logic lives in `service`.

pub mod auth;
pub mod body;
pub mod dto;
pub mod error;
pub mod error_map;
pub mod openapi;
pub mod routes;
pub mod web;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::audit::AuditStore;
use crate::rules::registry::RuleRegistry;
use crate::service::rule_evaluation::RuleEvaluation;
use crate::service::Assessor;

/// Shared, immutable state of a running server.
pub struct AppState {
    pub store: Arc<dyn AuditStore>,
    /// Rule-set versions and the active one (changed only through the rules API).
    pub rules: Arc<RuleRegistry>,
    /// Model-set activations; the set that answers is `assessor.models()`.
    pub model_sets: Arc<crate::service::model_sets::ModelSetRegistry>,
    /// The assessment use case (every assessing endpoint calls it). The set that answers is
    /// `assessor.models()`, which a model-set activation replaces: read it there, at each call.
    pub assessor: Arc<Assessor>,
    /// Rule evaluation and back-tests over the same path.
    pub rule_evaluation: RuleEvaluation,
    pub keys: auth::KeyRing,
    /// Bounds the CPU work admitted at once (assessments); a full queue answers 503.
    pub capacity: Arc<Semaphore>,
    pub max_body_bytes: usize,
    /// Body limit of the batch endpoint.
    pub max_batch_body_bytes: usize,
    /// CDS Hooks: client authentication, the FHIR mapping, the public URL.
    pub cds: routes::cds_hooks::CdsState,
    /// `GET /v1/quality/performance`: groups smaller than this are suppressed.
    pub quality_min_group_size: usize,
}

/// The request id of this request (set by [`request_id`]).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The request id, for problem bodies and audit records.
pub fn request_id_of(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

/// Middleware: gives each request an id (`x-request-id` response header), runs the request inside
/// a `request` span carrying that id (so every log line of the request has it, 5xx causes
/// included; work moved to the blocking pool enters the same span, see [`in_request_span`]) and
/// writes one structured access-log line (method, route pattern, status, latency), never bodies
/// or values. The id is periop's own (it is the problem's `instance`), so this is a few lines
/// over `tracing` rather than a second request-id scheme from tracing-actix-web.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = format!("req_{}", uuid::Uuid::new_v4().simple());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16();
    crate::telemetry::record_request(&route, status, started.elapsed());
    span.in_scope(|| {
        tracing::info!(%method, %route, status, latency_us = started.elapsed().as_micros() as u64, "request");
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// Runs blocking work that needs no admission permit (store reads, compiling a rule document) on
/// actix's blocking pool, inside the request's span; its problems carry the request id.
///
/// # Errors
/// The job's own error, or an internal error if the pool fails.
pub async fn blocking<T: Send + 'static>(
    rid: Option<String>,
    job: impl FnOnce() -> Result<T, error::ApiError> + Send + 'static,
) -> Result<T, error::ApiError> {
    actix_web::web::block(in_request_span(job))
        .await
        .map_err(|e| error::ApiError::internal(&e).with_request_id(rid.clone()))?
        .map_err(|e| e.with_request_id(rid))
}

/// Wraps blocking-pool work so its log lines carry the calling request's span (its id).
pub fn in_request_span<T>(job: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let span = tracing::Span::current();
    move || span.in_scope(job)
}

/// Registers every route, `/openapi.json`, the `/docs` page and the web page (`/`, `/app/…`).
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    openapi::configure(cfg);
    web::configure(cfg);
    let mut documented = utoipa_actix_web::service_config::ServiceConfig::new(cfg);
    routes::configure(&mut documented);
}
