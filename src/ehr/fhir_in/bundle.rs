//! A posted FHIR Bundle → [`FhirInputs`]. A category is supplied when a resource of it is
//! present, or when a `List` says none are known (`emptyReason` nilknown, LOINC 11450-4 problem
//! list or 10160-0 medication history). Resource types the adapter does not read are ignored.

use serde_json::Value;

use super::inputs::{
    entry_resources, FhirInError, FhirInputs, BUNDLE_TYPES, LIST_EMPTY_REASON, LOINC,
    MEDICATION_HISTORY, NIL_KNOWN, PROBLEM_LIST,
};
use super::resource::{has_coding, resource_type, text};

impl FhirInputs {
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
