//! The PostgreSQL audit store on a real server (a throwaway cluster per test, `support/postgres.rs`):
//! the backend-independent contract, several writers (as replicas are) keeping one chain,
//! migrations, the append-only triggers and tamper detection, truncation caught by a signed
//! checkpoint, a server that goes down and comes back, and `periop audit copy` from SQLite.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/store_contract.rs"]
mod store_contract;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use periop::audit::postgres::{PostgresAuditStore, PostgresOptions};
use periop::audit::{AuditError, AuditStore, LinkProblem, SqliteAuditStore};
use postgres::TestCluster;
use store_contract::{checks, record};

fn options() -> PostgresOptions {
    PostgresOptions {
        pool_size: 4,
        timeout: std::time::Duration::from_secs(3),
    }
}

fn open(url: &str) -> PostgresAuditStore {
    PostgresAuditStore::open(url, &options()).unwrap()
}

fn periop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn postgres_passes_the_store_contract() {
    let pg = TestCluster::start();
    checks::round_trip_exact(&open(&pg.create_database("round_trip")));
    checks::chain_links(&open(&pg.create_database("chain_links")));
    checks::duplicate_refused(&open(&pg.create_database("duplicate")));
    checks::invalid_record_refused(&open(&pg.create_database("invalid")));
    checks::list_by_time(&open(&pg.create_database("list")));
    let rate = checks::many_appends_verify(&open(&pg.create_database("many")), 1000);
    eprintln!(
        "postgres append throughput (one writer, synchronous_commit=on): {rate:.0} records/s"
    );
    checks::concurrent_appends(Arc::new(open(&pg.create_database("concurrent"))), 8, 100);
}

