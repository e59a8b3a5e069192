//! CDS Hooks 2.0 over HTTP: `GET /cds-services` (discovery) and `POST /cds-services/{id}` (a hook
//! call answered with cards). Every request carries the EHR's signed JWT (`ehr::jwt`), checked
//! against the configured issuers with the audience `<public_url>/cds-services[/<id>]`; errors of
//! the hook call itself are FHIR OperationOutcomes (CDS Hooks 3.0 asks for them; 2.0 allows any
//! body), token rejections are problem+json. The translation lives in `ehr::cds`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::api::error::{ApiError, Code, Problem, QueuedServerErrors, ServerErrors};
use crate::api::routes::fhir_assessments::{outcome_response, NO_MAPPING};
use crate::api::{body, request_id_of, AppState};
use crate::ehr::cds::call::{answer_hook, CallContext, CdsError};
use crate::ehr::cds::fetch::FhirFetcher;
use crate::ehr::cds::services::{discovery, hook_of, prefetch};
use crate::ehr::cds::types::HookRequest;
use crate::ehr::fhir_out::outcome::{Issue, IssueType};
use crate::ehr::jwt::{CdsAuthenticator, JwtError};
use crate::ehr::mapping::{FhirMapping, SetMappings};
use crate::service::Caller;

/// What the CDS Hooks endpoints need.
pub struct CdsState {
    /// `None` when no client is configured (every call refused) or in development mode.
    pub authenticator: Option<CdsAuthenticator>,
    /// Accept calls without a JWT (explicit setting, logged at start).
    pub development_mode: bool,
    /// The FHIR mapping of each answering model set (a set that ships none, or an invalid one:
    /// calls answer 503).
    pub mappings: SetMappings,
    /// periop's public base URL, without a trailing slash.
    pub public_url: String,
    /// Reads what the prefetch lacks from allow-listed FHIR servers (`cds_fhir_servers`).
    pub fetcher: FhirFetcher,
}

/// A FHIR OperationOutcome response with one issue about the request as a whole.
fn operation_outcome(status: StatusCode, code: IssueType, diagnostics: &str) -> HttpResponse {
    outcome_response(status, &[Issue::new(code, diagnostics, None)])
}

/// 404: no CDS service with this id.
fn unknown_service(service_id: &str) -> HttpResponse {
    operation_outcome(
        StatusCode::NOT_FOUND,
        IssueType::NotFound,
        &format!("no CDS service {service_id:?}; see GET /cds-services"),
    )
}

/// The FHIR mapping of the model set answering now, or the 503 OperationOutcome saying why there
/// is none (the set ships none, or its mapping does not validate). Looked up at each call, so a
/// model-set activation brings its own mapping without a restart.
///
/// # Errors
/// The 503 response to send (boxed: a response is large).
pub fn answering_mapping(state: &AppState) -> Result<Arc<FhirMapping>, Box<HttpResponse>> {
    let models = state.assessor.models();
    match state.cds.mappings.of(&models) {
        Ok(Some(mapping)) => Ok(mapping),
        Ok(None) => Err(Box::new(operation_outcome(
            StatusCode::SERVICE_UNAVAILABLE,
            IssueType::NotSupported,
            NO_MAPPING,
        ))),
        Err(e) => {
            tracing::error!(error = %e, "the answering model set's FHIR mapping is unusable");
            Err(Box::new(operation_outcome(
                StatusCode::SERVICE_UNAVAILABLE,
                IssueType::NotSupported,
                &e.to_string(),
            )))
        }
    }
}

