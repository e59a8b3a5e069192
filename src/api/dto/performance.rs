//! Wire types of `GET /v1/quality/performance` (model performance by group from recorded
//! outcomes, `service::performance`). The response types are what the handler serialises, built
//! from the service's report, so the document cannot drift from the answers; the query type
//! describes the parameters for the OpenAPI document (the handler parses the query itself to
//! name every bad parameter).
//!
//! A metric that cannot be computed on a group (an AUC with one class, a slope that does not
//! converge) is `null`, never a made-up number.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::clock::created_at_text;
use crate::metrics::{Bin, BinarySummary, QuantitySummary};
use crate::service::performance::{
    FairnessRatio, GroupMetrics, GroupPerformance, PerformanceReport, ReferenceChoice,
    FAIRNESS_BOUNDS,
};

// ---------------------------------------------------------------- request

/// `GET /v1/quality/performance` query.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PerformanceQueryDto {
    /// Outcome id (`dvt`, `blood_loss_ml`, … as in `GET /v1/models`).
    #[param(example = "dvt")]
    pub outcome: String,
    /// Window start, inclusive: assessments created at or after it (RFC 3339; percent-encode a
    /// `+` offset as `%2B`).
    #[param(value_type = String, format = DateTime, example = "2026-01-01T00:00:00Z")]
    pub from: String,
    /// Window end, exclusive (RFC 3339); after `from`.
    #[param(value_type = String, format = DateTime, example = "2026-07-01T00:00:00Z")]
    pub to: String,
    /// `site`, `month` (UTC calendar month of the assessment), `sex`, `age_band`, `procedure` or
    /// `model_version`. Absent: only the `all` row.
    #[param(example = "site")]
    pub group_by: Option<String>,
    /// Only assessments of this site (1–64 letters, digits, `-`, `_`, `.`).
    #[param(example = "site-a")]
    pub site: Option<String>,
    /// The fairness reference group (a group label of the answer, not suppressed; needs
    /// `group_by`). Absent: the largest group that is not suppressed.
    #[param(example = "site-a")]
    pub reference: Option<String>,
}

// ---------------------------------------------------------------- responses

/// A 95 % confidence interval.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalDto {
    #[schema(example = 0.71)]
    pub lower: f64,
    #[schema(example = 0.83)]
    pub upper: f64,
}

impl IntervalDto {
    fn of(ci: Option<(f64, f64)>) -> Option<Self> {
        ci.filter(|(l, u)| l.is_finite() && u.is_finite())
            .map(|(lower, upper)| Self { lower, upper })
    }
}

/// One quantile reliability bin (rows sorted by predicted probability, split into equal counts).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReliabilityBinDto {
    /// Smallest predicted probability in the bin.
    #[schema(example = 0.012)]
    pub lower: f64,
    /// Largest predicted probability in the bin.
    #[schema(example = 0.031)]
    pub upper: f64,
    /// Mean predicted probability (x of the reliability plot).
    #[schema(example = 0.021)]
    pub mean_predicted: f64,
    /// Observed event rate (y of the reliability plot).
    #[schema(example = 0.025)]
    pub observed_rate: f64,
    /// Rows in the bin.
    #[schema(example = 40)]
    pub count: usize,
}

impl From<&Bin> for ReliabilityBinDto {
    fn from(b: &Bin) -> Self {
        Self {
            lower: b.lower,
            upper: b.upper,
            mean_predicted: b.mean_predicted,
            observed_rate: b.observed_rate,
            count: b.count,
        }
    }
}

