//! The model set that answers, and activating another one like a rule set: every activation is
//! a record of the audit store's hash chain (kind `model_set_activation`), written before the
//! switch; the switch is one `Arc` swap, and an assessment takes the `Arc` once, so it uses one
//! set from start to end and records the version that answered. Sets are only ever read from
//! directories under the configured `model_sets_dir` (never a path from a request), each loaded
//! with `ModelSet::load` (every hash verified) before it can answer; nothing is deleted, so a
//! rollback is activating the previous version.
//!
//! Replicas sharing one store: the active set is the activation record with the highest seq;
//! [`ModelSetRegistry::refresh`] applies activations made elsewhere (the server polls, as for
//! rules, `activation_poll_ms`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::answer::AnswerBasis;
use super::record::RecordTemplate;
use super::types::ModelSetRef;
use crate::audit::{AuditError, AuditRecord, AuditStore, ListQuery};
use crate::clock::{created_at_text, now_millis};
use crate::model::ensemble::{ModelError, ModelSet};
use crate::model::manifest::ModelSetManifest;

/// Audit record kind of a model-set activation.
pub const KIND_MODEL_SET_ACTIVATION: &str = "model_set_activation";

/// One model set ready to answer: the set and what every answer and record of it carries.
#[derive(Debug)]
pub struct Serving {
    pub models: Arc<ModelSet>,
    pub(super) basis: AnswerBasis,
    pub(super) template: RecordTemplate,
}

impl Serving {
    /// Prepares a loaded set for serving.
    pub fn new(models: Arc<ModelSet>) -> Self {
        let set = models.set_manifest();
        let basis = AnswerBasis {
            model_set: ModelSetRef {
                id: set.id.clone(),
                version: set.version.clone(),
            },
            synthetic: set.training_data.synthetic,
        };
        let template = RecordTemplate::new(&models);
        Self {
            models,
            basis,
            template,
        }
    }
}

/// The set that answers now, swapped atomically (shared by the assessor and the registry).
#[derive(Debug)]
pub struct ModelHolder {
    current: RwLock<Arc<Serving>>,
}

impl ModelHolder {
    /// A holder serving `models`.
    pub fn new(models: Arc<ModelSet>) -> Self {
        Self {
            current: RwLock::new(Arc::new(Serving::new(models))),
        }
    }

    /// The set that answers now (take it once per assessment).
    pub fn current(&self) -> Arc<Serving> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn replace(&self, serving: Arc<Serving>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = serving;
    }
}

/// Why a model-set operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelSetError {
    /// No `model_sets_dir` is configured: only the set loaded at start can answer.
    #[error("no model_sets_dir is configured: model sets cannot be activated")]
    NotConfigured,
    /// No set under `model_sets_dir` has that version.
    #[error("no model set with version `{0}` under model_sets_dir")]
    NotFound(String),
    /// The set with that version does not load (tampered, incomplete, incompatible).
    #[error("model set `{version}` does not load: {source}")]
    Invalid { version: String, source: ModelError },
    /// `model_sets_dir` cannot be read.
    #[error("cannot read model_sets_dir {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The audit store failed (nothing was switched).
    #[error(transparent)]
    Store(#[from] AuditError),
    /// A stored activation record does not parse.
    #[error("stored model-set activation `{id}` is unreadable: {problem}")]
    Corrupt { id: String, problem: String },
}

/// One activation (the `output` of its `model_set_activation` record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelSetActivation {
    /// The version made active (`model_set.json` `version`).
    pub version: String,
    /// The set's id (`model_set.json` `id`).
    pub id: String,
    /// Directory name under `model_sets_dir`.
    pub directory: String,
    /// API key id of who activated it.
    pub activated_by: String,
    /// RFC 3339.
    pub activated_at: String,
    /// The version it replaced, as the activating process saw it.
    pub previous_version: String,
}

/// A set available for activation under `model_sets_dir`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AvailableSet {
    /// Directory name under `model_sets_dir`.
    pub directory: String,
    /// The set's id (`model_set.json` `id`).
    pub id: String,
    /// The set's version, the name `POST /v1/models/activations` takes.
    pub version: String,
    /// Present for sets written by `periop recalibrate`: the version they came from.
    pub recalibrated_from: Option<String>,
}

/// Activations of model sets over an audit store, and the holder they switch.
pub struct ModelSetRegistry {
    store: Arc<dyn AuditStore>,
    holder: Arc<ModelHolder>,
    sets_dir: Option<PathBuf>,
    /// Serialises activations (the chain order is the order of changes).
    changes: Mutex<()>,
    /// Chain seq of the applied activation record (0: the set loaded at start).
    applied_seq: Mutex<i64>,
}

impl std::fmt::Debug for ModelSetRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSetRegistry").finish_non_exhaustive()
    }
}

impl ModelSetRegistry {
    /// Opens the registry over `holder` (serving the set loaded at start). When the store holds
    /// activations, the latest one is applied (so a restarted replica answers with the set the
    /// others use); without `sets_dir`, activations are refused.
    ///
    /// # Errors
    /// A store failure, an unreadable record, or an activated set that is missing or does not
    /// load (the server must not silently answer with another set).
    pub fn open(
        store: Arc<dyn AuditStore>,
        holder: Arc<ModelHolder>,
        sets_dir: Option<PathBuf>,
    ) -> Result<Self, ModelSetError> {
        let registry = Self {
            store,
            holder,
            sets_dir,
            changes: Mutex::new(()),
            applied_seq: Mutex::new(0),
        };
        registry.refresh()?;
        Ok(registry)
    }

    /// Whether a `model_sets_dir` is configured (activations possible).
    pub fn is_configured(&self) -> bool {
        self.sets_dir.is_some()
    }

