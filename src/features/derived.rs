//! Derived clinical features, computed in exactly one place: BMI, hypervascular tumour, Nadler
//! estimated blood volume, mFI-5 and the Caprini score (with the items that could not be assessed).
//!
//! These are shown in explanations and fed to the models; they are never required as input.

use serde::Serialize;

use super::patient::Patient;

/// Histologies treated as hypervascular (bleeding risk, embolisation candidates).
pub const HYPERVASCULAR: &[&str] = &["renal", "thyroid", "hepatocellular"];

/// Caprini risk factors that periop's inputs never capture; always reported as not assessed.
pub const CAPRINI_NOT_CAPTURED: &[&str] = &[
    "minor_surgery",
    "varicose_veins",
    "swollen_legs",
    "recent_sepsis_or_pneumonia",
    "acute_myocardial_infarction",
    "inflammatory_bowel_disease",
    "bed_rest_or_immobilising_cast",
    "central_venous_access",
    "thrombophilia",
    "family_history_of_vte",
    "stroke_or_spinal_cord_injury_within_1_month",
    "hip_pelvis_or_leg_fracture",
    "pregnancy_or_hormone_therapy",
];

/// Caprini risk band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapriniBand {
    Low,
    Moderate,
    High,
    Highest,
}

impl CapriniBand {
    /// Bands 0-1 low, 2 moderate, 3-4 high, >= 5 highest.
    pub fn from_score(score: u32) -> Self {
        match score {
            0 | 1 => Self::Low,
            2 => Self::Moderate,
            3 | 4 => Self::High,
            _ => Self::Highest,
        }
    }
}

/// A score computed from the items available, with the items that could not be assessed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartialScore {
    pub score: u32,
    /// Items whose input was missing (the score is then a lower bound).
    pub unassessed: Vec<&'static str>,
}

/// The Caprini score with its band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Caprini {
    pub score: u32,
    pub band: CapriniBand,
    /// Items whose input was missing, followed by [`CAPRINI_NOT_CAPTURED`].
    pub unassessed: Vec<&'static str>,
}

/// Every derived feature of one patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Derived {
    /// Given BMI, or weight / height^2 when absent.
    pub bmi: Option<f64>,
    /// `true` when the weight was computed from BMI and height.
    pub bmi_derived: bool,
    pub hypervascular_tumor: Option<bool>,
    pub nadler_blood_volume_ml: Option<f64>,
    pub mfi5: PartialScore,
    pub caprini: Caprini,
}

impl Derived {
    /// Computes every derived feature of `patient`.
    pub fn of(patient: &Patient) -> Self {
        let height_m = patient.get("height_cm").map(|h| h / 100.0);
        let given_bmi = patient.get("bmi");
        let computed_bmi = match (height_m, patient.get("weight_kg")) {
            (Some(h), Some(w)) => Some(w / (h * h)),
            _ => None,
        };
        let bmi = given_bmi.or(computed_bmi);
        let weight = patient.get("weight_kg").or(match (bmi, height_m) {
            (Some(b), Some(h)) => Some(b * h * h),
            _ => None,
        });
        let nadler_blood_volume_ml = match (patient.level("sex"), height_m, weight) {
            (Some("male"), Some(h), Some(w)) => {
                Some(1000.0 * (0.3669 * h.powi(3) + 0.03219 * w + 0.6041))
            }
            (Some("female"), Some(h), Some(w)) => {
                Some(1000.0 * (0.3561 * h.powi(3) + 0.03308 * w + 0.1833))
            }
            _ => None,
        };
        let hypervascular_tumor = patient
            .level("tumor_histology")
            .map(|h| HYPERVASCULAR.contains(&h));
        Self {
            bmi,
            bmi_derived: given_bmi.is_none() && computed_bmi.is_some(),
            hypervascular_tumor,
            nadler_blood_volume_ml,
            mfi5: mfi5(patient),
            caprini: caprini(patient, bmi),
        }
    }
}

