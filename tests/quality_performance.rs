//! `GET /v1/quality/performance` end to end over HTTP on loopback with the committed default
//! model set and a real SQLite audit file: a synthetic cohort (`periop::synth`, known outcomes)
//! is assessed at three sites, its outcomes are recorded through `POST /v1/outcomes` (one changed
//! value, so the current version must be the one used, and some left unrecorded), and the
//! reported numbers must equal `periop::metrics` computed here from the answers' probabilities
//! and the cohort's labels; suppression of a small site; group_by month and site; fairness
//! against the largest site; roles; every bad parameter named.

#[path = "support/server.rs"]
mod server;

use periop::metrics::{binary_summary, quantity_summary, SummarySettings};
use periop::outcomes::Outcome;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{key, spawn_app, TestApp};

/// Site of cohort row `i`: 220 at site-a, 120 at site-b, 12 at site-c (below the default
/// minimum group size of 30).
fn site_of(i: usize) -> &'static str {
    match i {
        0..220 => "site-a",
        220..340 => "site-b",
        _ => "site-c",
    }
}
const ROWS: usize = 352;
const BINARY: Outcome = Outcome::ProlongedLos;

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

fn get(app: &TestApp, role: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut request = app.client.get(format!("{}{path}", app.base));
    if let Some(role) = role {
        request = request.bearer_auth(key(role));
    }
    let response = request.send().expect("request");
    let status = response.status();
    (status, response.json().expect("json body"))
}

/// One assessed cohort row with what it predicted and what happened.
struct Assessed {
    id: String,
    site: &'static str,
    probability: Option<f64>,
    /// Median, p10, p90 (mL).
    quantity: Option<(f64, f64, f64)>,
    label: Option<bool>,
    blood_loss: Option<f64>,
}

/// Assesses the cohort (one batch) and records its outcomes; every 9th row's binary outcome is
/// left unrecorded, and row 0's is first recorded wrong, then corrected (version 2).
fn cohort(app: &TestApp) -> Vec<Assessed> {
    let rows = periop::synth::generate(ROWS, 4242);
    let items: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"patient": r.patient.to_json(), "explain": false, "site": site_of(i)}))
        .collect();
    let (status, batch) = post(
        app,
        "ehr",
        "/v1/assessments:batch",
        &json!({"items": items}),
    );
    assert_eq!(status, StatusCode::OK, "{batch}");
    let index = |o: Outcome| Outcome::ALL.iter().position(|a| *a == o).expect("outcome");
    let mut out = Vec::new();
    for (i, (row, result)) in rows
        .iter()
        .zip(batch["results"].as_array().expect("results"))
        .enumerate()
    {
        assert_eq!(result["status"], 201, "{result}");
        let answer = &result["assessment"];
        let prediction = |o: Outcome| {
            answer["predictions"]
                .as_array()
                .expect("predictions")
                .iter()
                .find(|p| p["outcome"] == o.id() && p["status"] == "ok")
                .cloned()
        };
        let binary = prediction(BINARY);
        let blood = prediction(Outcome::BloodLossMl);
        out.push(Assessed {
            id: answer["assessment_id"].as_str().expect("id").to_string(),
            site: site_of(i),
            probability: binary.as_ref().and_then(|p| p["probability"].as_f64()),
            quantity: blood.as_ref().map(|p| {
                let q = &p["quantity"];
                (
                    q["median"].as_f64().expect("median"),
                    q["p10"].as_f64().expect("p10"),
                    q["p90"].as_f64().expect("p90"),
                )
            }),
            label: binary
                .and(row.outcomes[index(BINARY)])
                .filter(|_| i % 9 != 4)
                .map(|v| v == 1.0),
            blood_loss: blood.and(row.outcomes[index(Outcome::BloodLossMl)]),
        });
    }
    let mut items = Vec::new();
    for a in &out {
        if let Some(label) = a.label {
            items.push(
                json!({"assessment_id": a.id, "outcome": BINARY.id(), "value": u8::from(label)}),
            );
        }
        if let Some(ml) = a.blood_loss {
            items.push(
                json!({"assessment_id": a.id, "outcome": "blood_loss_ml", "value": ml.max(1.0)}),
            );
        }
    }
    // Row 0's outcome first recorded wrong: the correction (version 2) must be the one used.
    let first = out
        .iter()
        .find(|a| a.label.is_some())
        .expect("a recorded row");
    let wrong = json!({"items": [{"assessment_id": first.id, "outcome": BINARY.id(), "value": u8::from(!first.label.expect("label"))}]});
    let (status, body) = post(app, "quality", "/v1/outcomes", &wrong);
    assert_eq!(status, StatusCode::OK, "{body}");
    for chunk in items.chunks(1000) {
        let (status, body) = post(app, "quality", "/v1/outcomes", &json!({"items": chunk}));
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    out
}

