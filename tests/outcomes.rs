//! Where an assessment comes from and its recorded outcomes, end to end over HTTP on loopback
//! with the committed default model set and a real SQLite audit file: site checks (configured
//! sites, site-bound keys), patient references stored only as HMAC-SHA256 (checked on the audit
//! file's bytes, its `-wal` included), outcomes recorded by id and by reference, idempotency,
//! versions, every bad item rejected with `items[i].<member>` named and nothing stored, and
//! `periop outcomes import` (row errors, all or nothing).

#[path = "support/server.rs"]
mod server;

use std::path::Path;
use std::process::Command;

use hmac::{Hmac, Mac};
use periop::audit::{AuditStore, ListQuery, SqliteAuditStore};
use periop::config::{ApiKeyConfig, Role};
use periop::model::manifest::sha256_hex;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{key, spawn_app, TestApp};
use sha2::Sha256;

const SECRET: &str = "an-outcomes-test-secret-of-more-than-32-bytes";
const MRN: &str = "MRN-RAW-0042-zq";
const ENCOUNTER: &str = "ENC-RAW-7719-zq";
const SURGERY: &str = "2026-03-02";

/// HMAC-SHA256 of `value` under the test secret, computed here independently of periop.
fn hmac_hex(value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A server with sites `site-a` and `site-b`, a reference key (when `with_key`), and an extra
/// `ehr` key bound to `site-b` (`key("ehr-b")`). The temp dir holds the key file.
fn app(with_key: bool) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("reference.key");
    std::fs::write(&key_file, format!("{SECRET}\n")).expect("write key");
    let app = spawn_app(|s| {
        s.sites = vec!["site-a".into(), "site-b".into()];
        if with_key {
            s.reference_hmac_key_file = Some(key_file.clone());
        }
        s.api_keys.push(ApiKeyConfig {
            id: "ehr-b-key".into(),
            role: Role::Ehr,
            sha256: sha256_hex(key("ehr-b").as_bytes()),
            site: Some("site-b".into()),
        });
    });
    (app, dir)
}

/// A lumbar fusion (every outcome but ACDF conversion applies).
fn patient() -> Value {
    json!({
        "age_years": 74, "sex": "female", "height_cm": 160, "weight_kg": 82,
        "smoking_status": "former", "asa_class": 3, "diabetes": "non_insulin",
        "hypertension": true, "history_of_vte": true, "bleeding_disorder_or_anticoagulant": false,
        "osteoporosis": true, "hemoglobin_g_dl": 9.6, "procedure": "lumbar_fusion",
        "fused_levels": 4, "decompressed_levels": 3, "fusion_to_sacrum": true,
        "planned_duration_min": 300, "tranexamic_acid_planned": false, "odi_baseline": 52
    })
}

fn post(app: &TestApp, role: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(key(role))
        .json(body)
        .send()
        .expect("request");
    let status = response.status();
    (status, response.json().expect("json body"))
}

fn get(app: &TestApp, role: &str, path: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(key(role))
        .send()
        .expect("request");
    let status = response.status();
    (status, response.json().expect("json body"))
}

/// Assesses the patient with `extra` members; returns the answer.
fn assess(app: &TestApp, role: &str, extra: Value) -> (StatusCode, Value) {
    let mut body = json!({"patient": patient(), "explain": false});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    post(app, role, "/v1/assessments", &body)
}

fn assessed(app: &TestApp, extra: Value) -> String {
    let (status, answer) = assess(app, "ehr", extra);
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["assessment_id"]
        .as_str()
        .expect("assessment id")
        .to_string()
}

