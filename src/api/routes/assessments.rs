//! `POST /v1/assessments` and `GET /v1/assessments/{id}`: validate, predict and explain off the
//! async reactor under a bounded permit, write the audit record (durable) and only then answer.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::{audit, fhir_assessments};
use crate::api::auth::Permission;
use crate::api::error::{
    ApiError, AuthErrors, BodyErrors, Code, FieldProblem, Problem, QueuedServerErrors, ServerErrors,
};
use crate::api::{blocking, body, request_id_of, AppState};
use crate::service::audit_reads::ReadKind;
use crate::service::{self, Caller};

/// Assess one patient and planned spine surgery.
///
/// Returns every outcome that applies to the patient (or the requested subset) with its calibrated
/// probability (or, for blood loss, the median and 80 % interval in mL), risk band, cohort
/// baseline and relative risk, the exact TreeSHAP explanation on the raw scale (base value plus
/// one contribution per feature, summing to the raw score) with a plain-language summary, and the
/// inputs used, derived and missing. Outcomes that do not apply are `not_applicable` with a
/// reason. `explain: false` skips the SHAP work. The audit record is written before the answer is
/// sent; `Location` points at the stored copy. Roles: `ehr`, `clinician`, `admin`.
///
/// **FHIR R4 in**: with `Content-Type: application/fhir+json` the body is a FHIR Bundle (Patient,
/// vitals and labs, Conditions, medications, prior Procedures and the planned spine-surgery
/// ServiceRequest; `docs/ehr.md`), mapped by the model set's FHIR mapping to the same validated
/// patient as the JSON request and assessed for every applicable outcome; the query parameters
/// `explain` (default `true`) and `missing_input_ranges` (default `false`) take the place of the
/// JSON members. The answer is the same assessment, with `delivery` recording the FHIR resources
/// it was computed from and what was found but not used. Errors about FHIR input are FHIR
/// OperationOutcomes naming the Bundle path (`Bundle.entry[3].resource.birthDate`) and the
/// constraint; authentication and server errors stay problems. With `Accept:
/// application/fhir+json` (either body) the answer is the FHIR R4 Bundle of the assessment.
#[utoipa::path(
    tag = "assessments",
    params(
        ("explain" = Option<bool>, Query, description = "FHIR input only (a JSON request sets it in the body): compute the exact TreeSHAP explanations (default `true`)", example = true),
        ("missing_input_ranges" = Option<bool>, Query, description = "FHIR input only (a JSON request sets it in the body): for each missing optional input, the range of each risk across its plausible values (default `false`)", example = false),
    ),
    request_body(description = "An assessment request, or a FHIR R4 Bundle of the patient's resources and the planned spine-surgery ServiceRequest",
        content(
            (crate::api::dto::AssessmentRequestDto = "application/json", example = json!(crate::api::dto::examples::assessment_request())),
            (crate::api::dto::fhir::FhirBundleDto = "application/fhir+json", example = json!(crate::api::dto::fhir::examples::bundle())),
        )),
    responses(
        (status = 201, description = "Assessed and recorded: the assessment, or with `Accept: application/fhir+json` its FHIR R4 Bundle",
            headers(("Location" = String, description = "`/v1/assessments/{id}`: the stored copy")),
            content(
                (crate::api::dto::AssessmentDto = "application/json", example = json!(crate::api::dto::examples::assessment())),
                (crate::api::dto::fhir::FhirBundleDto = "application/fhir+json", example = json!(crate::api::dto::fhir::examples::answer_bundle())),
            )),
        (status = 400, description = "The body is not JSON (`invalid_request_body`); FHIR input: an OperationOutcome (`structure`: not JSON, not a Bundle, a Bundle.type other than collection, transaction, batch, searchset or document, a malformed entry, a second Patient; `not-supported`/`value`: an unknown, repeated or malformed query parameter)",
            content(
                (Problem = "application/problem+json", example = json!(crate::api::dto::examples::problem(Code::InvalidRequestBody, "the body is not valid JSON (line 1, column 12)"))),
                (crate::api::dto::fhir::OperationOutcomeDto = "application/fhir+json", examples(
                    ("not_a_bundle" = (summary = "Not a Bundle", value = json!(crate::api::dto::fhir::examples::not_a_bundle()))),
                    ("bundle_type" = (summary = "A Bundle.type periop does not read", value = json!(crate::api::dto::fhir::examples::bad_bundle_type()))),
                    ("malformed_entry" = (summary = "An entry without a resource", value = json!(crate::api::dto::fhir::examples::malformed_entry()))),
                    ("json_request" = (summary = "A JSON assessment request sent as FHIR", value = json!(crate::api::dto::fhir::examples::json_request()))),
                    ("query" = (summary = "An unknown and a malformed query parameter", value = json!(crate::api::dto::fhir::examples::bad_query()))),
                )),
            )),
        AuthErrors,
        (status = 413, description = "The body is over the size limit (`payload_too_large`; FHIR input: an OperationOutcome, `too-costly`)",
            content(
                (Problem = "application/problem+json", example = json!(crate::api::dto::examples::problem(Code::PayloadTooLarge, &format!("the body exceeds {} bytes", crate::config::DEFAULT_MAX_BODY_BYTES)))),
                (crate::api::dto::fhir::OperationOutcomeDto = "application/fhir+json", example = json!(crate::api::dto::fhir::examples::too_large())),
            )),
        (status = 415, description = "The Content-Type is neither JSON nor FHIR JSON (`unsupported_media_type`)", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::UnsupportedMediaType, "send Content-Type: application/json"))),
        (status = 422, description = "Invalid input (`invalid_input`): every bad field with its constraint — unknown field, wrong type, out of range, unknown level, missing required field, contradictory input. FHIR input: an OperationOutcome, `required` when no ServiceRequest is a spine surgery (each ServiceRequest named) or a required input cannot be read (every field, at its Bundle path: no birthDate, no gender), `value`/`invariant` for a value rejected by the same validation as the JSON request",
            content(
                (Problem = "application/problem+json", example = json!(crate::api::dto::examples::invalid_input())),
                (crate::api::dto::fhir::OperationOutcomeDto = "application/fhir+json", examples(
                    ("no_spine_order" = (summary = "No ServiceRequest for a spine surgery", value = json!(crate::api::dto::fhir::examples::no_spine_order()))),
                    ("unassessable" = (summary = "No birthDate and no gender", value = json!(crate::api::dto::fhir::examples::unassessable()))),
                )),
            )),
        (status = 500, description = "Internal failure (`internal`); the cause is logged, never patient values", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::Internal, "the server failed to answer; the failure has been logged"))),
        (status = 503, description = "Overloaded (`overloaded`: the bounded queue of CPU work is full) or the audit store does not answer (`audit_store_unavailable`); nothing was recorded. Retry after `Retry-After` seconds. FHIR input to a model set without a FHIR mapping: an OperationOutcome (`not-supported`)",
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying (problems only)")),
            content(
                (Problem = "application/problem+json", examples(
                    ("overloaded" = (summary = "The CPU queue is full", value = json!(crate::api::dto::examples::problem(Code::Overloaded, "too many assessments in progress; retry shortly")))),
                    ("audit_store_unavailable" = (summary = "The audit store does not answer", value = json!(crate::api::dto::examples::problem(Code::AuditStoreUnavailable, "the audit store cannot record the answer; nothing was acknowledged")))),
                )),
                (crate::api::dto::fhir::OperationOutcomeDto = "application/fhir+json", example = json!(crate::api::dto::fhir::examples::no_mapping())),
            )),
    ),
    security(("bearer" = []))
)]
#[post("/assessments")]
pub async fn create_assessment(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::Assess)?;
    if fhir_assessments::is_fhir_body(&req) {
        return fhir_assessments::create_from_bundle(req, payload, state, caller.key_id).await;
    }
    let (body, received) = body::read_json_with_text(&req, payload, state.max_body_bytes).await?;
    let as_fhir = wants_fhir(&req);
    let (key_id, key_site) = (caller.key_id, caller.site);
    let answered = run_admitted(&state, rid, move |state, request_id| {
        let caller = Caller {
            request_id: request_id.to_string(),
            key_id,
        };
        Ok(state
            .assessor
            .assess_from(&body, received, &caller, key_site.as_deref())?)
    })
    .await?;
    fhir_assessments::created(&answered, as_fhir, &state)
}

