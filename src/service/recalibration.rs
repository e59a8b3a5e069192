//! Local recalibration on the outcomes recorded in the audit store (issue 10 item 6), shared by
//! `periop recalibrate --store` and `POST /v1/models/recalibrations`: store → rows → fit.
//!
//! The rows of each binary outcome are [`quality_rows`] (the stored assessments of the window
//! that predicted it, status `ok`, with their current recorded outcome; optionally one site's).
//! For each row the stored record is read back (`AuditStore::get`), its normalised patient
//! parsed (`Patient::from_json`) and the raw score recomputed by the set being recalibrated,
//! exactly as `model::recalibration::local_rows` does for a cohort row; the per-outcome fit is
//! `model::recalibration::recalibrate_outcomes`, the one all-or-nothing loop of both sources.
//!
//! Consistency check: rows answered by the very set being recalibrated (same set version, same
//! model version) must reproduce their stored probability from their stored inputs within
//! [`PROBABILITY_TOLERANCE`]; a mismatch refuses the outcome ([`OutcomeRefusal::Inconsistent`])
//! because the stored inputs then do not describe what was answered. The set version is part of
//! the test because a recalibrated set keeps its outcome models' versions (same trees) while its
//! maps differ. Rows answered by other sets are used too (their raw score is recomputed by this
//! set) and counted per answering version; rows whose stored patient no longer parses are
//! counted, never used silently.
//!
//! [`recalibrate_into_sets_dir`] is the endpoint's use case: the new set is written under
//! `model_sets_dir` (directory named after its version), then an audit record of kind
//! [`KIND_MODEL_SET_RECALIBRATION`] is appended before the answer. It never activates.
//!
//! Cost: one `quality_rows` join per outcome, and one `get` plus one JSON parse per distinct
//! assessment (patients are kept across outcomes, so memory is one parsed patient per
//! assessment of the window); the bootstrap of the before/after figures is per outcome.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::ServiceError;
use super::quality_rows::{quality_rows, Predicted, QualityQuery};
use super::record::Caller;
use crate::audit::{AuditError, AuditRecord, AuditStore};
use crate::clock::{created_at_text, now_millis};
use crate::features::Patient;
use crate::model::ensemble::{ModelError, ModelSet};
use crate::model::recalibrated_set::{
    recalibrated_version, write_recalibrated_set, AnsweringVersion, LocalSource, StoreRowCounts,
    WriteSetError, AUDIT_STORE_SOURCE,
};
use crate::model::recalibration::{
    check_settings, recalibrate_outcomes, CalibrationFigures, RecalibratedOutcome,
    RecalibrationError, RecalibrationSettings,
};
use crate::outcomes::{Outcome, OutcomeKind};

/// Audit record kind of a recalibration that wrote a new set.
pub const KIND_MODEL_SET_RECALIBRATION: &str = "model_set_recalibration";
/// Largest difference allowed between a stored probability and the one recomputed from the
/// stored inputs by the set that answered.
pub const PROBABILITY_TOLERANCE: f64 = 1e-9;
/// Prefix of the directory a recalibration writes under `model_sets_dir`.
pub const DIRECTORY_PREFIX: &str = "recalibrated-";

/// What to recalibrate on.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreQuery {
    /// Binary outcomes to recalibrate (all or nothing).
    pub outcomes: Vec<Outcome>,
    /// Only assessments of this site (`None`: every site).
    pub site: Option<String>,
    /// Assessment time, inclusive (`None`: from the start of the store).
    pub from: Option<DateTime<Utc>>,
    /// Assessment time, exclusive (`None`: to the end of the store).
    pub to: Option<DateTime<Utc>>,
    pub settings: RecalibrationSettings,
}

/// Why one outcome was not recalibrated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutcomeRefusal {
    /// The fit refused (too few events, no fit, a quantity outcome, …).
    #[error(transparent)]
    Fit(#[from] RecalibrationError),
    /// Stored assessments answered by this very set do not reproduce their stored probability.
    #[error(
        "{outcome}: {mismatches} of the {checked} stored assessments answered by this set \
         ({model_version}) do not reproduce their stored probability from their stored inputs \
         (tolerance 1e-9), e.g. assessment {example}; the stored inputs do not describe what was \
         answered, so they cannot be used to recalibrate"
    )]
    Inconsistent {
        outcome: &'static str,
        model_version: String,
        mismatches: usize,
        checked: usize,
        example: String,
    },
}

