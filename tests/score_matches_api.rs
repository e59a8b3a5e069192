//! `periop score` gives exactly the API's answer for each row: the same predictions,
//! explanations, recommendations (the model set's rule set, which the server activates at first
//! start), rule trace, inputs and warnings; only the id and the time differ. Invalid rows get the
//! same field problems as the API's 422.

#[path = "support/server.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use periop::dataset::PatientColumns;
use serde_json::{json, Value};
use support::{key, spawn_app};

fn periop(args: &[&str], dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("periop runs");
    assert!(
        out.status.success(),
        "periop {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The answer without what differs between two calls (id and time).
fn comparable(mut answer: Value) -> Value {
    let object = answer.as_object_mut().expect("object");
    object.remove("assessment_id");
    object.remove("created_at");
    answer
}

#[test]
fn every_scored_row_equals_the_api_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default");
    let models = models.to_str().expect("utf-8 path");
    periop(
        &[
            "synth",
            "--rows",
            "40",
            "--seed",
            "77",
            "--out",
            "cohort.csv",
        ],
        dir.path(),
    );
    // Two rows the API refuses: out of range, and a contradiction.
    let mut text = std::fs::read_to_string(dir.path().join("cohort.csv")).expect("cohort");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("headers").clone();
    let first: csv::StringRecord = reader.records().next().expect("row").expect("row");
    let set = |row: &csv::StringRecord, name: &str, value: &str| -> String {
        let i = headers.iter().position(|h| h == name).expect(name);
        let cells: Vec<&str> = row
            .iter()
            .enumerate()
            .map(|(j, c)| if j == i { value } else { c })
            .collect();
        cells.join(",")
    };
    text.push_str(&set(&first, "age_years", "150"));
    text.push('\n');
    let cervical = set(&first, "procedure", "acdf");
    let cervical = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(cervical.as_bytes())
        .records()
        .next()
        .expect("row")
        .expect("row");
    text.push_str(&set(&cervical, "fusion_to_sacrum", "1"));
    text.push('\n');
    std::fs::write(dir.path().join("cohort.csv"), &text).expect("write");

    periop(
        &[
            "score",
            "--models",
            models,
            "--input",
            "cohort.csv",
            "--output",
            "scored.ndjson",
            "--explain",
            "--format",
            "ndjson",
        ],
        dir.path(),
    );
    periop(
        &[
            "score",
            "--models",
            models,
            "--input",
            "cohort.csv",
            "--output",
            "scored.csv",
            "--explain",
        ],
        dir.path(),
    );
    let lines: Vec<Value> = std::fs::read_to_string(dir.path().join("scored.ndjson"))
        .expect("ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let mut csv_out = csv::Reader::from_path(dir.path().join("scored.csv")).expect("csv");
    let out_headers = csv_out.headers().expect("headers").clone();
    let col = |name: &str| out_headers.iter().position(|h| h == name).expect(name);
    let csv_rows: Vec<csv::StringRecord> = csv_out.records().map(|r| r.expect("row")).collect();

    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let columns = PatientColumns::from_headers(&headers).expect("columns");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(lines.len(), rows.len());
    assert_eq!(csv_rows.len(), rows.len());

    let app = spawn_app(|_| {});
    let (mut answered, mut refused, mut with_recommendations) = (0, 0, 0);
    for (i, row) in rows.iter().enumerate() {
        // The same patient as JSON: the dictionary cells in their JSON types.
        let patient = match columns.patient(row) {
            Ok(p) => Value::Object(p.to_json()),
            // Invalid rows: send the raw cells with JSON types where they parse.
            Err(_) => {
                let mut object = serde_json::Map::new();
                for (name, cell) in headers.iter().zip(row.iter()) {
                    if cell.is_empty()
                        || periop::features::dictionary::feature_index(name).is_none()
                    {
                        continue;
                    }
                    let spec = &periop::features::dictionary::FEATURES
                        [periop::features::dictionary::feature_index(name).expect("feature")];
                    let value = match spec.kind {
                        periop::features::FeatureKind::Boolean => json!(cell == "1"),
                        periop::features::FeatureKind::Enum { .. } => json!(cell),
                        _ => serde_json::from_str(cell).expect("number"),
                    };
                    object.insert(name.to_string(), value);
                }
                Value::Object(object)
            }
        };
        let response = app
            .client
            .post(format!("{}/v1/assessments", app.base))
            .bearer_auth(key("clinician"))
            .json(&json!({"patient": patient, "explain": true}))
            .send()
            .expect("POST");
        let status = response.status().as_u16();
        let body: Value = response.json().expect("json body");
        let line = &lines[i];
        if status == 201 {
            answered += 1;
            assert_eq!(
                comparable(line.clone()),
                comparable(body.clone()),
                "row {}",
                i + 1
            );
            let ids: Vec<&str> = body["recommendations"]
                .as_array()
                .expect("recommendations")
                .iter()
                .map(|r| r["id"].as_str().expect("id"))
                .collect();
            with_recommendations += usize::from(!ids.is_empty());
            assert_eq!(&csv_rows[i][col("recommendations")], ids.join(";"));
            let warnings: Vec<&str> = body["warnings"]
                .as_array()
                .expect("warnings")
                .iter()
                .map(|w| w.as_str().expect("warning"))
                .collect();
            assert_eq!(&csv_rows[i][col("warnings")], warnings.join(" | "));
            assert_eq!(
                &csv_rows[i][col("rule_set_version")],
                body["rule_set"]["version"].as_str().expect("rule set")
            );
            assert_eq!(&csv_rows[i][col("error")], "");
        } else {
            refused += 1;
            assert_eq!(status, 422, "row {}: {body}", i + 1);
            let api: Vec<Value> = body["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    let field = e["field"].as_str().expect("field").to_string();
                    e["field"] = json!(field.trim_start_matches("patient."));
                    e
                })
                .collect();
            assert_eq!(line["row"], json!(i + 1));
            assert_eq!(line["errors"], Value::Array(api), "row {}", i + 1);
            assert!(!csv_rows[i][col("error")].is_empty());
        }
    }
    assert_eq!(refused, 2);
    assert_eq!(answered, rows.len() - 2);
    assert!(with_recommendations > 0, "no row got a recommendation");
}
