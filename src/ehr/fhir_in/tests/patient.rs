//! Age and sex.

use serde_json::json;

use super::*;

fn with_patient(p: Value) -> MappedPatient {
    map(&FhirInputs {
        patient: Some(p),
        ..inputs()
    })
}

#[test]
fn age_is_whole_years_at_the_surgery_date_else_today() {
    // Born 1956-03-01: 69 on 2026-02-20 (today), 70 on 2026-03-02 (the order's date).
    let m = with_patient(patient(Some("1956-03-01"), Some("male")));
    assert_eq!(m.patient.get("age_years"), Some(&json!(70)));
    let age = m
        .sources
        .iter()
        .find(|s| s.feature == "age_years")
        .expect("source");
    assert_eq!(age.reference, "Patient/pat-42");
    assert_eq!(age.date.as_deref(), Some("2026-03-02"));
    assert_eq!(m.patient.get("sex"), Some(&json!("male")));
    let no_order = map(&FhirInputs {
        patient: Some(patient(Some("1956-03-01"), Some("male"))),
        orders: Vec::new(),
        ..inputs()
    });
    assert_eq!(no_order.patient.get("age_years"), Some(&json!(69)));
    // occurrencePeriod.start is the surgery date too.
    let period = with(
        order("sr-1", "22612"),
        json!({"occurrenceDateTime": null, "occurrencePeriod": {"start": "2026-03-01T07:30:00Z"}}),
    );
    let m = map(&FhirInputs {
        patient: Some(patient(Some("1956-03-01"), Some("male"))),
        orders: vec![period],
        ..inputs()
    });
    assert_eq!(m.patient.get("age_years"), Some(&json!(70)));
}

#[test]
fn a_partial_birth_date_is_used_only_when_every_possible_day_gives_the_same_age() {
    // Surgery 2026-03-02: any day of February 1956 gives 70.
    let m = with_patient(patient(Some("1956-02"), Some("female")));
    assert_eq!(m.patient.get("age_years"), Some(&json!(70)));
    for birth in ["1956", "1956-03"] {
        let m = with_patient(patient(Some(birth), Some("female")));
        assert!(!m.patient.contains_key("age_years"), "{birth}");
        assert_eq!(
            problems(&m, "age_years"),
            vec![&ProblemKind::ImpreciseBirthDate {
                birth_date: birth.to_string()
            }]
        );
    }
}

#[test]
fn no_birth_date_leaves_age_missing_with_a_problem_naming_patient_birth_date() {
    let m = with_patient(patient(None, Some("female")));
    assert!(!m.patient.contains_key("age_years"));
    assert_eq!(
        problems(&m, "age_years"),
        vec![&ProblemKind::MissingElement {
            element: "Patient.birthDate".to_string()
        }]
    );
    let m = with_patient(patient(Some("11/04/1956"), Some("female")));
    assert!(matches!(
        problems(&m, "age_years")[..],
        [ProblemKind::NotConvertible { .. }]
    ));
    // Too young for the dictionary: reported, not clamped.
    let m = with_patient(patient(Some("2010-01-01"), Some("female")));
    assert_eq!(
        problems(&m, "age_years"),
        vec![&ProblemKind::OutOfRange {
            value: 16.0,
            unit: "a".to_string()
        }]
    );
    // No Patient at all.
    let m = map(&FhirInputs {
        patient: None,
        ..inputs()
    });
    assert_eq!(
        problems(&m, "age_years"),
        vec![&ProblemKind::MissingElement {
            element: "Patient.birthDate".to_string()
        }]
    );
    assert_eq!(
        problems(&m, "sex"),
        vec![&ProblemKind::MissingElement {
            element: "Patient.gender".to_string()
        }]
    );
}

#[test]
fn only_male_and_female_become_sex() {
    for gender in ["other", "unknown"] {
        let m = with_patient(patient(Some("1956-04-11"), Some(gender)));
        assert!(!m.patient.contains_key("sex"));
        assert_eq!(
            problems(&m, "sex"),
            vec![&ProblemKind::UnsupportedGender {
                gender: gender.to_string()
            }]
        );
    }
    let m = with_patient(patient(Some("1956-04-11"), None));
    assert_eq!(
        problems(&m, "sex"),
        vec![&ProblemKind::MissingElement {
            element: "Patient.gender".to_string()
        }]
    );
}
