//! Observations: latest valid result, units, look-back, ranges, value types.

use serde_json::json;

use super::*;

#[test]
fn the_same_patient_in_other_units_maps_to_the_same_dictionary_values() {
    let date = "2026-02-10T08:30:00Z";
    let dictionary_units = vec![
        quantity("hb", "718-7", 11.2, "g/dL", date),
        quantity("cr", "2160-0", 1.0, "mg/dL", date),
        quantity("wt", "29463-7", 79.832_257_12, "kg", date),
        quantity("ht", "8302-2", 170.18, "cm", date),
        quantity("plt", "777-3", 250.0, "10*9/L", date),
        quantity("alb", "1751-7", 4.1, "g/dL", date),
        quantity("dd", "48065-7", 0.5, "mg/L{FEU}", date),
    ];
    let other_units = vec![
        quantity("hb", "718-7", 112.0, "g/L", date),
        quantity("cr", "14682-9", 88.4, "umol/L", date),
        quantity("wt", "29463-7", 176.0, "[lb_av]", date),
        quantity("ht", "8302-2", 67.0, "[in_i]", date),
        quantity("plt", "777-3", 250.0, "10*3/uL", date),
        quantity("alb", "1751-7", 41.0, "g/L", date),
        quantity("dd", "48065-7", 500.0, "ng/mL", date),
    ];
    let a = map(&FhirInputs {
        observations: Some(dictionary_units),
        ..inputs()
    });
    let b = map(&FhirInputs {
        observations: Some(other_units),
        ..inputs()
    });
    for feature in [
        "hemoglobin_g_dl",
        "creatinine_mg_dl",
        "weight_kg",
        "height_cm",
        "platelets_10e9_l",
        "albumin_g_dl",
        "d_dimer_mg_l_feu",
    ] {
        let (x, y) = (number(&a, feature), number(&b, feature));
        let (Some(x), Some(y)) = (x, y) else {
            panic!("{feature}: {x:?} vs {y:?}; problems {:?}", b.problems);
        };
        assert!((x - y).abs() < 1e-9, "{feature}: {x} vs {y}");
    }
    assert_eq!(number(&b, "hemoglobin_g_dl"), Some(11.2));
    assert_eq!(number(&b, "creatinine_mg_dl"), Some(1.0));
    let hb = b
        .sources
        .iter()
        .find(|s| s.feature == "hemoglobin_g_dl")
        .expect("source");
    assert_eq!(hb.reference, "Observation/hb");
    assert_eq!(hb.original.as_deref(), Some("112.0 g/L"));
    assert_eq!(hb.date.as_deref(), Some(date));
    assert!(b.basis.contains(&"Observation/cr".to_string()));
    assert!(
        !a.patient.contains_key("bmi"),
        "BMI is left to periop to derive"
    );
}

#[test]
fn an_unknown_unit_leaves_the_value_missing_and_names_the_unit() {
    let mut local = quantity("hb2", "718-7", 11.0, "g/dL", "2026-02-11");
    local["valueQuantity"]["system"] = json!("http://lab.example/units");
    for (obs, unit) in [
        (quantity("hb", "718-7", 1.12, "g/mL", "2026-02-11"), "g/mL"),
        (local, "g/dL (system http://lab.example/units)"),
    ] {
        let m = map(&FhirInputs {
            observations: Some(vec![obs]),
            ..inputs()
        });
        assert!(!m.patient.contains_key("hemoglobin_g_dl"));
        assert_eq!(
            problems(&m, "hemoglobin_g_dl"),
            vec![&ProblemKind::UnknownUnit {
                unit: unit.to_string()
            }]
        );
    }
}

#[test]
fn an_entered_in_error_result_is_dropped_and_the_older_final_one_used() {
    let wrong = with(
        quantity("hb-new", "718-7", 7.0, "g/dL", "2026-02-15"),
        json!({"status": "entered-in-error"}),
    );
    let cancelled = with(
        quantity("hb-cxl", "718-7", 6.0, "g/dL", "2026-02-16"),
        json!({"status": "cancelled"}),
    );
    let old = quantity("hb-old", "718-7", 11.0, "g/dL", "2026-02-01");
    let older_error = with(
        quantity("hb-2025", "718-7", 9.0, "g/dL", "2026-01-01"),
        json!({"status": "entered-in-error"}),
    );
    let m = map(&FhirInputs {
        observations: Some(vec![old, wrong, older_error, cancelled]),
        ..inputs()
    });
    assert_eq!(number(&m, "hemoglobin_g_dl"), Some(11.0));
    let reported: Vec<(&str, &ProblemKind)> = m
        .problems
        .iter()
        .filter(|p| p.feature == "hemoglobin_g_dl")
        .map(|p| (p.reference.as_deref().unwrap_or(""), &p.kind))
        .collect();
    assert_eq!(
        reported,
        vec![
            ("Observation/hb-cxl", &ProblemKind::Cancelled),
            ("Observation/hb-new", &ProblemKind::EnteredInError),
        ],
        "only the newer dropped results are reported"
    );
    assert!(!m.basis.contains(&"Observation/hb-new".to_string()));
}

