//! Audit store: a backend-independent contract (module `contract`, reusable for a PostgreSQL
//! store) run against real SQLite files, plus SQLite-specific tamper, trigger and CLI checks.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use periop::audit::{
    AuditError, AuditRecord, AuditStore, LinkProblem, SqliteAuditStore, GENESIS_HASH,
};

/// A record whose JSON texts are deliberately not in canonical form (odd spacing, key order,
/// escapes, many digits) so any re-serialisation would be caught.
fn record(tag: &str, i: usize) -> AuditRecord {
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
mod contract {
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

fn open(dir: &tempfile::TempDir) -> SqliteAuditStore {
    SqliteAuditStore::open(dir.path().join("audit.db")).unwrap()
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn sqlite_round_trip_exact() {
    let dir = tempfile::tempdir().unwrap();
    contract::round_trip_exact(&open(&dir));
}

#[test]
fn sqlite_chain_links() {
    let dir = tempfile::tempdir().unwrap();
    contract::chain_links(&open(&dir));
}

#[test]
fn sqlite_duplicate_refused() {
    let dir = tempfile::tempdir().unwrap();
    contract::duplicate_refused(&open(&dir));
}

#[test]
fn sqlite_invalid_record_refused() {
    let dir = tempfile::tempdir().unwrap();
    contract::invalid_record_refused(&open(&dir));
}

#[test]
fn sqlite_list_by_time() {
    let dir = tempfile::tempdir().unwrap();
    contract::list_by_time(&open(&dir));
}

#[test]
fn sqlite_thousand_appends_verify_intact() {
    let dir = tempfile::tempdir().unwrap();
    let rate = contract::many_appends_verify(&open(&dir), 1000);
    eprintln!("sqlite append throughput (WAL, synchronous=FULL): {rate:.0} records/s");
}

#[test]
fn sqlite_concurrent_appends_shared_store() {
    let dir = tempfile::tempdir().unwrap();
    contract::concurrent_appends(Arc::new(open(&dir)), 8, 100);
}

/// Separate stores (separate connections, as separate processes would have) on one file: only
/// `BEGIN IMMEDIATE` keeps them from forking the chain.
#[test]
fn sqlite_concurrent_appends_separate_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    drop(SqliteAuditStore::open(&path).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = SqliteAuditStore::open(&path).unwrap();
                for i in 0..50 {
                    store.append(&record(&format!("c{t}"), i)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = SqliteAuditStore::open(&path).unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_intact(), "{:?}", report.first_broken);
    assert_eq!(report.records_checked, 200);
}

#[test]
fn sqlite_reopen_keeps_chain() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let store = open(&dir);
        (0..10)
            .map(|i| store.append(&record("ro", i)).unwrap())
            .last()
            .unwrap()
    };
    let store = open(&dir);
    let next = store.append(&record("ro", 10)).unwrap();
    assert_eq!(next.seq, 11);
    assert_eq!(next.prev_hash, first.hash);
    assert_eq!(
        store.get("ro-000003").unwrap().unwrap().record,
        record("ro", 3)
    );
    let report = store.verify().unwrap();
    assert!(report.is_intact());
    assert_eq!(report.records_checked, 11);
}

#[test]
fn sqlite_triggers_refuse_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append(&record("tr", 1)).unwrap();
    let conn = raw(store.path());
    let err = conn
        .execute("UPDATE audit_records SET output = '{}' WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn
        .execute("DELETE FROM audit_records WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(
        store.get("tr-000001").unwrap().unwrap().record,
        record("tr", 1)
    );
    assert!(store.verify().unwrap().is_intact());
}

/// Changes one character of one stored output (`seq`) behind the triggers' back.
fn tamper_one_byte(path: &Path, seq: i64) {
    let conn = raw(path);
    conn.execute_batch("DROP TRIGGER audit_records_no_update")
        .unwrap();
    // Character 3 of the output is the 'a' of "assessment_id"; make it 'A'.
    let n = conn
        .execute(
            "UPDATE audit_records SET output = substr(output, 1, 2) || 'A' || substr(output, 4) \
             WHERE seq = ?1",
            [seq],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn sqlite_one_altered_byte_is_the_first_broken_link() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for i in 0..1000 {
        store.append(&record("tb", i)).unwrap();
    }
    let victim = store.get("tb-000500").unwrap().unwrap();
    tamper_one_byte(store.path(), victim.seq);
    let altered = store.get("tb-000500").unwrap().unwrap().record.output;
    assert_eq!(altered.len(), victim.record.output.len());
    assert_ne!(altered, victim.record.output);

    let report = store.verify().unwrap();
    assert_eq!(report.records_checked, 1000);
    assert_eq!(report.broken_links, 1);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.seq, victim.seq);
    assert_eq!(broken.assessment_id, "tb-000500");
    match broken.problem {
        LinkProblem::HashMismatch { stored, recomputed } => {
            assert_eq!(stored, victim.hash);
            assert_ne!(recomputed, victim.hash);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
}

#[test]
fn sqlite_invalid_utf8_tamper_is_a_broken_link_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for i in 0..5 {
        store.append(&record("u8", i)).unwrap();
    }
    let conn = raw(store.path());
    conn.execute_batch(
        "DROP TRIGGER audit_records_no_update; \
         UPDATE audit_records SET output = CAST(x'7bff7d' AS TEXT) WHERE seq = 2;",
    )
    .unwrap();
    let report = store.verify().unwrap();
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.seq, 2);
    assert!(matches!(broken.problem, LinkProblem::HashMismatch { .. }));
}

#[test]
fn sqlite_deleted_row_breaks_the_next_link() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let stored: Vec<_> = (0..20)
        .map(|i| store.append(&record("del", i)).unwrap())
        .collect();
    let conn = raw(store.path());
    conn.execute_batch(
        "DROP TRIGGER audit_records_no_delete; DELETE FROM audit_records WHERE seq = 10;",
    )
    .unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.records_checked, 19);
    assert_eq!(report.broken_links, 1);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.seq, 11);
    assert_eq!(broken.assessment_id, stored[10].record.assessment_id);
    assert_eq!(
        broken.problem,
        LinkProblem::PrevHashMismatch {
            stored_prev_hash: stored[9].hash.clone(),
            previous_hash: stored[8].hash.clone(),
        }
    );
}

