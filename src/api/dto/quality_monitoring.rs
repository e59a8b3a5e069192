//! Wire types of drift monitoring (`GET /v1/quality/drift`) and the explanation audit (`GET
//! /v1/quality/explanations`). The responses are what the handlers serialise (built from
//! `service::drift` and `service::explanation_audit`), so the document cannot drift from the
//! answers; the query types describe the parameters for the OpenAPI document (the handlers parse
//! the query themselves to name every bad parameter).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::clock::created_at_text;
use crate::metrics::drift::KsTest;
use crate::service::drift::{
    DriftReport, FeatureDrift, MonthDrift, PredictionDrift, ShiftTest, TrainingBaseline, PSI_MAJOR,
    PSI_MODERATE, SIGNIFICANCE,
};
use crate::service::explanation_audit::{ExplanationAudit, MAX_LISTED_IDS, MISSING_DOMINANCE};
use crate::service::types::Scale;

// ---------------------------------------------------------------- requests

/// `GET /v1/quality/drift` query.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DriftQueryDto {
    /// Window start, inclusive: assessments recorded at or after it (RFC 3339; percent-encode a
    /// `+` offset as `%2B`).
    #[param(value_type = String, format = DateTime, example = "2026-03-01T00:00:00Z")]
    pub from: String,
    /// Window end, exclusive (RFC 3339); after `from`.
    #[param(value_type = String, format = DateTime, example = "2026-05-01T00:00:00Z")]
    pub to: String,
    /// Only the assessments of this site (one of the configured `sites`).
    #[param(example = "site-a")]
    pub site: Option<String>,
    /// Only this outcome's prediction drift (input drift is reported regardless).
    #[param(example = "delirium")]
    pub outcome: Option<String>,
}

/// `GET /v1/quality/explanations` query.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExplanationsQueryDto {
    /// Outcome id (`features.md`).
    #[param(example = "delirium")]
    pub outcome: String,
    /// Window start, inclusive (RFC 3339).
    #[param(value_type = String, format = DateTime, example = "2026-03-01T00:00:00Z")]
    pub from: String,
    /// Window end, exclusive (RFC 3339); after `from`.
    #[param(value_type = String, format = DateTime, example = "2026-04-01T00:00:00Z")]
    pub to: String,
    /// Only the assessments of this site (one of the configured `sites`).
    #[param(example = "site-a")]
    pub site: Option<String>,
}

/// `GET /v1/quality/explanations.svg` query: the audit's parameters and the plot.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExplanationsSvgQueryDto {
    /// Outcome id (`features.md`).
    #[param(example = "delirium")]
    pub outcome: String,
    /// Window start, inclusive (RFC 3339).
    #[param(value_type = String, format = DateTime, example = "2026-03-01T00:00:00Z")]
    pub from: String,
    /// Window end, exclusive (RFC 3339); after `from`.
    #[param(value_type = String, format = DateTime, example = "2026-04-01T00:00:00Z")]
    pub to: String,
    /// Only the assessments of this site (one of the configured `sites`).
    #[param(example = "site-a")]
    pub site: Option<String>,
    /// `bar` (mean |SHAP| per feature) or `beeswarm` (one dot per assessment per feature).
    #[param(value_type = String, pattern = "^(bar|beeswarm)$", example = "bar")]
    pub plot: String,
    /// Features shown, largest mean |SHAP| first: 1–50 (default 15).
    #[param(minimum = 1, maximum = 50, example = 10)]
    pub top: Option<u32>,
}

// ---------------------------------------------------------------- drift

/// Input and prediction drift per calendar month (UTC) of the window.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::drift_report()))]
pub struct DriftReportDto {
    /// Window start, inclusive (RFC 3339).
    pub from: String,
    /// Window end, exclusive (RFC 3339).
    pub to: String,
    /// The site asked for (`null`: every site).
    pub site: Option<String>,
    /// The outcome asked for (`null`: every outcome).
    pub outcome: Option<String>,
    /// The training distribution compared against: the served model set's.
    pub training: TrainingBaselineDto,
    /// The thresholds of the flags.
    pub thresholds: DriftThresholdsDto,
    /// The model sets that answered the counted assessments, by id then version.
    pub model_sets: Vec<ModelSetCountDto>,
    /// Every month with at least one assessment, in order.
    pub months: Vec<MonthDriftDto>,
    /// Assessment records of the window that could not be read (should be 0).
    pub unreadable: u64,
}

