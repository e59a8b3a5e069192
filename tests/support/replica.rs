//! A `periop serve` process (the real binary) on a loopback port, configured through `PERIOP_*`
//! variables only, with one API key per role (`test-key-<role>`, ids `<role>-key`); its log goes
//! to a file in the test's directory. Killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use periop::model::manifest::sha256_hex;

/// A running server process.
pub struct Replica {
    child: Child,
    pub base: String,
}

/// The API key of a role's test key.
pub fn key(role: &str) -> String {
    format!("test-key-{role}")
}

impl Replica {
    /// Starts `periop serve` on `audit_store`, logging to `log`, and waits until it is ready.
    /// It binds port 0 and the port is read from its start line (no port picked and released
    /// first, which another test could take meanwhile).
    pub fn start(audit_store: &str, log: &Path) -> Self {
        let keys: Vec<String> = ["ehr", "clinician", "quality", "admin"]
            .iter()
            .map(|r| format!("{r}-key:{r}:{}", sha256_hex(key(r).as_bytes())))
            .collect();
        let log_file = std::fs::File::create(log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_periop"))
            .arg("serve")
            .env("PERIOP_BIND", "127.0.0.1:0")
            .env(
                "PERIOP_MODELS",
                concat!(env!("CARGO_MANIFEST_DIR"), "/models/default"),
            )
            .env("PERIOP_AUDIT_STORE", audit_store)
            .env("PERIOP_API_KEYS", keys.join(","))
            .env("PERIOP_WORKERS", "2")
            .env("PERIOP_ACTIVATION_POLL_MS", "200")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("periop serve");
        let mut replica = Self {
            child,
            base: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(rest) = text.split("periop listening on port ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
            if Instant::now() > deadline || replica.child.try_wait().ok().flatten().is_some() {
                panic!("periop serve did not start: {text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        replica.base = format!("http://127.0.0.1:{port}");
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/readyz", replica.base)).send() {
                if r.status().is_success() {
                    return replica;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "periop serve did not become ready: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    /// `kill -9`: no shutdown, no flushing, in-flight requests cut.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
