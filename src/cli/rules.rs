//! `periop rules check FILE` and `periop rules test FILE --cases cases.json`: validate a JDM rule
//! document with the same safety checks as the server, and run regression cases against it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::model::ensemble::ModelSet;
use crate::rules::{RuleSet, RuleSetError};
use crate::service::rule_cases::{self as cases, CaseFile};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Validate a rule document (node types, cycles, tables, expressions, field references).
    /// Exits 0 and prints its version and SHA-256 when it would be accepted; lists every problem
    /// and exits non-zero otherwise.
    Check(CheckArgs),
    /// Run regression cases (expected and absent recommendation ids for given inputs).
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// JDM rule document (JSON).
    pub file: PathBuf,
    /// Version name to load it under (default: the file name without `.json`).
    #[arg(long)]
    pub version: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// JDM rule document (JSON).
    pub file: PathBuf,
    /// Cases file: `{"cases": [{"name", "why", "patient" | "context", "expect", "absent"}]}`.
    #[arg(long)]
    pub cases: PathBuf,
    /// Model set that predicts for `patient` cases.
    #[arg(long, default_value = "models/default")]
    pub models: PathBuf,
}

/// Runs a `rules` subcommand.
///
/// # Errors
/// A rejected document, an unreadable file or a failing case.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        RulesCommand::Check(a) => check(a),
        RulesCommand::Test(a) => test(a),
    }
}

fn version_of(file: &Path, given: Option<&String>) -> String {
    given.cloned().unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "unnamed".into())
    })
}

fn load(file: &Path, version: &str) -> anyhow::Result<RuleSet> {
    match RuleSet::from_file(version, file) {
        Ok(rules) => Ok(rules),
        Err(RuleSetError::Rejected(problems)) => {
            eprintln!(
                "{}: rejected, {} problem(s):",
                file.display(),
                problems.len()
            );
            for p in &problems {
                eprintln!("  - {p}");
            }
            anyhow::bail!("rule document {} rejected", file.display())
        }
        Err(e) => Err(e).with_context(|| format!("loading {}", file.display())),
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let version = version_of(&args.file, args.version.as_ref());
    let rules = load(&args.file, &version)?;
    println!("{}: ok", args.file.display());
    println!("version: {}", rules.reference().version);
    println!("sha256: {}", rules.reference().sha256);
    Ok(())
}

fn test(args: &TestArgs) -> anyhow::Result<()> {
    let rules = load(&args.file, &version_of(&args.file, None))?;
    let text = std::fs::read_to_string(&args.cases)
        .with_context(|| format!("reading {}", args.cases.display()))?;
    let file: CaseFile = serde_json::from_str(&text)
        .with_context(|| format!("parsing cases file {}", args.cases.display()))?;
    let needs_models = file.cases.iter().any(|c| c.patient.is_some());
    let models = if needs_models {
        Some(
            ModelSet::load(&args.models)
                .with_context(|| format!("loading model set {}", args.models.display()))?,
        )
    } else {
        None
    };
    let results = cases::run(&rules, models.as_ref(), &file);
    let failed = results.iter().filter(|r| !r.passed()).count();
    for r in &results {
        let mark = if r.passed() { "ok  " } else { "FAIL" };
        println!("{mark} {} -> [{}]", r.name, r.got.join(", "));
        if let Some(e) = &r.error {
            println!("     error: {e}");
        }
        if !r.missing.is_empty() {
            println!("     expected but missing: {}", r.missing.join(", "));
        }
        if !r.unexpected.is_empty() {
            println!(
                "     present but listed as absent: {}",
                r.unexpected.join(", ")
            );
        }
    }
    println!(
        "{} case(s), {} passed, {failed} failed",
        results.len(),
        results.len() - failed
    );
    if failed > 0 {
        anyhow::bail!("{failed} rule case(s) failed");
    }
    Ok(())
}
