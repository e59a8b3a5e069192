//! The search index of the PostgreSQL store (`schemas/db/postgres/0002_search_index.sql`,
//! extended by `0003_quality_index.sql`): rows written with each batch inside the append
//! transaction (under the chain-head lock), searches, lookups by reference, the quality join and
//! the rebuild. What goes into a row is
//! [`crate::audit::index::index_terms`]'s alone.

use std::collections::HashMap;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::errors::classify;
use crate::audit::index::{
    incomplete, index_terms, quality_sql, search_sql, IndexTerms, Indexed, IndexedPrediction,
    Param, QualityCollector, QualityIndexQuery, QualityIndexRows, QualityRaw, ReindexReport,
    SearchHit, SearchQuery, ASSESSMENT_COLUMNS, PREDICTION_COLUMNS,
};
use crate::audit::{AuditError, AuditRecord};

/// Records read per page while reindexing.
const REINDEX_PAGE: i64 = 1000;

/// Joined rows read per statement of the quality join (each under the operation time limit).
const QUALITY_PAGE: i64 = 20_000;

/// What a record was indexed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Assessment,
    Outcome,
}

/// The index rows of a batch, as columns for `INSERT ... SELECT * FROM unnest(...)`.
#[derive(Default)]
pub(super) struct IndexColumns {
    seq: Vec<i64>,
    assessment_id: Vec<String>,
    created_at: Vec<String>,
    created_us: Vec<i64>,
    site: Vec<Option<String>>,
    caller: Vec<String>,
    model_set_id: Vec<Option<String>>,
    model_set_version: Vec<Option<String>>,
    rule_set_version: Vec<Option<String>>,
    patient_reference_hash: Vec<Option<String>>,
    encounter_reference_hash: Vec<Option<String>>,
    surgery_date: Vec<Option<String>>,
    sex: Vec<Option<String>>,
    age_band: Vec<String>,
    procedure: Vec<Option<String>>,
    p_seq: Vec<i64>,
    p_position: Vec<i32>,
    p_outcome: Vec<String>,
    p_model_version: Vec<Option<String>>,
    p_status: Vec<Option<String>>,
    p_risk_band: Vec<Option<String>>,
    p_probability: Vec<Option<f64>>,
    p_median_ml: Vec<Option<f64>>,
    p_p10_ml: Vec<Option<f64>>,
    p_p90_ml: Vec<Option<f64>>,
    p_not_applicable: Vec<bool>,
    o_seq: Vec<i64>,
    o_assessment_id: Vec<String>,
    o_outcome: Vec<String>,
    o_value: Vec<f64>,
    o_version: Vec<i64>,
}

impl IndexColumns {
    /// Adds the rows of `record` at `seq` (nothing for records of other kinds) and says what
    /// was indexed.
    ///
    /// # Errors
    /// `InvalidRecord` when the record's answer does not fit the indexed subset.
    pub(super) fn push(
        &mut self,
        seq: i64,
        created_us: i64,
        record: &AuditRecord,
    ) -> Result<Option<Kind>, AuditError> {
        let t = match index_terms(record)? {
            None => return Ok(None),
            Some(Indexed::Outcome(o)) => {
                self.o_seq.push(seq);
                self.o_assessment_id.push(o.assessment_id);
                self.o_outcome.push(o.outcome);
                self.o_value.push(o.value);
                self.o_version.push(i64::from(o.version));
                return Ok(Some(Kind::Outcome));
            }
            Some(Indexed::Assessment(t)) => *t,
        };
        self.seq.push(seq);
        self.assessment_id.push(t.assessment_id);
        self.created_at.push(t.created_at);
        self.created_us.push(created_us);
        self.site.push(t.site);
        self.caller.push(t.caller);
        self.model_set_id.push(t.model_set_id);
        self.model_set_version.push(t.model_set_version);
        self.rule_set_version.push(t.rule_set_version);
        self.patient_reference_hash.push(t.patient_reference_hash);
        self.encounter_reference_hash
            .push(t.encounter_reference_hash);
        self.surgery_date.push(t.surgery_date);
        self.sex.push(t.sex);
        self.age_band.push(t.age_band);
        self.procedure.push(t.procedure);
        for (position, p) in t.predictions.into_iter().enumerate() {
            self.p_seq.push(seq);
            self.p_position
                .push(i32::try_from(position).unwrap_or(i32::MAX));
            self.p_outcome.push(p.outcome);
            self.p_model_version.push(p.model_version);
            self.p_status.push(p.status);
            self.p_risk_band.push(p.risk_band);
            self.p_probability.push(p.probability);
            self.p_median_ml.push(p.median_ml);
            self.p_p10_ml.push(p.p10_ml);
            self.p_p90_ml.push(p.p90_ml);
            self.p_not_applicable.push(p.not_applicable);
        }
        Ok(Some(Kind::Assessment))
    }

