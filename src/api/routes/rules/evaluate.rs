//! The rules API, part 2: evaluate a rule set on one patient or stored assessment, and back-test
//! a candidate over the stored assessments of a time window. Neither stores anything. Both run
//! their CPU work off the reactor under a permit of the bounded queue the assessments use (a full
//! queue answers 503 `overloaded`).

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::super::assessments::run_admitted;
use super::{field, RULE_BODY_LIMIT};
use crate::api::auth::Permission;
use crate::api::dto::rules::RuleEvaluationDto;
use crate::api::error::{
    ApiError, AuthErrors, BodyErrors, Code, FieldProblem, Problem, QueuedServerErrors,
};
use crate::api::{body, request_id_of, AppState};
use crate::service::backtest::{DEFAULT_EXAMPLES, MAX_BACKTEST_ASSESSMENTS, MAX_EXAMPLES};
use crate::service::rule_evaluation::{Candidate, Subject};

/// Evaluate a rule set on one patient or stored assessment.
///
/// Body: exactly one of `{"patient": {...}}` (validated as in `POST /v1/assessments`; the model
/// set predicts every outcome first, without explanations) or `{"assessment_id": "..."}` (the
/// context is rebuilt from the stored audit record: the normalised patient and the predictions as
/// answered, without re-running the models); and at most one of `"version"` (a stored version) or
/// `"document"` (an inline JDM document, validated like an upload and never stored, reported as
/// version `inline`); default the active rule set. Answers the rule set's identity, the
/// recommendations with their provenance, and the trace of the rows that matched. Nothing is
/// stored. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "rules",
    request_body(content = crate::api::dto::rules::EvaluateRulesRequestDto, content_type = "application/json",
        example = json!(crate::api::dto::rules::examples::evaluate_request())),
    responses(
        (status = 200, description = "The recommendations and the trace", body = crate::api::dto::rules::RuleEvaluationDto, content_type = "application/json",
            example = json!(crate::api::dto::rules::examples::evaluation())),
        (status = 404, description = "No stored assessment with that id (`assessment_not_found`) or no rule-set version of that name (`rule_version_not_found`)", body = Problem, content_type = "application/problem+json",
            examples(
                ("assessment_not_found" = (summary = "No assessment with this id", value = json!(crate::api::dto::examples::problem(Code::AssessmentNotFound, "no assessment with this id")))),
                ("rule_version_not_found" = (summary = "No version of that name", value = json!(crate::api::dto::examples::problem(Code::RuleVersionNotFound, "no rule-set version `2025.02-dvt-threshold`")))),
            )),
        (status = 422, description = "Invalid input (`invalid_input`: a bad member, an invalid patient, or a rejected inline document, every problem listed) or the rule set failed on this input (`rule_evaluation_failed`)", body = Problem, content_type = "application/problem+json",
            examples(
                ("invalid_input" = (summary = "Neither a patient nor an assessment id", value = json!(examples::no_subject()))),
                ("rejected_document" = (summary = "The inline document fails the safety checks", value = json!(super::examples::rejected()))),
                ("rule_evaluation_failed" = (summary = "The rule set failed at run time", value = json!(crate::api::dto::examples::problem(Code::RuleEvaluationFailed, "rule evaluation failed in node `vte`: expression failed")))),
            )),
        AuthErrors,
        BodyErrors<{ RULE_BODY_LIMIT }>,
        QueuedServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/rules/evaluate")]
pub async fn evaluate_rules(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::EvaluateRules)?;
    let body = body::read_json(&req, payload, RULE_BODY_LIMIT).await?;
    let (subject, candidate) = parse_evaluate(&body).map_err(|e| e.with_request_id(rid.clone()))?;
    let answer = run_admitted(&state, rid, move |state, _| {
        let (rules, outcome) = state.rule_evaluation.evaluate(subject, candidate)?;
        Ok(RuleEvaluationDto::new(rules, outcome))
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Back-test a candidate rule set over stored assessments.
///
/// Body: at most one of `"version"` (a stored version) or `"document"` (an inline JDM document,
/// validated, never stored) — default the active rule set — plus the window `"since"` (inclusive)
/// and `"until"` (exclusive), RFC 3339, and optionally `"max_examples"` (0–100, default 5). The
/// candidate runs on every assessment answered in the window, each rebuilt from its audit record
/// (normalised patient, predictions as answered), and its recommendation ids are compared with
/// the ids actually answered. The report gives the assessments considered, compared and changed,
/// those skipped (unreadable record, or the candidate failed on them) by reason, the rule sets
/// that answered, and per recommendation id: how many were answered with it, how many the
/// candidate gives it, and the assessments that would gain or lose it, with example ids. A window
/// holding more than 100,000 assessments is refused (`backtest_window_too_large`; the check
/// happens while reading, so narrow the window). Nothing is stored. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "rules",
    request_body(content = crate::api::dto::rules::BacktestRequestDto, content_type = "application/json",
        example = json!(crate::api::dto::rules::examples::backtest_request())),
    responses(
        (status = 200, description = "The comparison", body = crate::service::backtest::BacktestReport, content_type = "application/json",
            example = json!(crate::api::dto::rules::examples::backtest())),
        (status = 404, description = "No rule-set version of that name (`rule_version_not_found`)", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::RuleVersionNotFound, "no rule-set version `2025.02-dvt-threshold`"))),
        (status = 422, description = "Invalid input (`invalid_input`: a bad member or window, or a rejected inline document) or more than 100,000 assessments in the window (`backtest_window_too_large`)", body = Problem, content_type = "application/problem+json",
            examples(
                ("invalid_input" = (summary = "The window ends before it starts", value = json!(examples::bad_window()))),
                ("backtest_window_too_large" = (summary = "Too many assessments", value = json!(crate::api::dto::examples::problem(Code::BacktestWindowTooLarge, "the window holds more than 100000 stored assessments; narrow since/until")))),
            )),
        AuthErrors,
        BodyErrors<{ RULE_BODY_LIMIT }>,
        QueuedServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/rules/backtest")]
pub async fn backtest_rules(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::EvaluateRules)?;
    let body = body::read_json(&req, payload, RULE_BODY_LIMIT).await?;
    let request = parse_backtest(&body).map_err(|e| e.with_request_id(rid.clone()))?;
    let report = run_admitted(&state, rid, move |state, _| {
        Ok(state.rule_evaluation.backtest(
            request.candidate,
            (request.since, request.until),
            request.max_examples,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Checks the members of an object body: unknown members are reported.
fn members<'a>(
    body: &'a Value,
    allowed: &[&str],
    errors: &mut Vec<FieldProblem>,
) -> Result<&'a Map<String, Value>, ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::invalid(vec![field(
            "",
            "wrong_type",
            "the body must be a JSON object",
        )]));
    };
    for (key, value) in object {
        if !allowed.contains(&key.as_str()) {
            errors.push(field(
                key,
                "unknown_field",
                format!("is not a request field ({})", allowed.join(", ")),
            ));
        } else if value.is_null() {
            // The document says these members are never null; omit one to leave it out.
            errors.push(field(
                key,
                "wrong_type",
                "must not be null: omit the member",
            ));
        }
    }
    Ok(object)
}

