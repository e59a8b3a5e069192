//! Exports the dictionary as data: a JSON Schema (draft 2020-12) for one patient and a
//! feature-dictionary JSON. The checked-in copies under `schemas/` are written by
//! `periop schemas --out schemas/` and a test fails when they drift from [`FEATURES`].

use serde_json::{json, Map, Value};

use super::clinical_terms;
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

/// [`feature_dictionary_json`] for people filling a form: every input and derived feature also
/// carries its clinician `label` (`clinical_terms`), and every enum its `level_labels` (the
/// levels in words, in level order). The checked-in `schemas/feature_dictionary.json` stays the
/// plain export.
pub fn labelled_feature_dictionary_json() -> Value {
    let mut dictionary = feature_dictionary_json();
    for list in ["features", "derived"] {
        let Some(items) = dictionary.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for item in items {
            let Some(name) = item.get("name").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            let level_labels: Option<Vec<String>> =
                item.get("levels").and_then(Value::as_array).map(|levels| {
                    levels
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|l| clinical_terms::level_text(&name, l))
                        .collect()
                });
            if let Some(object) = item.as_object_mut() {
                object.insert("label".into(), json!(clinical_terms::label(&name)));
                if let Some(labels) = level_labels {
                    object.insert("level_labels".into(), json!(labels));
                }
            }
        }
    }
    dictionary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_labelled_dictionary_adds_labels_to_the_plain_export_and_nothing_else() {
        let plain = feature_dictionary_json();
        let labelled = labelled_feature_dictionary_json();
        assert_eq!(labelled["version"], plain["version"]);
        let features = labelled["features"].as_array().expect("features");
        assert_eq!(features.len(), FEATURES.len());
        for (f, spec) in features.iter().zip(FEATURES) {
            assert_eq!(f["name"], spec.name);
            assert_eq!(
                f["label"],
                clinical_terms::label(spec.name),
                "{}",
                spec.name
            );
            let mut stripped = f.clone();
            if let Some(o) = stripped.as_object_mut() {
                o.remove("label");
                o.remove("level_labels");
            }
            let original = plain["features"]
                .as_array()
                .and_then(|a| a.iter().find(|p| p["name"] == spec.name))
                .expect("in the plain export");
            assert_eq!(&stripped, original, "{}", spec.name);
        }
        let diabetes = features
            .iter()
            .find(|f| f["name"] == "diabetes")
            .expect("diabetes");
        assert_eq!(
            diabetes["level_labels"],
            json!(["none", "non-insulin-treated", "insulin-treated"])
        );
        let age = features
            .iter()
            .find(|f| f["name"] == "age_years")
            .expect("age");
        assert_eq!(age["label"], "Age");
        assert!(age.get("level_labels").is_none());
        for d in labelled["derived"].as_array().expect("derived") {
            assert!(d["label"].as_str().is_some_and(|l| !l.is_empty()), "{d}");
        }
    }
}
