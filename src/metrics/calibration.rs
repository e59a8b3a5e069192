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
//!
//! Confidence intervals ([`calibration_fit`]) are 95 % Wald intervals, estimate ± 1.96 · SE, with
//! the SE from the observed information (the negated Hessian of the log-likelihood) at the
//! estimate: what R's `confint.default(glm(y ~ lp, family = binomial))` (slope) and
//! `confint.default(glm(y ~ offset(lp), family = binomial))` (intercept) report. Chosen over a
//! bootstrap because it costs one fit, at any n, and is the interval the calibration literature
//! reports next to the slope.

const CLIP: f64 = 1e-12;
const MAX_ITER: usize = 100;
const TOL: f64 = 1e-10;
/// The standard normal 97.5th percentile (two-sided 95 % Wald interval).
const Z_975: f64 = 1.959_963_984_540_054;

/// Calibration intercept and slope with their standard errors and 95 % Wald intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationFit {
    /// Calibration-in-the-large (slope fixed at 1); 0 is ideal.
    pub intercept: f64,
    pub intercept_se: f64,
    pub intercept_ci: (f64, f64),
    /// Coefficient of `logit(p)` in the logistic recalibration; 1 is ideal.
    pub slope: f64,
    pub slope_se: f64,
    pub slope_ci: (f64, f64),
}

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
    calibration_fit(probs, labels).map(|f| (f.intercept, f.slope))
}

/// [`calibration_intercept_slope`] with standard errors and 95 % Wald intervals (module docs).
///
/// Returns `None` in the same cases as [`calibration_intercept_slope`].
pub fn calibration_fit(probs: &[f64], labels: &[bool]) -> Option<CalibrationFit> {
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
    let (a, slope) = fit_intercept_slope(&lp, &y)?;
    // Information at the estimates.
    let info_offset: f64 = lp
        .iter()
        .map(|&x| {
            let mu = sigmoid(intercept + x);
            mu * (1.0 - mu)
        })
        .sum();
    let (mut h00, mut h01, mut h11) = (0.0, 0.0, 0.0);
    for &x in &lp {
        let mu = sigmoid(a + slope * x);
        let w = mu * (1.0 - mu);
        h00 += w;
        h01 += w * x;
        h11 += w * x * x;
    }
    let det = h00 * h11 - h01 * h01;
    if !(info_offset > 0.0 && det > 0.0) {
        return None;
    }
    let intercept_se = info_offset.recip().sqrt();
    // Var(b) is the (b, b) entry of the inverse 2 × 2 information.
    let slope_se = (h00 / det).sqrt();
    let ci = |e: f64, se: f64| (e - Z_975 * se, e + Z_975 * se);
    (intercept_se.is_finite() && slope_se.is_finite()).then(|| CalibrationFit {
        intercept,
        intercept_se,
        intercept_ci: ci(intercept, intercept_se),
        slope,
        slope_se,
        slope_ci: ci(slope, slope_se),
    })
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
    fn wald_intervals_of_a_saturated_two_point_design() {
        // Two predicted values: lp = 0 (p = ½) for 4 rows with 1 event, lp = ln 3 (p = ¾) for 4
        // rows with 3 events. The two-parameter model is saturated, so by hand:
        //   a = logit(¼) = −ln 3, a + b·ln 3 = logit(¾) = ln 3  →  b = 2;
        //   Var(b) = [1/(4·¼·¾) + 1/(4·¾·¼)] / (ln 3)² = (8/3) / (ln 3)²  →  SE ≈ 1.486 4
        //   (R: glm(y ~ lp, binomial) gives the same Wald SE; it is the textbook formula for a
        //   difference of two logits).
        // Intercept with lp as offset: Σ y = Σ σ(a' + lp) has no closed form; its SE is
        // 1/√(Σ μ(1−μ)) at the fit, checked against the Newton solution below.
        let third = 3f64.ln();
        let mut p = vec![0.5; 4];
        p.extend([0.75; 4]);
        let y = [true, false, false, false, true, true, true, false];
        let fit = calibration_fit(&p, &y).expect("fit");
        assert!((fit.slope - 2.0).abs() < 1e-8, "{fit:?}");
        let se = ((8.0 / 3.0) as f64).sqrt() / third;
        assert!((fit.slope_se - se).abs() < 1e-8, "{} vs {se}", fit.slope_se);
        assert!((fit.slope_ci.0 - (2.0 - Z_975 * se)).abs() < 1e-8);
        assert!((fit.slope_ci.1 - (2.0 + Z_975 * se)).abs() < 1e-8);
        let info: f64 = p
            .iter()
            .map(|&v| {
                let mu = sigmoid(fit.intercept + logit(v));
                mu * (1.0 - mu)
            })
            .sum();
        assert!((fit.intercept_se - info.recip().sqrt()).abs() < 1e-12);
        // The score equation holds at the intercept: Σ y = Σ σ(a' + lp) = 4.
        let expected: f64 = p.iter().map(|&v| sigmoid(fit.intercept + logit(v))).sum();
        assert!((expected - 4.0).abs() < 1e-9, "{expected}");
    }

    #[test]
    fn intercept_se_when_every_prediction_is_the_same() {
        // p = 0.2 for all 4 rows, 2 events: a' = ln 4 (μ = ½), information 4·¼ = 1 → SE = 1.
        let lp = [logit(0.2); 4];
        let y = [1.0, 0.0, 1.0, 0.0];
        let a = fit_offset_intercept(&lp, &y).expect("fit");
        let info: f64 = lp
            .iter()
            .map(|&x| sigmoid(a + x) * (1.0 - sigmoid(a + x)))
            .sum();
        assert!((info - 1.0).abs() < 1e-9, "{info}");
    }

    #[test]
    fn wald_slope_interval_covers_like_the_bootstrap() {
        // On 3000 simulated calibrated rows, the Wald SE of the slope is within 15 % of the
        // bootstrap SE of the same fit (both estimate the sampling spread).
        let (x, y) = simulate(3000, 21);
        let p: Vec<f64> = x.iter().map(|&v| sigmoid(v)).collect();
        let fit = calibration_fit(&p, &y).expect("fit");
        let slopes: Vec<f64> = (0..300u64)
            .filter_map(|r| {
                let mut rng = ChaCha8Rng::seed_from_u64(r);
                let idx: Vec<usize> = (0..p.len()).map(|_| rng.gen_range(0..p.len())).collect();
                let ps: Vec<f64> = idx.iter().map(|&i| p[i]).collect();
                let ys: Vec<bool> = idx.iter().map(|&i| y[i]).collect();
                calibration_intercept_slope(&ps, &ys).map(|f| f.1)
            })
            .collect();
        let mean = slopes.iter().sum::<f64>() / slopes.len() as f64;
        let sd = (slopes.iter().map(|s| (s - mean).powi(2)).sum::<f64>()
            / (slopes.len() - 1) as f64)
            .sqrt();
        assert!(
            (fit.slope_se / sd - 1.0).abs() < 0.15,
            "Wald {} vs bootstrap {sd}",
            fit.slope_se
        );
        assert!(fit.slope_ci.0 < 1.0 && 1.0 < fit.slope_ci.1, "{fit:?}");
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
