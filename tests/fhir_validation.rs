//! periop's FHIR R4 output checked by an independent validator (`scripts/validate_fhir.py`:
//! fhir.resources R4 models, FHIRPath invariants via fhirpathpy, CDS Hooks 2.0 rules), on real
//! assessments of the shipped models: a lumbar fusion with every input, a patient with only the
//! required inputs, and an ambulatory ACDF (lumbar-only outcomes not applicable). The validator
//! is shown to fail on broken resources and bad cards. Needs `FHIR_VALIDATOR_PYTHON` (the venv
//! python that `scripts/validators.sh` prints); without it the tests fail, they never skip.

#[path = "support/fhir_validator.rs"]
mod fhir_validator;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fhir_validator::run_validator;
use periop::ehr::fhir_out::{assessment_bundle, FhirOutOptions};
use periop::model::ensemble::ModelSet;
use periop::service::{Assessment, AssessmentRequest, Assessor, RuleSource, Status};
use serde_json::{json, Map, Value};

const BASE: &str = "https://periop.example.org";

fn assessor() -> &'static Assessor {
    static ASSESSOR: OnceLock<Assessor> = OnceLock::new();
    ASSESSOR.get_or_init(|| {
        let models =
            ModelSet::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"))
                .expect("models/default loads");
        Assessor::new(std::sync::Arc::new(models), RuleSource::Off, None)
    })
}

fn object(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

/// A lumbar fusion with every input of the dictionary but the tumour ones.
fn lumbar_fusion_every_input() -> Map<String, Value> {
    // Too many keys for one json! (the macro's recursion limit).
    object(
        serde_json::from_str(
            r#"{
        "age_years": 78, "sex": "female", "height_cm": 162, "weight_kg": 71.5, "bmi": 27.2,
        "smoking_status": "former", "asa_class": 3, "functional_status": "independent",
        "ecog": 1, "diabetes": "non_insulin", "hypertension": true,
        "coronary_artery_disease": false, "congestive_heart_failure": false, "copd": false,
        "chronic_kidney_disease": false, "osteoporosis": true, "history_of_vte": true,
        "depression_anxiety": false, "cognitive_impairment": false,
        "alcohol_use_disorder": false, "chronic_opioid_use": true, "chronic_steroid_use": false,
        "bleeding_disorder_or_anticoagulant": false, "hemoglobin_g_dl": 12.1,
        "platelets_10e9_l": 240, "inr": 1.0, "aptt_s": 30, "albumin_g_dl": 3.9,
        "creatinine_mg_dl": 0.9, "d_dimer_mg_l_feu": 0.4, "bone_density_hu": 110,
        "stenosis_grade": 2, "procedure": "lumbar_fusion", "minimally_invasive": false,
        "fused_levels": 3, "decompressed_levels": 2, "revision_surgery": false,
        "fusion_to_sacrum": false, "planned_duration_min": 240,
        "tranexamic_acid_planned": true, "ambulatory_planned": false, "odi_baseline": 48,
        "symptom_duration_over_12mo": true, "back_pain_dominant": false
    }"#,
        )
        .expect("patient JSON"),
    )
}

/// Only the required inputs: most optional inputs are missing.
fn sparse_decompression() -> Map<String, Value> {
    object(json!({"age_years": 64, "sex": "male", "procedure": "lumbar_decompression"}))
}

/// A planned ambulatory ACDF: screw loosening, CSF leak and ODI failure are not applicable.
fn ambulatory_acdf() -> Map<String, Value> {
    object(json!({
        "age_years": 55, "sex": "male", "height_cm": 180, "weight_kg": 90,
        "hypertension": false, "procedure": "acdf", "fused_levels": 1,
        "ambulatory_planned": true
    }))
}

fn assess(patient: Map<String, Value>) -> Assessment {
    assessor()
        .answer_request(&AssessmentRequest {
            patient,
            outcomes: None,
            explain: true,
            missing_input_ranges: false,
            origin: Default::default(),
        })
        .expect("an assessment")
}

fn basis() -> Vec<String> {
    [
        "Patient/pat-42",
        "ServiceRequest/sr-fusion-1",
        "Observation/hb-1",
        "Observation/wt-1",
        "Condition/vte-2019",
    ]
    .map(String::from)
    .to_vec()
}

