//! The training distribution of a model set (`training_distribution.json`): the committed default
//! set records it and its plausible values are sensible and valid inputs; sets without it still
//! load; a tampered or mismatched file refuses to load, naming the file; `periop models
//! describe-training` reproduces the committed file from the documented training data and refuses
//! a data file with another hash.

use std::path::{Path, PathBuf};
use std::process::Command;

use periop::features::{Constraint, Patient, FEATURES};
use periop::model::ensemble::ModelSet;
use periop::model::error::ModelError;
use periop::model::manifest::{sha256_hex, ModelSetManifest};
use periop::model::training_distribution::{TrainingDistribution, TRAINING_DISTRIBUTION_FILE};
use serde_json::{json, Value};

/// `scripts/reproduce-default.sh`: the training cohort of the default set.
const TRAIN_ROWS: usize = 150_000;
const TRAIN_SEED: u64 = 20_261_121;

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A copy of models/default in a temp dir.
fn default_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("default");
    copy_dir(&default_dir(), &dir);
    (tmp, dir)
}

fn read_set(dir: &Path) -> ModelSetManifest {
    serde_json::from_slice(&std::fs::read(dir.join("model_set.json")).expect("read"))
        .expect("model_set.json")
}

fn write_set(dir: &Path, set: &ModelSetManifest) {
    let mut text = serde_json::to_string_pretty(set).expect("json");
    text.push('\n');
    std::fs::write(dir.join("model_set.json"), text).expect("write");
}

/// Removes the distribution from a set, as it was before it was recorded.
fn strip_distribution(dir: &Path) {
    let mut set = read_set(dir);
    set.training_distribution = None;
    write_set(dir, &set);
    std::fs::remove_file(dir.join(TRAINING_DISTRIBUTION_FILE)).expect("remove");
}

fn numbers(values: &[Value]) -> Vec<f64> {
    values
        .iter()
        .map(|v| v.as_f64().expect("a JSON number"))
        .collect()
}

fn distribution() -> (ModelSet, TrainingDistribution) {
    let set = ModelSet::load(&default_dir()).expect("models/default loads");
    let d = set
        .training_distribution()
        .expect("models/default records its training distribution")
        .clone();
    (set, d)
}

#[test]
fn the_default_set_records_the_distribution_of_its_training_data() {
    let (set, d) = distribution();
    let data = &set.set_manifest().training_data;
    assert_eq!((d.rows, &d.training_data_sha256), (data.rows, &data.sha256));
    assert_eq!(d.features.len(), FEATURES.len());
    let version_before = "0.1.0+e07dbeb4d898";
    assert_eq!(
        set.set_manifest().version,
        version_before,
        "recording the distribution must not change the set's version"
    );
    // The synthetic cohort hides 40 % of bone densities (docs/synthetic-cohort.md); age and sex are
    // required.
    let bone = d.feature("bone_density_hu").expect("bone density");
    assert!(
        (0.35..0.45).contains(&bone.missing_rate),
        "{}",
        bone.missing_rate
    );
    assert_eq!(d.feature("age_years").expect("age").missing, 0);
    assert_eq!(d.feature("sex").expect("sex").missing, 0);
}

#[test]
fn plausible_values_of_the_default_set_are_sensible() {
    let (_, d) = distribution();
    let albumin = numbers(&d.plausible_values("albumin_g_dl").expect("albumin"));
    assert!(albumin.len() >= 3, "{albumin:?}");
    assert!(albumin.windows(2).all(|w| w[0] < w[1]), "{albumin:?}");
    assert!(
        albumin.iter().all(|a| (2.0..=5.5).contains(a)),
        "albumin of surgical patients lies within 2-5.5 g/dL: {albumin:?}"
    );
    // Three significant digits: one decimal for albumin.
    assert!(
        albumin
            .iter()
            .all(|a| ((a * 10.0).round() - a * 10.0).abs() < 1e-9),
        "{albumin:?}"
    );
    let median = d
        .feature("albumin_g_dl")
        .and_then(|f| match &f.values {
            periop::model::training_distribution::Values::Number { summary } => {
                summary.as_ref().map(|s| s.quantiles.p50)
            }
            _ => None,
        })
        .expect("albumin median");
    assert!(
        albumin.iter().any(|a| (a - median).abs() <= 0.05),
        "{albumin:?} vs {median}"
    );

    let d_dimer = numbers(&d.plausible_values("d_dimer_mg_l_feu").expect("d-dimer"));
    assert!(d_dimer.len() >= 3, "{d_dimer:?}");
    assert!(d_dimer.windows(2).all(|w| w[0] < w[1]), "{d_dimer:?}");
    assert!(
        d_dimer.iter().all(|v| (0.0..=20.0).contains(v)),
        "{d_dimer:?}"
    );

    assert_eq!(
        d.plausible_values("smoking_status"),
        Some(vec![json!("never"), json!("former"), json!("current")])
    );
    assert_eq!(
        d.plausible_values("hypertension"),
        Some(vec![json!(false), json!(true)])
    );
    let asa = d.plausible_values("asa_class").expect("asa");
    assert!(
        asa.iter().all(Value::is_i64),
        "integers as JSON integers: {asa:?}"
    );
    assert_eq!(d.plausible_values("not_a_feature"), None);
}

