//! Where an assessment comes from (issue 10, item 1): its site and the patient and encounter it
//! is about, so outcomes recorded later can be linked to it without periop ever storing an
//! identifier.
//!
//! The site is the API key's site (`api_keys[].site`) or the request's `site`, which must be one
//! of the configured `sites` and, when the key has a site, that very site. A patient or encounter
//! reference (an MRN, a FHIR id, whatever the sender uses: its exact UTF-8 bytes, never
//! normalised) is kept only as `HMAC-SHA256(secret, reference)` in lowercase hex, with the secret
//! read from `reference_hmac_key_file`; the raw value is dropped before anything is recorded or
//! answered (the audit record's input snapshot holds the hash in its place, [`redact_input`]).
//! Without a configured secret a reference is refused, never stored raw or hashed unkeyed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::features::{Constraint, FieldError};

/// Longest accepted patient or encounter reference, in characters.
pub const MAX_REFERENCE_CHARS: usize = 256;

/// The request members this module reads.
pub const ORIGIN_MEMBERS: [&str; 4] = [
    "site",
    "patient_reference",
    "encounter_reference",
    "surgery_date",
];

/// The secret of the reference hashes. Its bytes are never printed (`Debug` is redacted).
pub struct ReferenceKey(Vec<u8>);

impl fmt::Debug for ReferenceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReferenceKey(<redacted>)")
    }
}

/// Why the reference key cannot be used (the path, never the content).
#[derive(Debug, thiserror::Error)]
pub enum ReferenceKeyError {
    #[error("reference_hmac_key_file {path}: cannot be read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reference_hmac_key_file {path}: must hold at least {min} bytes of secret (surrounding whitespace is ignored)", min = ReferenceKey::MIN_BYTES)]
    TooShort { path: PathBuf },
}

impl ReferenceKey {
    /// Fewest secret bytes accepted (the HMAC-SHA256 output size).
    pub const MIN_BYTES: usize = 32;

