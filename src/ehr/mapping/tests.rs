use serde_json::{json, Value};

use super::*;
use crate::features::dictionary::idx;

/// The shipped mapping file's text.
pub(crate) fn shipped_bytes() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/default/");
    std::fs::read(format!("{path}{MAPPING_FILE}")).expect("the shipped mapping file")
}

/// The shipped mapping, validated.
pub(crate) fn shipped() -> FhirMapping {
    FhirMapping::from_json(&shipped_bytes()).expect("the shipped mapping validates")
}

/// The shipped mapping changed by `edit`, then validated.
fn edited(edit: impl FnOnce(&mut Value)) -> Result<FhirMapping, MappingError> {
    let mut v: Value = serde_json::from_slice(&shipped_bytes()).expect("json");
    edit(&mut v);
    FhirMapping::from_json(&serde_json::to_vec(&v).expect("serialise"))
}

fn analyte_index(v: &Value, feature: &str) -> usize {
    v["analytes"]
        .as_array()
        .expect("analytes")
        .iter()
        .position(|a| a["feature"] == feature)
        .expect("analyte present")
}

#[test]
fn the_shipped_mapping_loads_validates_and_answers_lookups() {
    let m = shipped();
    assert!(!m.version.is_empty());
    let loinc = "http://loinc.org";
    let (a, nc) = m.analyte_for(loinc, "718-7").expect("hemoglobin");
    assert_eq!(m.analytes[a].feature, "hemoglobin_g_dl");
    assert!(nc.is_none());
    let (a, nc) = m.analyte_for(loinc, "48066-5").expect("DDU");
    assert_eq!(m.analytes[a].feature, "d_dimer_mg_l_feu");
    assert_eq!(
        nc.map(|n| n.detail.as_str()),
        Some("DDU not convertible to FEU")
    );
    assert_eq!(
        m.analytes[m.analyte_for(loinc, "14682-9").expect("creat").0].feature,
        "creatinine_mg_dl"
    );

    let icd = "http://hl7.org/fhir/sid/icd-10-cm";
    let target = |code: &str| {
        let rules = m.condition_rules_for(icd, code);
        assert_eq!(rules.len(), 1, "{code}: {rules:?}");
        m.condition_target(rules[0])
    };
    let diabetes = idx("diabetes");
    assert_eq!(
        target("E11.9"),
        Target {
            feature: diabetes,
            level: 1
        }
    );
    assert_eq!(
        target("e119"),
        Target {
            feature: diabetes,
            level: 1
        }
    );
    assert_eq!(
        target("Z79.4"),
        Target {
            feature: diabetes,
            level: 2
        }
    );
    assert_eq!(target("Z86.718").feature, idx("history_of_vte"));
    assert_eq!(target("I82.401").feature, idx("history_of_vte"));
    assert!(m.condition_rules_for(icd, "I82.3").is_empty());
    assert!(m.condition_rules_for(icd, "F10.10").is_empty());

    let rx = "http://www.nlm.nih.gov/research/umls/rxnorm";
    let warfarin = m.medication_class_for(rx, "855332").expect("warfarin 5 mg");
    assert_eq!(m.medications.classes[warfarin].class, "anticoagulant");
    assert_eq!(
        m.medication_target(warfarin).feature,
        idx("bleeding_disorder_or_anticoagulant")
    );

    let cpt = "http://www.ama-assn.org/go/cpt";
    let fusion = m.procedure_code_for(cpt, "22612").expect("22612");
    assert_eq!(fusion.procedure.as_deref(), Some("lumbar_fusion"));
    assert_eq!(fusion.fused_levels, 1);
    let add_on = m.procedure_code_for(cpt, "22614").expect("22614");
    assert_eq!(
        (add_on.procedure.as_deref(), add_on.fused_levels),
        (None, 1)
    );
    assert!(
        m.procedure_code_for(cpt, "72148").is_none(),
        "an MRI is not surgery"
    );
    assert!(m.procedure_rank("metastatic_tumor") < m.procedure_rank("lumbar_discectomy"));
    assert!(m.order_detail("planned_duration_min").is_some());

    // Every comorbidity the dictionary lists ICD-10-CM codes for is fed by conditions.
    let fed: Vec<usize> = m.comorbidity_features().iter().map(|f| f.0).collect();
    for name in [
        "hypertension",
        "coronary_artery_disease",
        "congestive_heart_failure",
        "copd",
        "chronic_kidney_disease",
        "osteoporosis",
        "history_of_vte",
        "depression_anxiety",
        "cognitive_impairment",
        "alcohol_use_disorder",
        "chronic_opioid_use",
        "chronic_steroid_use",
        "bleeding_disorder_or_anticoagulant",
        "diabetes",
    ] {
        assert!(fed.contains(&idx(name)), "{name} has no mapping");
    }
}

