//! The explanation audit for the quality team (`GET /v1/quality/explanations`): over the
//! assessments recorded in `[from, to)`, optionally of one site, what drives one outcome's
//! explanations: mean |SHAP| per model feature on the raw scale (log-odds, or ln mL for blood
//! loss), ranked; how many assessments carry stored SHAP values and how many do not (SHAP is
//! stored only when the request asked for explanations); and the assessments whose explanation
//! is dominated by missing inputs.
//!
//! **Dominated by missing inputs**: the model features that were missing in the assessment's
//! model input (`normalised.model_input.values` is `null`) carry at least
//! [`MISSING_DOMINANCE`] of the total `Σ_j |φ_j|` of its SHAP vector. Such an explanation mostly
//! says "this was not on file", which a clinician may read as a statement about the patient.
//! Their ids are listed (at most [`MAX_LISTED_IDS`], in record order) so they can be looked up.
//!
//! Memory is bounded whatever the window: the per-feature figures are running sums over every
//! explained assessment, and only a systematic sample of the per-assessment vectors is kept for the
//! beeswarm plot ([`ExplanationAudit::rows`]: every `row_stride`-th explained assessment in record
//! order, at most [`MAX_KEPT_ROWS`]; when the sample is full, every other kept row is dropped and
//! the stride doubles, so the sample stays evenly spread over the window and is the same for the
//! same records).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::error::ServiceError;
use super::overrides::WindowError;
use super::types::{Scale, Status};
use crate::audit::{AuditStore, ListQuery, KIND_ASSESSMENT};

/// Records read per store query.
const PAGE: u32 = 500;

/// Share of the total |SHAP| that missing features must carry for an explanation to count as
/// dominated by missing inputs.
pub const MISSING_DOMINANCE: f64 = 0.5;

/// At most this many ids of missing-dominated assessments are listed.
pub const MAX_LISTED_IDS: usize = 100;

/// At most this many explained assessments' vectors are kept for the beeswarm (a systematic
/// sample; the figures use every assessment).
pub const MAX_KEPT_ROWS: usize = 2000;

/// What to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplanationQuery {
    /// Outcome id.
    pub outcome: String,
    /// Window start, inclusive (the assessment's `created_at`).
    pub from: DateTime<Utc>,
    /// Window end, exclusive.
    pub to: DateTime<Utc>,
    /// Only assessments of this site.
    pub site: Option<String>,
}

/// One model feature over the explained assessments.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureImportance {
    pub feature: String,
    /// 1 = largest mean |SHAP|.
    pub rank: usize,
    /// Mean of |φ| over the assessments with stored SHAP (raw scale).
    pub mean_abs_shap: f64,
    /// Mean of φ (signed).
    pub mean_shap: f64,
    /// Share of those assessments in which the feature was missing.
    pub missing_rate: f64,
}

/// One explained assessment, for the plots.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainedRow {
    pub assessment_id: String,
    /// SHAP value per feature of [`ExplanationAudit::feature_names`] (0 for a feature the
    /// record's model did not have).
    pub shap: Vec<f64>,
    /// Model input value per feature (`NaN`: missing).
    pub values: Vec<f64>,
}

/// The missing-dominated explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingDominated {
    /// Explained assessments dominated by missing inputs.
    pub count: u64,
    /// Their ids, at most [`MAX_LISTED_IDS`], in record order.
    pub assessment_ids: Vec<String>,
    /// `true` when `count` exceeds the ids listed.
    pub truncated: bool,
}

/// The audit of one outcome over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplanationAudit {
    pub outcome: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub site: Option<String>,
    /// The SHAP scale (from the stored answers; `None` when none was explained).
    pub scale: Option<Scale>,
    /// Assessments of the window (and site) that predicted the outcome (status `ok`).
    pub assessments: u64,
    /// Of those, with stored SHAP values.
    pub with_shap: u64,
    /// Of those, without (explanations not requested).
    pub without_shap: u64,
    /// Assessments where the outcome did not apply or was not requested.
    pub not_predicted: u64,
    /// Every feature seen, by rank (largest mean |SHAP| first; ties by name).
    pub features: Vec<FeatureImportance>,
    pub missing_dominated: MissingDominated,
    /// Records of the window that could not be read (counted nowhere else).
    pub unreadable: u64,
    /// Feature names of [`ExplainedRow`] vectors (the model features, in model order).
    pub feature_names: Vec<String>,
    /// A systematic sample of the explained assessments, in record order: every
    /// [`ExplanationAudit::row_stride`]-th one, at most [`MAX_KEPT_ROWS`] (all of them when
    /// `row_stride` is 1).
    pub rows: Vec<ExplainedRow>,
    /// One kept row per this many explained assessments (a power of two, 1 = every one).
    pub row_stride: u64,
}

