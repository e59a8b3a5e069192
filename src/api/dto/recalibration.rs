//! Wire types of `POST /v1/models/recalibrations`. The response is what the handler serialises
//! (built from `service::recalibration::RecalibrationReport`), so the document cannot drift from
//! the answer; the request type documents the body (the handler reads each member itself to name
//! every bad one).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::recalibrated_set::{AnsweringVersion, StoreRowCounts};
use crate::service::recalibration::{
    HeldOutFigures, Interval, OutcomeRecalibrationView, RecalibrationReport, SetRef,
};

/// `POST /v1/models/recalibrations` body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::request()))]
pub struct RecalibrateRequestDto {
    /// Binary outcomes to recalibrate, all or nothing (default: every binary outcome of the
    /// answering set).
    #[schema(nullable = false, example = json!(["prolonged_los", "delirium"]))]
    pub outcomes: Option<Vec<String>>,
    /// Only the assessments of this configured site (default: every site).
    #[schema(nullable = false, example = "site_b")]
    pub site: Option<String>,
    /// Window start (assessment time, inclusive), RFC 3339.
    #[schema(value_type = String, format = DateTime, example = "2026-01-01T00:00:00Z")]
    pub from: String,
    /// Window end (exclusive), RFC 3339; after `from`.
    #[schema(value_type = String, format = DateTime, example = "2026-07-01T00:00:00Z")]
    pub to: String,
    /// Minimum events and minimum non-events among the fitting rows of each outcome
    /// (1–1,000,000, default 100).
    #[schema(
        nullable = false,
        minimum = 1,
        maximum = 1_000_000,
        default = 100,
        example = 100
    )]
    pub min_events: Option<u32>,
}

/// A recalibration that wrote a new, **inactive** model set under `model_sets_dir`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::report()))]
pub struct RecalibrationReportDto {
    /// API key id of who ran it.
    #[schema(example = "admin-1")]
    pub recalibrated_by: String,
    /// When (RFC 3339).
    #[schema(example = "2026-12-01T23:50:00.000Z")]
    pub recalibrated_at: String,
    /// The set recalibrated: the one answering when the request came.
    pub source_set: SetRefDto,
    /// The new set: written and hash-verified, not active.
    pub new_set: SetRefDto,
    /// Its directory under `model_sets_dir` (named after its version, never after the request).
    #[schema(example = "recalibrated-0.1.0_12a49d13689a")]
    pub directory: String,
    /// Always `false`: activate with `POST /v1/models/activations` (audited separately).
    #[schema(example = false)]
    pub activated: bool,
    /// The site whose outcomes were used (`null`: every site).
    #[schema(example = "site_b")]
    pub site: Option<String>,
    /// Window start, inclusive (RFC 3339).
    #[schema(example = "2026-01-01T00:00:00.000Z")]
    pub from: String,
    /// Window end, exclusive (RFC 3339).
    #[schema(example = "2026-07-01T00:00:00.000Z")]
    pub to: String,
    /// The settings it ran with.
    pub settings: SettingsDto,
    /// One entry per recalibrated outcome.
    pub outcomes: Vec<OutcomeRecalibrationDto>,
}

/// A model set by id and version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRefDto {
    /// `model_set.json` `id`.
    #[schema(example = "recalibrated-0.1.0_12a49d13689a")]
    pub id: String,
    /// `model_set.json` `version` (the name `POST /v1/models/activations` takes).
    #[schema(example = "0.1.0+12a49d13689a")]
    pub version: String,
}

/// The settings of a recalibration.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsDto {
    /// Minimum events and minimum non-events among the fitting rows.
    #[schema(example = 100)]
    pub min_events: u64,
    /// Fraction of each class held out to measure the new map.
    #[schema(example = 0.3)]
    pub held_out_fraction: f64,
    /// Seed of the split and the bootstrap.
    #[schema(example = 20_261_201)]
    pub seed: u64,
    /// Bootstrap replicates of the CIs.
    #[schema(example = 200)]
    pub bootstrap_replicates: u64,
}

/// One recalibrated outcome: the fitted map and the figures before and after on held-out rows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRecalibrationDto {
    /// Outcome id.
    #[schema(example = "prolonged_los")]
    pub outcome: String,
    /// Local rows used.
    #[schema(example = 4210)]
    pub rows: u64,
    /// Their events.
    #[schema(example = 811)]
    pub events: u64,
    /// Fitting rows (the others are held out).
    #[schema(example = 2947)]
    pub fit_rows: u64,
    /// Events among the fitting rows (at least `min_events`).
    #[schema(example = 568)]
    pub fit_events: u64,
    /// The fitted `α` of `p = σ(α + β·logit(p_before))`.
    #[schema(example = 0.62)]
    pub fitted_intercept: f64,
    /// The fitted `β`.
    #[schema(example = 1.43)]
    pub fitted_slope: f64,
    /// The map before, on the held-out rows.
    pub before: HeldOutFiguresDto,
    /// The new map, on the same held-out rows.
    pub after: HeldOutFiguresDto,
    /// How the rows were drawn from the audit store.
    pub local_rows: StoreRowCountsDto,
}

