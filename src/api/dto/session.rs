//! Wire types of the web page's helpers: `GET /v1/session` (who the key is and what it may do)
//! and `GET /v1/features` (the feature dictionary with clinician labels, and the outcomes).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::api::auth::Permission;

/// The caller's key: its id and role, and what it may do.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(session()))]
pub struct SessionDto {
    /// The key's role (`ehr`, `clinician`, `quality`, `admin`); `null` in development mode (no
    /// key).
    #[schema(example = "clinician")]
    pub role: Option<String>,
    /// The key's id (as recorded in the audit trail; never the key), `dev-mode` in development
    /// mode.
    #[schema(example = "clinician-key")]
    pub key_id: String,
    /// `true` when the server requires no API key (`dev_mode_no_auth`; never with real patients).
    #[schema(example = false)]
    pub development_mode: bool,
    /// Every permission of the role (all of them in development mode), in the order of the role
    /// table.
    #[schema(example = json!(["assess", "read_assessments"]))]
    pub permissions: Vec<Permission>,
}

/// The feature dictionary for forms: every input with its type, unit, accepted range or levels,
/// whether it is required, its codes, description and clinician label; the derived features; and
/// the outcomes periop estimates.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(features()))]
pub struct FeatureDictionaryDto {
    /// Version of the feature dictionary (`features::dictionary::DICTIONARY_VERSION`).
    #[schema(example = "1")]
    pub version: String,
    /// Every input, in canonical (CSV and model) order.
    pub features: Vec<FeatureDto>,
    /// Features computed from the inputs (never entered).
    pub derived: Vec<DerivedFeatureDto>,
    /// Every outcome periop estimates, in answer order.
    pub outcomes: Vec<OutcomeDto>,
}

/// One input of the dictionary.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureDto {
    /// Field name in `patient`.
    #[schema(example = "age_years")]
    pub name: String,
    /// Where the input sits in the clinical picture.
    #[schema(example = "patient")]
    pub group: FeatureGroupDto,
    /// Value type: `number`, `integer`, `boolean` or `enum`.
    #[serde(rename = "type")]
    #[schema(example = "number")]
    pub kind: FeatureKindDto,
    /// Smallest accepted value (numbers and integers; inclusive).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(example = 18.0)]
    pub min: Option<f64>,
    /// Largest accepted value (numbers and integers; inclusive).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(example = 100.0)]
    pub max: Option<f64>,
    /// The accepted levels (enums), lower snake case.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(example = json!(["female", "male"]))]
    pub levels: Option<Vec<String>>,
    /// The levels in words, in level order (enums).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(example = json!(["female", "male"]))]
    pub level_labels: Option<Vec<String>>,
    /// `true` for unordered levels (enums).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(example = false)]
    pub nominal: Option<bool>,
    /// UCUM-style unit of the value to send, `null` for dimensionless values.
    #[schema(example = "a")]
    pub unit: Option<String>,
    /// Required in every assessment (the others may be missing; never imputed).
    #[schema(example = true)]
    pub required: bool,
    /// Terminology codes and FHIR paths it maps from; `(?)` marks codes to verify.
    #[schema(example = json!(["Patient.birthDate"]))]
    pub codes: Vec<String>,
    /// What the input is.
    #[schema(example = "Age at surgery")]
    pub description: String,
    /// The clinician label (as in explanations).
    #[schema(example = "Age")]
    pub label: String,
}

/// The group of an input.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeatureGroupDto {
    Patient,
    Comorbidity,
    Laboratory,
    Imaging,
    SurgicalPlan,
    PatientReported,
}

/// The value type of an input.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKindDto {
    Number,
    Integer,
    Boolean,
    Enum,
}

/// A feature periop derives from the inputs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DerivedFeatureDto {
    /// Feature name (as in `inputs.derived` and explanations).
    #[schema(example = "mfi5")]
    pub name: String,
    /// How it is computed.
    #[schema(
        example = "mFI-5: diabetes + copd + congestive_heart_failure + hypertension + dependent functional status"
    )]
    pub description: String,
    /// The clinician label.
    #[schema(example = "mFI-5 frailty score")]
    pub label: String,
}

/// One outcome.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeDto {
    /// Outcome id (as in `predictions[].outcome`).
    #[schema(example = "dvt")]
    pub id: String,
    /// Short clinician name.
    #[schema(example = "DVT")]
    pub name: String,
    /// What is predicted.
    #[schema(example = "Deep vein thrombosis on in-hospital duplex screening")]
    pub definition: String,
    /// `probability` (a calibrated risk) or `quantity` (mL: median and 80 % interval).
    #[schema(example = "probability")]
    pub kind: String,
    /// The population the model answers for (others get `not_applicable`).
    #[schema(example = "all procedures")]
    pub population: String,
}

/// Example of `GET /v1/session`.
pub fn session() -> Value {
    json!({"role": "clinician", "key_id": "clinician-key", "development_mode": false, "permissions": ["assess", "read_assessments"]})
}

/// Example of `GET /v1/features` (one input of each kind shown).
pub fn features() -> Value {
    json!({
        "version": "1",
        "features": [
            {"name": "age_years", "group": "patient", "type": "number", "min": 18.0, "max": 100.0, "unit": "a", "required": true, "codes": ["Patient.birthDate"], "description": "Age at surgery", "label": "Age"},
            {"name": "diabetes", "group": "comorbidity", "type": "enum", "levels": ["none", "non_insulin", "insulin"], "level_labels": ["none", "non-insulin-treated", "insulin-treated"], "nominal": false, "unit": null, "required": false, "codes": ["ICD-10-CM E11"], "description": "Diabetes mellitus and its treatment", "label": "Diabetes"},
            {"name": "hypertension", "group": "comorbidity", "type": "boolean", "unit": null, "required": false, "codes": ["ICD-10-CM I10"], "description": "Hypertension", "label": "Hypertension"},
        ],
        "derived": [{"name": "mfi5", "description": "mFI-5: diabetes + copd + congestive_heart_failure + hypertension + dependent functional status", "label": "mFI-5 frailty score"}],
        "outcomes": [{"id": "dvt", "name": "DVT", "definition": "Deep vein thrombosis on in-hospital duplex screening", "kind": "probability", "population": "all procedures"}],
    })
}
