//! What the adapter was given, per category, read from CDS Hooks prefetch (plus the hook's
//! `draftOrders`) or from a posted FHIR Bundle.
//!
//! The distinction that matters downstream: a category **not supplied** (`None`: prefetch key
//! absent or failed) leaves its features missing; a category **supplied** (`Some`, possibly empty:
//! key present with `null`, an empty searchset, a "nil known" List) lets the absence of a
//! condition or medication mean "no". A category supplied only in part (a paginated Bundle) is
//! listed in [`FhirInputs::incomplete`]: what it holds counts, what it lacks means nothing.
//! Reading is in `prefetch` (CDS Hooks) and `bundle` (a posted Bundle).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::problem::InputProblem;
use super::resource::{resource_type, text};

/// Prefetch key of the Patient read.
pub const KEY_PATIENT: &str = "patient";
/// Prefetch key of the vital-sign Observation search.
pub const KEY_VITALS: &str = "vitals";
/// Prefetch key of the laboratory Observation search.
pub const KEY_LABS: &str = "labs";
/// Prefetch key of the Condition search.
pub const KEY_CONDITIONS: &str = "conditions";
/// Prefetch key of the MedicationRequest search.
pub const KEY_MEDICATIONS: &str = "medications";
/// Prefetch key of the MedicationStatement search.
pub const KEY_MEDICATION_STATEMENTS: &str = "medication_statements";
/// Prefetch key of the (prior) Procedure search.
pub const KEY_PROCEDURES: &str = "procedures";

/// `List.emptyReason` system, and the code saying "none known".
pub const LIST_EMPTY_REASON: &str = "http://terminology.hl7.org/CodeSystem/list-empty-reason";
pub const NIL_KNOWN: &str = "nilknown";
/// LOINC codes of the Lists that can say "none known": problem list, medication history.
pub(crate) const LOINC: &str = "http://loinc.org";
pub const PROBLEM_LIST: &str = "11450-4";
pub const MEDICATION_HISTORY: &str = "10160-0";

/// Bundle types accepted for a posted Bundle.
pub const BUNDLE_TYPES: &[&str] = &[
    "collection",
    "transaction",
    "batch",
    "searchset",
    "document",
];

/// An input category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Patient,
    Observations,
    Conditions,
    Medications,
    Procedures,
    Orders,
}

impl Category {
    /// The name used in problems (`conditions`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Observations => "observations",
            Self::Conditions => "conditions",
            Self::Medications => "medications",
            Self::Procedures => "procedures",
            Self::Orders => "orders",
        }
    }
}

/// What the adapter was given, per category. `None` = the category was not supplied at all
/// (a CDS Hooks prefetch key absent: features from it are missing); `Some(vec)` = supplied,
/// possibly empty (prefetch key present with `null`, or an empty searchset): absence of a
/// condition/medication then means "no" (false / "none").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FhirInputs {
    pub patient: Option<Value>,
    pub observations: Option<Vec<Value>>,
    pub conditions: Option<Vec<Value>>,
    /// MedicationRequest + MedicationStatement, plus any Medication resources they reference.
    pub medications: Option<Vec<Value>>,
    /// Prior Procedures.
    pub procedures: Option<Vec<Value>>,
    /// ServiceRequests (draft orders).
    pub orders: Vec<Value>,
    /// The Patient entry's `fullUrl` in a posted Bundle (references may use it).
    pub patient_full_url: Option<String>,
    /// Categories supplied only in part: findings count, absence means nothing.
    pub incomplete: Vec<Category>,
    /// Problems found while reading the inputs (paginated or failed prefetch keys).
    pub problems: Vec<InputProblem>,
}

/// The prefetch key names (the discovery document's `prefetch` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefetchKeys {
    pub patient: String,
    pub vitals: String,
    pub labs: String,
    pub conditions: String,
    pub medications: String,
    pub medication_statements: String,
    pub procedures: String,
}

impl Default for PrefetchKeys {
    fn default() -> Self {
        Self {
            patient: KEY_PATIENT.to_string(),
            vitals: KEY_VITALS.to_string(),
            labs: KEY_LABS.to_string(),
            conditions: KEY_CONDITIONS.to_string(),
            medications: KEY_MEDICATIONS.to_string(),
            medication_statements: KEY_MEDICATION_STATEMENTS.to_string(),
            procedures: KEY_PROCEDURES.to_string(),
        }
    }
}

/// A structurally unusable input; the path names the member (`prefetch.labs.entry[2].resource`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FhirInError {
    #[error("{path}: expected {expected}")]
    Malformed {
        path: String,
        expected: &'static str,
    },
    #[error("{path}: resourceType {found:?} where {expected} was expected")]
    UnexpectedResource {
        path: String,
        found: String,
        expected: &'static str,
    },
    #[error("{path}: Bundle.type {found:?} is not one of collection, transaction, batch, searchset, document")]
    BundleType { path: String, found: String },
    #[error("{path}: a second Patient; one patient per request")]
    SecondPatient { path: String },
}

impl FhirInError {
    /// The member the error is about, relative to the input read (`entry[3].resource`).
    pub fn path(&self) -> &str {
        match self {
            Self::Malformed { path, .. }
            | Self::UnexpectedResource { path, .. }
            | Self::BundleType { path, .. }
            | Self::SecondPatient { path } => path,
        }
    }
}

/// A Bundle entry's resource: its path, the resource, the entry's `fullUrl`.
pub(super) type Entry<'a> = (String, &'a Value, Option<&'a str>);

/// The resources of a Bundle's entries.
pub(super) fn entry_resources<'a>(
    path: &str,
    bundle: &'a Value,
) -> Result<Vec<Entry<'a>>, FhirInError> {
    let Some(entries) = bundle.get("entry") else {
        return Ok(Vec::new());
    };
    let at = |member: String| {
        if path.is_empty() {
            member
        } else {
            format!("{path}.{member}")
        }
    };
    let entries = entries.as_array().ok_or_else(|| FhirInError::Malformed {
        path: at("entry".to_string()),
        expected: "an array",
    })?;
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let p = at(format!("entry[{i}]"));
        let resource = entry
            .get("resource")
            .filter(|r| r.is_object())
            .ok_or_else(|| FhirInError::Malformed {
                path: format!("{p}.resource"),
                expected: "a resource object",
            })?;
        if resource_type(resource).is_none() {
            return Err(FhirInError::Malformed {
                path: format!("{p}.resource.resourceType"),
                expected: "a string",
            });
        }
        out.push((format!("{p}.resource"), resource, text(entry, "fullUrl")));
    }
    Ok(out)
}
