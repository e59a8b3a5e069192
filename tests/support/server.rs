//! A real periop server for integration tests: port 0 on loopback, its own SQLite audit file in a
//! temporary directory, the committed default model set, and one API key per role
//! (`key(role)` is the key, `<role>-key` its id).

use std::path::PathBuf;
use std::sync::mpsc;

use periop::config::{ApiKeyConfig, Role, Settings};
use periop::model::manifest::sha256_hex;
use periop::startup::Application;
use reqwest::blocking::Client;

/// A running server (it stops with the test process).
pub struct TestApp {
    pub base: String,
    pub client: Client,
    #[allow(
        dead_code,
        reason = "read by tests/api.rs, not by every test binary that shares this module"
    )]
    pub audit_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// The API key of a role's test key.
pub fn key(role: &str) -> String {
    format!("test-key-{role}")
}

/// Starts a server; `configure` may change the settings first.
pub fn spawn_app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit_file = dir.path().join("audit.db");
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        models: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"),
        audit_store: audit_file.display().to_string(),
        workers: 2,
        api_keys: ["ehr", "clinician", "quality", "admin"]
            .iter()
            .map(|r| ApiKeyConfig {
                id: format!("{r}-key"),
                role: Role::parse(r).expect("role"),
                sha256: sha256_hex(key(r).as_bytes()),
                site: None,
            })
            .collect(),
        ..Settings::default()
    };
    configure(&mut settings);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(&settings).expect("server builds");
            tx.send(app.port()).expect("send port");
            app.run_until_stopped().await.expect("server runs");
        });
    });
    let port = rx.recv().expect("port");
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: Client::new(),
        audit_file,
        _dir: dir,
    }
}
