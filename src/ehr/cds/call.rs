//! One CDS Hooks service call, from the hook request to the card: the hook and context checked,
//! the planned surgery found (draft orders, or the patient's planned spine orders), the prefetch
//! mapped to dictionary features (`ehr::fhir_in`), the patient validated and assessed on the one
//! path (`service::Assessor`) with the missing-input ranges, the card built and recorded with the
//! answer (`Assessment::delivery`), nothing acknowledged before it is durable. What the prefetch
//! lacked has been fetched from the EHR's FHIR server before (`ehr::cds::fetch`, async; this
//! part is CPU work). The FHIR access token is never stored: the recorded input is the request
//! without `fhirAuthorization`, with what was fetched.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::card::{card, CardContext};
use super::fetch::FetchReport;
use super::services::{has_draft_orders, KEY_PLANNED_SURGERY};
use super::types::{Card, CardsResponse, HookRequest, Source};
use crate::ehr::fhir_assess::{delivery, prepare, JobOptions, Prepared};
use crate::ehr::fhir_in::{
    is_fhir_id, FhirInError, FhirInputs, MappedPatient, PrefetchKeys, KEY_PATIENT,
};
use crate::ehr::mapping::FhirMapping;
use crate::service::{Assessor, Caller, Delivery, ServiceError};

/// Why a hook call cannot be answered with cards.
#[derive(Debug, thiserror::Error)]
pub enum CdsError {
    /// Malformed request (400).
    #[error("{field}: {constraint}")]
    BadRequest { field: String, constraint: String },
    /// Required prefetch absent and not fetched from the FHIR server (412); `reasons` says why
    /// each key could not be fetched.
    #[error("required prefetch not supplied: {}", .reasons.join("; "))]
    MissingPrefetch {
        keys: Vec<String>,
        reasons: Vec<String>,
    },
    /// A FHIR resource periop cannot read (400).
    #[error(transparent)]
    Fhir(#[from] FhirInError),
    /// The assessment failed (store, model).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Everything one call needs besides the request.
pub struct CallContext<'a> {
    pub service_id: &'a str,
    pub hook: &'a str,
    pub mapping: &'a FhirMapping,
    pub public_url: &'a str,
    /// JWT `iss` of the CDS client (`None` in development mode).
    pub client: Option<&'a str>,
    pub today: NaiveDate,
    /// What was read from the EHR's FHIR server for this call (`ehr::cds::fetch`).
    pub fetch: &'a FetchReport,
}

fn bad(field: &str, constraint: impl Into<String>) -> CdsError {
    CdsError::BadRequest {
        field: field.to_string(),
        constraint: constraint.into(),
    }
}

fn context_string<'a>(request: &'a HookRequest, field: &str) -> Option<&'a str> {
    request.context.get(field).and_then(Value::as_str)
}

/// Answers one hook call.
///
/// # Errors
/// [`CdsError`]: a malformed request, required prefetch missing, an unreadable resource, or a
/// store or model failure (nothing acknowledged).
pub fn answer_hook(
    assessor: &Assessor,
    request: &HookRequest,
    body: &Value,
    call: &CallContext<'_>,
    caller: &Caller,
) -> Result<CardsResponse, CdsError> {
    if request.hook != call.hook {
        return Err(bad(
            "hook",
            format!(
                "service {} answers {}, not {}",
                call.service_id, call.hook, request.hook
            ),
        ));
    }
    if request.hook_instance.trim().is_empty() {
        return Err(bad("hookInstance", "required"));
    }
    let patient_id = context_string(request, "patientId")
        .filter(|id| is_fhir_id(id))
        .ok_or_else(|| {
            bad(
                "context.patientId",
                "required: a FHIR id ([A-Za-z0-9-.]{1,64})",
            )
        })?;
    let prefetch = request.prefetch.clone().unwrap_or_default();
    let orders: Option<Value> =
        if has_draft_orders(call.hook) {
            Some(
                request.context.get("draftOrders").cloned().ok_or_else(|| {
                    bad("context.draftOrders", "required for this hook (a Bundle)")
                })?,
            )
        } else {
            prefetch.get(KEY_PLANNED_SURGERY).cloned()
        };
    let mut notes: Vec<String> = Vec::new();
    let orders = if call.hook == "appointment-book" {
        let appointments = request
            .context
            .get("appointments")
            .filter(|a| a.get("resourceType").and_then(Value::as_str) == Some("Bundle"))
            .ok_or_else(|| {
                bad(
                    "context.appointments",
                    "required for appointment-book (a Bundle of Appointments)",
                )
            })?;
        orders.map(|planned| booked_orders(appointments, planned, &mut notes))
    } else {
        orders
    };
    let mut required_absent: Vec<String> = Vec::new();
    if !prefetch.contains_key(KEY_PATIENT) {
        required_absent.push(KEY_PATIENT.to_string());
    }
    if orders.is_none() {
        required_absent.push(KEY_PLANNED_SURGERY.to_string());
    }
    if !required_absent.is_empty() {
        let reasons = required_absent
            .iter()
            .map(|key| match call.fetch.reason_for(key) {
                Some(reason) => format!("{key} ({reason})"),
                None => key.clone(),
            })
            .collect();
        return Err(CdsError::MissingPrefetch {
            keys: required_absent,
            reasons,
        });
    }
    let orders = orders.filter(|o| !o.is_null());
    let (inputs, absent) =
        FhirInputs::from_prefetch(&prefetch, &PrefetchKeys::default(), orders.as_ref())?;
    let (mapped, job) = match prepare(&inputs, call.mapping, call.today, &JobOptions::default()) {
        Prepared::NoSpineOrder => return Ok(CardsResponse { cards: Vec::new() }),
        Prepared::Unassessable { mapped, errors, .. } => {
            let fields: Vec<String> = errors.iter().map(ToString::to_string).collect();
            let mut problems = card_problems(&mapped, &absent, call.fetch);
            problems.extend(notes);
            return Ok(CardsResponse {
                cards: vec![not_assessed(&fields, &problems, &mapped.basis)],
            });
        }
        Prepared::Ready { mapped, job, .. } => (mapped, job),
    };
    let mut problems = card_problems(&mapped, &absent, call.fetch);
    problems.extend(notes);
    let patient_ref = format!("Patient/{patient_id}");
    let encounter = context_string(request, "encounterId")
        .filter(|id| is_fhir_id(id))
        .map(|id| format!("Encounter/{id}"));
    let mut sent: Option<Card> = None;
    let mut decorate = |answer: &mut crate::service::Assessment| {
        let ctx = CardContext {
            public_url: call.public_url,
            patient: &patient_ref,
            encounter: encounter.as_deref(),
            problems: &problems,
        };
        let built = card(answer, &ctx);
        answer.delivery = Some(Delivery {
            service: Some(call.service_id.to_string()),
            hook: Some(call.hook.to_string()),
            hook_instance: Some(request.hook_instance.clone()),
            patient: Some(patient_ref.clone()),
            encounter: encounter.clone(),
            client: call.client.map(str::to_string),
            card: serde_json::to_value(&built).ok(),
            fetched: call.fetch.fetched.clone(),
            ..delivery(Delivery::CDS_HOOKS, &mapped)
        });
        sent = Some(built);
    };
    assessor.assess_job(job, recorded_input(body), caller, &mut decorate)?;
    let card = sent.ok_or(ServiceError::Internal("no card for the answer"))?;
    Ok(CardsResponse { cards: vec![card] })
}

