//! The native serving ensemble: a verified model set whose LightGBM models are parsed into
//! immutable `Send + Sync` tree ensembles (`native.rs`) that predict raw scores, turn them into
//! calibrated probabilities or blood-loss quantities, and explain the primary model with exact
//! TreeSHAP. Batch-first: one patient is a batch of one. Loading and verification live in
//! `model_set.rs`.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2, Axis};

use crate::features::model_input::{model_feature_count, push_model_input};
use crate::features::{Derived, Patient};
use crate::outcomes::{Outcome, OutcomeKind};

pub use super::error::ModelError;
use super::manifest::{ModelManifest, ModelRole, ModelSetManifest};
use super::native::NativeModel;
use super::training_distribution::TrainingDistribution;

/// Blood-loss quantity in mL.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Quantity {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
}

/// Exact TreeSHAP explanation on the raw scale (log-odds, or ln mL for blood loss).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Explanation {
    pub base_value: f64,
    /// One per model feature, in manifest feature order; `base_value + sum = raw`.
    pub contributions: Vec<f64>,
}

/// One prediction for one patient.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// Raw score of the primary model (log-odds, or ln of the median mL).
    pub raw: f64,
    /// Calibrated probability (binary outcomes).
    pub probability: Option<f64>,
    /// Median and 80 % interval (blood loss).
    pub quantity: Option<Quantity>,
    pub explanation: Option<Explanation>,
}

/// The primary role of an outcome kind: the model whose raw score is reported and explained.
pub fn primary_role(kind: OutcomeKind) -> ModelRole {
    match kind {
        OutcomeKind::Probability => ModelRole::Probability,
        OutcomeKind::Quantity => ModelRole::Median,
    }
}

/// The roles an outcome kind's manifest must list, primary first.
pub fn required_roles(kind: OutcomeKind) -> &'static [ModelRole] {
    match kind {
        OutcomeKind::Probability => &[ModelRole::Probability],
        OutcomeKind::Quantity => &[ModelRole::Median, ModelRole::P10, ModelRole::P90],
    }
}

/// One outcome's verified manifest and parsed model(s).
#[derive(Debug, Clone)]
pub struct OutcomeModel {
    outcome: Outcome,
    manifest: ModelManifest,
    /// In [`required_roles`] order: the primary model first.
    models: Vec<(ModelRole, NativeModel)>,
}

