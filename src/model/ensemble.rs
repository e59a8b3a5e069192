//! The native serving ensemble: an outcome's LightGBM model(s) parsed into immutable
//! `Send + Sync` tree ensembles that predict raw scores and explain them with exact TreeSHAP.
//! (Skeleton: the helper that owns this module replaces the bodies.)

use crate::features::Patient;

use super::manifest::ModelManifest;

/// Why a model set could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not implemented yet")]
    NotImplemented,
}

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

/// A loaded, verified model set.
#[derive(Debug)]
pub struct ModelSet {}

impl ModelSet {
    /// Loads the set at `dir`, verifying every SHA-256.
    ///
    /// # Errors
    /// Missing or tampered files, unparsable models.
    pub fn load(_dir: &std::path::Path) -> Result<Self, ModelError> {
        Err(ModelError::NotImplemented)
    }

    /// The manifest of an outcome's model.
    pub fn manifest(&self, _outcome: crate::outcomes::Outcome) -> Option<&ModelManifest> {
        None
    }

    /// Predicts (and, when `explain`, explains) a batch of patients for one outcome. Patients
    /// outside the outcome's population must be filtered by the caller (`Outcome::applies_to`).
    ///
    /// # Errors
    /// When the outcome has no model in this set.
    pub fn predict_batch(
        &self,
        _outcome: crate::outcomes::Outcome,
        _patients: &[Patient],
        _explain: bool,
    ) -> Result<Vec<Prediction>, ModelError> {
        Err(ModelError::NotImplemented)
    }
}