impl OutcomeRefusal {
    /// Machine-readable kind: `too_few_events`, `inconsistent_store`, `not_binary`, `no_model`,
    /// `no_calibration`, `no_fit`, `non_positive_slope`, `bad_rows` or `invalid_setting`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Inconsistent { .. } => "inconsistent_store",
            Self::Fit(e) => match e {
                RecalibrationError::TooFewEvents { .. } => "too_few_events",
                RecalibrationError::NotBinary { .. } => "not_binary",
                RecalibrationError::NoModel { .. } => "no_model",
                RecalibrationError::NoCalibration { .. } => "no_calibration",
                RecalibrationError::NoFit { .. } => "no_fit",
                RecalibrationError::NonPositiveSlope { .. } => "non_positive_slope",
                RecalibrationError::BadRows { .. } => "bad_rows",
                RecalibrationError::InvalidSetting { .. } => "invalid_setting",
            },
        }
    }
}

/// Why recalibrating from the store did not produce a set.
#[derive(Debug, thiserror::Error)]
pub enum StoreRecalibrationError {
    /// The store could not be read, or the window is reversed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// One or more outcomes were refused (every one listed); nothing was written.
    #[error(
        "recalibration refused for {} outcome(s); nothing was written: {}",
        .0.len(),
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Refused(Vec<OutcomeRefusal>),
}

/// The recalibrated outcomes and where their rows came from (ready for
/// `model::recalibrated_set::write_recalibrated_set`).
#[derive(Debug, Clone)]
pub struct StoreRecalibration {
    pub results: Vec<RecalibratedOutcome>,
    pub source: LocalSource,
}

/// The window actually queried: the given bounds, or the whole store.
fn bounds(query: &StoreQuery) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = query.from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let to = query.to.unwrap_or_else(|| {
        DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
            .map_or(DateTime::<Utc>::MAX_UTC, |t| t.with_timezone(&Utc))
    });
    (from, to)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Deserialize)]
struct StoredNormalised {
    patient: Map<String, Value>,
}

/// The normalised patient of a stored assessment; `None` when the record is gone or its
/// patient no longer parses.
fn stored_patient(store: &dyn AuditStore, id: &str) -> Result<Option<Patient>, AuditError> {
    let Some(stored) = store.get(id)? else {
        return Ok(None);
    };
    let Ok(normalised) = serde_json::from_str::<StoredNormalised>(&stored.record.normalised) else {
        return Ok(None);
    };
    Ok(Patient::from_json(&normalised.patient).ok())
}

type Rows = Result<(Vec<f64>, Vec<bool>), OutcomeRefusal>;

/// The local rows of one binary outcome: raw scores recomputed by `set`, observed 0/1, the
/// counts, or the refusal (prediction failure, inconsistent store).
fn outcome_rows(
    store: &dyn AuditStore,
    set: &ModelSet,
    query: &StoreQuery,
    outcome: Outcome,
    patients: &mut HashMap<String, Option<Patient>>,
) -> Result<(Rows, StoreRowCounts), ServiceError> {
    let (from, to) = bounds(query);
    let found = quality_rows(
        store,
        &QualityQuery {
            outcome,
            from,
            to,
            site: query.site.clone(),
        },
    )?;
    let mut used = Vec::new();
    let mut batch = Vec::new();
    let mut unparseable = 0u64;
    for row in found.rows {
        let patient = match patients.get(&row.assessment_id) {
            Some(p) => p.clone(),
            None => {
                let p = stored_patient(store, &row.assessment_id)?;
                patients.insert(row.assessment_id.clone(), p.clone());
                p
            }
        };
        match patient {
            Some(p) => {
                batch.push(p);
                used.push(row);
            }
            None => unparseable += 1,
        }
    }
    let mut answered: BTreeMap<(String, String), usize> = BTreeMap::new();
    for row in &used {
        *answered
            .entry((row.model_set.version.clone(), row.model_version.clone()))
            .or_default() += 1;
    }
    let set_version = &set.set_manifest().version;
    let model_version = set.manifest(outcome).map(|m| m.version.clone());
    let is_this_set = |set_v: &str, model_v: &str| {
        set_v == set_version && model_version.as_deref() == Some(model_v)
    };
    let observed: Vec<bool> = used.iter().map(|r| r.observed == 1.0).collect();
    let counts = StoreRowCounts {
        outcome: outcome.id().to_string(),
        rows: used.len(),
        events: observed.iter().filter(|&&y| y).count(),
        without_outcome: found.without_outcome,
        unreadable_records: found.unreadable,
        unparseable_patients: unparseable,
        answered_by: answered
            .into_iter()
            .map(|((set_v, model_v), rows)| AnsweringVersion {
                checked: is_this_set(&set_v, &model_v),
                model_set_version: set_v,
                model_version: model_v,
                rows,
            })
            .collect(),
    };
    let predictions = match set.predict_batch(outcome, &batch, false) {
        Ok(p) => p,
        Err(ModelError::NoModel { outcome }) => {
            return Ok((Err(RecalibrationError::NoModel { outcome }.into()), counts))
        }
        Err(other) => {
            return Ok((
                Err(RecalibrationError::BadRows {
                    outcome: outcome.id(),
                    reason: format!("prediction failed: {other}"),
                }
                .into()),
                counts,
            ))
        }
    };
    let (mut checked, mut mismatches, mut example) = (0usize, 0usize, None);
    for (row, prediction) in used.iter().zip(&predictions) {
        if !is_this_set(&row.model_set.version, &row.model_version) {
            continue;
        }
        checked += 1;
        let same = match (row.predicted, prediction.probability) {
            (Predicted::Probability(stored), Some(now)) => {
                (stored - now).abs() <= PROBABILITY_TOLERANCE
            }
            _ => false,
        };
        if !same {
            mismatches += 1;
            example.get_or_insert_with(|| row.assessment_id.clone());
        }
    }
    if let Some(example) = example {
        return Ok((
            Err(OutcomeRefusal::Inconsistent {
                outcome: outcome.id(),
                model_version: model_version.unwrap_or_default(),
                mismatches,
                checked,
                example,
            }),
            counts,
        ));
    }
    let raw = predictions.iter().map(|p| p.raw).collect();
    Ok((Ok((raw, observed)), counts))
}

