//! The audit search and export end to end: real HTTP on loopback, the committed default model
//! set, a real SQLite audit file, and the index on a real PostgreSQL server (a throwaway cluster,
//! `support/postgres.rs`). Expected results are computed here from the answers the server sent,
//! never from the index: every filter narrows to exactly the assessments it should, pagination
//! covers each record once while others are appended, CSV and NDJSON exports equal the search,
//! reads are recorded (who, what), a clinician key is refused, a store created before the index
//! reindexes to the same rows as live indexing (both backends), and every bad parameter is named.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "support/postgres.rs"]
#[allow(dead_code, reason = "stop and restart are for the outage tests")]
mod postgres;
#[path = "support/server.rs"]
mod server;

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use periop::audit::postgres::{PostgresAuditStore, PostgresOptions};
use periop::audit::{
    AuditError, AuditRecord, AuditStore, ListQuery, SearchQuery, SqliteAuditStore,
};
use periop::config::{ApiKeyConfig, Role};
use periop::model::manifest::sha256_hex;
use postgres::TestCluster;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{key, spawn_app, TestApp};

const SECRET: &str = "an-audit-search-test-secret-of-more-than-32-bytes";

/// A server with sites `north` and `south` and a reference key; the temp dir holds the key.
fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("reference.key");
    std::fs::write(&key_file, format!("{SECRET}\n")).expect("write key");
    let app = spawn_app(|s| {
        s.sites = vec!["north".into(), "south".into()];
        s.reference_hmac_key_file = Some(key_file.clone());
        s.api_keys.push(ApiKeyConfig {
            id: "ehr-south-key".into(),
            role: Role::Ehr,
            sha256: sha256_hex(key("ehr-south").as_bytes()),
            site: Some("south".into()),
        });
    });
    (app, dir)
}

/// A lumbar fusion patient; `older` changes the risks (and so the bands).
fn patient(older: bool) -> Value {
    let mut p = json!({
        "age_years": 52, "sex": "male", "height_cm": 178, "weight_kg": 80,
        "smoking_status": "never", "asa_class": 1, "procedure": "lumbar_fusion",
        "fused_levels": 1, "decompressed_levels": 1, "fusion_to_sacrum": false,
        "planned_duration_min": 120, "tranexamic_acid_planned": true
    });
    if older {
        p = json!({
            "age_years": 79, "sex": "female", "height_cm": 158, "weight_kg": 88,
            "smoking_status": "current", "asa_class": 4, "diabetes": "insulin",
            "hypertension": true, "history_of_vte": true, "osteoporosis": true,
            "hemoglobin_g_dl": 9.1, "procedure": "lumbar_fusion", "fused_levels": 6,
            "decompressed_levels": 4, "fusion_to_sacrum": true, "planned_duration_min": 420,
            "tranexamic_acid_planned": false
        });
    }
    p
}

fn send(app: &TestApp, role: &str, path: &str) -> reqwest::blocking::Response {
    app.client
        .get(format!("{}{path}", app.base))
        .bearer_auth(key(role))
        .send()
        .expect("request")
}

fn get(app: &TestApp, role: &str, path: &str) -> (StatusCode, Value) {
    let r = send(app, role, path);
    let status = r.status();
    (status, r.json().expect("json body"))
}

/// Assesses with `role`'s key; returns the answer.
fn assess(app: &TestApp, role: &str, body: Value) -> Value {
    let r = app
        .client
        .post(format!("{}/v1/assessments", app.base))
        .bearer_auth(key(role))
        .json(&body)
        .send()
        .expect("request");
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().expect("answer")
}

/// A varied set of assessments: two sites, two callers, two patients, some with only a subset
/// of outcomes, references on some. Returns (caller key id, answer), oldest first.
fn populate(app: &TestApp) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for i in 0..12_u32 {
        let older = i.is_multiple_of(3);
        let mut body = json!({"patient": patient(older), "explain": false});
        let role = if i % 4 == 1 { "ehr-south" } else { "ehr" };
        if role == "ehr" {
            body["site"] = json!(if i.is_multiple_of(2) {
                "north"
            } else {
                "south"
            });
        }
        if i % 5 == 2 {
            body["outcomes"] = json!(["delirium", "blood_loss_ml"]);
        }
        if i.is_multiple_of(2) {
            body["patient_reference"] = json!(format!("MRN-{}", i % 4));
            body["surgery_date"] = json!("2026-03-02");
        }
        let id = if role == "ehr" {
            "ehr-key"
        } else {
            "ehr-south-key"
        };
        out.push((id.to_string(), assess(app, role, body)));
    }
    // An admin key assesses too (another caller).
    out.push((
        "admin-key".into(),
        assess(
            app,
            "admin",
            json!({"patient": patient(true), "explain": false, "site": "north"}),
        ),
    ));
    out
}

