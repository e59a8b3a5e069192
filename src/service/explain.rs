//! Turning an exact TreeSHAP vector into what a clinician reads: one contribution per model
//! feature with the patient's value and unit, its clinical label, its effect on the probability
//! (percentage points) or on the blood-loss median (mL) along the SHAP path, a plain-language
//! summary of the top contributors (associations in the model, never causes), and a waterfall SVG.

use serde_json::Value;

use crate::features::clinical_terms;
use crate::features::dictionary::{FeatureKind, FEATURES};
use crate::features::model_input::model_feature_unit;
use crate::model::ensemble::Explanation;
use crate::outcomes::OutcomeKind;

use super::types::{Contribution, EffectUnit, ExplanationView, PredictionView, Scale};

/// Number of contributors named in the summary.
const TOP: usize = 3;

/// The model input value of feature `index` in the patient's terms: `null` when missing (`NaN`),
/// booleans and enum levels for dictionary features, numbers otherwise.
pub fn input_value(index: usize, x: f64) -> Value {
    if x.is_nan() {
        return Value::Null;
    }
    match FEATURES.get(index).map(|f| f.kind) {
        Some(FeatureKind::Boolean) => Value::Bool(x == 1.0),
        Some(FeatureKind::Enum { levels, .. }) => levels
            .get(x as usize)
            .map_or(Value::Null, |l| Value::String((*l).to_string())),
        Some(FeatureKind::Integer { .. }) => Value::from(x as i64),
        _ => number(x),
    }
}

/// A JSON number (`null` for a non-finite value, which JSON cannot hold).
pub fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Builds the explanation view of one prediction; `names` are the manifest's feature names and
/// `row` the model input (same order); `to_outcome` maps a raw score to the outcome's scale (the
/// calibrated probability, or `exp` for ln mL).
pub fn explanation_view(
    kind: OutcomeKind,
    names: &[String],
    row: &[f64],
    raw: f64,
    e: &Explanation,
    to_outcome: impl Fn(f64) -> f64,
) -> ExplanationView {
    let effect_unit = match kind {
        OutcomeKind::Probability => EffectUnit::PercentagePoints,
        OutcomeKind::Quantity => EffectUnit::Ml,
    };
    let scale_to_unit = match effect_unit {
        EffectUnit::PercentagePoints => 100.0,
        EffectUnit::Ml => 1.0,
    };
    let (base, effects) = effects(e.base_value, raw, &e.contributions, to_outcome);
    let contributions: Vec<Contribution> = names
        .iter()
        .zip(&e.contributions)
        .zip(effects)
        .enumerate()
        .map(|(i, ((name, &c), effect))| {
            let value = input_value(i, row.get(i).copied().unwrap_or(f64::NAN));
            Contribution {
                feature: name.clone(),
                label: clinical_terms::phrase(name, &value),
                value,
                unit: model_feature_unit(i).map(str::to_string),
                contribution: c,
                effect: effect * scale_to_unit,
            }
        })
        .collect();
    let summary = summary(e.base_value, raw, effect_unit, &contributions);
    ExplanationView {
        scale: match kind {
            OutcomeKind::Probability => Scale::LogOdds,
            OutcomeKind::Quantity => Scale::LogMl,
        },
        base_value: e.base_value,
        raw_score: raw,
        effect_unit,
        effect_base: base * scale_to_unit,
        contributions,
        summary,
    }
}

/// The SHAP path on the outcome's scale. TreeSHAP is additive on the raw scale only; the
/// probability (or mL) is a non-linear map of it, so a contribution's size there depends on
/// where it is added. periop adds the contributions one at a time to the base value, largest
/// absolute raw contribution first (ties in feature order), and gives each feature the change
/// of `to_outcome` at its step: `effect_i = f(s_i) − f(s_{i−1})` with `s_0 = base_value`. The
/// last step ends exactly at `raw`, so `f(base_value) + Σ effect_i = f(raw)`, the reported
/// probability (or median): the effects add up to the answer, and each has the sign of its raw
/// contribution because `f` is monotone. Returns `f(base_value)` and the effects in feature
/// order.
pub fn effects(
    base_value: f64,
    raw: f64,
    contributions: &[f64],
    to_outcome: impl Fn(f64) -> f64,
) -> (f64, Vec<f64>) {
    let mut order: Vec<usize> = (0..contributions.len())
        .filter(|&i| contributions[i] != 0.0)
        .collect();
    order.sort_by(|&a, &b| {
        contributions[b]
            .abs()
            .total_cmp(&contributions[a].abs())
            .then(a.cmp(&b))
    });
    let start = to_outcome(base_value);
    let mut effects = vec![0.0; contributions.len()];
    let (mut score, mut previous) = (base_value, start);
    for (step, &i) in order.iter().enumerate() {
        score += contributions[i];
        let current = if step + 1 == order.len() {
            to_outcome(raw)
        } else {
            to_outcome(score)
        };
        effects[i] = current - previous;
        previous = current;
    }
    (start, effects)
}

