//! Server settings, layered by figment: compiled-in defaults, then an optional TOML file
//! (`--config`), then `PERIOP_<SETTING>` environment variables (`PERIOP_MAX_IN_FLIGHT` sets
//! `max_in_flight`), so a new setting needs no environment code of its own. Unknown keys are
//! errors naming the key and where it came from (file or environment); `validate` runs after
//! layering. One exception: `PERIOP_API_KEYS` is a compact `id:role:sha256[:site],...` list.
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
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Public identifier recorded in the audit trail (never the key).
    pub id: String,
    pub role: Role,
    /// Lowercase hex SHA-256 of the key.
    pub sha256: String,
    /// The site (hospital) this key assesses for: one of `sites`. Its assessments carry it, and
    /// a request naming another site is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// Default body limit of one request (`max_body_bytes`), also the documented 413 example.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default body limit of the batch endpoint (`max_batch_body_bytes`).
pub const DEFAULT_MAX_BATCH_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Default `quality_min_group_size` (the reasoning is in `service::performance`).
pub const DEFAULT_QUALITY_MIN_GROUP_SIZE: usize = 30;

/// Everything `periop serve` needs.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address to bind, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub bind: String,
    /// Model set directory.
    pub models: PathBuf,
    /// Audit store: a SQLite file path (or `sqlite:PATH`) for one process, or a
    /// `postgres://user:password@host:port/db` URL that several replicas share
    /// (`audit::location`; the password is never logged).
    pub audit_store: String,
    /// PostgreSQL only: connections per process.
    pub audit_pool_size: usize,
    /// PostgreSQL only: how long to wait for a connection or the chain-head lock before answering
    /// 503 (milliseconds).
    pub audit_timeout_ms: u64,
    /// PostgreSQL only: apply pending schema migrations at start (`false`: refuse to start on an
    /// older schema; run `periop audit migrate` separately).
    pub audit_migrate_at_start: bool,
    /// How often each process looks for rule-set activations made by other replicas
    /// (milliseconds; 0 = never).
    pub activation_poll_ms: u64,
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
    /// periop's public base URL as EHRs reach it (behind a proxy: the proxy's URL), e.g.
    /// `https://periop.example.org`. CDS Hooks JWTs must name `<public_url>/cds-services/<id>`
    /// as their audience; cards link to it. Empty: `http://<bound address>`.
    pub public_url: String,
    /// CDS Hooks clients (EHRs) allowed to call, each with its JWT issuer and keys
    /// (`docs/ehr.md`, "Security"). None configured: every CDS Hooks call is refused.
    pub cds_issuers: Vec<CdsIssuerConfig>,
    /// Accept CDS Hooks calls without a JWT (development only; logged loudly at start).
    pub cds_development_mode: bool,
    /// Also accept ES256 and RS256 CDS Hooks JWTs (ES384 and RS384 always).
    pub cds_allow_es256_rs256: bool,
    /// FHIR server base URLs periop may read missing prefetch from (a hook request's
    /// `fhirServer` must equal one; https, or http on a loopback host). Empty: never fetch.
    pub cds_fhir_servers: Vec<String>,
    /// Deadline for everything read from the FHIR server during one hook call (milliseconds).
    pub cds_fhir_timeout_ms: u64,
    /// The sites (hospitals) assessments may come from; a request's `site` and a key's `site`
    /// must be one of them. Empty: no site can be named.
    pub sites: Vec<String>,
    /// A file holding the secret key of the patient and encounter references
    /// (`HMAC-SHA256(secret, reference)`; `service::provenance`). Kept outside the repository and
    /// never logged. Unset: requests naming a reference are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_hmac_key_file: Option<PathBuf>,
    /// `GET /v1/quality/performance`: groups with fewer rows with a recorded outcome are reported
    /// as suppressed (their size only). At least 1.
    pub quality_min_group_size: usize,
    /// A directory whose subdirectories are model sets that may be activated
    /// (`POST /v1/models/activations` names one by version; never a path from a request).
    /// Unset: only `models` answers and activations are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sets_dir: Option<PathBuf>,
}

