//! Command-line interface (clap): one file per subcommand; the composition root for offline runs.

use clap::{Parser, Subcommand};

mod audit;
mod evaluate;
mod keys;
mod models;
mod outcomes;
mod progress;
mod recalibrate;
mod rules;
mod schemas;
mod score;
mod serve;
mod synth;
mod train;

/// periop: perioperative risk engine for spine surgery.
#[derive(Debug, Parser)]
#[command(name = "periop", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export the feature dictionary and the patient JSON Schema.
    Schemas(schemas::Args),
    /// Generate a synthetic cohort (cohort-model.md): features, outcomes and p_true columns.
    Synth(synth::Args),
    /// Train one LightGBM model per outcome and write a model set.
    Train(train::Args),
    /// Evaluate a model set on a test cohort: metrics JSON, model cards, reliability plots.
    Evaluate(evaluate::Args),
    /// Model set tools: `models describe-training` records the training distribution of a set.
    Models(models::Args),
    /// Recalibrate a set's calibration maps on local outcomes: a new set version, same trees.
    Recalibrate(recalibrate::Args),
    /// Recorded outcomes: `outcomes import FILE.csv` records observed outcomes (all rows or none).
    Outcomes(outcomes::Args),
    /// Score a patient CSV with every applicable model; bad rows get an `error` column.
    Score(score::Args),
    /// Audit store tools: `audit verify` recomputes the hash chain and reports the first broken link.
    Audit(audit::Args),
    /// Serve the assessment API (REST).
    Serve(serve::Args),
    /// Manage API keys.
    Keys(keys::Args),
    /// Rule sets: `rules check FILE` validates a JDM document, `rules test FILE --cases C` runs regression cases.
    Rules(rules::Args),
}

/// Runs one command.
///
/// # Errors
/// Any failure of the command, with context for the user.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Schemas(args) => schemas::run(&args),
        Command::Synth(args) => synth::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Models(args) => models::run(&args),
        Command::Outcomes(args) => outcomes::run(&args),
        Command::Recalibrate(args) => recalibrate::run(&args),
        Command::Score(args) => score::run(&args),
        Command::Audit(args) => audit::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Keys(args) => keys::run(&args),
        Command::Rules(args) => rules::run(&args),
    }
}
