//! The input context a rule set sees (`docs/rules.md`, "What a rule set sees"): the patient's
//! normalised features, the derived scores and every prediction, and the tree of field paths a
//! rule may read ([`KnownFields`], used by the load-time checks).

use serde_json::{json, Map, Value};

use crate::features::dictionary::FEATURES;
use crate::features::{Derived, Patient};
use crate::outcomes::{Outcome, OutcomeKind};

/// Transfusion trigger of the allowable-blood-loss figure (g/dL): the restrictive threshold.
/// Rules that want another trigger compute their own from `derived.nadler_blood_volume_ml` and
/// `patient.hemoglobin_g_dl`.
pub const ABL_TARGET_HB_G_DL: f64 = 7.0;

/// Names of the members of `derived`.
pub const DERIVED_FIELDS: [&str; 7] = [
    "bmi",
    "hypervascular_tumor",
    "nadler_blood_volume_ml",
    "allowable_blood_loss_ml",
    "mfi5",
    "caprini_score",
    "caprini_band",
];

/// Members of a probability outcome's prediction.
pub const PROBABILITY_FIELDS: [&str; 4] = ["status", "probability", "risk_band", "relative_risk"];
/// Members of the blood-loss prediction.
pub const QUANTITY_FIELDS: [&str; 5] = ["status", "median", "p10", "p90", "risk_band"];

/// Allowable blood loss by Gross's formula, `EBV × (Hb − trigger) / Hb`, never negative.
pub fn allowable_blood_loss_ml(
    blood_volume_ml: Option<f64>,
    hemoglobin: Option<f64>,
) -> Option<f64> {
    let (ebv, hb) = (blood_volume_ml?, hemoglobin?);
    (hb > 0.0).then(|| (ebv * (hb - ABL_TARGET_HB_G_DL) / hb).max(0.0))
}

/// What a rule may read of one outcome's answer: the caller (the assessment service, or a
/// stored answer) translates its predictions into these, so the rules do not depend on the
/// answer's wire types.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictionFacts<'a> {
    pub outcome: Outcome,
    /// `false`: the outcome does not apply to this patient (`not_applicable`).
    pub applicable: bool,
    pub probability: Option<f64>,
    /// Blood loss: median, p10 and p90 in mL.
    pub quantity: Option<(f64, f64, f64)>,
    pub risk_band: Option<&'a str>,
    pub relative_risk: Option<f64>,
}

/// Builds the context of one patient from its derived features (computed once by the caller)
/// and its predictions (any order; outcomes without facts are `not_requested`).
pub fn build(patient: &Patient, derived: &Derived, predictions: &[PredictionFacts<'_>]) -> Value {
    let present = patient.to_json();
    let mut features = Map::new();
    for spec in FEATURES {
        features.insert(
            spec.name.to_string(),
            present.get(spec.name).cloned().unwrap_or(Value::Null),
        );
    }
    let d = derived;
    let number = |x: Option<f64>| x.map_or(Value::Null, Value::from);
    let derived = json!({
        "bmi": number(d.bmi),
        "hypervascular_tumor": d.hypervascular_tumor,
        "nadler_blood_volume_ml": number(d.nadler_blood_volume_ml),
        "allowable_blood_loss_ml": number(allowable_blood_loss_ml(
            d.nadler_blood_volume_ml,
            patient.get("hemoglobin_g_dl"),
        )),
        "mfi5": d.mfi5.score,
        "caprini_score": d.caprini.score,
        "caprini_band": d.caprini.band,
    });
    let mut by_outcome = Map::new();
    for outcome in Outcome::ALL {
        let facts = predictions.iter().find(|p| p.outcome == outcome);
        by_outcome.insert(outcome.id().to_string(), prediction(outcome, facts));
    }
    json!({ "patient": features, "derived": derived, "predictions": by_outcome })
}

fn prediction(outcome: Outcome, facts: Option<&PredictionFacts<'_>>) -> Value {
    let status = match facts.map(|f| f.applicable) {
        None => "not_requested",
        Some(true) => "ok",
        Some(false) => "not_applicable",
    };
    let ok = facts.filter(|f| f.applicable);
    let band = ok.and_then(|f| f.risk_band);
    match outcome.kind() {
        OutcomeKind::Quantity => {
            let q = ok.and_then(|f| f.quantity);
            json!({
                "status": status,
                "median": q.map(|q| q.0),
                "p10": q.map(|q| q.1),
                "p90": q.map(|q| q.2),
                "risk_band": band,
            })
        }
        OutcomeKind::Probability => json!({
            "status": status,
            "probability": ok.and_then(|f| f.probability),
            "risk_band": band,
            "relative_risk": ok.and_then(|f| f.relative_risk),
        }),
    }
}

/// The field paths a rule may read from the context.
pub struct KnownFields {
    paths: std::collections::BTreeSet<String>,
}

impl Default for KnownFields {
    fn default() -> Self {
        Self::new()
    }
}

impl KnownFields {
    /// Every path of [`build`]'s output, with every prefix (`predictions`, `predictions.dvt`, ...).
    pub fn new() -> Self {
        let mut paths = std::collections::BTreeSet::new();
        for root in ["patient", "derived", "predictions"] {
            paths.insert(root.to_string());
        }
        for spec in FEATURES {
            paths.insert(format!("patient.{}", spec.name));
        }
        for name in DERIVED_FIELDS {
            paths.insert(format!("derived.{name}"));
        }
        for outcome in Outcome::ALL {
            paths.insert(format!("predictions.{}", outcome.id()));
            let fields: &[&str] = match outcome.kind() {
                OutcomeKind::Quantity => &QUANTITY_FIELDS,
                OutcomeKind::Probability => &PROBABILITY_FIELDS,
            };
            for f in fields {
                paths.insert(format!("predictions.{}.{f}", outcome.id()));
            }
        }
        Self { paths }
    }

    /// Every path, dotted.
    pub fn paths(&self) -> &std::collections::BTreeSet<String> {
        &self.paths
    }

    /// Whether `path` (already split on `.`) names a field of the context.
    pub fn contains(&self, path: &[String]) -> bool {
        self.paths.contains(&path.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowable_blood_loss_follows_gross_and_is_never_negative() {
        let abl = allowable_blood_loss_ml(Some(5000.0), Some(14.0)).unwrap();
        assert!((abl - 2500.0).abs() < 1e-9);
        assert_eq!(allowable_blood_loss_ml(Some(5000.0), Some(6.0)), Some(0.0));
        assert_eq!(allowable_blood_loss_ml(None, Some(14.0)), None);
        assert_eq!(allowable_blood_loss_ml(Some(5000.0), None), None);
    }

    #[test]
    fn every_member_of_a_built_context_is_a_known_field() {
        let known = KnownFields::new();
        let patient = Patient::empty();
        let context = build(&patient, &Derived::of(&patient), &[]);
        for (root, members) in context.as_object().unwrap() {
            for (name, value) in members.as_object().unwrap() {
                let path = vec![root.clone(), name.clone()];
                assert!(known.contains(&path), "{path:?}");
                if let Some(inner) = value.as_object() {
                    for leaf in inner.keys() {
                        let mut p = path.clone();
                        p.push(leaf.clone());
                        assert!(known.contains(&p), "{p:?}");
                    }
                }
            }
        }
        assert!(!known.contains(&["patient".into(), "age".into()]));
        assert!(!known.contains(&["predictions".into(), "dvt".into(), "median".into()]));
    }
}
