//! `periop recalibrate --models DIR --data local.csv [--site S] --out DIR2 [--outcomes a,b]`:
//! fits a new calibration map per binary outcome on local outcomes (logistic recalibration,
//! `model::recalibration`) and writes a new model-set version with the same trees
//! (`model::recalibrated_set`); prints calibration before and after on held-out local rows.
//! All or nothing: one refused outcome (e.g. too few events) writes nothing.

use std::path::PathBuf;

use anyhow::Context;

use crate::dataset::Dataset;
use crate::model::ensemble::ModelSet;
use crate::model::manifest::sha256_hex;
use crate::model::recalibrated_set::{before_after_table, write_recalibrated_set, LocalSource};
use crate::model::recalibration::{self, recalibrate_set, RecalibrationSettings};
use crate::outcomes::{Outcome, OutcomeKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model set directory to start from, e.g. models/default (verified first).
    #[arg(long)]
    pub models: PathBuf,
    /// Local cohort CSV in the format `periop evaluate` reads (dictionary columns, outcome
    /// columns, optional site).
    #[arg(long)]
    pub data: PathBuf,
    /// Use only the rows of this site (the `site` column); default: every row.
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
    /// The period the local outcomes cover, recorded as given (e.g. 2026-01..2026-06).
    #[arg(long)]
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
/// Unloadable set or data, an unknown site or outcome, an outcome refused (every refusal is
/// listed), or an output that exists or cannot be written.
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
    let bytes =
        std::fs::read(&args.data).with_context(|| format!("reading {}", args.data.display()))?;
    let data = Dataset::from_reader(bytes.as_slice(), &args.data.display().to_string())?;
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
                args.data.display(),
                if sites.is_empty() {
                    "none: the data has no site column".to_string()
                } else {
                    sites.join(", ")
                }
            );
        }
    }
    let results = recalibrate_set(&set, &data, args.site.as_deref(), &outcomes, &settings)
        .map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            anyhow::anyhow!(
                "recalibration refused for {} outcome(s); nothing was written:\n{}\n\
                 (name the outcomes with enough local events with --outcomes, or lower --min-events \
                 knowingly)",
                errors.len(),
                lines.join("\n")
            )
        })?;
    let source = LocalSource {
        site: args.site.clone(),
        window: args.window.clone(),
        source: args
            .data
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        source_sha256: Some(sha256_hex(&bytes)),
    };
    let written = write_recalibrated_set(&set, &results, &source, &args.out)
        .with_context(|| format!("writing the recalibrated set to {}", args.out.display()))?;
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

fn not_recalibrated(
    set: &ModelSet,
    results: &[crate::model::recalibration::RecalibratedOutcome],
) -> String {
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
