//! `GET /v1/session` (who the caller's key is and what it may do) and `GET /v1/features` (the
//! feature dictionary with clinician labels, and the outcomes): what the web page needs to sign
//! in, show only the views the role may use, and build the assessment form. Any valid key.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::api::dto::session::SessionDto;
use crate::api::error::{ApiError, Code, Problem};
use crate::api::AppState;
use crate::features::schema::labelled_feature_dictionary_json;
use crate::outcomes::{Outcome, OutcomeKind};

/// Who the caller is.
///
/// The API key's id and role, whether the server runs in development mode (no key needed), and
/// every permission of the role (the role table of `docs/api.md`). The web page signs in with
/// it. Any valid key; 401 without one (unless in development mode).
#[utoipa::path(
    tag = "session",
    responses(
        (status = 200, description = "The caller's key", body = SessionDto, content_type = "application/json",
            example = json!(crate::api::dto::session::session())),
        (status = 401, description = "Missing or unknown API key (`unauthorized`)", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            example = json!(crate::api::dto::examples::problem(Code::Unauthorized, "send Authorization: Bearer <API key>"))),
    ),
    security(("bearer" = []))
)]
#[get("/session")]
pub async fn get_session(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = state.keys.identify(&req)?;
    let permissions = state.keys.permissions(&caller);
    Ok(HttpResponse::Ok().json(SessionDto {
        role: caller.role.map(|r| r.as_str().to_string()),
        key_id: caller.key_id,
        development_mode: state.keys.development_mode(),
        permissions,
    }))
}

/// The feature dictionary.
///
/// Every input with its group, type, unit, accepted range or levels (with their words), whether
/// it is required, its terminology codes, description and clinician label; the derived features;
/// and every outcome with its name, definition, kind and population. The same dictionary as
/// `schemas/feature_dictionary.json` (`periop schemas`), plus the labels. Any valid key; 401
/// without one (unless in development mode).
#[utoipa::path(
    tag = "features",
    responses(
        (status = 200, description = "The feature dictionary", body = crate::api::dto::session::FeatureDictionaryDto, content_type = "application/json",
            example = json!(crate::api::dto::session::features())),
        (status = 401, description = "Missing or unknown API key (`unauthorized`)", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            example = json!(crate::api::dto::examples::problem(Code::Unauthorized, "send Authorization: Bearer <API key>"))),
    ),
    security(("bearer" = []))
)]
#[get("/features")]
pub async fn get_features(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.keys.identify(&req)?;
    let mut dictionary = labelled_feature_dictionary_json();
    dictionary["outcomes"] = Outcome::ALL
        .iter()
        .map(|o| {
            json!({
                "id": o.id(),
                "name": o.short_name(),
                "definition": o.definition(),
                "kind": match o.kind() {
                    OutcomeKind::Probability => "probability",
                    OutcomeKind::Quantity => "quantity",
                },
                "population": o.population(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(dictionary))
}
