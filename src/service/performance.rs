//! Model performance by group from recorded outcomes (issue 10, item 3;
//! `GET /v1/quality/performance`): the rows of [`super::quality_rows`] split by site, month,
//! sex, age band, procedure or model version, each group summarised by the same
//! [`crate::metrics::binary_summary`] / [`crate::metrics::quantity_summary`] that `periop
//! evaluate` reports, so the numbers equal `periop evaluate` on the same rows.
//!
//! - **Suppression**: a group (and the "all" row) with fewer than `min_group_size` rows with a
//!   recorded outcome is reported with its `n` only and `suppressed: true`, never dropped, so a
//!   reader sees that it exists without a metric too noisy to read (and without small cells).
//! - **Fairness** (seismometer style): for each group that is not suppressed, the ratio of its
//!   metric to the reference group's, flagged outside [`FAIRNESS_BOUNDS`] (0.8, 1.25). The
//!   reference is the largest group that is not suppressed (the first in group order on a tie)
//!   unless the caller names one. A ratio flags a *difference*, in either direction (a Brier
//!   ratio of 1.3 is worse, an event-rate ratio of 1.3 is a different case mix); it is not a
//!   test, and small groups have wide intervals (see each group's CIs).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::error::ServiceError;
use super::quality_rows::{quality_rows, Predicted, QualityQuery, QualityRow};
use crate::audit::AuditStore;
use crate::metrics::{
    binary_summary, quantity_summary, BinarySummary, QuantitySummary, SummarySettings,
};
use crate::outcomes::{Outcome, OutcomeKind};

/// Default `quality_min_group_size`: groups with fewer rows (with a recorded outcome) are
/// suppressed. 30 is a common small-cell rule; with fewer than ~100 events a calibration slope's
/// interval is wide anyway (Riley et al., BMJ 2020, sample size for external validation), which
/// the reported intervals show.
pub const DEFAULT_MIN_GROUP_SIZE: usize = crate::config::DEFAULT_QUALITY_MIN_GROUP_SIZE;

/// A fairness ratio outside `[lower, upper]` is flagged (seismometer's default bounds).
pub const FAIRNESS_BOUNDS: (f64, f64) = (0.8, 1.25);

/// The label of rows without a value for the grouping (no site, sex or procedure recorded).
pub const UNKNOWN_GROUP: &str = "unknown";

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Site,
    /// Calendar month (UTC) of the assessment, `YYYY-MM`.
    Month,
    Sex,
    AgeBand,
    Procedure,
    ModelVersion,
}

impl GroupBy {
    pub const ALL: [GroupBy; 6] = [
        Self::Site,
        Self::Month,
        Self::Sex,
        Self::AgeBand,
        Self::Procedure,
        Self::ModelVersion,
    ];

    /// The parameter value (`site`, `age_band`).
    pub fn id(self) -> &'static str {
        match self {
            Self::Site => "site",
            Self::Month => "month",
            Self::Sex => "sex",
            Self::AgeBand => "age_band",
            Self::Procedure => "procedure",
            Self::ModelVersion => "model_version",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.id() == id)
    }

    /// The group label of a row.
    fn label(self, row: &QualityRow) -> String {
        let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| UNKNOWN_GROUP.into());
        match self {
            Self::Site => or_unknown(&row.site),
            Self::Month => row.created_at.format("%Y-%m").to_string(),
            Self::Sex => or_unknown(&row.sex),
            Self::AgeBand => row.age_band.to_string(),
            Self::Procedure => or_unknown(&row.procedure),
            Self::ModelVersion => row.model_version.clone(),
        }
    }
}

/// What to report.
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceQuery {
    /// The rows (outcome, window of assessment times, optional site).
    pub rows: QualityQuery,
    /// `None`: only the "all" row.
    pub group_by: Option<GroupBy>,
    /// The fairness reference group (`None`: the largest group not suppressed).
    pub reference: Option<String>,
}

/// How the report is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerformanceSettings {
    pub min_group_size: usize,
    pub summary: SummarySettings,
}

