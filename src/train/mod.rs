//! `periop train`: one LightGBM model per outcome, each on its own population, with a held-out
//! split for early stopping and calibration, optional leave-one-site-out validation, and a model
//! set directory with SHA-256 manifests. Deterministic: the same data and seed give identical
//! files (no timestamps are written; LightGBM runs single-threaded and `deterministic`). The set
//! also records the distribution of every input over the training rows (`describe`).

pub mod bands;
pub mod calibrate;
pub mod describe;
pub mod error;
pub mod lgbm;
pub mod params;
pub mod split;

use std::path::Path;

use rayon::prelude::*;
use serde_json::json;

use crate::dataset::{index_of, Dataset};
use crate::features::model_input::{model_feature_count, model_feature_names, push_model_input};
use crate::features::Derived;
use crate::model::manifest::{
    sha256_hex, FileRef, ModelFile, ModelManifest, ModelRole, ModelSetEntry, ModelSetManifest,
    TrainingData, TrainingSummary, MANIFEST_FORMAT,
};
use crate::model::training_distribution::TrainingDistribution;
use crate::outcomes::{Outcome, OutcomeKind};

pub use error::TrainError;
pub use params::{TrainParams, ValidTrainParams};

/// The model input matrix of a whole dataset (row-major) and per-row site labels.
pub struct Matrix {
    pub x: Vec<f64>,
    pub n_features: usize,
}

impl Matrix {
    /// Builds every record's model input once.
    pub fn of(data: &Dataset) -> Self {
        let n_features = model_feature_count();
        let mut x = Vec::with_capacity(data.records.len() * n_features);
        for r in &data.records {
            push_model_input(&r.patient, &Derived::of(&r.patient), &mut x);
        }
        Self { x, n_features }
    }

    fn rows(&self, idx: &[usize]) -> Vec<f64> {
        let mut out = Vec::with_capacity(idx.len() * self.n_features);
        for &i in idx {
            out.extend_from_slice(&self.x[i * self.n_features..(i + 1) * self.n_features]);
        }
        out
    }
}

/// One trained outcome, before it is written.
struct Trained {
    outcome: Outcome,
    manifest: ModelManifest,
    files: Vec<(String, String)>,
}

