//! Wire-format mirrors of the request and response bodies, for the OpenAPI document only.
//!
//! The handlers serialise the service types (`service::types`, the model manifests); these DTOs
//! describe the same JSON so that utoipa can derive schemas without the domain types deriving
//! `ToSchema` (style §2.4: the wire format and the clinical model evolve separately). They are
//! never constructed by the server. Invariant: every DTO matches the JSON the server actually
//! produces; `tests/openapi.rs` validates real responses against the checked-in document, and
//! every DTO is `deny_unknown_fields` (`additionalProperties: false`), so a field added to a
//! service type without its DTO fails a test.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::error::{ApiError, Code, FieldProblem, Problem};
use crate::rules::{Recommendation, RuleSetRef, RuleTrace};

pub mod audit;
pub mod examples;
pub mod fhir;
pub mod outcomes;
pub mod performance;
pub mod quality;
pub mod quality_monitoring;
pub mod recalibration;
pub mod rules;
pub mod session;

// ---------------------------------------------------------------- requests

/// `POST /v1/assessments` body: one patient and the planned spine surgery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::assessment_request()))]
pub struct AssessmentRequestDto {
    /// Feature name → value, as in the data dictionary (`features.md`): numbers, booleans and
    /// enum levels; `null` or absent = missing (never imputed).
    #[schema(value_type = PatientDto, example = json!(examples::patient()))]
    pub patient: serde_json::Map<String, Value>,
    /// A subset of outcome ids to assess; absent or `null` = every outcome.
    #[schema(example = json!(["dvt", "blood_loss_ml"]))]
    pub outcomes: Option<Vec<String>>,
    /// Compute the exact TreeSHAP explanations (default `true`; `false` skips the SHAP work).
    #[schema(default = true, example = true)]
    pub explain: Option<bool>,
    /// For each missing optional input, the range of each risk across its plausible values
    /// (default `false`; costs one prediction per input and plausible value).
    #[schema(default = false, example = false)]
    pub missing_input_ranges: Option<bool>,
    /// The site (hospital) assessed for: one of the configured `sites`; with a site-bound API
    /// key, that key's site (absent: the key's site).
    #[schema(example = "site-a")]
    pub site: Option<String>,
    /// The patient's identifier at the site (1–256 characters), stored only as
    /// `HMAC-SHA256(secret, value)`; needs `reference_hmac_key_file` on the server.
    #[schema(example = "MRN-0042")]
    pub patient_reference: Option<String>,
    /// The encounter's identifier, stored only as its keyed hash (as `patient_reference`).
    #[schema(example = "ENC-2026-0301")]
    pub encounter_reference: Option<String>,
    /// The planned surgery date (`YYYY-MM-DD`); with `patient_reference` it lets outcomes be
    /// recorded later without the assessment id.
    #[schema(format = Date, example = "2026-03-02")]
    pub surgery_date: Option<String>,
}

/// The `patient` object. Its schema is the feature dictionary's JSON Schema
/// ([`crate::features::schema::patient_json_schema`], also written to
/// `schemas/patient.schema.json`): one source, so a generated client knows every field with its
/// type, unit, range and levels.
pub struct PatientDto;

impl utoipa::PartialSchema for PatientDto {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let mut schema = crate::features::schema::patient_json_schema();
        if let Some(object) = schema.as_object_mut() {
            object.remove("$schema");
            object.remove("$id");
        }
        match serde_json::from_value(schema) {
            Ok(schema) => utoipa::openapi::RefOr::T(schema),
            // Only if the dictionary's schema used a keyword utoipa cannot hold;
            // `tests/openapi.rs` checks every feature is in the document.
            Err(e) => utoipa::openapi::RefOr::T(
                utoipa::openapi::schema::ObjectBuilder::new()
                    .description(Some(format!("patient schema unavailable: {e}")))
                    .into(),
            ),
        }
    }
}

