//! The rules API over real HTTP on loopback: the active rule set, uploads (validated, immutable,
//! a rejected one stores nothing), activation (recorded with the caller, atomic under concurrent
//! assessments), evaluation (by patient, by stored assessment, with an inline document) and
//! back-tests, with the role table. Every response body is checked against its schema in the
//! checked-in `openapi/openapi.json`.

#[path = "support/conform.rs"]
mod conform;
#[path = "support/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use server::{key, spawn_app, TestApp};

/// One answer: status, `Location` and the JSON body (already checked against the document).
struct Answer {
    status: u16,
    location: Option<String>,
    body: Value,
}

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(conform::openapi_document)
}

impl TestApp {
    /// Calls `method path` as `role` and checks the body against the schema documented for the
    /// path template `template` and the answered status.
    fn call(
        &self,
        method: &str,
        template: &str,
        path: &str,
        role: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
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
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: Value = res.json().expect("a JSON body");
        conform::assert_conforms(spec(), template, method, status, &body);
        Answer {
            status,
            location,
            body,
        }
    }

    fn active_rules(&self) -> Value {
        let a = self.call("get", "/v1/rules", "/v1/rules", Some("quality"), None);
        assert_eq!(a.status, 200, "{}", a.body);
        a.body
    }

    fn versions(&self) -> Value {
        let a = self.call(
            "get",
            "/v1/rules/versions",
            "/v1/rules/versions",
            Some("quality"),
            None,
        );
        assert_eq!(a.status, 200, "{}", a.body);
        a.body
    }

    fn upload(&self, role: &str, body: &Value) -> Answer {
        self.call(
            "post",
            "/v1/rules/versions",
            "/v1/rules/versions",
            Some(role),
            Some(body),
        )
    }

    fn activate(&self, role: &str, version: &str) -> Answer {
        self.call(
            "post",
            "/v1/rules/versions/{version}/activate",
            &format!("/v1/rules/versions/{version}/activate"),
            Some(role),
            None,
        )
    }

    fn assess(&self, body: &Value) -> Value {
        let a = self.call(
            "post",
            "/v1/assessments",
            "/v1/assessments",
            Some("ehr"),
            Some(body),
        );
        assert_eq!(a.status, 201, "{}", a.body);
        a.body
    }

    fn evaluate(&self, role: &str, body: &Value) -> Answer {
        self.call(
            "post",
            "/v1/rules/evaluate",
            "/v1/rules/evaluate",
            Some(role),
            Some(body),
        )
    }

    fn backtest(&self, role: &str, body: &Value) -> Answer {
        self.call(
            "post",
            "/v1/rules/backtest",
            "/v1/rules/backtest",
            Some(role),
            Some(body),
        )
    }
}

fn patient() -> Value {
    periop::api::dto::examples::patient()
}

/// The shipped rule set's manifest (`models/default/rules/manifest.json`).
fn manifest() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/default/rules/manifest.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("manifest")).expect("json")
}

/// A one-table rule set whose rows always fire (their only input cell is empty), one
/// recommendation per id: what a patient gets under it does not depend on the models.
fn always(ids: &[&str]) -> Value {
    let rules: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({
                "_id": format!("row{i}"), "c_status": "",
                "o_id": format!("\"{id}\""), "o_cat": "\"follow_up\"",
                "o_text": "\"Test recommendation\"", "o_rat": "\"Always fires (test rule set)\"",
                "o_str": "\"consider\""
            })
        })
        .collect();
    json!({
        "nodes": [
            {"id": "in", "name": "Request", "type": "inputNode", "position": {"x": 0, "y": 0}},
            {"id": "t", "name": "Test table", "type": "decisionTableNode", "position": {"x": 200, "y": 0},
             "content": {
                "hitPolicy": "collect", "outputPath": "recommendations.test",
                "inputs": [{"id": "c_status", "name": "DVT status", "field": "predictions.dvt.status"}],
                "outputs": [
                    {"id": "o_id", "name": "id", "field": "id"},
                    {"id": "o_cat", "name": "category", "field": "category"},
                    {"id": "o_text", "name": "text", "field": "text"},
                    {"id": "o_rat", "name": "rationale", "field": "rationale"},
                    {"id": "o_str", "name": "strength", "field": "strength"}
                ],
                "rules": rules
             }},
            {"id": "out", "name": "Response", "type": "outputNode", "position": {"x": 400, "y": 0}}
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "t", "type": "edge"},
            {"id": "e2", "sourceId": "t", "targetId": "out", "type": "edge"}
        ]
    })
}

