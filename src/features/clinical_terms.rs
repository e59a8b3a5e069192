//! Model features in a clinician's words: a label and a display unit for every dictionary input
//! and derived feature, so an explanation reads "Age 72 y", "Planned duration 5 h" or "D-dimer
//! not on file" instead of `age_years = 72`. Display units may differ from the dictionary unit
//! (planned duration is stored in minutes and shown in hours); the conversion is a factor here.

use serde_json::Value;

/// How one model feature is shown to a clinician.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClinicalTerm {
    /// Model feature name (dictionary or derived).
    pub feature: &'static str,
    /// Clinician label, sentence case ("Planned duration").
    pub label: &'static str,
    /// Display unit, `None` for counts, scores, booleans and levels.
    pub unit: Option<&'static str>,
    /// Multiply the stored value by this to get the display unit (minutes → hours: 1/60).
    pub factor: f64,
    /// Decimals shown (trailing zeros dropped).
    pub decimals: u8,
}

const fn term(
    feature: &'static str,
    label: &'static str,
    unit: Option<&'static str>,
    decimals: u8,
) -> ClinicalTerm {
    ClinicalTerm {
        feature,
        label,
        unit,
        factor: 1.0,
        decimals,
    }
}

/// Every model feature, dictionary inputs then derived features (a test checks completeness).
pub const TERMS: &[ClinicalTerm] = &[
    term("age_years", "Age", Some("y"), 0),
    term("sex", "Sex", None, 0),
    term("height_cm", "Height", Some("cm"), 0),
    term("weight_kg", "Weight", Some("kg"), 1),
    term("bmi", "BMI", Some("kg/m²"), 1),
    term("smoking_status", "Smoking", None, 0),
    term("asa_class", "ASA class", None, 0),
    term("functional_status", "Functional status", None, 0),
    term("ecog", "ECOG performance status", None, 0),
    term("diabetes", "Diabetes", None, 0),
    term("hypertension", "Hypertension", None, 0),
    term(
        "coronary_artery_disease",
        "Coronary artery disease",
        None,
        0,
    ),
    term("congestive_heart_failure", "Heart failure", None, 0),
    term("copd", "COPD", None, 0),
    term("chronic_kidney_disease", "Chronic kidney disease", None, 0),
    term("osteoporosis", "Osteoporosis", None, 0),
    term("history_of_vte", "History of VTE", None, 0),
    term("depression_anxiety", "Depression or anxiety", None, 0),
    term("cognitive_impairment", "Cognitive impairment", None, 0),
    term("alcohol_use_disorder", "Alcohol use disorder", None, 0),
    term("chronic_opioid_use", "Chronic opioid use", None, 0),
    term("chronic_steroid_use", "Chronic steroid use", None, 0),
    term(
        "bleeding_disorder_or_anticoagulant",
        "Bleeding disorder or anticoagulant",
        None,
        0,
    ),
    term("hemoglobin_g_dl", "Hemoglobin", Some("g/dL"), 1),
    term("platelets_10e9_l", "Platelets", Some("×10⁹/L"), 0),
    term("inr", "INR", None, 2),
    term("aptt_s", "aPTT", Some("s"), 0),
    term("albumin_g_dl", "Albumin", Some("g/dL"), 1),
    term("creatinine_mg_dl", "Creatinine", Some("mg/dL"), 2),
    term("d_dimer_mg_l_feu", "D-dimer", Some("mg/L FEU"), 2),
    term("bone_density_hu", "Bone density", Some("HU"), 0),
    term("stenosis_grade", "Stenosis grade", None, 0),
    term("procedure", "Procedure", None, 0),
    term("minimally_invasive", "Minimally invasive", None, 0),
    term("fused_levels", "Fused levels", None, 0),
    term("decompressed_levels", "Decompressed levels", None, 0),
    term("revision_surgery", "Revision surgery", None, 0),
    term("fusion_to_sacrum", "Fusion to the sacrum", None, 0),
    ClinicalTerm {
        feature: "planned_duration_min",
        label: "Planned duration",
        unit: Some("h"),
        factor: 1.0 / 60.0,
        decimals: 1,
    },
    term(
        "tranexamic_acid_planned",
        "Tranexamic acid planned",
        None,
        0,
    ),
    term("ambulatory_planned", "Ambulatory surgery planned", None, 0),
    term("tumor_histology", "Tumor histology", None, 0),
    term("preop_embolization", "Preoperative embolization", None, 0),
    term("tumor_resection", "Tumor resection", None, 0),
    term("odi_baseline", "Baseline ODI", None, 0),
    term(
        "symptom_duration_over_12mo",
        "Symptoms for more than 12 months",
        None,
        0,
    ),
    term("back_pain_dominant", "Back pain dominant", None, 0),
    // Derived features.
    term("hypervascular_tumor", "Hypervascular tumor", None, 0),
    ClinicalTerm {
        feature: "nadler_blood_volume_ml",
        label: "Estimated blood volume",
        unit: Some("L"),
        factor: 1.0 / 1000.0,
        decimals: 1,
    },
    term("mfi5", "mFI-5 frailty score", None, 0),
    term("caprini_score", "Caprini score", None, 0),
];

