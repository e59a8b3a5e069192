//! Writing a recalibrated model set: a new set directory with the source set's files copied byte
//! for byte (trees, training distribution, FHIR mapping, rules, the manifests of outcomes not
//! recalibrated), new `manifest.json` files for the recalibrated outcomes (new calibration map,
//! the before/after figures under `metrics.recalibration`, their own SHA-256), a new
//! `model_set.json` (new hashes, hence a new set version, and where it came from) and the
//! model-card section `RECALIBRATION.md`.
//!
//! The set is written into a hidden sibling directory, loaded back with [`ModelSet::load`]
//! (every hash verified) and only then renamed to the requested name, so a failed run leaves no
//! half-written set under that name.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use super::ensemble::ModelSet;
use super::error::ModelError;
use super::manifest::{sha256_hex, ModelSetManifest, SetRecalibration};
use super::recalibration::CalibrationFigures;
pub use super::recalibration::RecalibratedOutcome;

/// The card section's file name in a recalibrated set.
pub const CARD_FILE: &str = "RECALIBRATION.md";

/// Where the local outcomes came from (recorded in `model_set.json` and the card).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSource {
    pub site: Option<String>,
    pub window: Option<String>,
    /// File name (no directories) or [`AUDIT_STORE_SOURCE`].
    pub source: String,
    pub source_sha256: Option<String>,
    /// How each outcome's rows were drawn from the audit store (empty for a cohort file);
    /// recorded in the outcome's manifest (`metrics.recalibration.local_rows`) and the card.
    pub store_rows: Vec<StoreRowCounts>,
}

/// [`LocalSource::source`] of outcomes recorded in the audit store.
pub const AUDIT_STORE_SOURCE: &str = "audit store";

/// How one outcome's local rows were drawn from the audit store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreRowCounts {
    /// Outcome id.
    pub outcome: String,
    /// Rows used: stored assessments that predicted the outcome (status `ok`) with a recorded
    /// outcome and a stored patient that still parses.
    pub rows: usize,
    /// Their events (recorded value 1).
    pub events: usize,
    /// Stored assessments that predicted the outcome but have no recorded outcome (not used).
    pub without_outcome: u64,
    /// Stored records that do not parse (not used; should be 0).
    pub unreadable_records: u64,
    /// Assessments with a recorded outcome whose stored normalised patient no longer parses
    /// (not used; should be 0).
    pub unparseable_patients: u64,
    /// The rows by the model that answered them; the raw score of every row is recomputed by
    /// the set being recalibrated.
    pub answered_by: Vec<AnsweringVersion>,
}

/// Rows answered by one model version of one set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnsweringVersion {
    /// Version of the set that answered.
    pub model_set_version: String,
    /// Version of the outcome's model that answered.
    pub model_version: String,
    /// Rows it answered.
    pub rows: usize,
    /// `true` when it is the set being recalibrated: each of these rows' recomputed
    /// probability was checked against the stored one (within 1e-9).
    pub checked: bool,
}

