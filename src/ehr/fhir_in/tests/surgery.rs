//! The planned surgery: spine order, procedure, levels, revision, order details.

use serde_json::json;

use super::*;

const DETAIL: &str = "https://periop.example.org/fhir/StructureDefinition/order-detail";

fn with_orders(orders: Vec<Value>) -> MappedPatient {
    map(&FhirInputs { orders, ..inputs() })
}

fn detail(feature: &str, value: Value) -> Value {
    let mut ext = value;
    ext["url"] = json!(format!("{DETAIL}/{feature}"));
    ext
}

#[test]
fn cpt_22612_with_two_22614_add_ons_is_a_three_level_lumbar_fusion() {
    let m = with_orders(vec![
        order("sr-add-1", "22614"),
        order("sr-1", "22612"),
        order("sr-add-2", "22614"),
    ]);
    assert_eq!(m.patient.get("procedure"), Some(&json!("lumbar_fusion")));
    assert_eq!(m.patient.get("fused_levels"), Some(&json!(3)));
    assert_eq!(m.patient.get("decompressed_levels"), Some(&json!(0)));
    assert!(
        !m.patient.contains_key("revision_surgery"),
        "no revision code"
    );
    assert_eq!(m.order.as_deref(), Some("ServiceRequest/sr-1"));
    for r in [
        "ServiceRequest/sr-1",
        "ServiceRequest/sr-add-1",
        "ServiceRequest/sr-add-2",
    ] {
        assert!(m.basis.contains(&r.to_string()), "{r} in {:?}", m.basis);
    }
    assert_eq!(m.basis[0], "ServiceRequest/sr-1");

    // The same plan as one add-on order with quantity 2.
    let m = with_orders(vec![
        order("sr-1", "22612"),
        with(
            order("sr-add", "22614"),
            json!({"quantityQuantity": {"value": 2}}),
        ),
    ]);
    assert_eq!(m.patient.get("fused_levels"), Some(&json!(3)));
    let add_on = m
        .sources
        .iter()
        .find(|s| s.reference == "ServiceRequest/sr-add")
        .expect("source");
    assert_eq!(add_on.original.as_deref(), Some("CPT 22614 × 2"));

    // A quantity that is not a count leaves the levels missing.
    let m = with_orders(vec![
        order("sr-1", "22612"),
        with(
            order("sr-add", "22614"),
            json!({"quantityQuantity": {"value": 1.5}}),
        ),
    ]);
    assert_eq!(m.patient.get("procedure"), Some(&json!("lumbar_fusion")));
    assert!(!m.patient.contains_key("fused_levels"));
    assert!(matches!(
        problems(&m, "fused_levels")[..],
        [ProblemKind::NotConvertible { .. }]
    ));
}

#[test]
fn decompressions_count_decompressed_levels_and_a_revision_code_marks_revision() {
    let m = with_orders(vec![
        order("sr-1", "63047"),
        order("sr-2", "63048"),
        order("sr-3", "22830"),
    ]);
    assert_eq!(
        m.patient.get("procedure"),
        Some(&json!("lumbar_decompression"))
    );
    assert_eq!(m.patient.get("decompressed_levels"), Some(&json!(2)));
    assert_eq!(m.patient.get("fused_levels"), Some(&json!(0)));
    assert_eq!(m.patient.get("revision_surgery"), Some(&json!(true)));
    // A fusion outranks the decompression ordered with it.
    let m = with_orders(vec![order("sr-d", "63047"), order("sr-f", "22633")]);
    assert_eq!(m.patient.get("procedure"), Some(&json!("lumbar_fusion")));
    assert_eq!(m.order.as_deref(), Some("ServiceRequest/sr-f"));
    assert_eq!(m.patient.get("decompressed_levels"), Some(&json!(2)));
    assert_eq!(m.patient.get("fused_levels"), Some(&json!(1)));
}

#[test]
fn a_non_spine_order_is_not_a_spine_order() {
    let mapping = shipped();
    let mri = order("sr-mri", "72148");
    let snomed_other = json!({
        "resourceType": "ServiceRequest", "id": "sr-x", "status": "draft",
        "code": {"coding": [{"system": SNOMED, "code": "73761001"}]}
    });
    let orders = vec![mri, snomed_other];
    assert!(spine_order(&orders, &mapping).is_none());
    let m = with_orders(orders);
    assert!(m.order.is_none());
    assert!(!m.patient.contains_key("procedure"));
    assert!(matches!(
        problems(&m, "procedure")[..],
        [ProblemKind::MissingElement { .. }]
    ));
    // A revoked spine order is not a plan; a draft one among other orders is found.
    let revoked = with(order("sr-r", "22612"), json!({"status": "revoked"}));
    assert!(spine_order(std::slice::from_ref(&revoked), &mapping).is_none());
    let orders = vec![order("sr-mri", "72148"), order("sr-acdf", "22551")];
    let found = spine_order(&orders, &mapping).expect("spine");
    assert_eq!(found["id"], "sr-acdf");
}

