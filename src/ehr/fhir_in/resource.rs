//! Small readers over FHIR R4 JSON (`serde_json::Value`): resource type and reference, codings of
//! a CodeableConcept, status codes, and whether a `subject` is the patient being assessed.
//!
//! Resources are read as JSON rather than typed models: only a handful of elements matter, and an
//! unexpected element elsewhere in a resource must not make the whole request fail.

use serde_json::Value;

/// A member as a string.
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `resourceType`.
pub(crate) fn resource_type(r: &Value) -> Option<&str> {
    text(r, "resourceType")
}

/// `Type/id`, when the resource has an id.
pub(crate) fn reference_of(r: &Value) -> Option<String> {
    Some(format!("{}/{}", resource_type(r)?, text(r, "id")?))
}

/// `Type/id`, or `Type (no id)` for display when there is none.
pub(crate) fn display_reference(r: &Value) -> String {
    reference_of(r).unwrap_or_else(|| format!("{} (no id)", resource_type(r).unwrap_or("resource")))
}

/// One coding of a CodeableConcept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Coding<'a> {
    pub system: &'a str,
    pub code: &'a str,
    pub display: Option<&'a str>,
}

/// The codings (with both system and code) of a CodeableConcept.
pub(crate) fn codings(concept: Option<&Value>) -> Vec<Coding<'_>> {
    let Some(list) = concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|c| {
            Some(Coding {
                system: text(c, "system")?,
                code: text(c, "code")?,
                display: text(c, "display"),
            })
        })
        .collect()
}

fn system_label(system: &str) -> &str {
    match system {
        "http://hl7.org/fhir/sid/icd-10-cm" => "ICD-10-CM",
        "http://snomed.info/sct" => "SNOMED CT",
        "http://www.nlm.nih.gov/research/umls/rxnorm" => "RxNorm",
        "http://loinc.org" => "LOINC",
        "http://www.ama-assn.org/go/cpt" => "CPT",
        other => other,
    }
}

/// `ICD-10-CM Z86.718 (Personal history of …)`.
pub(crate) fn describe(c: &Coding<'_>) -> String {
    match c.display {
        Some(d) => format!("{} {} ({d})", system_label(c.system), c.code),
        None => format!("{} {}", system_label(c.system), c.code),
    }
}

/// The first code of a status CodeableConcept (`clinicalStatus`, `verificationStatus`).
pub(crate) fn concept_code<'a>(r: &'a Value, key: &str) -> Option<&'a str> {
    r.get(key)?
        .get("coding")?
        .as_array()?
        .iter()
        .find_map(|c| text(c, "code"))
}

/// `true` when a CodeableConcept has the coding `system|code`.
pub(crate) fn has_coding(concept: Option<&Value>, system: &str, code: &str) -> bool {
    codings(concept)
        .iter()
        .any(|c| c.system == system && c.code == code)
}

/// Who the patient being assessed is, as far as the inputs say.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PatientIdentity {
    pub id: Option<String>,
    pub full_url: Option<String>,
}

/// Whether a resource's subject is the patient.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Subject {
    Ours,
    /// Another patient (the reference as written).
    Other(String),
    /// Cannot tell (no subject reference, or no known patient).
    Unknown,
}

impl PatientIdentity {
    /// `Subject` of `r.subject.reference`.
    pub fn check(&self, r: &Value) -> Subject {
        let Some(reference) = r.get("subject").and_then(|s| text(s, "reference")) else {
            return Subject::Unknown;
        };
        if self.full_url.as_deref() == Some(reference) {
            return Subject::Ours;
        }
        // Drop a version: `Patient/p/_history/2`.
        let base = reference
            .split_once("/_history/")
            .map_or(reference, |(b, _)| b);
        if let Some(at) = base.rfind("Patient/") {
            if at == 0 || base[..at].ends_with('/') {
                let id = &base[at + "Patient/".len()..];
                return match &self.id {
                    Some(ours) if ours == id => Subject::Ours,
                    Some(_) => Subject::Other(reference.to_string()),
                    None => Subject::Unknown,
                };
            }
        }
        if base.starts_with("urn:") {
            return match self.full_url {
                Some(_) => Subject::Other(reference.to_string()),
                None => Subject::Unknown,
            };
        }
        // Group/…, Device/…: not a patient at all.
        if self.id.is_some() || self.full_url.is_some() {
            Subject::Other(reference.to_string())
        } else {
            Subject::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subject_references_are_matched_by_id_absolute_url_version_and_full_url() {
        let ours = PatientIdentity {
            id: Some("pat-42".to_string()),
            full_url: Some("urn:uuid:1".to_string()),
        };
        let with = |r: &str| json!({"subject": {"reference": r}});
        assert_eq!(ours.check(&with("Patient/pat-42")), Subject::Ours);
        assert_eq!(
            ours.check(&with("https://ehr.example.org/fhir/Patient/pat-42")),
            Subject::Ours
        );
        assert_eq!(
            ours.check(&with("Patient/pat-42/_history/3")),
            Subject::Ours
        );
        assert_eq!(ours.check(&with("urn:uuid:1")), Subject::Ours);
        assert_eq!(
            ours.check(&with("Patient/pat-43")),
            Subject::Other("Patient/pat-43".to_string())
        );
        assert_eq!(
            ours.check(&with("urn:uuid:2")),
            Subject::Other("urn:uuid:2".to_string())
        );
        assert_eq!(ours.check(&json!({})), Subject::Unknown);
        let unknown = PatientIdentity::default();
        assert_eq!(unknown.check(&with("Patient/x")), Subject::Unknown);
    }

    #[test]
    fn codings_skip_entries_without_system_or_code() {
        let cc = json!({"coding": [
            {"system": "http://loinc.org", "code": "718-7", "display": "Hb"},
            {"code": "no-system"},
            {"system": "http://snomed.info/sct"}
        ], "text": "Hb"});
        let c = codings(Some(&cc));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].code, "718-7");
        assert_eq!(c[0].display, Some("Hb"));
        assert!(codings(None).is_empty());
    }
}
