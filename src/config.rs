//! Server settings, layered: compiled-in defaults, then an optional TOML file (`--config`), then
//! `PERIOP_*` environment variables. Unknown keys are errors; `validate` runs after layering.
//!
//! API keys are configured as SHA-256 hashes (`periop keys new` prints a key once and the line to
//! add here); the keys themselves never appear in the configuration or the logs.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Roles an API key can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// EHR integration: may request assessments.
    Ehr,
    /// Clinician: may request assessments and read stored ones.
    Clinician,
    /// Quality team: may read stored assessments and models.
    Quality,
    /// Everything.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ehr" => Some(Self::Ehr),
            "clinician" => Some(Self::Clinician),
            "quality" => Some(Self::Quality),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ehr => "ehr",
            Self::Clinician => "clinician",
            Self::Quality => "quality",
            Self::Admin => "admin",
        }
    }
}

/// One configured API key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Public identifier recorded in the audit trail (never the key).
    pub id: String,
    pub role: Role,
    /// Lowercase hex SHA-256 of the key.
    pub sha256: String,
}

/// Default body limit of one request (`max_body_bytes`), also the documented 413 example.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default body limit of the batch endpoint (`max_batch_body_bytes`).
pub const DEFAULT_MAX_BATCH_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Everything `periop serve` needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address to bind, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub bind: String,
    /// Model set directory.
    pub models: PathBuf,
    /// SQLite audit store file.
    pub audit_store: PathBuf,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted body of `POST /v1/assessments:batch` (up to 1,000 patients).
    pub max_batch_body_bytes: usize,
    /// CPU jobs (assessments) admitted at once; more get 503 with Retry-After.
    pub max_in_flight: usize,
    /// Serve without API keys (development only; logged loudly at start).
    pub dev_mode_no_auth: bool,
    /// Worker threads for HTTP (0 = one per core).
    pub workers: usize,
    pub api_keys: Vec<ApiKeyConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_string(),
            models: PathBuf::from("models/default"),
            audit_store: PathBuf::from("periop-audit.db"),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch_body_bytes: DEFAULT_MAX_BATCH_BODY_BYTES,
            max_in_flight: 64,
            dev_mode_no_auth: false,
            workers: 0,
            api_keys: Vec::new(),
        }
    }
}

/// Why the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {constraint}")]
    Env {
        name: &'static str,
        constraint: String,
    },
    #[error("setting {name}: {constraint}")]
    Invalid {
        name: &'static str,
        constraint: String,
    },
}