/// Every item of a search, following `next_cursor`.
fn search_all(app: &TestApp, query: &str, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/audit/assessments?limit={limit}");
        if !query.is_empty() {
            path.push('&');
            // A literal `+` in a query string is a space: model versions carry one.
            path.push_str(&query.replace('+', "%2B"));
        }
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = get(app, "quality", &path);
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["assessment_id"].as_str().unwrap().to_string())
        .collect()
}

fn ok_prediction<'a>(answer: &'a Value, outcome: &str) -> Option<&'a Value> {
    answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["outcome"] == outcome && p["status"] == "ok")
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The ids (newest first) of the answers `keep` selects.
fn expected(answers: &[(String, Value)], keep: impl Fn(&str, &Value) -> bool) -> Vec<String> {
    answers
        .iter()
        .rev()
        .filter(|(caller, a)| keep(caller, a))
        .map(|(_, a)| a["assessment_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn each_filter_narrows_to_exactly_the_matching_assessments() {
    let (app, _dir) = app();
    let answers = populate(&app);
    let all = search_all(&app, "", 500);
    assert_eq!(ids(&all), expected(&answers, |_, _| true));

    // The listed fields are the answer's; no patient inputs.
    let newest = &answers.last().unwrap().1;
    let item = &all[0];
    assert_eq!(item["site"], newest["site"]);
    assert_eq!(item["caller"], "admin-key");
    assert_eq!(item["model_set_version"], newest["model_set"]["version"]);
    assert_eq!(
        item["rule_set_version"],
        newest
            .get("rule_set")
            .map_or(Value::Null, |r| r["version"].clone())
    );
    assert!(item.get("patient").is_none() && item.get("inputs").is_none());
    let listed = item["outcomes"].as_array().unwrap();
    let predicted = newest["predictions"].as_array().unwrap();
    assert_eq!(listed.len(), predicted.len());
    for (l, p) in listed.iter().zip(predicted) {
        assert_eq!(l["outcome"], p["outcome"]);
        assert_eq!(l["model_version"], p["model"]["version"]);
        assert_eq!(l["not_applicable"], p["status"] == "not_applicable");
        assert_eq!(
            l["risk_band"],
            p.get("risk_band").cloned().unwrap_or(Value::Null)
        );
        if p["outcome"] == "blood_loss_ml" && p["status"] == "ok" {
            assert_eq!(l["median_ml"], p["quantity"]["median"]);
        } else if p["status"] == "ok" {
            assert_eq!(l["probability"], p["probability"]);
        }
    }

    let check = |query: &str, want: Vec<String>| {
        assert!(
            !want.is_empty(),
            "{query}: the fixture should match something"
        );
        assert_eq!(ids(&search_all(&app, query, 500)), want, "{query}");
    };
    check(
        "site=south",
        expected(&answers, |_, a| a["site"] == "south"),
    );
    check(
        "caller=ehr-south-key",
        expected(&answers, |c, _| c == "ehr-south-key"),
    );
    check(
        "caller=admin-key",
        expected(&answers, |c, _| c == "admin-key"),
    );
    check(
        "outcome=dvt",
        expected(&answers, |_, a| ok_prediction(a, "dvt").is_some()),
    );
    assert!(expected(&answers, |_, a| ok_prediction(a, "dvt").is_some()).len() < answers.len());
    let band = ok_prediction(&answers[0].1, "dvt").unwrap()["risk_band"]
        .as_str()
        .unwrap()
        .to_string();
    check(
        &format!("outcome=dvt&band={band}"),
        expected(&answers, |_, a| {
            ok_prediction(a, "dvt").is_some_and(|p| p["risk_band"] == band.as_str())
        }),
    );
    let set_version = answers[0].1["model_set"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    check(
        &format!("model_version={set_version}"),
        expected(&answers, |_, _| true),
    );
    let dvt_model = answers[0].1["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["outcome"] == "dvt")
        .unwrap()["model"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    check(
        &format!("model_version={dvt_model}"),
        expected(&answers, |_, a| {
            a["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["model"]["version"] == dvt_model.as_str())
        }),
    );
    if let Some(rules) = answers[0].1["rule_set"]["version"].as_str() {
        check(
            &format!("rule_version={rules}"),
            expected(&answers, |_, a| a["rule_set"]["version"] == rules),
        );
    }
    let (from, to) = (
        answers[3].1["created_at"].as_str().unwrap().to_string(),
        answers[9].1["created_at"].as_str().unwrap().to_string(),
    );
    check(
        &format!("from={from}&to={to}"),
        expected(&answers, |_, a| {
            let t = time(a["created_at"].as_str().unwrap());
            t >= time(&from) && t < time(&to)
        }),
    );
    check(
        &format!("site=north&outcome=delirium&from={from}"),
        expected(&answers, |_, a| {
            a["site"] == "north"
                && ok_prediction(a, "delirium").is_some()
                && time(a["created_at"].as_str().unwrap()) >= time(&from)
        }),
    );
    assert!(search_all(&app, "site=north&caller=ehr-south-key", 500).is_empty());
    // Small pages give the same listing.
    assert_eq!(ids(&search_all(&app, "", 3)), ids(&all));
}

#[test]
fn pages_cover_every_record_once_while_others_are_appended() {
    let (app, _dir) = app();
    for i in 0..25_u32 {
        assess(
            &app,
            "ehr",
            json!({"patient": patient(i.is_multiple_of(2)), "explain": false, "outcomes": ["dvt"], "site": "north"}),
        );
    }
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (app, stop) = (app.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                assess(
                    &app,
                    "ehr",
                    json!({"patient": patient(false), "explain": false, "outcomes": ["dvt"], "site": "north"}),
                );
                n += 1;
            }
            n
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/audit/assessments?limit=4".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = get(&app, "quality", &path);
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(page["items"].as_array().unwrap()));
        // Let appends land between page reads.
        std::thread::sleep(std::time::Duration::from_millis(30));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let appended = writer.join().unwrap();
    assert!(
        appended > 0,
        "no assessment was appended during the listing"
    );
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a record was listed twice");
    // The listing is exactly the full listing from its first record down: none skipped.
    let full = ids(&search_all(&app, "", 500));
    let start = full.iter().position(|id| *id == seen[0]).unwrap();
    assert_eq!(seen, full[start..].to_vec());
    assert!(seen.len() >= 25);
}

#[test]
fn exports_equal_the_search_and_reads_are_recorded() {
    let (app, _dir) = app();
    let answers = populate(&app);
    let query = "outcome=dvt";
    let searched = search_all(&app, query, 2);

    let r = send(
        &app,
        "quality",
        &format!("/v1/audit/assessments/export?format=ndjson&{query}"),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let header = |r: &reqwest::blocking::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(header(&r, "content-type").starts_with("application/x-ndjson"));
    assert!(header(&r, "content-disposition").contains(".ndjson"));
    let text = r.text().unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, searched);

    let r = send(
        &app,
        "admin",
        &format!("/v1/audit/assessments/export?format=csv&{query}"),
    );
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type").starts_with("text/csv"));
    assert!(header(&r, "content-disposition").contains("attachment"));
    let csv_text = r.text().unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let columns: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), searched.len());
    let cell = |row: &csv::StringRecord, name: &str| {
        row.get(columns.iter().position(|c| c == name).unwrap())
            .unwrap()
            .to_string()
    };
    for (row, item) in rows.iter().zip(&searched) {
        assert_eq!(
            cell(row, "assessment_id"),
            item["assessment_id"].as_str().unwrap()
        );
        assert_eq!(cell(row, "site"), item["site"].as_str().unwrap_or_default());
        assert_eq!(cell(row, "caller"), item["caller"].as_str().unwrap());
        for o in item["outcomes"].as_array().unwrap() {
            let id = o["outcome"].as_str().unwrap();
            assert_eq!(
                cell(row, &format!("{id}_risk_band")),
                o["risk_band"].as_str().unwrap_or_default()
            );
            assert_eq!(
                cell(row, &format!("{id}_not_applicable")),
                o["not_applicable"].as_bool().unwrap().to_string()
            );
            let (column, value) = if id == "blood_loss_ml" {
                ("median_ml", &o["median_ml"])
            } else {
                ("probability", &o["probability"])
            };
            let written = cell(row, &format!("{id}_{column}"));
            match value.as_f64() {
                Some(v) => assert_eq!(written.parse::<f64>().unwrap(), v),
                None => assert_eq!(written, ""),
            }
        }
    }
    assert!(rows.len() < answers.len(), "the filter narrowed the export");

    // Reads of patient-level data are recorded: who and what.
    let someone = answers[0].1["assessment_id"].as_str().unwrap().to_string();
    let (status, _) = get(&app, "clinician", &format!("/v1/assessments/{someone}"));
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(
        &app,
        "quality",
        &format!("/v1/assessments/{someone}/outcomes"),
    );
    assert_eq!(status, StatusCode::OK);
    let store = SqliteAuditStore::open_read_only(&app.audit_file).unwrap();
    let reads: Vec<(String, Value)> = store
        .list(&ListQuery {
            kind: Some("audit_read".into()),
            ..ListQuery::default()
        })
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.record.caller,
                serde_json::from_str(&s.record.output).unwrap(),
            )
        })
        .collect();
    let searches: Vec<&(String, Value)> = reads
        .iter()
        .filter(|(_, r)| r["read"] == "search")
        .collect();
    let pages: Vec<String> = searches
        .iter()
        .flat_map(|(_, r)| r["assessment_ids"].as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(pages, ids(&searched), "each page's ids are recorded");
    assert!(searches
        .iter()
        .all(|(c, r)| c == "quality-key" && r["query"]["outcome"] == "dvt"));
    let exports: Vec<&(String, Value)> = reads
        .iter()
        .filter(|(_, r)| r["read"] == "export")
        .collect();
    assert_eq!(exports.len(), 2);
    assert_eq!(exports[0].0, "quality-key");
    assert_eq!(exports[0].1["format"], "ndjson");
    assert_eq!(exports[1].0, "admin-key");
    assert_eq!(exports[1].1["query"]["outcome"], "dvt");
    let read_one = reads
        .iter()
        .find(|(_, r)| r["read"] == "assessment")
        .expect("the GET is recorded");
    assert_eq!(read_one.0, "clinician-key");
    assert_eq!(read_one.1["assessment_ids"], json!([someone]));
    assert!(reads
        .iter()
        .any(|(c, r)| c == "quality-key" && r["read"] == "outcomes"));
    // Read records are never listed by the search.
    assert_eq!(search_all(&app, "", 500).len(), answers.len());
}

#[test]
fn a_clinician_is_refused_and_every_bad_parameter_is_named() {
    let (app, _dir) = app();
    for path in [
        "/v1/audit/assessments",
        "/v1/audit/assessments/export?format=csv",
    ] {
        assert_eq!(
            send(&app, "clinician", path).status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            send(&app, "ehr", path).status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
        let anonymous = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let fields = |path: &str| -> Vec<(String, String)> {
        let (status, problem) = get(&app, "quality", path);
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap().to_string(),
                    e["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pair = |f: &str, r: &str| (f.to_string(), r.to_string());
    assert_eq!(
        fields("/v1/audit/assessments?limit=0&outcome=flu&cursor=zz&from=today&sort=asc"),
        vec![
            pair("sort", "unknown_field"),
            pair("from", "invalid_format"),
            pair("outcome", "unknown_level"),
            pair("limit", "out_of_range"),
            pair("cursor", "invalid_format"),
        ]
    );
    assert_eq!(
        fields("/v1/audit/assessments?band=high"),
        vec![pair("band", "contradiction")]
    );
    assert_eq!(
        fields("/v1/audit/assessments?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z"),
        vec![pair("to", "contradiction")]
    );
    assert_eq!(
        fields("/v1/audit/assessments?limit=501"),
        vec![pair("limit", "out_of_range")]
    );
    assert_eq!(
        fields("/v1/audit/assessments/export"),
        vec![pair("format", "required")]
    );
    assert_eq!(
        fields("/v1/audit/assessments/export?format=xml&limit=3"),
        vec![
            pair("limit", "unknown_field"),
            pair("format", "unknown_level")
        ]
    );
    assert_eq!(
        fields("/v1/audit/assessments/export?format=csv&band=high"),
        vec![pair("band", "contradiction")]
    );
}

// ---------------------------------------------------------------- the index in both backends

/// The answers of a populated server as records (as the service writes them).
fn records_of(answers: &[(String, Value)]) -> Vec<AuditRecord> {
    answers
        .iter()
        .map(|(caller, a)| AuditRecord {
            assessment_id: a["assessment_id"].as_str().unwrap().to_string(),
            request_id: "req_test".into(),
            created_at: a["created_at"].as_str().unwrap().to_string(),
            caller: caller.clone(),
            kind: "assessment".into(),
            model_set: "{}".into(),
            input: "{}".into(),
            normalised: "null".into(),
            output: a.to_string(),
            shap: "null".into(),
        })
        .collect()
}

/// Searches every backend must answer alike.
fn queries(answers: &[(String, Value)]) -> Vec<SearchQuery> {
    let q = |f: &dyn Fn(&mut SearchQuery)| {
        let mut query = SearchQuery {
            limit: 500,
            ..SearchQuery::default()
        };
        f(&mut query);
        query
    };
    let from = time(answers[4].1["created_at"].as_str().unwrap());
    vec![
        q(&|_| {}),
        q(&|s| s.site = Some("south".into())),
        q(&|s| s.outcome = Some("dvt".into())),
        q(&|s| {
            s.outcome = Some("dvt".into());
            s.band = Some("low".into());
        }),
        q(&|s| s.caller = Some("admin-key".into())),
        q(&|s| s.since = Some(from)),
        q(&|s| {
            s.before_seq = Some(7);
            s.limit = 3;
        }),
    ]
}

fn reindex(store: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(["audit", "reindex", "--store", store])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn a_pre_index_store_reindexes_to_the_live_rows_in_sqlite_and_postgres() {
    let (app, dir) = app();
    let answers = populate(&app);
    let records = records_of(&answers);
    let n = records.len();

    let live = SqliteAuditStore::open(dir.path().join("live.db")).unwrap();
    assert!(live.append_all(&records).into_iter().all(|r| r.is_ok()));
    let expected: Vec<_> = queries(&answers)
        .iter()
        .map(|q| live.search(q).unwrap())
        .collect();
    assert_eq!(expected[0].len(), n);
    assert!(expected.iter().skip(1).all(|hits| hits.len() < n));

    // SQLite: a store of schema version 2 (before the index), then upgraded.
    let old = dir.path().join("old.db");
    {
        let store = SqliteAuditStore::open(&old).unwrap();
        assert!(store.append_all(&records).into_iter().all(|r| r.is_ok()));
    }
    {
        let conn = rusqlite::Connection::open(&old).unwrap();
        conn.execute_batch(
            "DROP TABLE audit_search_predictions; DROP TABLE audit_search_assessments; \
             DROP TABLE audit_search_state; DROP TABLE audit_search_outcomes; \
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let upgraded = SqliteAuditStore::open(&old).unwrap();
    let n_seq = i64::try_from(n).unwrap();
    assert!(matches!(
        upgraded.search(&queries(&answers)[0]),
        Err(AuditError::IndexIncomplete { from_seq }) if from_seq == n_seq + 1
    ));
    drop(upgraded);
    let said = reindex(old.to_str().unwrap());
    assert!(said.contains(&format!("{n} assessments indexed")), "{said}");
    let upgraded = SqliteAuditStore::open_read_only(&old).unwrap();
    for (q, want) in queries(&answers).iter().zip(&expected) {
        assert_eq!(&upgraded.search(q).unwrap(), want, "{q:?}");
    }

    // PostgreSQL: live indexing gives the same rows as SQLite, and so does a reindex of a
    // database migrated from version 1.
    let pg = TestCluster::start();
    let url = pg.create_database("search");
    let options = PostgresOptions {
        pool_size: 2,
        timeout: std::time::Duration::from_secs(5),
    };
    let store = PostgresAuditStore::open(&url, &options).unwrap();
    assert!(store.append_all(&records).into_iter().all(|r| r.is_ok()));
    for (q, want) in queries(&answers).iter().zip(&expected) {
        assert_eq!(&store.search(q).unwrap(), want, "postgres {q:?}");
    }
    let (hash, date) = {
        let a = &answers[0].1;
        (
            a["patient_reference_hash"].as_str().unwrap().to_string(),
            a["surgery_date"].as_str().unwrap().to_string(),
        )
    };
    let linked = |s: &dyn AuditStore| -> Vec<String> {
        s.by_reference(&hash, &date)
            .unwrap()
            .into_iter()
            .map(|h| h.terms.assessment_id)
            .collect()
    };
    let want: Vec<String> = answers
        .iter()
        .filter(|(_, a)| a["patient_reference_hash"] == hash.as_str())
        .map(|(_, a)| a["assessment_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(linked(&store), want);
    assert_eq!(linked(&live), want);
    drop(store);
    pg.psql(
        "search",
        "DROP TABLE audit_search_predictions; DROP TABLE audit_search_assessments; \
         DROP TABLE audit_search_state; DROP TABLE audit_search_outcomes; \
         DELETE FROM periop_schema_migrations WHERE version >= 2;",
    );
    let store = PostgresAuditStore::open(&url, &options).unwrap();
    assert!(matches!(
        store.search(&queries(&answers)[0]),
        Err(AuditError::IndexIncomplete { .. })
    ));
    let said = reindex(&url);
    assert!(said.contains(&format!("{n} assessments indexed")), "{said}");
    for (q, want) in queries(&answers).iter().zip(&expected) {
        assert_eq!(&store.search(q).unwrap(), want, "postgres reindexed {q:?}");
    }
    assert_eq!(linked(&store), want);
}