/// Fetch a stored assessment exactly as it was answered.
///
/// Returns the response body of `POST /v1/assessments` byte for byte, as recorded in the
/// append-only audit store (for quality review). Roles: `clinician`, `quality`, `admin`.
#[utoipa::path(
    tag = "assessments",
    params(("id" = String, Path, description = "Assessment id (UUID v4) from the `POST` answer or its `Location` header", example = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f")),
    responses(
        (status = 200, description = "The stored assessment; with `Accept: application/fhir+json`, the same answer as a FHIR R4 Bundle (RiskAssessment per outcome, blood-loss Observation, Device, Provenance; `docs/ehr.md`)", body = crate::api::dto::AssessmentDto, content_type = "application/json",
            example = json!(crate::api::dto::examples::assessment())),
        (status = 404, description = "No assessment with this id (`assessment_not_found`)", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::AssessmentNotFound, "no assessment with this id"))),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/assessments/{id}")]
pub async fn get_assessment(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::ReadAssessments)?;
    let fhir = wants_fhir(&req);
    let reader = state.clone();
    let request_id = rid.clone();
    let body = blocking(rid, move || {
        let body = reader.assessor.stored(&id)?;
        // Recorded (durable) before the answer is sent (`service::audit_reads`).
        audit::record_assessment_read(
            reader.store.as_ref(),
            request_id.as_deref(),
            &caller.key_id,
            ReadKind::Assessment,
            format!("GET /v1/assessments/{id}"),
            &id,
        )?;
        Ok(body)
    })
    .await?;
    if fhir {
        return Ok(HttpResponse::Ok()
            .content_type(fhir_assessments::FHIR_JSON)
            .json(fhir_assessments::fhir_bundle(&body, &state)?));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// `true` when the `Accept` header asks for FHIR (`application/fhir+json`).
pub(super) fn wants_fhir(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/fhir+json"))
}

/// Most patients in one batch request.
pub const MAX_BATCH: usize = 1000;

/// Assess up to 1,000 patients in one request.
///
/// Body: `{"items": [<assessment request>, ...]}`. Answers 200 with one result per item, in
/// order: `{"status": 201, "assessment": {...}}` or `{"status": 422, "problem": {...}}`. Every
/// answered assessment has its own audit record, written before the response is sent.
#[utoipa::path(
    tag = "assessments",
    request_body(content = crate::api::dto::BatchRequestDto, content_type = "application/json",
        example = json!(crate::api::dto::examples::batch_request())),
    responses(
        (status = 200, description = "One result per item, in order; each answered item is recorded", body = crate::api::dto::BatchResponseDto, content_type = "application/json",
            example = json!(crate::api::dto::examples::batch_response())),
        (status = 422, description = "The body is not `{\"items\": [...]}` with 1 to 1,000 items (`invalid_input`); invalid items are reported per item in a 200 answer", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::InvalidInput, "1 invalid field(s): items"))),
        AuthErrors,
        BodyErrors<{ crate::config::DEFAULT_MAX_BATCH_BODY_BYTES }>,
        QueuedServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/assessments:batch")]
pub async fn create_assessments_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::Assess)?;
    let body = body::read_json(&req, payload, state.max_batch_body_bytes).await?;
    let items = match body.get("items").and_then(Value::as_array) {
        Some(items) if body.as_object().is_some_and(|o| o.len() == 1) => items.clone(),
        _ => {
            let p = FieldProblem {
                field: "items".into(),
                reason: "required".into(),
                detail: "the body must be {\"items\": [assessment requests]}".into(),
            };
            return Err(ApiError::invalid(vec![p]).with_request_id(rid));
        }
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        let p = FieldProblem {
            field: "items".into(),
            reason: "out_of_range".into(),
            detail: format!("must hold 1..={MAX_BATCH} requests"),
        };
        return Err(ApiError::invalid(vec![p]).with_request_id(rid));
    }
    // Items are objects (the document's contract); what is inside each is validated per item.
    let not_objects: Vec<FieldProblem> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| !item.is_object())
        .map(|(i, _)| FieldProblem {
            field: format!("items[{i}]"),
            reason: "wrong_type".into(),
            detail: "must be an assessment request object".into(),
        })
        .collect();
    if !not_objects.is_empty() {
        return Err(ApiError::invalid(not_objects).with_request_id(rid));
    }
    let (key_id, key_site) = (caller.key_id, caller.site);
    let results = run_admitted(&state, rid, move |state, request_id| {
        let caller = Caller {
            request_id: request_id.to_string(),
            key_id,
        };
        let answers = state
            .assessor
            .assess_batch_from(&items, &caller, key_site.as_deref())?;
        batch_body(answers, request_id)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(results))
}

