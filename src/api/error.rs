//! Every API error as `application/problem+json` (RFC 9457) with a stable `code`: one table maps
//! each code to its status and title, so a new failure cannot ship without a deliberate status.
//! 5xx bodies are generic; their causes go to the log (never patient values).

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoResponses, PartialSchema, ToSchema};

/// Stable error codes: API contract. Never rename one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidRequestBody,
    InvalidInput,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
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
    CdsTokenRejected,
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
            Self::MethodNotAllowed => (
                "method_not_allowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
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
            Self::CdsTokenRejected => (
                "cds_token_rejected",
                StatusCode::UNAUTHORIZED,
                "CDS client token rejected",
            ),
        }
    }

    /// Every code (documentation and tests).
    pub const ALL: [Code; 18] = [
        Self::InvalidRequestBody,
        Self::InvalidInput,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
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
        Self::CdsTokenRejected,
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
        match self.code {
            Code::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            // RFC 6750 §3: a rejected bearer token names the error (never the token).
            Code::CdsTokenRejected => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

// ------------------------------------------------------------------ documented error responses
//
// The error responses shared by the operations, written once for `#[utoipa::path]`: list them in
// `responses(...)` next to the operation's own tuples (success, 404, 409, 422), e.g.
// `responses((status = 200, ...), AuthErrors, ServerErrors)`. utoipa inlines each variant as one
// `application/problem+json` response with the `Problem` schema; the derives only feed the
// OpenAPI document (the handlers answer [`ApiError`]).

/// 401 and 403: every operation that needs an API key.
#[derive(IntoResponses)]
pub enum AuthErrors {
    #[response(status = 401, description = "Missing or unknown API key (`unauthorized`)", content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer`")),
        example = json!(crate::api::dto::examples::problem(Code::Unauthorized, "send Authorization: Bearer <API key>")))]
    Unauthorized(Problem),
    #[response(status = 403, description = "The key's role may not do this (`forbidden`)", content_type = "application/problem+json",
        example = json!(crate::api::dto::examples::problem(Code::Forbidden, "role ehr may not do this (ManageRules)")))]
    Forbidden(Problem),
}

/// 400, 413 and 415: every operation that reads a JSON body of at most `LIMIT` bytes (the 413
/// example names it).
#[derive(IntoResponses)]
pub enum BodyErrors<const LIMIT: usize> {
    #[response(status = 400, description = "The body is not JSON (`invalid_request_body`)", content_type = "application/problem+json",
        example = json!(crate::api::dto::examples::problem(Code::InvalidRequestBody, "the body is not valid JSON (line 1, column 12)")))]
    InvalidRequestBody(Problem),
    #[response(status = 413, description = "The body is over the size limit (`payload_too_large`)", content_type = "application/problem+json",
        example = json!(crate::api::dto::examples::problem(Code::PayloadTooLarge, &format!("the body exceeds {LIMIT} bytes"))))]
    PayloadTooLarge(Problem),
    #[response(status = 415, description = "The Content-Type is not JSON (`unsupported_media_type`)", content_type = "application/problem+json",
        example = json!(crate::api::dto::examples::problem(Code::UnsupportedMediaType, "send Content-Type: application/json")))]
    UnsupportedMediaType(Problem),
}

/// 500 and 503 `audit_store_unavailable`: every operation that reads or writes the audit store.
#[derive(IntoResponses)]
pub enum ServerErrors {
    #[response(status = 500, description = "Internal failure (`internal`); the cause is logged, never patient values", content_type = "application/problem+json",
        example = json!(crate::api::dto::examples::problem(Code::Internal, "the server failed to answer; the failure has been logged")))]
    Internal(Problem),
    #[response(status = 503, description = "The audit store does not answer (`audit_store_unavailable`); nothing was recorded or changed. Retry after `Retry-After` seconds", content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "Seconds to wait before retrying")),
        example = json!(crate::api::dto::examples::problem(Code::AuditStoreUnavailable, "the audit store cannot record the answer; nothing was acknowledged")))]
    AuditStoreUnavailable(Problem),
}

/// 500 and 503 `overloaded` or `audit_store_unavailable`: [`ServerErrors`] with the 503 of
/// [`OverloadedOrAuditStoreUnavailable`], for every operation that runs its CPU work under a
/// permit of the bounded queue and uses the audit store.
pub struct QueuedServerErrors;

impl IntoResponses for QueuedServerErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = ServerErrors::responses();
        // Replaces the 503 of `ServerErrors` (one response per status).
        responses.extend(OverloadedOrAuditStoreUnavailable::responses());
        responses
    }
}

/// The 503 of [`QueuedServerErrors`]: the bounded queue is full or the audit store does not answer.
#[derive(IntoResponses)]
#[response(status = 503, description = "Overloaded (`overloaded`: the bounded queue of CPU work is full) or the audit store does not answer (`audit_store_unavailable`); nothing was recorded. Retry after `Retry-After` seconds", content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying")),
    examples(
        ("overloaded" = (summary = "The CPU queue is full", value = json!(crate::api::dto::examples::problem(Code::Overloaded, "too many assessments in progress; retry shortly")))),
        ("audit_store_unavailable" = (summary = "The audit store does not answer", value = json!(crate::api::dto::examples::problem(Code::AuditStoreUnavailable, "the audit store cannot record the answer; nothing was acknowledged")))),
    ))]
pub struct OverloadedOrAuditStoreUnavailable(pub Problem);