/// A member that is present (a `null` one is reported by [`members`]).
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// `version` or `document` (at most one); absent: the active set.
fn parse_candidate(object: &Map<String, Value>, errors: &mut Vec<FieldProblem>) -> Candidate {
    let version = match present(object, "version") {
        None => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => {
            errors.push(field("version", "wrong_type", "must be a version name"));
            None
        }
    };
    let document = match present(object, "document") {
        None => None,
        Some(d @ Value::Object(_)) => Some(d.clone()),
        Some(_) => {
            errors.push(field(
                "document",
                "wrong_type",
                "must be a JDM decision graph (a JSON object)",
            ));
            None
        }
    };
    match (version, document) {
        (Some(_), Some(_)) => {
            errors.push(field(
                "document",
                "contradiction",
                "give at most one of version or document",
            ));
            Candidate::Active
        }
        (Some(v), None) => Candidate::Version(v),
        (None, Some(d)) => Candidate::Document(d),
        (None, None) => Candidate::Active,
    }
}

fn parse_evaluate(body: &Value) -> Result<(Subject, Candidate), ApiError> {
    let mut errors = Vec::new();
    let object = members(
        body,
        &["patient", "assessment_id", "version", "document"],
        &mut errors,
    )?;
    let patient = match present(object, "patient") {
        None => None,
        Some(Value::Object(p)) => Some(p.clone()),
        Some(_) => {
            errors.push(field(
                "patient",
                "wrong_type",
                "must be an object of features",
            ));
            None
        }
    };
    let assessment_id = match present(object, "assessment_id") {
        None => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => {
            errors.push(field(
                "assessment_id",
                "wrong_type",
                "must be an assessment id",
            ));
            None
        }
    };
    let candidate = parse_candidate(object, &mut errors);
    let subject = match (patient, assessment_id) {
        (Some(_), Some(_)) => {
            errors.push(field(
                "assessment_id",
                "contradiction",
                "give exactly one of patient or assessment_id",
            ));
            None
        }
        (Some(p), None) => Some(Subject::Patient(p)),
        (None, Some(id)) => Some(Subject::Stored(id)),
        (None, None) => {
            if !errors
                .iter()
                .any(|e| e.field == "patient" || e.field == "assessment_id")
            {
                errors.push(field(
                    "patient",
                    "required",
                    "give exactly one of patient or assessment_id",
                ));
            }
            None
        }
    };
    match subject {
        Some(s) if errors.is_empty() => Ok((s, candidate)),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// A parsed back-test request.
struct BacktestRequest {
    candidate: Candidate,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    max_examples: usize,
}

fn parse_backtest(body: &Value) -> Result<BacktestRequest, ApiError> {
    let mut errors = Vec::new();
    let object = members(
        body,
        &["version", "document", "since", "until", "max_examples"],
        &mut errors,
    )?;
    let candidate = parse_candidate(object, &mut errors);
    let mut time = |key: &str| match present(object, key) {
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
                    "must be an RFC 3339 date-time, e.g. 2025-01-31T00:00:00Z",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(field(key, "wrong_type", "must be an RFC 3339 string"));
            None
        }
    };
    let since = time("since");
    let until = time("until");
    if let (Some(s), Some(u)) = (since, until) {
        if u <= s {
            errors.push(field("until", "contradiction", "must be after since"));
        }
    }
    let max_examples = match present(object, "max_examples") {
        None => DEFAULT_EXAMPLES,
        Some(v) => match v.as_u64() {
            Some(n) if n <= MAX_EXAMPLES as u64 => n as usize,
            _ => {
                errors.push(field(
                    "max_examples",
                    "out_of_range",
                    format!("must be an integer within 0..={MAX_EXAMPLES}"),
                ));
                DEFAULT_EXAMPLES
            }
        },
    };
    match (since, until) {
        (Some(since), Some(until)) if errors.is_empty() => Ok(BacktestRequest {
            candidate,
            since,
            until,
            max_examples,
        }),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// The documented limit, kept next to the handler whose description states it.
const _: () = assert!(MAX_BACKTEST_ASSESSMENTS == 100_000);

/// Problem examples of these endpoints.
mod examples {
    use serde_json::{json, Value};

    use crate::api::dto::examples::REQUEST_ID;
    use crate::api::error::{ApiError, FieldProblem};

    pub fn no_subject() -> Value {
        json!(ApiError::invalid(vec![FieldProblem {
            field: "patient".into(),
            reason: "required".into(),
            detail: "give exactly one of patient or assessment_id".into(),
        }])
        .with_request_id(Some(REQUEST_ID.into()))
        .problem())
    }

    pub fn bad_window() -> Value {
        json!(ApiError::invalid(vec![FieldProblem {
            field: "until".into(),
            reason: "contradiction".into(),
            detail: "must be after since".into(),
        }])
        .with_request_id(Some(REQUEST_ID.into()))
        .problem())
    }
}
