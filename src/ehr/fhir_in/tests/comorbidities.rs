//! Conditions and medications.

use serde_json::json;

use super::*;

fn with_conditions(conditions: Vec<Value>) -> MappedPatient {
    map(&FhirInputs {
        conditions: Some(conditions),
        ..inputs()
    })
}

#[test]
fn a_refuted_condition_is_not_counted_and_reported() {
    let m = with_conditions(vec![condition(
        "htn",
        ICD,
        "I10",
        Some("active"),
        Some("refuted"),
    )]);
    assert_eq!(m.patient.get("hypertension"), Some(&json!(false)));
    assert_eq!(problems(&m, "hypertension"), vec![&ProblemKind::Refuted]);
    let m = with_conditions(vec![condition(
        "htn",
        ICD,
        "I10",
        Some("active"),
        Some("entered-in-error"),
    )]);
    assert_eq!(
        problems(&m, "hypertension"),
        vec![&ProblemKind::EnteredInError]
    );
    let m = with_conditions(vec![condition(
        "htn",
        SNOMED,
        "38341003",
        Some("active"),
        Some("confirmed"),
    )]);
    assert_eq!(m.patient.get("hypertension"), Some(&json!(true)));
    assert!(m.basis.contains(&"Condition/htn".to_string()));
}

#[test]
fn a_resolved_vte_counts_as_history_but_a_resolved_hypertension_does_not() {
    let m = with_conditions(vec![
        condition("vte", ICD, "I82.401", Some("resolved"), Some("confirmed")),
        condition("htn", ICD, "I10", Some("resolved"), None),
        // Abatement without a clinical status reads as resolved.
        with(
            condition("copd", ICD, "J44.9", None, None),
            json!({"abatementDateTime": "2020-01-01"}),
        ),
        // No clinical status, no abatement: counts.
        condition("ckd", ICD, "N18.3", None, None),
    ]);
    assert_eq!(m.patient.get("history_of_vte"), Some(&json!(true)));
    let vte = m
        .sources
        .iter()
        .find(|s| s.feature == "history_of_vte")
        .expect("source");
    assert_eq!(vte.reference, "Condition/vte");
    assert_eq!(vte.original.as_deref(), Some("ICD-10-CM I82.401"));
    assert_eq!(m.patient.get("hypertension"), Some(&json!(false)));
    assert_eq!(
        problems(&m, "hypertension"),
        vec![&ProblemKind::NotActive {
            status: "resolved".to_string()
        }]
    );
    assert_eq!(m.patient.get("copd"), Some(&json!(false)));
    assert_eq!(m.patient.get("chronic_kidney_disease"), Some(&json!(true)));
}

#[test]
fn comorbidities_are_absent_when_conditions_are_not_supplied_and_false_when_supplied_empty() {
    let absent = map(&FhirInputs {
        conditions: None,
        medications: None,
        ..inputs()
    });
    for feature in ["hypertension", "copd", "history_of_vte", "diabetes"] {
        assert!(!absent.patient.contains_key(feature), "{feature}");
    }
    assert!(absent.from_absence.is_empty());

    let empty = map(&inputs());
    assert_eq!(empty.patient.get("hypertension"), Some(&json!(false)));
    assert_eq!(empty.patient.get("history_of_vte"), Some(&json!(false)));
    assert_eq!(empty.patient.get("diabetes"), Some(&json!("none")));
    assert_eq!(
        empty.patient.get("bleeding_disorder_or_anticoagulant"),
        Some(&json!(false))
    );
    assert!(empty.from_absence.contains(&"copd".to_string()));
    assert!(!empty.sources.iter().any(|s| s.feature == "copd"));

    // Conditions supplied, medications not: what medications could also say stays missing.
    let partial = map(&FhirInputs {
        medications: None,
        ..inputs()
    });
    assert_eq!(partial.patient.get("hypertension"), Some(&json!(false)));
    for feature in [
        "bleeding_disorder_or_anticoagulant",
        "chronic_opioid_use",
        "chronic_steroid_use",
        "diabetes",
    ] {
        assert!(!partial.patient.contains_key(feature), "{feature}");
    }
}

#[test]
fn insulin_makes_diabetes_insulin_and_diabetes_alone_needs_medications_to_be_non_insulin() {
    let t2dm = condition("dm", ICD, "E11.9", Some("active"), None);
    let insulin = med_request("mr-ins", "274783", "active");
    let m = map(&FhirInputs {
        conditions: Some(vec![t2dm.clone()]),
        medications: Some(vec![insulin.clone()]),
        ..inputs()
    });
    assert_eq!(m.patient.get("diabetes"), Some(&json!("insulin")));
    assert!(m.basis.contains(&"MedicationRequest/mr-ins".to_string()));

    // Insulin use without a diabetes diagnosis still says insulin-treated diabetes.
    let m = map(&FhirInputs {
        conditions: None,
        medications: Some(vec![insulin]),
        ..inputs()
    });
    assert_eq!(m.patient.get("diabetes"), Some(&json!("insulin")));

    let m = map(&FhirInputs {
        conditions: Some(vec![t2dm.clone()]),
        ..inputs()
    });
    assert_eq!(m.patient.get("diabetes"), Some(&json!("non_insulin")));

    let m = map(&FhirInputs {
        conditions: Some(vec![t2dm.clone()]),
        medications: None,
        ..inputs()
    });
    assert!(!m.patient.contains_key("diabetes"));
    assert!(matches!(
        problems(&m, "diabetes")[..],
        [ProblemKind::Undetermined { .. }]
    ));

    // ICD-10-CM Z79.4 says insulin without medications.
    let m = map(&FhirInputs {
        conditions: Some(vec![
            t2dm,
            condition("z794", ICD, "Z79.4", Some("active"), None),
        ]),
        medications: None,
        ..inputs()
    });
    assert_eq!(m.patient.get("diabetes"), Some(&json!("insulin")));
}

