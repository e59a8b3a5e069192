//! The search index of the audit store: one row per stored assessment (time, site, caller,
//! model-set and rule-set versions, hashed patient and encounter references, surgery date, and
//! the grouping fields sex, age band and procedure), one row per (assessment, outcome) prediction
//! (model version, status, risk band, probability or median mL with its 80 % interval, not
//! applicable) and one row per recorded outcome (assessment, outcome, value, version), so
//! `GET /v1/audit/assessments`, linking outcomes by reference and the quality join
//! ([`QualityIndexQuery`], `service::quality_rows`) do not scan and parse every record.
//!
//! The index is derived, never authoritative: it is not part of the hash chain, every backend
//! writes a record's rows in the same transaction as the record itself (so the two cannot
//! disagree), and `periop audit reindex` rebuilds it from the records (also backfilling a store
//! created before the index, or before its latest columns, existed; until then searches and the
//! quality join refuse with [`AuditError::IndexIncomplete`] rather than silently miss or
//! mis-group the older records).
//!
//! # What is indexed, and why the audit layer reads it itself
//! [`index_terms`] is the one pure function that extracts the index rows from a record. It reads
//! a small, documented subset of two kinds of records.
//!
//! Records of kind `assessment`: from the stored answer (`output`): `site`,
//! `patient_reference_hash`, `encounter_reference_hash`, `surgery_date`, `model_set.id`,
//! `model_set.version`, `rule_set.version`, and per element of `predictions`: `outcome`,
//! `status` (`"not_applicable"` marks it not applicable), `risk_band`, `probability`,
//! `quantity.median`, `quantity.p10`, `quantity.p90` and `model.version`. Every member is
//! optional (an answer without it indexes `NULL`); a member of the wrong type makes the record
//! invalid (the store refuses it, as it refuses malformed JSON). From the normalised input
//! (`normalised`): `patient.sex` and `patient.procedure` (text; any other type, or a
//! `normalised` that is not an object with a `patient` object, indexes `NULL`) and
//! `patient.age_years`, indexed as its [`crate::metrics::age_band`] (`unknown` when it is not a
//! number). The normalised input never makes a record invalid: it is the assessor's, and its
//! shape is not the index's to police. The time and caller come from the record's own
//! `created_at` and `caller`.
//!
//! Records of kind `outcome` (`service::outcome_records`): from `output`: `assessment_id`,
//! `outcome`, `value` and `version`. A record without one of the four indexes nothing; one of
//! the wrong type (version: an integer from 0 to 2^32 − 1) makes the record invalid.
//!
//! Records of other kinds are not indexed (so searches never list outcome, feedback or
//! read-audit records, and only outcome records are recorded outcomes).
//!
//! The subset is parsed here, in the audit layer (layer 3), rather than handed over by the
//! service (layer 5) with each append, because the index must be rebuildable from the records
//! alone: `reindex` has only the stored bytes, and the audit layer may not depend on `service`.
//! One extraction for live appends and reindexing means the two cannot produce different rows.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{AuditError, AuditRecord, KIND_ASSESSMENT};
use crate::metrics::{age_band, AGE_BANDS};
use crate::outcomes::{Outcome, OutcomeKind};

/// Record kind of a recorded outcome (`service::outcome_records::KIND_OUTCOME`).
pub const KIND_OUTCOME: &str = "outcome";

/// The index rows of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Indexed {
    /// An assessment and its predictions (boxed: an outcome is much smaller).
    Assessment(Box<IndexTerms>),
    /// A recorded outcome.
    Outcome(IndexedOutcome),
}

/// The index row of one stored assessment and its predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexTerms {
    pub assessment_id: String,
    /// As stored (RFC 3339).
    pub created_at: String,
    pub site: Option<String>,
    /// API key id of the caller that asked for the assessment.
    pub caller: String,
    pub model_set_id: Option<String>,
    pub model_set_version: Option<String>,
    pub rule_set_version: Option<String>,
    pub patient_reference_hash: Option<String>,
    pub encounter_reference_hash: Option<String>,
    /// `YYYY-MM-DD`, as stored.
    pub surgery_date: Option<String>,
    /// The normalised `sex`.
    pub sex: Option<String>,
    /// [`crate::metrics::age_band`] of the normalised `age_years`.
    pub age_band: String,
    /// The normalised `procedure`.
    pub procedure: Option<String>,
    /// In the answer's order.
    pub predictions: Vec<IndexedPrediction>,
}