#[test]
fn a_mapping_naming_an_unknown_feature_is_rejected_naming_the_path() {
    let err = edited(|v| {
        let i = analyte_index(v, "albumin_g_dl");
        v["analytes"][i]["feature"] = json!("albumen_g_dl");
    })
    .expect_err("unknown feature");
    let MappingError::UnknownFeature { path, name } = &err else {
        panic!("{err:?}");
    };
    assert!(
        path.starts_with("analytes[") && path.ends_with("].feature"),
        "{path}"
    );
    assert_eq!(name, "albumen_g_dl");
    assert!(err.to_string().contains("albumen_g_dl"), "{err}");

    let err = edited(|v| v["conditions"][0]["feature"] = json!("diabetic")).expect_err("x");
    assert!(
        err.to_string().starts_with("conditions[0].feature:"),
        "{err}"
    );
    let err =
        edited(|v| v["order_details"]["features"][2]["feature"] = json!("levels")).expect_err("x");
    assert!(
        err.to_string()
            .starts_with("order_details.features[2].feature:"),
        "{err}"
    );
}

#[test]
fn a_code_mapping_to_two_features_is_rejected() {
    // I10 already means hypertension.
    let err = edited(|v| {
        v["conditions"][3]["codes"]
            .as_array_mut()
            .expect("codes")
            .push(json!({"system": "icd10cm", "prefix": "I10"}));
    })
    .expect_err("duplicate");
    assert!(matches!(err, MappingError::DuplicateCode { .. }), "{err:?}");
    assert!(err.to_string().contains("conditions[3].codes["), "{err}");

    // A more specific code under another feature's prefix overlaps it.
    let err = edited(|v| {
        v["conditions"][3]["codes"]
            .as_array_mut()
            .expect("codes")
            .push(json!({"system": "icd10cm", "code": "E11.65"}));
    })
    .expect_err("overlap");
    assert!(matches!(err, MappingError::DuplicateCode { .. }), "{err:?}");

    // The same LOINC in two analytes.
    let err = edited(|v| {
        let i = analyte_index(v, "albumin_g_dl");
        v["analytes"][i]["codes"]
            .as_array_mut()
            .expect("codes")
            .push(json!({"system": "loinc", "code": "718-7"}));
    })
    .expect_err("duplicate LOINC");
    assert!(err.to_string().contains("718-7"), "{err}");

    // An RxNorm code in two classes.
    let err = edited(|v| {
        v["medications"]["classes"][1]["products"]
            .as_array_mut()
            .expect("products")
            .push(json!({"system": "rxnorm", "code": "855332"}));
    })
    .expect_err("duplicate RxNorm");
    assert!(
        err.to_string()
            .starts_with("medications.classes[1].products["),
        "{err}"
    );
}