/// appointment-book: the `planned_surgery` orders the booked appointments are based on
/// (`Appointment.basedOn` naming `ServiceRequest/<id>`, add-on orders included when named). When
/// no appointment names one of them, every planned order is considered, and a note says so.
fn booked_orders(appointments: &Value, planned: Value, notes: &mut Vec<String>) -> Value {
    let named: std::collections::HashSet<&str> = appointments
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Appointment"))
        .filter_map(|r| r.get("basedOn").and_then(Value::as_array))
        .flatten()
        .filter_map(|b| b.get("reference").and_then(Value::as_str))
        .filter_map(|r| r.rsplit_once("ServiceRequest/").map(|(_, id)| id))
        .collect();
    let is_named = |entry: &Value| {
        entry
            .get("resource")
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
            .is_some_and(|id| named.contains(id))
    };
    let entries = planned.get("entry").and_then(Value::as_array);
    if !entries.is_some_and(|list| list.iter().any(is_named)) {
        if !planned.is_null() {
            notes.push(
                "no booked appointment names a planned spine order in `basedOn`: every planned spine order of the patient was considered"
                    .to_string(),
            );
        }
        return planned;
    }
    let mut booked = planned;
    if let Some(list) = booked.get_mut("entry").and_then(Value::as_array_mut) {
        list.retain(is_named);
    }
    booked
}

/// What the card lists under "Record data not used, and why": the mapping's problems, then each
/// prefetch key not supplied (with why it was not fetched).
fn card_problems(mapped: &MappedPatient, absent: &[String], fetch: &FetchReport) -> Vec<String> {
    let mut problems: Vec<String> = mapped.problems.iter().map(ToString::to_string).collect();
    for key in absent {
        problems.push(match fetch.reason_for(key) {
            Some(reason) => format!(
                "prefetch `{key}` not supplied and not fetched ({reason}): the inputs it carries are reported missing"
            ),
            None => format!(
                "prefetch `{key}` not supplied: the inputs it carries are reported missing"
            ),
        });
    }
    problems
}

/// The request as recorded: everything but `fhirAuthorization` (a credential).
pub fn recorded_input(body: &Value) -> String {
    let mut body = body.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove("fhirAuthorization");
    }
    body.to_string()
}

/// The card for a spine order whose patient periop cannot assess (a required input such as the
/// age could not be read): it says what is missing; nothing is predicted or recorded.
fn not_assessed(fields: &[String], problems: &[String], basis: &[String]) -> Card {
    let mut detail = String::from(
        "**periop could not assess this patient.** A required input could not be read from the record:\n\n",
    );
    for field in fields {
        detail.push_str(&format!("- {field}\n"));
    }
    if !problems.is_empty() {
        detail.push_str("\n**Record data not used, and why**\n\n");
        for p in problems {
            detail.push_str(&format!("- {p}\n"));
        }
    }
    if !basis.is_empty() {
        detail.push_str(&format!("\nResources read: {}.\n", basis.join(", ")));
    }
    Card {
        uuid: uuid::Uuid::new_v4().to_string(),
        summary: "Spine surgery risk not assessed: a required input (age, sex or procedure) is missing from the record."
            .to_string(),
        detail,
        indicator: "info".to_string(),
        source: Source {
            label: "periop risk models".to_string(),
            url: None,
            topic: None,
        },
        suggestions: Vec::new(),
        selection_behavior: None,
        override_reasons: Vec::new(),
        links: Vec::new(),
    }
}

/// The JSON of a hook response.
pub fn response_json(response: &CardsResponse) -> Value {
    serde_json::to_value(response).unwrap_or_else(|_| json!({"cards": []}))
}
