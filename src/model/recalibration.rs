//! Local recalibration of a binary outcome's calibration map on a site's own outcomes.
//!
//! Method: logistic recalibration of the current calibrated log-odds (Steyerberg, "Clinical
//! Prediction Models", 2nd ed., ch. 20; Van Calster et al. 2019): on the fitting rows,
//! `logit P(y=1) = α + β·logit(p_current)` is fitted by maximum likelihood
//! ([`crate::metrics::logistic_recalibration`], the same fit whose `β` `periop evaluate` reports
//! as the calibration slope), and the new map is `σ(α + β·logit(current(raw)))`
//! ([`Calibration::Recalibrated`]). Two parameters only, so it needs far fewer local events than
//! refitting an isotonic map; it keeps the training map (Platt or isotonic) underneath; with
//! `β > 0` it is increasing in the raw score, so the ranking of patients, hence the AUC, is
//! unchanged (up to ties the isotonic map's flat ends already had). A second recalibration
//! composes into the first (`α₂ + β₂·α₁`, `β₂·β₁`) rather than nesting.
//!
//! Local rows are split (seeded, stratified by outcome) into fitting and held-out rows; the
//! minimum event count applies to the fitting rows (events and non-events alike); calibration
//! intercept and slope with bootstrap CIs, Brier and AUC are reported before and after on the
//! held-out rows, with `crate::metrics` (the implementation `periop evaluate` uses).
//! Blood loss (a quantity with no calibration map) is never recalibrated.

use serde::Serialize;

use super::calibration::Calibration;
use super::ensemble::ModelSet;
use crate::dataset::{index_of, Dataset};
use crate::metrics::{
    auc, bootstrap_ci, brier, calibration_intercept_slope, logistic_recalibration,
};
use crate::outcomes::{Outcome, OutcomeKind};

/// Default minimum of events and of non-events among the fitting rows: 100 each, the minimum
/// Vergouwe et al. (J Clin Epidemiol 2005;58:475) and Collins et al. (Stat Med 2016;35:214)
/// give for estimating calibration in a validation sample; fewer give calibration slopes whose
/// CI spans both "too extreme" and "too modest" (cf. issue 10: csf_leak's slope 1.37 on 157
/// events).
pub const DEFAULT_MIN_EVENTS: usize = 100;
/// Default fraction of local rows held out to measure the new map.
pub const DEFAULT_HELD_OUT_FRACTION: f64 = 0.3;
/// Default seed of the split and of the bootstrap.
pub const DEFAULT_SEED: u64 = 20_261_201;
/// Default bootstrap replicates of the intercept and slope CIs.
pub const DEFAULT_REPLICATES: usize = 200;

/// How recalibration runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecalibrationSettings {
    /// Minimum events and minimum non-events among the fitting rows.
    pub min_events: usize,
    /// Fraction of each class held out, in (0, 1).
    pub held_out_fraction: f64,
    /// Seed of the split and the bootstrap.
    pub seed: u64,
    /// Bootstrap replicates for the CIs (≥ 1).
    pub bootstrap_replicates: usize,
}

impl Default for RecalibrationSettings {
    fn default() -> Self {
        Self {
            min_events: DEFAULT_MIN_EVENTS,
            held_out_fraction: DEFAULT_HELD_OUT_FRACTION,
            seed: DEFAULT_SEED,
            bootstrap_replicates: DEFAULT_REPLICATES,
        }
    }
}

/// Why an outcome (or a whole recalibration) was refused. Nothing is written on any of them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecalibrationError {
    /// A setting is out of range.
    #[error("invalid recalibration setting {name}: {constraint}")]
    InvalidSetting {
        name: &'static str,
        constraint: &'static str,
    },
    /// Blood loss has no calibration map.
    #[error(
        "{outcome} is a quantity outcome (mL) with no calibration map: it is not recalibrated"
    )]
    NotBinary { outcome: &'static str },
    /// The outcome has no model in the set.
    #[error("{outcome}: no model for this outcome in the model set")]
    NoModel { outcome: &'static str },
    /// The manifest has no calibration map to recalibrate.
    #[error("{outcome}: the manifest has no calibration map to recalibrate")]
    NoCalibration { outcome: &'static str },
    /// Raw scores and outcomes differ in length, or a raw score is not finite.
    #[error("{outcome}: {reason}")]
    BadRows {
        outcome: &'static str,
        reason: String,
    },
    /// Too few events (or non-events) among the fitting rows.
    #[error(
        "{outcome}: {events} events and {non_events} non-events among the {fit_rows} fitting rows \
         ({total_rows} local rows, {held_out_rows} held out); recalibration needs at least \
         {minimum} events and {minimum} non-events (min_events)"
    )]
    TooFewEvents {
        outcome: &'static str,
        events: usize,
        non_events: usize,
        minimum: usize,
        fit_rows: usize,
        held_out_rows: usize,
        total_rows: usize,
    },
    /// The logistic fit did not converge (e.g. perfect separation).
    #[error("{outcome}: the logistic recalibration fit did not converge on {fit_rows} rows")]
    NoFit {
        outcome: &'static str,
        fit_rows: usize,
    },
    /// The fitted slope is not positive: the map would reverse or flatten the ranking.
    #[error(
        "{outcome}: the fitted recalibration slope is {slope:.3} (must be > 0): the local \
         outcomes do not follow the model's ranking, so no monotone recalibration applies"
    )]
    NonPositiveSlope { outcome: &'static str, slope: f64 },
}