/// `document` with one numeric threshold of one decision table changed (the first input cell
/// like `>= 1` becomes `>= 1.05`); panics when the document has none.
fn with_changed_threshold(mut document: Value) -> Value {
    for node in document["nodes"].as_array_mut().expect("nodes") {
        if node["type"] != "decisionTableNode" {
            continue;
        }
        let inputs: Vec<String> = node["content"]["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .filter_map(|c| c["id"].as_str().map(str::to_string))
            .collect();
        for row in node["content"]["rules"].as_array_mut().expect("rules") {
            for column in &inputs {
                let Some(cell) = row[column.as_str()].as_str().map(str::to_string) else {
                    continue;
                };
                for op in [">=", "<=", ">", "<"] {
                    let Some(number) = cell.strip_prefix(op).map(str::trim) else {
                        continue;
                    };
                    if let Ok(x) = number.parse::<f64>() {
                        row[column.as_str()] = json!(format!("{op} {}", x * 1.05 + 0.01));
                        return document;
                    }
                }
            }
        }
    }
    panic!("the active document has no numeric threshold to change");
}

fn ids(recommendations: &Value) -> Vec<String> {
    recommendations
        .as_array()
        .expect("recommendations")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_string())
        .collect()
}

#[test]
fn the_shipped_rule_set_is_active_and_activated_by_system() {
    let app = spawn_app(|_| {});
    let manifest = manifest();

    let active = app.active_rules();
    assert_eq!(active["version"], manifest["version"], "{active}");
    assert_eq!(active["sha256"], manifest["sha256"]);
    assert_eq!(active["activated_by"], "system");
    assert!(active["previous_version"].is_null());
    assert!(active["document"]["nodes"].is_array());

    let history = app.versions();
    assert_eq!(history["active"], manifest["version"]);
    let versions = history["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1, "{history}");
    assert_eq!(versions[0]["uploaded_by"], "system");
    assert_eq!(versions[0]["active"], true);
    let activations = history["activations"].as_array().expect("activations");
    assert_eq!(activations.len(), 1);
    assert_eq!(activations[0]["activated_by"], "system");

    let version = manifest["version"].as_str().expect("version");
    let one = app.call(
        "get",
        "/v1/rules/versions/{version}",
        &format!("/v1/rules/versions/{version}"),
        Some("admin"),
        None,
    );
    assert_eq!(one.status, 200);
    assert_eq!(one.body["document"], active["document"]);
    assert_eq!(one.body["active"], true);

    let missing = app.call(
        "get",
        "/v1/rules/versions/{version}",
        "/v1/rules/versions/no-such-version",
        Some("quality"),
        None,
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["code"], "rule_version_not_found");
}

#[test]
fn reading_rules_needs_the_quality_or_admin_role() {
    let app = spawn_app(|_| {});
    for (role, expected) in [
        (Some("ehr"), 403),
        (Some("clinician"), 403),
        (None, 401),
        (Some("quality"), 200),
        (Some("admin"), 200),
    ] {
        let a = app.call("get", "/v1/rules", "/v1/rules", role, None);
        assert_eq!(a.status, expected, "{role:?}: {}", a.body);
        let a = app.call(
            "get",
            "/v1/rules/versions",
            "/v1/rules/versions",
            role,
            None,
        );
        assert_eq!(a.status, expected, "{role:?}: {}", a.body);
    }
    let a = app.call("get", "/v1/rules", "/v1/rules", Some("ehr"), None);
    assert_eq!(a.body["code"], "forbidden");
}

#[test]
fn an_admin_uploads_and_activates_a_modified_copy_and_new_assessments_use_it() {
    let app = spawn_app(|_| {});
    let default = app.active_rules();
    let default_version = default["version"].as_str().expect("version").to_string();
    let modified = with_changed_threshold(default["document"].clone());
    let upload =
        json!({"version": "local-2", "document": modified, "note": "one threshold changed"});

    // Quality may read but not change.
    let a = app.upload("quality", &upload);
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(app.versions()["versions"].as_array().map(Vec::len), Some(1));

    let a = app.upload("admin", &upload);
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.location.as_deref(), Some("/v1/rules/versions/local-2"));
    assert_eq!(a.body["version"], "local-2");
    assert_eq!(a.body["uploaded_by"], "admin-key");
    assert_eq!(a.body["note"], "one threshold changed");
    assert_eq!(a.body["active"], false);
    assert_ne!(a.body["sha256"], default["sha256"]);
    let new_sha = a.body["sha256"].clone();
    assert_eq!(
        app.active_rules()["version"],
        default_version.as_str(),
        "uploading does not activate"
    );

    // Versions are immutable: the same name again is a conflict, even with the same content.
    let a = app.upload("admin", &upload);
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["code"], "rule_version_exists");

    let a = app.upload(
        "admin",
        &json!({"version": "a/b", "document": always(&["t.a"])}),
    );
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(fields(&a.body), vec!["version"]);

    let stored = app.call(
        "get",
        "/v1/rules/versions/{version}",
        "/v1/rules/versions/local-2",
        Some("quality"),
        None,
    );
    assert_eq!(stored.status, 200);
    assert_eq!(stored.body["document"], upload["document"]);
    assert_eq!(stored.body["active"], false);

    // Quality may not activate; an unknown version is 404.
    let a = app.activate("quality", "local-2");
    assert_eq!(a.status, 403, "{}", a.body);
    let a = app.activate("admin", "no-such-version");
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(a.body["code"], "rule_version_not_found");
    assert_eq!(app.active_rules()["version"], default_version.as_str());

    let a = app.activate("admin", "local-2");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["version"], "local-2");
    assert_eq!(a.body["activated_by"], "admin-key");
    assert_eq!(a.body["previous_version"], default_version.as_str());
    assert_eq!(a.body["sha256"], new_sha);

    let active = app.active_rules();
    assert_eq!(active["version"], "local-2");
    assert_eq!(active["activated_by"], "admin-key");
    assert_eq!(active["document"], upload["document"]);

    let assessment = app.assess(&json!({"patient": patient(), "explain": false}));
    assert_eq!(assessment["rule_set"]["version"], "local-2");
    assert_eq!(assessment["rule_set"]["sha256"], new_sha);

    let history = app.versions();
    assert_eq!(history["active"], "local-2");
    let listed: Vec<(String, bool)> = history["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            (
                v["version"].as_str().expect("version").to_string(),
                v["active"].as_bool().expect("active"),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (default_version.clone(), false),
            ("local-2".to_string(), true)
        ]
    );
    let activations = history["activations"].as_array().expect("activations");
    assert_eq!(activations.len(), 2);
    assert_eq!(activations[1]["activated_by"], "admin-key");
}