#[test]
fn an_unconfirmed_condition_neither_counts_nor_allows_no() {
    let m = with_conditions(vec![condition(
        "chf",
        ICD,
        "I50.9",
        Some("active"),
        Some("provisional"),
    )]);
    assert!(!m.patient.contains_key("congestive_heart_failure"));
    assert_eq!(
        problems(&m, "congestive_heart_failure"),
        vec![&ProblemKind::Unconfirmed {
            status: "provisional".to_string()
        }]
    );
    // A confirmed finding settles it regardless.
    let m = with_conditions(vec![
        condition("chf", ICD, "I50.9", Some("active"), Some("provisional")),
        condition(
            "chf2",
            SNOMED,
            "42343007",
            Some("active"),
            Some("confirmed"),
        ),
    ]);
    assert_eq!(
        m.patient.get("congestive_heart_failure"),
        Some(&json!(true))
    );
}

#[test]
fn medications_count_when_active_or_on_hold_by_ingredient_product_or_reference() {
    let on_hold = med_request("warf", "855332", "on-hold");
    let m = map(&FhirInputs {
        medications: Some(vec![on_hold]),
        ..inputs()
    });
    assert_eq!(
        m.patient.get("bleeding_disorder_or_anticoagulant"),
        Some(&json!(true))
    );
    let stopped = med_request("warf", "855332", "stopped");
    let m = map(&FhirInputs {
        medications: Some(vec![stopped]),
        ..inputs()
    });
    assert_eq!(
        m.patient.get("bleeding_disorder_or_anticoagulant"),
        Some(&json!(false))
    );

    // A statement with a contained Medication whose ingredient is prednisone.
    let statement = json!({
        "resourceType": "MedicationStatement", "id": "ms-1", "status": "active",
        "contained": [{"resourceType": "Medication", "id": "m1",
            "code": {"text": "prednisone 5 mg tablet"},
            "ingredient": [{"itemCodeableConcept": {"coding": [
                {"system": RXNORM, "code": "8640", "display": "prednisone"}]}}]}],
        "medicationReference": {"reference": "#m1"},
        "subject": {"reference": "Patient/pat-42"}
    });
    // A request referring to a supplied Medication resource (an opioid product).
    let referenced = json!({
        "resourceType": "MedicationRequest", "id": "mr-2", "status": "active",
        "medicationReference": {"reference": "Medication/oxy"},
        "subject": {"reference": "Patient/pat-42"}
    });
    let medication = json!({"resourceType": "Medication", "id": "oxy",
        "code": {"coding": [{"system": RXNORM, "code": "1049621"}]}});
    let unresolved = json!({
        "resourceType": "MedicationRequest", "id": "mr-3", "status": "active",
        "medicationReference": {"reference": "Medication/missing"},
        "subject": {"reference": "Patient/pat-42"}
    });
    let m = map(&FhirInputs {
        medications: Some(vec![statement, referenced, medication, unresolved]),
        ..inputs()
    });
    assert_eq!(m.patient.get("chronic_steroid_use"), Some(&json!(true)));
    assert_eq!(m.patient.get("chronic_opioid_use"), Some(&json!(true)));
    let steroid = m
        .sources
        .iter()
        .find(|s| s.feature == "chronic_steroid_use")
        .expect("source");
    assert_eq!(
        steroid.original.as_deref(),
        Some("RxNorm 8640 (prednisone) (systemic_corticosteroid)")
    );
    assert_eq!(problems(&m, "medications"), vec![&ProblemKind::NoCode]);
    // Z79.01 (long-term anticoagulant) is a condition route to the same feature.
    let m = map(&FhirInputs {
        conditions: Some(vec![condition(
            "z7901",
            ICD,
            "Z79.01",
            Some("active"),
            None,
        )]),
        medications: None,
        ..inputs()
    });
    assert_eq!(
        m.patient.get("bleeding_disorder_or_anticoagulant"),
        Some(&json!(true))
    );
}

#[test]
fn conditions_of_another_patient_are_not_counted() {
    let other = with(
        condition("htn", ICD, "I10", Some("active"), None),
        json!({"subject": {"reference": "Patient/other"}}),
    );
    let m = with_conditions(vec![other]);
    assert_eq!(m.patient.get("hypertension"), Some(&json!(false)));
    assert_eq!(
        problems(&m, "hypertension"),
        vec![&ProblemKind::OtherPatient {
            subject: "Patient/other".to_string()
        }]
    );
}
