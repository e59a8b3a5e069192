//! Recorded outcomes (issue 10, item 2): what actually happened after an assessment (a DVT, the
//! blood loss in mL), appended to the audit chain as records of kind [`KIND_OUTCOME`], linked to
//! the assessment and the model version that predicted it, so quality reports can compare
//! predictions with outcomes.
//!
//! An item names its assessment by id, or by patient reference plus planned surgery date (the
//! reference is hashed with the configured key, `service::provenance`, and must match exactly one
//! stored assessment). Each item is checked for its outcome type: binary outcomes take 0 or 1,
//! blood loss a number of mL within [`BLOOD_LOSS_RANGE_ML`]; the assessment must have predicted
//! the outcome (`status: ok`). A request with any invalid item stores nothing, and nothing is
//! acknowledged before its records are durable (one `append_all`: one transaction).
//!
//! Versions, never overwrites: the first value of (assessment, outcome) is version 1; the same
//! value again is [`OutcomeStatus::AlreadyRecorded`] (nothing added; the first `observed_at` is
//! kept); a different value is a new record with version n + 1 that `supersedes` version n. A
//! record's id is a UUID v5 of (assessment, outcome, version) ([`outcome_record_id`]), so two
//! writers racing for the same version cannot both store it: the store refuses the second id.
//!
//! Linking by reference is one lookup in the store's search index (`AuditStore::by_reference`:
//! the assessment's reference hash and surgery date, indexed at append). Finding an assessment's
//! outcomes still scans every `outcome` record: one scan per request, O(stored outcome records);
//! the index holds the recorded outcomes (for `service::quality_rows`) but this lookup does not
//! use it yet.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::backtest::Unreadable;
use super::error::ServiceError;
use super::feedback::ModelVersion;
use super::provenance::{parse_date, ProvenancePolicy};
use super::record::Caller;
use super::types::{ModelSetRef, Status};
use crate::audit::{AuditError, AuditRecord, AuditStore, ListQuery, StoredRecord, KIND_ASSESSMENT};
use crate::clock::{created_at_text, now_millis};
use crate::features::Constraint;
use crate::outcomes::{Outcome, OutcomeKind, BLOOD_LOSS_RANGE_ML};

/// Audit record kind of one recorded outcome (one version); the audit search index reads
/// these records' `assessment_id`, `outcome`, `value` and `version` (`audit::index`).
pub use crate::audit::KIND_OUTCOME;

/// Most items in one request (or CSV import).
pub const MAX_OUTCOME_ITEMS: usize = 1000;

/// The members of an item.
pub const ITEM_MEMBERS: &[&str] = &[
    "assessment_id",
    "patient_reference",
    "surgery_date",
    "outcome",
    "value",
    "observed_at",
];

/// Name (in the URL namespace) of the UUID v5 namespace of outcome record ids.
const OUTCOME_NAMESPACE_NAME: &str = "https://periop.example.org/ns/recorded-outcome";

/// Records read per page while scanning the store.
const SCAN_PAGE: u32 = 1000;

/// Serialises the read-versions-then-append of this process, so two requests in one server never
/// race for a version (across replicas the store's unique id decides, see the module docs).
static WRITER: Mutex<()> = Mutex::new(());

/// The id of version `version` of `outcome` of `assessment_id`: UUID v5 of
/// `[assessment_id, outcome, version]` (a JSON array, so no separator can be forged).
pub fn outcome_record_id(assessment_id: &str, outcome: Outcome, version: u32) -> String {
    let namespace = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        OUTCOME_NAMESPACE_NAME.as_bytes(),
    );
    let key = serde_json::json!([assessment_id, outcome.id(), version]);
    uuid::Uuid::new_v5(&namespace, key.to_string().as_bytes()).to_string()
}

// ---------------------------------------------------------------- input

/// One item as sent (a JSON item, a CSV row), members typed but not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutcomeEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assessment_id: Option<String>,
    /// The patient reference as sent (only ever stored as its keyed hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_reference: Option<String>,
    /// `YYYY-MM-DD`, with `patient_reference`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surgery_date: Option<String>,
    /// Outcome id (`dvt`, `blood_loss_ml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// 0 or 1, or mL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// When the outcome was observed, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
}

