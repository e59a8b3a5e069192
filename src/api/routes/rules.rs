//! The rules API, part 1: the active rule set and the stored versions (read, upload, activate).
//! Evaluation and back-tests are in [`evaluate`].
//!
//! Every change goes through the [`RuleRegistry`](crate::rules::registry::RuleRegistry): a
//! document is validated before anything is stored (a rejected upload changes nothing), every
//! upload and activation is a record of the audit chain with the caller's key id, nothing is ever
//! deleted, and activation swaps the active set in one step. Store I/O and compiling documents run
//! off the reactor (`web::block`). Roles: `quality` reads (and evaluates, back-tests); `admin` may
//! also upload and activate.

pub mod evaluate;

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::api::auth::Permission;
use crate::api::dto::rules::{ActiveRulesDto, RuleVersionDto, RuleVersionsDto};
use crate::api::error::{
    ApiError, AuthErrors, BodyErrors, Code, FieldProblem, Problem, ServerErrors,
};
use crate::api::error_map::{registry_error, version_not_found};
use crate::api::{blocking, body, request_id_of, AppState};
use crate::rules::safety::MAX_DOCUMENT_BYTES;
use crate::rules::{valid_version, VERSION_PATTERN};

/// Body limit of the rules endpoints: a rule document may be up to 4 MiB
/// ([`MAX_DOCUMENT_BYTES`]), plus room for the other members.
pub const RULE_BODY_LIMIT: usize = MAX_DOCUMENT_BYTES + 64 * 1024;

/// Longest upload note, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// Show the active rule set.
///
/// Its version name and canonical SHA-256, who activated it (the API key id; `system` when the
/// model set's own rule set was registered at first start) and when, the version it replaced,
/// and the GoRules JDM document itself. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "rules",
    responses(
        (status = 200, description = "The active rule set", body = crate::api::dto::rules::ActiveRulesDto, content_type = "application/json",
            example = json!(crate::api::dto::rules::examples::active_rules())),
        AuthErrors,
    ),
    security(("bearer" = []))
)]
#[get("/rules")]
pub async fn get_active_rules(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.keys.authorize(&req, Permission::ReadRules)?;
    let active = state.rules.active();
    Ok(HttpResponse::Ok().json(ActiveRulesDto::from(&*active)))
}

/// List every rule-set version and every activation.
///
/// Every uploaded version (name, SHA-256, uploader, time, note, whether it is active) and every
/// activation (who made which version active, when, replacing which), oldest first. Nothing is
/// ever deleted: this is the full history, read from the audit chain. Documents are left out;
/// `GET /v1/rules/versions/{version}` has them. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "rules",
    responses(
        (status = 200, description = "The version and activation history", body = crate::api::dto::rules::RuleVersionsDto, content_type = "application/json",
            example = json!(crate::api::dto::rules::examples::versions())),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/rules/versions")]
pub async fn list_rule_versions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::ReadRules)?;
    let s = state.clone();
    let history = blocking(rid, move || {
        let active = s.rules.active().activation.version.clone();
        let versions = s
            .rules
            .versions()
            .map_err(|e| registry_error(e, "version"))?;
        let activations = s
            .rules
            .activations()
            .map_err(|e| registry_error(e, "version"))?;
        Ok(RuleVersionsDto::new(&active, versions, activations))
    })
    .await?;
    Ok(HttpResponse::Ok().json(history))
}

/// Fetch one stored rule-set version with its document.
///
/// The version's SHA-256, uploader, upload time, note, whether it is active, and the GoRules JDM
/// document exactly as uploaded. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "rules",
    params(("version" = String, Path, description = "Version name", example = "2025.02-dvt-threshold")),
    responses(
        (status = 200, description = "The version", body = crate::api::dto::rules::RuleVersionDto, content_type = "application/json",
            example = json!(crate::api::dto::rules::examples::version())),
        (status = 404, description = "No version of that name (`rule_version_not_found`)", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::RuleVersionNotFound, "no rule-set version `2025.02-dvt-threshold`"))),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/rules/versions/{version}")]
