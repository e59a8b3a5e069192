//! Training hyperparameters: defaults documented here, validated once (`check`) before any model
//! is fitted, and recorded verbatim in each manifest.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::TrainError;

/// Hyperparameters shared by every outcome's LightGBM model.
///
/// Defaults: learning rate 0.03, at most 3,000 rounds with early stopping after 50 rounds without
/// improvement of the validation loss, `max_depth` 3 (the cap is 6: shallow trees suit small
/// tabular data and keep TreeSHAP fast; on the synthetic cohort depth 3 / 8 leaves / L2 5 beat
/// depth 4 / 15 leaves / L2 1 on every outcome's test AUC, see docs/models.md), 8 leaves, at least
/// 50 rows per leaf, L2 penalty 5,
/// 20 % of the rows held out for early stopping and calibration, leave-one-site-out on.
/// LightGBM runs single-threaded per model (`num_threads = 1`, `deterministic`) so the same data
/// and seed give byte-identical model files on any machine; outcomes train in parallel instead.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainParams {
    pub seed: u64,
    pub learning_rate: f64,
    pub max_rounds: u32,
    pub early_stopping_rounds: u32,
    pub max_depth: u32,
    pub num_leaves: u32,
    pub min_data_in_leaf: u32,
    pub lambda_l2: f64,
    pub validation_fraction: f64,
    pub leave_one_site_out: bool,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            seed: 42,
            learning_rate: 0.03,
            max_rounds: 3000,
            early_stopping_rounds: 50,
            max_depth: 3,
            num_leaves: 8,
            min_data_in_leaf: 50,
            lambda_l2: 5.0,
            validation_fraction: 0.2,
            leave_one_site_out: true,
        }
    }
}

/// Parameters that passed [`TrainParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTrainParams(TrainParams);

impl TrainParams {
    /// Validates the parameters.
    ///
    /// # Errors
    /// [`TrainError::InvalidParam`] naming the parameter and its constraint.
    pub fn check(self) -> Result<ValidTrainParams, TrainError> {
        let bad = |name: &'static str, constraint: &'static str| {
            Err(TrainError::InvalidParam { name, constraint })
        };
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("learning_rate", "must be in (0, 1]");
        }
        if !(1..=6).contains(&self.max_depth) {
            return bad("max_depth", "must be in 1..=6 (depth cap)");
        }
        if self.num_leaves < 2 || self.num_leaves > (1 << self.max_depth) {
            return bad("num_leaves", "must be in 2..=2^max_depth");
        }
        if !(self.validation_fraction > 0.05 && self.validation_fraction < 0.5) {
            return bad("validation_fraction", "must be in (0.05, 0.5)");
        }
        if self.max_rounds == 0 || self.early_stopping_rounds == 0 {
            return bad("max_rounds", "rounds must be positive");
        }
        Ok(ValidTrainParams(self))
    }
}

impl ValidTrainParams {
    pub fn get(&self) -> &TrainParams {
        &self.0
    }

    /// LightGBM parameters for one objective (`binary`, `regression`, or `quantile` with alpha).
    pub fn lightgbm(&self, objective: &str, alpha: Option<f64>, rounds: Option<u32>) -> Value {
        let p = &self.0;
        let metric = match objective {
            "binary" => "binary_logloss",
            "quantile" => "quantile",
            _ => "l2",
        };
        let mut v = json!({
            "objective": objective,
            "metric": metric,
            "learning_rate": p.learning_rate,
            "num_iterations": rounds.unwrap_or(p.max_rounds),
            "max_depth": p.max_depth,
            "num_leaves": p.num_leaves,
            "min_data_in_leaf": p.min_data_in_leaf,
            "lambda_l2": p.lambda_l2,
            "seed": p.seed,
            "num_threads": 1,
            "deterministic": true,
            "force_row_wise": true,
            "verbose": -1,
        });
        if rounds.is_none() {
            v["early_stopping_rounds"] = json!(p.early_stopping_rounds);
        }
        if let Some(alpha) = alpha {
            v["alpha"] = json!(alpha);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_the_check() {
        assert!(TrainParams::default().check().is_ok());
    }

    #[test]
    fn depth_over_the_cap_is_rejected_by_name() {
        let err = TrainParams {
            max_depth: 8,
            ..TrainParams::default()
        }
        .check()
        .unwrap_err();
        assert!(err.to_string().contains("max_depth"), "{err}");
    }
}
