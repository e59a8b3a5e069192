//! Logistic recalibration statistics: calibration-in-the-large and calibration slope.
//!
//! Definitions (Van Calster et al., "Calibration: the Achilles heel of predictive analytics",
//! BMC Med 2019), with `lp = logit(p)` and `p` clipped to `[1e-12, 1 − 1e-12]`:
//! - **slope** `b` from the logistic regression `logit P(y=1) = a + b·lp` (both fitted).
//!   1 is ideal; < 1 means predictions are too extreme (overfitting), > 1 too modest.
//! - **intercept** (calibration-in-the-large) `a'` from `logit P(y=1) = a' + lp`, i.e. `lp` as
//!   an offset with slope fixed at 1. 0 is ideal; > 0 means the model under-predicts on average.
//!
//! Both fits use Newton–Raphson (equivalently IRLS) from zero / (0, 1).

const CLIP: f64 = 1e-12;
const MAX_ITER: usize = 100;
const TOL: f64 = 1e-10;

/// Log-odds of `p` after clipping to `[1e-12, 1 − 1e-12]`.
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(CLIP, 1.0 - CLIP);
    (p / (1.0 - p)).ln()
}

/// Logistic function, numerically stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Calibration intercept (in-the-large, slope fixed at 1) and calibration slope of predicted
/// probabilities against binary outcomes; see the module documentation for definitions.
///
/// Returns `None` when lengths differ, either class is empty (the MLE does not exist), any
/// probability is NaN, or Newton–Raphson fails to converge (e.g. all `lp` equal, which makes the
/// slope unidentifiable, or perfect separation).
pub fn calibration_intercept_slope(probs: &[f64], labels: &[bool]) -> Option<(f64, f64)> {
    if probs.len() != labels.len() || probs.iter().any(|p| p.is_nan()) {
        return None;
    }
    let n_pos = labels.iter().filter(|&&l| l).count();
    if n_pos == 0 || n_pos == labels.len() {
        return None;
    }
    let lp: Vec<f64> = probs.iter().map(|&p| logit(p)).collect();
    let y: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    let intercept = fit_offset_intercept(&lp, &y)?;
    let (_, slope) = fit_intercept_slope(&lp, &y)?;
    Some((intercept, slope))
}

/// The joint fit `logit P(y=1) = a + b·logit(p)` (both fitted; `b` is the calibration slope):
/// the logistic recalibration map of Steyerberg's "Clinical Prediction Models" (ch. 20). Applying
/// `σ(a + b·logit(p))` to the same rows gives intercept 0 and slope 1 on them by construction.
///
/// Returns `None` in the cases of [`calibration_intercept_slope`].
pub fn logistic_recalibration(probs: &[f64], labels: &[bool]) -> Option<(f64, f64)> {
    if probs.len() != labels.len() || probs.iter().any(|p| p.is_nan()) {
        return None;
    }
    let n_pos = labels.iter().filter(|&&l| l).count();
    if n_pos == 0 || n_pos == labels.len() {
        return None;
    }
    let lp: Vec<f64> = probs.iter().map(|&p| logit(p)).collect();
    let y: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    fit_intercept_slope(&lp, &y)
}

/// Newton–Raphson for `logit P = a + lp` (one parameter, `lp` as offset).
fn fit_offset_intercept(lp: &[f64], y: &[f64]) -> Option<f64> {
    let mut a = 0.0;
    for _ in 0..MAX_ITER {
        let (mut grad, mut hess) = (0.0, 0.0);
        for (&x, &yi) in lp.iter().zip(y) {
            let mu = sigmoid(a + x);
            grad += yi - mu;
            hess += mu * (1.0 - mu);
        }
        if hess <= 0.0 || !hess.is_finite() {
            return None;
        }
        // Damp very large steps (e.g. when almost all offsets saturate).
        let step = (grad / hess).clamp(-5.0, 5.0);
        a += step;
        if step.abs() < TOL {
            return a.is_finite().then_some(a);
        }
    }
    None
}

