//! The on-disk contract of a model set: `model_set.json` at the top, and per outcome a directory
//! with LightGBM text model file(s) and `manifest.json`. Written by `periop train`, read by
//! evaluation and serving. Every file is listed with its SHA-256 so serving can refuse a tampered
//! or incomplete set.

use serde::{Deserialize, Serialize};

use super::calibration::Calibration;

/// Format version of the manifests (bumped on any incompatible change).
pub const MANIFEST_FORMAT: u32 = 1;

/// `model_set.json`: the set as a whole.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSetManifest {
    pub format: u32,
    /// Directory name of the set, e.g. `default`.
    pub id: String,
    /// Version of the set: `<periop version>+<first 12 hex of the hash over all model manifests>`.
    pub version: String,
    pub periop_version: String,
    pub dictionary_version: String,
    pub seed: u64,
    pub training_data: TrainingData,
    /// The training distribution of every input (`training_distribution.json`); absent in sets
    /// written before it was recorded. Not part of the set's version, which hashes the outcome
    /// manifests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_distribution: Option<FileRef>,
    /// The FHIR mapping the EHR adapter uses with this set (`ehr/fhir-mapping.json`: code lists,
    /// unit conversions, look-back windows); hash-verified at load. Not part of the version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fhir_mapping: Option<FileRef>,
    pub outcomes: Vec<ModelSetEntry>,
    /// Present when `periop recalibrate` wrote this set from another one: the set it came from
    /// and the local data. Absent in trained sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalibration: Option<SetRecalibration>,
}

/// Where a recalibrated set came from (`model_set.json`, `recalibration`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SetRecalibration {
    /// Id and version of the set whose trees and maps this one starts from.
    pub from_id: String,
    pub from_version: String,
    /// The site whose outcomes were used (`None`: every site in the data).
    pub site: Option<String>,
    /// The period the local outcomes cover, as the operator stated it (`None`: not stated).
    pub window: Option<String>,
    /// Where the local outcomes came from: a file name (no directories) or `audit store`.
    pub source: String,
    /// SHA-256 of the local data file (`None` for the audit store).
    pub source_sha256: Option<String>,
    /// The recalibrated outcomes; every other outcome's manifest is the source set's, byte for byte.
    pub outcomes: Vec<String>,
}

/// A file of the set with its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// Relative to the set directory.
    pub file: String,
    pub sha256: String,
}

/// Where the training data came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingData {
    /// File name only (never a path that could leak a user's directory layout).
    pub file: String,
    pub sha256: String,
    pub rows: usize,
    /// `true` when the data carries `p_true_*` columns, i.e. it came from `periop synth`.
    pub synthetic: bool,
    pub sites: Vec<String>,
}

/// One outcome's entry in `model_set.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSetEntry {
    pub outcome: String,
    /// Path of the outcome's `manifest.json`, relative to the set directory.
    pub manifest: String,
    pub manifest_sha256: String,
}

/// Role of one LightGBM model file within an outcome.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModelRole {
    /// Binary classifier; raw score = log-odds.
    Probability,
    /// Regression of ln(mL); raw score = ln of the median.
    Median,
    /// Quantile regression (alpha 0.1) of ln(mL).
    P10,
    /// Quantile regression (alpha 0.9) of ln(mL).
    P90,
}

/// One model file with its hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub role: ModelRole,
    /// Relative to the outcome directory.
    pub path: String,
    pub sha256: String,
    pub num_trees: usize,
    pub params: serde_json::Value,
}

/// A risk band: `[lower, upper)` on the calibrated probability.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RiskBand {
    pub name: String,
    pub lower: f64,
    pub upper: f64,
}

/// Summary of the rows a model was trained on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingSummary {
    pub population: String,
    pub rows_total: usize,
    pub rows_train: usize,
    pub rows_validation: usize,
    /// Events (binary) in the population, `None` for quantities.
    pub events: Option<usize>,
    /// Event rate (binary) or median mL (blood loss) in the population: the cohort baseline.
    pub baseline: f64,
    pub synthetic: bool,
}

/// `<outcome>/manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    pub format: u32,
    pub outcome: String,
    /// `<outcome>@<first 12 hex of the SHA-256 of the primary model file>`.
    pub version: String,
    pub kind: crate::outcomes::OutcomeKind,
    pub definition: String,
    pub population: String,
    /// Model input names in order (dictionary inputs then derived features).
    pub features: Vec<String>,
    pub categorical_features: Vec<usize>,
    pub seed: u64,
    pub files: Vec<ModelFile>,
    pub training: TrainingSummary,
    /// Map from raw score to calibrated probability (binary outcomes only).
    pub calibration: Option<Calibration>,
    /// Risk bands on the calibrated probability (binary) or on the median mL (blood loss).
    pub risk_bands: Vec<RiskBand>,
    /// Validation metrics from training (held-out split, leave-one-site-out).
    pub metrics: serde_json::Value,
}

impl ModelManifest {
    /// The file with the given role.
    pub fn file(&self, role: ModelRole) -> Option<&ModelFile> {
        self.files.iter().find(|f| f.role == role)
    }
}

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