/// Four stores with their own pools on one database, as four replicas would be: only the locked
/// chain-head row keeps them from forking the chain.
#[test]
fn separate_writers_on_one_database_keep_one_linear_chain() {
    let pg = TestCluster::start();
    let url = pg.create_database("replicas");
    let stores: Vec<Arc<PostgresAuditStore>> = (0..4).map(|_| Arc::new(open(&url))).collect();
    let handles: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(t, store)| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                for i in 0..60 {
                    if i % 10 == 0 {
                        // A batch answer: its records land together, in order.
                        let batch: Vec<_> =
                            (0..5).map(|j| record(&format!("b{t}-{i}"), j)).collect();
                        let stored: Vec<_> = store
                            .append_all(&batch)
                            .into_iter()
                            .map(Result::unwrap)
                            .collect();
                        for pair in stored.windows(2) {
                            assert_eq!(pair[1].seq, pair[0].seq + 1, "a batch is contiguous");
                        }
                    } else {
                        store.append(&record(&format!("w{t}"), i)).unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let expected = 4 * (54 + 6 * 5);
    let report = stores[0].verify().unwrap();
    assert!(report.is_intact(), "{:?}", report.first_broken);
    assert_eq!(report.records_checked, expected);
    assert_eq!(report.head.unwrap().seq, expected as i64);
    assert_eq!(
        pg.psql(
            "replicas",
            "SELECT count(DISTINCT seq) || ' ' || max(seq) FROM audit_records"
        ),
        format!("{expected} {expected}")
    );
    assert_eq!(
        pg.psql("replicas", "SELECT seq FROM audit_chain_head"),
        expected.to_string()
    );
}

#[test]
fn migrations_are_versioned_idempotent_and_refuse_foreign_or_edited_schemas() {
    let pg = TestCluster::start();
    let url = pg.create_database("fresh");
    // Replicas starting together: all open, the migration runs once.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || open(&url).schema_version().unwrap())
        })
        .collect();
    let latest = periop::audit::postgres::schema::latest_version();
    for h in handles {
        assert_eq!(h.join().unwrap(), latest);
    }
    assert_eq!(
        pg.psql("fresh", "SELECT count(*) FROM periop_schema_migrations"),
        latest.to_string()
    );
    let again = open(&url).migrate().unwrap();
    assert_eq!((again.from, again.to), (latest, latest));

    // Read-only and no-migration opens never create a schema.
    let empty = pg.create_database("empty");
    let err = PostgresAuditStore::open_read_only(&empty, &options()).unwrap_err();
    assert!(
        matches!(&err, AuditError::Corrupt(m) if m.contains("no schema")),
        "{err}"
    );
    let err = PostgresAuditStore::open_migrated(&empty, &options()).unwrap_err();
    assert!(
        matches!(&err, AuditError::Corrupt(m) if m.contains("schema version 0") && m.contains("periop audit migrate")),
        "{err}"
    );
    assert_eq!(
        pg.psql(
            "empty",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );

    // Some other application's audit_records table.
    let foreign = pg.create_database("foreign_app");
    pg.psql("foreign_app", "CREATE TABLE audit_records (id int)");
    let err = PostgresAuditStore::open(&foreign, &options()).unwrap_err();
    assert!(
        matches!(&err, AuditError::Corrupt(m) if m.contains("not a periop audit store")),
        "{err}"
    );

    // A released migration edited after it was applied.
    pg.psql(
        "fresh",
        "UPDATE periop_schema_migrations SET sha256 = repeat('0', 64)",
    );
    let err = PostgresAuditStore::open(&url, &options()).unwrap_err();
    assert!(
        matches!(&err, AuditError::Corrupt(m) if m.contains("differs")),
        "{err}"
    );

    // `periop audit migrate` creates a store.
    let cli = pg.create_database("cli");
    let out = periop(&["audit", "migrate", "--store", &cli]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("postgres://postgres@127.0.0.1"),
        "{}",
        text(&out)
    );
    assert_eq!(pg.psql("cli", "SELECT count(*) FROM audit_chain_head"), "1");
}

#[test]
fn triggers_refuse_changes_and_verify_finds_the_first_altered_record() {
    let pg = TestCluster::start();
    let url = pg.create_database("tamper");
    let store = open(&url);
    for i in 0..10 {
        store.append(&record("t", i)).unwrap();
    }
    for sql in [
        "UPDATE audit_records SET output = '{}' WHERE seq = 3",
        "DELETE FROM audit_records WHERE seq = 10",
        "TRUNCATE audit_records",
    ] {
        let err = pg.try_psql("tamper", sql).unwrap_err();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert!(store.verify().unwrap().is_intact());

    pg.psql("tamper", "ALTER TABLE audit_records DISABLE TRIGGER USER");
    pg.psql(
        "tamper",
        "UPDATE audit_records SET output = replace(output, '0.0312500000000001', '0.0312500000000002') WHERE seq = 4",
    );
    let report = store.verify().unwrap();
    let broken = report.first_broken.unwrap();
    assert_eq!((broken.seq, broken.assessment_id.as_str()), (4, "t-000003"));
    assert!(matches!(broken.problem, LinkProblem::HashMismatch { .. }));
    assert_eq!(report.broken_links, 1);
    let out = periop(&["audit", "verify", "--store", &url]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("seq 4 (assessment_id t-000003)"),
        "{}",
        text(&out)
    );
}

#[test]
fn truncation_of_the_newest_records_is_caught_by_a_signed_checkpoint() {
    let pg = TestCluster::start();
    let url = pg.create_database("trunc");
    let store = open(&url);
    for i in 0..8 {
        store.append(&record("c", i)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("checkpoint");
    let p = |name: &str| dir.path().join(name).display().to_string();
    let out = periop(&["audit", "keygen", "--out", &prefix.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = periop(&[
        "audit",
        "checkpoint",
        "--store",
        &url,
        "--signing-key",
        &p("checkpoint.key"),
        "--out",
        &p("head.json"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let verify = || {
        periop(&[
            "audit",
            "verify",
            "--store",
            &url,
            "--checkpoint",
            &p("head.json"),
            "--verifying-key",
            &p("checkpoint.pub"),
        ])
    };
    let out = verify();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("checkpoint holds: seq 8"),
        "{}",
        text(&out)
    );

    // Someone with the database's owner rights removes the two newest records.
    pg.psql("trunc", "ALTER TABLE audit_records DISABLE TRIGGER USER");
    pg.psql("trunc", "DELETE FROM audit_records WHERE seq > 6");
    // The chain alone still verifies: that is what a checkpoint is for.
    assert!(periop(&["audit", "verify", "--store", &url])
        .status
        .success());
    let out = verify();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("ends at seq 6, before the checkpointed seq 8"),
        "{}",
        text(&out)
    );

    // An altered checkpoint file does not verify.
    let cp = std::fs::read_to_string(p("head.json"))
        .unwrap()
        .replace("\"seq\": 8", "\"seq\": 6");
    std::fs::write(p("head.json"), cp).unwrap();
    let out = verify();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("signature does not verify"),
        "{}",
        text(&out)
    );

    // The next append links to the head row, which still names the removed record: broken link.
    store.append(&record("c", 100)).unwrap();
    let broken = store.verify().unwrap().first_broken.unwrap();
    assert!(
        matches!(
            broken.problem,
            LinkProblem::PrevHashMismatch { .. } | LinkProblem::SeqGap { .. }
        ),
        "{broken}"
    );
}

#[test]
fn a_database_that_goes_down_is_unavailable_then_recovers() {
    let pg = TestCluster::start();
    let url = pg.create_database("downtime");
    let store = open(&url);
    store.append(&record("d", 0)).unwrap();
    pg.stop();
    let err = store.append(&record("d", 1)).unwrap_err();
    assert!(matches!(err, AuditError::Unavailable { .. }), "{err:?}");
    assert!(matches!(
        store.get("d-000000"),
        Err(AuditError::Unavailable { .. })
    ));
    assert!(matches!(
        store.verify(),
        Err(AuditError::Unavailable { .. })
    ));
    pg.restart();
    // Pooled connections died with the server; the pool replaces them (the first use of a dead
    // one may still fail, as Unavailable).
    let mut appended = None;
    for attempt in 0..10 {
        match store.append(&record("d", 2)) {
            Ok(r) => {
                appended = Some(r);
                break;
            }
            Err(AuditError::Unavailable { .. }) if attempt < 9 => {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(e) => panic!("after restart: {e:?}"),
        }
    }
    let appended = appended.unwrap();
    assert_eq!(appended.seq, 2, "the refused record was not stored");
    assert!(store.get("d-000001").unwrap().is_none());
    assert!(store.verify().unwrap().is_intact());
}

#[test]
fn copy_from_sqlite_keeps_every_seq_and_hash_and_refuses_broken_or_non_empty() {
    let pg = TestCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.db");
    let sqlite = SqliteAuditStore::open(&file).unwrap();
    for i in 0..2500 {
        let mut r = record("cp", i);
        if i % 100 == 0 {
            r.kind = "rule_activation".into();
        }
        sqlite.append(&r).unwrap();
    }
    let source_head = sqlite.head().unwrap().unwrap();
    drop(sqlite);
    let url = pg.create_database("copied");
    let from = format!("sqlite:{}", file.display());
    let out = periop(&["audit", "copy", "--from", &from, "--to", &url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("copied 2500 records"), "{}", text(&out));
    let target = open(&url);
    let report = target.verify().unwrap();
    assert!(report.is_intact());
    assert_eq!(report.head.unwrap(), source_head);
    let sqlite = SqliteAuditStore::open_read_only(&file).unwrap();
    for id in ["cp-000000", "cp-001234", "cp-002499"] {
        assert_eq!(target.get(id).unwrap(), sqlite.get(id).unwrap());
    }
    // Not into a store that has records.
    let out = periop(&["audit", "copy", "--from", &from, "--to", &url]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not empty (2500 records)"),
        "{}",
        text(&out)
    );
    // Not from a broken chain.
    let raw = rusqlite::Connection::open(&file).unwrap();
    raw.execute_batch("DROP TRIGGER audit_records_no_update; UPDATE audit_records SET caller = 'x' WHERE seq = 7;")
        .unwrap();
    let out = periop(&[
        "audit",
        "copy",
        "--from",
        &from,
        "--to",
        &pg.create_database("frombroken"),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("source chain is broken"),
        "{}",
        text(&out)
    );
    assert_eq!(
        pg.psql("frombroken", "SELECT count(*) FROM audit_records"),
        "0"
    );
}

/// A TCP proxy in front of the server that can stop forwarding without closing anything: what a
/// dead network path or a hung server looks like to the client (no FIN, no RST, bytes accepted).
struct FreezingProxy {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl FreezingProxy {
    fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&frozen);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = Arc::clone(&flag);
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            while flag.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Self { port, frozen }
    }

    fn freeze(&self, on: bool) {
        self.frozen.store(on, Ordering::Relaxed);
    }
}

#[test]
fn a_database_that_stops_answering_without_closing_is_unavailable_within_the_time_limit() {
    let pg = TestCluster::start();
    pg.create_database("silent");
    let upstream: u16 = pg
        .url("silent")
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let proxy = FreezingProxy::start(upstream);
    let url = format!("postgres://postgres@127.0.0.1:{}/silent", proxy.port);
    let timeout = Duration::from_millis(500);
    let store = PostgresAuditStore::open(
        &url,
        &PostgresOptions {
            pool_size: 2,
            timeout,
        },
    )
    .unwrap();
    store.append(&record("s", 0)).unwrap();

    proxy.freeze(true);
    let started = Instant::now();
    let err = store.append(&record("s", 1)).unwrap_err();
    assert!(matches!(err, AuditError::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(
        store.get("s-000000"),
        Err(AuditError::Unavailable { .. })
    ));
    assert!(matches!(store.head(), Err(AuditError::Unavailable { .. })));
    // The stalled connections were discarded: once the path works again, fresh ones serve.
    proxy.freeze(false);
    let mut appended = None;
    for _ in 0..20 {
        if let Ok(r) = store.append(&record("s", 2)) {
            appended = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(appended.is_some(), "the store did not recover");
    let report = store.verify().unwrap();
    assert!(report.is_intact(), "{:?}", report.first_broken);
    // The timed-out append was never acknowledged: it is wholly there or absent, never a part.
    assert!(
        matches!(report.records_checked, 2 | 3),
        "{}",
        report.records_checked
    );
}

/// `periop serve` with a store it must not use stops at once with the setting named, and never
/// repeats a password.
#[test]
fn serve_refuses_a_bad_store_url_or_an_unmigrated_store_naming_the_setting() {
    let pg = TestCluster::start();
    let empty = pg.create_database("unmigrated");
    let serve = |store: &str, extra: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_periop"));
        cmd.arg("serve")
            .env("PERIOP_BIND", "127.0.0.1:0")
            .env("PERIOP_DEV_MODE_NO_AUTH", "true")
            .env(
                "PERIOP_MODELS",
                concat!(env!("CARGO_MANIFEST_DIR"), "/models/default"),
            )
            .env("PERIOP_AUDIT_STORE", store);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "served on {store}");
        text(&out)
    };
    let said = serve("mysql://root:Secret-1@db/periop", &[]);
    assert!(
        said.contains("audit_store") && said.contains("mysql://"),
        "{said}"
    );
    assert!(!said.contains("Secret-1"), "{said}");
    let said = serve("postgres://u:Secret-2@host@db/periop", &[]);
    assert!(said.contains("%40") && !said.contains("Secret-2"), "{said}");
    let said = serve(&empty, &[("PERIOP_AUDIT_MIGRATE_AT_START", "false")]);
    assert!(said.contains("periop audit migrate"), "{said}");
    assert_eq!(
        pg.psql(
            "unmigrated",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0",
        "nothing was created"
    );
    // Unreachable: a clear error, not a hang.
    let started = Instant::now();
    let said = serve(
        "postgres://postgres@127.0.0.1:1/none",
        &[("PERIOP_AUDIT_TIMEOUT_MS", "1000")],
    );
    assert!(
        said.contains("opening audit store postgres://postgres@127.0.0.1:1/none"),
        "{said}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
