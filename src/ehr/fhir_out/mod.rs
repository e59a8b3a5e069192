//! One stored assessment as FHIR R4 resources (`cds-hooks-fhir.md` §2.2–2.3): a `collection`
//! Bundle holding a RiskAssessment per binary outcome, an Observation for the blood-loss
//! quantity, a Device for the model set and a Provenance tying them to their inputs, in the style
//! of HL7 AI Transparency on FHIR (AIAST label, AI Device, AI Provenance). A pure function of the
//! answer and the options: the same stored answer always gives the same Bundle, byte for byte.
//!
//! Code systems are periop's own, under `<base_url>/fhir/CodeSystem/`: `outcome` (outcome ids),
//! `model` (model ids, `Coding.version` = model version), `risk-band` (the manifest's risk bands,
//! relative to the training cohort; not HL7 `risk-probability`, whose codes are absolute
//! likelihoods), `assessment-type` and `statistic` (blood-loss percentiles).

mod device;
mod elements;
mod observation;
pub mod outcome;
mod provenance;
mod risk;

use serde_json::{json, Value};

use crate::clock::created_at_text;
use crate::outcomes::{Outcome, OutcomeKind};
use crate::service::{Assessment, PredictionView};

pub use elements::{entry_uuid, reference_type};

/// What the answer alone does not say: where periop is published, who and what it is about, and
/// which FHIR resources it was computed from.
#[derive(Debug, Clone, Copy)]
pub struct FhirOutOptions<'a> {
    /// periop's public URL, e.g. `https://periop.example.org` (the base of its code systems and
    /// identifier systems; a trailing `/` is ignored).
    pub base_url: &'a str,
    /// `Patient/pat-42` when known; else the subject is a Reference with a display only.
    pub subject: Option<&'a str>,
    /// `Encounter/enc-7` when known.
    pub encounter: Option<&'a str>,
    /// The input resources (`Observation/hb-1`, `ServiceRequest/sr-1`): every RiskAssessment's
    /// `basis`, the Provenance's `entity`, and (Observations only) the blood-loss `derivedFrom`.
    pub basis: &'a [String],
    /// The model set was trained on synthetic data.
    pub synthetic: bool,
}

/// Code systems and identifier systems under one base URL.
#[derive(Debug, Clone)]
struct Systems {
    base: String,
}

impl Systems {
    fn new(base_url: &str) -> Self {
        Self {
            base: base_url.trim().trim_end_matches('/').to_string(),
        }
    }

    fn code_system(&self, name: &str) -> String {
        format!("{}/fhir/CodeSystem/{name}", self.base)
    }

    fn assessment_id(&self) -> String {
        format!("{}/fhir/assessment-id", self.base)
    }

    fn model_set_id(&self) -> String {
        format!("{}/fhir/model-set", self.base)
    }

    fn model_sha256(&self) -> String {
        format!("{}/fhir/model-sha256", self.base)
    }
}

/// What every resource of one Bundle shares.
struct Context<'a> {
    answer: &'a Assessment,
    options: &'a FhirOutOptions<'a>,
    systems: Systems,
    /// The basis references, trimmed, without empties and duplicates, in the given order.
    basis: Vec<&'a str>,
    created_at: String,
    device_url: String,
}

