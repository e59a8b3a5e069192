//! `periop recalibrate --models DIR (--data local.csv | --store STORE [--from T] [--to T])
//! [--site S] --out DIR2 [--outcomes a,b]`: fits a new calibration map per binary outcome on
//! local outcomes (logistic recalibration, `model::recalibration`), either a cohort file or the
//! outcomes recorded in an audit store for its assessments (`service::recalibration`, the store
//! opened read-only), and writes a new model-set version with the same trees
//! (`model::recalibrated_set`); prints calibration before and after on held-out local rows.
//! All or nothing: one refused outcome (e.g. too few events) writes nothing.

use std::path::PathBuf;

use anyhow::Context;

use crate::audit::location::{OpenMode, StoreLocation};
use crate::audit::postgres::PostgresOptions;
use crate::dataset::Dataset;
use crate::model::ensemble::ModelSet;
use crate::model::manifest::sha256_hex;
use crate::model::recalibrated_set::{
    before_after_table, store_rows_table, write_recalibrated_set, LocalSource,
};
use crate::model::recalibration::{
    self, recalibrate_set, RecalibratedOutcome, RecalibrationSettings,
};
use crate::outcomes::{Outcome, OutcomeKind};
use crate::service::recalibration::{recalibrate_from_store, StoreQuery, StoreRecalibrationError};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("local").required(true).args(["data", "store"])))]
pub struct Args {
    /// Model set directory to start from, e.g. models/default (verified first).
    #[arg(long)]
    pub models: PathBuf,
    /// Local cohort CSV in the format `periop evaluate` reads (dictionary columns, outcome
    /// columns, optional site). Exactly one of --data and --store.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Audit store whose recorded outcomes are used: SQLite file (or sqlite:PATH) or
    /// postgres:// URL, opened read-only. Exactly one of --data and --store.
    #[arg(long)]
    pub store: Option<String>,
    /// With --store: assessments from this time (inclusive), `YYYY-MM-DD` (00:00 UTC) or RFC
    /// 3339; default the start of the store.
    #[arg(long, requires = "store")]
    pub from: Option<String>,
    /// With --store: assessments before this time (exclusive); default the end of the store.
    #[arg(long, requires = "store")]
    pub to: Option<String>,
    /// Use only the rows of this site (the `site` column, or the stored assessment's site);
    /// default: every row.
    #[arg(long)]
    pub site: Option<String>,
    /// New model set directory (must not exist or be empty); its name is the set id.
    #[arg(long)]
    pub out: PathBuf,
    /// Outcomes to recalibrate, comma-separated (default: every binary outcome of the set).
    #[arg(long, value_delimiter = ',')]
    pub outcomes: Vec<String>,
    /// Minimum events and minimum non-events among the fitting rows of each outcome.
    #[arg(long, default_value_t = recalibration::DEFAULT_MIN_EVENTS)]
    pub min_events: usize,
    /// Fraction of each outcome class held out to measure the new map.
    #[arg(long, default_value_t = recalibration::DEFAULT_HELD_OUT_FRACTION)]
    pub held_out: f64,
    /// Seed of the split and the bootstrap.
    #[arg(long, default_value_t = recalibration::DEFAULT_SEED)]
    pub seed: u64,
    /// Bootstrap replicates for the intercept and slope CIs.
    #[arg(long, default_value_t = recalibration::DEFAULT_REPLICATES)]
    pub replicates: usize,
    /// With --data: the period the local outcomes cover, recorded as given (e.g.
    /// 2026-01..2026-06). With --store the window is --from/--to.
    #[arg(long, conflicts_with = "store")]
    pub window: Option<String>,
}

/// The outcomes named by `--outcomes`, or every binary outcome of the set.
fn chosen_outcomes(args: &Args, set: &ModelSet) -> anyhow::Result<Vec<Outcome>> {
    if args.outcomes.is_empty() {
        return Ok(set
            .outcomes()
            .filter(|o| o.kind() == OutcomeKind::Probability)
            .collect());
    }
    let binary: Vec<&str> = Outcome::ALL
        .iter()
        .filter(|o| o.kind() == OutcomeKind::Probability)
        .map(|o| o.id())
        .collect();
    let mut out = Vec::new();
    for name in &args.outcomes {
        let name = name.trim();
        let outcome = Outcome::from_id(name).with_context(|| {
            format!(
                "--outcomes: unknown outcome `{name}` (binary outcomes: {})",
                binary.join(", ")
            )
        })?;
        anyhow::ensure!(
            outcome.kind() == OutcomeKind::Probability,
            "--outcomes: {name} is a quantity outcome (mL) with no calibration map; it is never recalibrated"
        );
        if !out.contains(&outcome) {
            out.push(outcome);
        }
    }
    Ok(out)
}