/// How an item named its assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkedBy {
    AssessmentId,
    PatientReference,
}

// ---------------------------------------------------------------- errors

/// What is wrong with one member of one item (never its value).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutcomeProblem {
    #[error("is not an item member ({})", ITEM_MEMBERS.join(", "))]
    UnknownMember { member: String },
    #[error("must be {expected}")]
    WrongType {
        member: &'static str,
        expected: &'static str,
    },
    #[error("is required")]
    Required { member: &'static str },
    /// `assessment_id` and `patient_reference` both given.
    #[error("must be absent when assessment_id is given (name the assessment one way)")]
    TwoLinks,
    /// `surgery_date` with `assessment_id`.
    #[error("belongs with patient_reference, not with assessment_id")]
    DateWithId,
    #[error("must be a date YYYY-MM-DD")]
    BadDate,
    #[error("must be an RFC 3339 date-time, e.g. 2026-03-20T08:00:00Z")]
    BadTimestamp,
    #[error("must be one of {}", super::request::OUTCOME_IDS.join(", "))]
    UnknownOutcome,
    #[error("must be 0 or 1 for a binary outcome")]
    NotBinary,
    #[error("must be within {}..={} mL", BLOOD_LOSS_RANGE_ML.0, BLOOD_LOSS_RANGE_ML.1)]
    BloodLossOutOfRange,
    /// A reference that is empty, too long, or sent without a configured key.
    #[error("{0}")]
    Reference(Constraint),
    #[error("is not the id of a stored assessment")]
    UnknownAssessment,
    /// The assessment did not predict the outcome (not applicable, or not requested).
    #[error("was not predicted by that assessment ({why})")]
    NotPredicted { why: &'static str },
    #[error("with this surgery_date matches no stored assessment")]
    NoMatch,
    #[error("with this surgery_date matches {count} stored assessments; record by assessment_id")]
    Ambiguous { count: usize },
}

impl OutcomeProblem {
    /// The item member concerned (`value`, `patient_reference`).
    pub fn member(&self) -> String {
        match self {
            Self::UnknownMember { member } => member.clone(),
            Self::WrongType { member, .. } | Self::Required { member } => (*member).to_string(),
            Self::TwoLinks | Self::Reference(_) | Self::NoMatch | Self::Ambiguous { .. } => {
                "patient_reference".into()
            }
            Self::DateWithId | Self::BadDate => "surgery_date".into(),
            Self::BadTimestamp => "observed_at".into(),
            Self::UnknownOutcome | Self::NotPredicted { .. } => "outcome".into(),
            Self::NotBinary | Self::BloodLossOutOfRange => "value".into(),
            Self::UnknownAssessment => "assessment_id".into(),
        }
    }

    /// Machine-readable kind (the problem+json `reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownMember { .. } => "unknown_field",
            Self::WrongType { .. } => "wrong_type",
            Self::Required { .. } => "required",
            Self::TwoLinks | Self::DateWithId => "contradiction",
            Self::BadDate | Self::BadTimestamp => "invalid_format",
            Self::UnknownOutcome => "unknown_level",
            Self::NotBinary | Self::BloodLossOutOfRange => "out_of_range",
            Self::Reference(c) => c.reason(),
            Self::UnknownAssessment => "unknown_assessment",
            Self::NotPredicted { .. } => "not_predicted",
            Self::NoMatch => "no_match",
            Self::Ambiguous { .. } => "ambiguous",
        }
    }
}

/// One problem of one item: `items[<index>].<member> <problem>`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} {problem}", self.field())]
pub struct OutcomeError {
    /// Position of the item (`items[i]`, or the CSV row minus one).
    pub index: usize,
    pub problem: OutcomeProblem,
}

impl OutcomeError {
    /// The field's path in the request body, e.g. `items[2].value`.
    pub fn field(&self) -> String {
        format!("items[{}].{}", self.index, self.problem.member())
    }
}

