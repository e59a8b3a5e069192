//! The preoperative state of one synthetic patient (`cohort-model.md` §1–2): procedure, site,
//! demographics, comorbidities, labs, imaging, surgical plan and patient-reported baseline.
//!
//! Every value is rounded to its recorded precision as soon as it is drawn, so later draws,
//! the outcomes and the truth columns all use exactly the numbers written to the file. The state
//! is complete (nothing masked); missingness is applied later by `missing`. It also keeps the
//! latent `stenosis` indicator, which the outcome equations use but the file does not record.

use super::draw::Stream;
use super::math::{clip, ind, round_to, sigmoid};
use super::SITES;

/// The planned procedure (levels of `procedure` in `features.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Procedure {
    Discectomy,
    Decompression,
    LumbarFusion,
    Acdf,
    PosteriorCervicalFusion,
    Metastatic,
}

impl Procedure {
    /// In the order of the §1 mix.
    pub const ALL: [Self; 6] = [
        Self::Discectomy,
        Self::Decompression,
        Self::LumbarFusion,
        Self::Acdf,
        Self::PosteriorCervicalFusion,
        Self::Metastatic,
    ];
    /// §1: the procedure mix.
    const MIX: [f64; 6] = [0.10, 0.15, 0.40, 0.20, 0.05, 0.10];

    /// The dictionary level.
    pub fn level(self) -> &'static str {
        match self {
            Self::Discectomy => "lumbar_discectomy",
            Self::Decompression => "lumbar_decompression",
            Self::LumbarFusion => "lumbar_fusion",
            Self::Acdf => "acdf",
            Self::PosteriorCervicalFusion => "posterior_cervical_fusion",
            Self::Metastatic => "metastatic_tumor",
        }
    }

    /// `lumbar` = discectomy ∪ decompression ∪ fusion.
    pub fn is_lumbar(self) -> bool {
        matches!(
            self,
            Self::Discectomy | Self::Decompression | Self::LumbarFusion
        )
    }
}

/// `smoking_status` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Smoking {
    Never,
    Former,
    Current,
}

impl Smoking {
    pub fn level(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::Former => "former",
            Self::Current => "current",
        }
    }
}

/// `diabetes` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diabetes {
    None,
    NonInsulin,
    Insulin,
}

impl Diabetes {
    pub fn level(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::NonInsulin => "non_insulin",
            Self::Insulin => "insulin",
        }
    }

    /// Any diabetes (the `diabetes` term of the equations).
    pub fn any(self) -> bool {
        self != Self::None
    }
}

/// `tumor_resection` levels (the dictionary's, in its order).
pub const RESECTIONS: &[&str] = crate::features::dictionary::TUMOR_RESECTIONS;
/// `tumor_histology` levels (the dictionary's, in its order).
pub const HISTOLOGIES: &[&str] = crate::features::dictionary::TUMOR_HISTOLOGIES;

/// Metastatic-only fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tumor {
    /// Index into [`RESECTIONS`].
    pub resection: usize,
    /// Index into [`HISTOLOGIES`].
    pub histology: usize,
    pub embolization: bool,
    pub ecog: u8,
}

impl Tumor {
    pub fn partial_vertebrectomy(&self) -> bool {
        self.resection == 1
    }
    pub fn en_bloc(&self) -> bool {
        self.resection == 2
    }
    /// hypervascular = renal / thyroid / hepatocellular.
    pub fn hypervascular(&self) -> bool {
        matches!(
            HISTOLOGIES[self.histology],
            "renal" | "thyroid" | "hepatocellular"
        )
    }
}

