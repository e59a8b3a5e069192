//! FHIR inputs onto the one assessment path, shared by every FHIR channel (a CDS Hooks call, a
//! Bundle posted to `POST /v1/assessments`): the planned spine surgery found among the orders,
//! the inputs mapped to dictionary features (`ehr::fhir_in`), the patient validated by the same
//! `Patient::from_json` as the JSON path and made into a [`PatientJob`], and the delivery record
//! (basis, sources, problems) stored with the answer. Channel specifics (cards, OperationOutcomes,
//! hook context) stay with the channel.

mod bundle;

use chrono::NaiveDate;
use serde_json::Value;

pub use bundle::{assess_bundle, BundleError, BundleOptions};

use crate::ehr::fhir_in::{map_patient, spine_order, FhirInputs, MappedPatient};
use crate::ehr::mapping::FhirMapping;
use crate::features::{FieldError, Patient};
use crate::outcomes::Outcome;
use crate::service::{Delivery, PatientJob};

/// What a job asks for besides the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOptions {
    /// Outcomes, in [`Outcome::ALL`] order.
    pub outcomes: Vec<Outcome>,
    /// Exact TreeSHAP explanations.
    pub explain: bool,
    /// The missing-input ranges (`service::sharpen`).
    pub missing_input_ranges: bool,
}

impl Default for JobOptions {
    /// Every outcome, explained, with the missing-input ranges (what a card shows).
    fn default() -> Self {
        Self {
            outcomes: Outcome::ALL.to_vec(),
            explain: true,
            missing_input_ranges: true,
        }
    }
}

/// FHIR inputs, ready to assess or not.
#[derive(Debug)]
pub enum Prepared<'a> {
    /// No order among the inputs is a spine surgery in the mapping.
    NoSpineOrder,
    /// A required input could not be read: every field problem of `Patient::from_json`, and what
    /// was mapped (its `problems` say why).
    Unassessable {
        order: &'a Value,
        mapped: MappedPatient,
        errors: Vec<FieldError>,
    },
    /// The validated patient's job.
    Ready {
        order: &'a Value,
        mapped: MappedPatient,
        job: PatientJob,
    },
}

/// Finds the planned spine surgery, maps the inputs and validates the patient. `today` anchors
/// the look-back windows (the server clock).
pub fn prepare<'a>(
    inputs: &'a FhirInputs,
    mapping: &FhirMapping,
    today: NaiveDate,
    options: &JobOptions,
) -> Prepared<'a> {
    let Some(order) = spine_order(&inputs.orders, mapping) else {
        return Prepared::NoSpineOrder;
    };
    let mapped = map_patient(inputs, mapping, today);
    match Patient::from_json(&mapped.patient) {
        Ok(patient) => Prepared::Ready {
            order,
            job: PatientJob::new(patient, options.outcomes.clone(), options.explain)
                .with_missing_input_ranges(options.missing_input_ranges),
            mapped,
        },
        Err(e) => Prepared::Unassessable {
            order,
            mapped,
            errors: e.errors,
        },
    }
}

/// The delivery record of a FHIR answer on `channel`: where every input came from (`basis`,
/// `sources`) and what was found but not used (`problems`). The channel fills in the rest
/// (hook, card, client, patient, encounter).
pub fn delivery(channel: &str, mapped: &MappedPatient) -> Delivery {
    Delivery {
        channel: channel.to_string(),
        service: None,
        hook: None,
        hook_instance: None,
        patient: None,
        encounter: None,
        client: None,
        basis: mapped.basis.clone(),
        sources: mapped
            .sources
            .iter()
            .filter_map(|s| serde_json::to_value(s).ok())
            .collect(),
        problems: mapped
            .problems
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect(),
        card: None,
        fetched: Vec::new(),
    }
}
