//! The FHIR R4 data types the output resources are built from (Coding, CodeableConcept,
//! Reference, Annotation, Quantity, Narrative, the AIAST security label) and the deterministic
//! `urn:uuid:` of each Bundle entry. Every builder leaves out what has no value, so no output
//! ever carries `null`, `""`, `[]` or `{}` (FHIR JSON forbids them, ele-1).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// HL7 v3 ObservationValue: the `AIAST` ("Artificial Intelligence asserted") security label.
pub const OBSERVATION_VALUE: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
/// UCUM, the unit system of every Quantity.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// Namespace of the name-based entry ids (a fixed random UUID, so ids never collide with
/// another producer's name-based ids for the same names).
const ENTRY_NAMESPACE: &str = "8f0c5c55-2f4b-4b7e-9a43-1d0e6f3a7c21";

/// `urn:uuid:` of one Bundle entry, a pure function of the assessment id and the entry's key
/// (`RiskAssessment/dvt`, `Device`, ...), so the same stored answer always gives the same Bundle.
/// A name-based UUIDv8 over SHA-256 (RFC 9562 §5.8 and its Appendix B.2 example): the `uuid`
/// crate's v5 (SHA-1) needs a feature this crate does not build, and `sha2` is already here.
pub fn entry_uuid(assessment_id: &str, key: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(ENTRY_NAMESPACE.as_bytes());
    hash.update([0]);
    hash.update(assessment_id.as_bytes());
    hash.update([0]);
    hash.update(key.as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A JSON object from `(key, value)` pairs, leaving out every `None`.
pub fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    Value::Object(map)
}

/// A string value, `None` when empty (or only whitespace).
pub fn text(s: &str) -> Option<Value> {
    let t = s.trim();
    (!t.is_empty()).then(|| Value::String(t.to_string()))
}

/// A JSON array, `None` when empty.
pub fn array(items: Vec<Value>) -> Option<Value> {
    (!items.is_empty()).then_some(Value::Array(items))
}

/// A FHIR decimal, `None` for a non-finite number (JSON cannot hold it).
pub fn decimal(x: f64) -> Option<Value> {
    serde_json::Number::from_f64(x).map(Value::Number)
}

/// A Coding; `version` and `display` are left out when empty.
pub fn coding(system: &str, code: &str, display: Option<&str>, version: Option<&str>) -> Value {
    object(vec![
        ("system", text(system)),
        ("version", version.and_then(text)),
        ("code", text(code)),
        ("display", display.and_then(text)),
    ])
}

/// A CodeableConcept of one coding and, when given, a text.
pub fn concept(coding: Value, label: Option<&str>) -> Value {
    object(vec![
        ("coding", Some(json!([coding]))),
        ("text", label.and_then(text)),
    ])
}

/// A Reference; `None` when it would be empty.
pub fn reference(target: Option<&str>, display: Option<&str>) -> Option<Value> {
    let value = object(vec![
        ("reference", target.and_then(text)),
        ("display", display.and_then(text)),
    ]);
    value
        .as_object()
        .is_some_and(|m| !m.is_empty())
        .then_some(value)
}

/// Annotations (`note`) from texts, skipping empty ones.
pub fn notes<I: IntoIterator<Item = String>>(texts: I) -> Option<Value> {
    array(
        texts
            .into_iter()
            .filter_map(|t| text(&t))
            .map(|t| json!({ "text": t }))
            .collect(),
    )
}

/// A UCUM Quantity (`unit` is also the UCUM code).
pub fn quantity(value: f64, unit: &str) -> Option<Value> {
    Some(json!({ "value": decimal(value)?, "unit": unit, "system": UCUM, "code": unit }))
}

/// `meta` carrying the AIAST security label (HL7 AI Transparency on FHIR, "Tagging").
pub fn ai_asserted_meta() -> Value {
    json!({ "security": [ai_asserted()] })
}

/// The AIAST Coding.
pub fn ai_asserted() -> Value {
    coding(
        OBSERVATION_VALUE,
        "AIAST",
        Some("Artificial Intelligence asserted"),
        None,
    )
}

/// A generated XHTML narrative of one heading and a few lines (dom-6: a resource should have
/// narrative; txt-1: only basic XHTML; txt-2: some non-whitespace content).
pub fn narrative(heading: &str, lines: &[String]) -> Value {
    let mut div = format!(
        "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>{}</b></p>",
        escape(heading)
    );
    let lines: Vec<&String> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
    if !lines.is_empty() {
        div.push_str("<ul>");
        for line in lines {
            div.push_str(&format!("<li>{}</li>", escape(line)));
        }
        div.push_str("</ul>");
    }
    div.push_str("</div>");
    json!({ "status": "generated", "div": div })
}

/// Escapes text for XHTML element content.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The resource type of a literal reference (`Observation/hb-1`,
/// `https://ehr.example.org/fhir/Observation/hb-1/_history/2`), `None` for a `urn:` or a
/// fragment reference, whose type the reference itself does not say.
pub fn reference_type(reference: &str) -> Option<&str> {
    if reference.starts_with("urn:") || reference.starts_with('#') {
        return None;
    }
    let path = reference.split(['?', '#']).next().unwrap_or(reference);
    let path = match path.find("/_history/") {
        Some(i) => &path[..i],
        None => path,
    };
    let mut segments = path.rsplit('/');
    let _id = segments.next().filter(|s| !s.is_empty())?;
    let kind = segments.next()?;
    let mut chars = kind.chars();
    (chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphabetic()))
        .then_some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_uuids_are_deterministic_version_8_and_distinct_per_key() {
        let a = entry_uuid("5b1f7a2e-9c0d-4f4e-8a43-2f1c0b6d9e11", "RiskAssessment/dvt");
        assert_eq!(
            a,
            entry_uuid("5b1f7a2e-9c0d-4f4e-8a43-2f1c0b6d9e11", "RiskAssessment/dvt")
        );
        let parsed = uuid::Uuid::parse_str(&a).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 8);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(
            a,
            entry_uuid(
                "5b1f7a2e-9c0d-4f4e-8a43-2f1c0b6d9e11",
                "RiskAssessment/delirium"
            )
        );
        assert_ne!(
            a,
            entry_uuid("5b1f7a2e-9c0d-4f4e-8a43-2f1c0b6d9e12", "RiskAssessment/dvt")
        );
    }

    #[test]
    fn builders_leave_out_empty_values() {
        assert_eq!(
            coding("http://x", "c", Some(""), Some("  ")),
            json!({"system": "http://x", "code": "c"})
        );
        assert_eq!(reference(Some(""), None), None);
        assert_eq!(
            reference(None, Some("Patient")),
            Some(json!({"display": "Patient"}))
        );
        assert_eq!(notes(vec![String::new(), " ".to_string()]), None);
        assert_eq!(decimal(f64::NAN), None);
        assert_eq!(quantity(f64::INFINITY, "mL"), None);
    }

    #[test]
    fn narrative_escapes_markup() {
        let n = narrative("a < b & c", &["x > y".to_string(), String::new()]);
        let div = n["div"].as_str().expect("div");
        assert!(div.contains("a &lt; b &amp; c"), "{div}");
        assert!(div.contains("<li>x &gt; y</li>"), "{div}");
        assert_eq!(div.matches("<li>").count(), 1, "{div}");
    }

    #[test]
    fn reference_types_come_from_literal_references_only() {
        assert_eq!(reference_type("Observation/hb-1"), Some("Observation"));
        assert_eq!(
            reference_type("https://ehr.example.org/fhir/Observation/hb-1/_history/2"),
            Some("Observation")
        );
        assert_eq!(
            reference_type("ServiceRequest/sr-1"),
            Some("ServiceRequest")
        );
        assert_eq!(
            reference_type("urn:uuid:0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10"),
            None
        );
        assert_eq!(reference_type("#contained"), None);
        assert_eq!(reference_type("hb-1"), None);
        assert_eq!(reference_type("Observation/"), None);
    }
}
