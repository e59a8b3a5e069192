//! CDS Hooks 2.0 wire types (`cds-hooks-fhir.md` §1.2–1.5): discovery, the service call, cards
//! and feedback. Optional members with no value are omitted, never `null`, `""`, `[]` or `{}`
//! (§1.1); prefetch stays a JSON map so a key that is absent (not supplied) and a key that is
//! `null` (no data) remain different. CDS Hooks 3.0 members are tolerated on input (unknown
//! members are ignored, as the specification's extensibility asks).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /cds-services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    pub services: Vec<Service>,
}

/// One CDS service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub hook: String,
    pub id: String,
    pub title: String,
    pub description: String,
    pub prefetch: std::collections::BTreeMap<String, String>,
    pub usage_requirements: String,
    /// Reverse-domain keys (`org.periop.modelSet`).
    pub extension: Map<String, Value>,
}

/// `POST /cds-services/{id}` body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRequest {
    pub hook: String,
    pub hook_instance: String,
    #[serde(default)]
    pub fhir_server: Option<String>,
    #[serde(default)]
    pub fhir_authorization: Option<FhirAuthorization>,
    pub context: Map<String, Value>,
    #[serde(default)]
    pub prefetch: Option<Map<String, Value>>,
}

/// The FHIR server's access token (transient: never stored, never logged).
#[derive(Clone, PartialEq, Deserialize)]
pub struct FhirAuthorization {
    pub access_token: String,
    pub token_type: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
}

impl std::fmt::Debug for FhirAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirAuthorization")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
}

/// The service's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardsResponse {
    pub cards: Vec<Card>,
}

/// One card (§1.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub uuid: String,
    /// Under 140 characters.
    pub summary: String,
    /// GitHub-flavoured Markdown.
    pub detail: String,
    /// `info` or `warning` (never `critical`: `docs/ehr.md`, indicator policy).
    pub indicator: String,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
    /// Present exactly when `suggestions` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_behavior: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub override_reasons: Vec<Coding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

/// The card's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Coding>,
}

/// A CDS Hooks Coding (`display` required where the specification asks for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// One suggestion: actions the EHR applies together with one click.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub label: String,
    pub uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_recommended: Option<bool>,
    pub actions: Vec<Action>,
}

/// A FHIR change the EHR makes when the suggestion is accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// `create` here.
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub resource: Value,
}

/// A link from the card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub label: String,
    pub url: String,
    /// `absolute`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `POST /cds-services/{id}/feedback` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRequest {
    pub feedback: Vec<FeedbackItem>,
}

/// One card's outcome as the EHR reports it (§1.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackItem {
    /// The card's uuid.
    pub card: String,
    /// `accepted` or `overridden`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_suggestions: Vec<AcceptedSuggestion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<OverrideReason>,
    /// RFC 3339, UTC.
    pub outcome_timestamp: String,
}

/// A suggestion the clinician accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedSuggestion {
    pub id: String,
}

/// Why a card was overridden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideReason {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_comment: Option<String>,
}