#[test]
fn a_rejected_upload_names_the_problem_and_stores_nothing() {
    let app = spawn_app(|_| {});
    let before = app.versions();
    let mut document = always(&["t.a"]);
    document["nodes"].as_array_mut().expect("nodes").push(json!({
        "id": "js", "name": "Score in JavaScript", "type": "functionNode",
        "position": {"x": 300, "y": 100}, "content": {"source": "export const handler = async (input) => input;"}
    }));
    let a = app.upload(
        "admin",
        &json!({"version": "with-js", "document": document}),
    );
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["code"], "invalid_input");
    let errors = a.body["errors"].as_array().expect("errors");
    let js = errors
        .iter()
        .find(|e| {
            e["field"]
                .as_str()
                .is_some_and(|f| f.starts_with("document.nodes[3]") && f.contains("(id js)"))
        })
        .unwrap_or_else(|| panic!("the function node is named: {}", a.body));
    assert!(
        js["detail"]
            .as_str()
            .is_some_and(|d| d.contains("function")),
        "{js}"
    );
    assert_eq!(app.versions(), before, "a rejected upload changes nothing");
    let a = app.call(
        "get",
        "/v1/rules/versions/{version}",
        "/v1/rules/versions/with-js",
        Some("admin"),
        None,
    );
    assert_eq!(a.status, 404);

    // Shape problems are all reported at once.
    let a = app.upload(
        "admin",
        &json!({"document": [], "note": 3, "colour": "blue"}),
    );
    assert_eq!(a.status, 422, "{}", a.body);
    let mut got = fields(&a.body);
    got.sort();
    assert_eq!(got, vec!["colour", "document", "note", "version"]);
    assert_eq!(app.versions(), before);
}