impl ToSchema for PatientDto {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Patient")
    }
}

/// `POST /v1/assessments:batch` body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequestDto {
    /// 1 to 1,000 assessment requests (each as `POST /v1/assessments` takes it:
    /// `AssessmentRequestDto`). Each item is validated on its own: an item that is not a valid
    /// request is answered in its own result with status 422 and a problem naming every bad field,
    /// and the other items are still assessed. So any JSON objects are accepted here.
    #[schema(min_items = 1, max_items = 1000, value_type = Vec<Object>)]
    pub items: Vec<serde_json::Map<String, Value>>,
}

// ---------------------------------------------------------------- assessments

/// One assessment: every requested outcome's prediction and the basis it was made on. Stored
/// verbatim in the audit store and returned byte for byte by `GET /v1/assessments/{id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentDto {
    /// Assessment id (UUID v4); also the audit record's key.
    #[schema(format = Uuid, example = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f")]
    pub assessment_id: String,
    /// When it was answered: RFC 3339, UTC, millisecond precision.
    #[schema(example = "2025-01-31T09:30:00.123Z")]
    pub created_at: DateTime<Utc>,
    /// The site assessed for (the API key's, or the request's `site`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "site-a")]
    pub site: Option<String>,
    /// `HMAC-SHA256(secret, patient_reference)`, 64 lowercase hex digits; the reference itself
    /// is never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = "^[0-9a-f]{64}$",
        example = "3f1c9a0d2b7e4c5a8f6e1d0b9c8a7f6e5d4c3b2a1908f7e6d5c4b3a291807f6e"
    )]
    pub patient_reference_hash: Option<String>,
    /// `HMAC-SHA256(secret, encounter_reference)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub encounter_reference_hash: Option<String>,
    /// The planned surgery date (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Date, example = "2026-03-02")]
    pub surgery_date: Option<String>,
    /// The model set that answered.
    pub model_set: ModelSetRefDto,
    /// One entry per requested outcome: a prediction, or `not_applicable` with a reason.
    pub predictions: Vec<PredictionDto>,
    /// Rule-based recommendations (`docs/rules.md`), each with the decision-table row that
    /// produced it and the inputs that row tested; empty when no rule matched.
    pub recommendations: Vec<Recommendation>,
    /// The rule set that produced `recommendations` (the one active when the assessment was
    /// answered); absent when no rule set was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rule_set: Option<RuleSetRef>,
    /// Which rule nodes ran and which table rows matched; absent when no rule set was applied
    /// or the rule set failed (a warning then says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rule_trace: Option<RuleTrace>,
    /// The basis of the assessment (FDA CDS criterion 4).
    pub inputs: InputsDto,
    /// How an EHR adapter delivered the answer; absent for a JSON request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub delivery: Option<DeliveryDto>,
    /// What would sharpen the estimate (present when the request set `missing_input_ranges`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub missing_input_ranges: Option<MissingInputRangesDto>,
    /// Warnings about the answer as a whole (e.g. synthetic training data).
    pub warnings: Vec<String>,
}