pub async fn get_rule_version(
    req: HttpRequest,
    version: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::ReadRules)?;
    let version = version.into_inner();
    let s = state.clone();
    let found = blocking(rid, move || {
        let record = s
            .rules
            .version(&version)
            .map_err(|e| registry_error(e, "version"))?
            .ok_or_else(|| version_not_found(&version))?;
        let active = s.rules.active().activation.version == record.version;
        Ok(RuleVersionDto::new(record, active))
    })
    .await?;
    Ok(HttpResponse::Ok().json(found))
}

/// Upload a candidate rule-set version.
///
/// Body: `{"version": "...", "document": {JDM}, "note": "..."}`. The document is checked like the
/// model set's own rule set (allowed node types only, no cycle, every table and expression well
/// formed, every field it reads exists, size bounds; `docs/rules.md`) and compiled. A rejected
/// document stores nothing and answers 422 with one `errors` entry per problem, whose `field` is
/// the problem's location (e.g. `document.nodes[3] "VTE" (id vte)`). A valid one is stored (not
/// activated) as an audit record with the caller's key id; versions are immutable, so an existing
/// name answers 409. Body limit: 4 MiB plus 64 KiB. Role: `admin`.
#[utoipa::path(
    tag = "rules",
    request_body(content = crate::api::dto::rules::UploadRuleVersionRequestDto, content_type = "application/json",
        example = json!(crate::api::dto::rules::examples::upload_request())),
    responses(
        (status = 201, description = "Validated and stored (not active)", body = crate::api::dto::rules::RuleVersionDto, content_type = "application/json",
            headers(("Location" = String, description = "`/v1/rules/versions/{version}`: the stored version")),
            example = json!(crate::api::dto::rules::examples::version())),
        (status = 409, description = "A version of that name exists (`rule_version_exists`); versions are immutable", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::RuleVersionExists, "rule-set version `2025.02-dvt-threshold` exists already (sha256 0b6e3f1a9c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b); versions are immutable, upload under a new name"))),
        (status = 422, description = "Invalid input (`invalid_input`): a bad version name, a missing member, or a rejected document (one entry per problem, `field` = its location); nothing was stored", body = Problem, content_type = "application/problem+json",
            examples(
                ("rejected_document" = (summary = "The document fails the safety checks", value = json!(examples::rejected()))),
                ("bad_version" = (summary = "The version name is not allowed", value = json!(examples::bad_version()))),
            )),
        AuthErrors,
        BodyErrors<{ RULE_BODY_LIMIT }>,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/rules/versions")]
pub async fn create_rule_version(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::ManageRules)?;
    let body = body::read_json(&req, payload, RULE_BODY_LIMIT).await?;
    let (version, document, note) =
        parse_upload(&body).map_err(|e| e.with_request_id(rid.clone()))?;
    let s = state.clone();
    let request_id = rid.clone().unwrap_or_default();
    let stored = blocking(rid, move || {
        let record = s
            .rules
            .upload(&version, document, &note, &caller.key_id, &request_id)
            .map_err(|e| registry_error(e, "document"))?;
        let active = s.rules.active().activation.version == record.version;
        Ok(RuleVersionDto::new(record, active))
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/v1/rules/versions/{}", stored.version),
        ))
        .json(stored))
}

/// Make a stored version the active rule set.
///
/// The activation (version, SHA-256, the caller's key id, time, the version it replaces) is
/// written to the audit chain first; then the active set is swapped in one step. Every assessment
/// takes the active set once and records the version it used, so none sees half of a change.
/// Activating the active version again is allowed (and recorded). No body. Role: `admin`.
#[utoipa::path(
    tag = "rules",
    params(("version" = String, Path, description = "Version name", example = "2025.02-dvt-threshold")),
    responses(
        (status = 200, description = "Activated and recorded", body = crate::rules::registry::Activation, content_type = "application/json",
            example = json!(crate::api::dto::rules::examples::activation())),
        (status = 404, description = "No version of that name (`rule_version_not_found`)", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::RuleVersionNotFound, "no rule-set version `2025.02-dvt-threshold`"))),
        (status = 422, description = "The stored document no longer passes the checks of this periop version (`invalid_input`, field `version`); nothing changed", body = Problem, content_type = "application/problem+json",
            example = json!(examples::stale_version())),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/rules/versions/{version}/activate")]
