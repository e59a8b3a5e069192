//! `periop score --models DIR --input patients.csv --output scored.csv [--explain]
//! [--format csv|ndjson]`: batch scoring of a patient CSV through the assessment service, so each
//! row gets exactly the API's answer (predictions, recommendations of the model set's rule set,
//! warnings). The input is streamed in chunks (memory does not grow with the row count), each
//! chunk is answered on all cores, and rows are written in input order. A bad row does not stop
//! the batch: it is written with an `error` naming each field and constraint. Answers are not
//! recorded in an audit store: scoring is offline work on the caller's own file.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use rayon::prelude::*;
use serde_json::json;

use crate::dataset::PatientColumns;
use crate::features::FieldError;
use crate::model::ensemble::ModelSet;
use crate::outcomes::{Outcome, OutcomeKind};
use crate::service::{Assessment, Assessor, PatientJob, PredictionView, RuleSource, Status};

/// Rows read, answered and written per chunk (bounds memory: about 60 kB per explained answer).
const CHUNK_ROWS: usize = 1024;
/// Rows per model call inside a chunk (the chunk's slices run on all cores).
const SLICE_ROWS: usize = 128;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The input columns plus per outcome its numbers, band and status, then recommendations,
    /// warnings, versions and error.
    Csv,
    /// One JSON object per input row, in order: the full answer (as `POST /v1/assessments`
    /// returns it) or `{"row": N, "errors": [...]}`.
    Ndjson,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model set directory, e.g. models/default.
    #[arg(long)]
    pub models: PathBuf,
    /// Patient CSV: dictionary columns (other columns are copied through and otherwise ignored).
    #[arg(long)]
    pub input: PathBuf,
    /// Output file (CSV or NDJSON, see --format).
    #[arg(long)]
    pub output: PathBuf,
    /// Compute exact TreeSHAP explanations (CSV: `<outcome>_top_contributors`; NDJSON: the full
    /// explanation).
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
}

/// One input row's result.
enum RowResult {
    Answered(Box<Assessment>),
    Invalid(Vec<FieldError>),
    Malformed(String),
}

/// Scores every row; invalid rows get an error and no numbers.
///
/// # Errors
/// Unloadable model set or rule set, unreadable or syntactically broken CSV, missing required
/// columns, a model failure, or an output file that cannot be written.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let models = ModelSet::load(&args.models)
        .with_context(|| format!("loading model set {}", args.models.display()))?;
    let rules = if args.models.join("rules").join("manifest.json").is_file() {
        let rules = crate::rules::shipped::load(&args.models)
            .with_context(|| format!("loading the rule set of {}", args.models.display()))?;
        RuleSource::Fixed(Arc::new(rules))
    } else {
        eprintln!(
            "warning: {} has no rule set (rules/manifest.json): answers carry no recommendations",
            args.models.display()
        );
        RuleSource::Off
    };
    let assessor = Assessor::new(Arc::new(models), rules, None);
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
    let outcomes: Vec<Outcome> = Outcome::ALL
        .into_iter()
        .filter(|o| assessor.models().outcome_model(*o).is_some())
        .collect();
    let file = std::fs::File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let version = assessor.models().set_manifest().version.clone();
    let mut out = Output::new(args, &headers, &outcomes, file, version)?;
    let bar = super::progress::counter("rows");
    let (mut scored, mut failed, mut row_number) = (0usize, 0usize, 0usize);
    let mut records = reader.records();
    loop {
        let mut chunk = Vec::with_capacity(CHUNK_ROWS);
        for record in records.by_ref().take(CHUNK_ROWS) {
            row_number += 1;
            chunk.push(
                record
                    .with_context(|| format!("{}: data row {row_number}", args.input.display()))?,
            );
        }
        if chunk.is_empty() {
            break;
        }
        let results = answer_chunk(&assessor, &columns, headers.len(), &outcomes, args, &chunk)?;
        let first_row = row_number - chunk.len() + 1;
        for (i, (row, result)) in chunk.iter().zip(&results).enumerate() {
            match result {
                RowResult::Answered(_) => scored += 1,
                _ => failed += 1,
            }
            out.write(first_row + i, row, result)?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    out.finish()
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "scored {scored} row(s), {failed} row(s) with errors → {}",
        args.output.display()
    );
    Ok(())
}

