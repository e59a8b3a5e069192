//! A FHIR R4 Bundle posted to `POST /v1/assessments`: read (`FhirInputs::from_bundle`), prepared
//! on the shared FHIR path ([`super::prepare`]), assessed and recorded with its delivery
//! (`channel` [`Delivery::FHIR`], the Bundle's Patient and the order's Encounter, basis, sources,
//! problems). What cannot be assessed is a [`BundleError`] whose issues name the Bundle path
//! (`Bundle.entry[3].resource.birthDate`) and the constraint, for an OperationOutcome.

use chrono::NaiveDate;
use serde_json::Value;

use super::{delivery, prepare, JobOptions, Prepared};
use crate::ehr::fhir_in::{is_fhir_id, FhirInError, FhirInputs, MappedPatient};
use crate::ehr::fhir_out::outcome::{Issue, IssueType};
use crate::ehr::mapping::FhirMapping;
use crate::features::{Constraint, FieldError};
use crate::service::{Assessment, Assessor, Caller, Delivery, Recorded, ServiceError};

/// What a posted Bundle is assessed with.
pub struct BundleOptions<'a> {
    /// The model set's FHIR mapping.
    pub mapping: &'a FhirMapping,
    /// The server's date (look-back windows, the age when the order has no date).
    pub today: NaiveDate,
    pub job: JobOptions,
}

/// Why a posted Bundle is not assessed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not a Bundle, a Bundle.type not accepted, a malformed entry, a second Patient (400,
    /// `structure`).
    #[error("Bundle.{source}")]
    Structure {
        source: FhirInError,
        /// The body has a `patient` member and no `resourceType`: a JSON assessment request sent
        /// as FHIR.
        json_request: bool,
    },
    /// No ServiceRequest for a spine surgery (422, `required`); `issues` names each
    /// ServiceRequest that is not one, or the entries when there is none.
    #[error("no ServiceRequest for a spine surgery in the Bundle")]
    NoSpineOrder { issues: Vec<Issue> },
    /// A required input could not be read (422): one issue per field of `Patient::from_json`.
    #[error("{} required input(s) could not be read: {}", .issues.len(), .fields.join(", "))]
    Unassessable {
        fields: Vec<String>,
        issues: Vec<Issue>,
    },
    /// The assessment failed (model, store): nothing acknowledged.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl BundleError {
    /// The OperationOutcome issues (none for [`BundleError::Service`], a server failure).
    pub fn issues(&self) -> Vec<Issue> {
        match self {
            Self::Structure {
                source,
                json_request,
            } => {
                let mut diagnostics = format!("Bundle.{source}");
                if *json_request {
                    diagnostics.push_str(
                        "; this is a JSON assessment request: send it with Content-Type: application/json",
                    );
                }
                vec![Issue::new(
                    IssueType::Structure,
                    diagnostics,
                    Some(format!("Bundle.{}", source.path())),
                )]
            }
            Self::NoSpineOrder { issues } | Self::Unassessable { issues, .. } => issues.clone(),
            Self::Service(_) => Vec::new(),
        }
    }
}

/// Assesses a posted Bundle and records the answer with its delivery; `received` is the body as
/// it arrived (the audit record's input).
///
/// # Errors
/// [`BundleError`]: the Bundle is malformed, holds no spine-surgery order or lacks a required
/// input, or the assessment failed.
pub fn assess_bundle(
    assessor: &Assessor,
    bundle: &Value,
    received: String,
    options: &BundleOptions<'_>,
    caller: &Caller,
) -> Result<Recorded, BundleError> {
    let inputs = FhirInputs::from_bundle(bundle).map_err(|source| BundleError::Structure {
        source,
        json_request: bundle.get("resourceType").is_none() && bundle.get("patient").is_some(),
    })?;
    match prepare(&inputs, options.mapping, options.today, &options.job) {
        Prepared::NoSpineOrder => Err(BundleError::NoSpineOrder {
            issues: no_spine_order(bundle, options.mapping),
        }),
        Prepared::Unassessable {
            order,
            mapped,
            errors,
        } => Err(BundleError::Unassessable {
            fields: errors.iter().map(|e| e.field.clone()).collect(),
            issues: unreadable(bundle, &inputs, order, &mapped, &errors),
        }),
        Prepared::Ready { order, mapped, job } => {
            let mut record = delivery(Delivery::FHIR, &mapped);
            record.patient = inputs
                .patient
                .as_ref()
                .and_then(|p| p.get("id"))
                .and_then(Value::as_str)
                .filter(|id| is_fhir_id(id))
                .map(|id| format!("Patient/{id}"));
            record.encounter = order
                .pointer("/encounter/reference")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("Encounter/"))
                .filter(|id| is_fhir_id(id))
                .map(|id| format!("Encounter/{id}"));
            let mut decorate = |answer: &mut Assessment| answer.delivery = Some(record.clone());
            Ok(assessor.assess_job(job, received, caller, &mut decorate)?)
        }
    }
}

