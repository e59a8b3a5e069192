//! The quality API: `GET /v1/quality/overrides`, how clinicians answered periop's CDS Hooks cards
//! over a window (`service::overrides`), and `GET /v1/quality/performance`, model performance by
//! group from recorded outcomes (`service::performance`). Read-only; the store is read off the
//! reactor. Roles: `quality`, `admin`.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use super::rules::field;
use crate::api::auth::Permission;
use crate::api::dto::performance::PerformanceReportDto;
use crate::api::dto::quality::OverrideSummaryDto;
use crate::api::error::{ApiError, AuthErrors, FieldProblem, Problem, ServerErrors};
use crate::api::{blocking, request_id_of, AppState};
use crate::metrics::SummarySettings;
use crate::outcomes::Outcome;
use crate::service::overrides::override_summary;
use crate::service::performance::{performance, GroupBy, PerformanceQuery, PerformanceSettings};
use crate::service::quality_rows::QualityQuery;
use crate::service::OUTCOME_IDS;

/// Summarise accepted and overridden CDS Hooks cards over a window.
///
/// Query: `from` (inclusive) and `to` (exclusive), RFC 3339 (`Z`, or a `+` offset percent-encoded
/// as `%2B`); the window is when periop *received* the feedback (`POST
/// /cds-services/{id}/feedback`), each report's own `outcomeTimestamp` is in its audit record.
/// Every feedback report (a distinct card, outcome and outcome time; a report sent twice is
/// stored once) counts once in `totals`, once for the model set and once for the rule-set
/// version that answered the card, and per recommendation id: an `accepted` report for the
/// recommendations of its accepted suggestions, an `overridden` one for every recommendation of
/// the card, with the reason picked. Free-text comments are counted (`with_comment`), never
/// returned: they may name the patient and stay in the audit record. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "quality",
    params(crate::api::dto::quality::OverridesQueryDto),
    responses(
        (status = 200, description = "The counts of the window", body = crate::api::dto::quality::OverrideSummaryDto, content_type = "application/json",
            example = json!(crate::api::dto::quality::examples::override_summary())),
        (status = 422, description = "A missing, unknown, repeated or malformed parameter, or `to` not after `from` (`invalid_input`, `field` = the parameter)", body = Problem, content_type = "application/problem+json",
            examples(
                ("bad_from" = (summary = "`from` is not RFC 3339", value = json!(examples::bad_from()))),
                ("reversed" = (summary = "`to` is not after `from`", value = json!(examples::reversed()))),
            )),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/quality/overrides")]
pub async fn get_override_summary(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::ReadQuality)?;
    let (from, to) =
        parse_window(req.query_string()).map_err(|e| e.with_request_id(rid.clone()))?;
    let store = state.store.clone();
    let summary = blocking(rid, move || Ok(override_summary(store.as_ref(), from, to)?)).await?;
    Ok(HttpResponse::Ok().json(OverrideSummaryDto::from(summary)))
}

