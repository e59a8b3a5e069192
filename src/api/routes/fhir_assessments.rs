//! `POST /v1/assessments` with `Content-Type: application/fhir+json`: a FHIR R4 Bundle (Patient,
//! Observations, Conditions, medications, prior Procedures and the planned spine-surgery
//! ServiceRequest) assessed on the one path through the EHR adapter
//! (`ehr::fhir_assess::assess_bundle`), answered like the JSON request (201, `Location`, the
//! assessment; with `Accept: application/fhir+json` its FHIR Bundle). Every error about the
//! input, the query included, is a FHIR OperationOutcome naming the Bundle path and the
//! constraint; authentication and server failures stay problem+json like everywhere else.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::assessments::{run_admitted, wants_fhir};
use crate::api::error::{ApiError, Code};
use crate::api::{body, request_id_of, AppState};
use crate::ehr::fhir_assess::{assess_bundle, BundleError, BundleOptions, JobOptions};
use crate::ehr::fhir_out::outcome::{operation_outcome, Issue, IssueType};
use crate::service::{self, Caller, Recorded};

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// The query parameters of a FHIR assessment.
pub const PARAMETERS: [&str; 2] = ["explain", "missing_input_ranges"];

/// The 503 diagnostics when the model set ships no mapping.
pub const NO_MAPPING: &str = "the model set ships no FHIR mapping (ehr/fhir-mapping.json)";

/// `true` when the body is FHIR JSON (`application/fhir+json`, parameters allowed).
pub fn is_fhir_body(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FHIR_JSON))
}

/// An OperationOutcome response.
pub fn outcome_response(status: StatusCode, issues: &[Issue]) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(FHIR_JSON)
        .json(operation_outcome(issues))
}

/// Assesses a posted Bundle for an authorized caller (`key_id`).
///
/// # Errors
/// Server failures as problems (overloaded, audit store, internal); everything about the input
/// is an OperationOutcome response.
pub async fn create_from_bundle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    key_id: String,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let mapping = match super::cds_hooks::answering_mapping(&state) {
        Ok(mapping) => mapping,
        Err(response) => return Ok(*response),
    };
    let job = match parse_options(req.query_string()) {
        Ok(job) => job,
        Err(issues) => return Ok(outcome_response(StatusCode::BAD_REQUEST, &issues)),
    };
    let (bundle, received) =
        match body::read_json_with_text(&req, payload, state.max_body_bytes).await {
            Ok(read) => read,
            Err(e) => return body_error(e),
        };
    let as_fhir = wants_fhir(&req);
    let answered = run_admitted(&state, rid.clone(), move |state, request_id| {
        let options = BundleOptions {
            mapping: &mapping,
            today: chrono::Utc::now().date_naive(),
            job,
        };
        let caller = Caller {
            request_id: request_id.to_string(),
            key_id,
        };
        Ok(assess_bundle(
            &state.assessor,
            &bundle,
            received,
            &options,
            &caller,
        ))
    })
    .await?;
    match answered {
        Ok(recorded) => created(&recorded, as_fhir, &state),
        Err(BundleError::Service(e)) => Err(ApiError::from(e).with_request_id(rid)),
        Err(e @ BundleError::Structure { .. }) => {
            Ok(outcome_response(StatusCode::BAD_REQUEST, &e.issues()))
        }
        Err(e) => Ok(outcome_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &e.issues(),
        )),
    }
}

/// The 201 answer: the stored assessment, or its FHIR Bundle when `as_fhir`.
///
/// # Errors
/// Internal, when the stored body does not read back (it was just written by this server).
pub fn created(
    recorded: &Recorded,
    as_fhir: bool,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let mut response = HttpResponse::Created();
    response.insert_header((
        header::LOCATION,
        format!("/v1/assessments/{}", recorded.assessment_id),
    ));
    if as_fhir {
        return Ok(response
            .content_type(FHIR_JSON)
            .json(fhir_bundle(&recorded.body, state)?));
    }
    Ok(response
        .content_type("application/json")
        .body(recorded.body.clone()))
}

/// The FHIR R4 Bundle of a stored answer (`ehr::fhir_out`).
///
/// # Errors
/// Internal, when the stored body is not an assessment.
pub fn fhir_bundle(stored: &str, state: &AppState) -> Result<Value, ApiError> {
    let answer: service::Assessment =
        serde_json::from_str(stored).map_err(|e| ApiError::internal(&e))?;
    Ok(crate::ehr::fhir_out::stored_assessment_bundle(
        &answer,
        &state.cds.public_url,
        answer.answered_by_synthetic_set(),
    ))
}

/// A body that cannot be read, as an OperationOutcome (400 not JSON, 413 too large); anything
/// else stays a problem.
fn body_error(e: ApiError) -> Result<HttpResponse, ApiError> {
    let (status, code) = match e.code {
        Code::InvalidRequestBody => (StatusCode::BAD_REQUEST, IssueType::Structure),
        Code::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, IssueType::TooCostly),
        _ => return Err(e),
    };
    Ok(outcome_response(
        status,
        &[Issue::new(code, e.detail, None)],
    ))
}

/// `explain` (default `true`) and `missing_input_ranges` (default `false`), each `true` or
/// `false` and given at most once; every problem at once, each naming the parameter.
///
/// # Errors
/// One issue per unknown, repeated or malformed parameter.
pub fn parse_options(query: &str) -> Result<JobOptions, Vec<Issue>> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| {
            vec![Issue::new(
                IssueType::Structure,
                "the query string is not form-urlencoded",
                None,
            )]
        })?
        .into_inner();
    let mut issues = Vec::new();
    let mut job = JobOptions {
        missing_input_ranges: false,
        ..JobOptions::default()
    };
    for (i, (name, value)) in pairs.iter().enumerate() {
        let flag = match name.as_str() {
            "explain" => &mut job.explain,
            "missing_input_ranges" => &mut job.missing_input_ranges,
            _ => {
                issues.push(Issue::new(
                    IssueType::NotSupported,
                    format!(
                        "query parameter {name:?} is not supported (parameters: {})",
                        PARAMETERS.join(", ")
                    ),
                    None,
                ));
                continue;
            }
        };
        if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
            issues.push(Issue::new(
                IssueType::Value,
                format!("query parameter {name:?} is given more than once"),
                None,
            ));
            continue;
        }
        match value.as_str() {
            "true" => *flag = true,
            "false" => *flag = false,
            _ => issues.push(Issue::new(
                IssueType::Value,
                format!("query parameter {name:?} must be true or false"),
                None,
            )),
        }
    }
    if issues.is_empty() {
        Ok(job)
    } else {
        Err(issues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_like_the_json_request_and_every_bad_parameter_is_named() {
        let job = parse_options("").expect("no parameters");
        assert!(job.explain && !job.missing_input_ranges);
        let job = parse_options("explain=false&missing_input_ranges=true").expect("both");
        assert!(!job.explain && job.missing_input_ranges);
        let issues = parse_options("explain=yes&colour=blue&explain=true").expect_err("bad");
        let text: Vec<&str> = issues.iter().map(|i| i.diagnostics.as_str()).collect();
        assert_eq!(issues.len(), 3, "{text:?}");
        assert!(
            text[0].contains("\"explain\" must be true or false"),
            "{text:?}"
        );
        assert!(text[1].contains("\"colour\" is not supported"), "{text:?}");
        assert!(
            text[2].contains("\"explain\" is given more than once"),
            "{text:?}"
        );
    }
}
