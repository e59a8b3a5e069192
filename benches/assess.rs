//! One full assessment without HTTP (validation, derived features, every applicable model,
//! calibration, bands, explanations and the plain-language summaries) for a typical lumbar
//! fusion patient, with and without explanations; the same with the default rule set applied;
//! and the rule evaluation alone (context + zen-engine + trace + recommendations), so its share
//! of an assessment's compute is visible. Run: `cargo bench --bench assess`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use periop::model::ensemble::ModelSet;
use std::sync::Arc;

use periop::service::{rule_context, validate, AssessmentRequest, Assessor, RuleSource};
use serde_json::json;

fn lumbar_fusion_request(explain: bool) -> AssessmentRequest {
    let patient = json!({
        "age_years": 67, "sex": "female", "height_cm": 162, "weight_kg": 81.9,
        "smoking_status": "former", "asa_class": 3, "functional_status": "independent",
        "diabetes": "non_insulin", "hypertension": true, "osteoporosis": true, "history_of_vte": false,
        "hemoglobin_g_dl": 12.4, "platelets_10e9_l": 230, "albumin_g_dl": 3.9, "creatinine_mg_dl": 0.9,
        "bone_density_hu": 98, "stenosis_grade": 2, "procedure": "lumbar_fusion", "fused_levels": 3,
        "decompressed_levels": 3, "fusion_to_sacrum": true, "planned_duration_min": 240,
        "tranexamic_acid_planned": true, "odi_baseline": 48
    });
    AssessmentRequest {
        patient: patient.as_object().cloned().unwrap_or_default(),
        outcomes: None,
        explain,
        missing_input_ranges: false,
        origin: Default::default(),
    }
}

fn full_assessment(c: &mut Criterion) {
    let models = Arc::new(
        ModelSet::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"))
            .expect("models/default"),
    );
    let plain = Assessor::new(models.clone(), RuleSource::Off, None);
    let mut group = c.benchmark_group("assessment_lumbar_fusion");
    for explain in [true, false] {
        let request = lumbar_fusion_request(explain);
        let name = if explain {
            "all_models_with_explanations"
        } else {
            "all_models_without_explanations"
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                plain
                    .answer_request(black_box(&request))
                    .expect("assessment")
            })
        });
    }
    let set_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default");
    let rules = Arc::new(periop::rules::shipped::load(&set_dir).expect("models/default/rules"));
    let with_rules = Assessor::new(models.clone(), RuleSource::Fixed(rules.clone()), None);
    for explain in [true, false] {
        let request = lumbar_fusion_request(explain);
        let name = if explain {
            "all_models_with_explanations_and_rules"
        } else {
            "all_models_without_explanations_with_rules"
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                with_rules
                    .answer_request(black_box(&request))
                    .expect("assessment")
            })
        });
    }
    group.finish();

    // The rule evaluation alone, on the predictions of the same patient.
    let request = lumbar_fusion_request(false);
    let job = validate(&request).expect("valid");
    let mut group = c.benchmark_group("rules_lumbar_fusion");
    group.bench_function("predict_and_context_build", |b| {
        b.iter(|| rule_context(&models, black_box(&job)).expect("context"))
    });
    let context = rule_context(&models, &job).expect("context");
    group.bench_function("evaluate_default_rules", |b| {
        b.iter(|| rules.evaluate(black_box(&context)).expect("rules"))
    });
    group.finish();
}

criterion_group!(benches, full_assessment);
criterion_main!(benches);