#[test]
fn every_plausible_value_is_a_valid_input() {
    let (_, d) = distribution();
    let base = json!({"age_years": 60, "sex": "female", "procedure": "metastatic_tumor"});
    for spec in FEATURES {
        let values = d
            .plausible_values(spec.name)
            .unwrap_or_else(|| panic!("{}: no plausible values", spec.name));
        for value in values {
            let mut patient = base.clone();
            patient[spec.name] = value.clone();
            if let Err(e) = Patient::from_json(patient.as_object().expect("object")) {
                // A value may contradict this particular plan (e.g. levels for a tumour
                // resection); it must never be of the wrong type or out of range.
                assert!(
                    e.errors
                        .iter()
                        .all(|fe| matches!(fe.constraint, Constraint::Contradiction { .. })),
                    "{} = {value}: {e}",
                    spec.name
                );
            }
        }
    }
}

#[test]
fn a_set_without_a_distribution_still_loads() {
    let (_tmp, dir) = default_copy();
    strip_distribution(&dir);
    let text = std::fs::read_to_string(dir.join("model_set.json")).expect("read");
    assert!(!text.contains("training_distribution"), "{text}");
    let set = ModelSet::load(&dir).expect("a set without the field loads");
    assert!(set.training_distribution().is_none());
}

#[test]
fn a_tampered_distribution_refuses_to_load_naming_the_file() {
    let (_tmp, dir) = default_copy();
    let path = dir.join(TRAINING_DISTRIBUTION_FILE);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replacen("\"missing\": 0,", "\"missing\": 1,", 1),
    )
    .expect("write");
    let err = ModelSet::load(&dir).expect_err("a tampered distribution must refuse to load");
    assert!(
        matches!(&err, ModelError::HashMismatch { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(TRAINING_DISTRIBUTION_FILE),
        "{err}"
    );

    std::fs::remove_file(&path).expect("remove");
    let err = ModelSet::load(&dir).expect_err("a listed but missing distribution");
    assert!(
        matches!(&err, ModelError::MissingFile { path: p } if *p == path),
        "{err:?}"
    );
}

#[test]
fn a_distribution_of_other_data_refuses_to_load_even_when_rehashed() {
    let (_tmp, dir) = default_copy();
    let path = dir.join(TRAINING_DISTRIBUTION_FILE);
    let mut d: TrainingDistribution =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    d.training_data_sha256 = "0".repeat(64);
    let text = d.to_file_text();
    std::fs::write(&path, &text).expect("write");
    let mut set = read_set(&dir);
    set.training_distribution.as_mut().expect("listed").sha256 = sha256_hex(text.as_bytes());
    write_set(&dir, &set);
    let err = ModelSet::load(&dir).expect_err("another data file's distribution");
    assert!(
        matches!(&err, ModelError::InvalidManifest { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains(&"0".repeat(64)), "{err}");
}

fn periop(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(args)
        .output()
        .expect("run periop")
}

#[test]
fn describe_training_refuses_a_data_file_with_another_hash() {
    let (tmp, dir) = default_copy();
    strip_distribution(&dir);
    let before = std::fs::read(dir.join("model_set.json")).expect("read");
    let data = tmp.path().join("other.csv");
    let mut bytes = Vec::new();
    periop::synth::write_csv(&periop::synth::generate(300, 1), &mut bytes).expect("csv");
    std::fs::write(&data, &bytes).expect("write");
    let out = periop(&[
        "models",
        "describe-training",
        "--models",
        dir.to_str().expect("utf-8"),
        "--data",
        data.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let recorded = read_set(&dir).training_data.sha256;
    assert!(
        stderr.contains(&sha256_hex(&bytes)) && stderr.contains(&recorded),
        "the error names both hashes: {stderr}"
    );
    assert_eq!(
        std::fs::read(dir.join("model_set.json")).expect("read"),
        before,
        "nothing is written"
    );
    assert!(!dir.join(TRAINING_DISTRIBUTION_FILE).exists());
}

#[test]
fn describe_training_reproduces_the_committed_distribution_from_the_documented_data() {
    let (tmp, dir) = default_copy();
    strip_distribution(&dir);
    let data = tmp.path().join("default-train.csv");
    let file = std::fs::File::create(&data).expect("create");
    periop::synth::write_csv(
        &periop::synth::generate(TRAIN_ROWS, TRAIN_SEED),
        std::io::BufWriter::new(file),
    )
    .expect("csv");
    let out = periop(&[
        "models",
        "describe-training",
        "--models",
        dir.to_str().expect("utf-8"),
        "--data",
        data.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["model_set.json", TRAINING_DISTRIBUTION_FILE] {
        assert!(
            std::fs::read(dir.join(name)).expect("written") == std::fs::read(default_dir().join(name)).expect("committed"),
            "{name} differs from models/default/{name}: rerun `periop models describe-training --models models/default`"
        );
    }
}
