//! `periop evaluate`: measures every model of a set on a test cohort and writes a report —
//! `metrics.json` (machine-readable), Markdown model cards, SVG reliability plots and an index.
//!
//! Per outcome, on the test rows inside the outcome's population with the outcome recorded:
//! AUC with a bootstrap CI, Brier, calibration intercept and slope, reliability bins, subgroup
//! AUCs (site, sex, age band), and — on synthetic data — the oracle AUC of `p_true_<outcome>` and
//! the gap; blood loss gets median absolute error, 80 % interval coverage and massive-EBL AUC.
//! Leave-one-site-out results recorded by training are copied from the manifests.
//!
//! Layers: [`compute`] (metrics from vectors) → [`report`] (types, target checks) → renderers
//! ([`card`], [`svg`], [`index`]) → [`write`] (files). [`evaluate`] ties a model set and a
//! dataset to the compute layer.

pub mod card;
pub mod compute;
pub mod error;
pub mod index;
pub mod published;
pub mod report;
pub mod settings;
pub mod svg;
pub mod text;
pub mod write;

use std::path::Path;

use crate::dataset::{index_of, Dataset, Record};
use crate::model::ensemble::{ModelSet, Prediction};
use crate::model::manifest::{sha256_hex, ModelSetManifest};
use crate::outcomes::{Outcome, OutcomeKind};

pub use compute::{binary_metrics, quantity_metrics, BinaryInput, Groups, QuantityInput};
pub use error::EvaluateError;
pub use report::{
    DataInfo, ModelInfo, ModelSetInfo, OutcomeMetrics, OutcomeReport, Report, Skipped,
    REPORT_FORMAT,
};
pub use settings::{age_band, Settings, Targets};
pub use write::write_report;

/// What is evaluated and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    /// Identity of the test data (see [`data_info`]).
    pub data: DataInfo,
    /// Identity of the model set (see [`read_model_set_info`]), if known.
    pub model_set: Option<ModelSetInfo>,
}

/// Evaluates every outcome of `models` on `data`.
pub fn evaluate(models: &ModelSet, data: &Dataset, options: &Options) -> Report {
    evaluate_with_progress(models, data, options, |_| {})
}

/// As [`evaluate`], calling `done` after each outcome (progress bars).
pub fn evaluate_with_progress(
    models: &ModelSet,
    data: &Dataset,
    options: &Options,
    done: impl Fn(Outcome),
) -> Report {
    let mut outcomes = Vec::new();
    let mut skipped = Vec::new();
    for outcome in Outcome::ALL {
        match evaluate_outcome(models, data, outcome, &options.settings) {
            Ok(r) => outcomes.push(r),
            Err(reason) => skipped.push(Skipped {
                outcome: outcome.id().to_string(),
                reason,
            }),
        }
        done(outcome);
    }
    Report {
        format: REPORT_FORMAT,
        periop_version: env!("CARGO_PKG_VERSION").to_string(),
        model_set: options.model_set.clone(),
        data: options.data.clone(),
        settings: options.settings.clone(),
        outcomes,
        skipped,
    }
}

/// The evaluated rows of one outcome and the counts of rows left out.
struct Selection<'a> {
    rows: Vec<&'a Record>,
    outside: usize,
    unrecorded: usize,
}

fn select(data: &Dataset, outcome: Outcome) -> Selection<'_> {
    let i = index_of(outcome);
    let mut s = Selection {
        rows: Vec::new(),
        outside: 0,
        unrecorded: 0,
    };
    for r in &data.records {
        if outcome.applies_to(&r.patient).is_err() {
            s.outside += 1;
        } else if r.outcomes[i].is_none() {
            s.unrecorded += 1;
        } else {
            s.rows.push(r);
        }
    }
    s
}

fn groups(rows: &[&Record]) -> Groups {
    Groups {
        site: rows
            .iter()
            .map(|r| r.site.clone().unwrap_or_else(|| "unknown".to_string()))
            .collect(),
        sex: rows
            .iter()
            .map(|r| r.patient.level("sex").unwrap_or("unknown").to_string())
            .collect(),
        age_band: rows
            .iter()
            .map(|r| age_band(r.patient.get("age_years")).to_string())
            .collect(),
    }
}

