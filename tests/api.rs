//! The assessment API over real HTTP on loopback: a server on port 0 per test with its own SQLite
//! audit file, the committed default model set, and API keys for every role.

#[path = "support/conform.rs"]
mod conform;
#[path = "support/server.rs"]
mod server;

use std::path::PathBuf;

use periop::config::Settings;
use periop::startup::Application;
use serde_json::{json, Value};
use server::{key, spawn_app, TestApp};

fn lumbar_fusion_patient() -> Value {
    json!({
        "age_years": 67, "sex": "female", "bmi": 31.2, "height_cm": 162, "weight_kg": 81.9,
        "smoking_status": "former", "asa_class": 3, "functional_status": "independent",
        "diabetes": "non_insulin", "hypertension": true, "osteoporosis": true, "history_of_vte": false,
        "hemoglobin_g_dl": 12.4, "platelets_10e9_l": 230, "albumin_g_dl": 3.9, "creatinine_mg_dl": 0.9,
        "bone_density_hu": 98, "stenosis_grade": 2, "procedure": "lumbar_fusion", "fused_levels": 3,
        "decompressed_levels": 3, "fusion_to_sacrum": true, "planned_duration_min": 240,
        "tranexamic_acid_planned": true, "revision_surgery": false, "minimally_invasive": false,
        "odi_baseline": 48, "symptom_duration_over_12mo": true, "back_pain_dominant": false
    })
}

/// The checked-in OpenAPI document, parsed once.
fn spec() -> &'static Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(conform::openapi_document)
}