/// Recalibrates, writes and verifies the new set, and prints the before/after table.
///
/// # Errors
/// Unloadable set, data or store, an unknown site or outcome, an outcome refused (every refusal
/// is listed), or an output that exists or cannot be written.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let settings = RecalibrationSettings {
        min_events: args.min_events,
        held_out_fraction: args.held_out,
        seed: args.seed,
        bootstrap_replicates: args.replicates,
    };
    recalibration::check_settings(&settings)?;
    let set = ModelSet::load(&args.models)
        .with_context(|| format!("loading model set {}", args.models.display()))?;
    let outcomes = chosen_outcomes(args, &set)?;
    let (results, source) = match (&args.data, &args.store) {
        (Some(data), None) => from_data(args, data, &set, &outcomes, &settings)?,
        (None, Some(store)) => from_store(args, store, &set, outcomes, settings)?,
        _ => anyhow::bail!("give exactly one of --data and --store"),
    };
    let written = write_recalibrated_set(&set, &results, &source, &args.out)
        .with_context(|| format!("writing the recalibrated set to {}", args.out.display()))?;
    if !source.store_rows.is_empty() {
        print!("{}", store_rows_table(&source.store_rows));
    }
    print!("{}", before_after_table(&results));
    println!(
        "model set {} (version {}, from {}) written to {} and verified; held-out figures above; \
         not recalibrated: {}",
        written.set_manifest().id,
        written.set_manifest().version,
        set.set_manifest().version,
        args.out.display(),
        not_recalibrated(&set, &results)
    );
    Ok(())
}

fn refused(lines: Vec<String>) -> anyhow::Error {
    anyhow::anyhow!(
        "recalibration refused for {} outcome(s); nothing was written:\n{}\n\
         (name the outcomes with enough local events with --outcomes, or lower --min-events \
         knowingly)",
        lines.len(),
        lines
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// The rows of a cohort file.
fn from_data(
    args: &Args,
    path: &std::path::Path,
    set: &ModelSet,
    outcomes: &[Outcome],
    settings: &RecalibrationSettings,
) -> anyhow::Result<(Vec<RecalibratedOutcome>, LocalSource)> {
    // `requires = "store"` alone did not reject `--data … --from` (tests/recalibrate_store.rs).
    anyhow::ensure!(
        args.from.is_none() && args.to.is_none(),
        "--from and --to select stored assessments: they need --store (with --data, state the \
         period with --window)"
    );
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let data = Dataset::from_reader(bytes.as_slice(), &path.display().to_string())?;
    for w in &data.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(site) = &args.site {
        if !data.records.iter().any(|r| r.site.as_deref() == Some(site)) {
            let mut sites: Vec<&str> = data
                .records
                .iter()
                .filter_map(|r| r.site.as_deref())
                .collect();
            sites.sort_unstable();
            sites.dedup();
            anyhow::bail!(
                "--site {site}: no row of {} has this site (sites in the data: {})",
                path.display(),
                if sites.is_empty() {
                    "none: the data has no site column".to_string()
                } else {
                    sites.join(", ")
                }
            );
        }
    }
    let results = recalibrate_set(set, &data, args.site.as_deref(), outcomes, settings)
        .map_err(|errors| refused(errors.iter().map(ToString::to_string).collect()))?;
    let source = LocalSource {
        site: args.site.clone(),
        window: args.window.clone(),
        source: path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        source_sha256: Some(sha256_hex(&bytes)),
        store_rows: Vec::new(),
    };
    Ok((results, source))
}

/// The outcomes recorded in an audit store (opened read-only).
fn from_store(
    args: &Args,
    text: &str,
    set: &ModelSet,
    outcomes: Vec<Outcome>,
    settings: RecalibrationSettings,
) -> anyhow::Result<(Vec<RecalibratedOutcome>, LocalSource)> {
    let time = |flag: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| super::quality::parse_time(flag, t))
            .transpose()
    };
    let from = time("--from", &args.from)?;
    let to = time("--to", &args.to)?;
    if let (Some(f), Some(t)) = (from, to) {
        anyhow::ensure!(t > f, "--to must be after --from");
    }
    let location = StoreLocation::parse(text).map_err(|e| anyhow::anyhow!("--store: {e}"))?;
    let store = location
        .open(OpenMode::ReadOnly, &PostgresOptions::default())
        .with_context(|| format!("opening audit store {}", location.describe()))?;
    let query = StoreQuery {
        outcomes,
        site: args.site.clone(),
        from,
        to,
        settings,
    };
    let done = recalibrate_from_store(store.as_ref(), set, &query).map_err(|e| match e {
        StoreRecalibrationError::Refused(errors) => {
            refused(errors.iter().map(ToString::to_string).collect())
        }
        StoreRecalibrationError::Service(e) => {
            anyhow::Error::new(e).context(format!("reading audit store {}", location.describe()))
        }
    })?;
    Ok((done.results, done.source))
}

fn not_recalibrated(set: &ModelSet, results: &[RecalibratedOutcome]) -> String {
    let rest: Vec<String> = set
        .outcomes()
        .filter(|o| !results.iter().any(|r| r.outcome == *o))
        .map(|o| {
            if o.kind() == OutcomeKind::Quantity {
                format!("{} (quantity: no calibration map)", o.id())
            } else {
                o.id().to_string()
            }
        })
        .collect();
    if rest.is_empty() {
        "none".to_string()
    } else {
        rest.join(", ")
    }
}