/// `from` and `to`: each present once, RFC 3339; every problem at once. (`to` after `from` is
/// the service's check.)
fn parse_window(query: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    const PARAMETERS: [&str; 2] = ["from", "to"];
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| {
            ApiError::invalid(vec![field(
                "",
                "invalid_format",
                "the query string is not form-urlencoded",
            )])
        })?
        .into_inner();
    let mut errors: Vec<FieldProblem> = Vec::new();
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !PARAMETERS.contains(&name.as_str()) {
            errors.push(field(
                name,
                "unknown_field",
                "is not a parameter (from, to)",
            ));
        } else if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
            errors.push(field(name, "contradiction", "is given more than once"));
        }
    }
    let mut time = |name: &str| {
        let Some((_, value)) = pairs.iter().find(|(n, _)| n == name) else {
            errors.push(field(name, "required", "is required (RFC 3339)"));
            return None;
        };
        match DateTime::parse_from_rfc3339(value) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                errors.push(field(
                    name,
                    "invalid_format",
                    "must be an RFC 3339 date-time, e.g. 2026-03-01T00:00:00Z",
                ));
                None
            }
        }
    };
    let from = time("from");
    let to = time("to");
    match (from, to) {
        (Some(from), Some(to)) if errors.is_empty() => Ok((from, to)),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// Model performance by group from recorded outcomes.
///
/// The rows are the stored assessments created in `[from, to)` (optionally of one `site`) that
/// predicted `outcome`, each with its current recorded outcome (`POST /v1/outcomes`; the newest
/// version); assessments without a recorded outcome are counted in `rows.without_outcome`, not
/// used. Each group (`group_by`) and the `all` row report, for a binary outcome: n, events, AUC
/// with a 95 % bootstrap interval, average precision (AUPRC), Brier, calibration intercept and
/// slope with 95 % Wald intervals, ECE and 10 quantile reliability bins; for blood loss: the
/// median absolute error (with a bootstrap interval) and the 80 % interval's coverage. These are
/// the same computations as `periop evaluate`. A group with fewer than `min_group_size` rows
/// (setting `quality_min_group_size`, default 30) is `suppressed`: only its `n`. Fairness: each
/// group's AUC, AUPRC, Brier, mean predicted and event rate (blood loss: error and coverage)
/// divided by the reference group's, flagged outside `[0.8, 1.25]`; the reference is the largest
/// group not suppressed unless `reference` names one. Cost: one scan of the window's assessments
/// and of every recorded outcome (docs/api.md, "Model performance"). Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "quality",
    params(crate::api::dto::performance::PerformanceQueryDto),
    responses(
        (status = 200, description = "The report of the window", body = crate::api::dto::performance::PerformanceReportDto, content_type = "application/json",
            example = json!(crate::api::dto::performance::examples::performance())),
        (status = 422, description = "A missing, unknown, repeated or malformed parameter, `to` not after `from`, or a `reference` that names no group of the window or a suppressed one (`invalid_input`, `field` = the parameter)", body = Problem, content_type = "application/problem+json",
            examples(
                ("unknown_outcome" = (summary = "`outcome` is not an outcome id", value = json!(examples::unknown_outcome()))),
                ("bad_group_by" = (summary = "`group_by` is not a grouping", value = json!(examples::bad_group_by()))),
                ("unknown_reference" = (summary = "`reference` names no group of the window", value = json!(examples::unknown_reference()))),
            )),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/quality/performance")]
pub async fn get_performance(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    state.keys.authorize(&req, Permission::ReadQuality)?;
    let query =
        parse_performance(req.query_string()).map_err(|e| e.with_request_id(rid.clone()))?;
    let settings = PerformanceSettings {
        min_group_size: state.quality_min_group_size,
        summary: SummarySettings::default(),
    };
    let store = state.store.clone();
    let report = blocking(rid, move || {
        Ok(performance(store.as_ref(), &query, &settings)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(PerformanceReportDto::from(&report)))
}

/// The query's pairs, each parameter at most once and known; every problem at once.
fn query_pairs(
    query: &str,
    parameters: &[&str],
    errors: &mut Vec<FieldProblem>,
) -> Result<Vec<(String, String)>, ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| {
            ApiError::invalid(vec![field(
                "",
                "invalid_format",
                "the query string is not form-urlencoded",
            )])
        })?
        .into_inner();
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !parameters.contains(&name.as_str()) {
            errors.push(field(
                name,
                "unknown_field",
                format!("is not a parameter ({})", parameters.join(", ")),
            ));
        } else if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
            errors.push(field(name, "contradiction", "is given more than once"));
        }
    }
    Ok(pairs)
}

/// A required RFC 3339 parameter.
fn time_parameter(
    pairs: &[(String, String)],
    name: &str,
    errors: &mut Vec<FieldProblem>,
) -> Option<DateTime<Utc>> {
    let Some((_, value)) = pairs.iter().find(|(n, _)| n == name) else {
        errors.push(field(name, "required", "is required (RFC 3339)"));
        return None;
    };
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(field(
                name,
                "invalid_format",
                "must be an RFC 3339 date-time, e.g. 2026-03-01T00:00:00Z",
            ));
            None
        }
    }
}

