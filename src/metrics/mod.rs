//! Evaluation metrics for binary risk models and quantity predictions.
//!
//! Pure functions over slices: discrimination ([`auc`]), accuracy ([`brier`]), calibration
//! ([`calibration_intercept_slope`], [`reliability_bins`]), uncertainty ([`bootstrap_ci`]) and
//! quantity errors ([`median_absolute_error`], [`interval_coverage`]). Nothing here knows about
//! models or files, so training, evaluation and quality analytics share one definition of each.

mod bootstrap;
mod calibration;
mod discrimination;
mod quantity;
mod reliability;

pub use bootstrap::bootstrap_ci;
pub use calibration::{calibration_intercept_slope, logistic_recalibration, logit, sigmoid};
pub use discrimination::{auc, brier};
pub use quantity::{interval_coverage, median_absolute_error};
pub use reliability::{reliability_bins, Bin};