/// mFI-5 = diabetes + COPD + CHF + hypertension + dependent functional status.
fn mfi5(patient: &Patient) -> PartialScore {
    let items: [(&'static str, Option<bool>); 5] = [
        ("diabetes", patient.level("diabetes").map(|d| d != "none")),
        ("copd", patient.get("copd").map(|v| v == 1.0)),
        (
            "congestive_heart_failure",
            patient.get("congestive_heart_failure").map(|v| v == 1.0),
        ),
        (
            "hypertension",
            patient.get("hypertension").map(|v| v == 1.0),
        ),
        (
            "functional_status",
            patient.level("functional_status").map(|f| f == "dependent"),
        ),
    ];
    sum_items(&items.map(|(name, present)| (name, present.map(u32::from))))
}

/// Caprini score from the items periop can assess.
fn caprini(patient: &Patient, bmi: Option<f64>) -> Caprini {
    let age_points = patient.get("age_years").map(|age| match age {
        a if a >= 75.0 => 3,
        a if a >= 61.0 => 2,
        a if a >= 41.0 => 1,
        _ => 0,
    });
    let items: [(&'static str, Option<u32>); 7] = [
        ("age", age_points),
        ("bmi_over_25", bmi.map(|b| if b > 25.0 { 1 } else { 0 })),
        (
            "major_surgery_over_45_min",
            patient
                .get("planned_duration_min")
                .map(|d| if d > 45.0 { 2 } else { 0 }),
        ),
        (
            "malignancy",
            patient
                .level("procedure")
                .map(|p| if p == "metastatic_tumor" { 2 } else { 0 }),
        ),
        (
            "history_of_vte",
            patient
                .get("history_of_vte")
                .map(|v| if v == 1.0 { 3 } else { 0 }),
        ),
        (
            "copd",
            patient.get("copd").map(|v| if v == 1.0 { 1 } else { 0 }),
        ),
        (
            "congestive_heart_failure",
            patient
                .get("congestive_heart_failure")
                .map(|v| if v == 1.0 { 1 } else { 0 }),
        ),
    ];
    let partial = sum_items(&items);
    let mut unassessed = partial.unassessed;
    unassessed.extend_from_slice(CAPRINI_NOT_CAPTURED);
    Caprini {
        score: partial.score,
        band: CapriniBand::from_score(partial.score),
        unassessed,
    }
}

fn sum_items(items: &[(&'static str, Option<u32>)]) -> PartialScore {
    PartialScore {
        score: items.iter().filter_map(|(_, p)| *p).sum(),
        unassessed: items
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(n, _)| *n)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(pairs: &[(&str, f64)]) -> Patient {
        let mut p = Patient::empty();
        for (name, v) in pairs {
            p.set(name, Some(*v));
        }
        p
    }

    #[test]
    fn nadler_volume_matches_the_published_formula_for_a_man() {
        // 1.80 m, 80 kg man: 1000*(0.3669*5.832 + 0.03219*80 + 0.6041) = 5319.06 mL
        let p = patient(&[("sex", 1.0), ("height_cm", 180.0), ("weight_kg", 80.0)]);
        let v = Derived::of(&p).nadler_blood_volume_ml.expect("volume");
        assert!((v - 5319.06).abs() < 0.01, "{v}");
    }

    #[test]
    fn bmi_is_derived_from_height_and_weight_only_when_absent() {
        let p = patient(&[("height_cm", 200.0), ("weight_kg", 100.0)]);
        let d = Derived::of(&p);
        assert_eq!(d.bmi, Some(25.0));
        assert!(d.bmi_derived);
    }

    #[test]
    fn caprini_counts_available_items_and_names_the_missing_ones() {
        // age 70 (2) + bmi 31 (1) + 120 min (2) + history of VTE (3) = 8, copd and chf unknown
        let p = patient(&[
            ("age_years", 70.0),
            ("bmi", 31.0),
            ("planned_duration_min", 120.0),
            ("history_of_vte", 1.0),
            ("procedure", 2.0),
        ]);
        let c = Derived::of(&p).caprini;
        assert_eq!(c.score, 8);
        assert_eq!(c.band, CapriniBand::Highest);
        assert!(c.unassessed.contains(&"copd"));
        assert!(c.unassessed.contains(&"varicose_veins"));
        assert!(!c.unassessed.contains(&"age"));
    }

    #[test]
    fn mfi5_counts_insulin_and_non_insulin_diabetes_alike() {
        let p = patient(&[
            ("diabetes", 2.0),
            ("copd", 0.0),
            ("congestive_heart_failure", 1.0),
            ("hypertension", 1.0),
            ("functional_status", 1.0),
        ]);
        assert_eq!(
            Derived::of(&p).mfi5,
            PartialScore {
                score: 4,
                unassessed: vec![]
            }
        );
    }

    #[test]
    fn hypervascular_follows_histology() {
        assert_eq!(
            Derived::of(&patient(&[("tumor_histology", 3.0)])).hypervascular_tumor,
            Some(true)
        );
        assert_eq!(
            Derived::of(&patient(&[("tumor_histology", 0.0)])).hypervascular_tumor,
            Some(false)
        );
        assert_eq!(Derived::of(&patient(&[])).hypervascular_tumor, None);
    }
}
