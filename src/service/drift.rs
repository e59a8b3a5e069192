//! Drift monitoring for the quality team (`GET /v1/quality/drift`): per calendar month (UTC) of
//! the assessments recorded in `[from, to)`, optionally of one site, how far every dictionary
//! input has moved from the training data, how often it is missing against training, and how
//! each outcome's predictions have moved since the first month of the window.
//!
//! **Inputs against training.** The training data is known only through the model set's
//! `training_distribution.json` (decile bins of numbers, level counts of booleans and enums,
//! missing counts; `model::training_distribution`), so every comparison is of the *binned* live
//! values against those bins: a live value falls into the training decile bin holding it
//! (`DecileBins::bin_of`), a boolean or enum value into its level.
//! - PSI over those bins or levels ([`crate::metrics::drift::psi`]), non-missing values only,
//!   flagged with the usual conventions: below 0.1 no shift, 0.1–0.25 moderate, 0.25 and above
//!   major (Siddiqi, *Credit Risk Scorecards*, 2006; Yurdakul 2018).
//! - Numbers and integers: the two-sample KS statistic between the training and live cumulative
//!   proportions at the decile-bin edges ([`crate::metrics::drift::ks_binned`]); it can only
//!   under-state the raw-value statistic, so its p-value errs towards "no shift".
//! - Booleans and enums: Pearson's chi-squared test of homogeneity of the 2 × k table of
//!   training and live level counts ([`crate::metrics::drift::chi_squared_homogeneity`]).
//! - Missing rate: the live share of assessments without the input against the training share.
//!
//! A test is `significant` below [`SIGNIFICANCE`]; with ~50 inputs per month about 2 to 3
//! "significant" results a month are expected by chance alone, so each month's input tests also
//! carry Benjamini–Hochberg q-values over that month's family of tests
//! ([`crate::metrics::drift::benjamini_hochberg`]; `q < SIGNIFICANCE` keeps the expected share of
//! false flags among the flagged inputs at 5 %). PSI stays the primary flag. Prediction KS tests
//! (one per outcome and month) are not corrected.
//!
//! The values are the validated patient as recorded (`normalised.patient` of the audit record:
//! the inputs before derivation, as the training distribution records them). The comparison is
//! against the training distribution of the model set the server runs now (the question is
//! whether today's patients resemble what the current models learnt from); the model sets that
//! answered the window's assessments are listed beside.
//!
//! **Predictions.** Training predictions are not recorded, so prediction drift compares each
//! month's predicted values (probability; for blood loss the median mL) against the *first month
//! of the window* with predictions of that outcome: PSI over that month's type-1 decile bins and
//! the exact two-sample KS test on the raw values. Each month also reports the mean prediction
//! against the outcome's training event rate (or median mL) that every answer carries
//! (`baseline`), which needs no reference month.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ServiceError;
use super::overrides::WindowError;
use super::types::{ModelSetRef, Status};
use crate::audit::{AuditStore, ListQuery, KIND_ASSESSMENT};
use crate::features::{FeatureKind, Patient, FEATURES};
use crate::metrics::drift::{
    benjamini_hochberg, chi_squared_homogeneity, ks_binned, ks_two_sample, psi, ChiSquaredTest,
    KsTest,
};
use crate::model::training_distribution::{TrainingDistribution, Values};

/// Records read per store query.
const PAGE: u32 = 500;

/// PSI at or above this is a moderate shift.
pub const PSI_MODERATE: f64 = 0.1;
/// PSI at or above this is a major shift.
pub const PSI_MAJOR: f64 = 0.25;
/// A KS or chi-squared p-value below this is `significant`.
pub const SIGNIFICANCE: f64 = 0.05;

/// What to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftQuery {
    /// Window start, inclusive (the assessment's `created_at`).
    pub from: DateTime<Utc>,
    /// Window end, exclusive.
    pub to: DateTime<Utc>,
    /// Only assessments of this site.
    pub site: Option<String>,
    /// Only this outcome's prediction drift (input drift is for every input regardless).
    pub outcome: Option<String>,
}

