//! How clinicians answered periop's CDS Hooks cards over a time window, for the quality team
//! (`GET /v1/quality/overrides`): accepted and overridden counts with the override reasons, per
//! recommendation id, per model-set version and per rule-set version, and in total.
//!
//! It reads the `cds_feedback` audit records ([`super::feedback`]) *recorded* in `[from, to)` (the
//! time periop received the report, which the chain attests; the clinician's own
//! `outcomeTimestamp` is in each record), keyset-paginating the store through all of them. Each
//! record is one distinct report (card, outcome, outcome timestamp), so a report sent twice
//! counts once.
//!
//! Counting: an `accepted` report counts once for each recommendation of its accepted
//! suggestions; an `overridden` report counts once for every recommendation of the card (the
//! whole card was set aside), with its reason. Per model set, per rule set and in total, each
//! report counts once. Free-text comments are counted (`with_comment`), never returned: they are
//! unstructured clinician text that may name the patient, and an aggregate has no need of it (the
//! text stays in the audit record).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::error::ServiceError;
use super::feedback::{FeedbackOutcome, FeedbackRecord, ReasonCoding, KIND_CDS_FEEDBACK};
use crate::audit::{AuditStore, ListQuery};

/// Records read per store query (a feedback record is about 1 kB).
const PAGE: u32 = 1000;

/// A time window that cannot be summarised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// `to` is not after `from`.
    #[error("to must be after from")]
    Reversed,
}

/// Accepted and overridden reports, with the override reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    /// `accepted` reports.
    pub accepted: u64,
    /// `overridden` reports.
    pub overridden: u64,
    /// Overridden reports per reason picked (system and code), most frequent first, then by code.
    pub reasons: Vec<ReasonCount>,
    /// Overridden reports without a picked reason.
    pub without_reason: u64,
    /// Overridden reports with a free-text comment (the text is never summarised).
    pub with_comment: u64,
}

/// How many overridden reports gave one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonCount {
    pub system: String,
    pub code: String,
    /// As the card offered it.
    pub display: Option<String>,
    pub count: u64,
}

/// Counts of one recommendation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecommendationCounts {
    pub id: String,
    pub counts: OutcomeCounts,
}

/// Counts of the cards one model-set version answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSetCounts {
    pub id: String,
    pub version: String,
    pub counts: OutcomeCounts,
}

/// Counts of the cards one rule-set version produced the recommendations of (`None`: answers
/// without a rule set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetCounts {
    pub version: Option<String>,
    pub counts: OutcomeCounts,
}

/// The summary of one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideSummary {
    /// Window start, inclusive.
    pub from: DateTime<Utc>,
    /// Window end, exclusive.
    pub to: DateTime<Utc>,
    /// Every report of the window.
    pub totals: OutcomeCounts,
    /// Per recommendation id, by id.
    pub recommendations: Vec<RecommendationCounts>,
    /// Per model set (id, version), by id then version.
    pub model_sets: Vec<ModelSetCounts>,
    /// Per rule-set version, by version (`None` first).
    pub rule_sets: Vec<RuleSetCounts>,
    /// `cds_feedback` records of the window that do not parse (not counted anywhere else; a
    /// non-zero value means a record was written by another program or altered).
    pub unreadable: u64,
}

/// [`OutcomeCounts`] while counting: reasons keyed by (system, code).
#[derive(Default)]
struct Tally {
    accepted: u64,
    overridden: u64,
    reasons: BTreeMap<(String, String), (Option<String>, u64)>,
    without_reason: u64,
    with_comment: u64,
}

impl Tally {
    fn add(&mut self, report: &FeedbackRecord) {
        match report.outcome {
            FeedbackOutcome::Accepted => self.accepted += 1,
            FeedbackOutcome::Overridden => {
                self.overridden += 1;
                match &report.override_reason {
                    Some(ReasonCoding {
                        system,
                        code,
                        display,
                    }) => {
                        let entry = self
                            .reasons
                            .entry((system.clone(), code.clone()))
                            .or_insert_with(|| (display.clone(), 0));
                        entry.1 += 1;
                    }
                    None => self.without_reason += 1,
                }
                if report
                    .user_comment
                    .as_deref()
                    .is_some_and(|c| !c.trim().is_empty())
                {
                    self.with_comment += 1;
                }
            }
        }
    }

    fn finish(self) -> OutcomeCounts {
        let mut reasons: Vec<ReasonCount> = self
            .reasons
            .into_iter()
            .map(|((system, code), (display, count))| ReasonCount {
                system,
                code,
                display,
                count,
            })
            .collect();
        // Stable sort: equal counts keep the (system, code) order of the map.
        reasons.sort_by_key(|r| std::cmp::Reverse(r.count));
        OutcomeCounts {
            accepted: self.accepted,
            overridden: self.overridden,
            reasons,
            without_reason: self.without_reason,
            with_comment: self.with_comment,
        }
    }
}

