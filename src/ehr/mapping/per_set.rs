//! The FHIR mapping of whichever model set answers: each set ships its own
//! `ehr/fhir-mapping.json` (hashed into its manifest), and a model-set activation changes the set
//! that answers without a restart, so CDS Hooks and FHIR Bundle assessments look the mapping up
//! for the answering set at each call. Each mapping file is parsed and validated once, on its
//! first use (the set loaded at start: at start, so a bad mapping stops the server there), and
//! kept for the life of the process (a handful at most: one per activated set). Mappings are
//! keyed by the file's SHA-256 as the set manifest lists it (verified at load), not by the set
//! version, which hashes the outcome manifests only: two sets with the same trees may ship
//! different mappings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{FhirMapping, MappingError};
use crate::model::ensemble::ModelSet;

/// Why the answering set's mapping cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetMappingError {
    /// The set's mapping file does not validate (it was hash-verified, so it is as shipped).
    #[error(
        "the FHIR mapping (ehr/fhir-mapping.json) of model set {set_version} is invalid: {reason}"
    )]
    Invalid {
        set_version: String,
        reason: MappingError,
    },
}

/// Every answering set's parsed mapping, by the mapping file's SHA-256.
#[derive(Debug, Default)]
pub struct SetMappings {
    by_sha256: Mutex<HashMap<String, Result<Arc<FhirMapping>, MappingError>>>,
}

impl SetMappings {
    /// The mappings, with `initial`'s parsed now.
    ///
    /// # Errors
    /// `initial`'s mapping does not validate.
    pub fn new(initial: &ModelSet) -> Result<Self, SetMappingError> {
        let mappings = Self::default();
        mappings.of(initial)?;
        Ok(mappings)
    }

    /// The mapping `models` ships (`None`: it ships none), parsed on first use.
    ///
    /// # Errors
    /// The set's mapping does not validate (the same error at every call).
    pub fn of(&self, models: &ModelSet) -> Result<Option<Arc<FhirMapping>>, SetMappingError> {
        let (Some(file), Some(bytes)) = (
            models.set_manifest().fhir_mapping.as_ref(),
            models.fhir_mapping_bytes(),
        ) else {
            return Ok(None);
        };
        // A poisoned lock only means another call panicked while inserting; the map itself is
        // still a valid cache of immutable values.
        let mut by_sha256 = self
            .by_sha256
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        by_sha256
            .entry(file.sha256.clone())
            .or_insert_with(|| FhirMapping::from_json(bytes).map(Arc::new))
            .clone()
            .map(Some)
            .map_err(|reason| SetMappingError::Invalid {
                set_version: models.set_manifest().version.clone(),
                reason,
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn default_set() -> ModelSet {
        ModelSet::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"))
            .unwrap()
    }

    /// A copy of the default set whose mapping file `edit` changed, its hash updated in
    /// `model_set.json` (the set version does not change: it hashes the outcome manifests only).
    fn copy_with_mapping(
        dir: &std::path::Path,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> ModelSet {
        let src = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default");
        for entry in walk(&src) {
            let rel = entry.strip_prefix(&src).unwrap();
            std::fs::create_dir_all(dir.join(rel).parent().unwrap()).unwrap();
            std::fs::copy(&entry, dir.join(rel)).unwrap();
        }
        let path = dir.join(super::super::MAPPING_FILE);
        let mut mapping: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut mapping);
        let bytes = serde_json::to_vec_pretty(&mapping).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let manifest_path = dir.join("model_set.json");
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        manifest["fhir_mapping"]["sha256"] =
            serde_json::json!(crate::model::manifest::sha256_hex(&bytes));
        std::fs::write(
            &manifest_path,
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        ModelSet::load(dir).unwrap()
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }

    #[test]
    fn each_mapping_is_parsed_once_and_a_set_with_the_same_version_keeps_its_own() {
        let set = default_set();
        let mappings = SetMappings::new(&set).unwrap();
        let first = mappings
            .of(&set)
            .unwrap()
            .expect("the default set ships a mapping");
        let again = mappings.of(&set).unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let dir = tempfile::tempdir().unwrap();
        let other = copy_with_mapping(dir.path(), |m| {
            m["version"] = serde_json::json!("local-test-mapping");
        });
        assert_eq!(
            other.set_manifest().version,
            set.set_manifest().version,
            "same trees, same set version"
        );
        let theirs = mappings.of(&other).unwrap().unwrap();
        assert_eq!(theirs.version, "local-test-mapping");
        assert_ne!(first.version, theirs.version);
        assert_eq!(mappings.of(&set).unwrap().unwrap().version, first.version);
    }

    #[test]
    fn an_invalid_mapping_is_refused_with_the_set_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let broken = copy_with_mapping(dir.path(), |m| m["format"] = serde_json::json!(99));
        let err = SetMappings::default().of(&broken).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&broken.set_manifest().version), "{text}");
        assert!(text.contains("format: 99"), "{text}");
        assert!(SetMappings::new(&broken).is_err());
    }
}
