//! The CDS services periop offers (`GET /cds-services`): one per hook (`order-select`,
//! `order-sign`, `appointment-book`, `patient-view`), all with the same prefetch templates, built
//! from the model set's FHIR mapping so every LOINC code the models use is asked for
//! (`cds-hooks-fhir.md` §1.2). Order hooks find the planned surgery in `draftOrders`; the
//! appointment and chart hooks in the patient's active or draft spine `ServiceRequest`s
//! (prefetch key `planned_surgery`).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::types::{Discovery, Service};
use crate::ehr::fhir_in::{
    KEY_CONDITIONS, KEY_LABS, KEY_MEDICATIONS, KEY_MEDICATION_STATEMENTS, KEY_PATIENT,
    KEY_PROCEDURES, KEY_VITALS,
};
use crate::ehr::mapping::FhirMapping;

/// Prefetch key of the planned spine surgery for hooks without draft orders.
pub const KEY_PLANNED_SURGERY: &str = "planned_surgery";

/// The hooks periop serves, with their service ids.
pub const SERVICES: &[(&str, &str)] = &[
    ("order-select", "periop-spine-risk-order-select"),
    ("order-sign", "periop-spine-risk-order-sign"),
    ("appointment-book", "periop-spine-risk-appointment-book"),
    ("patient-view", "periop-spine-risk-patient-view"),
];

/// The hook a service id answers.
pub fn hook_of(service_id: &str) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|(_, id)| *id == service_id)
        .map(|(hook, _)| *hook)
}

/// `true` for hooks whose context carries `draftOrders`.
pub fn has_draft_orders(hook: &str) -> bool {
    matches!(hook, "order-select" | "order-sign")
}

/// `system|code` of every analyte code, split into vital signs (preliminary accepted) and the
/// rest, in mapping order.
fn observation_codes(mapping: &FhirMapping) -> (Vec<String>, Vec<String>) {
    let (mut vitals, mut others) = (Vec::new(), Vec::new());
    for analyte in &mapping.analytes {
        for code in &analyte.codes {
            let Some(value) = &code.code else { continue };
            let system = mapping
                .systems
                .get(&code.system)
                .map_or(code.system.as_str(), |s| s.url.as_str());
            let token = format!("{system}|{value}");
            let list = if analyte.accept_preliminary {
                &mut vitals
            } else {
                &mut others
            };
            if !list.contains(&token) {
                list.push(token);
            }
        }
    }
    (vitals, others)
}

/// The prefetch templates of one hook.
pub fn prefetch(hook: &str, mapping: &FhirMapping) -> BTreeMap<String, String> {
    let patient = "{{context.patientId}}";
    let (vitals, others) = observation_codes(mapping);
    let mut templates = BTreeMap::from([
        (KEY_PATIENT.to_string(), format!("Patient/{patient}")),
        (
            KEY_VITALS.to_string(),
            format!(
                "Observation?patient={patient}&category=vital-signs&code={}&_sort=-date&_count=100",
                vitals.join(",")
            ),
        ),
        (
            KEY_LABS.to_string(),
            format!(
                "Observation?patient={patient}&code={}&_sort=-date&_count=300",
                others.join(",")
            ),
        ),
        (
            KEY_CONDITIONS.to_string(),
            format!("Condition?patient={patient}"),
        ),
        (
            KEY_MEDICATIONS.to_string(),
            format!("MedicationRequest?patient={patient}&status=active,on-hold"),
        ),
        (
            KEY_MEDICATION_STATEMENTS.to_string(),
            format!("MedicationStatement?patient={patient}&status=active,on-hold"),
        ),
        (
            KEY_PROCEDURES.to_string(),
            format!("Procedure?patient={patient}&status=completed"),
        ),
    ]);
    if !has_draft_orders(hook) {
        templates.insert(
            KEY_PLANNED_SURGERY.to_string(),
            format!("ServiceRequest?patient={patient}&status=active,draft"),
        );
    }
    templates
}

/// The discovery document.
pub fn discovery(mapping: &FhirMapping, model_set_version: &str) -> Discovery {
    let services = SERVICES
        .iter()
        .map(|(hook, id)| {
            let mut extension = Map::new();
            extension.insert("org.periop.modelSetVersion".into(), json!(model_set_version));
            extension.insert("org.periop.fhirMappingVersion".into(), json!(mapping.version));
            Service {
                hook: (*hook).to_string(),
                id: (*id).to_string(),
                title: "Spine surgery peri-operative risk".to_string(),
                description: format!(
                    "Predicts blood loss, screw loosening, CSF leak, DVT, delirium, length of stay, \
                     discharge, readmission and ODI outcome for a planned spine surgery ({hook}), \
                     with exact explanations and suggested orders."
                ),
                prefetch: prefetch(hook, mapping),
                usage_requirements: "Adults (18 y or older) with a planned spine surgery order \
                     (CPT or SNOMED CT). Estimates are less certain without recent labs; missing \
                     inputs are listed on the card, never imputed."
                    .to_string(),
                extension,
            }
        })
        .collect();
    Discovery { services }
}

/// Replaces the `{{context.x}}` tokens of a template with URL-encoded context values; `None`
/// when a token has no primitive value in the context.
pub fn fill_template(template: &str, context: &Map<String, Value>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}")? + start;
        let token = rest[start + 2..end].trim();
        let field = token.strip_prefix("context.")?;
        let value = match context.get(field)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        out.extend(url_encode(&value));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_encode(value: &str) -> impl Iterator<Item = String> + '_ {
    value.bytes().map(|b| {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            (b as char).to_string()
        } else {
            format!("%{b:02X}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> FhirMapping {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/default/ehr/fhir-mapping.json"
        );
        FhirMapping::from_json(&std::fs::read(path).expect("mapping")).expect("valid")
    }

    #[test]
    fn every_hook_has_a_service_and_the_templates_ask_for_every_model_code() {
        let d = discovery(&mapping(), "0.1.0+x");
        assert_eq!(d.services.len(), 4);
        let order = &d.services[0];
        assert!(order.prefetch["labs"].contains("http://loinc.org|718-7"));
        assert!(order.prefetch["vitals"].contains("http://loinc.org|29463-7"));
        assert!(!order.prefetch.contains_key(KEY_PLANNED_SURGERY));
        assert!(d.services[3].prefetch.contains_key(KEY_PLANNED_SURGERY));
        assert_eq!(hook_of("periop-spine-risk-order-sign"), Some("order-sign"));
    }

    #[test]
    fn templates_are_filled_from_the_context_and_encoded() {
        let context = json!({"patientId": "pat 42", "userId": "Practitioner/1"});
        let context = context.as_object().expect("object");
        assert_eq!(
            fill_template("Condition?patient={{context.patientId}}", context).as_deref(),
            Some("Condition?patient=pat%2042")
        );
        assert_eq!(fill_template("X?e={{context.encounterId}}", context), None);
    }
}
