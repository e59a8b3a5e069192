//! The one join of stored assessments with their recorded outcomes (issue 10): for an outcome and
//! a window of assessment times, every stored assessment that predicted the outcome, with what it
//! predicted, the subgroups it belongs to and the *current* recorded value (the newest version,
//! `service::outcome_records`). Model performance by group (`service::performance`), local
//! recalibration from the store and the quality report all read their rows here, so they agree
//! on which rows exist.
//!
//! How rows are found is not part of the contract: today they are read from the audit store's
//! search index (`AuditStore::quality_index_rows`, `audit::index`), which holds per assessment
//! its site, time, grouping fields (sex, age band and procedure of the normalised input) and
//! per prediction what it predicted, and one row per recorded outcome version; no answer body
//! is parsed. One statement over the window (SQLite; PostgreSQL pages it), O(assessments in the
//! window) reads and memory for the rows. A store whose index does not cover every record (one
//! created or upgraded before these columns existed) answers
//! [`crate::audit::AuditError::IndexIncomplete`] until `periop audit reindex`: never partial
//! rows.

use chrono::{DateTime, Utc};

use super::error::ServiceError;
use super::overrides::WindowError;
use super::types::ModelSetRef;
use crate::audit::{AuditStore, QualityIndexQuery, QualityIndexRow, QualityPrediction};
use crate::outcomes::Outcome;

// What the tests below name through `super::*` (kept unchanged from the scan version).
#[cfg(test)]
use super::outcome_records::KIND_OUTCOME;
#[cfg(test)]
use crate::audit::KIND_ASSESSMENT;
#[cfg(test)]
use serde_json::Value;

/// Which rows: the assessments created in `[from, to)` that predicted `outcome` (status `ok`),
/// optionally of one site.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityQuery {
    pub outcome: Outcome,
    /// Assessment `created_at`, inclusive.
    pub from: DateTime<Utc>,
    /// Assessment `created_at`, exclusive; after `from`.
    pub to: DateTime<Utc>,
    /// Only assessments of this site (`None`: every site, and assessments without one).
    pub site: Option<String>,
}

/// What the assessment predicted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Predicted {
    /// Calibrated probability (binary outcomes).
    Probability(f64),
    /// Median and 80 % interval in mL (blood loss).
    Quantity { median: f64, p10: f64, p90: f64 },
}

/// One assessment with its current recorded outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityRow {
    pub assessment_id: String,
    pub created_at: DateTime<Utc>,
    /// The assessment's site (`None`: made without one).
    pub site: Option<String>,
    /// `female`, `male`, or `None` when not recorded.
    pub sex: Option<String>,
    /// [`crate::metrics::age_band`] of the normalised age (`unknown` when missing).
    pub age_band: &'static str,
    /// The normalised `procedure` level (`None` when not recorded).
    pub procedure: Option<String>,
    /// Version of the model that predicted the outcome.
    pub model_version: String,
    /// The model set that answered.
    pub model_set: ModelSetRef,
    pub predicted: Predicted,
    /// The current (newest version) recorded value: 0 or 1, or mL.
    pub observed: f64,
    /// The version of that recorded value (1 for the first).
    pub outcome_version: u32,
}

/// The rows of a query and what was left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QualityRows {
    /// Assessments with a recorded outcome, in store (`seq`) order.
    pub rows: Vec<QualityRow>,
    /// Assessments of the query without a recorded outcome (counted, not used).
    pub without_outcome: u64,
    /// Assessments of the query whose indexed prediction lacks what the join needs (should be
    /// 0; never used).
    pub unreadable: u64,
}