/// How an EHR adapter delivered an answer (FHIR input over REST, a CDS Hooks card): where the
/// inputs came from and what was found but not used.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryDto {
    /// `fhir` (a Bundle posted to `POST /v1/assessments`) or `cds-hooks` (a card).
    #[schema(example = "fhir")]
    pub channel: String,
    /// The CDS service id (`cds-hooks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "periop-spine-risk-order-select")]
    pub service: Option<String>,
    /// The CDS hook (`cds-hooks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "order-select")]
    pub hook: Option<String>,
    /// The CDS `hookInstance` (`cds-hooks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub hook_instance: Option<String>,
    /// `Patient/<id>` of the FHIR input, when its Patient has an id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "Patient/pat-42")]
    pub patient: Option<String>,
    /// `Encounter/<id>`: the hook's encounter, or the order's `encounter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "Encounter/enc-7")]
    pub encounter: Option<String>,
    /// The CDS client (its JWT `iss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client: Option<String>,
    /// Every FHIR resource an input came from (`Observation/hb-1`, `ServiceRequest/sr-1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(example = json!(["ServiceRequest/sr-1", "Observation/hb-1"]))]
    pub basis: Vec<String>,
    /// Where each mapped input came from: `feature`, `reference`, and the clinical `date` and
    /// `original` value as the EHR gave it when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>, example = json!([{"feature": "hemoglobin_g_dl", "reference": "Observation/hb-1", "date": "2025-01-20", "original": "124 g/L"}]))]
    pub sources: Vec<Value>,
    /// Values found but not used, and required inputs not found: `feature`, `reference` and
    /// `kind` (`stale`, `unknown_unit`, `entered_in_error`, ...) with its details.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>, example = json!([{"feature": "d_dimer_mg_l_feu", "reference": "Observation/dd-1", "kind": "unknown_unit", "unit": "mg"}]))]
    pub problems: Vec<Value>,
    /// The CDS Hooks card sent, with its uuid and its suggestions' uuids (`cds-hooks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, nullable = false)]
    pub card: Option<Value>,
}

/// The model set that answered.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSetRefDto {
    /// Model set id.
    #[schema(example = "default")]
    pub id: String,
    /// Model set version.
    #[schema(example = "2025.01.0")]
    pub version: String,
}

/// Whether an outcome was predicted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PredictionStatusDto {
    /// Predicted.
    Ok,
    /// The patient is outside the model's population; see `reason`.
    NotApplicable,
}

/// One outcome's answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictionDto {
    /// Outcome id (`features.md`).
    #[schema(example = "dvt")]
    pub outcome: String,
    /// `ok` or `not_applicable`.
    pub status: PredictionStatusDto,
    /// Why the outcome does not apply (`not_applicable` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "applies to cervical procedures only")]
    pub reason: Option<String>,
    /// Calibrated probability, 0–1 (binary outcomes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0.0, maximum = 1.0, example = 0.042)]
    pub probability: Option<f64>,
    /// Median and 80 % interval (blood loss).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub quantity: Option<QuantityDto>,
    /// Name of the model's risk band holding the probability (or the median mL).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "moderate")]
    pub risk_band: Option<String>,
    /// Cohort baseline: event rate (binary) or median mL (blood loss).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = 0.031)]
    pub baseline: Option<f64>,
    /// `probability / baseline`, or median / baseline median.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = 1.35)]
    pub relative_risk: Option<f64>,
    /// The model that answered.
    pub model: ModelRefDto,
    /// Exact TreeSHAP explanation (absent with `explain: false` or `not_applicable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub explanation: Option<ExplanationDto>,
}

/// Blood-loss quantity in mL.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantityDto {
    /// Median estimate.
    #[schema(example = 650.0)]
    pub median: f64,
    /// 10th percentile (lower end of the 80 % interval).
    #[schema(example = 300.0)]
    pub p10: f64,
    /// 90th percentile (upper end of the 80 % interval).
    #[schema(example = 1400.0)]
    pub p90: f64,
    /// Always `mL`.
    #[schema(example = "mL")]
    pub unit: String,
}

/// The model that answered.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRefDto {
    /// Outcome id.
    #[schema(example = "dvt")]
    pub id: String,
    /// Model version (`<outcome>@<first 12 hex of the primary file's SHA-256>`).
    #[schema(example = "dvt@3f2a9c81b0de")]
    pub version: String,
    /// SHA-256 (hex) of the primary model file.
    #[schema(example = "3f2a9c81b0de4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b")]
    pub sha256: String,
}

/// Scale of an explanation's raw score.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScaleDto {
    /// Log-odds (binary outcomes).
    LogOdds,
    /// Natural log of mL (blood-loss median).
    LogMl,
}

