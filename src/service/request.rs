//! From what a caller sends to what the models need: the shape of an assessment request (its
//! members and their types), then clinical validation into a [`PatientJob`], done once per
//! patient whatever the surface (REST single or batch, `periop score`, rules evaluation, and the
//! EHR adapters to come).

use serde_json::{Map, Value};

use super::error::ServiceError;
use super::prepared::PreparedPatient;
use super::provenance::{Origin, OriginRequest};
use super::types::AssessmentRequest;
use crate::features::{Constraint, FieldError, Patient};
use crate::outcomes::Outcome;

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

/// The members of an assessment request.
pub const REQUEST_MEMBERS: &[&str] = &[
    "patient",
    "outcomes",
    "explain",
    "missing_input_ranges",
    "site",
    "patient_reference",
    "encounter_reference",
    "surgery_date",
];

/// One validated patient to predict, with the outcomes asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientJob {
    pub prepared: PreparedPatient,
    /// Requested outcomes, in [`Outcome::ALL`] order, without duplicates.
    pub outcomes: Vec<Outcome>,
    pub explain: bool,
    /// Compute the missing-input ranges (`service::sharpen`).
    pub missing_input_ranges: bool,
    /// Where the assessment comes from, checked (`service::provenance`; none by default). Boxed:
    /// rarely set, and a job is carried by value through the adapters.
    pub origin: Box<Origin>,
}

impl PatientJob {
    /// A job for a patient validated elsewhere (a CSV row, an EHR adapter).
    pub fn new(patient: Patient, outcomes: Vec<Outcome>, explain: bool) -> Self {
        Self {
            prepared: PreparedPatient::new(patient),
            outcomes,
            explain,
            missing_input_ranges: false,
            origin: Box::default(),
        }
    }

    /// The same job, made for `origin`.
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = Box::new(origin);
        self
    }

    /// The same job, asking for the missing-input ranges or not.
    pub fn with_missing_input_ranges(mut self, wanted: bool) -> Self {
        self.missing_input_ranges = wanted;
        self
    }

    /// The validated patient.
    pub fn patient(&self) -> &Patient {
        &self.prepared.patient
    }
}

fn problem(field: &str, constraint: Constraint) -> FieldError {
    FieldError {
        field: field.to_string(),
        constraint,
    }
}

/// Checks a request body's shape (members and their types) before the clinical validation.
///
/// # Errors
/// [`ServiceError::Invalid`] listing every problem: not an object, unknown members, a missing
/// or non-object `patient`, non-string outcome ids, a non-boolean `explain`.
pub fn parse_request(body: &Value) -> Result<AssessmentRequest, ServiceError> {
    let Some(object) = body.as_object() else {
        return Err(ServiceError::Invalid(vec![problem(
            "",
            Constraint::WrongType {
                expected: "a JSON object",
            },
        )]));
    };
    let mut errors = Vec::new();
    for key in object.keys() {
        if !REQUEST_MEMBERS.contains(&key.as_str()) {
            errors.push(problem(
                key,
                Constraint::UnknownMember {
                    allowed: REQUEST_MEMBERS,
                },
            ));
        }
    }
    let patient: Option<Map<String, Value>> = match object.get("patient") {
        Some(Value::Object(p)) => Some(p.clone()),
        Some(_) => {
            errors.push(problem(
                "patient",
                Constraint::WrongType {
                    expected: "an object of features",
                },
            ));
            None
        }
        None => {
            errors.push(problem("patient", Constraint::Required));
            None
        }
    };
    let outcomes = match object.get("outcomes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut ids = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) => ids.push(s.to_string()),
                    None => errors.push(problem(
                        &format!("outcomes[{i}]"),
                        Constraint::WrongType {
                            expected: "an outcome id string",
                        },
                    )),
                }
            }
            Some(ids)
        }
        Some(_) => {
            errors.push(problem(
                "outcomes",
                Constraint::WrongType {
                    expected: "an array of outcome ids",
                },
            ));
            None
        }
    };
    let mut flag = |name: &str, default: bool| match object.get(name) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(problem(
                name,
                Constraint::WrongType {
                    expected: "a boolean",
                },
            ));
            default
        }
    };
    let explain = flag("explain", true);
    let missing_input_ranges = flag("missing_input_ranges", false);
    let mut text = |name: &str| match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(problem(
                name,
                Constraint::WrongType {
                    expected: if name == "surgery_date" {
                        "a date YYYY-MM-DD"
                    } else {
                        "a string"
                    },
                },
            ));
            None
        }
    };
    let origin = OriginRequest {
        site: text("site"),
        patient_reference: text("patient_reference"),
        encounter_reference: text("encounter_reference"),
        surgery_date: text("surgery_date"),
    };
    match patient {
        Some(patient) if errors.is_empty() => Ok(AssessmentRequest {
            patient,
            outcomes,
            explain,
            missing_input_ranges,
            origin,
        }),
        _ => Err(ServiceError::Invalid(errors)),
    }
}

/// Validates a request once: every patient field problem and every bad outcome id; the valid
/// patient is prepared (derived features and model row computed once).
///
/// # Errors
/// [`ServiceError::Invalid`] listing every problem.
pub fn validate(request: &AssessmentRequest) -> Result<PatientJob, ServiceError> {
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
        Some(ids) => requested_outcomes(ids, &mut errors),
    };
    match patient {
        Some(patient) if errors.is_empty() => {
            Ok(PatientJob::new(patient, outcomes, request.explain)
                .with_missing_input_ranges(request.missing_input_ranges))
        }
        _ => Err(ServiceError::Invalid(errors)),
    }
}

/// The requested outcomes in [`Outcome::ALL`] order; unknown and duplicate ids are reported.
fn requested_outcomes(ids: &[String], errors: &mut Vec<FieldError>) -> Vec<Outcome> {
    let mut seen: Vec<(Outcome, usize)> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match Outcome::from_id(id) {
            None => errors.push(problem(
                &format!("outcomes[{i}]"),
                Constraint::UnknownLevel {
                    allowed: OUTCOME_IDS,
                },
            )),
            Some(o) => match seen.iter().find(|(s, _)| *s == o) {
                Some((_, first)) => errors.push(problem(
                    &format!("outcomes[{i}]"),
                    Constraint::Contradiction {
                        detail: format!("duplicate of outcomes[{first}]"),
                    },
                )),
                None => seen.push((o, i)),
            },
        }
    }
    Outcome::ALL
        .into_iter()
        .filter(|o| seen.iter().any(|(s, _)| s == o))
        .collect()
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
    fn every_shape_problem_is_reported_at_once() {
        let body = serde_json::json!({"patient": 3, "outcomes": [1], "explain": "yes", "x": 1});
        let Err(ServiceError::Invalid(errors)) = parse_request(&body) else {
            panic!("accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["x", "patient", "outcomes[0]", "explain"]);
    }
}
