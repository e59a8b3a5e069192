//! Drift monitoring and the explanation audit end to end: a synthetic cohort assessed over HTTP
//! by a real server with the committed default model set, its audit records re-dated into two
//! calendar months (March as drawn; April with ages shifted up and albumin mostly missing) in a
//! second store, and a second server over that store answering `GET /v1/quality/drift`,
//! `/v1/quality/explanations` and `/v1/quality/explanations.svg`. Expected numbers are computed
//! here from the requests, the answers and `training_distribution.json`, not taken from periop.

#[path = "support/server.rs"]
mod server;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use periop::audit::{AuditRecord, AuditStore, ListQuery, SqliteAuditStore};
use periop::model::training_distribution::{TrainingDistribution, Values};
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{key, spawn_app, TestApp};

const PER_MONTH: usize = 300;
const AGE_SHIFT: f64 = 12.0;
const WINDOW: &str = "from=2026-03-01T00:00:00Z&to=2026-05-01T00:00:00Z";

fn sites() -> Vec<String> {
    periop::synth::SITES.iter().map(|s| s.to_string()).collect()
}

/// The requests of both months: March as drawn, April older and mostly without albumin. Every
/// 10th request asks for no explanation.
fn requests() -> (Vec<Value>, Vec<Value>) {
    let rows = periop::synth::generate(2 * PER_MONTH, 20_261);
    let mut march = Vec::new();
    let mut april = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let mut patient = row.patient.to_json();
        if i >= PER_MONTH {
            if let Some(age) = patient.get("age_years").and_then(Value::as_f64) {
                patient.insert("age_years".into(), json!((age + AGE_SHIFT).min(100.0)));
            }
            if i % 10 < 7 {
                patient.remove("albumin_g_dl");
            }
        }
        let request = json!({"patient": patient, "site": row.site, "explain": i % 10 != 3});
        if i < PER_MONTH {
            march.push(request);
        } else {
            april.push(request);
        }
    }
    (march, april)
}

/// Assesses `requests` in batches; the answers in order.
fn assess(app: &TestApp, requests: &[Value]) -> Vec<Value> {
    let mut answers = Vec::new();
    for chunk in requests.chunks(100) {
        let res = app
            .client
            .post(format!("{}/v1/assessments:batch", app.base))
            .bearer_auth(key("ehr"))
            .json(&json!({"items": chunk}))
            .send()
            .expect("batch");
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().expect("json");
        for r in body["results"].as_array().expect("results") {
            assert_eq!(r["status"], 201, "{r}");
            answers.push(r["assessment"].clone());
        }
    }
    answers
}

fn get(app: &TestApp, role: &str, path: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(key(role))
        .send()
        .expect("get");
    let status = res.status();
    (status, res.json().unwrap_or(Value::Null))
}

fn get_text(app: &TestApp, role: &str, path: &str) -> (StatusCode, String, String) {
    let res = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(key(role))
        .send()
        .expect("get");
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ct, res.text().expect("text"))
}

struct Fixture {
    app: TestApp,
    march: (Vec<Value>, Vec<Value>),
    april: (Vec<Value>, Vec<Value>),
    _dir: tempfile::TempDir,
}

/// Assesses both months on one server, copies its records re-dated into a new store, and starts
/// a server over that store.
fn fixture() -> Fixture {
    let (march, april) = requests();
    let source = spawn_app(|s| s.sites = sites());
    let march_answers = assess(&source, &march);
    let april_answers = assess(&source, &april);
    let april_ids: HashSet<&str> = april_answers
        .iter()
        .map(|a| a["assessment_id"].as_str().expect("id"))
        .collect();
    let read = SqliteAuditStore::open(&source.audit_file).expect("source store");
    let mut records: Vec<AuditRecord> = Vec::new();
    let mut query = ListQuery {
        kind: Some("assessment".into()),
        ..ListQuery::default()
    };
    loop {
        let page = read.list(&query).expect("list");
        let Some(last) = page.last() else { break };
        query.after_seq = last.seq;
        records.extend(page.into_iter().map(|s| s.record));
    }
    assert_eq!(records.len(), 2 * PER_MONTH);
    let dir = tempfile::tempdir().expect("tempdir");
    let file: PathBuf = dir.path().join("redated.db");
    let store = SqliteAuditStore::open(&file).expect("store");
    for (i, mut r) in records.into_iter().enumerate() {
        let month = if april_ids.contains(r.assessment_id.as_str()) {
            "04"
        } else {
            "03"
        };
        r.created_at = format!(
            "2026-{month}-{:02}T{:02}:{:02}:00.000Z",
            1 + i % 28,
            i % 24,
            i % 60
        );
        store.append(&r).expect("append");
    }
    drop(store);
    let app = spawn_app(|s| {
        s.sites = sites();
        s.audit_store = file.display().to_string();
    });
    Fixture {
        app,
        march: (march, march_answers),
        april: (april, april_answers),
        _dir: dir,
    }
}

