//! `periop synth --rows N --seed S --out cohort.csv`: writes a synthetic cohort
//! (`cohort-model.md`) and prints its size and base rates. The data are synthetic, never real
//! patients; the CSV itself stays plain (no comment lines), so the label is printed instead.

use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;

use crate::outcomes::OutcomeKind;
use crate::synth::{self, Settings, COHORT_MODEL_VERSION};

/// Rows generated per progress step.
const CHUNK: u64 = 8192;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of surgeries (rows).
    #[arg(long, default_value_t = 70_000)]
    pub rows: u64,
    /// Random seed: the same seed and row count give a byte-identical file.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output CSV path.
    #[arg(long)]
    pub out: PathBuf,
}

/// Generates the cohort, writes it and prints the summary.
///
/// # Errors
/// When the output file cannot be created or written.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let bar = super::progress::bar("rows");
    bar.set_length(args.rows);
    bar.set_message("synthetic cohort");
    let settings = Settings::default();
    let mut rows = Vec::with_capacity(usize::try_from(args.rows).unwrap_or(0));
    let mut start = 0;
    while start < args.rows {
        let end = (start + CHUNK).min(args.rows);
        rows.extend(synth::generate_range(args.seed, start..end, &settings));
        bar.set_position(end);
        start = end;
    }
    bar.finish_and_clear();

    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    synth::write_csv(&rows, BufWriter::new(file))
        .with_context(|| format!("writing {}", args.out.display()))?;

    println!(
        "SYNTHETIC DATA (cohort model v{COHORT_MODEL_VERSION}, seed {}): {} simulated surgeries, no real patients",
        args.seed,
        rows.len()
    );
    println!(
        "wrote {} in {:.1} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<28} {:>8} {:>10} {:>12}",
        "outcome", "n", "observed", "mean p_true"
    );
    for s in synth::summarize(&rows) {
        match s.outcome.kind() {
            OutcomeKind::Quantity => println!(
                "{:<28} {:>8} {:>7.0} mL {:>12}",
                s.outcome.id(),
                s.n,
                s.observed,
                format!("{:.1}% <= median", 100.0 * s.truth)
            ),
            OutcomeKind::Probability => {
                println!(
                    "{:<28} {:>8} {:>10.4} {:>12.4}",
                    s.outcome.id(),
                    s.n,
                    s.observed,
                    s.truth
                );
            }
        }
    }
    Ok(())
}
