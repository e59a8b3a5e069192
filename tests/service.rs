//! The assessment service on the committed default model set: applicability, exact SHAP
//! additivity, validation, reproducible JSON, batch = single, the SVG waterfall, and
//! `periop score` giving the same numbers as the service.

use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use periop::model::ensemble::ModelSet;
use periop::outcomes::Outcome;
use periop::service::{
    explanation_svg, Assessment, AssessmentRequest, Assessor, RuleSource, ServiceError, Status,
};
use serde_json::{json, Map, Value};

const TOLERANCE: f64 = 1e-9;

fn models() -> &'static ModelSet {
    static MODELS: OnceLock<ModelSet> = OnceLock::new();
    MODELS.get_or_init(|| {
        ModelSet::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"))
            .expect("models/default loads")
    })
}

/// The assessment use case over the default set, without rules or a store.
fn assessor() -> &'static Assessor {
    static ASSESSOR: OnceLock<Assessor> = OnceLock::new();
    ASSESSOR.get_or_init(|| {
        let models =
            ModelSet::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"))
                .expect("models/default loads");
        Assessor::new(std::sync::Arc::new(models), RuleSource::Off, None)
    })
}

fn assess(_: &ModelSet, r: &AssessmentRequest) -> Result<Assessment, ServiceError> {
    assessor().answer_request(r)
}

fn assess_at(
    _: &ModelSet,
    r: &AssessmentRequest,
    id: String,
    at: DateTime<Utc>,
) -> Result<Assessment, ServiceError> {
    assessor().answer_request_at(r, id, at)
}

fn assess_batch(_: &ModelSet, r: &[AssessmentRequest]) -> Vec<Result<Assessment, ServiceError>> {
    assessor().answer_requests(r)
}

fn lumbar_fusion() -> Map<String, Value> {
    let v = json!({
        "age_years": 78,
        "sex": "female",
        "height_cm": 162,
        "weight_kg": 71.5,
        "smoking_status": "former",
        "asa_class": 3,
        "diabetes": "non_insulin",
        "hypertension": true,
        "history_of_vte": true,
        "osteoporosis": true,
        "hemoglobin_g_dl": 12.1,
        "procedure": "lumbar_fusion",
        "fused_levels": 3,
        "decompressed_levels": 2,
        "fusion_to_sacrum": false,
        "planned_duration_min": 240,
        "tranexamic_acid_planned": true,
        "odi_baseline": 48,
        "albumin_g_dl": null
    });
    v.as_object().expect("object").clone()
}

fn request(patient: Map<String, Value>) -> AssessmentRequest {
    AssessmentRequest {
        patient,
        outcomes: None,
        explain: true,
        missing_input_ranges: false,
        origin: Default::default(),
    }
}

fn fixed_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T12:34:56.789Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn check_numbers(a: &Assessment) {
    for p in &a.predictions {
        if p.status != Status::Ok {
            continue;
        }
        if let Some(prob) = p.probability {
            assert!((0.0..=1.0).contains(&prob), "{}: {prob}", p.outcome);
        }
        if let Some(q) = &p.quantity {
            assert!(
                q.p10 <= q.median && q.median <= q.p90,
                "{}: {q:?}",
                p.outcome
            );
            assert_eq!(q.unit, "mL");
        }
        assert!(p.risk_band.is_some(), "{} has no band", p.outcome);
        if let Some(e) = &p.explanation {
            let sum: f64 = e.contributions.iter().map(|c| c.contribution).sum();
            assert!(
                (e.base_value + sum - e.raw_score).abs() < TOLERANCE,
                "{}: {} + {sum} != {}",
                p.outcome,
                e.base_value,
                e.raw_score
            );
            assert_eq!(e.contributions.len(), 51);
            assert!(!e.summary.is_empty());
        }
    }
}

