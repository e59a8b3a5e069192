//! `periop schemas --out schemas/`: writes `patient.schema.json` and `feature_dictionary.json`.

use std::path::PathBuf;

use anyhow::Context;

use crate::features::schema::{feature_dictionary_json, patient_json_schema};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory.
    #[arg(long, default_value = "schemas")]
    pub out: PathBuf,
}

/// Writes both schema files.
///
/// # Errors
/// When the directory or a file cannot be written.
pub fn run(args: &Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (name, value) in [
        ("patient.schema.json", patient_json_schema()),
        ("feature_dictionary.json", feature_dictionary_json()),
    ] {
        let path = args.out.join(name);
        std::fs::write(&path, pretty(&value))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Pretty JSON with a trailing newline (the checked-in form).
pub fn pretty(value: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}