fn evaluate_outcome(
    models: &ModelSet,
    data: &Dataset,
    outcome: Outcome,
    settings: &Settings,
) -> Result<OutcomeReport, String> {
    let manifest = models
        .manifest(outcome)
        .ok_or_else(|| "no model for this outcome in the set".to_string())?;
    let sel = select(data, outcome);
    if sel.rows.is_empty() {
        return Err("no test rows in the population with the outcome recorded".to_string());
    }
    let i = index_of(outcome);
    let patients: Vec<_> = sel.rows.iter().map(|r| r.patient.clone()).collect();
    let predictions = models
        .predict_batch(outcome, &patients, false)
        .map_err(|e| format!("prediction failed: {e}"))?;
    if predictions.len() != sel.rows.len() {
        return Err(format!(
            "model returned {} predictions for {} rows",
            predictions.len(),
            sel.rows.len()
        ));
    }
    let truth: Vec<Option<f64>> = sel.rows.iter().map(|r| r.truth[i]).collect();
    let observed: Vec<f64> = sel
        .rows
        .iter()
        .map(|r| r.outcomes[i].unwrap_or(f64::NAN))
        .collect();
    let metrics = match outcome.kind() {
        OutcomeKind::Probability => OutcomeMetrics::Probability(binary_metrics(
            &BinaryInput {
                probs: collect(&predictions, |p| p.probability, "probability")?,
                labels: observed.iter().map(|&y| y == 1.0).collect(),
                truth,
                groups: groups(&sel.rows),
            },
            settings,
        )),
        OutcomeKind::Quantity => OutcomeMetrics::Quantity(quantity_metrics(
            &QuantityInput {
                median: collect(&predictions, |p| p.quantity.map(|q| q.median), "quantity")?,
                p10: collect(&predictions, |p| p.quantity.map(|q| q.p10), "quantity")?,
                p90: collect(&predictions, |p| p.quantity.map(|q| q.p90), "quantity")?,
                actual: observed,
                truth,
                groups: groups(&sel.rows),
            },
            settings,
        )),
    };
    Ok(OutcomeReport::new(
        outcome,
        sel.outside,
        sel.unrecorded,
        Some(ModelInfo::from_manifest(manifest)),
        metrics,
        &settings.targets,
    ))
}

fn collect(
    predictions: &[Prediction],
    get: impl Fn(&Prediction) -> Option<f64>,
    what: &str,
) -> Result<Vec<f64>, String> {
    predictions
        .iter()
        .map(|p| get(p).ok_or_else(|| format!("model returned no {what}")))
        .collect()
}

/// Identity of the test data: file name (no directories), SHA-256 of its bytes, rows, and whether
/// it is synthetic (any `p_true_*` value present).
pub fn data_info(file_name: &str, bytes: &[u8], data: &Dataset) -> DataInfo {
    DataInfo {
        file: file_name.to_string(),
        sha256: sha256_hex(bytes),
        rows: data.records.len(),
        synthetic: data
            .records
            .iter()
            .any(|r| r.truth.iter().any(Option::is_some)),
    }
}

/// Reads `model_set.json` of a model set directory.
///
/// # Errors
/// When the file cannot be read or parsed.
pub fn read_model_set_info(dir: &Path) -> Result<ModelSetInfo, EvaluateError> {
    let path = dir.join("model_set.json");
    let shown = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|source| EvaluateError::Read {
        path: shown.clone(),
        source,
    })?;
    let m: ModelSetManifest =
        serde_json::from_slice(&bytes).map_err(|source| EvaluateError::Parse {
            path: shown,
            source,
        })?;
    Ok(ModelSetInfo {
        id: m.id,
        version: m.version,
        trained_on_synthetic: m.training_data.synthetic,
        training_file: m.training_data.file,
        training_rows: m.training_data.rows,
        training_sites: m.training_data.sites,
        seed: m.seed,
    })
}