/// The complete preoperative state of one patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Preop {
    pub procedure: Procedure,
    /// Index into [`SITES`].
    pub site: usize,
    pub age: f64,
    pub female: bool,
    pub height_cm: f64,
    pub weight_kg: f64,
    pub bmi: f64,
    pub smoking: Smoking,
    pub diabetes: Diabetes,
    pub hypertension: bool,
    pub cad: bool,
    pub chf: bool,
    pub copd: bool,
    pub osteoporosis: bool,
    pub history_of_vte: bool,
    pub depression: bool,
    pub cognitive: bool,
    pub alcohol: bool,
    pub opioid: bool,
    pub steroid: bool,
    pub bleeding: bool,
    pub ckd: bool,
    pub dependent: bool,
    pub asa: u8,
    pub hemoglobin: f64,
    pub platelets: f64,
    pub albumin: f64,
    pub creatinine: f64,
    pub aptt: f64,
    pub inr: f64,
    pub d_dimer: f64,
    pub bone_density_hu: f64,
    /// Latent stenosis indicator (lumbar only; not a CSV column).
    pub stenosis: bool,
    /// Schizas grade; `None` outside lumbar surgery (not recorded).
    pub stenosis_grade: Option<u8>,
    pub revision: bool,
    pub fused: u8,
    pub decompressed: u8,
    pub to_sacrum: bool,
    pub mis: bool,
    pub txa: bool,
    /// Present exactly for metastatic tumour surgery.
    pub tumor: Option<Tumor>,
    pub duration: f64,
    pub ambulatory: bool,
    pub odi0: f64,
    pub long_symptoms: bool,
    pub back_dominant: bool,
}

impl Preop {
    pub fn meta(&self) -> bool {
        self.procedure == Procedure::Metastatic
    }
    pub fn lfus(&self) -> bool {
        self.procedure == Procedure::LumbarFusion
    }
    pub fn male(&self) -> bool {
        !self.female
    }
    pub fn current_smoker(&self) -> bool {
        self.smoking == Smoking::Current
    }
    /// mFI-5 = diabetes + copd + chf + hypertension + dependent (`features.md`, Derived).
    pub fn mfi5(&self) -> f64 {
        ind(self.diabetes.any())
            + ind(self.copd)
            + ind(self.chf)
            + ind(self.hypertension)
            + ind(self.dependent)
    }

