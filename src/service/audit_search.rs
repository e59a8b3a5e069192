//! Searching the stored assessments for audit (`GET /v1/audit/assessments` and its export): the
//! filters, keyset pagination over the store's search index (`audit::index`), and the CSV rows
//! of the export. Only what the index holds is returned (time, site, caller, model and rule
//! versions, per outcome the model version, risk band, probability or median mL); patient inputs
//! stay in the records (`GET /v1/assessments/{id}`), and hashed references are never listed.
//!
//! Pagination is by `seq`, newest first: a cursor is the last `seq` of a page, and the next page
//! holds only assessments with a smaller `seq`. Appends always take a larger `seq` than any
//! stored record, so a page never repeats or skips a record because others were appended
//! meanwhile; the assessments appended after the first page are simply not in this listing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::error::ServiceError;
use super::overrides::WindowError;
use crate::audit::{AuditStore, SearchHit, SearchQuery};
use crate::outcomes::{Outcome, OutcomeKind};

/// Largest page.
pub const MAX_LIMIT: u32 = 500;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 50;
/// Page size of the export's reads.
pub const EXPORT_PAGE: u32 = 500;

/// The filters of a search; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilters {
    /// `created_at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `created_at < to`.
    pub to: Option<DateTime<Utc>>,
    pub site: Option<String>,
    /// Only assessments that predicted this outcome (status `ok`).
    pub outcome: Option<Outcome>,
    /// With `outcome`: its prediction's risk band.
    pub band: Option<String>,
    /// API key id of the caller that asked for the assessment.
    pub caller: Option<String>,
    /// Rule-set version.
    pub rule_version: Option<String>,
    /// The model-set version, or one outcome model's version (`<outcome>@<hash>`).
    pub model_version: Option<String>,
}

/// A filter combination that cannot be searched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// `band` without `outcome`.
    #[error("band needs outcome (the risk band of which outcome)")]
    BandWithoutOutcome,
    /// A page size outside `1..=MAX_LIMIT`.
    #[error("limit must be 1 to {MAX_LIMIT}")]
    Limit,
}

impl FilterError {
    /// The parameter at fault.
    pub fn parameter(&self) -> &'static str {
        match self {
            Self::BandWithoutOutcome => "band",
            Self::Limit => "limit",
        }
    }

    /// The problem's reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BandWithoutOutcome => "contradiction",
            Self::Limit => "out_of_range",
        }
    }
}

/// Where the next page starts: opaque to callers (unpadded base64url of `seq:<n>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(i64);

/// A cursor that was not issued by this API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor from a previous page's next_cursor")]
pub struct CursorError;

impl Cursor {
    /// Reads a `next_cursor`.
    ///
    /// # Errors
    /// [`CursorError`] for anything this API did not issue.
    pub fn parse(text: &str) -> Result<Self, CursorError> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| CursorError)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CursorError)?;
        let seq = text
            .strip_prefix("seq:")
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 1)
            .ok_or(CursorError)?;
        Ok(Self(seq))
    }

    /// The text of this cursor.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("seq:{}", self.0))
    }
}

/// One assessment in a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentSummary {
    pub assessment_id: String,
    pub created_at: String,
    pub site: Option<String>,
    pub caller: String,
    pub model_set_version: Option<String>,
    pub rule_set_version: Option<String>,
    /// In the answer's order.
    pub outcomes: Vec<OutcomeSummary>,
}

/// One outcome of a listed assessment.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeSummary {
    pub outcome: String,
    pub model_version: Option<String>,
    pub risk_band: Option<String>,
    /// Binary outcomes.
    pub probability: Option<f64>,
    /// Blood loss: median mL.
    pub median_ml: Option<f64>,
    pub not_applicable: bool,
}