/// Calibration and discrimination on the held-out local rows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldOutFiguresDto {
    /// Held-out rows.
    #[schema(example = 1263)]
    pub rows: u64,
    /// Their events.
    #[schema(example = 243)]
    pub events: u64,
    /// Observed event rate.
    #[schema(example = 0.192)]
    pub observed_rate: f64,
    /// Mean predicted probability.
    #[schema(example = 0.131)]
    pub mean_predicted: f64,
    /// Calibration intercept (0 ideal); `null` when it cannot be fitted.
    #[schema(example = 0.48)]
    pub intercept: Option<f64>,
    /// Its bootstrap 95 % CI.
    pub intercept_ci: Option<IntervalDto>,
    /// Calibration slope (1 ideal); `null` when it cannot be fitted.
    #[schema(example = 1.41)]
    pub slope: Option<f64>,
    /// Its bootstrap 95 % CI.
    pub slope_ci: Option<IntervalDto>,
    /// Brier score.
    #[schema(example = 0.142)]
    pub brier: f64,
    /// AUC (a recalibration keeps the ranking, so the AUC, up to ties).
    #[schema(example = 0.74)]
    pub auc: Option<f64>,
}

/// A bootstrap 95 % confidence interval.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalDto {
    /// Lower bound.
    #[schema(example = 0.31)]
    pub lower: f64,
    /// Upper bound.
    #[schema(example = 0.66)]
    pub upper: f64,
}

/// How one outcome's rows were drawn from the audit store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreRowCountsDto {
    /// Outcome id.
    #[schema(example = "prolonged_los")]
    pub outcome: String,
    /// Rows used: stored assessments that predicted the outcome (status `ok`) with a recorded
    /// outcome and a stored patient that still parses.
    #[schema(example = 4210)]
    pub rows: u64,
    /// Their events.
    #[schema(example = 811)]
    pub events: u64,
    /// Assessments that predicted the outcome without a recorded outcome (not used).
    #[schema(example = 120)]
    pub without_outcome: u64,
    /// Stored records that do not parse (not used; should be 0).
    #[schema(example = 0)]
    pub unreadable_records: u64,
    /// Assessments whose stored normalised patient no longer parses (not used; should be 0).
    #[schema(example = 0)]
    pub unparseable_patients: u64,
    /// The rows by the set and model version that answered them; every raw score is
    /// recomputed by the set recalibrated.
    pub answered_by: Vec<AnsweringVersionDto>,
}

/// Rows answered by one model version of one set.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnsweringVersionDto {
    /// Version of the set that answered.
    #[schema(example = "0.1.0+e07dbeb4d898")]
    pub model_set_version: String,
    /// Version of the outcome's model that answered.
    #[schema(example = "prolonged_los@dbf6b07dc552")]
    pub model_version: String,
    /// Rows it answered.
    #[schema(example = 4210)]
    pub rows: u64,
    /// `true` for the set recalibrated: each of these rows reproduced its stored probability
    /// from its stored inputs (within 1e-9), else nothing would have been written.
    #[schema(example = true)]
    pub checked: bool,
}

fn n(v: usize) -> u64 {
    v as u64
}

impl From<&SetRef> for SetRefDto {
    fn from(s: &SetRef) -> Self {
        Self {
            id: s.id.clone(),
            version: s.version.clone(),
        }
    }
}

impl From<&Interval> for IntervalDto {
    fn from(i: &Interval) -> Self {
        Self {
            lower: i.lower,
            upper: i.upper,
        }
    }
}

impl From<&HeldOutFigures> for HeldOutFiguresDto {
    fn from(f: &HeldOutFigures) -> Self {
        Self {
            rows: n(f.rows),
            events: n(f.events),
            observed_rate: f.observed_rate,
            mean_predicted: f.mean_predicted,
            intercept: f.intercept,
            intercept_ci: f.intercept_ci.as_ref().map(Into::into),
            slope: f.slope,
            slope_ci: f.slope_ci.as_ref().map(Into::into),
            brier: f.brier,
            auc: f.auc,
        }
    }
}

impl From<&AnsweringVersion> for AnsweringVersionDto {
    fn from(a: &AnsweringVersion) -> Self {
        Self {
            model_set_version: a.model_set_version.clone(),
            model_version: a.model_version.clone(),
            rows: n(a.rows),
            checked: a.checked,
        }
    }
}

impl From<&StoreRowCounts> for StoreRowCountsDto {
    fn from(c: &StoreRowCounts) -> Self {
        Self {
            outcome: c.outcome.clone(),
            rows: n(c.rows),
            events: n(c.events),
            without_outcome: c.without_outcome,
            unreadable_records: c.unreadable_records,
            unparseable_patients: c.unparseable_patients,
            answered_by: c.answered_by.iter().map(Into::into).collect(),
        }
    }
}

