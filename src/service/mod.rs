//! The assessment service: validate a request, run every applicable model once per batch, and
//! answer with calibrated risks, exact TreeSHAP explanations and the basis of the answer
//! (`design.md`, Contracts). No HTTP types: the REST layer and `periop score` both wrap this, so
//! they give the same numbers.

pub mod backtest;
pub mod explain;
pub mod types;

use chrono::{DateTime, Utc};
use ndarray::Array2;
use serde_json::Value;

use crate::features::dictionary::FEATURES;
use crate::features::model_input::{model_feature_count, push_model_input};
use crate::features::{Constraint, Derived, FieldError, Patient};
use crate::model::ensemble::{ModelError, ModelSet, OutcomeModel, Prediction};
use crate::model::manifest::RiskBand;
use crate::outcomes::{Outcome, OutcomeKind};
use crate::rules::RuleSet;

pub use explain::explanation_svg;
pub use types::*;

/// Every outcome id, in [`Outcome::ALL`] order (the allowed values of `outcomes[i]`).
pub const OUTCOME_IDS: &[&str] = &[
    "blood_loss_ml",
    "massive_blood_loss",
    "screw_loosening",
    "csf_leak",
    "dvt",
    "delirium",
    "prolonged_los",
    "nonhome_discharge",
    "readmission_30d",
    "odi_mcid_failure",
    "acdf_inpatient_conversion",
];

/// Why an assessment could not be made: bad input (HTTP 422) or an internal failure (HTTP 500).
#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    /// Every problem with the request. Patient fields are named `patient.<feature>`, outcome
    /// ids `outcomes[<i>]`.
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The model set failed (never caused by the input).
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// One validated patient to predict, with the outcomes asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientJob {
    pub patient: Patient,
    /// Requested outcomes, in [`Outcome::ALL`] order, without duplicates.
    pub outcomes: Vec<Outcome>,
    pub explain: bool,
}

/// Validates a request: every patient field problem and every bad outcome id.
///
/// # Errors
/// [`AssessError::Invalid`] listing every problem.
pub fn validate(request: &AssessmentRequest) -> Result<PatientJob, AssessError> {
    let mut errors = Vec::new();
    let patient = match Patient::from_json(&request.patient) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.extend(e.errors.into_iter().map(|fe| FieldError {
                field: format!("patient.{}", fe.field),
                constraint: fe.constraint,
            }));
            None
        }
    };
    let outcomes = match &request.outcomes {
        None => Outcome::ALL.to_vec(),
        Some(ids) => {
            let mut seen: Vec<(Outcome, usize)> = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                match Outcome::from_id(id) {
                    None => errors.push(FieldError {
                        field: format!("outcomes[{i}]"),
                        constraint: Constraint::UnknownLevel {
                            allowed: OUTCOME_IDS,
                        },
                    }),
                    Some(o) => match seen.iter().find(|(s, _)| *s == o) {
                        Some((_, first)) => errors.push(FieldError {
                            field: format!("outcomes[{i}]"),
                            constraint: Constraint::Contradiction {
                                detail: format!("duplicate of outcomes[{first}]"),
                            },
                        }),
                        None => seen.push((o, i)),
                    },
                }
            }
            Outcome::ALL
                .into_iter()
                .filter(|o| seen.iter().any(|(s, _)| s == o))
                .collect()
        }
    };
    match patient {
        Some(patient) if errors.is_empty() => Ok(PatientJob {
            patient,
            outcomes,
            explain: request.explain,
        }),
        _ => Err(AssessError::Invalid(errors)),
    }
}