#[test]
fn a_lumbar_fusion_gets_every_outcome_but_acdf_conversion() {
    let a = assess(models(), &request(lumbar_fusion())).expect("assessment");
    assert_eq!(a.predictions.len(), Outcome::ALL.len());
    for p in &a.predictions {
        if p.outcome == "acdf_inpatient_conversion" {
            assert_eq!(p.status, Status::NotApplicable);
            assert!(p.reason.as_deref().unwrap_or("").contains("ACDF"), "{p:?}");
            assert!(p.probability.is_none() && p.explanation.is_none() && p.baseline.is_none());
            assert!(p.model.version.starts_with("acdf_inpatient_conversion@"));
        } else {
            assert_eq!(p.status, Status::Ok, "{}", p.outcome);
            assert!(p.explanation.is_some());
            assert!(p.baseline.is_some() && p.relative_risk.is_some());
            assert_eq!(p.model.sha256.len(), 64);
        }
    }
    check_numbers(&a);
    let blood = &a.predictions[0];
    assert!(blood.quantity.is_some() && blood.probability.is_none());
    let e = blood.explanation.as_ref().expect("explanation");
    assert_eq!(
        serde_json::to_value(e.scale).expect("scale"),
        json!("log_ml")
    );
    // The patient's values in the patient's terms; missing is null; derived features as numbers.
    let value = |f: &str| {
        e.contributions
            .iter()
            .find(|c| c.feature == f)
            .map(|c| c.value.clone())
            .expect(f)
    };
    assert_eq!(value("sex"), json!("female"));
    assert_eq!(value("history_of_vte"), json!(true));
    assert_eq!(value("albumin_g_dl"), Value::Null);
    assert!(
        value("bmi").is_number(),
        "bmi derived from height and weight"
    );
    assert!(value("caprini_score").is_number());
    // Inputs: used as given, derived with details, missing listed.
    assert!(a
        .inputs
        .used
        .iter()
        .any(|u| u.feature == "weight_kg" && u.value == json!(71.5)));
    assert!(a.inputs.missing.contains(&"albumin_g_dl".to_string()));
    assert!(!a.inputs.missing.contains(&"bmi".to_string()));
    for f in [
        "bmi",
        "hypervascular_tumor",
        "nadler_blood_volume_ml",
        "mfi5",
        "caprini_score",
    ] {
        assert!(a.inputs.derived.iter().any(|d| d.feature == f), "{f}");
    }
    let caprini = a
        .inputs
        .derived
        .iter()
        .find(|d| d.feature == "caprini_score")
        .expect("caprini");
    assert!(caprini.band.is_some() && caprini.unassessed.is_some());
    assert!(a.recommendations.is_empty());
    assert!(!a.warnings.is_empty(), "synthetic model set warning");
    uuid::Uuid::parse_str(&a.assessment_id).expect("uuid");
}

#[test]
fn the_outcome_subset_is_respected() {
    let mut r = request(lumbar_fusion());
    r.outcomes = Some(vec!["dvt".into(), "blood_loss_ml".into()]);
    let a = assess(models(), &r).expect("assessment");
    let ids: Vec<&str> = a.predictions.iter().map(|p| p.outcome.as_str()).collect();
    assert_eq!(ids, ["blood_loss_ml", "dvt"]);
}

