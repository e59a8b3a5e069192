//! The outcome equations of `cohort-model.md` §3, written like the specification.
//!
//! Each binary outcome's logit is split into a preoperative part (`β0 + LP` of the preoperative
//! terms, no site offset) and, where the outcome depends on intermediate events, the event terms.
//! Both the outcome draws (`outcomes`) and the truth columns (`truth`) use these functions, so
//! the two cannot drift apart.

use super::math::{clip, exp, ind, ln, normal_cdf, round_to};
use super::preop::{Preop, Procedure};

/// Largest blood loss written (the dataset reader accepts 1–50 000 mL).
const EBL_MAX_ML: f64 = 50_000.0;
/// massive_blood_loss = [blood_loss_ml ≥ 2500].
pub const MASSIVE_EBL_ML: f64 = 2500.0;

/// `max(fused − 1, 0)`.
fn extra_levels(p: &Preop) -> f64 {
    (f64::from(p.fused) - 1.0).max(0.0)
}

/// §3 EBL: `μ` of `ln blood_loss_ml`.
pub fn ebl_mu(p: &Preop) -> f64 {
    let base_ebl = match p.procedure {
        Procedure::Discectomy => 50.0,
        Procedure::Decompression => 120.0,
        Procedure::LumbarFusion => 400.0,
        Procedure::Acdf => 50.0,
        Procedure::PosteriorCervicalFusion => 300.0,
        Procedure::Metastatic => 600.0,
    };
    let lambda = if p.meta() { ln(1.10) } else { ln(1.30) };
    let mut mu = ln(base_ebl)
        + lambda * extra_levels(p)
        + ln(1.08) * (p.bmi - 27.0) / 5.0
        + ln(1.30) * ind(p.revision)
        + ln(0.60) * ind(p.mis)
        + ln(0.80) * ind(p.txa);
    if let Some(t) = &p.tumor {
        let hypervascular = t.hypervascular();
        mu += ln(1.8) * ind(t.partial_vertebrectomy())
            + ln(2.5) * ind(t.en_bloc())
            + ln(1.8) * ind(hypervascular && !t.embolization)
            + ln(1.25) * ind(hypervascular && t.embolization)
            + ln(1.3) * ind(p.platelets < 100.0)
            + ln(1.2) * ind(p.current_smoker())
            + ln(1.1) * ind(t.ecog >= 3);
    }
    mu
}

/// §3 EBL: `σ` of `ln blood_loss_ml`.
pub fn ebl_sigma(p: &Preop) -> f64 {
    if p.meta() {
        0.70
    } else {
        0.55
    }
}

/// `blood_loss_ml = exp(μ + σ·z)`, recorded in whole mL within the dictionary range.
pub fn blood_loss_ml(mu: f64, sigma: f64, z: f64) -> f64 {
    clip(round_to(exp(mu + sigma * z), 0), 1.0, EBL_MAX_ML)
}

/// `P(blood_loss_ml ≥ 2500) = 1 − Φ((ln 2500 − μ)/σ)`.
pub fn massive_probability(mu: f64, sigma: f64) -> f64 {
    normal_cdf((mu - ln(MASSIVE_EBL_ML)) / sigma)
}

/// screw_loosening (lfus), β0 −2.63.
pub fn screw_loosening(p: &Preop) -> f64 {
    -2.63
        + ln(0.977) * (p.bone_density_hu - 130.0)
        + ln(2.065) * ind(p.male())
        + ln(1.699) * ind(p.to_sacrum)
        + ln(3.616) * ind(p.fused >= 3)
        + ln(1.03) * (p.age - 60.0)
        + ln(1.3) * ind(p.bmi >= 25.0)
        + ln(1.5) * ind(p.osteoporosis)
}

/// csf_leak (lfus), β0 −5.63.
pub fn csf_leak(p: &Preop) -> f64 {
    -5.63
        + ln(1.02) * (p.age - 60.0)
        + ln(2.28) * ind(p.revision)
        + ln(2.03) * ind(p.stenosis)
        + ln(1.40) * ind(p.diabetes.any())
        + ln(1.55) * ind(p.decompressed >= 2)
        + ln(1.5) * ind(p.osteoporosis)
        + ln(1.3) * ind(p.asa >= 3)
        + ln(1.6) * f64::from(p.stenosis_grade.unwrap_or(0))
}

