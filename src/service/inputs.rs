//! `inputs` of an answer: the basis of the assessment (FDA CDS criterion 4): the inputs used (in
//! canonical form: what the models saw), the features derived from them, and the inputs missing
//! (reported, never imputed).

use serde_json::Value;

use super::explain;
use super::prepared::PreparedPatient;
use super::types::{DerivedInput, Inputs, UsedInput};
use crate::features::dictionary::FEATURES;

/// `inputs.used`, `inputs.derived` and `inputs.missing` of a prepared patient.
pub fn inputs(prepared: &PreparedPatient) -> Inputs {
    let canonical = prepared.canonical();
    let used = FEATURES
        .iter()
        .filter_map(|spec| {
            canonical.get(spec.name).map(|value| UsedInput {
                feature: spec.name.to_string(),
                value: value.clone(),
                unit: spec.unit.map(str::to_string),
            })
        })
        .collect();
    let missing = prepared
        .patient
        .missing()
        .into_iter()
        .filter(|name| !(*name == "bmi" && prepared.derived.bmi_derived))
        .map(str::to_string)
        .collect();
    Inputs {
        used,
        derived: derived_inputs(prepared),
        missing,
    }
}

fn derived_inputs(prepared: &PreparedPatient) -> Vec<DerivedInput> {
    let d = &prepared.derived;
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let mut out = Vec::new();
    if d.bmi_derived {
        out.push(DerivedInput {
            feature: "bmi".to_string(),
            value: d.bmi.map_or(Value::Null, explain::number),
            unit: Some("kg/m2".to_string()),
            detail: "weight_kg / (height_cm / 100)^2 (bmi not given)".to_string(),
            band: None,
            unassessed: None,
        });
    }
    out.push(DerivedInput {
        feature: "hypervascular_tumor".to_string(),
        value: d.hypervascular_tumor.map_or(Value::Null, Value::Bool),
        unit: None,
        detail: match d.hypervascular_tumor {
            Some(_) => "tumor_histology is renal, thyroid or hepatocellular".to_string(),
            None => "not computed: no tumor_histology".to_string(),
        },
        band: None,
        unassessed: None,
    });
    out.push(DerivedInput {
        feature: "nadler_blood_volume_ml".to_string(),
        value: d
            .nadler_blood_volume_ml
            .map_or(Value::Null, explain::number),
        unit: Some("mL".to_string()),
        detail: match d.nadler_blood_volume_ml {
            Some(_) => "Nadler formula from sex, height and weight".to_string(),
            None => "not computed: needs sex, height and weight (or bmi)".to_string(),
        },
        band: None,
        unassessed: None,
    });
    out.push(DerivedInput {
        feature: "mfi5".to_string(),
        value: Value::from(d.mfi5.score),
        unit: None,
        detail: "modified frailty index: diabetes, COPD, CHF, hypertension, dependent functional status; a lower bound when items are unassessed".to_string(),
        band: None,
        unassessed: Some(strings(&d.mfi5.unassessed)),
    });
    out.push(DerivedInput {
        feature: "caprini_score".to_string(),
        value: Value::from(d.caprini.score),
        unit: None,
        detail: "Caprini VTE risk score from the items periop captures; a lower bound (unassessed items count 0)".to_string(),
        band: serde_json::to_value(d.caprini.band)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)),
        unassessed: Some(strings(&d.caprini.unassessed)),
    });
    out
}
