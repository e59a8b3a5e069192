//! Reliability (calibration) bins: mean predicted probability vs. observed event rate.

use serde::{Deserialize, Serialize};

/// One reliability bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Smallest predicted probability in the bin.
    pub lower: f64,
    /// Largest predicted probability in the bin.
    pub upper: f64,
    /// Mean predicted probability of the bin's rows.
    pub mean_predicted: f64,
    /// Fraction of the bin's rows with the event.
    pub observed_rate: f64,
    /// Number of rows in the bin.
    pub count: usize,
}

/// **Quantile** reliability bins: rows sorted by predicted probability and split into `n_bins`
/// groups of (almost) equal size — the first `n mod n_bins` groups get one extra row. Tied
/// probabilities are never split across bins: a group boundary falling inside a run of ties moves
/// past the run, so fewer than `n_bins` bins may be returned. Empty bins are not returned.
///
/// `lower`/`upper` are the min/max predicted probability inside the bin (not nominal edges).
/// NaN probabilities are skipped. Returns an empty vector when `n_bins == 0`, the lengths
/// differ, or there is no data.
pub fn reliability_bins(probs: &[f64], labels: &[bool], n_bins: usize) -> Vec<Bin> {
    if n_bins == 0 || probs.len() != labels.len() {
        return Vec::new();
    }
    let mut rows: Vec<(f64, bool)> = probs
        .iter()
        .zip(labels)
        .filter(|(p, _)| !p.is_nan())
        .map(|(&p, &y)| (p, y))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = rows.len();
    let mut bins = Vec::with_capacity(n_bins);
    let mut start = 0;
    for k in 0..n_bins {
        if start >= n {
            break;
        }
        // Nominal end of group k (exclusive).
        let nominal = ((k + 1) * n) / n_bins;
        let mut end = nominal.max(start + 1).min(n);
        while end < n && rows[end].0 == rows[end - 1].0 {
            end += 1;
        }
        if k + 1 == n_bins {
            end = n;
        }
        let slice = &rows[start..end];
        let count = slice.len();
        let sum_p: f64 = slice.iter().map(|r| r.0).sum();
        let events = slice.iter().filter(|r| r.1).count();
        bins.push(Bin {
            lower: slice[0].0,
            upper: slice[count - 1].0,
            mean_predicted: sum_p / count as f64,
            observed_rate: events as f64 / count as f64,
            count,
        });
        start = end;
    }
    bins
}

/// Expected calibration error over reliability bins: `Σ_b (n_b / n) · |observed_b − mean_b|`,
/// the count-weighted mean distance of each bin from the diagonal, on the bins it is given (the
/// quantile bins of [`reliability_bins`], so it is the ECE of the plotted bins). 0 is perfect; it
/// is biased upwards in small samples (noise in each bin's observed rate adds to the distance).
///
/// Returns `None` for no bins (no data).
pub fn expected_calibration_error(bins: &[Bin]) -> Option<f64> {
    let n: usize = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return None;
    }
    let sum: f64 = bins
        .iter()
        .map(|b| b.count as f64 * (b.observed_rate - b.mean_predicted).abs())
        .sum();
    Some(sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_by_hand() {
        // Bins {0.1, 0.2} (mean 0.15, observed ½) and {0.3, 0.4} (mean 0.35, observed ½):
        // ½ · 0.35 + ½ · 0.15 = 0.25.
        let bins = reliability_bins(&[0.1, 0.2, 0.3, 0.4], &[false, true, false, true], 2);
        let ece = expected_calibration_error(&bins).expect("bins");
        assert!((ece - 0.25).abs() < 1e-12, "{ece}");
        // Unequal counts weigh by count: 3 rows at |0.5 − 0.2|, 1 row at |1 − 0.9| → (0.9+0.1)/4.
        let bins = [
            Bin {
                lower: 0.2,
                upper: 0.2,
                mean_predicted: 0.2,
                observed_rate: 0.5,
                count: 3,
            },
            Bin {
                lower: 0.9,
                upper: 0.9,
                mean_predicted: 0.9,
                observed_rate: 1.0,
                count: 1,
            },
        ];
        let ece = expected_calibration_error(&bins).expect("bins");
        assert!((ece - 0.25).abs() < 1e-12, "{ece}");
        assert_eq!(expected_calibration_error(&[]), None);
    }

    #[test]
    fn equal_sized_quantile_bins() {
        let p: Vec<f64> = (0..10).map(|i| i as f64 / 10.0).collect();
        let y: Vec<bool> = (0..10).map(|i| i >= 5).collect();
        let bins = reliability_bins(&p, &y, 5);
        assert_eq!(bins.len(), 5);
        assert!(bins.iter().all(|b| b.count == 2));
        assert!((bins[0].mean_predicted - 0.05).abs() < 1e-12);
        assert_eq!(bins[0].lower, 0.0);
        assert_eq!(bins[0].upper, 0.1);
        assert_eq!(bins[0].observed_rate, 0.0);
        // Bin 2 holds 0.4 (no event) and 0.5 (event).
        assert_eq!(bins[2].observed_rate, 0.5);
        assert_eq!(bins[4].observed_rate, 1.0);
    }

    #[test]
    fn counts_sum_to_n_and_ties_stay_together() {
        let p = [0.1, 0.1, 0.1, 0.1, 0.5, 0.9, 0.9];
        let y = [false, true, false, false, true, true, true];
        let bins = reliability_bins(&p, &y, 3);
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 7);
        assert_eq!(bins[0].count, 4);
        assert_eq!(bins[0].observed_rate, 0.25);
        for w in bins.windows(2) {
            assert!(w[0].upper < w[1].lower);
        }
    }

    #[test]
    fn more_bins_than_rows_and_degenerate() {
        let bins = reliability_bins(&[0.2, 0.4], &[true, false], 10);
        assert_eq!(bins.len(), 2);
        assert!(reliability_bins(&[], &[], 10).is_empty());
        assert!(reliability_bins(&[0.2], &[true], 0).is_empty());
        assert!(reliability_bins(&[0.2], &[true, false], 3).is_empty());
    }
}
