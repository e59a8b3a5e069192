//! Loading a model set directory: `model_set.json` → each outcome's `manifest.json` → its
//! LightGBM text model files. Every file is checked against the SHA-256 recorded by its parent
//! (the set lists manifest hashes, a manifest lists model-file hashes) before it is parsed, so a
//! missing, tampered or swapped file is refused with an error naming it. Manifests are then
//! checked against this build of periop (feature list) and against the model files they describe
//! (tree count, objective, categorical features). The training distribution, when the set lists
//! it, is verified the same way and checked against the dictionary and the recorded training data.

use std::path::{Component, Path, PathBuf};

use crate::features::model_input::model_feature_names;
use crate::outcomes::Outcome;

use super::ensemble::{required_roles, ModelSet, OutcomeModel};
use super::error::ModelError;
use super::manifest::{
    sha256_hex, ModelFile, ModelManifest, ModelRole, ModelSetManifest, MANIFEST_FORMAT,
};
use super::native::{ColumnKind, NativeModel};
use super::training_distribution::TrainingDistribution;

/// Loads and verifies the set at `dir` (see the module doc).
pub(super) fn load(dir: &Path) -> Result<ModelSet, ModelError> {
    let set_path = dir.join("model_set.json");
    let set: ModelSetManifest = parse_json(&set_path, &read(&set_path)?)?;
    if set.format != MANIFEST_FORMAT {
        return Err(invalid(
            &set_path,
            format!(
                "format {} is not supported (expected {MANIFEST_FORMAT})",
                set.format
            ),
        ));
    }
    let distribution = load_distribution(dir, &set, &set_path)?;
    let fhir_mapping = match &set.fhir_mapping {
        Some(file) => {
            let path = join_inside(dir, &file.file, &set_path)?;
            Some(read_verified(&path, &file.sha256)?)
        }
        None => None,
    };
    let mut outcomes: Vec<OutcomeModel> = Vec::with_capacity(set.outcomes.len());
    for entry in &set.outcomes {
        let outcome = Outcome::from_id(&entry.outcome)
            .ok_or_else(|| invalid(&set_path, format!("unknown outcome `{}`", entry.outcome)))?;
        if outcomes.iter().any(|m| m.outcome() == outcome) {
            return Err(invalid(
                &set_path,
                format!("outcome `{}` is listed twice", entry.outcome),
            ));
        }
        let manifest_path = join_inside(dir, &entry.manifest, &set_path)?;
        let manifest: ModelManifest = parse_json(
            &manifest_path,
            &read_verified(&manifest_path, &entry.manifest_sha256)?,
        )?;
        check_manifest(&manifest, outcome, &manifest_path)?;
        let outcome_dir = manifest_path.parent().unwrap_or(dir);
        let mut models = Vec::new();
        for &role in required_roles(outcome.kind()) {
            let file = manifest.file(role).ok_or_else(|| {
                invalid(&manifest_path, format!("no model file with role {role:?}"))
            })?;
            let path = join_inside(outcome_dir, &file.path, &manifest_path)?;
            let bytes = read_verified(&path, &file.sha256)?;
            let text = std::str::from_utf8(&bytes).map_err(|e| ModelError::Parse {
                path: path.clone(),
                line: 0,
                reason: format!("not UTF-8: {e}"),
            })?;
            let model = NativeModel::from_text(text).map_err(|e| ModelError::Parse {
                path: path.clone(),
                line: e.line,
                reason: e.reason,
            })?;
            check_model(&model, file, &manifest, &path)?;
            models.push((role, model));
        }
        outcomes.push(OutcomeModel::new(outcome, manifest, models));
    }
    Ok(ModelSet::from_parts(
        dir.to_path_buf(),
        set,
        outcomes,
        distribution,
        fhir_mapping,
    ))
}

