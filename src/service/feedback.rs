//! CDS Hooks feedback into the audit (`cds-hooks-fhir.md` §1.5): what a clinician did with a
//! card periop sent (accepted some of its suggestions, or overrode it, with a reason), checked
//! against the stored answer and appended to the audit chain as a record of kind
//! [`KIND_CDS_FEEDBACK`] that links the assessment, the recommendations concerned, the override
//! reason and the model-set, rule-set and model versions that answered.
//!
//! The card's uuid is the assessment id, and each suggestion's uuid is [`suggestion_uuid`] of the
//! assessment id and the recommendation id, so both are found from the stored answer alone (its
//! `delivery.card` is the card as sent). The same report may arrive several times: a record's id
//! is a UUID v5 of (card, outcome, outcome timestamp) ([`feedback_id`]), so it is stored once and
//! a repeat is a success ([`FeedbackStatus::AlreadyRecorded`]; the first report under a key is
//! the one kept). Nothing is acknowledged before its record is durable, and a request with any
//! invalid entry stores nothing.
//!
//! This layer knows no wire types: the CDS Hooks adapter hands over each feedback item as a
//! [`FeedbackEntry`] (its members as received, so every check and its field name live here).

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::backtest::Unreadable;
use super::error::ServiceError;
use super::record::Caller;
use super::types::{Delivery, ModelSetRef};
use crate::audit::{AuditError, AuditRecord, AuditStore, KIND_ASSESSMENT};
use crate::clock::{created_at_text, now_millis};
use crate::rules::RuleSetRef;

/// Audit record kind of one feedback report.
pub const KIND_CDS_FEEDBACK: &str = "cds_feedback";

/// Name (in the URL namespace) of the UUID v5 namespace of feedback ids.
const FEEDBACK_NAMESPACE_NAME: &str = "https://periop.example.org/ns/cds-hooks-feedback";

/// The uuid of the suggestion for one recommendation of one assessment: UUID v5 of the
/// recommendation id in the assessment id's namespace (the OID namespace if the id is not a
/// UUID). Stable, so feedback naming a suggestion finds its recommendation. The card
/// (`ehr::cds::card`) uses this very function.
pub fn suggestion_uuid(assessment_id: &str, recommendation_id: &str) -> String {
    let namespace = uuid::Uuid::parse_str(assessment_id).unwrap_or(uuid::Uuid::NAMESPACE_OID);
    uuid::Uuid::new_v5(&namespace, recommendation_id.as_bytes()).to_string()
}

/// The id of the audit record of a feedback report: UUID v5 of `[card, outcome, timestamp]` (a
/// JSON array, so no separator can be forged) with the timestamp in canonical form (UTC, `Z`,
/// as many fraction digits as needed), so the same report sent twice, even with its time
/// written differently, has one id.
pub fn feedback_id(
    card: &str,
    outcome: FeedbackOutcome,
    outcome_timestamp: &DateTime<Utc>,
) -> String {
    let namespace = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        FEEDBACK_NAMESPACE_NAME.as_bytes(),
    );
    let key = serde_json::json!([card, outcome.as_str(), canonical_time(outcome_timestamp)]);
    uuid::Uuid::new_v5(&namespace, key.to_string().as_bytes()).to_string()
}

fn canonical_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

// ---------------------------------------------------------------- input

/// One feedback item as the EHR sent it (CDS Hooks `feedback[i]`), members as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackEntry {
    /// The card's uuid (= the assessment id).
    pub card: String,
    /// `accepted` or `overridden`.
    pub outcome: String,
    /// The `id`s of `acceptedSuggestions` (suggestion uuids), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_suggestions: Vec<String>,
    /// `overrideReason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<OverrideReasonEntry>,
    /// `outcomeTimestamp`: RFC 3339.
    pub outcome_timestamp: String,
}

/// `overrideReason` of a feedback item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideReasonEntry {
    /// The reason the clinician picked among the card's `overrideReasons`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCoding>,
    /// Free text the clinician typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_comment: Option<String>,
}

/// A CDS Hooks Coding of an override reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct ReasonCoding {
    pub system: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// What the clinician did with the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackOutcome {
    Accepted,
    Overridden,
}