/// Predicts a batch of validated patients: each outcome's model runs once per `explain` flag
/// over every patient it applies to. Returns, per job, one view per requested outcome
/// (`not_applicable` with the reason outside the model's population).
///
/// # Errors
/// A requested outcome without a model in the set, or a model failure.
pub fn predict_jobs(
    models: &ModelSet,
    jobs: &[PatientJob],
) -> Result<Vec<Vec<PredictionView>>, ModelError> {
    let n = model_feature_count();
    let mut rows = Vec::with_capacity(jobs.len() * n);
    for job in jobs {
        push_model_input(&job.patient, &Derived::of(&job.patient), &mut rows);
    }
    let row = |j: usize| &rows[j * n..(j + 1) * n];
    let mut out: Vec<Vec<PredictionView>> = vec![Vec::new(); jobs.len()];
    for outcome in Outcome::ALL {
        let wanted: Vec<usize> = (0..jobs.len())
            .filter(|&j| jobs[j].outcomes.contains(&outcome))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let model = models.outcome_model(outcome).ok_or(ModelError::NoModel {
            outcome: outcome.id(),
        })?;
        let mut views: Vec<Option<PredictionView>> = vec![None; jobs.len()];
        let mut applicable = Vec::new();
        for &j in &wanted {
            match outcome.applies_to(&jobs[j].patient) {
                Ok(()) => applicable.push(j),
                Err(reason) => views[j] = Some(not_applicable(model, reason)),
            }
        }
        for explain in [false, true] {
            let group: Vec<usize> = applicable
                .iter()
                .copied()
                .filter(|&j| jobs[j].explain == explain)
                .collect();
            if group.is_empty() {
                continue;
            }
            let mut matrix = Vec::with_capacity(group.len() * n);
            for &j in &group {
                matrix.extend_from_slice(row(j));
            }
            let matrix = Array2::from_shape_vec((group.len(), n), matrix).map_err(|_| {
                ModelError::FeatureCount {
                    expected: n,
                    found: 0,
                }
            })?;
            let predictions = model.predict_rows(matrix.view(), explain)?;
            for (&j, prediction) in group.iter().zip(predictions) {
                views[j] = Some(ok_view(model, &prediction, row(j)));
            }
        }
        for (j, view) in views.into_iter().enumerate() {
            if let Some(view) = view {
                out[j].push(view);
            }
        }
    }
    Ok(out)
}

fn model_ref(model: &OutcomeModel) -> ModelRef {
    ModelRef {
        id: model.outcome().id().to_string(),
        version: model.manifest().version.clone(),
        sha256: model.primary_sha256().to_string(),
    }
}

fn not_applicable(model: &OutcomeModel, reason: String) -> PredictionView {
    PredictionView {
        outcome: model.outcome().id().to_string(),
        status: Status::NotApplicable,
        reason: Some(reason),
        probability: None,
        quantity: None,
        risk_band: None,
        baseline: None,
        relative_risk: None,
        model: model_ref(model),
        explanation: None,
    }
}

/// The band holding `x`: `[lower, upper)`, the last band closed above.
pub fn risk_band(bands: &[RiskBand], x: f64) -> Option<String> {
    let last = bands.len().checked_sub(1)?;
    bands
        .iter()
        .enumerate()
        .find(|(i, b)| x >= b.lower && (x < b.upper || (*i == last && x <= b.upper)))
        .map(|(_, b)| b.name.clone())
}

fn ok_view(model: &OutcomeModel, prediction: &Prediction, row: &[f64]) -> PredictionView {
    let manifest = model.manifest();
    let outcome = model.outcome();
    let baseline = manifest.training.baseline;
    let value = match outcome.kind() {
        OutcomeKind::Probability => prediction.probability,
        OutcomeKind::Quantity => prediction.quantity.map(|q| q.median),
    };
    PredictionView {
        outcome: outcome.id().to_string(),
        status: Status::Ok,
        reason: None,
        probability: prediction.probability,
        quantity: prediction.quantity.map(|q| QuantityView {
            median: q.median,
            p10: q.p10,
            p90: q.p90,
            unit: "mL".to_string(),
        }),
        risk_band: value.and_then(|v| risk_band(&manifest.risk_bands, v)),
        baseline: Some(baseline),
        relative_risk: value.filter(|_| baseline > 0.0).map(|v| v / baseline),
        model: model_ref(model),
        explanation: prediction.explanation.as_ref().map(|e| {
            explain::explanation_view(outcome.kind(), &manifest.features, row, prediction.raw, e)
        }),
    }
}

/// The current time at millisecond precision (what `created_at` serialises).
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Assesses one request with a fresh UUID v4 and the current time.
///
/// # Errors
/// As [`assess_at`].
pub fn assess(models: &ModelSet, request: &AssessmentRequest) -> Result<Assessment, AssessError> {
    assess_at(
        models,
        request,
        uuid::Uuid::new_v4().to_string(),
        now_millis(),
    )
}

/// Assesses one request with a given id and time (reproducible answers for tests and replays).
///
/// # Errors
/// [`AssessError::Invalid`] for bad input, [`AssessError::Model`] for a model failure.
pub fn assess_at(
    models: &ModelSet,
    request: &AssessmentRequest,
    assessment_id: String,
    created_at: DateTime<Utc>,
) -> Result<Assessment, AssessError> {
    let mut ids = std::iter::once(assessment_id);
    assess_batch_at(models, std::slice::from_ref(request), created_at, || {
        ids.next().unwrap_or_default()
    })
    .pop()
    .unwrap_or_else(|| {
        Err(AssessError::Model(ModelError::Shap(
            "empty batch result".to_string(),
        )))
    })
}

