//! `POST /v1/assessments` and `GET /v1/assessments/{id}`: validate, predict and explain off the
//! async reactor under a bounded permit, write the audit record (durable) and only then answer.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::api::auth::Permission;
use crate::api::error::{ApiError, Code, FieldProblem};
use crate::api::{body, request_id_of, AppState};
use crate::audit::{AuditError, AuditRecord, KIND_ASSESSMENT};
use crate::features::patient::FieldError;
use crate::service::{self, AssessError, Assessment, AssessmentRequest};

/// Request an assessment of one patient and planned spine surgery.
#[post("/assessments")]
pub async fn create_assessment(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state
        .keys
        .authorize(&req, Permission::Assess)
        .map_err(|e| e.with_request_id(rid.clone()))?;
    let body = body::read_json(&req, payload, state.max_body_bytes)
        .await
        .map_err(|e| e.with_request_id(rid.clone()))?;
    let request = parse_request(&body).map_err(|e| e.with_request_id(rid.clone()))?;
    let permit = state.capacity.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            Code::Overloaded,
            "too many assessments in progress; retry shortly",
        )
        .with_request_id(rid.clone())
    })?;
    let request_id = rid.clone().unwrap_or_default();
    let state_for_job = state.clone();
    let answered = web::block(move || {
        let _permit = permit;
        assess_and_record(&state_for_job, &request, &body, &request_id, &caller.key_id)
    })
    .await
    .map_err(|e| ApiError::internal(&e).with_request_id(rid.clone()))?
    .map_err(|e| e.with_request_id(rid.clone()))?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/assessments/{}", answered.0)))
        .content_type("application/json")
        .body(answered.1))
}

/// Fetch a stored assessment exactly as it was answered.
#[get("/assessments/{id}")]
pub async fn get_assessment(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state
        .keys
        .authorize(&req, Permission::ReadAssessments)
        .map_err(|e| e.with_request_id(rid.clone()))?;
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
    raw: &Value,
    request_id: &str,
    caller: &str,
) -> Result<(String, String), ApiError> {
    let assessment = service::assess(&state.models, request).map_err(|e| match e {
        AssessError::Invalid(errors) => {
            ApiError::invalid(errors.iter().map(field_problem).collect())
        }
        AssessError::Model(e) => ApiError::internal(&e),
    })?;
    let output = serde_json::to_string(&assessment).map_err(|e| ApiError::internal(&e))?;
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
    let record = AuditRecord {
        assessment_id: assessment.assessment_id.clone(),
        request_id: request_id.to_string(),
        created_at: assessment_created_at(&output),
        caller: caller.to_string(),
        kind: KIND_ASSESSMENT.to_string(),
        model_set: model_set_snapshot(state, &assessment).to_string(),
        input: raw.to_string(),
        normalised: normalised(request).to_string(),
        output,
        shap: shap_vectors(&assessment).to_string(),
    };
    state.store.append(&record).map_err(|e| store_error(&e))?;
    Ok((record.assessment_id, record.output))
}

/// `created_at` exactly as serialised in the response.
fn assessment_created_at(output: &str) -> String {
    serde_json::from_str::<Value>(output)
        .ok()
        .and_then(|v| v["created_at"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn field_problem(e: &FieldError) -> FieldProblem {
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

fn store_error(e: &AuditError) -> ApiError {
    tracing::error!(error = %e, "audit store failure");
    ApiError::new(
        Code::AuditStoreUnavailable,
        "the audit store cannot record the answer; nothing was acknowledged",
    )
}

/// Model set id and version plus each model's version and hash.
fn model_set_snapshot(state: &AppState, assessment: &Assessment) -> Value {
    let models: Vec<Value> = state
        .models
        .outcomes()
        .filter_map(|o| state.models.manifest(o))
        .map(|m| json!({"outcome": m.outcome, "version": m.version, "files": m.files.iter().map(|f| json!({"path": f.path, "sha256": f.sha256})).collect::<Vec<_>>()}))
        .collect();
    json!({"id": assessment.model_set.id, "version": assessment.model_set.version, "models": models})
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
