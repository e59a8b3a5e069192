//! The search index of the SQLite store (`schemas/db/sqlite/0003_search_index.sql`): rows
//! written with each record inside the append transaction, searches, lookups by reference and
//! the rebuild. What goes into a row is [`super::index::index_terms`]'s alone.

use rusqlite::types::ToSqlOutput;
use rusqlite::{params, Connection, ToSql};

use super::index::{
    incomplete, index_terms, search_sql, IndexTerms, IndexedPrediction, Param, ReindexReport,
    SearchHit, SearchQuery, ASSESSMENT_COLUMNS, PREDICTION_COLUMNS,
};
use super::{AuditError, AuditRecord};

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Int(i) => i.to_sql(),
            Param::Text(t) => t.to_sql(),
        }
    }
}

/// Writes the index rows of `record` (nothing for records that are not assessments).
pub(super) fn insert(
    conn: &Connection,
    seq: i64,
    created_us: i64,
    record: &AuditRecord,
) -> Result<(), IndexWriteError> {
    let Some(terms) = index_terms(record).map_err(IndexWriteError::Record)? else {
        return Ok(());
    };
    insert_terms(conn, seq, created_us, &terms).map_err(IndexWriteError::Sql)
}

/// Why an index row could not be written.
#[derive(Debug)]
pub(super) enum IndexWriteError {
    Record(AuditError),
    Sql(rusqlite::Error),
}

fn insert_terms(
    conn: &Connection,
    seq: i64,
    created_us: i64,
    t: &IndexTerms,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_search_assessments (seq, assessment_id, created_at, created_at_us, site, \
         caller, model_set_version, rule_set_version, patient_reference_hash, \
         encounter_reference_hash, surgery_date) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        seq,
        t.assessment_id,
        t.created_at,
        created_us,
        t.site,
        t.caller,
        t.model_set_version,
        t.rule_set_version,
        t.patient_reference_hash,
        t.encounter_reference_hash,
        t.surgery_date,
    ])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO audit_search_predictions (seq, position, outcome, model_version, risk_band, \
         probability, median_ml, not_applicable) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (position, p) in t.predictions.iter().enumerate() {
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        stmt.execute(params![
            seq,
            position,
            p.outcome,
            p.model_version,
            p.risk_band,
            p.probability,
            p.median_ml,
            p.not_applicable,
        ])?;
    }
    Ok(())
}

/// `Err(IndexIncomplete)` unless every record is indexed.
fn check_complete(conn: &Connection) -> Result<(), SearchError> {
    let from: i64 = conn
        .query_row(
            "SELECT complete_from_seq FROM audit_search_state WHERE singleton = 1",
            [],
            |r| r.get(0),
        )
        .map_err(SearchError::Sql)?;
    if from > 1 {
        let older: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM audit_records WHERE seq < ?1)",
                [from],
                |r| r.get(0),
            )
            .map_err(SearchError::Sql)?;
        if older {
            return Err(SearchError::Audit(incomplete(from)));
        }
    }
    Ok(())
}

/// Why a search failed.
#[derive(Debug)]
pub(super) enum SearchError {
    Audit(AuditError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for SearchError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

/// Runs a search on one read transaction (a consistent snapshot of the hits and their
/// predictions).
pub(super) fn search(conn: &mut Connection, query: &SearchQuery) -> Result<Vec<SearchHit>, SearchError> {
    let tx = conn.transaction()?;
    check_complete(&tx)?;
    let (sql, params) = search_sql(query, |n| format!("?{n}"));
    let hits = {
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), hit_row)?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let hits = with_predictions(&tx, hits)?;
    drop(tx);
    Ok(hits)
}

/// The indexed assessments of one (reference hash, surgery date), in `seq` order.
pub(super) fn by_reference(
    conn: &mut Connection,
    hash: &str,
    date: &str,
) -> Result<Vec<SearchHit>, SearchError> {
    let tx = conn.transaction()?;
    check_complete(&tx)?;
    let hits = {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {ASSESSMENT_COLUMNS} FROM audit_search_assessments a \
             WHERE a.patient_reference_hash = ?1 AND a.surgery_date = ?2 ORDER BY a.seq"
        ))?;
        let rows = stmt.query_map(params![hash, date], hit_row)?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let hits = with_predictions(&tx, hits)?;
    drop(tx);
    Ok(hits)
}