impl From<SearchHit> for AssessmentSummary {
    fn from(hit: SearchHit) -> Self {
        let t = hit.terms;
        Self {
            assessment_id: t.assessment_id,
            created_at: t.created_at,
            site: t.site,
            caller: t.caller,
            model_set_version: t.model_set_version,
            rule_set_version: t.rule_set_version,
            outcomes: t
                .predictions
                .into_iter()
                .map(|p| OutcomeSummary {
                    outcome: p.outcome,
                    model_version: p.model_version,
                    risk_band: p.risk_band,
                    probability: p.probability,
                    median_ml: p.median_ml,
                    not_applicable: p.not_applicable,
                })
                .collect(),
        }
    }
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub items: Vec<AssessmentSummary>,
    /// `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

fn query_of(
    filters: &SearchFilters,
    before: Option<Cursor>,
    limit: u32,
) -> Result<SearchQuery, ServiceError> {
    if let (Some(from), Some(to)) = (filters.from, filters.to) {
        if to <= from {
            return Err(WindowError::Reversed.into());
        }
    }
    if filters.band.is_some() && filters.outcome.is_none() {
        return Err(ServiceError::Filter(FilterError::BandWithoutOutcome));
    }
    Ok(SearchQuery {
        since: filters.from,
        until: filters.to,
        site: filters.site.clone(),
        outcome: filters.outcome.map(|o| o.id().to_string()),
        band: filters.band.clone(),
        caller: filters.caller.clone(),
        rule_set_version: filters.rule_version.clone(),
        model_version: filters.model_version.clone(),
        before_seq: before.map(|c| c.0),
        limit,
    })
}

/// One page of the assessments matching `filters`, newest first, after `cursor`.
///
/// # Errors
/// [`ServiceError::Window`] when `to` is not after `from`; [`ServiceError::Filter`] for `band`
/// without `outcome`; [`ServiceError::Store`] when the store cannot be searched (including an
/// index that does not cover older records yet).
pub fn search_assessments(
    store: &dyn AuditStore,
    filters: &SearchFilters,
    cursor: Option<Cursor>,
    limit: u32,
) -> Result<SearchPage, ServiceError> {
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ServiceError::Filter(FilterError::Limit));
    }
    // One more than asked: whether a next page exists without a second query.
    let mut hits = store.search(&query_of(filters, cursor, limit + 1)?)?;
    let more = hits.len() > limit as usize;
    hits.truncate(limit as usize);
    let next_cursor = if more {
        hits.last().map(|h| Cursor(h.seq))
    } else {
        None
    };
    Ok(SearchPage {
        items: hits.into_iter().map(AssessmentSummary::from).collect(),
        next_cursor,
    })
}

/// Checks `filters` as [`search_assessments`] would, without reading the store (the export
/// checks before it starts streaming).
///
/// # Errors
/// As [`search_assessments`], less the store.
pub fn check_filters(filters: &SearchFilters) -> Result<(), ServiceError> {
    query_of(filters, None, 1).map(|_| ())
}

/// Every assessment matching `filters`, newest first, a page of [`EXPORT_PAGE`] at a time:
/// `each` gets each page and returns `false` to stop (the reader went away). The listing ends at
/// the newest record stored when it starts. Returns the number of assessments passed on.
///
/// # Errors
/// As [`search_assessments`]; and `each`'s own errors.
pub fn export_pages(
    store: &dyn AuditStore,
    filters: &SearchFilters,
    mut each: impl FnMut(&[AssessmentSummary]) -> Result<bool, ServiceError>,
) -> Result<u64, ServiceError> {
    let mut cursor = None;
    let mut rows = 0u64;
    loop {
        let page = search_assessments(store, filters, cursor, EXPORT_PAGE)?;
        rows += page.items.len() as u64;
        if !page.items.is_empty() && !each(&page.items)? {
            return Ok(rows);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(rows),
        }
    }
}

/// The CSV columns of the export: the assessment's fields, then for each outcome (in
/// [`Outcome::ALL`] order) `<outcome>_model_version`, `<outcome>_risk_band`,
/// `<outcome>_probability` (binary) or `<outcome>_median_ml` (blood loss), and
/// `<outcome>_not_applicable`. An outcome the assessment did not include has empty cells.
pub fn csv_header() -> Vec<String> {
    let mut columns: Vec<String> = [
        "assessment_id",
        "created_at",
        "site",
        "caller",
        "model_set_version",
        "rule_set_version",
    ]
    .map(String::from)
    .to_vec();
    for outcome in Outcome::ALL {
        let id = outcome.id();
        columns.push(format!("{id}_model_version"));
        columns.push(format!("{id}_risk_band"));
        columns.push(match outcome.kind() {
            OutcomeKind::Quantity => format!("{id}_median_ml"),
            _ => format!("{id}_probability"),
        });
        columns.push(format!("{id}_not_applicable"));
    }
    columns
}