/// The PSI flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    /// PSI below [`PSI_MODERATE`].
    None,
    /// PSI in `[PSI_MODERATE, PSI_MAJOR)`.
    Moderate,
    /// PSI at or above [`PSI_MAJOR`].
    Major,
}

impl Shift {
    /// The flag of a PSI value.
    pub fn of(psi: f64) -> Self {
        if psi >= PSI_MAJOR {
            Self::Major
        } else if psi >= PSI_MODERATE {
            Self::Moderate
        } else {
            Self::None
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Moderate => "moderate",
            Self::Major => "major",
        }
    }
}

/// The training baseline of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainingBaseline {
    /// The served model set records its training distribution.
    Available {
        /// Training rows.
        rows: usize,
        /// SHA-256 of the training data file.
        training_data_sha256: String,
    },
    /// The served set has no `training_distribution.json`: input drift is not computed.
    Unavailable,
}

/// The distribution test of one input in one month.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShiftTest {
    /// Numbers and integers: binned two-sample KS (see the module doc).
    Ks(KsTest),
    /// Booleans and enums: chi-squared test of homogeneity.
    ChiSquared(ChiSquaredTest),
}

impl ShiftTest {
    /// The test's p-value.
    pub fn p_value(&self) -> f64 {
        match self {
            Self::Ks(t) => t.p_value,
            Self::ChiSquared(t) => t.p_value,
        }
    }
}

/// One input in one month.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureDrift {
    pub feature: String,
    /// The dictionary kind: `number`, `integer`, `boolean`, `enum`.
    pub kind: &'static str,
    /// Assessments of the month with the input present.
    pub present: u64,
    /// Assessments of the month without it.
    pub missing: u64,
    /// `missing / (present + missing)`.
    pub missing_rate: f64,
    pub training_missing_rate: f64,
    /// PSI of the present values against training (`None`: no present value on one side).
    pub psi: Option<f64>,
    pub shift: Option<Shift>,
    /// `None` when a side has no present value (or a single level is used on both).
    pub test: Option<ShiftTest>,
    /// Benjamini–Hochberg q-value of `test` among the month's input tests (`None` without one).
    pub q_value: Option<f64>,
}

/// One outcome's predictions in one month.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionDrift {
    pub outcome: String,
    /// Predictions of the month (status `ok`).
    pub n: u64,
    /// Mean predicted probability (blood loss: mean of the median mL).
    pub mean: f64,
    /// Mean of the answers' `baseline` (training event rate or median mL).
    pub baseline: Option<f64>,
    /// `mean / baseline`.
    pub mean_over_baseline: Option<f64>,
    /// The month compared against (the first of the window with this outcome).
    pub reference_month: String,
    /// `None` in the reference month itself.
    pub psi: Option<f64>,
    pub shift: Option<Shift>,
    pub ks: Option<KsTest>,
}

/// One calendar month.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthDrift {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// Assessments of the month (in the window, of the site).
    pub assessments: u64,
    /// Every dictionary input, in dictionary order (empty when training is unavailable).
    pub features: Vec<FeatureDrift>,
    /// Every outcome predicted in the month, by outcome id.
    pub predictions: Vec<PredictionDrift>,
}

/// How many assessments of the window one model set answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSetCount {
    pub model_set: ModelSetRef,
    pub assessments: u64,
}

/// The report of one window.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub site: Option<String>,
    pub outcome: Option<String>,
    pub training: TrainingBaseline,
    /// The model sets that answered the counted assessments, by id then version.
    pub model_sets: Vec<ModelSetCount>,
    /// Months with at least one assessment, in order.
    pub months: Vec<MonthDrift>,
    /// Assessment records of the window that could not be read (counted nowhere else).
    pub unreadable: u64,
}

