//! The blood-loss prediction (a quantity, not a probability) as an Observation: the predicted
//! median in mL (UCUM `mL`) as `valueQuantity`, and components for the 10th and 90th percentiles
//! (the 80 % prediction interval), the cohort median, the ratio to it and the risk band. A
//! `referenceRange` would say "normal range", which a prediction interval is not.
//! `derivedFrom` lists the basis references whose type Observation.derivedFrom allows; the
//! others (ServiceRequest, Condition, Patient) are in the Provenance.

use serde_json::{json, Value};

use super::elements::{self, object, text};
use super::risk::{band, rationale, scale_note};
use super::Context;
use crate::service::{PredictionView, Status};

/// Target types R4 allows for `Observation.derivedFrom`.
const DERIVED_FROM_TYPES: [&str; 6] = [
    "DocumentReference",
    "ImagingStudy",
    "Media",
    "QuestionnaireResponse",
    "Observation",
    "MolecularSequence",
];

/// HL7 DataAbsentReason.
const DATA_ABSENT_REASON: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";

/// The Observation of the blood-loss prediction.
pub fn blood_loss(cx: &Context, p: &PredictionView) -> Value {
    let quantity = p
        .quantity
        .as_ref()
        .filter(|_| p.status == Status::Ok)
        .and_then(|q| Some((elements::quantity(q.median, &q.unit)?, q)));
    let definition: &str = match crate::outcomes::Outcome::from_id(&p.outcome) {
        Some(o) => o.definition(),
        None => &p.outcome,
    };
    let mut notes: Vec<String> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    let headline;
    let mut components: Vec<Value> = Vec::new();
    match &quantity {
        Some((_, q)) => {
            headline = format!(
                "{definition}: predicted median {:.0} {} (80 % interval {:.0}–{:.0})",
                q.median, q.unit, q.p10, q.p90
            );
            notes.push("valueQuantity is the predicted median; components p10 and p90 bound the 80 % prediction interval.".to_string());
            components.extend(component(
                cx,
                "p10",
                "10th percentile of the prediction",
                elements::quantity(q.p10, &q.unit),
            ));
            components.extend(component(
                cx,
                "p90",
                "90th percentile of the prediction",
                elements::quantity(q.p90, &q.unit),
            ));
            if let Some(b) = p.baseline {
                components.extend(component(
                    cx,
                    "cohort-median",
                    "Median of the training cohort",
                    elements::quantity(b, &q.unit),
                ));
            }
            if let Some(r) = p.relative_risk {
                components.extend(component(
                    cx,
                    "ratio-to-cohort-median",
                    "Predicted median / cohort median",
                    elements::quantity(r, "1"),
                ));
            }
            if let Some(b) = p.risk_band.as_deref().filter(|b| !b.trim().is_empty()) {
                components.push(json!({
                    "code": statistic(cx, "risk-band", "Risk band of the predicted median"),
                    "valueCodeableConcept": band(cx, b),
                }));
            }
            if let Some(e) = &p.explanation {
                let r = rationale(e);
                lines.push(r.clone());
                notes.push(r);
                notes.push(scale_note(e));
            }
        }
        None => {
            headline = format!("{definition}: not assessed");
            let reason = match p.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                Some(r) => format!("Not assessed: {r}."),
                None => "Not assessed: the model gave no quantity for this patient.".to_string(),
            };
            lines.push(reason.clone());
            notes.push(reason);
        }
    }
    lines.push(format!("Model {} ({})", p.model.id, p.model.version));
    notes.extend(cx.common_notes());

    let derived_from = elements::array(
        cx.basis
            .iter()
            .filter(|r| {
                elements::reference_type(r).is_some_and(|t| DERIVED_FROM_TYPES.contains(&t))
            })
            .filter_map(|r| elements::reference(Some(r), None))
            .collect(),
    );
    let absent = quantity.is_none().then(|| {
        elements::concept(
            elements::coding(
                DATA_ABSENT_REASON,
                "not-applicable",
                Some("Not Applicable"),
                None,
            ),
            None,
        )
    });

    object(vec![
        ("resourceType", Some(json!("Observation"))),
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
            Some(json!(if quantity.is_some() {
                "final"
            } else {
                "cancelled"
            })),
        ),
        ("code", Some(cx.outcome_concept(&p.outcome))),
        ("subject", Some(cx.subject())),
        ("encounter", cx.encounter()),
        ("effectiveDateTime", text(&cx.created_at)),
        ("issued", text(&cx.created_at)),
        ("valueQuantity", quantity.map(|(v, _)| v)),
        ("dataAbsentReason", absent),
        ("note", elements::notes(notes)),
        ("method", Some(cx.method(p))),
        ("device", cx.device()),
        ("derivedFrom", derived_from),
        ("component", elements::array(components)),
    ])
}

/// One component with a Quantity value; none when the value cannot be written.
fn component(cx: &Context, code: &str, display: &str, value: Option<Value>) -> Option<Value> {
    Some(json!({ "code": statistic(cx, code, display), "valueQuantity": value? }))
}

/// A code of periop's `statistic` code system.
fn statistic(cx: &Context, code: &str, display: &str) -> Value {
    elements::concept(
        elements::coding(
            &cx.systems.code_system("statistic"),
            code,
            Some(display),
            None,
        ),
        Some(display),
    )
}
