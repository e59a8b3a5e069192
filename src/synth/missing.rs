//! Missingness (`cohort-model.md` §2, MCAR) and the conversion of the complete preoperative state
//! into the recorded [`Patient`]: masked values and features that do not apply (stenosis outside
//! lumbar surgery, tumour fields and ECOG outside metastatic surgery) are missing.
//!
//! Masks are drawn after the outcomes, which are generated from the full values.

use crate::features::dictionary::level_code;
use crate::features::Patient;

use super::draw::Stream;
use super::math::ind;
use super::preop::{Preop, HISTOLOGIES, RESECTIONS};

/// Which recorded values are masked (missing completely at random).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mask {
    pub bone_density_hu: bool,
    pub d_dimer: bool,
    pub aptt: bool,
    pub inr: bool,
    pub albumin: bool,
    pub hemoglobin: bool,
    pub platelets: bool,
    pub creatinine: bool,
    pub odi_baseline: bool,
    pub ecog: bool,
}

impl Mask {
    /// §2 missingness: bone_density_hu 40 %; d_dimer 30 %; aptt_s and inr 15 %; albumin 10 %;
    /// other labs (hemoglobin, platelets, creatinine) 5 %; odi_baseline 10 %; ecog 20 % of meta.
    pub fn draw(p: &Preop, s: &mut Stream) -> Self {
        Self {
            bone_density_hu: s.bernoulli(0.40),
            d_dimer: s.bernoulli(0.30),
            aptt: s.bernoulli(0.15),
            inr: s.bernoulli(0.15),
            albumin: s.bernoulli(0.10),
            hemoglobin: s.bernoulli(0.05),
            platelets: s.bernoulli(0.05),
            creatinine: s.bernoulli(0.05),
            odi_baseline: s.bernoulli(0.10),
            ecog: p.meta() && s.bernoulli(0.20),
        }
    }
}

/// Index of `level` of an enum feature, as the patient stores it.
fn code(feature: &str, level: &str) -> Option<f64> {
    let code = level_code(feature, level)
        .expect("the synthetic levels are those of the dictionary (tested)");
    Some(code as f64)
}

/// The recorded patient: `p` with the masked and non-applicable values missing.
pub fn record(p: &Preop, mask: &Mask) -> Patient {
    let mut patient = Patient::empty();
    let mut set = |name: &str, value: Option<f64>| patient.set(name, value);
    let unless = |masked: bool, value: f64| (!masked).then_some(value);
    let flag = |x: bool| Some(ind(x));
    set("age_years", Some(p.age));
    set("sex", code("sex", if p.female { "female" } else { "male" }));
    set("height_cm", Some(p.height_cm));
    set("weight_kg", Some(p.weight_kg));
    set("bmi", Some(p.bmi));
    set("smoking_status", code("smoking_status", p.smoking.level()));
    set("asa_class", Some(f64::from(p.asa)));
    set(
        "functional_status",
        code(
            "functional_status",
            if p.dependent {
                "dependent"
            } else {
                "independent"
            },
        ),
    );
    set(
        "ecog",
        p.tumor.and_then(|t| unless(mask.ecog, f64::from(t.ecog))),
    );
    set("diabetes", code("diabetes", p.diabetes.level()));
    set("hypertension", flag(p.hypertension));
    set("coronary_artery_disease", flag(p.cad));
    set("congestive_heart_failure", flag(p.chf));
    set("copd", flag(p.copd));
    set("chronic_kidney_disease", flag(p.ckd));
    set("osteoporosis", flag(p.osteoporosis));
    set("history_of_vte", flag(p.history_of_vte));
    set("depression_anxiety", flag(p.depression));
    set("cognitive_impairment", flag(p.cognitive));
    set("alcohol_use_disorder", flag(p.alcohol));
    set("chronic_opioid_use", flag(p.opioid));
    set("chronic_steroid_use", flag(p.steroid));
    set("bleeding_disorder_or_anticoagulant", flag(p.bleeding));
    set("hemoglobin_g_dl", unless(mask.hemoglobin, p.hemoglobin));
    set("platelets_10e9_l", unless(mask.platelets, p.platelets));
    set("inr", unless(mask.inr, p.inr));
    set("aptt_s", unless(mask.aptt, p.aptt));
    set("albumin_g_dl", unless(mask.albumin, p.albumin));
    set("creatinine_mg_dl", unless(mask.creatinine, p.creatinine));
    set("d_dimer_mg_l_feu", unless(mask.d_dimer, p.d_dimer));
    set(
        "bone_density_hu",
        unless(mask.bone_density_hu, p.bone_density_hu),
    );
    set("stenosis_grade", p.stenosis_grade.map(f64::from));
    set("procedure", code("procedure", p.procedure.level()));
    set("minimally_invasive", flag(p.mis));
    set("fused_levels", Some(f64::from(p.fused)));
    set("decompressed_levels", Some(f64::from(p.decompressed)));
    set("revision_surgery", flag(p.revision));
    set("fusion_to_sacrum", flag(p.to_sacrum));
    set("planned_duration_min", Some(p.duration));
    set("tranexamic_acid_planned", flag(p.txa));
    set("ambulatory_planned", flag(p.ambulatory));
    set(
        "tumor_histology",
        p.tumor
            .and_then(|t| code("tumor_histology", HISTOLOGIES[t.histology])),
    );
    set("preop_embolization", p.tumor.map(|t| ind(t.embolization)));
    set(
        "tumor_resection",
        p.tumor
            .and_then(|t| code("tumor_resection", RESECTIONS[t.resection])),
    );
    set("odi_baseline", unless(mask.odi_baseline, p.odi0));
    set("symptom_duration_over_12mo", flag(p.long_symptoms));
    set("back_pain_dominant", flag(p.back_dominant));
    patient
}

#[cfg(test)]
mod tests {
    use super::super::preop::{Diabetes, Procedure, Smoking};
    use super::*;
    use crate::features::dictionary::{FeatureKind, FEATURES};

    #[test]
    fn every_synthetic_level_is_a_dictionary_level() {
        let levels = |name: &str| match FEATURES[crate::features::dictionary::idx(name)].kind {
            FeatureKind::Enum { levels, .. } => levels.to_vec(),
            _ => vec![],
        };
        for p in Procedure::ALL {
            assert!(levels("procedure").contains(&p.level()));
        }
        for s in [Smoking::Never, Smoking::Former, Smoking::Current] {
            assert!(levels("smoking_status").contains(&s.level()));
        }
        for d in [Diabetes::None, Diabetes::NonInsulin, Diabetes::Insulin] {
            assert!(levels("diabetes").contains(&d.level()));
        }
        assert_eq!(levels("tumor_histology"), HISTOLOGIES.to_vec());
        assert_eq!(levels("tumor_resection"), RESECTIONS.to_vec());
    }
}