impl FeedbackOutcome {
    /// The wire name (`accepted`, `overridden`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Overridden => "overridden",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "accepted" => Some(Self::Accepted),
            "overridden" => Some(Self::Overridden),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- errors

/// What is wrong with one member of one feedback item (never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackProblem {
    /// `card`: no stored assessment has this id.
    #[error("is not the uuid of a card periop sent")]
    UnknownCard,
    /// `card`: the assessment was not delivered as a CDS Hooks card of this service.
    #[error("was not sent as a CDS Hooks card of service `{service}`")]
    NotThisService { service: String },
    /// `outcome`: neither `accepted` nor `overridden`.
    #[error("must be `accepted` or `overridden`")]
    UnknownOutcome,
    /// `outcomeTimestamp`: not RFC 3339.
    #[error("must be an RFC 3339 date-time, e.g. 2026-03-02T10:15:00Z")]
    BadTimestamp,
    /// `acceptedSuggestions`: empty for an `accepted` outcome.
    #[error("must name at least one suggestion when the outcome is `accepted`")]
    NoAcceptedSuggestion,
    /// `acceptedSuggestions[i].id`: not a suggestion of that card.
    #[error("is not the uuid of a suggestion of that card")]
    UnknownSuggestion { position: usize },
    /// `acceptedSuggestions[i].id`: named twice.
    #[error("names a suggestion already listed")]
    RepeatedSuggestion { position: usize },
    /// `acceptedSuggestions`: present for an `overridden` outcome.
    #[error("must be absent when the outcome is `overridden`")]
    SuggestionsOnOverride,
    /// `overrideReason`: present for an `accepted` outcome.
    #[error("must be absent when the outcome is `accepted`")]
    ReasonOnAccept,
    /// `overrideReason.reason`: not one of the card's `overrideReasons` (system and code).
    #[error("is not one of the override reasons the card offered")]
    UnknownOverrideReason,
}

impl FeedbackProblem {
    /// The member of the feedback item, as on the wire (`outcomeTimestamp`,
    /// `acceptedSuggestions[1].id`).
    pub fn member(&self) -> String {
        match self {
            Self::UnknownCard | Self::NotThisService { .. } => "card".into(),
            Self::UnknownOutcome => "outcome".into(),
            Self::BadTimestamp => "outcomeTimestamp".into(),
            Self::NoAcceptedSuggestion | Self::SuggestionsOnOverride => {
                "acceptedSuggestions".into()
            }
            Self::UnknownSuggestion { position } | Self::RepeatedSuggestion { position } => {
                format!("acceptedSuggestions[{position}].id")
            }
            Self::ReasonOnAccept => "overrideReason".into(),
            Self::UnknownOverrideReason => "overrideReason.reason".into(),
        }
    }

    /// Machine-readable kind (the problem+json `reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownCard | Self::NotThisService { .. } => "unknown_card",
            Self::UnknownOutcome => "unknown_level",
            Self::BadTimestamp => "invalid_format",
            Self::NoAcceptedSuggestion => "required",
            Self::UnknownSuggestion { .. } => "unknown_suggestion",
            Self::UnknownOverrideReason => "unknown_override_reason",
            Self::RepeatedSuggestion { .. }
            | Self::SuggestionsOnOverride
            | Self::ReasonOnAccept => "contradiction",
        }
    }
}

/// One problem of one feedback item: `feedback[<index>].<member> <problem>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {problem}", self.field())]
pub struct FeedbackError {
    /// Position of the item in `feedback`.
    pub index: usize,
    pub problem: FeedbackProblem,
}

impl FeedbackError {
    /// The field's path in the feedback body, e.g. `feedback[2].outcomeTimestamp`.
    pub fn field(&self) -> String {
        format!("feedback[{}].{}", self.index, self.problem.member())
    }
}

/// Every problem of a feedback request; nothing of it was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid feedback: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct FeedbackRejected(pub Vec<FeedbackError>);

// ---------------------------------------------------------------- the record