/// `feature = value unit`, or `feature (missing)`: the feature's wire name and raw value, for
/// readers who want the model's own terms (the waterfall's exact values).
pub fn describe(c: &Contribution) -> String {
    let value = match &c.value {
        Value::Null => return format!("{} (missing)", c.feature),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
            Some(x) => format!("{}", (x * 100.0).round() / 100.0),
            None => n.to_string(),
        },
        other => other.to_string(),
    };
    match display_unit(c.unit.as_deref()) {
        Some(unit) => format!("{} = {value} {unit}", c.feature),
        None => format!("{} = {value}", c.feature),
    }
}

/// UCUM units as a reader expects them (`a` → years; `{annotation}` units dropped).
fn display_unit(unit: Option<&str>) -> Option<&str> {
    match unit? {
        "a" => Some("years"),
        u if u.starts_with('{') => None,
        "[hnsf'U]" => Some("HU"),
        u => Some(u),
    }
}

/// A signed effect as a reader sees it: `+1.9 pp`, `−120 mL`, `<0.1 pp` when it rounds to zero.
pub fn effect_text(effect: f64, unit: EffectUnit) -> String {
    let decimals = match unit {
        EffectUnit::PercentagePoints => 1,
        EffectUnit::Ml => 0,
    };
    let shown = clinical_terms::format_number(effect.abs(), decimals);
    let symbol = unit.symbol();
    if shown == "0" {
        let smallest = match unit {
            EffectUnit::PercentagePoints => "0.1",
            EffectUnit::Ml => "1",
        };
        let sign = if effect < 0.0 { "−" } else { "+" };
        return format!("{sign}<{smallest} {symbol}");
    }
    let sign = if effect < 0.0 { "−" } else { "+" };
    format!("{sign}{shown} {symbol}")
}

/// The top contributors by absolute raw contribution (the order of the SHAP path), at most `n`.
pub fn top_contributors(contributions: &[Contribution], n: usize) -> Vec<&Contribution> {
    let mut top: Vec<&Contribution> = contributions
        .iter()
        .filter(|c| c.contribution != 0.0)
        .collect();
    top.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    top.truncate(n);
    top
}

/// Plain-language summary of the `TOP` contributors by absolute size, in clinical words with
/// their effect on the outcome's scale.
pub fn summary(
    base_value: f64,
    raw: f64,
    unit: EffectUnit,
    contributions: &[Contribution],
) -> String {
    let top = top_contributors(contributions, TOP);
    if top.is_empty() {
        return "At the model's average: no feature moves this prediction.".to_string();
    }
    let list = |up: bool| {
        top.iter()
            .filter(|c| (c.contribution > 0.0) == up)
            .map(|c| format!("{} ({})", c.label, effect_text(c.effect, unit)))
            .collect::<Vec<_>>()
    };
    let (raises, lowers) = (list(true), list(false));
    let higher = raw >= base_value;
    let (main, other, head, tail) = if higher {
        (raises, lowers, "Higher than", "lowered by")
    } else {
        (lowers, raises, "Lower than", "raised by")
    };
    let mut text = if main.is_empty() {
        format!("{head} the model's average; the largest contributions")
    } else {
        format!(
            "{head} the model's average mainly because of {}",
            main.join(", ")
        )
    };
    if !other.is_empty() {
        let sep = if main.is_empty() { " are" } else { ";" };
        text.push_str(&format!("{sep} {tail} {}", other.join(", ")));
    }
    text.push_str(". Contributions are associations in the model, not causes.");
    text
}

