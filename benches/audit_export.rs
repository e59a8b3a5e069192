//! Export rate of the audit search (`GET /v1/audit/assessments/export`'s pipeline without HTTP):
//! a SQLite store in a temporary directory with 100,000 stored assessments (answers shaped like
//! `explain: false` answers of every outcome), then every page read from the index and encoded as
//! CSV and as NDJSON. Prints rows/s; measured, not enforced.
//! `cargo bench --bench audit_export` (`AUDIT_EXPORT_ROWS` changes the count).
#![allow(clippy::unwrap_used)] // a bench: a failed unwrap is a failed run

use std::time::Instant;

use periop::api::dto::audit::AuditAssessmentDto;
use periop::audit::{AuditRecord, AuditStore, SqliteAuditStore};
use periop::outcomes::Outcome;
use periop::service::audit_search::{csv_text, export_pages, SearchFilters};
use serde_json::json;

fn answer(i: usize) -> String {
    let predictions: Vec<_> = Outcome::ALL
        .iter()
        .enumerate()
        .map(|(k, o)| {
            let band = ["low", "moderate", "high"][(i + k) % 3];
            if o.id() == "blood_loss_ml" {
                json!({"outcome": o.id(), "status": "ok", "quantity": {"median": 300.0 + (i % 700) as f64, "p10": 100.0, "p90": 900.0, "unit": "mL"}, "risk_band": band, "model": {"id": o.id(), "version": format!("{}@1a2b3c4d", o.id()), "sha256": "0".repeat(64)}})
            } else if (i + k) % 17 == 0 {
                json!({"outcome": o.id(), "status": "not_applicable", "reason": "outside the population", "model": {"id": o.id(), "version": format!("{}@1a2b3c4d", o.id()), "sha256": "0".repeat(64)}})
            } else {
                json!({"outcome": o.id(), "status": "ok", "probability": ((i * 7 + k) % 1000) as f64 / 1000.0, "risk_band": band, "baseline": 0.05, "relative_risk": 1.2, "model": {"id": o.id(), "version": format!("{}@1a2b3c4d", o.id()), "sha256": "0".repeat(64)}})
            }
        })
        .collect();
    json!({
        "assessment_id": format!("bench-{i:08}"),
        "created_at": "2026-03-01T10:00:00.000Z",
        "site": ["north", "south"][i % 2],
        "model_set": {"id": "default", "version": "2026.03.0"},
        "rule_set": {"version": "default-1", "sha256": "0".repeat(64)},
        "predictions": predictions,
        "recommendations": [],
        "inputs": {"used": [], "derived": [], "missing": []},
        "warnings": []
    })
    .to_string()
}

fn main() {
    let rows: usize = std::env::var("AUDIT_EXPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteAuditStore::open(dir.path().join("bench.db")).unwrap();
    let started = Instant::now();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(1000) {
        let records: Vec<AuditRecord> = chunk
            .iter()
            .map(|&i| AuditRecord {
                assessment_id: format!("bench-{i:08}"),
                request_id: "req_bench".into(),
                created_at: "2026-03-01T10:00:00.000Z".into(),
                caller: "ehr-key".into(),
                kind: "assessment".into(),
                model_set: "{}".into(),
                input: "{}".into(),
                normalised: "null".into(),
                output: answer(i),
                shap: "null".into(),
            })
            .collect();
        assert!(store.append_all(&records).into_iter().all(|r| r.is_ok()));
    }
    println!(
        "stored {rows} assessments in {:.1} s ({:.0} appends/s, index included)",
        started.elapsed().as_secs_f64(),
        rows as f64 / started.elapsed().as_secs_f64()
    );
    for (name, filters) in [
        ("all", SearchFilters::default()),
        (
            "site=north",
            SearchFilters {
                site: Some("north".into()),
                ..SearchFilters::default()
            },
        ),
    ] {
        for format in ["csv", "ndjson"] {
            let started = Instant::now();
            let mut bytes = 0usize;
            let n = export_pages(&store, &filters, |page| {
                let chunk = if format == "csv" {
                    csv_text(page, false)?
                } else {
                    let mut out = Vec::new();
                    for item in page {
                        serde_json::to_writer(&mut out, &AuditAssessmentDto::from(item.clone()))?;
                        out.push(b'\n');
                    }
                    out
                };
                bytes += chunk.len();
                Ok(true)
            })
            .unwrap();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "export {name} {format}: {n} rows, {:.1} MB in {secs:.2} s = {:.0} rows/s",
                bytes as f64 / 1e6,
                n as f64 / secs
            );
        }
    }
    let _ = store.count();
}
