//! Drift monitoring and the explanation audit: `GET /v1/quality/drift`, `GET
//! /v1/quality/explanations` and its plots `GET /v1/quality/explanations.svg`
//! (`service::drift`, `service::explanation_audit`, `service::explanation_plot`). Read-only; the
//! store is read off the reactor. Roles: `quality`, `admin`.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use super::rules::field;
use crate::api::auth::Permission;
use crate::api::dto::quality_monitoring::{DriftReportDto, ExplanationAuditDto};
use crate::api::error::{ApiError, AuthErrors, FieldProblem, Problem, ServerErrors};
use crate::api::{blocking, request_id_of, AppState};
use crate::service::drift::{drift_report, DriftQuery};
use crate::service::explanation_audit::{explanation_audit, ExplanationQuery};
use crate::service::explanation_plot::{bar_svg, beeswarm_svg};
use crate::service::OUTCOME_IDS;

/// Features shown in a plot when `top` is not given.
const DEFAULT_TOP: usize = 15;
/// Largest `top`.
const MAX_TOP: usize = 50;

/// Report input and prediction drift per calendar month.
///
/// Query: `from` (inclusive) and `to` (exclusive), RFC 3339 (a `+` offset percent-encoded as
/// `%2B`), the window of the assessments' `created_at`; optional `site` (one of the configured
/// sites) and `outcome` (only that outcome's prediction drift). For every calendar month (UTC)
/// with assessments and every dictionary input: the missing rate against training, PSI over the
/// training decile bins (numbers) or levels (booleans, enums) flagged `none` / `moderate` (≥ 0.1)
/// / `major` (≥ 0.25), and a KS test (numbers: training vs live cumulative proportions at the
/// training decile-bin edges, since the training distribution stores bins, not raw values) or a
/// chi-squared test of homogeneity (booleans, enums). Against the served model set's
/// `training_distribution.json`; without one, `training.status` is `unavailable` and only
/// prediction drift is reported. Prediction drift compares each month's predicted probabilities
/// (blood loss: median mL) with the window's first month (PSI over its deciles, exact KS) and
/// reports the mean against the training baseline rate. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "quality",
    params(crate::api::dto::quality_monitoring::DriftQueryDto),
    responses(
        (status = 200, description = "Drift per month", body = crate::api::dto::quality_monitoring::DriftReportDto, content_type = "application/json",
            example = json!(crate::api::dto::quality_monitoring::examples::drift_report())),
        (status = 422, description = "A missing, unknown, repeated or malformed parameter, an unknown site or outcome, or `to` not after `from` (`invalid_input`, `field` = the parameter)", body = Problem, content_type = "application/problem+json",
            examples(
                ("bad_from" = (summary = "`from` is not RFC 3339", value = json!(examples::invalid("from", "invalid_format", "must be an RFC 3339 date-time, e.g. 2026-03-01T00:00:00Z")))),
                ("unknown_outcome" = (summary = "`outcome` is not an outcome id", value = json!(examples::invalid("outcome", "unknown_level", "is not an outcome id")))),
                ("reversed" = (summary = "`to` is not after `from`", value = json!(examples::invalid("to", "contradiction", "to must be after from")))),
            )),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/quality/drift")]
pub async fn get_drift(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::ReadQuality)?;
    let query = Params::parse(
        req.query_string(),
        &["from", "to", "site", "outcome"],
        &state,
    )
    .and_then(|p| {
        let (from, to) = p.window();
        let site = p.site();
        let outcome = p.outcome(false);
        p.finish()?;
        Ok(DriftQuery {
            from: from.ok_or_else(internal)?,
            to: to.ok_or_else(internal)?,
            site,
            outcome,
        })
    })
    .map_err(|e| e.with_request_id(rid.clone()))?;
    let store = state.store.clone();
    // The set answering now (after an activation, not the one loaded at start).
    let models = state.assessor.models();
    let report = blocking(rid, move || {
        Ok(drift_report(
            store.as_ref(),
            models.training_distribution(),
            &query,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DriftReportDto::from(&report)))
}

/// Audit what drives one outcome's explanations.
///
/// Query: `outcome` (required), `from` (inclusive) and `to` (exclusive), RFC 3339, the window of
/// the assessments' `created_at`; optional `site`. Over the assessments that predicted the
/// outcome: mean |SHAP| per model feature on the raw scale (log-odds; ln mL for blood loss),
/// ranked; how many carry stored SHAP values and how many do not (SHAP is stored only when the
/// request asked for explanations); and the assessments whose explanation is dominated by
/// missing inputs: the features missing from the model input carry at least half of the total
/// |SHAP| (ids listed, at most 100). Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "quality",
    params(crate::api::dto::quality_monitoring::ExplanationsQueryDto),
    responses(
        (status = 200, description = "The explanation audit", body = crate::api::dto::quality_monitoring::ExplanationAuditDto, content_type = "application/json",
            example = json!(crate::api::dto::quality_monitoring::examples::explanation_audit())),
        (status = 422, description = "A missing, unknown, repeated or malformed parameter, an unknown site or outcome, or `to` not after `from` (`invalid_input`, `field` = the parameter)", body = Problem, content_type = "application/problem+json",
            examples(
                ("missing_outcome" = (summary = "`outcome` is required", value = json!(examples::invalid("outcome", "required", "is required (an outcome id)")))),
                ("reversed" = (summary = "`to` is not after `from`", value = json!(examples::invalid("to", "contradiction", "to must be after from")))),
            )),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/quality/explanations")]
pub async fn get_explanations(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::ReadQuality)?;
    let query = Params::parse(
        req.query_string(),
        &["outcome", "from", "to", "site"],
        &state,
    )
    .and_then(|p| {
        let query = p.explanation_query();
        p.finish()?;
        query.ok_or_else(internal)
    })
    .map_err(|e| e.with_request_id(rid.clone()))?;
    let store = state.store.clone();
    let audit = blocking(rid, move || Ok(explanation_audit(store.as_ref(), &query)?)).await?;
    Ok(HttpResponse::Ok().json(ExplanationAuditDto::from(&audit)))
}

/// Plot the explanation audit as SVG.
///
/// The parameters of `GET /v1/quality/explanations`, plus `plot` (`bar`: mean |SHAP| per
/// feature, one bar per feature shown; `beeswarm`: one dot per assessment per feature, x = its
/// SHAP value, colour = the rank of the feature's value among the window's assessments, hollow
/// grey = missing; at most 1,000 dots per feature, thinned evenly and stated in the plot) and
/// `top` (features shown, 1–50, default 15). The SVG has a `<title>` and a `<desc>` naming what
/// it shows. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "quality",
    params(crate::api::dto::quality_monitoring::ExplanationsSvgQueryDto),
    responses(
        (status = 200, description = "The plot", body = String, content_type = "image/svg+xml",
            example = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"630\" role=\"img\">…</svg>"),
        (status = 422, description = "A missing, unknown, repeated or malformed parameter (`plot` not `bar` or `beeswarm`, `top` not 1–50), an unknown site or outcome, or `to` not after `from` (`invalid_input`, `field` = the parameter)", body = Problem, content_type = "application/problem+json",
            examples(
                ("bad_plot" = (summary = "`plot` is not bar or beeswarm", value = json!(examples::invalid("plot", "unknown_level", "must be bar or beeswarm")))),
                ("bad_top" = (summary = "`top` is out of range", value = json!(examples::invalid("top", "out_of_range", "must be a whole number from 1 to 50")))),
            )),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/quality/explanations.svg")]
pub async fn get_explanations_svg(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::ReadQuality)?;
    let (query, beeswarm, top) = Params::parse(
        req.query_string(),
        &["outcome", "from", "to", "site", "plot", "top"],
        &state,
    )
    .and_then(|p| {
        let query = p.explanation_query();
        let plot = p.plot();
        let top = p.top();
        p.finish()?;
        Ok((
            query.ok_or_else(internal)?,
            plot.ok_or_else(internal)?,
            top.ok_or_else(internal)?,
        ))
    })
    .map_err(|e| e.with_request_id(rid.clone()))?;
    let store = state.store.clone();
    let svg = blocking(rid, move || {
        let audit = explanation_audit(store.as_ref(), &query)?;
        Ok(if beeswarm {
            beeswarm_svg(&audit, top)
        } else {
            bar_svg(&audit, top)
        })
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml; charset=utf-8")
        .body(svg))
}

/// A parsed-but-unchecked value never absent after `finish` succeeded (a bug otherwise).
fn internal() -> ApiError {
    ApiError::internal(&"a checked query parameter is absent")
}

/// The query's parameters, each at most once, with every problem collected (reported at once by
/// [`Params::finish`]).
struct Params {
    values: BTreeMap<String, String>,
    errors: std::cell::RefCell<Vec<FieldProblem>>,
    sites: Vec<String>,
}

impl Params {
    fn parse(query: &str, allowed: &[&str], state: &AppState) -> Result<Self, ApiError> {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
            .map_err(|_| {
                ApiError::invalid(vec![field(
                    "",
                    "invalid_format",
                    "the query string is not form-urlencoded",
                )])
            })?
            .into_inner();
        let mut errors = Vec::new();
        let mut values = BTreeMap::new();
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                errors.push(field(
                    &name,
                    "unknown_field",
                    format!("is not a parameter ({})", allowed.join(", ")),
                ));
            } else {
                match values.entry(name) {
                    std::collections::btree_map::Entry::Occupied(e) => {
                        errors.push(field(e.key(), "contradiction", "is given more than once"))
                    }
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(value);
                    }
                }
            }
        }
        Ok(Self {
            values,
            errors: std::cell::RefCell::new(errors),
            sites: state.assessor.provenance().sites.clone(),
        })
    }

    fn error(&self, name: &str, reason: &str, detail: impl Into<String>) {
        self.errors.borrow_mut().push(field(name, reason, detail));
    }

    fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        let Some(value) = self.values.get(name) else {
            self.error(name, "required", "is required (RFC 3339)");
            return None;
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            Some(t.with_timezone(&Utc))
        } else {
            self.error(
                name,
                "invalid_format",
                "must be an RFC 3339 date-time, e.g. 2026-03-01T00:00:00Z",
            );
            None
        }
    }

    /// `from` and `to`, with `to` after `from`.
    fn window(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let (from, to) = (self.time("from"), self.time("to"));
        if let (Some(f), Some(t)) = (from, to) {
            if t <= f {
                self.error("to", "contradiction", "to must be after from");
            }
        }
        (from, to)
    }

    /// `site`: one of the configured sites (any non-empty name when none are configured).
    fn site(&self) -> Option<String> {
        let site = self.values.get("site")?;
        if site.trim().is_empty() {
            self.error("site", "invalid_format", "must not be empty");
        } else if !self.sites.is_empty() && !self.sites.contains(site) {
            self.error(
                "site",
                "unknown_level",
                format!("is not a configured site ({})", self.sites.join(", ")),
            );
        }
        Some(site.clone())
    }

    fn outcome(&self, required: bool) -> Option<String> {
        let Some(outcome) = self.values.get("outcome") else {
            if required {
                self.error("outcome", "required", "is required (an outcome id)");
            }
            return None;
        };
        if !OUTCOME_IDS.contains(&outcome.as_str()) {
            self.error(
                "outcome",
                "unknown_level",
                format!("is not an outcome id ({})", OUTCOME_IDS.join(", ")),
            );
        }
        Some(outcome.clone())
    }

    fn explanation_query(&self) -> Option<ExplanationQuery> {
        let outcome = self.outcome(true);
        let (from, to) = self.window();
        let site = self.site();
        Some(ExplanationQuery {
            outcome: outcome?,
            from: from?,
            to: to?,
            site,
        })
    }

    /// `plot`: `true` for `beeswarm`.
    fn plot(&self) -> Option<bool> {
        match self.values.get("plot").map(String::as_str) {
            None => {
                self.error("plot", "required", "is required (bar or beeswarm)");
                None
            }
            Some("bar") => Some(false),
            Some("beeswarm") => Some(true),
            Some(_) => {
                self.error("plot", "unknown_level", "must be bar or beeswarm");
                None
            }
        }
    }

    fn top(&self) -> Option<usize> {
        let Some(value) = self.values.get("top") else {
            return Some(DEFAULT_TOP);
        };
        match value.parse::<usize>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => Some(n),
            _ => {
                self.error(
                    "top",
                    "out_of_range",
                    format!("must be a whole number from 1 to {MAX_TOP}"),
                );
                None
            }
        }
    }

    /// Every problem found, or nothing.
    fn finish(self) -> Result<(), ApiError> {
        let errors = self.errors.into_inner();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(errors))
        }
    }
}

/// Problem examples of these endpoints.
mod examples {
    use serde_json::{json, Value};

    use crate::api::dto::examples::REQUEST_ID;
    use crate::api::error::{ApiError, FieldProblem};

    pub fn invalid(field: &str, reason: &str, detail: &str) -> Value {
        json!(ApiError::invalid(vec![FieldProblem {
            field: field.into(),
            reason: reason.into(),
            detail: detail.into(),
        }])
        .with_request_id(Some(REQUEST_ID.into()))
        .problem())
    }
}
