//! Recording a model set's training distribution (`training_distribution.json`): `periop train`
//! writes it with the set, and `periop models describe-training` adds it to a set trained before
//! it was recorded, from the same data file: refused unless the file's SHA-256 is the one the set
//! records, so the distribution always describes the rows the models were trained on.

use std::path::Path;

use crate::dataset::Dataset;
use crate::model::ensemble::ModelSet;
use crate::model::error::ModelError;
use crate::model::manifest::{sha256_hex, FileRef, ModelSetManifest};
use crate::model::training_distribution::{
    DistributionError, TrainingDistribution, TRAINING_DISTRIBUTION_FILE,
};

use super::TrainError;

/// Why a training distribution could not be added to a set.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    /// The model set does not load (missing, tampered or inconsistent file).
    #[error("the model set does not load: {0}")]
    Set(#[from] ModelError),
    /// The data file is not the one the set was trained on.
    #[error(
        "the data file has SHA-256 {actual}, but model_set.json records training_data.sha256 \
         {expected} ({file}): the distribution must describe the data the set was trained on"
    )]
    OtherData {
        expected: String,
        actual: String,
        file: String,
    },
    /// The data has the recorded hash but not the recorded row count (a corrupt manifest).
    #[error(
        "the data file has {actual} rows, model_set.json records training_data.rows {expected}"
    )]
    OtherRows { expected: usize, actual: usize },
    #[error(transparent)]
    Distribution(#[from] DistributionError),
    /// Writing `training_distribution.json` or `model_set.json` failed.
    #[error(transparent)]
    Write(#[from] TrainError),
}

/// Loads (and so verifies) the set at `set_dir` and checks that `data_sha256` is its training
/// data's hash: cheap enough to run before the data file is parsed.
///
/// # Errors
/// [`DescribeError::Set`] when the set does not load, [`DescribeError::OtherData`] on another hash.
pub fn check_training_data(
    set_dir: &Path,
    data_sha256: &str,
) -> Result<ModelSetManifest, DescribeError> {
    let set = ModelSet::load(set_dir)?.set_manifest().clone();
    let recorded = &set.training_data;
    if !recorded.sha256.eq_ignore_ascii_case(data_sha256.trim()) {
        return Err(DescribeError::OtherData {
            expected: recorded.sha256.clone(),
            actual: data_sha256.to_string(),
            file: recorded.file.clone(),
        });
    }
    Ok(set)
}

/// Computes the distribution of `data` (whose file has SHA-256 `data_sha256`), writes
/// `training_distribution.json` into the set and lists it in `model_set.json` (replacing an earlier
/// entry). The set's version is unchanged: it hashes the outcome manifests only.
///
/// # Errors
/// As [`check_training_data`]; a row count other than the recorded one; an unwritable file.
pub fn describe_training(
    set_dir: &Path,
    data: &Dataset,
    data_sha256: &str,
) -> Result<FileRef, DescribeError> {
    let mut set = check_training_data(set_dir, data_sha256)?;
    if data.records.len() != set.training_data.rows {
        return Err(DescribeError::OtherRows {
            expected: set.training_data.rows,
            actual: data.records.len(),
        });
    }
    let distribution = TrainingDistribution::compute(
        data.records.iter().map(|r| &r.patient),
        &set.training_data.sha256,
    )?;
    let file = write_distribution(set_dir, &distribution)?;
    set.training_distribution = Some(file.clone());
    // Written aside and renamed, so an interrupted run leaves the old model_set.json in place.
    let path = set_dir.join("model_set.json");
    let aside = set_dir.join("model_set.json.tmp");
    super::write(&aside, super::pretty(&set).as_bytes())?;
    std::fs::rename(&aside, &path).map_err(|source| TrainError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(file)
}

/// Writes `training_distribution.json` at the top of `set_dir`; its entry for `model_set.json`.
pub(super) fn write_distribution(
    set_dir: &Path,
    distribution: &TrainingDistribution,
) -> Result<FileRef, TrainError> {
    let text = distribution.to_file_text();
    super::write(&set_dir.join(TRAINING_DISTRIBUTION_FILE), text.as_bytes())?;
    Ok(FileRef {
        file: TRAINING_DISTRIBUTION_FILE.to_string(),
        sha256: sha256_hex(text.as_bytes()),
    })
}
