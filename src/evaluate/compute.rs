//! Per-outcome metrics from predictions, observed outcomes and (synthetic data) truth columns.
//!
//! Pure: takes vectors, returns serialisable metric structs. The orchestration in `mod.rs`
//! gathers the vectors from a dataset and a model set; tests feed them directly.

use std::collections::BTreeMap;

use serde::Serialize;

use super::settings::Settings;
use crate::metrics::{
    auc, binary_summary, bootstrap_ci, brier, interval_coverage, median_absolute_error,
    quantity_summary, Bin, SummarySettings,
};

/// Subgroup labels per row (all three vectors have one entry per evaluated row).
#[derive(Debug, Clone, Default)]
pub struct Groups {
    /// Contributing hospital (`"unknown"` when the data has no site).
    pub site: Vec<String>,
    /// `female`, `male` or `unknown`.
    pub sex: Vec<String>,
    /// An age band label of `settings::AGE_BANDS` or `unknown`.
    pub age_band: Vec<String>,
}

/// Inputs for a probability outcome.
#[derive(Debug, Clone, Default)]
pub struct BinaryInput {
    /// Calibrated predicted probabilities.
    pub probs: Vec<f64>,
    pub labels: Vec<bool>,
    /// `p_true_<outcome>` where the data has it.
    pub truth: Vec<Option<f64>>,
    pub groups: Groups,
}

/// Inputs for blood loss (mL).
#[derive(Debug, Clone, Default)]
pub struct QuantityInput {
    pub median: Vec<f64>,
    pub p10: Vec<f64>,
    pub p90: Vec<f64>,
    pub actual: Vec<f64>,
    /// `p_true_blood_loss_ml`: the true median `exp(μ)` where the data has it.
    pub truth: Vec<Option<f64>>,
    pub groups: Groups,
}

/// Model performance against the best achievable (the truth column), on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Oracle {
    /// Rows that carry the truth column (the oracle is computed on these only).
    pub n: usize,
    pub auc: Option<f64>,
    pub brier: f64,
    /// `model AUC − oracle AUC` on the rows with truth (negative: the model is worse).
    pub auc_gap: Option<f64>,
    /// Paired bootstrap 95 % interval of the gap.
    pub auc_gap_ci: Option<(f64, f64)>,
}

/// AUC in one subgroup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAuc {
    pub group: String,
    pub n: usize,
    pub events: usize,
    pub auc: Option<f64>,
    pub oracle_auc: Option<f64>,
}

/// Subgroup results by site, sex and age band.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Subgroups<T> {
    pub site: Vec<T>,
    pub sex: Vec<T>,
    pub age_band: Vec<T>,
}

/// Metrics of a probability outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BinaryMetrics {
    pub n: usize,
    pub events: usize,
    pub event_rate: f64,
    pub mean_predicted: f64,
    pub auc: Option<f64>,
    pub auc_ci: Option<(f64, f64)>,
    /// Average precision (area under the precision–recall curve).
    pub auprc: Option<f64>,
    pub brier: f64,
    /// Calibration-in-the-large (slope fixed at 1); 0 is ideal.
    pub calibration_intercept: Option<f64>,
    /// 95 % Wald interval of the intercept.
    pub calibration_intercept_ci: Option<(f64, f64)>,
    /// Coefficient of logit(p) in a logistic recalibration; 1 is ideal.
    pub calibration_slope: Option<f64>,
    /// 95 % Wald interval of the slope.
    pub calibration_slope_ci: Option<(f64, f64)>,
    /// Expected calibration error over `reliability`.
    pub ece: Option<f64>,
    pub reliability: Vec<Bin>,
    pub oracle: Option<Oracle>,
    pub subgroups: Subgroups<GroupAuc>,
}

/// Blood-loss errors in one subgroup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupError {
    pub group: String,
    pub n: usize,
    pub median_absolute_error_ml: f64,
    pub coverage_80: f64,
}

/// Metrics of blood loss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantityMetrics {
    pub n: usize,
    pub observed_median_ml: f64,
    pub predicted_median_ml: f64,
    /// Median absolute error (mL) of the predicted median.
    pub median_absolute_error_ml: f64,
    pub median_absolute_error_ci: Option<(f64, f64)>,
    /// Fraction of observed values inside `[p10, p90]` (target 0.80).
    pub coverage_80: f64,
    /// Rows with EBL ≥ the massive threshold.
    pub massive_events: usize,
    /// AUC of the predicted median for EBL ≥ the massive threshold.
    pub massive_auc: Option<f64>,
    pub oracle: Option<QuantityOracle>,
    pub subgroups: Subgroups<GroupError>,
}

/// The true median `exp(μ)` as a predictor, on the rows that carry it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantityOracle {
    pub n: usize,
    pub median_absolute_error_ml: f64,
    pub massive_auc: Option<f64>,
    /// The model's massive AUC on the same rows minus the oracle's.
    pub massive_auc_gap: Option<f64>,
}

