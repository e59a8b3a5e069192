//! A prepared patient: the validated patient with everything the rest of an assessment reads
//! from it computed once (derived features, the model input row, the canonical JSON form).

use serde_json::{Map, Value};

use crate::features::model_input::{model_feature_count, push_model_input};
use crate::features::{Derived, Patient};

/// The validated patient, its derived features and its model input row, computed once.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPatient {
    pub patient: Patient,
    pub derived: Derived,
    /// The model input vector (`features::model_input` order, `NaN` = missing).
    pub row: Vec<f64>,
}

impl PreparedPatient {
    /// Computes the derived features and the model row of a validated patient.
    pub fn new(patient: Patient) -> Self {
        let derived = Derived::of(&patient);
        let mut row = Vec::with_capacity(model_feature_count());
        push_model_input(&patient, &derived, &mut row);
        Self {
            patient,
            derived,
            row,
        }
    }

    /// The present inputs in canonical JSON form (booleans, enum levels, numbers).
    pub fn canonical(&self) -> Map<String, Value> {
        self.patient.to_json()
    }
}
