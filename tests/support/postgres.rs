//! A throwaway PostgreSQL cluster for tests: `initdb` into the test's own temporary directory,
//! started by `pg_ctl` on a free loopback port with trust authentication, stopped (immediately)
//! and deleted on drop. PostgreSQL refuses to run as root, so as root the server commands run as
//! the `postgres` user that Debian's package creates (`runuser`), and the directory is handed to
//! it. `scripts/test.sh` installs Debian's `postgresql` when no `initdb` is found; without one
//! these tests fail (they never skip).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running cluster.
pub struct TestCluster {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The directory holding `initdb`, `pg_ctl` and `psql` (the newest Debian version, or `PATH`).
fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| {
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|p| b.join(p).is_file())
        })
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(newest) = found.pop() {
        return newest;
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    match on_path.as_deref().and_then(Path::parent) {
        Some(dir) => dir.to_path_buf(),
        None => panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: scripts/test.sh installs Debian's postgresql"
        ),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl TestCluster {
    /// Creates and starts a cluster.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = is_root();
        if root {
            let status = Command::new("chown")
                .args(["postgres:", &dir.path().display().to_string()])
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "chown of the cluster directory to postgres"
            );
        }
        let mut cluster = Self {
            bin: bin_dir(),
            data: dir.path().join("data"),
            log: dir.path().join("server.log"),
            port: 0,
            _dir: dir,
        };
        let out = cluster.server_command(
            "initdb",
            &[
                "-D",
                &cluster.data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for _ in 0..5 {
            cluster.port = free_port();
            if cluster
                .pg_ctl(&["start", "-w", "-t", "60"])
                .status
                .success()
            {
                return cluster;
            }
        }
        panic!("PostgreSQL did not start: {}", cluster.server_log());
    }

    fn server_command(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c shared_buffers=16MB -c max_connections=60",
            self.port
        );
        let data = self.data.display().to_string();
        let log = self.log.display().to_string();
        let mut all = vec!["-D", &data, "-l", &log, "-o", &options];
        all.extend_from_slice(args);
        self.server_command("pg_ctl", &all)
    }

    /// The server's log (for failure messages).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// URL of database `db` (create it first with [`Self::create_database`]).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL with psql against `db`; panics with psql's message when it fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| panic!("psql {sql}: {e}"))
    }

    /// Like [`Self::psql`] but returns psql's error instead of panicking.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(db),
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, db: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {db}"));
        self.url(db)
    }

    /// Stops the server (fast shutdown: connections are cut, committed work is kept).
    pub fn stop(&self) {
        let out = self.pg_ctl(&["stop", "-m", "fast", "-w"]);
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        let out = self.pg_ctl(&["start", "-w", "-t", "60"]);
        assert!(out.status.success(), "pg_ctl start: {}", self.server_log());
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }
}