#[test]
fn factors_must_be_finite_and_non_zero_and_not_doubled() {
    let hb = |v: &Value| analyte_index(v, "hemoglobin_g_dl");
    let err = edited(|v| {
        let i = hb(v);
        v["analytes"][i]["units"][1] = json!({"code": "g/L", "factor": 0.0});
    })
    .expect_err("zero factor");
    assert!(
        err.to_string()
            .ends_with("].units[1].factor: must be finite and non-zero"),
        "{err}"
    );
    let err = edited(|v| {
        let i = hb(v);
        v["analytes"][i]["units"][1] = json!({"code": "g/L", "factor": 0.1, "divide_by": 10});
    })
    .expect_err("both");
    assert!(matches!(err, MappingError::BadConversion { .. }), "{err:?}");
    let err = edited(|v| {
        let i = hb(v);
        v["analytes"][i]["units"][1] = json!({"code": "g/dL", "factor": 1});
    })
    .expect_err("same unit twice");
    assert!(matches!(err, MappingError::DuplicateCode { .. }), "{err:?}");
}

#[test]
fn kinds_levels_versions_and_unknown_members_are_checked() {
    // A boolean is not an observation value.
    let err = edited(|v| {
        let i = analyte_index(v, "albumin_g_dl");
        v["analytes"][i]["feature"] = json!("copd");
    })
    .expect_err("kind");
    assert!(matches!(err, MappingError::WrongKind { .. }), "{err:?}");
    // A level that does not exist.
    let err = edited(|v| v["conditions"][0]["level"] = json!("oral")).expect_err("level");
    assert!(matches!(err, MappingError::UnknownLevel { .. }), "{err:?}");
    let err = edited(|v| v["absent_levels"]["diabetes"] = json!("no")).expect_err("absent");
    assert!(
        err.to_string().starts_with("absent_levels.diabetes:"),
        "{err}"
    );
    // A typo in a member name is caught with its path.
    let err = edited(|v| {
        v["analytes"][0]["lookback_day"] = json!(30);
    })
    .expect_err("unknown member");
    let MappingError::Parse { path, message } = &err else {
        panic!("{err:?}");
    };
    assert!(path.starts_with("analytes[0]"), "{path}");
    assert!(message.contains("lookback_day"), "{message}");
    // A version is required, and the dictionary version must match.
    let err = edited(|v| v["version"] = json!(" ")).expect_err("version");
    assert_eq!(
        err,
        MappingError::Empty {
            path: "version".to_string()
        }
    );
    let err = edited(|v| {
        v.as_object_mut().expect("object").remove("version");
    })
    .expect_err("no version");
    assert!(err.to_string().contains("version"), "{err}");
    let err = edited(|v| v["dictionary_version"] = json!("0")).expect_err("dictionary");
    assert!(
        matches!(err, MappingError::DictionaryVersion { .. }),
        "{err:?}"
    );
    // Undeclared system alias.
    let err = edited(|v| v["conditions"][0]["codes"][0]["system"] = json!("icd9")).expect_err("s");
    assert!(matches!(err, MappingError::UnknownSystem { .. }), "{err:?}");
    // A precedence that forgets a procedure.
    let err = edited(|v| {
        v["procedures"]["precedence"]
            .as_array_mut()
            .expect("precedence")
            .pop();
    })
    .expect_err("precedence");
    assert!(
        err.to_string().starts_with("procedures.precedence:"),
        "{err}"
    );
    // An order detail that observations already supply.
    let err = edited(|v| {
        v["order_details"]["features"]
            .as_array_mut()
            .expect("features")
            .push(json!({"feature": "hemoglobin_g_dl"}));
    })
    .expect_err("double source");
    assert!(matches!(err, MappingError::WrongKind { .. }), "{err:?}");
    // Not JSON at all.
    let err = FhirMapping::from_json(b"{\"format\": 1,").expect_err("truncated");
    assert!(matches!(err, MappingError::Parse { .. }), "{err:?}");
}

#[test]
fn unit_conversions_apply_factor_divisor_and_offset() {
    let u = |factor, divide_by, offset| UnitConversion {
        code: "x".to_string(),
        factor,
        divide_by,
        offset,
        unverified: false,
        note: None,
    };
    assert_eq!(u(None, None, None).apply(7.0), 7.0);
    assert_eq!(u(Some(2.54), None, None).apply(10.0), 25.4);
    assert_eq!(u(None, Some(88.4), None).apply(88.4), 1.0);
    assert_eq!(u(None, Some(2.0), Some(1.0)).apply(4.0), 3.0);
}
