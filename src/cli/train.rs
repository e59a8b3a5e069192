//! `periop train --data cohort.csv --out models/<set> [--seed S]`: trains the model set.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::dataset::Dataset;
use crate::model::manifest::sha256_hex;
use crate::train::{train_model_set, TrainParams};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Training cohort CSV (dictionary columns, outcome columns, optional site and p_true_*).
    #[arg(long)]
    pub data: PathBuf,
    /// Output model set directory, e.g. models/default.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed for the validation split and LightGBM.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Skip leave-one-site-out validation (faster; the manifest then has no per-site results).
    #[arg(long)]
    pub no_leave_one_site_out: bool,
    /// Maximum tree depth (1-6; the cap keeps models shallow and TreeSHAP fast).
    #[arg(long)]
    pub max_depth: Option<u32>,
    /// Maximum leaves per tree (2..=2^max_depth).
    #[arg(long)]
    pub num_leaves: Option<u32>,
    /// Boosting learning rate.
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Minimum rows per leaf.
    #[arg(long)]
    pub min_data_in_leaf: Option<u32>,
    /// L2 penalty on leaf values.
    #[arg(long)]
    pub lambda_l2: Option<f64>,
}

/// Reads the data, trains every outcome and writes the set.
///
/// # Errors
/// Invalid data (every problem with row and column), invalid parameters, LightGBM or I/O failure.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let bytes =
        std::fs::read(&args.data).with_context(|| format!("reading {}", args.data.display()))?;
    let data = Dataset::from_reader(bytes.as_slice(), &args.data.display().to_string())?;
    for w in &data.warnings {
        eprintln!("warning: {w}");
    }
    let defaults = TrainParams::default();
    let params = TrainParams {
        seed: args.seed,
        leave_one_site_out: !args.no_leave_one_site_out,
        max_depth: args.max_depth.unwrap_or(defaults.max_depth),
        num_leaves: args.num_leaves.unwrap_or(defaults.num_leaves),
        learning_rate: args.learning_rate.unwrap_or(defaults.learning_rate),
        min_data_in_leaf: args.min_data_in_leaf.unwrap_or(defaults.min_data_in_leaf),
        lambda_l2: args.lambda_l2.unwrap_or(defaults.lambda_l2),
        ..defaults
    }
    .check()?;
    let name = args
        .data
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    eprintln!(
        "training {} outcomes on {} rows from {name} (seed {})",
        crate::outcomes::Outcome::ALL.len(),
        data.records.len(),
        args.seed
    );
    let bar = super::progress::bar("outcomes");
    let set = train_model_set(&data, &name, &sha256_hex(&bytes), &args.out, &params, &bar)?;
    bar.finish_with_message("all outcomes trained");
    println!(
        "model set {} version {} written to {} in {:.0?}",
        set.id,
        set.version,
        args.out.display(),
        started.elapsed()
    );
    if set.training_data.synthetic {
        println!("training data is SYNTHETIC (periop synth): these models are for demonstration and testing, not for patients");
    }
    Ok(())
}