/// Assesses many requests; each model runs once per batch. One result per request, in order.
pub fn assess_batch(
    models: &ModelSet,
    requests: &[AssessmentRequest],
) -> Vec<Result<Assessment, AssessError>> {
    assess_batch_at(models, requests, now_millis(), || {
        uuid::Uuid::new_v4().to_string()
    })
}

/// [`assess_batch`] with a given time and id source (called once per valid request, in order).
pub fn assess_batch_at(
    models: &ModelSet,
    requests: &[AssessmentRequest],
    created_at: DateTime<Utc>,
    new_id: impl FnMut() -> String,
) -> Vec<Result<Assessment, AssessError>> {
    assess_batch_with_rules(models, None, requests, created_at, new_id)
}

/// Assesses one request and applies `rules` (fresh UUID v4, current time).
///
/// # Errors
/// As [`assess_at`].
pub fn assess_with_rules(
    models: &ModelSet,
    rules: &RuleSet,
    request: &AssessmentRequest,
) -> Result<Assessment, AssessError> {
    let mut ids = std::iter::once(uuid::Uuid::new_v4().to_string());
    assess_batch_with_rules(
        models,
        Some(rules),
        std::slice::from_ref(request),
        now_millis(),
        || ids.next().unwrap_or_default(),
    )
    .pop()
    .unwrap_or_else(|| {
        Err(AssessError::Model(ModelError::Shap(
            "empty batch result".to_string(),
        )))
    })
}

/// [`assess_batch_at`] that also applies a rule set to every assessment: its recommendations,
/// version, hash and trace are part of the answer. A rule-set failure never withholds the
/// predictions: the answer then carries no recommendations and a warning naming the failure.
pub fn assess_batch_with_rules(
    models: &ModelSet,
    rules: Option<&RuleSet>,
    requests: &[AssessmentRequest],
    created_at: DateTime<Utc>,
    mut new_id: impl FnMut() -> String,
) -> Vec<Result<Assessment, AssessError>> {
    let validated: Vec<Result<PatientJob, AssessError>> = requests.iter().map(validate).collect();
    let jobs: Vec<PatientJob> = validated
        .iter()
        .filter_map(|v| v.as_ref().ok().cloned())
        .collect();
    let mut predictions = match predict_jobs(models, &jobs) {
        Ok(p) => Ok(p.into_iter()),
        Err(e) => Err(e),
    };
    let set = models.set_manifest();
    let model_set = ModelSetRef {
        id: set.id.clone(),
        version: set.version.clone(),
    };
    let synthetic = set.training_data.synthetic;
    validated
        .into_iter()
        .zip(requests)
        .map(|(v, request)| {
            let job = v?;
            let views = match &mut predictions {
                Ok(it) => it.next().unwrap_or_default(),
                Err(e) => return Err(AssessError::Model(copy_error(e))),
            };
            let inputs = inputs(request, &job.patient);
            let mut warnings = Vec::new();
            if synthetic {
                warnings.push(
                    "model set trained on synthetic data: a demonstration, not for clinical use"
                        .to_string(),
                );
            }
            if !inputs.missing.is_empty() {
                warnings.push(format!(
                    "{} optional input(s) missing (see inputs.missing): treated as unknown, never imputed",
                    inputs.missing.len()
                ));
            }
            let (recommendations, rule_set, rule_trace) = match rules {
                None => (Vec::new(), None, None),
                Some(rules) => {
                    if rules.is_example_policy() {
                        warnings.push(format!(
                            "recommendations come from rule set {}, an example policy shipped with the model set: review and adapt it locally before clinical use",
                            rules.reference().version
                        ));
                    }
                    let context = crate::rules::context::build(&job.patient, &views);
                    match rules.evaluate(&context) {
                        Ok(outcome) => (
                            outcome.recommendations,
                            Some(rules.reference().clone()),
                            Some(outcome.trace),
                        ),
                        Err(e) => {
                            warnings.push(format!(
                                "recommendations unavailable: rule set {} failed: {e}",
                                rules.reference().version
                            ));
                            (Vec::new(), Some(rules.reference().clone()), None)
                        }
                    }
                }
            };
            Ok(Assessment {
                assessment_id: new_id(),
                created_at,
                model_set: model_set.clone(),
                predictions: views,
                recommendations,
                rule_set,
                rule_trace,
                inputs,
                warnings,
            })
        })
        .collect()
}