/// The Bundle's entry resources with their index.
fn resources(bundle: &Value) -> impl Iterator<Item = (usize, &Value)> {
    bundle
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, e)| e.get("resource").map(|r| (i, r)))
}

fn entry_path(i: usize) -> String {
    format!("Bundle.entry[{i}].resource")
}

/// The path of the first entry whose resource satisfies `matches`.
fn path_where(bundle: &Value, matches: impl Fn(&Value) -> bool) -> Option<String> {
    resources(bundle)
        .find(|(_, r)| matches(r))
        .map(|(i, _)| entry_path(i))
}

/// The path of the entry a reference (`Observation/hb-1`) names.
fn path_of_reference(bundle: &Value, reference: &str) -> Option<String> {
    let (kind, id) = reference.split_once('/')?;
    path_where(bundle, |r| {
        r.get("resourceType").and_then(Value::as_str) == Some(kind)
            && r.get("id").and_then(Value::as_str) == Some(id)
    })
}

/// One issue per ServiceRequest that is not a planned spine surgery, or one for the entries
/// when the Bundle has none.
fn no_spine_order(bundle: &Value, mapping: &FhirMapping) -> Vec<Issue> {
    let statuses = mapping.procedures.order_statuses.join(", ");
    let issues: Vec<Issue> = resources(bundle)
        .filter(|(_, r)| r.get("resourceType").and_then(Value::as_str) == Some("ServiceRequest"))
        .map(|(i, r)| {
            let name = r
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| "ServiceRequest (no id)".to_string(), |id| format!("ServiceRequest/{id}"));
            Issue::new(
                IssueType::Required,
                format!(
                    "{name} is not a planned spine surgery: a spine procedure code of the mapping (CPT or SNOMED CT) with status {statuses} is required"
                ),
                Some(format!("{}.code", entry_path(i))),
            )
        })
        .collect();
    if issues.is_empty() {
        return vec![Issue::new(
            IssueType::Required,
            "no ServiceRequest in the Bundle: the planned spine surgery is required (a ServiceRequest coded with a spine procedure of the mapping, CPT or SNOMED CT)",
            Some("Bundle.entry".to_string()),
        )];
    }
    issues
}

/// One issue per field `Patient::from_json` rejected: where in the Bundle, and why (the field's
/// constraint and the mapper's problems with it).
fn unreadable(
    bundle: &Value,
    inputs: &FhirInputs,
    order: &Value,
    mapped: &MappedPatient,
    errors: &[FieldError],
) -> Vec<Issue> {
    let patient = inputs
        .patient
        .as_ref()
        .and_then(|p| path_where(bundle, |r| r == p));
    let order = path_where(bundle, |r| r == order);
    errors
        .iter()
        .map(|e| {
            let problems: Vec<_> = mapped
                .problems
                .iter()
                .filter(|p| p.feature == e.field)
                .collect();
            let mut diagnostics = e.to_string();
            if !problems.is_empty() {
                let kinds: Vec<String> = problems.iter().map(|p| p.kind.to_string()).collect();
                diagnostics.push_str(&format!(": {}", kinds.join("; ")));
            }
            let mut on_patient = |element: &str| match &patient {
                Some(p) => Some(format!("{p}.{element}")),
                None => {
                    diagnostics.push_str(" (the Bundle has no Patient resource)");
                    Some("Bundle.entry".to_string())
                }
            };
            let expression = match e.field.as_str() {
                "age_years" => on_patient("birthDate"),
                "sex" => on_patient("gender"),
                "procedure" => order.as_ref().map(|o| format!("{o}.code")),
                _ => problems
                    .iter()
                    .filter_map(|p| p.reference.as_deref())
                    .find_map(|r| path_of_reference(bundle, r)),
            };
            let code = match e.constraint {
                Constraint::Required => IssueType::Required,
                Constraint::Contradiction { .. } => IssueType::Invariant,
                _ => IssueType::Value,
            };
            Issue::new(code, diagnostics, expression)
        })
        .collect()
}
