//! Validating real response bodies against the checked-in OpenAPI document
//! (`openapi/openapi.json`): the operation's response schema for a status, with every `$ref`
//! resolved against the document's `components`, checked as JSON Schema 2020-12 (the dialect of
//! OpenAPI 3.1). Shared by `tests/openapi.rs` and `tests/api.rs`.

use serde_json::{json, Value};

/// The checked-in OpenAPI document.
pub fn openapi_document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let text = std::fs::read_to_string(path).expect("openapi/openapi.json is readable");
    serde_json::from_str(&text).expect("openapi/openapi.json is JSON")
}

/// Asserts that `body` conforms to the JSON schema that `spec` documents for `method` on the
/// path template `path` (e.g. `/v1/assessments/{id}`) answering `status`. The response's JSON
/// content type is used: `application/fhir+json` for a FHIR resource (a body with a
/// `resourceType`), else `application/json` or `application/problem+json`.
///
/// # Panics
/// When the operation, the status or a JSON schema is not documented, or the body does not conform
/// (the message lists every violation with its location).
pub fn assert_conforms(spec: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let operation = &spec["paths"][path][method.to_ascii_lowercase()];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = &operation["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} does not document status {status}"
    );
    let fhir = body.get("resourceType").is_some_and(Value::is_string);
    let schema = response["content"]
        .as_object()
        .and_then(|content| {
            content.iter().find(|(ct, _)| {
                let json = ct.starts_with("application/") && ct.ends_with("json");
                json && (*ct == "application/fhir+json") == fhir
            })
        })
        .map(|(_, media)| media["schema"].clone())
        .unwrap_or_else(|| {
            panic!("{method} {path} {status} documents no JSON body of this kind (FHIR: {fhir})")
        });
    // `$ref`s are `#/components/...`: make the document's components part of the root resource.
    let mut root = json!({"components": spec["components"].clone()});
    match schema {
        Value::Object(fields) => {
            for (k, v) in fields {
                root[k] = v;
            }
        }
        other => panic!("{method} {path} {status}: schema is not an object: {other}"),
    }
    let validator = jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: invalid schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: the body does not conform to openapi/openapi.json:\n{}\nbody: {body}",
        errors.join("\n")
    );
}