fn training() -> TrainingDistribution {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default/training_distribution.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("parse")
}

/// PSI of live values over the training decile bins, computed here (empty bins at 1e-4, as
/// documented).
fn psi_by_hand(training: &TrainingDistribution, feature: &str, live: &[f64]) -> f64 {
    let f = training.feature(feature).expect("feature");
    let Values::Number { summary: Some(s) } = &f.values else {
        panic!("{feature} is a number with a summary")
    };
    let mut counts = vec![0.0; s.deciles.counts.len()];
    for &v in live {
        counts[s.deciles.bin_of(v)] += 1.0;
    }
    let te: f64 = s.deciles.counts.iter().map(|&c| c as f64).sum();
    let ta: f64 = counts.iter().sum();
    s.deciles
        .counts
        .iter()
        .zip(&counts)
        .map(|(&e, &a)| {
            let pe = if e > 0 { e as f64 / te } else { 1e-4 };
            let pa = if a > 0.0 { a / ta } else { 1e-4 };
            (pa - pe) * (pa / pe).ln()
        })
        .sum()
}

fn feature<'a>(month: &'a Value, name: &str) -> &'a Value {
    month["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["feature"] == name)
        .expect("feature listed")
}

fn values_of(requests: &[Value], name: &str) -> Vec<f64> {
    requests
        .iter()
        .filter_map(|r| r["patient"][name].as_f64())
        .collect()
}

