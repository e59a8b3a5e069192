//! Predict and explain: every requested outcome's model runs once per batch (and per `explain`
//! flag) over the prepared rows of the patients it applies to, and its output becomes the
//! answer's view (probability or blood-loss interval, band, baseline, explanation).

use ndarray::Array2;

use super::explain;
use super::request::PatientJob;
use super::types::{ModelRef, PredictionView, QuantityView, Status};
use crate::features::model_input::model_feature_count;
use crate::model::ensemble::{ModelError, ModelSet, OutcomeModel, Prediction};
use crate::model::manifest::RiskBand;
use crate::outcomes::{Outcome, OutcomeKind};

/// Predicts a batch of prepared patients: each outcome's model runs once per `explain` flag
/// over every patient it applies to. Returns, per job, one view per requested outcome
/// (`not_applicable` with the reason outside the model's population).
///
/// # Errors
/// A requested outcome without a model in the set, or a model failure.
pub fn predict_jobs(
    models: &ModelSet,
    jobs: &[PatientJob],
) -> Result<Vec<Vec<PredictionView>>, ModelError> {
    let n = model_feature_count();
    let mut out: Vec<Vec<PredictionView>> = vec![Vec::new(); jobs.len()];
    for outcome in Outcome::ALL {
        let wanted: Vec<usize> = (0..jobs.len())
            .filter(|&j| jobs[j].outcomes.contains(&outcome))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let model = models.outcome_model(outcome).ok_or(ModelError::NoModel {
            outcome: outcome.id(),
        })?;
        let mut views: Vec<Option<PredictionView>> = vec![None; jobs.len()];
        let mut applicable = Vec::new();
        for &j in &wanted {
            match outcome.applies_to(jobs[j].patient()) {
                Ok(()) => applicable.push(j),
                Err(reason) => views[j] = Some(not_applicable(model, reason)),
            }
        }
        for explain in [false, true] {
            let group: Vec<usize> = applicable
                .iter()
                .copied()
                .filter(|&j| jobs[j].explain == explain)
                .collect();
            if group.is_empty() {
                continue;
            }
            let mut matrix = Vec::with_capacity(group.len() * n);
            for &j in &group {
                matrix.extend_from_slice(&jobs[j].prepared.row);
            }
            let matrix = Array2::from_shape_vec((group.len(), n), matrix).map_err(|_| {
                ModelError::FeatureCount {
                    expected: n,
                    found: 0,
                }
            })?;
            let predictions = model.predict_rows(matrix.view(), explain)?;
            for (&j, prediction) in group.iter().zip(predictions) {
                views[j] = Some(ok_view(model, &prediction, &jobs[j].prepared.row));
            }
        }
        for (j, view) in views.into_iter().enumerate() {
            if let Some(view) = view {
                out[j].push(view);
            }
        }
    }
    Ok(out)
}

fn model_ref(model: &OutcomeModel) -> ModelRef {
    ModelRef {
        id: model.outcome().id().to_string(),
        version: model.manifest().version.clone(),
        sha256: model.primary_sha256().to_string(),
    }
}

fn not_applicable(model: &OutcomeModel, reason: String) -> PredictionView {
    PredictionView {
        outcome: model.outcome().id().to_string(),
        status: Status::NotApplicable,
        reason: Some(reason),
        probability: None,
        quantity: None,
        risk_band: None,
        baseline: None,
        relative_risk: None,
        model: model_ref(model),
        explanation: None,
    }
}

/// The band holding `x`: `[lower, upper)`, the last band closed above.
pub fn risk_band(bands: &[RiskBand], x: f64) -> Option<String> {
    let last = bands.len().checked_sub(1)?;
    bands
        .iter()
        .enumerate()
        .find(|(i, b)| x >= b.lower && (x < b.upper || (*i == last && x <= b.upper)))
        .map(|(_, b)| b.name.clone())
}

fn ok_view(model: &OutcomeModel, prediction: &Prediction, row: &[f64]) -> PredictionView {
    let manifest = model.manifest();
    let outcome = model.outcome();
    let baseline = manifest.training.baseline;
    let value = match outcome.kind() {
        OutcomeKind::Probability => prediction.probability,
        OutcomeKind::Quantity => prediction.quantity.map(|q| q.median),
    };
    PredictionView {
        outcome: outcome.id().to_string(),
        status: Status::Ok,
        reason: None,
        probability: prediction.probability,
        quantity: prediction.quantity.map(|q| QuantityView {
            median: q.median,
            p10: q.p10,
            p90: q.p90,
            unit: "mL".to_string(),
        }),
        risk_band: value.and_then(|v| risk_band(&manifest.risk_bands, v)),
        baseline: Some(baseline),
        relative_risk: value.filter(|_| baseline > 0.0).map(|v| v / baseline),
        model: model_ref(model),
        explanation: prediction.explanation.as_ref().map(|e| {
            let to_outcome = |raw: f64| match outcome.kind() {
                OutcomeKind::Probability => model.probability(raw),
                OutcomeKind::Quantity => raw.exp(),
            };
            explain::explanation_view(
                outcome.kind(),
                &manifest.features,
                row,
                prediction.raw,
                e,
                to_outcome,
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_band_is_half_open_with_a_closed_last_band() {
        let bands = vec![
            RiskBand {
                name: "low".into(),
                lower: 0.0,
                upper: 0.5,
            },
            RiskBand {
                name: "high".into(),
                lower: 0.5,
                upper: 1.0,
            },
        ];
        assert_eq!(risk_band(&bands, 0.5).as_deref(), Some("high"));
        assert_eq!(risk_band(&bands, 1.0).as_deref(), Some("high"));
        assert_eq!(risk_band(&bands, 0.1).as_deref(), Some("low"));
    }
}