/// Every problem of an outcomes request; nothing of it was stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid outcomes: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct OutcomesRejected(pub Vec<OutcomeError>);

// ---------------------------------------------------------------- JSON items

/// One JSON item as an [`OutcomeEntry`], or every type problem of it (unknown members, wrong
/// types; `value` must be a JSON number).
///
/// # Errors
/// The item's problems.
pub fn entry_from_json(item: &Value) -> Result<OutcomeEntry, Vec<OutcomeProblem>> {
    let Some(object) = item.as_object() else {
        return Err(vec![OutcomeProblem::WrongType {
            member: "",
            expected: "an outcome item object",
        }]);
    };
    let mut problems = Vec::new();
    for key in object.keys() {
        if !ITEM_MEMBERS.contains(&key.as_str()) {
            problems.push(OutcomeProblem::UnknownMember {
                member: key.clone(),
            });
        }
    }
    let mut text = |member: &'static str, expected: &'static str| match object.get(member) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push(OutcomeProblem::WrongType { member, expected });
            None
        }
    };
    let entry = OutcomeEntry {
        assessment_id: text("assessment_id", "an assessment id string"),
        patient_reference: text("patient_reference", "a string"),
        surgery_date: text("surgery_date", "a date YYYY-MM-DD"),
        outcome: text("outcome", "an outcome id string"),
        observed_at: text("observed_at", "an RFC 3339 date-time string"),
        value: None,
    };
    let value = match object.get("value") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            problems.push(OutcomeProblem::WrongType {
                member: "value",
                expected: "a number (0 or 1, or mL)",
            });
            None
        }
    };
    if problems.is_empty() {
        Ok(OutcomeEntry { value, ..entry })
    } else {
        Err(problems)
    }
}

// ---------------------------------------------------------------- records and results

/// The `output` of an `outcome` audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// This record's id ([`outcome_record_id`]).
    pub record_id: String,
    /// The assessment whose prediction this outcome answers.
    pub assessment_id: String,
    pub outcome: String,
    /// 0 or 1 (binary outcomes), or mL (blood loss).
    pub value: f64,
    /// 1 for the first value; n + 1 for each changed value.
    pub version: u32,
    /// The record of version n that this one replaces as current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// When the outcome was observed (canonical RFC 3339, UTC), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    pub linked_by: LinkedBy,
    /// The assessment's site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The model set that answered the assessment.
    pub model_set: ModelSetRef,
    /// The version of the model that predicted this outcome.
    pub model: ModelVersion,
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Appended now (durable): a first value or a new version.
    Recorded,
    /// The current version already holds this value; nothing was added.
    AlreadyRecorded,
}

/// The result of one item, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeResult {
    pub record_id: String,
    pub assessment_id: String,
    pub outcome: String,
    pub version: u32,
    pub status: OutcomeStatus,
}

/// One stored version of an outcome of an assessment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedOutcome {
    pub record_id: String,
    pub outcome: String,
    pub value: f64,
    pub version: u32,
    /// The newest version of this outcome (what quality reports use).
    pub current: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// When periop stored it.
    pub recorded_at: String,
    /// The API key id (or CLI user) that recorded it.
    pub recorded_by: String,
    pub linked_by: LinkedBy,
}

// ---------------------------------------------------------------- the stored assessment

#[derive(Deserialize)]
struct StoredAnswer {
    model_set: ModelSetRef,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    predictions: Vec<StoredPrediction>,
}

#[derive(Deserialize)]
struct StoredPrediction {
    outcome: String,
    status: Status,
    model: StoredModel,
}

#[derive(Deserialize)]
struct StoredModel {
    version: String,
}

/// The stored assessment `id` and its model-set snapshot, if it is an assessment.
fn stored_answer(
    store: &dyn AuditStore,
    id: &str,
) -> Result<Option<(StoredAnswer, String)>, ServiceError> {
    let Some(stored) = store.get(id)? else {
        return Ok(None);
    };
    if stored.record.kind != KIND_ASSESSMENT {
        return Ok(None);
    }
    let answer: StoredAnswer = serde_json::from_str(&stored.record.output)
        .map_err(|_| Unreadable("the stored answer does not parse"))?;
    Ok(Some((answer, stored.record.model_set)))
}

