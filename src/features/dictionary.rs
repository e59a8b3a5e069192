//! The canonical feature dictionary (`shared/clinical/features.md`, v1) as code.
//!
//! Every place a patient is described (training CSV, JSON request, batch CSV, manifests, schemas)
//! uses these names, types, units and ranges. The order of [`FEATURES`] is the CSV column order and
//! the first part of every model's input vector. `schemas/feature_dictionary.json` and
//! `schemas/patient.schema.json` are exported from this table (`periop schemas`), and a test proves
//! the checked-in files and this table agree.

use serde::Serialize;

/// Version of the feature dictionary; bumped when a name, unit, range or level changes.
pub const DICTIONARY_VERSION: &str = "1";

/// The value type of one input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeatureKind {
    /// A real number within an accepted physiological range (inclusive).
    Number { min: f64, max: f64 },
    /// A whole number within an inclusive range.
    Integer { min: i64, max: i64 },
    /// `true`/`false` in JSON, `0`/`1` in CSV.
    Boolean,
    /// One of the listed lower-snake levels; encoded for the model as the level's index.
    Enum {
        levels: &'static [&'static str],
        /// `true` for unordered levels (procedure, histology). Every enum reaches the model as its
        /// level index: lightgbm3 builds datasets without parameters, so LightGBM's
        /// `categorical_feature` cannot be declared; a tree isolates any level with two splits, and
        /// the clinically grouped levels (hypervascular histologies) are adjacent and also derived.
        nominal: bool,
    },
}

/// Where a feature sits in the clinical picture (for grouping in docs and forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureGroup {
    Patient,
    Comorbidity,
    Laboratory,
    Imaging,
    SurgicalPlan,
    PatientReported,
}

/// One input of the dictionary.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FeatureSpec {
    pub name: &'static str,
    pub group: FeatureGroup,
    #[serde(flatten)]
    pub kind: FeatureKind,
    /// UCUM-style unit, `None` for dimensionless values.
    pub unit: Option<&'static str>,
    pub required: bool,
    /// Terminology codes (LOINC, ICD-10-CM, SNOMED CT, CPT); `(?)` marks codes to verify.
    pub codes: &'static [&'static str],
    pub description: &'static str,
}

const fn num(min: f64, max: f64) -> FeatureKind {
    FeatureKind::Number { min, max }
}
const fn int(min: i64, max: i64) -> FeatureKind {
    FeatureKind::Integer { min, max }
}
const BOOL: FeatureKind = FeatureKind::Boolean;

macro_rules! feature {
    ($name:literal, $group:ident, $kind:expr, $unit:expr, $req:literal, [$($code:literal),*], $desc:literal) => {
        FeatureSpec {
            name: $name,
            group: FeatureGroup::$group,
            kind: $kind,
            unit: $unit,
            required: $req,
            codes: &[$($code),*],
            description: $desc,
        }
    };
}

pub const PROCEDURES: &[&str] = &[
    "lumbar_discectomy",
    "lumbar_decompression",
    "lumbar_fusion",
    "acdf",
    "posterior_cervical_fusion",
    "metastatic_tumor",
];
pub const TUMOR_HISTOLOGIES: &[&str] = &[
    "lung",
    "breast",
    "prostate",
    "renal",
    "thyroid",
    "hepatocellular",
    "gastrointestinal",
    "myeloma_lymphoma",
    "other",
];
pub const TUMOR_RESECTIONS: &[&str] = &[
    "palliative_decompression",
    "partial_vertebrectomy",
    "en_bloc",
];