fn bundle(answer: &Assessment, basis: &[String], subject: Option<&str>) -> Value {
    assessment_bundle(
        answer,
        &FhirOutOptions {
            base_url: BASE,
            subject,
            encounter: subject.map(|_| "Encounter/enc-7"),
            basis,
            synthetic: true,
        },
    )
}

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
    path
}

/// Writes each `(name, document, expected)` to `<name>.json`, validates them in one run, and
/// asserts that every file has an error whose line contains `expected`.
fn assert_each_rejected(dir: &Path, mode: &[&str], cases: &[(&str, Value, &str)]) {
    let files: Vec<PathBuf> = cases
        .iter()
        .map(|(name, doc, _)| write(dir, &format!("{name}.json"), doc))
        .collect();
    let (code, output) = run_validator(mode, &files);
    assert_eq!(code, Some(1), "not rejected:\n{output}");
    for ((name, _, expected), file) in cases.iter().zip(&files) {
        let prefix = format!("{}: ", file.display());
        let lines: Vec<&str> = output.lines().filter(|l| l.starts_with(&prefix)).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains(": error: ") && l.contains(expected)),
            "{name}: no error with {expected:?} among:\n{}",
            lines.join("\n")
        );
    }
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

#[test]
fn bundles_of_shipped_model_assessments_pass_the_independent_validator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = assess(lumbar_fusion_every_input());
    let sparse = assess(sparse_decompression());
    let acdf = assess(ambulatory_acdf());

    // The patients are what the test says they are.
    assert!(full.inputs.missing.len() <= 3, "{:?}", full.inputs.missing);
    assert!(
        sparse.inputs.missing.len() >= 20,
        "{:?}",
        sparse.inputs.missing
    );
    let not_applicable: Vec<&str> = acdf
        .predictions
        .iter()
        .filter(|p| p.status == Status::NotApplicable)
        .map(|p| p.outcome.as_str())
        .collect();
    assert!(
        not_applicable.contains(&"screw_loosening"),
        "{not_applicable:?}"
    );
    assert!(not_applicable.contains(&"csf_leak"), "{not_applicable:?}");

    let bundles = [
        ("full.json", bundle(&full, &basis(), Some("Patient/pat-42"))),
        ("sparse.json", bundle(&sparse, &[], None)),
        (
            "acdf.json",
            bundle(&acdf, &basis()[..2], Some("Patient/pat-7")),
        ),
    ];
    for (_, b) in &bundles {
        let ras = resources(b, "RiskAssessment");
        assert_eq!(ras.len(), 10, "one RiskAssessment per binary outcome");
        assert_eq!(resources(b, "Observation").len(), 1);
    }
    let cancelled = resources(&bundles[2].1, "RiskAssessment")
        .into_iter()
        .filter(|r| r["status"] == "cancelled")
        .count();
    assert_eq!(cancelled, not_applicable.len());

    let mut files: Vec<PathBuf> = bundles
        .iter()
        .map(|(name, b)| write(dir.path(), name, b))
        .collect();
    // Each resource on its own too (as an EHR would POST them).
    for (i, e) in bundles[0].1["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .enumerate()
    {
        files.push(write(
            dir.path(),
            &format!("entry-{i}.json"),
            &e["resource"],
        ));
    }
    let (code, output) = run_validator(&["--strict"], &files);
    assert_eq!(
        code,
        Some(0),
        "the independent FHIR validator rejected periop's output:\n{output}"
    );
    assert!(
        output.contains(&format!(
            "{} file(s), 0 error(s), 0 warning(s)",
            files.len()
        )),
        "{output}"
    );
}

/// A shipped-model Bundle, as JSON to break.
fn real_bundle() -> Value {
    static BUNDLE: OnceLock<Value> = OnceLock::new();
    BUNDLE
        .get_or_init(|| {
            bundle(
                &assess(lumbar_fusion_every_input()),
                &basis(),
                Some("Patient/pat-42"),
            )
        })
        .clone()
}

