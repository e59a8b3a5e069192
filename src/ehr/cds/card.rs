//! One assessment as one CDS Hooks card (`docs/ehr.md`, "The card"): a summary under 140
//! characters naming the highest risks; a Markdown detail with every applicable outcome against
//! the average patient, its main contributors in clinical words (percentage points or mL), the
//! missing inputs that would change the estimate most, the inputs found but not used, the
//! recommendations, the model versions and the warnings; suggested orders as FHIR R4 `create`
//! actions; override reasons; a link to the full assessment. The card's uuid is the assessment
//! id and each suggestion's uuid is derived from it, so feedback finds both in the audit.

use serde_json::{json, Value};

use super::types::{Action, Card, Coding, Link, Source, Suggestion};
use crate::outcomes::{Outcome, OutcomeKind};
use crate::rules::{Recommendation, Strength};
use crate::service::explain::{effect_text, top_contributors};
use crate::service::sharpen::MissingInputRange;
use crate::service::{Assessment, PredictionView, Status};

/// Code system of the override reasons offered on every card.
pub const OVERRIDE_REASON_SYSTEM: &str =
    "https://periop.example.org/fhir/CodeSystem/override-reason";
/// Code system of the card topic.
pub const CARD_TOPIC_SYSTEM: &str = "https://periop.example.org/fhir/CodeSystem/card-topic";
/// Rule-set order codes that are medications (drafted as MedicationRequest, others as
/// ServiceRequest). The shipped example policy has one; a local rule set adding medication
/// orders adds its codes here.
pub const MEDICATION_ORDER_CODES: &[&str] = &["txa-iv-intraop"];
/// Maximum summary length (CDS Hooks: fewer than 140 characters).
pub const SUMMARY_LIMIT: usize = 139;
/// Contributors shown per outcome.
const CONTRIBUTORS: usize = 3;
/// Missing inputs shown.
const MISSING_SHOWN: usize = 3;

/// What the card needs besides the answer.
pub struct CardContext<'a> {
    /// periop's public base URL (links).
    pub public_url: &'a str,
    /// `Patient/<id>` from the hook context.
    pub patient: &'a str,
    /// `Encounter/<id>`, when the hook gave one.
    pub encounter: Option<&'a str>,
    /// FHIR values found but not used, in words (stale, unknown unit, out of range...).
    pub problems: &'a [String],
}

/// The uuid of the suggestion for one recommendation of one assessment (UUID v5 in the
/// assessment's namespace: stable, so the audit can be searched for it). One derivation, in the
/// service, so feedback maps a suggestion back to its recommendation without this layer.
pub fn suggestion_uuid(assessment_id: &str, recommendation_id: &str) -> String {
    crate::service::feedback::suggestion_uuid(assessment_id, recommendation_id)
}

/// The override reasons every card offers.
pub fn override_reasons() -> Vec<Coding> {
    [
        ("data-wrong", "Input data incorrect or outdated"),
        (
            "already-addressed",
            "Risk already addressed in the surgical plan",
        ),
        (
            "clinical-judgement",
            "Not appropriate for this patient (clinical judgement)",
        ),
        ("patient-declined", "Patient declined"),
    ]
    .into_iter()
    .map(|(code, display)| Coding {
        system: OVERRIDE_REASON_SYSTEM.to_string(),
        code: code.to_string(),
        display: Some(display.to_string()),
    })
    .collect()
}

/// A probability as shown on a card: one decimal, in percent.
pub fn percent(p: f64) -> String {
    format!("{:.1} %", 100.0 * p)
}

/// Millilitres, rounded to 10 mL.
pub fn millilitres(x: f64) -> String {
    format!("{:.0} mL", (x / 10.0).round() * 10.0)
}

fn name(outcome: &str) -> &str {
    match Outcome::from_id(outcome) {
        Some(o) => o.short_name(),
        None => outcome,
    }
}

