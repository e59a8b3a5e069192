//! Every metric of one set of rows, computed one way: what `periop evaluate` reports per outcome
//! and what the quality API reports per group (`GET /v1/quality/performance`) are both these
//! summaries, so the two agree on the same rows by construction.

use serde::Serialize;

use super::{
    auc, auc_bootstrap_ci, average_precision, bootstrap_ci, brier, calibration_fit,
    expected_calibration_error, interval_coverage, median_absolute_error, reliability_bins, Bin,
    CalibrationFit,
};

/// Default number of bootstrap replicates for confidence intervals.
pub const DEFAULT_REPLICATES: usize = 1000;
/// Default bootstrap seed (recorded with every report so intervals can be reproduced exactly).
pub const DEFAULT_SEED: u64 = 20_240_917;
/// Default number of quantile reliability bins.
pub const DEFAULT_BINS: usize = 10;

/// How the summaries are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SummarySettings {
    /// Bootstrap replicates of the AUC (and blood-loss error) intervals.
    pub bootstrap_replicates: usize,
    pub bootstrap_seed: u64,
    /// Quantile reliability bins (also the bins of the ECE).
    pub reliability_bins: usize,
}

impl Default for SummarySettings {
    fn default() -> Self {
        Self {
            bootstrap_replicates: DEFAULT_REPLICATES,
            bootstrap_seed: DEFAULT_SEED,
            reliability_bins: DEFAULT_BINS,
        }
    }
}

/// Every metric of predicted probabilities against binary outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct BinarySummary {
    pub n: usize,
    pub events: usize,
    /// `events / n` (NaN for no rows).
    pub event_rate: f64,
    /// Mean predicted probability (NaN for no rows).
    pub mean_predicted: f64,
    pub auc: Option<f64>,
    /// 95 % percentile bootstrap ([`auc_bootstrap_ci`]).
    pub auc_ci: Option<(f64, f64)>,
    /// Average precision ([`average_precision`]).
    pub auprc: Option<f64>,
    pub brier: f64,
    /// Intercept and slope with 95 % Wald intervals ([`calibration_fit`]).
    pub calibration: Option<CalibrationFit>,
    /// Over `reliability` ([`expected_calibration_error`]).
    pub ece: Option<f64>,
    pub reliability: Vec<Bin>,
}

/// Computes every binary metric of `probs` against `labels` (one entry per row each).
pub fn binary_summary(probs: &[f64], labels: &[bool], settings: &SummarySettings) -> BinarySummary {
    let n = probs.len();
    let events = labels.iter().filter(|&&l| l).count();
    let reliability = reliability_bins(probs, labels, settings.reliability_bins);
    BinarySummary {
        n,
        events,
        event_rate: ratio(events, n),
        mean_predicted: mean(probs),
        auc: auc(probs, labels),
        auc_ci: auc_bootstrap_ci(
            probs,
            labels,
            settings.bootstrap_replicates,
            settings.bootstrap_seed,
        ),
        auprc: average_precision(probs, labels),
        brier: brier(probs, labels),
        calibration: calibration_fit(probs, labels),
        ece: expected_calibration_error(&reliability),
        reliability,
    }
}

/// Every metric of a quantity prediction (median with an 80 % interval) against observed values.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantitySummary {
    pub n: usize,
    /// Median absolute error of the predicted median ([`median_absolute_error`]).
    pub median_absolute_error: f64,
    /// 95 % percentile bootstrap of it.
    pub median_absolute_error_ci: Option<(f64, f64)>,
    /// Fraction of observed values inside `[p10, p90]` ([`interval_coverage`]; target 0.80).
    pub coverage_80: f64,
}

/// Computes the quantity metrics (all slices one entry per row).
pub fn quantity_summary(
    median: &[f64],
    p10: &[f64],
    p90: &[f64],
    actual: &[f64],
    settings: &SummarySettings,
) -> QuantitySummary {
    let n = median.len();
    let ci = bootstrap_ci(
        n,
        settings.bootstrap_replicates,
        settings.bootstrap_seed,
        |idx| {
            let (p, a): (Vec<f64>, Vec<f64>) = idx.iter().map(|&i| (median[i], actual[i])).unzip();
            Some(median_absolute_error(&p, &a))
        },
    );
    QuantitySummary {
        n,
        median_absolute_error: median_absolute_error(median, actual),
        median_absolute_error_ci: ci,
        coverage_80: interval_coverage(p10, p90, actual),
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_summary_is_its_parts() {
        let p = [0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 0.15, 0.7];
        let y = [false, false, true, false, true, true, false, false];
        let settings = SummarySettings {
            bootstrap_replicates: 200,
            ..SummarySettings::default()
        };
        let s = binary_summary(&p, &y, &settings);
        assert_eq!((s.n, s.events), (8, 3));
        assert_eq!(s.auc, auc(&p, &y));
        assert_eq!(s.auprc, average_precision(&p, &y));
        assert_eq!(s.brier, brier(&p, &y));
        assert_eq!(s.calibration, calibration_fit(&p, &y));
        assert_eq!(s.auc_ci, auc_bootstrap_ci(&p, &y, 200, DEFAULT_SEED));
        assert_eq!(s.reliability.iter().map(|b| b.count).sum::<usize>(), 8);
        assert_eq!(s.ece, expected_calibration_error(&s.reliability));
        assert!((s.event_rate - 3.0 / 8.0).abs() < 1e-15);
        let empty = binary_summary(&[], &[], &settings);
        assert_eq!((empty.n, empty.auc, empty.ece), (0, None, None));
        assert!(empty.event_rate.is_nan());
    }

    #[test]
    fn a_quantity_summary_is_its_parts() {
        let median = [100.0, 500.0, 3000.0, 200.0];
        let p10 = [50.0, 300.0, 2000.0, 100.0];
        let p90 = [200.0, 900.0, 5000.0, 250.0];
        let actual = [150.0, 1000.0, 2600.0, 180.0];
        let s = quantity_summary(&median, &p10, &p90, &actual, &SummarySettings::default());
        // |errors| 50, 500, 400, 20 → (50 + 400) / 2.
        assert_eq!(s.median_absolute_error, 225.0);
        assert_eq!(s.coverage_80, 0.75);
        assert!(s.median_absolute_error_ci.is_some());
    }
}
