//! The evaluation report: what `metrics.json` contains and what cards, plots and the index are
//! rendered from. Self-contained (model details are copied from the manifests), so renderers need
//! nothing else.

use serde::Serialize;

use super::compute::{BinaryMetrics, QuantityMetrics};
use super::published::{published_for, Published};
use super::settings::{Settings, Targets};
use crate::model::manifest::{ModelManifest, RiskBand, TrainingSummary};
use crate::outcomes::Outcome;

/// Format version of `metrics.json`.
pub const REPORT_FORMAT: u32 = 1;

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub format: u32,
    pub periop_version: String,
    /// `None` when the model directory has no readable `model_set.json`.
    pub model_set: Option<ModelSetInfo>,
    pub data: DataInfo,
    pub settings: Settings,
    pub outcomes: Vec<OutcomeReport>,
    /// Outcomes not evaluated, with the reason.
    pub skipped: Vec<Skipped>,
}

impl Report {
    /// `true` when the test data carries `p_true_*` columns (it came from `periop synth`).
    pub fn synthetic(&self) -> bool {
        self.data.synthetic
    }
}

/// Identity of the evaluated model set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSetInfo {
    pub id: String,
    pub version: String,
    /// Whether the set was trained on synthetic data.
    pub trained_on_synthetic: bool,
    /// Training data file name and rows.
    pub training_file: String,
    pub training_rows: usize,
    pub training_sites: Vec<String>,
    pub seed: u64,
}

/// The test data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataInfo {
    /// File name only (no directories).
    pub file: String,
    pub sha256: String,
    pub rows: usize,
    /// `true` when `p_true_*` columns are present.
    pub synthetic: bool,
}

/// An outcome that could not be evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub outcome: String,
    pub reason: String,
}

/// What the model card needs from the outcome's manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub version: String,
    pub features: Vec<String>,
    pub seed: u64,
    /// `platt`, `isotonic`, or `None` (quantities are not calibrated).
    pub calibration_method: Option<String>,
    /// Validation Brier of the chosen calibration and of the alternative, when recorded.
    pub calibration_brier: Option<(f64, f64)>,
    pub risk_bands: Vec<RiskBand>,
    pub training: TrainingSummary,
    /// Copied verbatim from the manifest's `metrics.leave_one_site_out` (JSON `null` if absent).
    pub leave_one_site_out: serde_json::Value,
    /// The manifest's whole training `metrics` object.
    pub training_metrics: serde_json::Value,
}

impl ModelInfo {
    /// Extracts the card's model details from a manifest.
    pub fn from_manifest(m: &ModelManifest) -> Self {
        let calibration = m
            .calibration
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok());
        let field = |name: &str| {
            calibration
                .as_ref()
                .and_then(|c| c.get(name))
                .and_then(serde_json::Value::as_f64)
        };
        Self {
            version: m.version.clone(),
            features: m.features.clone(),
            seed: m.seed,
            calibration_method: calibration
                .as_ref()
                .and_then(|c| c.get("method"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
            calibration_brier: field("validation_brier").zip(field("alternative_brier")),
            risk_bands: m.risk_bands.clone(),
            training: m.training.clone(),
            leave_one_site_out: m
                .metrics
                .get("leave_one_site_out")
                .cloned()
                .unwrap_or_default(),
            training_metrics: m.metrics.clone(),
        }
    }
}

/// Metrics of one outcome, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutcomeMetrics {
    Probability(BinaryMetrics),
    Quantity(QuantityMetrics),
}

/// Whether the outcome meets the acceptance targets (`None`: not applicable or not computable).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Criteria {
    /// Probability: `oracle AUC − AUC ≤ max gap`. Blood loss: the same for the AUC of the predicted
    /// median for massive EBL.
    pub auc_near_oracle: Option<bool>,
    /// Probability only: calibration slope within the target range.
    pub slope_in_range: Option<bool>,
    /// Blood loss only: 80 % interval coverage within the target range.
    pub coverage_in_range: Option<bool>,
    /// All applicable criteria are met (`None` when none could be computed).
    pub all_met: Option<bool>,
}

impl Criteria {
    /// Checks metrics against targets.
    pub fn check(metrics: &OutcomeMetrics, t: &Targets) -> Self {
        let (auc_near_oracle, slope_in_range, coverage_in_range) = match metrics {
            OutcomeMetrics::Probability(m) => (
                m.oracle
                    .as_ref()
                    .and_then(|o| o.auc_gap)
                    .map(|g| -g <= t.max_auc_gap),
                m.calibration_slope
                    .map(|s| (t.slope_min..=t.slope_max).contains(&s)),
                None,
            ),
            OutcomeMetrics::Quantity(m) => (
                m.oracle
                    .as_ref()
                    .and_then(|o| o.massive_auc_gap)
                    .map(|g| -g <= t.max_auc_gap),
                None,
                Some((t.coverage_min..=t.coverage_max).contains(&m.coverage_80)),
            ),
        };
        let known: Vec<bool> = [auc_near_oracle, slope_in_range, coverage_in_range]
            .into_iter()
            .flatten()
            .collect();
        let all_met = (!known.is_empty()).then(|| known.iter().all(|&b| b));
        Self {
            auc_near_oracle,
            slope_in_range,
            coverage_in_range,
            all_met,
        }
    }
}

/// Everything about one outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeReport {
    pub outcome: String,
    pub definition: String,
    pub population: String,
    /// Test rows outside the outcome's population.
    pub rows_outside_population: usize,
    /// Test rows inside the population without the outcome recorded.
    pub rows_unrecorded: usize,
    pub model: Option<ModelInfo>,
    pub metrics: OutcomeMetrics,
    pub criteria: Criteria,
    /// Published models for comparison (evidence.md §4).
    pub published: &'static [Published],
}

impl OutcomeReport {
    /// Assembles an outcome's report and checks it against the targets.
    pub fn new(
        outcome: Outcome,
        rows_outside_population: usize,
        rows_unrecorded: usize,
        model: Option<ModelInfo>,
        metrics: OutcomeMetrics,
        targets: &Targets,
    ) -> Self {
        Self {
            outcome: outcome.id().to_string(),
            definition: outcome.definition().to_string(),
            population: outcome.population().to_string(),
            rows_outside_population,
            rows_unrecorded,
            model,
            criteria: Criteria::check(&metrics, targets),
            metrics,
            published: published_for(outcome),
        }
    }

    /// The model version, or `"unknown"`.
    pub fn model_version(&self) -> &str {
        self.model
            .as_ref()
            .map_or("unknown", |m| m.version.as_str())
    }
}