// ---------------------------------------------------------------- reading the store

#[derive(Deserialize)]
struct StoredAnswer {
    model_set: ModelSetRef,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    predictions: Vec<StoredPrediction>,
}

#[derive(Deserialize)]
struct StoredPrediction {
    outcome: String,
    status: Status,
    #[serde(default)]
    probability: Option<f64>,
    #[serde(default)]
    quantity: Option<StoredQuantity>,
    #[serde(default)]
    baseline: Option<f64>,
}

#[derive(Deserialize)]
struct StoredQuantity {
    median: f64,
}

#[derive(Deserialize)]
struct StoredNormalised {
    patient: Map<String, Value>,
}

/// Live tallies of one month.
#[derive(Default)]
struct MonthTally {
    assessments: u64,
    /// Per dictionary input: missing count and present counts per training bin or level.
    features: Vec<(u64, Vec<f64>)>,
    /// Per outcome: predicted values and baselines.
    predictions: BTreeMap<String, (Vec<f64>, Vec<f64>)>,
}

/// The training counts per bin or level of one input (`None`: no bins, e.g. all missing).
fn training_counts(values: &Values) -> Option<Vec<f64>> {
    match values {
        Values::Number { summary } | Values::Integer { summary } => summary
            .as_ref()
            .map(|s| s.deciles.counts.iter().map(|&c| c as f64).collect()),
        Values::Boolean { levels } | Values::Enum { levels } => {
            Some(levels.iter().map(|l| l.count as f64).collect())
        }
    }
}

/// The bin or level index of a present live value.
fn live_bin(values: &Values, v: f64) -> Option<usize> {
    match values {
        Values::Number { summary } | Values::Integer { summary } => {
            summary.as_ref().map(|s| s.deciles.bin_of(v))
        }
        // Validated patients hold level indices (booleans 0/1).
        Values::Boolean { levels } | Values::Enum { levels } => {
            let i = v as usize;
            (v >= 0.0 && i < levels.len()).then_some(i)
        }
    }
}

fn kind_name(kind: FeatureKind) -> &'static str {
    match kind {
        FeatureKind::Number { .. } => "number",
        FeatureKind::Integer { .. } => "integer",
        FeatureKind::Boolean => "boolean",
        FeatureKind::Enum { .. } => "enum",
    }
}

