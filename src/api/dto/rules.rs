//! Wire types of the rules API (`/v1/rules...`).
//!
//! The request DTOs describe the bodies for the OpenAPI document only (the handlers parse bodies
//! themselves to name every bad field). The response types are what the handlers serialise, so
//! the document cannot drift from the answers; the rule types they embed (`Recommendation`,
//! `RuleTrace`, `Activation`, the back-test report) derive their schemas where they are defined.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::rules::registry::{Activation, ActiveRules, VersionRecord};
use crate::rules::{Recommendation, RuleOutcome, RuleSetRef, RuleTrace};

// ---------------------------------------------------------------- requests

/// `POST /v1/rules/versions` body: a candidate rule set, validated and stored (not activated).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::upload_request()))]
pub struct UploadRuleVersionRequestDto {
    /// New version name (`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`); names are never reused.
    #[schema(
        example = "2025.02-dvt-threshold",
        pattern = "^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
    )]
    pub version: String,
    /// The GoRules JDM decision graph (`nodes` and `edges`), as the GoRules editor saves it.
    #[schema(value_type = Object)]
    pub document: Value,
    /// What changed and why (free text, kept with the version); absent or `null` = none.
    #[schema(example = "DVT threshold for mechanical prophylaxis 10 % -> 8 %")]
    pub note: Option<String>,
}

/// `POST /v1/rules/evaluate` body: exactly one of `patient` or `assessment_id`, and at most one
/// of `version` or `document` (default: the active rule set).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::evaluate_request()))]
pub struct EvaluateRulesRequestDto {
    /// Patient features as in `POST /v1/assessments`; the model set predicts every outcome first
    /// (without explanations). Nothing is stored.
    #[serde(default)]
    #[schema(nullable = false, value_type = crate::api::dto::PatientDto)]
    pub patient: Option<Map<String, Value>>,
    /// A stored assessment: its context is rebuilt from the audit record (normalised patient and
    /// the predictions as answered; the models are not re-run).
    #[schema(nullable = false, example = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f")]
    pub assessment_id: Option<String>,
    /// A stored rule-set version to evaluate.
    #[schema(nullable = false, example = "2025.02-dvt-threshold")]
    pub version: Option<String>,
    /// An inline JDM document to evaluate (validated like an upload, never stored; reported as
    /// version `inline`).
    #[serde(default)]
    #[schema(nullable = false, value_type = Object)]
    pub document: Option<Value>,
}

/// `POST /v1/rules/backtest` body: a candidate (at most one of `version` or `document`; default
/// the active set) and a window of stored assessments.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::backtest_request()))]
pub struct BacktestRequestDto {
    /// A stored rule-set version as the candidate.
    #[schema(nullable = false, example = "2025.02-dvt-threshold")]
    pub version: Option<String>,
    /// An inline JDM document as the candidate (validated, never stored).
    #[serde(default)]
    #[schema(nullable = false, value_type = Object)]
    pub document: Option<Value>,
    /// Window start, inclusive (RFC 3339).
    #[schema(value_type = String, format = DateTime, example = "2025-01-01T00:00:00Z")]
    pub since: String,
    /// Window end, exclusive (RFC 3339); after `since`.
    #[schema(value_type = String, format = DateTime, example = "2025-02-01T00:00:00Z")]
    pub until: String,
    /// Example assessment ids per list in the report, 0 to 100 (default 5).
    #[schema(nullable = false, minimum = 0, maximum = 100, default = 5, example = 5)]
    pub max_examples: Option<u32>,
}

// ---------------------------------------------------------------- responses

/// The active rule set: its identity, who activated it and when, and the document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveRulesDto {
    /// Version name.
    #[schema(example = "default-1")]
    pub version: String,
    /// Canonical SHA-256 of the document (keys sorted, no whitespace).
    #[schema(example = "7d1a0c5e9b3f4a2d8c6e1f0b9a8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c")]
    pub sha256: String,
    /// API key id of who activated it (`system`: registered at first start from the model set).
    #[schema(example = "admin-key")]
    pub activated_by: String,
    /// When it was activated (RFC 3339).
    #[schema(example = "2025-01-31T09:30:00.123Z")]
    pub activated_at: String,
    /// The version it replaced (`null` for the first activation).
    #[schema(example = "default-1")]
    pub previous_version: Option<String>,
    /// The GoRules JDM document.
    #[schema(value_type = Object)]
    pub document: Value,
}

impl From<&ActiveRules> for ActiveRulesDto {
    fn from(active: &ActiveRules) -> Self {
        let a = &active.activation;
        Self {
            version: a.version.clone(),
            sha256: a.sha256.clone(),
            activated_by: a.activated_by.clone(),
            activated_at: a.activated_at.clone(),
            previous_version: a.previous_version.clone(),
            document: active.rules.document().clone(),
        }
    }
}

