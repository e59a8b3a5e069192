//! The assessment request and response (`design.md`, Contracts) as serde types. The response is
//! stored verbatim by the audit store and returned byte for byte later, so every type here both
//! serialises and deserialises, and `None` fields are omitted rather than written as `null`.

use super::provenance::OriginRequest;
use super::sharpen::MissingInputRanges;
use crate::clock::created_at_text;
use crate::rules::{Recommendation, RuleSetRef, RuleTrace};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// `POST /v1/assessments` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentRequest {
    /// Feature name → value (numbers, booleans, enum levels; `null` = missing).
    pub patient: Map<String, Value>,
    /// A subset of outcome ids; `None` = every outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<Vec<String>>,
    /// Compute exact TreeSHAP explanations (default `true`).
    #[serde(default = "default_true")]
    pub explain: bool,
    /// Compute, for each missing optional input, the range of each risk across its plausible
    /// values (default `false`: it predicts dozens of hypothetical patients).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing_input_ranges: bool,
    /// Where the assessment comes from: `site`, `patient_reference`, `encounter_reference`,
    /// `surgery_date` (`service::provenance`), members of the request itself.
    #[serde(flatten, default)]
    pub origin: OriginRequest,
}

fn default_true() -> bool {
    true
}

/// One assessment: every requested outcome's prediction and the basis it was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// UUID v4.
    pub assessment_id: String,
    /// RFC 3339, UTC, millisecond precision.
    #[serde(serialize_with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// The site the assessment was made for (the API key's, or the request's `site`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// `HMAC-SHA256(secret, patient_reference)`, lowercase hex (the reference itself is never
    /// stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_reference_hash: Option<String>,
    /// `HMAC-SHA256(secret, encounter_reference)`, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter_reference_hash: Option<String>,
    /// The planned surgery date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surgery_date: Option<String>,
    pub model_set: ModelSetRef,
    pub predictions: Vec<PredictionView>,
    /// Rule-based recommendations with the rule row that produced each (`docs/rules.md`).
    pub recommendations: Vec<Recommendation>,
    /// The rule set that produced `recommendations` (absent when no rule set was applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<RuleSetRef>,
    /// Which rule-table rows matched (absent when no rule set was applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_trace: Option<RuleTrace>,
    pub inputs: Inputs,
    /// How the answer was delivered, when an EHR adapter delivered it (CDS Hooks card, FHIR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// What would sharpen the estimate (only when the request asked for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_input_ranges: Option<MissingInputRanges>,
    pub warnings: Vec<String>,
}

fn rfc3339_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&created_at_text(t))
}

/// The model set that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSetRef {
    pub id: String,
    pub version: String,
}

/// Prediction status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    NotApplicable,
}

impl Assessment {
    /// Whether the set that made this answer was trained on synthetic data (its answers carry
    /// [`super::answer::SYNTHETIC_WARNING`]); for a stored answer this is the answering set's
    /// flag, whichever set answers now.
    pub fn answered_by_synthetic_set(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| w == super::answer::SYNTHETIC_WARNING)
    }
}

impl Status {
    /// The wire name (`ok`, `not_applicable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NotApplicable => "not_applicable",
        }
    }
}

/// One outcome's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionView {
    /// Outcome id.
    pub outcome: String,
    pub status: Status,
    /// Why the outcome does not apply (`not_applicable` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Calibrated probability, 0–1 (binary outcomes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Median and 80 % interval (blood loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<QuantityView>,
    /// Name of the manifest risk band holding the probability (or the median mL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_band: Option<String>,
    /// Cohort baseline: event rate (binary) or median mL (blood loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// probability / baseline, or median / baseline median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_risk: Option<f64>,
    pub model: ModelRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<ExplanationView>,
}

/// Blood-loss quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantityView {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    /// Always `mL`.
    pub unit: String,
}

/// The model that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Outcome id.
    pub id: String,
    /// Manifest version (`<outcome>@<hash prefix>`).
    pub version: String,
    /// SHA-256 of the primary model file.
    pub sha256: String,
}