fn hit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SearchHit> {
    Ok(SearchHit {
        seq: r.get(0)?,
        terms: IndexTerms {
            assessment_id: r.get(1)?,
            created_at: r.get(2)?,
            site: r.get(3)?,
            caller: r.get(4)?,
            model_set_version: r.get(5)?,
            rule_set_version: r.get(6)?,
            patient_reference_hash: r.get(7)?,
            encounter_reference_hash: r.get(8)?,
            surgery_date: r.get(9)?,
            predictions: Vec::new(),
        },
    })
}

/// Reads the predictions of `hits` (one statement for the page).
fn with_predictions(
    conn: &Connection,
    mut hits: Vec<SearchHit>,
) -> rusqlite::Result<Vec<SearchHit>> {
    if hits.is_empty() {
        return Ok(hits);
    }
    let marks = vec!["?"; hits.len()].join(",");
    let mut stmt = conn.prepare(&format!(
        "SELECT {PREDICTION_COLUMNS} FROM audit_search_predictions WHERE seq IN ({marks}) \
         ORDER BY seq, position"
    ))?;
    let seqs: Vec<i64> = hits.iter().map(|h| h.seq).collect();
    let mut by_seq: std::collections::HashMap<i64, Vec<IndexedPrediction>> =
        std::collections::HashMap::new();
    let rows = stmt.query_map(rusqlite::params_from_iter(seqs.iter()), |r| {
        Ok((
            r.get::<_, i64>(0)?,
            IndexedPrediction {
                outcome: r.get(1)?,
                model_version: r.get(2)?,
                risk_band: r.get(3)?,
                probability: r.get(4)?,
                median_ml: r.get(5)?,
                not_applicable: r.get(6)?,
            },
        ))
    })?;
    for row in rows {
        let (seq, p) = row?;
        by_seq.entry(seq).or_default().push(p);
    }
    for hit in &mut hits {
        hit.terms.predictions = by_seq.remove(&hit.seq).unwrap_or_default();
    }
    Ok(hits)
}

/// Rebuilds the index inside `tx` (an immediate transaction: appends wait) and marks it
/// complete.
pub(super) fn reindex(tx: &Connection) -> Result<ReindexReport, IndexWriteError> {
    let sql = |e| IndexWriteError::Sql(e);
    tx.execute_batch(
        "DELETE FROM audit_search_predictions; DELETE FROM audit_search_assessments;",
    )
    .map_err(sql)?;
    let mut report = ReindexReport {
        records: 0,
        assessments: 0,
    };
    let mut stmt = tx
        .prepare(
            "SELECT seq, created_at_us, assessment_id, request_id, created_at, caller, kind, \
             model_set, input, normalised, output, shap FROM audit_records ORDER BY seq",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let seq: i64 = r.get(0).map_err(sql)?;
        let created_us: i64 = r.get(1).map_err(sql)?;
        let record = AuditRecord {
            assessment_id: r.get(2).map_err(sql)?,
            request_id: r.get(3).map_err(sql)?,
            created_at: r.get(4).map_err(sql)?,
            caller: r.get(5).map_err(sql)?,
            kind: r.get(6).map_err(sql)?,
            model_set: r.get(7).map_err(sql)?,
            input: r.get(8).map_err(sql)?,
            normalised: r.get(9).map_err(sql)?,
            output: r.get(10).map_err(sql)?,
            shap: r.get(11).map_err(sql)?,
        };
        report.records += 1;
        let terms = index_terms(&record).map_err(|e| match e {
            AuditError::InvalidRecord(m) => {
                IndexWriteError::Record(AuditError::InvalidRecord(format!("record seq {seq}: {m}")))
            }
            other => IndexWriteError::Record(other),
        })?;
        if let Some(terms) = terms {
            insert_terms(tx, seq, created_us, &terms).map_err(sql)?;
            report.assessments += 1;
        }
    }
    tx.execute(
        "UPDATE audit_search_state SET complete_from_seq = 1 WHERE singleton = 1",
        [],
    )
    .map_err(sql)?;
    Ok(report)
}
