//! The feature dictionary and everything that turns raw input into validated model input:
//! the dictionary table, clinician labels and display units, patient parsing and validation, derived features, the model vector, and
//! the JSON Schema / dictionary export.

pub mod clinical_terms;
pub mod derived;
pub mod dictionary;
pub mod model_input;
pub mod patient;
pub mod schema;

pub use derived::Derived;
pub use dictionary::{FeatureKind, FeatureSpec, FEATURES};
pub use patient::{Constraint, FieldError, Patient, ValidationError};