/// One stored rule-set version with its document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleVersionDto {
    /// Version name.
    #[schema(example = "2025.02-dvt-threshold")]
    pub version: String,
    /// Canonical SHA-256 of the document.
    #[schema(example = "7d1a0c5e9b3f4a2d8c6e1f0b9a8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c")]
    pub sha256: String,
    /// API key id of the uploader (`system` for the model set's rule set).
    #[schema(example = "admin-key")]
    pub uploaded_by: String,
    /// When it was uploaded (RFC 3339).
    #[schema(example = "2025-01-31T09:30:00.123Z")]
    pub uploaded_at: String,
    /// The uploader's note (what changed and why).
    #[schema(example = "DVT threshold for mechanical prophylaxis 10 % -> 8 %")]
    pub note: String,
    /// Whether this version is the active one.
    #[schema(example = false)]
    pub active: bool,
    /// The GoRules JDM document.
    #[schema(value_type = Object)]
    pub document: Value,
}

impl RuleVersionDto {
    pub fn new(record: VersionRecord, active: bool) -> Self {
        Self {
            version: record.version,
            sha256: record.sha256,
            uploaded_by: record.uploaded_by,
            uploaded_at: record.uploaded_at,
            note: record.note,
            active,
            document: record.document,
        }
    }
}

/// One stored rule-set version (without its document).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleVersionSummaryDto {
    /// Version name.
    #[schema(example = "default-1")]
    pub version: String,
    /// Canonical SHA-256 of the document.
    #[schema(example = "7d1a0c5e9b3f4a2d8c6e1f0b9a8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c")]
    pub sha256: String,
    /// API key id of the uploader (`system` for the model set's rule set).
    #[schema(example = "system")]
    pub uploaded_by: String,
    /// When it was uploaded (RFC 3339).
    #[schema(example = "2025-01-01T08:00:00.000Z")]
    pub uploaded_at: String,
    /// The uploader's note.
    #[schema(example = "rule set shipped with the model set")]
    pub note: String,
    /// Whether this version is the active one.
    #[schema(example = true)]
    pub active: bool,
}

/// Every stored version and every activation, oldest first (nothing is ever deleted).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleVersionsDto {
    /// The active version's name.
    #[schema(example = "default-1")]
    pub active: String,
    /// Every uploaded version, oldest first.
    pub versions: Vec<RuleVersionSummaryDto>,
    /// Every activation, oldest first (the last one is in force).
    pub activations: Vec<Activation>,
}

impl RuleVersionsDto {
    pub fn new(active: &str, versions: Vec<VersionRecord>, activations: Vec<Activation>) -> Self {
        Self {
            active: active.to_string(),
            versions: versions
                .into_iter()
                .map(|v| RuleVersionSummaryDto {
                    active: v.version == active,
                    version: v.version,
                    sha256: v.sha256,
                    uploaded_by: v.uploaded_by,
                    uploaded_at: v.uploaded_at,
                    note: v.note,
                })
                .collect(),
            activations,
        }
    }
}

/// `POST /v1/rules/evaluate` answer: what the rule set recommends for that patient, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleEvaluationDto {
    /// The rule set evaluated (`inline` for a document sent with the request).
    pub rule_set: RuleSetRef,
    /// The recommendations, each with the table row that produced it and its triggers.
    pub recommendations: Vec<Recommendation>,
    /// Which nodes ran and which table rows matched.
    pub trace: RuleTrace,
}

impl RuleEvaluationDto {
    pub fn new(rule_set: RuleSetRef, outcome: RuleOutcome) -> Self {
        Self {
            rule_set,
            recommendations: outcome.recommendations,
            trace: outcome.trace,
        }
    }
}

// ---------------------------------------------------------------- examples

/// Example bodies of the rules endpoints (checked against their schemas by `tests/openapi.rs`).
pub mod examples {
    use serde_json::{json, Value};

    use crate::api::dto::examples::{patient, recommendation, rule_trace, RULES_SHA256};

    /// A one-table JDM document (the shape the GoRules editor saves).
    pub fn document() -> Value {
        json!({
            "nodes": [
                {"id": "in", "name": "Request", "type": "inputNode", "position": {"x": 0, "y": 0}},
                {"id": "vte", "name": "VTE prophylaxis", "type": "decisionTableNode", "position": {"x": 200, "y": 0},
                 "content": {
                    "hitPolicy": "collect", "outputPath": "recommendations.vte",
                    "inputs": [{"id": "c_band", "name": "DVT band", "field": "predictions.dvt.risk_band"}],
                    "outputs": [
                        {"id": "o_id", "name": "id", "field": "id"},
                        {"id": "o_cat", "name": "category", "field": "category"},
                        {"id": "o_text", "name": "text", "field": "text"},
                        {"id": "o_rat", "name": "rationale", "field": "rationale"},
                        {"id": "o_str", "name": "strength", "field": "strength"}
                    ],
                    "rules": [{"_id": "r1", "c_band": "\"high\", \"elevated\"",
                        "o_id": "\"vte.mechanical\"", "o_cat": "\"vte_prophylaxis\"",
                        "o_text": "\"Mechanical VTE prophylaxis\"", "o_rat": "\"DVT risk elevated or high\"",
                        "o_str": "\"consider\""}]
                 }},
                {"id": "out", "name": "Response", "type": "outputNode", "position": {"x": 400, "y": 0}}
            ],
            "edges": [
                {"id": "e1", "sourceId": "in", "targetId": "vte", "type": "edge"},
                {"id": "e2", "sourceId": "vte", "targetId": "out", "type": "edge"}
            ]
        })
    }

