//! `POST /v1/models/recalibrations`: recalibrate the answering model set on the outcomes
//! recorded in the server's own audit store and write the new set under `model_sets_dir`
//! (`service::recalibration`); audited, never activated (that is `POST /v1/models/activations`).
//! Role: `admin` (permission `manage_models`).

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::rules::field;
use crate::api::auth::Permission;
use crate::api::dto::recalibration::RecalibrationReportDto;
use crate::api::error::{
    ApiError, AuthErrors, BodyErrors, Code, FieldProblem, Problem, ServerErrors,
};
use crate::api::error_map::store_error;
use crate::api::{blocking, body, request_id_of, AppState};
use crate::model::ensemble::ModelSet;
use crate::model::recalibration::{RecalibrationError, RecalibrationSettings, DEFAULT_MIN_EVENTS};
use crate::outcomes::{Outcome, OutcomeKind};
use crate::service::recalibration::{
    recalibrate_into_sets_dir, OutcomeRefusal, RecalibrateIntoError, StoreQuery,
    StoreRecalibrationError,
};
use crate::service::Caller;

/// Body limit of a recalibration request.
const RECALIBRATION_BODY_LIMIT: usize = 16 * 1024;
/// Largest `min_events` accepted.
const MAX_MIN_EVENTS: u64 = 1_000_000;
/// The members of the body.
const MEMBERS: [&str; 5] = ["outcomes", "site", "from", "to", "min_events"];

/// Recalibrate the answering model set on the outcomes recorded in the audit store.
///
/// Body: `{"outcomes"?: [ids], "site"?: "...", "from": RFC 3339, "to": RFC 3339,
/// "min_events"?: n}`. The set answering now is recalibrated (logistic recalibration of each
/// binary outcome's map, `docs/models.md`, "Local recalibration") on the stored assessments of
/// `[from, to)` (of `site`, a configured site, when given) that predicted the outcome and have a
/// recorded outcome: each stored patient is re-scored by the set, and the assessments it
/// answered itself must reproduce their stored probability (else 422 `inconsistent_store`). All
/// or nothing (default outcomes: every binary outcome of the set): any outcome with fewer than
/// `min_events` events or non-events among its fitting rows refuses the request, listing every
/// refused outcome's counts and the minimum; nothing is written. Otherwise the new set is written
/// under the server's `model_sets_dir` (directory named after its new version, never after the
/// request), loaded back hash-verified, an audit record of kind `model_set_recalibration` (who,
/// source and new version, outcomes, before/after figures, row counts) is appended, and the
/// answer is 201 with that report. The new set is **not** activated: `POST
/// /v1/models/activations` with its version does that, audited separately. Role: `admin`.
#[utoipa::path(
    tag = "models",
    request_body(content = crate::api::dto::recalibration::RecalibrateRequestDto, content_type = "application/json",
        example = json!(crate::api::dto::recalibration::examples::request())),
    responses(
        (status = 201, description = "Recalibrated, written under model_sets_dir, verified and recorded; not active", body = RecalibrationReportDto, content_type = "application/json",
            headers(("Location" = String, description = "`/v1/models/activations`: where the new version is activated")),
            example = json!(crate::api::dto::recalibration::examples::report())),
        (status = 422, description = "Invalid input (`invalid_input`): a bad member (`field` = the member: unknown, wrong type, not RFC 3339, `to` not after `from`, an unknown or quantity outcome at `outcomes[i]`, a site that is not configured, `min_events` out of range); an outcome refused (`field` `min_events`, reason `too_few_events`, each refused outcome's counts and the minimum; or `field` `outcomes`, reasons `inconsistent_store`, `no_fit`, `non_positive_slope`, …); no `model_sets_dir` configured (`field` `model_sets_dir`, reason `not_configured`) or the same recalibration already written (reason `already_exists`). Nothing was written or recorded", body = Problem, content_type = "application/problem+json",
            examples(
                ("too_few_events" = (summary = "Too few local events", value = json!(crate::api::dto::recalibration::examples::too_few_events()))),
                ("not_configured" = (summary = "No model_sets_dir", value = json!(crate::api::dto::recalibration::examples::not_configured()))),
            )),
        AuthErrors,
        BodyErrors<{ RECALIBRATION_BODY_LIMIT }>,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/models/recalibrations")]
pub async fn recalibrate_model_set(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::ManageModels)?;
    let body = body::read_json(&req, payload, RECALIBRATION_BODY_LIMIT).await?;
    let set = state.assessor.models();
    let query = parse(&body, &set, &state.assessor.provenance().sites)
        .map_err(|e| e.with_request_id(rid.clone()))?;
    let s = state.clone();
    let request_id = rid.clone().unwrap_or_default();
    let report = blocking(rid, move || {
        let sets_dir = s.model_sets.sets_dir().ok_or_else(|| {
            ApiError::invalid(vec![field(
                "model_sets_dir",
                "not_configured",
                "no model_sets_dir is configured: a recalibrated set has nowhere to be written",
            )])
        })?;
        let caller = Caller {
            request_id,
            key_id: caller.key_id,
        };
        let report =
            recalibrate_into_sets_dir(s.store.as_ref(), &set, sets_dir, &query, &caller)
                .map_err(recalibration_error)?;
        tracing::info!(source = %report.source_set.version, new = %report.new_set.version, directory = %report.directory, recalibrated_by = %report.recalibrated_by, "model set recalibrated (not activated)");
        Ok(RecalibrationReportDto::from(&report))
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, "/v1/models/activations"))
        .json(report))
}