/// The index row of one prediction of an assessment.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedPrediction {
    pub outcome: String,
    /// `<outcome>@<hash prefix>` (the answering model's manifest version).
    pub model_version: Option<String>,
    /// As answered (`ok`, `not_applicable`).
    pub status: Option<String>,
    pub risk_band: Option<String>,
    /// Binary outcomes.
    pub probability: Option<f64>,
    /// Blood loss: the median in mL.
    pub median_ml: Option<f64>,
    /// Blood loss: the 10th percentile in mL.
    pub p10_ml: Option<f64>,
    /// Blood loss: the 90th percentile in mL.
    pub p90_ml: Option<f64>,
    /// `status` was `not_applicable`.
    pub not_applicable: bool,
}

/// The index row of one recorded outcome (one version).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedOutcome {
    /// The assessment the outcome answers.
    pub assessment_id: String,
    pub outcome: String,
    /// 0 or 1, or mL.
    pub value: f64,
    /// 1 for the first value, n + 1 for each changed one.
    pub version: u32,
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
    model_set: Option<ModelSet>,
    #[serde(default)]
    rule_set: Option<Versioned>,
    #[serde(default)]
    predictions: Vec<Prediction>,
}

#[derive(Deserialize)]
struct ModelSet {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    version: Option<String>,
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
    #[serde(default)]
    p10: Option<f64>,
    #[serde(default)]
    p90: Option<f64>,
}

/// The members of the normalised input that are read; any type, checked when used.
#[derive(Deserialize)]
struct Normalised {
    #[serde(default)]
    patient: Option<NormalisedPatient>,
}

#[derive(Deserialize)]
struct NormalisedPatient {
    #[serde(default)]
    sex: Option<serde_json::Value>,
    #[serde(default)]
    procedure: Option<serde_json::Value>,
    #[serde(default)]
    age_years: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OutcomeOutput {
    #[serde(default)]
    assessment_id: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    version: Option<u32>,
}

/// The grouping fields of a normalised input: (sex, age band, procedure).
fn grouping(normalised: &str) -> (Option<String>, &'static str, Option<String>) {
    let patient = normalised
        .trim_start()
        .starts_with('{')
        .then(|| serde_json::from_str::<Normalised>(normalised).ok())
        .flatten()
        .and_then(|n| n.patient);
    let Some(patient) = patient else {
        return (None, age_band(None), None);
    };
    let text = |v: Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    let age = patient
        .age_years
        .as_ref()
        .and_then(serde_json::Value::as_f64);
    (text(patient.sex), age_band(age), text(patient.procedure))
}

fn subset_error(kind: &str, id: &str, problem: impl std::fmt::Display) -> AuditError {
    AuditError::InvalidRecord(format!(
        "output of {kind} {id} does not fit the indexed subset: {problem}"
    ))
}

/// The index rows of `record`: `None` for records of other kinds and outcome records without
/// one of the indexed members (see the module docs for the subset that is read).
///
/// # Errors
/// [`AuditError::InvalidRecord`] when an assessment's or outcome's answer is not an object or a
/// member of the subset has the wrong type.
pub fn index_terms(record: &AuditRecord) -> Result<Option<Indexed>, AuditError> {
    let kind = record.kind.as_str();
    if kind != KIND_ASSESSMENT && kind != KIND_OUTCOME {
        return Ok(None);
    }
    // serde would also read a struct from a JSON array; the subset is an object's members.
    if !record.output.trim_start().starts_with('{') {
        return Err(subset_error(
            kind,
            &record.assessment_id,
            "not a JSON object",
        ));
    }
    if kind == KIND_OUTCOME {
        let o: OutcomeOutput = serde_json::from_str(&record.output)
            .map_err(|e| subset_error(kind, &record.assessment_id, e))?;
        let (Some(assessment_id), Some(outcome), Some(value), Some(version)) =
            (o.assessment_id, o.outcome, o.value, o.version)
        else {
            return Ok(None);
        };
        return Ok(Some(Indexed::Outcome(IndexedOutcome {
            assessment_id,
            outcome,
            value,
            version,
        })));
    }
    let output: Output = serde_json::from_str(&record.output)
        .map_err(|e| subset_error(kind, &record.assessment_id, e))?;
    let predictions = output
        .predictions
        .into_iter()
        .map(|p| {
            let (median_ml, p10_ml, p90_ml) = p
                .quantity
                .map_or((None, None, None), |q| (Some(q.median), q.p10, q.p90));
            IndexedPrediction {
                outcome: p.outcome,
                model_version: p.model.and_then(|m| m.version),
                not_applicable: p.status.as_deref() == Some("not_applicable"),
                status: p.status,
                risk_band: p.risk_band,
                probability: p.probability,
                median_ml,
                p10_ml,
                p90_ml,
            }
        })
        .collect();
    let (sex, band, procedure) = grouping(&record.normalised);
    let (model_set_id, model_set_version) =
        output.model_set.map_or((None, None), |m| (m.id, m.version));
    Ok(Some(Indexed::Assessment(Box::new(IndexTerms {
        assessment_id: record.assessment_id.clone(),
        created_at: record.created_at.clone(),
        site: output.site,
        caller: record.caller.clone(),
        model_set_id,
        model_set_version,
        rule_set_version: output.rule_set.and_then(|r| r.version),
        patient_reference_hash: output.patient_reference_hash,
        encounter_reference_hash: output.encounter_reference_hash,
        surgery_date: output.surgery_date,
        sex,
        age_band: band.to_string(),
        procedure,
        predictions,
    }))))
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
    /// Recorded outcomes (outcome records) indexed.
    pub outcomes: u64,
}

/// The quality join over the index ([`super::AuditStore::quality_index_rows`]): the assessments
/// created in `[from, to)` that predicted `outcome` (status `ok`), optionally of one site, each
/// with the current recorded value of that outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityIndexQuery {
    pub outcome: Outcome,
    /// Assessment `created_at`, inclusive.
    pub from: DateTime<Utc>,
    /// Assessment `created_at`, exclusive.
    pub to: DateTime<Utc>,
    /// Only assessments of this site (`None`: every site, and assessments without one).
    pub site: Option<String>,
}