impl Default for PerformanceSettings {
    fn default() -> Self {
        Self {
            min_group_size: DEFAULT_MIN_GROUP_SIZE,
            summary: SummarySettings::default(),
        }
    }
}

/// A query that cannot be answered as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PerformanceError {
    /// `reference` names no group of the window.
    #[error("names no group of the window ({groups})")]
    UnknownReference { groups: String },
    /// `reference` names a suppressed group.
    #[error("names a suppressed group ({n} rows with an outcome, fewer than the minimum {min})")]
    SuppressedReference { n: usize, min: usize },
    /// `reference` without `group_by`.
    #[error("needs group_by")]
    ReferenceWithoutGroups,
}

impl PerformanceError {
    /// The query parameter concerned.
    pub fn parameter(&self) -> &'static str {
        "reference"
    }

    /// Machine-readable kind (the problem's `reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownReference { .. } => "unknown_level",
            Self::SuppressedReference { .. } => "out_of_range",
            Self::ReferenceWithoutGroups => "contradiction",
        }
    }
}

/// The metrics of a group that is not suppressed.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupMetrics {
    Binary(BinarySummary),
    Quantity(QuantitySummary),
}

/// One metric of a group against the reference group's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FairnessRatio {
    /// `auc`, `auprc`, `brier`, `mean_predicted`, `event_rate` (binary);
    /// `median_absolute_error_ml`, `coverage_80` (blood loss).
    pub metric: &'static str,
    pub value: Option<f64>,
    pub reference_value: Option<f64>,
    /// `value / reference_value` (`None` when either is unavailable or the reference is 0).
    pub ratio: Option<f64>,
    /// The ratio lies outside [`FAIRNESS_BOUNDS`].
    pub flagged: bool,
}

/// One row of the report: a group, or all rows.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPerformance {
    pub group: String,
    /// Rows with a recorded outcome.
    pub n: usize,
    /// `n < min_group_size`: only `n` is reported.
    pub suppressed: bool,
    /// `None` when suppressed.
    pub metrics: Option<GroupMetrics>,
    /// Against the reference group (empty for the "all" row, suppressed groups, and when there is
    /// no reference).
    pub fairness: Vec<FairnessRatio>,
}

/// How the reference group was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceChoice {
    /// The largest group not suppressed.
    Largest,
    /// Named by the caller.
    Requested,
}

/// The report.
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceReport {
    pub outcome: Outcome,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub site: Option<String>,
    pub group_by: Option<GroupBy>,
    pub settings: PerformanceSettings,
    /// Assessments of the window with a recorded outcome (the "all" row's `n`).
    pub with_outcome: u64,
    /// Assessments of the window that predicted the outcome but have no recorded outcome.
    pub without_outcome: u64,
    /// Records that no longer parse (should be 0).
    pub unreadable: u64,
    /// The fairness reference (`None`: no group_by, or every group suppressed).
    pub reference: Option<(String, ReferenceChoice)>,
    pub all: GroupPerformance,
    /// By group label (months chronologically).
    pub groups: Vec<GroupPerformance>,
}

/// The metrics of some rows (all of one kind, the query's outcome's).
fn summarise(rows: &[&QualityRow], kind: OutcomeKind, settings: &SummarySettings) -> GroupMetrics {
    match kind {
        OutcomeKind::Probability => {
            let (probs, labels): (Vec<f64>, Vec<bool>) = rows
                .iter()
                .filter_map(|r| match r.predicted {
                    Predicted::Probability(p) => Some((p, r.observed == 1.0)),
                    Predicted::Quantity { .. } => None,
                })
                .unzip();
            GroupMetrics::Binary(binary_summary(&probs, &labels, settings))
        }
        OutcomeKind::Quantity => {
            let mut median = Vec::with_capacity(rows.len());
            let mut p10 = Vec::with_capacity(rows.len());
            let mut p90 = Vec::with_capacity(rows.len());
            let mut actual = Vec::with_capacity(rows.len());
            for r in rows {
                if let Predicted::Quantity {
                    median: m,
                    p10: lo,
                    p90: hi,
                } = r.predicted
                {
                    median.push(m);
                    p10.push(lo);
                    p90.push(hi);
                    actual.push(r.observed);
                }
            }
            GroupMetrics::Quantity(quantity_summary(&median, &p10, &p90, &actual, settings))
        }
    }
}

