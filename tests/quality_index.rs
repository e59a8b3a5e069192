//! The quality join from the audit search index (`service::quality_rows` over
//! `AuditStore::quality_index_rows`) in both backends: a real SQLite file and a real PostgreSQL
//! server (a throwaway cluster, `support/postgres.rs`). The expected rows are computed here from
//! the records themselves (every answer and outcome body parsed), never from the index: corrected
//! outcomes (version 2 and 3), missing outcomes, two sites, blood loss with its interval,
//! assessments outside the window and subgroups from the normalised input. A store upgraded from
//! the schema before these index columns (SQLite 3, PostgreSQL 2) refuses the join until
//! `periop audit reindex`, which then gives exactly the live rows.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "support/postgres.rs"]
#[allow(dead_code, reason = "stop and restart are for the outage tests")]
mod postgres;

use std::collections::HashMap;
use std::process::Command;

use chrono::{DateTime, Utc};
use periop::audit::postgres::{PostgresAuditStore, PostgresOptions};
use periop::audit::{AuditError, AuditRecord, AuditStore, SearchQuery, SqliteAuditStore};
use periop::metrics::age_band;
use periop::outcomes::Outcome;
use periop::service::quality_rows::{
    quality_rows, Predicted, QualityQuery, QualityRow, QualityRows,
};
use periop::service::{ModelSetRef, ServiceError};
use postgres::TestCluster;
use serde_json::{json, Value};

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn record(id: &str, at: &str, kind: &str, output: &Value, normalised: &Value) -> AuditRecord {
    AuditRecord {
        assessment_id: id.into(),
        request_id: "req_quality".into(),
        created_at: at.into(),
        caller: "ehr-key".into(),
        kind: kind.into(),
        model_set: "{}".into(),
        input: "{}".into(),
        normalised: normalised.to_string(),
        output: output.to_string(),
        shap: "null".into(),
    }
}

/// 60 assessments over February to April 2026 at two sites (and some without a site), each
/// predicting dvt (sometimes not applicable) and blood loss, with outcomes recorded for most,
/// corrected for some; a few other records in between.
fn records() -> Vec<AuditRecord> {
    let patients = [
        json!({"patient": {"sex": "male", "age_years": 45, "procedure": "discectomy"}}),
        json!({"patient": {"sex": "female", "age_years": 80.5, "procedure": "lumbar_fusion"}}),
        json!({"patient": {"age_years": 66, "procedure": "lumbar_fusion"}}),
        json!({"patient": {"sex": "female", "age_years": 17}}),
        json!({"model_input": {"features": [], "values": []}}),
    ];
    let mut out = Vec::new();
    for i in 0..60u32 {
        let id = format!("assessment-{i:02}");
        let at = format!(
            "2026-{:02}-{:02}T{:02}:30:00.000Z",
            2 + i / 25,
            1 + i % 25,
            i % 24
        );
        let mut answer = json!({"assessment_id": id, "created_at": at,
        "model_set": {"id": "default", "version": format!("2026.{}", i % 3)},
        "predictions": [
            {"outcome": "dvt", "status": if i % 9 == 4 { "not_applicable" } else { "ok" },
             "probability": f64::from(i % 17) / 20.0 + 0.01, "risk_band": "low",
             "model": {"id": "dvt", "version": format!("dvt@{}", i % 2), "sha256": "00"}},
            {"outcome": "blood_loss_ml", "status": "ok",
             "quantity": {"median": 200.0 + f64::from(i) * 7.0, "p10": 90.0 + f64::from(i),
                          "p90": 700.0 + f64::from(i) * 3.0, "unit": "mL"},
             "model": {"id": "blood_loss_ml", "version": "bl@1", "sha256": "00"}}
        ]});
        if i % 7 != 6 {
            answer["site"] = json!(if i % 2 == 0 { "north" } else { "south" });
        }
        out.push(record(
            &id,
            &at,
            "assessment",
            &answer,
            &patients[i as usize % patients.len()],
        ));
        if i % 10 == 5 {
            out.push(record(
                &format!("feedback-{i}"),
                &at,
                "card_feedback",
                &json!({"outcome": "dvt", "assessment_id": id}),
                &Value::Null,
            ));
        }
    }
    let mut outcome = |of: u32, name: &str, value: f64, version: u32| {
        let of = format!("assessment-{of:02}");
        let record_id = format!("{of}/{name}/{version}");
        out.push(record(
            &record_id,
            "2026-05-01T00:00:00.000Z",
            "outcome",
            &json!({"record_id": record_id, "assessment_id": of, "outcome": name,
                "value": value, "version": version, "linked_by": "assessment_id",
                "model_set": {"id": "default", "version": "2026.0"},
                "model": {"outcome": name, "version": "dvt@0"}}),
            &Value::Null,
        ));
    };
    for i in 0..60u32 {
        if i % 5 != 2 {
            outcome(i, "dvt", f64::from(i % 3 == 0), 1);
        }
        if i % 4 == 0 {
            outcome(i, "blood_loss_ml", 150.0 + f64::from(i) * 11.0, 1);
        }
    }
    // Corrections come later in the chain: version 2 (and 3) replace version 1.
    for i in (0..60u32).filter(|i| i % 6 == 0) {
        outcome(i, "dvt", f64::from(i % 3 != 0), 2);
    }
    for i in (0..60u32).filter(|i| i % 12 == 0) {
        outcome(i, "dvt", 1.0, 3);
        outcome(i, "blood_loss_ml", 640.0, 2);
    }
    out
}