/// Calibration and discrimination of one map on the held-out rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationFigures {
    pub rows: usize,
    pub events: usize,
    pub observed_rate: f64,
    pub mean_predicted: f64,
    /// Calibration-in-the-large (0 ideal) and its bootstrap 95 % CI.
    pub intercept: Option<f64>,
    pub intercept_ci: Option<(f64, f64)>,
    /// Calibration slope (1 ideal) and its bootstrap 95 % CI.
    pub slope: Option<f64>,
    pub slope_ci: Option<(f64, f64)>,
    pub brier: f64,
    pub auc: Option<f64>,
}

impl CalibrationFigures {
    /// The figures of `probs` against `labels` (bootstrap seeded by `settings`).
    pub fn of(probs: &[f64], labels: &[bool], settings: &RecalibrationSettings) -> Self {
        let cal = calibration_intercept_slope(probs, labels);
        let ci = |pick: fn((f64, f64)) -> f64| {
            bootstrap_ci(
                probs.len(),
                settings.bootstrap_replicates,
                settings.seed,
                |idx| {
                    let (p, l): (Vec<f64>, Vec<bool>) =
                        idx.iter().map(|&i| (probs[i], labels[i])).unzip();
                    calibration_intercept_slope(&p, &l).map(pick)
                },
            )
        };
        let events = labels.iter().filter(|&&l| l).count();
        let n = probs.len().max(1) as f64;
        Self {
            rows: probs.len(),
            events,
            observed_rate: events as f64 / n,
            mean_predicted: probs.iter().sum::<f64>() / n,
            intercept: cal.map(|c| c.0),
            intercept_ci: ci(|c| c.0),
            slope: cal.map(|c| c.1),
            slope_ci: ci(|c| c.1),
            brier: brier(probs, labels),
            auc: auc(probs, labels),
        }
    }
}

/// What recalibrating one outcome fitted and measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRecalibration {
    pub outcome: String,
    /// Local rows (population, outcome recorded) and their events.
    pub rows: usize,
    pub events: usize,
    pub fit_rows: usize,
    pub fit_events: usize,
    /// The fitted `α` and `β` of `σ(α + β·logit(p_current))`.
    pub fitted_intercept: f64,
    pub fitted_slope: f64,
    /// The map before and after, on the held-out rows.
    pub before: CalibrationFigures,
    pub after: CalibrationFigures,
    pub settings: RecalibrationSettings,
}

/// One recalibrated outcome: its new map and what was measured.
#[derive(Debug, Clone)]
pub struct RecalibratedOutcome {
    pub outcome: Outcome,
    pub calibration: Calibration,
    pub report: OutcomeRecalibration,
}

/// Checks the settings.
///
/// # Errors
/// [`RecalibrationError::InvalidSetting`] naming the setting.
pub fn check_settings(s: &RecalibrationSettings) -> Result<(), RecalibrationError> {
    if s.min_events == 0 {
        return Err(RecalibrationError::InvalidSetting {
            name: "min_events",
            constraint: "must be at least 1",
        });
    }
    if !(s.held_out_fraction > 0.0 && s.held_out_fraction < 1.0) {
        return Err(RecalibrationError::InvalidSetting {
            name: "held_out_fraction",
            constraint: "must be strictly between 0 and 1",
        });
    }
    if s.bootstrap_replicates == 0 {
        return Err(RecalibrationError::InvalidSetting {
            name: "bootstrap_replicates",
            constraint: "must be at least 1",
        });
    }
    Ok(())
}