#[test]
fn a_stale_result_is_missing_and_reported_with_its_date() {
    let m = map(&FhirInputs {
        observations: Some(vec![
            quantity("hb", "718-7", 12.0, "g/dL", "2025-10-01"),
            quantity("wt", "29463-7", 80.0, "kg", "2025-10-01"),
            quantity("inr", "6301-6", 1.0, "{INR}", "2026-01-10"),
        ]),
        ..inputs()
    });
    assert!(!m.patient.contains_key("hemoglobin_g_dl"));
    assert_eq!(
        problems(&m, "hemoglobin_g_dl"),
        vec![&ProblemKind::Stale {
            date: "2025-10-01".to_string(),
            lookback_days: 90
        }]
    );
    assert_eq!(number(&m, "weight_kg"), Some(80.0), "365-day window");
    assert!(!m.patient.contains_key("inr"), "41 days > 30");
    // A partial date counts from its first possible day.
    let m = map(&FhirInputs {
        observations: Some(vec![quantity("hb", "718-7", 12.0, "g/dL", "2025-11")]),
        ..inputs()
    });
    assert!(matches!(
        problems(&m, "hemoglobin_g_dl")[..],
        [ProblemKind::Stale { .. }]
    ));
}

#[test]
fn d_dimer_in_ddu_is_reported_and_never_converted() {
    let ddu = quantity("dd-ddu", "48066-5", 250.0, "ng/mL{DDU}", "2026-02-12");
    let feu_older = quantity("dd-feu", "48065-7", 0.4, "mg/L{FEU}", "2026-02-01");
    let m = map(&FhirInputs {
        observations: Some(vec![ddu.clone(), feu_older.clone()]),
        ..inputs()
    });
    assert!(!m.patient.contains_key("d_dimer_mg_l_feu"));
    assert_eq!(
        problems(&m, "d_dimer_mg_l_feu"),
        vec![&ProblemKind::NotConvertible {
            detail: "DDU not convertible to FEU".to_string()
        }]
    );
    // A newer FEU result is used.
    let feu_newer = quantity("dd-feu2", "48065-7", 0.6, "mg/L", "2026-02-15");
    let m = map(&FhirInputs {
        observations: Some(vec![ddu, feu_older, feu_newer]),
        ..inputs()
    });
    assert_eq!(number(&m, "d_dimer_mg_l_feu"), Some(0.6));
}

#[test]
fn the_latest_result_wins_and_last_updated_breaks_ties() {
    let at = |id: &str, v: f64, updated: &str| {
        with(
            quantity(id, "718-7", v, "g/dL", "2026-02-10"),
            json!({"meta": {"lastUpdated": updated}}),
        )
    };
    let m = map(&FhirInputs {
        observations: Some(vec![
            at("a", 10.0, "2026-02-10T09:00:00Z"),
            at("b", 10.5, "2026-02-10T12:00:00Z"),
            quantity("c", "718-7", 13.0, "g/dL", "2026-01-20T08:00:00+01:00"),
        ]),
        ..inputs()
    });
    assert_eq!(number(&m, "hemoglobin_g_dl"), Some(10.5));
    // effectivePeriod.end and issued are clinical times too.
    let period = with(
        quantity("p", "718-7", 9.0, "g/dL", "x"),
        json!({"effectiveDateTime": null,
               "effectivePeriod": {"start": "2026-02-01", "end": "2026-02-14"}}),
    );
    let issued = with(
        quantity("i", "718-7", 8.0, "g/dL", "x"),
        json!({"effectiveDateTime": null, "issued": "2026-02-13T10:00:00Z"}),
    );
    let m = map(&FhirInputs {
        observations: Some(vec![issued, period]),
        ..inputs()
    });
    assert_eq!(number(&m, "hemoglobin_g_dl"), Some(9.0));
    // No usable time: dropped, reported.
    let undated = with(
        quantity("u", "718-7", 8.0, "g/dL", "x"),
        json!({"effectiveDateTime": "sometime"}),
    );
    let m = map(&FhirInputs {
        observations: Some(vec![undated]),
        ..inputs()
    });
    assert_eq!(problems(&m, "hemoglobin_g_dl"), vec![&ProblemKind::NoDate]);
}

#[test]
fn a_converted_value_out_of_range_is_missing_never_clamped() {
    // 112 reported as g/dL (the g/L number under the wrong unit).
    let m = map(&FhirInputs {
        observations: Some(vec![quantity("hb", "718-7", 112.0, "g/dL", "2026-02-10")]),
        ..inputs()
    });
    assert!(!m.patient.contains_key("hemoglobin_g_dl"));
    assert_eq!(
        problems(&m, "hemoglobin_g_dl"),
        vec![&ProblemKind::OutOfRange {
            value: 112.0,
            unit: "g/dL".to_string()
        }]
    );
}