/// The training distribution used.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingBaselineDto {
    /// `available`, or `unavailable` when the served set has no `training_distribution.json`
    /// (then `features` is empty in every month; prediction drift is still reported).
    #[schema(example = "available")]
    pub status: String,
    /// Training rows (`null` when unavailable).
    pub rows: Option<u64>,
    /// SHA-256 of the training data file (`null` when unavailable).
    pub training_data_sha256: Option<String>,
}

/// The flag thresholds.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftThresholdsDto {
    /// PSI at or above this: `moderate` shift.
    pub psi_moderate: f64,
    /// PSI at or above this: `major` shift.
    pub psi_major: f64,
    /// A KS or chi-squared p-value below this is `significant` (`significant`; `significant_after_correction` uses the Benjamini–Hochberg q-value).
    pub significance: f64,
}

/// Assessments one model set answered in the window.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSetCountDto {
    /// Model-set id.
    pub id: String,
    /// Model-set version.
    pub version: String,
    /// Assessments it answered.
    pub assessments: u64,
}

/// One calendar month.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthDriftDto {
    /// `YYYY-MM` (UTC).
    #[schema(example = "2026-03")]
    pub month: String,
    /// Assessments of the month in the window (and site).
    pub assessments: u64,
    /// Every dictionary input, in dictionary order.
    pub features: Vec<FeatureDriftDto>,
    /// Every outcome predicted in the month, by id.
    pub predictions: Vec<PredictionDriftDto>,
}

/// One input in one month against training.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureDriftDto {
    /// Dictionary input.
    pub feature: String,
    /// `number`, `integer`, `boolean` or `enum`.
    pub kind: String,
    /// Assessments with the input present.
    pub present: u64,
    /// Assessments without it.
    pub missing: u64,
    /// `missing / (present + missing)`.
    pub missing_rate: f64,
    /// The training data's missing rate.
    pub training_missing_rate: f64,
    /// `missing_rate - training_missing_rate`.
    pub missing_rate_change: f64,
    /// PSI of the present values over the training decile bins (numbers) or levels (`null`: no
    /// present value on one side).
    pub psi: Option<f64>,
    /// `none` (PSI < 0.1), `moderate` (< 0.25) or `major`.
    pub shift: Option<String>,
    /// KS (numbers) or chi-squared (booleans, enums) against training.
    pub test: Option<ShiftTestDto>,
}

/// A distribution test against the training bins or levels.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftTestDto {
    /// `ks_binned`: two-sample KS between the training and live cumulative proportions at the
    /// training decile-bin edges; `chi_squared`: Pearson's test of homogeneity of the training
    /// and live level counts.
    #[schema(example = "ks_binned")]
    pub test: String,
    /// KS `D`, or the chi-squared statistic.
    pub statistic: f64,
    /// Asymptotic p-value.
    pub p_value: f64,
    /// Degrees of freedom (chi-squared only).
    pub degrees_of_freedom: Option<u64>,
    /// `p_value` below `thresholds.significance`.
    pub significant: bool,
    /// Benjamini–Hochberg q-value among the month's input tests (false-discovery-rate control).
    pub q_value: f64,
    /// `q_value` below `thresholds.significance`: the flag to act on when scanning every input.
    pub significant_after_correction: bool,
}

