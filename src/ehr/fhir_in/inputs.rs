//! What the adapter was given, per category, read from CDS Hooks prefetch (plus the hook's
//! `draftOrders`) or from a posted FHIR Bundle.
//!
//! The distinction that matters downstream: a category **not supplied** (`None`: prefetch key
//! absent or failed) leaves its features missing; a category **supplied** (`Some`, possibly empty:
//! key present with `null`, an empty searchset, a "nil known" List) lets the absence of a
//! condition or medication mean "no". A category supplied only in part (a paginated Bundle) is
//! listed in [`FhirInputs::incomplete`]: what it holds counts, what it lacks means nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::problem::{InputProblem, ProblemKind};
use super::resource::{has_coding, reference_of, resource_type, text};

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
pub const LOINC: &str = "http://loinc.org";
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

/// What one prefetch key held.
enum KeyValue {
    /// Not sent.
    Absent,
    /// An OperationOutcome (whole value or entry): treated as not supplied.
    Failed,
    Supplied {
        resources: Vec<Value>,
        incomplete: bool,
    },
}

/// A Bundle entry's resource: its path, the resource, the entry's `fullUrl`.
type Entry<'a> = (String, &'a Value, Option<&'a str>);

/// The resources of a Bundle's entries.
fn entry_resources<'a>(path: &str, bundle: &'a Value) -> Result<Vec<Entry<'a>>, FhirInError> {
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

/// An OperationOutcome reporting a failure (any issue fatal, error or warning).
fn is_failure(outcome: &Value) -> bool {
    outcome
        .get("issue")
        .and_then(Value::as_array)
        .is_none_or(|issues| {
            issues.is_empty()
                || issues.iter().any(|i| {
                    matches!(
                        text(i, "severity"),
                        Some("fatal" | "error" | "warning") | None
                    )
                })
        })
}

fn has_next_link(bundle: &Value) -> bool {
    bundle
        .get("link")
        .and_then(Value::as_array)
        .is_some_and(|links| links.iter().any(|l| text(l, "relation") == Some("next")))
}

/// Reads one prefetch key, collecting the resources of `types` (other types, such as included
/// Patients, are ignored).
fn read_key(
    prefetch: &Map<String, Value>,
    key: &str,
    types: &'static [&'static str],
    expected: &'static str,
) -> Result<KeyValue, FhirInError> {
    let path = format!("prefetch.{key}");
    let Some(value) = prefetch.get(key) else {
        return Ok(KeyValue::Absent);
    };
    if value.is_null() {
        return Ok(KeyValue::Supplied {
            resources: Vec::new(),
            incomplete: false,
        });
    }
    let found = resource_type(value).ok_or_else(|| FhirInError::Malformed {
        path: path.clone(),
        expected: "null, a resource, a Bundle or an OperationOutcome",
    })?;
    match found {
        "OperationOutcome" => Ok(KeyValue::Failed),
        "Bundle" => {
            let mut resources = Vec::new();
            for (_, r, _) in entry_resources(&path, value)? {
                match resource_type(r) {
                    Some("OperationOutcome") if is_failure(r) => return Ok(KeyValue::Failed),
                    Some(t) if types.contains(&t) => resources.push(r.clone()),
                    _ => {}
                }
            }
            Ok(KeyValue::Supplied {
                resources,
                incomplete: has_next_link(value),
            })
        }
        t if types.contains(&t) => Ok(KeyValue::Supplied {
            resources: vec![value.clone()],
            incomplete: false,
        }),
        other => Err(FhirInError::UnexpectedResource {
            path: format!("{path}.resourceType"),
            found: other.to_string(),
            expected,
        }),
    }
}

/// Merges the keys feeding one category.
#[derive(Default)]
struct Merge {
    resources: Vec<Value>,
    supplied: bool,
    partial: bool,
}