/// The CSV cells of one assessment, in [`csv_header`] order. Numbers are written as Rust's
/// shortest round-trip form (the same value as the JSON listing).
pub fn csv_row(s: &AssessmentSummary) -> Vec<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut cells = vec![
        s.assessment_id.clone(),
        s.created_at.clone(),
        text(&s.site),
        s.caller.clone(),
        text(&s.model_set_version),
        text(&s.rule_set_version),
    ];
    for outcome in Outcome::ALL {
        match s.outcomes.iter().find(|o| o.outcome == outcome.id()) {
            Some(o) => {
                let value = match outcome.kind() {
                    OutcomeKind::Quantity => o.median_ml,
                    _ => o.probability,
                };
                cells.push(text(&o.model_version));
                cells.push(text(&o.risk_band));
                cells.push(value.map(|v| v.to_string()).unwrap_or_default());
                cells.push(o.not_applicable.to_string());
            }
            None => cells.extend(std::iter::repeat_n(String::new(), 4)),
        }
    }
    cells
}

/// The CSV text of `rows`, with the header line first when `header`.
///
/// # Errors
/// [`ServiceError::Internal`] if the CSV writer fails (it writes to memory).
pub fn csv_text(rows: &[AssessmentSummary], header: bool) -> Result<Vec<u8>, ServiceError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |_| ServiceError::Internal("writing CSV to memory failed");
    if header {
        out.write_record(csv_header()).map_err(failed)?;
    }
    for row in rows {
        out.write_record(csv_row(row)).map_err(failed)?;
    }
    out.into_inner()
        .map_err(|_| ServiceError::Internal("writing CSV to memory failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_text_is_refused() {
        let c = Cursor(12345);
        assert_eq!(Cursor::parse(&c.encode()), Ok(c));
        for bad in ["", "12345", "c2VxOg", "c2VxOi0x", "!!!", "c2VxOjEyYQ"] {
            assert_eq!(Cursor::parse(bad), Err(CursorError), "{bad}");
        }
    }

    #[test]
    fn band_needs_outcome_and_windows_run_forward() {
        let band = SearchFilters {
            band: Some("high".into()),
            ..SearchFilters::default()
        };
        assert!(matches!(
            check_filters(&band),
            Err(ServiceError::Filter(FilterError::BandWithoutOutcome))
        ));
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&Utc)
        };
        let reversed = SearchFilters {
            from: Some(t("2026-03-02T00:00:00Z")),
            to: Some(t("2026-03-01T00:00:00Z")),
            ..SearchFilters::default()
        };
        assert!(matches!(
            check_filters(&reversed),
            Err(ServiceError::Window(WindowError::Reversed))
        ));
    }

    #[test]
    fn csv_rows_flatten_outcomes_in_header_order() {
        let s = AssessmentSummary {
            assessment_id: "a1".into(),
            created_at: "2026-03-01T10:00:00.000Z".into(),
            site: Some("north".into()),
            caller: "key, \"quoted\"".into(),
            model_set_version: Some("2026.03.0".into()),
            rule_set_version: None,
            outcomes: vec![
                OutcomeSummary {
                    outcome: "blood_loss_ml".into(),
                    model_version: Some("bl@1".into()),
                    risk_band: Some("moderate".into()),
                    probability: None,
                    median_ml: Some(420.5),
                    not_applicable: false,
                },
                OutcomeSummary {
                    outcome: "dvt".into(),
                    model_version: Some("dvt@2".into()),
                    risk_band: None,
                    probability: None,
                    median_ml: None,
                    not_applicable: true,
                },
            ],
        };
        let header = csv_header();
        let row = csv_row(&s);
        assert_eq!(header.len(), row.len());
        let cell = |name: &str| {
            row[header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("no column {name}"))]
            .clone()
        };
        assert_eq!(cell("blood_loss_ml_median_ml"), "420.5");
        assert_eq!(cell("blood_loss_ml_risk_band"), "moderate");
        assert_eq!(cell("dvt_not_applicable"), "true");
        assert_eq!(cell("dvt_probability"), "");
        assert_eq!(cell("rule_set_version"), "");
        let text = String::from_utf8(csv_text(&[s], true).expect("csv")).expect("utf-8");
        assert!(text.contains("\"key, \"\"quoted\"\"\""), "{text}");
        assert_eq!(text.lines().count(), 2);
    }
}
