//! The truth columns `p_true_<outcome>` (`cohort-model.md` §4): each outcome's probability given
//! the patient's complete preoperative state and site offset, integrated over the intermediate
//! events.
//!
//! Closed form where the specification allows it (true median EBL `exp(μ)`, massive blood loss,
//! screw loosening, CSF leak, DVT, ODI failure, ACDF conversion). Delirium, prolonged LOS,
//! non-home discharge and readmission depend on the blood loss: they are integrated by Monte
//! Carlo over [`TRUTH_DRAWS`] stratified EBL draws from the row's own seeded stream. Given one EBL
//! draw, the binary chain (CSF leak, DVT, delirium → LOS → discharge → readmission) is summed
//! exactly over its 2⁵ branches, which is the same expectation as simulating the chain but
//! without its sampling noise.
//!
//! The truth uses the values before missingness is applied and the latent stenosis indicator:
//! it is the oracle that knows the full preoperative state, an upper bound for any model.

use crate::outcomes::Outcome;

use super::draw::Stream;
use super::equations::{
    blood_loss_ml, massive_probability, odi_failure_probability, EventTerms, Events, PatientLogits,
};
use super::math::{exp, normal_quantile, round_sig6, shift_logit, sigmoid};
use super::outcomes::applies;
use super::preop::Preop;

/// Monte Carlo draws per patient for the outcomes that depend on blood loss (§4: at least 256).
pub const TRUTH_DRAWS: usize = 256;

/// Probabilities of the EBL-dependent outcomes, averaged over the blood-loss draws.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ChainProbabilities {
    delirium: f64,
    prolonged_los: f64,
    nonhome: f64,
    readmission: f64,
}

/// The truth columns of `p` in [`Outcome::ALL`] order, rounded to six significant digits;
/// `None` outside the outcome's population.
pub fn truth(
    p: &Preop,
    logits: &PatientLogits,
    terms: &EventTerms,
    s: &mut Stream,
) -> [Option<f64>; 11] {
    let chain = chain_probabilities(p, logits, terms, s);
    Outcome::ALL.map(|o| {
        let value = match o {
            Outcome::BloodLossMl => exp(logits.ebl_mu),
            Outcome::MassiveBloodLoss => massive_probability(logits.ebl_mu, logits.ebl_sigma),
            Outcome::ScrewLoosening => sigmoid(logits.screw_loosening),
            Outcome::CsfLeak => sigmoid(logits.csf_leak),
            Outcome::Dvt => sigmoid(logits.dvt),
            Outcome::Delirium => chain.delirium,
            Outcome::ProlongedLos => chain.prolonged_los,
            Outcome::NonhomeDischarge => chain.nonhome,
            Outcome::Readmission30d => chain.readmission,
            Outcome::OdiMcidFailure => shift_logit(odi_failure_probability(p), logits.odi_offset),
            Outcome::AcdfInpatientConversion => sigmoid(logits.acdf_conversion),
        };
        applies(p, o).then(|| round_sig6(value))
    })
}

/// Integrates the EBL → delirium → LOS → discharge → readmission chain.
fn chain_probabilities(
    p: &Preop,
    logits: &PatientLogits,
    terms: &EventTerms,
    s: &mut Stream,
) -> ChainProbabilities {
    const BOTH: [bool; 2] = [false, true];
    let weight = |event: bool, probability: f64| {
        if event {
            probability
        } else {
            1.0 - probability
        }
    };
    // CSF leak is only drawn inside its population; elsewhere it never happens.
    let p_csf = if applies(p, Outcome::CsfLeak) {
        sigmoid(logits.csf_leak)
    } else {
        0.0
    };
    let p_dvt = sigmoid(logits.dvt);
    // Discharge and readmission do not depend on the blood loss itself: tabulate them once.
    let p_nonhome =
        BOTH.map(|delirium| BOTH.map(|los| sigmoid(logits.nonhome + terms.nonhome(delirium, los))));
    let p_readmission = BOTH.map(|nonhome| {
        BOTH.map(|los| {
            BOTH.map(|csf| sigmoid(logits.readmission + terms.readmission(nonhome, los, csf)))
        })
    });

    let mut sum = ChainProbabilities::default();
    for k in 0..TRUTH_DRAWS {
        // Stratified draw: one uniform in each of TRUTH_DRAWS equal-probability strata.
        let z =
            normal_quantile((k as f64 + s.uniform().max(f64::MIN_POSITIVE)) / TRUTH_DRAWS as f64);
        let ebl = blood_loss_ml(logits.ebl_mu, logits.ebl_sigma, z);
        let p_delirium = sigmoid(logits.delirium + terms.delirium(ebl));
        sum.delirium += p_delirium;
        for csf_leak in BOTH {
            let w_csf = weight(csf_leak, p_csf);
            if w_csf == 0.0 {
                continue;
            }
            for dvt in BOTH {
                for delirium in BOTH {
                    let w = w_csf * weight(dvt, p_dvt) * weight(delirium, p_delirium);
                    let events = Events {
                        ebl,
                        csf_leak,
                        dvt,
                        delirium,
                    };
                    let p_los = sigmoid(logits.prolonged_los + terms.prolonged_los(&events));
                    sum.prolonged_los += w * p_los;
                    for los in BOTH {
                        let w_los = w * weight(los, p_los);
                        let p_nh = p_nonhome[usize::from(delirium)][usize::from(los)];
                        sum.nonhome += w_los * p_nh;
                        let p_re = &p_readmission;
                        let (l, c) = (usize::from(los), usize::from(csf_leak));
                        sum.readmission +=
                            w_los * (p_nh * p_re[1][l][c] + (1.0 - p_nh) * p_re[0][l][c]);
                    }
                }
            }
        }
    }
    let n = TRUTH_DRAWS as f64;
    ChainProbabilities {
        delirium: sum.delirium / n,
        prolonged_los: sum.prolonged_los / n,
        nonhome: sum.nonhome / n,
        readmission: sum.readmission / n,
    }
}
