//! Fitting the calibration map on held-out raw scores: Platt scaling and isotonic regression
//! (pool-adjacent-violators), chosen by two-fold cross-validated Brier score on the validation rows
//! (fitting and scoring on the same rows would always favour the more flexible isotonic map).
//! Hand-written because no maintained crate offers PAV plus a logistic fit on one feature; both
//! are a few dozen lines.

use crate::model::calibration::{sigmoid, Calibration};

/// Fits both maps and keeps the one with the lower cross-validated Brier score, refitted on all
/// validation rows.
pub fn fit_calibration(raw: &[f64], y: &[bool]) -> Calibration {
    let (a_idx, b_idx): (Vec<usize>, Vec<usize>) = (0..raw.len()).partition(|i| i % 2 == 0);
    let cv_brier = |fit: &dyn Fn(&[f64], &[bool]) -> Calibration| {
        let mut total = 0.0;
        for (fit_idx, eval_idx) in [(&a_idx, &b_idx), (&b_idx, &a_idx)] {
            let (fr, fy) = pick(raw, y, fit_idx);
            let map = fit(&fr, &fy);
            total += eval_idx
                .iter()
                .map(|&i| (map.apply(raw[i]) - f64::from(u8::from(y[i]))).powi(2))
                .sum::<f64>();
        }
        total / raw.len() as f64
    };
    let platt_brier = cv_brier(&|r, t| fit_platt(r, t, 0.0, 0.0));
    let isotonic_brier = cv_brier(&|r, t| fit_isotonic(r, t, 0.0, 0.0));
    if platt_brier <= isotonic_brier {
        fit_platt(raw, y, platt_brier, isotonic_brier)
    } else {
        fit_isotonic(raw, y, isotonic_brier, platt_brier)
    }
}

fn pick(raw: &[f64], y: &[bool], idx: &[usize]) -> (Vec<f64>, Vec<bool>) {
    (
        idx.iter().map(|&i| raw[i]).collect(),
        idx.iter().map(|&i| y[i]).collect(),
    )
}

/// Logistic regression `y ~ sigmoid(a * raw + b)` by Newton-Raphson.
pub fn fit_platt(
    raw: &[f64],
    y: &[bool],
    validation_brier: f64,
    alternative_brier: f64,
) -> Calibration {
    let (mut a, mut b) = (1.0, 0.0);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&x, &t) in raw.iter().zip(y) {
            let p = sigmoid(a * x + b);
            let r = p - f64::from(u8::from(t));
            let w = (p * (1.0 - p)).max(1e-12);
            ga += r * x;
            gb += r;
            haa += w * x * x;
            hab += w * x;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-300 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() < 1e-12 && db.abs() < 1e-12 {
            break;
        }
    }
    Calibration::Platt {
        a,
        b,
        validation_brier,
        alternative_brier,
    }
}

/// Isotonic regression of `y` on `raw` (pool adjacent violators); knots at block mean raw scores.
pub fn fit_isotonic(
    raw: &[f64],
    y: &[bool],
    validation_brier: f64,
    alternative_brier: f64,
) -> Calibration {
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|&i, &j| raw[i].total_cmp(&raw[j]));
    // Blocks of (sum raw, sum y, count); equal raw scores start in one block.
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    let mut last_raw = f64::NAN;
    for &i in &order {
        let yi = f64::from(u8::from(y[i]));
        match blocks.last_mut() {
            Some(block) if raw[i] == last_raw => {
                block.0 += raw[i];
                block.1 += yi;
                block.2 += 1.0;
            }
            _ => blocks.push((raw[i], yi, 1.0)),
        }
        last_raw = raw[i];
        while blocks.len() > 1 {
            let n = blocks.len();
            let (prev, cur) = (blocks[n - 2], blocks[n - 1]);
            if prev.1 / prev.2 < cur.1 / cur.2 {
                break;
            }
            blocks[n - 2] = (prev.0 + cur.0, prev.1 + cur.1, prev.2 + cur.2);
            blocks.pop();
        }
    }
    let raw_knots = blocks.iter().map(|b| b.0 / b.2).collect();
    let p = blocks.iter().map(|b| b.1 / b.2).collect();
    Calibration::Isotonic {
        raw: raw_knots,
        p,
        validation_brier,
        alternative_brier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn sample(n: usize, scale: f64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        (0..n)
            .map(|_| {
                let z: f64 = rng.gen_range(-4.0..4.0);
                (z / scale, rng.gen::<f64>() < sigmoid(z))
            })
            .unzip()
    }

    #[test]
    fn platt_recovers_a_known_scale() {
        let (raw, y) = sample(20_000, 2.0);
        let Calibration::Platt { a, b, .. } = fit_platt(&raw, &y, 0.0, 0.0) else {
            panic!("platt")
        };
        assert!((a - 2.0).abs() < 0.15, "a = {a}");
        assert!(b.abs() < 0.1, "b = {b}");
    }

    #[test]
    fn isotonic_map_is_monotone() {
        let (raw, y) = sample(5_000, 1.0);
        let Calibration::Isotonic { raw: k, p, .. } = fit_isotonic(&raw, &y, 0.0, 0.0) else {
            panic!("iso")
        };
        assert!(k.windows(2).all(|w| w[0] < w[1]));
        assert!(p.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_chosen_map_records_both_brier_scores() {
        let (raw, y) = sample(4_000, 1.0);
        match fit_calibration(&raw, &y) {
            Calibration::Platt {
                validation_brier,
                alternative_brier,
                ..
            }
            | Calibration::Isotonic {
                validation_brier,
                alternative_brier,
                ..
            } => {
                assert!(validation_brier <= alternative_brier);
                assert!(validation_brier > 0.0 && validation_brier < 0.25);
            }
            Calibration::Recalibrated { .. } => panic!("training never recalibrates"),
        }
    }
}
