//! The audit API: `GET /v1/audit/assessments` (search the stored assessments, keyset-paginated)
//! and `GET /v1/audit/assessments/export` (every match as CSV or NDJSON, streamed), over the
//! store's search index (`service::audit_search`). Every read of patient-level audit data made
//! here, and by `GET /v1/assessments/{id}` and its explanation and outcomes, is recorded first
//! (`service::audit_reads`, [`record_assessment_read`]). Roles: `quality`, `admin`
//! ([`Permission::ReadAudit`]).

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::Map;

use super::rules::field;
use crate::api::auth::Permission;
use crate::api::dto::audit::{AuditAssessmentDto, AuditAssessmentPageDto, ExportFormatDto};
use crate::api::error::{ApiError, AuthErrors, FieldProblem, Problem, ServerErrors};
use crate::api::{blocking, in_request_span, request_id_of, AppState};
use crate::audit::AuditStore;
use crate::clock::now_millis;
use crate::outcomes::Outcome;
use crate::service::audit_reads::{query_object, record_read, ReadKind, ReadRecord};
use crate::service::audit_search::{
    check_filters, csv_text, export_pages, search_assessments, Cursor, SearchFilters,
    DEFAULT_LIMIT, MAX_LIMIT,
};
use crate::service::{Caller, ServiceError};

/// Filters common to the search and the export.
const FILTERS: [&str; 8] = [
    "from",
    "to",
    "site",
    "outcome",
    "band",
    "caller",
    "rule_version",
    "model_version",
];

/// Search the stored assessments.
///
/// Newest first, keyset-paginated: pass `next_cursor` back as `cursor` for the next page (`null`
/// on the last). A page never repeats or skips an assessment because others were stored
/// meanwhile; assessments stored after the first page are not in that listing. Filters (all
/// optional, all given ones must hold): `from` (inclusive) and `to` (exclusive), RFC 3339 (`Z`,
/// or a `+` offset percent-encoded as `%2B`); `site`; `outcome` (only assessments that
/// predicted it: status `ok`); `band` (with `outcome`: the risk band of its prediction);
/// `caller` (API key id); `rule_version`; `model_version` (the model-set version, or one
/// outcome model's version `<outcome>@<hash>`). Lists no patient inputs (`GET
/// /v1/assessments/{id}` has them). Every call is itself recorded in the audit chain (kind
/// `audit_read`: the caller's key id, the filters and the ids of the page) before the answer is
/// sent. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "audit",
    params(crate::api::dto::audit::AuditSearchQueryDto),
    responses(
        (status = 200, description = "One page, newest first", body = AuditAssessmentPageDto, content_type = "application/json",
            example = json!(crate::api::dto::audit::examples::page())),
        (status = 422, description = "An unknown, repeated or malformed parameter, an unknown outcome, `band` without `outcome`, `limit` outside 1–500, a cursor not issued by this API, or `to` not after `from` (`invalid_input`, `field` = the parameter)", body = Problem, content_type = "application/problem+json",
            examples(
                ("bad_limit" = (summary = "`limit` out of range", value = json!(examples::bad_limit()))),
                ("band_without_outcome" = (summary = "`band` without `outcome`", value = json!(examples::band_without_outcome()))),
                ("bad_cursor" = (summary = "Not a cursor of this API", value = json!(examples::bad_cursor()))),
            )),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/audit/assessments")]
pub async fn search_audit_assessments(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::ReadAudit)?;
    let pairs = query_pairs(req.query_string()).map_err(|e| e.with_request_id(rid.clone()))?;
    let parsed = parse_search(&pairs).map_err(|e| e.with_request_id(rid.clone()))?;
    let store = state.store.clone();
    let who = Caller {
        request_id: rid.clone().unwrap_or_default(),
        key_id: caller.key_id,
    };
    let page = blocking(rid, move || {
        let page = search_assessments(store.as_ref(), &parsed.filters, parsed.cursor, parsed.limit)?;
        let read = ReadRecord {
            read: ReadKind::Search,
            endpoint: "GET /v1/audit/assessments".into(),
            assessment_ids: page.items.iter().map(|i| i.assessment_id.clone()).collect(),
            query: query_object(&pairs),
            format: None,
        };
        record_read(store.as_ref(), &who, &read)?;
        Ok(page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AuditAssessmentPageDto::from(page)))
}

/// Export every matching stored assessment as CSV or NDJSON, streamed.
///
/// `format=csv`: a header line, then one line per assessment: `assessment_id`, `created_at`,
/// `site`, `caller`, `model_set_version`, `rule_set_version`, then for each outcome id in the
/// order of `features.md`: `<outcome>_model_version`, `<outcome>_risk_band`,
/// `<outcome>_probability` (binary) or `<outcome>_median_ml` (blood loss) and
/// `<outcome>_not_applicable` (cells empty when the assessment did not include the outcome).
/// `format=ndjson`: one search item (as in `GET /v1/audit/assessments`) per line. Same filters
/// as the search, newest first, up to the newest assessment stored when the export starts. The
/// body is chunked and read from the store a page at a time (bounded memory); a store failure
/// mid-stream aborts the connection (the body is then incomplete, never silently short with a
/// clean end). The export (caller, format, filters) is recorded in the audit chain (kind
/// `audit_read`) before the first byte is sent. Roles: `quality`, `admin`.
#[utoipa::path(
    tag = "audit",
    params(crate::api::dto::audit::AuditExportQueryDto),
    responses(
        (status = 200, description = "Every match, one line per assessment; `Content-Disposition: attachment`",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"periop-audit-assessments-<time>.csv\"` (or `.ndjson`)")),
            content(
                (String = "text/csv", example = json!(crate::api::dto::audit::examples::csv())),
                (AuditAssessmentDto = "application/x-ndjson", example = json!(crate::api::dto::audit::examples::ndjson())),
            )),
        (status = 422, description = "A missing or unknown `format`, or a parameter problem as in the search (`invalid_input`, `field` = the parameter)", body = Problem, content_type = "application/problem+json",
            examples(
                ("bad_format" = (summary = "`format` is neither csv nor ndjson", value = json!(examples::bad_format()))),
                ("band_without_outcome" = (summary = "`band` without `outcome`", value = json!(examples::band_without_outcome()))),
            )),
        AuthErrors,
        ServerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/audit/assessments/export")]