/// Checks the request's CDS client JWT for `audience`; the client's `iss` (`None` in development
/// mode).
async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    audience: &str,
) -> Result<Option<String>, ApiError> {
    let rid = request_id_of(req);
    if state.cds.development_mode {
        return Ok(None);
    }
    let Some(authenticator) = &state.cds.authenticator else {
        return Err(ApiError::new(
            Code::CdsTokenRejected,
            "no CDS Hooks client is configured (setting cds_issuers)",
        )
        .with_request_id(rid));
    };
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    match authenticator.verify(header, audience, now).await {
        Ok(client) => Ok(Some(client.iss)),
        Err(e @ (JwtError::ReplayCacheFull { .. } | JwtError::JwksUnavailable { .. })) => Err(
            ApiError::new(Code::Overloaded, format!("{} ({})", e, e.code())).with_request_id(rid),
        ),
        Err(e) => Err(
            ApiError::new(Code::CdsTokenRejected, format!("{e} ({})", e.code()))
                .with_request_id(rid),
        ),
    }
}

fn caller_of(client: Option<&str>, request_id: &str) -> Caller {
    Caller {
        request_id: request_id.to_string(),
        key_id: client.map_or_else(|| "cds:development".to_string(), |iss| format!("cds:{iss}")),
    }
}

/// CDS Hooks discovery: the services periop offers.
///
/// One service per hook (`order-select`, `order-sign`, `appointment-book`, `patient-view`), each
/// with prefetch templates for every input the models use (`docs/ehr.md`). Requires the CDS
/// client's JWT (audience `<public_url>/cds-services`).
#[utoipa::path(
    tag = "cds-hooks",
    responses(
        (status = 200, description = "The CDS services (CDS Hooks 2.0 discovery document)", body = Object, content_type = "application/json", example = json!({"services": [{"hook": "order-select", "id": "periop-spine-risk-order-select", "title": "Spine surgery peri-operative risk", "description": "Predicts peri-operative risks for a planned spine surgery.", "prefetch": {"patient": "Patient/{{context.patientId}}"}}]})),
        (status = 401, description = "CDS client JWT missing or rejected (`cds_token_rejected`)", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer error=\"invalid_token\"`")), example = json!(crate::api::dto::examples::problem(Code::CdsTokenRejected, "token audience does not name this endpoint (wrong_audience)"))),
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/cds-services")]
pub async fn cds_discovery(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let audience = format!("{}/cds-services", state.cds.public_url);
    authenticate(&state, &req, &audience).await?;
    let mapping = match answering_mapping(&state) {
        Ok(mapping) => mapping,
        Err(response) => return Ok(*response),
    };
    let document = discovery(&mapping, &state.assessor.models().set_manifest().version);
    Ok(HttpResponse::Ok().json(document))
}

/// Call a CDS service: the hook's answer as one card.
///
/// The planned spine surgery comes from `context.draftOrders` (order hooks) or the
/// `planned_surgery` prefetch; a non-spine order answers `{"cards": []}`. The card carries every
/// applicable outcome against the average patient with its main contributors, the missing inputs
/// that would change the estimate most, suggested orders and the model versions; it is recorded
/// in the audit with the assessment (its uuid is the assessment id). Prefetch keys not supplied
/// are read from `fhirServer` with `fhirAuthorization` when that server is allow-listed
/// (`cds_fhir_servers`); required prefetch still absent: 412 with an OperationOutcome saying why.
#[utoipa::path(
    tag = "cds-hooks",
    params(("id" = String, Path, description = "CDS service id from discovery", example = "periop-spine-risk-order-select")),
    request_body(content = Object, content_type = "application/json", description = "CDS Hooks 2.0 request", example = json!({"hook": "order-select", "hookInstance": "5b1f7a2e-9c0d-4f4e-8a43-2f1c0b6d9e11", "context": {"userId": "Practitioner/ortho-1", "patientId": "pat-42", "selections": ["ServiceRequest/sr-1"], "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []}}, "prefetch": {"patient": {"resourceType": "Patient", "id": "pat-42", "gender": "female", "birthDate": "1956-04-11"}}})),
    responses(
        (status = 200, description = "Cards (CDS Hooks 2.0 response)", body = Object, content_type = "application/json", example = json!({"cards": []})),
        (status = 400, description = "Malformed hook request (OperationOutcome)", body = crate::api::dto::fhir::OperationOutcomeDto, content_type = "application/fhir+json", example = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": "hookInstance: required"}]})),
        (status = 401, description = "CDS client JWT missing or rejected (`cds_token_rejected`)", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer error=\"invalid_token\"`")), example = json!(crate::api::dto::examples::problem(Code::CdsTokenRejected, "token audience does not name this endpoint (wrong_audience)"))),
        (status = 404, description = "No such service (OperationOutcome)", body = crate::api::dto::fhir::OperationOutcomeDto, content_type = "application/fhir+json", example = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found", "diagnostics": "no CDS service \"periop-x\"; see GET /cds-services"}]})),
        (status = 412, description = "Required prefetch not supplied and not fetched from an allow-listed fhirServer (OperationOutcome naming the keys and why)", body = crate::api::dto::fhir::OperationOutcomeDto, content_type = "application/fhir+json", example = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics": "required prefetch not supplied: patient (the request names no fhirServer); send it in prefetch, or a fhirServer periop may read (setting cds_fhir_servers) with fhirAuthorization"}]})),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json", example = json!(crate::api::dto::examples::problem(Code::PayloadTooLarge, "request body exceeds 1048576 bytes"))),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json", example = json!(crate::api::dto::examples::problem(Code::UnsupportedMediaType, "expected Content-Type: application/json"))),
        QueuedServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/cds-services/{id}")]
