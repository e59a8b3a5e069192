//! The OpenAPI document: drift (the generated document equals the checked-in
//! `openapi/openapi.json`), docs (every operation has a summary, a description and examples; every
//! error response is a documented `Problem`; every DTO property is described), surface (the
//! operation count is pinned) and conformance of real responses from a server on loopback,
//! including `/openapi.json` and the offline `/docs` page.
//!
//! `UPDATE_OPENAPI=1 cargo test --release --test openapi` rewrites the checked-in file.

#[path = "support/conform.rs"]
mod conform;
#[path = "support/server.rs"]
mod server;

use serde_json::{json, Value};
use server::{key, TestApp};

use conform::{assert_conforms, openapi_document};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

/// Operations in the document: a new endpoint is a deliberate, reviewed change.
const EXPECTED_OPERATIONS: usize = 33;

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&periop::api::openapi::document())
        .expect("the document serialises");
    text.push('\n');
    text
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if matches!(
                method.as_str(),
                "get" | "post" | "put" | "patch" | "delete" | "head" | "options"
            ) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn the_checked_in_document_matches_the_code() {
    let fresh = generated();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(FILE, &fresh).expect("write openapi/openapi.json");
        return;
    }
    let stored = std::fs::read_to_string(FILE).unwrap_or_default();
    if stored != fresh {
        let line = stored
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_string(), |i| format!("line {}", i + 1));
        panic!(
            "openapi/openapi.json is out of date with the code (first difference at {line}).\n\
             If the API change is intended, regenerate it with\n\
             \n    UPDATE_OPENAPI=1 cargo test --release --test openapi\n\n\
             and review the diff: a changed document is an API change."
        );
    }
}

