//! The synthetic spine-surgery cohort of `shared/clinical/cohort-model.md` (v1): preoperative
//! features, outcomes and the truth columns `p_true_<outcome>`, for `periop synth`.
//!
//! No real patient data is used anywhere: this generator's known truth lets the project measure
//! how close each trained model comes to the best achievable one. Rows are independent: row `i`
//! draws from its own ChaCha8 streams derived from `(seed, i)` (after the cohort-wide site
//! offsets), so generation is parallel and the same seed and row count give a byte-identical
//! file on any machine.
//!
//! ```no_run
//! let rows = periop::synth::generate(1_000, 42);
//! periop::synth::write_csv(&rows, std::io::stdout()).expect("stdout");
//! ```

mod csv_out;
mod draw;
mod equations;
mod math;
mod missing;
mod outcomes;
mod preop;
mod sites;
mod summary;
mod truth;

use std::ops::Range;

use rayon::prelude::*;

use crate::features::Patient;

pub use csv_out::{header, write_csv};
pub use sites::SITE_OFFSET_SD;
pub use summary::{summarize, OutcomeSummary};
pub use truth::TRUTH_DRAWS;

use draw::{Purpose, Stream};
use equations::{EventTerms, PatientLogits};

/// Version of the data-generating model implemented here (`cohort-model.md`).
pub const COHORT_MODEL_VERSION: &str = "1";

/// The contributing sites (§1: uniform).
pub const SITES: [&str; 5] = ["site_a", "site_b", "site_c", "site_d", "site_e"];

/// Generation settings beyond rows and seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Standard deviation of the site offsets `u_site` (§1: 0.3). 0 reproduces the reference
    /// run of §3, whose base rates are quoted without site offsets.
    pub site_offset_sd: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            site_offset_sd: SITE_OFFSET_SD,
        }
    }
}

/// One synthetic surgery.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthRow {
    /// One of [`SITES`].
    pub site: &'static str,
    /// The recorded preoperative features (with missingness applied).
    pub patient: Patient,
    /// Outcomes in [`crate::outcomes::Outcome::ALL`] order; `None` outside the population.
    pub outcomes: [Option<f64>; 11],
    /// `p_true_<outcome>` in the same order (for blood loss: the true median in mL); `None`
    /// outside the population.
    pub truth: [Option<f64>; 11],
}

/// Generates `rows` rows with the specification's settings.
pub fn generate(rows: usize, seed: u64) -> Vec<SynthRow> {
    generate_range(seed, 0..rows as u64, &Settings::default())
}

/// Generates rows `range` of the cohort of `seed` (in parallel). Concatenating consecutive
/// ranges gives exactly the rows of one call over their union, which lets callers report
/// progress chunk by chunk.
pub fn generate_range(seed: u64, range: Range<u64>, settings: &Settings) -> Vec<SynthRow> {
    let sites = sites::SiteEffects::draw(seed, settings.site_offset_sd);
    let terms = EventTerms::default();
    range
        .into_par_iter()
        .map(|row| generate_row(seed, row, &sites, &terms))
        .collect()
}

/// Row `row` of the cohort: preoperative state, outcomes, truth, then missingness.
fn generate_row(seed: u64, row: u64, sites: &sites::SiteEffects, terms: &EventTerms) -> SynthRow {
    let mut stream = Stream::new(seed, Purpose::Row(row));
    let preop = preop::Preop::draw(&mut stream);
    let logits = PatientLogits::new(&preop, sites);
    let observed = outcomes::Observed::draw(&preop, &logits, terms, &mut stream);
    let mask = missing::Mask::draw(&preop, &mut stream);
    let truth = truth::truth(
        &preop,
        &logits,
        terms,
        &mut Stream::new(seed, Purpose::Truth(row)),
    );
    SynthRow {
        site: SITES[preop.site],
        patient: missing::record(&preop, &mask),
        outcomes: observed.values(),
        truth,
    }
}
