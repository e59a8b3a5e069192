//! Local recalibration from the outcomes recorded in the audit store, end to end: a synthetic
//! cohort is assessed over HTTP at two sites (a real server, a real SQLite audit file), one
//! site's outcomes are recorded through `POST /v1/outcomes` after being redrawn from a
//! deliberately distorted truth; then `periop recalibrate --store` (the binary) brings that
//! site's held-out intercept and slope back without lowering the AUC, below the minimum it
//! refuses with the count and the minimum and writes nothing, and `POST
//! /v1/models/recalibrations` writes an audited, inactive set under `model_sets_dir` that
//! `POST /v1/models/activations` then activates. Roles, bad members and a server without
//! `model_sets_dir` are refused as documented. The consistency check (stored inputs must
//! reproduce the stored probability) is tested on the service function with a tampered record.

#[path = "support/conform.rs"]
mod conform;
#[path = "support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

use periop::audit::{AuditStore, ListQuery, SqliteAuditStore};
use periop::metrics::{logit, sigmoid};
use periop::model::ensemble::ModelSet;
use periop::outcomes::Outcome;
use periop::service::recalibration::KIND_MODEL_SET_RECALIBRATION;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{key, spawn_app, TestApp};

const OUTCOME: Outcome = Outcome::ProlongedLos;
const SITE: &str = "site_b";
const OTHER: &str = "site_a";
/// The miscalibrated site's true log-odds: `SLOPE·logit(p_true) + SHIFT`. A larger shift than
/// tests/recalibrate.rs uses: on this cohort (prolonged_los ~24 %) a shift of 0.7 and a slope of
/// 1.5 nearly cancel in the mean, leaving calibration-in-the-large inside its CI.
const SHIFT: f64 = 1.2;
const SLOPE: f64 = 1.5;
/// Cohort rows assessed at `SITE`, and at `OTHER` (well calibrated, must not be used).
const SITE_ROWS: usize = 4_000;
const OTHER_ROWS: usize = 600;

fn default_set() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

