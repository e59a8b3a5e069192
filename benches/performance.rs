//! The performance query (`service::performance`, what `GET /v1/quality/performance` runs) over
//! N stored assessments with recorded outcomes in a real SQLite audit file: wall time and peak
//! memory (VmHWM, reset before the query) of the row join alone and of the whole report grouped
//! by month, and the audit file's size.
//!
//! Setup: 200 synthetic patients (`periop::synth`) are assessed by the real assessor (explain
//! off, default model set) and recorded; their records are then copied with new assessment ids,
//! `created_at` spread over 2026 and two sites, N in all, each with one `outcome` record
//! (prolonged stay, the cohort's label), appended through the store (validated, hashed and
//! indexed as live appends are) [`BATCH`] records per transaction. The join reads the search
//! index (`AuditStore::quality_index_rows`), not the answer bodies.
//!
//! Run: `BENCH_ROWS=100000 cargo bench --bench performance` (default 20,000 rows; `BENCH_DIR`
//! puts the audit file elsewhere than the system temp dir; the temp dir and the file are
//! deleted at the end).

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use periop::audit::{AuditRecord, AuditStore, ListQuery, SqliteAuditStore, KIND_ASSESSMENT};
use periop::clock::created_at_text;
use periop::model::ensemble::ModelSet;
use periop::outcomes::Outcome;
use periop::service::feedback::ModelVersion;
use periop::service::outcome_records::{outcome_record_id, LinkedBy, OutcomeRecord, KIND_OUTCOME};
use periop::service::performance::{performance, GroupBy, PerformanceQuery, PerformanceSettings};
use periop::service::quality_rows::{quality_rows, QualityQuery};
use periop::service::{Assessor, Caller, ModelSetRef, RuleSource};
use serde_json::{json, Value};

const OUTCOME: Outcome = Outcome::ProlongedLos;

