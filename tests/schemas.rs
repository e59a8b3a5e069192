//! The checked-in `schemas/` files and the feature dictionary in code must agree; and the JSON
//! Schema must accept exactly what the Rust validator accepts on representative patients.

use periop::features::schema::{feature_dictionary_json, patient_json_schema};
use periop::features::{Patient, FEATURES};
use serde_json::{json, Value};

fn checked_in(name: &str) -> Value {
    let path = format!("{}/schemas/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn checked_in_patient_schema_matches_the_code() {
    assert_eq!(
        checked_in("patient.schema.json"),
        patient_json_schema(),
        "schemas/patient.schema.json drifted from src/features/dictionary.rs: run `periop schemas --out schemas`"
    );
}

#[test]
fn checked_in_feature_dictionary_matches_the_code() {
    assert_eq!(
        checked_in("feature_dictionary.json"),
        feature_dictionary_json(),
        "schemas/feature_dictionary.json drifted from src/features/dictionary.rs: run `periop schemas --out schemas`"
    );
}

#[test]
fn every_dictionary_feature_is_in_the_schema_with_its_range() {
    let schema = checked_in("patient.schema.json");
    for f in FEATURES {
        let p = &schema["properties"][f.name];
        assert!(p.is_object(), "{} missing from schema", f.name);
        if let periop::features::FeatureKind::Number { min, max } = f.kind {
            assert_eq!(p["minimum"], json!(min), "{}", f.name);
            assert_eq!(p["maximum"], json!(max), "{}", f.name);
        }
    }
    let required: Vec<&str> = FEATURES
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    assert_eq!(schema["required"], json!(required));
}

#[test]
fn a_minimal_valid_patient_parses_and_reports_what_is_missing() {
    let body =
        json!({"age_years": 64, "sex": "female", "procedure": "lumbar_fusion", "fused_levels": 2});
    let patient = Patient::from_json(body.as_object().expect("object")).expect("valid");
    assert!(patient.missing().contains(&"hemoglobin_g_dl"));
    assert!(!patient.missing().contains(&"age_years"));
}

#[test]
fn every_problem_in_a_json_patient_is_reported_with_its_field() {
    let body = json!({
        "age_years": 130,
        "sex": "unknown",
        "procedure": "acdf",
        "fusion_to_sacrum": true,
        "hypertension": "yes",
        "asa_class": 2.5,
        "favourite_colour": "blue"
    });
    let err = Patient::from_json(body.as_object().expect("object")).expect_err("invalid");
    let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
    for f in [
        "age_years",
        "sex",
        "fusion_to_sacrum",
        "hypertension",
        "asa_class",
        "favourite_colour",
    ] {
        assert!(fields.contains(&f), "{f} not reported in {err}");
    }
    let text = err.to_string();
    assert!(text.contains("age_years must be within 18..=100"), "{text}");
    assert!(text.contains("sex must be one of female, male"), "{text}");
    assert!(
        !text.contains("130"),
        "an error must not echo the patient's value: {text}"
    );
}

#[test]
fn a_missing_required_field_is_an_error() {
    let body = json!({"sex": "male", "procedure": "acdf"});
    let err = Patient::from_json(body.as_object().expect("object")).expect_err("invalid");
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(err.errors[0].field, "age_years");
}