/// The term of a model feature.
pub fn term_of(feature: &str) -> Option<&'static ClinicalTerm> {
    TERMS.iter().find(|t| t.feature == feature)
}

/// The clinician label of a feature (the feature name itself when it has no term).
pub fn label(feature: &str) -> &str {
    term_of(feature).map_or(feature, |t| t.label)
}

/// An enum level in words (`non_insulin` → "non-insulin-treated", `lumbar_fusion` → "lumbar fusion").
pub fn level_text(feature: &str, level: &str) -> String {
    match (feature, level) {
        ("diabetes", "non_insulin") => "non-insulin-treated".to_string(),
        ("diabetes", "insulin") => "insulin-treated".to_string(),
        ("procedure", "acdf") => "ACDF".to_string(),
        ("tumor_histology", "myeloma_lymphoma") => "myeloma or lymphoma".to_string(),
        ("tumor_resection", "en_bloc") => "en bloc".to_string(),
        _ => level.replace('_', " "),
    }
}

/// A number with at most `decimals` decimals, trailing zeros dropped.
pub fn format_number(x: f64, decimals: u8) -> String {
    let text = format!("{x:.*}", usize::from(decimals));
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" {
        "0".to_string()
    } else {
        text
    }
}

/// A value in the feature's display unit ("5 h", "11.2 g/dL", "yes", "lumbar fusion"); `None`
/// for a missing value.
pub fn value_text(feature: &str, value: &Value) -> Option<String> {
    let term = term_of(feature);
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(if *b { "yes" } else { "no" }.to_string()),
        Value::String(s) => Some(level_text(feature, s)),
        Value::Number(n) => {
            let x = n.as_f64()?;
            Some(match term {
                Some(t) => {
                    let shown = format_number(x * t.factor, t.decimals);
                    match t.unit {
                        Some(unit) => format!("{shown} {unit}"),
                        None => shown,
                    }
                }
                None => format_number(x, 2),
            })
        }
        other => Some(other.to_string()),
    }
}

/// The feature and its value as a clinician reads it: "Age 72 y", "Smoking: current",
/// "Hypertension: yes", "D-dimer not on file".
pub fn phrase(feature: &str, value: &Value) -> String {
    let label = label(feature);
    match value_text(feature, value) {
        None => format!("{label} not on file"),
        Some(text) => match value {
            Value::Number(_) => format!("{label} {text}"),
            _ => format!("{label}: {text}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::model_input::model_feature_names;
    use serde_json::json;

    #[test]
    fn every_model_feature_has_exactly_one_term_in_model_order() {
        let names: Vec<&str> = TERMS.iter().map(|t| t.feature).collect();
        assert_eq!(names, model_feature_names());
    }

    #[test]
    fn phrases_read_as_a_clinician_writes_them() {
        assert_eq!(phrase("age_years", &json!(72)), "Age 72 y");
        assert_eq!(
            phrase("planned_duration_min", &json!(300)),
            "Planned duration 5 h"
        );
        assert_eq!(
            phrase("planned_duration_min", &json!(270)),
            "Planned duration 4.5 h"
        );
        assert_eq!(
            phrase("hemoglobin_g_dl", &json!(11.24)),
            "Hemoglobin 11.2 g/dL"
        );
        assert_eq!(
            phrase("d_dimer_mg_l_feu", &Value::Null),
            "D-dimer not on file"
        );
        assert_eq!(phrase("hypertension", &json!(true)), "Hypertension: yes");
        assert_eq!(
            phrase("diabetes", &json!("insulin")),
            "Diabetes: insulin-treated"
        );
        assert_eq!(
            phrase("procedure", &json!("lumbar_fusion")),
            "Procedure: lumbar fusion"
        );
        assert_eq!(
            phrase("nadler_blood_volume_ml", &json!(4830.0)),
            "Estimated blood volume 4.8 L"
        );
        assert_eq!(phrase("caprini_score", &json!(5)), "Caprini score 5");
    }

    #[test]
    fn numbers_drop_trailing_zeros_but_keep_precision_asked_for() {
        assert_eq!(format_number(1.10, 2), "1.1");
        assert_eq!(format_number(2.0, 1), "2");
        assert_eq!(format_number(-0.001, 1), "0");
        assert_eq!(format_number(0.456, 2), "0.46");
    }
}