/// Runs CPU work off the async reactor if a permit is free (else 503 `overloaded`): the bounded
/// queue shared by every assessing endpoint. `job` gets the state and the request id.
pub(super) async fn run_admitted<T: Send + 'static>(
    state: &web::Data<AppState>,
    rid: Option<String>,
    job: impl FnOnce(&AppState, &str) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = state.capacity.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            Code::Overloaded,
            "too many assessments in progress; retry shortly",
        )
        .with_request_id(rid.clone())
    })?;
    let state = state.clone();
    let request_id = rid.clone().unwrap_or_default();
    web::block(crate::api::in_request_span(move || {
        let _permit = permit;
        job(&state, &request_id)
    }))
    .await
    .map_err(|e| ApiError::internal(&e).with_request_id(rid.clone()))?
    .map_err(|e| e.with_request_id(rid))
}

/// The batch answer: `{"results": [...]}`, each item's stored body or its problem.
fn batch_body(
    answers: Vec<Result<service::Recorded, service::ServiceError>>,
    request_id: &str,
) -> Result<String, ApiError> {
    let mut results = Vec::with_capacity(answers.len());
    for answer in answers {
        results.push(match answer {
            Ok(recorded) => format!("{{\"status\":201,\"assessment\":{}}}", recorded.body),
            Err(e) => {
                let e = ApiError::from(e).with_request_id(Some(request_id.to_string()));
                let status = e.code.describe().1.as_u16();
                let problem =
                    serde_json::to_string(&e.problem()).map_err(|e| ApiError::internal(&e))?;
                format!("{{\"status\":{status},\"problem\":{problem}}}")
            }
        });
    }
    Ok(format!("{{\"results\":[{}]}}", results.join(",")))
}