/// Calls `each` on every record of `kind`, in `seq` order, a page at a time.
fn scan(
    store: &dyn AuditStore,
    kind: &str,
    mut each: impl FnMut(&StoredRecord) -> Result<(), ServiceError>,
) -> Result<(), ServiceError> {
    let mut after_seq = 0;
    loop {
        let page = store.list(&ListQuery {
            kind: Some(kind.to_string()),
            after_seq,
            limit: SCAN_PAGE,
            ..ListQuery::default()
        })?;
        for record in &page {
            each(record)?;
        }
        match page.last() {
            Some(last) if page.len() == SCAN_PAGE as usize => after_seq = last.seq,
            _ => return Ok(()),
        }
    }
}

/// The assessments of each wanted (reference hash, surgery date): one lookup per pair in the
/// store's search index (`audit::index`, the reference hash and surgery date of each stored
/// assessment), no scan.
fn assessments_by_reference(
    store: &dyn AuditStore,
    wanted: &HashSet<(String, String)>,
) -> Result<HashMap<(String, String), Vec<String>>, ServiceError> {
    let mut found: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (hash, date) in wanted {
        let ids: Vec<String> = store
            .by_reference(hash, date)?
            .into_iter()
            .map(|hit| hit.terms.assessment_id)
            .collect();
        if !ids.is_empty() {
            found.insert((hash.clone(), date.clone()), ids);
        }
    }
    Ok(found)
}

/// The stored outcome records of the given assessments (every assessment when `None`).
fn outcome_records(
    store: &dyn AuditStore,
    of: Option<&HashSet<String>>,
) -> Result<Vec<(OutcomeRecord, StoredRecord)>, ServiceError> {
    let mut out = Vec::new();
    scan(store, KIND_OUTCOME, |stored| {
        let record: OutcomeRecord = serde_json::from_str(&stored.record.output)
            .map_err(|_| Unreadable("a stored outcome record does not parse"))?;
        if of.is_none_or(|ids| ids.contains(&record.assessment_id)) {
            out.push((record, stored.clone()));
        }
        Ok(())
    })?;
    Ok(out)
}

// ---------------------------------------------------------------- the use case

/// An item checked on its own (before the store is read).
struct Checked {
    link: Link,
    outcome: Outcome,
    value: f64,
    observed_at: Option<String>,
}

enum Link {
    Id(String),
    Reference { hash: String, date: String },
}

/// An item resolved against the store.
struct Resolved {
    index: usize,
    assessment_id: String,
    linked_by: LinkedBy,
    outcome: Outcome,
    value: f64,
    observed_at: Option<String>,
    reference_hash: Option<String>,
}