/// A batch-wide model failure, repeated for each request of the batch (`ModelError` is not
/// `Clone`; variants that own I/O sources are carried as their message).
fn copy_error(e: &ModelError) -> ModelError {
    match e {
        ModelError::NoModel { outcome } => ModelError::NoModel { outcome },
        ModelError::FeatureCount { expected, found } => ModelError::FeatureCount {
            expected: *expected,
            found: *found,
        },
        other => ModelError::Shap(other.to_string()),
    }
}

/// `inputs.used`, `inputs.derived` and `inputs.missing` of a validated request.
fn inputs(request: &AssessmentRequest, patient: &Patient) -> Inputs {
    let used = FEATURES
        .iter()
        .enumerate()
        .filter(|(i, _)| patient.value(*i).is_some())
        .map(|(_, spec)| UsedInput {
            feature: spec.name.to_string(),
            value: request
                .patient
                .get(spec.name)
                .cloned()
                .unwrap_or(Value::Null),
            unit: spec.unit.map(str::to_string),
        })
        .collect();
    let missing = patient
        .missing()
        .into_iter()
        .filter(|name| !(*name == "bmi" && Derived::of(patient).bmi_derived))
        .map(str::to_string)
        .collect();
    Inputs {
        used,
        derived: derived_inputs(patient),
        missing,
    }
}

fn derived_inputs(patient: &Patient) -> Vec<DerivedInput> {
    let d = Derived::of(patient);
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let mut out = Vec::new();
    if d.bmi_derived {
        out.push(DerivedInput {
            feature: "bmi".to_string(),
            value: d.bmi.map_or(Value::Null, explain::number),
            unit: Some("kg/m2".to_string()),
            detail: "weight_kg / (height_cm / 100)^2 (bmi not given)".to_string(),
            band: None,
            unassessed: None,
        });
    }
    out.push(DerivedInput {
        feature: "hypervascular_tumor".to_string(),
        value: d.hypervascular_tumor.map_or(Value::Null, Value::Bool),
        unit: None,
        detail: match d.hypervascular_tumor {
            Some(_) => "tumor_histology is renal, thyroid or hepatocellular".to_string(),
            None => "not computed: no tumor_histology".to_string(),
        },
        band: None,
        unassessed: None,
    });
    out.push(DerivedInput {
        feature: "nadler_blood_volume_ml".to_string(),
        value: d
            .nadler_blood_volume_ml
            .map_or(Value::Null, explain::number),
        unit: Some("mL".to_string()),
        detail: match d.nadler_blood_volume_ml {
            Some(_) => "Nadler formula from sex, height and weight".to_string(),
            None => "not computed: needs sex, height and weight (or bmi)".to_string(),
        },
        band: None,
        unassessed: None,
    });
    out.push(DerivedInput {
        feature: "mfi5".to_string(),
        value: Value::from(d.mfi5.score),
        unit: None,
        detail: "modified frailty index: diabetes, COPD, CHF, hypertension, dependent functional status; a lower bound when items are unassessed".to_string(),
        band: None,
        unassessed: Some(strings(&d.mfi5.unassessed)),
    });
    out.push(DerivedInput {
        feature: "caprini_score".to_string(),
        value: Value::from(d.caprini.score),
        unit: None,
        detail: "Caprini VTE risk score from the items periop captures; a lower bound (unassessed items count 0)".to_string(),
        band: serde_json::to_value(d.caprini.band)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)),
        unassessed: Some(strings(&d.caprini.unassessed)),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_ids_follow_outcome_all() {
        let ids: Vec<&str> = Outcome::ALL.iter().map(|o| o.id()).collect();
        assert_eq!(ids, OUTCOME_IDS);
    }

    #[test]
    fn risk_band_is_half_open_with_a_closed_last_band() {
        let bands = vec![
            RiskBand {
                name: "low".into(),
                lower: 0.0,
                upper: 0.5,
            },
            RiskBand {
                name: "high".into(),
                lower: 0.5,
                upper: 1.0,
            },
        ];
        assert_eq!(risk_band(&bands, 0.5).as_deref(), Some("high"));
        assert_eq!(risk_band(&bands, 1.0).as_deref(), Some("high"));
        assert_eq!(risk_band(&bands, 0.1).as_deref(), Some("low"));
    }
}
