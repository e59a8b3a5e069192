//! Rule sets over stored assessments: rebuild a stored assessment's rule context from its audit
//! record, and back-test a candidate rule set over a time window by comparing its recommendations
//! with those that were actually answered.
//!
//! The context is rebuilt from the record's normalised patient and the predictions *as answered*
//! (the models are not re-run), so a back-test sees exactly the risks the clinician saw, even when
//! the model set has changed since. Nothing here writes. A back-test reads at most
//! [`MAX_BACKTEST_ASSESSMENTS`] records and stops as soon as the window turns out to hold more.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::PredictionView;
use crate::audit::{AuditError, AuditRecord, AuditStore, ListQuery, KIND_ASSESSMENT};
use crate::clock::created_at_text;
use crate::features::Patient;
use crate::rules::{context, RuleSet, RuleSetRef};

/// Most stored assessments one back-test may cover; a larger window is refused.
pub const MAX_BACKTEST_ASSESSMENTS: u64 = 100_000;
/// Most example assessment ids per list in a back-test report.
pub const MAX_EXAMPLES: usize = 100;
/// Example ids per list when the caller does not say.
pub const DEFAULT_EXAMPLES: usize = 5;
/// Records read per store query (stored assessments with explanations are tens of kB each).
const PAGE: u32 = 200;

/// Why a stored record cannot be re-evaluated. Never carries patient values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored assessment is unreadable: {0}")]
pub struct Unreadable(pub &'static str);

/// What rules can use of a stored assessment.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAssessment {
    /// The normalised patient.
    pub patient: Patient,
    /// The predictions as answered.
    pub predictions: Vec<PredictionView>,
    /// The recommendation ids as answered, in order.
    pub recommendation_ids: Vec<String>,
    /// The rule set that answered (`None` for answers without rules).
    pub rule_set: Option<RuleSetRef>,
}

#[derive(Deserialize)]
struct StoredOutput {
    predictions: Vec<PredictionView>,
    #[serde(default)]
    recommendations: Vec<IdOnly>,
    #[serde(default)]
    rule_set: Option<RuleSetRef>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct StoredNormalised {
    patient: Map<String, Value>,
}

impl StoredAssessment {
    /// Reads an `assessment` audit record: `normalised.patient` and the answered `output`.
    ///
    /// # Errors
    /// [`Unreadable`] naming the part that does not parse (never its content).
    pub fn from_record(record: &AuditRecord) -> Result<Self, Unreadable> {
        if record.kind != KIND_ASSESSMENT {
            return Err(Unreadable("not an assessment record"));
        }
        let output: StoredOutput = serde_json::from_str(&record.output)
            .map_err(|_| Unreadable("the stored answer does not parse"))?;
        let normalised: StoredNormalised = serde_json::from_str(&record.normalised)
            .map_err(|_| Unreadable("the record has no normalised patient"))?;
        let patient = Patient::from_json(&normalised.patient)
            .map_err(|_| Unreadable("the normalised patient no longer validates"))?;
        Ok(Self {
            patient,
            predictions: output.predictions,
            recommendation_ids: output.recommendations.into_iter().map(|r| r.id).collect(),
            rule_set: output.rule_set,
        })
    }

    /// The rule context of this assessment (`docs/rules.md`, "What a rule set sees").
    pub fn context(&self) -> Value {
        let derived = crate::features::Derived::of(&self.patient);
        context::build(
            &self.patient,
            &derived,
            &super::answer::facts(&self.predictions),
        )
    }
}

/// Why a back-test could not run.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The window holds more than [`MAX_BACKTEST_ASSESSMENTS`] assessments.
    #[error("the window holds more than {limit} stored assessments; narrow since/until")]
    TooManyAssessments { limit: u64 },
    /// The audit store could not be read.
    #[error(transparent)]
    Store(#[from] AuditError),
}

/// What a back-test found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BacktestReport {
    /// The candidate rule set (`inline` for a document sent with the request).
    pub candidate: RuleSetRef,
    /// Window start (inclusive), RFC 3339.
    #[schema(example = "2025-01-01T00:00:00.000Z")]
    pub since: String,
    /// Window end (exclusive), RFC 3339.
    #[schema(example = "2025-02-01T00:00:00.000Z")]
    pub until: String,
    /// Stored assessments answered in the window.
    #[schema(example = 412)]
    pub considered: u64,
    /// Assessments re-evaluated and compared (`considered` minus `skipped.count`).
    #[schema(example = 411)]
    pub compared: u64,
    /// Compared assessments whose set of recommendation ids would change.
    #[schema(example = 37)]
    pub changed: u64,
    /// Assessments that could not be compared, by reason.
    pub skipped: Skipped,
    /// The rule sets that answered the compared assessments, with counts.
    pub answered_rule_sets: Vec<AnsweredRuleSet>,
    /// One entry per recommendation id that was answered or that the candidate gives, by id.
    pub recommendations: Vec<RecommendationDiff>,
}