impl Merge {
    fn add(
        &mut self,
        key: &str,
        value: KeyValue,
        inputs: &mut FhirInputs,
        absent: &mut Vec<String>,
    ) {
        match value {
            KeyValue::Absent => absent.push(key.to_string()),
            KeyValue::Failed => {
                absent.push(key.to_string());
                self.partial = true;
                inputs.problems.push(InputProblem {
                    feature: key.to_string(),
                    reference: None,
                    kind: ProblemKind::PrefetchFailed {
                        key: key.to_string(),
                    },
                });
            }
            KeyValue::Supplied {
                resources,
                incomplete,
            } => {
                self.supplied = true;
                if incomplete {
                    self.partial = true;
                    inputs.problems.push(InputProblem {
                        feature: key.to_string(),
                        reference: None,
                        kind: ProblemKind::Incomplete {
                            key: key.to_string(),
                        },
                    });
                }
                for r in resources {
                    let duplicate = reference_of(&r).is_some_and(|id| {
                        self.resources
                            .iter()
                            .any(|o| reference_of(o).as_deref() == Some(id.as_str()))
                    });
                    if !duplicate {
                        self.resources.push(r);
                    }
                }
            }
        }
    }

    /// `Some` when any key supplied it; incomplete when a key was paginated or failed.
    fn finish(self, category: Category, inputs: &mut FhirInputs) -> Option<Vec<Value>> {
        if !self.supplied {
            return None;
        }
        if self.partial {
            inputs.incomplete.push(category);
        }
        Some(self.resources)
    }
}

impl FhirInputs {
    /// Reads CDS Hooks prefetch and the hook's `draftOrders` Bundle. Returns the inputs and the
    /// keys not supplied (absent, or answered with an OperationOutcome).
    ///
    /// # Errors
    /// [`FhirInError`] naming the member when a value is not `null`, a resource, a Bundle or an
    /// OperationOutcome, holds the wrong resource type, or a Bundle is malformed.
    pub fn from_prefetch(
        prefetch: &Map<String, Value>,
        keys: &PrefetchKeys,
        draft_orders: Option<&Value>,
    ) -> Result<(FhirInputs, Vec<String>), FhirInError> {
        let mut inputs = FhirInputs::default();
        let mut absent = Vec::new();

        let mut patient = Merge::default();
        let value = read_key(prefetch, &keys.patient, &["Patient"], "Patient")?;
        patient.add(&keys.patient, value, &mut inputs, &mut absent);
        let mut patients = patient
            .finish(Category::Patient, &mut inputs)
            .unwrap_or_default();
        if patients.len() > 1 {
            return Err(FhirInError::SecondPatient {
                path: format!("prefetch.{}", keys.patient),
            });
        }
        inputs.patient = patients.pop();

        let categories: [(&[&String], &'static [&'static str], &'static str, Category); 4] = [
            (
                &[&keys.vitals, &keys.labs],
                &["Observation"],
                "Observation",
                Category::Observations,
            ),
            (
                &[&keys.conditions],
                &["Condition"],
                "Condition",
                Category::Conditions,
            ),
            (
                &[&keys.medications, &keys.medication_statements],
                &["MedicationRequest", "MedicationStatement", "Medication"],
                "MedicationRequest or MedicationStatement",
                Category::Medications,
            ),
            (
                &[&keys.procedures],
                &["Procedure"],
                "Procedure",
                Category::Procedures,
            ),
        ];
        for (category_keys, types, expected, category) in categories {
            let mut merge = Merge::default();
            for key in category_keys {
                let value = read_key(prefetch, key, types, expected)?;
                merge.add(key, value, &mut inputs, &mut absent);
            }
            let resources = merge.finish(category, &mut inputs);
            match category {
                Category::Observations => inputs.observations = resources,
                Category::Conditions => inputs.conditions = resources,
                Category::Medications => inputs.medications = resources,
                _ => inputs.procedures = resources,
            }
        }
        if let Some(orders) = draft_orders {
            inputs.orders = draft_service_requests(orders)?;
        }
        Ok((inputs, absent))
    }