/// Seeded split stratified by outcome: `fraction` of the events and of the non-events (rounded)
/// are held out. Returns sorted `(fit, held_out)` row indices.
pub fn stratified_split(labels: &[bool], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut fit, mut held) = (Vec::new(), Vec::new());
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let n_held = ((idx.len() as f64) * fraction).round() as usize;
        held.extend_from_slice(&idx[..n_held]);
        fit.extend_from_slice(&idx[n_held..]);
    }
    fit.sort_unstable();
    held.sort_unstable();
    (fit, held)
}

/// `current` followed by `σ(α + β·logit(·))`, composed into one [`Calibration::Recalibrated`].
pub fn compose(current: &Calibration, intercept: f64, slope: f64) -> Calibration {
    match current {
        Calibration::Recalibrated {
            base,
            intercept: a1,
            slope: b1,
        } => Calibration::Recalibrated {
            base: base.clone(),
            intercept: intercept + slope * a1,
            slope: slope * b1,
        },
        other => Calibration::Recalibrated {
            base: Box::new(other.clone()),
            intercept,
            slope,
        },
    }
}

/// Recalibrates one binary outcome whose current map is `current`, on local raw scores (the
/// primary model's log-odds) and observed outcomes: the new map and the before/after report.
///
/// # Errors
/// Bad settings or rows, too few events or non-events among the fitting rows, a fit that does
/// not converge, or a slope that is not positive.
pub fn recalibrate_outcome(
    outcome: Outcome,
    current: &Calibration,
    raw: &[f64],
    observed: &[bool],
    settings: &RecalibrationSettings,
) -> Result<(Calibration, OutcomeRecalibration), RecalibrationError> {
    check_settings(settings)?;
    let id = outcome.id();
    if outcome.kind() != OutcomeKind::Probability {
        return Err(RecalibrationError::NotBinary { outcome: id });
    }
    if raw.len() != observed.len() {
        return Err(RecalibrationError::BadRows {
            outcome: id,
            reason: format!(
                "{} raw scores but {} observed outcomes",
                raw.len(),
                observed.len()
            ),
        });
    }
    if let Some(i) = raw.iter().position(|r| !r.is_finite()) {
        return Err(RecalibrationError::BadRows {
            outcome: id,
            reason: format!("raw score of local row {} is not finite", i + 1),
        });
    }
    let (fit, held) = stratified_split(observed, settings.held_out_fraction, settings.seed);
    let fit_events = fit.iter().filter(|&&i| observed[i]).count();
    let fit_non_events = fit.len() - fit_events;
    if fit_events < settings.min_events || fit_non_events < settings.min_events {
        return Err(RecalibrationError::TooFewEvents {
            outcome: id,
            events: fit_events,
            non_events: fit_non_events,
            minimum: settings.min_events,
            fit_rows: fit.len(),
            held_out_rows: held.len(),
            total_rows: raw.len(),
        });
    }
    let pick = |idx: &[usize]| -> (Vec<f64>, Vec<bool>) {
        idx.iter()
            .map(|&i| (current.apply(raw[i]), observed[i]))
            .unzip()
    };
    let (fit_p, fit_y) = pick(&fit);
    let (alpha, beta) =
        logistic_recalibration(&fit_p, &fit_y).ok_or(RecalibrationError::NoFit {
            outcome: id,
            fit_rows: fit.len(),
        })?;
    if !(beta > 0.0 && beta.is_finite() && alpha.is_finite()) {
        return Err(RecalibrationError::NonPositiveSlope {
            outcome: id,
            slope: beta,
        });
    }
    let new = compose(current, alpha, beta);
    let (held_before, held_y) = pick(&held);
    let held_after: Vec<f64> = held.iter().map(|&i| new.apply(raw[i])).collect();
    let report = OutcomeRecalibration {
        outcome: id.to_string(),
        rows: raw.len(),
        events: observed.iter().filter(|&&y| y).count(),
        fit_rows: fit.len(),
        fit_events,
        fitted_intercept: alpha,
        fitted_slope: beta,
        before: CalibrationFigures::of(&held_before, &held_y, settings),
        after: CalibrationFigures::of(&held_after, &held_y, settings),
        settings: settings.clone(),
    };
    Ok((new, report))
}