fn index(o: Outcome) -> usize {
    Outcome::ALL.iter().position(|a| *a == o).expect("outcome")
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

fn window() -> (String, String) {
    let now = chrono::Utc::now();
    let f = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (
        f(now - chrono::Duration::hours(1)),
        f(now + chrono::Duration::hours(1)),
    )
}

/// Assesses the cohort (batches of 1,000) and records `OUTCOME` for every row it applies to:
/// `SITE`'s redrawn from the distorted truth, `OTHER`'s as generated.
fn assess_and_record(app: &TestApp) {
    let rows: Vec<_> = periop::synth::generate(3 * (SITE_ROWS + OTHER_ROWS), 20_261_202)
        .into_iter()
        .filter(|r| OUTCOME.applies_to(&r.patient).is_ok() && r.outcomes[index(OUTCOME)].is_some())
        .take(SITE_ROWS + OTHER_ROWS)
        .collect();
    assert_eq!(rows.len(), SITE_ROWS + OTHER_ROWS);
    let site_of = |i: usize| if i < SITE_ROWS { SITE } else { OTHER };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let k = index(OUTCOME);
    let mut outcomes = Vec::new();
    for (chunk_index, chunk) in rows.chunks(1000).enumerate() {
        let items: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(j, r)| {
                json!({"patient": r.patient.to_json(), "explain": false, "outcomes": [OUTCOME.id()],
                       "site": site_of(chunk_index * 1000 + j)})
            })
            .collect();
        let (status, batch) = post(
            app,
            "ehr",
            "/v1/assessments:batch",
            &json!({"items": items}),
        );
        assert_eq!(status, StatusCode::OK, "{batch}");
        for (j, (row, result)) in chunk
            .iter()
            .zip(batch["results"].as_array().expect("results"))
            .enumerate()
        {
            assert_eq!(result["status"], 201, "{result}");
            let id = result["assessment"]["assessment_id"].as_str().expect("id");
            let label = if site_of(chunk_index * 1000 + j) == SITE {
                let p = row.truth[k].expect("synthetic rows carry p_true");
                rng.gen::<f64>() < sigmoid(SLOPE * logit(p) + SHIFT)
            } else {
                row.outcomes[k] == Some(1.0)
            };
            outcomes.push(
                json!({"assessment_id": id, "outcome": OUTCOME.id(), "value": u8::from(label)}),
            );
        }
    }
    for chunk in outcomes.chunks(1000) {
        let (status, body) = post(app, "quality", "/v1/outcomes", &json!({"items": chunk}));
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

fn ci(v: &Value) -> Option<(f64, f64)> {
    // The manifest serialises a CI as [lower, upper], the API as {lower, upper}.
    match v {
        Value::Array(a) => Some((a.first()?.as_f64()?, a.get(1)?.as_f64()?)),
        Value::Object(_) => Some((v["lower"].as_f64()?, v["upper"].as_f64()?)),
        _ => None,
    }
}

fn contains(ci: Option<(f64, f64)>, v: f64) -> bool {
    ci.is_some_and(|(lo, hi)| lo <= v && v <= hi)
}

fn widened(ci: Option<(f64, f64)>, factor: f64) -> Option<(f64, f64)> {
    ci.map(|(lo, hi)| {
        let (mid, half) = ((lo + hi) / 2.0, (hi - lo) / 2.0);
        (mid - factor * half, mid + factor * half)
    })
}

/// The acceptance of tests/recalibrate.rs on before/after figures (manifest or API form).
fn assert_recalibrated(result: &Value) {
    let (before, after) = (&result["before"], &result["after"]);
    let held = before["rows"].as_f64().expect("rows");
    let fit = result["fit_rows"].as_f64().expect("fit rows");
    let factor = (1.0 + held / fit).sqrt();
    assert!(
        !contains(widened(ci(&before["intercept_ci"]), factor), 0.0),
        "{before}"
    );
    assert!(
        !contains(widened(ci(&before["slope_ci"]), factor), 1.0),
        "{before}"
    );
    assert!(before["slope"].as_f64().expect("slope") > 1.2, "{before}");
    assert!(
        contains(widened(ci(&after["intercept_ci"]), factor), 0.0),
        "{after}"
    );
    assert!(
        contains(widened(ci(&after["slope_ci"]), factor), 1.0),
        "{after}"
    );
    assert!(
        after["intercept"].as_f64().expect("i").abs()
            < before["intercept"].as_f64().expect("i").abs() / 2.0
    );
    assert!(after["brier"].as_f64() < before["brier"].as_f64());
    let (a, b) = (
        before["auc"].as_f64().expect("auc"),
        after["auc"].as_f64().expect("auc"),
    );
    assert!(b >= a - 1e-12, "{a} -> {b}");
}

fn recalibrate_cli(store: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_periop"))
        .arg("recalibrate")
        .arg("--models")
        .arg(default_set())
        .arg("--store")
        .arg(store)
        .arg("--out")
        .arg(out)
        .args(["--site", SITE, "--outcomes", OUTCOME.id()])
        .args(extra)
        .output()
        .expect("run periop")
}

fn recalibration_records(audit: &Path) -> Vec<Value> {
    let store = SqliteAuditStore::open_read_only(audit).expect("store");
    store
        .list(&ListQuery {
            kind: Some(KIND_MODEL_SET_RECALIBRATION.into()),
            ..ListQuery::default()
        })
        .expect("list")
        .into_iter()
        .map(|r| {
            let mut v: Value = serde_json::from_str(&r.record.output).expect("output");
            v["_caller"] = json!(r.record.caller);
            v
        })
        .collect()
}

fn dirs(path: &Path) -> usize {
    std::fs::read_dir(path).map_or(0, |d| d.count())
}

#[test]
fn a_miscalibrated_site_recorded_in_the_store_is_recalibrated_by_the_cli_and_the_endpoint() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sets = tmp.path().join("sets");
    std::fs::create_dir(&sets).expect("sets dir");
    let sets_for_server = sets.clone();
    let app = spawn_app(move |s| {
        s.sites = vec![SITE.into(), OTHER.into()];
        s.model_sets_dir = Some(sets_for_server);
    });
    assess_and_record(&app);

    // The CLI, on the server's own store (opened read-only while the server runs).
    let out = tmp.path().join("cli_set");
    let o = recalibrate_cli(&app.audit_file, &out, &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    let written = ModelSet::load(&out).expect("the written set verifies");
    let provenance = written
        .set_manifest()
        .recalibration
        .clone()
        .expect("provenance");
    assert_eq!(provenance.source, "audit store");
    assert_eq!(provenance.site.as_deref(), Some(SITE));
    assert_eq!(provenance.window.as_deref(), Some("the whole store"));
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(OUTCOME.id()).join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let recalibration = &manifest["metrics"]["recalibration"];
    let rows = &recalibration["local_rows"];
    assert_eq!(
        rows["rows"].as_u64(),
        Some(SITE_ROWS as u64),
        "only {SITE}'s rows: {rows}"
    );
    assert_eq!(rows["unparseable_patients"], 0);
    let answered = rows["answered_by"].as_array().expect("answered_by");
    assert_eq!(answered.len(), 1, "{rows}");
    assert_eq!(
        answered[0]["checked"], true,
        "every row reproduced its stored probability"
    );
    assert_eq!(
        recalibration["result"]["rows"].as_u64(),
        Some(SITE_ROWS as u64)
    );
    assert_recalibrated(&recalibration["result"]);
    let card = std::fs::read_to_string(out.join("RECALIBRATION.md")).expect("card");
    assert!(
        card.contains(&format!(
            "Recalibrated on {SITE_ROWS} local outcomes recorded in the audit store (site {SITE}, window the whole store)"
        )),
        "{card}"
    );
    assert!(stdout.contains("answered by"), "{stdout}");

    // Below the minimum: refused with the count and the minimum; nothing written.
    let refused_out = tmp.path().join("refused_set");
    let o = recalibrate_cli(&app.audit_file, &refused_out, &["--min-events", "5000"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("at least 5000 events") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    let fit_events = recalibration["result"]["fit_events"]
        .as_u64()
        .expect("fit events");
    assert!(stderr.contains(&format!("{fit_events} events")), "{stderr}");
    assert!(!refused_out.exists());
    // A window with no assessment: 0 events.
    let o = recalibrate_cli(
        &app.audit_file,
        &refused_out,
        &["--from", "2020-01-01", "--to", "2020-02-01"],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("0 events and 0 non-events"), "{stderr}");
    assert!(!refused_out.exists());

    // The endpoint.
    let (from, to) = window();
    let body = json!({"outcomes": [OUTCOME.id()], "site": SITE, "from": from, "to": to});
    for role in ["clinician", "quality", "ehr"] {
        let (status, problem) = post(&app, role, "/v1/models/recalibrations", &body);
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {problem}");
    }
    let (status, problem) = post(
        &app,
        "admin",
        "/v1/models/recalibrations",
        &json!({"outcomes": [OUTCOME.id()], "site": SITE, "from": from, "to": to, "min_events": 5000}),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "min_events", "{problem}");
    assert_eq!(
        problem["errors"][0]["reason"], "too_few_events",
        "{problem}"
    );
    let detail = problem["errors"][0]["detail"].as_str().expect("detail");
    assert!(
        detail.contains(&format!("{fit_events} events")) && detail.contains("at least 5000"),
        "{detail}"
    );
    assert_eq!(dirs(&sets), 0, "nothing written");
    assert!(
        recalibration_records(&app.audit_file).is_empty(),
        "nothing recorded"
    );

    let response = app
        .client
        .post(format!("{}/v1/models/recalibrations", app.base))
        .bearer_auth(key("admin"))
        .json(&body)
        .send()
        .expect("request");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/v1/models/activations")
    );
    let report: Value = response.json().expect("report");
    let spec = conform::openapi_document();
    conform::assert_conforms(&spec, "/v1/models/recalibrations", "post", 201, &report);
    assert_eq!(report["activated"], false);
    assert_eq!(
        report["source_set"]["version"],
        json!(
            ModelSet::load(&default_set())
                .expect("default")
                .set_manifest()
                .version
        )
    );
    let new_version = report["new_set"]["version"]
        .as_str()
        .expect("version")
        .to_string();
    // The same rows and settings as the CLI's run, so the same fit (the window recorded differs).
    assert_eq!(
        report["outcomes"][0]["fitted_slope"].as_f64(),
        recalibration["result"]["fitted_slope"].as_f64()
    );
    let directory = report["directory"].as_str().expect("directory");
    assert!(directory.starts_with("recalibrated-"), "{directory}");
    let on_disk = ModelSet::load(&sets.join(directory)).expect("written under model_sets_dir");
    assert_eq!(on_disk.set_manifest().version, new_version);
    let outcome = &report["outcomes"][0];
    assert_eq!(
        outcome["local_rows"]["rows"].as_u64(),
        Some(SITE_ROWS as u64)
    );
    assert_eq!(outcome["local_rows"]["answered_by"][0]["checked"], true);
    assert_recalibrated(outcome);
    let records = recalibration_records(&app.audit_file);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["_caller"], "admin-key");
    assert_eq!(records[0]["new_set"]["version"], json!(new_version));
    assert_eq!(records[0]["outcomes"][0]["after"], outcome["after"]);

    // Not active until activated, which then works as for any set.
    let probe =
        json!({"patient": periop::synth::generate(1, 3)[0].patient.to_json(), "explain": false});
    let (_, answer) = post(&app, "ehr", "/v1/assessments", &probe);
    assert_ne!(
        answer["model_set"]["version"],
        json!(new_version),
        "{answer}"
    );
    let (status, activation) = post(
        &app,
        "admin",
        "/v1/models/activations",
        &json!({"version": new_version}),
    );
    assert_eq!(status, StatusCode::OK, "{activation}");
    assert_eq!(activation["directory"], json!(directory));
    let (_, answer) = post(&app, "ehr", "/v1/assessments", &probe);
    assert_eq!(
        answer["model_set"]["version"],
        json!(new_version),
        "{answer}"
    );

    // Every bad member named.
    let (status, problem) = post(
        &app,
        "admin",
        "/v1/models/recalibrations",
        &json!({"outcomes": ["nope", "blood_loss_ml"], "site": "mars", "from": "yesterday", "to": 5, "min_events": 0, "extra": true}),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "extra",
            "from",
            "min_events",
            "outcomes[0]",
            "outcomes[1]",
            "site",
            "to"
        ],
        "{problem}"
    );
    let (status, problem) = post(
        &app,
        "admin",
        "/v1/models/recalibrations",
        &json!({"from": to, "to": from}),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "to", "{problem}");
}

#[test]
fn without_model_sets_dir_the_endpoint_answers_the_documented_problem() {
    let app = spawn_app(|_| {});
    let (from, to) = window();
    let (status, problem) = post(
        &app,
        "admin",
        "/v1/models/recalibrations",
        &json!({"outcomes": [OUTCOME.id()], "from": from, "to": to}),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "invalid_input");
    assert_eq!(problem["errors"][0]["field"], "model_sets_dir");
    assert_eq!(problem["errors"][0]["reason"], "not_configured");
}

mod consistency {
    //! The service function on a store holding one record whose stored probability was altered
    //! before it was appended, and one whose stored patient no longer parses.

    use std::sync::Arc;

    use periop::audit::{AuditRecord, AuditStore, SqliteAuditStore};
    use periop::model::ensemble::ModelSet;
    use periop::model::recalibration::RecalibrationSettings;
    use periop::service::outcome_records::record_outcome_items;
    use periop::service::recalibration::{
        recalibrate_from_store, OutcomeRefusal, StoreQuery, StoreRecalibrationError,
    };
    use periop::service::{Assessor, Caller, RuleSource};
    use serde_json::{json, Value};

    use super::{default_set, index, OUTCOME};

    /// A copy of a stored record under a new id, `change`d first.
    fn copy(store: &dyn AuditStore, of: &str, id: &str, change: impl Fn(&mut Value, &mut Value)) {
        let mut record: AuditRecord = store.get(of).expect("get").expect("stored").record;
        let mut output: Value = serde_json::from_str(&record.output).expect("output");
        let mut normalised: Value = serde_json::from_str(&record.normalised).expect("normalised");
        output["assessment_id"] = json!(id);
        change(&mut output, &mut normalised);
        record.assessment_id = id.into();
        record.output = output.to_string();
        record.normalised = normalised.to_string();
        store.append(&record).expect("append");
    }

    #[test]
    fn a_stored_probability_that_the_stored_inputs_do_not_reproduce_refuses_the_outcome() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store: Arc<dyn AuditStore> =
            Arc::new(SqliteAuditStore::open(tmp.path().join("audit.db")).expect("store"));
        let set = Arc::new(ModelSet::load(&default_set()).expect("default"));
        let assessor = Assessor::new(set.clone(), RuleSource::Off, Some(store.clone()));
        let caller = Caller {
            request_id: "req".into(),
            key_id: "quality-1".into(),
        };
        let k = index(OUTCOME);
        let mut items = Vec::new();
        let mut ids = Vec::new();
        for row in periop::synth::generate(1500, 9)
            .into_iter()
            .filter(|r| OUTCOME.applies_to(&r.patient).is_ok() && r.outcomes[k].is_some())
            .take(400)
        {
            let body = json!({"patient": row.patient.to_json(), "explain": false, "outcomes": [OUTCOME.id()]});
            let id = assessor
                .assess(&body, body.to_string(), &caller)
                .expect("assessed")
                .assessment_id;
            items.push(
                json!({"assessment_id": id, "outcome": OUTCOME.id(), "value": row.outcomes[k]}),
            );
            ids.push(id);
        }
        copy(store.as_ref(), &ids[0], "broken-patient", |_, n| {
            n["patient"]["age_years"] = json!("old");
        });
        items.push(json!({"assessment_id": "broken-patient", "outcome": OUTCOME.id(), "value": 1}));
        record_outcome_items(store.as_ref(), assessor.provenance(), &items, &caller)
            .expect("recorded");
        let query = StoreQuery {
            outcomes: vec![OUTCOME],
            site: None,
            from: None,
            to: None,
            settings: RecalibrationSettings {
                min_events: 20,
                ..RecalibrationSettings::default()
            },
        };
        // Consistent: recalibrated; the unparseable patient is counted, not used.
        let done = recalibrate_from_store(store.as_ref(), &set, &query).expect("consistent store");
        let counts = &done.source.store_rows[0];
        assert_eq!(
            (counts.rows, counts.unparseable_patients),
            (400, 1),
            "{counts:?}"
        );
        assert_eq!(done.results[0].report.rows, 400);

        // One stored probability altered before append: refused, naming it.
        copy(store.as_ref(), &ids[1], "tampered", |o, _| {
            let p = o["predictions"]
                .as_array_mut()
                .expect("predictions")
                .iter_mut()
                .find(|p| p["outcome"] == OUTCOME.id())
                .expect("prediction");
            p["probability"] = json!(p["probability"].as_f64().expect("p") + 1e-6);
        });
        record_outcome_items(
            store.as_ref(),
            assessor.provenance(),
            &[json!({"assessment_id": "tampered", "outcome": OUTCOME.id(), "value": 0})],
            &caller,
        )
        .expect("recorded");
        let Err(StoreRecalibrationError::Refused(refused)) =
            recalibrate_from_store(store.as_ref(), &set, &query)
        else {
            panic!("the tampered record must refuse the outcome")
        };
        let [OutcomeRefusal::Inconsistent {
            mismatches,
            checked,
            example,
            ..
        }] = refused.as_slice()
        else {
            panic!("{refused:?}")
        };
        assert_eq!(
            (*mismatches, *checked, example.as_str()),
            (1, 401, "tampered")
        );
        let text = refused[0].to_string();
        assert!(
            text.contains("1 of the 401") && text.contains("tampered"),
            "{text}"
        );
    }
}

#[test]
fn data_and_store_are_exclusive_and_one_is_required() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_periop"))
            .arg("recalibrate")
            .arg("--models")
            .arg(default_set())
            .arg("--out")
            .arg(tmp.path().join("out"))
            .args(args)
            .output()
            .expect("run periop");
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = run(&["--data", "local.csv", "--store", "audit.db"]);
    assert!(e.contains("cannot be used with"), "{e}");
    let e = run(&[]);
    assert!(e.contains("--data") && e.contains("--store"), "{e}");
    let e = run(&["--data", "local.csv", "--from", "2026-01-01"]);
    assert!(e.contains("--store"), "{e}");
    assert!(!tmp.path().join("out").exists());
}