/// What an indexed prediction predicted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QualityPrediction {
    /// Calibrated probability (binary outcomes).
    Probability(f64),
    /// Median and 80 % interval in mL (blood loss).
    Quantity { median: f64, p10: f64, p90: f64 },
}

/// One assessment of a [`QualityIndexQuery`] with its current recorded outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityIndexRow {
    /// Its position in the chain.
    pub seq: i64,
    pub assessment_id: String,
    pub created_at: DateTime<Utc>,
    pub site: Option<String>,
    pub sex: Option<String>,
    /// One of [`crate::metrics::AGE_BANDS`]' labels or `unknown`.
    pub age_band: &'static str,
    pub procedure: Option<String>,
    pub model_set_id: String,
    pub model_set_version: String,
    /// Version of the model that predicted the outcome.
    pub model_version: String,
    pub predicted: QualityPrediction,
    /// The current recorded value (the highest version; of equal versions the first stored).
    pub observed: f64,
    /// Its version (1 for the first).
    pub outcome_version: u32,
}

/// The rows of a [`QualityIndexQuery`] and what was left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QualityIndexRows {
    /// Assessments with a recorded outcome, in `seq` order.
    pub rows: Vec<QualityIndexRow>,
    /// Assessments of the query without a recorded outcome.
    pub without_outcome: u64,
    /// Assessments of the query whose indexed prediction lacks what the join needs (a model
    /// set id and version, a model version, the probability or the median and interval, a
    /// known status): should be 0; never in `rows`.
    pub unreadable: u64,
}

