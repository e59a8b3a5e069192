//! Reading prefetch and posted Bundles, and the end-to-end path to a validated `Patient`.

use serde_json::{json, Map};

use super::*;
use crate::features::Patient;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fhir/order-select-request.json"
    );
    serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json")
}

fn prefetch(v: Value) -> Map<String, Value> {
    v.as_object().expect("object").clone()
}

fn searchset(resources: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "searchset",
           "entry": resources.into_iter()
               .map(|r| json!({"resource": r, "search": {"mode": "match"}}))
               .collect::<Vec<_>>()})
}

fn outcome(severity: &str) -> Value {
    json!({"resourceType": "OperationOutcome",
           "issue": [{"severity": severity, "code": "processing", "diagnostics": "timeout"}]})
}

#[test]
fn a_prefetched_order_select_maps_to_a_patient_that_validates() {
    let request = fixture();
    let (inputs, absent) = FhirInputs::from_prefetch(
        request["prefetch"].as_object().expect("prefetch"),
        &PrefetchKeys::default(),
        Some(&request["context"]["draftOrders"]),
    )
    .expect("inputs");
    assert_eq!(absent, vec![KEY_MEDICATION_STATEMENTS.to_string()]);
    assert_eq!(
        inputs.orders.len(),
        2,
        "the draft MedicationRequest is not an order here"
    );
    assert_eq!(
        inputs.procedures,
        Some(Vec::new()),
        "null = supplied, no data"
    );
    let m = map_patient(&inputs, &shipped(), today());

    let patient = Patient::from_json(&m.patient).expect("a valid dictionary patient");
    assert_eq!(patient.get("age_years"), Some(69.0));
    assert_eq!(patient.level("sex"), Some("female"));
    assert_eq!(patient.level("procedure"), Some("lumbar_fusion"));
    assert_eq!(patient.get("fused_levels"), Some(2.0));
    assert_eq!(patient.get("hemoglobin_g_dl"), Some(11.2));
    assert!((patient.get("creatinine_mg_dl").expect("creatinine") - 97.0 / 88.4).abs() < 1e-12);
    assert!((patient.get("height_cm").expect("height") - 165.1).abs() < 1e-9);
    assert_eq!(patient.get("platelets_10e9_l"), Some(245.0));
    assert_eq!(patient.get("inr"), Some(1.1));
    assert_eq!(patient.level("smoking_status"), Some("former"));
    assert_eq!(patient.level("diabetes"), Some("non_insulin"));
    assert!(patient.flag("history_of_vte"));
    assert!(patient.flag("bleeding_disorder_or_anticoagulant"));
    assert_eq!(patient.get("hypertension"), Some(0.0));
    assert_eq!(patient.get("planned_duration_min"), Some(210.0));
    assert_eq!(patient.get("asa_class"), Some(3.0));
    assert_eq!(patient.get("albumin_g_dl"), None, "stale");
    assert_eq!(patient.get("d_dimer_mg_l_feu"), None, "DDU");
    assert_eq!(m.order.as_deref(), Some("ServiceRequest/sr-fusion-1"));
    for r in [
        "ServiceRequest/sr-fusion-1",
        "ServiceRequest/sr-fusion-1-addon",
        "Patient/pat-42",
        "Observation/hb-1",
        "Condition/vte-2019",
        "MedicationRequest/mr-apixaban",
    ] {
        assert!(m.basis.contains(&r.to_string()), "{r} not in {:?}", m.basis);
    }
    for r in ["Observation/hb-2", "Observation/alb-1", "Condition/htn-1"] {
        assert!(!m.basis.contains(&r.to_string()), "{r} was not used");
    }
    let kinds: Vec<(&str, &str)> = m
        .problems
        .iter()
        .map(|p| (p.feature.as_str(), p.reference.as_deref().unwrap_or("")))
        .collect();
    for expected in [
        ("hemoglobin_g_dl", "Observation/hb-2"),
        ("albumin_g_dl", "Observation/alb-1"),
        ("d_dimer_mg_l_feu", "Observation/dd-1"),
        ("hypertension", "Condition/htn-1"),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} not in {kinds:?}");
    }
    // The whole answer serialises (for the audit record).
    let wire = serde_json::to_value(&m).expect("serialise");
    assert_eq!(wire["order"], "ServiceRequest/sr-fusion-1");
}