fn group(
    label: String,
    rows: &[&QualityRow],
    kind: OutcomeKind,
    settings: &PerformanceSettings,
) -> GroupPerformance {
    let suppressed = rows.len() < settings.min_group_size;
    GroupPerformance {
        group: label,
        n: rows.len(),
        suppressed,
        metrics: (!suppressed).then(|| summarise(rows, kind, &settings.summary)),
        fairness: Vec::new(),
    }
}

/// The metrics fairness ratios are taken of, by name.
fn fairness_values(metrics: &GroupMetrics) -> Vec<(&'static str, Option<f64>)> {
    let finite = |v: f64| v.is_finite().then_some(v);
    match metrics {
        GroupMetrics::Binary(b) => vec![
            ("auc", b.auc),
            ("auprc", b.auprc),
            ("brier", finite(b.brier)),
            ("mean_predicted", finite(b.mean_predicted)),
            ("event_rate", finite(b.event_rate)),
        ],
        GroupMetrics::Quantity(q) => vec![
            ("median_absolute_error_ml", finite(q.median_absolute_error)),
            ("coverage_80", finite(q.coverage_80)),
        ],
    }
}

fn fairness(metrics: &GroupMetrics, reference: &GroupMetrics) -> Vec<FairnessRatio> {
    fairness_values(metrics)
        .into_iter()
        .zip(fairness_values(reference))
        .map(|((metric, value), (_, reference_value))| {
            let ratio = value
                .zip(reference_value)
                .filter(|(_, r)| *r != 0.0)
                .map(|(v, r)| v / r);
            FairnessRatio {
                metric,
                value,
                reference_value,
                ratio,
                flagged: ratio
                    .is_some_and(|r| !(FAIRNESS_BOUNDS.0..=FAIRNESS_BOUNDS.1).contains(&r)),
            }
        })
        .collect()
}

