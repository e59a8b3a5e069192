//! Unit tests of the FHIR input adapter, by concern, over the shipped mapping file.

mod comorbidities;
mod inputs;
mod observations;
mod patient;
mod surgery;

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::*;
use crate::ehr::mapping::tests::shipped;

pub(super) const LOINC: &str = "http://loinc.org";
pub(super) const UCUM: &str = "http://unitsofmeasure.org";
pub(super) const ICD: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub(super) const SNOMED: &str = "http://snomed.info/sct";
pub(super) const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub(super) const CPT: &str = "http://www.ama-assn.org/go/cpt";

/// The fixed "today" of every test.
pub(super) fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 2, 20).expect("date")
}

/// `base` with the members of `patch` set (a `null` member removes it).
pub(super) fn with(mut base: Value, patch: Value) -> Value {
    let (Some(object), Value::Object(patch)) = (base.as_object_mut(), patch) else {
        panic!("objects only");
    };
    for (k, v) in patch {
        if v.is_null() {
            object.remove(&k);
        } else {
            object.insert(k, v);
        }
    }
    base
}

pub(super) fn patient(birth: Option<&str>, gender: Option<&str>) -> Value {
    let mut p = json!({"resourceType": "Patient", "id": "pat-42"});
    if let Some(b) = birth {
        p["birthDate"] = json!(b);
    }
    if let Some(g) = gender {
        p["gender"] = json!(g);
    }
    p
}

/// A final Observation with a UCUM valueQuantity.
pub(super) fn quantity(id: &str, loinc: &str, value: f64, code: &str, date: &str) -> Value {
    json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": "Patient/pat-42"},
        "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": code, "system": UCUM, "code": code}
    })
}

pub(super) fn condition(
    id: &str,
    system: &str,
    code: &str,
    clinical: Option<&str>,
    verification: Option<&str>,
) -> Value {
    let mut c = json!({
        "resourceType": "Condition", "id": id,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/pat-42"}
    });
    if let Some(s) = clinical {
        c["clinicalStatus"] = json!({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": s}]});
    }
    if let Some(s) = verification {
        c["verificationStatus"] = json!({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": s}]});
    }
    c
}

pub(super) fn med_request(id: &str, rxnorm: &str, status: &str) -> Value {
    json!({
        "resourceType": "MedicationRequest", "id": id, "status": status, "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxnorm}]},
        "subject": {"reference": "Patient/pat-42"}
    })
}

/// A draft ServiceRequest with one CPT code.
pub(super) fn order(id: &str, cpt: &str) -> Value {
    json!({
        "resourceType": "ServiceRequest", "id": id, "status": "draft", "intent": "order",
        "code": {"coding": [{"system": CPT, "code": cpt}]},
        "subject": {"reference": "Patient/pat-42"},
        "occurrenceDateTime": "2026-03-02"
    })
}

/// A patient, no observations, conditions and medications supplied and empty, one fusion order.
pub(super) fn inputs() -> FhirInputs {
    FhirInputs {
        patient: Some(patient(Some("1956-04-11"), Some("female"))),
        observations: Some(Vec::new()),
        conditions: Some(Vec::new()),
        medications: Some(Vec::new()),
        procedures: None,
        orders: vec![order("sr-1", "22612")],
        ..FhirInputs::default()
    }
}

pub(super) fn map(inputs: &FhirInputs) -> MappedPatient {
    map_patient(inputs, &shipped(), today())
}

/// The problem kinds reported for a feature.
pub(super) fn problems<'a>(m: &'a MappedPatient, feature: &str) -> Vec<&'a ProblemKind> {
    m.problems
        .iter()
        .filter(|p| p.feature == feature)
        .map(|p| &p.kind)
        .collect()
}

pub(super) fn number(m: &MappedPatient, feature: &str) -> Option<f64> {
    m.patient.get(feature).and_then(Value::as_f64)
}

#[test]
fn problems_serialise_with_snake_case_tags_and_read_as_one_line() {
    let p = InputProblem {
        feature: "hemoglobin_g_dl".to_string(),
        reference: Some("Observation/hb-1".to_string()),
        kind: ProblemKind::Stale {
            date: "2025-10-01".to_string(),
            lookback_days: 90,
        },
    };
    let v = serde_json::to_value(&p).expect("serialise");
    assert_eq!(
        v,
        json!({"feature": "hemoglobin_g_dl", "reference": "Observation/hb-1",
               "kind": "stale", "date": "2025-10-01", "lookback_days": 90})
    );
    let back: InputProblem = serde_json::from_value(v).expect("deserialise");
    assert_eq!(back, p);
    assert_eq!(
        p.to_string(),
        "hemoglobin_g_dl: latest value (2025-10-01) is older than the 90-day look-back (Observation/hb-1)"
    );
    let unit = ProblemKind::UnknownUnit {
        unit: "mg/L".to_string(),
    };
    assert_eq!(
        serde_json::to_value(&unit).expect("serialise"),
        json!({"kind": "unknown_unit", "unit": "mg/L"})
    );
    assert_eq!(
        serde_json::to_value(ProblemKind::EnteredInError).expect("serialise"),
        json!({"kind": "entered_in_error"})
    );
    for kind in [
        ProblemKind::NoValue,
        ProblemKind::Incomplete {
            key: "labs".to_string(),
        },
        ProblemKind::OutOfRange {
            value: 112.0,
            unit: "g/dL".to_string(),
        },
        ProblemKind::Conflict {
            detail: "a vs b".to_string(),
        },
    ] {
        let line = kind.to_string();
        assert!(!line.is_empty() && !line.contains('\n'), "{line}");
    }
}
