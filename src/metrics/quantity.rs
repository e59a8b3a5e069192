//! Error metrics for continuous (quantity) predictions such as blood loss in mL.

/// Median of `|pred − actual|` over pairs where both are finite. NaN when there are none.
pub fn median_absolute_error(pred: &[f64], actual: &[f64]) -> f64 {
    let mut err: Vec<f64> = pred
        .iter()
        .zip(actual)
        .filter(|(p, a)| p.is_finite() && a.is_finite())
        .map(|(p, a)| (p - a).abs())
        .collect();
    if err.is_empty() {
        return f64::NAN;
    }
    err.sort_by(f64::total_cmp);
    let m = err.len() / 2;
    if err.len() % 2 == 1 {
        err[m]
    } else {
        (err[m - 1] + err[m]) / 2.0
    }
}

/// Fraction of `actual` values inside the closed interval `[lo, hi]` (rows with a non-finite
/// value skipped). NaN when there are no usable rows.
pub fn interval_coverage(lo: &[f64], hi: &[f64], actual: &[f64]) -> f64 {
    let (mut inside, mut total) = (0usize, 0usize);
    for ((&l, &h), &a) in lo.iter().zip(hi).zip(actual) {
        if !(l.is_finite() && h.is_finite() && a.is_finite()) {
            continue;
        }
        total += 1;
        if l <= a && a <= h {
            inside += 1;
        }
    }
    if total == 0 {
        f64::NAN
    } else {
        inside as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_absolute_error_odd_even() {
        // errors 100, 50, 300 → median 100
        assert_eq!(
            median_absolute_error(&[500.0, 250.0, 900.0], &[400.0, 300.0, 600.0]),
            100.0
        );
        // errors 1, 2, 3, 10 → 2.5
        assert_eq!(
            median_absolute_error(&[1.0, 2.0, 3.0, 10.0], &[0.0; 4]),
            2.5
        );
        assert_eq!(median_absolute_error(&[f64::NAN, 4.0], &[0.0, 1.0]), 3.0);
        assert!(median_absolute_error(&[], &[]).is_nan());
    }

    #[test]
    fn coverage_counts_closed_interval() {
        let lo = [0.0, 0.0, 0.0, 0.0];
        let hi = [10.0, 10.0, 10.0, 10.0];
        let a = [0.0, 10.0, 11.0, 5.0];
        assert_eq!(interval_coverage(&lo, &hi, &a), 0.75);
        assert!(interval_coverage(&[], &[], &[]).is_nan());
    }
}