#[test]
fn drift_explanations_and_plots_over_two_months() {
    let fx = fixture();
    let app = &fx.app;
    let train = training();

    // ------------------------------------------------------------ drift
    let (status, drift) = get(app, "quality", &format!("/v1/quality/drift?{WINDOW}"));
    assert_eq!(status, StatusCode::OK, "{drift}");
    assert_eq!(drift["training"]["status"], "available");
    assert_eq!(drift["training"]["rows"], train.rows);
    let months = drift["months"].as_array().expect("months");
    let names: Vec<&str> = months.iter().filter_map(|m| m["month"].as_str()).collect();
    assert_eq!(names, ["2026-03", "2026-04"]);
    assert_eq!(months[0]["assessments"], PER_MONTH);
    assert_eq!(months[1]["assessments"], PER_MONTH);
    assert_eq!(drift["model_sets"][0]["assessments"], 2 * PER_MONTH);

    let (march_age, april_age) = (
        feature(&months[0], "age_years"),
        feature(&months[1], "age_years"),
    );
    let psi_march = march_age["psi"].as_f64().expect("psi");
    let psi_april = april_age["psi"].as_f64().expect("psi");
    assert!(
        (psi_march - psi_by_hand(&train, "age_years", &values_of(&fx.march.0, "age_years"))).abs()
            < 1e-9
    );
    assert!(
        (psi_april - psi_by_hand(&train, "age_years", &values_of(&fx.april.0, "age_years"))).abs()
            < 1e-9
    );
    assert_eq!(
        march_age["shift"], "none",
        "unshifted month: PSI {psi_march}"
    );
    assert_eq!(
        april_age["shift"], "major",
        "shifted month: PSI {psi_april}"
    );
    assert_eq!(march_age["test"]["test"], "ks_binned");
    assert_eq!(march_age["test"]["significant"], false, "{march_age}");
    assert_eq!(april_age["test"]["significant"], true, "{april_age}");
    assert!(april_age["test"]["p_value"].as_f64().expect("p") < 1e-6);

    // The q-values are Benjamini–Hochberg over the month's input tests, recomputed here.
    for month in months {
        let tested: Vec<&Value> = month["features"]
            .as_array()
            .expect("features")
            .iter()
            .filter(|f| !f["test"].is_null())
            .collect();
        let p: Vec<f64> = tested
            .iter()
            .map(|f| f["test"]["p_value"].as_f64().expect("p"))
            .collect();
        let q = periop::metrics::drift::benjamini_hochberg(&p);
        for (f, q) in tested.iter().zip(&q) {
            let reported = f["test"]["q_value"].as_f64().expect("q");
            assert!((reported - q).abs() < 1e-12, "{f}");
            assert!(reported >= f["test"]["p_value"].as_f64().expect("p"));
            assert_eq!(f["test"]["significant_after_correction"], *q < 0.05);
        }
    }
    assert_eq!(april_age["test"]["significant_after_correction"], true);

    // Missing albumin: the counts of the requests, the training rate beside.
    for (month, requests) in [(&months[0], &fx.march.0), (&months[1], &fx.april.0)] {
        let albumin = feature(month, "albumin_g_dl");
        let missing = requests
            .iter()
            .filter(|r| r["patient"]["albumin_g_dl"].is_null())
            .count();
        assert_eq!(albumin["missing"], missing);
        assert_eq!(albumin["present"], PER_MONTH - missing);
        let rate = albumin["missing_rate"].as_f64().expect("rate");
        assert!((rate - missing as f64 / PER_MONTH as f64).abs() < 1e-12);
        let training_rate = train.feature("albumin_g_dl").expect("f").missing_rate;
        assert_eq!(
            albumin["training_missing_rate"].as_f64(),
            Some(training_rate)
        );
    }
    let march_albumin = feature(&months[0], "albumin_g_dl")["missing_rate"]
        .as_f64()
        .expect("r");
    let april_albumin = feature(&months[1], "albumin_g_dl")["missing_rate"]
        .as_f64()
        .expect("r");
    assert!(
        april_albumin > march_albumin + 0.4,
        "{march_albumin} -> {april_albumin}"
    );
    // A categorical input gets the chi-squared test.
    assert_eq!(feature(&months[0], "sex")["test"]["test"], "chi_squared");

    // Prediction drift of delirium: March is the reference, April's older patients score higher.
    let delirium = |m: &Value| -> Value {
        m["predictions"]
            .as_array()
            .expect("predictions")
            .iter()
            .find(|p| p["outcome"] == "delirium")
            .cloned()
            .expect("delirium")
    };
    let (d3, d4) = (delirium(&months[0]), delirium(&months[1]));
    assert_eq!(d3["reference_month"], "2026-03");
    assert!(d3["psi"].is_null() && d3["ks"].is_null());
    assert_eq!(d4["reference_month"], "2026-03");
    let mean_by_hand = |answers: &[Value]| {
        let p: Vec<f64> = answers
            .iter()
            .flat_map(|a| a["predictions"].as_array().cloned().unwrap_or_default())
            .filter(|p| p["outcome"] == "delirium" && p["status"] == "ok")
            .filter_map(|p| p["probability"].as_f64())
            .collect();
        (p.len(), p.iter().sum::<f64>() / p.len() as f64)
    };
    let (n4, m4) = mean_by_hand(&fx.april.1);
    assert_eq!(d4["n"], n4);
    assert!((d4["mean"].as_f64().expect("mean") - m4).abs() < 1e-12);
    assert!(m4 > mean_by_hand(&fx.march.1).1);

    // One site, one outcome.
    let site = periop::synth::SITES[0];
    let (status, one) = get(
        app,
        "admin",
        &format!("/v1/quality/drift?{WINDOW}&site={site}&outcome=dvt"),
    );
    assert_eq!(status, StatusCode::OK);
    let expected = fx.march.0.iter().filter(|r| r["site"] == site).count();
    assert_eq!(one["months"][0]["assessments"], expected);
    let outcomes: HashSet<&str> = one["months"]
        .as_array()
        .expect("months")
        .iter()
        .flat_map(|m| m["predictions"].as_array().expect("p").iter())
        .filter_map(|p| p["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, HashSet::from(["dvt"]));

    // ------------------------------------------------------------ explanation audit
    let (status, audit) = get(
        app,
        "quality",
        &format!("/v1/quality/explanations?outcome=delirium&{WINDOW}"),
    );
    assert_eq!(status, StatusCode::OK, "{audit}");
    let answers: Vec<&Value> = fx.march.1.iter().chain(&fx.april.1).collect();
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let (mut with, mut without, mut dominated) = (0u64, 0u64, Vec::new());
    for a in &answers {
        let Some(p) = a["predictions"]
            .as_array()
            .expect("predictions")
            .iter()
            .find(|p| p["outcome"] == "delirium" && p["status"] == "ok")
        else {
            continue;
        };
        let Some(contributions) = p["explanation"]["contributions"].as_array() else {
            without += 1;
            continue;
        };
        with += 1;
        let (mut total, mut missing) = (0.0, 0.0);
        for c in contributions {
            let phi = c["contribution"].as_f64().expect("phi");
            *sums
                .entry(c["feature"].as_str().expect("f").to_string())
                .or_default() += phi.abs();
            total += phi.abs();
            if c["value"].is_null() {
                missing += phi.abs();
            }
        }
        if total > 0.0 && missing / total >= 0.5 {
            dominated.push(a["assessment_id"].clone());
        }
    }
    assert!(without > 0 && with > 0);
    assert_eq!(audit["with_shap"], with);
    assert_eq!(audit["without_shap"], without);
    assert_eq!(audit["assessments"], with + without);
    assert_eq!(audit["scale"], "log_odds");
    let features = audit["features"].as_array().expect("features");
    assert_eq!(features.len(), sums.len());
    let mut previous = f64::INFINITY;
    for (i, f) in features.iter().enumerate() {
        let mean = f["mean_abs_shap"].as_f64().expect("mean");
        let by_hand = sums[f["feature"].as_str().expect("name")] / with as f64;
        assert!((mean - by_hand).abs() < 1e-9, "{f} vs {by_hand}");
        assert_eq!(f["rank"], i + 1);
        assert!(mean <= previous);
        previous = mean;
    }
    assert_eq!(audit["missing_dominated"]["count"], dominated.len());
    let listed = audit["missing_dominated"]["assessment_ids"]
        .as_array()
        .expect("ids");
    assert_eq!(listed.len(), dominated.len().min(100));
    let dominated_set: HashSet<String> = dominated.iter().map(|v| v.to_string()).collect();
    assert!(listed
        .iter()
        .all(|id| dominated_set.contains(&id.to_string())));

    // ------------------------------------------------------------ plots
    for (plot, top) in [("bar", 8usize), ("beeswarm", 5)] {
        let (status, ct, svg) = get_text(
            app,
            "quality",
            &format!(
                "/v1/quality/explanations.svg?outcome=delirium&{WINDOW}&plot={plot}&top={top}"
            ),
        );
        assert_eq!(status, StatusCode::OK, "{svg}");
        assert!(ct.starts_with("image/svg+xml"), "{ct}");
        let (bars, dots, title, desc) = xml_counts(&svg);
        assert!(title && desc, "{plot}: title and desc");
        if plot == "bar" {
            assert_eq!(bars, top, "one bar per feature shown");
        } else {
            assert_eq!(
                dots,
                top * with as usize + 1,
                "a dot per assessment per feature, and the legend's"
            );
        }
    }

    // ------------------------------------------------------------ refusals
    for path in [
        format!("/v1/quality/drift?{WINDOW}"),
        format!("/v1/quality/explanations?outcome=dvt&{WINDOW}"),
        format!("/v1/quality/explanations.svg?outcome=dvt&{WINDOW}&plot=bar"),
    ] {
        assert_eq!(
            get(app, "clinician", &path).0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(get(app, "ehr", &path).0, StatusCode::FORBIDDEN, "{path}");
    }
    let named = |path: &str| -> Vec<(String, String)> {
        let (status, body) = get(app, "quality", path);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
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
    };
    let pair = |f: &str, r: &str| (f.to_string(), r.to_string());
    assert_eq!(
        named("/v1/quality/drift?from=yesterday&to=2026-05-01T00:00:00Z&outcome=nope&site=elsewhere&x=1"),
        vec![
            pair("x", "unknown_field"),
            pair("from", "invalid_format"),
            pair("site", "unknown_level"),
            pair("outcome", "unknown_level"),
        ]
    );
    assert_eq!(
        named("/v1/quality/drift?from=2026-05-01T00:00:00Z&to=2026-03-01T00:00:00Z"),
        vec![pair("to", "contradiction")]
    );
    assert_eq!(
        named(&format!("/v1/quality/explanations?{WINDOW}")),
        vec![pair("outcome", "required")]
    );
    assert_eq!(
        named(&format!(
            "/v1/quality/explanations.svg?outcome=dvt&{WINDOW}&plot=pie&top=0"
        )),
        vec![pair("plot", "unknown_level"), pair("top", "out_of_range")]
    );
    assert_eq!(
        named(&format!(
            "/v1/quality/explanations.svg?outcome=dvt&{WINDOW}"
        )),
        vec![pair("plot", "required")]
    );
    assert_eq!(
        named(&format!(
            "/v1/quality/explanations?outcome=dvt&outcome=dvt&{WINDOW}"
        )),
        vec![pair("outcome", "contradiction")]
    );
}

/// Parses the SVG as XML (every element closed, names matched) and counts the bars
/// (`rect class="bar"`) and circles, and whether `<title>` and `<desc>` are children of `<svg>`.
fn xml_counts(svg: &str) -> (usize, usize, bool, bool) {
    use quick_xml::events::{BytesStart, Event};
    let mut reader = quick_xml::Reader::from_str(svg);
    let (mut bars, mut dots, mut title, mut desc, mut depth) = (0, 0, false, false, 0i32);
    let mut count = |e: &BytesStart, depth: i32| match e.name().into_inner() {
        "rect"
            if e.attributes()
                .filter_map(Result::ok)
                .any(|a| a.key.into_inner() == "class" && &*a.value == "bar") =>
        {
            bars += 1;
        }
        "circle" => dots += 1,
        "title" if depth == 1 => title = true,
        "desc" if depth == 1 => desc = true,
        _ => {}
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) => {
                count(&e, depth);
                depth += 1;
            }
            Event::Empty(e) => count(&e, depth),
            Event::End(_) => depth -= 1,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "every element closed");
    (bars, dots, title, desc)
}