#[test]
fn the_document_is_openapi_3_1_with_the_crate_version_and_bearer_auth() {
    let spec: Value = serde_json::from_str(&generated()).expect("json");
    assert!(spec["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    assert_eq!(spec["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for name in ["Problem", "FieldProblem", "Code"] {
        assert!(spec["components"]["schemas"][name].is_object(), "{name}");
    }
    let codes: Vec<&str> = spec["components"]["schemas"]["Code"]["enum"]
        .as_array()
        .expect("Code enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let expected: Vec<&str> = periop::api::error::Code::ALL
        .iter()
        .map(|c| c.describe().0)
        .collect();
    assert_eq!(codes, expected);
}

#[test]
fn every_operation_is_documented() {
    let spec: Value = serde_json::from_str(&generated()).expect("json");
    let ops = operations(&spec);
    assert_eq!(
        ops.len(),
        EXPECTED_OPERATIONS,
        "the API surface changed: update EXPECTED_OPERATIONS deliberately ({:?})",
        ops.iter()
            .map(|(p, m, _)| format!("{m} {p}"))
            .collect::<Vec<_>>()
    );
    let mut failures = Vec::new();
    for (path, method, op) in &ops {
        let at = format!("{method} {path}");
        if op["summary"].as_str().is_none_or(|s| s.trim().is_empty()) {
            failures.push(format!("{at}: no summary (first `///` line)"));
        }
        if op["description"]
            .as_str()
            .is_none_or(|s| s.trim().is_empty())
        {
            failures.push(format!("{at}: no description (`///` after a blank line)"));
        }
        if op["tags"].as_array().is_none_or(Vec::is_empty) {
            failures.push(format!("{at}: no tag"));
        }
        if op["security"].is_null() {
            failures.push(format!("{at}: security not stated"));
        }
        if let Some(content) = op["requestBody"]["content"].as_object() {
            for (ct, media) in content {
                if media["example"].is_null() && media["examples"].is_null() {
                    failures.push(format!("{at}: request body {ct} has no example"));
                }
            }
        }
        for (status, response) in op["responses"].as_object().expect("responses") {
            let code: u16 = status.parse().expect("numeric status");
            let content = response["content"].as_object();
            if content.is_none() {
                failures.push(format!("{at} {status}: no body documented"));
                continue;
            }
            for (ct, media) in content.into_iter().flatten() {
                if media["example"].is_null() && media["examples"].is_null() {
                    failures.push(format!("{at} {status} {ct}: no example"));
                }
            }
            // Readiness answers its own body with 503: load balancers read the status.
            // CDS Hooks answers its own errors with FHIR OperationOutcomes (CDS Hooks 3.0 asks
            // for them; the EHR, not a person, reads them): `application/fhir+json` only.
            let operation_outcome = path.starts_with("/cds-services")
                && response["content"]["application/fhir+json"].is_object();
            let exempt = (path == "/readyz" && code == 503) || operation_outcome;
            // FHIR input to the REST API (`POST /v1/assessments` with a Bundle) is answered with
            // OperationOutcomes beside the problems: every `application/fhir+json` error body
            // (CDS Hooks included) is the `OperationOutcomeDto` schema, and every example of it is an
            // OperationOutcome whose issues say what is wrong.
            let fhir = &response["content"]["application/fhir+json"];
            if code >= 400 && fhir.is_object() {
                if fhir["schema"]["$ref"] != "#/components/schemas/OperationOutcomeDto" {
                    failures.push(format!(
                        "{at} {status}: application/fhir+json is not the OperationOutcomeDto schema"
                    ));
                }
                let mut examples: Vec<&Value> = fhir.get("example").into_iter().collect();
                examples.extend(
                    fhir["examples"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(_, e)| &e["value"]),
                );
                for example in examples {
                    let issues = example["issue"].as_array().map_or(&[][..], Vec::as_slice);
                    let said = !issues.is_empty()
                        && issues.iter().all(|i| {
                            i["diagnostics"]
                                .as_str()
                                .is_some_and(|d| !d.trim().is_empty())
                        });
                    if example["resourceType"] != "OperationOutcome" || !said {
                        failures.push(format!(
                            "{at} {status}: a FHIR example is not an OperationOutcome with diagnostics: {example}"
                        ));
                    }
                }
            }
            if code >= 400 && !exempt {
                let problem = &response["content"]["application/problem+json"];
                if problem["schema"]["$ref"] != "#/components/schemas/Problem" {
                    failures.push(format!(
                        "{at} {status}: not `body = Problem, content_type = \"application/problem+json\"`"
                    ));
                }
            }
        }
    }
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        for (prop, s) in schema["properties"].as_object().into_iter().flatten() {
            let described = s["description"].is_string()
                || s["oneOf"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|x| x["description"].is_string()));
            if !described {
                failures.push(format!("schema {name}.{prop}: no `///` description"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every documented example is itself valid against its schema.
/// Every `$ref` of the document, with where it stands.
fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(r) = v.as_str() {
                        out.push((r.to_string(), at.to_string()));
                    }
                } else {
                    refs(v, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A `$ref` to a component the document does not define makes the document unusable to clients
/// and to schemathesis ("Unresolvable reference"); every one must resolve.
#[test]
fn every_reference_resolves() {
    let spec: Value = serde_json::from_str(&generated()).expect("json");
    let mut found = Vec::new();
    refs(&spec, "", &mut found);
    assert!(found.len() > 50, "only {} references", found.len());
    let unresolved: Vec<String> = found
        .iter()
        .filter(|(r, _)| {
            r.strip_prefix("#/")
                .map(|p| spec.pointer(&format!("/{p}")).is_none())
                .unwrap_or(true)
        })
        .map(|(r, at)| format!("{r} at {at}"))
        .collect();
    assert!(unresolved.is_empty(), "unresolved: {unresolved:#?}");
}

#[test]
fn every_example_conforms_to_its_schema() {
    let spec: Value = serde_json::from_str(&generated()).expect("json");
    for (path, method, op) in operations(&spec) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            let code: u16 = status.parse().expect("numeric status");
            for (ct, media) in response["content"].as_object().into_iter().flatten() {
                if !ct.ends_with("json") {
                    continue;
                }
                let mut examples: Vec<Value> = media["example"]
                    .is_null()
                    .then(Vec::new)
                    .unwrap_or_else(|| vec![media["example"].clone()]);
                for e in media["examples"].as_object().into_iter().flatten() {
                    examples.push(e.1["value"].clone());
                }
                for example in examples {
                    assert_conforms(&spec, &path, &method, code, &example);
                }
            }
        }
    }
}

// ------------------------------------------------------------------ a real server

fn spawn_app() -> TestApp {
    server::spawn_app(|s| s.workers = 1)
}

impl TestApp {
    fn call(
        &self,
        method: &str,
        path: &str,
        role: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "post" => self.client.post(url),
            _ => self.client.get(url),
        };
        if let Some(r) = role {
            req = req.bearer_auth(key(r));
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let res = req.send().expect("request");
        let status = res.status().as_u16();
        (status, res.json().unwrap_or(Value::Null))
    }
}

#[test]
fn real_responses_conform_to_the_checked_in_document() {
    let spec = openapi_document();
    let app = spawn_app();
    let patient = periop::api::dto::examples::patient();

    // One call per documented (operation, status) we can provoke without faults.
    let full = json!({"patient": patient});
    let (s, created) = app.call("post", "/v1/assessments", Some("ehr"), Some(&full));
    assert_eq!(s, 201, "{created}");
    assert_conforms(&spec, "/v1/assessments", "post", 201, &created);
    let lean = json!({"patient": patient, "explain": false, "outcomes": ["dvt", "blood_loss_ml"]});
    let (s, body) = app.call("post", "/v1/assessments", Some("ehr"), Some(&lean));
    assert_conforms(&spec, "/v1/assessments", "post", s, &body);

    let id = created["assessment_id"].as_str().expect("id");
    let (s, body) = app.call("get", &format!("/v1/assessments/{id}"), Some("admin"), None);
    assert_eq!(s, 200);
    assert_conforms(&spec, "/v1/assessments/{id}", "get", 200, &body);

    let batch = json!({"items": [full, {"patient": {"age_years": 130}}]});
    let (s, body) = app.call("post", "/v1/assessments:batch", Some("ehr"), Some(&batch));
    assert_eq!(s, 200, "{body}");
    assert_conforms(&spec, "/v1/assessments:batch", "post", 200, &body);

    let (s, body) = app.call("get", "/v1/models", Some("quality"), None);
    assert_eq!(s, 200);
    assert_conforms(&spec, "/v1/models", "get", 200, &body);
    for outcome in body["models"].as_array().expect("models") {
        let path = format!(
            "/v1/models/{}",
            outcome["outcome"].as_str().expect("outcome")
        );
        let (s, card) = app.call("get", &path, Some("quality"), None);
        assert_eq!(s, 200);
        assert_conforms(&spec, "/v1/models/{outcome}", "get", 200, &card);
    }
    for path in ["/healthz", "/readyz"] {
        let (s, body) = app.call("get", path, None, None);
        assert_eq!(s, 200);
        assert_conforms(&spec, path, "get", 200, &body);
    }

    // Errors.
    // (method, path template, path, role, body, expected status)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<Value>,
        u16,
    );
    let cases: Vec<Case> = vec![
        (
            "post",
            "/v1/assessments",
            "/v1/assessments",
            None,
            Some(full.clone()),
            401,
        ),
        (
            "post",
            "/v1/assessments",
            "/v1/assessments",
            Some("quality"),
            Some(full.clone()),
            403,
        ),
        (
            "post",
            "/v1/assessments",
            "/v1/assessments",
            Some("ehr"),
            Some(json!({"patient": {"age_years": 130, "colour": "blue"}})),
            422,
        ),
        (
            "post",
            "/v1/assessments:batch",
            "/v1/assessments:batch",
            Some("ehr"),
            Some(json!({"items": []})),
            422,
        ),
        (
            "get",
            "/v1/assessments/{id}",
            "/v1/assessments/nope",
            Some("admin"),
            None,
            404,
        ),
        (
            "get",
            "/v1/assessments/{id}/explanation/{outcome}.svg",
            "/v1/assessments/nope/explanation/dvt.svg",
            Some("admin"),
            None,
            404,
        ),
        ("get", "/v1/models", "/v1/models", Some("ehr"), None, 403),
        (
            "get",
            "/v1/models/{outcome}",
            "/v1/models/nonsense",
            Some("quality"),
            None,
            404,
        ),
    ];
    for (method, template, path, role, body, expected) in cases {
        let (s, problem) = app.call(method, path, role, body.as_ref());
        assert_eq!(s, expected, "{method} {path}: {problem}");
        assert_conforms(&spec, template, method, s, &problem);
    }
    let res = app
        .client
        .post(format!("{}/v1/assessments", app.base))
        .bearer_auth(key("ehr"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .expect("request");
    assert_eq!(res.status().as_u16(), 400);
    assert_conforms(
        &spec,
        "/v1/assessments",
        "post",
        400,
        &res.json().expect("json"),
    );

    // FHIR input: the documented Bundle is assessed; its answers and errors conform.
    let fhir = |body: String, accept: &str| {
        let res = app
            .client
            .post(format!("{}/v1/assessments", app.base))
            .bearer_auth(key("ehr"))
            .header("content-type", "application/fhir+json")
            .header("accept", accept)
            .body(body)
            .send()
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json::<Value>().unwrap_or(Value::Null))
    };
    let example = periop::api::dto::fhir::examples::bundle();
    let (s, answer) = fhir(example.to_string(), "application/json");
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["delivery"]["channel"], "fhir");
    assert_conforms(&spec, "/v1/assessments", "post", 201, &answer);
    let (s, bundle) = fhir(example.to_string(), "application/fhir+json");
    assert_eq!(s, 201, "{bundle}");
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_conforms(&spec, "/v1/assessments", "post", 201, &bundle);
    let mut unassessable = example.clone();
    let patient = unassessable["entry"][0]["resource"]
        .as_object_mut()
        .expect("patient");
    patient.remove("birthDate");
    for (body, status) in [
        (json!({"resourceType": "Patient"}).to_string(), 400),
        ("{not json".to_string(), 400),
        (unassessable.to_string(), 422),
    ] {
        let (s, outcome) = fhir(body, "application/json");
        assert_eq!(s, status, "{outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_conforms(&spec, "/v1/assessments", "post", s, &outcome);
    }
}

#[test]
fn the_served_document_and_the_docs_page_work_offline() {
    let app = spawn_app();
    // No API key for either.
    let (s, served) = app.call("get", "/openapi.json", None, None);
    assert_eq!(s, 200);
    let generated: Value = serde_json::from_str(&generated()).expect("json");
    assert_eq!(served, generated, "/openapi.json serves spec()");

    let get = |path: &str| {
        let res = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .expect("request");
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, ct, res.text().expect("text"))
    };
    let (s, ct, html) = get("/docs/");
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://")
            || !html.contains("<script src=\"http"),
        "the page loads no script from the network: {html}"
    );
    let (s, _, js) = get("/docs/swagger-ui-bundle.js");
    assert_eq!(s, 200);
    assert!(
        js.len() > 100_000,
        "the vendored bundle is served ({} bytes)",
        js.len()
    );
    let (s, _, init) = get("/docs/swagger-initializer.js");
    assert_eq!(s, 200);
    assert!(init.contains("/openapi.json"), "{init}");
    // `/docs` redirects to the page (reqwest follows the redirect).
    let (s, _, _) = get("/docs");
    assert_eq!(s, 200);
}

#[test]
#[should_panic(expected = "does not conform")]
fn a_body_missing_a_required_field_does_not_conform() {
    let mut body = periop::api::dto::examples::assessment();
    body.as_object_mut()
        .expect("object")
        .remove("assessment_id");
    assert_conforms(&openapi_document(), "/v1/assessments", "post", 201, &body);
}

#[test]
#[should_panic(expected = "does not conform")]
fn an_undocumented_field_does_not_conform() {
    let mut body = periop::api::dto::examples::assessment();
    body["predictions"][0]["surprise"] = json!(1);
    assert_conforms(
        &openapi_document(),
        "/v1/assessments/{id}",
        "get",
        200,
        &body,
    );
}

#[test]
fn the_patient_is_typed_from_the_dictionary_schema() {
    let spec: Value = serde_json::from_str(&generated()).expect("json");
    let patient = &spec["components"]["schemas"]["Patient"];
    let mut dictionary = periop::features::schema::patient_json_schema();
    let object = dictionary.as_object_mut().expect("object");
    object.remove("$schema");
    object.remove("$id");
    // Same content as schemas/patient.schema.json, so a generated client knows every field
    // (numbers compared as numbers: the document writes 100 where the dictionary has 100.0).
    fn numbers_as_f64(v: &Value) -> Value {
        match v {
            Value::Number(n) => json!(n.as_f64()),
            Value::Array(a) => Value::Array(a.iter().map(numbers_as_f64).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    assert_eq!(numbers_as_f64(patient), numbers_as_f64(&dictionary));
    let properties = patient["properties"].as_object().expect("properties");
    assert_eq!(properties.len(), periop::features::FEATURES.len());
    for f in periop::features::FEATURES {
        let p = &properties[f.name];
        assert!(p["type"].is_string() || p["type"].is_array(), "{}", f.name);
        if let Some(unit) = f.unit {
            assert!(
                p["description"]
                    .as_str()
                    .expect("description")
                    .contains(unit),
                "{}",
                f.name
            );
        }
    }
    for request in ["AssessmentRequestDto", "EvaluateRulesRequestDto"] {
        assert_eq!(
            spec["components"]["schemas"][request]["properties"]["patient"]["$ref"],
            "#/components/schemas/Patient",
            "{request}"
        );
    }
}