/// Whether `text` has the form of a site name (1–64 letters, digits, `-`, `_`, `.`).
fn is_site_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The performance query: `outcome`, `from`, `to` required; `group_by`, `site`, `reference`
/// optional; every problem at once. (`to` after `from` and the reference group are the
/// service's checks.)
fn parse_performance(query: &str) -> Result<PerformanceQuery, ApiError> {
    const PARAMETERS: [&str; 6] = ["outcome", "from", "to", "group_by", "site", "reference"];
    let mut errors: Vec<FieldProblem> = Vec::new();
    let pairs = query_pairs(query, &PARAMETERS, &mut errors)?;
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let outcome = match value("outcome") {
        None => {
            errors.push(field("outcome", "required", "is required (an outcome id)"));
            None
        }
        Some(id) => {
            let o = Outcome::from_id(id);
            if o.is_none() {
                errors.push(field(
                    "outcome",
                    "unknown_level",
                    format!("must be one of {}", OUTCOME_IDS.join(", ")),
                ));
            }
            o
        }
    };
    let from = time_parameter(&pairs, "from", &mut errors);
    let to = time_parameter(&pairs, "to", &mut errors);
    let group_by = match value("group_by") {
        None => None,
        Some(id) => {
            let g = GroupBy::from_id(id);
            if g.is_none() {
                let ids: Vec<&str> = GroupBy::ALL.iter().map(|g| g.id()).collect();
                errors.push(field(
                    "group_by",
                    "unknown_level",
                    format!("must be one of {}", ids.join(", ")),
                ));
            }
            g
        }
    };
    let site = value("site").map(str::to_string);
    if site.as_deref().is_some_and(|s| !is_site_name(s)) {
        errors.push(field(
            "site",
            "invalid_format",
            "must be 1 to 64 letters, digits, `-`, `_` or `.`",
        ));
    }
    let reference = value("reference").map(str::to_string);
    if reference
        .as_deref()
        .is_some_and(|r| r.is_empty() || r.len() > 200)
    {
        errors.push(field(
            "reference",
            "invalid_format",
            "must be 1 to 200 characters",
        ));
    }
    match (outcome, from, to) {
        (Some(outcome), Some(from), Some(to)) if errors.is_empty() => Ok(PerformanceQuery {
            rows: QualityQuery {
                outcome,
                from,
                to,
                site,
            },
            group_by,
            reference,
        }),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// Problem examples of the quality endpoints.
mod examples {
    use serde_json::{json, Value};

    use crate::api::dto::examples::REQUEST_ID;
    use crate::api::error::{ApiError, FieldProblem};

    fn invalid(field: &str, reason: &str, detail: &str) -> Value {
        json!(ApiError::invalid(vec![FieldProblem {
            field: field.into(),
            reason: reason.into(),
            detail: detail.into(),
        }])
        .with_request_id(Some(REQUEST_ID.into()))
        .problem())
    }

    pub fn bad_from() -> Value {
        invalid(
            "from",
            "invalid_format",
            "must be an RFC 3339 date-time, e.g. 2026-03-01T00:00:00Z",
        )
    }

    pub fn reversed() -> Value {
        invalid("to", "contradiction", "to must be after from")
    }

    pub fn unknown_outcome() -> Value {
        invalid(
            "outcome",
            "unknown_level",
            &format!("must be one of {}", crate::service::OUTCOME_IDS.join(", ")),
        )
    }

    pub fn bad_group_by() -> Value {
        invalid(
            "group_by",
            "unknown_level",
            "must be one of site, month, sex, age_band, procedure, model_version",
        )
    }

    pub fn unknown_reference() -> Value {
        invalid(
            "reference",
            "unknown_level",
            "names no group of the window (site-a, site-b)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(query: &str) -> Vec<(String, String)> {
        match parse_window(query) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|p| (p.field, p.reason)).collect(),
        }
    }

    #[test]
    fn a_window_parses_with_any_offset() {
        let (from, to) = parse_window("from=2026-03-01T00:00:00Z&to=2026-03-01T02:00:00%2B01:00")
            .expect("valid window");
        assert_eq!((to - from).num_hours(), 1);
    }

    fn performance_fields(query: &str) -> Vec<(String, String)> {
        match parse_performance(query) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|p| (p.field, p.reason)).collect(),
        }
    }

    #[test]
    fn every_bad_performance_parameter_is_named() {
        let pair = |f: &str, r: &str| (f.to_string(), r.to_string());
        let window = "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z";
        let ok = parse_performance(&format!("outcome=dvt&{window}&group_by=month&site=site-a"))
            .expect("valid");
        assert_eq!(ok.group_by, Some(GroupBy::Month));
        assert_eq!(ok.rows.site.as_deref(), Some("site-a"));
        assert_eq!(
            performance_fields(window),
            vec![pair("outcome", "required")]
        );
        assert_eq!(
            performance_fields(&format!(
                "outcome=dvtx&{window}&group_by=ward&site=a%20b&x=1"
            )),
            vec![
                pair("x", "unknown_field"),
                pair("outcome", "unknown_level"),
                pair("group_by", "unknown_level"),
                pair("site", "invalid_format")
            ]
        );
        assert_eq!(
            performance_fields("outcome=dvt&from=2026&to=2026-04-01T00:00:00Z&reference="),
            vec![
                pair("from", "invalid_format"),
                pair("reference", "invalid_format")
            ]
        );
        assert_eq!(
            performance_fields(&format!("outcome=dvt&outcome=dvt&{window}")),
            vec![pair("outcome", "contradiction")]
        );
    }

    #[test]
    fn the_unknown_outcome_example_is_what_the_parser_answers() {
        let e = parse_performance("outcome=x&from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z")
            .expect_err("unknown outcome");
        assert_eq!(
            e.errors[0].detail,
            examples::unknown_outcome()["errors"][0]["detail"]
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let pair = |f: &str, r: &str| (f.to_string(), r.to_string());
        assert_eq!(
            fields("to=2026-03-01T00:00:00Z"),
            vec![pair("from", "required")]
        );
        assert_eq!(
            fields("from=yesterday&to=2026-03-01T00:00:00Z"),
            vec![pair("from", "invalid_format")]
        );
        assert_eq!(
            fields("from=2026-03-01T00:00:00Z&to=2026-04-01&since=x"),
            vec![pair("since", "unknown_field"), pair("to", "invalid_format")]
        );
        assert_eq!(
            fields("from=2026-03-01T00:00:00Z&from=2026-03-02T00:00:00Z&to=2026-04-01T00:00:00Z"),
            vec![pair("from", "contradiction")]
        );
        assert_eq!(
            fields(""),
            vec![pair("from", "required"), pair("to", "required")]
        );
    }
}
