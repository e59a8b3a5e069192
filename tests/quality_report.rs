//! `periop quality report` end to end: a synthetic cohort assessed over HTTP at two sites (real
//! SQLite audit file), its outcomes recorded through `POST /v1/outcomes`, then the report binary
//! run on that store. The report's AUC and calibration slope for the outcome equal
//! `periop::metrics` computed here from the answers' probabilities and the cohort's labels; the
//! SVG plots are well-formed XML; no assessment id appears in any file written (aggregates only);
//! the synthetic label is on the report; bad flags are named.

#[path = "support/server.rs"]
mod server;

use std::path::Path;
use std::process::Command;

use periop::metrics::{binary_summary, SummarySettings};
use periop::outcomes::Outcome;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{key, spawn_app, TestApp};

const ROWS: usize = 240;
const OUTCOME: Outcome = Outcome::ProlongedLos;

fn site_of(i: usize) -> &'static str {
    if i.is_multiple_of(3) {
        "site-b"
    } else {
        "site-a"
    }
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

/// Assesses the cohort, records the outcome, returns (assessment id, site, probability, label).
fn assessed_cohort(app: &TestApp) -> Vec<(String, &'static str, f64, bool)> {
    let rows = periop::synth::generate(ROWS, 777);
    let items: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"patient": r.patient.to_json(), "explain": i.is_multiple_of(2), "site": site_of(i)}))
        .collect();
    let (status, batch) = post(
        app,
        "ehr",
        "/v1/assessments:batch",
        &json!({"items": items}),
    );
    assert_eq!(status, StatusCode::OK, "{batch}");
    let column = Outcome::ALL
        .iter()
        .position(|o| *o == OUTCOME)
        .expect("outcome column");
    let mut out = Vec::new();
    for (i, (row, result)) in rows
        .iter()
        .zip(batch["results"].as_array().expect("results"))
        .enumerate()
    {
        let answer = &result["assessment"];
        let Some(p) = answer["predictions"]
            .as_array()
            .expect("predictions")
            .iter()
            .find(|p| p["outcome"] == OUTCOME.id() && p["status"] == "ok")
            .and_then(|p| p["probability"].as_f64())
        else {
            continue;
        };
        let Some(label) = row.outcomes[column] else {
            continue;
        };
        let id = answer["assessment_id"].as_str().expect("id").to_string();
        out.push((id, site_of(i), p, label == 1.0));
    }
    let items: Vec<Value> = out
        .iter()
        .map(|(id, _, _, y)| json!({"assessment_id": id, "outcome": OUTCOME.id(), "value": u8::from(*y)}))
        .collect();
    for chunk in items.chunks(1000) {
        let (status, body) = post(app, "quality", "/v1/outcomes", &json!({"items": chunk}));
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    out
}

fn run_report(store: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let models = concat!(env!("CARGO_MANIFEST_DIR"), "/models/default");
    let today = chrono::Utc::now().date_naive();
    let from = (today - chrono::Days::new(1)).to_string();
    let to = (today + chrono::Days::new(2)).to_string();
    let mut args = vec![
        "quality".to_string(),
        "report".into(),
        "--store".into(),
        store.display().to_string(),
        "--models".into(),
        models.into(),
        "--out".into(),
        out.display().to_string(),
    ];
    if !extra.contains(&"--from") {
        args.extend(["--from".into(), from, "--to".into(), to]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(&args)
        .env_remove("PERIOP_AUDIT_STORE")
        .output()
        .expect("run periop")
}

fn assert_well_formed(svg: &str, name: &str) {
    let mut reader = quick_xml::Reader::from_str(svg);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("{name} is not well-formed XML: {e}"),
        }
    }
}

#[test]
fn the_report_shows_the_metrics_module_numbers_and_no_patient_level_data() {
    let app = spawn_app(|s| {
        s.sites = vec!["site-a".into(), "site-b".into()];
    });
    let cohort = assessed_cohort(&app);
    assert!(cohort.len() > 150, "{} rows with the outcome", cohort.len());
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("report");
    let run = run_report(&app.audit_file, &out, &["--outcomes", OUTCOME.id()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let readme = std::fs::read_to_string(out.join("README.md")).expect("README.md");

    // The numbers: the same metrics implementation on the same rows, as the report formats them.
    let settings = SummarySettings::default();
    let (p, y): (Vec<f64>, Vec<bool>) = cohort.iter().map(|c| (c.2, c.3)).unzip();
    let all = binary_summary(&p, &y, &settings);
    let auc = all.auc.expect("auc");
    let (lo, hi) = all.auc_ci.expect("auc ci");
    let auc_cell = format!("{auc:.3} [{lo:.3}, {hi:.3}]");
    let summary_row = format!(
        "| {} | {} | {} | {auc_cell} |",
        OUTCOME.id(),
        all.n,
        all.events
    );
    assert!(
        readme.contains(&summary_row),
        "summary row {summary_row:?} not in\n{readme}"
    );
    let slope = all.calibration.expect("calibration").slope;
    assert!(
        readme.contains(&format!("{slope:.2} [")),
        "slope {slope:.2}"
    );
    for site in ["site-a", "site-b"] {
        let (p, y): (Vec<f64>, Vec<bool>) = cohort
            .iter()
            .filter(|c| c.1 == site)
            .map(|c| (c.2, c.3))
            .unzip();
        let s = binary_summary(&p, &y, &settings);
        let row = format!(
            "| {site} | {} | {} | {:.3} [",
            s.n,
            s.events,
            s.auc.expect("site auc")
        );
        assert!(readme.contains(&row), "site row {row:?} not in\n{readme}");
    }
    assert!(readme.contains("SYNTHETIC DATA"), "synthetic label");
    assert!(readme.contains("## Drift against the training data"));
    assert!(readme.contains("## CDS Hooks cards accepted and overridden"));

    // The plots: every one linked from the README exists and is well-formed; explanations were
    // requested for half of the cohort, so the feature plot is there.
    for stem in ["auc", "slope", "intercept", "features"] {
        let name = format!("{stem}-{}.svg", OUTCOME.id());
        assert!(readme.contains(&format!("({name})")), "{name} not linked");
        let svg = std::fs::read_to_string(out.join(&name)).expect("plot written");
        assert_well_formed(&svg, &name);
    }
    let slope_svg =
        std::fs::read_to_string(out.join(format!("slope-{}.svg", OUTCOME.id()))).expect("slope");
    for label in ["all sites", "site-a", "site-b"] {
        assert!(slope_svg.contains(label), "{label} line missing");
    }

    // Aggregates only: no assessment id in anything written.
    for entry in std::fs::read_dir(&out).expect("report dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("text file");
        for (id, ..) in &cohort {
            assert!(!text.contains(id.as_str()), "{} names {id}", path.display());
        }
    }
}

#[test]
fn bad_flags_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("audit.db");
    let out = dir.path().join("report");
    let cases: [(&[&str], &str); 4] = [
        (&["--from", "2026-13-01", "--to", "2026-12-01"], "--from"),
        (
            &["--from", "2026-12-01", "--to", "2026-11-01"],
            "--to must be after --from",
        ),
        (
            &["--outcomes", "not_an_outcome"],
            "unknown outcome \"not_an_outcome\"",
        ),
        (
            &["--min-group-size", "0"],
            "--min-group-size must be at least 1",
        ),
    ];
    for (extra, message) in cases {
        let run = run_report(&store, &out, extra);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{extra:?} accepted");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
