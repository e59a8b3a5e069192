//! Audit store on SQLite: the backend-independent contract (`support/store_contract.rs`, also run
//! against PostgreSQL by `tests/audit_postgres.rs`) on real SQLite files, plus SQLite-specific
//! tamper, trigger and CLI checks.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use periop::audit::{AuditError, AuditStore, LinkProblem, SqliteAuditStore};

#[path = "support/store_contract.rs"]
mod store_contract;

use store_contract::{checks as contract, record};

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