#[test]
fn a_fully_mapped_patient_passes_patient_from_json() {
    let date = "2026-02-10";
    let observations = vec![
        quantity("ht", "8302-2", 170.0, "cm", date),
        quantity("wt", "29463-7", 80.0, "kg", date),
        quantity("bmi", "39156-5", 27.7, "kg/m2", date),
        quantity("hb", "718-7", 13.0, "g/dL", date),
        quantity("plt", "777-3", 250.0, "10*9/L", date),
        quantity("inr", "6301-6", 1.0, "{INR}", date),
        quantity("aptt", "14979-9", 30.0, "s", date),
        quantity("alb", "1751-7", 4.0, "g/dL", date),
        quantity("cr", "2160-0", 0.9, "mg/dL", date),
        quantity("dd", "48065-7", 0.3, "mg/L{FEU}", date),
    ];
    let conditions = vec![
        condition("htn", ICD, "I10", Some("active"), None),
        condition("cad", ICD, "I25.10", Some("active"), None),
        condition("op", ICD, "M81.0", Some("active"), None),
        condition("dep", ICD, "F32.9", Some("active"), None),
    ];
    let orders = vec![
        with(
            order("sr-1", "22633"),
            json!({"extension": [
                {"url": "https://periop.example.org/fhir/StructureDefinition/order-detail/fusion_to_sacrum",
                 "valueBoolean": true},
                {"url": "https://periop.example.org/fhir/StructureDefinition/order-detail/minimally_invasive",
                 "valueBoolean": false},
                {"url": "https://periop.example.org/fhir/StructureDefinition/order-detail/odi_baseline",
                 "valueDecimal": 46}
            ]}),
        ),
        order("sr-2", "22634"),
    ];
    let m = map(&FhirInputs {
        observations: Some(observations),
        conditions: Some(conditions),
        medications: Some(vec![med_request("opioid", "835603", "active")]),
        orders,
        ..inputs()
    });
    let patient = Patient::from_json(&m.patient).unwrap_or_else(|e| panic!("{e}: {:?}", m.patient));
    assert!(patient.present().len() >= 30, "{:?}", patient.present());
    assert_eq!(patient.get("fused_levels"), Some(2.0));
    assert_eq!(patient.get("decompressed_levels"), Some(2.0));
    assert!(patient.flag("chronic_opioid_use"));
    assert_eq!(patient.level("diabetes"), Some("none"));
    assert_eq!(patient.get("bmi"), Some(27.7));
    // Nothing is reported for a clean record except what FHIR cannot say.
    assert!(m.problems.is_empty(), "{:?}", m.problems);
}

#[test]
fn a_prefetch_value_that_is_an_operation_outcome_counts_as_not_supplied() {
    let (inputs, absent) = FhirInputs::from_prefetch(
        &prefetch(json!({
            "patient": patient(Some("1956-04-11"), Some("female")),
            "conditions": outcome("error"),
            "medications": searchset(vec![outcome("fatal")]),
            "labs": searchset(vec![
                quantity("hb", "718-7", 12.0, "g/dL", "2026-02-10"),
                json!({"resourceType": "OperationOutcome",
                       "issue": [{"severity": "information", "code": "informational"}]})
            ]),
        })),
        &PrefetchKeys::default(),
        None,
    )
    .expect("inputs");
    assert!(inputs.conditions.is_none());
    assert!(inputs.medications.is_none());
    assert_eq!(inputs.observations.as_ref().map(Vec::len), Some(1));
    for key in ["conditions", "medications"] {
        assert!(absent.contains(&key.to_string()), "{key}: {absent:?}");
        assert!(inputs.problems.iter().any(|p| p.kind
            == ProblemKind::PrefetchFailed {
                key: key.to_string()
            }));
    }
    let m = map_patient(&inputs, &shipped(), today());
    assert!(!m.patient.contains_key("hypertension"));
    assert_eq!(number(&m, "hemoglobin_g_dl"), Some(12.0));
}

