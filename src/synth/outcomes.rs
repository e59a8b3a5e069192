//! Drawing one patient's observed outcomes in the causal order of `cohort-model.md` §3:
//! EBL, then CSF leak, DVT and delirium, then length of stay, discharge and readmission; each
//! binary outcome only inside its population (`features.md`, Outcomes).

use crate::outcomes::Outcome;

use super::draw::Stream;
use super::equations::{
    blood_loss_ml, odi_failure_probability, EventTerms, Events, PatientLogits, MASSIVE_EBL_ML,
};
use super::math::{ind, shift_logit, sigmoid};
use super::preop::{Preop, Procedure};

/// `true` when `outcome` is defined for the patient (its population in `features.md`).
pub fn applies(p: &Preop, outcome: Outcome) -> bool {
    match outcome {
        Outcome::ScrewLoosening | Outcome::CsfLeak => p.lfus(),
        Outcome::OdiMcidFailure => p.procedure.is_lumbar(),
        Outcome::AcdfInpatientConversion => p.procedure == Procedure::Acdf && p.ambulatory,
        _ => true,
    }
}

/// One patient's drawn outcomes; `None` outside the population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    pub blood_loss_ml: f64,
    pub screw_loosening: Option<bool>,
    pub csf_leak: Option<bool>,
    pub dvt: bool,
    pub delirium: bool,
    pub prolonged_los: bool,
    pub nonhome: bool,
    pub readmission: bool,
    pub odi_failure: Option<bool>,
    pub acdf_conversion: Option<bool>,
}

impl Observed {
    /// Draws every outcome of `p`.
    pub fn draw(p: &Preop, logits: &PatientLogits, terms: &EventTerms, s: &mut Stream) -> Self {
        let ebl = blood_loss_ml(logits.ebl_mu, logits.ebl_sigma, s.std_normal());
        let mut bernoulli =
            |applies: bool, logit: f64| applies.then(|| s.bernoulli(sigmoid(logit)));
        let screw_loosening = bernoulli(p.lfus(), logits.screw_loosening);
        let csf_leak = bernoulli(p.lfus(), logits.csf_leak);
        let dvt = s.bernoulli(sigmoid(logits.dvt));
        let delirium = s.bernoulli(sigmoid(logits.delirium + terms.delirium(ebl)));
        let events = Events {
            ebl,
            csf_leak: csf_leak == Some(true),
            dvt,
            delirium,
        };
        let prolonged_los =
            s.bernoulli(sigmoid(logits.prolonged_los + terms.prolonged_los(&events)));
        let nonhome = s.bernoulli(sigmoid(
            logits.nonhome + terms.nonhome(delirium, prolonged_los),
        ));
        let readmission = s.bernoulli(sigmoid(
            logits.readmission + terms.readmission(nonhome, prolonged_los, events.csf_leak),
        ));
        let odi_failure = p
            .procedure
            .is_lumbar()
            .then(|| s.bernoulli(shift_logit(odi_failure_probability(p), logits.odi_offset)));
        let acdf = applies(p, Outcome::AcdfInpatientConversion);
        let acdf_conversion = acdf.then(|| s.bernoulli(sigmoid(logits.acdf_conversion)));
        Self {
            blood_loss_ml: ebl,
            screw_loosening,
            csf_leak,
            dvt,
            delirium,
            prolonged_los,
            nonhome,
            readmission,
            odi_failure,
            acdf_conversion,
        }
    }

    /// The outcome columns in [`Outcome::ALL`] order (binary as 0/1).
    pub fn values(&self) -> [Option<f64>; 11] {
        let b = |x: bool| Some(ind(x));
        Outcome::ALL.map(|o| match o {
            Outcome::BloodLossMl => Some(self.blood_loss_ml),
            Outcome::MassiveBloodLoss => b(self.blood_loss_ml >= MASSIVE_EBL_ML),
            Outcome::ScrewLoosening => self.screw_loosening.map(ind),
            Outcome::CsfLeak => self.csf_leak.map(ind),
            Outcome::Dvt => b(self.dvt),
            Outcome::Delirium => b(self.delirium),
            Outcome::ProlongedLos => b(self.prolonged_los),
            Outcome::NonhomeDischarge => b(self.nonhome),
            Outcome::Readmission30d => b(self.readmission),
            Outcome::OdiMcidFailure => self.odi_failure.map(ind),
            Outcome::AcdfInpatientConversion => self.acdf_conversion.map(ind),
        })
    }
}
