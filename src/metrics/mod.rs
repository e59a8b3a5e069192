//! Evaluation metrics for binary risk models and quantity predictions.
//!
//! Pure functions over slices: discrimination ([`auc`], [`auc_bootstrap_ci`],
//! [`average_precision`]), accuracy ([`brier`]), calibration ([`calibration_intercept_slope`],
//! [`calibration_fit`] with Wald intervals, [`reliability_bins`], [`expected_calibration_error`]),
//! uncertainty ([`bootstrap_ci`]) and quantity errors ([`median_absolute_error`],
//! [`interval_coverage`]), distribution shift ([`drift`]: PSI, KS,
//! chi-squared); [`binary_summary`] and [`quantity_summary`] compute all of them for one
//! set of rows, and [`age_band`] defines the age subgroups. Nothing here knows about models, files
//! or the audit store, so training, evaluation and quality analytics share one definition of each.

mod bootstrap;
mod calibration;
mod discrimination;
pub mod drift;
mod groups;
mod precision_recall;
mod quantity;
mod reliability;
mod summary;

pub use bootstrap::bootstrap_ci;
pub use calibration::{
    calibration_fit, calibration_intercept_slope, logistic_recalibration, logit, sigmoid,
    CalibrationFit,
};
pub use discrimination::{auc, auc_bootstrap_ci, brier};
pub use groups::{age_band, AGE_BANDS};
pub use precision_recall::average_precision;
pub use quantity::{interval_coverage, median_absolute_error};
pub use reliability::{expected_calibration_error, reliability_bins, Bin};
pub use summary::{
    binary_summary, quantity_summary, BinarySummary, QuantitySummary, SummarySettings,
    DEFAULT_BINS, DEFAULT_REPLICATES, DEFAULT_SEED,
};