#[test]
fn sqlite_read_only_store_refuses_append_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    open(&dir).append(&record("rd", 1)).unwrap();
    let ro = SqliteAuditStore::open_read_only(&path).unwrap();
    assert!(matches!(
        ro.append(&record("rd", 2)),
        Err(AuditError::ReadOnly)
    ));
    assert_eq!(ro.count().unwrap(), 1);
    let missing = dir.path().join("missing.db");
    assert!(matches!(
        SqliteAuditStore::open_read_only(&missing),
        Err(AuditError::Unavailable { .. })
    ));
    assert!(!missing.exists());
}

#[test]
fn sqlite_refuses_foreign_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    raw(&path)
        .execute_batch("CREATE TABLE t (x INTEGER)")
        .unwrap();
    assert!(matches!(
        SqliteAuditStore::open(&path),
        Err(AuditError::Corrupt(_))
    ));
}

fn periop_verify(store: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(["audit", "verify", "--store"])
        .arg(store)
        .output()
        .unwrap()
}

#[test]
fn cli_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for i in 0..10 {
        store.append(&record("cli", i)).unwrap();
    }

    let out = periop_verify(store.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("records checked: 10"), "{stdout}");
    assert!(stdout.contains("chain intact"), "{stdout}");

    tamper_one_byte(store.path(), 4);
    let out = periop_verify(store.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stdout.contains("records checked: 10"), "{stdout}");
    assert!(
        stderr.contains("seq 4 (assessment_id cli-000003)"),
        "{stderr}"
    );

    let missing = dir.path().join("missing.db");
    let out = periop_verify(&missing);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no audit store"));
    assert!(!missing.exists());
}

#[test]
fn concurrent_appends_of_one_id_store_it_once_and_refuse_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteAuditStore::open(dir.path().join("audit.db")).unwrap());
    // Many threads, each appending its own records plus the same shared id: group commit puts
    // several of them in one transaction, where the duplicate must fail alone.
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut shared_ok = 0;
                for i in 0..50 {
                    store.append(&record(&format!("t{t}"), i)).unwrap();
                    match store.append(&record("shared", 0)) {
                        Ok(_) => shared_ok += 1,
                        Err(AuditError::Duplicate(id)) => assert_eq!(id, "shared-000000"),
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                shared_ok
            })
        })
        .collect();
    let stored_shared: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(stored_shared, 1, "the shared id is stored exactly once");
    assert_eq!(store.count().unwrap(), 8 * 50 + 1);
    assert!(store.verify().unwrap().is_intact());
}
