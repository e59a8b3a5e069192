//! `periop outcomes import --store STORE outcomes.csv`: records observed outcomes from a CSV
//! (columns `assessment_id` or `patient_reference` + `surgery_date`, `outcome`, `value`,
//! `observed_at`) through the same checks as `POST /v1/outcomes`. Every problem is reported by
//! row and column, and nothing is imported unless every row is good: the rows are checked first
//! and then appended in one `append_all`, which the store commits as one transaction (all rows or
//! none; SQLite and PostgreSQL alike). The one case that can split a file is a concurrent writer
//! storing the very same outcome version at the same moment (its record id is taken): that row
//! fails, the others are committed, and the command says so.

use std::path::PathBuf;

use anyhow::Context;

use crate::audit::location::{OpenMode, StoreLocation};
use crate::audit::postgres::PostgresOptions;
use crate::service::outcome_records::{
    record_outcome_entries, OutcomeEntry, OutcomeError, OutcomeProblem, OutcomeStatus,
    ITEM_MEMBERS, MAX_OUTCOME_ITEMS,
};
use crate::service::provenance::{ProvenancePolicy, ReferenceKey};
use crate::service::{Caller, ServiceError};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: OutcomesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum OutcomesCommand {
    /// Record observed outcomes from a CSV: every row checked, all imported or none.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Audit store: SQLite file (or sqlite:PATH) or postgres:// URL.
    #[arg(
        long,
        env = "PERIOP_AUDIT_STORE",
        hide_env_values = true,
        default_value = "periop-audit.db"
    )]
    pub store: String,
    /// The server's reference key file (`reference_hmac_key_file`), needed for rows that name a
    /// `patient_reference`.
    #[arg(long)]
    pub reference_key_file: Option<PathBuf>,
    /// Who is recording, as the audit records name the caller.
    #[arg(long, default_value = "periop-cli")]
    pub recorded_by: String,
    /// The CSV file.
    pub csv: PathBuf,
}

/// Runs the subcommand.
///
/// # Errors
/// An unreadable file, bad rows (every one listed), or a store failure.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        OutcomesCommand::Import(a) => import(a),
    }
}

/// One problem of one row: `row 3 (line 4), column value: …`.
fn row_problem(index: usize, column: &str, problem: &str) -> String {
    format!(
        "row {} (line {}), column {column}: {problem}",
        index + 1,
        index + 2
    )
}

/// The CSV's rows, each an entry or the problems of its cells; or the problems of the file
/// itself (header, unreadable rows).
#[allow(clippy::type_complexity)]
fn read_entries(
    path: &std::path::Path,
) -> anyhow::Result<Result<Vec<Result<OutcomeEntry, Vec<OutcomeProblem>>>, Vec<String>>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .clone();
    let mut problems = Vec::new();
    for (i, name) in headers.iter().enumerate() {
        if !ITEM_MEMBERS.contains(&name) {
            problems.push(format!(
                "header, column {}: `{name}` is not a column of an outcomes CSV ({})",
                i + 1,
                ITEM_MEMBERS.join(", ")
            ));
        } else if headers.iter().take(i).any(|n| n == name) {
            problems.push(format!("header, column {}: `{name}` appears twice", i + 1));
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let column = |name: &str| headers.iter().position(|h| h == name);
    let mut entries = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(row_problem(index, "-", &format!("not a CSV row: {e}")));
                continue;
            }
        };
        let cell = |name: &str| {
            column(name)
                .and_then(|c| row.get(c))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let value = match cell("value") {
            None => Ok(None),
            Some(text) => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(vec![OutcomeProblem::WrongType {
                    member: "value",
                    expected: "a number (0 or 1, or mL)",
                }]),
            },
        };
        entries.push(value.map(|value| OutcomeEntry {
            assessment_id: cell("assessment_id"),
            patient_reference: cell("patient_reference"),
            surgery_date: cell("surgery_date"),
            outcome: cell("outcome"),
            value,
            observed_at: cell("observed_at"),
        }));
    }
    if entries.is_empty() && problems.is_empty() {
        problems.push("the file has no rows".to_string());
    }
    if entries.len() > MAX_OUTCOME_ITEMS * 100 {
        problems.push(format!(
            "the file has {} rows; import at most {} at once",
            entries.len(),
            MAX_OUTCOME_ITEMS * 100
        ));
    }
    Ok(if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    })
}

fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let entries = match read_entries(&args.csv)? {
        Ok(e) => e,
        Err(problems) => anyhow::bail!(
            "{}: {} problem(s), nothing imported:\n  {}",
            args.csv.display(),
            problems.len(),
            problems.join("\n  ")
        ),
    };
    let policy = ProvenancePolicy {
        sites: Vec::new(),
        reference_key: match &args.reference_key_file {
            None => None,
            Some(path) => Some(std::sync::Arc::new(ReferenceKey::from_file(path)?)),
        },
    };
    let location =
        StoreLocation::parse(&args.store).map_err(|e| anyhow::anyhow!("--store: {e}"))?;
    let store = location
        .open(OpenMode::NoMigration, &PostgresOptions::default())
        .with_context(|| format!("opening audit store {}", location.describe()))?;
    let caller = Caller {
        request_id: format!("cli_{}", uuid::Uuid::new_v4().simple()),
        key_id: args.recorded_by.clone(),
    };
    let results = match record_outcome_entries(store.as_ref(), &policy, &entries, &caller) {
        Ok(r) => r,
        Err(ServiceError::Outcomes(rejected)) => {
            let lines: Vec<String> = rejected
                .0
                .iter()
                .map(|OutcomeError { index, problem }| {
                    row_problem(*index, &problem.member(), &problem.to_string())
                })
                .collect();
            anyhow::bail!(
                "{}: {} problem(s), nothing imported:\n  {}",
                args.csv.display(),
                lines.len(),
                lines.join("\n  ")
            )
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "recording outcomes in {} (nothing imported)",
                    location.describe()
                )
            })
        }
    };
    let recorded = results
        .iter()
        .filter(|r| r.status == OutcomeStatus::Recorded)
        .count();
    println!(
        "{}: {} row(s): {recorded} recorded, {} already recorded, in {}",
        args.csv.display(),
        results.len(),
        results.len() - recorded,
        location.describe()
    );
    Ok(())
}
