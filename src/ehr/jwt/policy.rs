//! Who may call the CDS Hooks endpoints: the allow-listed issuers (EHRs) with where their keys
//! come from, and the time and cache limits. Plain data, deserialised from the settings TOML
//! (`deny_unknown_fields`), checked by [`CdsAuthPolicy::check`] when the authenticator is built.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::JwtConfigError;

/// One allow-listed CDS client (an EHR), optionally for one tenant (healthcare organisation).
///
/// The same `iss` may appear in several entries when each has a different `tenant`: the token's
/// `tenant` claim then picks the entry (and so the key set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdsIssuer {
    /// The exact `iss` claim of the client's tokens.
    pub iss: String,
    /// When set, the token's `tenant` claim must equal it.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The client's JWKS exchanged out of band (read once, when the authenticator is built);
    /// used for tokens without a `jku` header.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The exact JWKS URLs this issuer may name in a `jku` header (https; http only for a
    /// loopback host). Any other `jku` is refused without a request.
    #[serde(default)]
    pub jku_allowed: Vec<String>,
}

/// The CDS client authentication policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdsAuthPolicy {
    /// The allow-listed clients (at least one).
    #[serde(default)]
    pub issuers: Vec<CdsIssuer>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 60, at most 300).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Oldest `iat` accepted, before the leeway (default 300, 1 to 3600).
    #[serde(default = "default_max_age")]
    pub max_token_age_seconds: u64,
    /// Also accept ES256 and RS256 (CDS Hooks recommends ES384 and RS384; default false).
    #[serde(default)]
    pub allow_es256_rs256: bool,
    /// Most (iss, jti) pairs remembered at once, per process (default 100 000, at least 1).
    #[serde(default = "default_replay_capacity")]
    pub replay_cache_capacity: usize,
    /// How long a fetched `jku` JWKS is used before it is fetched again (default 300, 1 to 86400).
    #[serde(default = "default_jwks_cache")]
    pub jwks_cache_seconds: u64,
    /// Shortest interval between two fetches of one `jku` caused by an unknown `kid`
    /// (default 60, at most `jwks_cache_seconds`).
    #[serde(default = "default_refetch")]
    pub jku_refetch_seconds: u64,
}

fn default_leeway() -> u64 {
    60
}
fn default_max_age() -> u64 {
    300
}
fn default_replay_capacity() -> usize {
    100_000
}
fn default_jwks_cache() -> u64 {
    300
}
fn default_refetch() -> u64 {
    60
}

impl Default for CdsAuthPolicy {
    fn default() -> Self {
        CdsAuthPolicy {
            issuers: Vec::new(),
            leeway_seconds: default_leeway(),
            max_token_age_seconds: default_max_age(),
            allow_es256_rs256: false,
            replay_cache_capacity: default_replay_capacity(),
            jwks_cache_seconds: default_jwks_cache(),
            jku_refetch_seconds: default_refetch(),
        }
    }
}