/// Exact TreeSHAP explanation of the primary model: `base_value + Σ contribution = raw_score`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplanationDto {
    /// Scale of `base_value`, `raw_score` and the contributions.
    pub scale: ScaleDto,
    /// The model's expected raw score over its training data.
    #[schema(example = -3.1)]
    pub base_value: f64,
    /// This patient's raw score.
    #[schema(example = -2.8)]
    pub raw_score: f64,
    /// Unit of every contribution's `effect` and of `effect_base`.
    pub effect_unit: EffectUnitDto,
    /// The outcome at the model's base value: probability in percent (binary) or median mL.
    /// `effect_base + Σ effect` equals the probability in percent (or the median in mL).
    #[schema(example = 4.3)]
    pub effect_base: f64,
    /// One per model feature, in model feature order.
    pub contributions: Vec<ContributionDto>,
    /// Plain-language summary of the top contributors (associations, not causes).
    #[schema(example = "Higher than baseline mainly because of: fused levels 3, age 67 years.")]
    pub summary: String,
}

/// Unit of the contributions on the outcome's scale.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EffectUnitDto {
    /// Percentage points of probability (binary outcomes; `effect_base` in percent).
    PercentagePoints,
    /// Millilitres of the blood-loss median.
    Ml,
}

/// One feature's contribution to the raw score, and on the outcome's scale.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContributionDto {
    /// Model feature name.
    #[schema(example = "fused_levels")]
    pub feature: String,
    /// The feature and its value in a clinician's words and units.
    #[schema(example = "Fused levels 3")]
    pub label: String,
    /// The model input in the patient's terms: `null` when missing, a boolean, an enum level or
    /// a number (derived features as numbers).
    #[schema(example = 3)]
    pub value: Value,
    /// Unit of `value`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "levels")]
    pub unit: Option<String>,
    /// Exact TreeSHAP contribution on the explanation's raw scale.
    #[schema(example = 0.21)]
    pub contribution: f64,
    /// The same contribution on the outcome's scale (`effect_unit`), along the SHAP path
    /// (`docs/api.md`, "Explanations in clinical terms").
    #[schema(example = 0.8)]
    pub effect: f64,
}

/// What would sharpen the estimate: each missing optional input with the range of every
/// applicable outcome across the input's plausible training values (exact model evaluations,
/// one input varied at a time).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MissingInputRangesDto {
    /// Missing inputs, largest `spread` first.
    pub inputs: Vec<MissingInputRangeDto>,
    /// Hypothetical patients predicted (one per input and plausible value).
    #[schema(example = 120)]
    pub patients_evaluated: usize,
    /// Model evaluations made (patients × applicable models): the cost of the ranges.
    #[schema(example = 1200)]
    pub model_evaluations: usize,
    /// Why no ranges could be computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub unavailable: Option<String>,
}

/// One missing input and each outcome's range across its plausible values.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MissingInputRangeDto {
    /// Dictionary feature name.
    #[schema(example = "d_dimer_mg_l_feu")]
    pub feature: String,
    /// Clinician label.
    #[schema(example = "D-dimer")]
    pub label: String,
    /// Plausible values tried (training-distribution quantiles or levels).
    #[schema(example = json!([0.2, 0.35, 0.5, 0.8, 1.6]))]
    pub values: Vec<Value>,
    /// Plausible values refused for this patient (contradicting another input).
    #[schema(example = 0)]
    pub values_skipped: usize,
    /// One range per applicable outcome.
    pub outcomes: Vec<OutcomeRangeDto>,
    /// Ranking score: the largest `(high − low) / baseline` over the outcomes.
    #[schema(example = 0.8)]
    pub spread: f64,
}