/// dvt (all), β0 −3.53.
pub fn dvt(p: &Preop) -> f64 {
    -3.53
        + 0.06 * (p.age - 60.0)
        + ln(4.96) * ind(p.history_of_vte)
        + ln(1.34) * ind(p.hypertension)
        + ln(3.49) * ind(p.d_dimer > 0.5)
        + ln(1.5) * ind(p.bmi >= 30.0)
        + ln(1.3) * (p.duration - 150.0) / 60.0
        + ln(2.0) * ind(p.meta())
        + ln(2.0) * ind(p.dependent)
        - 0.08 * (p.aptt - 30.0)
        + ln(1.3) * ind(p.creatinine > 1.2)
}

/// delirium (all), β0 −3.65: the preoperative part.
pub fn delirium_preop(p: &Preop) -> f64 {
    -3.65
        + ln(1.07) * (p.age - 60.0)
        + ln(4.37) * ind(p.cognitive)
        + ln(2.5) * ind(p.depression)
        + ln(2.11) * ind(p.alcohol)
        + ln(1.86) * ind(p.opioid)
        + ln(1.4) * ind(p.chf)
        + ln(1.41) * ind(p.ckd)
        + ln(1.81) * ind(p.copd)
        + ln(1.23) * ind(p.female)
        + ln(1.2) * (p.duration - 150.0) / 60.0
        + ln(1.5) * ind(p.albumin < 3.5)
        + ln(1.4) * ind(p.hemoglobin < 12.0)
}

/// Intermediate events that later outcomes depend on (§3 causal order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Events {
    pub ebl: f64,
    /// Only ever true inside the csf_leak population (lumbar fusion).
    pub csf_leak: bool,
    pub dvt: bool,
    pub delirium: bool,
}

/// Coefficients of the event terms, computed once (they sit in the Monte Carlo inner loop).
#[derive(Debug, Clone, Copy)]
pub struct EventTerms {
    delirium_ebl: f64,
    los_ebl: f64,
    los_csf: f64,
    los_delirium: f64,
    los_dvt: f64,
    nonhome_delirium: f64,
    nonhome_los: f64,
    readmission_nonhome: f64,
    readmission_los: f64,
    readmission_csf: f64,
}

impl Default for EventTerms {
    fn default() -> Self {
        Self {
            delirium_ebl: ln(1.15),
            los_ebl: ln(1.5),
            los_csf: ln(2.0),
            los_delirium: ln(2.5),
            los_dvt: ln(2.0),
            nonhome_delirium: ln(2.5),
            nonhome_los: ln(2.5),
            readmission_nonhome: ln(1.59),
            readmission_los: ln(1.8),
            readmission_csf: ln(2.25),
        }
    }
}

impl EventTerms {
    /// delirium: `ln1.15·(ebl−300)/500`.
    pub fn delirium(&self, ebl: f64) -> f64 {
        self.delirium_ebl * (ebl - 300.0) / 500.0
    }

    /// prolonged_los: `ln1.5·(ebl−300)/500 + ln2.0·csf_leak + ln2.5·delirium + ln2.0·dvt`.
    pub fn prolonged_los(&self, e: &Events) -> f64 {
        self.los_ebl * (e.ebl - 300.0) / 500.0
            + self.los_csf * ind(e.csf_leak)
            + self.los_delirium * ind(e.delirium)
            + self.los_dvt * ind(e.dvt)
    }

    /// nonhome_discharge: `ln2.5·delirium + ln2.5·prolonged_los`.
    pub fn nonhome(&self, delirium: bool, prolonged_los: bool) -> f64 {
        self.nonhome_delirium * ind(delirium) + self.nonhome_los * ind(prolonged_los)
    }

    /// readmission_30d: `ln1.59·nonhome + ln1.8·prolonged_los + ln2.25·csf_leak`.
    pub fn readmission(&self, nonhome: bool, prolonged_los: bool, csf_leak: bool) -> f64 {
        self.readmission_nonhome * ind(nonhome)
            + self.readmission_los * ind(prolonged_los)
            + self.readmission_csf * ind(csf_leak)
    }
}

/// prolonged_los (all), β0 −2.36: the preoperative part.
pub fn prolonged_los_preop(p: &Preop) -> f64 {
    -2.36
        + ln(1.2) * (p.age - 60.0) / 10.0
        + ln(1.7) * ind(p.asa >= 3)
        + ln(1.3) * ind(p.female)
        + ln(1.3) * extra_levels(p)
        + ln(1.4) * (p.duration - 150.0) / 60.0
        + ln(2.0) * ind(p.dependent)
        + ln(1.3) * ind(p.diabetes.any())
        + ln(2.0) * ind(p.meta())
        + ln(1.8) * ind(p.albumin < 3.5)
        + ln(1.5) * ind(p.hemoglobin < 12.0)
        - ln(3.0) * ind(p.ambulatory)
}