/// One outcome's predictions in one month, against the window's first month.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictionDriftDto {
    /// Outcome id.
    pub outcome: String,
    /// Predictions of the month (status `ok`).
    pub n: u64,
    /// Mean predicted probability (blood loss: mean of the predicted median mL).
    pub mean: f64,
    /// Mean of the answers' `baseline` (the training event rate, or median mL).
    pub baseline: Option<f64>,
    /// `mean / baseline`.
    pub mean_over_baseline: Option<f64>,
    /// The month compared against: the first month of the window with this outcome.
    pub reference_month: String,
    /// PSI over the reference month's decile bins (`null` in the reference month).
    pub psi: Option<f64>,
    /// `none`, `moderate` or `major` (`null` in the reference month).
    pub shift: Option<String>,
    /// Exact two-sample KS against the reference month's predictions.
    pub ks: Option<KsDto>,
}

/// A two-sample KS test on raw values.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KsDto {
    /// `D`.
    pub statistic: f64,
    /// Asymptotic p-value.
    pub p_value: f64,
    /// `p_value` below `thresholds.significance`.
    pub significant: bool,
}

fn ks(t: &KsTest) -> KsDto {
    KsDto {
        statistic: t.statistic,
        p_value: t.p_value,
        significant: t.p_value < SIGNIFICANCE,
    }
}

impl From<&FeatureDrift> for FeatureDriftDto {
    fn from(f: &FeatureDrift) -> Self {
        Self {
            feature: f.feature.clone(),
            kind: f.kind.to_string(),
            present: f.present,
            missing: f.missing,
            missing_rate: f.missing_rate,
            training_missing_rate: f.training_missing_rate,
            missing_rate_change: f.missing_rate - f.training_missing_rate,
            psi: f.psi,
            shift: f.shift.map(|s| s.as_str().to_string()),
            test: f.test.map(|t| {
                let (test, statistic, df) = match t {
                    ShiftTest::Ks(k) => ("ks_binned", k.statistic, None),
                    ShiftTest::ChiSquared(c) => (
                        "chi_squared",
                        c.statistic,
                        Some(c.degrees_of_freedom as u64),
                    ),
                };
                ShiftTestDto {
                    test: test.to_string(),
                    statistic,
                    p_value: t.p_value(),
                    degrees_of_freedom: df,
                    significant: t.p_value() < SIGNIFICANCE,
                    q_value: f.q_value.unwrap_or(1.0),
                    significant_after_correction: f.q_value.unwrap_or(1.0) < SIGNIFICANCE,
                }
            }),
        }
    }
}

impl From<&PredictionDrift> for PredictionDriftDto {
    fn from(p: &PredictionDrift) -> Self {
        Self {
            outcome: p.outcome.clone(),
            n: p.n,
            mean: p.mean,
            baseline: p.baseline,
            mean_over_baseline: p.mean_over_baseline,
            reference_month: p.reference_month.clone(),
            psi: p.psi,
            shift: p.shift.map(|s| s.as_str().to_string()),
            ks: p.ks.as_ref().map(ks),
        }
    }
}

impl From<&MonthDrift> for MonthDriftDto {
    fn from(m: &MonthDrift) -> Self {
        Self {
            month: m.month.clone(),
            assessments: m.assessments,
            features: m.features.iter().map(Into::into).collect(),
            predictions: m.predictions.iter().map(Into::into).collect(),
        }
    }
}

impl From<&DriftReport> for DriftReportDto {
    fn from(r: &DriftReport) -> Self {
        let training = match &r.training {
            TrainingBaseline::Available {
                rows,
                training_data_sha256,
            } => TrainingBaselineDto {
                status: "available".into(),
                rows: Some(*rows as u64),
                training_data_sha256: Some(training_data_sha256.clone()),
            },
            TrainingBaseline::Unavailable => TrainingBaselineDto {
                status: "unavailable".into(),
                rows: None,
                training_data_sha256: None,
            },
        };
        Self {
            from: created_at_text(&r.from),
            to: created_at_text(&r.to),
            site: r.site.clone(),
            outcome: r.outcome.clone(),
            training,
            thresholds: DriftThresholdsDto {
                psi_moderate: PSI_MODERATE,
                psi_major: PSI_MAJOR,
                significance: SIGNIFICANCE,
            },
            model_sets: r
                .model_sets
                .iter()
                .map(|m| ModelSetCountDto {
                    id: m.model_set.id.clone(),
                    version: m.model_set.version.clone(),
                    assessments: m.assessments,
                })
                .collect(),
            months: r.months.iter().map(Into::into).collect(),
            unreadable: r.unreadable,
        }
    }
}