/// The performance report of `query`; see the module documentation.
///
/// # Errors
/// [`ServiceError::Window`] when `to` is not after `from`; [`ServiceError::Performance`] for a
/// `reference` that names no group or a suppressed one; [`ServiceError::Store`] when the store
/// cannot be read.
pub fn performance(
    store: &dyn AuditStore,
    query: &PerformanceQuery,
    settings: &PerformanceSettings,
) -> Result<PerformanceReport, ServiceError> {
    if query.reference.is_some() && query.group_by.is_none() {
        return Err(PerformanceError::ReferenceWithoutGroups.into());
    }
    let found = quality_rows(store, &query.rows)?;
    let kind = query.rows.outcome.kind();
    let everything: Vec<&QualityRow> = found.rows.iter().collect();
    let all = group("all".into(), &everything, kind, settings);
    let mut groups: Vec<GroupPerformance> = Vec::new();
    let mut reference = None;
    if let Some(by) = query.group_by {
        let mut split: BTreeMap<String, Vec<&QualityRow>> = BTreeMap::new();
        for row in &found.rows {
            split.entry(by.label(row)).or_default().push(row);
        }
        groups = split
            .into_iter()
            .map(|(label, rows)| group(label, &rows, kind, settings))
            .collect();
        let chosen = match &query.reference {
            Some(name) => {
                let Some(g) = groups.iter().position(|g| &g.group == name) else {
                    let names: Vec<&str> = groups.iter().map(|g| g.group.as_str()).collect();
                    return Err(PerformanceError::UnknownReference {
                        groups: if names.is_empty() {
                            "there are none".into()
                        } else {
                            names.join(", ")
                        },
                    }
                    .into());
                };
                if groups[g].suppressed {
                    return Err(PerformanceError::SuppressedReference {
                        n: groups[g].n,
                        min: settings.min_group_size,
                    }
                    .into());
                }
                Some((g, ReferenceChoice::Requested))
            }
            None => groups
                .iter()
                .enumerate()
                .filter(|(_, g)| !g.suppressed)
                // max_by_key keeps the last maximum; reversing keeps the first.
                .rev()
                .max_by_key(|(_, g)| g.n)
                .map(|(i, _)| (i, ReferenceChoice::Largest)),
        };
        if let Some((r, choice)) = chosen {
            if let Some(reference_metrics) = groups[r].metrics.clone() {
                for g in &mut groups {
                    if let Some(m) = &g.metrics {
                        g.fairness = fairness(m, &reference_metrics);
                    }
                }
            }
            reference = Some((groups[r].group.clone(), choice));
        }
    }
    Ok(PerformanceReport {
        outcome: query.rows.outcome,
        from: query.rows.from,
        to: query.rows.to,
        site: query.rows.site.clone(),
        group_by: query.group_by,
        settings: *settings,
        with_outcome: found.rows.len() as u64,
        without_outcome: found.without_outcome,
        unreadable: found.unreadable,
        reference,
        all,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::types::ModelSetRef;

    fn row(site: &str, p: f64, y: bool, month: u32) -> QualityRow {
        QualityRow {
            assessment_id: format!("{site}-{p}-{month}"),
            created_at: format!("2026-{month:02}-10T00:00:00Z")
                .parse()
                .expect("time"),
            site: Some(site.into()),
            sex: None,
            age_band: "unknown",
            procedure: Some("lumbar_fusion".into()),
            model_version: "dvt@1".into(),
            model_set: ModelSetRef {
                id: "default".into(),
                version: "1".into(),
            },
            predicted: Predicted::Probability(p),
            observed: if y { 1.0 } else { 0.0 },
            outcome_version: 1,
        }
    }

    #[test]
    fn group_labels() {
        let r = row("site-a", 0.2, true, 3);
        assert_eq!(GroupBy::Month.label(&r), "2026-03");
        assert_eq!(GroupBy::Sex.label(&r), UNKNOWN_GROUP);
        assert_eq!(GroupBy::Site.label(&r), "site-a");
        for g in GroupBy::ALL {
            assert_eq!(GroupBy::from_id(g.id()), Some(g));
        }
        assert_eq!(GroupBy::from_id("ward"), None);
    }

    #[test]
    fn fairness_ratios_flag_outside_the_bounds() {
        let rows_a: Vec<QualityRow> = (0..40)
            .map(|i| row("a", f64::from(i) / 40.0, i % 3 == 0, 3))
            .collect();
        let rows_b: Vec<QualityRow> = (0..40)
            .map(|i| row("b", f64::from(i) / 80.0, i % 2 == 0, 3))
            .collect();
        let s = SummarySettings {
            bootstrap_replicates: 50,
            ..SummarySettings::default()
        };
        let a = summarise(
            &rows_a.iter().collect::<Vec<_>>(),
            OutcomeKind::Probability,
            &s,
        );
        let b = summarise(
            &rows_b.iter().collect::<Vec<_>>(),
            OutcomeKind::Probability,
            &s,
        );
        let ratios = fairness(&b, &a);
        let mean = ratios
            .iter()
            .find(|r| r.metric == "mean_predicted")
            .expect("mean");
        // Mean predicted: b is half of a → 0.5, flagged.
        let (GroupMetrics::Binary(sa), GroupMetrics::Binary(sb)) = (&a, &b) else {
            panic!("binary");
        };
        assert!((mean.ratio.expect("ratio") - sb.mean_predicted / sa.mean_predicted).abs() < 1e-15);
        assert!(mean.flagged);
        let same = fairness(&a, &a);
        assert!(same.iter().all(|r| r.ratio == Some(1.0) && !r.flagged));
    }
}