    /// Draws the preoperative state in the causal order of §1–2.
    pub fn draw(s: &mut Stream) -> Self {
        use Procedure::{
            Acdf, Decompression, Discectomy, LumbarFusion, Metastatic, PosteriorCervicalFusion,
        };
        // §1 Procedure and site.
        let procedure = Procedure::ALL[s.categorical(&Procedure::MIX)];
        let site = s.categorical(&[1.0 / SITES.len() as f64; SITES.len()]);
        let meta = procedure == Metastatic;
        let lfus = procedure == LumbarFusion;
        let lumbar = procedure.is_lumbar();
        let either = |meta_value: f64, other: f64| if meta { meta_value } else { other };

        // §2 Demographics. Age in whole years, BMI and weight to 0.1, height to 0.1 cm.
        let (age_mean, age_sd) = match procedure {
            Discectomy => (47.0, 14.0),
            Metastatic => (58.0, 11.0),
            Acdf => (53.0, 11.0),
            _ => (62.0, 11.0),
        };
        let age = round_to(clip(s.normal(age_mean, age_sd), 18.0, 90.0), 0);
        let p_female = match procedure {
            Metastatic => 0.40,
            Discectomy => 0.43,
            _ => 0.52,
        };
        let female = s.bernoulli(p_female);
        let bmi = round_to(clip(s.normal(either(24.0, 29.0), 5.0), 16.0, 55.0), 1);
        // Height is kept within 1.40–2.10 m so that weight = bmi·h² stays within the dictionary
        // range (30–250 kg) for every BMI; the bound is beyond 3.6 SD and practically never binds.
        let h = if female {
            s.normal(1.62, 0.06)
        } else {
            s.normal(1.75, 0.07)
        };
        let height_cm = round_to(clip(100.0 * h, 140.0, 210.0), 1);
        let h = height_cm / 100.0;
        let weight_kg = round_to(bmi * h * h, 1);

        let smoking = if s.bernoulli(either(0.25, 0.18)) {
            Smoking::Current
        } else if s.bernoulli(0.25) {
            Smoking::Former
        } else {
            Smoking::Never
        };
        let over = |x: f64, threshold: f64| (x - threshold).max(0.0);
        let diabetes = if s.bernoulli(0.08 + 0.003 * over(age, 40.0) + 0.01 * over(bmi, 25.0)) {
            if s.bernoulli(0.30) {
                Diabetes::Insulin
            } else {
                Diabetes::NonInsulin
            }
        } else {
            Diabetes::None
        };
        let hypertension = s.bernoulli(sigmoid(-3.2 + 0.055 * age + 0.05 * (bmi - 27.0)));
        let cad = s.bernoulli(0.02 + 0.002 * over(age, 40.0));
        let chf = s.bernoulli(0.005 + 0.0006 * over(age, 40.0));
        let copd = s.bernoulli(0.06);
        let osteoporosis = s.bernoulli(clip(
            0.02 + 0.006 * over(age, 45.0) + 0.08 * ind(female),
            0.0,
            0.6,
        ));
        let history_of_vte = s.bernoulli(0.03);
        let depression = s.bernoulli(0.20);
        let cognitive = s.bernoulli(clip(0.002 + 0.004 * over(age, 60.0), 0.0, 0.3));
        let alcohol = s.bernoulli(0.05);
        let opioid = s.bernoulli(either(0.60, 0.28));
        let steroid = s.bernoulli(0.03);
        let bleeding = s.bernoulli(clip(0.01 + 0.002 * over(age, 50.0), 0.0, 0.2));
        let ckd = s.bernoulli(0.03 + 0.002 * over(age, 50.0));
        let dependent = s.bernoulli(either(0.35, 0.03 + 0.001 * over(age, 60.0)));
        let asa_raw = 1.2
            + 0.02 * (age - 40.0)
            + 0.6 * ind(diabetes.any())
            + 0.5 * ind(cad)
            + 0.8 * ind(chf)
            + 0.4 * ind(copd)
            + 0.03 * over(bmi, 30.0)
            + 1.0 * ind(meta)
            + s.normal(0.0, 0.55);
        let asa = clip(asa_raw.round(), 1.0, 4.0) as u8;

        // Labs, rounded to reporting precision; hemoglobin, aPTT, INR, creatinine, D-dimer and HU
        // have no clip in the spec and are only bounded by the dictionary range (never binds).
        let hemoglobin = match (meta, female) {
            (true, _) => s.normal(11.8, 1.8),
            (false, true) => s.normal(13.2, 1.2),
            (false, false) => s.normal(14.4, 1.2),
        };
        let hemoglobin = round_to(clip(hemoglobin, 3.0, 25.0), 1);
        let platelets = round_to(
            clip(
                s.normal(either(230.0, 240.0), either(90.0, 60.0)),
                30.0,
                700.0,
            ),
            0,
        );
        let albumin = round_to(
            clip(
                s.normal(either(3.6, 4.1) - 0.005 * (age - 60.0), either(0.5, 0.35)),
                1.8,
                5.2,
            ),
            1,
        );
        let ln = super::math::ln;
        let creatinine = s.lognormal(ln(0.75) + 0.15 * ind(!female) + ln(1.8) * ind(ckd), 0.20);
        let creatinine = round_to(clip(creatinine, 0.1, 20.0), 2);
        let aptt = round_to(clip(s.normal(30.0, 4.0), 10.0, 200.0), 1);
        let inr = round_to(clip(s.lognormal(0.0, 0.08), 0.5, 10.0), 2);
        let d_dimer = s.lognormal(ln(0.35) + 0.015 * (age - 60.0) + ln(2.5) * ind(meta), 0.7);
        let d_dimer = round_to(clip(d_dimer, 0.0, 100.0), 2);
        let bone_density_hu = round_to(
            clip(
                s.normal(135.0 - 1.5 * (age - 60.0) - 8.0 * ind(female), 35.0),
                -100.0,
                600.0,
            ),
            0,
        );

        // Imaging: stenosis (lumbar only).
        let (stenosis, stenosis_grade) = if lumbar {
            let stenosis = s.bernoulli(if procedure == Discectomy { 0.10 } else { 0.85 });
            let grade = if stenosis {
                s.categorical(&[0.15, 0.35, 0.35, 0.15]) as u8
            } else {
                0
            };
            (stenosis, Some(grade))
        } else {
            (false, None)
        };

        // Surgical plan.
        let revision = s.bernoulli(either(0.05, 0.15));
        let fused = match procedure {
            LumbarFusion => 1 + s.categorical(&[0.50, 0.28, 0.12, 0.06, 0.04]) as u8,
            Acdf => 1 + s.categorical(&[0.55, 0.35, 0.10]) as u8,
            PosteriorCervicalFusion => 2 + s.categorical(&[0.2, 0.3, 0.3, 0.2]) as u8,
            Metastatic => [0, 2, 4, 6][s.categorical(&[0.10, 0.20, 0.45, 0.25])],
            Discectomy | Decompression => 0,
        };
        let decompressed = match procedure {
            Decompression => 1 + s.categorical(&[0.5, 0.35, 0.15]) as u8,
            LumbarFusion => 1.max(fused - u8::from(s.bernoulli(0.2))),
            _ => 0,
        };
        let to_sacrum = lfus && s.bernoulli(0.30 + 0.10 * ind(fused >= 2));
        let mis = lumbar && s.bernoulli(0.30);
        let txa = s.bernoulli(0.70);
        let tumor = meta.then(|| {
            let resection = s.categorical(&[0.60, 0.35, 0.05]);
            let histology = s.categorical(&[0.30, 0.15, 0.10, 0.10, 0.05, 0.06, 0.07, 0.07, 0.10]);
            let mut tumor = Tumor {
                resection,
                histology,
                embolization: false,
                ecog: 0,
            };
            tumor.embolization = tumor.hypervascular() && s.bernoulli(0.5);
            tumor.ecog = 1 + s.categorical(&[0.30, 0.35, 0.25, 0.10]) as u8;
            tumor
        });
        let base = match procedure {
            Discectomy => 70.0,
            Decompression => 110.0,
            LumbarFusion => 150.0,
            Acdf => 95.0,
            PosteriorCervicalFusion => 170.0,
            Metastatic => 200.0,
        };
        let extra_levels = (f64::from(fused) - 1.0).max(0.0);
        let duration = (base + 35.0 * extra_levels + 25.0 * ind(revision) - 20.0 * ind(mis))
            * s.lognormal(0.0, 0.2);
        let duration = round_to(clip(duration, 30.0, 720.0), 0);
        let ambulatory = procedure == Acdf && fused <= 2 && asa <= 3 && s.bernoulli(0.6);

        // Patient-reported baseline.
        let odi0 = round_to(clip(s.normal(45.0, 16.0), 4.0, 96.0), 0);
        let long_symptoms = s.bernoulli(0.35);
        let back_dominant = s.bernoulli(if procedure == Discectomy { 0.20 } else { 0.45 });

        Self {
            procedure,
            site,
            age,
            female,
            height_cm,
            weight_kg,
            bmi,
            smoking,
            diabetes,
            hypertension,
            cad,
            chf,
            copd,
            osteoporosis,
            history_of_vte,
            depression,
            cognitive,
            alcohol,
            opioid,
            steroid,
            bleeding,
            ckd,
            dependent,
            asa,
            hemoglobin,
            platelets,
            albumin,
            creatinine,
            aptt,
            inr,
            d_dimer,
            bone_density_hu,
            stenosis,
            stenosis_grade,
            revision,
            fused,
            decompressed,
            to_sacrum,
            mis,
            txa,
            tumor,
            duration,
            ambulatory,
            odi0,
            long_symptoms,
            back_dominant,
        }
    }
}