/// Assessments a back-test could not compare.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Skipped {
    /// How many in all.
    #[schema(example = 1)]
    pub count: u64,
    /// By reason: `unreadable` (the record does not parse) or `evaluation_failed` (the candidate
    /// failed on that patient).
    pub reasons: Vec<SkipReason>,
}

/// One reason assessments were skipped.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SkipReason {
    /// `unreadable` or `evaluation_failed`.
    #[schema(example = "unreadable")]
    pub reason: String,
    /// Assessments skipped for this reason.
    #[schema(example = 1)]
    pub count: u64,
    /// Up to `max_examples` of their assessment ids, oldest first.
    pub examples: Vec<String>,
}

/// A rule set that answered assessments in the window.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AnsweredRuleSet {
    /// Version name; `null` for answers given without a rule set.
    #[schema(example = "default-1")]
    pub version: Option<String>,
    /// Compared assessments it answered.
    #[schema(example = 411)]
    pub count: u64,
}

/// How one recommendation id would change under the candidate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecommendationDiff {
    /// Recommendation id.
    #[schema(example = "vte.combined_prophylaxis")]
    pub id: String,
    /// Compared assessments that were answered with it.
    #[schema(example = 40)]
    pub answered: u64,
    /// Compared assessments the candidate gives it.
    #[schema(example = 35)]
    pub candidate: u64,
    /// Assessments that would newly get it.
    pub gained: Change,
    /// Assessments that would no longer get it.
    pub lost: Change,
}

/// A count of assessments with example ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Change {
    /// How many assessments.
    #[schema(example = 5)]
    pub count: u64,
    /// Up to `max_examples` of their assessment ids, oldest first.
    pub examples: Vec<String>,
}

impl Change {
    fn add(&mut self, id: &str, max_examples: usize) {
        self.count += 1;
        if self.examples.len() < max_examples {
            self.examples.push(id.to_string());
        }
    }
}

/// Runs `candidate` over every stored assessment answered in `[since, until)` and compares its
/// recommendation ids with the answered ones. Examples are the oldest `max_examples` ids.
///
/// # Errors
/// More than [`MAX_BACKTEST_ASSESSMENTS`] assessments in the window, or a store failure.
pub fn backtest(
    store: &dyn AuditStore,
    candidate: &RuleSet,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    max_examples: usize,
) -> Result<BacktestReport, BacktestError> {
    backtest_capped(
        store,
        candidate,
        (since, until),
        max_examples,
        MAX_BACKTEST_ASSESSMENTS,
    )
}

