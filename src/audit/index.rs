//! The search index of the audit store: one row per stored assessment (time, site, caller,
//! model-set and rule-set versions, hashed patient and encounter references, surgery date) and
//! one row per (assessment, outcome) prediction (model version, risk band, probability or median
//! mL, not applicable), so `GET /v1/audit/assessments` and linking outcomes by reference do not
//! scan and parse every record.
//!
//! The index is derived, never authoritative: it is not part of the hash chain, every backend
//! writes an assessment's rows in the same transaction as the record itself (so the two cannot
//! disagree), and `periop audit reindex` rebuilds it from the records (also backfilling a store
//! created before the index existed; until then searches refuse with
//! [`AuditError::IndexIncomplete`] rather than silently miss the older records).
//!
//! # What is indexed, and why the audit layer reads it itself
//! [`index_terms`] is the one pure function that extracts the index rows from a record. It reads
//! a small, documented subset of the stored answer (`output`) of records of kind `assessment`:
//! `site`, `patient_reference_hash`, `encounter_reference_hash`, `surgery_date`,
//! `model_set.version`, `rule_set.version`, and per element of `predictions`: `outcome`,
//! `status` (`"not_applicable"` marks it not applicable), `risk_band`, `probability`,
//! `quantity.median` and `model.version`. Every member is optional (an answer without it indexes
//! `NULL`); a member of the wrong type makes the record invalid (the store refuses it, as it
//! refuses malformed JSON). The time and caller come from the record's own `created_at` and
//! `caller`. Records of other kinds are not indexed (so searches never list outcome,
//! feedback or read-audit records).
//!
//! The subset is parsed here, in the audit layer (layer 3), rather than handed over by the
//! service (layer 5) with each append, because the index must be rebuildable from the records
//! alone: `reindex` has only the stored bytes, and the audit layer may not depend on `service`.
//! One extraction for live appends and reindexing means the two cannot produce different rows.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{AuditError, AuditRecord, KIND_ASSESSMENT};

/// The index row of one stored assessment and its predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexTerms {
    pub assessment_id: String,
    /// As stored (RFC 3339).
    pub created_at: String,
    pub site: Option<String>,
    /// API key id of the caller that asked for the assessment.
    pub caller: String,
    pub model_set_version: Option<String>,
    pub rule_set_version: Option<String>,
    pub patient_reference_hash: Option<String>,
    pub encounter_reference_hash: Option<String>,
    /// `YYYY-MM-DD`, as stored.
    pub surgery_date: Option<String>,
    /// In the answer's order.
    pub predictions: Vec<IndexedPrediction>,
}

/// The index row of one prediction of an assessment.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedPrediction {
    pub outcome: String,
    /// `<outcome>@<hash prefix>` (the answering model's manifest version).
    pub model_version: Option<String>,
    pub risk_band: Option<String>,
    /// Binary outcomes.
    pub probability: Option<f64>,
    /// Blood loss: the median in mL.
    pub median_ml: Option<f64>,
    /// `status` was `not_applicable`.
    pub not_applicable: bool,
}

#[derive(Deserialize)]
struct Output {
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    patient_reference_hash: Option<String>,
    #[serde(default)]
    encounter_reference_hash: Option<String>,
    #[serde(default)]
    surgery_date: Option<String>,
    #[serde(default)]
    model_set: Option<Versioned>,
    #[serde(default)]
    rule_set: Option<Versioned>,
    #[serde(default)]
    predictions: Vec<Prediction>,
}

#[derive(Deserialize)]
struct Versioned {
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct Prediction {
    outcome: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    risk_band: Option<String>,
    #[serde(default)]
    probability: Option<f64>,
    #[serde(default)]
    quantity: Option<Quantity>,
    #[serde(default)]
    model: Option<Versioned>,
}

#[derive(Deserialize)]
struct Quantity {
    median: f64,
}

/// The index terms of `record`: `None` for records that are not assessments (see the module
/// docs for the subset of the answer that is read).
///
/// # Errors
/// [`AuditError::InvalidRecord`] when an assessment's answer is not an object or a member of the
/// subset has the wrong type.
pub fn index_terms(record: &AuditRecord) -> Result<Option<IndexTerms>, AuditError> {
    if record.kind != KIND_ASSESSMENT {
        return Ok(None);
    }
    // serde would also read a struct from a JSON array; the subset is an object's members.
    if !record.output.trim_start().starts_with('{') {
        return Err(AuditError::InvalidRecord(format!(
            "output of assessment {} does not fit the indexed subset: not a JSON object",
            record.assessment_id
        )));
    }
    let output: Output = serde_json::from_str(&record.output).map_err(|e| {
        AuditError::InvalidRecord(format!(
            "output of assessment {} does not fit the indexed subset: {e}",
            record.assessment_id
        ))
    })?;
    let predictions = output
        .predictions
        .into_iter()
        .map(|p| IndexedPrediction {
            outcome: p.outcome,
            model_version: p.model.and_then(|m| m.version),
            risk_band: p.risk_band,
            probability: p.probability,
            median_ml: p.quantity.map(|q| q.median),
            not_applicable: p.status.as_deref() == Some("not_applicable"),
        })
        .collect();
    Ok(Some(IndexTerms {
        assessment_id: record.assessment_id.clone(),
        created_at: record.created_at.clone(),
        site: output.site,
        caller: record.caller.clone(),
        model_set_version: output.model_set.and_then(|m| m.version),
        rule_set_version: output.rule_set.and_then(|r| r.version),
        patient_reference_hash: output.patient_reference_hash,
        encounter_reference_hash: output.encounter_reference_hash,
        surgery_date: output.surgery_date,
        predictions,
    }))
}

/// A search over the index, newest first (`seq` descending). Every filter is optional; all
/// given filters must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Only assessments with `created_at >= since`.
    pub since: Option<DateTime<Utc>>,
    /// Only assessments with `created_at < until`.
    pub until: Option<DateTime<Utc>>,
    pub site: Option<String>,
    /// Only assessments that predicted this outcome (a prediction not `not_applicable`).
    pub outcome: Option<String>,
    /// With `outcome`: only those whose prediction of it is in this risk band.
    pub band: Option<String>,
    pub caller: Option<String>,
    pub rule_set_version: Option<String>,
    /// The model-set version, or the model version of any of the assessment's predictions.
    pub model_version: Option<String>,
    /// Keyset pagination: only assessments with `seq < before_seq` (the last seq seen).
    pub before_seq: Option<i64>,
    /// At most this many assessments.
    pub limit: u32,
}