pub async fn activate_rule_version(
    req: HttpRequest,
    version: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::ManageRules)?;
    let version = version.into_inner();
    let s = state.clone();
    let request_id = rid.clone().unwrap_or_default();
    let activation = blocking(rid, move || {
        let activation = s
            .rules
            .activate(&version, &caller.key_id, &request_id)
            .map_err(|e| registry_error(e, "version"))?;
        tracing::info!(version = %activation.version, sha256 = %activation.sha256, activated_by = %activation.activated_by, "rule set activated");
        Ok(activation)
    })
    .await?;
    Ok(HttpResponse::Ok().json(activation))
}

pub(super) fn field(field: &str, reason: &str, detail: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        reason: reason.into(),
        detail: detail.into(),
    }
}

/// `{"version", "document", "note"}`: every shape problem at once.
fn parse_upload(body: &Value) -> Result<(String, Value, String), ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::invalid(vec![field(
            "",
            "wrong_type",
            "the body must be a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    for key in object.keys() {
        if !matches!(key.as_str(), "version" | "document" | "note") {
            errors.push(field(
                key,
                "unknown_field",
                "is not a request field (version, document, note)",
            ));
        }
    }
    let version = match object.get("version") {
        Some(Value::String(v)) if valid_version(v) => Some(v.clone()),
        Some(Value::String(_)) => {
            errors.push(field(
                "version",
                "invalid_format",
                format!("must match {VERSION_PATTERN}"),
            ));
            None
        }
        Some(_) => {
            errors.push(field("version", "wrong_type", "must be a string"));
            None
        }
        None => {
            errors.push(field("version", "required", "is required"));
            None
        }
    };
    let document = match object.get("document") {
        Some(d @ Value::Object(_)) => Some(d.clone()),
        Some(_) => {
            errors.push(field(
                "document",
                "wrong_type",
                "must be a JDM decision graph (a JSON object)",
            ));
            None
        }
        None => {
            errors.push(field("document", "required", "is required"));
            None
        }
    };
    let note = match object.get("note") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(n)) if n.chars().count() <= MAX_NOTE_CHARS => n.clone(),
        Some(Value::String(_)) => {
            errors.push(field(
                "note",
                "out_of_range",
                format!("must be at most {MAX_NOTE_CHARS} characters"),
            ));
            String::new()
        }
        Some(_) => {
            errors.push(field("note", "wrong_type", "must be a string"));
            String::new()
        }
    };
    match (version, document) {
        (Some(v), Some(d)) if errors.is_empty() => Ok((v, d, note)),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// Problem examples of the rules endpoints.
pub(crate) mod examples {
    use serde_json::{json, Value};

    use crate::api::dto::examples::REQUEST_ID;
    use crate::api::error::{ApiError, FieldProblem};

    fn invalid(errors: Vec<(&str, &str, &str)>) -> Value {
        json!(ApiError::invalid(
            errors
                .into_iter()
                .map(|(f, r, d)| FieldProblem {
                    field: f.into(),
                    reason: r.into(),
                    detail: d.into(),
                })
                .collect()
        )
        .with_request_id(Some(REQUEST_ID.into()))
        .problem())
    }

    /// A document with a function node and an unknown field.
    pub fn rejected() -> Value {
        invalid(vec![
            ("document.nodes[3] \"Score\" (id score)", "invalid_rule", "function nodes run JavaScript and are not allowed in a rule set"),
            ("document.nodes[1] \"VTE prophylaxis\" (id vte), inputs[0] `DVT band` field", "invalid_rule", "expression `predictions.dvt.band` reads unknown field `predictions.dvt.band` (see docs/rules.md for the fields a rule can read)"),
        ])
    }

    /// A version name with a slash.
    pub fn bad_version() -> Value {
        invalid(vec![(
            "version",
            "invalid_format",
            "must match ^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
        )])
    }

    /// A stored version that no longer loads.
    pub fn stale_version() -> Value {
        invalid(vec![("version", "invalid_rule", "the stored document no longer passes the checks: nodes[1] \"VTE prophylaxis\" (id vte), inputs[0] `DVT band` field: expression `predictions.dvt.band` reads unknown field `predictions.dvt.band` (see docs/rules.md for the fields a rule can read)")])
    }
}