/// `(field, reason)` of every problem of a 422.
fn fields(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_string(),
                e["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn count(app: &TestApp) -> u64 {
    SqliteAuditStore::open_read_only(&app.audit_file)
        .expect("store")
        .count()
        .expect("count")
}

fn outcome_records(app: &TestApp) -> usize {
    SqliteAuditStore::open_read_only(&app.audit_file)
        .expect("store")
        .list(&ListQuery {
            kind: Some("outcome".into()),
            ..ListQuery::default()
        })
        .expect("list")
        .len()
}

/// The audit file and its WAL, as bytes.
fn audit_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("audit file");
    let wal = path.with_file_name(format!(
        "{}-wal",
        path.file_name().and_then(|n| n.to_str()).expect("name")
    ));
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn sites_are_checked_and_references_are_stored_only_as_keyed_hashes() {
    let (app, _dir) = app(true);
    let (status, answer) = assess(
        &app,
        "ehr",
        json!({"site": "site-a", "patient_reference": MRN, "encounter_reference": ENCOUNTER, "surgery_date": SURGERY}),
    );
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["site"], "site-a");
    assert_eq!(answer["patient_reference_hash"], hmac_hex(MRN));
    assert_eq!(answer["encounter_reference_hash"], hmac_hex(ENCOUNTER));
    assert_eq!(answer["surgery_date"], SURGERY);
    let text = answer.to_string();
    assert!(!text.contains(MRN) && !text.contains(ENCOUNTER), "{text}");
    let id = answer["assessment_id"].as_str().expect("id");
    let (status, stored) = get(&app, "clinician", &format!("/v1/assessments/{id}"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, answer, "the stored answer is the answer");

    // The raw references are nowhere in the audit file or its WAL; the hash is.
    let bytes = audit_bytes(&app.audit_file);
    assert!(contains(&bytes, &hmac_hex(MRN)), "the hash is recorded");
    assert!(
        !contains(&bytes, MRN),
        "the raw patient reference reached the audit file"
    );
    assert!(
        !contains(&bytes, ENCOUNTER),
        "the raw encounter reference reached the audit file"
    );
    let store = SqliteAuditStore::open_read_only(&app.audit_file).expect("store");
    let record = store.get(id).expect("read").expect("stored");
    let input: Value = serde_json::from_str(&record.record.input).expect("input json");
    assert_eq!(input["patient_reference_hash"], hmac_hex(MRN));
    assert!(input.get("patient_reference").is_none());

    // A site-bound key: its site by default, another site refused by name.
    let (status, answer) = assess(&app, "ehr-b", json!({}));
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["site"], "site-b");
    let (status, answer) = assess(&app, "ehr-b", json!({"site": "site-b"}));
    assert_eq!(
        (status, answer["site"].clone()),
        (StatusCode::CREATED, json!("site-b"))
    );
    let before = count(&app);
    let (status, problem) = assess(&app, "ehr-b", json!({"site": "site-a"}));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        fields(&problem),
        [("site".to_string(), "not_allowed".to_string())]
    );
    assert!(problem.to_string().contains("site-b"), "{problem}");
    let (status, problem) = assess(
        &app,
        "ehr",
        json!({"site": "site-c", "surgery_date": "2.3.2026"}),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&problem),
        [
            ("site".to_string(), "not_allowed".to_string()),
            ("surgery_date".to_string(), "wrong_type".to_string())
        ]
    );
    let (status, problem) = assess(&app, "ehr", json!({"patient_reference": "x".repeat(257)}));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&problem),
        [(
            "patient_reference".to_string(),
            "invalid_length".to_string()
        )]
    );
    // No site anywhere: none on the answer.
    let (_, plain) = assess(&app, "ehr", json!({}));
    assert!(plain.get("site").is_none() && plain.get("patient_reference_hash").is_none());
    // The batch takes the same members, item by item.
    let (status, batch) = post(
        &app,
        "ehr-b",
        "/v1/assessments:batch",
        &json!({"items": [{"patient": patient(), "explain": false}, {"patient": patient(), "explain": false, "site": "site-a"}]}),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(batch["results"][0]["assessment"]["site"], "site-b");
    assert_eq!(batch["results"][1]["status"], 422);
    assert_eq!(batch["results"][1]["problem"]["errors"][0]["field"], "site");
    assert_eq!(
        count(&app),
        before + 2,
        "only the answered items were recorded"
    );
}

