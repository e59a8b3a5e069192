//! Wire types of the audit search (`GET /v1/audit/assessments` and its export). The response
//! types are what the handler serialises (built from `service::audit_search`), so the document
//! cannot drift from the answers; the query types describe the parameters for the OpenAPI
//! document (the handler parses the query itself to name every bad parameter).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::service::audit_search::{AssessmentSummary, OutcomeSummary, SearchPage};

/// `GET /v1/audit/assessments` query: every filter optional, all given ones must hold.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditSearchQueryDto {
    /// Assessed at or after (RFC 3339; percent-encode a `+` offset as `%2B`).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-03-01T00:00:00Z")]
    pub from: Option<String>,
    /// Assessed before (RFC 3339); after `from`.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-04-01T00:00:00Z")]
    pub to: Option<String>,
    /// The assessment's site.
    #[param(example = "north")]
    pub site: Option<String>,
    /// Only assessments that predicted this outcome (status `ok`, not `not_applicable`).
    #[param(example = "dvt")]
    pub outcome: Option<String>,
    /// With `outcome`: only those whose prediction of it is in this risk band.
    #[param(example = "high")]
    pub band: Option<String>,
    /// API key id of the caller that asked for the assessment.
    #[param(example = "key_ehr_01")]
    pub caller: Option<String>,
    /// Rule-set version that produced the recommendations.
    #[param(example = "default-1")]
    pub rule_version: Option<String>,
    /// The model-set version, or one outcome model's version (`<outcome>@<hash prefix>`);
    /// percent-encode a `+` in it as `%2B`.
    #[param(example = "2026.03.0")]
    pub model_version: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500, example = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (opaque).
    #[param(example = "c2VxOjEyMzQ")]
    pub cursor: Option<String>,
}

/// `GET /v1/audit/assessments/export` query: the format and the filters of the search (no
/// `limit` or `cursor`: the export holds every match).
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditExportQueryDto {
    /// `csv` (one column per field, outcomes flattened) or `ndjson` (one search item per line).
    #[param(inline, example = "csv")]
    pub format: ExportFormatDto,
    /// As in the search.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-03-01T00:00:00Z")]
    pub from: Option<String>,
    /// As in the search.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-04-01T00:00:00Z")]
    pub to: Option<String>,
    /// As in the search.
    pub site: Option<String>,
    /// As in the search.
    pub outcome: Option<String>,
    /// As in the search (needs `outcome`).
    pub band: Option<String>,
    /// As in the search.
    pub caller: Option<String>,
    /// As in the search.
    pub rule_version: Option<String>,
    /// As in the search.
    pub model_version: Option<String>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormatDto {
    Csv,
    Ndjson,
}

/// One page of stored assessments, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::page()))]
pub struct AuditAssessmentPageDto {
    /// The page's assessments, newest first (at most `limit`).
    pub items: Vec<AuditAssessmentDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(example = "c2VxOjEyMzQ")]
    pub next_cursor: Option<String>,
}

/// One stored assessment as listed (no patient inputs: `GET /v1/assessments/{id}` has them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditAssessmentDto {
    /// Assessment id (`GET /v1/assessments/{id}` returns the whole stored answer).
    #[schema(example = "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f")]
    pub assessment_id: String,
    /// RFC 3339, as answered.
    #[schema(example = "2026-03-02T09:41:12.305Z")]
    pub created_at: String,
    /// `null` when the assessment had no site.
    #[schema(example = "north")]
    pub site: Option<String>,
    /// API key id of the caller.
    #[schema(example = "key_ehr_01")]
    pub caller: String,
    /// Version of the model set that answered.
    #[schema(example = "2026.03.0")]
    pub model_set_version: Option<String>,
    /// `null` when no rule set was applied.
    #[schema(example = "default-1")]
    pub rule_set_version: Option<String>,
    /// In the answer's order.
    pub outcomes: Vec<AuditOutcomeDto>,
}

/// One outcome of a listed assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditOutcomeDto {
    /// Outcome id (`features.md`).
    #[schema(example = "dvt")]
    pub outcome: String,
    /// `<outcome>@<hash prefix>` of the model that answered.
    #[schema(example = "dvt@3f2a9c1e")]
    pub model_version: Option<String>,
    /// `null` when not applicable.
    #[schema(example = "low")]
    pub risk_band: Option<String>,
    /// Calibrated probability (binary outcomes that applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 0.031)]
    pub probability: Option<f64>,
    /// Median blood loss in mL (blood loss, when it applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_ml: Option<f64>,
    /// The outcome did not apply to the patient (no risk band, no value).
    pub not_applicable: bool,
}

impl From<OutcomeSummary> for AuditOutcomeDto {
    fn from(o: OutcomeSummary) -> Self {
        Self {
            outcome: o.outcome,
            model_version: o.model_version,
            risk_band: o.risk_band,
            probability: o.probability,
            median_ml: o.median_ml,
            not_applicable: o.not_applicable,
        }
    }
}

impl From<AssessmentSummary> for AuditAssessmentDto {
    fn from(s: AssessmentSummary) -> Self {
        Self {
            assessment_id: s.assessment_id,
            created_at: s.created_at,
            site: s.site,
            caller: s.caller,
            model_set_version: s.model_set_version,
            rule_set_version: s.rule_set_version,
            outcomes: s.outcomes.into_iter().map(AuditOutcomeDto::from).collect(),
        }
    }
}

impl From<SearchPage> for AuditAssessmentPageDto {
    fn from(p: SearchPage) -> Self {
        Self {
            items: p.items.into_iter().map(AuditAssessmentDto::from).collect(),
            next_cursor: p.next_cursor.map(|c| c.encode()),
        }
    }
}

/// Examples of the document.
pub mod examples {
    use serde_json::{json, Value};

    /// A page of one assessment with a next page.
    pub fn page() -> Value {
        json!({
            "items": [{
                "assessment_id": "5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f",
                "created_at": "2026-03-02T09:41:12.305Z",
                "site": "north",
                "caller": "key_ehr_01",
                "model_set_version": "2026.03.0",
                "rule_set_version": "default-1",
                "outcomes": [
                    {"outcome": "dvt", "model_version": "dvt@3f2a9c1e", "risk_band": "low", "probability": 0.031, "not_applicable": false},
                    {"outcome": "blood_loss_ml", "model_version": "blood_loss_ml@9b1c0d2e", "risk_band": "moderate", "median_ml": 420.0, "not_applicable": false},
                    {"outcome": "csf_leak", "model_version": "csf_leak@77aa01b3", "risk_band": null, "not_applicable": true}
                ]
            }],
            "next_cursor": "c2VxOjEyMzQ"
        })
    }

    /// One NDJSON line of the export (each line is one such object).
    pub fn ndjson() -> Value {
        page()["items"][0].clone()
    }

    /// The start of a CSV export (header and one row).
    pub fn csv() -> String {
        "assessment_id,created_at,site,caller,model_set_version,rule_set_version,dvt_model_version,dvt_risk_band,dvt_probability,dvt_not_applicable,…\n\
         5f0c1d4e-8a9b-4c3d-9e2f-1a2b3c4d5e6f,2026-03-02T09:41:12.305Z,north,key_ehr_01,2026.03.0,default-1,dvt@3f2a9c1e,low,0.031,false,…\n"
            .to_string()
    }
}