/// One assessment found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Its position in the chain (the pagination key).
    pub seq: i64,
    pub terms: IndexTerms,
}

/// What `reindex` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReindexReport {
    /// Records read.
    pub records: u64,
    /// Assessments indexed.
    pub assessments: u64,
}

/// A bound parameter of the search SQL, shared by the backends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// Columns of `audit_search_assessments` a search reads, in [`IndexTerms`] order after `seq`.
pub(crate) const ASSESSMENT_COLUMNS: &str = "a.seq, a.assessment_id, a.created_at, a.site, \
     a.caller, a.model_set_version, a.rule_set_version, a.patient_reference_hash, \
     a.encounter_reference_hash, a.surgery_date";

/// The search statement for `query` (placeholders written by `placeholder(n)`, 1-based) and
/// its parameters. Both backends run the same SQL, so they find the same rows.
pub(crate) fn search_sql(
    query: &SearchQuery,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let next = |p: Param, params: &mut Vec<Param>| {
        params.push(p);
        placeholder(params.len())
    };
    let mut sql = format!("SELECT {ASSESSMENT_COLUMNS} FROM audit_search_assessments a WHERE ");
    let before = next(Param::Int(query.before_seq.unwrap_or(i64::MAX)), &mut params);
    sql.push_str(&format!("a.seq < {before}"));
    if let Some(t) = query.since {
        let p = next(Param::Int(t.timestamp_micros()), &mut params);
        sql.push_str(&format!(" AND a.created_at_us >= {p}"));
    }
    if let Some(t) = query.until {
        let p = next(Param::Int(t.timestamp_micros()), &mut params);
        sql.push_str(&format!(" AND a.created_at_us < {p}"));
    }
    for (column, value) in [
        ("site", &query.site),
        ("caller", &query.caller),
        ("rule_set_version", &query.rule_set_version),
    ] {
        if let Some(v) = value {
            let p = next(Param::Text(v.clone()), &mut params);
            sql.push_str(&format!(" AND a.{column} = {p}"));
        }
    }
    if let Some(v) = &query.model_version {
        let p = next(Param::Text(v.clone()), &mut params);
        let q = next(Param::Text(v.clone()), &mut params);
        sql.push_str(&format!(
            " AND (a.model_set_version = {p} OR EXISTS (SELECT 1 FROM audit_search_predictions m \
             WHERE m.seq = a.seq AND m.model_version = {q}))"
        ));
    }
    if let Some(outcome) = &query.outcome {
        let p = next(Param::Text(outcome.clone()), &mut params);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM audit_search_predictions o WHERE o.seq = a.seq \
             AND o.outcome = {p} AND NOT o.not_applicable"
        ));
        if let Some(band) = &query.band {
            let b = next(Param::Text(band.clone()), &mut params);
            sql.push_str(&format!(" AND o.risk_band = {b}"));
        }
        sql.push(')');
    }
    let limit = next(Param::Int(i64::from(query.limit)), &mut params);
    sql.push_str(&format!(" ORDER BY a.seq DESC LIMIT {limit}"));
    (sql, params)
}

/// Columns of `audit_search_predictions` read back for the hits, in [`IndexedPrediction`]
/// order after `seq`.
pub(crate) const PREDICTION_COLUMNS: &str =
    "seq, outcome, model_version, risk_band, probability, median_ml, not_applicable";

