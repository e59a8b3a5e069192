//! Wire types of the quality API (`/v1/quality/...`). The response types are what the handlers
//! serialise (built from the service's summary), so the document cannot drift from the answers;
//! the query type describes the parameters for the OpenAPI document (the handler parses the query
//! itself to name every bad parameter).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::clock::created_at_text;
use crate::service::overrides::{
    ModelSetCounts, OutcomeCounts, OverrideSummary, ReasonCount, RecommendationCounts,
    RuleSetCounts,
};

// ---------------------------------------------------------------- request

/// `GET /v1/quality/overrides` query: the window of feedback *received* (`[from, to)`).
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverridesQueryDto {
    /// Window start, inclusive (RFC 3339; percent-encode a `+` offset as `%2B`).
    #[param(value_type = String, format = DateTime, example = "2026-03-01T00:00:00Z")]
    pub from: String,
    /// Window end, exclusive (RFC 3339); after `from`.
    #[param(value_type = String, format = DateTime, example = "2026-04-01T00:00:00Z")]
    pub to: String,
}

// ---------------------------------------------------------------- responses

/// How clinicians answered periop's CDS Hooks cards in the window.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::override_summary()))]
pub struct OverrideSummaryDto {
    /// Window start, inclusive (RFC 3339): feedback received at or after it.
    #[schema(example = "2026-03-01T00:00:00.000Z")]
    pub from: String,
    /// Window end, exclusive (RFC 3339).
    #[schema(example = "2026-04-01T00:00:00.000Z")]
    pub to: String,
    /// Every feedback report of the window (each distinct card, outcome and outcome time once).
    pub totals: OutcomeCountsDto,
    /// Per recommendation id, by id: an accepted report counts for the recommendations of its
    /// accepted suggestions, an overridden one for every recommendation of the card.
    pub recommendations: Vec<RecommendationCountsDto>,
    /// Per model set (id and version) that answered the card, by id then version.
    pub model_sets: Vec<ModelSetCountsDto>,
    /// Per rule-set version that produced the card's recommendations, by version (`null`: no
    /// rule set).
    pub rule_sets: Vec<RuleSetCountsDto>,
    /// Feedback records of the window that could not be read (counted nowhere else; should be 0).
    #[schema(example = 0)]
    pub unreadable: u64,
}

/// Accepted and overridden reports with the override reasons (comments are counted, never shown).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeCountsDto {
    /// Reports with outcome `accepted`.
    #[schema(example = 31)]
    pub accepted: u64,
    /// Reports with outcome `overridden`.
    #[schema(example = 9)]
    pub overridden: u64,
    /// Overridden reports per override reason picked, most frequent first.
    pub reasons: Vec<ReasonCountDto>,
    /// Overridden reports without a picked reason.
    #[schema(example = 2)]
    pub without_reason: u64,
    /// Overridden reports with a free-text comment (the text stays in the audit record).
    #[schema(example = 3)]
    pub with_comment: u64,
}

/// How many overridden reports gave one reason.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonCountDto {
    /// Code system of the reason.
    #[schema(example = "https://periop.example.org/fhir/CodeSystem/override-reason")]
    pub system: String,
    /// The reason's code.
    #[schema(example = "already-addressed")]
    pub code: String,
    /// The reason as the card offered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "Risk already addressed in the surgical plan"
    )]
    pub display: Option<String>,
    /// Overridden reports with this reason.
    #[schema(example = 4)]
    pub count: u64,
}

/// The counts of one recommendation id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendationCountsDto {
    /// Recommendation id (`docs/rules.md`).
    #[schema(example = "vte.combined_prophylaxis")]
    pub id: String,
    /// Its accepted and overridden reports.
    pub counts: OutcomeCountsDto,
}

/// The counts of the cards one model-set version answered.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSetCountsDto {
    /// Model set id.
    #[schema(example = "default")]
    pub id: String,
    /// Model set version.
    #[schema(example = "2025.01.0")]
    pub version: String,
    /// Its accepted and overridden reports.
    pub counts: OutcomeCountsDto,
}