/// The expected join, from the records alone.
fn expected(records: &[AuditRecord], q: &QualityQuery) -> QualityRows {
    let mut current: HashMap<(String, String), (u32, f64)> = HashMap::new();
    for r in records.iter().filter(|r| r.kind == "outcome") {
        let o: Value = serde_json::from_str(&r.output).unwrap();
        let key = (
            o["assessment_id"].as_str().unwrap().to_string(),
            o["outcome"].as_str().unwrap().to_string(),
        );
        let version = u32::try_from(o["version"].as_u64().unwrap()).unwrap();
        let value = o["value"].as_f64().unwrap();
        let entry = current.entry(key).or_insert((version, value));
        if version > entry.0 {
            *entry = (version, value);
        }
    }
    let mut rows = QualityRows::default();
    for r in records.iter().filter(|r| r.kind == "assessment") {
        let at = time(&r.created_at);
        if at < q.from || at >= q.to {
            continue;
        }
        let answer: Value = serde_json::from_str(&r.output).unwrap();
        let site = answer["site"].as_str().map(str::to_string);
        if q.site.is_some() && site != q.site {
            continue;
        }
        let Some(p) = answer["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["outcome"] == q.outcome.id() && p["status"] == "ok")
        else {
            continue;
        };
        let Some(&(version, observed)) =
            current.get(&(r.assessment_id.clone(), q.outcome.id().to_string()))
        else {
            rows.without_outcome += 1;
            continue;
        };
        let normalised: Value = serde_json::from_str(&r.normalised).unwrap();
        let patient = &normalised["patient"];
        let text = |name: &str| patient[name].as_str().map(str::to_string);
        let predicted = match p["probability"].as_f64() {
            Some(p) => Predicted::Probability(p),
            None => Predicted::Quantity {
                median: p["quantity"]["median"].as_f64().unwrap(),
                p10: p["quantity"]["p10"].as_f64().unwrap(),
                p90: p["quantity"]["p90"].as_f64().unwrap(),
            },
        };
        rows.rows.push(QualityRow {
            assessment_id: r.assessment_id.clone(),
            created_at: at,
            site,
            sex: text("sex"),
            age_band: age_band(patient["age_years"].as_f64()),
            procedure: text("procedure"),
            model_version: p["model"]["version"].as_str().unwrap().to_string(),
            model_set: ModelSetRef {
                id: answer["model_set"]["id"].as_str().unwrap().to_string(),
                version: answer["model_set"]["version"].as_str().unwrap().to_string(),
            },
            predicted,
            observed,
            outcome_version: version,
        });
    }
    rows
}

/// The joins every backend must answer alike.
fn queries() -> Vec<QualityQuery> {
    let window = |from: &str, to: &str| (time(from), time(to));
    let mut out = Vec::new();
    for outcome in [Outcome::Dvt, Outcome::BloodLossMl] {
        for site in [None, Some("north"), Some("south")] {
            for (from, to) in [
                window("2026-02-01T00:00:00Z", "2026-05-01T00:00:00Z"),
                window("2026-02-10T00:00:00Z", "2026-03-15T12:00:00Z"),
            ] {
                out.push(QualityQuery {
                    outcome,
                    from,
                    to,
                    site: site.map(str::to_string),
                });
            }
        }
    }
    out
}

fn joins(store: &dyn AuditStore) -> Vec<QualityRows> {
    queries()
        .iter()
        .map(|q| quality_rows(store, q).unwrap())
        .collect()
}

fn refused(store: &dyn AuditStore) -> bool {
    matches!(
        quality_rows(store, &queries()[0]),
        Err(ServiceError::Store(AuditError::IndexIncomplete { .. }))
    ) && matches!(
        store.search(&SearchQuery {
            limit: 10,
            ..SearchQuery::default()
        }),
        Err(AuditError::IndexIncomplete { .. })
    )
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
fn the_index_join_equals_the_records_in_sqlite_and_postgres_live_and_reindexed() {
    let records = records();
    let outcomes = records.iter().filter(|r| r.kind == "outcome").count();
    let assessments = records.iter().filter(|r| r.kind == "assessment").count();
    let want: Vec<QualityRows> = queries().iter().map(|q| expected(&records, q)).collect();
    // The fixture exercises what it claims to.
    let all_dvt = &want[0];
    assert!(all_dvt.rows.len() > 20 && all_dvt.without_outcome > 5);
    assert!(all_dvt.rows.iter().any(|r| r.outcome_version == 3));
    assert!(all_dvt.rows.iter().any(|r| r.site.is_none()));
    assert!(want[6].rows.iter().any(|r| r.outcome_version == 2));
    assert!(want[1].rows.len() < all_dvt.rows.len());

    // SQLite, live.
    let dir = tempfile::tempdir().unwrap();
    let live = SqliteAuditStore::open(dir.path().join("live.db")).unwrap();
    assert!(live.append_all(&records).into_iter().all(|r| r.is_ok()));
    let got = joins(&live);
    for ((q, got), want) in queries().iter().zip(&got).zip(&want) {
        assert_eq!(got, want, "sqlite {q:?}");
        assert_eq!(got.unreadable, 0);
    }

    // SQLite: a store of schema version 3 (the index without these columns), fully indexed,
    // then upgraded: refused until reindexed, then the live rows.
    let old = dir.path().join("v3.db");
    {
        let store = SqliteAuditStore::open(&old).unwrap();
        assert!(store.append_all(&records).into_iter().all(|r| r.is_ok()));
    }
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch(
            "DROP TABLE audit_search_outcomes; \
             ALTER TABLE audit_search_assessments DROP COLUMN model_set_id; \
             ALTER TABLE audit_search_assessments DROP COLUMN sex; \
             ALTER TABLE audit_search_assessments DROP COLUMN age_band; \
             ALTER TABLE audit_search_assessments DROP COLUMN procedure; \
             ALTER TABLE audit_search_predictions DROP COLUMN status; \
             ALTER TABLE audit_search_predictions DROP COLUMN p10_ml; \
             ALTER TABLE audit_search_predictions DROP COLUMN p90_ml; \
             UPDATE audit_search_state SET complete_from_seq = 1; PRAGMA user_version = 3;",
        )
        .unwrap();
    let unmigrated = SqliteAuditStore::open_read_only(&old).unwrap();
    assert!(
        refused(&unmigrated),
        "an old store read without migrating must refuse too"
    );
    drop(unmigrated);
    let upgraded = SqliteAuditStore::open(&old).unwrap();
    assert!(
        refused(&upgraded),
        "a migrated store must refuse until reindexed"
    );
    drop(upgraded);
    let said = reindex(old.to_str().unwrap());
    assert!(
        said.contains(&format!(
            "{assessments} assessments indexed, {outcomes} recorded outcomes indexed"
        )),
        "{said}"
    );
    let upgraded = SqliteAuditStore::open_read_only(&old).unwrap();
    assert_eq!(joins(&upgraded), got, "sqlite reindexed");

    // PostgreSQL, live: the same rows.
    let pg = TestCluster::start();
    let url = pg.create_database("quality");
    let options = PostgresOptions {
        pool_size: 2,
        timeout: std::time::Duration::from_secs(5),
    };
    let store = PostgresAuditStore::open(&url, &options).unwrap();
    assert!(store.append_all(&records).into_iter().all(|r| r.is_ok()));
    assert_eq!(joins(&store), got, "postgres live");
    drop(store);

    // PostgreSQL: a database of schema version 2, fully indexed, then migrated.
    pg.psql(
        "quality",
        "DROP TABLE audit_search_outcomes; \
         ALTER TABLE audit_search_assessments DROP COLUMN model_set_id, DROP COLUMN sex, \
         DROP COLUMN age_band, DROP COLUMN procedure; \
         ALTER TABLE audit_search_predictions DROP COLUMN status, DROP COLUMN p10_ml, \
         DROP COLUMN p90_ml; \
         UPDATE audit_search_state SET complete_from_seq = 1; \
         DELETE FROM periop_schema_migrations WHERE version = 3;",
    );
    let store = PostgresAuditStore::open(&url, &options).unwrap();
    assert!(
        refused(&store),
        "a migrated database must refuse until reindexed"
    );
    let said = reindex(&url);
    assert!(
        said.contains(&format!(
            "{assessments} assessments indexed, {outcomes} recorded outcomes indexed"
        )),
        "{said}"
    );
    assert_eq!(joins(&store), got, "postgres reindexed");
    // Appends after the reindex are indexed live: a new correction changes the current value.
    let (of, previous) = {
        let row = &got[0].rows[0];
        (row.assessment_id.clone(), row.outcome_version)
    };
    let correction = record(
        &format!("{of}/dvt/late"),
        "2026-05-02T00:00:00.000Z",
        "outcome",
        &json!({"assessment_id": of, "outcome": "dvt", "value": 0.5, "version": previous + 1}),
        &Value::Null,
    );
    for s in [&store as &dyn AuditStore, &live] {
        s.append(&correction).unwrap();
        let row = quality_rows(s, &queries()[0]).unwrap().rows.remove(0);
        assert_eq!(
            (
                row.assessment_id.as_str(),
                row.observed,
                row.outcome_version
            ),
            (of.as_str(), 0.5, previous + 1)
        );
    }
}