fn window() -> String {
    let now = chrono::Utc::now();
    let from =
        (now - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (now + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("from={from}&to={to}")
}

fn close(reported: &Value, expected: Option<f64>, what: &str) {
    match (reported.as_f64(), expected) {
        (Some(r), Some(e)) => assert!(
            (r - e).abs() <= 1e-12 * e.abs().max(1.0),
            "{what}: reported {r}, metrics {e}"
        ),
        (None, None) => {}
        (r, e) => panic!("{what}: reported {r:?}, metrics {e:?}"),
    }
}

/// The reported binary metrics of a row of the report equal `periop::metrics` on `rows`.
fn check_binary(reported: &Value, rows: &[&Assessed], what: &str) {
    let (probs, labels): (Vec<f64>, Vec<bool>) = rows
        .iter()
        .filter_map(|a| Some((a.probability?, a.label?)))
        .unzip();
    let m = binary_summary(&probs, &labels, &SummarySettings::default());
    assert_eq!(reported["n"].as_u64(), Some(m.n as u64), "{what} n");
    assert_eq!(reported["suppressed"], false, "{what}");
    let b = &reported["binary"];
    assert_eq!(b["events"].as_u64(), Some(m.events as u64), "{what} events");
    close(&b["auc"], m.auc, &format!("{what} auc"));
    close(
        &b["auc_ci"]["lower"],
        m.auc_ci.map(|c| c.0),
        &format!("{what} auc_ci"),
    );
    close(
        &b["auc_ci"]["upper"],
        m.auc_ci.map(|c| c.1),
        &format!("{what} auc_ci"),
    );
    close(&b["auprc"], m.auprc, &format!("{what} auprc"));
    close(&b["brier"], Some(m.brier), &format!("{what} brier"));
    let fit = m.calibration.expect("the calibration fit converges");
    close(
        &b["calibration_intercept"],
        Some(fit.intercept),
        &format!("{what} intercept"),
    );
    close(
        &b["calibration_slope"],
        Some(fit.slope),
        &format!("{what} slope"),
    );
    close(
        &b["calibration_slope_ci"]["lower"],
        Some(fit.slope_ci.0),
        &format!("{what} slope ci"),
    );
    close(
        &b["calibration_intercept_ci"]["upper"],
        Some(fit.intercept_ci.1),
        &format!("{what} intercept ci"),
    );
    close(&b["ece"], m.ece, &format!("{what} ece"));
    assert_eq!(
        b["reliability"].as_array().expect("bins").len(),
        m.reliability.len(),
        "{what} bins"
    );
    assert!(
        m.auc.is_some_and(|a| a > 0.5),
        "{what}: the model ranks better than chance"
    );
}

#[test]
fn reported_performance_equals_the_metrics_module_on_the_same_rows() {
    let app = spawn_app(|s| {
        s.sites = vec!["site-a".into(), "site-b".into(), "site-c".into()];
    });
    let cohort = cohort(&app);
    let recorded: Vec<&Assessed> = cohort
        .iter()
        .filter(|a| a.probability.is_some() && a.label.is_some())
        .collect();
    let unrecorded = cohort
        .iter()
        .filter(|a| a.probability.is_some() && a.label.is_none())
        .count();
    assert!(
        recorded.len() > 250 && unrecorded > 20,
        "{} {unrecorded}",
        recorded.len()
    );

    let path = format!(
        "/v1/quality/performance?outcome={}&{}&group_by=site",
        BINARY.id(),
        window()
    );
    let (status, report) = get(&app, Some("quality"), &path);
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report["rows"]["with_outcome"].as_u64(),
        Some(recorded.len() as u64)
    );
    assert_eq!(
        report["rows"]["without_outcome"].as_u64(),
        Some(unrecorded as u64)
    );
    assert_eq!(report["min_group_size"], 30);
    check_binary(&report["all"], &recorded, "all");

    let groups = report["groups"].as_array().expect("groups");
    let labels: Vec<&str> = groups
        .iter()
        .map(|g| g["group"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["site-a", "site-b", "site-c"]);
    for site in ["site-a", "site-b"] {
        let rows: Vec<&Assessed> = recorded
            .iter()
            .copied()
            .filter(|a| a.site == site)
            .collect();
        let g = groups.iter().find(|g| g["group"] == site).expect("group");
        check_binary(g, &rows, site);
    }
    // The small site: suppressed, reported with its size only.
    let c = &groups[2];
    let c_rows = recorded.iter().filter(|a| a.site == "site-c").count();
    assert!(c_rows > 0 && c_rows < 30);
    assert_eq!(c["n"].as_u64(), Some(c_rows as u64));
    assert_eq!(c["suppressed"], true);
    assert!(c.get("binary").is_none() && c["fairness"].as_array().is_some_and(Vec::is_empty));

    // Fairness against the largest site.
    assert_eq!(
        report["reference"],
        json!({"group": "site-a", "chosen": "largest"})
    );
    let auc = |g: &Value| g["binary"]["auc"].as_f64().expect("auc");
    let b_auc = groups[1]["fairness"]
        .as_array()
        .expect("fairness")
        .iter()
        .find(|r| r["metric"] == "auc")
        .expect("auc ratio")
        .clone();
    let ratio = auc(&groups[1]) / auc(&groups[0]);
    close(&b_auc["ratio"], Some(ratio), "auc ratio");
    assert_eq!(b_auc["flagged"], !(0.8..=1.25).contains(&ratio));
    // A named reference.
    let (status, by_b) = get(&app, Some("quality"), &format!("{path}&reference=site-b"));
    assert_eq!(status, StatusCode::OK, "{by_b}");
    assert_eq!(
        by_b["reference"],
        json!({"group": "site-b", "chosen": "requested"})
    );
    close(
        &by_b["groups"][0]["fairness"][0]["ratio"],
        Some(auc(&groups[0]) / auc(&groups[1])),
        "auc ratio against site-b",
    );

    // By month: every assessment of this test falls in the current month, so one group equal
    // to all.
    let month_path = format!(
        "/v1/quality/performance?outcome={}&{}&group_by=month",
        BINARY.id(),
        window()
    );
    let (status, by_month) = get(&app, Some("quality"), &month_path);
    assert_eq!(status, StatusCode::OK, "{by_month}");
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    assert_eq!(by_month["groups"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_month["groups"][0]["group"], month.as_str());
    check_binary(&by_month["groups"][0], &recorded, "month");

    // One site only.
    let (status, only_b) = get(
        &app,
        Some("quality"),
        &format!(
            "/v1/quality/performance?outcome={}&{}&site=site-b",
            BINARY.id(),
            window()
        ),
    );
    assert_eq!(status, StatusCode::OK, "{only_b}");
    let b_rows: Vec<&Assessed> = recorded
        .iter()
        .copied()
        .filter(|a| a.site == "site-b")
        .collect();
    check_binary(&only_b["all"], &b_rows, "site filter");
    assert_eq!(only_b["groups"], json!([]));

    // Blood loss: median absolute error and 80 % coverage.
    let (status, blood) = get(
        &app,
        Some("quality"),
        &format!("/v1/quality/performance?outcome=blood_loss_ml&{}", window()),
    );
    assert_eq!(status, StatusCode::OK, "{blood}");
    let mut median = Vec::new();
    let (mut p10, mut p90, mut actual) = (Vec::new(), Vec::new(), Vec::new());
    for a in &cohort {
        if let (Some((m, lo, hi)), Some(ml)) = (a.quantity, a.blood_loss) {
            median.push(m);
            p10.push(lo);
            p90.push(hi);
            actual.push(ml.max(1.0));
        }
    }
    let q = quantity_summary(&median, &p10, &p90, &actual, &SummarySettings::default());
    assert_eq!(blood["outcome_kind"], "quantity");
    assert_eq!(blood["all"]["n"].as_u64(), Some(q.n as u64));
    close(
        &blood["all"]["quantity"]["median_absolute_error_ml"],
        Some(q.median_absolute_error),
        "MAE",
    );
    close(
        &blood["all"]["quantity"]["coverage_80"],
        Some(q.coverage_80),
        "coverage",
    );
}

#[test]
fn roles_and_bad_parameters() {
    let app = spawn_app(|s| {
        s.sites = vec!["site-a".into()];
        s.quality_min_group_size = 2;
    });
    let w = window();
    let ok = format!("/v1/quality/performance?outcome=dvt&{w}&group_by=site");
    let (status, body) = get(&app, Some("clinician"), &ok);
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = get(&app, Some("ehr"), &ok);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(&app, None, &ok);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, empty) = get(&app, Some("admin"), &ok);
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(
        empty["all"],
        json!({"group": "all", "n": 0, "suppressed": true, "fairness": []})
    );
    assert_eq!(empty["reference"], Value::Null);

    let fields = |query: &str| -> Vec<(String, String)> {
        let (status, body) = get(
            &app,
            Some("quality"),
            &format!("/v1/quality/performance?{query}"),
        );
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["code"], "invalid_input");
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
    assert_eq!(fields(&w), [pair("outcome", "required")]);
    assert_eq!(
        fields(&format!("outcome=dvt_x&{w}&group_by=ward&limit=3")),
        [
            pair("limit", "unknown_field"),
            pair("outcome", "unknown_level"),
            pair("group_by", "unknown_level")
        ]
    );
    assert_eq!(
        fields("outcome=dvt&from=2026-03-01&to=2026-04-01T00:00:00Z"),
        [pair("from", "invalid_format")]
    );
    assert_eq!(
        fields("outcome=dvt&from=2026-04-01T00:00:00Z&to=2026-03-01T00:00:00Z"),
        [pair("to", "contradiction")]
    );
    assert_eq!(
        fields(&format!("outcome=dvt&{w}&site=a%20b")),
        [pair("site", "invalid_format")]
    );
    assert_eq!(
        fields(&format!("outcome=dvt&{w}&reference=site-a")),
        [pair("reference", "contradiction")]
    );
    assert_eq!(
        fields(&format!("outcome=dvt&{w}&group_by=site&reference=site-z")),
        [pair("reference", "unknown_level")]
    );
}