/// nonhome_discharge (all), β0 −3.47: the preoperative part.
pub fn nonhome_preop(p: &Preop) -> f64 {
    -3.47
        + ln(1.06) * (p.age - 60.0)
        + ln(1.42) * ind(p.female)
        + ln(1.03) * (p.bmi - 28.0)
        + ln(1.70) * ind(p.asa >= 3)
        + ln(1.21) * p.mfi5()
        + ln(3.33) * ind(p.dependent)
        + ln(2.14) * ind(p.albumin < 3.5)
        + ln(1.75) * ind(p.fused >= 3)
        - ln(2.0) * ind(p.procedure == Procedure::Acdf)
}

/// readmission_30d (all), β0 −3.93: the preoperative part.
pub fn readmission_preop(p: &Preop) -> f64 {
    -3.93
        + ln(2.5) * ind(p.diabetes == super::preop::Diabetes::Insulin)
        + ln(2.8) * ind(p.bleeding)
        + ln(3.03) * ind(p.dependent)
        + ln(3.61) * ind(p.asa == 4)
        + ln(1.48) * ind(p.hemoglobin < 12.0)
        + ln(1.57) * ind(p.cad)
        + ln(1.41) * ind(p.fused >= 4)
        + ln(1.012) * (p.age - 60.0)
        + ln(2.233) * ind(p.creatinine > 1.5)
        + ln(1.5) * ind(p.meta())
}

/// odi_mcid_failure (lumbar), without site offset: `P(ΔODI < threshold)` with
/// `ΔODI = odi0·r + N(0, 11)`, threshold 22 points (discectomy) or 30 % of baseline (others).
pub fn odi_failure_probability(p: &Preop) -> f64 {
    let discectomy = p.procedure == Procedure::Discectomy;
    let r = if discectomy { 0.76 } else { 0.55 }
        - 0.08 * ind(p.long_symptoms)
        - 0.08 * ind(p.current_smoker())
        - 0.10 * ind(p.depression)
        - 0.10 * ind(p.opioid)
        - 0.10 * ind(p.revision)
        - 0.08 * ind(p.back_dominant)
        - 0.04 * ind(p.asa >= 3)
        - 0.002 * (p.age - 55.0);
    let threshold = if discectomy { 22.0 } else { 0.30 * p.odi0 };
    normal_cdf((threshold - p.odi0 * r) / 11.0)
}

/// acdf_inpatient_conversion (acdf ∧ ambulatory_planned), β0 −2.05.
pub fn acdf_conversion(p: &Preop) -> f64 {
    -2.05
        + ln(1.5) * ind(p.female)
        + ln(1.8) * ind(p.fused == 2)
        + ln(1.8) * ind(p.asa >= 3)
        + ln(1.2) * (p.age - 52.0) / 10.0
        + ln(1.3) * (p.duration - 95.0) / 30.0
        + ln(1.4) * ind(p.bmi >= 35.0)
        + ln(1.4) * ind(p.opioid)
        + ln(1.3) * ind(p.diabetes.any())
}

/// One patient's logits: the preoperative part of every binary equation plus its site offset,
/// and the EBL parameters. Shared by the outcome draws and the truth columns.
#[derive(Debug, Clone, Copy)]
pub struct PatientLogits {
    pub ebl_mu: f64,
    pub ebl_sigma: f64,
    pub screw_loosening: f64,
    pub csf_leak: f64,
    pub dvt: f64,
    pub delirium: f64,
    pub prolonged_los: f64,
    pub nonhome: f64,
    pub readmission: f64,
    /// odi_mcid_failure is not logistic: its offset is applied to the logit of
    /// [`odi_failure_probability`].
    pub odi_offset: f64,
    pub acdf_conversion: f64,
}

impl PatientLogits {
    /// Logits of `p` at its site.
    pub fn new(p: &Preop, sites: &super::sites::SiteEffects) -> Self {
        use crate::outcomes::Outcome as O;
        let u = |o| sites.offset(p.site, o);
        Self {
            ebl_mu: ebl_mu(p),
            ebl_sigma: ebl_sigma(p),
            screw_loosening: screw_loosening(p) + u(O::ScrewLoosening),
            csf_leak: csf_leak(p) + u(O::CsfLeak),
            dvt: dvt(p) + u(O::Dvt),
            delirium: delirium_preop(p) + u(O::Delirium),
            prolonged_los: prolonged_los_preop(p) + u(O::ProlongedLos),
            nonhome: nonhome_preop(p) + u(O::NonhomeDischarge),
            readmission: readmission_preop(p) + u(O::Readmission30d),
            odi_offset: u(O::OdiMcidFailure),
            acdf_conversion: acdf_conversion(p) + u(O::AcdfInpatientConversion),
        }
    }
}
