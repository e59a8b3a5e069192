//! Shape of the FHIR output on a hand-written answer (the shipped models are exercised, and the
//! output validated by an independent validator, in `tests/fhir_validation.rs`).

use serde_json::{json, Value};

use super::*;
use crate::service::Assessment;

const BASE: &str = "https://periop.example.org";
const AID: &str = "0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10";

fn answer() -> Assessment {
    let model = |id: &str| json!({"id": id, "version": format!("{id}@0123456789ab"), "sha256": format!("{:0>64}", id.len())});
    let contribution = |feature: &str, value: Value, unit: Option<&str>, c: f64| {
        let mut v = json!({"feature": feature, "value": value, "contribution": c});
        if let Some(u) = unit {
            v["unit"] = json!(u);
        }
        v
    };
    serde_json::from_value(json!({
        "assessment_id": AID,
        "created_at": "2026-11-21T12:34:56.789Z",
        "model_set": {"id": "default", "version": "0.1.0+e07dbeb4d898"},
        "predictions": [
            {"outcome": "blood_loss_ml", "status": "ok",
             "quantity": {"median": 842.5, "p10": 410.0, "p90": 1630.25, "unit": "mL"},
             "risk_band": "moderate", "baseline": 600.0, "relative_risk": 1.404,
             "model": model("blood_loss_ml"),
             "explanation": {"scale": "log_ml", "base_value": 6.4, "raw_score": 6.74,
                "contributions": [
                    contribution("fused_levels", json!(3), None, 0.3),
                    contribution("age_years", json!(78), Some("a"), 0.04)],
                "summary": "s"}},
            {"outcome": "dvt", "status": "ok", "probability": 0.061, "risk_band": "elevated",
             "baseline": 0.02, "relative_risk": 3.05, "model": model("dvt"),
             "explanation": {"scale": "log_odds", "base_value": -3.9, "raw_score": -2.73,
                "contributions": [
                    contribution("history_of_vte", json!(true), None, 0.9),
                    contribution("age_years", json!(78), Some("a"), 0.2),
                    contribution("hemoglobin_g_dl", json!(12.1), Some("g/dL"), -0.05),
                    contribution("albumin_g_dl", Value::Null, Some("g/dL"), 0.02),
                    contribution("sex", json!("female"), None, 0.0)],
                "summary": "s"}},
            {"outcome": "acdf_inpatient_conversion", "status": "not_applicable",
             "reason": "model trained on planned ambulatory ACDF only; procedure is lumbar_fusion",
             "model": model("acdf_inpatient_conversion")}
        ],
        "recommendations": [],
        "inputs": {"used": [], "derived": [], "missing": ["albumin_g_dl", "hba1c_percent"]},
        "warnings": [
            "model set trained on synthetic data: a demonstration, not for clinical use",
            "2 optional input(s) missing (see inputs.missing): treated as unknown, never imputed"
        ]
    }))
    .expect("a valid answer")
}

fn basis() -> Vec<String> {
    [
        "Observation/hb-1",
        "ServiceRequest/sr-fusion-1",
        " Observation/hb-1 ",
        "",
        "Condition/vte-2019",
        "https://ehr.example.org/fhir/Observation/wt-1",
    ]
    .map(String::from)
    .to_vec()
}

fn bundle_with(answer: &Assessment, basis: &[String], subject: Option<&str>) -> Value {
    assessment_bundle(
        answer,
        &FhirOutOptions {
            base_url: "https://periop.example.org/",
            subject,
            encounter: subject.map(|_| "Encounter/enc-7"),
            basis,
            synthetic: true,
        },
    )
}

fn bundle() -> Value {
    bundle_with(&answer(), &basis(), Some("Patient/pat-42"))
}

fn resources<'a>(b: &'a Value, kind: &str) -> Vec<&'a Value> {
    b["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

fn one<'a>(b: &'a Value, kind: &str, outcome: &str) -> &'a Value {
    resources(b, kind)
        .into_iter()
        .find(|r| r["identifier"][0]["value"] == format!("{AID}/{outcome}"))
        .unwrap_or_else(|| panic!("no {kind} for {outcome}"))
}

fn references(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|r| r["reference"].as_str().expect("a reference"))
        .collect()
}

fn notes(r: &Value) -> Vec<&str> {
    r["note"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n["text"].as_str().expect("text"))
        .collect()
}

