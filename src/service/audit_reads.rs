//! Read auditing: every read of patient-level audit data (a stored assessment, its explanation
//! SVG, its recorded outcomes, an audit search or export) is itself appended to the audit chain
//! as a record of kind [`KIND_AUDIT_READ`], durable before the answer is sent: who (the API key
//! id), what (the assessment ids, or the search's filters), when (`created_at`), and through
//! which endpoint. A read record holds no patient data: ids and the filters as given.
//!
//! Record layout: `assessment_id` is a fresh UUID v4 (the record's own id), `input` is
//! `{"endpoint": "GET /v1/...", "query": {...}}` (the parameters as given, `{}` when none),
//! `output` is [`ReadRecord`] as JSON, `model_set`, `normalised` and `shap` are `null`. Read
//! records are not assessments, so the search index never lists them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::ServiceError;
use super::record::Caller;
use crate::audit::{AuditRecord, AuditStore};
use crate::clock::{created_at_text, now_millis};

/// Record kind of a read of patient-level audit data.
pub const KIND_AUDIT_READ: &str = "audit_read";

/// What was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    /// `GET /v1/assessments/{id}` (JSON or FHIR).
    Assessment,
    /// `GET /v1/assessments/{id}/explanations/{outcome}.svg`.
    Explanation,
    /// `GET /v1/assessments/{id}/outcomes`.
    Outcomes,
    /// `GET /v1/audit/assessments`.
    Search,
    /// `GET /v1/audit/assessments/export`.
    Export,
}

/// The `output` of a read record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadRecord {
    pub read: ReadKind,
    /// `GET /v1/...` with the path as requested.
    pub endpoint: String,
    /// The assessments whose data was returned (a search: the ids of its page; an export: empty,
    /// the export is described by `query`, recorded before its first row is sent).
    pub assessment_ids: Vec<String>,
    /// The query parameters as given (name → value); `{}` when none.
    pub query: Map<String, Value>,
    /// Export only: `csv` or `ndjson`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// Appends the read record and returns only once it is durable.
///
/// # Errors
/// [`ServiceError::Store`] when the store cannot record it (the read must then not be
/// answered).
pub fn record_read(
    store: &dyn AuditStore,
    caller: &Caller,
    read: &ReadRecord,
) -> Result<(), ServiceError> {
    let input = json!({"endpoint": read.endpoint, "query": read.query});
    store.append(&AuditRecord {
        assessment_id: uuid::Uuid::new_v4().to_string(),
        request_id: caller.request_id.clone(),
        created_at: created_at_text(&now_millis()),
        caller: caller.key_id.clone(),
        kind: KIND_AUDIT_READ.to_string(),
        model_set: "null".into(),
        input: input.to_string(),
        normalised: "null".into(),
        output: serde_json::to_string(read)?,
        shap: "null".into(),
    })?;
    Ok(())
}

/// The query parameters of a request as a JSON object (repeated names keep the last value;
/// the endpoints refuse repeats anyway).
pub fn query_object(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{ListQuery, SqliteAuditStore};

    #[test]
    fn a_read_is_recorded_with_who_what_and_when() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteAuditStore::open(dir.path().join("a.db")).expect("store");
        let caller = Caller {
            request_id: "req_1".into(),
            key_id: "key_quality".into(),
        };
        let read = ReadRecord {
            read: ReadKind::Search,
            endpoint: "GET /v1/audit/assessments".into(),
            assessment_ids: vec!["a1".into(), "a2".into()],
            query: query_object(&[("site".into(), "north".into())]),
            format: None,
        };
        record_read(&store, &caller, &read).expect("recorded");
        let stored = store
            .list(&ListQuery {
                kind: Some(KIND_AUDIT_READ.into()),
                ..ListQuery::default()
            })
            .expect("list");
        assert_eq!(stored.len(), 1);
        let r = &stored[0].record;
        assert_eq!(r.caller, "key_quality");
        assert_eq!(r.request_id, "req_1");
        let back: ReadRecord = serde_json::from_str(&r.output).expect("parses");
        assert_eq!(back, read);
        assert!(chrono::DateTime::parse_from_rfc3339(&r.created_at).is_ok());
        assert!(store
            .search(&crate::audit::SearchQuery {
                limit: 10,
                ..Default::default()
            })
            .expect("search")
            .is_empty());
    }
}