/// Recalibrates `query.outcomes` of `set` on the outcomes recorded in `store` (see the module
/// documentation). All or nothing.
///
/// # Errors
/// [`StoreRecalibrationError::Service`] when the store cannot be read or the window is
/// reversed; [`StoreRecalibrationError::Refused`] listing every refused outcome.
pub fn recalibrate_from_store(
    store: &dyn AuditStore,
    set: &ModelSet,
    query: &StoreQuery,
) -> Result<StoreRecalibration, StoreRecalibrationError> {
    check_settings(&query.settings)
        .map_err(|e| StoreRecalibrationError::Refused(vec![e.into()]))?;
    let (from, to) = bounds(query);
    if to <= from {
        return Err(ServiceError::from(super::overrides::WindowError::Reversed).into());
    }
    let mut patients = HashMap::new();
    let mut rows: HashMap<Outcome, Rows> = HashMap::new();
    let mut counts = Vec::new();
    for &outcome in &query.outcomes {
        if outcome.kind() != OutcomeKind::Probability || rows.contains_key(&outcome) {
            continue;
        }
        let (r, c) = outcome_rows(store, set, query, outcome, &mut patients)?;
        rows.insert(outcome, r);
        counts.push(c);
    }
    let results = recalibrate_outcomes(set, &query.outcomes, &query.settings, |outcome| {
        rows.remove(&outcome)
            .unwrap_or(Err(OutcomeRefusal::Fit(RecalibrationError::NotBinary {
                outcome: outcome.id(),
            })))
    })
    .map_err(StoreRecalibrationError::Refused)?;
    let window = match (query.from, query.to) {
        (None, None) => "the whole store".to_string(),
        _ => format!(
            "assessments from {} to {} (exclusive)",
            query.from.map_or_else(|| "the start".to_string(), rfc3339),
            query.to.map_or_else(|| "the end".to_string(), rfc3339)
        ),
    };
    Ok(StoreRecalibration {
        results,
        source: LocalSource {
            site: query.site.clone(),
            window: Some(window),
            source: AUDIT_STORE_SOURCE.to_string(),
            source_sha256: None,
            store_rows: counts,
        },
    })
}

// ------------------------------------------------------------------ the endpoint's use case

