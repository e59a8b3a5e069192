//! The search index of the PostgreSQL store (`schemas/db/postgres/0002_search_index.sql`): rows
//! written with each batch inside the append transaction (under the chain-head lock), searches,
//! lookups by reference and the rebuild. What goes into a row is
//! [`crate::audit::index::index_terms`]'s alone.

use std::collections::HashMap;
use std::time::Duration;

use tokio_postgres::types::ToSql;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::errors::classify;
use crate::audit::index::{
    incomplete, index_terms, search_sql, IndexTerms, IndexedPrediction, Param, ReindexReport,
    SearchHit, SearchQuery, ASSESSMENT_COLUMNS, PREDICTION_COLUMNS,
};
use crate::audit::{AuditError, AuditRecord};

/// Records read per page while reindexing.
const REINDEX_PAGE: i64 = 1000;

/// The index rows of a batch, as columns for `INSERT ... SELECT * FROM unnest(...)`.
#[derive(Default)]
pub(super) struct IndexColumns {
    seq: Vec<i64>,
    assessment_id: Vec<String>,
    created_at: Vec<String>,
    created_us: Vec<i64>,
    site: Vec<Option<String>>,
    caller: Vec<String>,
    model_set_version: Vec<Option<String>>,
    rule_set_version: Vec<Option<String>>,
    patient_reference_hash: Vec<Option<String>>,
    encounter_reference_hash: Vec<Option<String>>,
    surgery_date: Vec<Option<String>>,
    p_seq: Vec<i64>,
    p_position: Vec<i32>,
    p_outcome: Vec<String>,
    p_model_version: Vec<Option<String>>,
    p_risk_band: Vec<Option<String>>,
    p_probability: Vec<Option<f64>>,
    p_median_ml: Vec<Option<f64>>,
    p_not_applicable: Vec<bool>,
}

impl IndexColumns {
    /// Adds the rows of `record` at `seq` (nothing for records that are not assessments).
    ///
    /// # Errors
    /// `InvalidRecord` when the record's answer does not fit the indexed subset.
    pub(super) fn push(
        &mut self,
        seq: i64,
        created_us: i64,
        record: &AuditRecord,
    ) -> Result<bool, AuditError> {
        let Some(t) = index_terms(record)? else {
            return Ok(false);
        };
        self.seq.push(seq);
        self.assessment_id.push(t.assessment_id);
        self.created_at.push(t.created_at);
        self.created_us.push(created_us);
        self.site.push(t.site);
        self.caller.push(t.caller);
        self.model_set_version.push(t.model_set_version);
        self.rule_set_version.push(t.rule_set_version);
        self.patient_reference_hash.push(t.patient_reference_hash);
        self.encounter_reference_hash.push(t.encounter_reference_hash);
        self.surgery_date.push(t.surgery_date);
        for (position, p) in t.predictions.into_iter().enumerate() {
            self.p_seq.push(seq);
            self.p_position.push(i32::try_from(position).unwrap_or(i32::MAX));
            self.p_outcome.push(p.outcome);
            self.p_model_version.push(p.model_version);
            self.p_risk_band.push(p.risk_band);
            self.p_probability.push(p.probability);
            self.p_median_ml.push(p.median_ml);
            self.p_not_applicable.push(p.not_applicable);
        }
        Ok(true)
    }

    /// Inserts the collected rows (two statements, whatever the batch size).
    pub(super) async fn insert(
        &self,
        client: &impl GenericClient,
    ) -> Result<(), tokio_postgres::Error> {
        if self.seq.is_empty() {
            return Ok(());
        }
        client
            .execute(
                "INSERT INTO audit_search_assessments (seq, assessment_id, created_at, \
                 created_at_us, site, caller, model_set_version, rule_set_version, \
                 patient_reference_hash, encounter_reference_hash, surgery_date) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                 $11::text[])",
                &[
                    &self.seq,
                    &self.assessment_id,
                    &self.created_at,
                    &self.created_us,
                    &self.site,
                    &self.caller,
                    &self.model_set_version,
                    &self.rule_set_version,
                    &self.patient_reference_hash,
                    &self.encounter_reference_hash,
                    &self.surgery_date,
                ],
            )
            .await?;
        if self.p_seq.is_empty() {
            return Ok(());
        }
        client
            .execute(
                "INSERT INTO audit_search_predictions (seq, position, outcome, model_version, \
                 risk_band, probability, median_ml, not_applicable) \
                 SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[], \
                 $5::text[], $6::float8[], $7::float8[], $8::boolean[])",
                &[
                    &self.p_seq,
                    &self.p_position,
                    &self.p_outcome,
                    &self.p_model_version,
                    &self.p_risk_band,
                    &self.p_probability,
                    &self.p_median_ml,
                    &self.p_not_applicable,
                ],
            )
            .await?;
        Ok(())
    }
}

