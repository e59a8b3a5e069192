//! API keys with roles: `Authorization: Bearer <key>`; the key's SHA-256 is looked up among the
//! configured hashes. A missing or unknown key is 401, a known key without the permission 403.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::HttpRequest;

use super::error::{ApiError, Code};
use crate::config::{ApiKeyConfig, Role};
use crate::model::manifest::sha256_hex;

/// What a request may do (serialised in `GET /v1/session` as its snake_case name).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Assess,
    ReadAssessments,
    ReadModels,
    /// Read the active rule set and the stored versions.
    ReadRules,
    /// Evaluate and back-test rule sets (read-only: nothing is stored).
    EvaluateRules,
    /// Upload and activate rule-set versions.
    ManageRules,
    /// Read quality reports over the audit (the CDS Hooks override summary).
    ReadQuality,
    /// Record observed outcomes of stored assessments (`POST /v1/outcomes`).
    RecordOutcomes,
    /// Search and export the stored assessments (`/v1/audit/assessments`): patient-level audit
    /// data, every read of which is recorded.
    ReadAudit,
    /// Activate model-set versions (`POST /v1/models/activations`).
    ManageModels,
}

impl Permission {
    /// Every permission, in the order of the role table in `docs/api.md`.
    pub const ALL: [Permission; 9] = [
        Permission::Assess,
        Permission::ReadAssessments,
        Permission::ReadModels,
        Permission::ReadRules,
        Permission::EvaluateRules,
        Permission::ManageRules,
        Permission::ReadQuality,
        Permission::RecordOutcomes,
        Permission::ReadAudit,
        Permission::ManageModels,
    ];
}

impl Role {
    /// The role table of the API (the single source of truth; `docs/api.md` mirrors it).
    pub fn allows(self, p: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Ehr => p == Permission::Assess,
            Role::Clinician => matches!(p, Permission::Assess | Permission::ReadAssessments),
            Role::Quality => matches!(
                p,
                Permission::ReadAssessments
                    | Permission::ReadModels
                    | Permission::ReadRules
                    | Permission::EvaluateRules
                    | Permission::ReadQuality
                    | Permission::RecordOutcomes
                    | Permission::ReadAudit
            ),
        }
    }
}

/// Who is calling (recorded in the audit trail: the key id, never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub role: Option<Role>,
    /// The key's site (`api_keys[].site`), if it has one.
    pub site: Option<String>,
}

/// Configured keys by hash, or development mode.
#[derive(Debug, Clone)]
pub struct KeyRing {
    by_hash: HashMap<String, (String, Role, Option<String>)>,
    dev_mode: bool,
}

impl KeyRing {
    pub fn new(keys: &[ApiKeyConfig], dev_mode: bool) -> Self {
        Self {
            by_hash: keys
                .iter()
                .map(|k| (k.sha256.clone(), (k.id.clone(), k.role, k.site.clone())))
                .collect(),
            dev_mode,
        }
    }

    /// Checks the request's key for `permission`.
    ///
    /// # Errors
    /// 401 `unauthorized` for a missing/unknown key, 403 `forbidden` for a role without permission.
    pub fn authorize(&self, req: &HttpRequest, permission: Permission) -> Result<Caller, ApiError> {
        self.check(req, permission)
            .map_err(|e| e.with_request_id(super::request_id_of(req)))
    }

    /// Identifies the caller without asking for a permission: any known key (or development
    /// mode) passes.
    ///
    /// # Errors
    /// 401 `unauthorized` for a missing or unknown key.
    pub fn identify(&self, req: &HttpRequest) -> Result<Caller, ApiError> {
        self.caller(req)
            .map_err(|e| e.with_request_id(super::request_id_of(req)))
    }

    /// `true` when the server runs without API keys (`dev_mode_no_auth`).
    pub fn development_mode(&self) -> bool {
        self.dev_mode
    }

