//! The rule-set registry: every uploaded version and every activation, kept as records of the
//! audit store's hash chain (kinds `rule_version` and `rule_activation`), so nothing is ever
//! deleted and who changed what, when, is tamper-evident; plus the active rule set in memory.
//!
//! Activation is atomic: the active set is one `Arc` swapped under a lock after its activation
//! record is durable; an assessment takes the `Arc` once, so it never sees half a rule set, and
//! stores the version it used.
//!
//! Replicas sharing one store: the active set is the activation record with the highest seq in
//! the chain. Each process applies its own activations at once and those of other processes when
//! [`RuleRegistry::refresh`] finds them (the server polls, `activation_poll_ms`); an activation
//! older in the chain than the one applied never replaces it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{RuleSet, RuleSetError, RuleSetRef};
use crate::audit::{AuditError, AuditRecord, AuditStore, ListQuery};
use crate::clock::{created_at_text, now_millis};

/// Audit record kind of an uploaded version.
pub const KIND_VERSION: &str = "rule_version";
/// Audit record kind of an activation.
pub const KIND_ACTIVATION: &str = "rule_activation";

/// The caller recorded for changes periop makes itself (registering the model set's rules).
pub const SYSTEM_CALLER: &str = "system";

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The document or version name was rejected (nothing was stored).
    #[error(transparent)]
    Invalid(#[from] RuleSetError),
    /// A version of that name exists already (versions are immutable).
    #[error("rule-set version `{version}` exists already (sha256 {sha256}); versions are immutable, upload under a new name")]
    Exists { version: String, sha256: String },
    /// No version of that name.
    #[error("no rule-set version `{0}`")]
    NotFound(String),
    /// The audit store failed.
    #[error(transparent)]
    Store(#[from] AuditError),
    /// A stored record does not parse (the store was altered outside periop).
    #[error("stored rule record `{id}` is unreadable: {problem}")]
    Corrupt { id: String, problem: String },
}

/// One stored version (the `output` of its `rule_version` record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionRecord {
    /// Version name.
    pub version: String,
    /// Canonical SHA-256 of the document.
    pub sha256: String,
    /// API key id of the uploader (`system` for the model set's own rule set).
    pub uploaded_by: String,
    /// RFC 3339.
    pub uploaded_at: String,
    /// Free text from the uploader (what changed and why).
    #[serde(default)]
    pub note: String,
    /// The JDM document.
    #[schema(value_type = Object)]
    pub document: Value,
}

/// One activation (the `output` of its `rule_activation` record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Activation {
    /// The version made active.
    pub version: String,
    /// Its canonical SHA-256.
    pub sha256: String,
    /// API key id of who activated it (`system` at first start).
    pub activated_by: String,
    /// RFC 3339.
    pub activated_at: String,
    /// The version it replaced (`null` for the first activation), as the activating process saw
    /// it: with replicas, one activated elsewhere within `activation_poll_ms` may be missed here;
    /// the chain order of activation records is authoritative.
    pub previous_version: Option<String>,
}

/// The active rule set with who activated it and when.
#[derive(Debug, Clone)]
pub struct ActiveRules {
    pub rules: Arc<RuleSet>,
    pub activation: Activation,
}

/// Registry of rule-set versions over an audit store.
pub struct RuleRegistry {
    store: Arc<dyn AuditStore>,
    active: RwLock<Arc<ActiveRules>>,
    /// Serialises uploads and activations (the chain order is the order of changes).
    changes: Mutex<()>,
    loaded: RwLock<HashMap<String, Arc<RuleSet>>>,
    model_set: String,
    /// Chain seq of the activation record of the active set (0 before the first).
    applied_seq: Mutex<i64>,
}

impl std::fmt::Debug for RuleRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleRegistry").finish_non_exhaustive()
    }
}

fn version_id(version: &str) -> String {
    format!("rule-version:{version}")
}