    /// Inserts the collected rows (two statements, whatever the batch size).
    pub(super) async fn insert(
        &self,
        client: &impl GenericClient,
    ) -> Result<(), tokio_postgres::Error> {
        if !self.o_seq.is_empty() {
            client
                .execute(
                    "INSERT INTO audit_search_outcomes (seq, assessment_id, outcome, value, \
                     version) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], \
                     $4::float8[], $5::bigint[])",
                    &[
                        &self.o_seq,
                        &self.o_assessment_id,
                        &self.o_outcome,
                        &self.o_value,
                        &self.o_version,
                    ],
                )
                .await?;
        }
        if self.seq.is_empty() {
            return Ok(());
        }
        client
            .execute(
                "INSERT INTO audit_search_assessments (seq, assessment_id, created_at, \
                 created_at_us, site, caller, model_set_id, model_set_version, \
                 rule_set_version, patient_reference_hash, encounter_reference_hash, \
                 surgery_date, sex, age_band, procedure) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                 $11::text[], $12::text[], $13::text[], $14::text[], $15::text[])",
                &[
                    &self.seq,
                    &self.assessment_id,
                    &self.created_at,
                    &self.created_us,
                    &self.site,
                    &self.caller,
                    &self.model_set_id,
                    &self.model_set_version,
                    &self.rule_set_version,
                    &self.patient_reference_hash,
                    &self.encounter_reference_hash,
                    &self.surgery_date,
                    &self.sex,
                    &self.age_band,
                    &self.procedure,
                ],
            )
            .await?;
        if self.p_seq.is_empty() {
            return Ok(());
        }
        client
            .execute(
                "INSERT INTO audit_search_predictions (seq, position, outcome, model_version, \
                 status, risk_band, probability, median_ml, p10_ml, p90_ml, not_applicable) \
                 SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::float8[], $8::float8[], $9::float8[], \
                 $10::float8[], $11::boolean[])",
                &[
                    &self.p_seq,
                    &self.p_position,
                    &self.p_outcome,
                    &self.p_model_version,
                    &self.p_status,
                    &self.p_risk_band,
                    &self.p_probability,
                    &self.p_median_ml,
                    &self.p_p10_ml,
                    &self.p_p90_ml,
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
    let bound = bind(params);
    let rows = tx.query(&sql, &refs(&bound)).await.map_err(ctx)?;
    let hits = rows
        .iter()
        .map(hit_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ctx)?;
    let hits = with_predictions(&tx, hits).await.map_err(ctx)?;
    tx.commit().await.map_err(ctx)?;
    Ok(hits)
}

/// Boxes the shared SQL's parameters for binding.
fn bind(params: Vec<Param>) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .into_iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                Param::Int(i) => Box::new(i),
                Param::Text(t) => Box::new(t),
            }
        })
        .collect()
}

