//! Every API error as `application/problem+json` (RFC 9457) with a stable `code`: one table maps
//! each code to its status and title, so a new failure cannot ship without a deliberate status.
//! 5xx bodies are generic; their causes go to the log (never patient values).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// Stable error codes: API contract. Never rename one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidRequestBody,
    InvalidInput,
    Unauthorized,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    AssessmentNotFound,
    UnknownModel,
    Overloaded,
    AuditStoreUnavailable,
    Internal,
    RuleVersionNotFound,
    RuleVersionExists,
    RuleEvaluationFailed,
    BacktestWindowTooLarge,
}

impl Code {
    /// `(wire code, status, title)`.
    pub fn describe(self) -> (&'static str, StatusCode, &'static str) {
        match self {
            Self::InvalidRequestBody => (
                "invalid_request_body",
                StatusCode::BAD_REQUEST,
                "Malformed request body",
            ),
            Self::InvalidInput => (
                "invalid_input",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid input",
            ),
            Self::Unauthorized => (
                "unauthorized",
                StatusCode::UNAUTHORIZED,
                "Missing or unknown API key",
            ),
            Self::Forbidden => ("forbidden", StatusCode::FORBIDDEN, "Role not allowed"),
            Self::NotFound => ("not_found", StatusCode::NOT_FOUND, "No such route"),
            Self::PayloadTooLarge => (
                "payload_too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
            ),
            Self::UnsupportedMediaType => (
                "unsupported_media_type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
            ),
            Self::AssessmentNotFound => (
                "assessment_not_found",
                StatusCode::NOT_FOUND,
                "Assessment not found",
            ),
            Self::UnknownModel => ("unknown_model", StatusCode::NOT_FOUND, "Unknown model"),
            Self::Overloaded => ("overloaded", StatusCode::SERVICE_UNAVAILABLE, "Overloaded"),
            Self::AuditStoreUnavailable => (
                "audit_store_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Audit store unavailable",
            ),
            Self::Internal => (
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
            ),
            Self::RuleVersionNotFound => (
                "rule_version_not_found",
                StatusCode::NOT_FOUND,
                "Rule-set version not found",
            ),
            Self::RuleVersionExists => (
                "rule_version_exists",
                StatusCode::CONFLICT,
                "Rule-set version exists",
            ),
            Self::RuleEvaluationFailed => (
                "rule_evaluation_failed",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Rule evaluation failed",
            ),
            Self::BacktestWindowTooLarge => (
                "backtest_window_too_large",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Back-test window too large",
            ),
        }
    }

    /// Every code (documentation and tests).
    pub const ALL: [Code; 16] = [
        Self::InvalidRequestBody,
        Self::InvalidInput,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::AssessmentNotFound,
        Self::UnknownModel,
        Self::Overloaded,
        Self::AuditStoreUnavailable,
        Self::Internal,
        Self::RuleVersionNotFound,
        Self::RuleVersionExists,
        Self::RuleEvaluationFailed,
        Self::BacktestWindowTooLarge,
    ];
}

/// The OpenAPI schema of `Code`: a string enum generated from [`Code::ALL`], so the document
/// cannot miss a code.
impl PartialSchema for Code {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Stable, machine-readable error code (never renamed, only added).",
            ))
            .enum_values(Some(Code::ALL.iter().map(|c| c.describe().0)))
            .examples([serde_json::json!("invalid_input")])
            .into()
    }
}

impl ToSchema for Code {}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field's path in the request body, e.g. `patient.age_years` or `outcomes[1]`.
    #[schema(example = "patient.age_years")]
    pub field: String,
    /// Machine-readable constraint kind, e.g. `out_of_range`, `unknown_level`, `required`.
    #[schema(example = "out_of_range")]
    pub reason: String,
    /// The constraint in words (never the submitted value).
    #[schema(example = "must be within 18..=110 years")]
    pub detail: String,
}

/// The problem+json body (RFC 9457) of every error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI of the error's documentation (one per `code`).
    #[serde(rename = "type")]
    #[schema(example = "https://periop.example/docs/errors#invalid_input")]
    pub type_url: String,
    /// Short, fixed title of the code.
    #[schema(value_type = String, example = "Invalid input")]
    pub title: &'static str,
    /// The HTTP status.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong in this request (never patient values).
    #[schema(example = "1 invalid field(s): patient.age_years")]
    pub detail: String,
    /// The request id (`x-request-id`), to find the request in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "req_8f14e45fceea467a9d2c5b1e0b3e6a7d")]
    pub instance: Option<String>,
    /// Stable error code.
    #[schema(value_type = Code)]
    pub code: &'static str,
    /// Every invalid field (`invalid_input` only; absent otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<FieldProblem>,
}

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    pub errors: Vec<FieldProblem>,
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            request_id: None,
        }
    }

    pub fn invalid(errors: Vec<FieldProblem>) -> Self {
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        Self {
            code: Code::InvalidInput,
            detail: format!("{} invalid field(s): {}", errors.len(), fields.join(", ")),
            errors,
            request_id: None,
        }
    }

    /// An internal failure: the cause is logged, the client gets generic text.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            Code::Internal,
            "the server failed to answer; the failure has been logged",
        )
    }

    #[must_use]
    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        self.request_id = id;
        self
    }

    pub fn problem(&self) -> Problem {
        let (code, status, title) = self.code.describe();
        Problem {
            type_url: format!("https://periop.example/docs/errors#{code}"),
            title,
            status: status.as_u16(),
            detail: self.detail.clone(),
            instance: self.request_id.clone(),
            code,
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.describe().0, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.describe().1
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if matches!(self.code, Code::Overloaded | Code::AuditStoreUnavailable) {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        if self.code == Code::Unauthorized {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}