/// Every input feature, in canonical (CSV and model) order.
pub const FEATURES: &[FeatureSpec] = &[
    // Patient
    feature!(
        "age_years",
        Patient,
        num(18.0, 100.0),
        Some("a"),
        true,
        ["Patient.birthDate"],
        "Age at surgery"
    ),
    feature!(
        "sex",
        Patient,
        FeatureKind::Enum {
            levels: &["female", "male"],
            nominal: false
        },
        None,
        true,
        ["Patient.gender"],
        "Administrative sex"
    ),
    feature!(
        "height_cm",
        Patient,
        num(120.0, 220.0),
        Some("cm"),
        false,
        ["LOINC 8302-2"],
        "Body height"
    ),
    feature!(
        "weight_kg",
        Patient,
        num(30.0, 250.0),
        Some("kg"),
        false,
        ["LOINC 29463-7"],
        "Body weight"
    ),
    feature!(
        "bmi",
        Patient,
        num(12.0, 70.0),
        Some("kg/m2"),
        false,
        ["LOINC 39156-5"],
        "Body mass index; derived from height and weight when absent"
    ),
    feature!(
        "smoking_status",
        Patient,
        FeatureKind::Enum {
            levels: &["never", "former", "current"],
            nominal: false
        },
        None,
        false,
        ["LOINC 72166-2"],
        "Tobacco smoking status"
    ),
    feature!(
        "asa_class",
        Patient,
        int(1, 5),
        None,
        false,
        [],
        "ASA physical status class"
    ),
    feature!(
        "functional_status",
        Patient,
        FeatureKind::Enum {
            levels: &["independent", "dependent"],
            nominal: false
        },
        None,
        false,
        [],
        "Preoperative functional status (NSQIP partially or totally dependent = dependent)"
    ),
    feature!(
        "ecog",
        Patient,
        int(0, 4),
        None,
        false,
        ["LOINC 89247-1"],
        "ECOG performance status (metastatic patients)"
    ),
    // Comorbidities
    feature!(
        "diabetes",
        Comorbidity,
        FeatureKind::Enum {
            levels: &["none", "non_insulin", "insulin"],
            nominal: false
        },
        None,
        false,
        [
            "ICD-10-CM E10.*",
            "ICD-10-CM E11.*",
            "ICD-10-CM Z79.4 (insulin)",
            "SNOMED CT 44054006"
        ],
        "Diabetes mellitus and its treatment"
    ),
    feature!(
        "hypertension",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM I10", "SNOMED CT 38341003"],
        "Hypertension"
    ),
    feature!(
        "coronary_artery_disease",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM I25.*", "SNOMED CT 53741008 (?)"],
        "Coronary artery disease"
    ),
    feature!(
        "congestive_heart_failure",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM I50.*", "SNOMED CT 42343007"],
        "Congestive heart failure"
    ),
    feature!(
        "copd",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM J44.*", "SNOMED CT 13645005"],
        "Chronic obstructive pulmonary disease"
    ),
    feature!(
        "chronic_kidney_disease",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM N18.*", "SNOMED CT 709044004 (?)"],
        "Chronic kidney disease"
    ),
    feature!(
        "osteoporosis",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM M80.*", "ICD-10-CM M81.*", "SNOMED CT 64859006"],
        "Osteoporosis"
    ),
    feature!(
        "history_of_vte",
        Comorbidity,
        BOOL,
        None,
        false,
        [
            "ICD-10-CM Z86.718",
            "ICD-10-CM Z86.711",
            "ICD-10-CM I82.4*",
            "ICD-10-CM I26.*",
            "SNOMED CT 128053003",
            "SNOMED CT 59282003"
        ],
        "History of venous thromboembolism (DVT or PE)"
    ),
    feature!(
        "depression_anxiety",
        Comorbidity,
        BOOL,
        None,
        false,
        [
            "ICD-10-CM F32.*",
            "ICD-10-CM F33.*",
            "ICD-10-CM F41.*",
            "SNOMED CT 35489007"
        ],
        "Depression or anxiety disorder"
    ),
    feature!(
        "cognitive_impairment",
        Comorbidity,
        BOOL,
        None,
        false,
        [
            "ICD-10-CM F03.*",
            "ICD-10-CM G30.*",
            "ICD-10-CM G31.84",
            "SNOMED CT 52448006"
        ],
        "Dementia or mild cognitive impairment"
    ),
    feature!(
        "alcohol_use_disorder",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM F10.2*", "SNOMED CT 7200002 (?)"],
        "Alcohol use disorder"
    ),
    feature!(
        "chronic_opioid_use",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM Z79.891"],
        "Chronic preoperative opioid use"
    ),
    feature!(
        "chronic_steroid_use",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM Z79.52"],
        "Chronic systemic steroid use"
    ),
    feature!(
        "bleeding_disorder_or_anticoagulant",
        Comorbidity,
        BOOL,
        None,
        false,
        ["ICD-10-CM D68.*", "ICD-10-CM Z79.01"],
        "Bleeding disorder or long-term anticoagulant"
    ),
    // Laboratory
    feature!(
        "hemoglobin_g_dl",
        Laboratory,
        num(3.0, 25.0),
        Some("g/dL"),
        false,
        ["LOINC 718-7"],
        "Haemoglobin (g/L / 10)"
    ),
    feature!(
        "platelets_10e9_l",
        Laboratory,
        num(5.0, 1500.0),
        Some("10*9/L"),
        false,
        ["LOINC 777-3"],
        "Platelet count (10*3/uL = 10*9/L)"
    ),
    feature!(
        "inr",
        Laboratory,
        num(0.5, 10.0),
        Some("{ratio}"),
        false,
        ["LOINC 6301-6"],
        "International normalised ratio"
    ),
    feature!(
        "aptt_s",
        Laboratory,
        num(10.0, 200.0),
        Some("s"),
        false,
        ["LOINC 14979-9"],
        "Activated partial thromboplastin time"
    ),
    feature!(
        "albumin_g_dl",
        Laboratory,
        num(1.0, 6.5),
        Some("g/dL"),
        false,
        ["LOINC 1751-7"],
        "Serum albumin (g/L / 10)"
    ),
    feature!(
        "creatinine_mg_dl",
        Laboratory,
        num(0.1, 20.0),
        Some("mg/dL"),
        false,
        ["LOINC 2160-0", "LOINC 14682-9 (umol/L / 88.4)"],
        "Serum creatinine"
    ),
    feature!(
        "d_dimer_mg_l_feu",
        Laboratory,
        num(0.0, 100.0),
        Some("mg/L{FEU}"),
        false,
        ["LOINC 48065-7"],
        "D-dimer in fibrinogen-equivalent units (DDU, LOINC 48066-5, is not converted)"
    ),
    // Imaging
    feature!(
        "bone_density_hu",
        Imaging,
        num(-100.0, 600.0),
        Some("[hnsf'U]"),
        false,
        [],
        "Mean L1-L4 Hounsfield units on CT"
    ),
    feature!(
        "stenosis_grade",
        Imaging,
        int(0, 3),
        None,
        false,
        [],
        "Schizas grade A-D coded 0-3 (lumbar only)"
    ),
    // Surgical plan
    feature!(
        "procedure",
        SurgicalPlan,
        FeatureKind::Enum {
            levels: PROCEDURES,
            nominal: true
        },
        None,
        true,
        [
            "CPT 63030",
            "CPT 63047",
            "CPT 22612/22630/22633",
            "CPT 22551",
            "CPT 22600 (?)"
        ],
        "Planned spine procedure"
    ),
    feature!(
        "minimally_invasive",
        SurgicalPlan,
        BOOL,
        None,
        false,
        [],
        "Minimally invasive approach"
    ),
    feature!(
        "fused_levels",
        SurgicalPlan,
        int(0, 12),
        None,
        false,
        [],
        "Instrumented levels"
    ),
    feature!(
        "decompressed_levels",
        SurgicalPlan,
        int(0, 8),
        None,
        false,
        [],
        "Decompressed levels"
    ),
    feature!(
        "revision_surgery",
        SurgicalPlan,
        BOOL,
        None,
        false,
        [],
        "Revision of previous spine surgery"
    ),
    feature!(
        "fusion_to_sacrum",
        SurgicalPlan,
        BOOL,
        None,
        false,
        [],
        "Lowest instrumented vertebra S1"
    ),
    feature!(
        "planned_duration_min",
        SurgicalPlan,
        num(15.0, 900.0),
        Some("min"),
        false,
        [],
        "Planned operative time"
    ),
    feature!(
        "tranexamic_acid_planned",
        SurgicalPlan,
        BOOL,
        None,
        false,
        [],
        "Tranexamic acid planned"
    ),
    feature!(
        "ambulatory_planned",
        SurgicalPlan,
        BOOL,
        None,
        false,
        [],
        "Planned same-day or < 48 h stay"
    ),
    feature!(
        "tumor_histology",
        SurgicalPlan,
        FeatureKind::Enum {
            levels: TUMOR_HISTOLOGIES,
            nominal: true
        },
        None,
        false,
        [],
        "Primary tumour histology (metastatic only)"
    ),
    feature!(
        "preop_embolization",
        SurgicalPlan,
        BOOL,
        None,
        false,
        [],
        "Preoperative embolisation (metastatic only)"
    ),
    feature!(
        "tumor_resection",
        SurgicalPlan,
        FeatureKind::Enum {
            levels: TUMOR_RESECTIONS,
            nominal: false
        },
        None,
        false,
        [],
        "Extent of tumour resection (metastatic only)"
    ),
    // Patient-reported
    feature!(
        "odi_baseline",
        PatientReported,
        num(0.0, 100.0),
        Some("{score}"),
        false,
        [],
        "Oswestry Disability Index at baseline"
    ),
    feature!(
        "symptom_duration_over_12mo",
        PatientReported,
        BOOL,
        None,
        false,
        [],
        "Symptoms for more than 12 months"
    ),
    feature!(
        "back_pain_dominant",
        PatientReported,
        BOOL,
        None,
        false,
        [],
        "Back pain dominates leg pain"
    ),
];

/// Index of a feature in [`FEATURES`], or `None` for an unknown name.
pub fn feature_index(name: &str) -> Option<usize> {
    FEATURES.iter().position(|f| f.name == name)
}

/// Index of a feature known at compile time.
///
/// # Panics
/// Panics when `name` is not in the dictionary: callers pass literal names, and a typo must fail
/// the first test that touches it rather than silently read nothing.
pub fn idx(name: &str) -> usize {
    match feature_index(name) {
        Some(i) => i,
        None => panic!("feature {name} is not in the dictionary"),
    }
}

/// Index of `level` among an enum feature's levels.
pub fn level_code(feature: &str, level: &str) -> Option<usize> {
    match FEATURES[idx(feature)].kind {
        FeatureKind::Enum { levels, .. } => levels.iter().position(|l| *l == level),
        _ => None,
    }
}