pub async fn cds_service_call(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let service_id = id.into_inner();
    let audience = format!("{}/cds-services/{service_id}", state.cds.public_url);
    let client = authenticate(&state, &req, &audience).await?;
    let Some(hook) = hook_of(&service_id) else {
        return Ok(unknown_service(&service_id));
    };
    let mapping = match answering_mapping(&state) {
        Ok(mapping) => mapping,
        Err(response) => return Ok(*response),
    };
    let (mut body, _) = body::read_json_with_text(&req, payload, state.max_body_bytes).await?;
    let mut request: HookRequest = match serde_json::from_value(body.clone()) {
        Ok(r) => r,
        Err(e) => {
            return Ok(operation_outcome(
                StatusCode::BAD_REQUEST,
                IssueType::Structure,
                &format!("not a CDS Hooks request: {e}"),
            ))
        }
    };
    let fetched = state
        .cds
        .fetcher
        .complete(&mut request, &mut body, &prefetch(hook, &mapping))
        .await;
    let answered = super::assessments::run_admitted(&state, rid, move |state, request_id| {
        let call = CallContext {
            service_id: &service_id,
            hook,
            mapping: &mapping,
            public_url: &state.cds.public_url,
            client: client.as_deref(),
            today: chrono::Utc::now().date_naive(),
            fetch: &fetched,
        };
        let caller = caller_of(client.as_deref(), request_id);
        Ok(answer_hook(
            &state.assessor,
            &request,
            &body,
            &call,
            &caller,
        ))
    })
    .await?;
    Ok(match answered {
        Ok(cards) => HttpResponse::Ok().json(cards),
        Err(e @ CdsError::MissingPrefetch { .. }) => operation_outcome(
            StatusCode::PRECONDITION_FAILED,
            IssueType::Processing,
            &format!(
                "{e}; send it in prefetch, or a fhirServer periop may read (setting cds_fhir_servers) with fhirAuthorization"
            ),
        ),
        Err(e @ (CdsError::BadRequest { .. } | CdsError::Fhir(_))) => {
            operation_outcome(StatusCode::BAD_REQUEST, IssueType::Invalid, &e.to_string())
        }
        Err(CdsError::Service(e)) => return Err(ApiError::from(e)),
    })
}