/// A waterfall SVG of one explanation (shap-rs `plot::svg::waterfall`), titled with the outcome
/// and model version, and labelled "synthetic training data" when `synthetic`. `None` when the
/// prediction has no explanation or the plot cannot be drawn.
pub fn explanation_svg(prediction: &PredictionView, synthetic: bool) -> Option<String> {
    use ndarray::{Array2, Array3};
    let e = prediction.explanation.as_ref()?;
    let n = e.contributions.len();
    let values = Array3::from_shape_vec(
        (1, n, 1),
        e.contributions.iter().map(|c| c.contribution).collect(),
    )
    .ok()?;
    let data = Array2::from_shape_vec(
        (1, n),
        e.contributions
            .iter()
            .map(|c| match &c.value {
                Value::Number(x) => x.as_f64().unwrap_or(f64::NAN),
                Value::Bool(b) => f64::from(u8::from(*b)),
                _ => f64::NAN,
            })
            .collect(),
    )
    .ok()?;
    let base = Array2::from_elem((1, 1), e.base_value);
    let labels = e.contributions.iter().map(|c| c.label.clone()).collect();
    let explanation = shap_rs::Explanation::new(values, base, data)
        .and_then(|x| x.with_feature_names(labels))
        .ok()?;
    let scale = match e.scale {
        Scale::LogOdds => "log-odds",
        Scale::LogMl => "ln mL",
    };
    let mut title = format!(
        "{} — {} ({scale})",
        prediction.outcome, prediction.model.version
    );
    if synthetic {
        title.push_str(" — synthetic training data");
    }
    let options = shap_rs::plot::svg::SvgOptions {
        width: 900,
        height: 520,
        title: Some(title),
        ..shap_rs::plot::svg::SvgOptions::default()
    };
    let svg = shap_rs::plot::svg::waterfall(&explanation, 0, 0, &options).ok()?;
    Some(widen(&svg, options.width, options.height))
}

/// shap-rs 0.1.0 draws labels right-aligned at a fixed x = 170 and leaves 38 px on the right, which
/// clips labels such as `planned_duration_min (missing)` and the last bar's value. Rather than
/// re-implementing the plot, widen the canvas: the view box starts left of 0 and ends further
/// right, and the background rectangle is moved to cover the new area. Unchanged when the header
/// does not have the expected form.
fn widen(svg: &str, width: u32, height: u32) -> String {
    const LEFT: u32 = 140;
    const RIGHT: u32 = 50;
    let total = width + LEFT + RIGHT;
    let header = format!("width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\"");
    if !svg.contains(&header) {
        return svg.to_string();
    }
    svg.replacen(
        &header,
        &format!("width=\"{total}\" height=\"{height}\" viewBox=\"-{LEFT} 0 {total} {height}\""),
        1,
    )
    .replacen(
        "<rect width=\"100%\" height=\"100%\"",
        &format!("<rect x=\"-{LEFT}\" width=\"100%\" height=\"100%\""),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::calibration::sigmoid;

    #[test]
    fn effects_add_up_to_the_answer_and_keep_each_sign() {
        let contributions = [0.8, -0.3, 0.0, 1.2, -0.05];
        let base = -3.0;
        let raw = base + contributions.iter().sum::<f64>();
        let (start, effects) = effects(base, raw, &contributions, sigmoid);
        assert!((start - sigmoid(base)).abs() < 1e-15);
        let total: f64 = effects.iter().sum();
        assert!((start + total - sigmoid(raw)).abs() < 1e-12);
        for (c, e) in contributions.iter().zip(&effects) {
            assert!(c.signum() * e.signum() >= 0.0, "{c} vs {e}");
        }
        assert_eq!(effects[2], 0.0);
        // The largest raw contribution is added first, at the base value.
        assert!((effects[3] - (sigmoid(base + 1.2) - sigmoid(base))).abs() < 1e-15);
    }

    #[test]
    fn effects_in_ml_follow_the_exponential_path() {
        let contributions = [0.5, -0.2];
        let base = 6.0;
        let raw = base + 0.3;
        let (start, effects) = effects(base, raw, &contributions, f64::exp);
        assert!((effects[0] - (base + 0.5).exp() + base.exp()).abs() < 1e-9);
        assert!((start + effects[0] + effects[1] - raw.exp()).abs() < 1e-9);
    }

    #[test]
    fn effect_text_is_signed_and_never_shows_a_bare_zero() {
        assert_eq!(effect_text(1.94, EffectUnit::PercentagePoints), "+1.9 pp");
        assert_eq!(effect_text(-120.4, EffectUnit::Ml), "−120 mL");
        assert_eq!(effect_text(0.01, EffectUnit::PercentagePoints), "+<0.1 pp");
        assert_eq!(effect_text(-0.01, EffectUnit::PercentagePoints), "−<0.1 pp");
    }
}