/// The index of the first RiskAssessment entry with a probability.
fn risk_entry(b: &Value) -> usize {
    b["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .position(|e| e["resource"]["prediction"][0]["probabilityDecimal"].is_number())
        .expect("a RiskAssessment with a probability")
}

#[test]
fn the_validator_rejects_broken_fhir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = real_bundle();
    let ra = risk_entry(&original);
    type Break = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "probability-as-string",
            Box::new(move |b: &mut Value| {
                b["entry"][ra]["resource"]["prediction"][0]["probabilityDecimal"] = json!("0.061")
            }),
            "Decimal must be a JSON number",
        ),
        (
            "no-status",
            Box::new(move |b: &mut Value| {
                b["entry"][ra]["resource"]
                    .as_object_mut()
                    .expect("object")
                    .remove("status");
            }),
            "required element status is missing",
        ),
        (
            "extension-value-and-extension",
            Box::new(move |b: &mut Value| {
                b["entry"][ra]["resource"]["extension"] = json!([{
                    "url": "https://periop.example.org/fhir/StructureDefinition/x",
                    "valueString": "a",
                    "extension": [{"url": "part", "valueString": "b"}]
                }])
            }),
            "ext-1",
        ),
        (
            "probability-over-100",
            Box::new(move |b: &mut Value| {
                b["entry"][ra]["resource"]["prediction"][0]["probabilityDecimal"] = json!(150)
            }),
            "ras-2",
        ),
        (
            "empty-array",
            Box::new(move |b: &mut Value| b["entry"][ra]["resource"]["basis"] = json!([])),
            "empty array is not allowed",
        ),
        (
            "null-value",
            Box::new(move |b: &mut Value| b["entry"][ra]["resource"]["code"] = Value::Null),
            "null is not allowed",
        ),
        (
            "duplicate-full-url",
            Box::new(|b: &mut Value| {
                let first = b["entry"][0]["fullUrl"].clone();
                b["entry"][1]["fullUrl"] = first;
            }),
            "bdl-7",
        ),
        (
            "unresolved-urn-uuid",
            Box::new(move |b: &mut Value| {
                b["entry"][ra]["resource"]["performer"]["reference"] =
                    json!("urn:uuid:00000000-0000-4000-8000-000000000000")
            }),
            "does not resolve to an entry",
        ),
        (
            "derived-from-a-service-request",
            Box::new(|b: &mut Value| {
                let obs = b["entry"]
                    .as_array()
                    .expect("entries")
                    .iter()
                    .position(|e| e["resource"]["resourceType"] == "Observation")
                    .expect("the Observation");
                b["entry"][obs]["resource"]["derivedFrom"] =
                    json!([{"reference": "ServiceRequest/sr-fusion-1"}])
            }),
            "not an allowed target",
        ),
        (
            "bad-status-code",
            Box::new(move |b: &mut Value| b["entry"][ra]["resource"]["status"] = json!("done")),
            "required value set",
        ),
        (
            "unknown-element",
            Box::new(move |b: &mut Value| {
                b["entry"][ra]["resource"]["prediction"][0]["probability"] = json!(0.1)
            }),
            "unknown element 'probability'",
        ),
        (
            "bad-date-time",
            Box::new(move |b: &mut Value| {
                b["entry"][ra]["resource"]["occurrenceDateTime"] = json!("2026-11-21 12:00")
            }),
            "is not a valid DateTime",
        ),
        (
            "script-in-narrative",
            Box::new(move |b: &mut Value| {
                b["entry"][ra]["resource"]["text"]["div"] = json!(
                    "<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>x()</script>risk</div>"
                )
            }),
            "txt-1",
        ),
    ];
    let broken: Vec<(&str, Value, &str)> = cases
        .iter()
        .map(|(name, breaks, expected)| {
            let mut b = original.clone();
            breaks(&mut b);
            (*name, b, *expected)
        })
        .collect();
    assert_each_rejected(dir.path(), &[], &broken);
    // The resource alone (not in a Bundle), without status.
    let mut lone = original["entry"][ra]["resource"].clone();
    lone.as_object_mut().expect("object").remove("status");
    let file = write(dir.path(), "lone.json", &lone);
    let (code, output) = run_validator(&[], &[file]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("RiskAssessment.status"), "{output}");
    // Not JSON at all.
    let file = dir.path().join("nan.json");
    std::fs::write(&file, br#"{"resourceType": "RiskAssessment", "x": NaN}"#).expect("write");
    let (code, output) = run_validator(&[], &[file]);
    assert_eq!(code, Some(2), "{output}");
}

