//! Several `periop serve` processes on one PostgreSQL database, under concurrent load on
//! loopback: every acknowledged assessment is stored exactly once and readable from any replica,
//! the chain stays linear and verifies, a rule-set activation on one replica reaches the other;
//! `kill -9` of a replica and a PostgreSQL restart lose nothing acknowledged, leave nothing
//! half-written, and the server answers 503 with Retry-After (never 500) while the database is
//! down, then recovers by itself.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/replica.rs"]
mod replica;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::TestCluster;
use replica::{key, Replica};
use serde_json::Value;

/// What one request got.
#[derive(Debug, Clone)]
struct Outcome {
    /// `None`: no HTTP answer (connection refused or cut).
    status: Option<u16>,
    retry_after: Option<String>,
    body: String,
    at: Instant,
}

impl Outcome {
    fn id(&self) -> Option<String> {
        (self.status == Some(201)).then(|| {
            let v: Value = serde_json::from_str(&self.body).unwrap();
            v["assessment_id"].as_str().unwrap().to_string()
        })
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn assess(client: &reqwest::blocking::Client, base: &str) -> Outcome {
    let body = serde_json::json!({ "patient": periop::api::dto::examples::patient() });
    let sent = client
        .post(format!("{base}/v1/assessments"))
        .bearer_auth(key("ehr"))
        .json(&body)
        .send();
    match sent {
        Ok(r) => Outcome {
            status: Some(r.status().as_u16()),
            retry_after: r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
            body: r.text().unwrap_or_default(),
            at: Instant::now(),
        },
        Err(_) => Outcome {
            status: None,
            retry_after: None,
            body: String::new(),
            at: Instant::now(),
        },
    }
}

/// `threads` clients sending assessments round-robin to `bases` until `stop` is set (or each has
/// sent `max` requests).
fn load(
    bases: &[String],
    threads: usize,
    max: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<(usize, Outcome)>>> {
    (0..threads)
        .map(|t| {
            let bases = bases.to_vec();
            let stop = Arc::clone(stop);
            std::thread::spawn(move || {
                let client = client();
                let mut out = Vec::new();
                for i in 0..max {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let target = (t + i) % bases.len();
                    out.push((target, assess(&client, &bases[target])));
                }
                out
            })
        })
        .collect()
}

fn collect(handles: Vec<std::thread::JoinHandle<Vec<(usize, Outcome)>>>) -> Vec<(usize, Outcome)> {
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

/// `GET /v1/rules` of a replica: its active rule set.
fn active_rules(http: &reqwest::blocking::Client, base: &str) -> Value {
    http.get(format!("{base}/v1/rules"))
        .bearer_auth(key("quality"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// A cluster with database `db` and two replicas on it (their logs in the returned directory).
fn two_replicas(db: &str) -> (TestCluster, tempfile::TempDir, Replica, Replica) {
    let pg = TestCluster::start();
    let url = pg.create_database(db);
    let dir = tempfile::tempdir().unwrap();
    let a = Replica::start(&url, &dir.path().join("a.log"));
    let b = Replica::start(&url, &dir.path().join("b.log"));
    (pg, dir, a, b)
}

/// The answers that were acknowledged (201).
fn acknowledged(outcomes: &[(usize, Outcome)]) -> Vec<Outcome> {
    outcomes
        .iter()
        .filter(|(_, o)| o.status == Some(201))
        .map(|(_, o)| o.clone())
        .collect()
}

fn get(base: &str, id: &str) -> (u16, String) {
    let r = client()
        .get(format!("{base}/v1/assessments/{id}"))
        .bearer_auth(key("quality"))
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// Every acknowledged answer is stored exactly once, byte for byte, and the chain verifies.
fn assert_acknowledged_stored(pg: &TestCluster, db: &str, reader: &str, acked: &[Outcome]) {
    for o in acked {
        let id = o.id().unwrap();
        let (status, body) = get(reader, &id);
        assert_eq!(status, 200, "acknowledged {id} is missing: {body}");
        assert_eq!(
            body, o.body,
            "stored answer of {id} differs from the one sent"
        );
    }
    let ids: Vec<String> = acked
        .iter()
        .map(|o| format!("'{}'", o.id().unwrap()))
        .collect();
    assert_eq!(
        pg.psql(
            db,
            &format!(
                "SELECT count(*) FROM audit_records WHERE assessment_id IN ({})",
                ids.join(",")
            )
        ),
        acked.len().to_string(),
        "each acknowledged assessment exactly once"
    );
    // Nothing half-written: every stored assessment is a whole answer naming its own id.
    assert_eq!(
        pg.psql(
            db,
            "SELECT count(*) FROM audit_records WHERE kind = 'assessment' \
             AND (output::jsonb ->> 'assessment_id') IS DISTINCT FROM assessment_id"
        ),
        "0"
    );
    assert_eq!(
        pg.psql(db, "SELECT (count(*) = count(DISTINCT seq) AND count(*) = max(seq))::text FROM audit_records"),
        "true",
        "one seq per record, no gaps"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(["audit", "verify", "--store", &pg.url(db)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_replicas_share_one_chain_and_activations_reach_both() {
    let pg = TestCluster::start();
    let url = pg.create_database("shared");
    // Replica A connects with a password in its URL: it must appear in no log line.
    let password = "Pw-never-logged-7731";
    pg.psql(
        "shared",
        &format!("ALTER ROLE postgres PASSWORD '{password}'"),
    );
    let with_password = url.replace("postgres@", &format!("postgres:{password}@"));
    let dir = tempfile::tempdir().unwrap();
    let a = Replica::start(&with_password, &dir.path().join("a.log"));
    let b = Replica::start(&url, &dir.path().join("b.log"));
    let bases = vec![a.base.clone(), b.base.clone()];

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = collect(load(&bases, 4, 30, &stop));
    assert_eq!(outcomes.len(), 120);
    for (_, o) in &outcomes {
        assert_eq!(o.status, Some(201), "{}", o.body);
    }
    assert!(outcomes.iter().any(|(t, _)| *t == 0) && outcomes.iter().any(|(t, _)| *t == 1));
    // Each answer is read back from the other replica.
    for (target, o) in &outcomes {
        let (status, body) = get(&bases[1 - target], &o.id().unwrap());
        assert_eq!((status, &body), (200, &o.body));
    }
    let acked: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    assert_assessments_counted(&pg, "shared", 120);
    assert_acknowledged_stored(&pg, "shared", &b.base, &acked);

    // A rule-set version uploaded and activated on A becomes B's active set.
    let http = client();
    let active = active_rules(&http, &b.base);
    let upload = serde_json::json!({"version": "replica-test-2", "document": active["document"], "note": "same rules, new name"});
    let r = http
        .post(format!("{}/v1/rules/versions", a.base))
        .bearer_auth(key("admin"))
        .json(&upload)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    let r = http
        .post(format!(
            "{}/v1/rules/versions/replica-test-2/activate",
            a.base
        ))
        .bearer_auth(key("admin"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = active_rules(&http, &b.base);
        if now["version"] == "replica-test-2" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B never saw the activation: {now}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let answer: Value = serde_json::from_str(&assess(&http, &b.base).body).unwrap();
    assert_eq!(answer["rule_set"]["version"], "replica-test-2", "{answer}");

    let log = std::fs::read_to_string(dir.path().join("a.log")).unwrap();
    assert!(
        log.contains("postgres://postgres@127.0.0.1"),
        "the store is named in the log: {log}"
    );
    assert!(!log.contains(password), "the password leaked into the log");
}

fn assert_assessments_counted(pg: &TestCluster, db: &str, n: usize) {
    assert_eq!(
        pg.psql(
            db,
            "SELECT count(*) FROM audit_records WHERE kind = 'assessment'"
        ),
        n.to_string()
    );
}

#[test]
fn kill_9_of_a_replica_under_load_loses_nothing_acknowledged() {
    let (pg, _dir, mut a, b) = two_replicas("killed");
    let bases = vec![a.base.clone(), b.base.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let handles = load(&bases, 4, 10_000, &stop);
    std::thread::sleep(Duration::from_millis(1500));
    a.kill();
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let outcomes = collect(handles);

    let acked = acknowledged(&outcomes);
    for (_, o) in &outcomes {
        assert!(
            matches!(o.status, None | Some(201)),
            "{:?} {}",
            o.status,
            o.body
        );
    }
    assert!(
        outcomes
            .iter()
            .any(|(t, o)| *t == 0 && o.status == Some(201)),
        "A answered before the kill"
    );
    assert!(
        outcomes
            .iter()
            .any(|(t, o)| *t == 1 && o.status == Some(201) && o.at > killed_at),
        "B kept answering"
    );
    let stored: usize = pg
        .psql(
            "killed",
            "SELECT count(*) FROM audit_records WHERE kind = 'assessment'",
        )
        .parse()
        .unwrap();
    // Unacknowledged ones (cut by the kill) are either wholly stored or absent.
    assert!(
        stored >= acked.len() && stored <= outcomes.len(),
        "{stored} stored, {} acknowledged, {} sent",
        acked.len(),
        outcomes.len()
    );
    assert_acknowledged_stored(&pg, "killed", &b.base, &acked);
    eprintln!(
        "kill -9: {} sent, {} acknowledged, {} cut, {stored} stored",
        outcomes.len(),
        acked.len(),
        outcomes.iter().filter(|(_, o)| o.status.is_none()).count()
    );
}

#[test]
fn a_postgres_restart_under_load_answers_503_with_retry_after_then_recovers() {
    let (pg, _dir, a, b) = two_replicas("restarted");
    let bases = vec![a.base.clone(), b.base.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let handles = load(&bases, 4, 10_000, &stop);
    std::thread::sleep(Duration::from_millis(1000));
    pg.stop();
    let down_at = Instant::now();
    std::thread::sleep(Duration::from_millis(2000));
    let ready = client().get(format!("{}/readyz", a.base)).send().unwrap();
    assert_eq!(
        ready.status().as_u16(),
        503,
        "not ready while the database is down"
    );
    pg.restart();
    let up_at = Instant::now();
    std::thread::sleep(Duration::from_millis(3000));
    stop.store(true, Ordering::Relaxed);
    let outcomes = collect(handles);

    let mut unavailable = 0;
    for (_, o) in &outcomes {
        match o.status {
            Some(201) => {}
            Some(503) => {
                unavailable += 1;
                assert!(o.retry_after.is_some(), "503 without Retry-After");
                let p: Value = serde_json::from_str(&o.body).unwrap();
                assert_eq!(p["code"], "audit_store_unavailable", "{p}");
            }
            other => panic!("{other:?}: {}", o.body),
        }
    }
    assert!(
        unavailable > 0,
        "requests during the downtime were answered 503"
    );
    assert!(
        outcomes
            .iter()
            .any(|(_, o)| o.status == Some(201) && o.at < down_at),
        "answers before the stop"
    );
    let recovered = outcomes
        .iter()
        .filter(|(_, o)| o.status == Some(201) && o.at > up_at)
        .count();
    assert!(recovered > 0, "no answer after the database came back");
    let acked = acknowledged(&outcomes);
    assert_acknowledged_stored(&pg, "restarted", &a.base, &acked);
    eprintln!(
        "restart: {} acknowledged, {unavailable} answered 503, {recovered} after recovery",
        acked.len()
    );
}
