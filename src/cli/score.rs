//! `periop score --models DIR --input patients.csv --output scored.csv [--explain]`: batch
//! scoring of a patient CSV with the assessment service's validation and numbers. A bad row does
//! not stop the batch: it is written with an `error` column naming each field and constraint.

use std::path::PathBuf;

use anyhow::Context;
use rayon::prelude::*;

use crate::dataset::PatientColumns;
use crate::model::ensemble::ModelSet;
use crate::outcomes::{Outcome, OutcomeKind};
use crate::service::{predict_jobs, PatientJob, PredictionView, Status};

/// Rows per model call (each chunk runs every model once, chunks run on all cores).
const CHUNK: usize = 256;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model set directory, e.g. models/default.
    #[arg(long)]
    pub models: PathBuf,
    /// Patient CSV: dictionary columns (other columns are copied through and otherwise ignored).
    #[arg(long)]
    pub input: PathBuf,
    /// Output CSV: the input columns, then per outcome its numbers, band and status, then
    /// model_set_version and error.
    #[arg(long)]
    pub output: PathBuf,
    /// Add `<outcome>_top_contributors` (plain-language TreeSHAP summary) per outcome.
    #[arg(long)]
    pub explain: bool,
}

/// Scores every row; invalid rows get an error and no numbers.
///
/// # Errors
/// Unloadable model set, unreadable or syntactically broken CSV, missing required columns, or an
/// output file that cannot be written.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let models = ModelSet::load(&args.models)
        .with_context(|| format!("loading model set {}", args.models.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("reading the header of {}", args.input.display()))?
        .clone();
    let columns = PatientColumns::from_headers(&headers).map_err(|missing| {
        anyhow::anyhow!(
            "{}: missing required column(s): {}",
            args.input.display(),
            missing.join(", ")
        )
    })?;
    for name in &columns.ignored {
        eprintln!("warning: column {name} is not in the feature dictionary: copied, not used");
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record =
            record.with_context(|| format!("{}: data row {}", args.input.display(), i + 1))?;
        rows.push(record);
    }
    let outcomes: Vec<Outcome> = Outcome::ALL
        .into_iter()
        .filter(|o| models.outcome_model(*o).is_some())
        .collect();
    // Validate every row: a job, or the row's error message.
    let parsed: Vec<Result<PatientJob, String>> = rows
        .iter()
        .map(|row| {
            if row.len() != headers.len() {
                return Err(format!(
                    "row has {} fields, the header has {}",
                    row.len(),
                    headers.len()
                ));
            }
            columns
                .patient(row)
                .map(|patient| PatientJob {
                    patient,
                    outcomes: outcomes.clone(),
                    explain: args.explain,
                })
                .map_err(|e| e.to_string())
        })
        .collect();
    let jobs: Vec<PatientJob> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
    let bar = super::progress::bar("rows");
    bar.set_length(jobs.len() as u64);
    let chunks: Vec<Vec<Vec<PredictionView>>> = jobs
        .par_chunks(CHUNK)
        .map(|chunk| {
            let views = predict_jobs(&models, chunk);
            bar.inc(chunk.len() as u64);
            views
        })
        .collect::<Result<_, _>>()
        .context("scoring")?;
    bar.finish_and_clear();
    let mut predictions = chunks.into_iter().flatten();

    let mut writer = csv::Writer::from_path(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut header: Vec<String> = headers.iter().map(str::to_string).collect();
    for o in &outcomes {
        header.extend(outcome_columns(*o, args.explain));
    }
    header.push("model_set_version".to_string());
    header.push("error".to_string());
    writer.write_record(&header)?;
    let version = models.set_manifest().version.clone();
    let (mut scored, mut failed) = (0usize, 0usize);
    for (row, parsed) in rows.iter().zip(&parsed) {
        let mut out: Vec<String> = (0..headers.len())
            .map(|c| row.get(c).unwrap_or("").to_string())
            .collect();
        match parsed {
            Ok(_) => {
                let views = predictions.next().unwrap_or_default();
                for o in &outcomes {
                    let view = views.iter().find(|v| v.outcome == o.id());
                    out.extend(outcome_cells(*o, view, args.explain));
                }
                out.push(version.clone());
                out.push(String::new());
                scored += 1;
            }
            Err(message) => {
                for o in &outcomes {
                    out.extend(
                        outcome_columns(*o, args.explain)
                            .iter()
                            .map(|_| String::new()),
                    );
                }
                out.push(version.clone());
                out.push(message.clone());
                failed += 1;
            }
        }
        writer.write_record(&out)?;
    }
    writer
        .flush()
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "scored {scored} row(s), {failed} row(s) with errors → {}",
        args.output.display()
    );
    Ok(())
}

/// The output columns of one outcome.
fn outcome_columns(outcome: Outcome, explain: bool) -> Vec<String> {
    let id = outcome.id();
    let mut columns: Vec<String> = match outcome.kind() {
        OutcomeKind::Probability => vec![format!("{id}_probability")],
        OutcomeKind::Quantity => vec![
            format!("{id}_median_ml"),
            format!("{id}_p10_ml"),
            format!("{id}_p90_ml"),
        ],
    };
    columns.push(format!("{id}_risk_band"));
    columns.push(format!("{id}_status"));
    if explain {
        columns.push(format!("{id}_top_contributors"));
    }
    columns
}

/// The cells of one outcome, matching [`outcome_columns`]; numbers in shortest round-trip form.
fn outcome_cells(outcome: Outcome, view: Option<&PredictionView>, explain: bool) -> Vec<String> {
    let num = |x: Option<f64>| x.map_or_else(String::new, |x| x.to_string());
    let mut cells = match outcome.kind() {
        OutcomeKind::Probability => vec![num(view.and_then(|v| v.probability))],
        OutcomeKind::Quantity => {
            let q = view.and_then(|v| v.quantity.as_ref());
            vec![
                num(q.map(|q| q.median)),
                num(q.map(|q| q.p10)),
                num(q.map(|q| q.p90)),
            ]
        }
    };
    cells.push(view.and_then(|v| v.risk_band.clone()).unwrap_or_default());
    cells.push(
        match view.map(|v| v.status) {
            Some(Status::Ok) => "ok",
            Some(Status::NotApplicable) => "not_applicable",
            None => "",
        }
        .to_string(),
    );
    if explain {
        cells.push(
            view.and_then(|v| v.explanation.as_ref())
                .map(|e| e.summary.clone())
                .unwrap_or_default(),
        );
    }
    cells
}
