//! The native ensemble against real LightGBM (`lightgbm3`, no mocks): models are trained here on
//! random data with NaNs, a feature first seen missing at prediction time (missing type None),
//! `zero_as_missing` (missing type Zero), categorical features, one-leaf trees, and binary,
//! regression and quantile objectives; then parsed from `save_string()` text and compared with
//! `Booster::raw_scores` and `Booster::predict_contrib` on thousands of rows, NaN-heavy and odd
//! ones included. Also: model-set loading refuses tampered, missing and mismatched files.
//!
//! LightGBM's `Booster` is neither `Send` nor `Sync`; it stays inside these test functions.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::Path;
use std::time::Instant;

use lightgbm3::{Booster, Dataset};
use ndarray::{Array2, Axis};
use periop::features::model_input::{model_feature_count, model_feature_names};
use periop::features::{FeatureKind, Patient, FEATURES};
use periop::model::calibration::Calibration;
use periop::model::ensemble::{model_matrix, ModelError, ModelSet, OutcomeModel};
use periop::model::manifest::{
    sha256_hex, ModelFile, ModelManifest, ModelRole, ModelSetEntry, ModelSetManifest, TrainingData,
    TrainingSummary, MANIFEST_FORMAT,
};
use periop::model::native::{NativeModel, RawExplanation};
use periop::model::shap_rs_oracle::ShapRsModel;
use periop::outcomes::{Outcome, OutcomeKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const TOLERANCE: f64 = 1e-9;

/// Trains through LightGBM's C API directly. Why not `lightgbm3::Booster::train`: lightgbm3
/// constructs every `Dataset` with empty parameters, and LightGBM fixes `categorical_feature` and
/// `zero_as_missing` when the Dataset is constructed (passing them to the booster is silently
/// ignored: the trees come out numerical). The oracle for predictions is still the safe
/// `Booster`, loaded from the saved text.
mod lgb_ffi {
    use std::ffi::{CStr, CString};
    use std::ptr::null_mut;

    use lightgbm3_sys as sys;

    fn check(code: i32) {
        if code != 0 {
            // SAFETY: LightGBM returns a pointer to a NUL-terminated thread-local message.
            let message = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) };
            panic!("LightGBM: {}", message.to_string_lossy());
        }
    }

    /// Trains `iterations` rounds on row-major `x` and returns `save_string()`-equivalent text.
    pub fn train(
        x: &[f64],
        y: &[f32],
        n_features: usize,
        dataset_params: &str,
        booster_params: &str,
        iterations: usize,
    ) -> String {
        let nrow = i32::try_from(y.len()).unwrap();
        assert_eq!(x.len(), y.len() * n_features);
        let dataset_params = CString::new(dataset_params).unwrap();
        let booster_params = CString::new(booster_params).unwrap();
        let label = CString::new("label").unwrap();
        // SAFETY: every pointer passed is valid for the duration of the call and sized as declared;
        // handles are freed before returning.
        unsafe {
            let mut dataset = null_mut();
            check(sys::LGBM_DatasetCreateFromMat(
                x.as_ptr().cast(),
                sys::C_API_DTYPE_FLOAT64 as i32,
                nrow,
                i32::try_from(n_features).unwrap(),
                1,
                dataset_params.as_ptr(),
                null_mut(),
                &mut dataset,
            ));
            check(sys::LGBM_DatasetSetField(
                dataset,
                label.as_ptr(),
                y.as_ptr().cast(),
                nrow,
                sys::C_API_DTYPE_FLOAT32 as i32,
            ));
            let mut booster = null_mut();
            check(sys::LGBM_BoosterCreate(
                dataset,
                booster_params.as_ptr(),
                &mut booster,
            ));
            for _ in 0..iterations {
                let mut finished = 0;
                check(sys::LGBM_BoosterUpdateOneIter(booster, &mut finished));
                if finished != 0 {
                    break;
                }
            }
            let mut len = 0_i64;
            check(sys::LGBM_BoosterSaveModelToString(
                booster,
                0,
                -1,
                0,
                0,
                &mut len,
                null_mut(),
            ));
            let mut buffer = vec![0_u8; usize::try_from(len).unwrap()];
            check(sys::LGBM_BoosterSaveModelToString(
                booster,
                0,
                -1,
                0,
                len,
                &mut len,
                buffer.as_mut_ptr().cast(),
            ));
            check(sys::LGBM_BoosterFree(booster));
            check(sys::LGBM_DatasetFree(dataset));
            assert_eq!(buffer.pop(), Some(0));
            String::from_utf8(buffer).unwrap()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic data: 8 columns exercising every missing-value path.
// ---------------------------------------------------------------------------------------------

const NF: usize = 8;
/// Column 2 never misses in training (LightGBM gives its splits missing type None).
const NEVER_MISSING_IN_TRAINING: usize = 2;
/// Columns 3 (8 levels: bitset splits) and 7 (3 levels: one-vs-rest splits) are categorical.
const CATEGORICAL: &str = "3,7";

fn nan_or(rng: &mut ChaCha8Rng, p: f64, v: f64) -> f64 {
    if rng.gen_bool(p) {
        f64::NAN
    } else {
        v
    }
}

/// One row; `nan_scale` multiplies every column's missing rate, `training` keeps column 2 complete.
fn row(rng: &mut ChaCha8Rng, nan_scale: f64, training: bool) -> [f64; NF] {
    let p = |base: f64| (base * nan_scale).min(0.95);
    let x0 = rng.gen_range(0.0..100.0);
    let x1 = (0..4).map(|_| rng.gen_range(-1.0..1.0)).sum::<f64>();
    let x2 = rng.gen_range(-1.0..1.0);
    let x3 = f64::from(rng.gen_range(0..8));
    let x4 = f64::from(rng.gen_range(0..6));
    let x5 = if rng.gen_bool(0.4) {
        0.0
    } else {
        rng.gen_range(0.0..10.0)
    };
    let x6 = rng.gen_range(-5.0..5.0);
    let x7 = f64::from(rng.gen_range(0..3));
    [
        nan_or(rng, p(0.2), x0),
        nan_or(rng, p(0.1), x1),
        if training {
            x2
        } else {
            nan_or(rng, p(0.1), x2)
        },
        nan_or(rng, p(0.1), x3),
        nan_or(rng, p(0.3), x4),
        nan_or(rng, p(0.1), x5),
        x6,
        nan_or(rng, p(0.05), x7),
    ]
}

/// A signal that uses every column (NaN contributes its own effect where it can occur).
fn signal(r: &[f64; NF]) -> f64 {
    let or = |v: f64, d: f64| if v.is_nan() { d } else { v };
    let cat3 = [0.8, -0.6, 1.2, 0.0, -1.0, 0.4, 0.9, -0.3];
    let cat7 = [-0.5, 0.6, 0.1];
    0.03 * (or(r[0], 70.0) - 50.0)
        + or(r[1], 0.0).tanh()
        + 1.5 * r[2]
        + if r[3].is_nan() {
            0.5
        } else {
            cat3[r[3] as usize]
        }
        + 0.25 * or(r[4], 4.0)
        + if r[5] == 0.0 {
            0.7
        } else {
            -0.05 * or(r[5], 0.0)
        }
        + if r[7].is_nan() {
            0.0
        } else {
            cat7[r[7] as usize]
        }
}

struct Data {
    x: Vec<f64>,
    binary: Vec<f32>,
    log_ml: Vec<f32>,
}

fn training_data(n: usize, seed: u64) -> Data {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Data {
        x: Vec::with_capacity(n * NF),
        binary: Vec::new(),
        log_ml: Vec::new(),
    };
    for _ in 0..n {
        let r = row(&mut rng, 1.0, true);
        let s = signal(&r);
        data.x.extend_from_slice(&r);
        data.binary
            .push(f32::from(u8::from(rng.gen_bool(1.0 / (1.0 + (-s).exp())))));
        data.log_ml
            .push((6.0 + 0.4 * s + rng.gen_range(-0.8..0.8)) as f32);
    }
    data
}

/// 2,000 ordinary rows, 1,000 NaN-heavy rows (each column missing half the time, column 2
/// included) and hand-picked odd values: non-integer, negative, unseen and huge categories;
/// tiny values LightGBM reads as zero; signed zero; infinities.
fn evaluation_rows() -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut rows: Vec<[f64; NF]> = (0..2000).map(|_| row(&mut rng, 1.0, false)).collect();
    rows.extend((0..1000).map(|_| row(&mut rng, 5.0, false)));
    let odd_categories = [2.7, 0.5, -1.0, -0.5, -3.2, 9.0, 31.0, 32.0, 40.0, 1e9];
    let odd_numbers = [
        1e-36,
        -1e-36,
        -0.0,
        1e-30,
        -1e-30,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for i in 0..300 {
        let mut r = row(&mut rng, 1.0, false);
        r[3] = odd_categories[i % odd_categories.len()];
        r[7] = odd_categories[(i / 3) % odd_categories.len()];
        r[5] = odd_numbers[i % odd_numbers.len()];
        r[2] = odd_numbers[(i / 2) % odd_numbers.len()];
        if i % 5 == 0 {
            r[0] = odd_numbers[(i / 5) % odd_numbers.len()];
        }
        rows.push(r);
    }
    let n = rows.len();
    Array2::from_shape_vec((n, NF), rows.into_iter().flatten().collect()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Diffs {
    raw: f64,
    shap: f64,
    base: f64,
    additivity: f64,
}

fn max_abs(a: impl IntoIterator<Item = f64>, b: impl IntoIterator<Item = f64>) -> f64 {
    a.into_iter()
        .zip(b)
        .map(|(x, y)| if x == y { 0.0 } else { (x - y).abs() })
        .fold(0.0, f64::max)
}

fn diffs(raw: &[f64], e: &RawExplanation, lgb_raw: &[f64], lgb_contrib: &[f64]) -> Diffs {
    let (n, nf) = e.contributions.dim();
    let lgb_shap = (0..n).flat_map(|i| lgb_contrib[i * (nf + 1)..i * (nf + 1) + nf].to_vec());
    let lgb_base = (0..n).map(|i| lgb_contrib[i * (nf + 1) + nf]);
    Diffs {
        raw: max_abs(raw.iter().copied(), lgb_raw.iter().copied())
            .max(max_abs(e.raw.iter().copied(), lgb_raw.iter().copied())),
        shap: max_abs(e.contributions.iter().copied(), lgb_shap),
        base: max_abs(std::iter::repeat_n(e.base_value, n), lgb_base),
        additivity: e
            .contributions
            .axis_iter(Axis(0))
            .zip(raw)
            .map(|(c, r)| (e.base_value + c.sum() - r).abs())
            .fold(0.0, f64::max),
    }
}

fn assert_within(name: &str, d: &Diffs) {
    assert!(d.raw <= TOLERANCE, "{name}: raw scores differ by {}", d.raw);
    assert!(
        d.shap <= TOLERANCE,
        "{name}: SHAP values differ by {}",
        d.shap
    );
    assert!(
        d.base <= TOLERANCE,
        "{name}: base values differ by {}",
        d.base
    );
    assert!(
        d.additivity <= TOLERANCE,
        "{name}: SHAP does not add up to the raw score ({})",
        d.additivity
    );
}

/// Parses `text` natively and compares both native paths (the serving port and the shap-rs
/// ensemble) with LightGBM loaded from the same text.
fn compare(name: &str, text: &str, x: &Array2<f64>) {
    let (n, nf) = x.dim();
    let flat: Vec<f64> = x.iter().copied().collect();
    let booster = Booster::from_string(text).unwrap();
    let t0 = Instant::now();
    let lgb_contrib = booster
        .predict_contrib(&flat, i32::try_from(nf).unwrap(), true)
        .unwrap();
    let lgb_time = t0.elapsed();
    let lgb_raw = booster
        .raw_scores(&flat, i32::try_from(nf).unwrap(), true)
        .unwrap();
    assert_eq!((lgb_raw.len(), lgb_contrib.len()), (n, n * (nf + 1)));

    let model = NativeModel::from_text(text).unwrap();
    let raw = model.predict_raw(x.view()).unwrap();
    let t0 = Instant::now();
    let e = model.explain_raw(x.view()).unwrap();
    let table_time = t0.elapsed();
    let tables = diffs(&raw, &e, &lgb_raw, &lgb_contrib);

    let tabled = model.num_tabled_trees();
    let model = model.without_shap_tables();
    let t0 = Instant::now();
    let e = model.explain_raw(x.view()).unwrap();
    let recursion_time = t0.elapsed();
    let recursion = diffs(&raw, &e, &lgb_raw, &lgb_contrib);

    let oracle = ShapRsModel::from_text(text).unwrap();
    let raw = oracle.predict_raw(x.view()).unwrap();
    let t0 = Instant::now();
    let e = oracle.explain_raw(x.view()).unwrap();
    let shap_rs_time = t0.elapsed();
    let reference = diffs(&raw, &e, &lgb_raw, &lgb_contrib);

    println!(
        "{name}: {} trees ({tabled} tabled), {n} rows\n  tables:    {tables:?}\n  recursion: {recursion:?}\n  shap-rs:   {reference:?}\n  \
         predict_contrib: LightGBM {lgb_time:?}, tables {table_time:?}, recursion {recursion_time:?}, shap-rs {shap_rs_time:?}",
        model.num_trees()
    );
    let multi_leaf = periop::model::lgb_text::parse(text)
        .unwrap()
        .trees
        .iter()
        .filter(|t| t.num_leaves > 1)
        .count();
    assert_eq!(
        tabled, multi_leaf,
        "every tree with a split is explained from a table"
    );
    assert_within(&format!("{name} (tables)"), &tables);
    assert_within(&format!("{name} (recursion)"), &recursion);
    assert_within(&format!("{name} (shap-rs)"), &reference);
}

/// LightGBM keeps the first of repeated keys, so `extra` comes first to override the defaults.
fn booster_params(objective: &str, extra: &str) -> String {
    format!(
        "{extra} objective={objective} max_depth=6 num_leaves=31 learning_rate=0.1 min_data_in_leaf=20 verbose=-1 \
         num_threads=1 seed=1 deterministic=true categorical_feature={CATEGORICAL}"
    )
}

fn dataset_params(extra: &str) -> String {
    format!("verbose=-1 categorical_feature={CATEGORICAL} {extra}")
}

fn assert_tree_features(text: &str) {
    // The models really exercise what they claim to: categorical bitsets and missing type None
    // on column 2 (decision_type bits 2–3 = 0 on its numerical splits).
    assert!(
        text.contains("cat_boundaries="),
        "no categorical split was learned"
    );
    let model = periop::model::lgb_text::parse(text).unwrap();
    let none_on_2 = model.trees.iter().any(|t| {
        t.split_feature
            .iter()
            .zip(&t.decision_type)
            .any(|(&f, &d)| f == NEVER_MISSING_IN_TRAINING && d & 1 == 0 && (d >> 2) & 3 == 0)
    });
    assert!(none_on_2, "column 2 was never split with missing type None");
}

#[test]
fn binary_model_matches_lightgbm_raw_scores_and_contributions() {
    let data = training_data(3000, 1);
    let text = lgb_ffi::train(
        &data.x,
        &data.binary,
        NF,
        &dataset_params(""),
        &booster_params("binary", ""),
        50,
    );
    assert_tree_features(&text);
    compare("binary", &text, &evaluation_rows());
}

#[test]
fn regression_model_matches_lightgbm() {
    let data = training_data(3000, 2);
    let text = lgb_ffi::train(
        &data.x,
        &data.log_ml,
        NF,
        &dataset_params(""),
        &booster_params("regression", ""),
        50,
    );
    assert_tree_features(&text);
    compare("regression", &text, &evaluation_rows());
}

#[test]
fn quantile_models_match_lightgbm() {
    let data = training_data(3000, 3);
    for alpha in [0.1, 0.9] {
        let text = lgb_ffi::train(
            &data.x,
            &data.log_ml,
            NF,
            &dataset_params(""),
            &booster_params("quantile", &format!("alpha={alpha}")),
            50,
        );
        assert_tree_features(&text);
        compare(&format!("quantile {alpha}"), &text, &evaluation_rows());
    }
}

#[test]
fn zero_as_missing_model_matches_lightgbm() {
    // `zero_as_missing` gives missing type Zero: NaN and 0 (and |x| <= 1e-35) take the default branch.
    let data = training_data(3000, 4);
    let text = lgb_ffi::train(
        &data.x,
        &data.binary,
        NF,
        &dataset_params("zero_as_missing=true"),
        &booster_params("binary", "zero_as_missing=true"),
        50,
    );
    let parsed = periop::model::lgb_text::parse(&text).unwrap();
    assert!(
        parsed
            .trees
            .iter()
            .flat_map(|t| &t.decision_type)
            .any(|d| d & 1 == 0 && (d >> 2) & 3 == 1),
        "no missing-type-Zero split"
    );
    compare("binary zero_as_missing", &text, &evaluation_rows());
}

#[test]
fn models_trained_through_the_safe_lightgbm3_api_match() {
    // What `periop train` produces today: no categorical features, `Booster::train` parameters.
    let data = training_data(3000, 5);
    let params = json!({"objective": "binary", "num_iterations": 40, "max_depth": 6, "num_leaves": 31, "verbose": -1,
                        "num_threads": 1, "seed": 1, "deterministic": true});
    let booster = Booster::train(
        Dataset::from_slice(&data.x, &data.binary, NF as i32, true).unwrap(),
        &params,
    )
    .unwrap();
    let text = booster.save_string().unwrap();
    assert!(!text.contains("cat_boundaries="));
    compare("binary (lightgbm3 safe API)", &text, &evaluation_rows());
}

#[test]
fn one_leaf_trees_match_lightgbm() {
    // No split can satisfy min_data_in_leaf: the model is a single one-leaf tree (the init score).
    let data = training_data(500, 6);
    let text = lgb_ffi::train(
        &data.x,
        &data.log_ml,
        NF,
        &dataset_params(""),
        &booster_params("regression", "min_data_in_leaf=1000"),
        10,
    );
    let parsed = periop::model::lgb_text::parse(&text).unwrap();
    assert!(
        parsed.trees.iter().all(|t| t.num_leaves == 1),
        "expected only one-leaf trees: {:?}",
        parsed
            .trees
            .iter()
            .map(|t| t.num_leaves)
            .collect::<Vec<_>>()
    );
    compare("one-leaf", &text, &evaluation_rows());
    // And a model mixing one-leaf and deep trees parses and matches too (stopped by min_gain later).
    let text = lgb_ffi::train(
        &data.x,
        &data.binary,
        NF,
        &dataset_params(""),
        &booster_params("binary", "min_gain_to_split=5"),
        30,
    );
    compare("binary min_gain_to_split", &text, &evaluation_rows());
}

// ---------------------------------------------------------------------------------------------
// Model sets on disk
// ---------------------------------------------------------------------------------------------

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn the_loaded_model_set_is_send_and_sync() {
    assert_send_sync::<ModelSet>();
    assert_send_sync::<OutcomeModel>();
    assert_send_sync::<NativeModel>();
}

/// A random, plausible patient (about a quarter of the inputs missing).
fn random_patient(rng: &mut ChaCha8Rng) -> Patient {
    let mut p = Patient::empty();
    for f in FEATURES {
        if rng.gen_bool(0.25) {
            continue;
        }
        let v = match f.kind {
            FeatureKind::Number { min, max } => rng.gen_range(min..=max),
            FeatureKind::Integer { min, max } => rng.gen_range(min..=max) as f64,
            FeatureKind::Boolean => f64::from(u8::from(rng.gen_bool(0.3))),
            FeatureKind::Enum { levels, .. } => rng.gen_range(0..levels.len()) as f64,
        };
        p.set(f.name, Some(v));
    }
    p
}

struct Cohort {
    patients: Vec<Patient>,
    x: Vec<f64>,
    binary: Vec<f32>,
    log_ml: Vec<f32>,
}

fn cohort(n: usize, seed: u64) -> Cohort {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let patients: Vec<Patient> = (0..n).map(|_| random_patient(&mut rng)).collect();
    let x = model_matrix(&patients).unwrap();
    let nf = model_feature_count();
    let mut binary = Vec::new();
    let mut log_ml = Vec::new();
    for r in x.axis_iter(Axis(0)) {
        let s = r
            .iter()
            .take(nf)
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(j, v)| if j % 3 == 0 { 0.01 * v } else { 0.0 })
            .sum::<f64>();
        let s = s.tanh() + rng.gen_range(-1.0..1.0);
        binary.push(f32::from(u8::from(s > 0.3)));
        log_ml.push((5.5 + 0.5 * s) as f32);
    }
    Cohort {
        patients,
        x: x.iter().copied().collect(),
        binary,
        log_ml,
    }
}

fn safe_train(c: &Cohort, labels: &[f32], objective: &str, alpha: Option<f64>) -> String {
    let mut params = json!({"objective": objective, "num_iterations": 15, "max_depth": 4, "num_leaves": 15, "verbose": -1,
                            "num_threads": 1, "seed": 7, "deterministic": true});
    if let Some(a) = alpha {
        params["alpha"] = json!(a);
    }
    let nf = i32::try_from(model_feature_count()).unwrap();
    let booster = Booster::train(
        Dataset::from_slice(&c.x, labels, nf, true).unwrap(),
        &params,
    )
    .unwrap();
    booster.save_string().unwrap()
}

fn count_trees(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("Tree=")).count()
}

/// Writes one outcome directory (model files + manifest) and returns its model-set entry.
fn write_outcome(
    dir: &Path,
    outcome: Outcome,
    files: &[(ModelRole, &str, &str)],
    calibration: Option<Calibration>,
) -> ModelSetEntry {
    let outcome_dir = dir.join(outcome.id());
    std::fs::create_dir_all(&outcome_dir).unwrap();
    let mut model_files = Vec::new();
    for &(role, name, text) in files {
        std::fs::write(outcome_dir.join(name), text).unwrap();
        model_files.push(ModelFile {
            role,
            path: name.to_string(),
            sha256: sha256_hex(text.as_bytes()),
            num_trees: count_trees(text),
            params: json!({}),
        });
    }
    let manifest = ModelManifest {
        format: MANIFEST_FORMAT,
        outcome: outcome.id().to_string(),
        version: format!("{}@{}", outcome.id(), &model_files[0].sha256[..12]),
        kind: outcome.kind(),
        definition: outcome.definition().to_string(),
        population: outcome.population().to_string(),
        features: model_feature_names()
            .into_iter()
            .map(str::to_string)
            .collect(),
        categorical_features: Vec::new(),
        seed: 7,
        files: model_files,
        training: TrainingSummary {
            population: outcome.population().to_string(),
            rows_total: 600,
            rows_train: 600,
            rows_validation: 0,
            events: None,
            baseline: 0.2,
            synthetic: true,
        },
        calibration,
        risk_bands: Vec::new(),
        metrics: json!({}),
    };
    let text = serde_json::to_string_pretty(&manifest).unwrap();
    std::fs::write(outcome_dir.join("manifest.json"), &text).unwrap();
    ModelSetEntry {
        outcome: outcome.id().to_string(),
        manifest: format!("{}/manifest.json", outcome.id()),
        manifest_sha256: sha256_hex(text.as_bytes()),
    }
}

fn write_set(dir: &Path, entries: Vec<ModelSetEntry>) {
    let set = ModelSetManifest {
        format: MANIFEST_FORMAT,
        id: "test".into(),
        version: "0.1.0+test".into(),
        periop_version: "0.1.0".into(),
        dictionary_version: "1".into(),
        seed: 7,
        training_data: TrainingData {
            file: "cohort.csv".into(),
            sha256: "00".into(),
            rows: 600,
            synthetic: true,
            sites: vec![],
        },
        training_distribution: None,
        fhir_mapping: None,
        outcomes: entries,
        recalibration: None,
    };
    std::fs::write(
        dir.join("model_set.json"),
        serde_json::to_string_pretty(&set).unwrap(),
    )
    .unwrap();
}

struct TinySet {
    dir: tempfile::TempDir,
    cohort: Cohort,
    dvt_text: String,
    blood: [String; 3],
}

/// A hand-built model set: DVT (binary, Platt-calibrated) and blood loss (median + P10 + P90).
fn tiny_set() -> TinySet {
    let dir = tempfile::tempdir().unwrap();
    let c = cohort(600, 11);
    let dvt_text = safe_train(&c, &c.binary, "binary", None);
    let blood = [
        safe_train(&c, &c.log_ml, "regression", None),
        safe_train(&c, &c.log_ml, "quantile", Some(0.1)),
        safe_train(&c, &c.log_ml, "quantile", Some(0.9)),
    ];
    let platt = Calibration::Platt {
        a: 0.9,
        b: -0.1,
        validation_brier: 0.1,
        alternative_brier: 0.11,
    };
    let entries = vec![
        write_outcome(
            dir.path(),
            Outcome::Dvt,
            &[(ModelRole::Probability, "model.txt", &dvt_text)],
            Some(platt),
        ),
        write_outcome(
            dir.path(),
            Outcome::BloodLossMl,
            &[
                (ModelRole::Median, "model.txt", &blood[0]),
                (ModelRole::P10, "model_p10.txt", &blood[1]),
                (ModelRole::P90, "model_p90.txt", &blood[2]),
            ],
            None,
        ),
    ];
    write_set(dir.path(), entries);
    TinySet {
        dir,
        cohort: c,
        dvt_text,
        blood,
    }
}

#[test]
fn a_model_set_predicts_patients_like_lightgbm() {
    let t = tiny_set();
    let set = ModelSet::load(t.dir.path()).unwrap();
    assert_eq!(
        set.outcomes().collect::<Vec<_>>(),
        vec![Outcome::Dvt, Outcome::BloodLossMl]
    );
    let nf = i32::try_from(model_feature_count()).unwrap();
    let patients = &t.cohort.patients[..200];
    let flat: Vec<f64> = model_matrix(patients).unwrap().iter().copied().collect();

    // DVT: raw = LightGBM, probability = calibration(raw), explanation adds up.
    let lgb = Booster::from_string(&t.dvt_text)
        .unwrap()
        .raw_scores(&flat, nf, true)
        .unwrap();
    let preds = set.predict_batch(Outcome::Dvt, patients, true).unwrap();
    let calibration = set
        .manifest(Outcome::Dvt)
        .unwrap()
        .calibration
        .clone()
        .unwrap();
    for (p, l) in preds.iter().zip(&lgb) {
        assert!((p.raw - l).abs() <= TOLERANCE);
        assert_eq!(p.probability, Some(calibration.apply(p.raw)));
        let e = p.explanation.as_ref().unwrap();
        assert_eq!(e.contributions.len(), model_feature_count());
        assert!((e.base_value + e.contributions.iter().sum::<f64>() - p.raw).abs() <= TOLERANCE);
        assert!(p.quantity.is_none());
    }
    // A single patient is a batch of one.
    let one = set.predict_one(Outcome::Dvt, &patients[3], false).unwrap();
    assert_eq!(one.raw, preds[3].raw);
    assert!(one.explanation.is_none());

    // Blood loss: exp of the three models, ordered.
    let raws: Vec<Vec<f64>> = t
        .blood
        .iter()
        .map(|text| {
            Booster::from_string(text)
                .unwrap()
                .raw_scores(&flat, nf, true)
                .unwrap()
        })
        .collect();
    let preds = set
        .predict_batch(Outcome::BloodLossMl, patients, true)
        .unwrap();
    for (i, p) in preds.iter().enumerate() {
        let q = p.quantity.unwrap();
        assert!((p.raw - raws[0][i]).abs() <= TOLERANCE);
        assert!((q.median - raws[0][i].exp()).abs() <= 1e-9 * q.median);
        assert!(q.p10 <= q.median && q.median <= q.p90, "{q:?}");
        let crossed = !(raws[1][i] <= raws[0][i] && raws[0][i] <= raws[2][i]);
        if !crossed {
            assert!(
                (q.p10 - raws[1][i].exp()).abs() <= 1e-9 * q.p10
                    && (q.p90 - raws[2][i].exp()).abs() <= 1e-9 * q.p90
            );
        }
        assert!(p.probability.is_none());
    }

    // No model for an outcome that is not in the set.
    assert!(matches!(
        set.predict_batch(Outcome::Delirium, patients, false),
        Err(ModelError::NoModel { .. })
    ));
}

#[test]
fn the_model_set_serves_from_many_threads() {
    let t = tiny_set();
    let set = ModelSet::load(t.dir.path()).unwrap();
    let patients = &t.cohort.patients[..50];
    let expected = set.predict_batch(Outcome::Dvt, patients, true).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                assert_eq!(
                    set.predict_batch(Outcome::Dvt, patients, true).unwrap(),
                    expected
                )
            });
        }
    });
}