fn refs(bound: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    bound
        .iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// The quality join in one REPEATABLE READ, read-only transaction (one snapshot across its
/// pages), [`QUALITY_PAGE`] joined rows per statement (keyset on `seq`), each statement under
/// `page_limit`.
pub(super) async fn quality_rows(
    client: &mut deadpool_postgres::Client,
    target: &str,
    query: &QualityIndexQuery,
    page_limit: Duration,
) -> Result<QualityIndexRows, AuditError> {
    let ctx = |e| classify("joining outcomes in", target, e);
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(ctx)?;
    check_complete(&tx, target).await?;
    let mut collector = QualityCollector::new(query.outcome);
    let mut from_seq = 0;
    loop {
        let (sql, params) = quality_sql(query, from_seq, Some(QUALITY_PAGE), |n| format!("${n}"));
        let bound = bind(params);
        let rows = tokio::time::timeout(page_limit, tx.query(&sql, &refs(&bound)))
            .await
            .map_err(|_| super::errors::timed_out("joining outcomes in", target, page_limit))?
            .map_err(ctx)?;
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= QUALITY_PAGE;
        for r in &rows {
            collector.push(quality_raw(r).map_err(ctx)?);
        }
        if !full {
            break;
        }
        // The page may end inside an assessment's predictions: read that one again.
        let Some(last) = collector.pending_seq() else {
            break;
        };
        if last == from_seq {
            return Err(AuditError::Corrupt(format!(
                "{target}: assessment seq {last} has more than {QUALITY_PAGE} indexed predictions"
            )));
        }
        collector.drop_pending();
        from_seq = last;
    }
    tx.commit().await.map_err(ctx)?;
    Ok(collector.finish())
}

fn quality_raw(r: &Row) -> Result<QualityRaw, tokio_postgres::Error> {
    Ok(QualityRaw {
        seq: r.try_get(0)?,
        assessment_id: r.try_get(1)?,
        created_at: r.try_get(2)?,
        site: r.try_get(3)?,
        sex: r.try_get(4)?,
        age_band: r.try_get(5)?,
        procedure: r.try_get(6)?,
        model_set_id: r.try_get(7)?,
        model_set_version: r.try_get(8)?,
        status: r.try_get(9)?,
        model_version: r.try_get(10)?,
        probability: r.try_get(11)?,
        median_ml: r.try_get(12)?,
        p10_ml: r.try_get(13)?,
        p90_ml: r.try_get(14)?,
        observed: r.try_get(15)?,
        version: r.try_get(16)?,
    })
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
            model_set_id: r.try_get(5)?,
            model_set_version: r.try_get(6)?,
            rule_set_version: r.try_get(7)?,
            patient_reference_hash: r.try_get(8)?,
            encounter_reference_hash: r.try_get(9)?,
            surgery_date: r.try_get(10)?,
            sex: r.try_get(11)?,
            age_band: r.try_get(12)?,
            procedure: r.try_get(13)?,
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
                status: r.try_get(3)?,
                risk_band: r.try_get(4)?,
                probability: r.try_get(5)?,
                median_ml: r.try_get(6)?,
                p10_ml: r.try_get(7)?,
                p90_ml: r.try_get(8)?,
                not_applicable: r.try_get(9)?,
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
        "DELETE FROM audit_search_predictions; DELETE FROM audit_search_assessments; \
         DELETE FROM audit_search_outcomes;",
    )
    .await
    .map_err(ctx("clearing the index of"))?;
    let mut report = ReindexReport {
        records: 0,
        assessments: 0,
        outcomes: 0,
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
            let indexed = columns
                .push(seq, created_us, &record)
                .map_err(|e| match e {
                    AuditError::InvalidRecord(m) => {
                        AuditError::InvalidRecord(format!("record seq {seq}: {m}"))
                    }
                    other => other,
                })?;
            match indexed {
                Some(Kind::Assessment) => report.assessments += 1,
                Some(Kind::Outcome) => report.outcomes += 1,
                None => {}
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
