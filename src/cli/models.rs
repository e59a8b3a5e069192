//! `periop models describe-training --models DIR --data cohort.csv`: adds the training
//! distribution (`training_distribution.json`) to a model set trained before it was recorded.
//! Refused unless the data file is the one the set was trained on (same SHA-256).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::dataset::Dataset;
use crate::model::manifest::sha256_hex;
use crate::train::describe::{check_training_data, describe_training};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Record the distribution of every input over the set's training data: writes
    /// training_distribution.json into the set and lists it (with its SHA-256) in model_set.json.
    /// The data file must be the one the set was trained on (its SHA-256 must equal
    /// training_data.sha256); the set's version does not change. `periop train` already writes it.
    DescribeTraining(DescribeArgs),
}

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// Model set directory, e.g. models/default (verified before anything is written).
    #[arg(long)]
    pub models: PathBuf,
    /// The training cohort CSV the set was trained on (for models/default:
    /// `periop synth --rows 150000 --seed 20261121`).
    #[arg(long)]
    pub data: PathBuf,
}

/// Runs a `models` subcommand.
///
/// # Errors
/// A set that does not load, a data file with another hash, invalid data, an unwritable set.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        ModelsCommand::DescribeTraining(a) => describe(a),
    }
}

fn describe(args: &DescribeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let bar = super::progress::bar("steps");
    bar.set_length(3);
    bar.set_message("hashing the data file");
    let bytes =
        std::fs::read(&args.data).with_context(|| format!("reading {}", args.data.display()))?;
    let sha256 = sha256_hex(&bytes);
    bar.set_message("verifying the model set");
    check_training_data(&args.models, &sha256).with_context(|| {
        format!(
            "refusing to describe {} with {}",
            args.models.display(),
            args.data.display()
        )
    })?;
    bar.inc(1);
    bar.set_message("reading the data");
    let data = Dataset::from_reader(bytes.as_slice(), &args.data.display().to_string())?;
    for w in &data.warnings {
        bar.suspend(|| eprintln!("warning: {w}"));
    }
    bar.inc(1);
    bar.set_message("computing the distribution");
    let file = describe_training(&args.models, &data, &sha256)
        .with_context(|| format!("describing {}", args.models.display()))?;
    bar.inc(1);
    bar.finish_and_clear();
    println!(
        "wrote {} ({} rows, SHA-256 {}) and listed it in {} in {:.1} s",
        args.models.join(&file.file).display(),
        data.records.len(),
        file.sha256,
        args.models.join("model_set.json").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
