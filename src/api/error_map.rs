//! Domain errors as problems, in one place: every [`ServiceError`] (and the rule registry's and
//! the audit store's errors, which rules management meets directly) becomes its stable problem
//! code here, so no handler decides a status.

use super::error::{ApiError, Code, FieldProblem};
use crate::audit::AuditError;
use crate::features::FieldError;
use crate::rules::registry::RegistryError;
use crate::rules::{RuleSetError, VERSION_PATTERN};
use crate::service::backtest::BacktestError;
use crate::service::ServiceError;

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(errors) => {
                ApiError::invalid(errors.iter().map(field_problem).collect())
            }
            ServiceError::Feedback(rejected) => ApiError::invalid(
                rejected
                    .0
                    .iter()
                    .map(|e| field(&e.field(), e.problem.reason(), e.problem.to_string()))
                    .collect(),
            ),
            ServiceError::Outcomes(rejected) => ApiError::invalid(
                rejected
                    .0
                    .iter()
                    .map(|e| field(&e.field(), e.problem.reason(), e.problem.to_string()))
                    .collect(),
            ),
            ServiceError::Window(e) => {
                ApiError::invalid(vec![field("to", "contradiction", e.to_string())])
            }
            ServiceError::Filter(e) => {
                ApiError::invalid(vec![field(e.parameter(), e.reason(), e.to_string())])
            }

            ServiceError::Performance(e) => {
                ApiError::invalid(vec![field(e.parameter(), e.reason(), e.to_string())])
            }
            ServiceError::AssessmentNotFound => {
                ApiError::new(Code::AssessmentNotFound, "no assessment with this id")
            }
            ServiceError::RuleSet(e) => rule_set_error(e, "document"),
            ServiceError::Registry(e) => registry_error(e, "version"),
            ServiceError::RuleEvaluation(e) => {
                ApiError::new(Code::RuleEvaluationFailed, e.to_string())
            }
            ServiceError::Backtest(e @ BacktestError::TooManyAssessments { .. }) => {
                ApiError::new(Code::BacktestWindowTooLarge, e.to_string())
            }
            ServiceError::Backtest(BacktestError::Store(e)) | ServiceError::Store(e) => {
                store_error(&e)
            }
            e @ (ServiceError::Model(_)
            | ServiceError::Unreadable(_)
            | ServiceError::Internal(_)
            | ServiceError::Serialise(_)) => ApiError::internal(&e),
        }
    }
}

/// One field problem of the service as the wire's `errors` entry.
pub fn field_problem(e: &FieldError) -> FieldProblem {
    FieldProblem {
        field: e.field.clone(),
        reason: e.constraint.reason().to_string(),
        detail: e.constraint.to_string(),
    }
}

/// An error with its causes, `outer: cause: cause` (store errors name files and databases, never
/// passwords or patient values).
fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// An unavailable store (busy, missing, disk full) is 503 `audit_store_unavailable`: retrying
/// can help. A corrupt or failing store is 500 `internal`: an operator must look (logged).
pub fn store_error(e: &AuditError) -> ApiError {
    tracing::error!(error = %cause_chain(e), "audit store failure");
    match e {
        AuditError::Unavailable { .. } => ApiError::new(
            Code::AuditStoreUnavailable,
            "the audit store cannot record the answer; nothing was acknowledged",
        ),
        other => ApiError::internal(other),
    }
}

fn field(field: &str, reason: &str, detail: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        reason: reason.into(),
        detail: detail.into(),
    }
}

/// No stored rule-set version of this name.
pub fn version_not_found(version: &str) -> ApiError {
    ApiError::new(
        Code::RuleVersionNotFound,
        format!("no rule-set version `{version}`"),
    )
}

/// A document the checks reject: one `errors` entry per problem, located under `prefix`
/// (`document` for a document in the request, `version` for a stored one).
pub fn rule_set_error(e: RuleSetError, prefix: &str) -> ApiError {
    match e {
        RuleSetError::Rejected(problems) => ApiError::invalid(
            problems
                .into_iter()
                .map(|p| {
                    if prefix == "document" {
                        let location =
                            if p.location == "document" || p.location.starts_with("document") {
                                p.location
                            } else {
                                format!("document.{}", p.location)
                            };
                        field(&location, "invalid_rule", p.problem)
                    } else {
                        field(
                            prefix,
                            "invalid_rule",
                            format!(
                                "the stored document no longer passes the checks: {}: {}",
                                p.location, p.problem
                            ),
                        )
                    }
                })
                .collect(),
        ),
        RuleSetError::Version(_) => ApiError::invalid(vec![field(
            "version",
            "invalid_format",
            format!("must match {VERSION_PATTERN}"),
        )]),
        e @ (RuleSetError::Json(_) | RuleSetError::Io { .. }) => ApiError::internal(&e),
    }
}

/// Registry failures as API errors (`prefix` as in [`rule_set_error`]).
pub fn registry_error(e: RegistryError, prefix: &str) -> ApiError {
    match e {
        RegistryError::Invalid(e) => rule_set_error(e, prefix),
        RegistryError::Exists { version, sha256 } => ApiError::new(
            Code::RuleVersionExists,
            format!("rule-set version `{version}` exists already (sha256 {sha256}); versions are immutable, upload under a new name"),
        ),
        RegistryError::NotFound(version) => version_not_found(&version),
        RegistryError::Store(e) => store_error(&e),
        e @ RegistryError::Corrupt { .. } => ApiError::internal(&e),
    }
}