#[test]
fn a_reference_without_a_configured_key_is_refused() {
    let (app, _dir) = app(false);
    let before = count(&app);
    let (status, problem) = assess(&app, "ehr", json!({"encounter_reference": ENCOUNTER}));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        fields(&problem),
        [(
            "encounter_reference".to_string(),
            "not_configured".to_string()
        )]
    );
    assert!(
        problem.to_string().contains("no reference key"),
        "{problem}"
    );
    assert_eq!(count(&app), before);
    assert!(!contains(&audit_bytes(&app.audit_file), ENCOUNTER));
}

#[test]
fn outcomes_are_recorded_by_id_and_reference_idempotently_and_in_versions() {
    let (app, _dir) = app(true);
    let a = assessed(
        &app,
        json!({"site": "site-a", "patient_reference": MRN, "surgery_date": SURGERY}),
    );
    let first = json!({"items": [
        {"assessment_id": a, "outcome": "dvt", "value": 1, "observed_at": "2026-03-09T09:00:00+01:00"},
        {"patient_reference": MRN, "surgery_date": SURGERY, "outcome": "blood_loss_ml", "value": 850}
    ]});
    let before = count(&app);
    let (status, body) = post(&app, "quality", "/v1/outcomes", &first);
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(
            (r["status"].as_str(), r["version"].as_u64()),
            (Some("recorded"), Some(1))
        );
        assert_eq!(r["assessment_id"], a, "the reference found the assessment");
    }
    assert_eq!(count(&app), before + 2);

    // The same again: already recorded, nothing added.
    let (status, again) = post(&app, "admin", "/v1/outcomes", &first);
    assert_eq!(status, StatusCode::OK);
    for (r, was) in again["results"]
        .as_array()
        .expect("results")
        .iter()
        .zip(results)
    {
        assert_eq!(r["status"], "already_recorded");
        assert_eq!(r["record_id"], was["record_id"]);
    }
    assert_eq!(count(&app), before + 2);

    // A changed value: a new version; the same item twice in one request stores it once.
    let changed = json!({"items": [
        {"assessment_id": a, "outcome": "blood_loss_ml", "value": 920.5},
        {"assessment_id": a, "outcome": "blood_loss_ml", "value": 920.5}
    ]});
    let (status, body) = post(&app, "quality", "/v1/outcomes", &changed);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["version"], 2);
    assert_eq!(body["results"][0]["status"], "recorded");
    assert_eq!(body["results"][1]["status"], "already_recorded");
    assert_eq!(
        body["results"][1]["record_id"],
        body["results"][0]["record_id"]
    );
    assert_eq!(count(&app), before + 3);

    let (status, listed) = get(&app, "clinician", &format!("/v1/assessments/{a}/outcomes"));
    assert_eq!(status, StatusCode::OK, "{listed}");
    let rows: Vec<(String, f64, u64, bool)> = listed["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| {
            (
                o["outcome"].as_str().unwrap_or_default().to_string(),
                o["value"].as_f64().unwrap_or(f64::NAN),
                o["version"].as_u64().unwrap_or(0),
                o["current"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("blood_loss_ml".to_string(), 920.5, 2, true),
            ("blood_loss_ml".to_string(), 850.0, 1, false),
            ("dvt".to_string(), 1.0, 1, true),
        ]
    );
    let dvt = &listed["outcomes"][2];
    assert_eq!(dvt["observed_at"], "2026-03-09T08:00:00Z");
    assert_eq!(dvt["recorded_by"], "quality-key");
    assert_eq!(listed["outcomes"][1]["linked_by"], "patient_reference");

    // The records are in the chain, linked to the model version, and never hold the reference.
    let store = SqliteAuditStore::open_read_only(&app.audit_file).expect("store");
    assert!(store.verify().expect("verify").is_intact());
    let records = store
        .list(&ListQuery {
            kind: Some("outcome".into()),
            ..ListQuery::default()
        })
        .expect("list");
    assert_eq!(records.len(), 3);
    let v2: Value = serde_json::from_str(&records[2].record.output).expect("json");
    assert_eq!(v2["supersedes"], results[1]["record_id"]);
    assert_eq!(v2["site"], "site-a");
    assert!(v2["model"]["version"]
        .as_str()
        .is_some_and(|v| v.starts_with("blood_loss_ml@")));
    assert!(!contains(&audit_bytes(&app.audit_file), MRN));

    // Back to the first value: a third version (never a rewrite of the first).
    let back = json!({"items": [{"assessment_id": a, "outcome": "blood_loss_ml", "value": 850}]});
    let (_, body) = post(&app, "quality", "/v1/outcomes", &back);
    assert_eq!(
        (
            body["results"][0]["version"].as_u64(),
            body["results"][0]["status"].as_str()
        ),
        (Some(3), Some("recorded"))
    );

    // Roles: ehr and clinician may not record; unknown assessments are 404 to read.
    let (status, _) = post(&app, "ehr", "/v1/outcomes", &first);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(&app, "clinician", "/v1/outcomes", &first);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = get(&app, "quality", "/v1/assessments/no-such-id/outcomes");
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("assessment_not_found"))
    );
}