#[test]
fn a_bundle_with_a_next_link_is_incomplete_and_its_absences_mean_nothing() {
    let mut page = searchset(vec![condition("vte", ICD, "I26.99", Some("active"), None)]);
    page["link"] = json!([{"relation": "self", "url": "https://ehr/Condition?patient=p"},
                          {"relation": "next", "url": "https://ehr/Condition?page=2"}]);
    let (inputs, absent) = FhirInputs::from_prefetch(
        &prefetch(json!({
            "patient": patient(Some("1956-04-11"), Some("female")),
            "conditions": page,
            "medications": null,
        })),
        &PrefetchKeys::default(),
        None,
    )
    .expect("inputs");
    assert!(!absent.contains(&"conditions".to_string()));
    assert_eq!(inputs.incomplete, vec![Category::Conditions]);
    let m = map_patient(&inputs, &shipped(), today());
    assert!(m.problems.iter().any(|p| p.kind
        == ProblemKind::Incomplete {
            key: "conditions".to_string()
        }));
    assert_eq!(
        m.patient.get("history_of_vte"),
        Some(&json!(true)),
        "found: counts"
    );
    assert!(
        !m.patient.contains_key("hypertension"),
        "not found on page 1: unknown"
    );
    // Medications were supplied (null) in full, but the same features are also fed by the
    // incomplete conditions (Z79.01, Z79.891): still unknown.
    for feature in ["bleeding_disorder_or_anticoagulant", "chronic_opioid_use"] {
        assert!(!m.patient.contains_key(feature), "{feature}");
    }
}

