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
        reasons.sort_by(|a, b| b.count.cmp(&a.count));
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
                .entry((report.model_set.id.clone(), report.model_set.version.clone()))
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