/// Report what the clinician did with a card (CDS Hooks feedback).
///
/// Each item names the card (its uuid is the assessment id), `accepted` with the accepted
/// suggestions' uuids or `overridden` with an optional reason, and the outcome time. Every item is
/// checked against the stored card and recorded in the audit; the same report twice is stored
/// once. Any bad item: 422 naming the field, nothing stored. Requires the CDS client's JWT
/// (audience `<public_url>/cds-services/<id>/feedback`).
#[utoipa::path(
    tag = "cds-hooks",
    params(("id" = String, Path, description = "CDS service id the card came from", example = "periop-spine-risk-order-select")),
    request_body(content = Object, content_type = "application/json", description = "CDS Hooks 2.0 feedback", example = json!({"feedback": [{"card": "0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10", "outcome": "overridden", "overrideReason": {"reason": {"system": "https://periop.example.org/fhir/CodeSystem/override-reason", "code": "already-addressed", "display": "Risk already addressed in the surgical plan"}}, "outcomeTimestamp": "2026-12-01T10:00:00Z"}]})),
    responses(
        (status = 200, description = "Recorded (or already recorded): one result per item", body = Object, content_type = "application/json", example = json!({"results": [{"feedback_id": "7d3c1f2e-9a8b-5c4d-8e7f-6a5b4c3d2e1f", "card": "0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10", "status": "recorded"}]})),
        (status = 400, description = "Not a feedback document (OperationOutcome)", body = crate::api::dto::fhir::OperationOutcomeDto, content_type = "application/fhir+json", example = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "structure", "diagnostics": "not a CDS Hooks feedback document: missing field `feedback`"}]})),
        (status = 401, description = "CDS client JWT missing or rejected (`cds_token_rejected`)", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer error=\"invalid_token\"`")), example = json!(crate::api::dto::examples::problem(Code::CdsTokenRejected, "token audience does not name this endpoint (wrong_audience)"))),
        (status = 404, description = "No such service (OperationOutcome)", body = crate::api::dto::fhir::OperationOutcomeDto, content_type = "application/fhir+json", example = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found", "diagnostics": "no CDS service \"periop-x\"; see GET /cds-services"}]})),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json", example = json!(crate::api::dto::examples::problem(Code::PayloadTooLarge, "request body exceeds 1048576 bytes"))),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json", example = json!(crate::api::dto::examples::problem(Code::UnsupportedMediaType, "expected Content-Type: application/json"))),
        (status = 422, description = "An item is invalid or names an unknown card or suggestion (`invalid_input`)", body = Problem, content_type = "application/problem+json", example = json!(crate::api::dto::examples::problem(Code::InvalidInput, "feedback[0].card: no CDS Hooks card with this uuid"))),
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/cds-services/{id}/feedback")]
pub async fn cds_feedback(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let service_id = id.into_inner();
    let audience = format!(
        "{}/cds-services/{service_id}/feedback",
        state.cds.public_url
    );
    let client = authenticate(&state, &req, &audience).await?;
    if hook_of(&service_id).is_none() {
        return Ok(unknown_service(&service_id));
    }
    let (body, _) = body::read_json_with_text(&req, payload, state.max_body_bytes).await?;
    let request: crate::ehr::cds::types::FeedbackRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => {
            return Ok(operation_outcome(
                StatusCode::BAD_REQUEST,
                IssueType::Structure,
                &format!("not a CDS Hooks feedback document: {e}"),
            ))
        }
    };
    let entries = crate::ehr::cds::feedback::entries(request);
    let caller = caller_of(client.as_deref(), rid.as_deref().unwrap_or_default());
    let store = state.store.clone();
    let results = crate::api::blocking(rid, move || {
        Ok(crate::service::feedback::record_feedback(
            store.as_ref(),
            &service_id,
            &entries,
            &caller,
        )?)
    })
    .await?;
    let results: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            json!({
                "feedback_id": r.feedback_id,
                "card": r.card,
                "status": match r.status {
                    crate::service::feedback::FeedbackStatus::Recorded => "recorded",
                    crate::service::feedback::FeedbackStatus::AlreadyRecorded => "already_recorded",
                },
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}