/// The metrics of a binary outcome on one group (`metrics::binary_summary`, as `periop
/// evaluate`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BinaryPerformanceDto {
    /// Rows with the event.
    #[schema(example = 31)]
    pub events: usize,
    #[schema(example = 0.078)]
    pub event_rate: f64,
    #[schema(example = 0.064)]
    pub mean_predicted: f64,
    /// ROC AUC (Mann–Whitney).
    #[schema(example = 0.77)]
    pub auc: Option<f64>,
    /// 95 % percentile bootstrap interval of the AUC.
    pub auc_ci: Option<IntervalDto>,
    /// Average precision (area under the precision–recall curve); compare with `event_rate`.
    #[schema(example = 0.21)]
    pub auprc: Option<f64>,
    /// Brier score (lower is better).
    #[schema(example = 0.068)]
    pub brier: f64,
    /// Calibration-in-the-large (logit offset, slope fixed at 1); 0 is ideal, > 0 under-predicts.
    #[schema(example = 0.21)]
    pub calibration_intercept: Option<f64>,
    /// 95 % Wald interval of the intercept.
    pub calibration_intercept_ci: Option<IntervalDto>,
    /// Calibration slope (coefficient of logit p); 1 is ideal, < 1 too extreme.
    #[schema(example = 0.94)]
    pub calibration_slope: Option<f64>,
    /// 95 % Wald interval of the slope.
    pub calibration_slope_ci: Option<IntervalDto>,
    /// Expected calibration error over `reliability` (count-weighted |observed − predicted|).
    #[schema(example = 0.012)]
    pub ece: Option<f64>,
    /// Quantile reliability bins (10 by default; fewer when probabilities tie).
    pub reliability: Vec<ReliabilityBinDto>,
}

impl From<&BinarySummary> for BinaryPerformanceDto {
    fn from(s: &BinarySummary) -> Self {
        Self {
            events: s.events,
            event_rate: s.event_rate,
            mean_predicted: s.mean_predicted,
            auc: s.auc,
            auc_ci: IntervalDto::of(s.auc_ci),
            auprc: s.auprc,
            brier: s.brier,
            calibration_intercept: s.calibration.map(|c| c.intercept),
            calibration_intercept_ci: IntervalDto::of(s.calibration.map(|c| c.intercept_ci)),
            calibration_slope: s.calibration.map(|c| c.slope),
            calibration_slope_ci: IntervalDto::of(s.calibration.map(|c| c.slope_ci)),
            ece: s.ece,
            reliability: s.reliability.iter().map(ReliabilityBinDto::from).collect(),
        }
    }
}

/// The metrics of blood loss on one group (`metrics::quantity_summary`, as `periop evaluate`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantityPerformanceDto {
    /// Median absolute error of the predicted median (mL).
    #[schema(example = 310.0)]
    pub median_absolute_error_ml: Option<f64>,
    /// 95 % percentile bootstrap interval of it.
    pub median_absolute_error_ci: Option<IntervalDto>,
    /// Fraction of observed values inside the predicted 80 % interval `[p10, p90]` (target 0.80).
    #[schema(example = 0.79)]
    pub coverage_80: Option<f64>,
}

impl From<&QuantitySummary> for QuantityPerformanceDto {
    fn from(s: &QuantitySummary) -> Self {
        let finite = |v: f64| v.is_finite().then_some(v);
        Self {
            median_absolute_error_ml: finite(s.median_absolute_error),
            median_absolute_error_ci: IntervalDto::of(s.median_absolute_error_ci),
            coverage_80: finite(s.coverage_80),
        }
    }
}

/// One metric of a group against the reference group's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessRatioDto {
    /// `auc`, `auprc`, `brier`, `mean_predicted`, `event_rate`; blood loss:
    /// `median_absolute_error_ml`, `coverage_80`.
    #[schema(example = "auc")]
    pub metric: String,
    /// The group's value.
    #[schema(example = 0.74)]
    pub value: Option<f64>,
    /// The reference group's value.
    #[schema(example = 0.79)]
    pub reference_value: Option<f64>,
    /// `value / reference_value` (`null` when either is unavailable or the reference is 0).
    #[schema(example = 0.937)]
    pub ratio: Option<f64>,
    /// The ratio lies outside `fairness_bounds`.
    #[schema(example = false)]
    pub flagged: bool,
}

impl From<&FairnessRatio> for FairnessRatioDto {
    fn from(r: &FairnessRatio) -> Self {
        Self {
            metric: r.metric.to_string(),
            value: r.value,
            reference_value: r.reference_value,
            ratio: r.ratio,
            flagged: r.flagged,
        }
    }
}

/// One row of the report: a group, or `all`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPerformanceDto {
    /// The group label (`all` for every row; `unknown` for rows without the grouping value).
    #[schema(example = "site-a")]
    pub group: String,
    /// Rows with a recorded outcome.
    #[schema(example = 412)]
    pub n: usize,
    /// `n` is below `min_group_size`: only `n` is reported.
    #[schema(example = false)]
    pub suppressed: bool,
    /// Binary outcomes, when not suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub binary: Option<BinaryPerformanceDto>,
    /// Blood loss, when not suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub quantity: Option<QuantityPerformanceDto>,
    /// Ratios against the reference group (empty for `all`, suppressed groups, or without a
    /// reference).
    pub fairness: Vec<FairnessRatioDto>,
}

