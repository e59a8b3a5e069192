//! The independent FHIR R4 / CDS Hooks validator (`scripts/validate_fhir.py`, run by the venv
//! python in `FHIR_VALIDATOR_PYTHON`, which `scripts/test.sh` sets up): run on files, or on one
//! document written into a test's own directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Runs the validator with `mode` flags on `files`; `(exit code, stdout + stderr)`. Fails the
/// test, saying how to get the validator, when `FHIR_VALIDATOR_PYTHON` is unset.
pub fn run_validator(mode: &[&str], files: &[PathBuf]) -> (Option<i32>, String) {
    let python = std::env::var_os("FHIR_VALIDATOR_PYTHON").unwrap_or_else(|| {
        panic!(
            "FHIR_VALIDATOR_PYTHON is not set: run `export FHIR_VALIDATOR_PYTHON=$(scripts/validators.sh)` \
             (scripts/test.sh does) so FHIR and CDS Hooks documents are checked by the independent validator"
        )
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/validate_fhir.py");
    let out = Command::new(&python)
        .arg(script)
        .args(mode)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{} cannot run: {e}", Path::new(&python).display()));
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Writes `document` as `dir/name` and validates it with `mode`.
#[allow(dead_code)] // not every test binary validates single documents
pub fn validate_document(
    dir: &Path,
    name: &str,
    mode: &[&str],
    document: &Value,
) -> (Option<i32>, String) {
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_string_pretty(document).expect("json")).expect("write");
    run_validator(mode, &[file])
}