/// Scale of an explanation's raw score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Log-odds (binary outcomes).
    LogOdds,
    /// Natural log of mL (blood-loss median).
    LogMl,
}

/// Exact TreeSHAP explanation of the primary model: `base_value + Σ contribution = raw_score`,
/// and the same contributions on the outcome's own scale (`effect`, in `effect_unit`) along the
/// SHAP path (`service::explain::effects`): `effect_base + Σ effect` = the probability in
/// percent (binary) or the median mL (blood loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplanationView {
    pub scale: Scale,
    pub base_value: f64,
    pub raw_score: f64,
    /// Unit of every contribution's `effect` and of `effect_base`. (Answers stored before
    /// clinical effects existed read back as percentage points with zero effects and empty
    /// labels: `serde(default)`.)
    #[serde(default)]
    pub effect_unit: EffectUnit,
    /// The outcome at the model's base value: probability in percent (binary) or mL.
    #[serde(default)]
    pub effect_base: f64,
    /// One per model feature, in manifest feature order.
    pub contributions: Vec<Contribution>,
    /// Plain-language summary of the top contributors (associations, not causes).
    pub summary: String,
}

/// Unit of the contributions on the outcome's scale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectUnit {
    /// Percentage points of probability (binary outcomes; `effect_base` in percent).
    #[default]
    PercentagePoints,
    /// Millilitres of the blood-loss median.
    Ml,
}

impl EffectUnit {
    /// The short unit a reader sees after a number (`pp`, `mL`).
    pub fn symbol(self) -> &'static str {
        match self {
            Self::PercentagePoints => "pp",
            Self::Ml => "mL",
        }
    }
}

/// One feature's contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub feature: String,
    /// The feature and its value in a clinician's words and units ("Age 72 y", "D-dimer not on
    /// file").
    #[serde(default)]
    pub label: String,
    /// The model input value in the patient's terms: `null` when missing, booleans, enum levels,
    /// numbers (derived features as numbers).
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Exact TreeSHAP value on the raw scale.
    pub contribution: f64,
    /// The same contribution on the outcome's scale, in the explanation's `effect_unit`.
    #[serde(default)]
    pub effect: f64,
}

/// The basis of the assessment (FDA CDS criterion 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    /// Inputs present in the request, in dictionary order, as given.
    pub used: Vec<UsedInput>,
    /// Features computed from the inputs.
    pub derived: Vec<DerivedInput>,
    /// Dictionary inputs that were absent or `null` (never imputed).
    pub missing: Vec<String>,
}

/// One input as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsedInput {
    pub feature: String,
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// One derived feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DerivedInput {
    pub feature: String,
    /// `null` when it could not be computed.
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// How it was computed (plain language).
    pub detail: String,
    /// Score band (Caprini).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<String>,
    /// Score items that could not be assessed (the score is then a lower bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unassessed: Option<Vec<String>>,
}

/// How an EHR adapter delivered an answer: stored with it so the audit can reconstruct the card
/// and link feedback to the assessment and its recommendations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `cds-hooks` or `fhir`.
    pub channel: String,
    /// CDS service id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// CDS hook name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// CDS `hookInstance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_instance: Option<String>,
    /// `Patient/<id>` of the FHIR input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// `Encounter/<id>` of the FHIR input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    /// The CDS client (JWT `iss`), when authenticated by JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Every FHIR resource the inputs came from (`Observation/hb-1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub basis: Vec<String>,
    /// Where each mapped input came from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Value>,
    /// FHIR values found but not used, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Value>,
    /// The card sent (CDS Hooks), with its uuid and its suggestions' uuids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Value>,
    /// Prefetch keys periop read from the EHR's FHIR server itself (CDS Hooks `fhirServer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetched: Vec<String>,
}

impl Delivery {
    /// `channel` of an answer sent as a CDS Hooks card (feedback is accepted only for these).
    pub const CDS_HOOKS: &'static str = "cds-hooks";
    /// `channel` of an answer to FHIR input over REST (a Bundle posted to `POST
    /// /v1/assessments`), sent as the assessment or its FHIR resources.
    pub const FHIR: &'static str = "fhir";
}