#[test]
fn every_bad_item_is_named_and_a_bad_request_stores_nothing() {
    let (app, _dir) = app(true);
    let a = assessed(
        &app,
        json!({"patient_reference": MRN, "surgery_date": SURGERY}),
    );
    // Two assessments under one reference and date: linking by reference is ambiguous.
    assessed(
        &app,
        json!({"patient_reference": "MRN-TWIN", "surgery_date": "2026-04-01"}),
    );
    assessed(
        &app,
        json!({"patient_reference": "MRN-TWIN", "surgery_date": "2026-04-01"}),
    );
    let items = json!({"items": [
        {"assessment_id": a, "outcome": "dvt", "value": 1},
        {"assessment_id": a, "outcome": "dvt", "value": 2},
        {"assessment_id": a, "outcome": "blood_loss_ml", "value": 0},
        {"assessment_id": a, "outcome": "stroke", "value": 1},
        {"assessment_id": "5f0c1d4e-0000-4c3d-9e2f-1a2b3c4d5e6f", "outcome": "dvt", "value": 1},
        {"assessment_id": a, "outcome": "acdf_inpatient_conversion", "value": 0},
        {"patient_reference": "MRN-NOBODY", "surgery_date": SURGERY, "outcome": "dvt", "value": 1},
        {"outcome": "dvt", "value": 1},
        {"assessment_id": a, "outcome": "dvt", "value": "1"},
        {"assessment_id": a, "outcome": "dvt", "value": 1, "colour": "red"},
        {"assessment_id": a, "patient_reference": MRN, "outcome": "dvt", "value": 1},
        {"assessment_id": a, "outcome": "dvt", "value": 1, "observed_at": "yesterday"},
        {"patient_reference": MRN, "surgery_date": "02/03/2026", "outcome": "dvt", "value": 1},
        {"patient_reference": "MRN-TWIN", "surgery_date": "2026-04-01", "outcome": "dvt", "value": 0},
        {"patient_reference": MRN, "outcome": "dvt", "value": 1},
        {"assessment_id": a, "outcome": "blood_loss_ml", "value": 50001},
        {"assessment_id": a, "outcome": "dvt"}
    ]});
    let before = count(&app);
    let (status, problem) = post(&app, "quality", "/v1/outcomes", &items);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let expected: Vec<(String, String)> = [
        ("items[1].value", "out_of_range"),
        ("items[2].value", "out_of_range"),
        ("items[3].outcome", "unknown_level"),
        ("items[4].assessment_id", "unknown_assessment"),
        ("items[5].outcome", "not_predicted"),
        ("items[6].patient_reference", "no_match"),
        ("items[7].assessment_id", "required"),
        ("items[8].value", "wrong_type"),
        ("items[9].colour", "unknown_field"),
        ("items[10].patient_reference", "contradiction"),
        ("items[11].observed_at", "invalid_format"),
        ("items[12].surgery_date", "invalid_format"),
        ("items[13].patient_reference", "ambiguous"),
        ("items[14].surgery_date", "required"),
        ("items[15].value", "out_of_range"),
        ("items[16].value", "required"),
    ]
    .iter()
    .map(|(f, r)| ((*f).to_string(), (*r).to_string()))
    .collect();
    let mut got = fields(&problem);
    got.sort_by_key(|(f, _)| {
        f.trim_start_matches("items[")
            .split(']')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    });
    assert_eq!(got, expected, "{problem}");
    assert!(
        problem.to_string().contains("matches 2 stored assessments"),
        "{problem}"
    );
    assert!(
        !problem.to_string().contains(MRN),
        "a problem never echoes the reference"
    );
    assert_eq!(count(&app), before, "a rejected request stores nothing");
    assert_eq!(outcome_records(&app), 0);

    for body in [json!({"items": []}), json!({"item": []}), json!([1])] {
        let (status, problem) = post(&app, "quality", "/v1/outcomes", &body);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(problem["errors"][0]["field"], "items");
    }
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"assessment_id": a, "outcome": "dvt", "value": 1}))
        .collect();
    let (status, problem) = post(&app, "quality", "/v1/outcomes", &json!({"items": too_many}));
    assert_eq!(
        (status, problem["errors"][0]["reason"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("out_of_range"))
    );
    assert_eq!(count(&app), before);
}