fn check(policy: &ProvenancePolicy, entry: &OutcomeEntry) -> Result<Checked, Vec<OutcomeProblem>> {
    let mut problems = Vec::new();
    let link = match (&entry.assessment_id, &entry.patient_reference) {
        (Some(_), Some(_)) => {
            problems.push(OutcomeProblem::TwoLinks);
            None
        }
        (Some(id), None) => {
            if entry.surgery_date.is_some() {
                problems.push(OutcomeProblem::DateWithId);
            }
            if id.is_empty() {
                problems.push(OutcomeProblem::UnknownAssessment);
            }
            Some(Link::Id(id.clone()))
        }
        (None, Some(reference)) => {
            let hash = match policy.reference("patient_reference", Some(reference)) {
                Ok(hash) => hash,
                Err(e) => {
                    problems.push(OutcomeProblem::Reference(e.constraint));
                    None
                }
            };
            let date = match &entry.surgery_date {
                None => {
                    problems.push(OutcomeProblem::Required {
                        member: "surgery_date",
                    });
                    None
                }
                Some(text) => match parse_date(text) {
                    Some(d) => Some(d.format("%Y-%m-%d").to_string()),
                    None => {
                        problems.push(OutcomeProblem::BadDate);
                        None
                    }
                },
            };
            hash.zip(date)
                .map(|(hash, date)| Link::Reference { hash, date })
        }
        (None, None) => {
            problems.push(OutcomeProblem::Required {
                member: "assessment_id",
            });
            None
        }
    };
    let outcome = match &entry.outcome {
        None => {
            problems.push(OutcomeProblem::Required { member: "outcome" });
            None
        }
        Some(id) => {
            let o = Outcome::from_id(id);
            if o.is_none() {
                problems.push(OutcomeProblem::UnknownOutcome);
            }
            o
        }
    };
    let value = match (entry.value, outcome) {
        (None, _) => {
            problems.push(OutcomeProblem::Required { member: "value" });
            None
        }
        (Some(v), Some(o)) => match o.kind() {
            OutcomeKind::Probability if v == 0.0 || v == 1.0 => Some(v),
            OutcomeKind::Probability => {
                problems.push(OutcomeProblem::NotBinary);
                None
            }
            OutcomeKind::Quantity
                if v.is_finite()
                    && (BLOOD_LOSS_RANGE_ML.0..=BLOOD_LOSS_RANGE_ML.1).contains(&v) =>
            {
                Some(v)
            }
            OutcomeKind::Quantity => {
                problems.push(OutcomeProblem::BloodLossOutOfRange);
                None
            }
        },
        (Some(_), None) => None,
    };
    let observed_at = match &entry.observed_at {
        None => None,
        Some(text) => match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Some(
                t.with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
            Err(_) => {
                problems.push(OutcomeProblem::BadTimestamp);
                None
            }
        },
    };
    match (link, outcome, value) {
        (Some(link), Some(outcome), Some(value)) if problems.is_empty() => Ok(Checked {
            link,
            outcome,
            value,
            observed_at,
        }),
        _ => Err(problems),
    }
}

/// The input snapshot of an item for its audit record: the entry with the raw patient reference
/// replaced by its keyed hash.
fn input_snapshot(
    entry: &OutcomeEntry,
    reference_hash: Option<&str>,
) -> Result<String, ServiceError> {
    let mut object: Map<String, Value> = match serde_json::to_value(entry)? {
        Value::Object(o) => o,
        _ => return Err(ServiceError::Internal("an outcome entry is not an object")),
    };
    if object.remove("patient_reference").is_some() {
        object.insert(
            "patient_reference_hash".into(),
            reference_hash.map_or(Value::Null, |h| Value::String(h.to_string())),
        );
    }
    Ok(Value::Object(object).to_string())
}

/// Checks every item, links each to its stored assessment, and appends one `outcome` record per
/// new value (first value or new version) in one durable transaction; returns one result per
/// item, in order, once durable.
///
/// # Errors
/// [`ServiceError::Outcomes`] listing every problem of every item (nothing stored);
/// [`ServiceError::Unreadable`] for a stored record that no longer parses;
/// [`ServiceError::Store`] when the store cannot read or record (nothing acknowledged).
pub fn record_outcomes(
    store: &dyn AuditStore,
    policy: &ProvenancePolicy,
    entries: &[OutcomeEntry],
    caller: &Caller,
) -> Result<Vec<OutcomeResult>, ServiceError> {
    let entries: Vec<Result<OutcomeEntry, Vec<OutcomeProblem>>> =
        entries.iter().cloned().map(Ok).collect();
    record_outcome_entries(store, policy, &entries, caller)
}

/// [`record_outcomes`] of JSON items (`POST /v1/outcomes`): each item read with
/// [`entry_from_json`], so its type problems are reported with every other problem of the
/// request.
///
/// # Errors
/// As [`record_outcomes`].
pub fn record_outcome_items(
    store: &dyn AuditStore,
    policy: &ProvenancePolicy,
    items: &[Value],
    caller: &Caller,
) -> Result<Vec<OutcomeResult>, ServiceError> {
    let entries: Vec<Result<OutcomeEntry, Vec<OutcomeProblem>>> =
        items.iter().map(entry_from_json).collect();
    record_outcome_entries(store, policy, &entries, caller)
}

