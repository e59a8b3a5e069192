//! Per-outcome summary of a generated cohort: population size, observed rate (or median blood
//! loss) and the mean truth, for the CLI report and the calibration checks.

use crate::outcomes::{Outcome, OutcomeKind};

use super::SynthRow;

/// One outcome of a cohort.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeSummary {
    pub outcome: Outcome,
    /// Rows inside the outcome's population.
    pub n: usize,
    /// Observed rate; for blood loss, the median in mL.
    pub observed: f64,
    /// Mean of `p_true`; for blood loss, the share of rows at or below their true median
    /// (0.5 when the truth is right).
    pub truth: f64,
}

/// Summaries in [`Outcome::ALL`] order.
pub fn summarize(rows: &[SynthRow]) -> Vec<OutcomeSummary> {
    Outcome::ALL
        .iter()
        .enumerate()
        .map(|(i, &outcome)| {
            let pairs: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| Some((r.outcomes[i]?, r.truth[i]?)))
                .collect();
            let n = pairs.len();
            let mean =
                |values: &mut dyn Iterator<Item = f64>| values.sum::<f64>() / n.max(1) as f64;
            let (observed, truth) = match outcome.kind() {
                OutcomeKind::Probability => (
                    mean(&mut pairs.iter().map(|p| p.0)),
                    mean(&mut pairs.iter().map(|p| p.1)),
                ),
                OutcomeKind::Quantity => {
                    let mut values: Vec<f64> = pairs.iter().map(|p| p.0).collect();
                    values.sort_by(f64::total_cmp);
                    let median = if n == 0 { f64::NAN } else { values[n / 2] };
                    (
                        median,
                        mean(&mut pairs.iter().map(|p| if p.0 <= p.1 { 1.0 } else { 0.0 })),
                    )
                }
            };
            OutcomeSummary {
                outcome,
                n,
                observed,
                truth,
            }
        })
        .collect()
}
