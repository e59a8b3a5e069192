//! `periop evaluate --models DIR --data test.csv --out report/`: measures a model set on a test
//! cohort and writes metrics JSON, model cards, reliability plots and an index.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::dataset::Dataset;
use crate::evaluate::{
    data_info, evaluate_with_progress, index, read_model_set_info, write_report, Options, Settings,
};
use crate::model::ensemble::ModelSet;
use crate::outcomes::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model set directory, e.g. models/default.
    #[arg(long)]
    pub models: PathBuf,
    /// Test cohort CSV (dictionary columns, outcome columns, optional site and p_true_*).
    #[arg(long)]
    pub data: PathBuf,
    /// Report directory (created if needed): metrics.json, README.md, cards/, plots/.
    #[arg(long)]
    pub out: PathBuf,
    /// Bootstrap replicates for confidence intervals.
    #[arg(long, default_value_t = crate::evaluate::settings::DEFAULT_REPLICATES)]
    pub replicates: usize,
    /// Bootstrap seed (recorded in the report).
    #[arg(long, default_value_t = crate::evaluate::settings::DEFAULT_SEED)]
    pub seed: u64,
    /// Number of quantile reliability bins.
    #[arg(long, default_value_t = crate::evaluate::settings::DEFAULT_BINS)]
    pub bins: usize,
}

/// Loads the set and the data, evaluates, writes the report and prints a summary table.
///
/// # Errors
/// Unloadable model set, invalid data, or a report file that cannot be written.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    anyhow::ensure!(args.replicates > 0, "--replicates must be at least 1");
    anyhow::ensure!(args.bins > 0, "--bins must be at least 1");
    let models = ModelSet::load(&args.models)
        .with_context(|| format!("loading model set {}", args.models.display()))?;
    let model_set = match read_model_set_info(&args.models) {
        Ok(info) => Some(info),
        Err(e) => {
            eprintln!("warning: {e}; the report will not name the model set");
            None
        }
    };
    let bytes =
        std::fs::read(&args.data).with_context(|| format!("reading {}", args.data.display()))?;
    let data = Dataset::from_reader(bytes.as_slice(), &args.data.display().to_string())?;
    for w in &data.warnings {
        eprintln!("warning: {w}");
    }
    let name = args
        .data
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let settings = Settings {
        bootstrap_replicates: args.replicates,
        bootstrap_seed: args.seed,
        reliability_bins: args.bins,
        ..Settings::default()
    };
    let options = Options {
        settings,
        data: data_info(&name, &bytes, &data),
        model_set,
    };
    let bar = super::progress::bar("outcomes");
    bar.set_length(Outcome::ALL.len() as u64);
    let report = evaluate_with_progress(&models, &data, &options, |o| {
        bar.set_message(o.id());
        bar.inc(1);
    });
    bar.finish_and_clear();
    write_report(&report, &args.out)
        .with_context(|| format!("writing report to {}", args.out.display()))?;
    print!("{}", index::console_table(&report));
    println!(
        "report written to {} in {:.0?} (index: {})",
        args.out.display(),
        started.elapsed(),
        args.out.join("README.md").display()
    );
    if report.synthetic() {
        println!("test data is SYNTHETIC (p_true columns present): the report is a benchmark, not a clinical validation");
    }
    Ok(())
}