    /// The secret held in `path`, surrounding ASCII whitespace removed (so a file written by
    /// `echo` or an editor works).
    ///
    /// # Errors
    /// An unreadable file, or fewer than [`ReferenceKey::MIN_BYTES`] bytes.
    pub fn from_file(path: &Path) -> Result<Self, ReferenceKeyError> {
        let bytes = std::fs::read(path).map_err(|source| ReferenceKeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let secret = bytes.trim_ascii();
        if secret.len() < Self::MIN_BYTES {
            return Err(ReferenceKeyError::TooShort {
                path: path.to_path_buf(),
            });
        }
        Ok(Self(secret.to_vec()))
    }

    /// `HMAC-SHA256(secret, reference)` as 64 lowercase hex digits.
    pub fn hash(&self, reference: &str) -> String {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(reference.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The origin members of a request, as received (each optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginRequest {
    /// One of the configured `sites`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The patient's identifier at the site (stored only as its keyed hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_reference: Option<String>,
    /// The encounter's identifier (stored only as its keyed hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter_reference: Option<String>,
    /// The planned surgery date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surgery_date: Option<String>,
}

/// Where an assessment comes from, checked: what its answer and audit record carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub site: Option<String>,
    pub patient_reference_hash: Option<String>,
    pub encounter_reference_hash: Option<String>,
    pub surgery_date: Option<NaiveDate>,
}

/// The configured sites and reference key.
#[derive(Debug, Clone, Default)]
pub struct ProvenancePolicy {
    pub sites: Vec<String>,
    pub reference_key: Option<Arc<ReferenceKey>>,
}

fn problem(field: &str, constraint: Constraint) -> FieldError {
    FieldError {
        field: field.to_string(),
        constraint,
    }
}

impl ProvenancePolicy {
    /// Checks a request's origin members against the configuration and the calling key's site.
    ///
    /// # Errors
    /// Every problem, each naming its member: a site that is not configured or is not the key's,
    /// a reference that is empty, too long or sent to a server without a reference key, a
    /// surgery date that is not `YYYY-MM-DD`.
    pub fn resolve(
        &self,
        request: &OriginRequest,
        key_site: Option<&str>,
    ) -> Result<Origin, Vec<FieldError>> {
        let mut errors = Vec::new();
        let site = match (request.site.as_deref(), key_site) {
            (Some(site), _) if !self.sites.iter().any(|s| s == site) => {
                errors.push(problem(
                    "site",
                    Constraint::NotAllowed {
                        detail: if self.sites.is_empty() {
                            "this server has no configured sites".to_string()
                        } else {
                            format!(
                                "must be one of the configured sites ({})",
                                self.sites.join(", ")
                            )
                        },
                    },
                ));
                None
            }
            (Some(site), Some(own)) if site != own => {
                errors.push(problem(
                    "site",
                    Constraint::NotAllowed {
                        detail: format!("the API key assesses for site {own}"),
                    },
                ));
                None
            }
            (Some(site), _) => Some(site.to_string()),
            (None, own) => own.map(str::to_string),
        };
        let patient_reference_hash = self
            .reference("patient_reference", request.patient_reference.as_deref())
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        let encounter_reference_hash = self
            .reference(
                "encounter_reference",
                request.encounter_reference.as_deref(),
            )
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        let surgery_date = match request.surgery_date.as_deref() {
            None => None,
            Some(text) => match parse_date(text) {
                Some(d) => Some(d),
                None => {
                    errors.push(problem("surgery_date", DATE_FORMAT));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(Origin {
                site,
                patient_reference_hash,
                encounter_reference_hash,
                surgery_date,
            })
        } else {
            Err(errors)
        }
    }

    /// The keyed hash of a reference sent as `field` (`None` when absent).
    ///
    /// # Errors
    /// An empty or too long reference, or no reference key configured, naming `field`.
    pub fn reference(
        &self,
        field: &str,
        value: Option<&str>,
    ) -> Result<Option<String>, FieldError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_REFERENCE_CHARS {
            return Err(problem(
                field,
                Constraint::Length {
                    min: 1,
                    max: MAX_REFERENCE_CHARS,
                },
            ));
        }
        let Some(key) = &self.reference_key else {
            return Err(problem(
                field,
                Constraint::NotConfigured {
                    detail: "the server has no reference key (reference_hmac_key_file), so it cannot store references",
                },
            ));
        };
        Ok(Some(key.hash(value)))
    }
}

/// The constraint of a date member.
pub const DATE_FORMAT: Constraint = Constraint::WrongType {
    expected: "a date YYYY-MM-DD",
};

/// A `YYYY-MM-DD` date (exactly that form).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The input snapshot of a request for the audit record: the body as received, or, when it names
/// a patient or encounter reference, the body with each raw reference replaced by
/// `<member>_hash` (its keyed hash), so the record never holds the identifier.
pub fn redact_input(body: &Value, received: String, origin: &Origin) -> String {
    let Some(object) = body.as_object() else {
        return received;
    };
    if !object.contains_key("patient_reference") && !object.contains_key("encounter_reference") {
        return received;
    }
    let mut redacted = object.clone();
    for (member, hash) in [
        ("patient_reference", &origin.patient_reference_hash),
        ("encounter_reference", &origin.encounter_reference_hash),
    ] {
        if redacted.remove(member).is_some() {
            redacted.insert(
                format!("{member}_hash"),
                hash.clone().map_or(Value::Null, Value::String),
            );
        }
    }
    Value::Object(redacted).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &tempfile::TempDir) -> Arc<ReferenceKey> {
        let path = dir.path().join("reference.key");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef-test\n").expect("write key");
        Arc::new(ReferenceKey::from_file(&path).expect("key"))
    }

    fn policy(key: Option<Arc<ReferenceKey>>) -> ProvenancePolicy {
        ProvenancePolicy {
            sites: vec!["site-a".into(), "site-b".into()],
            reference_key: key,
        }
    }

    #[test]
    fn the_hash_is_hmac_sha256_of_the_reference() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = key(&dir);
        // RFC 4231 test case 2 (key "Jefe"), computed with the same crate path.
        let jefe = ReferenceKey(b"Jefe".to_vec());
        assert_eq!(
            jefe.hash("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let a = key.hash("MRN-0042");
        assert_eq!(a.len(), 64);
        assert_eq!(a, key.hash("MRN-0042"));
        assert_ne!(a, key.hash("MRN-0043"));
        assert_ne!(a, jefe.hash("MRN-0042"));
        assert_eq!(format!("{key:?}"), "ReferenceKey(<redacted>)");
    }

    #[test]
    fn a_short_key_file_is_refused_by_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("short.key");
        std::fs::write(&path, "  too-short \n").expect("write");
        let e = ReferenceKey::from_file(&path).expect_err("short");
        assert!(e.to_string().contains("at least 32 bytes"), "{e}");
        assert!(!e.to_string().contains("too-short"), "{e}");
    }

    #[test]
    fn sites_follow_the_key_and_the_configuration() {
        let p = policy(None);
        let with_site = |s: &str| OriginRequest {
            site: Some(s.into()),
            ..OriginRequest::default()
        };
        assert_eq!(
            p.resolve(&OriginRequest::default(), Some("site-b"))
                .expect("ok")
                .site
                .as_deref(),
            Some("site-b")
        );
        assert_eq!(
            p.resolve(&with_site("site-a"), None)
                .expect("ok")
                .site
                .as_deref(),
            Some("site-a")
        );
        let e = p.resolve(&with_site("site-c"), None).expect_err("unknown");
        assert_eq!(
            (e[0].field.as_str(), e[0].constraint.reason()),
            ("site", "not_allowed")
        );
        let e = p
            .resolve(&with_site("site-a"), Some("site-b"))
            .expect_err("other site");
        assert!(e[0].to_string().contains("site-b"), "{}", e[0]);
    }

    #[test]
    fn references_need_a_key_and_a_bounded_length() {
        let dir = tempfile::tempdir().expect("tempdir");
        let request = OriginRequest {
            patient_reference: Some("MRN-0042".into()),
            encounter_reference: Some(String::new()),
            surgery_date: Some("2026-3-2".into()),
            ..OriginRequest::default()
        };
        let e = policy(None).resolve(&request, None).expect_err("no key");
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.field.as_str(), e.constraint.reason()))
            .collect();
        assert_eq!(
            got,
            [
                ("patient_reference", "not_configured"),
                ("encounter_reference", "invalid_length"),
                ("surgery_date", "wrong_type")
            ]
        );
        assert!(e[0].to_string().contains("no reference key"), "{}", e[0]);
        let key = key(&dir);
        let ok = policy(Some(key.clone()))
            .resolve(
                &OriginRequest {
                    encounter_reference: None,
                    surgery_date: Some("2026-03-02".into()),
                    ..request
                },
                None,
            )
            .expect("ok");
        assert_eq!(ok.patient_reference_hash, Some(key.hash("MRN-0042")));
        assert_eq!(ok.surgery_date, NaiveDate::from_ymd_opt(2026, 3, 2));
        let long = "x".repeat(MAX_REFERENCE_CHARS + 1);
        assert!(policy(Some(key))
            .reference("patient_reference", Some(&long))
            .is_err());
    }
}