/// The counts of the cards whose recommendations one rule-set version produced.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSetCountsDto {
    /// Rule-set version (`null`: answered without a rule set).
    #[schema(example = "default-1")]
    pub version: Option<String>,
    /// Its accepted and overridden reports.
    pub counts: OutcomeCountsDto,
}

impl From<OutcomeCounts> for OutcomeCountsDto {
    fn from(c: OutcomeCounts) -> Self {
        Self {
            accepted: c.accepted,
            overridden: c.overridden,
            reasons: c.reasons.into_iter().map(ReasonCountDto::from).collect(),
            without_reason: c.without_reason,
            with_comment: c.with_comment,
        }
    }
}

impl From<ReasonCount> for ReasonCountDto {
    fn from(r: ReasonCount) -> Self {
        Self {
            system: r.system,
            code: r.code,
            display: r.display,
            count: r.count,
        }
    }
}

impl From<OverrideSummary> for OverrideSummaryDto {
    fn from(s: OverrideSummary) -> Self {
        Self {
            from: created_at_text(&s.from),
            to: created_at_text(&s.to),
            totals: s.totals.into(),
            recommendations: s
                .recommendations
                .into_iter()
                .map(
                    |RecommendationCounts { id, counts }| RecommendationCountsDto {
                        id,
                        counts: counts.into(),
                    },
                )
                .collect(),
            model_sets: s
                .model_sets
                .into_iter()
                .map(
                    |ModelSetCounts {
                         id,
                         version,
                         counts,
                     }| ModelSetCountsDto {
                        id,
                        version,
                        counts: counts.into(),
                    },
                )
                .collect(),
            rule_sets: s
                .rule_sets
                .into_iter()
                .map(|RuleSetCounts { version, counts }| RuleSetCountsDto {
                    version,
                    counts: counts.into(),
                })
                .collect(),
            unreadable: s.unreadable,
        }
    }
}

// ---------------------------------------------------------------- examples

/// Example bodies of the quality endpoints (checked against their schemas by `tests/openapi.rs`).
pub mod examples {
    use serde_json::{json, Value};

    const REASONS: &str = "https://periop.example.org/fhir/CodeSystem/override-reason";

    fn counts(accepted: u64, overridden: u64, addressed: u64, judgement: u64) -> Value {
        let mut reasons = Vec::new();
        if addressed > 0 {
            reasons.push(json!({"system": REASONS, "code": "already-addressed", "display": "Risk already addressed in the surgical plan", "count": addressed}));
        }
        if judgement > 0 {
            reasons.push(json!({"system": REASONS, "code": "clinical-judgement", "display": "Not appropriate for this patient (clinical judgement)", "count": judgement}));
        }
        json!({
            "accepted": accepted, "overridden": overridden, "reasons": reasons,
            "without_reason": overridden - addressed - judgement, "with_comment": u64::from(overridden > 0)
        })
    }

    /// `GET /v1/quality/overrides` answer.
    pub fn override_summary() -> Value {
        json!({
            "from": "2026-03-01T00:00:00.000Z", "to": "2026-04-01T00:00:00.000Z",
            "totals": counts(31, 9, 5, 2),
            "recommendations": [
                {"id": "blood.type_and_screen", "counts": counts(12, 4, 3, 0)},
                {"id": "vte.combined_prophylaxis", "counts": counts(19, 9, 5, 2)}
            ],
            "model_sets": [{"id": "default", "version": "2025.01.0", "counts": counts(31, 9, 5, 2)}],
            "rule_sets": [
                {"version": "2025.02-dvt-threshold", "counts": counts(8, 1, 1, 0)},
                {"version": "default-1", "counts": counts(23, 8, 4, 2)}
            ],
            "unreadable": 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_deserialises_into_its_dto() {
        serde_json::from_value::<OverrideSummaryDto>(examples::override_summary())
            .expect("override summary");
    }
}