impl OutcomeModel {
    /// Assembles an outcome model; `models` must hold [`required_roles`] in order (the loader
    /// guarantees it).
    pub(super) fn new(
        outcome: Outcome,
        manifest: ModelManifest,
        models: Vec<(ModelRole, NativeModel)>,
    ) -> Self {
        Self {
            outcome,
            manifest,
            models,
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The model whose raw score is reported and explained (Probability or Median role).
    pub fn primary(&self) -> &NativeModel {
        &self.models[0].1
    }

    /// SHA-256 of the primary model file (as verified at load).
    pub fn primary_sha256(&self) -> &str {
        self.manifest
            .file(primary_role(self.outcome.kind()))
            .map_or("", |f| f.sha256.as_str())
    }

    /// The model with a role, if this outcome has one.
    pub fn model(&self, role: ModelRole) -> Option<&NativeModel> {
        self.models.iter().find(|(r, _)| *r == role).map(|(_, m)| m)
    }

    /// Predicts (and, when `explain`, explains) row-major model inputs (`NaN` = missing), built by
    /// `features::model_input`.
    ///
    /// Binary outcomes: probability = the manifest's calibration applied to the raw score (or, with
    /// no calibration, LightGBM's own sigmoid). Blood loss: `exp` of the median, P10 and P90
    /// models' raw scores (ln mL). Quantile models are fitted separately and can cross; when they
    /// do, the interval is repaired so that `p10 ≤ median ≤ p90` while the median stays
    /// `exp(raw)` — the number the explanation adds up to: the two quantiles are swapped if
    /// crossed, then widened to include the median. Rows without crossing are untouched.
    ///
    /// # Errors
    /// [`ModelError::FeatureCount`] for a wrong column count.
    pub fn predict_rows(
        &self,
        rows: ArrayView2<'_, f64>,
        explain: bool,
    ) -> Result<Vec<Prediction>, ModelError> {
        let primary = self.primary();
        let (raw, explanations) = if explain {
            let e = primary.explain_raw(rows)?;
            let explanations: Vec<Explanation> = e
                .contributions
                .axis_iter(Axis(0))
                .map(|c| Explanation {
                    base_value: e.base_value,
                    contributions: c.to_vec(),
                })
                .collect();
            (e.raw, Some(explanations))
        } else {
            (primary.predict_raw(rows)?, None)
        };
        let quantiles = match (self.model(ModelRole::P10), self.model(ModelRole::P90)) {
            (Some(p10), Some(p90)) if self.outcome.kind() == OutcomeKind::Quantity => {
                Some((p10.predict_raw(rows)?, p90.predict_raw(rows)?))
            }
            _ => None,
        };
        let mut explanations = explanations.map(Vec::into_iter);
        let predictions = raw
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                let (probability, quantity) = match (self.outcome.kind(), &quantiles) {
                    (OutcomeKind::Probability, _) => (Some(self.probability(r)), None),
                    (OutcomeKind::Quantity, Some((p10, p90))) => {
                        (None, Some(ordered_quantity(r, p10[i], p90[i])))
                    }
                    // Not reached for a loaded set (the loader requires P10 and P90 files).
                    (OutcomeKind::Quantity, None) => (
                        None,
                        Some(Quantity {
                            median: r.exp(),
                            p10: f64::NAN,
                            p90: f64::NAN,
                        }),
                    ),
                };
                Prediction {
                    raw: r,
                    probability,
                    quantity,
                    explanation: explanations.as_mut().and_then(Iterator::next),
                }
            })
            .collect();
        Ok(predictions)
    }

    /// The calibrated probability of a raw score (binary outcomes): the map every prediction
    /// uses, also used to walk an explanation on the probability scale.
    pub fn probability(&self, raw: f64) -> f64 {
        match &self.manifest.calibration {
            Some(c) => c.apply(raw),
            None => self.primary().binary_probability(raw),
        }
    }
}

/// `exp` of the three ln-mL scores with the crossing repair documented on
/// [`OutcomeModel::predict_rows`].
fn ordered_quantity(raw_median: f64, raw_p10: f64, raw_p90: f64) -> Quantity {
    let median = raw_median.exp();
    let (lo, hi) = (raw_p10.exp(), raw_p90.exp());
    if lo <= median && median <= hi {
        return Quantity {
            median,
            p10: lo,
            p90: hi,
        };
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    Quantity {
        median,
        p10: lo.min(median),
        p90: hi.max(median),
    }
}

/// A loaded, verified model set: immutable and shareable across threads.
#[derive(Debug, Clone)]
pub struct ModelSet {
    dir: PathBuf,
    manifest: ModelSetManifest,
    outcomes: Vec<OutcomeModel>,
    training_distribution: Option<TrainingDistribution>,
    fhir_mapping: Option<Vec<u8>>,
}

// A model set is shared by every request thread: it must stay `Send + Sync`.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ModelSet>();
};

impl ModelSet {
    /// Loads the set at `dir`, verifying every SHA-256.
    ///
    /// # Errors
    /// Missing or tampered files, unparsable models.
    pub fn load(dir: &std::path::Path) -> Result<Self, ModelError> {
        super::model_set::load(dir)
    }

    pub(super) fn from_parts(
        dir: PathBuf,
        manifest: ModelSetManifest,
        outcomes: Vec<OutcomeModel>,
        training_distribution: Option<TrainingDistribution>,
        fhir_mapping: Option<Vec<u8>>,
    ) -> Self {
        Self {
            dir,
            manifest,
            outcomes,
            training_distribution,
            fhir_mapping,
        }
    }

    /// The bytes of the set's FHIR mapping file, hash-verified (`None`: the set lists none).
    /// The EHR adapter parses them (`ehr::mapping`).
    pub fn fhir_mapping_bytes(&self) -> Option<&[u8]> {
        self.fhir_mapping.as_deref()
    }

