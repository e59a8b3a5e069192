//! The only place (besides the verification tests) that touches LightGBM's `Booster`: fitting a
//! model on a row-major matrix and scoring rows with it. The `Booster` never leaves the function
//! that created it (it is neither `Send` nor `Sync`); models leave as LightGBM text.

use lightgbm3::{Booster, Dataset};
use serde_json::Value;

use super::error::TrainError;

/// A fitted model in LightGBM's text format.
pub struct Fitted {
    pub model_text: String,
    pub num_trees: usize,
}

fn lgbm_err(outcome: &'static str) -> impl Fn(lightgbm3::Error) -> TrainError {
    move |e| TrainError::LightGbm {
        outcome,
        message: e.to_string(),
    }
}

/// Fits with early stopping on `(x_valid, y_valid)` when `params` has `early_stopping_rounds`.
///
/// # Errors
/// [`TrainError::LightGbm`] with LightGBM's message.
pub fn fit(
    outcome: &'static str,
    n_features: usize,
    (x_train, y_train): (&[f64], &[f32]),
    valid: Option<(&[f64], &[f32])>,
    params: &Value,
) -> Result<(Fitted, Booster), TrainError> {
    let err = lgbm_err(outcome);
    let n = i32::try_from(n_features).map_err(|_| TrainError::LightGbm {
        outcome,
        message: "too many features".into(),
    })?;
    let train = Dataset::from_slice(x_train, y_train, n, true).map_err(&err)?;
    let valid = match valid {
        Some((xv, yv)) => {
            Some(Dataset::from_slice_with_reference(xv, yv, n, true, Some(&train)).map_err(&err)?)
        }
        None => None,
    };
    let booster = Booster::train_with_valid(train, valid, params).map_err(&err)?;
    let model_text = booster.save_string().map_err(&err)?;
    let num_trees = usize::try_from(booster.num_iterations()).unwrap_or(0);
    Ok((
        Fitted {
            model_text,
            num_trees,
        },
        booster,
    ))
}

/// Raw scores (log-odds or regression output) of `x` under `booster`.
///
/// # Errors
/// [`TrainError::LightGbm`] with LightGBM's message.
pub fn raw_scores(
    outcome: &'static str,
    booster: &Booster,
    x: &[f64],
    n_features: usize,
) -> Result<Vec<f64>, TrainError> {
    let n = i32::try_from(n_features).map_err(|_| TrainError::LightGbm {
        outcome,
        message: "too many features".into(),
    })?;
    booster.raw_scores(x, n, true).map_err(lgbm_err(outcome))
}