/// Message of a search over an index that does not cover every record yet.
pub(crate) fn incomplete(from_seq: i64) -> AuditError {
    AuditError::IndexIncomplete { from_seq }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, output: &str) -> AuditRecord {
        AuditRecord {
            assessment_id: "a1".into(),
            request_id: "r1".into(),
            created_at: "2026-03-01T10:00:00.000Z".into(),
            caller: "key_ehr".into(),
            kind: kind.into(),
            model_set: "{}".into(),
            input: "{}".into(),
            normalised: "{}".into(),
            output: output.into(),
            shap: "null".into(),
        }
    }

    #[test]
    fn an_answer_yields_its_assessment_and_prediction_rows() {
        let output = r#"{"assessment_id":"a1","created_at":"2026-03-01T10:00:00.000Z",
            "site":"north","patient_reference_hash":"ab","surgery_date":"2026-03-04",
            "model_set":{"id":"default","version":"2026.03.0"},
            "rule_set":{"version":"default-1","sha256":"x"},
            "predictions":[
              {"outcome":"dvt","status":"ok","probability":0.031,"risk_band":"low",
               "model":{"id":"dvt","version":"dvt@abc","sha256":"s"},"explanation":{"x":[1,2]}},
              {"outcome":"blood_loss_ml","status":"ok","quantity":{"median":420.5,"p10":1,"p90":2,"unit":"mL"},
               "risk_band":"moderate","model":{"id":"blood_loss_ml","version":"bl@1","sha256":"s"}},
              {"outcome":"csf_leak","status":"not_applicable","reason":"no durotomy risk",
               "model":{"id":"csf_leak","version":"csf@2","sha256":"s"}}
            ],"inputs":{"used":[]}}"#;
        let terms = index_terms(&record("assessment", output))
            .expect("indexable")
            .expect("an assessment");
        assert_eq!(terms.site.as_deref(), Some("north"));
        assert_eq!(terms.caller, "key_ehr");
        assert_eq!(terms.created_at, "2026-03-01T10:00:00.000Z");
        assert_eq!(terms.model_set_version.as_deref(), Some("2026.03.0"));
        assert_eq!(terms.rule_set_version.as_deref(), Some("default-1"));
        assert_eq!(terms.patient_reference_hash.as_deref(), Some("ab"));
        assert_eq!(terms.encounter_reference_hash, None);
        assert_eq!(terms.surgery_date.as_deref(), Some("2026-03-04"));
        assert_eq!(
            terms.predictions,
            vec![
                IndexedPrediction {
                    outcome: "dvt".into(),
                    model_version: Some("dvt@abc".into()),
                    risk_band: Some("low".into()),
                    probability: Some(0.031),
                    median_ml: None,
                    not_applicable: false,
                },
                IndexedPrediction {
                    outcome: "blood_loss_ml".into(),
                    model_version: Some("bl@1".into()),
                    risk_band: Some("moderate".into()),
                    probability: None,
                    median_ml: Some(420.5),
                    not_applicable: false,
                },
                IndexedPrediction {
                    outcome: "csf_leak".into(),
                    model_version: Some("csf@2".into()),
                    risk_band: None,
                    probability: None,
                    median_ml: None,
                    not_applicable: true,
                },
            ]
        );
    }

    #[test]
    fn other_kinds_are_not_indexed_and_bad_subsets_are_refused() {
        assert_eq!(
            index_terms(&record("outcome", r#"{"site":"x"}"#)).expect("ok"),
            None
        );
        assert_eq!(
            index_terms(&record("audit_read", "[1]")).expect("ok"),
            None
        );
        let minimal = index_terms(&record("assessment", "{}"))
            .expect("ok")
            .expect("an assessment");
        assert!(minimal.predictions.is_empty() && minimal.site.is_none());
        for bad in [
            "[]",
            r#"{"site":7}"#,
            r#"{"predictions":[{"status":"ok"}]}"#,
            r#"{"predictions":[{"outcome":"dvt","probability":"high"}]}"#,
        ] {
            assert!(
                matches!(
                    index_terms(&record("assessment", bad)),
                    Err(AuditError::InvalidRecord(m)) if m.contains("indexed subset")
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_search_sql_binds_every_filter_in_order() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&Utc)
        };
        let query = SearchQuery {
            since: Some(t("2026-03-01T00:00:00Z")),
            until: None,
            site: Some("north".into()),
            outcome: Some("dvt".into()),
            band: Some("high".into()),
            model_version: Some("dvt@abc".into()),
            before_seq: Some(77),
            limit: 10,
            ..SearchQuery::default()
        };
        let (sql, params) = search_sql(&query, |n| format!("${n}"));
        assert!(sql.contains("a.seq < $1") && sql.contains("a.created_at_us >= $2"));
        assert!(sql.contains("a.site = $3") && !sql.contains("a.caller ="));
        assert!(sql.contains("o.risk_band = $7") && sql.ends_with("LIMIT $8"));
        assert_eq!(
            params,
            vec![
                Param::Int(77),
                Param::Int(t("2026-03-01T00:00:00Z").timestamp_micros()),
                Param::Text("north".into()),
                Param::Text("dvt@abc".into()),
                Param::Text("dvt@abc".into()),
                Param::Text("dvt".into()),
                Param::Text("high".into()),
                Param::Int(10),
            ]
        );
    }
}