/// A CDS Hooks response with one good card carrying a ServiceRequest draft.
fn good_response() -> Value {
    json!({"cards": [{
        "uuid": "0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10",
        "summary": "Predicted DVT risk 6.1% after lumbar fusion (3x cohort average).",
        "indicator": "warning",
        "detail": "**DVT risk 6.1 %**",
        "source": {"label": "periop - synthetic demonstration models",
                   "url": "https://periop.example.org/",
                   "topic": {"system": "https://periop.example.org/fhir/CodeSystem/card-topic", "code": "vte-risk", "display": "VTE risk"}},
        "suggestions": [{
            "label": "Order mechanical prophylaxis",
            "uuid": "e56e1945-20b3-4393-8503-a1a20fd73152",
            "isRecommended": true,
            "actions": [{
                "type": "create",
                "description": "Draft ServiceRequest for intermittent pneumatic compression",
                "resource": {
                    "resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                    "code": {"text": "Intermittent pneumatic compression"},
                    "subject": {"reference": "Patient/pat-42"}
                }
            }]
        }],
        "selectionBehavior": "at-most-one",
        "overrideReasons": [{"system": "https://periop.example.org/fhir/CodeSystem/override-reason", "code": "clinical-judgement", "display": "Risk already addressed"}],
        "links": [{"label": "Explanation", "url": "https://periop.example.org/ui/assessments/1", "type": "absolute"}]
    }]})
}

#[test]
fn the_cds_mode_accepts_a_good_response_and_rejects_bad_cards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "good.json", &good_response());
    let empty = write(dir.path(), "empty.json", &json!({"cards": []}));
    // Without --strict: the hand-written draft has no narrative (dom-6, a warning).
    let (code, output) = run_validator(&["--cds-response"], &[good, empty]);
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("2 file(s), 0 error(s), 1 warning(s)"),
        "{output}"
    );
    assert!(output.contains("dom-6"), "{output}");

    type Break = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "empty-suggestions",
            Box::new(|r: &mut Value| r["cards"][0]["suggestions"] = json!([])),
            "[] is not allowed",
        ),
        (
            "long-summary",
            Box::new(|r: &mut Value| r["cards"][0]["summary"] = json!("x".repeat(150))),
            "shorter than 140 characters",
        ),
        (
            "selection-behavior-without-suggestions",
            Box::new(|r: &mut Value| {
                r["cards"][0]
                    .as_object_mut()
                    .expect("card")
                    .remove("suggestions");
            }),
            "selectionBehavior without suggestions",
        ),
        (
            "suggestions-without-selection-behavior",
            Box::new(|r: &mut Value| {
                r["cards"][0]
                    .as_object_mut()
                    .expect("card")
                    .remove("selectionBehavior");
            }),
            "cds-resp-6",
        ),
        (
            "bad-indicator",
            Box::new(|r: &mut Value| r["cards"][0]["indicator"] = json!("hard-stop")),
            "indicator",
        ),
        (
            "no-source-label",
            Box::new(|r: &mut Value| r["cards"][0]["source"] = json!({"url": "https://x.org"})),
            "required attribute label is missing",
        ),
        (
            "null-detail",
            Box::new(|r: &mut Value| r["cards"][0]["detail"] = Value::Null),
            "null is not allowed",
        ),
        (
            "action-without-description",
            Box::new(|r: &mut Value| {
                r["cards"][0]["suggestions"][0]["actions"][0]
                    .as_object_mut()
                    .expect("action")
                    .remove("description");
            }),
            "cds-resp-5",
        ),
        (
            "bad-action-type",
            Box::new(|r: &mut Value| {
                r["cards"][0]["suggestions"][0]["actions"][0]["type"] = json!("insert")
            }),
            "create | update | delete",
        ),
        (
            "create-with-invalid-fhir",
            Box::new(|r: &mut Value| {
                r["cards"][0]["suggestions"][0]["actions"][0]["resource"] = json!({
                    "resourceType": "MedicationRequest", "status": "draft",
                    "medicationCodeableConcept": {"text": "enoxaparin"},
                    "subject": {"reference": "Patient/pat-42"}
                })
            }),
            "required element intent is missing",
        ),
        (
            "override-reason-without-display",
            Box::new(|r: &mut Value| {
                r["cards"][0]["overrideReasons"] = json!([{"system": "https://x.org", "code": "c"}])
            }),
            "cds-resp-4",
        ),
        (
            "bad-link-type",
            Box::new(|r: &mut Value| r["cards"][0]["links"][0]["type"] = json!("web")),
            "absolute | smart",
        ),
        (
            "app-context-on-absolute-link",
            Box::new(|r: &mut Value| r["cards"][0]["links"][0]["appContext"] = json!("x")),
            "cds-resp-3",
        ),
        (
            "card-uuid-not-a-uuid",
            Box::new(|r: &mut Value| r["cards"][0]["uuid"] = json!("card-1")),
            "is not a UUID",
        ),
        (
            "two-recommended-at-most-one",
            Box::new(|r: &mut Value| {
                let s = r["cards"][0]["suggestions"][0].clone();
                r["cards"][0]["suggestions"]
                    .as_array_mut()
                    .expect("suggestions")
                    .push(s);
            }),
            "cds-resp-1",
        ),
        (
            "no-cards",
            Box::new(|r: &mut Value| *r = json!({"systemActions": []})),
            "required attribute cards is missing",
        ),
    ];
    let broken: Vec<(&str, Value, &str)> = cases
        .iter()
        .map(|(name, breaks, expected)| {
            let mut r = good_response();
            breaks(&mut r);
            (*name, r, *expected)
        })
        .collect();
    assert_each_rejected(dir.path(), &["--cds-response"], &broken);
}