#[test]
fn evaluate_by_patient_by_stored_assessment_and_with_an_inline_document() {
    let app = spawn_app(|_| {});
    let active = app.active_rules();

    // A patient: the model set predicts first, the active rule set answers.
    let by_patient = app.evaluate("quality", &json!({"patient": patient()}));
    assert_eq!(by_patient.status, 200, "{}", by_patient.body);
    assert_eq!(by_patient.body["rule_set"]["version"], active["version"]);
    assert_eq!(by_patient.body["rule_set"]["sha256"], active["sha256"]);
    assert!(by_patient.body["trace"]["nodes"]
        .as_array()
        .is_some_and(|n| !n.is_empty()));

    // A stored assessment: the same patient gives the same recommendations as were answered.
    let assessment = app.assess(&json!({"patient": patient()}));
    let id = assessment["assessment_id"].as_str().expect("id");
    let by_id = app.evaluate("admin", &json!({"assessment_id": id}));
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    assert_eq!(
        ids(&by_id.body["recommendations"]),
        ids(&assessment["recommendations"])
    );
    assert_eq!(by_id.body["recommendations"], assessment["recommendations"]);
    assert_eq!(
        ids(&by_patient.body["recommendations"]),
        ids(&assessment["recommendations"]),
        "explanations do not change predictions"
    );

    // An inline document (not stored) and a stored version.
    let inline = app.evaluate(
        "quality",
        &json!({"patient": patient(), "document": always(&["t.a", "t.b"])}),
    );
    assert_eq!(inline.status, 200, "{}", inline.body);
    assert_eq!(inline.body["rule_set"]["version"], "inline");
    assert_eq!(ids(&inline.body["recommendations"]), vec!["t.a", "t.b"]);
    assert_eq!(inline.body["recommendations"][0]["rule"]["node_id"], "t");
    assert_eq!(app.versions()["versions"].as_array().map(Vec::len), Some(1));

    let a = app.upload(
        "admin",
        &json!({"version": "only-a", "document": always(&["t.a"])}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let stored = app.evaluate(
        "quality",
        &json!({"assessment_id": id, "version": "only-a"}),
    );
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.body["rule_set"]["version"], "only-a");
    assert_eq!(ids(&stored.body["recommendations"]), vec!["t.a"]);

    // Errors.
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({}), 422, "invalid_input"),
        (
            json!({"patient": patient(), "assessment_id": id}),
            422,
            "invalid_input",
        ),
        (
            json!({"patient": patient(), "version": "only-a", "document": always(&["t.a"])}),
            422,
            "invalid_input",
        ),
        (json!({"patient": {"age_years": 130}}), 422, "invalid_input"),
        (
            json!({"assessment_id": "no-such-assessment"}),
            404,
            "assessment_not_found",
        ),
        (
            json!({"assessment_id": "rule-version:only-a"}),
            404,
            "assessment_not_found",
        ),
        (
            json!({"patient": patient(), "version": "no-such-version"}),
            404,
            "rule_version_not_found",
        ),
        (
            json!({"patient": patient(), "document": {"nodes": [], "edges": []}}),
            422,
            "invalid_input",
        ),
    ];
    for (body, status, code) in cases {
        let a = app.evaluate("quality", &body);
        assert_eq!(a.status, status, "{body}: {}", a.body);
        assert_eq!(a.body["code"], code, "{body}: {}", a.body);
    }
    let a = app.evaluate("quality", &json!({"patient": {"age_years": 130}}));
    assert!(fields(&a.body).contains(&"patient.age_years".to_string()));
    for role in ["ehr", "clinician"] {
        let a = app.evaluate(role, &json!({"patient": patient()}));
        assert_eq!(a.status, 403, "{role}");
    }
}