/// Trains every outcome and writes the model set to `out`.
///
/// `data_name` and `data_sha256` describe the training file for the manifest.
///
/// # Errors
/// Too little data for an outcome, a LightGBM failure, or an unwritable output directory.
pub fn train_model_set(
    data: &Dataset,
    data_name: &str,
    data_sha256: &str,
    out: &Path,
    params: &ValidTrainParams,
    progress: &indicatif::ProgressBar,
) -> Result<ModelSetManifest, TrainError> {
    let distribution =
        TrainingDistribution::compute(data.records.iter().map(|r| &r.patient), data_sha256)?;
    let matrix = Matrix::of(data);
    let synthetic = data
        .records
        .iter()
        .any(|r| r.truth.iter().any(Option::is_some));
    let mut sites: Vec<String> = data.records.iter().filter_map(|r| r.site.clone()).collect();
    sites.sort();
    sites.dedup();
    progress.set_length(Outcome::ALL.len() as u64);
    let trained: Vec<Trained> = Outcome::ALL
        .par_iter()
        .map(|&outcome| {
            let t = train_outcome(outcome, data, &matrix, &sites, synthetic, params);
            progress.inc(1);
            progress.set_message(format!("{} done", outcome.id()));
            t
        })
        .collect::<Result<_, _>>()?;
    write_model_set(
        out,
        trained,
        &distribution,
        data_name,
        data_sha256,
        data.records.len(),
        synthetic,
        sites,
        params,
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename the arguments"
)]
fn write_model_set(
    out: &Path,
    trained: Vec<Trained>,
    distribution: &TrainingDistribution,
    data_name: &str,
    data_sha256: &str,
    rows: usize,
    synthetic: bool,
    sites: Vec<String>,
    params: &ValidTrainParams,
) -> Result<ModelSetManifest, TrainError> {
    let mut entries = Vec::new();
    for t in trained {
        let dir = out.join(t.outcome.id());
        for (name, text) in &t.files {
            write(&dir.join(name), text.as_bytes())?;
        }
        let manifest_text = pretty(&t.manifest);
        write(&dir.join("manifest.json"), manifest_text.as_bytes())?;
        entries.push(ModelSetEntry {
            outcome: t.outcome.id().to_string(),
            manifest: format!("{}/manifest.json", t.outcome.id()),
            manifest_sha256: sha256_hex(manifest_text.as_bytes()),
        });
    }
    let training_distribution = describe::write_distribution(out, distribution)?;
    let all_hashes: String = entries.iter().map(|e| e.manifest_sha256.as_str()).collect();
    let id = out.file_name().map_or_else(
        || "model_set".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let set = ModelSetManifest {
        format: MANIFEST_FORMAT,
        id,
        version: format!(
            "{}+{}",
            env!("CARGO_PKG_VERSION"),
            &sha256_hex(all_hashes.as_bytes())[..12]
        ),
        periop_version: env!("CARGO_PKG_VERSION").to_string(),
        dictionary_version: crate::features::dictionary::DICTIONARY_VERSION.to_string(),
        seed: params.get().seed,
        training_data: TrainingData {
            file: data_name.to_string(),
            sha256: data_sha256.to_string(),
            rows,
            synthetic,
            sites,
        },
        training_distribution: Some(training_distribution),
        fhir_mapping: Some(write_fhir_mapping(out)?),
        outcomes: entries,
        recalibration: None,
    };
    write(&out.join("model_set.json"), pretty(&set).as_bytes())?;
    // Every set ships the default (example) rule set; a hospital replaces it through the rules API.
    crate::rules::shipped::write_default(out).map_err(|e| TrainError::Rules(e.to_string()))?;
    Ok(set)
}

/// The FHIR mapping shipped with periop (`models/default/ehr/fhir-mapping.json`), copied into
/// every trained set: a site adapting code lists edits its set's copy and its hash.
const SHIPPED_FHIR_MAPPING: &[u8] = include_bytes!("../../models/default/ehr/fhir-mapping.json");

/// Writes the shipped FHIR mapping into the set; its entry for `model_set.json`.
fn write_fhir_mapping(out: &Path) -> Result<FileRef, TrainError> {
    let file = "ehr/fhir-mapping.json";
    write(&out.join(file), SHIPPED_FHIR_MAPPING)?;
    Ok(FileRef {
        file: file.to_string(),
        sha256: sha256_hex(SHIPPED_FHIR_MAPPING),
    })
}

/// Writes `bytes` to `path`, creating its directory.
fn write(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| TrainError::Write {
            path: parent.display().to_string(),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| TrainError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// The text of a manifest: pretty JSON with a final newline.
fn pretty<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// Seed for one outcome, so outcomes trained in parallel do not share a stream.
fn outcome_seed(seed: u64, outcome: Outcome) -> u64 {
    seed.wrapping_mul(1_000_003)
        .wrapping_add(index_of(outcome) as u64)
}

fn train_outcome(
    outcome: Outcome,
    data: &Dataset,
    matrix: &Matrix,
    sites: &[String],
    synthetic: bool,
    params: &ValidTrainParams,
) -> Result<Trained, TrainError> {
    let k = index_of(outcome);
    let population: Vec<usize> = (0..data.records.len())
        .filter(|&i| {
            data.records[i].outcomes[k].is_some()
                && outcome.applies_to(&data.records[i].patient).is_ok()
        })
        .collect();
    let label = |i: usize| -> f32 {
        let v = data.records[i].outcomes[k].unwrap_or(f64::NAN);
        match outcome.kind() {
            OutcomeKind::Probability => v as f32,
            OutcomeKind::Quantity => v.ln() as f32,
        }
    };
    let seed = outcome_seed(params.get().seed, outcome);
    let (train_idx, valid_idx) =
        split::train_validation(&population, params.get().validation_fraction, seed);
    let events = match outcome.kind() {
        OutcomeKind::Probability => Some(population.iter().filter(|&&i| label(i) == 1.0).count()),
        OutcomeKind::Quantity => None,
    };
    if train_idx.len() < 200 || valid_idx.len() < 50 || events.is_some_and(|e| e < 20) {
        return Err(TrainError::NotEnoughData {
            outcome: outcome.id(),
            reason: format!(
                "{} rows and {:?} events in the population; need at least 250 rows and 20 events",
                population.len(),
                events
            ),
        });
    }
    let (xt, xv) = (matrix.rows(&train_idx), matrix.rows(&valid_idx));
    let yt: Vec<f32> = train_idx.iter().map(|&i| label(i)).collect();
    let yv: Vec<f32> = valid_idx.iter().map(|&i| label(i)).collect();
    let nf = matrix.n_features;
    let roles: &[(ModelRole, &str, Option<f64>, &str)] = match outcome.kind() {
        OutcomeKind::Probability => &[(ModelRole::Probability, "binary", None, "model.txt")],
        OutcomeKind::Quantity => &[
            (ModelRole::Median, "regression", None, "model.txt"),
            (ModelRole::P10, "quantile", Some(0.1), "model_p10.txt"),
            (ModelRole::P90, "quantile", Some(0.9), "model_p90.txt"),
        ],
    };
    let mut files = Vec::new();
    let mut model_files = Vec::new();
    let mut primary_valid_raw = Vec::new();
    let mut primary_rounds = 0;
    for &(role, objective, alpha, name) in roles {
        let mut lgb_params = params.lightgbm(objective, alpha, None);
        lgb_params["seed"] = json!(seed);
        let (fitted, booster) =
            lgbm::fit(outcome.id(), nf, (&xt, &yt), Some((&xv, &yv)), &lgb_params)?;
        if model_files.is_empty() {
            primary_valid_raw = lgbm::raw_scores(outcome.id(), &booster, &xv, nf)?;
            primary_rounds = fitted.num_trees;
        }
        model_files.push(ModelFile {
            role,
            path: name.to_string(),
            sha256: sha256_hex(fitted.model_text.as_bytes()),
            num_trees: fitted.num_trees,
            params: lgb_params,
        });
        files.push((name.to_string(), fitted.model_text));
    }
    let yv_bool: Vec<bool> = yv.iter().map(|&v| v == 1.0).collect();
    let (calibration, risk_bands, baseline, mut metrics) = match outcome.kind() {
        OutcomeKind::Probability => {
            let calibration = calibrate::fit_calibration(&primary_valid_raw, &yv_bool);
            let base = events.unwrap_or(0) as f64 / population.len() as f64;
            let calibrated: Vec<f64> = primary_valid_raw
                .iter()
                .map(|&r| calibration.apply(r))
                .collect();
            let metrics = json!({
                "validation": {
                    "rows": valid_idx.len(),
                    "auc": crate::metrics::auc(&primary_valid_raw, &yv_bool),
                    "brier_calibrated": crate::metrics::brier(&calibrated, &yv_bool),
                },
            });
            (
                Some(calibration),
                bands::probability_bands(base),
                base,
                metrics,
            )
        }
        OutcomeKind::Quantity => {
            let mut mls: Vec<f64> = population
                .iter()
                .filter_map(|&i| data.records[i].outcomes[k])
                .collect();
            mls.sort_by(f64::total_cmp);
            let median = mls[mls.len() / 2];
            let abs_err: Vec<f64> = primary_valid_raw
                .iter()
                .zip(&yv)
                .map(|(r, y)| (r.exp() - f64::from(*y).exp()).abs())
                .collect();
            let metrics = json!({
                "validation": { "rows": valid_idx.len(), "median_absolute_error_ml": median_of(abs_err) },
            });
            (None, bands::blood_loss_bands(), median, metrics)
        }
    };
    metrics["best_rounds"] = json!(primary_rounds);
    if params.get().leave_one_site_out && sites.len() > 1 {
        metrics["leave_one_site_out"] = leave_one_site_out(
            outcome,
            data,
            matrix,
            &population,
            sites,
            params,
            seed,
            primary_rounds,
            &label,
        )?;
    }
    let primary_sha = &model_files[0].sha256;
    let manifest = ModelManifest {
        format: MANIFEST_FORMAT,
        outcome: outcome.id().to_string(),
        version: format!("{}@{}", outcome.id(), &primary_sha[..12]),
        kind: outcome.kind(),
        definition: outcome.definition().to_string(),
        population: outcome.population().to_string(),
        features: model_feature_names()
            .into_iter()
            .map(str::to_string)
            .collect(),
        categorical_features: Vec::new(),
        seed,
        files: model_files,
        training: TrainingSummary {
            population: outcome.population().to_string(),
            rows_total: population.len(),
            rows_train: train_idx.len(),
            rows_validation: valid_idx.len(),
            events,
            baseline,
            synthetic,
        },
        calibration,
        risk_bands,
        metrics,
    };
    Ok(Trained {
        outcome,
        manifest,
        files,
    })
}

fn median_of(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Refits the primary model on all sites but one (fixed number of rounds from the main fit) and
/// scores the held-out site: AUC for binary outcomes, median absolute error (mL) for blood loss.
#[expect(
    clippy::too_many_arguments,
    reason = "internal helper of train_outcome"
)]
fn leave_one_site_out(
    outcome: Outcome,
    data: &Dataset,
    matrix: &Matrix,
    population: &[usize],
    sites: &[String],
    params: &ValidTrainParams,
    seed: u64,
    rounds: usize,
    label: &dyn Fn(usize) -> f32,
) -> Result<serde_json::Value, TrainError> {
    let objective = match outcome.kind() {
        OutcomeKind::Probability => "binary",
        OutcomeKind::Quantity => "regression",
    };
    let mut lgb_params = params.lightgbm(
        objective,
        None,
        Some(u32::try_from(rounds.max(1)).unwrap_or(1)),
    );
    lgb_params["seed"] = json!(seed);
    let mut results = Vec::new();
    for site in sites {
        let (held, kept): (Vec<usize>, Vec<usize>) = population
            .iter()
            .partition(|&&i| data.records[i].site.as_deref() == Some(site.as_str()));
        if held.len() < 30 || kept.len() < 200 {
            continue;
        }
        let (xk, xh) = (matrix.rows(&kept), matrix.rows(&held));
        let yk: Vec<f32> = kept.iter().map(|&i| label(i)).collect();
        let yh: Vec<f32> = held.iter().map(|&i| label(i)).collect();
        let (_, booster) = lgbm::fit(
            outcome.id(),
            matrix.n_features,
            (&xk, &yk),
            None,
            &lgb_params,
        )?;
        let raw = lgbm::raw_scores(outcome.id(), &booster, &xh, matrix.n_features)?;
        let entry = match outcome.kind() {
            OutcomeKind::Probability => {
                let y: Vec<bool> = yh.iter().map(|&v| v == 1.0).collect();
                json!({"site": site, "rows": held.len(), "events": y.iter().filter(|&&b| b).count(), "auc": crate::metrics::auc(&raw, &y)})
            }
            OutcomeKind::Quantity => {
                let err: Vec<f64> = raw
                    .iter()
                    .zip(&yh)
                    .map(|(r, y)| (r.exp() - f64::from(*y).exp()).abs())
                    .collect();
                json!({"site": site, "rows": held.len(), "median_absolute_error_ml": median_of(err)})
            }
        };
        results.push(entry);
    }
    Ok(json!(results))
}
