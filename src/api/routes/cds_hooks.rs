//! CDS Hooks 2.0 over HTTP: `GET /cds-services` (discovery) and `POST /cds-services/{id}` (a hook
//! call answered with cards). Every request carries the EHR's signed JWT (`ehr::jwt`), checked
//! against the configured issuers with the audience `<public_url>/cds-services[/<id>]`; errors of
//! the hook call itself are FHIR OperationOutcomes (CDS Hooks 3.0 asks for them; 2.0 allows any
//! body), token rejections are problem+json. The translation lives in `ehr::cds`.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::api::error::{ApiError, Code, Problem, QueuedServerErrors, ServerErrors};
use crate::api::{body, request_id_of, AppState};
use crate::ehr::cds::call::{answer_hook, CallContext, CdsError};
use crate::ehr::cds::services::{discovery, hook_of};
use crate::ehr::cds::types::HookRequest;
use crate::ehr::jwt::{CdsAuthenticator, JwtError};
use crate::ehr::mapping::FhirMapping;
use crate::service::Caller;

/// What the CDS Hooks endpoints need.
pub struct CdsState {
    /// `None` when no client is configured (every call refused) or in development mode.
    pub authenticator: Option<CdsAuthenticator>,
    /// Accept calls without a JWT (explicit setting, logged at start).
    pub development_mode: bool,
    /// The model set's FHIR mapping (`None`: the set ships none; calls answer 503).
    pub mapping: Option<FhirMapping>,
    /// periop's public base URL, without a trailing slash.
    pub public_url: String,
}

/// A FHIR OperationOutcome response.
fn operation_outcome(status: StatusCode, code: &str, diagnostics: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/fhir+json")
        .json(json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
        }))
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
        (status = 200, description = "The CDS services (CDS Hooks 2.0 discovery document)", body = Object, content_type = "application/json"),
        (status = 401, description = "CDS client JWT missing or rejected (`cds_token_rejected`)", body = Problem, content_type = "application/problem+json"),
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
    let Some(mapping) = &state.cds.mapping else {
        return Ok(operation_outcome(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-supported",
            "the model set ships no FHIR mapping (ehr/fhir-mapping.json)",
        ));
    };
    let document = discovery(mapping, &state.models.set_manifest().version);
    Ok(HttpResponse::Ok().json(document))
}

/// Call a CDS service: the hook's answer as one card.
///
/// The planned spine surgery comes from `context.draftOrders` (order hooks) or the
/// `planned_surgery` prefetch; a non-spine order answers `{"cards": []}`. The card carries every
/// applicable outcome against the average patient with its main contributors, the missing inputs
/// that would change the estimate most, suggested orders and the model versions; it is recorded
/// in the audit with the assessment (its uuid is the assessment id). Required prefetch absent:
/// 412 with an OperationOutcome.
#[utoipa::path(
    tag = "cds-hooks",
    params(("id" = String, Path, description = "CDS service id from discovery", example = "periop-spine-risk-order-select")),
    request_body(content = Object, content_type = "application/json", description = "CDS Hooks 2.0 request"),
    responses(
        (status = 200, description = "Cards (CDS Hooks 2.0 response)", body = Object, content_type = "application/json"),
        (status = 400, description = "Malformed hook request (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
        (status = 401, description = "CDS client JWT missing or rejected (`cds_token_rejected`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such service (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
        (status = 412, description = "Required prefetch not supplied (OperationOutcome naming the keys)", body = Object, content_type = "application/fhir+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
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
        return Ok(operation_outcome(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("no CDS service {service_id:?}; see GET /cds-services"),
        ));
    };
    if state.cds.mapping.is_none() {
        return Ok(operation_outcome(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-supported",
            "the model set ships no FHIR mapping (ehr/fhir-mapping.json)",
        ));
    }
    let (body, _) = body::read_json_with_text(&req, payload, state.max_body_bytes).await?;
    let request: HookRequest = match serde_json::from_value(body.clone()) {
        Ok(r) => r,
        Err(e) => {
            return Ok(operation_outcome(
                StatusCode::BAD_REQUEST,
                "structure",
                &format!("not a CDS Hooks request: {e}"),
            ))
        }
    };
    let answered = super::assessments::run_admitted(&state, rid, move |state, request_id| {
        let mapping = state
            .cds
            .mapping
            .as_ref()
            .ok_or_else(|| ApiError::new(Code::Internal, "no FHIR mapping"))?;
        let call = CallContext {
            service_id: &service_id,
            hook,
            mapping,
            public_url: &state.cds.public_url,
            client: client.as_deref(),
            today: chrono::Utc::now().date_naive(),
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
        Err(CdsError::MissingPrefetch { keys }) => operation_outcome(
            StatusCode::PRECONDITION_FAILED,
            "processing",
            &format!(
                "required prefetch not supplied: {}; send it in prefetch (periop does not fetch from fhirServer yet)",
                keys.join(", ")
            ),
        ),
        Err(e @ (CdsError::BadRequest { .. } | CdsError::Fhir(_))) => {
            operation_outcome(StatusCode::BAD_REQUEST, "invalid", &e.to_string())
        }
        Err(CdsError::Service(e)) => return Err(ApiError::from(e)),
    })
}