/// The `output` of a `cds_feedback` audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    /// This record's id ([`feedback_id`]).
    pub feedback_id: String,
    /// The CDS service the feedback was sent to.
    pub service: String,
    /// The card's uuid: the assessment it reports on.
    pub assessment_id: String,
    pub outcome: FeedbackOutcome,
    /// The clinician's action time, canonical RFC 3339 (UTC).
    pub outcome_timestamp: String,
    /// The accepted suggestions (`accepted` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_suggestions: Vec<AcceptedSuggestionRecord>,
    /// The recommendations the report is about: those of the accepted suggestions (`accepted`),
    /// or every recommendation of the answer (`overridden`: the whole card was set aside).
    pub recommendation_ids: Vec<String>,
    /// The override reason picked, as the card offered it (`overridden` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<ReasonCoding>,
    /// The clinician's free-text comment (`overridden` only), kept only in the audit record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_comment: Option<String>,
    /// The model set that answered.
    pub model_set: ModelSetRef,
    /// The rule set that produced the recommendations (absent when no rule set was applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<RuleSetRef>,
    /// Each prediction's model version, in answer order.
    pub models: Vec<ModelVersion>,
}

/// One accepted suggestion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedSuggestionRecord {
    /// The suggestion's uuid.
    pub uuid: String,
    /// Its label on the card.
    pub label: String,
    /// The recommendation it drafts the order of (absent for a suggestion that is not one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
}

/// The model version of one outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub outcome: String,
    pub version: String,
}

/// What happened to one feedback item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackStatus {
    /// Appended now (durable).
    Recorded,
    /// The same report (card, outcome, timestamp) was recorded before; nothing was added.
    AlreadyRecorded,
}

/// The result of one feedback item, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackResult {
    /// The audit record's id ([`feedback_id`]).
    pub feedback_id: String,
    /// The card (assessment id).
    pub card: String,
    pub status: FeedbackStatus,
}

// ---------------------------------------------------------------- the stored answer

/// What feedback needs of a stored answer.
#[derive(Deserialize)]
struct StoredAnswer {
    model_set: ModelSetRef,
    #[serde(default)]
    predictions: Vec<StoredPrediction>,
    #[serde(default)]
    recommendations: Vec<StoredRecommendation>,
    #[serde(default)]
    rule_set: Option<RuleSetRef>,
    #[serde(default)]
    delivery: Option<StoredDelivery>,
}

#[derive(Deserialize)]
struct StoredPrediction {
    outcome: String,
    model: StoredModel,
}

#[derive(Deserialize)]
struct StoredModel {
    version: String,
}

#[derive(Deserialize)]
struct StoredRecommendation {
    id: String,
}

#[derive(Deserialize)]
struct StoredDelivery {
    channel: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    card: Option<Value>,
}

/// The card as sent (CDS Hooks member names).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredCard {
    uuid: String,
    #[serde(default)]
    suggestions: Vec<StoredSuggestion>,
    #[serde(default)]
    override_reasons: Vec<ReasonCoding>,
}

#[derive(Deserialize)]
struct StoredSuggestion {
    uuid: String,
    label: String,
}

/// A stored answer sent as a CDS Hooks card of the service.
struct Delivered {
    answer: StoredAnswer,
    card: StoredCard,
    /// The assessment record's model-set snapshot (JSON text), copied into the feedback record.
    model_set: String,
}

/// A feedback item checked against its stored answer: the record to append and the model-set
/// snapshot of the assessment record.
struct Checked {
    record: FeedbackRecord,
    model_set: String,
}

/// The stored answer behind `card`, if it is an assessment sent as a CDS Hooks card of
/// `service`.
fn delivered(
    store: &dyn AuditStore,
    card: &str,
    service: &str,
) -> Result<Result<Delivered, FeedbackProblem>, ServiceError> {
    let Some(stored) = store.get(card)? else {
        return Ok(Err(FeedbackProblem::UnknownCard));
    };
    if stored.record.kind != KIND_ASSESSMENT {
        return Ok(Err(FeedbackProblem::UnknownCard));
    }
    let answer: StoredAnswer = serde_json::from_str(&stored.record.output)
        .map_err(|_| Unreadable("the stored answer does not parse"))?;
    let not_this_service = || FeedbackProblem::NotThisService {
        service: service.to_string(),
    };
    let Some(delivery) = &answer.delivery else {
        return Ok(Err(not_this_service()));
    };
    if delivery.channel != Delivery::CDS_HOOKS || delivery.service.as_deref() != Some(service) {
        return Ok(Err(not_this_service()));
    }
    let Some(card_json) = delivery.card.clone() else {
        return Ok(Err(not_this_service()));
    };
    let sent: StoredCard = serde_json::from_value(card_json)
        .map_err(|_| Unreadable("the stored card does not parse"))?;
    if sent.uuid != card {
        return Err(Unreadable("the stored card's uuid is not its assessment id").into());
    }
    Ok(Ok(Delivered {
        answer,
        card: sent,
        model_set: stored.record.model_set,
    }))
}