/// Every problem of the body at once.
fn parse(body: &Value, set: &ModelSet, sites: &[String]) -> Result<StoreQuery, ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::invalid(vec![field(
            "",
            "wrong_type",
            "the body must be a JSON object",
        )]));
    };
    let mut errors: Vec<FieldProblem> = Vec::new();
    for key in object.keys() {
        if !MEMBERS.contains(&key.as_str()) {
            errors.push(field(
                key,
                "unknown_field",
                format!("is not a request field ({})", MEMBERS.join(", ")),
            ));
        }
    }
    let binary: Vec<Outcome> = set
        .outcomes()
        .filter(|o| o.kind() == OutcomeKind::Probability)
        .collect();
    let outcomes = match object.get("outcomes") {
        None => binary.clone(),
        Some(Value::Array(items)) if items.is_empty() => {
            errors.push(field(
                "outcomes",
                "out_of_range",
                "must name at least one outcome (omit it for every binary outcome)",
            ));
            Vec::new()
        }
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let name = format!("outcomes[{i}]");
                let ids: Vec<&str> = binary.iter().map(|o| o.id()).collect();
                match item.as_str().map(|s| (s, Outcome::from_id(s))) {
                    None => errors.push(field(&name, "wrong_type", "must be an outcome id")),
                    Some((_, None)) => errors.push(field(
                        &name,
                        "unknown_outcome",
                        format!("is not an outcome id (binary outcomes: {})", ids.join(", ")),
                    )),
                    Some((_, Some(o))) if o.kind() != OutcomeKind::Probability => {
                        errors.push(field(
                            &name,
                            "not_binary",
                            "is a quantity outcome (mL) with no calibration map: never recalibrated",
                        ));
                    }
                    Some((_, Some(o))) if !binary.contains(&o) => errors.push(field(
                        &name,
                        "no_model",
                        "the answering model set has no model for this outcome",
                    )),
                    Some((_, Some(o))) => {
                        if !out.contains(&o) {
                            out.push(o);
                        }
                    }
                }
            }
            out
        }
        Some(_) => {
            errors.push(field(
                "outcomes",
                "wrong_type",
                "must be an array of outcome ids",
            ));
            Vec::new()
        }
    };
    let site = match object.get("site") {
        None => None,
        Some(Value::String(s)) if sites.iter().any(|c| c == s) => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(field(
                "site",
                "unknown_site",
                if sites.is_empty() {
                    "this server has no configured sites".to_string()
                } else {
                    format!("must be one of the configured sites ({})", sites.join(", "))
                },
            ));
            None
        }
        Some(_) => {
            errors.push(field("site", "wrong_type", "must be a site name"));
            None
        }
    };
    let mut time = |key: &str| match object.get(key) {
        None => {
            errors.push(field(key, "required", "is required (RFC 3339)"));
            None
        }
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                errors.push(field(
                    key,
                    "invalid_format",
                    "must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(field(key, "wrong_type", "must be an RFC 3339 string"));
            None
        }
    };
    let from = time("from");
    let to = time("to");
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            errors.push(field("to", "contradiction", "must be after from"));
        }
    }
    let min_events = match object.get("min_events") {
        None => DEFAULT_MIN_EVENTS,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_MIN_EVENTS).contains(&n) => n as usize,
            _ => {
                errors.push(field(
                    "min_events",
                    "out_of_range",
                    format!("must be an integer within 1..={MAX_MIN_EVENTS}"),
                ));
                DEFAULT_MIN_EVENTS
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    Ok(StoreQuery {
        outcomes,
        site,
        from,
        to,
        settings: RecalibrationSettings {
            min_events,
            ..RecalibrationSettings::default()
        },
    })
}

/// A refused outcome as its `errors` entry.
fn refusal(r: &OutcomeRefusal) -> FieldProblem {
    let member = match r {
        OutcomeRefusal::Fit(RecalibrationError::TooFewEvents { .. }) => "min_events",
        _ => "outcomes",
    };
    field(member, r.reason(), r.to_string())
}

fn recalibration_error(e: RecalibrateIntoError) -> ApiError {
    match e {
        RecalibrateIntoError::Recalibration(StoreRecalibrationError::Refused(refused)) => {
            let detail = StoreRecalibrationError::Refused(refused.clone()).to_string();
            ApiError {
                code: Code::InvalidInput,
                detail,
                errors: refused.iter().map(refusal).collect(),
                request_id: None,
            }
        }
        RecalibrateIntoError::Recalibration(StoreRecalibrationError::Service(e)) => e.into(),
        e @ RecalibrateIntoError::Exists { .. } => ApiError::invalid(vec![field(
            "model_sets_dir",
            "already_exists",
            e.to_string(),
        )]),
        RecalibrateIntoError::Store(e) => store_error(&e),
        e @ RecalibrateIntoError::Write(_) => ApiError::internal(&e),
    }
}
