//! The Provenance of one assessment, in the style of the HL7 AI Transparency IG's AI Provenance:
//! every RiskAssessment and the Observation as targets, recorded at `created_at`, created by the
//! model-set Device (agent type `author`, role `Artificial-Intelligence`), from the basis
//! references (entity role `source`), with the AIAST label and reason.

use serde_json::{json, Value};

use super::device::ai_device_type_system;
use super::elements::{self, object};
use super::Context;

/// HL7 v3 DataOperation (`CREATE`).
const DATA_OPERATION: &str = "http://terminology.hl7.org/CodeSystem/v3-DataOperation";
/// HL7 Provenance participant type (`author`).
const PARTICIPANT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";

/// The Provenance of `targets` (entry `urn:uuid:`s); `None` when there is none (Provenance.target
/// is 1..*: an answer without predictions produced nothing to attribute).
pub fn provenance(cx: &Context, targets: &[String]) -> Option<Value> {
    let target = elements::array(
        targets
            .iter()
            .filter_map(|t| elements::reference(Some(t), None))
            .collect(),
    )?;
    let entity = elements::array(
        cx.basis
            .iter()
            .filter_map(|r| elements::reference(Some(r), None))
            .map(|what| json!({ "role": "source", "what": what }))
            .collect(),
    );
    let lines = vec![
        format!(
            "{} resource(s) created by periop model set {} {}",
            targets.len(),
            cx.answer.model_set.id,
            cx.answer.model_set.version
        ),
        format!("{} input resource(s) referenced", cx.basis.len()),
    ];
    Some(object(vec![
        ("resourceType", Some(json!("Provenance"))),
        ("meta", Some(elements::ai_asserted_meta())),
        (
            "text",
            Some(elements::narrative(
                "Provenance of a periop risk assessment",
                &lines,
            )),
        ),
        ("target", Some(target)),
        ("occurredDateTime", elements::text(&cx.created_at)),
        ("recorded", elements::text(&cx.created_at)),
        (
            "reason",
            Some(json!([elements::concept(elements::ai_asserted(), None)])),
        ),
        (
            "activity",
            Some(elements::concept(
                elements::coding(DATA_OPERATION, "CREATE", Some("create"), None),
                None,
            )),
        ),
        (
            "agent",
            Some(json!([object(vec![
                (
                    "type",
                    Some(elements::concept(
                        elements::coding(PARTICIPANT_TYPE, "author", Some("Author"), None),
                        None,
                    )),
                ),
                (
                    "role",
                    Some(json!([elements::concept(
                        elements::coding(
                            &ai_device_type_system(),
                            "Artificial-Intelligence",
                            Some("All kinds of Artificial Intelligence"),
                            None
                        ),
                        None,
                    )])),
                ),
                ("who", cx.device()),
            ])])),
        ),
        ("entity", entity),
    ]))
}