/// The card of one answer.
pub fn card(answer: &Assessment, ctx: &CardContext<'_>) -> Card {
    let procedure = answer
        .inputs
        .used
        .iter()
        .find(|u| u.feature == "procedure")
        .and_then(|u| u.value.as_str())
        .map(|p| crate::features::clinical_terms::value_text("procedure", &json!(p)))
        .and_then(|t| t)
        .unwrap_or_else(|| "spine surgery".to_string());
    let suggestions: Vec<Suggestion> = answer
        .recommendations
        .iter()
        .filter_map(|r| suggestion(answer, r, ctx))
        .collect();
    Card {
        uuid: answer.assessment_id.clone(),
        summary: summary(&procedure, &answer.predictions),
        detail: detail(answer, &procedure, ctx),
        indicator: indicator(&answer.predictions).to_string(),
        source: Source {
            label: format!("periop risk models, model set {}", answer.model_set.version),
            url: Some(format!("{}/v1/models", ctx.public_url)),
            topic: Some(Coding {
                system: CARD_TOPIC_SYSTEM.to_string(),
                code: "perioperative-risk".to_string(),
                display: Some("Peri-operative risk".to_string()),
            }),
        },
        selection_behavior: (!suggestions.is_empty()).then(|| "any".to_string()),
        suggestions,
        override_reasons: override_reasons(),
        links: vec![Link {
            label: "Full assessment: explanations, inputs, model versions".to_string(),
            url: format!("{}/assessments/{}", ctx.public_url, answer.assessment_id),
            kind: "absolute".to_string(),
        }],
    }
}

/// Indicator policy: `warning` when an applicable outcome is in its model's top band (`high`),
/// `info` otherwise; never `critical` (pre-operative planning is not time-critical, and
/// `critical` invites automation bias: FDA CDS guidance).
pub fn indicator(predictions: &[PredictionView]) -> &'static str {
    if predictions
        .iter()
        .any(|p| p.status == Status::Ok && p.risk_band.as_deref() == Some("high"))
    {
        "warning"
    } else {
        "info"
    }
}

/// Binary outcomes that are applicable, highest relative risk first.
fn ranked(predictions: &[PredictionView]) -> Vec<&PredictionView> {
    let mut binary: Vec<&PredictionView> = predictions
        .iter()
        .filter(|p| p.status == Status::Ok && p.probability.is_some())
        .collect();
    binary.sort_by(|a, b| {
        b.relative_risk
            .unwrap_or(0.0)
            .total_cmp(&a.relative_risk.unwrap_or(0.0))
    });
    binary
}

fn risk_phrase(p: &PredictionView) -> String {
    let rr = p
        .relative_risk
        .map_or(String::new(), |rr| format!(" ({rr:.1}× average)"));
    format!(
        "{} {}{rr}",
        name(&p.outcome),
        percent(p.probability.unwrap_or(f64::NAN))
    )
}

/// The summary: the highest relative risks (elevated or high band, or at least 1.5× the
/// average), as many as fit under the limit.
pub fn summary(procedure: &str, predictions: &[PredictionView]) -> String {
    let ranked = ranked(predictions);
    let raised: Vec<&PredictionView> = ranked
        .iter()
        .copied()
        .filter(|p| {
            matches!(p.risk_band.as_deref(), Some("elevated" | "high"))
                || p.relative_risk.is_some_and(|rr| rr >= 1.5)
        })
        .collect();
    let mut procedure_name = procedure.to_string();
    if let Some(first) = procedure_name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let fit = |text: String| -> Option<String> {
        (text.chars().count() <= SUMMARY_LIMIT).then_some(text)
    };
    if raised.is_empty() {
        let text = match ranked.first() {
            Some(top) => format!(
                "{procedure_name}: no risk above the average patient's; highest {}.",
                risk_phrase(top)
            ),
            None => format!("{procedure_name}: no outcome applies; see the detail."),
        };
        return fit(text)
            .unwrap_or_else(|| format!("{procedure_name}: no risk above the average patient's."));
    }
    let mut best = format!("{procedure_name}: raised risks, see the detail.");
    for n in 1..=raised.len().min(3) {
        let list: Vec<String> = raised[..n].iter().map(|p| risk_phrase(p)).collect();
        let more = raised.len() - n;
        let tail = if more > 0 {
            format!(" +{more} more")
        } else {
            String::new()
        };
        match fit(format!(
            "{procedure_name}: highest risks {}{tail}.",
            list.join(", ")
        )) {
            Some(text) => best = text,
            None => break,
        }
    }
    best
}