#[test]
fn order_detail_extensions_fill_the_plan_by_value_type() {
    let with_details = with(
        order("sr-1", "22612"),
        json!({"extension": [
            detail("planned_duration_min", json!({"valueDuration":
                {"value": 3, "unit": "h", "system": UCUM, "code": "h"}})),
            detail("tranexamic_acid_planned", json!({"valueBoolean": true})),
            detail("minimally_invasive", json!({"valueBoolean": false})),
            detail("asa_class", json!({"valueInteger": 3})),
            detail("fusion_to_sacrum", json!({"valueString": "yes"})),
            detail("functional_status", json!({"valueCode": "independent"})),
            detail("odi_baseline", json!({"valueDecimal": 42.5})),
            detail("stenosis_grade", json!({"valueInteger": 7})),
            detail("ambulatory_planned", json!({"extension": []})),
            detail("tumor_histology", json!({"valueCode": "pancreas"})),
            detail("bmi", json!({"valueDecimal": 30})),
            {"url": "http://other.example/ext", "valueString": "ignored"}
        ]}),
    );
    let m = with_orders(vec![with_details]);
    let p = &m.patient;
    assert_eq!(number(&m, "planned_duration_min"), Some(180.0));
    assert_eq!(p.get("tranexamic_acid_planned"), Some(&json!(true)));
    assert_eq!(p.get("minimally_invasive"), Some(&json!(false)));
    assert_eq!(p.get("asa_class"), Some(&json!(3)));
    assert_eq!(p.get("functional_status"), Some(&json!("independent")));
    assert_eq!(number(&m, "odi_baseline"), Some(42.5));
    assert_eq!(
        problems(&m, "fusion_to_sacrum"),
        vec![&ProblemKind::UnsupportedValueType {
            value_type: "valueString".to_string()
        }]
    );
    assert!(matches!(
        problems(&m, "stenosis_grade")[..],
        [ProblemKind::OutOfRange { .. }]
    ));
    assert_eq!(
        problems(&m, "ambulatory_planned"),
        vec![&ProblemKind::NoValue]
    );
    assert_eq!(
        problems(&m, "tumor_histology"),
        vec![&ProblemKind::UnknownLevel {
            level: "pancreas".to_string()
        }]
    );
    assert_eq!(
        problems(&m, "bmi"),
        vec![&ProblemKind::UnknownOrderDetail {
            name: "bmi".to_string()
        }]
    );
    for feature in [
        "fusion_to_sacrum",
        "stenosis_grade",
        "tumor_histology",
        "bmi",
    ] {
        assert!(!p.contains_key(feature), "{feature}");
    }
    let duration = m
        .sources
        .iter()
        .find(|s| s.feature == "planned_duration_min")
        .expect("source");
    assert_eq!(duration.original.as_deref(), Some("order detail 3 h"));
}

#[test]
fn codes_and_order_details_that_disagree_leave_the_feature_missing() {
    let disagree = with(
        order("sr-1", "22612"),
        json!({"extension": [
            detail("procedure", json!({"valueCode": "acdf"})),
            detail("fused_levels", json!({"valueInteger": 1}))
        ]}),
    );
    let m = with_orders(vec![disagree]);
    assert!(!m.patient.contains_key("procedure"));
    assert!(matches!(
        problems(&m, "procedure")[..],
        [ProblemKind::Conflict { .. }]
    ));
    assert!(!m.sources.iter().any(|s| s.feature == "procedure"));
    assert_eq!(
        m.patient.get("fused_levels"),
        Some(&json!(1)),
        "agreeing detail"
    );
    // A SNOMED spine code names no procedure: an order detail can.
    let snomed = json!({
        "resourceType": "ServiceRequest", "id": "sr-s", "status": "active",
        "code": {"coding": [{"system": SNOMED, "code": "55705006"}]},
        "subject": {"reference": "Patient/pat-42"},
        "extension": [detail("procedure", json!({"valueCode": "posterior_cervical_fusion"}))]
    });
    let m = with_orders(vec![snomed]);
    assert_eq!(
        m.patient.get("procedure"),
        Some(&json!("posterior_cervical_fusion"))
    );
    assert_eq!(m.order.as_deref(), Some("ServiceRequest/sr-s"));
}

#[test]
fn an_earlier_spine_procedure_asks_whether_this_is_a_revision() {
    let prior = json!({
        "resourceType": "Procedure", "id": "proc-2019", "status": "completed",
        "code": {"coding": [{"system": CPT, "code": "22612"}]},
        "subject": {"reference": "Patient/pat-42"},
        "performedDateTime": "2019-05-01"
    });
    let m = map(&FhirInputs {
        procedures: Some(vec![prior.clone()]),
        ..inputs()
    });
    assert!(!m.patient.contains_key("revision_surgery"));
    let [ProblemKind::Undetermined { detail }] = &problems(&m, "revision_surgery")[..] else {
        panic!("{:?}", m.problems);
    };
    assert!(detail.contains("2019-05-01"), "{detail}");
    // Settled by the plan: nothing to ask.
    let m = map(&FhirInputs {
        procedures: Some(vec![prior]),
        orders: vec![order("sr-1", "22612"), order("sr-2", "22830")],
        ..inputs()
    });
    assert!(problems(&m, "revision_surgery").is_empty());
}
