//! Wire types of recorded outcomes (`POST /v1/outcomes`, `GET /v1/assessments/{id}/outcomes`).
//! The responses are what the handlers serialise (built from the service's results), so the
//! document cannot drift from the answers; the request type documents the body (the handler reads
//! each item itself to name every bad member).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::service::outcome_records::{OutcomeResult, OutcomeStatus, RecordedOutcome};

/// `POST /v1/outcomes` body: 1 to 1,000 items.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::request()))]
pub struct OutcomesRequestDto {
    /// The observed outcomes, 1 to 1,000.
    pub items: Vec<OutcomeItemDto>,
}

/// One observed outcome of one stored assessment, named by `assessment_id` or by
/// `patient_reference` plus `surgery_date` (exactly one way).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeItemDto {
    /// The assessment's id.
    #[schema(format = Uuid, example = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f")]
    pub assessment_id: Option<String>,
    /// The patient reference sent with the assessment (hashed with the server's key; never
    /// stored raw).
    #[schema(example = "MRN-0042")]
    pub patient_reference: Option<String>,
    /// The planned surgery date of the assessment (`YYYY-MM-DD`), with `patient_reference`.
    #[schema(format = Date, example = "2026-03-02")]
    pub surgery_date: Option<String>,
    /// The outcome id: one the assessment predicted (`status: ok`).
    #[schema(example = "dvt")]
    pub outcome: String,
    /// 0 or 1 for a binary outcome; mL (1–50,000) for `blood_loss_ml`.
    #[schema(example = 1)]
    pub value: f64,
    /// When the outcome was observed (RFC 3339).
    #[schema(format = DateTime, example = "2026-03-09T08:00:00Z")]
    pub observed_at: Option<String>,
}

/// One result per item, in request order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::response()))]
pub struct OutcomesResponseDto {
    /// One result per item, in request order.
    pub results: Vec<OutcomeResultDto>,
}

/// What happened to one item.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeResultDto {
    /// The record of this value (UUID v5 of assessment, outcome and version).
    #[schema(format = Uuid)]
    pub record_id: String,
    /// The assessment the item was linked to (also when linked by patient reference).
    #[schema(format = Uuid)]
    pub assessment_id: String,
    /// The outcome id.
    pub outcome: String,
    /// The version holding this value (1 = first value).
    pub version: u32,
    /// `recorded` (stored now) or `already_recorded` (the current version already holds this
    /// value; nothing added).
    #[schema(value_type = String, example = "recorded")]
    pub status: String,
}

impl From<OutcomeResult> for OutcomeResultDto {
    fn from(r: OutcomeResult) -> Self {
        Self {
            record_id: r.record_id,
            assessment_id: r.assessment_id,
            outcome: r.outcome,
            version: r.version,
            status: match r.status {
                OutcomeStatus::Recorded => "recorded",
                OutcomeStatus::AlreadyRecorded => "already_recorded",
            }
            .into(),
        }
    }
}

/// Every version of every outcome recorded for one assessment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::assessment_outcomes()))]
pub struct AssessmentOutcomesDto {
    /// The assessment.
    #[schema(format = Uuid)]
    pub assessment_id: String,
    /// By outcome (report order), newest version first.
    pub outcomes: Vec<RecordedOutcomeDto>,
}

/// One stored version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordedOutcomeDto {
    /// The audit record of this version.
    #[schema(format = Uuid)]
    pub record_id: String,
    /// The outcome id.
    pub outcome: String,
    /// 0 or 1 (binary outcomes), or mL (blood loss).
    pub value: f64,
    /// 1 for the first value, n + 1 for each changed value.
    pub version: u32,
    /// The newest version of this outcome.
    pub current: bool,
    /// When the outcome was observed (RFC 3339, UTC), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub observed_at: Option<String>,
    /// When periop stored it (RFC 3339).
    #[schema(format = DateTime)]
    pub recorded_at: String,
    /// The API key id that recorded it.
    pub recorded_by: String,
    /// `assessment_id` or `patient_reference`.
    #[schema(value_type = String, example = "assessment_id")]
    pub linked_by: String,
}

impl From<RecordedOutcome> for RecordedOutcomeDto {
    fn from(r: RecordedOutcome) -> Self {
        let linked_by = match serde_json::to_value(r.linked_by) {
            Ok(Value::String(s)) => s,
            _ => String::new(),
        };
        Self {
            record_id: r.record_id,
            outcome: r.outcome,
            value: r.value,
            version: r.version,
            current: r.current,
            observed_at: r.observed_at,
            recorded_at: r.recorded_at,
            recorded_by: r.recorded_by,
            linked_by,
        }
    }
}

/// Examples of the documentation.
pub mod examples {
    use serde_json::{json, Value};

    const AID: &str = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f";

    pub fn request() -> Value {
        json!({"items": [
            {"assessment_id": AID, "outcome": "dvt", "value": 1, "observed_at": "2026-03-09T08:00:00Z"},
            {"assessment_id": AID, "outcome": "blood_loss_ml", "value": 850},
            {"patient_reference": "MRN-0042", "surgery_date": "2026-03-02", "outcome": "readmission_30d", "value": 0}
        ]})
    }

    pub fn response() -> Value {
        json!({"results": [
            {"record_id": "9b2f6c1e-3d4a-5b6c-8d7e-0f1a2b3c4d5e", "assessment_id": AID, "outcome": "dvt", "version": 1, "status": "recorded"},
            {"record_id": "1c2d3e4f-5a6b-5c7d-8e9f-0a1b2c3d4e5f", "assessment_id": AID, "outcome": "blood_loss_ml", "version": 2, "status": "recorded"},
            {"record_id": "2d3e4f5a-6b7c-5d8e-9f0a-1b2c3d4e5f6a", "assessment_id": AID, "outcome": "readmission_30d", "version": 1, "status": "already_recorded"}
        ]})
    }

    pub fn assessment_outcomes() -> Value {
        json!({"assessment_id": AID, "outcomes": [
            {"record_id": "1c2d3e4f-5a6b-5c7d-8e9f-0a1b2c3d4e5f", "outcome": "blood_loss_ml", "value": 850.0, "version": 2, "current": true, "recorded_at": "2026-03-10T09:00:00.000Z", "recorded_by": "quality-team", "linked_by": "assessment_id"},
            {"record_id": "3e4f5a6b-7c8d-5e9f-8a1b-2c3d4e5f6a7b", "outcome": "blood_loss_ml", "value": 580.0, "version": 1, "current": false, "recorded_at": "2026-03-03T09:00:00.000Z", "recorded_by": "quality-team", "linked_by": "assessment_id"},
            {"record_id": "9b2f6c1e-3d4a-5b6c-8d7e-0f1a2b3c4d5e", "outcome": "dvt", "value": 1.0, "version": 1, "current": true, "observed_at": "2026-03-09T08:00:00Z", "recorded_at": "2026-03-10T09:00:00.000Z", "recorded_by": "quality-team", "linked_by": "assessment_id"}
        ]})
    }

    pub fn invalid() -> Value {
        json!(crate::api::error::ApiError::invalid(vec![
            crate::api::error::FieldProblem {
                field: "items[0].value".into(),
                reason: "out_of_range".into(),
                detail: "must be 0 or 1 for a binary outcome".into(),
            },
            crate::api::error::FieldProblem {
                field: "items[2].patient_reference".into(),
                reason: "no_match".into(),
                detail: "with this surgery_date matches no stored assessment".into(),
            },
        ])
        .with_request_id(Some("req_3b0c5e2f9a7d4e1c8b6a5f4e3d2c1b0a".into()))
        .problem())
    }
}