impl From<&OutcomeRecalibrationView> for OutcomeRecalibrationDto {
    fn from(o: &OutcomeRecalibrationView) -> Self {
        Self {
            outcome: o.outcome.clone(),
            rows: n(o.rows),
            events: n(o.events),
            fit_rows: n(o.fit_rows),
            fit_events: n(o.fit_events),
            fitted_intercept: o.fitted_intercept,
            fitted_slope: o.fitted_slope,
            before: (&o.before).into(),
            after: (&o.after).into(),
            local_rows: (&o.local_rows).into(),
        }
    }
}

impl From<&RecalibrationReport> for RecalibrationReportDto {
    fn from(r: &RecalibrationReport) -> Self {
        Self {
            recalibrated_by: r.recalibrated_by.clone(),
            recalibrated_at: r.recalibrated_at.clone(),
            source_set: (&r.source_set).into(),
            new_set: (&r.new_set).into(),
            directory: r.directory.clone(),
            activated: r.activated,
            site: r.site.clone(),
            from: r.from.clone(),
            to: r.to.clone(),
            settings: SettingsDto {
                min_events: n(r.settings.min_events),
                held_out_fraction: r.settings.held_out_fraction,
                seed: r.settings.seed,
                bootstrap_replicates: n(r.settings.bootstrap_replicates),
            },
            outcomes: r.outcomes.iter().map(Into::into).collect(),
        }
    }
}

/// Documented examples.
pub mod examples {
    use serde_json::{json, Value};

    use crate::api::error::{ApiError, Code, FieldProblem};

    pub fn request() -> Value {
        json!({"outcomes": ["prolonged_los"], "site": "site_b", "from": "2026-01-01T00:00:00Z", "to": "2026-07-01T00:00:00Z", "min_events": 100})
    }

    fn figures(intercept: f64, slope: f64, brier: f64, mean: f64) -> Value {
        json!({
            "rows": 1263, "events": 243, "observed_rate": 0.1924, "mean_predicted": mean,
            "intercept": intercept, "intercept_ci": {"lower": intercept - 0.15, "upper": intercept + 0.15},
            "slope": slope, "slope_ci": {"lower": slope - 0.2, "upper": slope + 0.2},
            "brier": brier, "auc": 0.741
        })
    }

    pub fn report() -> Value {
        json!({
            "recalibrated_by": "admin-1",
            "recalibrated_at": "2026-12-01T23:50:00.000Z",
            "source_set": {"id": "default", "version": "0.1.0+e07dbeb4d898"},
            "new_set": {"id": "recalibrated-0.1.0_12a49d13689a", "version": "0.1.0+12a49d13689a"},
            "directory": "recalibrated-0.1.0_12a49d13689a",
            "activated": false,
            "site": "site_b",
            "from": "2026-01-01T00:00:00.000Z",
            "to": "2026-07-01T00:00:00.000Z",
            "settings": {"min_events": 100, "held_out_fraction": 0.3, "seed": 20_261_201, "bootstrap_replicates": 200},
            "outcomes": [{
                "outcome": "prolonged_los", "rows": 4210, "events": 811, "fit_rows": 2947, "fit_events": 568,
                "fitted_intercept": 0.62, "fitted_slope": 1.43,
                "before": figures(0.48, 1.41, 0.1452, 0.131),
                "after": figures(0.01, 0.98, 0.1398, 0.190),
                "local_rows": {
                    "outcome": "prolonged_los", "rows": 4210, "events": 811, "without_outcome": 120,
                    "unreadable_records": 0, "unparseable_patients": 0,
                    "answered_by": [{"model_set_version": "0.1.0+e07dbeb4d898", "model_version": "prolonged_los@dbf6b07dc552", "rows": 4210, "checked": true}]
                }
            }]
        })
    }

    pub fn too_few_events() -> Value {
        let detail = "csf_leak: 21 events and 2926 non-events among the 2947 fitting rows (4210 local rows, 1263 held out); recalibration needs at least 100 events and 100 non-events (min_events)";
        json!(ApiError {
            code: Code::InvalidInput,
            detail: format!(
                "recalibration refused for 1 outcome(s); nothing was written: {detail}"
            ),
            errors: vec![FieldProblem {
                field: "min_events".into(),
                reason: "too_few_events".into(),
                detail: detail.into(),
            }],
            request_id: Some(crate::api::dto::examples::REQUEST_ID.into()),
        }
        .problem())
    }

    pub fn not_configured() -> Value {
        json!(ApiError::invalid(vec![FieldProblem {
            field: "model_sets_dir".into(),
            reason: "not_configured".into(),
            detail: "no model_sets_dir is configured: a recalibrated set has nowhere to be written"
                .into(),
        }])
        .with_request_id(Some(crate::api::dto::examples::REQUEST_ID.into()))
        .problem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_bodies_deserialise_into_their_dtos() {
        serde_json::from_value::<RecalibrateRequestDto>(examples::request()).expect("request");
        serde_json::from_value::<RecalibrationReportDto>(examples::report()).expect("report");
    }
}
