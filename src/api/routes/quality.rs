//! The quality API: `GET /v1/quality/overrides`, how clinicians answered periop's CDS Hooks cards
//! over a window (`service::overrides`). Read-only; the store is read off the reactor. Roles:
//! `quality`, `admin`.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use super::rules::field;
use crate::api::auth::Permission;
use crate::api::dto::quality::OverrideSummaryDto;
use crate::api::error::{ApiError, AuthErrors, FieldProblem, Problem, ServerErrors};
use crate::api::{blocking, request_id_of, AppState};
use crate::service::overrides::override_summary;

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