/// Why a recalibration into `model_sets_dir` did not produce a recorded set.
#[derive(Debug, thiserror::Error)]
pub enum RecalibrateIntoError {
    /// The rows could not be read, or an outcome was refused.
    #[error(transparent)]
    Recalibration(#[from] StoreRecalibrationError),
    /// The same recalibration (same new version) was written before.
    #[error(
        "a model set with version {version} is already under model_sets_dir (directory \
         {directory}): this recalibration was written before; activate it with POST \
         /v1/models/activations"
    )]
    Exists { version: String, directory: String },
    /// The set could not be written or does not verify (nothing is left under its name).
    #[error(transparent)]
    Write(#[from] WriteSetError),
    /// The audit record could not be written (the written set was removed again).
    #[error(transparent)]
    Store(#[from] AuditError),
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound (2.5th bootstrap percentile).
    pub lower: f64,
    /// Upper bound (97.5th bootstrap percentile).
    pub upper: f64,
}

/// Calibration and discrimination of one map on the held-out local rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOutFigures {
    /// Held-out rows.
    pub rows: usize,
    /// Their events.
    pub events: usize,
    /// Observed event rate.
    pub observed_rate: f64,
    /// Mean predicted probability.
    pub mean_predicted: f64,
    /// Calibration intercept (calibration-in-the-large; 0 ideal); `null` when it cannot be fitted.
    pub intercept: Option<f64>,
    /// Its bootstrap 95 % CI.
    pub intercept_ci: Option<Interval>,
    /// Calibration slope (1 ideal).
    pub slope: Option<f64>,
    /// Its bootstrap 95 % CI.
    pub slope_ci: Option<Interval>,
    /// Brier score.
    pub brier: f64,
    /// AUC (unchanged by a recalibration, up to ties).
    pub auc: Option<f64>,
}

impl From<&CalibrationFigures> for HeldOutFigures {
    fn from(f: &CalibrationFigures) -> Self {
        let ci = |c: Option<(f64, f64)>| c.map(|(lower, upper)| Interval { lower, upper });
        Self {
            rows: f.rows,
            events: f.events,
            observed_rate: f.observed_rate,
            mean_predicted: f.mean_predicted,
            intercept: f.intercept,
            intercept_ci: ci(f.intercept_ci),
            slope: f.slope,
            slope_ci: ci(f.slope_ci),
            brier: f.brier,
            auc: f.auc,
        }
    }
}

/// What recalibrating one outcome fitted and measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRecalibrationView {
    /// Outcome id.
    pub outcome: String,
    /// Local rows used and their events.
    pub rows: usize,
    /// Events among the local rows.
    pub events: usize,
    /// Fitting rows (the rest are held out) and their events.
    pub fit_rows: usize,
    /// Events among the fitting rows (at least `min_events`).
    pub fit_events: usize,
    /// The fitted `α` of `p = σ(α + β·logit(p_before))`.
    pub fitted_intercept: f64,
    /// The fitted `β`.
    pub fitted_slope: f64,
    /// The map before, on the held-out rows.
    pub before: HeldOutFigures,
    /// The new map, on the same held-out rows.
    pub after: HeldOutFigures,
    /// How the rows were drawn from the audit store.
    pub local_rows: StoreRowCounts,
}

/// A model set named by id and version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetRef {
    /// `model_set.json` `id` (for a written set: its directory name under `model_sets_dir`).
    pub id: String,
    /// `model_set.json` `version`, the name `POST /v1/models/activations` takes.
    pub version: String,
}

/// The settings a recalibration ran with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingsView {
    /// Minimum events and minimum non-events among the fitting rows of each outcome.
    pub min_events: usize,
    /// Fraction of each class held out.
    pub held_out_fraction: f64,
    /// Seed of the split and the bootstrap.
    pub seed: u64,
    /// Bootstrap replicates of the CIs.
    pub bootstrap_replicates: usize,
}

/// A recalibration that wrote a new set under `model_sets_dir` (the answer of
/// `POST /v1/models/recalibrations` and the `output` of its audit record).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecalibrationReport {
    /// API key id of who ran it.
    pub recalibrated_by: String,
    /// RFC 3339.
    pub recalibrated_at: String,
    /// The set recalibrated (the one answering when the request came).
    pub source_set: SetRef,
    /// The new set (written, hash-verified, **not** active).
    pub new_set: SetRef,
    /// Its directory under `model_sets_dir` (named after its version).
    pub directory: String,
    /// Always `false`: activation is `POST /v1/models/activations`, audited separately.
    pub activated: bool,
    /// The site whose outcomes were used (`null`: every site).
    pub site: Option<String>,
    /// Window start (assessment time, inclusive), RFC 3339.
    pub from: String,
    /// Window end (exclusive), RFC 3339.
    pub to: String,
    pub settings: SettingsView,
    /// One entry per recalibrated outcome.
    pub outcomes: Vec<OutcomeRecalibrationView>,
}

