//! Route table: `/v1` resources, health endpoints, and problem+json for unknown routes.
//! Every documented route is registered with `.service()` on utoipa-actix-web's wrappers, so the
//! OpenAPI document (`api::openapi::spec`) is collected from this very table; never `.route()`.

pub mod assessments;
pub mod health;
pub mod models;
pub mod rules;

use actix_web::{web, HttpRequest};
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::{ApiError, Code};

/// Registers every route and the 404 fallback.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/v1")
            .service(assessments::create_assessments_batch)
            .service(assessments::create_assessment)
            .service(assessments::get_explanation_svg)
            .service(assessments::get_assessment)
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
            .service(rules::get_rule_version),
    )
    .service(health::healthz)
    .service(health::readyz)
    .service(health::metrics)
    .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        Code::NotFound,
        format!("no route {} {}", req.method(), req.path()),
    )
    .with_request_id(super::request_id_of(&req)))
}