#[test]
fn an_unknown_or_duplicate_outcome_is_invalid_input() {
    let mut r = request(lumbar_fusion());
    r.outcomes = Some(vec!["stroke".into(), "dvt".into(), "dvt".into()]);
    match assess(models(), &r) {
        Err(ServiceError::Invalid(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["outcomes[0]", "outcomes[2]"]);
            assert!(errors[0].to_string().contains("dvt"), "{}", errors[0]);
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn an_invalid_patient_lists_every_bad_field() {
    let mut p = lumbar_fusion();
    p.insert("age_years".into(), json!(140));
    p.insert("sex".into(), json!("x"));
    p.insert("hypertension".into(), json!("yes"));
    p.insert("shoe_size".into(), json!(42));
    p.remove("procedure");
    match assess(models(), &request(p)) {
        Err(ServiceError::Invalid(errors)) => {
            let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            fields.sort_unstable();
            assert_eq!(
                fields,
                [
                    "patient.age_years",
                    "patient.hypertension",
                    "patient.procedure",
                    "patient.sex",
                    "patient.shoe_size"
                ]
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn explain_false_skips_explanations_with_the_same_numbers() {
    let with = assess(models(), &request(lumbar_fusion())).expect("assessment");
    let mut r = request(lumbar_fusion());
    r.explain = false;
    let without = assess(models(), &r).expect("assessment");
    for (a, b) in with.predictions.iter().zip(&without.predictions) {
        assert!(b.explanation.is_none());
        assert_eq!(a.probability, b.probability);
        assert_eq!(a.quantity, b.quantity);
    }
    let text = serde_json::to_string(&without).expect("json");
    assert!(!text.contains("explanation"));
}

#[test]
fn the_same_request_id_and_time_give_byte_identical_json_that_round_trips() {
    let id = "0b0e7c1e-2a6f-4a55-9f3c-6f1d2f6a9c11".to_string();
    let a = assess_at(
        models(),
        &request(lumbar_fusion()),
        id.clone(),
        fixed_time(),
    )
    .expect("a");
    let b = assess_at(models(), &request(lumbar_fusion()), id, fixed_time()).expect("b");
    let ja = serde_json::to_string(&a).expect("json");
    assert_eq!(ja, serde_json::to_string(&b).expect("json"));
    assert!(ja.contains("\"created_at\":\"2026-11-21T12:34:56.789Z\""));
    let back: Assessment = serde_json::from_str(&ja).expect("parse");
    assert_eq!(back, a);
    assert_eq!(serde_json::to_string(&back).expect("json"), ja);
}

#[test]
fn a_batch_gives_the_same_numbers_as_single_assessments() {
    let mut requests: Vec<AssessmentRequest> = periop::synth::generate(40, 11)
        .into_iter()
        .map(|row| request(row.patient.to_json()))
        .collect();
    requests[3].explain = false;
    requests[5].outcomes = Some(vec!["delirium".into()]);
    requests[7].patient.insert("age_years".into(), json!(5));
    let batch = assess_batch(models(), &requests);
    assert_eq!(batch.len(), requests.len());
    let mut applicable_acdf = 0;
    for (r, b) in requests.iter().zip(&batch) {
        let single = assess(models(), r);
        match (single, b) {
            (Ok(s), Ok(b)) => {
                check_numbers(b);
                assert_eq!(
                    serde_json::to_value(&s.predictions).expect("json"),
                    serde_json::to_value(&b.predictions).expect("json")
                );
                applicable_acdf += b
                    .predictions
                    .iter()
                    .filter(|p| p.outcome == "acdf_inpatient_conversion" && p.status == Status::Ok)
                    .count();
            }
            (Err(ServiceError::Invalid(a)), Err(ServiceError::Invalid(b))) => assert_eq!(&a, b),
            (s, b) => panic!("single {s:?} vs batch {b:?}"),
        }
    }
    assert!(batch[7].is_err());
    eprintln!("{applicable_acdf} ambulatory ACDF patient(s) in the batch");
}

#[test]
fn the_waterfall_svg_names_outcome_version_and_synthetic_data() {
    let a = assess(models(), &request(lumbar_fusion())).expect("assessment");
    let dvt = a
        .predictions
        .iter()
        .find(|p| p.outcome == "dvt")
        .expect("dvt");
    let svg = explanation_svg(dvt, true).expect("svg");
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains(&dvt.model.version));
    assert!(svg.contains("synthetic training data"));
    let na = a
        .predictions
        .iter()
        .find(|p| p.status == Status::NotApplicable)
        .expect("not applicable");
    assert!(explanation_svg(na, true).is_none());
}

/// A stored answer's SVG is labelled by what that answer says of its own model set, not by the
/// set answering now: an answer without the synthetic warning gets no synthetic label from the
/// (synthetic) default set that serves the request.
#[test]
fn a_stored_waterfall_is_labelled_by_the_set_that_answered() {
    use periop::audit::{AuditStore, SqliteAuditStore};
    let dir = tempfile::tempdir().expect("tempdir");
    let store: std::sync::Arc<dyn AuditStore> =
        std::sync::Arc::new(SqliteAuditStore::open(dir.path().join("audit.db")).expect("store"));
    let models = ModelSet::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"))
        .expect("models/default loads");
    let assessor = Assessor::new(
        std::sync::Arc::new(models),
        RuleSource::Off,
        Some(store.clone()),
    );
    let caller = periop::service::Caller {
        request_id: "req-svg".into(),
        key_id: "test".into(),
    };
    let body = json!({"patient": lumbar_fusion(), "outcomes": ["dvt"], "explain": true});
    let recorded = assessor
        .assess(&body, body.to_string(), &caller)
        .expect("assessed and recorded");
    let synthetic = assessor
        .stored_explanation_svg(&recorded.assessment_id, "dvt")
        .expect("stored")
        .expect("svg");
    assert!(synthetic.contains("synthetic training data"), "{synthetic}");

    // The same answer as a set without synthetic training data would have recorded it.
    let mut record = store
        .get(&recorded.assessment_id)
        .expect("read")
        .expect("stored")
        .record;
    let mut output: Value = serde_json::from_str(&record.output).expect("answer");
    let warnings = output["warnings"].as_array_mut().expect("warnings");
    let before = warnings.len();
    warnings.retain(|w| w.as_str() != Some(periop::service::answer::SYNTHETIC_WARNING));
    assert_eq!(
        warnings.len(),
        before - 1,
        "the answer carried the synthetic warning"
    );
    let other_id = uuid::Uuid::new_v4().to_string();
    output["assessment_id"] = json!(other_id);
    record.assessment_id = other_id.clone();
    record.output = output.to_string();
    store.append(&record).expect("append");
    let real = assessor
        .stored_explanation_svg(&other_id, "dvt")
        .expect("stored")
        .expect("svg");
    assert!(!real.contains("synthetic"), "{real}");
}

#[test]
fn periop_score_scores_good_rows_and_reports_the_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("patients.csv");
    let output = dir.path().join("scored.csv");
    std::fs::write(
        &input,
        "mrn,age_years,sex,height_cm,weight_kg,hypertension,procedure,fused_levels,ambulatory_planned\n\
         A1,78,female,162,71.5,1,lumbar_fusion,3,\n\
         A2,150,female,162,71.5,1,lumbar_fusion,3,\n\
         A3,55,male,180,90,0,acdf,1,1\n",
    )
    .expect("write");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(["score", "--models"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"))
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .arg("--explain")
        .status()
        .expect("run periop score");
    assert!(status.success());
    let mut reader = csv::Reader::from_path(&output).expect("output");
    let headers = reader.headers().expect("headers").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][0], "A1");
    assert_eq!(
        &rows[1][col("error")],
        "age_years must be within 18..=100 a"
    );
    assert_eq!(&rows[1][col("dvt_probability")], "");
    assert_eq!(&rows[0][col("error")], "");
    assert_eq!(
        &rows[0][col("acdf_inpatient_conversion_status")],
        "not_applicable"
    );
    assert_eq!(&rows[2][col("acdf_inpatient_conversion_status")], "ok");
    assert!(!rows[0][col("dvt_top_contributors")].is_empty());
    assert_eq!(
        &rows[0][col("model_set_version")],
        models().set_manifest().version.as_str()
    );

    let patients = [
        json!({"age_years": 78, "sex": "female", "height_cm": 162, "weight_kg": 71.5,
               "hypertension": true, "procedure": "lumbar_fusion", "fused_levels": 3}),
        json!({"age_years": 55, "sex": "male", "height_cm": 180, "weight_kg": 90,
               "hypertension": false, "procedure": "acdf", "fused_levels": 1,
               "ambulatory_planned": true}),
    ];
    for (row, patient) in [&rows[0], &rows[2]].into_iter().zip(patients) {
        let a = assess(
            models(),
            &request(patient.as_object().expect("object").clone()),
        )
        .expect("assessment");
        for p in &a.predictions {
            let id = &p.outcome;
            let cell = |suffix: &str| -> Option<f64> {
                let text = &row[col(&format!("{id}_{suffix}"))];
                (!text.is_empty()).then(|| text.parse().expect("number"))
            };
            if let Some(q) = &p.quantity {
                assert_eq!(cell("median_ml"), Some(q.median));
                assert_eq!(cell("p10_ml"), Some(q.p10));
                assert_eq!(cell("p90_ml"), Some(q.p90));
            } else {
                assert_eq!(cell("probability"), p.probability, "{id}");
            }
            assert_eq!(
                &row[col(&format!("{id}_risk_band"))],
                p.risk_band.as_deref().unwrap_or("")
            );
            assert_eq!(
                &row[col(&format!("{id}_top_contributors"))],
                p.explanation.as_ref().map_or("", |e| e.summary.as_str())
            );
        }
    }
}

#[test]
fn clinical_effects_add_up_to_the_reported_probability_or_median() {
    let a = assess(models(), &request(lumbar_fusion())).expect("assessed");
    let mut checked = 0;
    for p in a.predictions.iter().filter(|p| p.status == Status::Ok) {
        let e = p.explanation.as_ref().expect("explained");
        let total = e.effect_base + e.contributions.iter().map(|c| c.effect).sum::<f64>();
        let answer = match (p.probability, &p.quantity) {
            (Some(prob), _) => 100.0 * prob,
            (None, Some(q)) => q.median,
            _ => panic!("{} has no number", p.outcome),
        };
        assert!(
            (total - answer).abs() < 1e-9 * answer.max(1.0),
            "{}: {total} vs {answer}",
            p.outcome
        );
        for c in &e.contributions {
            assert!(
                c.contribution * c.effect >= 0.0,
                "{} {}",
                p.outcome,
                c.feature
            );
            assert!(!c.label.is_empty() && !c.label.contains('_'), "{}", c.label);
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} outcomes checked");
    let dvt = a
        .predictions
        .iter()
        .find(|p| p.outcome == "dvt")
        .expect("dvt");
    let e = dvt.explanation.as_ref().expect("explained");
    let age = e
        .contributions
        .iter()
        .find(|c| c.feature == "age_years")
        .expect("age");
    assert_eq!(age.label, "Age 78 y");
    let duration = e
        .contributions
        .iter()
        .find(|c| c.feature == "planned_duration_min")
        .expect("duration");
    assert_eq!(duration.label, "Planned duration 4 h");
    assert!(e.summary.contains(" pp)"), "{}", e.summary);
}

#[test]
fn missing_input_ranges_are_exact_model_evaluations_of_plausible_values() {
    let mut r = request(lumbar_fusion());
    r.missing_input_ranges = true;
    let a = assess(models(), &r).expect("assessed");
    let ranges = a.missing_input_ranges.as_ref().expect("ranges asked for");
    assert!(ranges.unavailable.is_none(), "{:?}", ranges.unavailable);
    assert!(ranges.model_evaluations > ranges.patients_evaluated);
    let ddimer = ranges
        .inputs
        .iter()
        .find(|i| i.feature == "d_dimer_mg_l_feu")
        .expect("d-dimer is missing and ranged");
    assert!(ddimer.values.len() >= 3, "{:?}", ddimer.values);
    let dvt = ddimer
        .outcomes
        .iter()
        .find(|o| o.outcome == "dvt")
        .expect("dvt range");
    assert!(dvt.low <= dvt.high);
    // Exact: the patient with the value giving `high` answers exactly `high`.
    for (at, expected) in [(&dvt.high_at, dvt.high), (&dvt.low_at, dvt.low)] {
        let mut patient = lumbar_fusion();
        patient.insert("d_dimer_mg_l_feu".into(), at.clone());
        let b = assess(models(), &request(patient)).expect("assessed");
        let p = b
            .predictions
            .iter()
            .find(|p| p.outcome == "dvt")
            .expect("dvt");
        assert_eq!(p.probability, Some(expected));
    }
    // Sorted by spread, largest first; present inputs are never ranged.
    assert!(ranges.inputs.windows(2).all(|w| w[0].spread >= w[1].spread));
    assert!(ranges.inputs.iter().all(|i| i.feature != "age_years"));
    // Not asked for: absent.
    let plain = assess(models(), &request(lumbar_fusion())).expect("assessed");
    assert!(plain.missing_input_ranges.is_none());
}
