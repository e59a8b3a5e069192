//! Site offsets (`cohort-model.md` §1): one `u_site ~ N(0, 0.3)` per site and binary outcome,
//! drawn from the seed before any row, added to the outcome's logit.
//!
//! `blood_loss_ml` is a quantity and `massive_blood_loss` is defined from it
//! (`[blood_loss_ml ≥ 2500]`), so neither has an offset. odi_mcid_failure is a threshold on a
//! normal change score; its offset is added to the logit of that probability.

use crate::outcomes::Outcome;

use super::draw::{Purpose, Stream};
use super::SITES;

/// The §1 standard deviation of the site offsets.
pub const SITE_OFFSET_SD: f64 = 0.3;

/// `true` for the outcomes that carry a site offset.
pub fn has_offset(outcome: Outcome) -> bool {
    !matches!(outcome, Outcome::BloodLossMl | Outcome::MassiveBloodLoss)
}

/// The offsets of one cohort, by site and outcome ([`Outcome::ALL`] order; 0 without offset).
#[derive(Debug, Clone, PartialEq)]
pub struct SiteEffects {
    offsets: [[f64; 11]; SITES.len()],
}

impl SiteEffects {
    /// Draws the offsets from the seed's cohort stream: site by site, outcomes in
    /// [`Outcome::ALL`] order. With `sd = 0` every offset is 0 (the reference run of §3).
    pub fn draw(seed: u64, sd: f64) -> Self {
        let mut stream = Stream::new(seed, Purpose::Cohort);
        let mut offsets = [[0.0; 11]; SITES.len()];
        for site in &mut offsets {
            for (slot, outcome) in site.iter_mut().zip(Outcome::ALL) {
                if has_offset(outcome) {
                    *slot = stream.normal(0.0, sd);
                }
            }
        }
        Self { offsets }
    }

    /// `u_site` of `outcome` at `site` (index into [`SITES`]).
    pub fn offset(&self, site: usize, outcome: Outcome) -> f64 {
        let index = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.offsets[site][index]
    }
}
