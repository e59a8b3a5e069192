//! Route table: `/v1` resources, health endpoints, and problem+json for unknown routes.
//! Every documented route is registered with `.service()` on utoipa-actix-web's wrappers, so the
//! OpenAPI document (`api::openapi::spec`) is collected from this very table; never `.route()`.

pub mod assessments;
pub mod audit;
pub mod cds_hooks;
pub mod fhir_assessments;
pub mod health;
pub mod model_recalibrations;
pub mod model_sets;
pub mod models;
pub mod outcomes;
pub mod quality;
pub mod quality_monitoring;
pub mod rules;
pub mod session;

use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, ResponseError};
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::{ApiError, Code};

/// Registers every route and the 404 fallback.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/v1")
            .service(assessments::create_assessments_batch)
            .service(assessments::create_assessment)
            .service(assessments::get_explanation_svg)
            .service(outcomes::get_assessment_outcomes)
            .service(outcomes::record_outcomes)
            .service(assessments::get_assessment)
            // Before `/models/{outcome}` (actix matches in registration order).
            .service(model_sets::list_model_set_activations)
            .service(model_sets::activate_model_set)
            .service(model_recalibrations::recalibrate_model_set)
            .service(models::list_models)
            .service(models::get_model)
            // Literal paths before the `{version}` ones, and the longer `{version}/activate`
            // before `{version}` (actix matches in registration order).
            .service(rules::get_active_rules)
            .service(rules::evaluate::evaluate_rules)
            .service(rules::evaluate::backtest_rules)
            .service(rules::list_rule_versions)
            .service(rules::create_rule_version)
            .service(rules::activate_rule_version)
            .service(rules::get_rule_version)
            .service(quality::get_override_summary)
            // The literal `export` before any future `{id}` route under /audit/assessments.
            .service(audit::export_audit_assessments)
            .service(audit::search_audit_assessments)
            .service(quality_monitoring::get_drift)
            .service(quality_monitoring::get_explanations)
            .service(quality_monitoring::get_explanations_svg)
            .service(quality::get_performance)
            .service(session::get_session)
            .service(session::get_features),
    )
    .service(cds_hooks::cds_discovery)
    .service(cds_hooks::cds_feedback)
    .service(cds_hooks::cds_service_call)
    .service(health::healthz)
    .service(health::readyz)
    .service(health::metrics)
    .default_service(web::to(not_found));
}

/// An unmatched request: 405 with `Allow` when the path is a documented route and only the
/// method is wrong, else 404.
async fn not_found(req: HttpRequest) -> actix_web::HttpResponse {
    let rid = super::request_id_of(&req);
    let allowed = allowed_methods(req.path());
    if allowed.is_empty() {
        return ApiError::new(
            Code::NotFound,
            format!("no route {} {}", req.method(), req.path()),
        )
        .with_request_id(rid)
        .error_response();
    }
    let allow = allowed.join(", ");
    let mut response = ApiError::new(
        Code::MethodNotAllowed,
        format!(
            "{} is not allowed on {}; allowed: {allow}",
            req.method(),
            req.path()
        ),
    )
    .with_request_id(rid)
    .error_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// The documented methods of the route matching `path`, from the OpenAPI document (the same
/// table the server registers), upper case, sorted.
fn allowed_methods(path: &str) -> Vec<String> {
    static TABLE: OnceLock<Vec<(ResourceDef, Vec<String>)>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let spec = super::openapi::cached_document();
        let mut table = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) {
            for (pattern, item) in paths {
                let mut methods: Vec<String> = item
                    .as_object()
                    .map(|o| {
                        o.keys()
                            .filter(|k| {
                                matches!(
                                    k.as_str(),
                                    "get"
                                        | "put"
                                        | "post"
                                        | "delete"
                                        | "patch"
                                        | "head"
                                        | "options"
                                )
                            })
                            .map(|k| k.to_uppercase())
                            .collect()
                    })
                    .unwrap_or_default();
                methods.sort();
                table.push((ResourceDef::new(pattern.as_str()), methods));
            }
        }
        table
    });
    // As in OpenAPI path matching, the most specific pattern wins: `/v1/models/recalibrations`
    // is that literal route (POST only), not `/v1/models/{outcome}` (GET).
    let matching: Vec<&(ResourceDef, Vec<String>)> =
        table.iter().filter(|(def, _)| def.is_match(path)).collect();
    let templated = |def: &ResourceDef| def.pattern().map_or(0, |p| p.matches('{').count());
    let fewest = matching.iter().map(|(def, _)| templated(def)).min();
    let mut allowed: Vec<String> = matching
        .iter()
        .filter(|(def, _)| Some(templated(def)) == fewest)
        .flat_map(|(_, methods)| methods.iter().cloned())
        .collect();
    allowed.sort();
    allowed.dedup();
    allowed
}