/// The quality join statement: rows with `a.seq >= from_seq`, in (`seq`, position) order, at
/// most `limit` of them when given (placeholders as in [`search_sql`]). Columns in
/// [`QualityRaw`] order.
pub(crate) fn quality_sql(
    query: &QualityIndexQuery,
    from_seq: i64,
    limit: Option<i64>,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let mut next = |p: Param| {
        params.push(p);
        placeholder(params.len())
    };
    let outcome = next(Param::Text(query.outcome.id().to_string()));
    let outcome_again = next(Param::Text(query.outcome.id().to_string()));
    let from_seq = next(Param::Int(from_seq));
    let from = next(Param::Int(query.from.timestamp_micros()));
    let to = next(Param::Int(query.to.timestamp_micros()));
    let mut sql = format!(
        "SELECT a.seq, a.assessment_id, a.created_at, a.site, a.sex, a.age_band, a.procedure,          a.model_set_id, a.model_set_version, p.status, p.model_version, p.probability,          p.median_ml, p.p10_ml, p.p90_ml, o.value, o.version          FROM audit_search_assessments a          JOIN audit_search_predictions p ON p.seq = a.seq AND p.outcome = {outcome}          LEFT JOIN audit_search_outcomes o ON o.seq = (SELECT c.seq FROM audit_search_outcomes c          WHERE c.assessment_id = a.assessment_id AND c.outcome = {outcome_again}          AND c.version >= 1 ORDER BY c.version DESC, c.seq LIMIT 1)          WHERE a.seq >= {from_seq} AND a.created_at_us >= {from} AND a.created_at_us < {to}"
    );
    if let Some(site) = &query.site {
        let p = next(Param::Text(site.clone()));
        sql.push_str(&format!(" AND a.site = {p}"));
    }
    sql.push_str(" ORDER BY a.seq, p.position");
    if let Some(limit) = limit {
        let p = next(Param::Int(limit));
        sql.push_str(&format!(" LIMIT {p}"));
    }
    (sql, params)
}

/// One row of [`quality_sql`], as read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QualityRaw {
    pub seq: i64,
    pub assessment_id: String,
    pub created_at: String,
    pub site: Option<String>,
    pub sex: Option<String>,
    pub age_band: Option<String>,
    pub procedure: Option<String>,
    pub model_set_id: Option<String>,
    pub model_set_version: Option<String>,
    pub status: Option<String>,
    pub model_version: Option<String>,
    pub probability: Option<f64>,
    pub median_ml: Option<f64>,
    pub p10_ml: Option<f64>,
    pub p90_ml: Option<f64>,
    pub observed: Option<f64>,
    pub version: Option<i64>,
}

/// Turns [`quality_sql`] rows (in its order) into [`QualityIndexRows`]: per assessment the
/// first prediction of the outcome with status `ok` (one with an unknown status makes the
/// assessment unreadable, as it made its answer unreadable to the service).
pub(crate) struct QualityCollector {
    kind: OutcomeKind,
    group: Vec<QualityRaw>,
    out: QualityIndexRows,
}

impl QualityCollector {
    pub(crate) fn new(outcome: Outcome) -> Self {
        Self {
            kind: outcome.kind(),
            group: Vec::new(),
            out: QualityIndexRows::default(),
        }
    }

    /// The seq of the assessment being collected.
    pub(crate) fn pending_seq(&self) -> Option<i64> {
        self.group.first().map(|r| r.seq)
    }

    /// Forgets the rows of the assessment being collected (a page ended inside it: the next
    /// page starts at its seq again).
    pub(crate) fn drop_pending(&mut self) {
        self.group.clear();
    }

    pub(crate) fn push(&mut self, raw: QualityRaw) {
        if self.pending_seq().is_some_and(|s| s != raw.seq) {
            self.finish_group();
        }
        self.group.push(raw);
    }

    pub(crate) fn finish(mut self) -> QualityIndexRows {
        self.finish_group();
        self.out
    }

    fn finish_group(&mut self) {
        let group = std::mem::take(&mut self.group);
        let known = |s: &Option<String>| matches!(s.as_deref(), Some("ok" | "not_applicable"));
        if group.iter().any(|r| !known(&r.status)) {
            self.out.unreadable += 1;
            return;
        }
        let Some(raw) = group
            .into_iter()
            .find(|r| r.status.as_deref() == Some("ok"))
        else {
            return;
        };
        match self.row(raw) {
            Some(Some(row)) => self.out.rows.push(row),
            Some(None) => self.out.without_outcome += 1,
            None => self.out.unreadable += 1,
        }
    }

