//! `POST /v1/assessments` and `GET /v1/assessments/{id}`: validate, predict and explain off the
//! async reactor under a bounded permit, write the audit record (durable) and only then answer.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::api::auth::Permission;
use crate::api::error::{
    ApiError, AuthErrors, BodyErrors, Code, FieldProblem, Problem, QueuedServerErrors, ServerErrors,
};
use crate::api::{body, request_id_of, AppState};
use crate::audit::{AuditError, AuditRecord, KIND_ASSESSMENT};
use crate::features::patient::FieldError;
use crate::service::{self, AssessError, Assessment, AssessmentRequest};

/// Assess one patient and planned spine surgery.
///
/// Returns every outcome that applies to the patient (or the requested subset) with its calibrated
/// probability (or, for blood loss, the median and 80 % interval in mL), risk band, cohort
/// baseline and relative risk, the exact TreeSHAP explanation on the raw scale (base value plus
/// one contribution per feature, summing to the raw score) with a plain-language summary, and the
/// inputs used, derived and missing. Outcomes that do not apply are `not_applicable` with a
/// reason. `explain: false` skips the SHAP work. The audit record is written before the answer is
/// sent; `Location` points at the stored copy. Roles: `ehr`, `clinician`, `admin`.
#[utoipa::path(
    tag = "assessments",
    request_body(content = crate::api::dto::AssessmentRequestDto, content_type = "application/json",
        example = json!(crate::api::dto::examples::assessment_request())),
    responses(
        (status = 201, description = "Assessed and recorded", body = crate::api::dto::AssessmentDto, content_type = "application/json",
            headers(("Location" = String, description = "`/v1/assessments/{id}`: the stored copy")),
            example = json!(crate::api::dto::examples::assessment())),
        (status = 422, description = "Invalid input (`invalid_input`): every bad field with its constraint — unknown field, wrong type, out of range, unknown level, missing required field, contradictory input", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::invalid_input())),
        AuthErrors,
        BodyErrors<{ crate::config::DEFAULT_MAX_BODY_BYTES }>,
        QueuedServerErrors,
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
    let (body, received) = body::read_json_with_text(&req, payload, state.max_body_bytes).await?;
    let request = parse_request(&body).map_err(|e| e.with_request_id(rid.clone()))?;
    let key_id = caller.key_id;
    let answered = run_admitted(&state, rid, move |state, request_id| {
        assess_and_record(state, &request, &received, request_id, &key_id)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/assessments/{}", answered.0)))
        .content_type("application/json")
        .body(answered.1))
}

