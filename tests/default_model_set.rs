//! The committed default model set (`models/default`): it loads with every hash verified, each of
//! its LightGBM models is reproduced exactly by the native ensemble (raw scores and TreeSHAP
//! against LightGBM's own `predict_contrib`, 2,500 rows each), and its recorded training data is
//! exactly what the documented `periop synth` command produces.

use std::path::PathBuf;

use lightgbm3::Booster;
use periop::model::ensemble::{model_matrix, ModelSet};
use periop::model::manifest::sha256_hex;
use periop::outcomes::Outcome;

const TOLERANCE: f64 = 1e-9;
/// `scripts/reproduce-default.sh`: the training cohort of the default set.
const TRAIN_ROWS: usize = 150_000;
const TRAIN_SEED: u64 = 20_261_121;

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

#[test]
fn the_default_set_loads_verified_and_covers_every_outcome() {
    let set =
        ModelSet::load(&default_dir()).expect("models/default must load with all hashes valid");
    for outcome in Outcome::ALL {
        assert!(
            set.manifest(outcome).is_some(),
            "no model for {}",
            outcome.id()
        );
    }
    let info = set.set_manifest();
    assert!(
        info.training_data.synthetic,
        "the default set is trained on synthetic data and must say so"
    );
    assert_eq!(info.training_data.rows, TRAIN_ROWS);
    assert_eq!(info.seed, 42);
}

#[test]
fn native_predictions_and_shap_equal_lightgbm_on_every_default_model() {
    let set = ModelSet::load(&default_dir()).expect("load");
    let rows = periop::synth::generate(2_500, 7);
    let patients: Vec<_> = rows.into_iter().map(|r| r.patient).collect();
    let x = model_matrix(&patients).expect("matrix");
    let n_features = x.ncols();
    let flat: Vec<f64> = x.iter().copied().collect();
    let mut checked = 0;
    for outcome in Outcome::ALL {
        let model = set.outcome_model(outcome).expect("model");
        for file in &model.manifest().files {
            let path = default_dir().join(outcome.id()).join(&file.path);
            let booster =
                Booster::from_file(&path.display().to_string()).expect("LightGBM loads the model");
            let native = model.model(file.role).expect("native model for role");
            let lgb_raw = booster
                .raw_scores(&flat, n_features as i32, true)
                .expect("raw");
            let lgb_contrib = booster
                .predict_contrib(&flat, n_features as i32, true)
                .expect("contrib");
            let explained = native.explain_raw(x.view()).expect("explain");
            let predicted = native.predict_raw(x.view()).expect("predict");
            let mut max_raw = 0.0_f64;
            let mut max_shap = 0.0_f64;
            let mut max_additivity = 0.0_f64;
            for i in 0..patients.len() {
                max_raw = max_raw
                    .max((predicted[i] - lgb_raw[i]).abs())
                    .max((explained.raw[i] - lgb_raw[i]).abs());
                let row = &lgb_contrib[i * (n_features + 1)..(i + 1) * (n_features + 1)];
                for (native_phi, lgb_phi) in explained.contributions.row(i).iter().zip(row) {
                    max_shap = max_shap.max((native_phi - lgb_phi).abs());
                }
                max_shap = max_shap.max((explained.base_value - row[n_features]).abs());
                let sum: f64 = explained.base_value + explained.contributions.row(i).sum();
                max_additivity = max_additivity.max((sum - lgb_raw[i]).abs());
            }
            let what = format!("{}/{}", outcome.id(), file.path);
            assert!(
                max_raw <= TOLERANCE,
                "{what}: raw differs from LightGBM by {max_raw:e}"
            );
            assert!(
                max_shap <= TOLERANCE,
                "{what}: SHAP differs from predict_contrib by {max_shap:e}"
            );
            assert!(
                max_additivity <= TOLERANCE,
                "{what}: base + SHAP misses the raw score by {max_additivity:e}"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked, 13,
        "11 primary models + 2 blood-loss quantile models"
    );
}

#[test]
fn the_recorded_training_data_is_what_the_documented_synth_command_produces() {
    let set = ModelSet::load(&default_dir()).expect("load");
    let mut bytes = Vec::new();
    periop::synth::write_csv(&periop::synth::generate(TRAIN_ROWS, TRAIN_SEED), &mut bytes)
        .expect("csv");
    assert_eq!(
        sha256_hex(&bytes),
        set.set_manifest().training_data.sha256,
        "models/default was not trained on `periop synth --rows {TRAIN_ROWS} --seed {TRAIN_SEED}`: rerun scripts/reproduce-default.sh"
    );
}