// ---------------------------------------------------------------- explanation audit

/// What drives one outcome's explanations over the window.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::explanation_audit()))]
pub struct ExplanationAuditDto {
    /// Outcome id.
    pub outcome: String,
    /// Window start, inclusive (RFC 3339).
    pub from: String,
    /// Window end, exclusive (RFC 3339).
    pub to: String,
    /// The site asked for (`null`: every site).
    pub site: Option<String>,
    /// Scale of the SHAP values: `log_odds`, or `log_ml` for blood loss (`null`: nothing
    /// explained in the window).
    pub scale: Option<String>,
    /// Assessments of the window that predicted the outcome (status `ok`).
    pub assessments: u64,
    /// Of those, with stored SHAP values.
    pub with_shap: u64,
    /// Of those, without (the request set `explain: false`).
    pub without_shap: u64,
    /// Assessments of the window where the outcome did not apply or was not requested.
    pub not_predicted: u64,
    /// Every model feature, largest mean |SHAP| first (ties by name).
    pub features: Vec<FeatureImportanceDto>,
    /// Explanations dominated by missing inputs.
    pub missing_dominated: MissingDominatedDto,
    /// Records of the window that could not be read (should be 0).
    pub unreadable: u64,
}

/// One model feature over the explained assessments.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureImportanceDto {
    /// Model feature (dictionary inputs and derived features).
    pub feature: String,
    /// 1 = largest mean |SHAP|.
    pub rank: u64,
    /// Mean |SHAP| on the raw scale over the explained assessments.
    pub mean_abs_shap: f64,
    /// Mean signed SHAP value.
    pub mean_shap: f64,
    /// Share of the explained assessments in which the feature was missing.
    pub missing_rate: f64,
}

/// Explanations whose missing features carry at least `threshold` of the total |SHAP|.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MissingDominatedDto {
    /// Share of `Σ |SHAP|` carried by the features missing in the model input (0.5).
    pub threshold: f64,
    /// Explained assessments at or above the threshold.
    pub count: u64,
    /// Their assessment ids, in record order, at most `max_listed`.
    pub assessment_ids: Vec<String>,
    /// The most ids listed.
    pub max_listed: u64,
    /// `true` when `count` exceeds the ids listed.
    pub truncated: bool,
}

impl From<&ExplanationAudit> for ExplanationAuditDto {
    fn from(a: &ExplanationAudit) -> Self {
        Self {
            outcome: a.outcome.clone(),
            from: created_at_text(&a.from),
            to: created_at_text(&a.to),
            site: a.site.clone(),
            scale: a.scale.map(|s| {
                match s {
                    Scale::LogOdds => "log_odds",
                    Scale::LogMl => "log_ml",
                }
                .to_string()
            }),
            assessments: a.assessments,
            with_shap: a.with_shap,
            without_shap: a.without_shap,
            not_predicted: a.not_predicted,
            features: a
                .features
                .iter()
                .map(|f| FeatureImportanceDto {
                    feature: f.feature.clone(),
                    rank: f.rank as u64,
                    mean_abs_shap: f.mean_abs_shap,
                    mean_shap: f.mean_shap,
                    missing_rate: f.missing_rate,
                })
                .collect(),
            missing_dominated: MissingDominatedDto {
                threshold: MISSING_DOMINANCE,
                count: a.missing_dominated.count,
                assessment_ids: a.missing_dominated.assessment_ids.clone(),
                max_listed: MAX_LISTED_IDS as u64,
                truncated: a.missing_dominated.truncated,
            },
            unreadable: a.unreadable,
        }
    }
}

/// Documented examples (built from the DTOs, so they have the schema's shape).
pub mod examples {
    use serde_json::Value;