/// Why a recalibrated set could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteSetError {
    /// The output exists and is not an empty directory.
    #[error("output {} exists and is not an empty directory; choose a new directory (sets are never overwritten)", path.display())]
    OutputExists { path: PathBuf },
    /// The output has no directory name to use as the set id.
    #[error("output {} has no directory name to use as the set id", path.display())]
    NoName { path: PathBuf },
    /// No outcome to recalibrate.
    #[error("no outcome was recalibrated: nothing to write")]
    Nothing,
    /// The source set does not list a manifest for a recalibrated outcome.
    #[error("the source set lists no manifest for {outcome}")]
    NotInSet { outcome: &'static str },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The written set does not load (it was removed again).
    #[error("the written set does not verify: {0}")]
    Verify(#[from] ModelError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteSetError + '_ {
    move |source| WriteSetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the recalibrated set to `out` (see the module doc) and returns it loaded and verified.
///
/// # Errors
/// An existing non-empty output, an unreadable source file, an unwritable output, or a written
/// set that fails verification.
pub fn write_recalibrated_set(
    set: &ModelSet,
    outcomes: &[RecalibratedOutcome],
    source: &LocalSource,
    out: &Path,
) -> Result<ModelSet, WriteSetError> {
    if outcomes.is_empty() {
        return Err(WriteSetError::Nothing);
    }
    if out.exists() {
        let empty = out.is_dir() && std::fs::read_dir(out).map_err(io(out))?.next().is_none();
        if !empty {
            return Err(WriteSetError::OutputExists {
                path: out.to_path_buf(),
            });
        }
    }
    let id = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| WriteSetError::NoName {
            path: out.to_path_buf(),
        })?;
    let files = list_files(set.dir())?;
    let partial = out.with_file_name(format!(".{id}.partial-{}", uuid::Uuid::new_v4()));
    let result = write_into(set, outcomes, source, &id, &files, &partial).and_then(|()| {
        if out.exists() {
            std::fs::remove_dir(out).map_err(io(out))?;
        }
        std::fs::rename(&partial, out).map_err(io(out))?;
        Ok(ModelSet::load(out)?)
    });
    if result.is_err() && partial.exists() {
        // Our own scratch directory: never a set anyone has seen under its name.
        let _ = std::fs::remove_dir_all(&partial);
    }
    result
}

/// The new `model_set.json` (without its id) and the new outcome manifests `(path in the set,
/// text)`: everything the new version is computed from.
fn plan(
    set: &ModelSet,
    outcomes: &[RecalibratedOutcome],
    source: &LocalSource,
) -> Result<(ModelSetManifest, Vec<(String, String)>), WriteSetError> {
    let mut manifest = set.set_manifest().clone();
    let mut texts = Vec::new();
    for r in outcomes {
        let entry = manifest
            .outcomes
            .iter_mut()
            .find(|e| e.outcome == r.outcome.id())
            .ok_or(WriteSetError::NotInSet {
                outcome: r.outcome.id(),
            })?;
        let mut m = set
            .manifest(r.outcome)
            .ok_or(WriteSetError::NotInSet {
                outcome: r.outcome.id(),
            })?
            .clone();
        m.calibration = Some(r.calibration.clone());
        if !m.metrics.is_object() {
            m.metrics = json!({ "training": m.metrics });
        }
        let mut recalibration = json!({
            "from_version": set.set_manifest().version,
            "site": source.site,
            "window": source.window,
            "source": source.source,
            "result": r.report,
        });
        if let Some(rows) = source
            .store_rows
            .iter()
            .find(|c| c.outcome == r.outcome.id())
        {
            recalibration["local_rows"] = json!(rows);
        }
        m.metrics["recalibration"] = recalibration;
        let text = pretty(&m);
        entry.manifest_sha256 = sha256_hex(text.as_bytes());
        texts.push((entry.manifest.clone(), text));
    }
    let all_hashes: String = manifest
        .outcomes
        .iter()
        .map(|e| e.manifest_sha256.as_str())
        .collect();
    let from = set.set_manifest();
    manifest.recalibration = Some(SetRecalibration {
        from_id: from.id.clone(),
        from_version: from.version.clone(),
        site: source.site.clone(),
        window: source.window.clone(),
        source: source.source.clone(),
        source_sha256: source.source_sha256.clone(),
        outcomes: outcomes
            .iter()
            .map(|r| r.outcome.id().to_string())
            .collect(),
    });
    manifest.periop_version = env!("CARGO_PKG_VERSION").to_string();
    manifest.version = format!(
        "{}+{}",
        env!("CARGO_PKG_VERSION"),
        &sha256_hex(all_hashes.as_bytes())[..12]
    );
    Ok((manifest, texts))
}

/// The version the set recalibrated with `outcomes` from `source` will have once written (it
/// does not depend on the set's id or directory), e.g. to name its directory.
///
/// # Errors
/// [`WriteSetError::Nothing`] or [`WriteSetError::NotInSet`].
pub fn recalibrated_version(
    set: &ModelSet,
    outcomes: &[RecalibratedOutcome],
    source: &LocalSource,
) -> Result<String, WriteSetError> {
    if outcomes.is_empty() {
        return Err(WriteSetError::Nothing);
    }
    Ok(plan(set, outcomes, source)?.0.version)
}

fn write_into(
    set: &ModelSet,
    outcomes: &[RecalibratedOutcome],
    source: &LocalSource,
    id: &str,
    files: &[PathBuf],
    dir: &Path,
) -> Result<(), WriteSetError> {
    for rel in files {
        let to = dir.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(set.dir().join(rel), &to).map_err(io(&to))?;
    }
    let (mut manifest, texts) = plan(set, outcomes, source)?;
    for (rel, text) in &texts {
        let path = dir.join(rel);
        std::fs::write(&path, text.as_bytes()).map_err(io(&path))?;
    }
    manifest.id = id.to_string();
    let path = dir.join("model_set.json");
    std::fs::write(&path, pretty(&manifest).as_bytes()).map_err(io(&path))?;
    let path = dir.join(CARD_FILE);
    std::fs::write(&path, card_section(&manifest, outcomes, source)).map_err(io(&path))?;
    Ok(())
}

/// Every regular file under `dir`, relative to it, sorted. Hand-written (a dozen lines) rather
/// than adding a directory-walking crate for one call.
fn list_files(dir: &Path) -> Result<Vec<PathBuf>, WriteSetError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        for entry in std::fs::read_dir(&abs).map_err(io(&abs))? {
            let entry = entry.map_err(io(&abs))?;
            let kind = entry.file_type().map_err(io(&abs))?;
            let child = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

fn with_ci(v: Option<f64>, ci: Option<(f64, f64)>) -> String {
    match ci {
        Some((lo, hi)) => format!("{} ({lo:.3} to {hi:.3})", num(v)),
        None => num(v),
    }
}

fn figures_row(label: &str, f: &CalibrationFigures) -> String {
    format!(
        "| {label} | {} | {} | {:.4} | {} | {:.4} | {:.4} |",
        with_ci(f.intercept, f.intercept_ci),
        with_ci(f.slope, f.slope_ci),
        f.brier,
        num(f.auc),
        f.mean_predicted,
        f.observed_rate
    )
}

/// The before/after table of every recalibrated outcome (Markdown; also printed by the CLI).
pub fn before_after_table(outcomes: &[RecalibratedOutcome]) -> String {
    let mut s = String::from(
        "| outcome | map | intercept (95 % CI) | slope (95 % CI) | Brier | AUC | mean predicted | observed |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in outcomes {
        let o = &r.report.outcome;
        s += &format!("| {o} {}\n", figures_row("before", &r.report.before));
        s += &format!("| {o} {}\n", figures_row("after", &r.report.after));
    }
    s
}

/// How the rows were drawn from the audit store (Markdown; also printed by the CLI).
pub fn store_rows_table(counts: &[StoreRowCounts]) -> String {
    let mut s = String::from(
        "Rows drawn from the audit store: stored assessments that predicted the outcome, with \
         their current recorded outcome; every raw score recomputed by the source set from the \
         stored normalised patient.\n\n\
         | outcome | rows used (events) | without outcome | unreadable records | patients that no longer parse | answered by (rows; checked = probability reproduced) |\n\
         |---|---|---|---|---|---|\n",
    );
    for c in counts {
        let by: Vec<String> = c
            .answered_by
            .iter()
            .map(|a| {
                format!(
                    "{} / {} ({}{})",
                    a.model_set_version,
                    a.model_version,
                    a.rows,
                    if a.checked { "; checked" } else { "" }
                )
            })
            .collect();
        s += &format!(
            "| {} | {} ({}) | {} | {} | {} | {} |\n",
            c.outcome,
            c.rows,
            c.events,
            c.without_outcome,
            c.unreadable_records,
            c.unparseable_patients,
            if by.is_empty() {
                "none".to_string()
            } else {
                by.join(", ")
            }
        );
    }
    s += "\n";
    s
}

/// The model-card section `RECALIBRATION.md`.
pub fn card_section(
    set: &ModelSetManifest,
    outcomes: &[RecalibratedOutcome],
    source: &LocalSource,
) -> String {
    let n: usize = outcomes.iter().map(|r| r.report.rows).sum();
    let site = source.site.as_deref().unwrap_or("all sites");
    let window = source.window.as_deref().unwrap_or("not stated");
    let from = set.recalibration.as_ref();
    let recorded = if source.store_rows.is_empty() {
        String::new()
    } else {
        " recorded in the audit store".to_string()
    };
    let mut s = format!(
        "# Model set {} ({})\n\n## Recalibrated on {n} local outcomes{recorded} (site {site}, window {window})\n\n",
        set.id, set.version
    );
    s += &format!(
        "Recalibrated from set {} ({}) on {} ({}). The trees, the explanations (TreeSHAP on the \
         raw log-odds scale), the training distribution, the FHIR mapping and the rules are the \
         source set's, byte for byte; only the calibration map of the outcomes below changed: \
         `p = σ(α + β·logit(p_before))`, fitted by maximum likelihood on the fitting rows. The \
         figures are on the held-out local rows, which the fit did not see. Every other outcome \
         (and blood loss, which has no calibration map) is unchanged.\n\n",
        from.map_or("?", |f| f.from_id.as_str()),
        from.map_or("?", |f| f.from_version.as_str()),
        source.source,
        source
            .source_sha256
            .as_deref()
            .map_or_else(|| "no file hash".to_string(), |h| format!("SHA-256 {h}")),
    );
    s += "| outcome | local rows (events) | fitting rows (events) | held out (events) | α | β |\n|---|---|---|---|---|---|\n";
    for r in outcomes {
        let p = &r.report;
        s += &format!(
            "| {} | {} ({}) | {} ({}) | {} ({}) | {:.3} | {:.3} |\n",
            p.outcome,
            p.rows,
            p.events,
            p.fit_rows,
            p.fit_events,
            p.before.rows,
            p.before.events,
            p.fitted_intercept,
            p.fitted_slope
        );
    }
    s += "\n";
    if !source.store_rows.is_empty() {
        s += &store_rows_table(&source.store_rows);
    }
    s += &before_after_table(outcomes);
    if let Some(first) = outcomes.first() {
        let st = &first.report.settings;
        s += &format!(
            "\nSettings: at least {} events and {} non-events among the fitting rows; {:.0} % of \
             each class held out (seed {}); {} bootstrap replicates for the CIs.\n",
            st.min_events,
            st.min_events,
            st.held_out_fraction * 100.0,
            st.seed,
            st.bootstrap_replicates
        );
    }
    s
}