/// The set's training distribution, if it lists one: hash-verified, parsed, consistent with the
/// dictionary and with the set's `training_data`.
fn load_distribution(
    dir: &Path,
    set: &ModelSetManifest,
    set_path: &Path,
) -> Result<Option<TrainingDistribution>, ModelError> {
    let Some(file) = &set.training_distribution else {
        return Ok(None);
    };
    let path = join_inside(dir, &file.file, set_path)?;
    let distribution: TrainingDistribution =
        parse_json(&path, &read_verified(&path, &file.sha256)?)?;
    distribution
        .check()
        .map_err(|reason| invalid(&path, reason))?;
    let data = &set.training_data;
    if !distribution
        .training_data_sha256
        .eq_ignore_ascii_case(&data.sha256)
        || distribution.rows != data.rows
    {
        return Err(invalid(
            &path,
            format!(
                "describes {} rows of data with SHA-256 {}, but the set was trained on {} rows \
                 with SHA-256 {}",
                distribution.rows, distribution.training_data_sha256, data.rows, data.sha256
            ),
        ));
    }
    Ok(Some(distribution))
}

fn invalid(path: &Path, reason: String) -> ModelError {
    ModelError::InvalidManifest {
        path: path.to_path_buf(),
        reason,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ModelError::MissingFile {
            path: path.to_path_buf(),
        },
        _ => ModelError::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Reads a file and checks its SHA-256 against the recorded one.
fn read_verified(path: &Path, expected: &str) -> Result<Vec<u8>, ModelError> {
    let bytes = read(path)?;
    let actual = sha256_hex(&bytes);
    if !actual.eq_ignore_ascii_case(expected.trim()) {
        return Err(ModelError::HashMismatch {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, ModelError> {
    serde_json::from_slice(bytes).map_err(|source| ModelError::Manifest {
        path: path.to_path_buf(),
        source,
    })
}

/// `base/rel`, refusing absolute paths and `..` so a manifest cannot point outside the set.
fn join_inside(base: &Path, rel: &str, referrer: &Path) -> Result<PathBuf, ModelError> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(invalid(
            referrer,
            format!("path `{rel}` must be relative and stay inside the model set"),
        ));
    }
    Ok(base.join(p))
}

fn check_manifest(m: &ModelManifest, outcome: Outcome, path: &Path) -> Result<(), ModelError> {
    if m.format != MANIFEST_FORMAT {
        return Err(invalid(
            path,
            format!(
                "format {} is not supported (expected {MANIFEST_FORMAT})",
                m.format
            ),
        ));
    }
    if m.outcome != outcome.id() {
        return Err(invalid(
            path,
            format!(
                "manifest is for `{}` but model_set.json lists it as `{}`",
                m.outcome,
                outcome.id()
            ),
        ));
    }
    if m.kind != outcome.kind() {
        return Err(invalid(
            path,
            format!(
                "kind {:?} does not match outcome {} ({:?})",
                m.kind,
                outcome.id(),
                outcome.kind()
            ),
        ));
    }
    let roles = required_roles(outcome.kind());
    if let Some(extra) = m.files.iter().find(|f| !roles.contains(&f.role)) {
        return Err(invalid(
            path,
            format!(
                "unexpected model file role {:?} for a {:?} outcome",
                extra.role,
                outcome.kind()
            ),
        ));
    }
    for role in roles {
        if m.files.iter().filter(|f| f.role == *role).count() > 1 {
            return Err(invalid(
                path,
                format!("model file role {role:?} is listed twice"),
            ));
        }
    }
    let expected = model_feature_names();
    if let Some(detail) = feature_mismatch(&m.features, &expected) {
        return Err(ModelError::FeatureMismatch {
            path: path.to_path_buf(),
            detail,
        });
    }
    if let Some(&bad) = m
        .categorical_features
        .iter()
        .find(|&&i| i >= expected.len())
    {
        return Err(invalid(
            path,
            format!(
                "categorical feature index {bad} is out of range ({} features)",
                expected.len()
            ),
        ));
    }
    Ok(())
}

/// `None` when the manifest's features are exactly `expected`, else what differs.
pub(super) fn feature_mismatch(manifest: &[String], expected: &[&str]) -> Option<String> {
    if manifest
        .iter()
        .map(String::as_str)
        .eq(expected.iter().copied())
    {
        return None;
    }
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|e| !manifest.iter().any(|m| m == e))
        .collect();
    let unknown: Vec<&str> = manifest
        .iter()
        .map(String::as_str)
        .filter(|m| !expected.contains(m))
        .collect();
    let mut detail = format!(
        "the manifest lists {} features, this build of periop uses {}",
        manifest.len(),
        expected.len()
    );
    if !missing.is_empty() {
        detail += &format!("; not in the manifest: {}", missing.join(", "));
    }
    if !unknown.is_empty() {
        detail += &format!("; unknown to this build: {}", unknown.join(", "));
    }
    if missing.is_empty() && unknown.is_empty() {
        if let Some((i, (m, e))) = manifest
            .iter()
            .zip(expected)
            .enumerate()
            .find(|(_, (m, e))| m != *e)
        {
            detail += &format!(
                "; same names in a different order (position {i}: manifest `{m}`, expected `{e}`)"
            );
        } else {
            detail += "; a feature is listed twice";
        }
    }
    Some(detail)
}

/// The parsed model agrees with its manifest entry.
fn check_model(
    model: &NativeModel,
    file: &ModelFile,
    m: &ModelManifest,
    path: &Path,
) -> Result<(), ModelError> {
    let mismatch = |reason: String| {
        Err(ModelError::ModelMismatch {
            path: path.to_path_buf(),
            reason,
        })
    };
    if model.n_features() != m.features.len() {
        return mismatch(format!(
            "the model has {} input columns, the manifest lists {} features",
            model.n_features(),
            m.features.len()
        ));
    }
    if model.num_trees() != file.num_trees {
        return mismatch(format!(
            "the model has {} trees, the manifest says {}",
            model.num_trees(),
            file.num_trees
        ));
    }
    let objective = model.objective().unwrap_or("none");
    let name = model.objective_name().unwrap_or("none");
    let fits = match file.role {
        ModelRole::Probability => name == "binary",
        ModelRole::Median => {
            matches!(
                name,
                "regression" | "regression_l1" | "huber" | "fair" | "quantile"
            ) && !objective.contains("sqrt")
        }
        ModelRole::P10 | ModelRole::P90 => name == "quantile",
    };
    if !fits {
        return mismatch(format!(
            "objective `{objective}` cannot produce a {:?} score",
            file.role
        ));
    }
    let names = model.feature_names();
    let default_names = names
        .iter()
        .enumerate()
        .all(|(i, n)| *n == format!("Column_{i}"));
    if !names.is_empty() && !default_names && !names.iter().eq(m.features.iter()) {
        return mismatch(
            "the model's feature names differ from the manifest's features".to_string(),
        );
    }
    for (i, kind) in model.column_kinds().iter().enumerate() {
        let declared = m.categorical_features.contains(&i);
        let feature = &m.features[i];
        match kind {
            ColumnKind::Categorical if !declared => {
                return mismatch(format!("feature `{feature}` is categorical in the model but not in the manifest's categorical_features"));
            }
            ColumnKind::Numerical if declared => {
                return mismatch(format!(
                    "feature `{feature}` is declared categorical but LightGBM treated it as numerical \
                     (categorical_feature must be set when the LightGBM Dataset is constructed)"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn feature_mismatch_names_missing_unknown_and_reordered_features() {
        let expected = ["age", "bmi", "asa"];
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(feature_mismatch(&s(&expected), &expected), None);
        let d = feature_mismatch(&s(&["age", "bmi"]), &expected).unwrap();
        assert!(d.contains("not in the manifest: asa"), "{d}");
        let d = feature_mismatch(&s(&["age", "bmi", "asa", "zzz"]), &expected).unwrap();
        assert!(d.contains("unknown to this build: zzz"), "{d}");
        let d = feature_mismatch(&s(&["bmi", "age", "asa"]), &expected).unwrap();
        assert!(d.contains("position 0"), "{d}");
    }

    #[test]
    fn paths_must_stay_inside_the_set() {
        let base = Path::new("/sets/default");
        assert!(join_inside(base, "dvt/manifest.json", base).is_ok());
        for bad in ["../x", "/etc/passwd", "", "a/../../b"] {
            assert!(
                matches!(
                    join_inside(base, bad, base),
                    Err(ModelError::InvalidManifest { .. })
                ),
                "{bad}"
            );
        }
    }
}