/// [`backtest`] with a given cap on the assessments read.
fn backtest_capped(
    store: &dyn AuditStore,
    candidate: &RuleSet,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    max_examples: usize,
    cap: u64,
) -> Result<BacktestReport, BacktestError> {
    let max_examples = max_examples.min(MAX_EXAMPLES);
    let mut considered = 0u64;
    let mut compared = 0u64;
    let mut changed = 0u64;
    let mut skipped: BTreeMap<&'static str, Change> = BTreeMap::new();
    let mut answered_sets: BTreeMap<Option<String>, u64> = BTreeMap::new();
    let mut diffs: BTreeMap<String, (u64, u64, Change, Change)> = BTreeMap::new();
    let mut query = ListQuery {
        since: Some(since),
        until: Some(until),
        after_seq: 0,
        limit: PAGE,
        kind: Some(KIND_ASSESSMENT.to_string()),
    };
    loop {
        let page = store.list(&query)?;
        let Some(last) = page.last() else { break };
        query.after_seq = last.seq;
        let full = page.len() == PAGE as usize;
        for stored in page {
            considered += 1;
            if considered > cap {
                return Err(BacktestError::TooManyAssessments { limit: cap });
            }
            let id = stored.record.assessment_id.as_str();
            let Ok(assessment) = StoredAssessment::from_record(&stored.record) else {
                skipped
                    .entry("unreadable")
                    .or_default()
                    .add(id, max_examples);
                continue;
            };
            let Ok(outcome) = candidate.evaluate(&assessment.context()) else {
                skipped
                    .entry("evaluation_failed")
                    .or_default()
                    .add(id, max_examples);
                continue;
            };
            compared += 1;
            *answered_sets
                .entry(assessment.rule_set.map(|r| r.version))
                .or_default() += 1;
            let answered: BTreeSet<String> = assessment.recommendation_ids.into_iter().collect();
            let proposed: BTreeSet<String> =
                outcome.recommendations.into_iter().map(|r| r.id).collect();
            if answered != proposed {
                changed += 1;
            }
            for rec in answered.union(&proposed) {
                let (was, will) = (answered.contains(rec), proposed.contains(rec));
                let entry = diffs.entry(rec.clone()).or_default();
                entry.0 += u64::from(was);
                entry.1 += u64::from(will);
                if will && !was {
                    entry.2.add(id, max_examples);
                } else if was && !will {
                    entry.3.add(id, max_examples);
                }
            }
        }
        if !full {
            break;
        }
    }
    Ok(BacktestReport {
        candidate: candidate.reference().clone(),
        since: created_at_text(&since),
        until: created_at_text(&until),
        considered,
        compared,
        changed,
        skipped: Skipped {
            count: skipped.values().map(|c| c.count).sum(),
            reasons: skipped
                .into_iter()
                .map(|(reason, c)| SkipReason {
                    reason: reason.to_string(),
                    count: c.count,
                    examples: c.examples,
                })
                .collect(),
        },
        answered_rule_sets: answered_sets
            .into_iter()
            .map(|(version, count)| AnsweredRuleSet { version, count })
            .collect(),
        recommendations: diffs
            .into_iter()
            .map(
                |(id, (answered, candidate, gained, lost))| RecommendationDiff {
                    id,
                    answered,
                    candidate,
                    gained,
                    lost,
                },
            )
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::SqliteAuditStore;

    fn record(id: &str, created_at: &str, output: Value) -> AuditRecord {
        AuditRecord {
            assessment_id: id.to_string(),
            request_id: "req_test".into(),
            created_at: created_at.into(),
            caller: "test".into(),
            kind: KIND_ASSESSMENT.into(),
            model_set: "{}".into(),
            input: "{}".into(),
            normalised: json!({"patient": crate::api::dto::examples::patient()}).to_string(),
            output: output.to_string(),
            shap: "null".into(),
        }
    }

    fn window() -> (DateTime<Utc>, DateTime<Utc>) {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        (t("2025-01-01T00:00:00Z"), t("2025-02-01T00:00:00Z"))
    }

    /// A store with three answered assessments in January (two with `x`, one unreadable) and
    /// one in February.
    fn store(dir: &tempfile::TempDir) -> SqliteAuditStore {
        let store = SqliteAuditStore::open(dir.path().join("audit.db")).unwrap();
        let answered = json!({"predictions": [], "recommendations": [{"id": "x"}], "rule_set": {"version": "old", "sha256": "00"}});
        for (id, at, output) in [
            ("a1", "2025-01-02T00:00:00.000Z", answered.clone()),
            (
                "a2",
                "2025-01-03T00:00:00.000Z",
                json!({"no": "predictions"}),
            ),
            ("a3", "2025-01-04T00:00:00.000Z", answered.clone()),
            ("a4", "2025-02-02T00:00:00.000Z", answered),
        ] {
            store.append(&record(id, at, output)).unwrap();
        }
        store
    }

    #[test]
    fn a_backtest_counts_lost_recommendations_and_skips_unreadable_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        // Needs an elevated or high DVT band: never fires without predictions.
        let candidate =
            RuleSet::from_value("cand", crate::api::dto::rules::examples::document()).unwrap();
        let report = backtest_capped(&store, &candidate, window(), 1, 10).unwrap();
        assert_eq!(
            (report.considered, report.compared, report.changed),
            (3, 2, 2)
        );
        assert_eq!(report.skipped.count, 1);
        assert_eq!(report.skipped.reasons[0].reason, "unreadable");
        assert_eq!(report.skipped.reasons[0].examples, vec!["a2"]);
        assert_eq!(
            report.answered_rule_sets,
            vec![AnsweredRuleSet {
                version: Some("old".into()),
                count: 2
            }]
        );
        let x = &report.recommendations[0];
        assert_eq!((x.id.as_str(), x.answered, x.candidate), ("x", 2, 0));
        assert_eq!(x.lost.count, 2);
        assert_eq!(
            x.lost.examples,
            vec!["a1"],
            "max_examples caps the examples"
        );
        assert_eq!(x.gained, Change::default());
    }

    #[test]
    fn a_window_over_the_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let candidate =
            RuleSet::from_value("cand", crate::api::dto::rules::examples::document()).unwrap();
        assert!(matches!(
            backtest_capped(&store, &candidate, window(), 5, 2),
            Err(BacktestError::TooManyAssessments { limit: 2 })
        ));
        assert!(backtest_capped(&store, &candidate, window(), 5, 3).is_ok());
    }
}
