//! Training end to end on a small synthetic cohort: every outcome gets a model trained only on its
//! population, manifests carry the hashes of their files, and the same data and seed give
//! byte-identical model sets.

use std::path::Path;

use periop::dataset::Dataset;
use periop::model::manifest::{sha256_hex, ModelManifest, ModelRole, ModelSetManifest};
use periop::outcomes::Outcome;
use periop::train::{train_model_set, TrainParams};

fn cohort(rows: usize, seed: u64) -> (Dataset, Vec<u8>) {
    let mut bytes = Vec::new();
    periop::synth::write_csv(&periop::synth::generate(rows, seed), &mut bytes).expect("csv");
    let data =
        Dataset::from_reader(bytes.as_slice(), "cohort.csv").expect("synthetic data is valid");
    (data, bytes)
}

fn train(data: &Dataset, bytes: &[u8], out: &Path, seed: u64) -> ModelSetManifest {
    let params = TrainParams {
        seed,
        ..TrainParams::default()
    }
    .check()
    .expect("params");
    train_model_set(
        data,
        "cohort.csv",
        &sha256_hex(bytes),
        out,
        &params,
        &indicatif::ProgressBar::hidden(),
    )
    .expect("training")
}

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in walk(dir) {
        let rel = entry
            .strip_prefix(dir)
            .expect("prefix")
            .display()
            .to_string();
        files.push((rel, std::fs::read(&entry).expect("read")));
    }
    files.sort();
    files
}

fn copy_tree(files: &[(String, Vec<u8>)], to: &Path) {
    for (rel, bytes) in files {
        let path = to.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn training_is_deterministic_population_restricted_and_hashed() {
    let (data, bytes) = cohort(6_000, 11);
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        dir.path().join("1/set"),
        dir.path().join("2/set"),
        dir.path().join("3/set"),
    );
    let set = train(&data, &bytes, &a, 5);
    train(&data, &bytes, &b, 5);
    train(&data, &bytes, &c, 6);

    // Same data and seed: byte-identical sets. Another seed: different models.
    let (ta, tb, tc) = (read_tree(&a), read_tree(&b), read_tree(&c));
    assert_eq!(
        ta.len(),
        11 + 2 + 11 + 1 + 1 + 1 + 2,
        "11 model.txt + 2 quantile models + 11 manifests + model_set.json + training_distribution.json + ehr/fhir-mapping.json + rules/ (document, manifest)"
    );
    let differing: Vec<&str> = ta
        .iter()
        .zip(&tb)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.0.as_str())
        .collect();
    assert!(
        differing.is_empty(),
        "same data and seed must give identical files; differing: {differing:?}"
    );
    assert!(ta != tc, "a different seed must change the models");

    // The set ships the default (example) rule set, verified against its manifest.
    let rules = periop::rules::shipped::load(&a).expect("the trained set carries its rule set");
    assert_eq!(
        rules.reference().version,
        periop::rules::shipped::DEFAULT_VERSION
    );

    // The set records the distribution of every input over all its training rows, and `periop
    // models describe-training` on the same data writes the very same bytes.
    let loaded = periop::model::ensemble::ModelSet::load(&a).expect("the trained set loads");
    let distribution = loaded
        .training_distribution()
        .expect("periop train records the training distribution");
    assert_eq!(
        (distribution.rows, &distribution.training_data_sha256),
        (6_000, &set.training_data.sha256)
    );
    let d = dir.path().join("4/set");
    copy_tree(&ta, &d);
    let mut bare = set.clone();
    bare.training_distribution = None;
    std::fs::write(
        d.join("model_set.json"),
        serde_json::to_string_pretty(&bare).expect("json") + "\n",
    )
    .expect("write");
    std::fs::remove_file(d.join("training_distribution.json")).expect("remove");
    periop::train::describe::describe_training(&d, &data, &sha256_hex(&bytes))
        .expect("describe the set's own training data");
    assert_eq!(
        read_tree(&d),
        ta,
        "describe-training must reproduce what train wrote (model_set.json, version included)"
    );

    assert!(set.training_data.synthetic);
    assert_eq!(set.training_data.rows, 6_000);
    assert_eq!(set.outcomes.len(), Outcome::ALL.len());
    for entry in &set.outcomes {
        let manifest_bytes = std::fs::read(a.join(&entry.manifest)).expect("manifest");
        assert_eq!(
            sha256_hex(&manifest_bytes),
            entry.manifest_sha256,
            "{}",
            entry.outcome
        );
        let manifest: ModelManifest =
            serde_json::from_slice(&manifest_bytes).expect("manifest json");
        for file in &manifest.files {
            let model = std::fs::read(a.join(&entry.outcome).join(&file.path)).expect("model file");
            assert_eq!(
                sha256_hex(&model),
                file.sha256,
                "{}/{}",
                entry.outcome,
                file.path
            );
            assert!(
                file.params["max_depth"].as_u64().is_some_and(|d| d <= 6),
                "depth cap"
            );
        }
        let outcome = Outcome::from_id(&entry.outcome).expect("known outcome");
        // The model saw exactly the rows of its population that have the outcome recorded.
        let k = periop::dataset::index_of(outcome);
        let expected = data
            .records
            .iter()
            .filter(|r| r.outcomes[k].is_some() && outcome.applies_to(&r.patient).is_ok())
            .count();
        assert_eq!(manifest.training.rows_total, expected, "{}", entry.outcome);
        assert_eq!(
            manifest.training.rows_train + manifest.training.rows_validation,
            expected
        );
        match outcome {
            Outcome::BloodLossMl => {
                assert!(manifest.calibration.is_none());
                for role in [ModelRole::Median, ModelRole::P10, ModelRole::P90] {
                    assert!(
                        manifest.file(role).is_some(),
                        "blood loss needs its {role:?} model"
                    );
                }
            }
            _ => {
                assert!(
                    manifest.calibration.is_some(),
                    "{} must be calibrated",
                    entry.outcome
                );
                assert!(
                    manifest.metrics["leave_one_site_out"]
                        .as_array()
                        .is_some_and(|s| s.len() == 5),
                    "{}",
                    entry.outcome
                );
            }
        }
    }
    let screw: ModelManifest = serde_json::from_slice(
        &std::fs::read(a.join("screw_loosening/manifest.json")).expect("read"),
    )
    .expect("json");
    let fusion_rows = data
        .records
        .iter()
        .filter(|r| r.patient.level("procedure") == Some("lumbar_fusion"))
        .count();
    assert_eq!(
        screw.training.rows_total, fusion_rows,
        "screw loosening trains on lumbar fusion only"
    );
}

#[test]
fn too_small_a_population_is_refused_with_the_outcome_named() {
    let (data, bytes) = cohort(400, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let params = TrainParams::default().check().expect("params");
    let err = train_model_set(
        &data,
        "cohort.csv",
        &sha256_hex(&bytes),
        dir.path(),
        &params,
        &indicatif::ProgressBar::hidden(),
    )
    .expect_err("400 rows are too few");
    assert!(err.to_string().contains("need at least"), "{err}");
}
