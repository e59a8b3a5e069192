//! Evaluation settings (bootstrap, bins, subgroup definitions) and the acceptance targets the
//! report checks every model against. Everything here is recorded in `metrics.json`.

use serde::Serialize;

/// Default number of bootstrap replicates for confidence intervals.
pub const DEFAULT_REPLICATES: usize = crate::metrics::DEFAULT_REPLICATES;
/// Default bootstrap seed (recorded in the report so intervals can be reproduced exactly).
pub const DEFAULT_SEED: u64 = crate::metrics::DEFAULT_SEED;
/// Default number of quantile reliability bins.
pub const DEFAULT_BINS: usize = crate::metrics::DEFAULT_BINS;

/// Age bands for subgroup AUCs (defined in `metrics`, shared with the quality analytics).
pub use crate::metrics::{age_band, AGE_BANDS};

/// Threshold (mL) at which blood loss counts as massive (features.md: EBL ≥ 2500 mL).
pub const MASSIVE_EBL_ML: f64 = 2500.0;

/// Acceptance targets (design.md, Quality bars).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Targets {
    /// A model passes when `oracle AUC − model AUC ≤ max_auc_gap`.
    pub max_auc_gap: f64,
    /// Calibration slope must lie in `[slope_min, slope_max]`.
    pub slope_min: f64,
    pub slope_max: f64,
    /// Blood loss: the 80 % interval's empirical coverage must lie in `[coverage_min, coverage_max]`
    /// (the report's own check; not a design.md target).
    pub coverage_min: f64,
    pub coverage_max: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            max_auc_gap: 0.03,
            slope_min: 0.8,
            slope_max: 1.2,
            coverage_min: 0.75,
            coverage_max: 0.85,
        }
    }
}

/// How metrics are computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub bootstrap_replicates: usize,
    pub bootstrap_seed: u64,
    pub reliability_bins: usize,
    /// Always `"quantile"` (equal-count bins; see `metrics::reliability_bins`).
    pub reliability_binning: &'static str,
    /// Labels of [`AGE_BANDS`].
    pub age_bands: Vec<&'static str>,
    pub massive_ebl_ml: f64,
    pub targets: Targets,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bootstrap_replicates: DEFAULT_REPLICATES,
            bootstrap_seed: DEFAULT_SEED,
            reliability_bins: DEFAULT_BINS,
            reliability_binning: "quantile",
            age_bands: AGE_BANDS.iter().map(|b| b.0).collect(),
            massive_ebl_ml: MASSIVE_EBL_ML,
            targets: Targets::default(),
        }
    }
}