impl TestApp {
    fn post(&self, role: Option<&str>, body: &str) -> (u16, Option<String>, Value) {
        let mut req = self
            .client
            .post(format!("{}/v1/assessments", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(r) = role {
            req = req.bearer_auth(key(r));
        }
        let res = req.send().expect("request");
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: Value = res.json().unwrap_or(Value::Null);
        // Every answer of POST /v1/assessments in these tests conforms to the checked-in spec.
        if ct.as_deref().is_some_and(|c| c.contains("json")) {
            conform::assert_conforms(spec(), "/v1/assessments", "POST", status, &body);
        }
        (status, ct, body)
    }

    fn get(&self, role: Option<&str>, path: &str) -> reqwest::blocking::Response {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(r) = role {
            req = req.bearer_auth(key(r));
        }
        req.send().expect("request")
    }
}

fn assert_problem(status: u16, ct: Option<String>, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(ct.as_deref(), Some("application/problem+json"), "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected_status);
    assert!(
        body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(),
        "{body}"
    );
    assert!(
        body["instance"]
            .as_str()
            .is_some_and(|i| i.starts_with("req_")),
        "{body}"
    );
}

#[test]
fn an_assessment_round_trips_and_reads_back_exactly_as_answered() {
    let app = spawn_app(|_| {});
    let body = json!({"patient": lumbar_fusion_patient()}).to_string();
    let res = app
        .client
        .post(format!("{}/v1/assessments", app.base))
        .bearer_auth(key("clinician"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .expect("post");
    assert_eq!(res.status().as_u16(), 201);
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .expect("location");
    let answered = res.text().expect("text");
    let assessment: Value = serde_json::from_str(&answered).expect("json");
    conform::assert_conforms(
        &conform::openapi_document(),
        "/v1/assessments",
        "post",
        201,
        &assessment,
    );
    let id = assessment["assessment_id"].as_str().expect("id");
    assert_eq!(location, format!("/v1/assessments/{id}"));

    let predictions = assessment["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), 11);
    for p in predictions {
        let outcome = p["outcome"].as_str().expect("outcome");
        if outcome == "acdf_inpatient_conversion" {
            assert_eq!(p["status"], "not_applicable");
            assert!(p["reason"].as_str().is_some_and(|r| !r.is_empty()));
            continue;
        }
        assert_eq!(p["status"], "ok", "{outcome}");
        assert!(
            p["model"]["version"]
                .as_str()
                .is_some_and(|v| v.starts_with(outcome)),
            "{p}"
        );
        let e = &p["explanation"];
        let sum: f64 = e["base_value"].as_f64().expect("base")
            + e["contributions"]
                .as_array()
                .expect("contributions")
                .iter()
                .map(|c| c["contribution"].as_f64().expect("c"))
                .sum::<f64>();
        let raw = e["raw_score"].as_f64().expect("raw");
        assert!(
            (sum - raw).abs() < 1e-9,
            "{outcome}: SHAP additivity off by {}",
            sum - raw
        );
        assert_eq!(e["contributions"].as_array().map(Vec::len), Some(51));
    }
    assert!(assessment["inputs"]["missing"]
        .as_array()
        .is_some_and(|m| m.iter().any(|f| f == "d_dimer_mg_l_feu")));

    let stored = app.get(Some("quality"), &location);
    assert_eq!(stored.status().as_u16(), 200);
    assert_eq!(
        stored.text().expect("text"),
        answered,
        "the stored record must be exactly the answer"
    );
    use periop::audit::AuditStore;
    let store = periop::audit::SqliteAuditStore::open_read_only(&app.audit_file).expect("store");
    let record = store.get(id).expect("read").expect("recorded").record;
    assert_eq!(
        record.created_at,
        assessment["created_at"].as_str().expect("created_at")
    );
    assert_eq!(record.caller, "clinician-key", "the key id, never the key");
    assert!(!record.input.is_empty() && serde_json::from_str::<Value>(&record.input).is_ok());
}

#[test]
fn explain_false_skips_shap_and_outcomes_select_a_subset() {
    let app = spawn_app(|_| {});
    let (status, _, body) = app.post(Some("ehr"), &json!({"patient": lumbar_fusion_patient(), "outcomes": ["dvt", "blood_loss_ml"], "explain": false}).to_string());
    assert_eq!(status, 201, "{body}");
    let predictions = body["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), 2);
    assert!(predictions.iter().all(|p| p["explanation"].is_null()));
    let ebl = predictions
        .iter()
        .find(|p| p["outcome"] == "blood_loss_ml")
        .expect("ebl");
    let q = &ebl["quantity"];
    assert!(
        q["p10"].as_f64() <= q["median"].as_f64() && q["median"].as_f64() <= q["p90"].as_f64(),
        "{q}"
    );
}

#[test]
fn every_error_is_problem_json_with_a_stable_code() {
    let app = spawn_app(|s| s.max_body_bytes = 4096);
    let (s, ct, b) = app.post(Some("ehr"), "{not json");
    assert_problem(s, ct, &b, 400, "invalid_request_body");

    let big = json!({"patient": {"age_years": 60, "padding": "x".repeat(5000)}}).to_string();
    let (s, ct, b) = app.post(Some("ehr"), &big);
    assert_problem(s, ct, &b, 413, "payload_too_large");

    let bad = json!({"patient": {"age_years": 130, "sex": "unknown", "procedure": "acdf", "fusion_to_sacrum": true, "hypertension": "yes", "colour": "blue"}, "outcomes": ["dvt", "nonsense"], "explain": "yes"});
    let (s, ct, b) = app.post(Some("ehr"), &bad.to_string());
    assert_problem(s, ct, &b, 422, "invalid_input");
    let fields: Vec<&str> = b["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        vec!["explain"],
        "shape errors are reported before clinical validation: {b}"
    );

    let bad = json!({"patient": {"age_years": 130, "sex": "unknown", "procedure": "acdf", "fusion_to_sacrum": true, "hypertension": "yes", "colour": "blue"}, "outcomes": ["dvt", "nonsense"]});
    let (s, ct, b) = app.post(Some("ehr"), &bad.to_string());
    assert_problem(s, ct, &b, 422, "invalid_input");
    let errors = b["errors"].as_array().expect("errors");
    for (field, reason) in [
        ("patient.age_years", "out_of_range"),
        ("patient.sex", "unknown_level"),
        ("patient.fusion_to_sacrum", "contradiction"),
        ("patient.hypertension", "wrong_type"),
        ("patient.colour", "unknown_field"),
        ("outcomes[1]", ""),
    ] {
        let e = errors
            .iter()
            .find(|e| e["field"] == field)
            .unwrap_or_else(|| panic!("{field} not reported: {b}"));
        if !reason.is_empty() {
            assert_eq!(e["reason"], reason, "{e}");
        }
    }
    assert!(
        !b.to_string().contains("130"),
        "problem bodies never echo patient values: {b}"
    );

    let (s, ct, b) = app.post(Some("ehr"), &json!({"outcomes": ["dvt"]}).to_string());
    assert_problem(s, ct, &b, 422, "invalid_input");
    assert_eq!(b["errors"][0]["field"], "patient");

    let res = app
        .client
        .post(format!("{}/v1/assessments", app.base))
        .bearer_auth(key("ehr"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .expect("post");
    let (s, ct) = (
        res.status().as_u16(),
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    );
    assert_problem(
        s,
        ct,
        &res.json().expect("json"),
        415,
        "unsupported_media_type",
    );

    for (path, status, code) in [
        ("/v1/nothing-here", 404, "not_found"),
        (
            "/v1/assessments/does-not-exist",
            404,
            "assessment_not_found",
        ),
        ("/v1/models/nope", 404, "unknown_model"),
    ] {
        let res = app.get(Some("admin"), path);
        let (s, ct) = (
            res.status().as_u16(),
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        );
        assert_problem(s, ct, &res.json().expect("json"), status, code);
    }
}

#[test]
fn keys_and_roles_are_enforced() {
    let app = spawn_app(|_| {});
    let body = json!({"patient": lumbar_fusion_patient(), "explain": false}).to_string();
    let (s, ct, b) = app.post(None, &body);
    assert_problem(s, ct, &b, 401, "unauthorized");
    let res = app
        .client
        .post(format!("{}/v1/assessments", app.base))
        .bearer_auth("wrong")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .expect("post");
    assert_eq!(res.status().as_u16(), 401);
    let (s, ct, b) = app.post(Some("quality"), &body);
    assert_problem(s, ct, &b, 403, "forbidden");
    for role in ["ehr", "clinician", "admin"] {
        assert_eq!(app.post(Some(role), &body).0, 201, "{role} may assess");
    }
    for (role, status) in [
        ("ehr", 403),
        ("clinician", 403),
        ("quality", 200),
        ("admin", 200),
    ] {
        assert_eq!(
            app.get(Some(role), "/v1/models").status().as_u16(),
            status,
            "{role} reading models"
        );
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            app.get(None, path).status().as_u16(),
            200,
            "{path} needs no key"
        );
    }
}

#[test]
fn the_model_card_is_json_or_markdown() {
    let app = spawn_app(|_| {});
    let card: Value = app
        .get(Some("quality"), "/v1/models/dvt")
        .json()
        .expect("json");
    assert_eq!(card["outcome"], "dvt");
    assert_eq!(card["synthetic_training_data"], true);
    let md = app
        .client
        .get(format!("{}/v1/models/dvt", app.base))
        .bearer_auth(key("quality"))
        .header("accept", "text/markdown")
        .send()
        .expect("get");
    assert!(md
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/markdown")));
    assert!(md.text().expect("text").contains("SYNTHETIC"));
}

/// Records in the audit store (at start: the rule-set registry's version and activation records).
fn stored_records(app: &TestApp) -> u64 {
    use periop::audit::AuditStore;
    periop::audit::SqliteAuditStore::open_read_only(&app.audit_file)
        .expect("store")
        .count()
        .expect("count")
}

#[test]
fn the_audit_chain_verifies_after_many_assessments() {
    let app = spawn_app(|_| {});
    let before = stored_records(&app);
    let body = json!({"patient": lumbar_fusion_patient(), "explain": false, "outcomes": ["dvt"]})
        .to_string();
    for _ in 0..1000 {
        assert_eq!(app.post(Some("ehr"), &body).0, 201);
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(["audit", "verify", "--store"])
        .arg(&app.audit_file)
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains(&format!("records checked: {}", before + 1000)),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let metrics = app.get(None, "/metrics").text().expect("metrics");
    assert!(
        metrics.contains("periop_assessments_total{outcome=\"dvt\",status=\"ok\"}"),
        "{metrics}"
    );
}

#[test]
fn a_batch_answers_each_item_and_records_each_assessment() {
    let app = spawn_app(|_| {});
    let good = json!({"patient": lumbar_fusion_patient(), "outcomes": ["dvt"]});
    let bad = json!({"patient": {"age_years": 10, "sex": "male", "procedure": "acdf"}});
    let body = json!({"items": [good, bad, good]}).to_string();
    let res = app
        .client
        .post(format!("{}/v1/assessments:batch", app.base))
        .bearer_auth(key("ehr"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .expect("post");
    assert_eq!(res.status().as_u16(), 200);
    let out: Value = res.json().expect("json");
    let results = out["results"].as_array().expect("results");
    assert_eq!(
        results
            .iter()
            .map(|r| r["status"].as_u64())
            .collect::<Vec<_>>(),
        vec![Some(201), Some(422), Some(201)]
    );
    assert_eq!(
        results[1]["problem"]["errors"][0]["field"],
        "patient.age_years"
    );
    let id = results[2]["assessment"]["assessment_id"]
        .as_str()
        .expect("id");
    let stored: Value = app
        .get(Some("clinician"), &format!("/v1/assessments/{id}"))
        .json()
        .expect("stored");
    assert_eq!(stored, results[2]["assessment"]);
    let (s, ct, b) = {
        let res = app
            .client
            .post(format!("{}/v1/assessments:batch", app.base))
            .bearer_auth(key("ehr"))
            .header("content-type", "application/json")
            .body(json!({"items": []}).to_string())
            .send()
            .expect("post");
        (
            res.status().as_u16(),
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            res.json::<Value>().expect("json"),
        )
    };
    assert_problem(s, ct, &b, 422, "invalid_input");
}

#[test]
fn an_explanation_is_served_as_an_svg_waterfall() {
    let app = spawn_app(|_| {});
    let (status, _, body) = app.post(
        Some("clinician"),
        &json!({"patient": lumbar_fusion_patient(), "outcomes": ["dvt"]}).to_string(),
    );
    assert_eq!(status, 201);
    let id = body["assessment_id"].as_str().expect("id");
    let res = app.get(
        Some("clinician"),
        &format!("/v1/assessments/{id}/explanation/dvt.svg"),
    );
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    assert!(res.text().expect("svg").trim_start().starts_with("<svg"));
    assert_eq!(
        app.get(
            Some("clinician"),
            &format!("/v1/assessments/{id}/explanation/csf_leak.svg")
        )
        .status()
        .as_u16(),
        404
    );
}

#[test]
fn overload_answers_503_with_retry_after() {
    let app = spawn_app(|s| s.max_in_flight = 1);
    let items: Vec<Value> = (0..1000)
        .map(|_| json!({"patient": lumbar_fusion_patient()}))
        .collect();
    let batch = json!({"items": items}).to_string();
    let (base, client) = (app.base.clone(), app.client.clone());
    // The batch itself may meet the single requests' permit: it retries until admitted.
    let worker = std::thread::spawn(move || loop {
        let status = client
            .post(format!("{base}/v1/assessments:batch"))
            .bearer_auth(key("ehr"))
            .header("content-type", "application/json")
            .body(batch.clone())
            .send()
            .expect("batch")
            .status()
            .as_u16();
        if status != 503 {
            return status;
        }
    });
    let single = json!({"patient": lumbar_fusion_patient(), "explain": false, "outcomes": ["dvt"]})
        .to_string();
    let mut saw_overload = None;
    while !worker.is_finished() && saw_overload.is_none() {
        let res = app
            .client
            .post(format!("{}/v1/assessments", app.base))
            .bearer_auth(key("ehr"))
            .header("content-type", "application/json")
            .body(single.clone())
            .send()
            .expect("post");
        if res.status().as_u16() == 503 {
            let retry = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            saw_overload = Some((retry, res.json::<Value>().expect("json")));
        }
    }
    assert_eq!(worker.join().expect("join"), 200);
    let (retry, body) =
        saw_overload.expect("a request while the only permit was taken must get 503");
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(body["code"], "overloaded");
}

#[test]
fn the_server_refuses_to_start_on_a_tampered_model_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = dir.path().join("models");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default");
    for entry in std::fs::read_dir(&source).expect("read") {
        let entry = entry.expect("entry");
        let target = models.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            for file in std::fs::read_dir(entry.path()).expect("read") {
                let file = file.expect("file");
                std::fs::copy(file.path(), target.join(file.file_name())).expect("copy");
            }
        } else {
            std::fs::create_dir_all(&models).expect("mkdir");
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
    let model = models.join("dvt/model.txt");
    let mut bytes = std::fs::read(&model).expect("read");
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
    std::fs::write(&model, bytes).expect("write");
    let settings = Settings {
        bind: "127.0.0.1:0".into(),
        models,
        audit_store: dir.path().join("audit.db").display().to_string(),
        dev_mode_no_auth: true,
        ..Settings::default()
    };
    let err = match Application::build(&settings) {
        Ok(_) => panic!("a tampered model set must not be served"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("dvt") && err.contains("model.txt"), "{err}");
}

#[test]
fn an_answer_the_audit_store_cannot_record_is_not_acknowledged() {
    let app = spawn_app(|_| {});
    let before = stored_records(&app);
    let body = json!({"patient": lumbar_fusion_patient(), "explain": false, "outcomes": ["dvt"]})
        .to_string();
    assert_eq!(app.post(Some("ehr"), &body).0, 201);
    // Another writer holds the database's write lock past the store's busy timeout (10 s).
    let blocker = rusqlite::Connection::open(&app.audit_file).expect("open");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let (status, ct, problem) = app.post(Some("ehr"), &body);
    blocker.execute_batch("ROLLBACK").expect("unlock");
    assert_problem(status, ct, &problem, 503, "audit_store_unavailable");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(["audit", "verify", "--store"])
        .arg(&app.audit_file)
        .output()
        .expect("run");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains(&format!("records checked: {}\n", before + 1)),
        "only the acknowledged answer is stored: {report}"
    );
    assert_eq!(
        app.post(Some("ehr"), &body).0,
        201,
        "the store recovers once the lock is gone"
    );
}

#[test]
fn a_corrupted_store_record_is_a_500_internal_problem_and_verify_finds_it() {
    // Fault injection on the real SQLite file: an operator with file access drops the
    // append-only trigger and rewrites the stored rule-set version record. Reading it is an
    // internal failure (500 `internal`, logged), never a guess; `periop audit verify` names it.
    let app = spawn_app(|_| {});
    let get = |path: &str| {
        let res = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth(key("quality"))
            .send()
            .expect("request");
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, ct, res.json::<Value>().unwrap_or(Value::Null))
    };
    assert_eq!(get("/v1/rules/versions/default-1").0, 200);
    let db = rusqlite::Connection::open(&app.audit_file).expect("open");
    db.execute_batch(
        "DROP TRIGGER audit_records_no_update;
         UPDATE audit_records SET output = '{\"version\": 1}'
          WHERE assessment_id = 'rule-version:default-1';",
    )
    .expect("tamper");
    let (status, ct, problem) = get("/v1/rules/versions/default-1");
    assert_problem(status, ct, &problem, 500, "internal");
    conform::assert_conforms(spec(), "/v1/rules/versions/{version}", "GET", 500, &problem);
    assert!(
        !problem["detail"].as_str().unwrap_or("").contains("version"),
        "no internals in the detail: {problem}"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(["audit", "verify", "--store"])
        .arg(&app.audit_file)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("BROKEN"), "{report}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("rule-version:default-1"), "{err}");
}

#[test]
fn a_wrong_method_on_a_documented_path_is_405_with_allow() {
    let app = spawn_app(|_| {});
    let send = |method: reqwest::Method, path: &str| {
        let res = app
            .client
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(key("admin"))
            .send()
            .expect("request");
        let allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = res.status().as_u16();
        let body: Value = res.json().unwrap_or(Value::Null);
        (status, allow, body)
    };
    let (status, allow, body) = send(reqwest::Method::GET, "/v1/assessments");
    assert_eq!((status, allow.as_deref()), (405, Some("POST")), "{body}");
    assert_eq!(body["code"], "method_not_allowed");
    let (status, allow, _) = send(reqwest::Method::DELETE, "/v1/assessments/abc");
    assert_eq!((status, allow.as_deref()), (405, Some("GET")));
    let (status, allow, _) = send(reqwest::Method::PUT, "/v1/rules/versions/v1/activate");
    assert_eq!((status, allow.as_deref()), (405, Some("POST")));
    let (status, allow, _) = send(reqwest::Method::POST, "/healthz");
    assert_eq!((status, allow.as_deref()), (405, Some("GET")));
    // A literal route beside a templated one (`/v1/models/{outcome}`, GET) allows its own
    // methods only.
    let (status, allow, _) = send(reqwest::Method::PUT, "/v1/models/recalibrations");
    assert_eq!((status, allow.as_deref()), (405, Some("POST")));
    let (status, allow, _) = send(reqwest::Method::DELETE, "/v1/models/activations");
    assert_eq!((status, allow.as_deref()), (405, Some("GET, POST")));
    // An undocumented path stays 404, without Allow.
    let (status, allow, body) = send(reqwest::Method::GET, "/v1/nothing-here");
    assert_eq!((status, allow), (404, None));
    assert_eq!(body["code"], "not_found");
}

#[test]
fn batch_items_must_be_objects_and_are_written_in_one_transaction() {
    let app = spawn_app(|_| {});
    let post = |body: Value| {
        let res = app
            .client
            .post(format!("{}/v1/assessments:batch", app.base))
            .bearer_auth(key("ehr"))
            .json(&body)
            .send()
            .expect("post");
        (res.status().as_u16(), res.json::<Value>().expect("json"))
    };
    let before = stored_records(&app);
    let (status, body) = post(json!({"items": [{"patient": lumbar_fusion_patient()}, 3]}));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "items[1]");
    assert_eq!(
        stored_records(&app),
        before,
        "a refused batch stores nothing"
    );
    // A batch of 100 while single assessments are appended concurrently: the batch's records are
    // consecutive in the chain and in item order (one transaction), never interleaved.
    let items: Vec<Value> = (0..100)
        .map(|_| json!({"patient": lumbar_fusion_patient(), "explain": false}))
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    let single = json!({"patient": lumbar_fusion_patient(), "explain": false}).to_string();
    let (status, body) = std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let (s, _, _) = app.post(Some("ehr"), &single);
                    assert_eq!(s, 201);
                }
            });
        }
        let answer = post(json!({ "items": items }));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        answer
    });
    assert_eq!(status, 200);
    let ids: Vec<String> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            r["assessment"]["assessment_id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    let store = periop::audit::SqliteAuditStore::open_read_only(&app.audit_file).expect("store");
    let seqs: Vec<i64> = ids
        .iter()
        .map(|id| {
            periop::audit::AuditStore::get(&store, id)
                .expect("read")
                .expect("stored")
                .seq
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}