    /// The configured `model_sets_dir` (`None`: activations and recalibrations are refused).
    pub fn sets_dir(&self) -> Option<&Path> {
        self.sets_dir.as_deref()
    }

    /// The holder the assessor serves from.
    pub fn holder(&self) -> &Arc<ModelHolder> {
        &self.holder
    }

    /// Every set under `model_sets_dir` whose `model_set.json` parses, by directory name.
    ///
    /// # Errors
    /// [`ModelSetError::NotConfigured`] or an unreadable directory.
    pub fn available(&self) -> Result<Vec<AvailableSet>, ModelSetError> {
        let dir = self.sets_dir.as_ref().ok_or(ModelSetError::NotConfigured)?;
        let io = |source| ModelSetError::Io {
            path: dir.clone(),
            source,
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            let Some(m) = read_set_manifest(&entry.path()) else {
                continue;
            };
            out.push(AvailableSet {
                directory: name,
                id: m.id,
                version: m.version,
                recalibrated_from: m.recalibration.map(|r| r.from_version),
            });
        }
        out.sort_by(|a, b| a.directory.cmp(&b.directory));
        Ok(out)
    }

    /// The directory under `model_sets_dir` of the set with `version`.
    fn find(&self, version: &str) -> Result<(String, PathBuf), ModelSetError> {
        let dir = self.sets_dir.as_ref().ok_or(ModelSetError::NotConfigured)?;
        self.available()?
            .into_iter()
            .find(|s| s.version == version)
            .map(|s| (s.directory.clone(), dir.join(&s.directory)))
            .ok_or_else(|| ModelSetError::NotFound(version.to_string()))
    }

    fn load(&self, version: &str) -> Result<(String, Arc<ModelSet>), ModelSetError> {
        let (directory, path) = self.find(version)?;
        let set = ModelSet::load(&path).map_err(|source| ModelSetError::Invalid {
            version: version.to_string(),
            source,
        })?;
        if set.set_manifest().version != version {
            return Err(ModelSetError::NotFound(version.to_string()));
        }
        Ok((directory, Arc::new(set)))
    }

    /// Activates the set with `version` from `model_sets_dir`: loaded and verified, its
    /// activation record appended, then swapped in one step.
    ///
    /// # Errors
    /// Not configured, unknown version, a set that does not load, or a store failure (the
    /// answering set is then unchanged).
    pub fn activate(
        &self,
        version: &str,
        caller: &str,
        request_id: &str,
    ) -> Result<ModelSetActivation, ModelSetError> {
        let (directory, models) = self.load(version)?;
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let previous = self.holder.current();
        let now = now_millis();
        let activation = ModelSetActivation {
            version: version.to_string(),
            id: models.set_manifest().id.clone(),
            directory,
            activated_by: caller.to_string(),
            activated_at: created_at_text(&now),
            previous_version: previous.basis.model_set.version.clone(),
        };
        let stored = self.store.append(&AuditRecord {
            assessment_id: format!("model-set-activation:{}", uuid::Uuid::new_v4()),
            request_id: request_id.to_string(),
            created_at: activation.activated_at.clone(),
            caller: caller.to_string(),
            kind: KIND_MODEL_SET_ACTIVATION.to_string(),
            model_set: json!({"id": activation.id, "version": version}).to_string(),
            input: json!({ "version": version }).to_string(),
            normalised: "null".into(),
            output: serde_json::to_string(&activation).unwrap_or_default(),
            shap: "null".into(),
        })?;
        self.apply(stored.seq, models);
        Ok(activation)
    }

    /// Applies the latest activation recorded (by any process sharing the store) after the one
    /// applied here; returns it, if any.
    ///
    /// # Errors
    /// A store failure, an unreadable record, or an activated set that does not load here; the
    /// answering set is then unchanged.
    pub fn refresh(&self) -> Result<Option<ModelSetActivation>, ModelSetError> {
        let after = *self.applied_seq.lock().unwrap_or_else(|e| e.into_inner());
        let Some((seq, id, output)) = records(self.store.as_ref(), after)?.pop() else {
            return Ok(None);
        };
        let activation: ModelSetActivation = parse(&id, &output)?;
        let (_, models) = self.load(&activation.version)?;
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.apply(seq, models).then_some(activation))
    }

    fn apply(&self, seq: i64, models: Arc<ModelSet>) -> bool {
        let mut applied = self.applied_seq.lock().unwrap_or_else(|e| e.into_inner());
        if seq <= *applied {
            return false;
        }
        self.holder.replace(Arc::new(Serving::new(models)));
        *applied = seq;
        true
    }

    /// Every activation, oldest first.
    ///
    /// # Errors
    /// A store failure or an unreadable record.
    pub fn activations(&self) -> Result<Vec<ModelSetActivation>, ModelSetError> {
        records(self.store.as_ref(), 0)?
            .into_iter()
            .map(|(_, id, output)| parse(&id, &output))
            .collect()
    }
}

fn read_set_manifest(dir: &Path) -> Option<ModelSetManifest> {
    let bytes = std::fs::read(dir.join("model_set.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `(seq, id, output)` of every activation record after chain seq `after`, in chain order.
fn records(
    store: &dyn AuditStore,
    after: i64,
) -> Result<Vec<(i64, String, String)>, ModelSetError> {
    let mut out = Vec::new();
    let mut query = ListQuery {
        kind: Some(KIND_MODEL_SET_ACTIVATION.to_string()),
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

fn parse<T: serde::de::DeserializeOwned>(id: &str, output: &str) -> Result<T, ModelSetError> {
    serde_json::from_str(output).map_err(|e| ModelSetError::Corrupt {
        id: id.to_string(),
        problem: e.to_string(),
    })
}