pub async fn export_audit_assessments(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = request_id_of(&req);
    let caller = state.keys.authorize(&req, Permission::ReadAudit)?;
    let pairs = query_pairs(req.query_string()).map_err(|e| e.with_request_id(rid.clone()))?;
    let (format, filters) = parse_export(&pairs).map_err(|e| e.with_request_id(rid.clone()))?;
    check_filters(&filters).map_err(|e| ApiError::from(e).with_request_id(rid.clone()))?;
    let store = state.store.clone();
    let who = Caller {
        request_id: rid.clone().unwrap_or_default(),
        key_id: caller.key_id,
    };
    let recorder = store.clone();
    let format_name = match format {
        ExportFormatDto::Csv => "csv",
        ExportFormatDto::Ndjson => "ndjson",
    };
    blocking(rid, move || {
        let read = ReadRecord {
            read: ReadKind::Export,
            endpoint: "GET /v1/audit/assessments/export".into(),
            assessment_ids: Vec::new(),
            query: query_object(&pairs),
            format: Some(format_name.into()),
        };
        Ok(record_read(recorder.as_ref(), &who, &read)?)
    })
    .await?;
    // A few pages in flight at most: the reader paces the store reads (bounded memory).
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    actix_web::rt::task::spawn_blocking(in_request_span(move || {
        stream_export(store.as_ref(), &filters, format, &tx);
    }));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let stamp = now_millis().format("%Y%m%dT%H%M%SZ");
    let (content_type, extension) = match format {
        ExportFormatDto::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormatDto::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            ContentDisposition {
                disposition: DispositionType::Attachment,
                parameters: vec![DispositionParam::Filename(format!(
                    "periop-audit-assessments-{stamp}.{extension}"
                ))],
            },
        ))
        .streaming(body))
}