impl From<&GroupPerformance> for GroupPerformanceDto {
    fn from(g: &GroupPerformance) -> Self {
        let (binary, quantity) = match &g.metrics {
            Some(GroupMetrics::Binary(b)) => (Some(b.into()), None),
            Some(GroupMetrics::Quantity(q)) => (None, Some(q.into())),
            None => (None, None),
        };
        Self {
            group: g.group.clone(),
            n: g.n,
            suppressed: g.suppressed,
            binary,
            quantity,
            fairness: g.fairness.iter().map(FairnessRatioDto::from).collect(),
        }
    }
}

/// The fairness reference group.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceDto {
    #[schema(example = "site-a")]
    pub group: String,
    /// `largest` (the largest group not suppressed) or `requested` (the `reference` parameter).
    #[schema(example = "largest")]
    pub chosen: String,
}

/// Rows of the window.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PerformanceRowsDto {
    /// Assessments that predicted the outcome and have a recorded outcome (used).
    #[schema(example = 958)]
    pub with_outcome: u64,
    /// Assessments that predicted the outcome without a recorded outcome (not used).
    #[schema(example = 41)]
    pub without_outcome: u64,
    /// Records that no longer parse (not used; should be 0).
    #[schema(example = 0)]
    pub unreadable: u64,
}

/// Model performance by group over a window of assessments with recorded outcomes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::performance()))]
pub struct PerformanceReportDto {
    #[schema(example = "dvt")]
    pub outcome: String,
    /// `probability` (binary metrics) or `quantity` (blood loss).
    #[schema(example = "probability")]
    pub outcome_kind: String,
    /// Window start, inclusive (assessment `created_at`).
    #[schema(example = "2026-01-01T00:00:00.000Z")]
    pub from: String,
    /// Window end, exclusive.
    #[schema(example = "2026-07-01T00:00:00.000Z")]
    pub to: String,
    /// The site filter, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "site-a")]
    pub site: Option<String>,
    /// The grouping (`null`: only `all`).
    #[schema(example = "site")]
    pub group_by: Option<String>,
    /// Groups with fewer rows are suppressed (`quality_min_group_size`).
    #[schema(example = 30)]
    pub min_group_size: usize,
    /// Bootstrap replicates of the AUC and blood-loss error intervals.
    #[schema(example = 1000)]
    pub bootstrap_replicates: usize,
    /// Bootstrap seed (intervals are reproducible).
    #[schema(example = 20_240_917)]
    pub bootstrap_seed: u64,
    /// `[lower, upper]`: a fairness ratio outside is flagged.
    #[schema(example = json!([0.8, 1.25]))]
    pub fairness_bounds: Vec<f64>,
    /// The fairness reference (`null`: no grouping, or every group suppressed).
    pub reference: Option<ReferenceDto>,
    pub rows: PerformanceRowsDto,
    /// Every row of the window.
    pub all: GroupPerformanceDto,
    /// By group label (months chronologically).
    pub groups: Vec<GroupPerformanceDto>,
}

impl From<&PerformanceReport> for PerformanceReportDto {
    fn from(r: &PerformanceReport) -> Self {
        Self {
            outcome: r.outcome.id().to_string(),
            outcome_kind: match r.outcome.kind() {
                crate::outcomes::OutcomeKind::Probability => "probability",
                crate::outcomes::OutcomeKind::Quantity => "quantity",
            }
            .to_string(),
            from: created_at_text(&r.from),
            to: created_at_text(&r.to),
            site: r.site.clone(),
            group_by: r.group_by.map(|g| g.id().to_string()),
            min_group_size: r.settings.min_group_size,
            bootstrap_replicates: r.settings.summary.bootstrap_replicates,
            bootstrap_seed: r.settings.summary.bootstrap_seed,
            fairness_bounds: vec![FAIRNESS_BOUNDS.0, FAIRNESS_BOUNDS.1],
            reference: r.reference.as_ref().map(|(group, choice)| ReferenceDto {
                group: group.clone(),
                chosen: match choice {
                    ReferenceChoice::Largest => "largest",
                    ReferenceChoice::Requested => "requested",
                }
                .to_string(),
            }),
            rows: PerformanceRowsDto {
                with_outcome: r.with_outcome,
                without_outcome: r.without_outcome,
                unreadable: r.unreadable,
            },
            all: (&r.all).into(),
            groups: r.groups.iter().map(GroupPerformanceDto::from).collect(),
        }
    }
}

