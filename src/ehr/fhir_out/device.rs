//! The model set as one Device, in the style of the HL7 AI Transparency IG's AI Device (type
//! `Artificial-Intelligence`, kind `Machine-Learning-Models`; the IG is a draft, so its profile is
//! followed but not claimed in `meta.profile`): its names, the set's version and one `version`
//! entry per model that answered (model version, SHA-256 of the model file), the manufacturer,
//! and notes on the method and, when so, the synthetic training data.

use serde_json::{json, Value};

use super::elements::{self, object};
use super::Context;

/// The AI Transparency on FHIR IG's canonical base.
const AI_TRANSPARENCY: &str = "http://hl7.org/fhir/uv/aitransparency";

/// The IG's Device type code system.
pub fn ai_device_type_system() -> String {
    format!("{AI_TRANSPARENCY}/CodeSystem/AIdeviceTypeCS")
}

/// The Device of the answer's model set.
pub fn device(cx: &Context) -> Value {
    let set = &cx.answer.model_set;
    let mut versions: Vec<Value> = vec![json!({
        "type": { "text": "model set" },
        "value": set.version,
    })];
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for p in &cx.answer.predictions {
        let key = (p.model.id.as_str(), p.model.version.as_str());
        if seen.contains(&key) || p.model.version.trim().is_empty() {
            continue;
        }
        seen.push(key);
        versions.push(object(vec![
            (
                "type",
                Some(elements::concept(
                    elements::coding(
                        &cx.systems.code_system("model"),
                        &p.model.id,
                        Some(&format!("periop {} model", p.model.id)),
                        None,
                    ),
                    Some(&format!("{} model", p.model.id)),
                )),
            ),
            (
                "component",
                elements::text(&p.model.sha256)
                    .map(|sha| json!({ "system": cx.systems.model_sha256(), "value": sha })),
            ),
            ("value", elements::text(&p.model.version)),
        ]));
    }
    let mut notes = vec![
        "Gradient-boosted decision tree ensembles (LightGBM), served natively by periop, with calibrated probabilities and exact TreeSHAP explanations.".to_string(),
    ];
    if cx.options.synthetic {
        notes.push("Trained on synthetic data: a demonstration, not for clinical use.".to_string());
    }
    let name = format!("periop spine surgery risk model set {}", set.id);
    let lines = vec![
        format!("Version {}", set.version),
        format!("{} model(s)", seen.len()),
    ];
    object(vec![
        ("resourceType", Some(json!("Device"))),
        ("text", Some(elements::narrative(&name, &lines))),
        (
            "extension",
            Some(json!([{
                "url": format!("{AI_TRANSPARENCY}/StructureDefinition/aitransparency.AIKind"),
                "valueCodeableConcept": elements::concept(
                    elements::coding(&ai_device_type_system(), "Machine-Learning-Models", Some("Machine Learning Models"), None),
                    None,
                ),
            }])),
        ),
        (
            "identifier",
            Some(json!([{
                "system": cx.systems.model_set_id(),
                "value": format!("{}@{}", set.id, set.version),
            }])),
        ),
        ("status", Some(json!("active"))),
        ("manufacturer", Some(json!("periop"))),
        (
            "deviceName",
            Some(json!([
                { "name": name, "type": "user-friendly-name" },
                { "name": format!("periop {}", set.id), "type": "model-name" },
            ])),
        ),
        ("modelNumber", elements::text(&set.version)),
        (
            "type",
            Some(elements::concept(
                elements::coding(
                    &ai_device_type_system(),
                    "Artificial-Intelligence",
                    Some("All kinds of Artificial Intelligence"),
                    None,
                ),
                Some("AI model set"),
            )),
        ),
        ("version", Some(Value::Array(versions))),
        ("url", elements::text(&cx.systems.base)),
        ("note", elements::notes(notes)),
    ])
}