/// The local rows of one outcome in a cohort file: rows inside the outcome's population with the
/// outcome recorded (as `periop evaluate` selects them), optionally of one site; their primary
/// raw scores and observed 0/1.
///
/// # Errors
/// A quantity outcome, no model, or a prediction failure.
pub fn local_rows(
    set: &ModelSet,
    data: &Dataset,
    outcome: Outcome,
    site: Option<&str>,
) -> Result<(Vec<f64>, Vec<bool>), RecalibrationError> {
    let id = outcome.id();
    if outcome.kind() != OutcomeKind::Probability {
        return Err(RecalibrationError::NotBinary { outcome: id });
    }
    let k = index_of(outcome);
    let rows: Vec<_> = data
        .records
        .iter()
        .filter(|r| site.is_none_or(|s| r.site.as_deref() == Some(s)))
        .filter(|r| outcome.applies_to(&r.patient).is_ok() && r.outcomes[k].is_some())
        .collect();
    let patients: Vec<_> = rows.iter().map(|r| r.patient.clone()).collect();
    let predictions = set
        .predict_batch(outcome, &patients, false)
        .map_err(|e| match e {
            super::error::ModelError::NoModel { outcome } => {
                RecalibrationError::NoModel { outcome }
            }
            other => RecalibrationError::BadRows {
                outcome: id,
                reason: format!("prediction failed: {other}"),
            },
        })?;
    let raw = predictions.iter().map(|p| p.raw).collect();
    let observed = rows.iter().map(|r| r.outcomes[k] == Some(1.0)).collect();
    Ok((raw, observed))
}

/// Recalibrates `outcomes` of `set` on `data` (optionally one site's rows). All or nothing:
/// every refused outcome is returned, so an operator sees every count at once.
///
/// # Errors
/// One error per outcome that could not be recalibrated.
pub fn recalibrate_set(
    set: &ModelSet,
    data: &Dataset,
    site: Option<&str>,
    outcomes: &[Outcome],
    settings: &RecalibrationSettings,
) -> Result<Vec<RecalibratedOutcome>, Vec<RecalibrationError>> {
    recalibrate_outcomes(set, outcomes, settings, |outcome| {
        local_rows(set, data, outcome, site)
    })
}