    /// `None`: unreadable; `Some(None)`: no recorded outcome.
    fn row(&self, raw: QualityRaw) -> Option<Option<QualityIndexRow>> {
        let predicted = match self.kind {
            OutcomeKind::Probability => QualityPrediction::Probability(raw.probability?),
            OutcomeKind::Quantity => QualityPrediction::Quantity {
                median: raw.median_ml?,
                p10: raw.p10_ml?,
                p90: raw.p90_ml?,
            },
        };
        let age_band = known_age_band(raw.age_band.as_deref()?)?;
        let created_at = DateTime::parse_from_rfc3339(&raw.created_at)
            .ok()?
            .with_timezone(&Utc);
        let (model_set_id, model_set_version, model_version) = (
            raw.model_set_id?,
            raw.model_set_version?,
            raw.model_version?,
        );
        let (Some(observed), Some(version)) = (raw.observed, raw.version) else {
            return Some(None);
        };
        Some(Some(QualityIndexRow {
            seq: raw.seq,
            assessment_id: raw.assessment_id,
            created_at,
            site: raw.site,
            sex: raw.sex,
            age_band,
            procedure: raw.procedure,
            model_set_id,
            model_set_version,
            model_version,
            predicted,
            observed,
            outcome_version: u32::try_from(version).ok()?,
        }))
    }
}

/// The label of [`age_band`] that `text` spells.
fn known_age_band(text: &str) -> Option<&'static str> {
    let unknown = age_band(None);
    AGE_BANDS
        .iter()
        .map(|b| b.0)
        .chain(std::iter::once(unknown))
        .find(|label| *label == text)
}