/// Fetch a stored assessment exactly as it was answered.
///
/// Returns the response body of `POST /v1/assessments` byte for byte, as recorded in the
/// append-only audit store (for quality review). Roles: `clinician`, `quality`, `admin`.
#[utoipa::path(
    tag = "assessments",
    params(("id" = String, Path, description = "Assessment id (UUID v4) from the `POST` answer or its `Location` header", example = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f")),
    responses(
        (status = 200, description = "The stored assessment", body = crate::api::dto::AssessmentDto, content_type = "application/json",
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
    state.keys.authorize(&req, Permission::ReadAssessments)?;
    let store = state.store.clone();
    let id = id.into_inner();
    let lookup = id.clone();
    let stored = web::block(move || store.get(&lookup))
        .await
        .map_err(|e| ApiError::internal(&e).with_request_id(rid.clone()))?
        .map_err(|e| store_error(&e).with_request_id(rid.clone()))?;
    match stored {
        Some(record) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(record.record.output)),
        None => Err(
            ApiError::new(Code::AssessmentNotFound, "no assessment with this id")
                .with_request_id(rid),
        ),
    }
}

/// Checks the request's shape (top-level fields and their types) before the clinical validation.
fn parse_request(body: &Value) -> Result<AssessmentRequest, ApiError> {
    let problem = |field: &str, reason: &str, detail: &str| FieldProblem {
        field: field.into(),
        reason: reason.into(),
        detail: detail.into(),
    };
    let Some(object) = body.as_object() else {
        return Err(ApiError::invalid(vec![problem(
            "",
            "wrong_type",
            "the body must be a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    for key in object.keys() {
        if !matches!(key.as_str(), "patient" | "outcomes" | "explain") {
            errors.push(problem(
                key,
                "unknown_field",
                "is not a request field (patient, outcomes, explain)",
            ));
        }
    }
    let patient: Option<Map<String, Value>> = match object.get("patient") {
        Some(Value::Object(p)) => Some(p.clone()),
        Some(_) => {
            errors.push(problem(
                "patient",
                "wrong_type",
                "must be an object of features",
            ));
            None
        }
        None => {
            errors.push(problem("patient", "required", "is required"));
            None
        }
    };
    let outcomes = match object.get("outcomes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut ids = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) => ids.push(s.to_string()),
                    None => errors.push(problem(
                        &format!("outcomes[{i}]"),
                        "wrong_type",
                        "must be an outcome id string",
                    )),
                }
            }
            Some(ids)
        }
        Some(_) => {
            errors.push(problem(
                "outcomes",
                "wrong_type",
                "must be an array of outcome ids",
            ));
            None
        }
    };
    let explain = match object.get("explain") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(problem("explain", "wrong_type", "must be a boolean"));
            true
        }
    };
    match patient {
        Some(patient) if errors.is_empty() => Ok(AssessmentRequest {
            patient,
            outcomes,
            explain,
        }),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// Runs the assessment and appends its audit record; returns `(id, response body)`.
fn assess_and_record(
    state: &AppState,
    request: &AssessmentRequest,
    received: &str,
    request_id: &str,
    caller: &str,
) -> Result<(String, String), ApiError> {
    let active = state.rules.active();
    let assessment =
        service::assess_with_rules(&state.models, &active.rules, request).map_err(assess_error)?;
    let record = audit_record(state, &assessment, request, received, request_id, caller)?;
    state.store.append(&record).map_err(|e| store_error(&e))?;
    Ok((record.assessment_id, record.output))
}

pub(super) fn assess_error(e: AssessError) -> ApiError {
    match e {
        AssessError::Invalid(errors) => {
            ApiError::invalid(errors.iter().map(field_problem).collect())
        }
        AssessError::Model(e) => ApiError::internal(&e),
    }
}

/// The audit record of one answered assessment (its `output` is the exact response body).
/// `input` is the request text as received (for a batch item: the item re-serialised, since only
/// the whole batch body arrives as bytes).
fn audit_record(
    state: &AppState,
    assessment: &Assessment,
    request: &AssessmentRequest,
    input: &str,
    request_id: &str,
    caller: &str,
) -> Result<AuditRecord, ApiError> {
    let output = serde_json::to_string(assessment).map_err(|e| ApiError::internal(&e))?;
    for p in &assessment.predictions {
        crate::telemetry::record_prediction(
            &p.outcome,
            if p.probability.is_some() || p.quantity.is_some() {
                "ok"
            } else {
                "not_applicable"
            },
        );
    }
    Ok(AuditRecord {
        assessment_id: assessment.assessment_id.clone(),
        request_id: request_id.to_string(),
        created_at: crate::service::types::created_at_text(&assessment.created_at),
        caller: caller.to_string(),
        kind: KIND_ASSESSMENT.to_string(),
        model_set: model_set_snapshot(state, assessment).to_string(),
        input: input.to_string(),
        normalised: normalised(request).to_string(),
        output,
        shap: shap_vectors(assessment).to_string(),
    })
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
    let key_id = caller.key_id;
    let results = run_admitted(&state, rid, move |state, request_id| {
        batch_and_record(state, &items, request_id, &key_id)
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
    web::block(move || {
        let _permit = permit;
        job(&state, &request_id)
    })
    .await
    .map_err(|e| ApiError::internal(&e).with_request_id(rid.clone()))?
    .map_err(|e| e.with_request_id(rid))
}

/// Validates every item, assesses the valid ones together (each model runs once), records each
/// answer, and returns the response body.
fn batch_and_record(
    state: &AppState,
    items: &[Value],
    request_id: &str,
    caller: &str,
) -> Result<String, ApiError> {
    let parsed: Vec<Result<AssessmentRequest, ApiError>> =
        items.iter().map(parse_request).collect();
    let valid: Vec<AssessmentRequest> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let active = state.rules.active();
    let mut answers = service::assess_batch_with_rules(
        &state.models,
        Some(&active.rules),
        &valid,
        service::now_millis(),
        || uuid::Uuid::new_v4().to_string(),
    )
    .into_iter();
    let mut results = Vec::with_capacity(items.len());
    for (item, p) in items.iter().zip(&parsed) {
        let result = match p {
            Err(e) => Err(e.clone()),
            Ok(request) => match answers.next() {
                Some(Ok(assessment)) => {
                    let record = audit_record(
                        state,
                        &assessment,
                        request,
                        &item.to_string(),
                        request_id,
                        caller,
                    )?;
                    state.store.append(&record).map_err(|e| store_error(&e))?;
                    Ok(record.output)
                }
                Some(Err(e)) => Err(assess_error(e)),
                None => Err(ApiError::new(Code::Internal, "missing batch result")),
            },
        };
        results.push(match result {
            Ok(output) => format!("{{\"status\":201,\"assessment\":{output}}}"),
            Err(e) => {
                let status = e.code.describe().1.as_u16();
                let problem = serde_json::to_string(
                    &e.with_request_id(Some(request_id.to_string())).problem(),
                )
                .map_err(|e| ApiError::internal(&e))?;
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
    state.keys.authorize(&req, Permission::ReadAssessments)?;
    let (id, outcome) = path.into_inner();
    let store = state.store.clone();
    let stored = web::block(move || store.get(&id))
        .await
        .map_err(|e| ApiError::internal(&e).with_request_id(rid.clone()))?
        .map_err(|e| store_error(&e).with_request_id(rid.clone()))?
        .ok_or_else(|| {
            ApiError::new(Code::AssessmentNotFound, "no assessment with this id")
                .with_request_id(rid.clone())
        })?;
    let assessment: Assessment = serde_json::from_str(&stored.record.output)
        .map_err(|e| ApiError::internal(&e).with_request_id(rid.clone()))?;
    let synthetic = state.models.set_manifest().training_data.synthetic;
    let svg = assessment
        .predictions
        .iter()
        .find(|p| p.outcome == outcome)
        .and_then(|p| service::explain::explanation_svg(p, synthetic))
        .ok_or_else(|| ApiError::new(Code::NotFound, "this assessment has no explanation for that outcome (not applicable, not requested, or explain was false)").with_request_id(rid))?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}

pub(super) fn field_problem(e: &FieldError) -> FieldProblem {
    let reason = serde_json::to_value(&e.constraint)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_string))
        .unwrap_or_else(|| "invalid".into());
    FieldProblem {
        field: e.field.clone(),
        reason,
        detail: e.constraint.to_string(),
    }
}

/// An unavailable store (busy, missing, disk full) is 503 `audit_store_unavailable`: retrying
/// can help. A corrupt or failing store is 500 `internal`: an operator must look (logged).
pub(super) fn store_error(e: &AuditError) -> ApiError {
    tracing::error!(error = %e, "audit store failure");
    match e {
        AuditError::Unavailable { .. } => ApiError::new(
            Code::AuditStoreUnavailable,
            "the audit store cannot record the answer; nothing was acknowledged",
        ),
        other => ApiError::internal(other),
    }
}

/// Model set id and version plus each model's version and hash.
fn model_set_snapshot(state: &AppState, assessment: &Assessment) -> Value {
    let models: Vec<Value> = state
        .models
        .outcomes()
        .filter_map(|o| state.models.manifest(o))
        .map(|m| json!({"outcome": m.outcome, "version": m.version, "files": m.files.iter().map(|f| json!({"path": f.path, "sha256": f.sha256})).collect::<Vec<_>>()}))
        .collect();
    json!({"id": assessment.model_set.id, "version": assessment.model_set.version, "models": models, "rule_set": assessment.rule_set})
}

/// The validated patient in canonical form and its model input vector.
fn normalised(request: &AssessmentRequest) -> Value {
    match crate::features::Patient::from_json(&request.patient) {
        Ok(p) => json!({
            "patient": p.to_json(),
            "model_input": {
                "features": crate::features::model_input::model_feature_names(),
                "values": crate::features::model_input::model_input(&p).iter().map(|v| if v.is_nan() { Value::Null } else { json!(v) }).collect::<Vec<_>>(),
            },
        }),
        Err(_) => Value::Null,
    }
}

/// Full SHAP vectors per outcome (base value, raw score, one value per model feature).
fn shap_vectors(assessment: &Assessment) -> Value {
    let mut out = Map::new();
    for p in &assessment.predictions {
        if let Some(e) = &p.explanation {
            out.insert(
                p.outcome.clone(),
                json!({"base_value": e.base_value, "raw_score": e.raw_score, "values": e.contributions.iter().map(|c| c.contribution).collect::<Vec<_>>()}),
            );
        }
    }
    Value::Object(out)
}
