//! CDS Hooks prefetch → [`FhirInputs`]: each key may be absent (not supplied), `null` (supplied,
//! no data), a resource, a searchset Bundle (entries match/include/outcome; a `next` link means
//! incomplete) or an OperationOutcome (the key failed: not supplied). `vitals` and `labs` both
//! feed observations; `medications` (MedicationRequest) and `medication_statements` feed
//! medications.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::inputs::{entry_resources, Category, FhirInError, FhirInputs, PrefetchKeys};
use super::problem::{InputProblem, ProblemKind};
use super::resource::{reference_of, resource_type, text};

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
    seen: HashSet<String>,
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
                    // The same resource under two keys (vitals and labs) is read once.
                    let fresh = reference_of(&r).is_none_or(|id| self.seen.insert(id));
                    if fresh {
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
