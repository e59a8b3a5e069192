//! The audit record of an answer: the exact response body, the input as received, the prepared
//! patient in canonical form with its model row, the model and rule versions with their hashes,
//! and the full SHAP vectors. What is the same for every answer of a model set (its models'
//! versions and hashes, the model feature names) is serialised once, when the service starts.

use serde_json::{json, Map, Value};

use super::prepared::PreparedPatient;
use super::types::Assessment;
use crate::audit::{AuditRecord, KIND_ASSESSMENT};
use crate::clock::created_at_text;
use crate::features::model_input::model_feature_names;
use crate::model::ensemble::ModelSet;
use crate::rules::RuleSetRef;

/// Who asked, for the audit record (never a key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Request id of the call (correlates with the logs).
    pub request_id: String,
    /// API key id, or `"anonymous"` in development mode, or the CLI's name for itself.
    pub key_id: String,
}

/// The parts of every record of one model set, serialised once.
#[derive(Debug, Clone)]
pub struct RecordTemplate {
    /// `"id":…,"models":[…]` of the model-set snapshot.
    set_prefix: String,
    /// `"version":…` of the model-set snapshot.
    set_suffix: String,
    /// The model feature names as a JSON array.
    feature_names: String,
}

impl RecordTemplate {
    /// Serialises the model set's identity and every model's version and file hashes.
    pub fn new(models: &ModelSet) -> Self {
        let set = models.set_manifest();
        let per_model: Vec<Value> = models
            .outcomes()
            .filter_map(|o| models.manifest(o))
            .map(|m| json!({"outcome": m.outcome, "version": m.version, "files": m.files.iter().map(|f| json!({"path": f.path, "sha256": f.sha256})).collect::<Vec<_>>()}))
            .collect();
        Self {
            set_prefix: format!(
                "\"id\":{},\"models\":{}",
                Value::from(set.id.clone()),
                Value::from(per_model)
            ),
            set_suffix: format!("\"version\":{}", Value::from(set.version.clone())),
            feature_names: Value::from(model_feature_names()).to_string(),
        }
    }

    /// Model set id and version, each model's version and hashes, and the rule set (keys in
    /// sorted order, as earlier records).
    fn model_set(&self, rule_set: Option<&RuleSetRef>) -> String {
        let rules = serde_json::to_string(&rule_set).unwrap_or_else(|_| "null".into());
        format!(
            "{{{},\"rule_set\":{rules},{}}}",
            self.set_prefix, self.set_suffix
        )
    }

    /// The prepared patient in canonical form and its model input vector.
    fn normalised(&self, prepared: &PreparedPatient) -> String {
        let values: Vec<Value> = prepared
            .row
            .iter()
            .map(|v| if v.is_nan() { Value::Null } else { json!(v) })
            .collect();
        format!(
            "{{\"model_input\":{{\"features\":{},\"values\":{}}},\"patient\":{}}}",
            self.feature_names,
            Value::from(values),
            Value::Object(prepared.canonical())
        )
    }

    /// The audit record of one answer; `body` is its exact serialisation and `input` the
    /// request as received.
    pub fn record(
        &self,
        assessment: &Assessment,
        body: String,
        prepared: &PreparedPatient,
        input: String,
        caller: &Caller,
    ) -> AuditRecord {
        AuditRecord {
            assessment_id: assessment.assessment_id.clone(),
            request_id: caller.request_id.clone(),
            created_at: created_at_text(&assessment.created_at),
            caller: caller.key_id.clone(),
            kind: KIND_ASSESSMENT.to_string(),
            model_set: self.model_set(assessment.rule_set.as_ref()),
            input,
            normalised: self.normalised(prepared),
            output: body,
            shap: shap_vectors(assessment).to_string(),
        }
    }
}

/// Full SHAP vectors per outcome (base value, raw score, one value per model feature).
fn shap_vectors(assessment: &Assessment) -> Value {
    let mut out = Map::new();
    for p in &assessment.predictions {
        if let Some(e) = &p.explanation {
            out.insert(
                p.outcome.clone(),
                json!({"base_value": e.base_value, "raw_score": e.raw_score, "values": e.contributions.iter().map(|c| c.contribution).collect::<Vec<_>>()}),
            );
        }
    }
    Value::Object(out)
}