// ---------------------------------------------------------------- the use case

/// Checks every feedback item sent to CDS service `service_id` against the stored answers and
/// appends one `cds_feedback` audit record per report, in one durable transaction; returns one
/// result per item, in order, once durable. A report already recorded (same card, outcome and
/// outcome timestamp) is [`FeedbackStatus::AlreadyRecorded`], not an error.
///
/// # Errors
/// [`ServiceError::Feedback`] listing every problem of every item (nothing stored);
/// [`ServiceError::Unreadable`] for a stored answer or card that no longer parses;
/// [`ServiceError::Store`] when the store cannot read or record (nothing acknowledged).
pub fn record_feedback(
    store: &dyn AuditStore,
    service_id: &str,
    entries: &[FeedbackEntry],
    caller: &Caller,
) -> Result<Vec<FeedbackResult>, ServiceError> {
    let mut problems = Vec::new();
    let mut reports = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        match check(store, service_id, entry)? {
            Ok(report) => reports.push((entry, report)),
            Err(found) => problems.extend(
                found
                    .into_iter()
                    .map(|problem| FeedbackError { index, problem }),
            ),
        }
    }
    if !problems.is_empty() {
        return Err(FeedbackRejected(problems).into());
    }
    if reports.is_empty() {
        return Ok(Vec::new());
    }
    let created_at = created_at_text(&now_millis());
    let mut records = Vec::with_capacity(reports.len());
    for (entry, checked) in &reports {
        let report = &checked.record;
        records.push(AuditRecord {
            assessment_id: report.feedback_id.clone(),
            request_id: caller.request_id.clone(),
            created_at: created_at.clone(),
            caller: caller.key_id.clone(),
            kind: KIND_CDS_FEEDBACK.to_string(),
            model_set: checked.model_set.clone(),
            input: serde_json::to_string(entry)?,
            normalised: "null".into(),
            output: serde_json::to_string(report)?,
            shap: "null".into(),
        });
    }
    let appended = store.append_all(&records);
    let mut results = Vec::with_capacity(records.len());
    for (result, ((_, checked), record)) in appended.into_iter().zip(reports.iter().zip(&records)) {
        let report = &checked.record;
        let status = match result {
            Ok(_) => FeedbackStatus::Recorded,
            Err(AuditError::Duplicate(_)) => {
                // The id is a feedback id only if the record under it is feedback.
                match store.get(&record.assessment_id)? {
                    Some(s) if s.record.kind == KIND_CDS_FEEDBACK => {
                        FeedbackStatus::AlreadyRecorded
                    }
                    _ => {
                        return Err(ServiceError::Internal(
                            "a feedback id is taken by a record of another kind",
                        ))
                    }
                }
            }
            Err(e) => return Err(e.into()),
        };
        results.push(FeedbackResult {
            feedback_id: report.feedback_id.clone(),
            card: report.assessment_id.clone(),
            status,
        });
    }
    Ok(results)
}

