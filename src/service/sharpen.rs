//! What would sharpen the estimate: for each optional input the patient is missing, the range of
//! each risk across that input's plausible values (taken from the model set's recorded training
//! distribution). Exact for the model: every plausible value is put into the patient, the
//! patient is validated again and every applicable model predicts it (no SHAP, one batch), so a
//! card can say "D-dimer not on file: DVT risk 18–41 % depending on it". Values that contradict
//! the rest of the patient (validation refuses them) are skipped and counted.
//!
//! The ranges vary one input at a time over its marginal training distribution; they are not a
//! joint distribution of the missing inputs and say nothing about which value is likely for this
//! patient.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ServiceError;
use super::predict::predict_jobs;
use super::request::PatientJob;
use super::types::{PredictionView, Status};
use crate::features::{clinical_terms, Patient};
use crate::model::ensemble::ModelSet;
use crate::outcomes::{Outcome, OutcomeKind};

/// The ranges of one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingInputRanges {
    /// Missing inputs with their ranges, largest `spread` first.
    pub inputs: Vec<MissingInputRange>,
    /// Hypothetical patients predicted (one per input and plausible value).
    pub patients_evaluated: usize,
    /// Model evaluations made (patients × applicable models): the cost of the ranges.
    pub model_evaluations: usize,
    /// Why no ranges could be computed (the model set records no training distribution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// One missing input and what each risk would be across its plausible values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingInputRange {
    /// Dictionary feature name.
    pub feature: String,
    /// Clinician label ("D-dimer").
    pub label: String,
    /// The plausible values tried (training quantiles or levels), in the dictionary's terms.
    pub values: Vec<Value>,
    /// Plausible values refused by validation for this patient (contradicting another input).
    pub values_skipped: usize,
    /// One range per applicable outcome.
    pub outcomes: Vec<OutcomeRange>,
    /// The ranking score: the largest `(high − low) / baseline` over the outcomes.
    pub spread: f64,
}

/// One outcome's range across a missing input's plausible values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRange {
    pub outcome: String,
    /// Lowest probability (0–1) or blood-loss median (mL).
    pub low: f64,
    /// Highest probability (0–1) or blood-loss median (mL).
    pub high: f64,
    /// `probability` or `mL`.
    pub unit: String,
    /// The value giving `low`.
    pub low_at: Value,
    /// The value giving `high`.
    pub high_at: Value,
}

/// A feature's plausible values, when the model set recorded them.
pub type PlausibleValues<'a> = &'a dyn Fn(&str) -> Option<Vec<Value>>;

/// The ranges for one answered job; `plausible` gives a feature's plausible values (`None`
/// when the training distribution does not know it).
///
/// # Errors
/// A model failure.
pub fn missing_input_ranges(
    models: &ModelSet,
    plausible: Option<PlausibleValues<'_>>,
    job: &PatientJob,
    missing: &[String],
    views: &[PredictionView],
) -> Result<MissingInputRanges, ServiceError> {
    let Some(plausible) = plausible else {
        return Ok(MissingInputRanges {
            inputs: Vec::new(),
            patients_evaluated: 0,
            model_evaluations: 0,
            unavailable: Some(
                "the model set records no training distribution (periop models describe-training)"
                    .to_string(),
            ),
        });
    };
    let outcomes: Vec<Outcome> = views
        .iter()
        .filter(|v| v.status == Status::Ok)
        .filter_map(|v| Outcome::from_id(&v.outcome))
        .collect();
    let canonical = job.patient().to_json();
    let mut candidates: Vec<(String, Vec<Value>, usize)> = Vec::new();
    let mut jobs = Vec::new();
    for feature in missing {
        let Some(values) = plausible(feature) else {
            continue;
        };
        let mut tried = Vec::new();
        let mut skipped = 0;
        for value in values {
            let mut patient = canonical.clone();
            patient.insert(feature.clone(), value.clone());
            match Patient::from_json(&patient) {
                Ok(p) => {
                    jobs.push(PatientJob::new(p, outcomes.clone(), false));
                    tried.push(value);
                }
                Err(_) => skipped += 1,
            }
        }
        candidates.push((feature.clone(), tried, skipped));
    }
    let predicted = if outcomes.is_empty() {
        vec![Vec::new(); jobs.len()]
    } else {
        predict_jobs(models, &jobs)?
    };
    let model_evaluations = predicted
        .iter()
        .map(|v| v.iter().filter(|p| p.status == Status::Ok).count())
        .sum();
    let mut rows = predicted.into_iter();
    let mut inputs = Vec::new();
    for (feature, values, skipped) in candidates {
        let answers: Vec<Vec<PredictionView>> = rows.by_ref().take(values.len()).collect();
        let ranges = outcome_ranges(&outcomes, views, &values, &answers);
        let spread = ranges
            .iter()
            .map(|r| relative_spread(r, views))
            .fold(0.0, f64::max);
        inputs.push(MissingInputRange {
            label: clinical_terms::label(&feature).to_string(),
            feature,
            values,
            values_skipped: skipped,
            outcomes: ranges,
            spread,
        });
    }
    inputs.sort_by(|a, b| b.spread.total_cmp(&a.spread));
    Ok(MissingInputRanges {
        patients_evaluated: jobs.len(),
        model_evaluations,
        inputs,
        unavailable: None,
    })
}

/// The value of one answer on the outcome's scale (probability, or the median mL).
fn outcome_value(view: &PredictionView) -> Option<f64> {
    match Outcome::from_id(&view.outcome)?.kind() {
        OutcomeKind::Probability => view.probability,
        OutcomeKind::Quantity => view.quantity.as_ref().map(|q| q.median),
    }
}

fn outcome_ranges(
    outcomes: &[Outcome],
    views: &[PredictionView],
    values: &[Value],
    answers: &[Vec<PredictionView>],
) -> Vec<OutcomeRange> {
    let mut ranges = Vec::new();
    for outcome in outcomes {
        let mut low: Option<(f64, &Value)> = None;
        let mut high: Option<(f64, &Value)> = None;
        for (value, answer) in values.iter().zip(answers) {
            let Some(x) = answer
                .iter()
                .find(|v| v.outcome == outcome.id() && v.status == Status::Ok)
                .and_then(outcome_value)
            else {
                continue;
            };
            if low.is_none_or(|(l, _)| x < l) {
                low = Some((x, value));
            }
            if high.is_none_or(|(h, _)| x > h) {
                high = Some((x, value));
            }
        }
        let (Some((low, low_at)), Some((high, high_at))) = (low, high) else {
            continue;
        };
        if !views.iter().any(|v| v.outcome == outcome.id()) {
            continue;
        }
        ranges.push(OutcomeRange {
            outcome: outcome.id().to_string(),
            low,
            high,
            unit: match outcome.kind() {
                OutcomeKind::Probability => "probability",
                OutcomeKind::Quantity => "mL",
            }
            .to_string(),
            low_at: low_at.clone(),
            high_at: high_at.clone(),
        });
    }
    ranges
}

/// `(high − low) / baseline` of a range, comparable across probabilities and millilitres.
fn relative_spread(range: &OutcomeRange, views: &[PredictionView]) -> f64 {
    let baseline = views
        .iter()
        .find(|v| v.outcome == range.outcome)
        .and_then(|v| v.baseline)
        .filter(|b| *b > 0.0);
    baseline.map_or(0.0, |b| (range.high - range.low) / b)
}