/// Summarises the `cds_feedback` records recorded in `[from, to)`.
///
/// # Errors
/// [`ServiceError::Window`] when `to` is not after `from`; [`ServiceError::Store`] when the store
/// cannot be read.
pub fn override_summary(
    store: &dyn AuditStore,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<OverrideSummary, ServiceError> {
    if to <= from {
        return Err(WindowError::Reversed.into());
    }
    let mut totals = Tally::default();
    let mut recommendations: BTreeMap<String, Tally> = BTreeMap::new();
    let mut model_sets: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut rule_sets: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    let mut unreadable = 0;
    let mut query = ListQuery {
        since: Some(from),
        until: Some(to),
        kind: Some(KIND_CDS_FEEDBACK.to_string()),
        after_seq: 0,
        limit: PAGE,
    };
    loop {
        let page = store.list(&query)?;
        let Some(last) = page.last() else { break };
        query.after_seq = last.seq;
        for stored in &page {
            let Ok(report) = serde_json::from_str::<FeedbackRecord>(&stored.record.output) else {
                unreadable += 1;
                continue;
            };
            totals.add(&report);
            for id in &report.recommendation_ids {
                recommendations.entry(id.clone()).or_default().add(&report);
            }
            model_sets
                .entry((
                    report.model_set.id.clone(),
                    report.model_set.version.clone(),
                ))
                .or_default()
                .add(&report);
            rule_sets
                .entry(report.rule_set.as_ref().map(|r| r.version.clone()))
                .or_default()
                .add(&report);
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(OverrideSummary {
        from,
        to,
        totals: totals.finish(),
        recommendations: recommendations
            .into_iter()
            .map(|(id, t)| RecommendationCounts {
                id,
                counts: t.finish(),
            })
            .collect(),
        model_sets: model_sets
            .into_iter()
            .map(|((id, version), t)| ModelSetCounts {
                id,
                version,
                counts: t.finish(),
            })
            .collect(),
        rule_sets: rule_sets
            .into_iter()
            .map(|(version, t)| RuleSetCounts {
                version,
                counts: t.finish(),
            })
            .collect(),
        unreadable,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::{AuditRecord, SqliteAuditStore};
    use crate::rules::RuleSetRef;
    use crate::service::feedback::{AcceptedSuggestionRecord, ModelVersion};
    use crate::service::ModelSetRef;

    const REASONS: &str = "https://periop.example.org/fhir/CodeSystem/override-reason";

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn report(
        n: u32,
        outcome: FeedbackOutcome,
        recommendations: &[&str],
        reason: Option<&str>,
        comment: Option<&str>,
        rule_set: Option<&str>,
    ) -> FeedbackRecord {
        FeedbackRecord {
            feedback_id: format!("f{n}"),
            service: "periop-spine-risk".into(),
            assessment_id: format!("a{n}"),
            outcome,
            outcome_timestamp: "2026-03-02T10:00:00Z".into(),
            accepted_suggestions: Vec::<AcceptedSuggestionRecord>::new(),
            recommendation_ids: recommendations.iter().map(|r| r.to_string()).collect(),
            override_reason: reason.map(|code| ReasonCoding {
                system: REASONS.into(),
                code: code.into(),
                display: Some(format!("{code} shown")),
            }),
            user_comment: comment.map(str::to_string),
            model_set: ModelSetRef {
                id: "default".into(),
                version: "2026.03.0".into(),
            },
            rule_set: rule_set.map(|v| RuleSetRef {
                version: v.into(),
                sha256: "00".into(),
            }),
            models: vec![ModelVersion {
                outcome: "dvt".into(),
                version: "dvt@abc".into(),
            }],
        }
    }

    fn append(store: &SqliteAuditStore, at: &str, kind: &str, output: String) {
        store
            .append(&AuditRecord {
                assessment_id: uuid::Uuid::new_v4().to_string(),
                request_id: "req".into(),
                created_at: at.into(),
                caller: "ehr".into(),
                kind: kind.into(),
                model_set: "{}".into(),
                input: "{}".into(),
                normalised: "null".into(),
                output,
                shap: "null".into(),
            })
            .unwrap();
    }

    #[test]
    fn the_summary_counts_each_report_per_recommendation_model_set_and_rule_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteAuditStore::open(dir.path().join("audit.db")).unwrap();
        use FeedbackOutcome::{Accepted, Overridden};
        let reports = [
            report(1, Accepted, &["vte.ipc"], None, None, Some("default-1")),
            report(
                2,
                Overridden,
                &["vte.ipc", "blood.ts"],
                Some("data-wrong"),
                Some("old Hb"),
                Some("default-1"),
            ),
            report(
                3,
                Overridden,
                &["vte.ipc"],
                Some("data-wrong"),
                None,
                Some("v2"),
            ),
            report(4, Overridden, &["blood.ts"], None, Some("  "), None),
            report(
                5,
                Overridden,
                &["vte.ipc"],
                Some("patient-declined"),
                None,
                Some("v2"),
            ),
        ];
        for (i, r) in reports.iter().enumerate() {
            append(
                &store,
                &format!("2026-03-0{}T12:00:00Z", i + 1),
                KIND_CDS_FEEDBACK,
                serde_json::to_string(r).unwrap(),
            );
        }
        // Outside the window, another kind, and an unreadable feedback record.
        append(
            &store,
            "2026-04-01T00:00:00Z",
            KIND_CDS_FEEDBACK,
            serde_json::to_string(&reports[0]).unwrap(),
        );
        append(
            &store,
            "2026-03-02T00:00:00Z",
            "assessment",
            json!({"x": 1}).to_string(),
        );
        append(
            &store,
            "2026-03-03T00:00:00Z",
            KIND_CDS_FEEDBACK,
            json!({"x": 1}).to_string(),
        );

        let s =
            override_summary(&store, t("2026-03-01T00:00:00Z"), t("2026-04-01T00:00:00Z")).unwrap();
        assert_eq!(s.unreadable, 1);
        assert_eq!((s.totals.accepted, s.totals.overridden), (1, 4));
        assert_eq!(
            (s.totals.without_reason, s.totals.with_comment),
            (1, 1),
            "a blank comment is no comment"
        );
        let reasons: Vec<(&str, u64)> = s
            .totals
            .reasons
            .iter()
            .map(|r| (r.code.as_str(), r.count))
            .collect();
        assert_eq!(reasons, vec![("data-wrong", 2), ("patient-declined", 1)]);
        assert_eq!(
            s.totals.reasons[0].display.as_deref(),
            Some("data-wrong shown")
        );

        let ids: Vec<&str> = s.recommendations.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["blood.ts", "vte.ipc"]);
        let ipc = &s.recommendations[1].counts;
        assert_eq!(
            (ipc.accepted, ipc.overridden, ipc.without_reason),
            (1, 3, 0)
        );
        let ts = &s.recommendations[0].counts;
        assert_eq!(
            (
                ts.accepted,
                ts.overridden,
                ts.without_reason,
                ts.with_comment
            ),
            (0, 2, 1, 1)
        );

        assert_eq!(s.model_sets.len(), 1);
        assert_eq!(
            (
                s.model_sets[0].counts.accepted,
                s.model_sets[0].counts.overridden
            ),
            (1, 4)
        );
        let rule_sets: Vec<(Option<&str>, u64, u64)> = s
            .rule_sets
            .iter()
            .map(|r| (r.version.as_deref(), r.counts.accepted, r.counts.overridden))
            .collect();
        assert_eq!(
            rule_sets,
            vec![(None, 0, 1), (Some("default-1"), 1, 1), (Some("v2"), 0, 2)]
        );

        let empty =
            override_summary(&store, t("2025-01-01T00:00:00Z"), t("2026-03-01T00:00:00Z")).unwrap();
        assert_eq!(empty.totals, OutcomeCounts::default());
        assert!(empty.recommendations.is_empty() && empty.model_sets.is_empty());
    }

    #[test]
    fn pagination_reads_every_record_and_a_reversed_window_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteAuditStore::open(dir.path().join("audit.db")).unwrap();
        let text = serde_json::to_string(&report(
            1,
            FeedbackOutcome::Accepted,
            &["x"],
            None,
            None,
            None,
        ))
        .unwrap();
        let records: Vec<AuditRecord> = (0..PAGE + 5)
            .map(|_| AuditRecord {
                assessment_id: uuid::Uuid::new_v4().to_string(),
                request_id: "req".into(),
                created_at: "2026-03-02T00:00:00Z".into(),
                caller: "ehr".into(),
                kind: KIND_CDS_FEEDBACK.into(),
                model_set: "{}".into(),
                input: "{}".into(),
                normalised: "null".into(),
                output: text.clone(),
                shap: "null".into(),
            })
            .collect();
        assert!(store.append_all(&records).iter().all(Result::is_ok));
        let s =
            override_summary(&store, t("2026-03-01T00:00:00Z"), t("2026-04-01T00:00:00Z")).unwrap();
        assert_eq!(s.totals.accepted, u64::from(PAGE) + 5);
        let at = t("2026-03-01T00:00:00Z");
        assert!(matches!(
            override_summary(&store, at, at),
            Err(ServiceError::Window(WindowError::Reversed))
        ));
    }
}