/// Paths of every `null`, `""`, `[]` or `{}` in `v`.
fn empties(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(path.to_string()),
        Value::String(s) if s.trim().is_empty() => out.push(path.to_string()),
        Value::Array(a) if a.is_empty() => out.push(path.to_string()),
        Value::Object(m) if m.is_empty() => out.push(path.to_string()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                empties(x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                empties(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_bundle_is_a_collection_identified_by_the_assessment() {
    let b = bundle();
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "collection");
    assert_eq!(b["timestamp"], "2026-11-21T12:34:56.789Z");
    assert_eq!(
        b["identifier"],
        json!({"system": format!("{BASE}/fhir/assessment-id"), "value": AID})
    );
    let entries = b["entry"].as_array().expect("entries");
    // Two RiskAssessments, the blood-loss Observation, the Device, the Provenance.
    assert_eq!(entries.len(), 5);
    assert_eq!(resources(&b, "RiskAssessment").len(), 2);
    assert_eq!(resources(&b, "Observation").len(), 1);
    assert_eq!(resources(&b, "Device").len(), 1);
    assert_eq!(resources(&b, "Provenance").len(), 1);
    let mut urls: Vec<&str> = Vec::new();
    for e in entries {
        let url = e["fullUrl"].as_str().expect("fullUrl");
        let uuid = url.strip_prefix("urn:uuid:").expect("a urn:uuid");
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{url}");
        assert_eq!(e["resource"]["id"], uuid);
        assert!(!urls.contains(&url), "duplicate {url}");
        urls.push(url);
    }
}

#[test]
fn the_same_answer_gives_the_same_bundle_and_another_answer_other_ids() {
    let a = answer();
    let first =
        serde_json::to_string(&bundle_with(&a, &basis(), Some("Patient/pat-42"))).expect("json");
    let again =
        serde_json::to_string(&bundle_with(&a, &basis(), Some("Patient/pat-42"))).expect("json");
    assert_eq!(first, again);
    let mut other = answer();
    other.assessment_id = "5b1f7a2e-9c0d-4f4e-8a43-2f1c0b6d9e11".to_string();
    let b = bundle_with(&other, &basis(), Some("Patient/pat-42"));
    let urls = |b: &Value| -> Vec<String> {
        b["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["fullUrl"].to_string())
            .collect()
    };
    let before = urls(&bundle());
    for url in urls(&b) {
        assert!(!before.contains(&url), "{url} reused across assessments");
    }
}

#[test]
fn a_binary_outcome_is_a_final_ai_labelled_risk_assessment_with_a_fraction() {
    let b = bundle();
    let ra = one(&b, "RiskAssessment", "dvt");
    assert_eq!(ra["status"], "final");
    assert_eq!(
        ra["meta"]["security"][0],
        json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
               "code": "AIAST", "display": "Artificial Intelligence asserted"})
    );
    assert_eq!(
        ra["identifier"][0]["system"],
        format!("{BASE}/fhir/assessment-id")
    );
    let method = &ra["method"]["coding"][0];
    assert_eq!(method["system"], format!("{BASE}/fhir/CodeSystem/model"));
    assert_eq!(method["code"], "dvt");
    assert_eq!(method["version"], "dvt@0123456789ab");
    assert_eq!(
        ra["code"]["coding"][0]["system"],
        format!("{BASE}/fhir/CodeSystem/assessment-type")
    );
    assert_eq!(ra["subject"], json!({"reference": "Patient/pat-42"}));
    assert_eq!(ra["encounter"], json!({"reference": "Encounter/enc-7"}));
    assert_eq!(ra["occurrenceDateTime"], "2026-11-21T12:34:56.789Z");
    let p = &ra["prediction"][0];
    assert_eq!(p["probabilityDecimal"], json!(0.061));
    assert_eq!(p["relativeRisk"], json!(3.05));
    assert_eq!(
        p["outcome"]["coding"][0]["system"],
        format!("{BASE}/fhir/CodeSystem/outcome")
    );
    assert_eq!(p["outcome"]["coding"][0]["code"], "dvt");
    assert_eq!(
        p["outcome"]["text"],
        crate::outcomes::Outcome::Dvt.definition()
    );
    let band = &p["qualitativeRisk"]["coding"][0];
    assert_eq!(band["system"], format!("{BASE}/fhir/CodeSystem/risk-band"));
    assert_eq!(band["code"], "elevated");
    let notes = notes(ra);
    assert!(notes.contains(&risk::FRACTION_NOTE), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("albumin_g_dl, hba1c_percent")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("synthetic data")),
        "{notes:?}"
    );
    assert!(ra["text"]["div"].as_str().expect("div").contains("6.1 %"));
}

#[test]
fn the_rationale_names_the_three_largest_contributors_in_words() {
    let b = bundle();
    let rationale = one(&b, "RiskAssessment", "dvt")["prediction"][0]["rationale"]
        .as_str()
        .expect("rationale")
        .to_string();
    assert!(rationale.starts_with("Main contributors: history_of_vte = true (raises); age_years = 78 years (raises); hemoglobin_g_dl = 12.1 g/dL (lowers)."), "{rationale}");
    assert!(
        !rationale.contains("albumin"),
        "4th contributor named: {rationale}"
    );
    assert!(
        !rationale.contains("sex"),
        "zero contributor named: {rationale}"
    );
}

#[test]
fn the_basis_is_every_given_reference_and_nothing_else() {
    let b = bundle();
    let expected = [
        "Observation/hb-1",
        "ServiceRequest/sr-fusion-1",
        "Condition/vte-2019",
        "https://ehr.example.org/fhir/Observation/wt-1",
    ];
    for ra in resources(&b, "RiskAssessment") {
        assert_eq!(references(&ra["basis"]), expected);
    }
    let provenance = resources(&b, "Provenance")[0];
    let entities: Vec<&str> = provenance["entity"]
        .as_array()
        .expect("entities")
        .iter()
        .map(|e| {
            assert_eq!(e["role"], "source");
            e["what"]["reference"].as_str().expect("what")
        })
        .collect();
    assert_eq!(entities, expected);
    // Observation.derivedFrom allows Observations, not ServiceRequests or Conditions.
    let obs = one(&b, "Observation", "blood_loss_ml");
    assert_eq!(
        references(&obs["derivedFrom"]),
        [
            "Observation/hb-1",
            "https://ehr.example.org/fhir/Observation/wt-1"
        ]
    );
    // Without inputs: no basis, no entity, no derivedFrom (never empty lists).
    let bare = bundle_with(&answer(), &[], None);
    for r in bare["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
    {
        for key in ["basis", "entity", "derivedFrom"] {
            assert!(r.get(key).is_none(), "{key} in {r}");
        }
    }
}

#[test]
fn a_not_applicable_outcome_is_a_cancelled_risk_assessment_giving_the_reason() {
    let b = bundle();
    let ra = one(&b, "RiskAssessment", "acdf_inpatient_conversion");
    assert_eq!(ra["status"], "cancelled");
    let p = &ra["prediction"][0];
    assert!(p.get("probabilityDecimal").is_none());
    assert!(p.get("qualitativeRisk").is_none());
    assert_eq!(
        p["outcome"]["coding"][0]["code"],
        "acdf_inpatient_conversion"
    );
    let rationale = p["rationale"].as_str().expect("rationale");
    assert!(
        rationale.contains("planned ambulatory ACDF only"),
        "{rationale}"
    );
    assert!(notes(ra)
        .iter()
        .any(|n| n.contains("planned ambulatory ACDF only")));
    assert!(!notes(ra).contains(&risk::FRACTION_NOTE));
}

#[test]
fn blood_loss_is_an_observation_in_millilitres_with_its_interval() {
    let b = bundle();
    let obs = one(&b, "Observation", "blood_loss_ml");
    assert_eq!(obs["status"], "final");
    assert_eq!(obs["meta"]["security"][0]["code"], "AIAST");
    assert_eq!(obs["code"]["coding"][0]["code"], "blood_loss_ml");
    assert_eq!(
        obs["valueQuantity"],
        json!({"value": 842.5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"})
    );
    assert_eq!(obs["effectiveDateTime"], "2026-11-21T12:34:56.789Z");
    assert_eq!(obs["issued"], "2026-11-21T12:34:56.789Z");
    let component = |code: &str| {
        obs["component"]
            .as_array()
            .expect("components")
            .iter()
            .find(|c| c["code"]["coding"][0]["code"] == code)
            .unwrap_or_else(|| panic!("no component {code}"))
            .clone()
    };
    assert_eq!(component("p10")["valueQuantity"]["value"], json!(410.0));
    assert_eq!(component("p90")["valueQuantity"]["value"], json!(1630.25));
    assert_eq!(component("p90")["valueQuantity"]["code"], "mL");
    assert_eq!(
        component("cohort-median")["valueQuantity"]["value"],
        json!(600.0)
    );
    assert_eq!(
        component("risk-band")["valueCodeableConcept"]["coding"][0]["code"],
        "moderate"
    );
    assert!(obs.get("dataAbsentReason").is_none());
}

#[test]
fn internal_references_point_at_entries_of_the_bundle() {
    let b = bundle();
    let url_of = |kind: &str| -> Vec<String> {
        b["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["resource"]["resourceType"] == kind)
            .map(|e| e["fullUrl"].as_str().expect("url").to_string())
            .collect()
    };
    let device = url_of("Device").remove(0);
    for ra in resources(&b, "RiskAssessment") {
        assert_eq!(ra["performer"]["reference"], device.as_str());
    }
    let obs = one(&b, "Observation", "blood_loss_ml");
    assert_eq!(obs["device"]["reference"], device.as_str());
    let provenance = resources(&b, "Provenance")[0];
    assert_eq!(provenance["agent"][0]["who"]["reference"], device.as_str());
    assert_eq!(provenance["recorded"], "2026-11-21T12:34:56.789Z");
    assert_eq!(provenance["meta"]["security"][0]["code"], "AIAST");
    let mut targets: Vec<String> = references(&provenance["target"])
        .into_iter()
        .map(String::from)
        .collect();
    let mut produced = url_of("RiskAssessment");
    produced.extend(url_of("Observation"));
    targets.sort();
    produced.sort();
    assert_eq!(targets, produced);
}

#[test]
fn the_device_names_the_model_set_and_every_model_version() {
    let b = bundle();
    let device = resources(&b, "Device")[0];
    assert_eq!(
        device["identifier"][0]["value"],
        "default@0.1.0+e07dbeb4d898"
    );
    let versions = device["version"].as_array().expect("versions");
    assert_eq!(versions.len(), 4, "the set and three models: {versions:?}");
    assert_eq!(versions[0]["value"], "0.1.0+e07dbeb4d898");
    let dvt = versions
        .iter()
        .find(|v| v["type"]["coding"][0]["code"] == "dvt")
        .expect("the dvt model");
    assert_eq!(dvt["value"], "dvt@0123456789ab");
    assert_eq!(dvt["component"]["value"], format!("{:0>64}", 3));
    assert!(notes(device).iter().any(|n| n.contains("synthetic data")));
    let real = assessment_bundle(
        &answer(),
        &FhirOutOptions {
            base_url: BASE,
            subject: None,
            encounter: None,
            basis: &[],
            synthetic: false,
        },
    );
    let device = resources(&real, "Device")[0];
    assert!(!notes(device).iter().any(|n| n.contains("synthetic")));
}

#[test]
fn an_unknown_subject_is_a_display_only_reference() {
    let b = bundle_with(&answer(), &basis(), None);
    for ra in resources(&b, "RiskAssessment") {
        assert!(ra["subject"].get("reference").is_none());
        assert!(ra["subject"]["display"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
        assert!(ra.get("encounter").is_none());
    }
}

#[test]
fn nothing_is_ever_null_or_empty() {
    let mut bare = answer();
    for p in &mut bare.predictions {
        p.explanation = None;
        p.baseline = None;
        p.relative_risk = None;
        p.risk_band = Some(String::new());
        p.reason = None;
    }
    bare.warnings = vec![String::new()];
    bare.inputs.missing.clear();
    let empty_strings = [String::new(), "  ".to_string()];
    for b in [
        bundle(),
        bundle_with(&bare, &[], None),
        bundle_with(&bare, &empty_strings, Some("")),
    ] {
        let mut found = Vec::new();
        empties(&b, "Bundle", &mut found);
        assert!(found.is_empty(), "empty values at {found:?}");
    }
}

#[test]
fn an_answer_without_predictions_has_no_provenance() {
    let mut a = answer();
    a.predictions.clear();
    let b = bundle_with(&a, &basis(), None);
    assert_eq!(b["entry"].as_array().expect("entries").len(), 1);
    assert_eq!(resources(&b, "Device").len(), 1);
}

#[test]
fn a_missing_top_contributor_is_named_as_missing() {
    let mut a = answer();
    let e = a.predictions[1]
        .explanation
        .as_mut()
        .expect("dvt explanation");
    e.contributions[3].contribution = 2.0; // albumin_g_dl, missing, now the largest
    let text = risk::rationale(e);
    assert!(
        text.starts_with(
            "Main contributors: albumin_g_dl (missing, raises); history_of_vte = true (raises);"
        ),
        "{text}"
    );
}

#[test]
fn a_tiny_probability_does_not_read_as_zero() {
    let mut a = answer();
    a.predictions[1].probability = Some(0.000_07);
    let b = bundle_with(&a, &basis(), None);
    let div = one(&b, "RiskAssessment", "dvt")["text"]["div"]
        .as_str()
        .expect("div")
        .to_string();
    assert!(div.contains("predicted risk &lt; 0.1 %"), "{div}");
    assert_eq!(
        one(&b, "RiskAssessment", "dvt")["prediction"][0]["probabilityDecimal"],
        json!(0.000_07)
    );
}