    /// `POST /v1/rules/versions` request.
    pub fn upload_request() -> Value {
        json!({"version": "2025.02-dvt-threshold", "document": document(), "note": "DVT threshold for mechanical prophylaxis 10 % -> 8 %"})
    }

    /// `POST /v1/rules/evaluate` request (a patient against a stored version).
    pub fn evaluate_request() -> Value {
        json!({"patient": patient(), "version": "2025.02-dvt-threshold"})
    }

    /// `POST /v1/rules/backtest` request.
    pub fn backtest_request() -> Value {
        json!({"version": "2025.02-dvt-threshold", "since": "2025-01-01T00:00:00Z", "until": "2025-02-01T00:00:00Z", "max_examples": 5})
    }

    /// `GET /v1/rules` answer.
    pub fn active_rules() -> Value {
        json!({
            "version": "default-1", "sha256": RULES_SHA256, "activated_by": "system",
            "activated_at": "2025-01-01T08:00:00.000Z", "previous_version": null, "document": document()
        })
    }

    /// `POST /v1/rules/versions` and `GET /v1/rules/versions/{version}` answer.
    pub fn version() -> Value {
        json!({
            "version": "2025.02-dvt-threshold", "sha256": "0b6e3f1a9c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b",
            "uploaded_by": "admin-key", "uploaded_at": "2025-01-31T09:30:00.123Z",
            "note": "DVT threshold for mechanical prophylaxis 10 % -> 8 %", "active": false, "document": document()
        })
    }

    /// `POST /v1/rules/versions/{version}/activate` answer.
    pub fn activation() -> Value {
        json!({
            "version": "2025.02-dvt-threshold", "sha256": "0b6e3f1a9c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b",
            "activated_by": "admin-key", "activated_at": "2025-02-03T10:00:00.000Z", "previous_version": "default-1"
        })
    }

    /// `GET /v1/rules/versions` answer.
    pub fn versions() -> Value {
        json!({
            "active": "2025.02-dvt-threshold",
            "versions": [
                {"version": "default-1", "sha256": RULES_SHA256, "uploaded_by": "system", "uploaded_at": "2025-01-01T08:00:00.000Z", "note": "rule set shipped with the model set", "active": false},
                {"version": "2025.02-dvt-threshold", "sha256": "0b6e3f1a9c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b", "uploaded_by": "admin-key", "uploaded_at": "2025-01-31T09:30:00.123Z", "note": "DVT threshold for mechanical prophylaxis 10 % -> 8 %", "active": true}
            ],
            "activations": [
                {"version": "default-1", "sha256": RULES_SHA256, "activated_by": "system", "activated_at": "2025-01-01T08:00:00.000Z", "previous_version": null},
                activation()
            ]
        })
    }

    /// `POST /v1/rules/evaluate` answer.
    pub fn evaluation() -> Value {
        json!({
            "rule_set": {"version": "2025.02-dvt-threshold", "sha256": "0b6e3f1a9c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b"},
            "recommendations": [recommendation()],
            "trace": rule_trace()
        })
    }

    /// `POST /v1/rules/backtest` answer.
    pub fn backtest() -> Value {
        json!({
            "candidate": {"version": "2025.02-dvt-threshold", "sha256": "0b6e3f1a9c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b"},
            "since": "2025-01-01T00:00:00.000Z", "until": "2025-02-01T00:00:00.000Z",
            "considered": 412, "compared": 411, "changed": 9,
            "skipped": {"count": 1, "reasons": [{"reason": "unreadable", "count": 1, "examples": ["0c9d8e7f-6a5b-4c3d-8e2f-1a2b3c4d5e6f"]}]},
            "answered_rule_sets": [{"version": "default-1", "count": 411}],
            "recommendations": [
                {"id": "vte.mechanical", "answered": 40, "candidate": 49,
                 "gained": {"count": 9, "examples": ["5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f"]},
                 "lost": {"count": 0, "examples": []}}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_document_loads() {
        crate::rules::RuleSet::from_value("example", examples::document())
            .expect("the example JDM document passes the safety checks");
    }

    #[test]
    fn example_bodies_deserialise_into_their_dtos() {
        serde_json::from_value::<UploadRuleVersionRequestDto>(examples::upload_request())
            .expect("upload");
        serde_json::from_value::<EvaluateRulesRequestDto>(examples::evaluate_request())
            .expect("evaluate");
        serde_json::from_value::<BacktestRequestDto>(examples::backtest_request())
            .expect("backtest");
        serde_json::from_value::<ActiveRulesDto>(examples::active_rules()).expect("active");
        serde_json::from_value::<RuleVersionDto>(examples::version()).expect("version");
        serde_json::from_value::<RuleVersionsDto>(examples::versions()).expect("versions");
    }
}