fn row(r: QualityIndexRow) -> QualityRow {
    QualityRow {
        assessment_id: r.assessment_id,
        created_at: r.created_at,
        site: r.site,
        sex: r.sex,
        age_band: r.age_band,
        procedure: r.procedure,
        model_version: r.model_version,
        model_set: ModelSetRef {
            id: r.model_set_id,
            version: r.model_set_version,
        },
        predicted: match r.predicted {
            QualityPrediction::Probability(p) => Predicted::Probability(p),
            QualityPrediction::Quantity { median, p10, p90 } => {
                Predicted::Quantity { median, p10, p90 }
            }
        },
        observed: r.observed,
        outcome_version: r.outcome_version,
    }
}

/// Every stored assessment of `query` joined with its current recorded outcome; see the module
/// documentation for what is read. Rows without a recorded outcome are counted in
/// `without_outcome`, assessments whose indexed prediction lacks what the join needs in
/// `unreadable`; neither is in `rows`.
///
/// # Errors
/// [`ServiceError::Window`] when `to` is not after `from`; [`ServiceError::Store`] when the store
/// cannot be read or its index is incomplete (`AuditError::IndexIncomplete`).
pub fn quality_rows(
    store: &dyn AuditStore,
    query: &QualityQuery,
) -> Result<QualityRows, ServiceError> {
    if query.to <= query.from {
        return Err(WindowError::Reversed.into());
    }
    let found = store.quality_index_rows(&QualityIndexQuery {
        outcome: query.outcome,
        from: query.from,
        to: query.to,
        site: query.site.clone(),
    })?;
    Ok(QualityRows {
        rows: found.rows.into_iter().map(row).collect(),
        without_outcome: found.without_outcome,
        unreadable: found.unreadable,
    })
}

