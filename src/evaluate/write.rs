//! Writes a report directory: `metrics.json`, `README.md`, `cards/<outcome>.md` and
//! `plots/<outcome>_reliability.svg`.

use std::path::{Path, PathBuf};

use super::card::model_card;
use super::error::EvaluateError;
use super::index::{card_path, plot_path, readme};
use super::report::{OutcomeMetrics, Report};
use super::svg::reliability_svg;

/// Writes every file of the report under `out` (created if needed) and returns their paths.
///
/// # Errors
/// When a directory or file cannot be written.
pub fn write_report(report: &Report, out: &Path) -> Result<Vec<PathBuf>, EvaluateError> {
    for dir in [out.to_path_buf(), out.join("cards"), out.join("plots")] {
        std::fs::create_dir_all(&dir).map_err(|source| EvaluateError::Write {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let mut written = Vec::new();
    let mut json = serde_json::to_string_pretty(report)?;
    json.push('\n');
    put(out, "metrics.json", &json, &mut written)?;
    for o in &report.outcomes {
        let plot = match &o.metrics {
            OutcomeMetrics::Probability(m) => {
                let rel = plot_path(&o.outcome);
                put(
                    out,
                    &rel,
                    &reliability_svg(&o.outcome, o.model_version(), m, report.synthetic()),
                    &mut written,
                )?;
                Some(format!("../{rel}"))
            }
            OutcomeMetrics::Quantity(_) => None,
        };
        put(
            out,
            &card_path(&o.outcome),
            &model_card(report, o, plot.as_deref()),
            &mut written,
        )?;
    }
    put(out, "README.md", &readme(report), &mut written)?;
    Ok(written)
}

fn put(
    out: &Path,
    relative: &str,
    content: &str,
    written: &mut Vec<PathBuf>,
) -> Result<(), EvaluateError> {
    let path = out.join(relative);
    std::fs::write(&path, content).map_err(|source| EvaluateError::Write {
        path: path.display().to_string(),
        source,
    })?;
    written.push(path);
    Ok(())
}
