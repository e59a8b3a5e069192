//! Exports the dictionary as data: a JSON Schema (draft 2020-12) for one patient and a
//! feature-dictionary JSON. The checked-in copies under `schemas/` are written by
//! `periop schemas --out schemas/` and a test fails when they drift from [`FEATURES`].

use serde_json::{json, Map, Value};

use super::derived::{CAPRINI_NOT_CAPTURED, HYPERVASCULAR};
use super::dictionary::{FeatureKind, DICTIONARY_VERSION, FEATURES};
use super::model_input::DERIVED_FEATURES;

/// JSON Schema of one patient object (the `patient` of an assessment request).
pub fn patient_json_schema() -> Value {
    let mut properties = Map::new();
    for f in FEATURES {
        // `null` means missing, which only optional features may be.
        let typed = |t: &str| {
            if f.required {
                json!(t)
            } else {
                json!([t, "null"])
            }
        };
        let mut p = match f.kind {
            FeatureKind::Number { min, max } => {
                json!({"type": typed("number"), "minimum": min, "maximum": max})
            }
            FeatureKind::Integer { min, max } => {
                json!({"type": typed("integer"), "minimum": min, "maximum": max})
            }
            FeatureKind::Boolean => json!({"type": typed("boolean")}),
            FeatureKind::Enum { levels, .. } => {
                let mut levels: Vec<Value> = levels.iter().map(|l| json!(l)).collect();
                if !f.required {
                    levels.push(Value::Null);
                }
                json!({"type": typed("string"), "enum": levels})
            }
        };
        let mut description = f.description.to_string();
        if let Some(unit) = f.unit {
            description.push_str(&format!(" [{unit}]"));
        }
        p["description"] = json!(description);
        properties.insert(f.name.to_string(), p);
    }
    let required: Vec<&str> = FEATURES
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://periop.example/schemas/patient.schema.json",
        "title": "periop patient and planned spine surgery",
        "description": format!("Feature dictionary v{DICTIONARY_VERSION}. Missing = key absent or null. Ranges are physiological limits: values outside them are rejected, never clamped."),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The feature dictionary as JSON: every input with type, unit, range, levels, codes and
/// description, plus the derived features.
pub fn feature_dictionary_json() -> Value {
    json!({
        "version": DICTIONARY_VERSION,
        "features": FEATURES,
        "derived": DERIVED_FEATURES.iter().map(|name| json!({
            "name": name,
            "description": match *name {
                "hypervascular_tumor" => format!("tumor_histology in {}", HYPERVASCULAR.join(", ")),
                "nadler_blood_volume_ml" => "Nadler estimated blood volume (mL) from sex, height and weight".to_string(),
                "mfi5" => "mFI-5: diabetes + copd + congestive_heart_failure + hypertension + dependent functional status".to_string(),
                _ => format!("Caprini score from the available items (age band, BMI > 25, surgery > 45 min, malignancy, history of VTE, COPD, CHF); never assessed: {}", CAPRINI_NOT_CAPTURED.join(", ")),
            },
        })).collect::<Vec<_>>(),
    })
}
