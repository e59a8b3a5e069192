//! Serving cost of the default model set: one patient through every applicable model (predict
//! only, and predict + TreeSHAP), a batch of 1,000 patients, and the native ensemble against
//! LightGBM's own `predict_contrib` on the same model (one row and 1,000 rows).
//!
//! Inputs are built outside the timed closures from a fixed-seed synthetic cohort.
//! Run: `cargo bench --bench predict` (release). Figures are reported in docs/models.md.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lightgbm3::Booster;
use periop::features::Patient;
use periop::model::ensemble::{model_matrix, ModelSet};
use periop::outcomes::Outcome;

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

fn cohort(n: usize) -> Vec<Patient> {
    periop::synth::generate(n, 99)
        .into_iter()
        .map(|r| r.patient)
        .collect()
}

/// The first lumbar fusion patient of the fixed cohort: every outcome but ACDF conversion applies.
fn lumbar_fusion_patient(patients: &[Patient]) -> Patient {
    patients
        .iter()
        .find(|p| p.level("procedure") == Some("lumbar_fusion"))
        .cloned()
        .expect("the cohort has a lumbar fusion patient")
}

fn assess(set: &ModelSet, patient: &Patient, explain: bool) -> usize {
    let mut n = 0;
    for outcome in Outcome::ALL {
        if outcome.applies_to(patient).is_ok() {
            let p = set
                .predict_one(outcome, patient, explain)
                .expect("prediction");
            n += usize::from(p.raw.is_finite());
        }
    }
    n
}

fn full_set(c: &mut Criterion) {
    let set = ModelSet::load(&default_dir()).expect("models/default");
    let patients = cohort(1_000);
    let patient = lumbar_fusion_patient(&patients);
    let mut group = c.benchmark_group("model_set");
    group.bench_function("one_patient_all_models_predict", |b| {
        b.iter(|| assess(&set, black_box(&patient), false))
    });
    group.bench_function("one_patient_all_models_predict_shap", |b| {
        b.iter(|| assess(&set, black_box(&patient), true))
    });
    group.sample_size(10);
    group.bench_function(
        BenchmarkId::new("batch_all_models_predict_shap", patients.len()),
        |b| {
            b.iter(|| {
                let mut n = 0;
                for outcome in Outcome::ALL {
                    let applicable: Vec<Patient> = patients
                        .iter()
                        .filter(|p| outcome.applies_to(p).is_ok())
                        .cloned()
                        .collect();
                    n += set
                        .predict_batch(outcome, black_box(&applicable), true)
                        .expect("batch")
                        .len();
                }
                n
            })
        },
    );
    group.finish();
}

fn native_vs_lightgbm(c: &mut Criterion) {
    let set = ModelSet::load(&default_dir()).expect("models/default");
    let patients = cohort(1_000);
    let x = model_matrix(&patients).expect("matrix");
    let n_features = x.ncols();
    let flat: Vec<f64> = x.iter().copied().collect();
    for outcome in [Outcome::Dvt, Outcome::BloodLossMl] {
        let model = set.outcome_model(outcome).expect("model");
        let native = model.primary();
        let path = default_dir().join(outcome.id()).join("model.txt");
        let booster = Booster::from_file(&path.display().to_string()).expect("LightGBM model");
        let mut group =
            c.benchmark_group(format!("shap_{}_{}trees", outcome.id(), native.num_trees()));
        let one = x.slice(ndarray::s![0..1, ..]);
        group.bench_function("native_explain_1_row", |b| {
            b.iter(|| native.explain_raw(black_box(one)).expect("explain"))
        });
        group.bench_function("lightgbm_predict_contrib_1_row", |b| {
            b.iter(|| {
                booster
                    .predict_contrib(black_box(&flat[..n_features]), n_features as i32, true)
                    .expect("contrib")
            })
        });
        group.bench_function("native_predict_1_row", |b| {
            b.iter(|| native.predict_raw(black_box(one)).expect("predict"))
        });
        group.bench_function("lightgbm_raw_score_1_row", |b| {
            b.iter(|| {
                booster
                    .raw_scores(black_box(&flat[..n_features]), n_features as i32, true)
                    .expect("raw")
            })
        });
        group.sample_size(10);
        group.bench_function("native_explain_1000_rows", |b| {
            b.iter(|| native.explain_raw(black_box(x.view())).expect("explain"))
        });
        group.bench_function("lightgbm_predict_contrib_1000_rows", |b| {
            b.iter(|| {
                booster
                    .predict_contrib(black_box(&flat), n_features as i32, true)
                    .expect("contrib")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, full_set, native_vs_lightgbm);
criterion_main!(benches);