impl RuleRegistry {
    /// Opens the registry. The active set is the store's latest activation; when the store has
    /// none, `shipped` (the model set's rule set) is registered and activated by `system`. A
    /// shipped set whose version name exists with other content is refused.
    ///
    /// # Errors
    /// Store failures, unreadable records, or a shipped version name reused for other content.
    pub fn open(
        store: Arc<dyn AuditStore>,
        shipped: RuleSet,
        model_set: &Value,
    ) -> Result<Self, RegistryError> {
        let model_set = model_set.to_string();
        let shipped = Arc::new(shipped);
        let existing = get_version(store.as_ref(), &shipped.reference().version)?;
        match existing {
            Some(v) if v.sha256 != shipped.reference().sha256 => {
                return Err(RegistryError::Exists {
                    version: v.version,
                    sha256: v.sha256,
                })
            }
            Some(_) => {}
            None => {
                match append_version(
                    store.as_ref(),
                    &model_set,
                    &shipped,
                    SYSTEM_CALLER,
                    "startup",
                    "rule set shipped with the model set",
                ) {
                    Ok(_) => {}
                    // Another replica starting at the same time registered it first.
                    Err(RegistryError::Store(AuditError::Duplicate(_))) => {
                        match get_version(store.as_ref(), &shipped.reference().version)? {
                            Some(v) if v.sha256 == shipped.reference().sha256 => {}
                            Some(v) => {
                                return Err(RegistryError::Exists {
                                    version: v.version,
                                    sha256: v.sha256,
                                })
                            }
                            None => {
                                return Err(RegistryError::NotFound(
                                    shipped.reference().version.clone(),
                                ))
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let latest = all(store.as_ref(), KIND_ACTIVATION, 0)?
            .into_iter()
            .last()
            .map(|(seq, id, output)| parse::<Activation>(&id, &output).map(|a| (seq, a)))
            .transpose()?;
        let registry = Self {
            active: RwLock::new(Arc::new(ActiveRules {
                rules: shipped.clone(),
                activation: Activation {
                    version: shipped.reference().version.clone(),
                    sha256: shipped.reference().sha256.clone(),
                    activated_by: SYSTEM_CALLER.into(),
                    activated_at: String::new(),
                    previous_version: None,
                },
            })),
            store,
            changes: Mutex::new(()),
            loaded: RwLock::new(HashMap::new()),
            model_set,
            applied_seq: Mutex::new(0),
        };
        registry.remember(shipped);
        match latest {
            Some((seq, activation)) => {
                let rules = registry.load(&activation.version)?;
                registry.apply(seq, rules, activation);
            }
            None => {
                let version = registry.active().rules.reference().version.clone();
                registry.activate(&version, SYSTEM_CALLER, "startup")?;
            }
        }
        Ok(registry)
    }

    /// The active rule set (take it once per assessment).
    pub fn active(&self) -> Arc<ActiveRules> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Validates and stores a new version (not activated). A rejected document stores nothing.
    ///
    /// # Errors
    /// Invalid document or name, an existing version name, or a store failure.
    pub fn upload(
        &self,
        version: &str,
        document: Value,
        note: &str,
        caller: &str,
        request_id: &str,
    ) -> Result<VersionRecord, RegistryError> {
        let rules = Arc::new(RuleSet::from_value(version, document)?);
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = get_version(self.store.as_ref(), version)? {
            return Err(RegistryError::Exists {
                version: v.version,
                sha256: v.sha256,
            });
        }
        let record = match append_version(
            self.store.as_ref(),
            &self.model_set,
            &rules,
            caller,
            request_id,
            note,
        ) {
            Ok(record) => record,
            // Another replica stored a version of this name meanwhile.
            Err(RegistryError::Store(AuditError::Duplicate(_))) => {
                return Err(match get_version(self.store.as_ref(), version)? {
                    Some(v) => RegistryError::Exists {
                        version: v.version,
                        sha256: v.sha256,
                    },
                    None => RegistryError::NotFound(version.to_string()),
                })
            }
            Err(e) => return Err(e),
        };
        self.remember(rules);
        Ok(record)
    }

    /// Makes a stored version active: its activation record is written first, then the active
    /// set is swapped in one step.
    ///
    /// # Errors
    /// Unknown version or a store failure.
    pub fn activate(
        &self,
        version: &str,
        caller: &str,
        request_id: &str,
    ) -> Result<Activation, RegistryError> {
        let rules = self.load(version)?;
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let previous = self.active();
        let now = now_millis();
        let activation = Activation {
            version: version.to_string(),
            sha256: rules.reference().sha256.clone(),
            activated_by: caller.to_string(),
            activated_at: created_at_text(&now),
            previous_version: (!previous.activation.activated_at.is_empty())
                .then(|| previous.activation.version.clone()),
        };
        let output = serde_json::to_string(&activation).unwrap_or_default();
        let stored = self.store.append(&AuditRecord {
            assessment_id: format!("rule-activation:{}", uuid::Uuid::new_v4()),
            request_id: request_id.to_string(),
            created_at: activation.activated_at.clone(),
            caller: caller.to_string(),
            kind: KIND_ACTIVATION.to_string(),
            model_set: self.model_set.clone(),
            input: json!({ "version": version }).to_string(),
            normalised: "null".into(),
            output,
            shap: "null".into(),
        })?;
        self.apply(stored.seq, rules, activation.clone());
        Ok(activation)
    }

    /// Applies activations recorded by other processes sharing the store since the one applied
    /// here; returns the newly active one, if any.
    ///
    /// # Errors
    /// A store failure, an unreadable record, or an activated version that does not load; the
    /// active set is then unchanged.
    pub fn refresh(&self) -> Result<Option<Activation>, RegistryError> {
        let after = *self.applied_seq.lock().unwrap_or_else(|e| e.into_inner());
        let Some((seq, id, output)) = all(self.store.as_ref(), KIND_ACTIVATION, after)?.pop()
        else {
            return Ok(None);
        };
        let activation: Activation = parse(&id, &output)?;
        let rules = self.load(&activation.version)?;
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self
            .apply(seq, rules, activation.clone())
            .then_some(activation))
    }

    /// Makes `rules` active if its activation record (at chain `seq`) is newer than the applied
    /// one; returns whether it did.
    fn apply(&self, seq: i64, rules: Arc<RuleSet>, activation: Activation) -> bool {
        let mut applied = self.applied_seq.lock().unwrap_or_else(|e| e.into_inner());
        if seq <= *applied {
            return false;
        }
        *self.active.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(ActiveRules { rules, activation });
        *applied = seq;
        true
    }

    /// One stored version.
    ///
    /// # Errors
    /// A store failure or an unreadable record.
    pub fn version(&self, version: &str) -> Result<Option<VersionRecord>, RegistryError> {
        get_version(self.store.as_ref(), version)
    }

    /// Every stored version, oldest first.
    ///
    /// # Errors
    /// A store failure or an unreadable record.
    pub fn versions(&self) -> Result<Vec<VersionRecord>, RegistryError> {
        all(self.store.as_ref(), KIND_VERSION, 0)?
            .into_iter()
            .map(|(_, id, output)| parse(&id, &output))
            .collect()
    }

    /// Every activation, oldest first.
    ///
    /// # Errors
    /// A store failure or an unreadable record.
    pub fn activations(&self) -> Result<Vec<Activation>, RegistryError> {
        all(self.store.as_ref(), KIND_ACTIVATION, 0)?
            .into_iter()
            .map(|(_, id, output)| parse(&id, &output))
            .collect()
    }

    /// A stored version, loaded and compiled (cached).
    ///
    /// # Errors
    /// Unknown version, a store failure, or a stored document that no longer loads.
    pub fn load(&self, version: &str) -> Result<Arc<RuleSet>, RegistryError> {
        if let Some(r) = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(version)
        {
            return Ok(r.clone());
        }
        let record = get_version(self.store.as_ref(), version)?
            .ok_or_else(|| RegistryError::NotFound(version.to_string()))?;
        let rules = Arc::new(RuleSet::from_value(version, record.document)?);
        if rules.reference().sha256 != record.sha256 {
            return Err(RegistryError::Corrupt {
                id: version_id(version),
                problem: "document hash differs from the recorded sha256".into(),
            });
        }
        self.remember(rules.clone());
        Ok(rules)
    }

    fn remember(&self, rules: Arc<RuleSet>) {
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rules.reference().version.clone(), rules);
    }
}

fn append_version(
    store: &dyn AuditStore,
    model_set: &str,
    rules: &RuleSet,
    caller: &str,
    request_id: &str,
    note: &str,
) -> Result<VersionRecord, RegistryError> {
    let RuleSetRef { version, sha256 } = rules.reference().clone();
    let now: DateTime<Utc> = now_millis();
    let record = VersionRecord {
        version: version.clone(),
        sha256,
        uploaded_by: caller.to_string(),
        uploaded_at: created_at_text(&now),
        note: note.to_string(),
        document: rules.document().clone(),
    };
    store.append(&AuditRecord {
        assessment_id: version_id(&version),
        request_id: request_id.to_string(),
        created_at: record.uploaded_at.clone(),
        caller: caller.to_string(),
        kind: KIND_VERSION.to_string(),
        model_set: model_set.to_string(),
        input: json!({ "version": version, "note": note }).to_string(),
        normalised: "null".into(),
        output: serde_json::to_string(&record).unwrap_or_default(),
        shap: "null".into(),
    })?;
    Ok(record)
}

fn get_version(
    store: &dyn AuditStore,
    version: &str,
) -> Result<Option<VersionRecord>, RegistryError> {
    let id = version_id(version);
    match store.get(&id)? {
        Some(stored) if stored.record.kind == KIND_VERSION => {
            parse(&id, &stored.record.output).map(Some)
        }
        _ => Ok(None),
    }
}

/// `(seq, id, output)` of every record of `kind` after chain seq `after`, in chain order.
fn all(
    store: &dyn AuditStore,
    kind: &str,
    after: i64,
) -> Result<Vec<(i64, String, String)>, RegistryError> {
    let mut out = Vec::new();
    let mut query = ListQuery {
        kind: Some(kind.to_string()),
        after_seq: after,
        ..ListQuery::default()
    };
    loop {
        let page = store.list(&query)?;
        let Some(last) = page.last() else { break };
        query.after_seq = last.seq;
        out.extend(
            page.into_iter()
                .map(|s| (s.seq, s.record.assessment_id, s.record.output)),
        );
    }
    Ok(out)
}

fn parse<T: serde::de::DeserializeOwned>(id: &str, output: &str) -> Result<T, RegistryError> {
    serde_json::from_str(output).map_err(|e| RegistryError::Corrupt {
        id: id.to_string(),
        problem: e.to_string(),
    })
}