/// Running per-feature sums over every explained assessment.
#[derive(Default)]
struct FeatureSums {
    abs: Vec<f64>,
    signed: Vec<f64>,
    missing: Vec<u64>,
}

/// The kept sample of explained rows (see the module documentation).
struct RowSample {
    rows: Vec<ExplainedRow>,
    stride: u64,
    seen: u64,
}

impl RowSample {
    fn offer(&mut self, row: ExplainedRow) {
        if self.seen.is_multiple_of(self.stride) {
            if self.rows.len() == MAX_KEPT_ROWS {
                // Keep rows 0, 2, 4, … of the sample: explained assessments 0, 2·stride, ….
                let mut i = 0;
                self.rows.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
            if self.seen.is_multiple_of(self.stride) {
                self.rows.push(row);
            }
        }
        self.seen += 1;
    }
}

#[derive(Deserialize)]
struct StoredAnswer {
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    predictions: Vec<StoredPrediction>,
}

#[derive(Deserialize)]
struct StoredPrediction {
    outcome: String,
    status: Status,
    #[serde(default)]
    explanation: Option<StoredExplanation>,
}

#[derive(Deserialize)]
struct StoredExplanation {
    scale: Scale,
}

#[derive(Deserialize)]
struct StoredShap {
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct StoredNormalised {
    model_input: StoredModelInput,
}

#[derive(Deserialize)]
struct StoredModelInput {
    features: Vec<String>,
    values: Vec<Option<f64>>,
}

/// The explanation audit of `query`.
///
/// # Errors
/// [`ServiceError::Window`] when `to` is not after `from`; [`ServiceError::Store`] when the store
/// cannot be read.
pub fn explanation_audit(
    store: &dyn AuditStore,
    query: &ExplanationQuery,
) -> Result<ExplanationAudit, ServiceError> {
    if query.to <= query.from {
        return Err(WindowError::Reversed.into());
    }
    let mut names: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut sums = FeatureSums::default();
    let mut sample = RowSample {
        rows: Vec::new(),
        stride: 1,
        seen: 0,
    };
    let (mut assessments, mut without_shap, mut not_predicted, mut unreadable) = (0, 0, 0, 0);
    let mut scale = None;
    let mut dominated = MissingDominated {
        count: 0,
        assessment_ids: Vec::new(),
        truncated: false,
    };
    let mut list = ListQuery {
        since: Some(query.from),
        until: Some(query.to),
        kind: Some(KIND_ASSESSMENT.to_string()),
        after_seq: 0,
        limit: PAGE,
    };
    loop {
        let page = store.list(&list)?;
        let Some(last) = page.last() else { break };
        list.after_seq = last.seq;
        for stored in &page {
            let r = &stored.record;
            let Ok(answer) = serde_json::from_str::<StoredAnswer>(&r.output) else {
                unreadable += 1;
                continue;
            };
            if query.site.is_some() && answer.site != query.site {
                continue;
            }
            let Some(p) = answer
                .predictions
                .iter()
                .find(|p| p.outcome == query.outcome && p.status == Status::Ok)
            else {
                not_predicted += 1;
                continue;
            };
            assessments += 1;
            let shap = serde_json::from_str::<Value>(&r.shap)
                .ok()
                .and_then(|v| v.get(&query.outcome).cloned())
                .map(serde_json::from_value::<StoredShap>);
            let shap = match shap {
                None => {
                    without_shap += 1;
                    continue;
                }
                Some(Ok(s)) => s.values,
                Some(Err(_)) => {
                    unreadable += 1;
                    assessments -= 1;
                    continue;
                }
            };
            let input = match serde_json::from_str::<StoredNormalised>(&r.normalised) {
                Ok(n)
                    if n.model_input.features.len() == shap.len()
                        && n.model_input.values.len() == shap.len() =>
                {
                    n.model_input
                }
                _ => {
                    unreadable += 1;
                    assessments -= 1;
                    continue;
                }
            };
            if scale.is_none() {
                scale = p.explanation.as_ref().map(|e| e.scale);
            }
            for name in &input.features {
                if !index.contains_key(name) {
                    index.insert(name.clone(), names.len());
                    names.push(name.clone());
                    // Earlier explanations had no such feature: 0 SHAP, missing.
                    sums.abs.push(0.0);
                    sums.signed.push(0.0);
                    sums.missing.push(sample.seen);
                    for row in &mut sample.rows {
                        row.shap.push(0.0);
                        row.values.push(f64::NAN);
                    }
                }
            }
            let mut row = ExplainedRow {
                assessment_id: r.assessment_id.clone(),
                shap: vec![0.0; names.len()],
                values: vec![f64::NAN; names.len()],
            };
            let (mut total, mut missing) = (0.0, 0.0);
            let mut present = vec![false; names.len()];
            for ((name, value), phi) in input.features.iter().zip(&input.values).zip(&shap) {
                let Some(&j) = index.get(name) else { continue };
                row.shap[j] = *phi;
                row.values[j] = value.unwrap_or(f64::NAN);
                sums.abs[j] += phi.abs();
                sums.signed[j] += phi;
                present[j] = value.is_some();
                total += phi.abs();
                if value.is_none() {
                    missing += phi.abs();
                }
            }
            if total > 0.0 && missing / total >= MISSING_DOMINANCE {
                dominated.count += 1;
                if dominated.assessment_ids.len() < MAX_LISTED_IDS {
                    dominated.assessment_ids.push(r.assessment_id.clone());
                } else {
                    dominated.truncated = true;
                }
            }
            for (j, here) in present.iter().enumerate() {
                if !here {
                    sums.missing[j] += 1;
                }
            }
            sample.offer(row);
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    let features = importance(&names, &sums, sample.seen);
    Ok(ExplanationAudit {
        outcome: query.outcome.clone(),
        from: query.from,
        to: query.to,
        site: query.site.clone(),
        scale,
        assessments,
        with_shap: sample.seen,
        without_shap,
        not_predicted,
        features,
        missing_dominated: dominated,
        unreadable,
        feature_names: names,
        rows: sample.rows,
        row_stride: sample.stride,
    })
}

/// Mean |SHAP|, mean SHAP and missing rate per feature over `explained` assessments, ranked.
fn importance(names: &[String], sums: &FeatureSums, explained: u64) -> Vec<FeatureImportance> {
    if explained == 0 {
        return Vec::new();
    }
    let n = explained as f64;
    let mut out: Vec<FeatureImportance> = names
        .iter()
        .enumerate()
        .map(|(j, name)| FeatureImportance {
            feature: name.clone(),
            rank: 0,
            mean_abs_shap: sums.abs[j] / n,
            mean_shap: sums.signed[j] / n,
            missing_rate: sums.missing[j] as f64 / n,
        })
        .collect();
    out.sort_by(|a, b| {
        b.mean_abs_shap
            .total_cmp(&a.mean_abs_shap)
            .then_with(|| a.feature.cmp(&b.feature))
    });
    for (i, f) in out.iter_mut().enumerate() {
        f.rank = i + 1;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::{AuditRecord, SqliteAuditStore};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn record(
        id: &str,
        site: &str,
        shap: Option<[f64; 3]>,
        values: [Option<f64>; 3],
    ) -> AuditRecord {
        let explanation = shap.map(|_| json!({"scale": "log_odds"}));
        let mut prediction = json!({"outcome": "dvt", "status": "ok"});
        if let Some(e) = explanation {
            prediction["explanation"] = e;
        }
        AuditRecord {
            assessment_id: id.into(),
            request_id: "req".into(),
            created_at: "2026-03-02T00:00:00.000Z".into(),
            caller: "ehr".into(),
            kind: KIND_ASSESSMENT.into(),
            model_set: "{}".into(),
            input: "{}".into(),
            normalised: json!({"model_input": {"features": ["a", "b", "c"], "values": values}, "patient": {}})
                .to_string(),
            output: json!({"site": site, "predictions": [prediction]}).to_string(),
            shap: shap.map_or_else(
                || json!({}),
                |s| json!({"dvt": {"base_value": -2.0, "raw_score": 0.0, "values": s}}),
            )
            .to_string(),
        }
    }

    #[test]
    fn means_ranks_counts_and_missing_dominance() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteAuditStore::open(dir.path().join("audit.db")).unwrap();
        let records = [
            // |φ| total 1.0, missing (b) carries 0.6: dominated.
            record(
                "a1",
                "s1",
                Some([0.2, -0.6, 0.2]),
                [Some(1.0), None, Some(3.0)],
            ),
            // missing (c) carries 0.1 of 1.0: not dominated.
            record(
                "a2",
                "s1",
                Some([0.5, 0.4, -0.1]),
                [Some(2.0), Some(5.0), None],
            ),
            record("a3", "s1", None, [Some(1.0), Some(1.0), Some(1.0)]),
            record("a4", "s2", Some([9.0, 9.0, 9.0]), [None, None, None]),
        ];
        assert!(store.append_all(&records).iter().all(Result::is_ok));
        let q = ExplanationQuery {
            outcome: "dvt".into(),
            from: t("2026-03-01T00:00:00Z"),
            to: t("2026-04-01T00:00:00Z"),
            site: Some("s1".into()),
        };
        let a = explanation_audit(&store, &q).unwrap();
        assert_eq!((a.assessments, a.with_shap, a.without_shap), (3, 2, 1));
        assert_eq!(a.scale, Some(Scale::LogOdds));
        let by: Vec<(&str, usize, f64)> = a
            .features
            .iter()
            .map(|f| (f.feature.as_str(), f.rank, f.mean_abs_shap))
            .collect();
        assert_eq!(by[0].0, "b");
        assert!((by[0].2 - 0.5).abs() < 1e-12);
        assert_eq!((by[1].0, by[1].1), ("a", 2));
        assert!((by[1].2 - 0.35).abs() < 1e-12);
        assert!((a.features[0].mean_shap - (-0.1)).abs() < 1e-12);
        assert!((a.features[0].missing_rate - 0.5).abs() < 1e-12);
        assert_eq!(a.missing_dominated.assessment_ids, vec!["a1".to_string()]);
        assert_eq!(a.missing_dominated.count, 1);

        let all = explanation_audit(
            &store,
            &ExplanationQuery {
                site: None,
                ..q.clone()
            },
        )
        .unwrap();
        assert_eq!(all.missing_dominated.assessment_ids, vec!["a1", "a4"]);
        assert_eq!(all.rows.len(), 3);
        let other = explanation_audit(
            &store,
            &ExplanationQuery {
                outcome: "delirium".into(),
                ..q.clone()
            },
        )
        .unwrap();
        assert_eq!((other.assessments, other.not_predicted), (0, 3));
        assert!(other.features.is_empty());
    }

    #[test]
    fn the_kept_sample_is_bounded_evenly_spread_and_in_record_order() {
        for n in [
            0usize,
            1,
            MAX_KEPT_ROWS,
            MAX_KEPT_ROWS + 1,
            3 * MAX_KEPT_ROWS + 7,
            20_000,
        ] {
            let mut sample = RowSample {
                rows: Vec::new(),
                stride: 1,
                seen: 0,
            };
            for i in 0..n {
                sample.offer(ExplainedRow {
                    assessment_id: i.to_string(),
                    shap: vec![],
                    values: vec![],
                });
            }
            assert_eq!(sample.seen, n as u64);
            assert!(
                sample.rows.len() <= MAX_KEPT_ROWS,
                "{n}: {}",
                sample.rows.len()
            );
            assert!(sample.stride.is_power_of_two());
            let kept: Vec<u64> = sample
                .rows
                .iter()
                .map(|r| r.assessment_id.parse().unwrap())
                .collect();
            let expected: Vec<u64> = (0..n as u64).step_by(sample.stride as usize).collect();
            assert_eq!(kept, expected, "{n} rows, stride {}", sample.stride);
            if n > MAX_KEPT_ROWS {
                assert!(sample.rows.len() > MAX_KEPT_ROWS / 2, "{n}: too thin");
            }
        }
    }
}