/// `Err(IndexIncomplete)` unless every record is indexed.
async fn check_complete(client: &impl GenericClient, target: &str) -> Result<(), AuditError> {
    let ctx = |e| classify("searching", target, e);
    let from: i64 = client
        .query_one(
            "SELECT complete_from_seq FROM audit_search_state WHERE singleton",
            &[],
        )
        .await
        .map_err(ctx)?
        .try_get(0)
        .map_err(ctx)?;
    if from > 1 {
        let older: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM audit_records WHERE seq < $1)",
                &[&from],
            )
            .await
            .map_err(ctx)?
            .try_get(0)
            .map_err(ctx)?;
        if older {
            return Err(incomplete(from));
        }
    }
    Ok(())
}

/// Runs a search in one REPEATABLE READ, read-only transaction (one snapshot for the hits and
/// their predictions).
pub(super) async fn search(
    client: &mut deadpool_postgres::Client,
    target: &str,
    query: &SearchQuery,
) -> Result<Vec<SearchHit>, AuditError> {
    let ctx = |e| classify("searching", target, e);
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(ctx)?;
    check_complete(&tx, target).await?;
    let (sql, params) = search_sql(query, |n| format!("${n}"));
    let bound: Vec<Box<dyn ToSql + Sync + Send>> = params
        .into_iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                Param::Int(i) => Box::new(i),
                Param::Text(t) => Box::new(t),
            }
        })
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = bound
        .iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = tx.query(&sql, &refs).await.map_err(ctx)?;
    let hits = rows
        .iter()
        .map(hit_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ctx)?;
    let hits = with_predictions(&tx, hits).await.map_err(ctx)?;
    tx.commit().await.map_err(ctx)?;
    Ok(hits)
}

/// The indexed assessments of one (reference hash, surgery date), in `seq` order.
pub(super) async fn by_reference(
    client: &mut deadpool_postgres::Client,
    target: &str,
    hash: &str,
    date: &str,
) -> Result<Vec<SearchHit>, AuditError> {
    let ctx = |e| classify("searching", target, e);
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(ctx)?;
    check_complete(&tx, target).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {ASSESSMENT_COLUMNS} FROM audit_search_assessments a \
                 WHERE a.patient_reference_hash = $1 AND a.surgery_date = $2 ORDER BY a.seq"
            ),
            &[&hash, &date],
        )
        .await
        .map_err(ctx)?;
    let hits = rows
        .iter()
        .map(hit_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ctx)?;
    let hits = with_predictions(&tx, hits).await.map_err(ctx)?;
    tx.commit().await.map_err(ctx)?;
    Ok(hits)
}

fn hit_row(r: &Row) -> Result<SearchHit, tokio_postgres::Error> {
    Ok(SearchHit {
        seq: r.try_get(0)?,
        terms: IndexTerms {
            assessment_id: r.try_get(1)?,
            created_at: r.try_get(2)?,
            site: r.try_get(3)?,
            caller: r.try_get(4)?,
            model_set_version: r.try_get(5)?,
            rule_set_version: r.try_get(6)?,
            patient_reference_hash: r.try_get(7)?,
            encounter_reference_hash: r.try_get(8)?,
            surgery_date: r.try_get(9)?,
            predictions: Vec::new(),
        },
    })
}