/// One outcome's range across a missing input's plausible values.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRangeDto {
    /// Outcome id.
    #[schema(example = "dvt")]
    pub outcome: String,
    /// Lowest probability (0–1) or blood-loss median (mL).
    #[schema(example = 0.018)]
    pub low: f64,
    /// Highest probability (0–1) or blood-loss median (mL).
    #[schema(example = 0.041)]
    pub high: f64,
    /// `probability` or `mL`.
    #[schema(example = "probability")]
    pub unit: String,
    /// The input value giving `low`.
    #[schema(example = 0.2)]
    pub low_at: Value,
    /// The input value giving `high`.
    #[schema(example = 1.6)]
    pub high_at: Value,
}

/// The basis of the assessment (FDA CDS criterion 4).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputsDto {
    /// Inputs present in the request, in dictionary order, as given.
    pub used: Vec<UsedInputDto>,
    /// Features computed from the inputs.
    pub derived: Vec<DerivedInputDto>,
    /// Dictionary inputs that were absent or `null` (never imputed).
    #[schema(example = json!(["albumin_g_dl"]))]
    pub missing: Vec<String>,
}

/// One input as given.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsedInputDto {
    /// Dictionary feature name.
    #[schema(example = "age_years")]
    pub feature: String,
    /// The value as given.
    #[schema(example = 67)]
    pub value: Value,
    /// Unit, when the feature has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "years")]
    pub unit: Option<String>,
}

/// One derived feature.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DerivedInputDto {
    /// Derived feature name.
    #[schema(example = "caprini_score")]
    pub feature: String,
    /// The computed value; `null` when it could not be computed.
    #[schema(example = 7)]
    pub value: Value,
    /// Unit, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "points")]
    pub unit: Option<String>,
    /// How it was computed (plain language).
    #[schema(example = "Caprini score from age, BMI, history of VTE and the planned surgery")]
    pub detail: String,
    /// Score band (Caprini).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "highest")]
    pub band: Option<String>,
    /// Score items that could not be assessed (the score is then a lower bound).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub unassessed: Option<Vec<String>>,
}

/// `POST /v1/assessments:batch` answer: one result per item, in request order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchResponseDto {
    /// One result per request item, in order.
    pub results: Vec<BatchResultDto>,
}

/// One batch item's result: an assessment (`status` 201) or a problem (`status` 4xx/5xx).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchResultDto {
    /// HTTP status this item would have had on its own: 201, or the problem's status.
    #[schema(example = 201)]
    pub status: u16,
    /// The answered assessment (`status` 201 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub assessment: Option<AssessmentDto>,
    /// Why this item was not answered (`status` other than 201 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Problem)]
    pub problem: Option<Value>,
}

// ---------------------------------------------------------------- models

/// The loaded model set: each outcome's model version, hash, population and headline metrics.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSetDto {
    /// Model set id.
    #[schema(example = "default")]
    pub id: String,
    /// Model set version.
    #[schema(example = "2025.01.0")]
    pub version: String,
    /// `true` when the models were trained on synthetic data (`periop synth`): not for patient care.
    #[schema(example = true)]
    pub synthetic_training_data: bool,
    /// The training data the set was built from.
    pub training_data: TrainingDataDto,
    /// Where a recalibrated set came from (`periop recalibrate`); `null` for trained sets.
    #[schema(value_type = Option<Object>)]
    pub recalibration: Option<serde_json::Value>,
    /// One summary per outcome.
    pub models: Vec<ModelSummaryDto>,
}

/// The training data file of a model set.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingDataDto {
    /// File name.
    #[schema(example = "synthetic.csv")]
    pub file: String,
    /// Rows in the file.
    #[schema(example = 150000)]
    pub rows: u64,
    /// SHA-256 (hex) of the file.
    pub sha256: String,
}

/// Kind of number an outcome is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKindDto {
    /// A calibrated probability (binary model).
    Probability,
    /// A quantity in mL (median and 80 % interval).
    Quantity,
}