/// Validates every row of a chunk and answers the valid ones on all cores, in order.
fn answer_chunk(
    assessor: &Assessor,
    columns: &PatientColumns,
    width: usize,
    outcomes: &[Outcome],
    args: &Args,
    chunk: &[csv::StringRecord],
) -> anyhow::Result<Vec<RowResult>> {
    let parsed: Vec<Result<PatientJob, RowResult>> = chunk
        .par_iter()
        .map(|row| {
            if row.len() != width {
                return Err(RowResult::Malformed(format!(
                    "row has {} fields, the header has {width}",
                    row.len()
                )));
            }
            columns
                .patient(row)
                .map(|patient| PatientJob::new(patient, outcomes.to_vec(), args.explain))
                .map_err(|e| RowResult::Invalid(e.errors))
        })
        .collect();
    let jobs: Vec<PatientJob> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let answers: Vec<Vec<Assessment>> = jobs
        .par_chunks(SLICE_ROWS)
        .map(|slice| assessor.answer(slice))
        .collect::<Result<_, _>>()
        .context("scoring")?;
    let mut answers = answers.into_iter().flatten();
    Ok(parsed
        .into_iter()
        .map(|p| match p {
            Ok(_) => answers.next().map_or_else(
                || RowResult::Malformed("no answer".into()),
                |a| RowResult::Answered(Box::new(a)),
            ),
            Err(e) => e,
        })
        .collect())
}

/// The output file in its format.
enum Output<'a> {
    Csv {
        writer: Box<csv::Writer<std::fs::File>>,
        width: usize,
        outcomes: &'a [Outcome],
        explain: bool,
        version: String,
    },
    Ndjson(std::io::BufWriter<std::fs::File>),
}

impl<'a> Output<'a> {
    fn new(
        args: &Args,
        headers: &csv::StringRecord,
        outcomes: &'a [Outcome],
        file: std::fs::File,
        version: String,
    ) -> anyhow::Result<Self> {
        Ok(match args.format {
            Format::Ndjson => Self::Ndjson(std::io::BufWriter::new(file)),
            Format::Csv => {
                let mut writer = Box::new(csv::Writer::from_writer(file));
                let mut header: Vec<String> = headers.iter().map(str::to_string).collect();
                for o in outcomes {
                    header.extend(outcome_columns(*o, args.explain));
                }
                header.extend(
                    [
                        "recommendations",
                        "warnings",
                        "model_set_version",
                        "rule_set_version",
                        "error",
                    ]
                    .map(str::to_string),
                );
                writer.write_record(&header)?;
                Self::Csv {
                    writer,
                    width: headers.len(),
                    outcomes,
                    explain: args.explain,
                    version,
                }
            }
        })
    }

    fn write(
        &mut self,
        row_number: usize,
        row: &csv::StringRecord,
        result: &RowResult,
    ) -> anyhow::Result<()> {
        match self {
            Self::Ndjson(w) => {
                match result {
                    RowResult::Answered(a) => serde_json::to_writer(&mut *w, a)?,
                    RowResult::Invalid(errors) => serde_json::to_writer(
                        &mut *w,
                        &json!({"row": row_number, "errors": errors.iter().map(error_json).collect::<Vec<_>>()}),
                    )?,
                    RowResult::Malformed(m) => serde_json::to_writer(
                        &mut *w,
                        &json!({"row": row_number, "errors": [{"field": "", "reason": "malformed_row", "detail": m}]}),
                    )?,
                }
                w.write_all(b"\n")?;
            }
            Self::Csv {
                writer,
                width,
                outcomes,
                explain,
                version,
            } => {
                let mut out: Vec<String> = (0..*width)
                    .map(|c| row.get(c).unwrap_or("").to_string())
                    .collect();
                match result {
                    RowResult::Answered(a) => {
                        for o in outcomes.iter() {
                            let view = a.predictions.iter().find(|v| v.outcome == o.id());
                            out.extend(outcome_cells(*o, view, *explain));
                        }
                        out.push(
                            a.recommendations
                                .iter()
                                .map(|r| r.id.as_str())
                                .collect::<Vec<_>>()
                                .join(";"),
                        );
                        out.push(a.warnings.join(" | "));
                        out.push(a.model_set.version.clone());
                        out.push(
                            a.rule_set
                                .as_ref()
                                .map(|r| r.version.clone())
                                .unwrap_or_default(),
                        );
                        out.push(String::new());
                    }
                    RowResult::Invalid(_) | RowResult::Malformed(_) => {
                        for o in outcomes.iter() {
                            out.extend(outcome_columns(*o, *explain).iter().map(|_| String::new()));
                        }
                        out.extend([String::new(), String::new(), version.clone(), String::new()]);
                        out.push(match result {
                            RowResult::Invalid(errors) => errors
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; "),
                            RowResult::Malformed(m) => m.clone(),
                            RowResult::Answered(_) => String::new(),
                        });
                    }
                }
                writer.write_record(&out)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Self::Csv { mut writer, .. } => writer.flush(),
            Self::Ndjson(mut w) => w.flush(),
        }
    }
}

/// A field error as the API's `errors` entry (`field`, `reason`, `detail`).
fn error_json(e: &FieldError) -> serde_json::Value {
    json!({"field": e.field, "reason": e.constraint.reason(), "detail": e.constraint.to_string()})
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
        view.map(|v| v.status)
            .map_or("", Status::as_str)
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