#[test]
fn preliminary_vitals_count_but_preliminary_labs_and_absent_values_do_not() {
    let prelim = json!({"status": "preliminary"});
    let m = map(&FhirInputs {
        observations: Some(vec![
            with(
                quantity("wt", "29463-7", 81.0, "kg", "2026-02-10"),
                prelim.clone(),
            ),
            with(quantity("hb", "718-7", 12.0, "g/dL", "2026-02-10"), prelim),
            with(
                quantity("plt", "777-3", 1.0, "10*9/L", "2026-02-10"),
                json!({"valueQuantity": null,
                       "dataAbsentReason": {"coding": [{"code": "not-performed"}]}}),
            ),
            with(
                quantity("alb", "1751-7", 1.0, "g/dL", "2026-02-10"),
                json!({"valueQuantity": {"unit": "g/dL", "system": UCUM, "code": "g/dL"}}),
            ),
        ]),
        ..inputs()
    });
    assert_eq!(number(&m, "weight_kg"), Some(81.0));
    assert_eq!(
        problems(&m, "hemoglobin_g_dl"),
        vec![&ProblemKind::NotFinal {
            status: "preliminary".to_string()
        }]
    );
    assert_eq!(
        problems(&m, "platelets_10e9_l"),
        vec![&ProblemKind::NoValue]
    );
    assert_eq!(problems(&m, "albumin_g_dl"), vec![&ProblemKind::NoValue]);
}

#[test]
fn a_result_for_another_patient_is_dropped() {
    let other = with(
        quantity("hb", "718-7", 12.0, "g/dL", "2026-02-10"),
        json!({"subject": {"reference": "Patient/someone-else"}}),
    );
    let m = map(&FhirInputs {
        observations: Some(vec![other]),
        ..inputs()
    });
    assert!(!m.patient.contains_key("hemoglobin_g_dl"));
    assert_eq!(
        problems(&m, "hemoglobin_g_dl"),
        vec![&ProblemKind::OtherPatient {
            subject: "Patient/someone-else".to_string()
        }]
    );
}

#[test]
fn smoking_status_ecog_and_inr_take_their_value_types() {
    let coded = |id: &str, loinc: &str, system: &str, code: &str| {
        json!({
            "resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": loinc}]},
            "subject": {"reference": "Patient/pat-42"},
            "effectiveDateTime": "2026-01-15",
            "valueCodeableConcept": {"coding": [{"system": system, "code": code,
                                                  "display": "answer"}]}
        })
    };
    let ecog = with(
        coded("ecog", "89247-1", LOINC, "x"),
        json!({"valueCodeableConcept": null, "valueInteger": 1}),
    );
    let inr = with(
        quantity("inr", "34714-6", 1.1, "x", "2026-02-10"),
        json!({"valueQuantity": {"value": 1.1}}),
    );
    let m = map(&FhirInputs {
        observations: Some(vec![
            coded("smk", "72166-2", SNOMED, "449868002"),
            ecog,
            inr,
        ]),
        ..inputs()
    });
    assert_eq!(m.patient.get("smoking_status"), Some(&json!("current")));
    assert_eq!(m.patient.get("ecog"), Some(&json!(1)));
    assert_eq!(number(&m, "inr"), Some(1.1));

    // ECOG as a LOINC answer; an unmapped smoking answer; a wrong value type.
    let m = map(&FhirInputs {
        observations: Some(vec![
            coded("smk", "72166-2", SNOMED, "77176002"),
            coded("ecog", "89247-1", LOINC, "LA9624-3"),
            with(
                quantity("hb", "718-7", 1.0, "g/dL", "2026-02-10"),
                json!({"valueQuantity": null, "valueString": "11.2 g/dL"}),
            ),
        ]),
        ..inputs()
    });
    assert_eq!(m.patient.get("ecog"), Some(&json!(2)));
    assert_eq!(
        problems(&m, "smoking_status"),
        vec![&ProblemKind::UnmappedAnswer {
            coding: format!("{SNOMED}|77176002")
        }]
    );
    assert_eq!(
        problems(&m, "hemoglobin_g_dl"),
        vec![&ProblemKind::UnsupportedValueType {
            value_type: "valueString".to_string()
        }]
    );
}

#[test]
fn observations_not_supplied_leave_analytes_missing_without_problems() {
    let m = map(&FhirInputs {
        observations: None,
        ..inputs()
    });
    for feature in ["hemoglobin_g_dl", "weight_kg", "smoking_status"] {
        assert!(!m.patient.contains_key(feature));
        assert!(problems(&m, feature).is_empty(), "{feature}");
    }
}