#[test]
fn a_backtest_reports_the_assessments_that_would_lose_a_dropped_recommendation() {
    let app = spawn_app(|_| {});
    let a = app.upload(
        "admin",
        &json!({"version": "bt-a", "document": always(&["t.a", "t.b"])}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(app.activate("admin", "bt-a").status, 200);
    let made: Vec<String> = (0..3)
        .map(|_| {
            let a = app.assess(&json!({"patient": patient(), "explain": false}));
            assert_eq!(ids(&a["recommendations"]), vec!["t.a", "t.b"]);
            a["assessment_id"].as_str().expect("id").to_string()
        })
        .collect();
    let window = json!({"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"});
    let with = |extra: Value| {
        let mut body = window.clone();
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };

    // The candidate drops `t.b`.
    let report = app.backtest("quality", &with(json!({"document": always(&["t.a"])})));
    assert_eq!(report.status, 200, "{}", report.body);
    let r = &report.body;
    assert_eq!(r["candidate"]["version"], "inline");
    assert_eq!(r["considered"], 3);
    assert_eq!(r["compared"], 3);
    assert_eq!(r["changed"], 3);
    assert_eq!(r["skipped"]["count"], 0);
    assert_eq!(
        r["answered_rule_sets"],
        json!([{"version": "bt-a", "count": 3}])
    );
    let diff = |id: &str| {
        r["recommendations"]
            .as_array()
            .expect("recommendations")
            .iter()
            .find(|d| d["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {r}"))
    };
    let lost = diff("t.b");
    assert_eq!(lost["answered"], 3);
    assert_eq!(lost["candidate"], 0);
    assert_eq!(lost["lost"]["count"], 3);
    assert_eq!(lost["lost"]["examples"], json!(made));
    assert_eq!(lost["gained"]["count"], 0);
    let kept = diff("t.a");
    assert_eq!(
        (kept["answered"].clone(), kept["candidate"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(kept["lost"]["count"], 0);
    assert_eq!(kept["gained"]["count"], 0);

    // A stored candidate that adds one; fewer examples.
    let a = app.upload(
        "admin",
        &json!({"version": "bt-c", "document": always(&["t.a", "t.b", "t.c"])}),
    );
    assert_eq!(a.status, 201);
    let report = app.backtest(
        "admin",
        &with(json!({"version": "bt-c", "max_examples": 2})),
    );
    assert_eq!(report.status, 200, "{}", report.body);
    let gained = report.body["recommendations"]
        .as_array()
        .expect("recommendations")
        .iter()
        .find(|d| d["id"] == "t.c")
        .cloned()
        .expect("t.c");
    assert_eq!(gained["gained"]["count"], 3);
    assert_eq!(gained["gained"]["examples"], json!(made[..2]));

    // The active set against itself changes nothing; an empty window considers nothing.
    let same = app.backtest("quality", &window);
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.body["candidate"]["version"], "bt-a");
    assert_eq!(same.body["changed"], 0);
    let empty = app.backtest(
        "quality",
        &json!({"since": "2000-01-01T00:00:00Z", "until": "2000-02-01T00:00:00Z"}),
    );
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body["considered"], 0);
    assert_eq!(empty.body["recommendations"], json!([]));

    // Errors.
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}),
            422,
            "invalid_input",
        ),
        (json!({"since": "yesterday"}), 422, "invalid_input"),
        (with(json!({"max_examples": 101})), 422, "invalid_input"),
        (
            with(json!({"version": "no-such-version"})),
            404,
            "rule_version_not_found",
        ),
    ];
    for (body, status, code) in cases {
        let a = app.backtest("quality", &body);
        assert_eq!(a.status, status, "{body}: {}", a.body);
        assert_eq!(a.body["code"], code, "{body}: {}", a.body);
    }
    for role in ["ehr", "clinician"] {
        assert_eq!(app.backtest(role, &window).status, 403, "{role}");
    }
}