/// Newton–Raphson for `logit P = a + b·lp` (two parameters), starting at `(0, 1)`.
fn fit_intercept_slope(lp: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let (mut a, mut b) = (0.0, 1.0);
    for _ in 0..MAX_ITER {
        // Gradient g and Hessian H (of the log-likelihood, negated) for (a, b).
        let (mut g0, mut g1) = (0.0, 0.0);
        let (mut h00, mut h01, mut h11) = (0.0, 0.0, 0.0);
        for (&x, &yi) in lp.iter().zip(y) {
            let mu = sigmoid(a + b * x);
            let w = mu * (1.0 - mu);
            let r = yi - mu;
            g0 += r;
            g1 += r * x;
            h00 += w;
            h01 += w * x;
            h11 += w * x * x;
        }
        let det = h00 * h11 - h01 * h01;
        if !(det.is_finite() && det > 1e-12 * (h00 * h11).max(f64::MIN_POSITIVE)) {
            return None;
        }
        let da = (h11 * g0 - h01 * g1) / det;
        let db = (h00 * g1 - h01 * g0) / det;
        // Step-halving keeps the iteration stable when the start is far from the optimum.
        let scale = (5.0 / da.abs().max(db.abs())).min(1.0);
        a += da * scale;
        b += db * scale;
        if da.abs().max(db.abs()) < TOL {
            return (a.is_finite() && b.is_finite()).then_some((a, b));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Simulate `n` true logits ~ N-ish(−1.5, 1.2) and outcomes drawn from them.
    fn simulate(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut logits = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            // Sum of 12 uniforms − 6 ≈ standard normal.
            let z: f64 = (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0;
            let x = -1.5 + 1.2 * z;
            logits.push(x);
            labels.push(rng.gen::<f64>() < sigmoid(x));
        }
        (logits, labels)
    }

    #[test]
    fn logit_sigmoid_roundtrip_and_clipping() {
        for &p in &[0.01, 0.3, 0.5, 0.9] {
            assert!((sigmoid(logit(p)) - p).abs() < 1e-12);
        }
        assert!(logit(0.0).is_finite() && logit(1.0).is_finite());
        assert!((logit(0.0) + logit(1.0)).abs() < 1e-3);
        assert!((logit(0.0) + 12.0 * 10f64.ln()).abs() < 1e-3);
        assert!((sigmoid(-800.0)).abs() < 1e-300 && (sigmoid(800.0) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn perfectly_calibrated_sample() {
        let (x, y) = simulate(40_000, 7);
        let p: Vec<f64> = x.iter().map(|&v| sigmoid(v)).collect();
        let (a, b) = calibration_intercept_slope(&p, &y).expect("fit");
        assert!(a.abs() < 0.05, "intercept {a}");
        assert!((b - 1.0).abs() < 0.05, "slope {b}");
    }

    #[test]
    fn overconfident_predictions_have_slope_half() {
        let (x, y) = simulate(40_000, 11);
        let p: Vec<f64> = x.iter().map(|&v| sigmoid(2.0 * v)).collect();
        let (_, b) = calibration_intercept_slope(&p, &y).expect("fit");
        assert!((b - 0.5).abs() < 0.03, "slope {b}");
    }

    #[test]
    fn systematic_underprediction_has_positive_intercept() {
        let (x, y) = simulate(40_000, 13);
        let p: Vec<f64> = x.iter().map(|&v| sigmoid(v - 1.0)).collect();
        let (a, b) = calibration_intercept_slope(&p, &y).expect("fit");
        // Shifting every logit by −1 leaves slope 1; intercept recovers ≈ +1.
        assert!((a - 1.0).abs() < 0.06, "intercept {a}");
        assert!((b - 1.0).abs() < 0.05, "slope {b}");
    }

    #[test]
    fn hand_checkable_intercept() {
        // Constant p = 0.2 with observed rate 0.5: intercept = logit(0.5) − logit(0.2) = ln 4.
        // Slope is unidentifiable (lp constant) → whole result None.
        let p = [0.2; 4];
        let y = [true, false, true, false];
        assert!(calibration_intercept_slope(&p, &y).is_none());
        let lp: Vec<f64> = p.iter().map(|&v| logit(v)).collect();
        let yf = [1.0, 0.0, 1.0, 0.0];
        let a = fit_offset_intercept(&lp, &yf).expect("fit");
        assert!((a - 4f64.ln()).abs() < 1e-9, "{a}");
    }

    #[test]
    fn logistic_recalibration_undoes_a_known_distortion() {
        let (x, y) = simulate(40_000, 17);
        // Predictions with logit 2·x − 1: the map back is a = 0.5, b = 0.5.
        let p: Vec<f64> = x.iter().map(|&v| sigmoid(2.0 * v - 1.0)).collect();
        let (a, b) = logistic_recalibration(&p, &y).expect("fit");
        assert!((b - 0.5).abs() < 0.03, "slope {b}");
        assert!((a - 0.5).abs() < 0.05, "intercept {a}");
        let fixed: Vec<f64> = p.iter().map(|&q| sigmoid(a + b * logit(q))).collect();
        let (ia, sb) = calibration_intercept_slope(&fixed, &y).expect("fit");
        assert!(ia.abs() < 1e-6 && (sb - 1.0).abs() < 1e-6, "{ia} {sb}");
        assert!(logistic_recalibration(&[0.1, 0.2], &[true, true]).is_none());
    }

    #[test]
    fn degenerate_inputs_are_none() {
        assert!(calibration_intercept_slope(&[0.1, 0.2], &[true, true]).is_none());
        assert!(calibration_intercept_slope(&[0.1], &[true, false]).is_none());
        assert!(calibration_intercept_slope(&[f64::NAN, 0.2], &[true, false]).is_none());
    }
}
