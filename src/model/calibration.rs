//! Probability calibration maps, fitted on held-out data by training and applied after the raw
//! score by serving: Platt scaling (`σ(a·raw + b)`) or isotonic regression (a monotone step
//! function of the raw score, interpolated linearly between block centres); and, after local
//! recalibration (`model::recalibration`), a logistic map on top of either.

use serde::{Deserialize, Serialize};

/// A fitted calibration map from raw score (log-odds) to probability.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Calibration {
    /// `p = 1 / (1 + exp(-(a * raw + b)))`.
    Platt {
        a: f64,
        b: f64,
        validation_brier: f64,
        alternative_brier: f64,
    },
    /// Monotone map: `raw` knots (increasing) and `p` values; linear between knots, flat outside.
    Isotonic {
        raw: Vec<f64>,
        p: Vec<f64>,
        validation_brier: f64,
        alternative_brier: f64,
    },
    /// Logistic recalibration on local outcomes, composed with the map training fitted:
    /// `p = σ(intercept + slope · logit(base(raw)))`, `logit` clipped to `[1e-12, 1 − 1e-12]`
    /// as in `metrics::logit`. `slope > 0`, so the map stays increasing in the raw score.
    Recalibrated {
        base: Box<Calibration>,
        intercept: f64,
        slope: f64,
    },
}

impl Calibration {
    /// Calibrated probability for a raw score.
    pub fn apply(&self, raw: f64) -> f64 {
        match self {
            Self::Platt { a, b, .. } => sigmoid(a * raw + b),
            Self::Isotonic { raw: xs, p, .. } => interpolate(xs, p, raw),
            Self::Recalibrated {
                base,
                intercept,
                slope,
            } => sigmoid(intercept + slope * crate::metrics::logit(base.apply(raw))),
        }
    }
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let (Some(&first), Some(&last)) = (xs.first(), xs.last()) else {
        return f64::NAN;
    };
    if x <= first {
        return ys[0];
    }
    if x >= last {
        return ys[ys.len() - 1];
    }
    let i = xs.partition_point(|&k| k <= x);
    let (x0, x1, y0, y1) = (xs[i - 1], xs[i], ys[i - 1], ys[i]);
    if x1 == x0 {
        y1
    } else {
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_interpolates_and_is_flat_outside_the_knots() {
        let c = Calibration::Isotonic {
            raw: vec![-1.0, 0.0, 1.0],
            p: vec![0.1, 0.2, 0.6],
            validation_brier: 0.0,
            alternative_brier: 0.0,
        };
        assert_eq!(c.apply(-5.0), 0.1);
        assert!((c.apply(0.5) - 0.4).abs() < 1e-12);
        assert_eq!(c.apply(9.0), 0.6);
    }

    #[test]
    fn recalibrated_map_wraps_its_base_and_round_trips() {
        let base = Calibration::Platt {
            a: 2.0,
            b: -1.0,
            validation_brier: 0.1,
            alternative_brier: 0.2,
        };
        let c = Calibration::Recalibrated {
            base: Box::new(base.clone()),
            intercept: 0.5,
            slope: 0.25,
        };
        // σ(0.5 + 0.25·(2·raw − 1)) at raw = 1.5: σ(1.0).
        assert!((c.apply(1.5) - sigmoid(1.0)).abs() < 1e-12);
        let json = serde_json::to_string(&c).expect("serialise");
        assert!(json.contains(r#""method":"recalibrated""#), "{json}");
        let back: Calibration = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, c);
    }

    #[test]
    fn platt_is_a_shifted_sigmoid() {
        let c = Calibration::Platt {
            a: 1.0,
            b: 0.0,
            validation_brier: 0.0,
            alternative_brier: 0.0,
        };
        assert!((c.apply(0.0) - 0.5).abs() < 1e-15);
    }
}