/// Records appended per transaction while generating the store.
const BATCH: usize = 5000;

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn reset_peak() {
    // Linux: writing 5 resets the peak RSS (VmHWM) to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let n: usize = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let base = std::env::var("BENCH_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let path = dir.path().join("audit.db");
    let store = Arc::new(SqliteAuditStore::open(&path).expect("store"));
    let models = Arc::new(
        ModelSet::load(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"),
        )
        .expect("models/default"),
    );
    let caller = Caller {
        request_id: "bench".into(),
        key_id: "bench".into(),
    };

    // Templates: 200 real recorded assessments and their labels.
    let cohort = periop::synth::generate(200, 99);
    let label_index = Outcome::ALL
        .iter()
        .position(|o| *o == OUTCOME)
        .expect("outcome");
    let items: Vec<Value> = cohort
        .iter()
        .map(|r| json!({"patient": r.patient.to_json(), "explain": false}))
        .collect();
    let template_store: Arc<dyn AuditStore> =
        Arc::new(SqliteAuditStore::open(dir.path().join("templates.db")).expect("store"));
    let assessor = Assessor::new(models, RuleSource::Off, Some(template_store.clone()));
    let recorded = assessor.assess_batch(&items, &caller).expect("batch");
    assert!(recorded.iter().all(Result::is_ok));
    let templates = template_store
        .list(&ListQuery {
            kind: Some(KIND_ASSESSMENT.into()),
            limit: 1000,
            ..ListQuery::default()
        })
        .expect("templates");
    let answer_bytes: usize = templates
        .iter()
        .map(|t| t.record.output.len())
        .sum::<usize>()
        / templates.len();

    // Each template's answer with placeholders for what changes per copy, serialised once: a
    // copy is three string replacements, not a parse and a serialisation.
    let shapes: Vec<(String, String, ModelSetRef)> = templates
        .iter()
        .map(|t| {
            let mut answer: Value = serde_json::from_str(&t.record.output).expect("answer");
            answer["assessment_id"] = json!("@@ID@@");
            answer["created_at"] = json!("@@AT@@");
            answer["site"] = json!("@@SITE@@");
            let model_version = answer["predictions"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["outcome"] == OUTCOME.id()))
                .and_then(|p| p["model"]["version"].as_str())
                .unwrap_or_default()
                .to_string();
            let model_set: ModelSetRef =
                serde_json::from_value(answer["model_set"].clone()).expect("model set");
            (answer.to_string(), model_version, model_set)
        })
        .collect();

    let started = Instant::now();
    let year = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let step_ms = (365 * 24 * 3600 * 1000 / n as i64).max(1);
    let mut batch = Vec::with_capacity(BATCH + 2);
    let mut outcomes = 0usize;
    for i in 0..n {
        let t = &templates[i % templates.len()].record;
        let (shape, model_version, model_set) = &shapes[i % templates.len()];
        let label = cohort[i % cohort.len()].outcomes[label_index];
        let id = uuid::Uuid::new_v4().to_string();
        let at = created_at_text(&(year + Duration::milliseconds(step_ms * i as i64)));
        let site = if i % 3 == 0 { "site-b" } else { "site-a" };
        let output = shape
            .replacen("\"@@ID@@\"", &format!("\"{id}\""), 1)
            .replacen("\"@@AT@@\"", &format!("\"{at}\""), 1)
            .replacen("\"@@SITE@@\"", &format!("\"{site}\""), 1);
        batch.push(AuditRecord {
            assessment_id: id.clone(),
            created_at: at.clone(),
            output,
            ..t.clone()
        });
        if let Some(value) = label {
            outcomes += 1;
            let record_id = outcome_record_id(&id, OUTCOME, 1);
            let outcome = OutcomeRecord {
                record_id: record_id.clone(),
                assessment_id: id,
                outcome: OUTCOME.id().into(),
                value,
                version: 1,
                supersedes: None,
                observed_at: None,
                linked_by: LinkedBy::AssessmentId,
                site: Some(site.into()),
                model_set: model_set.clone(),
                model: ModelVersion {
                    outcome: OUTCOME.id().into(),
                    version: model_version.clone(),
                },
            };
            batch.push(AuditRecord {
                assessment_id: record_id,
                request_id: "bench".into(),
                created_at: at,
                caller: "bench".into(),
                kind: KIND_OUTCOME.into(),
                model_set: t.model_set.clone(),
                input: "{}".into(),
                normalised: "null".into(),
                output: serde_json::to_string(&outcome).expect("outcome"),
                shap: "null".into(),
            });
        }
        if batch.len() >= BATCH || i + 1 == n {
            for r in store.append_all(&batch) {
                r.expect("append");
            }
            batch.clear();
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!(
                "  {} assessments in {:.0} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let load = started.elapsed();
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = path.with_file_name("audit.db-wal");
    let file_mb = (size(&path) + size(&wal)) / 1_000_000;
    println!(
        "setup: {n} assessments + {outcomes} outcomes appended in {:.1} s ({:.0} assessments/s); \
         audit file {file_mb} MB (with its WAL); answer ~{answer_bytes} B",
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64()
    );

    let rows = QualityQuery {
        outcome: OUTCOME,
        from: year,
        to: year + Duration::days(366),
        site: None,
    };
    reset_peak();
    let before = peak_kib();
    let t = Instant::now();
    let found = quality_rows(store.as_ref(), &rows).expect("rows");
    let rows_time = t.elapsed();
    let rows_peak = peak_kib();
    println!(
        "quality_rows: {} rows with an outcome, {} without, in {:.2} s; peak RSS {} MiB (from {} MiB)",
        found.rows.len(),
        found.without_outcome,
        rows_time.as_secs_f64(),
        rows_peak / 1024,
        before / 1024
    );
    drop(found);

    for group_by in [GroupBy::Month, GroupBy::Site] {
        reset_peak();
        let before = peak_kib();
        let t = Instant::now();
        let report = performance(
            store.as_ref(),
            &PerformanceQuery {
                rows: rows.clone(),
                group_by: Some(group_by),
                reference: None,
            },
            &PerformanceSettings::default(),
        )
        .expect("report");
        let elapsed = t.elapsed();
        println!(
            "performance group_by={}: {} groups, all n = {}, AUC {:?}, in {:.2} s; peak RSS {} MiB (from {} MiB)",
            group_by.id(),
            report.groups.len(),
            report.all.n,
            match &report.all.metrics {
                Some(periop::service::performance::GroupMetrics::Binary(b)) => b.auc,
                _ => None,
            },
            elapsed.as_secs_f64(),
            peak_kib() / 1024,
            before / 1024
        );
    }
}