impl CdsAuthPolicy {
    /// Checks everything that does not need a file or the network: the ranges, the issuer
    /// identifiers, that each issuer has a key source, that entries are unambiguous, and that
    /// every allowed `jku` is an acceptable URL.
    pub fn check(&self) -> Result<(), JwtConfigError> {
        range("leeway_seconds", self.leeway_seconds, 0, 300, "0 to 300")?;
        range(
            "max_token_age_seconds",
            self.max_token_age_seconds,
            1,
            3600,
            "1 to 3600",
        )?;
        let capacity = u64::try_from(self.replay_cache_capacity).unwrap_or(u64::MAX);
        range("replay_cache_capacity", capacity, 1, u64::MAX, "at least 1")?;
        range(
            "jwks_cache_seconds",
            self.jwks_cache_seconds,
            1,
            86_400,
            "1 to 86400",
        )?;
        range(
            "jku_refetch_seconds",
            self.jku_refetch_seconds,
            0,
            self.jwks_cache_seconds,
            "at most jwks_cache_seconds",
        )?;
        if self.issuers.is_empty() {
            return Err(JwtConfigError::NoIssuers);
        }
        for (i, issuer) in self.issuers.iter().enumerate() {
            check_identifier(&issuer.iss, &issuer.iss, "iss")?;
            if let Some(tenant) = &issuer.tenant {
                check_identifier(&issuer.iss, tenant, "tenant")?;
            }
            if issuer.jwks_file.is_none() && issuer.jku_allowed.is_empty() {
                return Err(JwtConfigError::NoKeySource {
                    iss: issuer.iss.clone(),
                });
            }
            for url in &issuer.jku_allowed {
                check_jku_url(url).map_err(|reason| JwtConfigError::BadJkuUrl {
                    iss: issuer.iss.clone(),
                    url: url.clone(),
                    reason,
                })?;
            }
            for other in &self.issuers[..i] {
                if other.iss != issuer.iss {
                    continue;
                }
                if other.tenant == issuer.tenant {
                    return Err(JwtConfigError::DuplicateIssuer {
                        iss: issuer.iss.clone(),
                        tenant: issuer.tenant.clone(),
                    });
                }
                if other.tenant.is_none() || issuer.tenant.is_none() {
                    return Err(JwtConfigError::AmbiguousIssuer {
                        iss: issuer.iss.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

fn range(
    setting: &'static str,
    value: u64,
    min: u64,
    max: u64,
    constraint: &'static str,
) -> Result<(), JwtConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(JwtConfigError::OutOfRange {
            setting,
            value,
            constraint,
        })
    }
}

fn check_identifier(iss: &str, value: &str, field: &'static str) -> Result<(), JwtConfigError> {
    if value.is_empty() || value.trim() != value {
        return Err(JwtConfigError::BadIdentifier {
            iss: iss.to_string(),
            field,
        });
    }
    Ok(())
}

/// An allowed JWKS URL: absolute, https (http only for a loopback host, for tests and sidecars),
/// no credentials, no fragment.
fn check_jku_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not an absolute URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("it carries credentials".to_string());
    }
    if parsed.fragment().is_some() {
        return Err("it has a fragment".to_string());
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or("");
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err("http is accepted only for a loopback host; use https".to_string())
            }
        }
        other => Err(format!("scheme {other} is not https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};
    use figment::Figment;

    fn from_toml(text: &str) -> Result<CdsAuthPolicy, String> {
        Figment::from(Toml::string(text))
            .extract()
            .map_err(|e| e.to_string())
    }

    fn issuer(iss: &str) -> CdsIssuer {
        CdsIssuer {
            iss: iss.to_string(),
            tenant: None,
            jwks_file: Some(PathBuf::from("ehr.jwks.json")),
            jku_allowed: Vec::new(),
        }
    }

    fn policy(issuers: Vec<CdsIssuer>) -> CdsAuthPolicy {
        CdsAuthPolicy {
            issuers,
            ..CdsAuthPolicy::default()
        }
    }

    #[test]
    fn the_defaults_are_the_documented_ones_and_toml_fills_them() {
        let p =
            from_toml("[[issuers]]\niss = \"https://ehr.example.org\"\njwks_file = \"k.json\"\n")
                .expect("policy toml");
        assert_eq!(p.leeway_seconds, 60);
        assert_eq!(p.max_token_age_seconds, 300);
        assert!(!p.allow_es256_rs256);
        assert_eq!(p.replay_cache_capacity, 100_000);
        assert_eq!(p.jwks_cache_seconds, 300);
        assert_eq!(p.jku_refetch_seconds, 60);
        assert_eq!(p.issuers[0].jwks_file, Some(PathBuf::from("k.json")));
        p.check().expect("valid policy");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = from_toml("leeway = 5\n").expect_err("unknown field");
        assert!(err.to_string().contains("leeway"), "{err}");
        let err = from_toml("[[issuers]]\niss = \"a\"\njku_allow = [\"https://x\"]\n")
            .expect_err("unknown issuer field");
        assert!(err.to_string().contains("jku_allow"), "{err}");
    }

    #[test]
    fn an_issuer_without_keys_is_named() {
        let mut i = issuer("https://ehr.example.org");
        i.jwks_file = None;
        let err = policy(vec![i]).check().expect_err("no key source");
        assert!(matches!(err, JwtConfigError::NoKeySource { .. }));
        assert!(err.to_string().contains("https://ehr.example.org"), "{err}");
    }

    #[test]
    fn no_issuers_and_out_of_range_settings_are_refused() {
        assert!(matches!(
            policy(Vec::new()).check(),
            Err(JwtConfigError::NoIssuers)
        ));
        let mut p = policy(vec![issuer("a")]);
        p.leeway_seconds = 301;
        let err = p.check().expect_err("leeway");
        assert!(err.to_string().contains("leeway_seconds"), "{err}");
        let mut p = policy(vec![issuer("a")]);
        p.max_token_age_seconds = 0;
        assert!(p.check().is_err());
        let mut p = policy(vec![issuer("a")]);
        p.replay_cache_capacity = 0;
        assert!(p.check().is_err());
        let mut p = policy(vec![issuer("a")]);
        p.jku_refetch_seconds = p.jwks_cache_seconds + 1;
        assert!(p.check().is_err());
    }

    #[test]
    fn duplicate_and_ambiguous_entries_are_refused() {
        let err = policy(vec![issuer("a"), issuer("a")])
            .check()
            .expect_err("duplicate");
        assert!(matches!(err, JwtConfigError::DuplicateIssuer { .. }));
        let mut t1 = issuer("a");
        t1.tenant = Some("t1".into());
        let err = policy(vec![t1.clone(), issuer("a")])
            .check()
            .expect_err("ambiguous");
        assert!(matches!(err, JwtConfigError::AmbiguousIssuer { .. }));
        let mut t2 = issuer("a");
        t2.tenant = Some("t2".into());
        policy(vec![t1, t2]).check().expect("one iss, two tenants");
        let err = policy(vec![issuer(" a")]).check().expect_err("whitespace");
        assert!(matches!(
            err,
            JwtConfigError::BadIdentifier { field: "iss", .. }
        ));
    }

    #[test]
    fn jku_urls_must_be_https_or_loopback_http() {
        for (url, ok) in [
            ("https://ehr.example.org/.well-known/jwks.json", true),
            ("http://127.0.0.1:8080/jwks", true),
            ("http://[::1]:8080/jwks", true),
            ("http://localhost/jwks", true),
            ("http://ehr.example.org/jwks", false),
            ("http://10.0.0.1/jwks", false),
            ("ftp://ehr.example.org/jwks", false),
            ("/jwks.json", false),
            ("https://user:pw@ehr.example.org/jwks", false),
            ("https://ehr.example.org/jwks#k", false),
        ] {
            let mut i = issuer("a");
            i.jku_allowed = vec![url.to_string()];
            assert_eq!(policy(vec![i]).check().is_ok(), ok, "{url}");
        }
    }
}