impl Context<'_> {
    fn entry_url(&self, key: &str) -> String {
        format!("urn:uuid:{}", entry_uuid(&self.answer.assessment_id, key))
    }

    fn subject(&self) -> Value {
        elements::reference(self.options.subject, None)
            .unwrap_or_else(|| json!({ "display": "Patient (identity not given to periop)" }))
    }

    fn encounter(&self) -> Option<Value> {
        elements::reference(self.options.encounter, None)
    }

    fn device(&self) -> Option<Value> {
        elements::reference(
            Some(&self.device_url),
            Some(&format!(
                "periop model set {} {}",
                self.answer.model_set.id, self.answer.model_set.version
            )),
        )
    }

    fn basis_references(&self) -> Option<Value> {
        elements::array(
            self.basis
                .iter()
                .filter_map(|r| elements::reference(Some(r), None))
                .collect(),
        )
    }

    /// The outcome's CodeableConcept in periop's outcome code system.
    fn outcome_concept(&self, outcome: &str) -> Value {
        let definition = Outcome::from_id(outcome).map(Outcome::definition);
        elements::concept(
            elements::coding(
                &self.systems.code_system("outcome"),
                outcome,
                definition,
                None,
            ),
            definition,
        )
    }

    /// `method`: the model in periop's model code system, `Coding.version` = the model version.
    fn method(&self, p: &PredictionView) -> Value {
        elements::concept(
            elements::coding(
                &self.systems.code_system("model"),
                &p.model.id,
                Some(&format!("periop {} model", p.model.id)),
                Some(&p.model.version),
            ),
            Some(&format!(
                "periop model {} (SHA-256 {})",
                p.model.version, p.model.sha256
            )),
        )
    }

    /// The notes every output carries: the answer's warnings and the missing inputs.
    fn common_notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self.answer.warnings.clone();
        if self.options.synthetic && !notes.iter().any(|w| w.contains("synthetic")) {
            notes.push(
                "Model set trained on synthetic data: a demonstration, not for clinical use."
                    .to_string(),
            );
        }
        let missing = &self.answer.inputs.missing;
        if !missing.is_empty() {
            notes.push(format!(
                "Inputs missing (treated as unknown by the model, never imputed): {}.",
                missing.join(", ")
            ));
        }
        notes
    }
}

/// The assessment as a FHIR R4 `collection` Bundle (see the module documentation).
pub fn assessment_bundle(answer: &Assessment, options: &FhirOutOptions) -> Value {
    let mut basis: Vec<&str> = Vec::new();
    for r in options.basis.iter().map(|r| r.trim()) {
        if !r.is_empty() && !basis.contains(&r) {
            basis.push(r);
        }
    }
    let mut cx = Context {
        answer,
        options,
        systems: Systems::new(options.base_url),
        basis,
        created_at: created_at_text(&answer.created_at),
        device_url: String::new(),
    };
    cx.device_url = cx.entry_url("Device");

    let mut entries: Vec<Value> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    for p in &answer.predictions {
        let kind = Outcome::from_id(&p.outcome).map(Outcome::kind);
        let (key, resource) = match kind {
            Some(OutcomeKind::Quantity) => (
                format!("Observation/{}", p.outcome),
                observation::blood_loss(&cx, p),
            ),
            // An outcome id this build does not know is still a binary prediction when it has
            // a probability; it is never dropped.
            _ => (
                format!("RiskAssessment/{}", p.outcome),
                risk::risk_assessment(&cx, p),
            ),
        };
        let url = cx.entry_url(&key);
        targets.push(url.clone());
        entries.push(entry(&url, resource));
    }
    entries.push(entry(&cx.device_url, device::device(&cx)));
    if let Some(resource) = provenance::provenance(&cx, &targets) {
        entries.push(entry(&cx.entry_url("Provenance"), resource));
    }

    json!({
        "resourceType": "Bundle",
        "id": entry_uuid(&answer.assessment_id, "Bundle"),
        "identifier": {
            "system": cx.systems.assessment_id(),
            "value": answer.assessment_id,
        },
        "type": "collection",
        "timestamp": cx.created_at,
        "entry": entries,
    })
}

/// One Bundle entry; the resource's `id` is the entry's UUID.
fn entry(url: &str, mut resource: Value) -> Value {
    if let Some(map) = resource.as_object_mut() {
        if let Some(uuid) = url.strip_prefix("urn:uuid:") {
            map.insert("id".to_string(), Value::String(uuid.to_string()));
        }
    }
    json!({ "fullUrl": url, "resource": resource })
}

#[cfg(test)]
mod tests;

/// The Bundle of a stored answer: subject, encounter and basis from its EHR delivery when it
/// came through CDS Hooks or FHIR (else a display-only subject).
pub fn stored_assessment_bundle(answer: &Assessment, base_url: &str, synthetic: bool) -> Value {
    let delivery = answer.delivery.as_ref();
    let basis: Vec<String> = delivery.map(|d| d.basis.clone()).unwrap_or_default();
    assessment_bundle(
        answer,
        &FhirOutOptions {
            base_url,
            subject: delivery.and_then(|d| d.patient.as_deref()),
            encounter: delivery.and_then(|d| d.encounter.as_deref()),
            basis: &basis,
            synthetic,
        },
    )
}
