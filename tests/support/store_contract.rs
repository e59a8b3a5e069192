//! The audit-store contract: backend-independent checks, each on a fresh, empty store, run by
//! `tests/audit_store.rs` against SQLite files and by `tests/audit_postgres.rs` against real
//! PostgreSQL databases.
#![allow(dead_code, reason = "each test binary uses the checks it runs")]

use std::sync::Arc;
use std::time::Instant;

use periop::audit::{AuditError, AuditRecord, AuditStore, GENESIS_HASH};

/// A record whose JSON texts are deliberately not in canonical form (odd spacing, key order,
/// escapes, many digits) so any re-serialisation would be caught.
pub fn record(tag: &str, i: usize) -> AuditRecord {
    let id = format!("{tag}-{i:06}");
    AuditRecord {
        assessment_id: id.clone(),
        request_id: format!("req-{tag}-{i}"),
        created_at: format!("2025-03-01T10:{:02}:{:02}.123456Z", (i / 60) % 60, i % 60),
        caller: "key_ehr_01".to_owned(),
        kind: "assessment".to_owned(),
        model_set:
            r#"{"id":"default","version":"1.0.0","models":{"sssi":{"version":"1","sha256":"ab"}}}"#
                .to_owned(),
        input: format!(r#"{{ "patient" : {{"age": 67, "bmi":31.40}}, "explain":true, "n": {i} }}"#),
        normalised: r#"{"age":67.0,"bmi":31.4}"#.to_owned(),
        output: format!(
            "{{\"assessment_id\":\"{id}\",  \"predictions\":[{{\"outcome\":\"sssi\",\
             \"probability\":0.0312500000000001}}],\"note\":\"caf\\u00e9 é\",\"z\":1,\"a\":2}}"
        ),
        shap: r#"{"sssi":{"base":-3.2,"values":[0.1,-0.05,1e-7]}}"#.to_owned(),
    }
}

/// Backend-independent checks; each takes a fresh, empty store.
pub mod checks {
    use super::*;

    pub fn round_trip_exact(store: &dyn AuditStore) {
        let r = record("rt", 1);
        let stored = store.append(&r).unwrap();
        assert_eq!(stored.seq, 1);
        assert_eq!(stored.prev_hash, GENESIS_HASH);
        assert_eq!(stored.hash.len(), 64);
        let got = store.get(&r.assessment_id).unwrap().unwrap();
        assert_eq!(got, stored);
        // Byte-for-byte, not merely JSON-equal.
        assert_eq!(got.record.output.as_bytes(), r.output.as_bytes());
        assert_eq!(got.record.input.as_bytes(), r.input.as_bytes());
        assert!(store.get("no-such-id").unwrap().is_none());
        assert_eq!(store.count().unwrap(), 1);
        let head = store.head().unwrap().unwrap();
        assert_eq!((head.seq, head.hash), (1, stored.hash));
    }

    pub fn chain_links(store: &dyn AuditStore) {
        let a = store.append(&record("cl", 1)).unwrap();
        let b = store.append(&record("cl", 2)).unwrap();
        assert_eq!(b.seq, a.seq + 1);
        assert_eq!(b.prev_hash, a.hash);
        assert_eq!(
            b.hash,
            periop::audit::chain_hash(&b.prev_hash, b.seq, &b.record)
        );
    }

    pub fn duplicate_refused(store: &dyn AuditStore) {
        let r = record("dup", 1);
        store.append(&r).unwrap();
        let mut again = record("dup", 2);
        again.assessment_id = r.assessment_id.clone();
        match store.append(&again) {
            Err(AuditError::Duplicate(id)) => assert_eq!(id, r.assessment_id),
            other => panic!("expected Duplicate, got {other:?}"),
        }
        assert_eq!(store.count().unwrap(), 1);
        assert!(store.verify().unwrap().is_intact());
    }

    pub fn invalid_record_refused(store: &dyn AuditStore) {
        let mut r = record("bad", 1);
        r.output = "{not json".to_owned();
        assert!(
            matches!(store.append(&r), Err(AuditError::InvalidRecord(m)) if m.contains("output"))
        );
        let mut r = record("bad", 2);
        r.created_at = "yesterday".to_owned();
        assert!(
            matches!(store.append(&r), Err(AuditError::InvalidRecord(m)) if m.contains("created_at"))
        );
        let mut r = record("bad", 4);
        r.request_id.push('\0');
        assert!(
            matches!(store.append(&r), Err(AuditError::InvalidRecord(m)) if m.contains("request_id") && m.contains("NUL"))
        );
        let mut r = record("bad", 3);
        r.assessment_id.clear();
        assert!(matches!(
            store.append(&r),
            Err(AuditError::InvalidRecord(_))
        ));
        assert_eq!(store.count().unwrap(), 0);
    }

    /// Appends `n` records, verifies, and returns the append rate (records/s).
    pub fn many_appends_verify(store: &dyn AuditStore, n: usize) -> f64 {
        let start = Instant::now();
        for i in 0..n {
            store.append(&record("many", i)).unwrap();
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        let report = store.verify().unwrap();
        assert!(report.is_intact(), "{:?}", report.first_broken);
        assert_eq!(report.records_checked, n as u64);
        assert_eq!(report.broken_links, 0);
        assert_eq!(report.head.unwrap().seq, n as i64);
        assert_eq!(store.count().unwrap(), n as u64);
        rate
    }

    pub fn concurrent_appends(store: Arc<dyn AuditStore>, threads: usize, per_thread: usize) {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        store.append(&record(&format!("t{t}"), i)).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let report = store.verify().unwrap();
        assert!(report.is_intact(), "{:?}", report.first_broken);
        assert_eq!(report.records_checked, (threads * per_thread) as u64);
        assert_eq!(store.count().unwrap(), (threads * per_thread) as u64);
    }

    pub fn list_by_time(store: &dyn AuditStore) {
        for i in 0..30 {
            store.append(&record("ls", i)).unwrap();
        }
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        // Records i = 10..20 have created_at 10:00:10.123456Z ..= 10:00:19.123456Z.
        let q = periop::audit::ListQuery {
            since: Some(at("2025-03-01T10:00:10Z")),
            until: Some(at("2025-03-01T10:00:20Z")),
            after_seq: 0,
            limit: 100,
            kind: None,
        };
        let got = store.list(&q).unwrap();
        assert_eq!(got.len(), 10);
        assert_eq!(got[0].record.assessment_id, "ls-000010");
        // Keyset pagination.
        let page = store
            .list(&periop::audit::ListQuery {
                after_seq: got[4].seq,
                limit: 3,
                ..q.clone()
            })
            .unwrap();
        let ids: Vec<_> = page.iter().map(|r| r.seq).collect();
        assert_eq!(ids, vec![got[5].seq, got[6].seq, got[7].seq]);
        // Kind filter: every record here is an assessment.
        let kind = |k: &str| {
            store
                .list(&periop::audit::ListQuery {
                    kind: Some(k.to_string()),
                    ..q.clone()
                })
                .unwrap()
                .len()
        };
        assert_eq!(kind(&got[0].record.kind), 10);
        assert_eq!(kind("rule_activation"), 0);
    }
}