/// The shared summary settings of an evaluation.
fn summary_settings(settings: &Settings) -> SummarySettings {
    SummarySettings {
        bootstrap_replicates: settings.bootstrap_replicates,
        bootstrap_seed: settings.bootstrap_seed,
        reliability_bins: settings.reliability_bins,
    }
}

/// Computes every metric of a probability outcome: the whole-sample metrics are
/// [`crate::metrics::binary_summary`] (what the quality API reports per group), plus the oracle
/// and the subgroup AUCs.
pub fn binary_metrics(input: &BinaryInput, settings: &Settings) -> BinaryMetrics {
    let BinaryInput {
        probs,
        labels,
        truth,
        groups,
    } = input;
    let summary = binary_summary(probs, labels, &summary_settings(settings));
    BinaryMetrics {
        n: summary.n,
        events: summary.events,
        event_rate: summary.event_rate,
        mean_predicted: summary.mean_predicted,
        auc: summary.auc,
        auc_ci: summary.auc_ci,
        auprc: summary.auprc,
        brier: summary.brier,
        calibration_intercept: summary.calibration.map(|c| c.intercept),
        calibration_intercept_ci: summary.calibration.map(|c| c.intercept_ci),
        calibration_slope: summary.calibration.map(|c| c.slope),
        calibration_slope_ci: summary.calibration.map(|c| c.slope_ci),
        ece: summary.ece,
        reliability: summary.reliability,
        oracle: binary_oracle(input, settings),
        subgroups: Subgroups {
            site: group_aucs(&groups.site, probs, labels, truth),
            sex: group_aucs(&groups.sex, probs, labels, truth),
            age_band: group_aucs(&groups.age_band, probs, labels, truth),
        },
    }
}

fn binary_oracle(input: &BinaryInput, settings: &Settings) -> Option<Oracle> {
    let rows: Vec<usize> = (0..input.probs.len())
        .filter(|&i| input.truth[i].is_some())
        .collect();
    if rows.is_empty() {
        return None;
    }
    let model: Vec<f64> = rows.iter().map(|&i| input.probs[i]).collect();
    let oracle: Vec<f64> = rows
        .iter()
        .map(|&i| input.truth[i].unwrap_or(f64::NAN))
        .collect();
    let labels: Vec<bool> = rows.iter().map(|&i| input.labels[i]).collect();
    let oracle_auc = auc(&oracle, &labels);
    let gap = auc(&model, &labels).zip(oracle_auc).map(|(m, o)| m - o);
    let gap_ci = bootstrap_ci(
        rows.len(),
        settings.bootstrap_replicates,
        settings.bootstrap_seed,
        |idx| {
            let l: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
            let m: Vec<f64> = idx.iter().map(|&i| model[i]).collect();
            let o: Vec<f64> = idx.iter().map(|&i| oracle[i]).collect();
            Some(auc(&m, &l)? - auc(&o, &l)?)
        },
    );
    Some(Oracle {
        n: rows.len(),
        auc: oracle_auc,
        brier: brier(&oracle, &labels),
        auc_gap: gap,
        auc_gap_ci: gap_ci,
    })
}

/// Row indices per group label, groups in sorted order.
fn partition(labels: &[String]) -> BTreeMap<&str, Vec<usize>> {
    let mut map: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, g) in labels.iter().enumerate() {
        map.entry(g.as_str()).or_default().push(i);
    }
    map
}

fn group_aucs(
    group_of: &[String],
    probs: &[f64],
    labels: &[bool],
    truth: &[Option<f64>],
) -> Vec<GroupAuc> {
    partition(group_of)
        .into_iter()
        .map(|(group, rows)| {
            let p: Vec<f64> = rows.iter().map(|&i| probs[i]).collect();
            let l: Vec<bool> = rows.iter().map(|&i| labels[i]).collect();
            let with_truth: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&i| truth[i].is_some())
                .collect();
            let t: Vec<f64> = with_truth
                .iter()
                .map(|&i| truth[i].unwrap_or(f64::NAN))
                .collect();
            let lt: Vec<bool> = with_truth.iter().map(|&i| labels[i]).collect();
            GroupAuc {
                group: group.to_string(),
                n: rows.len(),
                events: l.iter().filter(|&&b| b).count(),
                auc: auc(&p, &l),
                oracle_auc: auc(&t, &lt),
            }
        })
        .collect()
}