/// Activation is atomic: while one thread keeps switching between A and B, every assessment made
/// concurrently carries exactly A's recommendations with version A, or B's with version B, and its
/// stored copy names the same version.
#[test]
fn assessments_never_see_half_an_activation() {
    let app = Arc::new(spawn_app(|s| s.workers = 4));
    for (version, document) in [
        ("atom-a", always(&["t.a", "t.b"])),
        ("atom-b", always(&["t.a"])),
    ] {
        let a = app.upload("admin", &json!({"version": version, "document": document}));
        assert_eq!(a.status, 201, "{}", a.body);
    }
    assert_eq!(app.activate("admin", "atom-a").status, 200);
    let expected = |version: &str| -> Vec<String> {
        match version {
            "atom-a" => vec!["t.a".into(), "t.b".into()],
            "atom-b" => vec!["t.a".into()],
            other => panic!("unexpected rule-set version {other}"),
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    let switcher = {
        let (app, stop) = (app.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut switches = 0u32;
            for version in ["atom-b", "atom-a"].iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let a = app.activate("admin", version);
                assert_eq!(a.status, 200, "{}", a.body);
                switches += 1;
            }
            switches
        })
    };
    let assessors: Vec<_> = (0..4)
        .map(|_| {
            let app = app.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| {
                        let a = app.assess(
                            &json!({"patient": patient(), "outcomes": ["dvt"], "explain": false}),
                        );
                        (
                            a["assessment_id"].as_str().expect("id").to_string(),
                            a["rule_set"]["version"]
                                .as_str()
                                .expect("version")
                                .to_string(),
                            ids(&a["recommendations"]),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answered: Vec<(String, String, Vec<String>)> = assessors
        .into_iter()
        .flat_map(|t| t.join().expect("assessor"))
        .collect();
    stop.store(true, Ordering::Relaxed);
    let switches = switcher.join().expect("switcher");

    assert_eq!(answered.len(), 100);
    let mut seen = BTreeSet::new();
    for (id, version, recommended) in &answered {
        assert_eq!(
            recommended,
            &expected(version),
            "assessment {id} mixes rule sets"
        );
        seen.insert(version.clone());
        let stored = app.call(
            "get",
            "/v1/assessments/{id}",
            &format!("/v1/assessments/{id}"),
            Some("quality"),
            None,
        );
        assert_eq!(stored.status, 200);
        assert_eq!(&stored.body["rule_set"]["version"], version.as_str());
        assert_eq!(ids(&stored.body["recommendations"]), *recommended);
    }
    assert!(switches >= 2, "the active set switched ({switches} times)");
    assert_eq!(
        seen.len(),
        2,
        "assessments were answered under both versions ({switches} switches): {seen:?}"
    );
}