/// The join as it was done before the index held outcomes (two keyset scans of the records,
/// each answer and outcome body parsed): kept only as the reference the index path is tested
/// against, never a second production path.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod full_parse {
    use std::collections::HashMap;

    use serde::Deserialize;
    use serde_json::{Map, Value};

    use super::super::outcome_records::{OutcomeRecord, KIND_OUTCOME};
    use super::super::types::{QuantityView, Status};
    use super::*;
    use crate::audit::{ListQuery, StoredRecord, KIND_ASSESSMENT};
    use crate::metrics::age_band;
    use crate::outcomes::OutcomeKind;

    /// Records read per store query.
    const PAGE: u32 = 1000;

    #[derive(Deserialize)]
    struct StoredAnswer {
        assessment_id: String,
        created_at: DateTime<Utc>,
        #[serde(default)]
        site: Option<String>,
        model_set: ModelSetRef,
        #[serde(default)]
        predictions: Vec<StoredPrediction>,
    }

    #[derive(Deserialize)]
    struct StoredPrediction {
        outcome: String,
        status: Status,
        #[serde(default)]
        probability: Option<f64>,
        #[serde(default)]
        quantity: Option<QuantityView>,
        model: StoredModel,
    }

    #[derive(Deserialize)]
    struct StoredModel {
        version: String,
    }

    #[derive(Deserialize)]
    struct StoredNormalised {
        #[serde(default)]
        patient: Map<String, Value>,
    }

    /// An assessment of the query, before its outcome is known.
    struct Pending {
        row: QualityRow,
        /// Version of the outcome found so far (0: none).
        version: u32,
    }

    /// Calls `each` on every record the query returns, a page at a time (keyset on `seq`).
    fn scan(
        store: &dyn AuditStore,
        mut query: ListQuery,
        mut each: impl FnMut(&StoredRecord),
    ) -> Result<(), ServiceError> {
        query.limit = PAGE;
        loop {
            let page = store.list(&query)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            query.after_seq = last.seq;
            for record in &page {
                each(record);
            }
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }

    /// The row of one stored assessment, if it predicted the outcome; `Err(())` when it does not
    /// parse.
    fn assessment_row(
        record: &StoredRecord,
        query: &QualityQuery,
    ) -> Result<Option<QualityRow>, ()> {
        let answer: StoredAnswer = serde_json::from_str(&record.record.output).map_err(|_| ())?;
        if query.site.is_some() && answer.site != query.site {
            return Ok(None);
        }
        let Some(prediction) = answer
            .predictions
            .iter()
            .find(|p| p.outcome == query.outcome.id() && p.status == Status::Ok)
        else {
            return Ok(None);
        };
        let predicted = match (
            query.outcome.kind(),
            prediction.probability,
            &prediction.quantity,
        ) {
            (OutcomeKind::Probability, Some(p), _) => Predicted::Probability(p),
            (OutcomeKind::Quantity, _, Some(q)) => Predicted::Quantity {
                median: q.median,
                p10: q.p10,
                p90: q.p90,
            },
            _ => return Err(()),
        };
        let normalised: StoredNormalised =
            serde_json::from_str(&record.record.normalised).map_err(|_| ())?;
        let text = |name: &str| {
            normalised
                .patient
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Ok(Some(QualityRow {
            assessment_id: answer.assessment_id,
            created_at: answer.created_at,
            site: answer.site,
            sex: text("sex"),
            age_band: age_band(normalised.patient.get("age_years").and_then(Value::as_f64)),
            procedure: text("procedure"),
            model_version: prediction.model.version.clone(),
            model_set: answer.model_set,
            predicted,
            observed: f64::NAN,
            outcome_version: 0,
        }))
    }

    /// The join as it was before the index: every assessment record of the window and every
    /// outcome record parsed. Rows without a recorded outcome are counted in
    /// `without_outcome`, records that do not parse in `unreadable`; neither is in `rows`.
    ///
    /// # Errors
    /// [`ServiceError::Window`] when `to` is not after `from`; [`ServiceError::Store`] when the store
    /// cannot be read.
    pub fn full_parse_rows(
        store: &dyn AuditStore,
        query: &QualityQuery,
    ) -> Result<QualityRows, ServiceError> {
        if query.to <= query.from {
            return Err(WindowError::Reversed.into());
        }
        let outcome_key = format!("\"outcome\":\"{}\"", query.outcome.id());
        let mut pending: Vec<Pending> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut unreadable = 0u64;
        scan(
            store,
            ListQuery {
                since: Some(query.from),
                until: Some(query.to),
                kind: Some(KIND_ASSESSMENT.to_string()),
                ..ListQuery::default()
            },
            |record| {
                if !record.record.output.contains(&outcome_key) {
                    return;
                }
                match assessment_row(record, query) {
                    Ok(Some(row)) => {
                        index.insert(row.assessment_id.clone(), pending.len());
                        pending.push(Pending { row, version: 0 });
                    }
                    Ok(None) => {}
                    Err(()) => unreadable += 1,
                }
            },
        )?;
        if !pending.is_empty() {
            scan(
                store,
                ListQuery {
                    kind: Some(KIND_OUTCOME.to_string()),
                    ..ListQuery::default()
                },
                |record| {
                    if !record.record.output.contains(&outcome_key) {
                        return;
                    }
                    let Ok(outcome) = serde_json::from_str::<OutcomeRecord>(&record.record.output)
                    else {
                        unreadable += 1;
                        return;
                    };
                    if outcome.outcome != query.outcome.id() {
                        return;
                    }
                    if let Some(&i) = index.get(&outcome.assessment_id) {
                        let p = &mut pending[i];
                        if outcome.version > p.version {
                            p.version = outcome.version;
                            p.row.observed = outcome.value;
                            p.row.outcome_version = outcome.version;
                        }
                    }
                },
            )?;
        }
        let mut rows = Vec::with_capacity(pending.len());
        let mut without_outcome = 0u64;
        for p in pending {
            if p.version == 0 {
                without_outcome += 1;
            } else {
                rows.push(p.row);
            }
        }
        Ok(QualityRows {
            rows,
            without_outcome,
            unreadable,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::audit::{AuditRecord, SqliteAuditStore};
    use serde_json::json;

    fn append(
        store: &SqliteAuditStore,
        id: &str,
        at: &str,
        kind: &str,
        output: Value,
        normalised: Value,
    ) {
        store
            .append(&AuditRecord {
                assessment_id: id.into(),
                request_id: "req".into(),
                created_at: at.into(),
                caller: "ehr".into(),
                kind: kind.into(),
                model_set: "{}".into(),
                input: "{}".into(),
                normalised: normalised.to_string(),
                output: output.to_string(),
                shap: "null".into(),
            })
            .unwrap();
    }

    fn assessment(store: &SqliteAuditStore, id: &str, at: &str, site: &str, p: f64, status: &str) {
        append(
            store,
            id,
            at,
            KIND_ASSESSMENT,
            json!({"assessment_id": id, "created_at": at, "site": site,
            "model_set": {"id": "default", "version": "2026.1"},
            "predictions": [
                {"outcome": "dvt", "status": status, "probability": p, "model": {"id": "dvt", "version": "dvt@1", "sha256": "00"}},
                {"outcome": "blood_loss_ml", "status": "ok", "quantity": {"median": 400.0, "p10": 200.0, "p90": 900.0, "unit": "mL"}, "model": {"id": "b", "version": "bl@1", "sha256": "00"}}
            ]}),
            json!({"patient": {"sex": "female", "age_years": 71, "procedure": "lumbar_fusion"}}),
        );
    }

    fn outcome(store: &SqliteAuditStore, of: &str, name: &str, value: f64, version: u32) {
        let record = json!({"record_id": format!("{of}-{name}-{version}"), "assessment_id": of, "outcome": name,
            "value": value, "version": version, "linked_by": "assessment_id",
            "model_set": {"id": "default", "version": "2026.1"}, "model": {"outcome": name, "version": "dvt@1"}});
        append(
            store,
            &format!("{of}-{name}-{version}"),
            "2026-05-01T00:00:00.000Z",
            KIND_OUTCOME,
            record,
            Value::Null,
        );
    }

    fn query(site: Option<&str>) -> QualityQuery {
        QualityQuery {
            outcome: Outcome::Dvt,
            from: "2026-03-01T00:00:00Z".parse().unwrap(),
            to: "2026-04-01T00:00:00Z".parse().unwrap(),
            site: site.map(str::to_string),
        }
    }

    #[test]
    fn rows_join_the_current_outcome_version_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteAuditStore::open(dir.path().join("audit.db")).unwrap();
        assessment(
            &store,
            "a1",
            "2026-03-02T10:00:00.000Z",
            "site-a",
            0.1,
            "ok",
        );
        assessment(
            &store,
            "a2",
            "2026-03-03T10:00:00.000Z",
            "site-b",
            0.7,
            "ok",
        );
        assessment(
            &store,
            "a3",
            "2026-03-04T10:00:00.000Z",
            "site-a",
            0.2,
            "ok",
        );
        assessment(
            &store,
            "na",
            "2026-03-04T11:00:00.000Z",
            "site-a",
            0.2,
            "not_applicable",
        );
        assessment(
            &store,
            "early",
            "2026-02-28T23:59:59.999Z",
            "site-a",
            0.3,
            "ok",
        );
        assessment(
            &store,
            "late",
            "2026-04-01T00:00:00.000Z",
            "site-a",
            0.3,
            "ok",
        );
        outcome(&store, "a1", "dvt", 0.0, 1);
        outcome(&store, "a1", "dvt", 1.0, 2);
        outcome(&store, "a2", "dvt", 1.0, 1);
        outcome(&store, "a3", "blood_loss_ml", 650.0, 1);
        outcome(&store, "early", "dvt", 1.0, 1);
        outcome(&store, "late", "dvt", 1.0, 1);

        let all = quality_rows(&store, &query(None)).unwrap();
        let got: Vec<(&str, f64, u32)> = all
            .rows
            .iter()
            .map(|r| (r.assessment_id.as_str(), r.observed, r.outcome_version))
            .collect();
        assert_eq!(got, [("a1", 1.0, 2), ("a2", 1.0, 1)]);
        assert_eq!(
            (all.without_outcome, all.unreadable),
            (1, 0),
            "a3 has no dvt outcome"
        );
        let a1 = &all.rows[0];
        assert_eq!(a1.predicted, Predicted::Probability(0.1));
        assert_eq!(
            (a1.sex.as_deref(), a1.age_band, a1.procedure.as_deref()),
            (Some("female"), "65-74", Some("lumbar_fusion"))
        );
        assert_eq!(
            (a1.model_version.as_str(), a1.model_set.version.as_str()),
            ("dvt@1", "2026.1")
        );
        assert_eq!(a1.site.as_deref(), Some("site-a"));

        let site_b = quality_rows(&store, &query(Some("site-b"))).unwrap();
        assert_eq!(site_b.rows.len(), 1);
        assert_eq!(site_b.without_outcome, 0);

        let blood = quality_rows(
            &store,
            &QualityQuery {
                outcome: Outcome::BloodLossMl,
                ..query(None)
            },
        )
        .unwrap();
        assert_eq!(blood.rows.len(), 1);
        assert_eq!(
            blood.rows[0].predicted,
            Predicted::Quantity {
                median: 400.0,
                p10: 200.0,
                p90: 900.0
            }
        );
        assert_eq!(blood.rows[0].observed, 650.0);
        assert_eq!(
            blood.without_outcome, 3,
            "a1, a2 and na predicted blood loss too"
        );

        let reversed = QualityQuery {
            to: query(None).from,
            ..query(None)
        };
        assert!(matches!(
            quality_rows(&store, &reversed),
            Err(ServiceError::Window(_))
        ));
    }

    /// A store with corrected outcomes, missing ones, two sites, blood loss, varied subgroups
    /// and assessments outside the window.
    fn mixed_store(dir: &std::path::Path) -> SqliteAuditStore {
        let store = SqliteAuditStore::open(dir.join("mixed.db")).unwrap();
        let patients = [
            json!({"patient": {"sex": "male", "age_years": 45, "procedure": "discectomy"}}),
            json!({"patient": {"sex": "female", "age_years": 80}}),
            json!({"patient": {"age_years": 58, "procedure": "lumbar_fusion"}}),
            json!({"model_input": {"features": [], "values": []}}),
        ];
        for i in 0..40u32 {
            let id = format!("m{i}");
            // Days 0..40 from 2026-02-20: some before the window, some after 2026-04-01 none.
            let at = format!(
                "2026-{}T08:00:00.000Z",
                if i < 9 {
                    format!("02-{:02}", 20 + i)
                } else {
                    format!("03-{:02}", (i - 8).min(31))
                }
            );
            let site = if i % 3 == 0 { "site-b" } else { "site-a" };
            let status = if i % 7 == 3 { "not_applicable" } else { "ok" };
            let p = f64::from(i % 10) / 10.0 + 0.05;
            append(
                &store,
                &id,
                &at,
                KIND_ASSESSMENT,
                json!({"assessment_id": id, "created_at": at, "site": site,
                "model_set": {"id": "default", "version": format!("2026.{}", i % 2)},
                "predictions": [
                    {"outcome": "blood_loss_ml", "status": "ok", "quantity": {"median": 300.0 + f64::from(i), "p10": 100.0, "p90": 900.0 + f64::from(i), "unit": "mL"}, "model": {"id": "b", "version": "bl@1", "sha256": "00"}},
                    {"outcome": "dvt", "status": status, "probability": p, "model": {"id": "dvt", "version": format!("dvt@{}", i % 2), "sha256": "00"}}
                ]}),
                patients[i as usize % patients.len()].clone(),
            );
        }
        // An assessment after the window.
        assessment(
            &store,
            "after",
            "2026-04-02T00:00:00.000Z",
            "site-a",
            0.4,
            "ok",
        );
        for i in 0..40u32 {
            let id = format!("m{i}");
            if i % 4 != 1 {
                outcome(&store, &id, "dvt", f64::from(i % 2), 1);
            }
            if i % 5 == 0 {
                // A corrected value (version 2), and for some a third.
                outcome(&store, &id, "dvt", f64::from((i + 1) % 2), 2);
            }
            if i % 10 == 0 {
                outcome(&store, &id, "dvt", f64::from(i % 2), 3);
            }
            if i % 2 == 0 {
                outcome(&store, &id, "blood_loss_ml", 250.0 + f64::from(i) * 10.0, 1);
            }
            if i % 6 == 0 {
                outcome(&store, &id, "blood_loss_ml", 999.0, 2);
            }
        }
        outcome(&store, "after", "dvt", 1.0, 1);
        store
    }

    #[test]
    fn the_index_join_equals_the_full_parse_of_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = mixed_store(dir.path());
        let mut compared = 0;
        for outcome in [Outcome::Dvt, Outcome::BloodLossMl] {
            for site in [None, Some("site-a"), Some("site-b"), Some("nowhere")] {
                let q = QualityQuery {
                    outcome,
                    site: site.map(str::to_string),
                    ..query(None)
                };
                let indexed = quality_rows(&store, &q).unwrap();
                let parsed = full_parse::full_parse_rows(&store, &q).unwrap();
                assert_eq!(indexed, parsed, "{q:?}");
                compared += indexed.rows.len();
                if site.is_none() {
                    assert!(
                        indexed.without_outcome > 0 && indexed.rows.len() > 10,
                        "{q:?}"
                    );
                    assert!(indexed.rows.iter().any(|r| r.outcome_version > 1));
                    assert!(indexed.rows.iter().any(|r| r.sex.is_none()));
                    assert!(indexed.rows.iter().any(|r| r.age_band == "18-49"));
                }
                if site.is_none() && outcome == Outcome::Dvt {
                    let bands: std::collections::BTreeSet<&str> =
                        indexed.rows.iter().map(|r| r.age_band).collect();
                    assert_eq!(bands.len(), 4, "{bands:?}");
                }
            }
        }
        assert!(compared > 40);
        // A narrower window, on both paths.
        let q = QualityQuery {
            from: "2026-03-05T00:00:00Z".parse().unwrap(),
            to: "2026-03-10T00:00:00Z".parse().unwrap(),
            ..query(None)
        };
        let indexed = quality_rows(&store, &q).unwrap();
        assert_eq!(indexed, full_parse::full_parse_rows(&store, &q).unwrap());
        // Days 5..9 of March are m13..m17; m17's dvt prediction is not applicable.
        assert_eq!(indexed.rows.len() + indexed.without_outcome as usize, 4);
    }

    #[test]
    fn a_store_the_index_does_not_cover_is_refused_not_read_partially() {
        let dir = tempfile::tempdir().unwrap();
        let store = mixed_store(dir.path());
        assert!(!quality_rows(&store, &query(None)).unwrap().rows.is_empty());
        // As a store upgraded from before the index: only records from seq 10 are indexed.
        rusqlite::Connection::open(dir.path().join("mixed.db"))
            .unwrap()
            .execute("UPDATE audit_search_state SET complete_from_seq = 10", [])
            .unwrap();
        assert!(matches!(
            quality_rows(&store, &query(None)),
            Err(ServiceError::Store(
                crate::audit::AuditError::IndexIncomplete { from_seq: 10 }
            ))
        ));
        store.reindex().unwrap();
        assert_eq!(
            quality_rows(&store, &query(None)).unwrap(),
            full_parse::full_parse_rows(&store, &query(None)).unwrap()
        );
    }
}
