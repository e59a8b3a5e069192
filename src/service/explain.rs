//! Turning an exact TreeSHAP vector into what a clinician reads: one contribution per model
//! feature with the patient's value and unit, a plain-language summary of the top contributors
//! (associations in the model, never causes), and a waterfall SVG.

use serde_json::Value;

use crate::features::dictionary::{FeatureKind, FEATURES};
use crate::features::model_input::model_feature_unit;
use crate::model::ensemble::Explanation;
use crate::outcomes::OutcomeKind;

use super::types::{Contribution, ExplanationView, PredictionView, Scale};

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
/// `row` the model input (same order).
pub fn explanation_view(
    kind: OutcomeKind,
    names: &[String],
    row: &[f64],
    raw: f64,
    e: &Explanation,
) -> ExplanationView {
    let contributions: Vec<Contribution> = names
        .iter()
        .zip(&e.contributions)
        .enumerate()
        .map(|(i, (name, &c))| Contribution {
            feature: name.clone(),
            value: input_value(i, row.get(i).copied().unwrap_or(f64::NAN)),
            unit: model_feature_unit(i).map(str::to_string),
            contribution: c,
        })
        .collect();
    let summary = summary(e.base_value, raw, &contributions);
    ExplanationView {
        scale: match kind {
            OutcomeKind::Probability => Scale::LogOdds,
            OutcomeKind::Quantity => Scale::LogMl,
        },
        base_value: e.base_value,
        raw_score: raw,
        contributions,
        summary,
    }
}

/// `feature = value unit`, or `feature (missing)`.
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

/// Plain-language summary of the `TOP` contributors by absolute size.
pub fn summary(base_value: f64, raw: f64, contributions: &[Contribution]) -> String {
    let mut top: Vec<&Contribution> = contributions
        .iter()
        .filter(|c| c.contribution != 0.0)
        .collect();
    top.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    top.truncate(TOP);
    if top.is_empty() {
        return "At the model's average: no feature moves this prediction.".to_string();
    }
    let list = |up: bool| {
        top.iter()
            .filter(|c| (c.contribution > 0.0) == up)
            .map(|c| {
                let dir = if up { "raises" } else { "lowers" };
                if c.value.is_null() {
                    format!("{} (missing, {dir})", c.feature)
                } else {
                    format!("{} ({dir})", describe(c))
                }
            })
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
    let labels = e.contributions.iter().map(describe).collect();
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