/// One CDS Hooks client (an EHR): its JWT issuer and where its public keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CdsIssuerConfig {
    /// The JWT `iss` of the client.
    pub iss: String,
    /// When set, the token's `tenant` claim must equal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// JWKS file exchanged out of band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    /// Exact JWKS URLs the client may name with `jku` (never any other).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jku_allowed: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_string(),
            models: PathBuf::from("models/default"),
            audit_store: "periop-audit.db".to_string(),
            audit_pool_size: 8,
            audit_timeout_ms: 5000,
            audit_migrate_at_start: true,
            activation_poll_ms: 1000,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch_body_bytes: DEFAULT_MAX_BATCH_BODY_BYTES,
            max_in_flight: 64,
            dev_mode_no_auth: false,
            workers: 0,
            api_keys: Vec::new(),
            public_url: String::new(),
            cds_issuers: Vec::new(),
            cds_development_mode: false,
            cds_allow_es256_rs256: false,
            cds_fhir_servers: Vec::new(),
            cds_fhir_timeout_ms: 3000,
            sites: Vec::new(),
            reference_hmac_key_file: None,
            quality_min_group_size: DEFAULT_QUALITY_MIN_GROUP_SIZE,
            model_sets_dir: None,
        }
    }
}

/// Why the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or variable that does not parse, has an unknown key or a wrong type; the message
    /// names the key and its source.
    #[error("{0}")]
    Layer(String),
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
    /// Defaults, then the TOML file if given, then the process's `PERIOP_*` variables.
    ///
    /// # Errors
    /// An unreadable or invalid file, unknown keys, malformed variables, or settings that fail
    /// [`Settings::validate`].
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        use figment::providers::{Env, Format, Serialized, Toml};
        let mut figment = figment::Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Layer(format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("PERIOP_").ignore(&["api_keys"]));
        if let Ok(list) = std::env::var("PERIOP_API_KEYS") {
            figment = figment.merge(Serialized::default("api_keys", parse_key_list(&list)?));
        }
        let settings: Self = figment
            .extract()
            .map_err(|e| ConfigError::Layer(e.to_string()))?;
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
        if self.audit_store.trim().is_empty() {
            // Its form (path or postgres:// URL) is checked where the store is opened.
            return Err(ConfigError::Invalid {
                name: "audit_store",
                constraint: "must be a SQLite file path or a postgres:// URL".into(),
            });
        }
        if self.audit_pool_size == 0 {
            return Err(ConfigError::Invalid {
                name: "audit_pool_size",
                constraint: "must be positive".into(),
            });
        }
        if self.audit_timeout_ms == 0 {
            return Err(ConfigError::Invalid {
                name: "audit_timeout_ms",
                constraint: "must be positive".into(),
            });
        }
        if self.quality_min_group_size == 0 {
            return Err(ConfigError::Invalid {
                name: "quality_min_group_size",
                constraint: "must be at least 1".into(),
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
        for (i, site) in self.sites.iter().enumerate() {
            if !is_site_name(site) {
                return Err(ConfigError::Invalid {
                    name: "sites",
                    constraint: format!(
                        "sites[{i}] must be 1 to 64 letters, digits, `-`, `_` or `.`"
                    ),
                });
            }
            if self.sites[..i].contains(site) {
                return Err(ConfigError::Invalid {
                    name: "sites",
                    constraint: format!("sites[{i}] is listed twice"),
                });
            }
        }
        for key in &self.api_keys {
            if let Some(site) = &key.site {
                if !self.sites.contains(site) {
                    return Err(ConfigError::Invalid {
                        name: "api_keys",
                        constraint: format!(
                            "key {}: site must be one of the configured sites",
                            key.id
                        ),
                    });
                }
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

/// A site name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn is_site_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `id:role:sha256` or `id:role:sha256:site` entries separated by commas.
fn parse_key_list(v: &str) -> Result<Vec<ApiKeyConfig>, ConfigError> {
    let bad = |constraint: String| ConfigError::Env {
        name: "PERIOP_API_KEYS",
        constraint,
    };
    v.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|entry| {
            let parts: Vec<&str> = entry.trim().split(':').collect();
            let (id, role, sha256, site) = match parts.as_slice() {
                [id, role, sha256] => (id, role, sha256, None),
                [id, role, sha256, site] => (id, role, sha256, Some((*site).to_string())),
                _ => {
                    return Err(bad(
                        "each entry must be id:role:sha256 or id:role:sha256:site".into(),
                    ))
                }
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
                site,
            })
        })
        .collect()
}

#[cfg(test)]
// figment's `Jail` (process environment isolation for tests) fixes the closure's error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn layer_error(e: ConfigError) -> figment::Error {
        e.to_string().into()
    }

    #[test]
    fn defaults_need_a_key_or_explicit_dev_mode() {
        figment::Jail::expect_with(|jail| {
            let err = Settings::load(None).unwrap_err();
            assert!(err.to_string().contains("dev_mode_no_auth"), "{err}");
            jail.set_env("PERIOP_DEV_MODE_NO_AUTH", "true");
            let s = Settings::load(None).map_err(layer_error)?;
            assert_eq!(s.bind, "127.0.0.1:8080");
            assert_eq!(s.models, PathBuf::from("models/default"));
            assert_eq!(s.audit_store, "periop-audit.db");
            assert_eq!(s.max_body_bytes, 1024 * 1024);
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file_and_every_setting_has_a_variable() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "periop.toml",
                &format!("bind = \"0.0.0.0:9000\"\nworkers = 3\n[[api_keys]]\nid = \"epic\"\nrole = \"ehr\"\nsha256 = \"{HASH}\"\n"),
            )?;
            jail.set_env("PERIOP_BIND", "127.0.0.1:0");
            jail.set_env("PERIOP_MAX_IN_FLIGHT", "7");
            jail.set_env("PERIOP_MAX_BATCH_BODY_BYTES", "2097152");
            let s = Settings::load(Some(Path::new("periop.toml"))).map_err(layer_error)?;
            assert_eq!(s.bind, "127.0.0.1:0");
            assert_eq!(s.workers, 3);
            assert_eq!(s.max_in_flight, 7);
            assert_eq!(s.max_batch_body_bytes, 2_097_152);
            assert_eq!(s.api_keys[0].role, Role::Ehr);
            jail.set_env(
                "PERIOP_API_KEYS",
                format!("a:admin:{HASH},b:quality:{HASH}"),
            );
            let s = Settings::load(Some(Path::new("periop.toml"))).map_err(layer_error)?;
            assert_eq!(s.api_keys.len(), 2);
            assert_eq!(s.api_keys[1].role, Role::Quality);
            Ok(())
        });
    }

    #[test]
    fn sites_are_named_once_and_a_key_site_must_be_one_of_them() {
        let key = |site: Option<&str>| ApiKeyConfig {
            id: "epic".into(),
            role: Role::Ehr,
            sha256: HASH.into(),
            site: site.map(str::to_string),
        };
        let mut s = Settings {
            sites: vec!["site-a".into(), "site-b".into()],
            api_keys: vec![key(Some("site-b"))],
            ..Settings::default()
        };
        assert!(s.validate().is_ok());
        s.api_keys = vec![key(Some("site-c"))];
        let e = s.validate().expect_err("unknown key site");
        assert!(
            e.to_string().contains("key epic: site must be one of"),
            "{e}"
        );
        s.api_keys = vec![key(None)];
        s.sites = vec!["site-a".into(), "site-a".into()];
        assert!(s
            .validate()
            .expect_err("twice")
            .to_string()
            .contains("sites[1] is listed twice"));
        s.sites = vec!["site a".into()];
        assert!(s
            .validate()
            .expect_err("space")
            .to_string()
            .contains("sites[0]"));
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "PERIOP_API_KEYS",
                format!("a:ehr:{HASH}:site-a,b:quality:{HASH}"),
            );
            jail.create_file("periop.toml", "sites = [\"site-a\"]\n")?;
            let s = Settings::load(Some(Path::new("periop.toml"))).map_err(layer_error)?;
            assert_eq!(s.api_keys[0].site.as_deref(), Some("site-a"));
            assert_eq!(s.api_keys[1].site, None);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_wrong_types_and_bad_hashes_are_rejected_by_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("periop.toml", "bnid = \"x\"\n")?;
            let err = Settings::load(Some(Path::new("periop.toml"))).unwrap_err();
            assert!(err.to_string().contains("bnid"), "{err}");
            jail.create_file("periop.toml", "dev_mode_no_auth = true\n")?;
            jail.set_env("PERIOP_MAX_IN_FLIGHTS", "3");
            let err = Settings::load(Some(Path::new("periop.toml"))).unwrap_err();
            assert!(err.to_string().contains("max_in_flights"), "{err}");
            jail.clear_env();
            jail.set_env("PERIOP_WORKERS", "many");
            let err = Settings::load(Some(Path::new("periop.toml"))).unwrap_err();
            assert!(err.to_string().to_lowercase().contains("workers"), "{err}");
            jail.clear_env();
            jail.set_env("PERIOP_API_KEYS", "a:ehr:XYZ");
            let err = Settings::load(None).unwrap_err();
            assert!(err.to_string().contains("64 lowercase hex"), "{err}");
            Ok(())
        });
    }
}
