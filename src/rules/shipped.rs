//! The rule set shipped in a model set directory (`<set>/rules/manifest.json` naming the JDM file,
//! its version and SHA-256). It is verified like the models: a document whose hash differs from
//! the manifest is refused, so a tampered rule file stops the server from starting.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{RuleSet, RuleSetError};

/// The manifest's file name inside `<set>/rules/`.
pub const MANIFEST: &str = "manifest.json";

/// `<set>/rules/manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesManifest {
    /// Version name the rule set is registered under.
    pub version: String,
    /// JDM document, relative to the `rules/` directory.
    pub file: String,
    /// Canonical SHA-256 of the document (`rules::canonical_sha256`).
    pub sha256: String,
    /// Always `true` for the default set: an example policy to be reviewed locally.
    pub example_policy: bool,
}

/// Why a model set's rule set cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ShippedError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid rules manifest: {source}")]
    Manifest {
        path: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    RuleSet(#[from] RuleSetError),
    #[error("{path}: SHA-256 {actual} differs from the manifest's {expected}: the rule file was changed; refusing to load it")]
    Tampered {
        path: String,
        expected: String,
        actual: String,
    },
}

/// Loads and verifies the rule set of the model set in `set_dir`.
///
/// # Errors
/// A missing or malformed manifest, an invalid document, or a hash mismatch.
pub fn load(set_dir: &Path) -> Result<RuleSet, ShippedError> {
    let dir = set_dir.join("rules");
    let manifest_path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).map_err(|source| ShippedError::Io {
        path: manifest_path.display().to_string(),
        source,
    })?;
    let manifest: RulesManifest =
        serde_json::from_str(&text).map_err(|source| ShippedError::Manifest {
            path: manifest_path.display().to_string(),
            source,
        })?;
    let path = dir.join(&manifest.file);
    let rules = RuleSet::from_file(&manifest.version, &path)?;
    if rules.reference().sha256 != manifest.sha256 {
        return Err(ShippedError::Tampered {
            path: path.display().to_string(),
            expected: manifest.sha256,
            actual: rules.reference().sha256.clone(),
        });
    }
    Ok(if manifest.example_policy {
        rules.into_example_policy()
    } else {
        rules
    })
}

/// The default rule document, compiled in so `periop train` ships it with every new set.
pub const DEFAULT_DOCUMENT: &str = include_str!("../../models/default/rules/default-rules.json");
/// Version name of [`DEFAULT_DOCUMENT`].
pub const DEFAULT_VERSION: &str = "default-1";
/// File name of [`DEFAULT_DOCUMENT`] inside `<set>/rules/`.
pub const DEFAULT_FILE: &str = "default-rules.json";

/// Writes the default rule set and its manifest into `<set_dir>/rules/` (what `periop train`
/// ships with a new set).
///
/// # Errors
/// An I/O failure, or the compiled-in document failing its own checks.
pub fn write_default(set_dir: &Path) -> Result<(), ShippedError> {
    let rules = RuleSet::from_slice(DEFAULT_VERSION, DEFAULT_DOCUMENT.as_bytes())?;
    let dir = set_dir.join("rules");
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ShippedError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let file = dir.join(DEFAULT_FILE);
    std::fs::write(&file, DEFAULT_DOCUMENT).map_err(io(&file))?;
    let manifest = RulesManifest {
        version: DEFAULT_VERSION.to_string(),
        file: DEFAULT_FILE.to_string(),
        sha256: rules.reference().sha256.clone(),
        example_policy: true,
    };
    let path = dir.join(MANIFEST);
    let mut text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    text.push('\n');
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(())
}