/// Writes the export into `tx` page by page (on a blocking thread); stops when the reader goes
/// away, and ends the stream with an error when the store fails (the connection is aborted).
fn stream_export(
    store: &dyn AuditStore,
    filters: &SearchFilters,
    format: ExportFormatDto,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let send = |bytes: Vec<u8>| tx.blocking_send(Ok(Bytes::from(bytes))).is_ok();
    let result = (|| -> Result<u64, ServiceError> {
        if format == ExportFormatDto::Csv && !send(csv_text(&[], true)?) {
            return Ok(0);
        }
        export_pages(store, filters, |page| {
            let bytes = match format {
                ExportFormatDto::Csv => csv_text(page, false)?,
                ExportFormatDto::Ndjson => {
                    let mut out = Vec::new();
                    for item in page {
                        serde_json::to_writer(&mut out, &AuditAssessmentDto::from(item.clone()))?;
                        out.push(b'\n');
                    }
                    out
                }
            };
            Ok(send(bytes))
        })
    })();
    match result {
        Ok(rows) => tracing::info!(rows, "audit export finished"),
        Err(e) => {
            tracing::error!(error = %e, "audit export failed mid-stream");
            let _ = tx.blocking_send(Err(std::io::Error::other("the audit export failed")));
        }
    }
}

/// Records a read of one stored assessment's data (`GET /v1/assessments/{id}`, its explanation
/// and outcomes): call on the blocking pool after the data was found, before answering.
///
/// # Errors
/// When the store cannot record the read (the answer must then not be sent).
pub fn record_assessment_read(
    store: &dyn AuditStore,
    request_id: Option<&str>,
    key_id: &str,
    read: ReadKind,
    endpoint: String,
    assessment_id: &str,
) -> Result<(), ApiError> {
    let who = Caller {
        request_id: request_id.unwrap_or_default().to_string(),
        key_id: key_id.to_string(),
    };
    let record = ReadRecord {
        read,
        endpoint,
        assessment_ids: vec![assessment_id.to_string()],
        query: Map::new(),
        format: None,
    };
    Ok(record_read(store, &who, &record)?)
}

/// The query string's pairs.
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    Ok(web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| {
            ApiError::invalid(vec![field(
                "",
                "invalid_format",
                "the query string is not form-urlencoded",
            )])
        })?
        .into_inner())
}

/// A search's parsed parameters.
#[derive(Debug)]
struct SearchParameters {
    filters: SearchFilters,
    cursor: Option<Cursor>,
    limit: u32,
}

/// Unknown and repeated names, against `allowed`.
fn check_names(pairs: &[(String, String)], allowed: &[&str], errors: &mut Vec<FieldProblem>) {
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !allowed.contains(&name.as_str()) {
            errors.push(field(
                name,
                "unknown_field",
                format!("is not a parameter ({})", allowed.join(", ")),
            ));
        } else if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
            errors.push(field(name, "contradiction", "is given more than once"));
        }
    }
}

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The filters; every problem into `errors`.
fn parse_filters(pairs: &[(String, String)], errors: &mut Vec<FieldProblem>) -> SearchFilters {
    let time = |name: &str, errors: &mut Vec<FieldProblem>| -> Option<DateTime<Utc>> {
        let v = value(pairs, name)?;
        match DateTime::parse_from_rfc3339(v) {
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
    let from = time("from", errors);
    let to = time("to", errors);
    let text = |name: &str, errors: &mut Vec<FieldProblem>| -> Option<String> {
        let v = value(pairs, name)?;
        if v.is_empty() {
            errors.push(field(name, "invalid_format", "must not be empty"));
            return None;
        }
        Some(v.to_string())
    };
    let site = text("site", errors);
    let band = text("band", errors);
    let caller = text("caller", errors);
    let rule_version = text("rule_version", errors);
    let model_version = text("model_version", errors);
    let outcome = value(pairs, "outcome").and_then(|v| {
        let found = Outcome::from_id(v);
        if found.is_none() {
            let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.id()).collect();
            errors.push(field(
                "outcome",
                "unknown_level",
                format!("is not an outcome id ({})", known.join(", ")),
            ));
        }
        found
    });
    SearchFilters {
        from,
        to,
        site,
        outcome,
        band,
        caller,
        rule_version,
        model_version,
    }
}

fn parse_search(pairs: &[(String, String)]) -> Result<SearchParameters, ApiError> {
    let mut errors = Vec::new();
    let allowed: Vec<&str> = FILTERS.iter().copied().chain(["limit", "cursor"]).collect();
    check_names(pairs, &allowed, &mut errors);
    let filters = parse_filters(pairs, &mut errors);
    let limit = match value(pairs, "limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.push(field(
                    "limit",
                    "out_of_range",
                    format!("must be an integer from 1 to {MAX_LIMIT}"),
                ));
                DEFAULT_LIMIT
            }
        },
    };
    let cursor = value(pairs, "cursor").and_then(|v| match Cursor::parse(v) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(field("cursor", "invalid_format", e.to_string()));
            None
        }
    });
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    Ok(SearchParameters {
        filters,
        cursor,
        limit,
    })
}