/// The directory name of a set of `version` under `model_sets_dir`: [`DIRECTORY_PREFIX`] and
/// the version with every character outside `[A-Za-z0-9._-]` replaced by `_`.
pub fn directory_for(version: &str) -> String {
    let safe: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{DIRECTORY_PREFIX}{safe}")
}

/// Recalibrates `set` on `store` (`query` needs `from` and `to`), writes the new set under
/// `sets_dir` (directory [`directory_for`] its version), appends the audit record (durable
/// before this returns; if it cannot be written the set directory is removed again) and
/// returns the report. Never activates.
///
/// # Errors
/// See [`RecalibrateIntoError`]; nothing is left under `sets_dir` on any of them.
pub fn recalibrate_into_sets_dir(
    store: &dyn AuditStore,
    set: &ModelSet,
    sets_dir: &Path,
    query: &StoreQuery,
    caller: &Caller,
) -> Result<RecalibrationReport, RecalibrateIntoError> {
    let done = recalibrate_from_store(store, set, query)?;
    let version = recalibrated_version(set, &done.results, &done.source)?;
    let directory = directory_for(&version);
    let out: PathBuf = sets_dir.join(&directory);
    let exists = || RecalibrateIntoError::Exists {
        version: version.clone(),
        directory: directory.clone(),
    };
    if out.exists() {
        return Err(exists());
    }
    let written = match write_recalibrated_set(set, &done.results, &done.source, &out) {
        Ok(w) => w,
        Err(WriteSetError::OutputExists { .. }) => return Err(exists()),
        Err(e) => return Err(e.into()),
    };
    let (from, to) = bounds(query);
    let source = set.set_manifest();
    let new = written.set_manifest();
    let now = now_millis();
    let report = RecalibrationReport {
        recalibrated_by: caller.key_id.clone(),
        recalibrated_at: created_at_text(&now),
        source_set: SetRef {
            id: source.id.clone(),
            version: source.version.clone(),
        },
        new_set: SetRef {
            id: new.id.clone(),
            version: new.version.clone(),
        },
        directory: directory.clone(),
        activated: false,
        site: query.site.clone(),
        from: rfc3339(from),
        to: rfc3339(to),
        settings: SettingsView {
            min_events: query.settings.min_events,
            held_out_fraction: query.settings.held_out_fraction,
            seed: query.settings.seed,
            bootstrap_replicates: query.settings.bootstrap_replicates,
        },
        outcomes: done
            .results
            .iter()
            .map(|r| OutcomeRecalibrationView {
                outcome: r.report.outcome.clone(),
                rows: r.report.rows,
                events: r.report.events,
                fit_rows: r.report.fit_rows,
                fit_events: r.report.fit_events,
                fitted_intercept: r.report.fitted_intercept,
                fitted_slope: r.report.fitted_slope,
                before: (&r.report.before).into(),
                after: (&r.report.after).into(),
                local_rows: done
                    .source
                    .store_rows
                    .iter()
                    .find(|c| c.outcome == r.report.outcome)
                    .cloned()
                    .unwrap_or_else(|| StoreRowCounts {
                        outcome: r.report.outcome.clone(),
                        rows: r.report.rows,
                        events: r.report.events,
                        without_outcome: 0,
                        unreadable_records: 0,
                        unparseable_patients: 0,
                        answered_by: Vec::new(),
                    }),
            })
            .collect(),
    };
    let record = AuditRecord {
        assessment_id: format!("model-set-recalibration:{}", uuid::Uuid::new_v4()),
        request_id: caller.request_id.clone(),
        created_at: report.recalibrated_at.clone(),
        caller: caller.key_id.clone(),
        kind: KIND_MODEL_SET_RECALIBRATION.to_string(),
        model_set:
            json!({"id": new.id, "version": new.version, "recalibrated_from": source.version})
                .to_string(),
        input: json!({
            "outcomes": query.outcomes.iter().map(|o| o.id()).collect::<Vec<_>>(),
            "site": query.site,
            "from": report.from,
            "to": report.to,
            "min_events": query.settings.min_events,
        })
        .to_string(),
        normalised: "null".into(),
        output: serde_json::to_string(&report).unwrap_or_default(),
        shap: "null".into(),
    };
    if let Err(e) = store.append(&record) {
        // Our own directory, written a moment ago and never activated (activation needs an
        // audit record this run did not get): removed so no unrecorded set stays available.
        let _ = std::fs::remove_dir_all(&out);
        return Err(e.into());
    }
    Ok(report)
}
