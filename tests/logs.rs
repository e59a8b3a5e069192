//! The server's logs, read from a real `periop serve` process: every line logged while handling a
//! request carries that request's id (the problem's `instance`), including the cause of a 500
//! logged on the blocking pool; and no patient value reaches the log.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

#[test]
fn every_request_line_carries_its_request_id_and_no_patient_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_periop"))
        .arg("serve")
        .env("PERIOP_BIND", "127.0.0.1:0")
        .env("PERIOP_DEV_MODE_NO_AUTH", "true")
        .env("PERIOP_AUDIT_STORE", &audit)
        .env(
            "PERIOP_MODELS",
            concat!(env!("CARGO_MANIFEST_DIR"), "/models/default"),
        )
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("periop serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let port = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server log");
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        lines.push(line);
        if parsed["fields"]["message"] == "listening" {
            break parsed["fields"]["port"].as_u64().expect("port");
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    let patient = json!({"age_years": 73, "sex": "female", "procedure": "lumbar_fusion",
                         "fused_levels": 4, "weight_kg": 77.7, "height_cm": 158.3});
    let res = client
        .post(format!("{base}/v1/assessments"))
        .json(&json!({"patient": patient}))
        .send()
        .expect("post");
    assert_eq!(res.status().as_u16(), 201);
    let assessed_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_string();
    // A fault on the store: the stored rule version is rewritten, reading it is a 500.
    let db = rusqlite::Connection::open(&audit).expect("open");
    db.execute_batch(
        "DROP TRIGGER audit_records_no_update;
         UPDATE audit_records SET output = '{\"version\": 1}'
          WHERE assessment_id = 'rule-version:default-1';",
    )
    .expect("tamper");
    let res = client
        .get(format!("{base}/v1/rules/versions/default-1"))
        .send()
        .expect("get");
    assert_eq!(res.status().as_u16(), 500);
    let problem: Value = res.json().expect("problem");
    let failed_id = problem["instance"].as_str().expect("instance").to_string();
    child.kill().expect("kill");
    let _ = child.wait();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        lines.push(line);
    }
    let of = |id: &str| -> Vec<Value> {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["span"]["request_id"] == id)
            .collect()
    };
    let failed = of(&failed_id);
    assert!(
        failed.iter().any(|v| v["level"] == "ERROR"),
        "the 500's cause is logged with its request id: {failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|v| v["fields"]["message"] == "request" && v["fields"]["status"] == 500),
        "{failed:?}"
    );
    assert!(
        of(&assessed_id)
            .iter()
            .any(|v| v["fields"]["message"] == "request" && v["fields"]["status"] == 201),
        "{lines:?}"
    );
    // Every ERROR line of the run is inside a request span.
    for v in lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if v["level"] == "ERROR" {
            assert!(v["span"]["request_id"].is_string(), "{v}");
        }
    }
    let all = lines.join("\n");
    for value in ["77.7", "158.3", "lumbar_fusion"] {
        assert!(!all.contains(value), "patient value {value} in the log");
    }
}