async fn with_predictions(
    client: &impl GenericClient,
    mut hits: Vec<SearchHit>,
) -> Result<Vec<SearchHit>, tokio_postgres::Error> {
    if hits.is_empty() {
        return Ok(hits);
    }
    let seqs: Vec<i64> = hits.iter().map(|h| h.seq).collect();
    let rows = client
        .query(
            &format!(
                "SELECT {PREDICTION_COLUMNS} FROM audit_search_predictions WHERE seq = ANY($1) \
                 ORDER BY seq, position"
            ),
            &[&seqs],
        )
        .await?;
    let mut by_seq: HashMap<i64, Vec<IndexedPrediction>> = HashMap::new();
    for r in &rows {
        by_seq
            .entry(r.try_get(0)?)
            .or_default()
            .push(IndexedPrediction {
                outcome: r.try_get(1)?,
                model_version: r.try_get(2)?,
                risk_band: r.try_get(3)?,
                probability: r.try_get(4)?,
                median_ml: r.try_get(5)?,
                not_applicable: r.try_get(6)?,
            });
    }
    for hit in &mut hits {
        hit.terms.predictions = by_seq.remove(&hit.seq).unwrap_or_default();
    }
    Ok(hits)
}

/// Rebuilds the index in one transaction that holds the chain-head lock (appends of every
/// replica wait), page by page, and marks it complete.
pub(super) async fn reindex(
    client: &mut deadpool_postgres::Client,
    target: &str,
    lock_timeout: Duration,
) -> Result<ReindexReport, AuditError> {
    let ctx = |what: &'static str| move |e| classify(what, target, e);
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(ctx("starting to reindex"))?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}",
        lock_timeout.as_millis()
    ))
    .await
    .map_err(ctx("configuring the reindex of"))?;
    tx.query_one(
        "SELECT seq FROM audit_chain_head WHERE singleton FOR UPDATE",
        &[],
    )
    .await
    .map_err(ctx("locking the chain head of"))?;
    tx.batch_execute(
        "DELETE FROM audit_search_predictions; DELETE FROM audit_search_assessments;",
    )
    .await
    .map_err(ctx("clearing the index of"))?;
    let mut report = ReindexReport {
        records: 0,
        assessments: 0,
    };
    let mut after: i64 = 0;
    loop {
        let rows = tx
            .query(
                "SELECT seq, created_at_us, assessment_id, request_id, created_at, caller, kind, \
                 model_set, input, normalised, output, shap FROM audit_records \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &REINDEX_PAGE],
            )
            .await
            .map_err(ctx("reading the records of"))?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0).map_err(ctx("reading the records of"))?;
        let mut columns = IndexColumns::default();
        for r in &rows {
            let read = ctx("reading the records of");
            let seq: i64 = r.try_get(0).map_err(read)?;
            let created_us: i64 = r.try_get(1).map_err(read)?;
            let record = AuditRecord {
                assessment_id: r.try_get(2).map_err(read)?,
                request_id: r.try_get(3).map_err(read)?,
                created_at: r.try_get(4).map_err(read)?,
                caller: r.try_get(5).map_err(read)?,
                kind: r.try_get(6).map_err(read)?,
                model_set: r.try_get(7).map_err(read)?,
                input: r.try_get(8).map_err(read)?,
                normalised: r.try_get(9).map_err(read)?,
                output: r.try_get(10).map_err(read)?,
                shap: r.try_get(11).map_err(read)?,
            };
            report.records += 1;
            let indexed = columns.push(seq, created_us, &record).map_err(|e| match e {
                AuditError::InvalidRecord(m) => {
                    AuditError::InvalidRecord(format!("record seq {seq}: {m}"))
                }
                other => other,
            })?;
            if indexed {
                report.assessments += 1;
            }
        }
        columns
            .insert(&tx)
            .await
            .map_err(ctx("writing the index of"))?;
    }
    tx.execute(
        "UPDATE audit_search_state SET complete_from_seq = 1 WHERE singleton",
        &[],
    )
    .await
    .map_err(ctx("marking the index of"))?;
    tx.commit().await.map_err(ctx("committing the index of"))?;
    Ok(report)
}