#[test]
fn a_tampered_model_file_is_refused_with_its_path() {
    let t = tiny_set();
    let path = t.dir.path().join("dvt/model.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    // Change one leaf value: still a valid model, but not the one the manifest vouches for.
    let line = text.lines().find(|l| l.starts_with("leaf_value=")).unwrap();
    let tampered_line = line.replacen('=', "=1", 1);
    std::fs::write(&path, text.replacen(line, &tampered_line, 1)).unwrap();
    match ModelSet::load(t.dir.path()) {
        Err(ModelError::HashMismatch {
            path: p,
            expected,
            actual,
        }) => {
            assert_eq!(p, path);
            assert_ne!(expected, actual);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
}

#[test]
fn a_tampered_manifest_is_refused_with_its_path() {
    let t = tiny_set();
    let path = t.dir.path().join("blood_loss_ml/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"seed\": 7", "\"seed\": 8")).unwrap();
    assert!(
        matches!(ModelSet::load(t.dir.path()), Err(ModelError::HashMismatch { path: p, .. }) if p == path)
    );
}

#[test]
fn a_deleted_model_file_is_refused_with_its_path() {
    let t = tiny_set();
    let path = t.dir.path().join("blood_loss_ml/model_p90.txt");
    std::fs::remove_file(&path).unwrap();
    let err = ModelSet::load(t.dir.path()).unwrap_err();
    assert!(
        matches!(&err, ModelError::MissingFile { path: p } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("model_p90.txt"), "{err}");
}

#[test]
fn a_missing_model_set_json_is_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        matches!(ModelSet::load(dir.path()), Err(ModelError::MissingFile { path }) if path.ends_with("model_set.json"))
    );
}

/// Rewrites the DVT manifest through `edit` and re-hashes it in `model_set.json`, as a trainer
/// with different code would have written it.
fn rewrite_dvt_manifest(dir: &Path, edit: impl FnOnce(&mut ModelManifest)) {
    let path = dir.join("dvt/manifest.json");
    let mut manifest: ModelManifest =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    let text = serde_json::to_string_pretty(&manifest).unwrap();
    std::fs::write(&path, &text).unwrap();
    let set_path = dir.join("model_set.json");
    let mut set: ModelSetManifest =
        serde_json::from_str(&std::fs::read_to_string(&set_path).unwrap()).unwrap();
    set.outcomes
        .iter_mut()
        .find(|e| e.outcome == "dvt")
        .unwrap()
        .manifest_sha256 = sha256_hex(text.as_bytes());
    std::fs::write(&set_path, serde_json::to_string_pretty(&set).unwrap()).unwrap();
}

#[test]
fn a_manifest_for_other_features_is_refused_naming_the_difference() {
    let t = tiny_set();
    rewrite_dvt_manifest(t.dir.path(), |m| m.features[0] = "age_in_months".into());
    let err = ModelSet::load(t.dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::FeatureMismatch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("age_in_months") && message.contains(model_feature_names()[0]),
        "{message}"
    );
}

#[test]
fn a_categorical_declaration_the_model_does_not_honour_is_refused() {
    // lightgbm3's safe API cannot pass `categorical_feature` to the Dataset: a manifest declaring
    // one over a model that split it numerically would be a silent lie; it is refused.
    let t = tiny_set();
    let indices = periop::features::model_input::categorical_feature_indices();
    let used = periop::model::lgb_text::parse(&t.dvt_text)
        .unwrap()
        .header
        .feature_infos;
    let Some(&i) = indices.iter().find(|&&i| used[i] != "none") else {
        return;
    };
    rewrite_dvt_manifest(t.dir.path(), |m| m.categorical_features = vec![i]);
    let err = ModelSet::load(t.dir.path()).unwrap_err();
    assert!(matches!(err, ModelError::ModelMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("categorical"), "{err}");
}

#[test]
fn a_wrong_tree_count_or_role_objective_is_refused() {
    let t = tiny_set();
    rewrite_dvt_manifest(t.dir.path(), |m| m.files[0].num_trees += 1);
    assert!(matches!(
        ModelSet::load(t.dir.path()),
        Err(ModelError::ModelMismatch { .. })
    ));

    // The P10 file swapped for the median regression: objective `regression` cannot be a P10.
    let t = tiny_set();
    let dir = t.dir.path().join("blood_loss_ml");
    std::fs::copy(dir.join("model.txt"), dir.join("model_p10.txt")).unwrap();
    let manifest_path = dir.join("manifest.json");
    let mut m: ModelManifest =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let sha = m.files[0].sha256.clone();
    let trees = m.files[0].num_trees;
    let p10 = m
        .files
        .iter_mut()
        .find(|f| f.role == ModelRole::P10)
        .unwrap();
    p10.sha256 = sha;
    p10.num_trees = trees;
    let text = serde_json::to_string_pretty(&m).unwrap();
    std::fs::write(&manifest_path, &text).unwrap();
    let set_path = t.dir.path().join("model_set.json");
    let mut set: ModelSetManifest =
        serde_json::from_str(&std::fs::read_to_string(&set_path).unwrap()).unwrap();
    set.outcomes
        .iter_mut()
        .find(|e| e.outcome == "blood_loss_ml")
        .unwrap()
        .manifest_sha256 = sha256_hex(text.as_bytes());
    std::fs::write(&set_path, serde_json::to_string_pretty(&set).unwrap()).unwrap();
    let err = ModelSet::load(t.dir.path()).unwrap_err();
    assert!(
        matches!(&err, ModelError::ModelMismatch { path, .. } if path.ends_with("model_p10.txt")),
        "{err:?}"
    );
    assert!(OutcomeKind::Quantity == Outcome::BloodLossMl.kind());
}

#[test]
fn an_unparsable_model_names_file_and_line() {
    let t = tiny_set();
    let path = t.dir.path().join("dvt/model.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let bad = text.replacen("num_leaves=", "num_leaves=x", 1);
    std::fs::write(&path, &bad).unwrap();
    rewrite_dvt_manifest(t.dir.path(), |m| {
        m.files[0].sha256 = sha256_hex(bad.as_bytes())
    });
    let err = ModelSet::load(t.dir.path()).unwrap_err();
    let expected_line = bad
        .lines()
        .position(|l| l.starts_with("num_leaves=x"))
        .unwrap()
        + 1;
    assert!(
        matches!(&err, ModelError::Parse { path: p, line, .. } if *p == path && *line == expected_line),
        "{err:?}"
    );
}