    /// The distribution of every input over the training data (`training_distribution.json`),
    /// verified at load; `None` for sets written before it was recorded.
    pub fn training_distribution(&self) -> Option<&TrainingDistribution> {
        self.training_distribution.as_ref()
    }

    /// The directory the set was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `model_set.json`.
    pub fn set_manifest(&self) -> &ModelSetManifest {
        &self.manifest
    }

    /// The manifest of an outcome's model.
    pub fn manifest(&self, outcome: crate::outcomes::Outcome) -> Option<&ModelManifest> {
        self.outcome_model(outcome).map(OutcomeModel::manifest)
    }

    /// An outcome's model(s).
    pub fn outcome_model(&self, outcome: Outcome) -> Option<&OutcomeModel> {
        self.outcomes.iter().find(|m| m.outcome == outcome)
    }

    /// Outcomes with a model in this set, in `model_set.json` order.
    pub fn outcomes(&self) -> impl Iterator<Item = Outcome> + '_ {
        self.outcomes.iter().map(|m| m.outcome)
    }

    /// Predicts (and, when `explain`, explains) a batch of patients for one outcome. Patients
    /// outside the outcome's population must be filtered by the caller (`Outcome::applies_to`).
    ///
    /// # Errors
    /// When the outcome has no model in this set.
    pub fn predict_batch(
        &self,
        outcome: crate::outcomes::Outcome,
        patients: &[Patient],
        explain: bool,
    ) -> Result<Vec<Prediction>, ModelError> {
        let model = self.outcome_model(outcome).ok_or(ModelError::NoModel {
            outcome: outcome.id(),
        })?;
        model.predict_rows(model_matrix(patients)?.view(), explain)
    }

    /// One patient: [`ModelSet::predict_batch`] with a batch of one.
    ///
    /// # Errors
    /// When the outcome has no model in this set.
    pub fn predict_one(
        &self,
        outcome: Outcome,
        patient: &Patient,
        explain: bool,
    ) -> Result<Prediction, ModelError> {
        let mut predictions =
            self.predict_batch(outcome, std::slice::from_ref(patient), explain)?;
        predictions.pop().ok_or(ModelError::NoModel {
            outcome: outcome.id(),
        })
    }
}

/// The row-major model input matrix of a batch of patients.
///
/// # Errors
/// Never for inputs built by `model_input` (kept as an error rather than a panic).
pub fn model_matrix(patients: &[Patient]) -> Result<Array2<f64>, ModelError> {
    let n = model_feature_count();
    let mut buf = Vec::with_capacity(patients.len() * n);
    for p in patients {
        push_model_input(p, &Derived::of(p), &mut buf);
    }
    let found = if patients.is_empty() {
        n
    } else {
        buf.len() / patients.len()
    };
    Array2::from_shape_vec((patients.len(), n), buf)
        .map_err(|_| ModelError::FeatureCount { expected: n, found })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn uncrossed_quantiles_are_untouched() {
        let q = ordered_quantity(6.0_f64.ln(), 2.0_f64.ln(), 9.0_f64.ln());
        assert!(
            (q.median - 6.0).abs() < 1e-12
                && (q.p10 - 2.0).abs() < 1e-12
                && (q.p90 - 9.0).abs() < 1e-12
        );
    }

    #[test]
    fn crossed_quantiles_are_ordered_around_the_median() {
        // P10 above P90: swapped.
        let q = ordered_quantity(5.0_f64.ln(), 9.0_f64.ln(), 2.0_f64.ln());
        assert!((q.p10 - 2.0).abs() < 1e-12 && (q.p90 - 9.0).abs() < 1e-12);
        // Median above both quantiles: the median stays, P90 is raised to it.
        let q = ordered_quantity(10.0_f64.ln(), 2.0_f64.ln(), 9.0_f64.ln());
        assert!(
            (q.median - 10.0).abs() < 1e-12
                && (q.p10 - 2.0).abs() < 1e-12
                && (q.p90 - 10.0).abs() < 1e-12
        );
        assert!(q.p10 <= q.median && q.median <= q.p90);
    }
}
