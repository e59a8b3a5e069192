//! Errors of loading and using a model set. Every file-related variant names the file, so an
//! operator can tell which part of a model set is missing, tampered with or malformed.

use std::path::PathBuf;

/// Why a model set could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file the set refers to (or `model_set.json` itself) does not exist.
    #[error("model set file missing: {}", path.display())]
    MissingFile { path: PathBuf },

    /// A file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A file's SHA-256 differs from the one recorded for it: tampered or replaced.
    #[error("SHA-256 mismatch for {}: expected {expected}, found {actual}", path.display())]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// `model_set.json` or a `manifest.json` is not valid JSON of the expected shape.
    #[error("invalid manifest {}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: serde_json::Error,
    },

    /// A manifest is well-formed JSON but inconsistent (unknown outcome, missing role, bad path,
    /// unsupported format version, ...).
    #[error("invalid manifest {}: {reason}", path.display())]
    InvalidManifest { path: PathBuf, reason: String },

    /// The manifest's feature list is not the model input this build of periop produces.
    #[error("feature mismatch in {}: {detail}", path.display())]
    FeatureMismatch { path: PathBuf, detail: String },

    /// A LightGBM text model could not be parsed (line is 1-based; 0 when not tied to a line).
    #[error("cannot parse LightGBM model {} (line {line}): {reason}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// The model file parsed but disagrees with its manifest (tree count, features, objective).
    #[error("model {} does not match its manifest: {reason}", path.display())]
    ModelMismatch { path: PathBuf, reason: String },

    /// The outcome has no model in this set.
    #[error("no model for outcome {outcome} in this model set")]
    NoModel { outcome: &'static str },

    /// The input matrix does not have the model's number of columns.
    #[error("input has {found} features, the model expects {expected}")]
    FeatureCount { expected: usize, found: usize },

    /// The TreeSHAP library rejected a tree or an input (should not happen for a loaded model).
    #[error("TreeSHAP failed: {0}")]
    Shap(String),
}
