//! One binary outcome's prediction as a RiskAssessment (`cds-hooks-fhir.md` §2.2): the calibrated
//! probability as a fraction 0–1, the manifest's risk band in periop's own code system, the
//! relative risk against the training cohort, the top contributors in words, and notes on
//! missing inputs, warnings and the probability's scale.
//!
//! A `not_applicable` outcome (the patient is outside the model's training population) is a
//! RiskAssessment with status `cancelled` ("unavailable because the measurement was not
//! started", ObservationStatus) and no probability; its prediction's rationale and a note give
//! the reason. `final` would let a consumer filtering on final assessments mistake it for a
//! risk that was assessed.

use serde_json::{json, Value};

use super::elements::{self, object, text};
use super::Context;
use crate::service::explain::describe;
use crate::service::{Contribution, ExplanationView, PredictionView, Scale, Status};

/// How many contributors the rationale names.
const TOP: usize = 3;

/// The note stating the probability's scale (RiskAssessment's ras-2 reads decimals as
/// percentages up to 100, while the core examples use fractions).
pub const FRACTION_NOTE: &str =
    "probabilityDecimal is a fraction 0–1 (0.061 means 6.1 %), not a percentage.";

/// The RiskAssessment of one binary prediction.
pub fn risk_assessment(cx: &Context, p: &PredictionView) -> Value {
    let applicable = p.status == Status::Ok && p.probability.is_some();
    let mut notes: Vec<String> = Vec::new();
    let prediction = if applicable {
        notes.push(FRACTION_NOTE.to_string());
        if let Some(b) = p.baseline {
            notes.push(format!(
                "Cohort event rate (baseline) {b} as a fraction; relativeRisk = probability / baseline."
            ));
        }
        if let Some(e) = &p.explanation {
            notes.push(scale_note(e));
        }
        object(vec![
            ("outcome", Some(cx.outcome_concept(&p.outcome))),
            (
                "probabilityDecimal",
                p.probability.and_then(elements::decimal),
            ),
            (
                "qualitativeRisk",
                p.risk_band
                    .as_deref()
                    .filter(|b| !b.trim().is_empty())
                    .map(|b| band(cx, b)),
            ),
            ("relativeRisk", p.relative_risk.and_then(elements::decimal)),
            (
                "rationale",
                p.explanation.as_ref().and_then(|e| text(&rationale(e))),
            ),
        ])
    } else {
        let reason = not_assessed(p);
        notes.push(reason.clone());
        object(vec![
            ("outcome", Some(cx.outcome_concept(&p.outcome))),
            ("rationale", text(&reason)),
        ])
    };
    notes.extend(cx.common_notes());

    let definition: &str = match crate::outcomes::Outcome::from_id(&p.outcome) {
        Some(o) => o.definition(),
        None => &p.outcome,
    };
    let headline = match (applicable, p.probability) {
        (true, Some(prob)) => format!(
            "{definition}: predicted risk {}{}",
            percent(prob),
            p.risk_band
                .as_deref()
                .map(|b| format!(" (risk band {b})"))
                .unwrap_or_default()
        ),
        _ => format!("{definition}: not assessed"),
    };
    let mut lines: Vec<String> = Vec::new();
    if let Some(r) = p.explanation.as_ref().filter(|_| applicable) {
        lines.push(rationale(r));
    }
    lines.push(format!("Model {} ({})", p.model.id, p.model.version));
    if !applicable {
        lines.push(not_assessed(p));
    }

    object(vec![
        ("resourceType", Some(json!("RiskAssessment"))),
        ("meta", Some(elements::ai_asserted_meta())),
        ("text", Some(elements::narrative(&headline, &lines))),
        (
            "identifier",
            Some(json!([{
                "system": cx.systems.assessment_id(),
                "value": format!("{}/{}", cx.answer.assessment_id, p.outcome),
            }])),
        ),
        (
            "status",
            Some(json!(if applicable { "final" } else { "cancelled" })),
        ),
        ("method", Some(cx.method(p))),
        ("code", Some(assessment_type(cx))),
        ("subject", Some(cx.subject())),
        ("encounter", cx.encounter()),
        ("occurrenceDateTime", text(&cx.created_at)),
        ("performer", cx.device()),
        ("basis", cx.basis_references()),
        ("prediction", Some(json!([prediction]))),
        ("note", elements::notes(notes)),
    ])
}

/// `code`: what kind of assessment this is.
pub fn assessment_type(cx: &Context) -> Value {
    elements::concept(
        elements::coding(
            &cx.systems.code_system("assessment-type"),
            "periop-spine-risk",
            Some("Perioperative spine surgery risk assessment"),
            None,
        ),
        Some("periop perioperative risk assessment (spine surgery)"),
    )
}

/// The manifest risk band in periop's code system (bands are relative to the training cohort).
pub fn band(cx: &Context, name: &str) -> Value {
    let mut chars = name.chars();
    let display = match chars.next() {
        Some(first) => format!("{}{} risk band", first.to_uppercase(), chars.as_str()),
        None => "Risk band".to_string(),
    };
    elements::concept(
        elements::coding(
            &cx.systems.code_system("risk-band"),
            name,
            Some(&display),
            None,
        ),
        Some(&format!("{display} (periop model set manifest)")),
    )
}

/// A probability as a percentage for reading: one decimal, `< 0.1 %` below that (never a
/// misleading `0.0 %`).
fn percent(p: f64) -> String {
    if p > 0.0 && p < 0.0005 {
        "< 0.1 %".to_string()
    } else {
        format!("{:.1} %", p * 100.0)
    }
}

/// Why a prediction has no value.
fn not_assessed(p: &PredictionView) -> String {
    match p.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        Some(reason) => format!("Not assessed: {reason}."),
        None => "Not assessed: the model gave no probability for this patient.".to_string(),
    }
}

/// The `TOP` contributors by absolute size, in words.
pub fn rationale(e: &ExplanationView) -> String {
    let top = top_contributors(&e.contributions);
    if top.is_empty() {
        return "No input moves this prediction away from the model's average.".to_string();
    }
    let words: Vec<String> = top
        .iter()
        .map(|c| {
            let dir = if c.contribution > 0.0 {
                "raises"
            } else {
                "lowers"
            };
            if c.value.is_null() {
                format!("{} (missing, {dir})", c.feature)
            } else {
                format!("{} ({dir})", describe(c))
            }
        })
        .collect();
    format!(
        "Main contributors: {}. Contributions are associations in the model, not causes.",
        words.join("; ")
    )
}

/// The non-zero contributions, largest absolute value first, at most `TOP`.
pub fn top_contributors(contributions: &[Contribution]) -> Vec<&Contribution> {
    let mut top: Vec<&Contribution> = contributions
        .iter()
        .filter(|c| c.contribution != 0.0 && c.contribution.is_finite())
        .collect();
    top.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    top.truncate(TOP);
    top
}

/// The scale of the explanation behind the rationale.
pub fn scale_note(e: &ExplanationView) -> String {
    let scale = match e.scale {
        Scale::LogOdds => "log-odds",
        Scale::LogMl => "natural log of mL",
    };
    format!("Contributions: exact TreeSHAP of the primary model on the {scale} scale (base value {}, score {}).", e.base_value, e.raw_score)
}
