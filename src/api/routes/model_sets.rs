//! `GET /v1/models/activations` and `POST /v1/models/activations`: which model set answers, the
//! sets available under `model_sets_dir`, every activation; and activating one by version (an
//! audit record first, then an atomic swap; `service::model_sets`). A request names a version,
//! never a path. Roles: `quality` reads, `admin` activates.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::api::auth::Permission;
use crate::api::error::{
    ApiError, AuthErrors, BodyErrors, Code, FieldProblem, Problem, ServerErrors,
};
use crate::api::error_map::store_error;
use crate::api::{blocking, body, request_id_of, AppState};
use crate::service::model_sets::ModelSetError;

/// Body limit of an activation (`{"version": …}`).
const ACTIVATION_BODY_LIMIT: usize = 4 * 1024;

/// The answering model set, the sets available for activation, and every activation.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ModelSetActivationsDto {
    /// Id and version of the set answering now.
    #[schema(value_type = Object, example = json!({"id": "default", "version": "0.1.0+e07dbeb4d898"}))]
    pub active: Value,
    /// `false` when no `model_sets_dir` is configured (activations are refused).
    pub model_sets_dir_configured: bool,
    /// The sets under `model_sets_dir`, by directory name.
    pub available: Vec<crate::service::model_sets::AvailableSet>,
    /// Every activation, oldest first.
    pub activations: Vec<crate::service::model_sets::ModelSetActivation>,
}

/// `{"version": …}` of `POST /v1/models/activations`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateModelSetDto {
    /// The `version` of a set under `model_sets_dir` (`model_set.json`).
    #[schema(example = "0.1.0+12a49d13689a")]
    pub version: String,
}

/// Show the model set that answers, the sets available, and every activation.
///
/// Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "models",
    responses(
        (status = 200, description = "The answering set and the activations", body = ModelSetActivationsDto, content_type = "application/json",
            example = json!(examples::activations())),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/models/activations")]
pub async fn list_model_set_activations(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::ReadModels)?;
    let s = state.clone();
    let dto = blocking(rid, move || {
        let answering = s.assessor.models();
        let set = answering.set_manifest();
        let available = match s.model_sets.available() {
            Ok(list) => list,
            Err(ModelSetError::NotConfigured) => Vec::new(),
            Err(e) => return Err(model_set_error(e)),
        };
        Ok(ModelSetActivationsDto {
            active: json!({"id": set.id, "version": set.version}),
            model_sets_dir_configured: s.model_sets.is_configured(),
            available,
            activations: s.model_sets.activations().map_err(model_set_error)?,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(dto))
}

/// Activate a model set by version.
///
/// The set is looked up by `version` among the directories under the server's `model_sets_dir`
/// (never a path from the request), loaded and hash-verified; its activation (version, id,
/// directory, the caller's key id, time, the version it replaces) is written to the audit chain;
/// then the answering set is swapped in one step. Every assessment uses one set from start to end
/// and records the version that answered; replicas sharing the store switch within
/// `activation_poll_ms`. Nothing is deleted: a rollback activates the previous version.
/// Role: `admin`.
#[utoipa::path(
    tag = "models",
    request_body(content = ActivateModelSetDto, content_type = "application/json",
        example = json!({"version": "0.1.0+12a49d13689a"})),
    responses(
        (status = 200, description = "Activated and recorded", body = crate::service::model_sets::ModelSetActivation, content_type = "application/json",
            example = json!(examples::activation())),
        (status = 404, description = "No set with this version under model_sets_dir (`unknown_model`)", body = Problem, content_type = "application/problem+json",
            example = json!(crate::api::dto::examples::problem(Code::UnknownModel, "no model set with version `0.1.0+12a49d13689a` under model_sets_dir"))),
        (status = 422, description = "No `model_sets_dir` is configured (`invalid_input`, field `version`, reason `not_configured`), or the set with this version does not load (reason `invalid_model_set`); nothing changed", body = Problem, content_type = "application/problem+json",
            example = json!(examples::not_configured())),
        AuthErrors,
        BodyErrors<{ ACTIVATION_BODY_LIMIT }>,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[post("/models/activations")]
pub async fn activate_model_set(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::ManageModels)?;
    let body = body::read_json(&req, payload, ACTIVATION_BODY_LIMIT).await?;
    let request: ActivateModelSetDto = serde_json::from_value(body).map_err(|e| {
        ApiError::invalid(vec![FieldProblem {
            field: "version".into(),
            reason: "invalid".into(),
            detail: format!("the body must be {{\"version\": string}}: {e}"),
        }])
        .with_request_id(rid.clone())
    })?;
    let s = state.clone();
    let request_id = rid.clone().unwrap_or_default();
    let activation = blocking(rid, move || {
        let activation = s
            .model_sets
            .activate(&request.version, &caller.key_id, &request_id)
            .map_err(model_set_error)?;
        tracing::info!(version = %activation.version, directory = %activation.directory, activated_by = %activation.activated_by, previous = %activation.previous_version, "model set activated");
        Ok(activation)
    })
    .await?;
    Ok(HttpResponse::Ok().json(activation))
}

/// Documented examples.
mod examples {
    use serde_json::{json, Value};

    pub fn activation() -> Value {
        json!({
            "version": "0.1.0+12a49d13689a",
            "id": "site_b-2026h1",
            "directory": "site_b-2026h1",
            "activated_by": "admin-1",
            "activated_at": "2026-12-01T21:30:00.000Z",
            "previous_version": "0.1.0+e07dbeb4d898"
        })
    }

    pub fn activations() -> Value {
        json!({
            "active": {"id": "site_b-2026h1", "version": "0.1.0+12a49d13689a"},
            "model_sets_dir_configured": true,
            "available": [
                {"directory": "default", "id": "default", "version": "0.1.0+e07dbeb4d898", "recalibrated_from": null},
                {"directory": "site_b-2026h1", "id": "site_b-2026h1", "version": "0.1.0+12a49d13689a", "recalibrated_from": "0.1.0+e07dbeb4d898"}
            ],
            "activations": [activation()]
        })
    }

    pub fn not_configured() -> Value {
        let mut p = json!(crate::api::dto::examples::problem(
            crate::api::error::Code::InvalidInput,
            "1 invalid field(s): version"
        ));
        p["errors"] = json!([{
            "field": "version",
            "reason": "not_configured",
            "detail": "no model_sets_dir is configured: model sets cannot be activated"
        }]);
        p
    }
}

fn model_set_error(e: ModelSetError) -> ApiError {
    let field = |reason: &str, detail: String| {
        ApiError::invalid(vec![FieldProblem {
            field: "version".into(),
            reason: reason.into(),
            detail,
        }])
    };
    match e {
        ModelSetError::NotFound(_) => ApiError::new(Code::UnknownModel, e.to_string()),
        ModelSetError::NotConfigured => field("not_configured", e.to_string()),
        ModelSetError::Invalid { .. } => {
            tracing::warn!(error = %e, "model set refused for activation");
            field("invalid_model_set", e.to_string())
        }
        ModelSetError::Store(e) => store_error(&e),
        e @ (ModelSetError::Io { .. } | ModelSetError::Corrupt { .. }) => ApiError::internal(&e),
    }
}
