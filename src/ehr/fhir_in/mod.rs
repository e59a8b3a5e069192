//! FHIR R4 in: prefetch, a posted Bundle and the draft orders become one dictionary patient
//! (`features::Patient::from_json` input), with the source of every value and every problem.
//!
//! Pure: no clock (`today` is a parameter), no I/O, no logging (the inputs are patient data). Every
//! code list, unit and look-back comes from the [`FhirMapping`]; a value is used only when it is
//! valid, current, convertible and in range, else it is left missing and the reason reported.
//! Condition rules: clinicalStatus active/recurrence/relapse counts (absent counts too unless an
//! abatement is given; R4 requires it for problem-list items), resolved/inactive/remission only
//! where the mapping says so; verificationStatus refuted/entered-in-error never counts, and
//! unconfirmed/provisional/differential neither counts nor lets the feature be "no" (it is left
//! missing unless confirmed evidence settles it).

mod bundle;
mod comorbidities;
mod demographics;
mod inputs;
mod observations;
mod prefetch;
mod problem;
mod resource;
mod surgery;
mod time;

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};

pub use inputs::{
    Category, FhirInError, FhirInputs, PrefetchKeys, BUNDLE_TYPES, KEY_CONDITIONS, KEY_LABS,
    KEY_MEDICATIONS, KEY_MEDICATION_STATEMENTS, KEY_PATIENT, KEY_PROCEDURES, KEY_VITALS,
    LIST_EMPTY_REASON, MEDICATION_HISTORY, NIL_KNOWN, PROBLEM_LIST,
};
pub use problem::{InputProblem, InputSource, ProblemKind};
pub use surgery::spine_order;

use crate::ehr::mapping::FhirMapping;
use crate::features::dictionary::FEATURES;

use resource::PatientIdentity;

/// A FHIR logical id: `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_fhir_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The mapped patient and everything a card or RiskAssessment needs to explain it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappedPatient {
    /// Dictionary name → JSON value, ready for `Patient::from_json` (numbers, booleans,
    /// enum level strings); a feature that could not be mapped is absent.
    pub patient: Map<String, Value>,
    /// Where each value found in a resource came from (one entry per contributing resource).
    pub sources: Vec<InputSource>,
    /// Values found but not used, and required inputs not found.
    pub problems: Vec<InputProblem>,
    /// Comorbidities set to `false`/`none` because their categories were supplied and held no
    /// matching Condition or medication (they have no `sources` entry).
    pub from_absence: Vec<String>,
    /// The planned spine surgery order (`ServiceRequest/<id>`), if any.
    pub order: Option<String>,
    /// Every resource reference used (for RiskAssessment.basis / Provenance.entity).
    pub basis: Vec<String>,
}

/// What every mapper needs.
pub(crate) struct Context<'a> {
    pub mapping: &'a FhirMapping,
    pub today: NaiveDate,
    pub patient: PatientIdentity,
}

/// Accumulates the mapped values; a feature given two different values by two sources is
/// removed and reported, never resolved by guessing.
#[derive(Default)]
pub(crate) struct Builder {
    patient: Map<String, Value>,
    sources: Vec<InputSource>,
    problems: Vec<InputProblem>,
    from_absence: Vec<String>,
    conflicted: HashSet<String>,
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

impl Builder {
    /// Sets `feature` from `sources`.
    pub fn set(&mut self, feature: &str, value: Value, sources: Vec<InputSource>) {
        if self.conflicted.contains(feature) {
            return;
        }
        if let Some(old) = self.patient.get(feature) {
            if same_value(old, &value) {
                self.sources.extend(sources);
                return;
            }
            let refs = |s: &[&InputSource]| {
                s.iter()
                    .map(|s| s.reference.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let old_sources: Vec<&InputSource> = self
                .sources
                .iter()
                .filter(|s| s.feature == feature)
                .collect();
            let new_sources: Vec<&InputSource> = sources.iter().collect();
            let detail = format!(
                "{old} ({}) vs {value} ({})",
                refs(&old_sources),
                refs(&new_sources)
            );
            self.problem(
                feature,
                new_sources.first().map(|s| s.reference.clone()),
                problem::ProblemKind::Conflict { detail },
            );
            self.patient.remove(feature);
            self.sources.retain(|s| s.feature != feature);
            self.from_absence.retain(|f| f != feature);
            self.conflicted.insert(feature.to_string());
            return;
        }
        self.patient.insert(feature.to_string(), value);
        self.sources.extend(sources);
    }

    /// Sets a comorbidity from the absence of evidence.
    pub fn set_from_absence(&mut self, feature: &str, value: Value) {
        self.set(feature, value, Vec::new());
        if self.patient.contains_key(feature) {
            self.from_absence.push(feature.to_string());
        }
    }

    pub fn problem(&mut self, feature: &str, reference: Option<String>, kind: ProblemKind) {
        self.problems.push(InputProblem {
            feature: feature.to_string(),
            reference,
            kind,
        });
    }

    pub fn has(&self, feature: &str) -> bool {
        self.patient.contains_key(feature)
    }

    fn finish(mut self, order: Option<String>) -> MappedPatient {
        // A required feature neither mapped nor explained yet.
        for spec in FEATURES.iter().filter(|f| f.required) {
            let explained = self.problems.iter().any(|p| p.feature == spec.name);
            if !self.patient.contains_key(spec.name) && !explained {
                let element = match spec.name {
                    "age_years" => "Patient.birthDate",
                    "sex" => "Patient.gender",
                    "procedure" => "ServiceRequest.code (a spine procedure)",
                    other => other,
                };
                self.problem(
                    spec.name,
                    None,
                    ProblemKind::MissingElement {
                        element: element.to_string(),
                    },
                );
            }
        }
        let mut basis: Vec<String> = Vec::new();
        let used = order.iter().cloned().chain(
            self.sources
                .iter()
                .filter(|s| !s.reference.ends_with("(no id)"))
                .map(|s| s.reference.clone()),
        );
        for reference in used {
            if !basis.contains(&reference) {
                basis.push(reference);
            }
        }
        MappedPatient {
            patient: self.patient,
            sources: self.sources,
            problems: self.problems,
            from_absence: self.from_absence,
            order,
            basis,
        }
    }
}

/// Maps the inputs to dictionary features. `today` anchors look-back windows (and the age when
/// the order has no date).
pub fn map_patient(inputs: &FhirInputs, mapping: &FhirMapping, today: NaiveDate) -> MappedPatient {
    let ctx = Context {
        mapping,
        today,
        patient: PatientIdentity {
            id: inputs
                .patient
                .as_ref()
                .and_then(|p| resource::text(p, "id"))
                .map(str::to_string),
            full_url: inputs.patient_full_url.clone(),
        },
    };
    let mut out = Builder {
        problems: inputs.problems.clone(),
        ..Builder::default()
    };
    let plan = surgery::map_surgery(inputs, &ctx, &mut out);
    demographics::map_demographics(inputs, &ctx, plan.date.as_ref(), &mut out);
    observations::map_observations(inputs, &ctx, &mut out);
    comorbidities::map_comorbidities(inputs, &ctx, &mut out);
    surgery::report_prior_spine_surgery(inputs, &ctx, plan.order.is_some(), &mut out);
    out.finish(plan.order)
}

#[cfg(test)]
mod tests;
