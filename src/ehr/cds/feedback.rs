//! CDS Hooks feedback (`POST /cds-services/{id}/feedback`, `cds-hooks-fhir.md` §1.5) as the
//! service's [`FeedbackEntry`]: a member-for-member translation; every check and its field name
//! are in `service::feedback::record_feedback`.

use super::types::{FeedbackItem, FeedbackRequest};
use crate::service::feedback::{FeedbackEntry, OverrideReasonEntry, ReasonCoding};

impl From<FeedbackItem> for FeedbackEntry {
    fn from(item: FeedbackItem) -> Self {
        Self {
            card: item.card,
            outcome: item.outcome,
            accepted_suggestions: item
                .accepted_suggestions
                .into_iter()
                .map(|s| s.id)
                .collect(),
            override_reason: item.override_reason.map(|r| OverrideReasonEntry {
                reason: r.reason.map(|c| ReasonCoding {
                    system: c.system,
                    code: c.code,
                    display: c.display,
                }),
                user_comment: r.user_comment,
            }),
            outcome_timestamp: item.outcome_timestamp,
        }
    }
}

/// The entries of a feedback body, in order.
pub fn entries(request: FeedbackRequest) -> Vec<FeedbackEntry> {
    request.feedback.into_iter().map(Into::into).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wire_item_translates_member_for_member() {
        let request: FeedbackRequest = serde_json::from_value(serde_json::json!({"feedback": [{
            "card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-03-02T10:15:00Z",
            "overrideReason": {"reason": {"system": "s", "code": "data-wrong", "display": "d"},
                               "userComment": "lab value is old"}
        }, {
            "card": "c2", "outcome": "accepted", "outcomeTimestamp": "2026-03-02T10:16:00Z",
            "acceptedSuggestions": [{"id": "u1"}, {"id": "u2"}]
        }]}))
        .expect("a CDS Hooks feedback body");
        let entries = entries(request);
        assert_eq!(entries.len(), 2);
        let reason = entries[0].override_reason.as_ref().expect("reason");
        assert_eq!(
            reason.reason.as_ref().map(|c| c.code.as_str()),
            Some("data-wrong")
        );
        assert_eq!(reason.user_comment.as_deref(), Some("lab value is old"));
        assert_eq!(entries[1].accepted_suggestions, vec!["u1", "u2"]);
        assert_eq!(entries[1].outcome_timestamp, "2026-03-02T10:16:00Z");
        // The entry serialises under the wire names (it is the record's `input`).
        let back = serde_json::to_value(&entries[0]).expect("json");
        assert_eq!(back["outcomeTimestamp"], "2026-03-02T10:15:00Z");
        assert_eq!(back["overrideReason"]["userComment"], "lab value is old");
    }
}
