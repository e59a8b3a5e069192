//! Writing a synthetic cohort as CSV in the `features.md` conventions: `site`, every dictionary
//! feature in order, the outcome columns in [`Outcome::ALL`] order, then `p_true_<outcome>`.
//! Booleans `0`/`1`, enums as their levels, missing (and not applicable) as an empty cell.

use std::io::Write;

use crate::features::dictionary::{FeatureKind, FEATURES};
use crate::outcomes::{Outcome, OutcomeKind};

use super::SynthRow;

/// The header row.
pub fn header() -> Vec<String> {
    std::iter::once("site".to_string())
        .chain(FEATURES.iter().map(|f| f.name.to_string()))
        .chain(Outcome::ALL.iter().map(|o| o.id().to_string()))
        .chain(Outcome::ALL.iter().map(|o| o.truth_column()))
        .collect()
}

/// Formats a number already rounded to its precision (shortest round-trip form, so `318`,
/// `27.4`, `0.123457`).
fn number(v: f64) -> String {
    v.to_string()
}

/// The cells of one row, in [`header`] order.
pub fn cells(row: &SynthRow) -> Vec<String> {
    let mut cells = Vec::with_capacity(1 + FEATURES.len() + 2 * Outcome::ALL.len());
    cells.push(row.site.to_string());
    for (index, spec) in FEATURES.iter().enumerate() {
        let cell = match (row.patient.value(index), spec.kind) {
            (None, _) => String::new(),
            (Some(v), FeatureKind::Boolean) => if v == 1.0 { "1" } else { "0" }.to_string(),
            (Some(v), FeatureKind::Enum { levels, .. }) => {
                levels.get(v as usize).copied().unwrap_or("").to_string()
            }
            (Some(v), FeatureKind::Integer { .. } | FeatureKind::Number { .. }) => number(v),
        };
        cells.push(cell);
    }
    for (value, outcome) in row.outcomes.iter().zip(Outcome::ALL) {
        cells.push(match (value, outcome.kind()) {
            (None, _) => String::new(),
            (Some(v), OutcomeKind::Probability) => if *v == 1.0 { "1" } else { "0" }.to_string(),
            (Some(v), OutcomeKind::Quantity) => number(*v),
        });
    }
    for value in &row.truth {
        cells.push(value.map(number).unwrap_or_default());
    }
    cells
}

/// Writes `rows` with a header to `writer`.
///
/// # Errors
/// Any I/O error of the writer.
pub fn write_csv<W: Write>(rows: &[SynthRow], writer: W) -> csv::Result<()> {
    let mut csv = csv::Writer::from_writer(writer);
    csv.write_record(header())?;
    for row in rows {
        csv.write_record(cells(row))?;
    }
    csv.flush()?;
    Ok(())
}