/// Computes every metric of blood loss: the whole-sample errors are
/// [`crate::metrics::quantity_summary`], plus the massive-loss AUC, the oracle and subgroups.
pub fn quantity_metrics(input: &QuantityInput, settings: &Settings) -> QuantityMetrics {
    let QuantityInput {
        median,
        p10,
        p90,
        actual,
        groups,
        ..
    } = input;
    let massive: Vec<bool> = actual
        .iter()
        .map(|&a| a >= settings.massive_ebl_ml)
        .collect();
    let summary = quantity_summary(median, p10, p90, actual, &summary_settings(settings));
    let subgroup = |labels: &[String]| -> Vec<GroupError> {
        partition(labels)
            .into_iter()
            .map(|(group, rows)| {
                let pick = |v: &[f64]| rows.iter().map(|&i| v[i]).collect::<Vec<f64>>();
                GroupError {
                    group: group.to_string(),
                    n: rows.len(),
                    median_absolute_error_ml: median_absolute_error(&pick(median), &pick(actual)),
                    coverage_80: interval_coverage(&pick(p10), &pick(p90), &pick(actual)),
                }
            })
            .collect()
    };
    QuantityMetrics {
        n: summary.n,
        observed_median_ml: median_of(actual),
        predicted_median_ml: median_of(median),
        median_absolute_error_ml: summary.median_absolute_error,
        median_absolute_error_ci: summary.median_absolute_error_ci,
        coverage_80: summary.coverage_80,
        massive_events: massive.iter().filter(|&&m| m).count(),
        massive_auc: auc(median, &massive),
        oracle: quantity_oracle(input, &massive),
        subgroups: Subgroups {
            site: subgroup(&groups.site),
            sex: subgroup(&groups.sex),
            age_band: subgroup(&groups.age_band),
        },
    }
}

fn quantity_oracle(input: &QuantityInput, massive: &[bool]) -> Option<QuantityOracle> {
    let rows: Vec<usize> = (0..input.median.len())
        .filter(|&i| input.truth[i].is_some())
        .collect();
    if rows.is_empty() {
        return None;
    }
    let truth: Vec<f64> = rows
        .iter()
        .map(|&i| input.truth[i].unwrap_or(f64::NAN))
        .collect();
    let model: Vec<f64> = rows.iter().map(|&i| input.median[i]).collect();
    let actual: Vec<f64> = rows.iter().map(|&i| input.actual[i]).collect();
    let m: Vec<bool> = rows.iter().map(|&i| massive[i]).collect();
    let oracle_auc = auc(&truth, &m);
    Some(QuantityOracle {
        n: rows.len(),
        median_absolute_error_ml: median_absolute_error(&truth, &actual),
        massive_auc: oracle_auc,
        massive_auc_gap: auc(&model, &m).zip(oracle_auc).map(|(a, o)| a - o),
    })
}

/// Median of the finite values (NaN when none).
fn median_of(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            bootstrap_replicates: 200,
            ..Settings::default()
        }
    }

    fn groups(n: usize) -> Groups {
        Groups {
            site: (0..n).map(|i| format!("site_{}", i % 2)).collect(),
            sex: (0..n)
                .map(|i| if i % 3 == 0 { "female" } else { "male" }.to_string())
                .collect(),
            age_band: vec!["50-64".to_string(); n],
        }
    }

    #[test]
    fn binary_small_example() {
        let input = BinaryInput {
            probs: vec![0.1, 0.2, 0.3, 0.4, 0.6, 0.8],
            labels: vec![false, false, true, false, true, true],
            truth: vec![
                Some(0.1),
                Some(0.2),
                Some(0.9),
                Some(0.3),
                Some(0.7),
                Some(0.8),
            ],
            groups: groups(6),
        };
        let m = binary_metrics(&input, &settings());
        assert_eq!((m.n, m.events), (6, 3));
        // Pairs: 0.3 beats 0.1, 0.2 (loses to 0.4); 0.6 and 0.8 beat all → 8/9.
        assert!((m.auc.expect("auc") - 8.0 / 9.0).abs() < 1e-12);
        let oracle = m.oracle.expect("truth present");
        assert_eq!(oracle.auc, Some(1.0));
        assert!((oracle.auc_gap.expect("gap") + 1.0 / 9.0).abs() < 1e-12);
        assert_eq!(m.subgroups.site.len(), 2);
        assert_eq!(m.subgroups.sex.iter().map(|g| g.n).sum::<usize>(), 6);
        assert_eq!(m.reliability.iter().map(|b| b.count).sum::<usize>(), 6);
    }

    #[test]
    fn no_truth_means_no_oracle() {
        let input = BinaryInput {
            probs: vec![0.1, 0.9],
            labels: vec![false, true],
            truth: vec![None, None],
            groups: groups(2),
        };
        assert!(binary_metrics(&input, &settings()).oracle.is_none());
    }

    #[test]
    fn quantity_small_example() {
        let input = QuantityInput {
            median: vec![100.0, 500.0, 3000.0, 200.0],
            p10: vec![50.0, 300.0, 2000.0, 100.0],
            p90: vec![200.0, 900.0, 5000.0, 250.0],
            actual: vec![150.0, 1000.0, 2600.0, 180.0],
            truth: vec![Some(120.0), Some(600.0), Some(2500.0), Some(190.0)],
            groups: groups(4),
        };
        let m = quantity_metrics(&input, &settings());
        // |errors| 50, 500, 400, 20 → median (50 + 400)/2 = 225.
        assert!((m.median_absolute_error_ml - 225.0).abs() < 1e-9);
        assert!((m.coverage_80 - 0.75).abs() < 1e-12);
        assert_eq!(m.massive_events, 1);
        assert_eq!(m.massive_auc, Some(1.0));
        let o = m.oracle.expect("truth");
        // |errors| 30, 400, 100, 10 → 65.
        assert!((o.median_absolute_error_ml - 65.0).abs() < 1e-9);
    }
}
