//! The search index of the SQLite store (`schemas/db/sqlite/0003_search_index.sql`, extended
//! by `0004_quality_index.sql`): rows written with each record inside the append transaction,
//! searches, lookups by reference, the quality join and the rebuild. What goes into a row is [`super::index::index_terms`]'s alone.

use rusqlite::types::ToSqlOutput;
use rusqlite::{params, Connection, ToSql};

use super::index::{
    incomplete, index_terms, quality_sql, search_sql, IndexTerms, Indexed, IndexedOutcome,
    IndexedPrediction, Param, QualityCollector, QualityIndexQuery, QualityIndexRows, QualityRaw,
    ReindexReport, SearchHit, SearchQuery, ASSESSMENT_COLUMNS, PREDICTION_COLUMNS,
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

/// Writes the index rows of `record` (nothing for records of other kinds) and returns what
/// was indexed.
pub(super) fn insert(
    conn: &Connection,
    seq: i64,
    created_us: i64,
    record: &AuditRecord,
) -> Result<Option<Indexed>, IndexWriteError> {
    let indexed = index_terms(record).map_err(IndexWriteError::Record)?;
    match &indexed {
        Some(Indexed::Assessment(terms)) => insert_terms(conn, seq, created_us, terms),
        Some(Indexed::Outcome(outcome)) => insert_outcome(conn, seq, outcome),
        None => Ok(()),
    }
    .map_err(IndexWriteError::Sql)?;
    Ok(indexed)
}

fn insert_outcome(conn: &Connection, seq: i64, o: &IndexedOutcome) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_search_outcomes (seq, assessment_id, outcome, value, version) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![seq, o.assessment_id, o.outcome, o.value, o.version])?;
    Ok(())
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
         caller, model_set_id, model_set_version, rule_set_version, patient_reference_hash, \
         encounter_reference_hash, surgery_date, sex, age_band, procedure) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        seq,
        t.assessment_id,
        t.created_at,
        created_us,
        t.site,
        t.caller,
        t.model_set_id,
        t.model_set_version,
        t.rule_set_version,
        t.patient_reference_hash,
        t.encounter_reference_hash,
        t.surgery_date,
        t.sex,
        t.age_band,
        t.procedure,
    ])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO audit_search_predictions (seq, position, outcome, model_version, status, \
         risk_band, probability, median_ml, p10_ml, p90_ml, not_applicable) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (position, p) in t.predictions.iter().enumerate() {
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        stmt.execute(params![
            seq,
            position,
            p.outcome,
            p.model_version,
            p.status,
            p.risk_band,
            p.probability,
            p.median_ml,
            p.p10_ml,
            p.p90_ml,
            p.not_applicable,
        ])?;
    }
    Ok(())
}

/// `Err(IndexIncomplete)` unless every record is indexed. A store of an older schema (opened
/// read-only, so never migrated) lacks index columns: as after its migration, it is reported
/// complete only from its next record.
fn check_complete(conn: &Connection) -> Result<(), SearchError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if usize::try_from(version).is_ok_and(|v| v < super::sqlite::SCHEMA_VERSION) {
        let next: i64 = conn.query_row(
            "SELECT coalesce(max(seq), 0) + 1 FROM audit_records",
            [],
            |r| r.get(0),
        )?;
        return Err(SearchError::Audit(incomplete(next)));
    }
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
pub(super) fn search(
    conn: &mut Connection,
    query: &SearchQuery,
) -> Result<Vec<SearchHit>, SearchError> {
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
            model_set_id: r.get(5)?,
            model_set_version: r.get(6)?,
            rule_set_version: r.get(7)?,
            patient_reference_hash: r.get(8)?,
            encounter_reference_hash: r.get(9)?,
            surgery_date: r.get(10)?,
            sex: r.get(11)?,
            age_band: r.get(12)?,
            procedure: r.get(13)?,
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
                status: r.get(3)?,
                risk_band: r.get(4)?,
                probability: r.get(5)?,
                median_ml: r.get(6)?,
                p10_ml: r.get(7)?,
                p90_ml: r.get(8)?,
                not_applicable: r.get(9)?,
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
    let sql = IndexWriteError::Sql;
    tx.execute_batch(
        "DELETE FROM audit_search_predictions; DELETE FROM audit_search_assessments; \
         DELETE FROM audit_search_outcomes;",
    )
    .map_err(sql)?;
    let mut report = ReindexReport {
        records: 0,
        assessments: 0,
        outcomes: 0,
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
        let indexed = insert(tx, seq, created_us, &record).map_err(|e| match e {
            IndexWriteError::Record(AuditError::InvalidRecord(m)) => {
                IndexWriteError::Record(AuditError::InvalidRecord(format!("record seq {seq}: {m}")))
            }
            other => other,
        })?;
        match indexed {
            Some(Indexed::Assessment(_)) => report.assessments += 1,
            Some(Indexed::Outcome(_)) => report.outcomes += 1,
            None => {}
        }
    }
    tx.execute(
        "UPDATE audit_search_state SET complete_from_seq = 1 WHERE singleton = 1",
        [],
    )
    .map_err(sql)?;
    Ok(report)
}

/// The quality join on one read transaction (one snapshot), streamed in one statement.
pub(super) fn quality_rows(
    conn: &mut Connection,
    query: &QualityIndexQuery,
) -> Result<QualityIndexRows, SearchError> {
    let tx = conn.transaction()?;
    check_complete(&tx)?;
    let (sql, params) = quality_sql(query, 0, None, |n| format!("?{n}"));
    let mut collector = QualityCollector::new(query.outcome);
    {
        let mut stmt = tx.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(r) = rows.next()? {
            collector.push(QualityRaw {
                seq: r.get(0)?,
                assessment_id: r.get(1)?,
                created_at: r.get(2)?,
                site: r.get(3)?,
                sex: r.get(4)?,
                age_band: r.get(5)?,
                procedure: r.get(6)?,
                model_set_id: r.get(7)?,
                model_set_version: r.get(8)?,
                status: r.get(9)?,
                model_version: r.get(10)?,
                probability: r.get(11)?,
                median_ml: r.get(12)?,
                p10_ml: r.get(13)?,
                p90_ml: r.get(14)?,
                observed: r.get(15)?,
                version: r.get(16)?,
            });
        }
    }
    drop(tx);
    Ok(collector.finish())
}