// ---------------------------------------------------------------- examples

/// Example bodies (checked against their schemas by `tests/openapi.rs`).
pub mod examples {
    use serde_json::{json, Value};

    fn bins(scale: f64) -> Value {
        let rows: Vec<Value> = (0..10)
            .map(|i| {
                let mid = 0.01 + 0.02 * f64::from(i) * scale;
                json!({"lower": mid - 0.005, "upper": mid + 0.005, "mean_predicted": mid,
                       "observed_rate": mid * 1.1, "count": 40})
            })
            .collect();
        Value::from(rows)
    }

    fn binary(events: u64, auc: f64, slope: f64) -> Value {
        json!({
            "events": events, "event_rate": events as f64 / 400.0, "mean_predicted": 0.1,
            "auc": auc, "auc_ci": {"lower": auc - 0.05, "upper": auc + 0.05}, "auprc": 0.28,
            "brier": 0.081, "calibration_intercept": 0.12,
            "calibration_intercept_ci": {"lower": -0.09, "upper": 0.33},
            "calibration_slope": slope, "calibration_slope_ci": {"lower": slope - 0.2, "upper": slope + 0.2},
            "ece": 0.011, "reliability": bins(1.0)
        })
    }

    /// `GET /v1/quality/performance?outcome=dvt&group_by=site…` answer.
    pub fn performance() -> Value {
        json!({
            "outcome": "dvt", "outcome_kind": "probability",
            "from": "2026-01-01T00:00:00.000Z", "to": "2026-07-01T00:00:00.000Z",
            "group_by": "site", "min_group_size": 30,
            "bootstrap_replicates": 1000, "bootstrap_seed": 20_240_917,
            "fairness_bounds": [0.8, 1.25],
            "reference": {"group": "site-a", "chosen": "largest"},
            "rows": {"with_outcome": 812, "without_outcome": 41, "unreadable": 0},
            "all": {"group": "all", "n": 812, "suppressed": false, "binary": binary(81, 0.76, 0.97), "fairness": []},
            "groups": [
                {"group": "site-a", "n": 400, "suppressed": false, "binary": binary(40, 0.78, 1.02),
                 "fairness": [
                    {"metric": "auc", "value": 0.78, "reference_value": 0.78, "ratio": 1.0, "flagged": false},
                    {"metric": "auprc", "value": 0.28, "reference_value": 0.28, "ratio": 1.0, "flagged": false},
                    {"metric": "brier", "value": 0.081, "reference_value": 0.081, "ratio": 1.0, "flagged": false},
                    {"metric": "mean_predicted", "value": 0.1, "reference_value": 0.1, "ratio": 1.0, "flagged": false},
                    {"metric": "event_rate", "value": 0.1, "reference_value": 0.1, "ratio": 1.0, "flagged": false}
                 ]},
                {"group": "site-b", "n": 400, "suppressed": false, "binary": binary(41, 0.74, 0.91),
                 "fairness": [
                    {"metric": "auc", "value": 0.74, "reference_value": 0.78, "ratio": 0.949, "flagged": false},
                    {"metric": "auprc", "value": 0.28, "reference_value": 0.28, "ratio": 1.0, "flagged": false},
                    {"metric": "brier", "value": 0.081, "reference_value": 0.081, "ratio": 1.0, "flagged": false},
                    {"metric": "mean_predicted", "value": 0.1, "reference_value": 0.1, "ratio": 1.0, "flagged": false},
                    {"metric": "event_rate", "value": 0.1025, "reference_value": 0.1, "ratio": 1.025, "flagged": false}
                 ]},
                {"group": "site-c", "n": 12, "suppressed": true, "fairness": []}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_deserialises_into_its_dto() {
        serde_json::from_value::<PerformanceReportDto>(examples::performance())
            .expect("performance report");
    }
}