    use super::*;

    pub fn drift_report() -> Value {
        let feature =
            |name: &str, kind: &str, psi: f64, shift: &str, test: ShiftTestDto| FeatureDriftDto {
                feature: name.into(),
                kind: kind.into(),
                present: 388,
                missing: 12,
                missing_rate: 0.03,
                training_missing_rate: 0.0,
                missing_rate_change: 0.03,
                psi: Some(psi),
                shift: Some(shift.into()),
                test: Some(test),
            };
        serde_json::to_value(DriftReportDto {
            from: "2026-03-01T00:00:00.000Z".into(),
            to: "2026-05-01T00:00:00.000Z".into(),
            site: Some("site-a".into()),
            outcome: Some("delirium".into()),
            training: TrainingBaselineDto {
                status: "available".into(),
                rows: Some(150_000),
                training_data_sha256: Some(
                    "9f2c6a1e0b7d4c3f8a5e2d1c0b9a8f7e6d5c4b3a29180f7e6d5c4b3a2918f7e6".into(),
                ),
            },
            thresholds: DriftThresholdsDto {
                psi_moderate: PSI_MODERATE,
                psi_major: PSI_MAJOR,
                significance: SIGNIFICANCE,
            },
            model_sets: vec![ModelSetCountDto {
                id: "default".into(),
                version: "2026.03.0".into(),
                assessments: 800,
            }],
            months: vec![MonthDriftDto {
                month: "2026-04".into(),
                assessments: 400,
                features: vec![
                    feature(
                        "age_years",
                        "number",
                        0.41,
                        "major",
                        ShiftTestDto {
                            test: "ks_binned".into(),
                            statistic: 0.27,
                            p_value: 1.2e-24,
                            degrees_of_freedom: None,
                            significant: true,
                            q_value: 2.4e-24,
                            significant_after_correction: true,
                        },
                    ),
                    feature(
                        "sex",
                        "enum",
                        0.004,
                        "none",
                        ShiftTestDto {
                            test: "chi_squared".into(),
                            statistic: 1.6,
                            p_value: 0.21,
                            degrees_of_freedom: Some(1),
                            significant: false,
                            q_value: 0.21,
                            significant_after_correction: false,
                        },
                    ),
                ],
                predictions: vec![PredictionDriftDto {
                    outcome: "delirium".into(),
                    n: 400,
                    mean: 0.112,
                    baseline: Some(0.08),
                    mean_over_baseline: Some(1.4),
                    reference_month: "2026-03".into(),
                    psi: Some(0.19),
                    shift: Some("moderate".into()),
                    ks: Some(KsDto {
                        statistic: 0.18,
                        p_value: 4.0e-6,
                        significant: true,
                    }),
                }],
            }],
            unreadable: 0,
        })
        .unwrap_or_default()
    }

    pub fn explanation_audit() -> Value {
        serde_json::to_value(ExplanationAuditDto {
            outcome: "delirium".into(),
            from: "2026-03-01T00:00:00.000Z".into(),
            to: "2026-04-01T00:00:00.000Z".into(),
            site: None,
            scale: Some("log_odds".into()),
            assessments: 412,
            with_shap: 400,
            without_shap: 12,
            not_predicted: 3,
            features: vec![
                FeatureImportanceDto {
                    feature: "age_years".into(),
                    rank: 1,
                    mean_abs_shap: 0.42,
                    mean_shap: 0.05,
                    missing_rate: 0.0,
                },
                FeatureImportanceDto {
                    feature: "albumin_g_dl".into(),
                    rank: 2,
                    mean_abs_shap: 0.17,
                    mean_shap: -0.02,
                    missing_rate: 0.1,
                },
            ],
            missing_dominated: MissingDominatedDto {
                threshold: MISSING_DOMINANCE,
                count: 1,
                assessment_ids: vec!["5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f".into()],
                max_listed: MAX_LISTED_IDS as u64,
                truncated: false,
            },
            unreadable: 0,
        })
        .unwrap_or_default()
    }
}