#[test]
fn prefetch_keys_null_absent_merged_and_malformed() {
    let hb = quantity("hb", "718-7", 12.0, "g/dL", "2026-02-10");
    let wt = quantity("wt", "29463-7", 70.0, "kg", "2026-02-10");
    let (inputs, absent) = FhirInputs::from_prefetch(
        &prefetch(json!({
            "vitals": searchset(vec![wt, hb.clone()]),
            "labs": searchset(vec![hb]),
            "conditions": null,
        })),
        &PrefetchKeys::default(),
        None,
    )
    .expect("inputs");
    assert_eq!(
        absent,
        vec![
            "patient",
            "medications",
            "medication_statements",
            "procedures"
        ]
    );
    assert_eq!(
        inputs.observations.as_ref().map(Vec::len),
        Some(2),
        "deduplicated"
    );
    assert_eq!(inputs.conditions, Some(Vec::new()));
    assert!(inputs.patient.is_none() && inputs.medications.is_none());

    let keys = PrefetchKeys::default();
    let bad = |v: Value| FhirInputs::from_prefetch(&prefetch(v), &keys, None).expect_err("bad");
    let err = bad(json!({"labs": "not a resource"}));
    assert_eq!(
        err,
        FhirInError::Malformed {
            path: "prefetch.labs".to_string(),
            expected: "null, a resource, a Bundle or an OperationOutcome"
        }
    );
    let err = bad(json!({"labs": {"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}}));
    assert_eq!(
        err.to_string(),
        "prefetch.labs.entry[0].resource: expected a resource object"
    );
    let err = bad(json!({"patient": {"resourceType": "Observation"}}));
    assert!(
        matches!(err, FhirInError::UnexpectedResource { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("prefetch.patient.resourceType:"),
        "{err}"
    );
    let err = FhirInputs::from_prefetch(
        &Map::new(),
        &keys,
        Some(&json!({"resourceType": "Patient"})),
    )
    .expect_err("draftOrders must be a Bundle");
    assert!(err.to_string().starts_with("context.draftOrders"), "{err}");
}

#[test]
fn a_posted_bundle_with_a_nil_known_list_supplies_an_empty_category() {
    let nil_known = |loinc: &str| {
        json!({"resourceType": "List", "status": "current", "mode": "snapshot",
               "code": {"coding": [{"system": LOINC, "code": loinc}]},
               "subject": {"reference": "urn:uuid:p1"},
               "emptyReason": {"coding": [{"system": LIST_EMPTY_REASON, "code": NIL_KNOWN}]}})
    };
    let entry = |full_url: &str, r: Value| json!({"fullUrl": full_url, "resource": r});
    let mut hb = quantity("hb", "718-7", 12.5, "g/dL", "2026-02-10");
    hb["subject"] = json!({"reference": "urn:uuid:p1"});
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        entry("urn:uuid:p1", json!({"resourceType": "Patient", "gender": "male",
                                     "birthDate": "1960-05-05"})),
        entry("urn:uuid:o1", hb),
        entry("urn:uuid:l1", nil_known(PROBLEM_LIST)),
        entry("urn:uuid:s1", order("sr-1", "63030")),
        entry("urn:uuid:e1", json!({"resourceType": "Encounter", "id": "enc"})),
    ]});
    let inputs = FhirInputs::from_bundle(&bundle).expect("inputs");
    assert_eq!(inputs.conditions, Some(Vec::new()));
    assert!(inputs.medications.is_none(), "no medication list");
    assert_eq!(inputs.patient_full_url.as_deref(), Some("urn:uuid:p1"));
    let m = map_patient(&inputs, &shipped(), today());
    assert_eq!(m.patient.get("hypertension"), Some(&json!(false)));
    assert!(!m.patient.contains_key("bleeding_disorder_or_anticoagulant"));
    assert_eq!(
        number(&m, "hemoglobin_g_dl"),
        Some(12.5),
        "urn:uuid subject is ours"
    );
    assert_eq!(
        m.patient.get("procedure"),
        Some(&json!("lumbar_discectomy"))
    );
    assert_eq!(m.patient.get("sex"), Some(&json!("male")));

    // The medication-history list supplies medications.
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": nil_known(MEDICATION_HISTORY)}]});
    let inputs = FhirInputs::from_bundle(&bundle).expect("inputs");
    assert_eq!(inputs.medications, Some(Vec::new()));
    assert!(inputs.conditions.is_none());
    // A List that has entries, or another empty reason, says nothing.
    let mut listed = nil_known(PROBLEM_LIST);
    listed["emptyReason"]["coding"][0]["code"] = json!("notasked");
    let bundle =
        json!({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": listed}]});
    assert!(FhirInputs::from_bundle(&bundle)
        .expect("inputs")
        .conditions
        .is_none());
}

#[test]
fn a_malformed_posted_bundle_is_rejected_naming_the_entry() {
    let ok = json!({"resource": patient(None, None)});
    let bundle = json!({"resourceType": "Bundle", "type": "collection",
        "entry": [ok, {"resource": order("sr", "22612")}, {"resource": {"id": "x"}}]});
    let err = FhirInputs::from_bundle(&bundle).expect_err("no resourceType");
    assert_eq!(
        err.to_string(),
        "entry[2].resource.resourceType: expected a string"
    );
    let bundle = json!({"resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": patient(None, None)}, {"resource": patient(None, None)}]});
    assert_eq!(
        FhirInputs::from_bundle(&bundle).expect_err("two patients"),
        FhirInError::SecondPatient {
            path: "entry[1].resource".to_string()
        }
    );
    let bundle = json!({"resourceType": "Bundle", "type": "history", "entry": []});
    assert!(matches!(
        FhirInputs::from_bundle(&bundle).expect_err("type"),
        FhirInError::BundleType { .. }
    ));
    assert!(matches!(
        FhirInputs::from_bundle(&patient(None, None)).expect_err("not a bundle"),
        FhirInError::UnexpectedResource { .. }
    ));
}
