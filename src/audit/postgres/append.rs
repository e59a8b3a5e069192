//! The append transaction of the PostgreSQL store: one group commit under the chain-head lock
//! (see the parent module for why this keeps one linear chain across replicas).

use std::collections::HashSet;
use std::time::Duration;

use tokio_postgres::types::ToSql;

use super::errors::classify;
use super::index::IndexColumns;
use crate::audit::group_commit::Pending;
use crate::audit::{chain_hash, AuditError, AuditRecord, StoredRecord};

/// One group commit: lock the head, refuse duplicates, insert all records in one statement,
/// move the head, commit. READ COMMITTED whatever the server's default: under it the locking read
/// of the head waits for, then sees, the previous writer's commit (a stricter level would fail
/// with a serialisation error instead).
pub(super) async fn write_batch(
    client: &mut deadpool_postgres::Client,
    target: &str,
    batch: &[Pending],
    lock_timeout: Duration,
) -> Result<Vec<Result<StoredRecord, AuditError>>, AuditError> {
    let ctx = |what: &'static str| move |e| classify(what, target, e);
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(ctx("starting an append to"))?;
    // Set per transaction, not per session, so a pooler between periop and the server cannot
    // drop them: a stuck writer holding the head lock does not hang the others, and an
    // acknowledged answer is committed to disk whatever the server's default.
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}; SET LOCAL synchronous_commit = on",
        lock_timeout.as_millis()
    ))
    .await
    .map_err(ctx("configuring an append to"))?;
    let head = tx
        .query_one(
            "SELECT seq, hash FROM audit_chain_head WHERE singleton FOR UPDATE",
            &[],
        )
        .await
        .map_err(ctx("locking the chain head of"))?;
    let (mut seq, mut prev_hash): (i64, String) = (
        head.try_get(0).map_err(ctx("reading the chain head of"))?,
        head.try_get(1).map_err(ctx("reading the chain head of"))?,
    );
    let ids: Vec<&str> = batch
        .iter()
        .map(|(_, r, _)| r.assessment_id.as_str())
        .collect();
    let existing: HashSet<String> = tx
        .query(
            "SELECT assessment_id FROM audit_records WHERE assessment_id = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(ctx("checking for duplicates in"))?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(ctx("checking for duplicates in"))?;
    let mut rows = Columns::default();
    let mut index = IndexColumns::default();
    let mut in_batch = HashSet::new();
    let mut results = Vec::with_capacity(batch.len());
    for (_, record, created_us) in batch {
        if existing.contains(&record.assessment_id)
            || !in_batch.insert(record.assessment_id.as_str())
        {
            results.push(Err(AuditError::Duplicate(record.assessment_id.clone())));
            continue;
        }
        let next = seq + 1;
        let hash = chain_hash(&prev_hash, next, record);
        rows.push(next, record, *created_us, &prev_hash, &hash);
        // `validate` already checked that the record is indexable.
        index.push(next, *created_us, record)?;
        results.push(Ok(StoredRecord {
            seq: next,
            prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
            record: record.clone(),
        }));
        seq = next;
    }
    if !rows.seq.is_empty() {
        let params = rows.params();
        tx.execute(
            "INSERT INTO audit_records (seq, assessment_id, request_id, created_at, created_at_us, \
             caller, kind, model_set, input, normalised, output, shap, prev_hash, hash) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
             $13::text[], $14::text[])",
            &params,
        )
        .await
        .map_err(ctx("inserting into"))?;
        // The search index, in the same transaction (`crate::audit::index`).
        index
            .insert(&tx)
            .await
            .map_err(ctx("indexing in"))?;
        tx.execute(
            "UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE singleton",
            &[&seq as &(dyn ToSql + Sync), &prev_hash],
        )
        .await
        .map_err(ctx("moving the chain head of"))?;
    }
    tx.commit().await.map_err(ctx("committing to"))?;
    Ok(results)
}

/// A batch as columns, for one `INSERT ... SELECT * FROM unnest(...)`.
#[derive(Default)]
struct Columns<'a> {
    seq: Vec<i64>,
    created_us: Vec<i64>,
    /// The ten hashed fields, in chain order.
    fields: [Vec<&'a str>; 10],
    prev_hash: Vec<String>,
    hash: Vec<String>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, seq: i64, r: &'a AuditRecord, created_us: i64, prev: &str, hash: &str) {
        self.seq.push(seq);
        self.created_us.push(created_us);
        let values = [
            r.assessment_id.as_str(),
            &r.request_id,
            &r.created_at,
            &r.caller,
            &r.kind,
            &r.model_set,
            &r.input,
            &r.normalised,
            &r.output,
            &r.shap,
        ];
        for (column, value) in self.fields.iter_mut().zip(values) {
            column.push(value);
        }
        self.prev_hash.push(prev.to_owned());
        self.hash.push(hash.to_owned());
    }

    /// `$1..$14` of the insert, in its column order.
    fn params(&self) -> [&(dyn ToSql + Sync); 14] {
        let f = &self.fields;
        [
            &self.seq,
            &f[0],
            &f[1],
            &f[2],
            &self.created_us,
            &f[3],
            &f[4],
            &f[5],
            &f[6],
            &f[7],
            &f[8],
            &f[9],
            &self.prev_hash,
            &self.hash,
        ]
    }
}