/// The per-outcome fit behind every source of local rows (a cohort file, the audit store):
/// for each of `outcomes`, the set's current map, the local `(raw scores, observed)` that
/// `rows` gives for it, and [`recalibrate_outcome`]. All or nothing: every refused outcome
/// (whether `rows` refused it or the fit did) is returned, so an operator sees every count at
/// once.
///
/// # Errors
/// One error per outcome that could not be recalibrated (bad settings: that one error).
pub fn recalibrate_outcomes<E: From<RecalibrationError>>(
    set: &ModelSet,
    outcomes: &[Outcome],
    settings: &RecalibrationSettings,
    mut rows: impl FnMut(Outcome) -> Result<(Vec<f64>, Vec<bool>), E>,
) -> Result<Vec<RecalibratedOutcome>, Vec<E>> {
    if let Err(e) = check_settings(settings) {
        return Err(vec![e.into()]);
    }
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for &outcome in outcomes {
        let result = (|| -> Result<RecalibratedOutcome, E> {
            let current = current_map(set, outcome)?;
            let (raw, observed) = rows(outcome)?;
            let (calibration, report) =
                recalibrate_outcome(outcome, &current, &raw, &observed, settings)?;
            Ok(RecalibratedOutcome {
                outcome,
                calibration,
                report,
            })
        })();
        match result {
            Ok(r) => done.push(r),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(done)
    } else {
        Err(errors)
    }
}

/// The calibration map `set` applies to `outcome` now.
///
/// # Errors
/// [`RecalibrationError::NoModel`] or [`RecalibrationError::NoCalibration`].
pub fn current_map(set: &ModelSet, outcome: Outcome) -> Result<Calibration, RecalibrationError> {
    set.manifest(outcome)
        .ok_or(RecalibrationError::NoModel {
            outcome: outcome.id(),
        })?
        .calibration
        .clone()
        .ok_or(RecalibrationError::NoCalibration {
            outcome: outcome.id(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::metrics::{logit, sigmoid};
    use rand::{Rng, SeedableRng};

    fn platt() -> Calibration {
        Calibration::Platt {
            a: 1.0,
            b: 0.0,
            validation_brier: 0.0,
            alternative_brier: 0.0,
        }
    }

    /// Raw scores whose true log-odds are `slope·raw + shift`.
    fn local(n: usize, shift: f64, slope: f64, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let raw: f64 = rng.gen_range(-4.5..0.5);
                (raw, rng.gen::<f64>() < sigmoid(slope * raw + shift))
            })
            .unzip()
    }

    #[test]
    fn split_is_stratified_seeded_and_a_partition() {
        let labels: Vec<bool> = (0..1000).map(|i| i % 10 == 0).collect();
        let (fit, held) = stratified_split(&labels, 0.3, 5);
        assert_eq!(fit.len() + held.len(), 1000);
        assert_eq!(held.iter().filter(|&&i| labels[i]).count(), 30);
        assert_eq!(held.len(), 300);
        assert!(fit.iter().all(|i| held.binary_search(i).is_err()));
        assert_eq!(stratified_split(&labels, 0.3, 5), (fit, held.clone()));
        assert_ne!(stratified_split(&labels, 0.3, 6).1, held);
    }

    #[test]
    fn recalibration_fixes_a_shift_and_a_slope_on_held_out_rows() {
        let (raw, y) = local(20_000, 0.8, 1.4, 1);
        let s = RecalibrationSettings::default();
        let (new, r) = recalibrate_outcome(Outcome::Delirium, &platt(), &raw, &y, &s).unwrap();
        let (bi, bs) = (r.before.intercept.unwrap(), r.before.slope.unwrap());
        // True log-odds 1.4·raw + 0.8 against predicted raw: both off, outside their CIs.
        assert!(
            r.before.intercept_ci.unwrap().0 > 0.0,
            "before intercept {bi}"
        );
        assert!(r.before.slope_ci.unwrap().0 > 1.0, "before slope {bs}");
        let (ai, asl) = (r.after.intercept.unwrap(), r.after.slope.unwrap());
        let (ilo, ihi) = r.after.intercept_ci.unwrap();
        let (slo, shi) = r.after.slope_ci.unwrap();
        assert!(
            ilo < 0.0 && 0.0 < ihi,
            "after intercept {ai} ({ilo}, {ihi})"
        );
        assert!(slo < 1.0 && 1.0 < shi, "after slope {asl} ({slo}, {shi})");
        assert!(r.after.brier < r.before.brier);
        assert!((r.after.auc.unwrap() - r.before.auc.unwrap()).abs() < 1e-12);
        assert!((r.fitted_slope - 1.4).abs() < 0.1, "{}", r.fitted_slope);
        assert!(matches!(new, Calibration::Recalibrated { .. }));
    }

    #[test]
    fn too_few_events_names_the_count_and_the_minimum() {
        let (raw, y) = local(600, -1.0, 1.0, 2);
        let s = RecalibrationSettings::default();
        let err = recalibrate_outcome(Outcome::Dvt, &platt(), &raw, &y, &s).unwrap_err();
        let RecalibrationError::TooFewEvents {
            events, minimum, ..
        } = err.clone()
        else {
            panic!("{err}")
        };
        let fit_events = {
            let (fit, _) = stratified_split(&y, s.held_out_fraction, s.seed);
            fit.iter().filter(|&&i| y[i]).count()
        };
        assert_eq!(events, fit_events);
        assert_eq!(minimum, 100);
        let text = err.to_string();
        assert!(text.contains(&format!("{events} events")), "{text}");
        assert!(text.contains("at least 100 events"), "{text}");
    }

    #[test]
    fn blood_loss_and_bad_settings_are_refused() {
        let s = RecalibrationSettings::default();
        assert!(matches!(
            recalibrate_outcome(Outcome::BloodLossMl, &platt(), &[], &[], &s),
            Err(RecalibrationError::NotBinary { .. })
        ));
        let bad = RecalibrationSettings {
            held_out_fraction: 1.0,
            ..s
        };
        assert!(matches!(
            recalibrate_outcome(Outcome::Dvt, &platt(), &[], &[], &bad),
            Err(RecalibrationError::InvalidSetting {
                name: "held_out_fraction",
                ..
            })
        ));
    }

    #[test]
    fn a_second_recalibration_composes() {
        let once = compose(&platt(), 0.5, 2.0);
        let twice = compose(&once, -0.25, 0.5);
        let Calibration::Recalibrated {
            base,
            intercept,
            slope,
        } = &twice
        else {
            panic!("composed")
        };
        assert_eq!(**base, platt());
        assert!((intercept - 0.0).abs() < 1e-12 && (slope - 1.0).abs() < 1e-12);
        for raw in [-3.0, 0.0, 2.0] {
            let nested = sigmoid(-0.25 + 0.5 * logit(once.apply(raw)));
            assert!((twice.apply(raw) - nested).abs() < 1e-12);
        }
    }
}