/// One item checked against its stored answer, or every problem of the item.
fn check(
    store: &dyn AuditStore,
    service: &str,
    entry: &FeedbackEntry,
) -> Result<Result<Checked, Vec<FeedbackProblem>>, ServiceError> {
    let mut problems = Vec::new();
    let outcome = FeedbackOutcome::parse(&entry.outcome);
    if outcome.is_none() {
        problems.push(FeedbackProblem::UnknownOutcome);
    }
    let timestamp = DateTime::parse_from_rfc3339(&entry.outcome_timestamp)
        .map(|t| t.with_timezone(&Utc))
        .ok();
    if timestamp.is_none() {
        problems.push(FeedbackProblem::BadTimestamp);
    }
    match outcome {
        Some(FeedbackOutcome::Accepted) => {
            if entry.accepted_suggestions.is_empty() {
                problems.push(FeedbackProblem::NoAcceptedSuggestion);
            }
            if entry.override_reason.is_some() {
                problems.push(FeedbackProblem::ReasonOnAccept);
            }
        }
        Some(FeedbackOutcome::Overridden) if !entry.accepted_suggestions.is_empty() => {
            problems.push(FeedbackProblem::SuggestionsOnOverride);
        }
        _ => {}
    }
    let delivered = match delivered(store, &entry.card, service)? {
        Ok(d) => Some(d),
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    let mut accepted = Vec::new();
    let mut override_reason = None;
    if let Some(Delivered { answer, card, .. }) = &delivered {
        let mut seen = HashSet::new();
        for (position, id) in entry.accepted_suggestions.iter().enumerate() {
            if !seen.insert(id.as_str()) {
                problems.push(FeedbackProblem::RepeatedSuggestion { position });
                continue;
            }
            let Some(suggestion) = card.suggestions.iter().find(|s| &s.uuid == id) else {
                problems.push(FeedbackProblem::UnknownSuggestion { position });
                continue;
            };
            let recommendation_id = answer
                .recommendations
                .iter()
                .find(|r| suggestion_uuid(&entry.card, &r.id) == suggestion.uuid)
                .map(|r| r.id.clone());
            accepted.push(AcceptedSuggestionRecord {
                uuid: suggestion.uuid.clone(),
                label: suggestion.label.clone(),
                recommendation_id,
            });
        }
        if let Some(reason) = entry
            .override_reason
            .as_ref()
            .and_then(|r| r.reason.as_ref())
        {
            match card
                .override_reasons
                .iter()
                .find(|offered| offered.system == reason.system && offered.code == reason.code)
            {
                Some(offered) => override_reason = Some(offered.clone()),
                None => problems.push(FeedbackProblem::UnknownOverrideReason),
            }
        }
    }
    let (
        Some(outcome),
        Some(timestamp),
        Some(Delivered {
            answer, model_set, ..
        }),
    ) = (outcome, timestamp, delivered)
    else {
        return Ok(Err(problems));
    };
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let recommendation_ids = match outcome {
        FeedbackOutcome::Accepted => {
            let mut ids: Vec<String> = Vec::new();
            for id in accepted.iter().filter_map(|a| a.recommendation_id.clone()) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            ids
        }
        FeedbackOutcome::Overridden => {
            let mut ids: Vec<String> = Vec::new();
            for r in &answer.recommendations {
                if !ids.contains(&r.id) {
                    ids.push(r.id.clone());
                }
            }
            ids
        }
    };
    let record = FeedbackRecord {
        feedback_id: feedback_id(&entry.card, outcome, &timestamp),
        service: service.to_string(),
        assessment_id: entry.card.clone(),
        outcome,
        outcome_timestamp: canonical_time(&timestamp),
        accepted_suggestions: accepted,
        recommendation_ids,
        override_reason,
        user_comment: entry
            .override_reason
            .as_ref()
            .and_then(|r| r.user_comment.clone()),
        model_set: answer.model_set,
        rule_set: answer.rule_set,
        models: answer
            .predictions
            .into_iter()
            .map(|p| ModelVersion {
                outcome: p.outcome,
                version: p.model.version,
            })
            .collect(),
    };
    Ok(Ok(Checked { record, model_set }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::SqliteAuditStore;

    const SERVICE: &str = "periop-spine-risk";
    const REASONS: &str = "https://periop.example.org/fhir/CodeSystem/override-reason";
    const CARD: &str = "0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10";

    fn caller() -> Caller {
        Caller {
            request_id: "req_test".into(),
            key_id: "ehr-client".into(),
        }
    }

    /// A stored answer with three recommendations, two of them sent as suggestions.
    fn answer(id: &str, channel: &str) -> AuditRecord {
        let output = json!({
            "assessment_id": id, "created_at": "2026-03-02T10:00:00.000Z",
            "model_set": {"id": "default", "version": "2026.03.0"},
            "predictions": [
                {"outcome": "dvt", "status": "ok", "model": {"id": "dvt", "version": "dvt@abc", "sha256": "00"}},
                {"outcome": "blood_loss_ml", "status": "ok", "model": {"id": "blood_loss_ml", "version": "blood_loss_ml@def", "sha256": "00"}}
            ],
            "recommendations": [{"id": "vte.ipc"}, {"id": "blood.type_and_screen"}, {"id": "dural.repair_readiness"}],
            "rule_set": {"version": "default-1", "sha256": "11"},
            "delivery": {"channel": channel, "service": SERVICE, "card": {
                "uuid": id, "summary": "s", "indicator": "info", "source": {"label": "periop"},
                "suggestions": [
                    {"label": "IPC", "uuid": suggestion_uuid(id, "vte.ipc"), "actions": []},
                    {"label": "Type and screen", "uuid": suggestion_uuid(id, "blood.type_and_screen"), "actions": []}
                ],
                "selectionBehavior": "any",
                "overrideReasons": [{"system": REASONS, "code": "data-wrong", "display": "Input data incorrect or outdated"}]
            }}
        });
        AuditRecord {
            assessment_id: id.into(),
            request_id: "req_a".into(),
            created_at: "2026-03-02T10:00:00.000Z".into(),
            caller: "ehr-client".into(),
            kind: KIND_ASSESSMENT.into(),
            model_set: json!({"id": "default", "version": "2026.03.0"}).to_string(),
            input: "{}".into(),
            normalised: "{}".into(),
            output: output.to_string(),
            shap: "null".into(),
        }
    }

    fn store(dir: &tempfile::TempDir) -> SqliteAuditStore {
        let store = SqliteAuditStore::open(dir.path().join("audit.db")).expect("store");
        store
            .append(&answer(CARD, Delivery::CDS_HOOKS))
            .expect("append");
        store
    }

    fn accepted(suggestions: &[String], at: &str) -> FeedbackEntry {
        FeedbackEntry {
            card: CARD.into(),
            outcome: "accepted".into(),
            accepted_suggestions: suggestions.to_vec(),
            override_reason: None,
            outcome_timestamp: at.into(),
        }
    }

    fn overridden(code: Option<&str>, comment: Option<&str>, at: &str) -> FeedbackEntry {
        FeedbackEntry {
            card: CARD.into(),
            outcome: "overridden".into(),
            accepted_suggestions: Vec::new(),
            override_reason: Some(OverrideReasonEntry {
                reason: code.map(|c| ReasonCoding {
                    system: REASONS.into(),
                    code: c.into(),
                    display: None,
                }),
                user_comment: comment.map(str::to_string),
            }),
            outcome_timestamp: at.into(),
        }
    }

    fn rejected(
        store: &SqliteAuditStore,
        entries: &[FeedbackEntry],
    ) -> Vec<(String, &'static str)> {
        match record_feedback(store, SERVICE, entries, &caller()) {
            Err(ServiceError::Feedback(FeedbackRejected(errors))) => errors
                .iter()
                .map(|e| (e.field(), e.problem.reason()))
                .collect(),
            other => panic!("expected rejected feedback, got {other:?}"),
        }
    }

    #[test]
    fn the_feedback_id_is_the_report_whatever_the_time_spelling() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let a = feedback_id(CARD, FeedbackOutcome::Accepted, &t("2026-03-02T10:15:00Z"));
        assert_eq!(
            a,
            feedback_id(
                CARD,
                FeedbackOutcome::Accepted,
                &t("2026-03-02T11:15:00.000+01:00")
            )
        );
        assert_ne!(
            a,
            feedback_id(
                CARD,
                FeedbackOutcome::Overridden,
                &t("2026-03-02T10:15:00Z")
            )
        );
        assert_ne!(
            a,
            feedback_id(
                CARD,
                FeedbackOutcome::Accepted,
                &t("2026-03-02T10:15:00.001Z")
            )
        );
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 5);
    }

    #[test]
    fn feedback_is_linked_to_the_answer_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let ipc = suggestion_uuid(CARD, "vte.ipc");
        let entries = [
            accepted(std::slice::from_ref(&ipc), "2026-03-02T10:15:00Z"),
            overridden(
                Some("data-wrong"),
                Some("Hb is from last year"),
                "2026-03-02T10:16:00Z",
            ),
        ];
        let results = record_feedback(&store, SERVICE, &entries, &caller()).unwrap();
        assert_eq!(results.len(), 2);
        assert!(results
            .iter()
            .all(|r| r.status == FeedbackStatus::Recorded && r.card == CARD));
        assert_eq!(store.count().unwrap(), 3);

        let stored = store.get(&results[0].feedback_id).unwrap().expect("stored");
        assert_eq!(stored.record.kind, KIND_CDS_FEEDBACK);
        assert_eq!(stored.record.caller, "ehr-client");
        assert_eq!(stored.record.model_set, answer(CARD, "x").model_set);
        let input: FeedbackEntry = serde_json::from_str(&stored.record.input).unwrap();
        assert_eq!(input, entries[0]);
        let first: FeedbackRecord = serde_json::from_str(&stored.record.output).unwrap();
        assert_eq!(first.outcome, FeedbackOutcome::Accepted);
        assert_eq!(first.assessment_id, CARD);
        assert_eq!(first.service, SERVICE);
        assert_eq!(first.recommendation_ids, vec!["vte.ipc"]);
        assert_eq!(first.accepted_suggestions[0].label, "IPC");
        assert_eq!(
            first.accepted_suggestions[0].recommendation_id.as_deref(),
            Some("vte.ipc")
        );
        assert_eq!(first.model_set.version, "2026.03.0");
        assert_eq!(
            first.rule_set.as_ref().map(|r| r.version.as_str()),
            Some("default-1")
        );
        assert_eq!(
            first.models,
            vec![
                ModelVersion {
                    outcome: "dvt".into(),
                    version: "dvt@abc".into()
                },
                ModelVersion {
                    outcome: "blood_loss_ml".into(),
                    version: "blood_loss_ml@def".into()
                },
            ]
        );
        assert_eq!(first.outcome_timestamp, "2026-03-02T10:15:00Z");

        let second: FeedbackRecord = serde_json::from_str(
            &store
                .get(&results[1].feedback_id)
                .unwrap()
                .unwrap()
                .record
                .output,
        )
        .unwrap();
        assert_eq!(
            second.recommendation_ids,
            vec!["vte.ipc", "blood.type_and_screen", "dural.repair_readiness"],
            "an override sets aside every recommendation of the card"
        );
        let reason = second.override_reason.expect("reason");
        assert_eq!(reason.code, "data-wrong");
        assert_eq!(
            reason.display.as_deref(),
            Some("Input data incorrect or outdated"),
            "the reason as the card offered it"
        );
        assert_eq!(second.user_comment.as_deref(), Some("Hb is from last year"));

        // The same reports again (one with its time spelled differently): stored once.
        let again = [
            accepted(&[ipc], "2026-03-02T11:15:00+01:00"),
            entries[1].clone(),
        ];
        let results_again = record_feedback(&store, SERVICE, &again, &caller()).unwrap();
        assert!(results_again
            .iter()
            .all(|r| r.status == FeedbackStatus::AlreadyRecorded));
        assert_eq!(results_again[0].feedback_id, results[0].feedback_id);
        assert_eq!(store.count().unwrap(), 3);
        assert!(store.verify().unwrap().is_intact());
    }

    #[test]
    fn every_problem_names_its_field_and_nothing_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let ipc = suggestion_uuid(CARD, "vte.ipc");
        let unknown_card = FeedbackEntry {
            card: "not-a-card".into(),
            ..accepted(std::slice::from_ref(&ipc), "2026-03-02T10:15:00Z")
        };
        let entries = [
            accepted(std::slice::from_ref(&ipc), "2026-03-02T10:15:00Z"),
            unknown_card,
            accepted(
                &[suggestion_uuid(CARD, "dural.repair_readiness")],
                "2026-03-02T10:15:00Z",
            ),
            accepted(&[], "2026-03-02T10:15:00Z"),
            accepted(std::slice::from_ref(&ipc), "2 March 2026"),
            FeedbackEntry {
                outcome: "ignored".into(),
                ..accepted(std::slice::from_ref(&ipc), "2026-03-02T10:15:00Z")
            },
            overridden(Some("too-busy"), None, "2026-03-02T10:15:00Z"),
            FeedbackEntry {
                accepted_suggestions: vec![ipc.clone()],
                ..overridden(None, None, "2026-03-02T10:15:00Z")
            },
            FeedbackEntry {
                override_reason: overridden(Some("data-wrong"), None, "x").override_reason,
                ..accepted(std::slice::from_ref(&ipc), "2026-03-02T10:15:00Z")
            },
            accepted(&[ipc.clone(), ipc.clone()], "2026-03-02T10:15:00Z"),
        ];
        assert_eq!(
            rejected(&store, &entries),
            vec![
                ("feedback[1].card".to_string(), "unknown_card"),
                (
                    "feedback[2].acceptedSuggestions[0].id".to_string(),
                    "unknown_suggestion"
                ),
                ("feedback[3].acceptedSuggestions".to_string(), "required"),
                ("feedback[4].outcomeTimestamp".to_string(), "invalid_format"),
                ("feedback[5].outcome".to_string(), "unknown_level"),
                (
                    "feedback[6].overrideReason.reason".to_string(),
                    "unknown_override_reason"
                ),
                (
                    "feedback[7].acceptedSuggestions".to_string(),
                    "contradiction"
                ),
                ("feedback[8].overrideReason".to_string(), "contradiction"),
                (
                    "feedback[9].acceptedSuggestions[1].id".to_string(),
                    "contradiction"
                ),
            ]
        );
        assert_eq!(
            store.count().unwrap(),
            1,
            "a rejected request stores nothing"
        );
        let message = ServiceError::from(FeedbackRejected(vec![FeedbackError {
            index: 2,
            problem: FeedbackProblem::BadTimestamp,
        }]))
        .to_string();
        assert!(
            message.contains("feedback[2].outcomeTimestamp must be an RFC 3339"),
            "{message}"
        );
    }

    #[test]
    fn an_empty_request_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        assert!(record_feedback(&store, SERVICE, &[], &caller())
            .unwrap()
            .is_empty());
        assert_eq!(store.count().unwrap(), 1);
    }

    #[test]
    fn only_cards_of_this_service_take_feedback() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let fhir = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f";
        store.append(&answer(fhir, Delivery::FHIR)).unwrap();
        let entry = |card: &str| FeedbackEntry {
            card: card.into(),
            ..overridden(None, None, "2026-03-02T10:15:00Z")
        };
        assert_eq!(
            rejected(&store, &[entry(fhir)]),
            vec![("feedback[0].card".to_string(), "unknown_card")]
        );
        match record_feedback(&store, "another-service", &[entry(CARD)], &caller()) {
            Err(ServiceError::Feedback(FeedbackRejected(e))) => assert_eq!(
                e[0].to_string(),
                "feedback[0].card was not sent as a CDS Hooks card of service `another-service`"
            ),
            other => panic!("{other:?}"),
        }
        // A record of another kind is not a card, whatever its output holds.
        store
            .append(&AuditRecord {
                kind: "rule_version".into(),
                ..answer("rule-version:default-1", Delivery::CDS_HOOKS)
            })
            .unwrap();
        assert_eq!(
            rejected(&store, &[entry("rule-version:default-1")]),
            vec![("feedback[0].card".to_string(), "unknown_card")]
        );
    }

    #[test]
    fn suggestion_uuids_are_v5_in_the_assessment_namespace() {
        let a = suggestion_uuid(CARD, "vte.ipc");
        assert_eq!(a, suggestion_uuid(CARD, "vte.ipc"));
        assert_ne!(a, suggestion_uuid(CARD, "vte.lmwh"));
        assert_ne!(
            a,
            suggestion_uuid("5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f", "vte.ipc")
        );
        let expected = uuid::Uuid::new_v5(&uuid::Uuid::parse_str(CARD).unwrap(), b"vte.ipc");
        assert_eq!(a, expected.to_string());
    }
}
