//! The model input vector: every dictionary feature (BMI filled from height and weight when
//! absent) followed by the derived features, `NaN` for missing. One function builds it for
//! training, evaluation and serving so the three can never disagree.

use super::derived::Derived;
use super::dictionary::{FeatureKind, FEATURES};
use super::patient::Patient;

/// Names of the derived features appended after the dictionary inputs.
pub const DERIVED_FEATURES: &[&str] = &[
    "hypervascular_tumor",
    "nadler_blood_volume_ml",
    "mfi5",
    "caprini_score",
];

/// Units of the derived features, in [`DERIVED_FEATURES`] order.
const DERIVED_UNITS: &[Option<&str>] = &[None, Some("mL"), None, None];

/// All model feature names, in input-vector order.
pub fn model_feature_names() -> Vec<&'static str> {
    FEATURES
        .iter()
        .map(|f| f.name)
        .chain(DERIVED_FEATURES.iter().copied())
        .collect()
}

/// Number of model features.
pub fn model_feature_count() -> usize {
    FEATURES.len() + DERIVED_FEATURES.len()
}

/// Unit of a model feature, for explanations.
pub fn model_feature_unit(index: usize) -> Option<&'static str> {
    match FEATURES.get(index) {
        Some(spec) => spec.unit,
        None => DERIVED_UNITS.get(index - FEATURES.len()).copied().flatten(),
    }
}

/// Indices of nominal model features (documentation and future use; see `FeatureKind::Enum`).
pub fn categorical_feature_indices() -> Vec<usize> {
    FEATURES
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f.kind, FeatureKind::Enum { nominal: true, .. }))
        .map(|(i, _)| i)
        .collect()
}

/// Appends the model input of one patient to `out` (row-major batches reuse one buffer).
pub fn push_model_input(patient: &Patient, derived: &Derived, out: &mut Vec<f64>) {
    let bmi = crate::features::dictionary::idx("bmi");
    for i in 0..FEATURES.len() {
        let v = if i == bmi {
            derived.bmi
        } else {
            patient.value(i)
        };
        out.push(v.unwrap_or(f64::NAN));
    }
    out.push(
        derived
            .hypervascular_tumor
            .map_or(f64::NAN, |h| f64::from(u8::from(h))),
    );
    out.push(derived.nadler_blood_volume_ml.unwrap_or(f64::NAN));
    out.push(f64::from(derived.mfi5.score));
    out.push(f64::from(derived.caprini.score));
}

/// The model input of one patient.
pub fn model_input(patient: &Patient) -> Vec<f64> {
    let mut out = Vec::with_capacity(model_feature_count());
    push_model_input(patient, &Derived::of(patient), &mut out);
    out
}