/// A bound parameter of the search SQL, shared by the backends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// Columns of `audit_search_assessments` a search reads, in [`IndexTerms`] order after `seq`.
pub(crate) const ASSESSMENT_COLUMNS: &str = "a.seq, a.assessment_id, a.created_at, a.site, \
     a.caller, a.model_set_id, a.model_set_version, a.rule_set_version, \
     a.patient_reference_hash, a.encounter_reference_hash, a.surgery_date, a.sex, a.age_band, \
     a.procedure";

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
    let before = next(
        Param::Int(query.before_seq.unwrap_or(i64::MAX)),
        &mut params,
    );
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
pub(crate) const PREDICTION_COLUMNS: &str = "seq, outcome, model_version, status, risk_band, \
     probability, median_ml, p10_ml, p90_ml, not_applicable";

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
        let mut with_patient = record("assessment", output);
        with_patient.normalised = r#"{"model_input":{"features":["a"],"values":[1]},
            "patient":{"age_years":67.5,"sex":"female","procedure":"lumbar_fusion"}}"#
            .into();
        let Some(Indexed::Assessment(terms)) = index_terms(&with_patient).expect("indexable")
        else {
            panic!("an assessment");
        };
        assert_eq!(
            (
                terms.sex.as_deref(),
                terms.age_band.as_str(),
                terms.procedure.as_deref()
            ),
            (Some("female"), "65-74", Some("lumbar_fusion"))
        );
        assert_eq!(terms.model_set_id.as_deref(), Some("default"));
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
                    status: Some("ok".into()),
                    risk_band: Some("low".into()),
                    probability: Some(0.031),
                    median_ml: None,
                    p10_ml: None,
                    p90_ml: None,
                    not_applicable: false,
                },
                IndexedPrediction {
                    outcome: "blood_loss_ml".into(),
                    model_version: Some("bl@1".into()),
                    status: Some("ok".into()),
                    risk_band: Some("moderate".into()),
                    probability: None,
                    median_ml: Some(420.5),
                    p10_ml: Some(1.0),
                    p90_ml: Some(2.0),
                    not_applicable: false,
                },
                IndexedPrediction {
                    outcome: "csf_leak".into(),
                    model_version: Some("csf@2".into()),
                    status: Some("not_applicable".into()),
                    risk_band: None,
                    probability: None,
                    median_ml: None,
                    p10_ml: None,
                    p90_ml: None,
                    not_applicable: true,
                },
            ]
        );
    }

    #[test]
    fn other_kinds_are_not_indexed_and_bad_subsets_are_refused() {
        assert_eq!(
            index_terms(&record("outcome", r#"{"site":"x"}"#)).expect("ok"),
            None,
            "an outcome record without the four members indexes nothing"
        );
        assert_eq!(index_terms(&record("audit_read", "[1]")).expect("ok"), None);
        let Some(Indexed::Assessment(minimal)) =
            index_terms(&record("assessment", "{}")).expect("ok")
        else {
            panic!("an assessment");
        };
        assert!(minimal.predictions.is_empty() && minimal.site.is_none());
        assert_eq!((minimal.sex, minimal.age_band.as_str()), (None, "unknown"));
        for bad in [
            "[]",
            r#"{"site":7}"#,
            r#"{"predictions":[{"status":"ok"}]}"#,
            r#"{"predictions":[{"outcome":"dvt","probability":"high"}]}"#,
            r#"{"predictions":[{"outcome":"b","quantity":{"median":1,"p10":"x"}}]}"#,
            r#"{"model_set":{"id":3}}"#,
        ] {
            assert!(
                matches!(
                    index_terms(&record("assessment", bad)),
                    Err(AuditError::InvalidRecord(m)) if m.contains("indexed subset")
                ),
                "{bad}"
            );
        }
        for bad in [
            "[]",
            r#"{"assessment_id":"a","outcome":"dvt","value":"1","version":1}"#,
            r#"{"assessment_id":"a","outcome":"dvt","value":1,"version":-1}"#,
            r#"{"assessment_id":"a","outcome":"dvt","value":1,"version":1.5}"#,
        ] {
            assert!(
                matches!(
                    index_terms(&record("outcome", bad)),
                    Err(AuditError::InvalidRecord(m)) if m.contains("indexed subset")
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_outcome_record_yields_its_recorded_value_and_normalised_types_never_refuse() {
        let out = r#"{"record_id":"r","assessment_id":"a9","outcome":"dvt","value":1,
            "version":2,"supersedes":"r1","linked_by":"assessment_id"}"#;
        assert_eq!(
            index_terms(&record("outcome", out)).expect("ok"),
            Some(Indexed::Outcome(IndexedOutcome {
                assessment_id: "a9".into(),
                outcome: "dvt".into(),
                value: 1.0,
                version: 2,
            }))
        );
        for normalised in [
            "null",
            "[1]",
            r#"{"patient":7}"#,
            r#"{"patient":{"sex":1,"procedure":null,"age_years":"old"}}"#,
        ] {
            let mut r = record("assessment", "{}");
            r.normalised = normalised.into();
            let Some(Indexed::Assessment(t)) = index_terms(&r).expect("never refused") else {
                panic!("an assessment");
            };
            assert_eq!(
                (t.sex, t.age_band.as_str(), t.procedure),
                (None, "unknown", None),
                "{normalised}"
            );
        }
    }

    #[test]
    fn the_collector_keeps_the_first_ok_prediction_and_counts_the_rest() {
        let raw =
            |seq: i64, status: &str, p: Option<f64>, observed: Option<(f64, i64)>| QualityRaw {
                seq,
                assessment_id: format!("a{seq}"),
                created_at: "2026-03-01T10:00:00.000Z".into(),
                site: None,
                sex: None,
                age_band: Some("unknown".into()),
                procedure: None,
                model_set_id: Some("default".into()),
                model_set_version: Some("1".into()),
                status: Some(status.into()),
                model_version: Some("dvt@1".into()),
                probability: p,
                median_ml: None,
                p10_ml: None,
                p90_ml: None,
                observed: observed.map(|o| o.0),
                version: observed.map(|o| o.1),
            };
        let mut c = QualityCollector::new(Outcome::Dvt);
        c.push(raw(1, "not_applicable", None, Some((1.0, 1))));
        c.push(raw(1, "ok", Some(0.2), Some((1.0, 3))));
        c.push(raw(2, "ok", Some(0.3), None));
        c.push(raw(3, "ok", None, Some((0.0, 1))));
        c.push(raw(4, "error", Some(0.3), Some((0.0, 1))));
        c.push(raw(5, "not_applicable", None, None));
        let out = c.finish();
        assert_eq!(
            out.rows
                .iter()
                .map(|r| (r.seq, r.predicted, r.observed, r.outcome_version))
                .collect::<Vec<_>>(),
            vec![(1, QualityPrediction::Probability(0.2), 1.0, 3)]
        );
        assert_eq!((out.without_outcome, out.unreadable), (1, 2));
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