/// One outcome's model in the set listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSummaryDto {
    /// Outcome id.
    #[schema(example = "dvt")]
    pub outcome: String,
    /// Model version.
    #[schema(example = "dvt@3f2a9c81b0de")]
    pub version: String,
    /// SHA-256 (hex) of the primary model file.
    pub sha256: Option<String>,
    /// Probability or quantity.
    pub kind: OutcomeKindDto,
    /// Who the model answers for.
    #[schema(example = "all spine surgery patients")]
    pub population: String,
    /// Cohort baseline: event rate (binary) or median mL (blood loss).
    #[schema(example = 0.031)]
    pub baseline: f64,
    /// Held-out validation metrics from training (e.g. `auc`, `brier_calibrated`, `rows`).
    #[schema(example = json!({"auc": 0.81, "brier_calibrated": 0.085, "rows": 30000}))]
    pub validation: Value,
}

/// One outcome's model card.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelCardDto {
    /// Outcome id.
    #[schema(example = "dvt")]
    pub outcome: String,
    /// Model version.
    #[schema(example = "dvt@3f2a9c81b0de")]
    pub version: String,
    /// Definition of the outcome.
    pub definition: String,
    /// Intended use.
    pub intended_use: String,
    /// Who the model answers for.
    pub population: String,
    /// Probability or quantity.
    pub kind: OutcomeKindDto,
    /// Model input names in order (dictionary inputs, then derived features).
    pub inputs: Vec<String>,
    /// Model files with their hashes.
    pub files: Vec<ModelFileDto>,
    /// The rows the model was trained on.
    pub training: TrainingSummaryDto,
    /// `true` when trained on synthetic data: not for patient care.
    pub synthetic_training_data: bool,
    /// Raw score → calibrated probability (binary outcomes; `null` for quantities), e.g.
    /// `{"method": "platt", "a": 1.03, "b": 0.05, ...}`.
    pub calibration: Option<Value>,
    /// Risk bands `[lower, upper)` on the probability (or the median mL).
    pub risk_bands: Vec<RiskBandDto>,
    /// Metrics from training: held-out validation and leave-one-site-out.
    pub metrics: Value,
    /// Known limitations, most important first.
    pub limitations: Vec<String>,
}

/// Role of a model file within its outcome.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelRoleDto {
    /// Binary classifier; raw score = log-odds.
    Probability,
    /// Regression of ln(mL); raw score = ln of the median.
    Median,
    /// Quantile regression (alpha 0.1) of ln(mL).
    P10,
    /// Quantile regression (alpha 0.9) of ln(mL).
    P90,
}

/// One model file.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelFileDto {
    /// Role of the file.
    pub role: ModelRoleDto,
    /// Path relative to the outcome directory.
    #[schema(example = "model.txt")]
    pub path: String,
    /// SHA-256 (hex) of the file.
    pub sha256: String,
    /// Number of trees.
    #[schema(example = 592)]
    pub trees: u64,
}

/// The rows a model was trained on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingSummaryDto {
    /// Population filter.
    pub population: String,
    /// Rows in the population.
    pub rows_total: u64,
    /// Rows used for training.
    pub rows_train: u64,
    /// Held-out rows.
    pub rows_validation: u64,
    /// Events in the population (binary outcomes; `null` for quantities).
    pub events: Option<u64>,
    /// Event rate (binary) or median mL (blood loss): the cohort baseline.
    pub baseline: f64,
    /// Trained on synthetic data.
    pub synthetic: bool,
}

/// A risk band `[lower, upper)`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskBandDto {
    /// Band name.
    #[schema(example = "moderate")]
    pub name: String,
    /// Inclusive lower bound.
    #[schema(example = 0.02)]
    pub lower: f64,
    /// Exclusive upper bound.
    #[schema(example = 0.05)]
    pub upper: f64,
}

// ---------------------------------------------------------------- health

/// Liveness answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthDto {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// Readiness answer (200 when ready, 503 when not).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadyDto {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// The loaded (verified) model set.
    pub model_set: ModelSetRefDto,
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub audit_store: String,
}