    /// Reads a posted Bundle (collection, transaction, batch, searchset, document). A category
    /// is supplied when a resource of it is present, or when a `List` says none are known
    /// (`emptyReason` nilknown; LOINC 11450-4 problem list, 10160-0 medication history).
    ///
    /// # Errors
    /// [`FhirInError`] naming the entry (`entry[3].resource.resourceType`) for a malformed entry,
    /// a second Patient, or a Bundle type not accepted.
    pub fn from_bundle(bundle: &Value) -> Result<FhirInputs, FhirInError> {
        match resource_type(bundle) {
            Some("Bundle") => {}
            Some(other) => {
                return Err(FhirInError::UnexpectedResource {
                    path: "resourceType".to_string(),
                    found: other.to_string(),
                    expected: "Bundle",
                })
            }
            None => {
                return Err(FhirInError::Malformed {
                    path: "resourceType".to_string(),
                    expected: "\"Bundle\"",
                })
            }
        }
        let kind = text(bundle, "type").unwrap_or("");
        if !BUNDLE_TYPES.contains(&kind) {
            return Err(FhirInError::BundleType {
                path: "type".to_string(),
                found: kind.to_string(),
            });
        }
        let mut inputs = FhirInputs::default();
        let (mut obs, mut cond, mut meds, mut procs) = (vec![], vec![], vec![], vec![]);
        let (mut none_conditions, mut none_medications, mut any_med) = (false, false, false);
        for (path, r, full_url) in entry_resources("", bundle)? {
            match resource_type(r).unwrap_or("") {
                "Patient" => {
                    if inputs.patient.is_some() {
                        return Err(FhirInError::SecondPatient { path });
                    }
                    inputs.patient = Some(r.clone());
                    inputs.patient_full_url = full_url.map(str::to_string);
                }
                "Observation" => obs.push(r.clone()),
                "Condition" => cond.push(r.clone()),
                "MedicationRequest" | "MedicationStatement" => {
                    any_med = true;
                    meds.push(r.clone());
                }
                "Medication" => meds.push(r.clone()),
                "Procedure" => procs.push(r.clone()),
                "ServiceRequest" => inputs.orders.push(r.clone()),
                "List" if says_none_known(r) => {
                    let code = r.get("code");
                    none_conditions |= has_coding(code, LOINC, PROBLEM_LIST);
                    none_medications |= has_coding(code, LOINC, MEDICATION_HISTORY);
                }
                _ => {}
            }
        }
        let some = |v: Vec<Value>, nil_known: bool| (!v.is_empty() || nil_known).then_some(v);
        inputs.observations = some(obs, false);
        inputs.conditions = some(cond, none_conditions);
        inputs.medications = if any_med || none_medications {
            Some(meds)
        } else {
            None
        };
        inputs.procedures = some(procs, false);
        Ok(inputs)
    }
}

/// A List with no entries whose `emptyReason` is nilknown.
fn says_none_known(list: &Value) -> bool {
    let empty = list
        .get("entry")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    empty
        && text(list, "status") != Some("entered-in-error")
        && has_coding(list.get("emptyReason"), LIST_EMPTY_REASON, NIL_KNOWN)
}

/// The ServiceRequests of a hook's `draftOrders` Bundle (other order types are ignored).
fn draft_service_requests(orders: &Value) -> Result<Vec<Value>, FhirInError> {
    let path = "context.draftOrders";
    match resource_type(orders) {
        Some("Bundle") => {}
        Some(other) => {
            return Err(FhirInError::UnexpectedResource {
                path: format!("{path}.resourceType"),
                found: other.to_string(),
                expected: "Bundle",
            })
        }
        None => {
            return Err(FhirInError::Malformed {
                path: path.to_string(),
                expected: "a Bundle",
            })
        }
    }
    Ok(entry_resources(path, orders)?
        .into_iter()
        .filter(|(_, r, _)| resource_type(r) == Some("ServiceRequest"))
        .map(|(_, r, _)| r.clone())
        .collect())
}