fn parse_export(
    pairs: &[(String, String)],
) -> Result<(ExportFormatDto, SearchFilters), ApiError> {
    let mut errors = Vec::new();
    let allowed: Vec<&str> = FILTERS.iter().copied().chain(["format"]).collect();
    check_names(pairs, &allowed, &mut errors);
    let filters = parse_filters(pairs, &mut errors);
    let format = match value(pairs, "format") {
        Some("csv") => Some(ExportFormatDto::Csv),
        Some("ndjson") => Some(ExportFormatDto::Ndjson),
        Some(_) => {
            errors.push(field("format", "unknown_level", "must be csv or ndjson"));
            None
        }
        None => {
            errors.push(field("format", "required", "is required (csv or ndjson)"));
            None
        }
    };
    match format {
        Some(format) if errors.is_empty() => Ok((format, filters)),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// Problem examples of the audit endpoints.
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

    pub fn bad_limit() -> Value {
        invalid("limit", "out_of_range", "must be an integer from 1 to 500")
    }

    pub fn band_without_outcome() -> Value {
        invalid(
            "band",
            "contradiction",
            "band needs outcome (the risk band of which outcome)",
        )
    }

    pub fn bad_cursor() -> Value {
        invalid(
            "cursor",
            "invalid_format",
            "is not a cursor from a previous page's next_cursor",
        )
    }

    pub fn bad_format() -> Value {
        invalid("format", "unknown_level", "must be csv or ndjson")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        query_pairs(query).expect("form-urlencoded")
    }

    fn search_fields(query: &str) -> Vec<(String, String)> {
        match parse_search(&pairs(query)) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|p| (p.field, p.reason)).collect(),
        }
    }

    #[test]
    fn a_full_search_parses() {
        let p = parse_search(&pairs(
            "from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00%2B01:00&site=north&outcome=dvt&band=high\
             &caller=k1&rule_version=default-1&model_version=dvt@abc&limit=500",
        ))
        .expect("valid");
        assert_eq!(p.limit, 500);
        assert_eq!(p.filters.outcome, Some(Outcome::Dvt));
        assert_eq!(p.filters.band.as_deref(), Some("high"));
        assert_eq!(p.filters.model_version.as_deref(), Some("dvt@abc"));
        assert!(p.cursor.is_none());
        let empty = parse_search(&pairs("")).expect("no filters");
        assert_eq!(empty.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn every_bad_search_parameter_is_named() {
        let pair = |f: &str, r: &str| (f.to_string(), r.to_string());
        assert_eq!(search_fields("limit=0"), vec![pair("limit", "out_of_range")]);
        assert_eq!(search_fields("limit=501"), vec![pair("limit", "out_of_range")]);
        assert_eq!(search_fields("limit=ten"), vec![pair("limit", "out_of_range")]);
        assert_eq!(search_fields("cursor=xyz"), vec![pair("cursor", "invalid_format")]);
        assert_eq!(search_fields("from=yesterday"), vec![pair("from", "invalid_format")]);
        assert_eq!(search_fields("outcome=flu"), vec![pair("outcome", "unknown_level")]);
        assert_eq!(search_fields("site="), vec![pair("site", "invalid_format")]);
        assert_eq!(
            search_fields("site=a&site=b&page=2"),
            vec![pair("site", "contradiction"), pair("page", "unknown_field")]
        );
        assert_eq!(search_fields("format=csv"), vec![pair("format", "unknown_field")]);
    }

    #[test]
    fn the_export_needs_a_known_format_and_takes_no_page_parameters() {
        let fields = |q: &str| match parse_export(&pairs(q)) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .errors
                .into_iter()
                .map(|p| (p.field, p.reason))
                .collect::<Vec<_>>(),
        };
        let pair = |f: &str, r: &str| (f.to_string(), r.to_string());
        assert_eq!(fields("site=north"), vec![pair("format", "required")]);
        assert_eq!(fields("format=xlsx"), vec![pair("format", "unknown_level")]);
        assert_eq!(
            fields("format=csv&limit=5&cursor=x"),
            vec![pair("limit", "unknown_field"), pair("cursor", "unknown_field")]
        );
        assert!(fields("format=ndjson&outcome=dvt&band=high").is_empty());
    }
}