/// [`record_outcomes`] of items read by an adapter (a CSV row), each an entry or the problems
/// found reading it; every item is checked and every problem reported before anything is stored.
///
/// # Errors
/// As [`record_outcomes`].
pub fn record_outcome_entries(
    store: &dyn AuditStore,
    policy: &ProvenancePolicy,
    entries: &[Result<OutcomeEntry, Vec<OutcomeProblem>>],
    caller: &Caller,
) -> Result<Vec<OutcomeResult>, ServiceError> {
    let mut problems: Vec<OutcomeError> = Vec::new();
    let mut checked = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        match entry
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|e| check(policy, e))
        {
            Ok(c) => checked.push((index, c)),
            Err(found) => problems.extend(
                found
                    .into_iter()
                    .map(|problem| OutcomeError { index, problem }),
            ),
        }
    }
    let wanted: HashSet<(String, String)> = checked
        .iter()
        .filter_map(|(_, c)| match &c.link {
            Link::Reference { hash, date } => Some((hash.clone(), date.clone())),
            Link::Id(_) => None,
        })
        .collect();
    let by_reference = assessments_by_reference(store, &wanted)?;
    let mut answers: HashMap<String, Option<(StoredAnswer, String)>> = HashMap::new();
    let mut resolved = Vec::with_capacity(checked.len());
    for (index, c) in checked {
        let (assessment_id, linked_by, reference_hash) = match c.link {
            Link::Id(id) => (id, LinkedBy::AssessmentId, None),
            Link::Reference { hash, date } => {
                match by_reference.get(&(hash.clone(), date)).map(Vec::as_slice) {
                    Some([one]) => (one.clone(), LinkedBy::PatientReference, Some(hash)),
                    None | Some([]) => {
                        problems.push(OutcomeError {
                            index,
                            problem: OutcomeProblem::NoMatch,
                        });
                        continue;
                    }
                    Some(many) => {
                        problems.push(OutcomeError {
                            index,
                            problem: OutcomeProblem::Ambiguous { count: many.len() },
                        });
                        continue;
                    }
                }
            }
        };
        if !answers.contains_key(&assessment_id) {
            let answer = stored_answer(store, &assessment_id)?;
            answers.insert(assessment_id.clone(), answer);
        }
        let Some(Some((answer, _))) = answers.get(&assessment_id) else {
            problems.push(OutcomeError {
                index,
                problem: OutcomeProblem::UnknownAssessment,
            });
            continue;
        };
        match answer
            .predictions
            .iter()
            .find(|p| p.outcome == c.outcome.id())
        {
            Some(p) if p.status == Status::Ok => {}
            Some(_) => {
                problems.push(OutcomeError {
                    index,
                    problem: OutcomeProblem::NotPredicted {
                        why: "not_applicable to the patient",
                    },
                });
                continue;
            }
            None => {
                problems.push(OutcomeError {
                    index,
                    problem: OutcomeProblem::NotPredicted {
                        why: "not requested",
                    },
                });
                continue;
            }
        }
        resolved.push(Resolved {
            index,
            assessment_id,
            linked_by,
            outcome: c.outcome,
            value: c.value,
            observed_at: c.observed_at,
            reference_hash,
        });
    }
    if !problems.is_empty() {
        problems.sort_by_key(|e| e.index);
        return Err(OutcomesRejected(problems).into());
    }
    if resolved.is_empty() {
        return Ok(Vec::new());
    }

    let _writer = WRITER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ids: HashSet<String> = resolved.iter().map(|r| r.assessment_id.clone()).collect();
    // (assessment, outcome) → (version, value, record id) of the current version.
    let mut current: HashMap<(String, &'static str), (u32, f64, String)> = HashMap::new();
    for (record, _) in outcome_records(store, Some(&ids))? {
        let Some(outcome) = Outcome::from_id(&record.outcome) else {
            continue;
        };
        let key = (record.assessment_id.clone(), outcome.id());
        if current
            .get(&key)
            .is_none_or(|(v, _, _)| record.version > *v)
        {
            current.insert(key, (record.version, record.value, record.record_id));
        }
    }
    let created_at = created_at_text(&now_millis());
    let mut results = Vec::with_capacity(resolved.len());
    let mut records = Vec::new();
    // results[i] whose status depends on records[j] being stored.
    let mut appended_for: Vec<usize> = Vec::new();
    for item in &resolved {
        let key = (item.assessment_id.clone(), item.outcome.id());
        if let Some((version, value, record_id)) = current.get(&key) {
            if *value == item.value {
                results.push(OutcomeResult {
                    record_id: record_id.clone(),
                    assessment_id: item.assessment_id.clone(),
                    outcome: item.outcome.id().to_string(),
                    version: *version,
                    status: OutcomeStatus::AlreadyRecorded,
                });
                continue;
            }
        }
        let previous = current.get(&key).cloned();
        let version = previous.as_ref().map_or(1, |(v, _, _)| v + 1);
        let record_id = outcome_record_id(&item.assessment_id, item.outcome, version);
        let Some(Some((answer, model_set))) = answers.get(&item.assessment_id) else {
            return Err(ServiceError::Internal(
                "a resolved outcome lost its assessment",
            ));
        };
        let model_version = answer
            .predictions
            .iter()
            .find(|p| p.outcome == item.outcome.id())
            .map(|p| p.model.version.clone())
            .unwrap_or_default();
        let record = OutcomeRecord {
            record_id: record_id.clone(),
            assessment_id: item.assessment_id.clone(),
            outcome: item.outcome.id().to_string(),
            value: item.value,
            version,
            supersedes: previous.map(|(_, _, id)| id),
            observed_at: item.observed_at.clone(),
            linked_by: item.linked_by,
            site: answer.site.clone(),
            model_set: answer.model_set.clone(),
            model: ModelVersion {
                outcome: item.outcome.id().to_string(),
                version: model_version,
            },
        };
        records.push(AuditRecord {
            assessment_id: record_id.clone(),
            request_id: caller.request_id.clone(),
            created_at: created_at.clone(),
            caller: caller.key_id.clone(),
            kind: KIND_OUTCOME.to_string(),
            model_set: model_set.clone(),
            input: match &entries[item.index] {
                Ok(entry) => input_snapshot(entry, item.reference_hash.as_deref())?,
                Err(_) => return Err(ServiceError::Internal("a rejected entry was resolved")),
            },
            normalised: "null".into(),
            output: serde_json::to_string(&record)?,
            shap: "null".into(),
        });
        current.insert(key, (version, item.value, record_id.clone()));
        appended_for.push(results.len());
        results.push(OutcomeResult {
            record_id,
            assessment_id: item.assessment_id.clone(),
            outcome: item.outcome.id().to_string(),
            version,
            status: OutcomeStatus::Recorded,
        });
    }
    for (stored, (slot, record)) in store
        .append_all(&records)
        .into_iter()
        .zip(appended_for.into_iter().zip(&records))
    {
        match stored {
            Ok(_) => {}
            Err(AuditError::Duplicate(_)) => {
                // Another process stored this version first: the same value is a repeat.
                let same = store.get(&record.assessment_id)?.is_some_and(|s| {
                    s.record.kind == KIND_OUTCOME
                        && serde_json::from_str::<OutcomeRecord>(&s.record.output).is_ok_and(|o| {
                            Some(o.value)
                                == serde_json::from_str::<OutcomeRecord>(&record.output)
                                    .ok()
                                    .map(|r| r.value)
                        })
                });
                if !same {
                    return Err(ServiceError::Internal(
                        "another writer recorded this outcome version at the same time; send the items again",
                    ));
                }
                results[slot].status = OutcomeStatus::AlreadyRecorded;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(results)
}

/// Every stored version of every outcome recorded for `assessment_id`, in [`Outcome::ALL`]
/// order, newest version first, the newest marked `current`.
///
/// # Errors
/// [`ServiceError::AssessmentNotFound`] when no assessment has this id; store and parse failures.
pub fn outcomes_of(
    store: &dyn AuditStore,
    assessment_id: &str,
) -> Result<Vec<RecordedOutcome>, ServiceError> {
    if stored_answer(store, assessment_id)?.is_none() {
        return Err(ServiceError::AssessmentNotFound);
    }
    let ids = HashSet::from([assessment_id.to_string()]);
    let mut found: Vec<(usize, RecordedOutcome)> = outcome_records(store, Some(&ids))?
        .into_iter()
        .map(|(record, stored)| {
            let order = Outcome::from_id(&record.outcome)
                .and_then(|o| Outcome::ALL.iter().position(|a| *a == o))
                .unwrap_or(usize::MAX);
            (
                order,
                RecordedOutcome {
                    record_id: record.record_id,
                    outcome: record.outcome,
                    value: record.value,
                    version: record.version,
                    current: false,
                    observed_at: record.observed_at,
                    recorded_at: stored.record.created_at,
                    recorded_by: stored.record.caller,
                    linked_by: record.linked_by,
                },
            )
        })
        .collect();
    found.sort_by(|(a, x), (b, y)| a.cmp(b).then(y.version.cmp(&x.version)));
    let mut seen = HashSet::new();
    Ok(found
        .into_iter()
        .map(|(_, mut r)| {
            r.current = seen.insert(r.outcome.clone());
            r
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_v5_of_assessment_outcome_and_version() {
        let a = "0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10";
        let v1 = outcome_record_id(a, Outcome::Dvt, 1);
        assert_eq!(v1, outcome_record_id(a, Outcome::Dvt, 1));
        assert_ne!(v1, outcome_record_id(a, Outcome::Dvt, 2));
        assert_ne!(v1, outcome_record_id(a, Outcome::Delirium, 1));
        assert_ne!(v1, outcome_record_id("another", Outcome::Dvt, 1));
        assert_eq!(
            uuid::Uuid::parse_str(&v1).expect("uuid").get_version_num(),
            5
        );
    }

    #[test]
    fn json_items_report_every_type_problem() {
        let item = serde_json::json!({"assessment_id": 7, "outcome": "dvt", "value": true, "x": 1});
        let problems = entry_from_json(&item).expect_err("bad types");
        let got: Vec<(String, &str)> = problems.iter().map(|p| (p.member(), p.reason())).collect();
        assert_eq!(
            got,
            [
                ("x".to_string(), "unknown_field"),
                ("assessment_id".to_string(), "wrong_type"),
                ("value".to_string(), "wrong_type")
            ]
        );
        let ok = entry_from_json(
            &serde_json::json!({"assessment_id": "a", "outcome": "blood_loss_ml", "value": 850}),
        )
        .expect("ok");
        assert_eq!(ok.value, Some(850.0));
    }

    #[test]
    fn values_are_checked_by_outcome_type() {
        let policy = ProvenancePolicy::default();
        let entry = |outcome: &str, value: f64| OutcomeEntry {
            assessment_id: Some("a".into()),
            outcome: Some(outcome.into()),
            value: Some(value),
            ..OutcomeEntry::default()
        };
        assert!(check(&policy, &entry("dvt", 1.0)).is_ok());
        assert!(check(&policy, &entry("dvt", 0.0)).is_ok());
        assert_eq!(
            check(&policy, &entry("dvt", 0.5)).err(),
            Some(vec![OutcomeProblem::NotBinary])
        );
        assert!(check(&policy, &entry("blood_loss_ml", 1.0)).is_ok());
        assert!(check(&policy, &entry("blood_loss_ml", 50_000.0)).is_ok());
        for bad in [0.5, 50_000.5, f64::NAN] {
            assert_eq!(
                check(&policy, &entry("blood_loss_ml", bad)).err(),
                Some(vec![OutcomeProblem::BloodLossOutOfRange]),
                "{bad}"
            );
        }
        let by_reference = OutcomeEntry {
            assessment_id: None,
            patient_reference: Some("MRN-1".into()),
            surgery_date: Some("2026-03-02".into()),
            ..entry("dvt", 1.0)
        };
        let problems = check(&policy, &by_reference).err().expect("no key");
        assert_eq!(problems[0].reason(), "not_configured");
        assert_eq!(problems[0].member(), "patient_reference");
    }
}
