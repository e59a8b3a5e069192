//! Composing one answer from a prepared patient and its predictions: the warnings every answer
//! carries (synthetic data, missing inputs, example policy) and the rule set's recommendations
//! with their trace. A rule-set failure never withholds the predictions.

use chrono::{DateTime, Utc};

use super::inputs::inputs;
use super::request::PatientJob;
use super::sharpen::MissingInputRanges;
use super::types::{Assessment, ModelSetRef, PredictionView, Status};
use crate::rules::context::{self, PredictionFacts};
use crate::rules::RuleSet;

/// Warning on every answer of a model set trained on synthetic data.
pub const SYNTHETIC_WARNING: &str =
    "model set trained on synthetic data: a demonstration, not for clinical use";

/// What every answer of one model set shares.
#[derive(Debug, Clone)]
pub struct AnswerBasis {
    pub model_set: ModelSetRef,
    pub synthetic: bool,
}

/// What the rules may read of the views.
pub fn facts(views: &[PredictionView]) -> Vec<PredictionFacts<'_>> {
    views
        .iter()
        .filter_map(|v| {
            let outcome = crate::outcomes::Outcome::from_id(&v.outcome)?;
            Some(PredictionFacts {
                outcome,
                applicable: v.status == Status::Ok,
                probability: v.probability,
                quantity: v.quantity.as_ref().map(|q| (q.median, q.p10, q.p90)),
                risk_band: v.risk_band.as_deref(),
                relative_risk: v.relative_risk,
            })
        })
        .collect()
}

/// The answer to one job.
pub fn compose(
    basis: &AnswerBasis,
    rules: Option<&RuleSet>,
    job: &PatientJob,
    views: Vec<PredictionView>,
    missing_input_ranges: Option<MissingInputRanges>,
    assessment_id: String,
    created_at: DateTime<Utc>,
) -> Assessment {
    let inputs = inputs(&job.prepared);
    let mut warnings = Vec::new();
    if basis.synthetic {
        warnings.push(SYNTHETIC_WARNING.to_string());
    }
    if !inputs.missing.is_empty() {
        warnings.push(format!(
            "{} optional input(s) missing (see inputs.missing): treated as unknown, never imputed",
            inputs.missing.len()
        ));
    }
    let (recommendations, rule_set, rule_trace) = match rules {
        None => (Vec::new(), None, None),
        Some(rules) => {
            if rules.is_example_policy() {
                warnings.push(format!(
                    "recommendations come from rule set {}, an example policy shipped with the model set: review and adapt it locally before clinical use",
                    rules.reference().version
                ));
            }
            let context = context::build(job.patient(), &job.prepared.derived, &facts(&views));
            match rules.evaluate(&context) {
                Ok(outcome) => (
                    outcome.recommendations,
                    Some(rules.reference().clone()),
                    Some(outcome.trace),
                ),
                Err(e) => {
                    warnings.push(format!(
                        "recommendations unavailable: rule set {} failed: {e}",
                        rules.reference().version
                    ));
                    (Vec::new(), Some(rules.reference().clone()), None)
                }
            }
        }
    };
    let origin = &job.origin;
    Assessment {
        assessment_id,
        created_at,
        site: origin.site.clone(),
        patient_reference_hash: origin.patient_reference_hash.clone(),
        encounter_reference_hash: origin.encounter_reference_hash.clone(),
        surgery_date: origin
            .surgery_date
            .map(|d| d.format("%Y-%m-%d").to_string()),
        model_set: basis.model_set.clone(),
        predictions: views,
        recommendations,
        rule_set,
        rule_trace,
        inputs,
        delivery: None,
        missing_input_ranges,
        warnings,
    }
}
