//! Recorded outcomes: `POST /v1/outcomes` (record observed outcomes of stored assessments) and
//! `GET /v1/assessments/{id}/outcomes` (every version recorded for one assessment), over
//! `service::outcome_records`. The store is read and written off the reactor.
//!
//! Roles: recording is `quality` and `admin`; reading is every role that reads stored assessments
//! (`clinician`, `quality`, `admin`). An `ehr` key may not record: outcomes come from registries
//! and quality teams after discharge, not from the ordering workflow; an integration that feeds
//! them is given a `quality` key of its own, so its writes are told apart in the audit.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::api::auth::Permission;
use crate::api::dto::outcomes::{
    AssessmentOutcomesDto, OutcomeResultDto, OutcomesResponseDto, RecordedOutcomeDto,
};
use crate::api::error::{
    ApiError, AuthErrors, BodyErrors, Code, FieldProblem, Problem, ServerErrors,
};
use crate::api::{blocking, body, request_id_of, AppState};
use crate::service::outcome_records::{outcomes_of, record_outcome_items, MAX_OUTCOME_ITEMS};
use crate::service::Caller;

/// Record observed outcomes of stored assessments.
///
/// Body: `{"items": [...]}`, 1 to 1,000 items, each naming its assessment by `assessment_id` or
/// by `patient_reference` plus `surgery_date` (the reference sent with the assessment; it must
/// match exactly one stored assessment), with the `outcome` id, its `value` (0 or 1 for a binary
/// outcome, mL within 1–50,000 for `blood_loss_ml`) and optionally `observed_at`. The assessment
/// must have predicted the outcome (`status: ok`). Every item is checked before anything is
/// stored: one bad item rejects the request (422, each problem at `items[i].<member>`) and
/// nothing is recorded. Each new value is appended to the audit chain (kind `outcome`) before the
/// answer is sent. Idempotent: the value the current version already holds is `already_recorded`;
/// a different value is a new record with the next `version`, never an overwrite. Roles:
/// `quality`, `admin`.
#[utoipa::path(
    tag = "outcomes",
    request_body(content = crate::api::dto::outcomes::OutcomesRequestDto, content_type = "application/json",
        example = json!(crate::api::dto::outcomes::examples::request())),
    responses(
        (status = 200, description = "One result per item, in order; every `recorded` item is durable", body = OutcomesResponseDto, content_type = "application/json",
            example = json!(crate::api::dto::outcomes::examples::response())),
        (status = 422, description = "The body is not `{\"items\": [...]}` with 1 to 1,000 items, or an item is invalid (`invalid_input`; `field` = `items[i].<member>`: unknown member, wrong type, missing, both or neither of `assessment_id` and `patient_reference`, unknown outcome, a value outside the outcome's range, an unknown assessment, an outcome it did not predict, a reference matching no or several assessments, a reference sent to a server without a reference key); nothing was stored", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::outcomes::examples::invalid())),
        AuthErrors,
        BodyErrors<{ crate::config::DEFAULT_MAX_BATCH_BODY_BYTES }>,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/outcomes")]
pub async fn record_outcomes(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::RecordOutcomes)?;
    let body = body::read_json(&req, payload, state.max_batch_body_bytes).await?;
    let items = items_of(&body).map_err(|e| e.with_request_id(rid.clone()))?;
    let request_id = rid.clone().unwrap_or_default();
    let key_id = caller.key_id;
    let results = blocking(rid, move || {
        let caller = Caller { request_id, key_id };
        Ok(record_outcome_items(
            state.store.as_ref(),
            state.assessor.provenance(),
            &items,
            &caller,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(OutcomesResponseDto {
        results: results.into_iter().map(OutcomeResultDto::from).collect(),
    }))
}

/// The `items` array of the body: 1 to [`MAX_OUTCOME_ITEMS`] items, nothing else in the body.
fn items_of(body: &Value) -> Result<Vec<Value>, ApiError> {
    let problem = |reason: &str, detail: String| {
        ApiError::invalid(vec![FieldProblem {
            field: "items".into(),
            reason: reason.into(),
            detail,
        }])
    };
    match body.get("items").and_then(Value::as_array) {
        Some(items) if body.as_object().is_some_and(|o| o.len() == 1) => {
            if items.is_empty() || items.len() > MAX_OUTCOME_ITEMS {
                Err(problem(
                    "out_of_range",
                    format!("must hold 1..={MAX_OUTCOME_ITEMS} outcome items"),
                ))
            } else {
                Ok(items.clone())
            }
        }
        _ => Err(problem(
            "required",
            "the body must be {\"items\": [outcome items]}".into(),
        )),
    }
}

/// Every recorded outcome of a stored assessment, every version.
///
/// Lists each outcome recorded for assessment `id` (`POST /v1/outcomes`, `periop outcomes
/// import`), by outcome in report order, newest version first; the newest version of each is
/// `current: true` (what quality reports use), older ones stay listed. Roles: `clinician`,
/// `quality`, `admin`.
#[utoipa::path(
    tag = "outcomes",
    params(("id" = String, Path, description = "Assessment id", example = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f")),
    responses(
        (status = 200, description = "Every version of every recorded outcome (an empty list when none is recorded)", body = AssessmentOutcomesDto, content_type = "application/json",
            example = json!(crate::api::dto::outcomes::examples::assessment_outcomes())),
        (status = 404, description = "No assessment with this id (`assessment_not_found`)", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::AssessmentNotFound, "no assessment with this id"))),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/assessments/{id}/outcomes")]
pub async fn get_assessment_outcomes(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::ReadAssessments)?;
    let id = id.into_inner();
    let store = state.store.clone();
    let assessment_id = id.clone();
    let request_id = rid.clone();
    let outcomes = blocking(rid, move || {
        let outcomes = outcomes_of(store.as_ref(), &id)?;
        // Recorded (durable) before the answer is sent (`service::audit_reads`).
        super::audit::record_assessment_read(
            store.as_ref(),
            request_id.as_deref(),
            &caller.key_id,
            crate::service::audit_reads::ReadKind::Outcomes,
            format!("GET /v1/assessments/{id}/outcomes"),
            &id,
        )?;
        Ok(outcomes)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AssessmentOutcomesDto {
        assessment_id,
        outcomes: outcomes.into_iter().map(RecordedOutcomeDto::from).collect(),
    }))
}