impl Settings {
    /// Defaults, then the TOML file if given, then `PERIOP_*` variables from `env`.
    ///
    /// # Errors
    /// Unreadable or invalid file, malformed variables, or settings that fail [`Settings::validate`].
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut settings = match file {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: shown.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: shown,
                    message: e.to_string(),
                })?
            }
            None => Self::default(),
        };
        if let Some(v) = env("PERIOP_BIND") {
            settings.bind = v;
        }
        if let Some(v) = env("PERIOP_MODELS") {
            settings.models = PathBuf::from(v);
        }
        if let Some(v) = env("PERIOP_AUDIT_STORE") {
            settings.audit_store = PathBuf::from(v);
        }
        if let Some(v) = env("PERIOP_MAX_BODY_BYTES") {
            settings.max_body_bytes = v.parse().map_err(|_| ConfigError::Env {
                name: "PERIOP_MAX_BODY_BYTES",
                constraint: "must be a whole number of bytes".into(),
            })?;
        }
        if let Some(v) = env("PERIOP_MAX_IN_FLIGHT") {
            settings.max_in_flight = v.parse().map_err(|_| ConfigError::Env {
                name: "PERIOP_MAX_IN_FLIGHT",
                constraint: "must be a whole number".into(),
            })?;
        }
        if let Some(v) = env("PERIOP_WORKERS") {
            settings.workers = v.parse().map_err(|_| ConfigError::Env {
                name: "PERIOP_WORKERS",
                constraint: "must be a whole number".into(),
            })?;
        }
        if let Some(v) = env("PERIOP_DEV_MODE_NO_AUTH") {
            settings.dev_mode_no_auth = match v.as_str() {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: "PERIOP_DEV_MODE_NO_AUTH",
                        constraint: "must be true or false".into(),
                    })
                }
            };
        }
        if let Some(v) = env("PERIOP_API_KEYS") {
            settings.api_keys = parse_key_list(&v)?;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks the settings after layering.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes == 0 {
            return Err(ConfigError::Invalid {
                name: "max_body_bytes",
                constraint: "must be positive".into(),
            });
        }
        if self.max_batch_body_bytes < self.max_body_bytes {
            return Err(ConfigError::Invalid {
                name: "max_batch_body_bytes",
                constraint: "must be at least max_body_bytes".into(),
            });
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::Invalid {
                name: "max_in_flight",
                constraint: "must be positive".into(),
            });
        }
        for key in &self.api_keys {
            if key.sha256.len() != 64
                || !key
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(ConfigError::Invalid {
                    name: "api_keys",
                    constraint: format!("key {}: sha256 must be 64 lowercase hex digits", key.id),
                });
            }
        }
        if self.api_keys.is_empty() && !self.dev_mode_no_auth {
            return Err(ConfigError::Invalid {
                name: "api_keys",
                constraint: "no API key configured: add keys (periop keys new --role R) or set dev_mode_no_auth = true explicitly".into(),
            });
        }
        Ok(())
    }
}

/// `id:role:sha256` entries separated by commas.
fn parse_key_list(v: &str) -> Result<Vec<ApiKeyConfig>, ConfigError> {
    let bad = |constraint: String| ConfigError::Env {
        name: "PERIOP_API_KEYS",
        constraint,
    };
    v.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|entry| {
            let parts: Vec<&str> = entry.trim().split(':').collect();
            let [id, role, sha256] = parts.as_slice() else {
                return Err(bad("each entry must be id:role:sha256".into()));
            };
            let role = Role::parse(role).ok_or_else(|| {
                bad(format!(
                    "role of {id} must be ehr, clinician, quality or admin"
                ))
            })?;
            Ok(ApiKeyConfig {
                id: (*id).to_string(),
                role,
                sha256: (*sha256).to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn defaults_need_a_key_or_explicit_dev_mode() {
        let err = Settings::load(None, |_| None).unwrap_err();
        assert!(err.to_string().contains("dev_mode_no_auth"), "{err}");
        let s = Settings::load(None, |k| {
            (k == "PERIOP_DEV_MODE_NO_AUTH").then(|| "true".to_string())
        })
        .unwrap();
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.models, PathBuf::from("models/default"));
        assert_eq!(s.audit_store, PathBuf::from("periop-audit.db"));
        assert_eq!(s.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("periop.toml");
        std::fs::write(&file, format!("bind = \"0.0.0.0:9000\"\n[[api_keys]]\nid = \"epic\"\nrole = \"ehr\"\nsha256 = \"{HASH}\"\n")).unwrap();
        let s = Settings::load(Some(&file), |k| {
            (k == "PERIOP_BIND").then(|| "127.0.0.1:0".to_string())
        })
        .unwrap();
        assert_eq!(s.bind, "127.0.0.1:0");
        assert_eq!(s.api_keys[0].role, Role::Ehr);
    }

    #[test]
    fn unknown_keys_and_bad_hashes_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("periop.toml");
        std::fs::write(&file, "bnid = \"x\"\n").unwrap();
        assert!(Settings::load(Some(&file), |_| None)
            .unwrap_err()
            .to_string()
            .contains("bnid"));
        let err = Settings::load(None, |k| {
            (k == "PERIOP_API_KEYS").then(|| "a:ehr:XYZ".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("64 lowercase hex"), "{err}");
    }
}