fn month_of(t: &DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// The drift report of `query` against `training` (the served set's distribution, if any).
///
/// # Errors
/// [`ServiceError::Window`] when `to` is not after `from`; [`ServiceError::Store`] when the store
/// cannot be read.
pub fn drift_report(
    store: &dyn AuditStore,
    training: Option<&TrainingDistribution>,
    query: &DriftQuery,
) -> Result<DriftReport, ServiceError> {
    if query.to <= query.from {
        return Err(WindowError::Reversed.into());
    }
    // A distribution that fails its own checks would give meaningless bins: treat as absent.
    let training = training.filter(|t| t.check().is_ok());
    let bins: Vec<Option<Vec<f64>>> = match training {
        Some(t) => t
            .features
            .iter()
            .map(|f| training_counts(&f.values))
            .collect(),
        None => Vec::new(),
    };
    let mut months: BTreeMap<String, MonthTally> = BTreeMap::new();
    let mut model_sets: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut unreadable = 0;
    let mut list = ListQuery {
        since: Some(query.from),
        until: Some(query.to),
        kind: Some(KIND_ASSESSMENT.to_string()),
        after_seq: 0,
        limit: PAGE,
    };
    loop {
        let page = store.list(&list)?;
        let Some(last) = page.last() else { break };
        list.after_seq = last.seq;
        for stored in &page {
            let r = &stored.record;
            let parsed = (
                serde_json::from_str::<StoredAnswer>(&r.output),
                serde_json::from_str::<StoredNormalised>(&r.normalised),
                DateTime::parse_from_rfc3339(&r.created_at),
            );
            let (Ok(answer), Ok(normalised), Ok(at)) = parsed else {
                unreadable += 1;
                continue;
            };
            if query.site.is_some() && answer.site != query.site {
                continue;
            }
            let Ok(patient) = Patient::from_json(&normalised.patient) else {
                unreadable += 1;
                continue;
            };
            *model_sets
                .entry((
                    answer.model_set.id.clone(),
                    answer.model_set.version.clone(),
                ))
                .or_default() += 1;
            let tally = months.entry(month_of(&at.with_timezone(&Utc))).or_default();
            tally.assessments += 1;
            if let Some(t) = training {
                if tally.features.is_empty() {
                    tally.features = bins
                        .iter()
                        .map(|b| (0, vec![0.0; b.as_ref().map_or(0, Vec::len)]))
                        .collect();
                }
                for (i, f) in t.features.iter().enumerate() {
                    let (missing, counts) = &mut tally.features[i];
                    match patient.value(i) {
                        None => *missing += 1,
                        Some(v) => {
                            if let Some(c) = live_bin(&f.values, v).and_then(|b| counts.get_mut(b))
                            {
                                *c += 1.0;
                            }
                        }
                    }
                }
            }
            for p in answer.predictions {
                if p.status != Status::Ok || query.outcome.as_ref().is_some_and(|o| *o != p.outcome)
                {
                    continue;
                }
                let Some(value) = p.probability.or(p.quantity.map(|q| q.median)) else {
                    continue;
                };
                let entry = tally.predictions.entry(p.outcome).or_default();
                entry.0.push(value);
                if let Some(b) = p.baseline {
                    entry.1.push(b);
                }
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
    }

    let mut references: BTreeMap<String, (String, Vec<f64>)> = BTreeMap::new();
    let mut out = Vec::with_capacity(months.len());
    for (month, tally) in months {
        let features = match training {
            Some(t) => feature_drift(t, &bins, &tally.features),
            None => Vec::new(),
        };
        let mut predictions = Vec::new();
        for (outcome, (values, baselines)) in tally.predictions {
            let reference = references
                .entry(outcome.clone())
                .or_insert_with(|| (month.clone(), values.clone()));
            let own = reference.0 == month;
            let psi_value = if own {
                None
            } else {
                let edges = decile_edges(&reference.1);
                psi(
                    &bin_counts(&edges, &reference.1),
                    &bin_counts(&edges, &values),
                )
            };
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let baseline = (!baselines.is_empty())
                .then(|| baselines.iter().sum::<f64>() / baselines.len() as f64);
            predictions.push(PredictionDrift {
                mean,
                baseline,
                mean_over_baseline: baseline.filter(|b| *b > 0.0).map(|b| mean / b),
                reference_month: reference.0.clone(),
                psi: psi_value,
                shift: psi_value.map(Shift::of),
                ks: if own {
                    None
                } else {
                    ks_two_sample(&reference.1, &values)
                },
                n: values.len() as u64,
                outcome,
            });
        }
        out.push(MonthDrift {
            month,
            assessments: tally.assessments,
            features,
            predictions,
        });
    }
    Ok(DriftReport {
        from: query.from,
        to: query.to,
        site: query.site.clone(),
        outcome: query.outcome.clone(),
        training: training.map_or(TrainingBaseline::Unavailable, |t| {
            TrainingBaseline::Available {
                rows: t.rows,
                training_data_sha256: t.training_data_sha256.clone(),
            }
        }),
        model_sets: model_sets
            .into_iter()
            .map(|((id, version), assessments)| ModelSetCount {
                model_set: ModelSetRef { id, version },
                assessments,
            })
            .collect(),
        months: out,
        unreadable,
    })
}

/// Every input's drift in one month from its tallies.
fn feature_drift(
    training: &TrainingDistribution,
    bins: &[Option<Vec<f64>>],
    live: &[(u64, Vec<f64>)],
) -> Vec<FeatureDrift> {
    let mut features = training
        .features
        .iter()
        .zip(FEATURES)
        .zip(bins.iter().zip(live))
        .map(|((f, spec), (expected, (missing, counts)))| {
            let present = counts.iter().sum::<f64>() as u64;
            let total = present + missing;
            let (psi_value, test) = match expected {
                Some(e) => {
                    let test = match spec.kind {
                        FeatureKind::Number { .. } | FeatureKind::Integer { .. } => {
                            ks_binned(e, counts).map(ShiftTest::Ks)
                        }
                        FeatureKind::Boolean | FeatureKind::Enum { .. } => {
                            chi_squared_homogeneity(e, counts).map(ShiftTest::ChiSquared)
                        }
                    };
                    (psi(e, counts), test)
                }
                None => (None, None),
            };
            FeatureDrift {
                feature: f.name.clone(),
                kind: kind_name(spec.kind),
                present,
                missing: *missing,
                missing_rate: if total == 0 {
                    0.0
                } else {
                    *missing as f64 / total as f64
                },
                training_missing_rate: f.missing_rate,
                psi: psi_value,
                shift: psi_value.map(Shift::of),
                test,
                q_value: None,
            }
        })
        .collect::<Vec<_>>();
    let tested: Vec<usize> = (0..features.len())
        .filter(|&i| features[i].test.is_some())
        .collect();
    let p_values: Vec<f64> = tested
        .iter()
        .filter_map(|&i| features[i].test.map(|t| t.p_value()))
        .collect();
    for (&i, q) in tested.iter().zip(benjamini_hochberg(&p_values)) {
        features[i].q_value = Some(q);
    }
    features
}

/// Type-1 decile lower edges of a non-empty sample (the minimum and the smallest values with at
/// least k/10 of the sample at or below them), distinct and increasing: the bins of the training
/// distribution's definition, here over the reference month's predictions.
fn decile_edges(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mut edges: Vec<f64> = Vec::with_capacity(10);
    if n == 0 {
        return edges;
    }
    for k in 0..10usize {
        // Smallest x with at least k n / 10 values <= x: index ceil(k n / 10) - 1 (k = 0: min).
        let idx = (k * n).div_ceil(10).saturating_sub(1);
        let v = sorted[idx.min(n - 1)];
        if edges.last().is_none_or(|&last| v > last) {
            edges.push(v);
        }
    }
    edges
}

/// Counts per bin of `edges` (values below the first edge in the first bin).
fn bin_counts(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0.0; edges.len()];
    for &v in values {
        let i = edges.partition_point(|&e| e <= v).saturating_sub(1);
        if let Some(c) = counts.get_mut(i) {
            *c += 1.0;
        }
    }
    counts
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shift_flags_follow_the_psi_conventions() {
        assert_eq!(Shift::of(0.0), Shift::None);
        assert_eq!(Shift::of(0.099), Shift::None);
        assert_eq!(Shift::of(0.1), Shift::Moderate);
        assert_eq!(Shift::of(0.2499), Shift::Moderate);
        assert_eq!(Shift::of(0.25), Shift::Major);
    }

    #[test]
    fn decile_edges_are_distinct_observed_values() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(
            decile_edges(&v),
            vec![1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0]
        );
        assert_eq!(decile_edges(&[3.0, 3.0, 3.0]), vec![3.0]);
        let edges = decile_edges(&v);
        let counts = bin_counts(&edges, &v);
        assert_eq!(counts.iter().sum::<f64>(), 20.0);
        assert_eq!(counts[0], 1.0);
        assert_eq!(counts[9], 3.0);
        assert_eq!(bin_counts(&edges, &[-5.0]), {
            let mut c = vec![0.0; 10];
            c[0] = 1.0;
            c
        });
    }

    fn record(
        at: &str,
        site: &str,
        p: f64,
        patient: serde_json::Value,
    ) -> crate::audit::AuditRecord {
        crate::audit::AuditRecord {
            assessment_id: uuid::Uuid::new_v4().to_string(),
            request_id: "req".into(),
            created_at: at.into(),
            caller: "ehr".into(),
            kind: KIND_ASSESSMENT.into(),
            model_set: "{}".into(),
            input: "{}".into(),
            normalised: serde_json::json!({"patient": patient}).to_string(),
            output: serde_json::json!({
                "model_set": {"id": "default", "version": "v1"},
                "site": site,
                "predictions": [
                    {"outcome": "dvt", "status": "ok", "probability": p, "baseline": 0.02},
                    {"outcome": "acdf_inpatient_conversion", "status": "not_applicable"}
                ]
            })
            .to_string(),
            shap: "{}".into(),
        }
    }

    #[test]
    fn without_training_only_prediction_drift_is_reported_against_the_first_month() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::audit::SqliteAuditStore::open(dir.path().join("audit.db")).unwrap();
        // A complete patient (Patient::from_json checks required fields; stored patients pass).
        let patient = serde_json::json!({
            "age_years": 74, "sex": "female", "height_cm": 160, "weight_kg": 82,
            "smoking_status": "former", "asa_class": 3, "diabetes": "non_insulin",
            "hypertension": true, "history_of_vte": true, "bleeding_disorder_or_anticoagulant": false,
            "osteoporosis": true, "hemoglobin_g_dl": 9.6, "procedure": "lumbar_fusion",
            "fused_levels": 4, "decompressed_levels": 3, "fusion_to_sacrum": true,
            "planned_duration_min": 300, "tranexamic_acid_planned": false, "odi_baseline": 52
        });
        let mut records = Vec::new();
        for i in 0..40 {
            let p = 0.01 + f64::from(i) * 0.001;
            records.push(record("2026-03-05T10:00:00.000Z", "a", p, patient.clone()));
            records.push(record(
                "2026-04-05T10:00:00.000Z",
                "a",
                p + 0.05,
                patient.clone(),
            ));
        }
        records.push(record(
            "2026-04-06T10:00:00.000Z",
            "b",
            0.5,
            patient.clone(),
        ));
        assert!(store.append_all(&records).iter().all(Result::is_ok));
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let query = DriftQuery {
            from: t("2026-03-01T00:00:00Z"),
            to: t("2026-05-01T00:00:00Z"),
            site: Some("a".into()),
            outcome: None,
        };
        let r = drift_report(&store, None, &query).unwrap();
        assert_eq!(r.training, TrainingBaseline::Unavailable);
        assert_eq!(r.months.len(), 2);
        assert!(r
            .months
            .iter()
            .all(|m| m.features.is_empty() && m.assessments == 40));
        let (m3, m4) = (&r.months[0].predictions, &r.months[1].predictions);
        assert_eq!(m3.len(), 1, "not-applicable predictions are not counted");
        assert_eq!((m3[0].psi, m3[0].ks), (None, None));
        assert_eq!(m4[0].reference_month, "2026-03");
        assert!((m4[0].mean - (m3[0].mean + 0.05)).abs() < 1e-12);
        assert!((m3[0].mean_over_baseline.unwrap() - m3[0].mean / 0.02).abs() < 1e-12);
        // Disjoint months: KS D = 1 and the major PSI flag.
        assert_eq!(m4[0].ks.unwrap().statistic, 1.0);
        assert_eq!(m4[0].shift, Some(Shift::Major));
        assert_eq!(r.model_sets[0].assessments, 80);
        let at = query.from;
        assert!(matches!(
            drift_report(&store, None, &DriftQuery { to: at, ..query }),
            Err(ServiceError::Window(WindowError::Reversed))
        ));
    }

    #[test]
    fn months_are_calendar_months_in_utc() {
        let t = DateTime::parse_from_rfc3339("2026-03-31T23:30:00-02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(month_of(&t), "2026-04");
    }
}