/// A Markdown table cell (pipes escaped, no line breaks).
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn contributors(p: &PredictionView) -> String {
    let Some(e) = &p.explanation else {
        return "not explained".to_string();
    };
    let top = top_contributors(&e.contributions, CONTRIBUTORS);
    if top.is_empty() {
        return "none".to_string();
    }
    top.iter()
        .map(|c| format!("{} ({})", c.label, effect_text(c.effect, e.effect_unit)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One missing input in words, with the outcome it moves most.
fn missing_line(range: &MissingInputRange, predictions: &[PredictionView]) -> Option<String> {
    let widest = range
        .outcomes
        .iter()
        .filter_map(|r| {
            let baseline = predictions
                .iter()
                .find(|p| p.outcome == r.outcome)
                .and_then(|p| p.baseline)
                .filter(|b| *b > 0.0)?;
            Some(((r.high - r.low) / baseline, r))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))?
        .1;
    let span = match Outcome::from_id(&widest.outcome).map(Outcome::kind) {
        Some(OutcomeKind::Quantity) => format!(
            "{} {}–{}",
            name(&widest.outcome),
            millilitres(widest.low),
            millilitres(widest.high)
        ),
        _ => format!(
            "{} risk {:.1}–{}",
            name(&widest.outcome),
            100.0 * widest.low,
            percent(widest.high)
        ),
    };
    Some(format!(
        "{} not on file: {span} depending on it",
        range.label
    ))
}

fn detail(answer: &Assessment, procedure: &str, ctx: &CardContext<'_>) -> String {
    let mut md = format!(
        "**Peri-operative risk for the planned {procedure}** (assessment `{}`)\n\n",
        answer.assessment_id
    );
    md.push_str("| Outcome | This patient | Average patient | Band | Main contributors |\n");
    md.push_str("|---|---|---|---|---|\n");
    let mut not_applicable = Vec::new();
    for p in &answer.predictions {
        if p.status != Status::Ok {
            not_applicable.push(format!(
                "{} ({})",
                name(&p.outcome),
                p.reason
                    .as_deref()
                    .unwrap_or("outside the model's population")
            ));
            continue;
        }
        let (value, baseline) = match (&p.quantity, p.probability) {
            (Some(q), _) => (
                format!(
                    "{} (80 % interval {}–{})",
                    millilitres(q.median),
                    millilitres(q.p10),
                    millilitres(q.p90)
                ),
                p.baseline.map_or("—".to_string(), millilitres),
            ),
            (None, Some(prob)) => (percent(prob), p.baseline.map_or("—".to_string(), percent)),
            (None, None) => continue,
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            cell(name(&p.outcome)),
            cell(&value),
            cell(&baseline),
            cell(p.risk_band.as_deref().unwrap_or("—")),
            cell(&contributors(p))
        ));
    }
    md.push_str("\nContributions are associations in the model, not causes; pp = percentage points of probability.\n");
    if !not_applicable.is_empty() {
        md.push_str(&format!(
            "\n**Not applicable:** {}.\n",
            not_applicable.join("; ")
        ));
    }
    if let Some(ranges) = &answer.missing_input_ranges {
        let lines: Vec<String> = ranges
            .inputs
            .iter()
            .filter(|r| r.spread > 0.0)
            .filter_map(|r| missing_line(r, &answer.predictions))
            .take(MISSING_SHOWN)
            .collect();
        if !lines.is_empty() {
            md.push_str("\n**Missing inputs that would change the estimate most**\n\n");
            for line in lines {
                md.push_str(&format!("- {line}\n"));
            }
        }
        if let Some(why) = &ranges.unavailable {
            md.push_str(&format!("\nMissing-input ranges unavailable: {why}.\n"));
        }
    }
    let missing = &answer.inputs.missing;
    if !missing.is_empty() {
        let labels: Vec<&str> = missing
            .iter()
            .map(|f| crate::features::clinical_terms::label(f))
            .collect();
        md.push_str(&format!(
            "\n**Not on file ({}), never imputed:** {}.\n",
            labels.len(),
            labels.join(", ")
        ));
    }
    if !ctx.problems.is_empty() {
        md.push_str("\n**Record data not used, and why**\n\n");
        for problem in ctx.problems {
            md.push_str(&format!("- {}\n", problem.replace('\n', " ")));
        }
    }
    if !answer.recommendations.is_empty() {
        let version = answer
            .rule_set
            .as_ref()
            .map_or(String::new(), |r| format!(" (rule set {})", r.version));
        md.push_str(&format!("\n**Options to consider{version}**\n\n"));
        for r in &answer.recommendations {
            md.push_str(&format!("- {} — {}\n", r.text, r.rationale));
        }
    }
    let models: Vec<String> = answer
        .predictions
        .iter()
        .map(|p| format!("`{}`", p.model.version))
        .collect();
    md.push_str(&format!(
        "\n**Models:** model set `{}` {}; {}.\n",
        answer.model_set.id,
        answer.model_set.version,
        models.join(", ")
    ));
    for warning in &answer.warnings {
        md.push_str(&format!("\n> **Warning:** {warning}\n"));
    }
    md
}

/// A suggestion for a recommendation with a suggested order: a draft ServiceRequest (or
/// MedicationRequest for a medication order) for this patient.
fn suggestion(
    answer: &Assessment,
    r: &Recommendation,
    ctx: &CardContext<'_>,
) -> Option<Suggestion> {
    let order = r.order.as_ref()?;
    let concept = json!({
        "coding": [{"system": order.system, "code": order.code, "display": order.display}],
        "text": order.display,
    });
    let is_medication = MEDICATION_ORDER_CODES.contains(&order.code.as_str());
    let mut resource = if is_medication {
        json!({
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "proposal",
            "medicationCodeableConcept": concept,
            "subject": {"reference": ctx.patient},
        })
    } else {
        json!({
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "code": concept,
            "subject": {"reference": ctx.patient},
        })
    };
    if let (Some(encounter), Some(object)) = (ctx.encounter, resource.as_object_mut()) {
        object.insert("encounter".into(), json!({"reference": encounter}));
    }
    if let Some(object) = resource.as_object_mut() {
        object.insert("reasonCode".into(), json!([{"text": r.text}]));
        object.insert(
            "note".into(),
            Value::Array(vec![
                json!({"text": format!("periop {}: {}", answer.assessment_id, r.rationale)}),
            ]),
        );
    }
    let kind = if is_medication {
        "MedicationRequest"
    } else {
        "ServiceRequest"
    };
    Some(Suggestion {
        label: order.display.clone(),
        uuid: suggestion_uuid(&answer.assessment_id, &r.id),
        is_recommended: Some(r.strength == Strength::Recommend),
        actions: vec![Action {
            kind: "create".to_string(),
            description: format!("Draft {kind}: {}", order.display),
            resource,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{ModelRef, Status};

    fn binary(outcome: &str, p: f64, baseline: f64, band: &str) -> PredictionView {
        PredictionView {
            outcome: outcome.to_string(),
            status: Status::Ok,
            reason: None,
            probability: Some(p),
            quantity: None,
            risk_band: Some(band.to_string()),
            baseline: Some(baseline),
            relative_risk: Some(p / baseline),
            model: ModelRef {
                id: outcome.to_string(),
                version: format!("{outcome}@000000000000"),
                sha256: "0".repeat(64),
            },
            explanation: None,
        }
    }

    #[test]
    fn summary_names_the_highest_relative_risks_and_stays_under_140() {
        let predictions = vec![
            binary("dvt", 0.061, 0.02, "elevated"),
            binary("delirium", 0.12, 0.08, "average"),
            binary("readmission_30d", 0.2, 0.05, "high"),
            binary("csf_leak", 0.01, 0.03, "low"),
            binary("prolonged_los", 0.5, 0.25, "high"),
            binary("nonhome_discharge", 0.4, 0.13, "high"),
        ];
        let s = summary("lumbar fusion", &predictions);
        assert!(s.chars().count() < 140, "{s}");
        assert!(
            s.starts_with("Lumbar fusion: highest risks 30-day readmission 20.0 % (4.0× average)"),
            "{s}"
        );
        assert!(!s.contains("CSF"), "{s}");
        let calm = summary("ACDF", &[binary("dvt", 0.01, 0.02, "low")]);
        assert_eq!(
            calm,
            "ACDF: no risk above the average patient's; highest DVT 1.0 % (0.5× average)."
        );
    }

    #[test]
    fn indicator_is_never_critical() {
        assert_eq!(indicator(&[binary("dvt", 0.9, 0.02, "high")]), "warning");
        assert_eq!(indicator(&[binary("dvt", 0.03, 0.02, "elevated")]), "info");
    }

    #[test]
    fn suggestion_uuids_are_stable_and_distinct() {
        let id = "0f8c1d2e-6b1a-4c3e-9f0a-7d2b5e8c4a10";
        assert_eq!(
            suggestion_uuid(id, "vte.ipc"),
            suggestion_uuid(id, "vte.ipc")
        );
        assert_ne!(
            suggestion_uuid(id, "vte.ipc"),
            suggestion_uuid(id, "vte.lmwh")
        );
        assert!(uuid::Uuid::parse_str(&suggestion_uuid(id, "x")).is_ok());
    }
}