/// Runs `periop outcomes import`.
fn import(app: &TestApp, dir: &Path, csv: &str) -> std::process::Output {
    let file = dir.join("outcomes.csv");
    std::fs::write(&file, csv).expect("write csv");
    Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(["outcomes", "import", "--store"])
        .arg(&app.audit_file)
        .arg("--reference-key-file")
        .arg(dir.join("reference.key"))
        .arg(&file)
        .env_remove("PERIOP_AUDIT_STORE")
        .output()
        .expect("periop runs")
}

#[test]
fn the_csv_import_names_rows_and_columns_and_imports_all_or_nothing() {
    let (app, dir) = app(true);
    let a = assessed(
        &app,
        json!({"patient_reference": MRN, "surgery_date": SURGERY}),
    );
    let before = count(&app);

    let bad = format!(
        "assessment_id,patient_reference,surgery_date,outcome,value,observed_at\n\
         {a},,,dvt,1,2026-03-09T08:00:00Z\n\
         {a},,,delirium,7,\n\
         ,{MRN},,readmission_30d,0,\n\
         ,{MRN},{SURGERY},blood_loss_ml,lots,\n"
    );
    let out = import(&app, dir.path(), &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("row 4 (line 5), column value: must be a number"),
        "{stderr}"
    );
    assert_eq!(count(&app), before, "nothing imported: {stderr}");
    // Once every cell has its type, the checks of the service name row and column.
    let bad = format!(
        "assessment_id,patient_reference,surgery_date,outcome,value,observed_at\n\
         {a},,,dvt,1,2026-03-09T08:00:00Z\n\
         {a},,,delirium,7,\n\
         ,{MRN},,readmission_30d,0,\n"
    );
    let out = import(&app, dir.path(), &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("row 2 (line 3), column value: must be 0 or 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 3 (line 4), column surgery_date: is required"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing imported"), "{stderr}");
    assert!(
        !stderr.contains("row 1 "),
        "the good row has no problem: {stderr}"
    );
    assert_eq!(count(&app), before, "a bad row imports nothing");

    let out = import(
        &app,
        dir.path(),
        &format!("assessment_id,outcome,value,note\n{a},dvt,1,x\n"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("column 4: `note` is not a column"),
        "{stderr}"
    );

    let good = format!(
        "assessment_id,patient_reference,surgery_date,outcome,value,observed_at\n\
         {a},,,dvt,1,2026-03-09T08:00:00Z\n\
         ,{MRN},{SURGERY},blood_loss_ml,640,\n"
    );
    let out = import(&app, dir.path(), &good);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 recorded, 0 already recorded"),
        "{stdout}"
    );
    assert_eq!(count(&app), before + 2);
    let out = import(&app, dir.path(), &good);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 recorded, 2 already recorded"));
    assert_eq!(count(&app), before + 2, "the same file again adds nothing");

    let (_, listed) = get(&app, "quality", &format!("/v1/assessments/{a}/outcomes"));
    let outcomes = listed["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0]["outcome"], "blood_loss_ml");
    assert_eq!(outcomes[0]["recorded_by"], "periop-cli");
    assert!(!contains(&audit_bytes(&app.audit_file), MRN));
}
