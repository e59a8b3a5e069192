//! `periop quality report --store STORE --models DIR --from … --to … --out DIR`: the quality
//! committee's report (Markdown and SVG) over a window of stored assessments, from the same use
//! cases the quality API serves (`quality_report`).

use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::location::{OpenMode, StoreLocation};
use crate::audit::postgres::PostgresOptions;
use crate::model::ensemble::ModelSet;
use crate::outcomes::Outcome;
use crate::quality_report::{compute, write, ReportQuery, REPORT_FILE};
use crate::service::performance::{PerformanceSettings, DEFAULT_MIN_GROUP_SIZE};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: QualityCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum QualityCommand {
    /// Write the quality report (performance by site and month, drift, top features, overrides).
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Audit store: SQLite file (or sqlite:PATH) or postgres:// URL; opened read-only.
    #[arg(
        long,
        env = "PERIOP_AUDIT_STORE",
        hide_env_values = true,
        default_value = "periop-audit.db"
    )]
    pub store: String,
    /// The model set served (its training distribution is the drift baseline).
    #[arg(long, default_value = "models/default")]
    pub models: PathBuf,
    /// Window start (assessment time), inclusive: `YYYY-MM-DD` (00:00 UTC) or RFC 3339.
    #[arg(long)]
    pub from: String,
    /// Window end, exclusive: `YYYY-MM-DD` (00:00 UTC) or RFC 3339.
    #[arg(long)]
    pub to: String,
    /// Only these outcomes (comma-separated ids; default every outcome predicted in the window).
    #[arg(long, value_delimiter = ',')]
    pub outcomes: Vec<String>,
    /// Groups with fewer rows with a recorded outcome are suppressed.
    #[arg(long, default_value_t = DEFAULT_MIN_GROUP_SIZE)]
    pub min_group_size: usize,
    /// Output directory (created; files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
}

/// `YYYY-MM-DD` as 00:00 UTC, or an RFC 3339 time (also `periop recalibrate --from/--to`).
pub(super) fn parse_time(flag: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(t) = date.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| anyhow::anyhow!("{flag} {text:?} is neither YYYY-MM-DD nor RFC 3339"))
}

/// Runs the subcommand.
///
/// # Errors
/// Bad flags (named), an unreadable model set or store, or a file that cannot be written.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        QualityCommand::Report(r) => report(r),
    }
}

fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let from = parse_time("--from", &args.from)?;
    let to = parse_time("--to", &args.to)?;
    if to <= from {
        anyhow::bail!("--to must be after --from");
    }
    if args.min_group_size == 0 {
        anyhow::bail!("--min-group-size must be at least 1");
    }
    let outcomes = args
        .outcomes
        .iter()
        .map(|id| {
            Outcome::from_id(id).ok_or_else(|| {
                let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.id()).collect();
                anyhow::anyhow!(
                    "--outcomes: unknown outcome {id:?} (one of {})",
                    known.join(", ")
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let models = ModelSet::load(&args.models)
        .with_context(|| format!("loading model set {}", args.models.display()))?;
    let location =
        StoreLocation::parse(&args.store).map_err(|e| anyhow::anyhow!("--store: {e}"))?;
    let store = location
        .open(OpenMode::ReadOnly, &PostgresOptions::default())
        .with_context(|| format!("opening audit store {}", location.describe()))?;
    let settings = PerformanceSettings {
        min_group_size: args.min_group_size,
        ..PerformanceSettings::default()
    };
    let query = ReportQuery {
        from,
        to,
        outcomes,
        store: location.describe(),
        synthetic: models.set_manifest().training_data.synthetic,
        generated_at: Utc::now(),
    };
    let report = compute(
        store.as_ref(),
        models.training_distribution(),
        query,
        &settings,
    )?;
    let files = write(&report, &args.out)?;
    println!(
        "wrote {} files to {} ({} outcomes reported; open {REPORT_FILE})",
        files.len(),
        args.out.display(),
        report.outcomes.len()
    );
    Ok(())
}