    /// What `caller` may do: every permission of its role, all of them in development mode.
    pub fn permissions(&self, caller: &Caller) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.dev_mode || caller.role.is_some_and(|r| r.allows(*p)))
            .collect()
    }

    /// [`KeyRing::authorize`] without the request id on its errors.
    fn check(&self, req: &HttpRequest, permission: Permission) -> Result<Caller, ApiError> {
        let caller = self.caller(req)?;
        if let Some(role) = caller.role {
            if !role.allows(permission) {
                return Err(ApiError::new(
                    Code::Forbidden,
                    format!("role {} may not do this ({permission:?})", role.as_str()),
                ));
            }
        }
        Ok(caller)
    }

    /// The caller of the request: development mode, or the known key's id and role.
    fn caller(&self, req: &HttpRequest) -> Result<Caller, ApiError> {
        if self.dev_mode {
            return Ok(Caller {
                key_id: "dev-mode".to_string(),
                role: None,
                site: None,
            });
        }
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::new(Code::Unauthorized, "send Authorization: Bearer <API key>")
            })?;
        let (id, role, site) = self
            .by_hash
            .get(&sha256_hex(presented.as_bytes()))
            .ok_or_else(|| ApiError::new(Code::Unauthorized, "the API key is not known"))?;
        Ok(Caller {
            key_id: id.clone(),
            role: Some(*role),
            site: site.clone(),
        })
    }
}

/// A new random API key: 32 bytes from the OS-seeded CSPRNG, hex-encoded with a prefix.
pub fn new_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("pk_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_table_matches_the_issue() {
        use Permission::*;
        assert!(
            Role::Ehr.allows(Assess)
                && !Role::Ehr.allows(ReadAssessments)
                && !Role::Ehr.allows(ReadModels)
        );
        assert!(
            Role::Clinician.allows(Assess)
                && Role::Clinician.allows(ReadAssessments)
                && !Role::Clinician.allows(ReadModels)
        );
        assert!(
            !Role::Quality.allows(Assess)
                && Role::Quality.allows(ReadAssessments)
                && Role::Quality.allows(ReadModels)
        );
        assert!(
            Role::Admin.allows(Assess)
                && Role::Admin.allows(ReadAssessments)
                && Role::Admin.allows(ReadModels)
        );
    }

    #[test]
    fn quality_reads_and_backtests_rules_and_only_admin_changes_them() {
        use Permission::*;
        for p in [ReadRules, EvaluateRules, ManageRules] {
            assert!(Role::Admin.allows(p), "{p:?}");
            assert!(!Role::Ehr.allows(p), "{p:?}");
            assert!(!Role::Clinician.allows(p), "{p:?}");
        }
        assert!(Role::Quality.allows(ReadRules) && Role::Quality.allows(EvaluateRules));
        assert!(!Role::Quality.allows(ManageRules));
    }

    #[test]
    fn only_quality_and_admin_read_quality_reports() {
        use Permission::ReadQuality;
        assert!(Role::Quality.allows(ReadQuality) && Role::Admin.allows(ReadQuality));
        assert!(!Role::Clinician.allows(ReadQuality) && !Role::Ehr.allows(ReadQuality));
    }

    #[test]
    fn permissions_list_exactly_what_the_role_allows() {
        let keys = KeyRing::new(&[], false);
        let clinician = Caller {
            key_id: "c".into(),
            role: Some(Role::Clinician),
            site: None,
        };
        assert_eq!(
            keys.permissions(&clinician),
            vec![Permission::Assess, Permission::ReadAssessments]
        );
        let admin = Caller {
            key_id: "a".into(),
            role: Some(Role::Admin),
            site: None,
        };
        assert_eq!(keys.permissions(&admin), Permission::ALL.to_vec());
        let dev = KeyRing::new(&[], true);
        let anonymous = Caller {
            key_id: "dev-mode".into(),
            role: None,
            site: None,
        };
        assert_eq!(dev.permissions(&anonymous), Permission::ALL.to_vec());
        assert!(keys.permissions(&anonymous).is_empty());
    }

    #[test]
    fn only_quality_and_admin_search_the_audit() {
        use Permission::ReadAudit;
        assert!(Role::Quality.allows(ReadAudit) && Role::Admin.allows(ReadAudit));
        assert!(!Role::Clinician.allows(ReadAudit) && !Role::Ehr.allows(ReadAudit));
    }

    #[test]
    fn only_quality_and_admin_record_outcomes() {
        use Permission::RecordOutcomes;
        assert!(Role::Quality.allows(RecordOutcomes) && Role::Admin.allows(RecordOutcomes));
        assert!(!Role::Clinician.allows(RecordOutcomes) && !Role::Ehr.allows(RecordOutcomes));
    }

    #[test]
    fn new_keys_are_distinct_and_long() {
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
    }
}