/// Waterfall plot (SVG) of one outcome's explanation in a stored assessment.
///
/// Draws the stored exact TreeSHAP explanation of `outcome` from assessment `id`: the base
/// value, each feature's contribution with the patient's value, and the raw score. 404 when the
/// assessment does not exist or has no explanation for that outcome (not applicable, not
/// requested, or `explain: false`). Roles: `clinician`, `quality`, `admin`.
#[utoipa::path(
    tag = "assessments",
    params(("id" = String, Path, description = "Assessment id (UUID v4) from the `POST` answer or its `Location` header", example = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f"), ("outcome" = String, Path, description = "Outcome id (`features.md`)", example = "dvt")),
    responses(
        (status = 200, description = "The waterfall plot", body = String, content_type = "image/svg+xml",
            example = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"480\">…</svg>"),
        (status = 404, description = "No assessment with this id (`assessment_not_found`), or no explanation of this outcome in it (`not_found`)", body = Problem, content_type = "application/problem+json",
            examples(
                ("assessment_not_found" = (summary = "No assessment with this id", value = json!(crate::api::dto::examples::problem(Code::AssessmentNotFound, "no assessment with this id")))),
                ("not_found" = (summary = "No explanation of this outcome", value = json!(crate::api::dto::examples::problem(Code::NotFound, "this assessment has no explanation for that outcome (not applicable, not requested, or explain was false)"))))
            )),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/assessments/{id}/explanation/{outcome}.svg")]
pub async fn get_explanation_svg(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::ReadAssessments)?;
    let (id, outcome) = path.into_inner();
    let request_id = rid.clone();
    let svg = blocking(rid, move || {
        let svg = state.assessor.stored_explanation_svg(&id, &outcome)?.ok_or_else(|| {
            ApiError::new(Code::NotFound, "this assessment has no explanation for that outcome (not applicable, not requested, or explain was false)")
        })?;
        audit::record_assessment_read(
            state.store.as_ref(),
            request_id.as_deref(),
            &caller.key_id,
            ReadKind::Explanation,
            format!("GET /v1/assessments/{id}/explanation/{outcome}.svg"),
            &id,
        )?;
        Ok(svg)
    })
    .await?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}