#[test]
fn the_cds_mode_checks_discovery_and_feedback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let discovery = json!({"services": [{
        "hook": "order-select", "id": "periop-spine-risk", "title": "Spine surgery risk",
        "description": "Predicts peri-operative risks of planned spine surgery.",
        "prefetch": {"patient": "Patient/{{context.patientId}}",
                     "labs": "Observation?patient={{context.patientId}}&category=laboratory&_sort=-date&_count=200"}
    }]});
    let feedback = json!({"feedback": [
        {"card": "0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10", "outcome": "accepted",
         "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
         "outcomeTimestamp": "2026-02-20T14:03:11Z"},
        {"card": "0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10", "outcome": "overridden",
         "overrideReason": {"reason": {"system": "https://x.org", "code": "c", "display": "d"}, "userComment": "ok"},
         "outcomeTimestamp": "2026-02-20T14:03:11.5Z"}
    ]});
    let d = write(dir.path(), "discovery.json", &discovery);
    let (code, output) = run_validator(&["--cds-discovery", "--strict"], &[d]);
    assert_eq!(code, Some(0), "{output}");
    let f = write(dir.path(), "feedback.json", &feedback);
    let (code, output) = run_validator(&["--cds-feedback", "--strict"], &[f]);
    assert_eq!(code, Some(0), "{output}");

    let mut bad = discovery.clone();
    bad["services"][0]["prefetch"]["patient"] = json!("Patient/{{Patient.id}}");
    bad["services"][0]
        .as_object_mut()
        .expect("service")
        .remove("description");
    let d = write(dir.path(), "bad-discovery.json", &bad);
    let (code, output) = run_validator(&["--cds-discovery"], &[d]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("not a CDS Hooks 2.0 token"), "{output}");
    assert!(
        output.contains("required attribute description is missing"),
        "{output}"
    );

    let mut bad = feedback.clone();
    bad["feedback"][0]
        .as_object_mut()
        .expect("feedback")
        .remove("acceptedSuggestions");
    bad["feedback"][1]["outcome"] = json!("ignored");
    bad["feedback"][1]["overrideReason"] = json!({});
    bad["feedback"][1]["outcomeTimestamp"] = json!("2026-02-20T15:03:11+01:00");
    let f = write(dir.path(), "bad-feedback.json", &bad);
    let (code, output) = run_validator(&["--cds-feedback"], &[f]);
    assert_eq!(code, Some(1), "{output}");
    for expected in ["cds-fb-1", "cds-fb-2", "cds-fb-3", "in UTC"] {
        assert!(output.contains(expected), "no {expected}: {output}");
    }
}
