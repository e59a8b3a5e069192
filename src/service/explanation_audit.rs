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
//! The per-assessment vectors are kept ([`ExplanationAudit::rows`]) for the bar and beeswarm plots
//! (`service::explanation_plot`).

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
    /// Every explained assessment, in record order.
    pub rows: Vec<ExplainedRow>,
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
    let mut rows: Vec<ExplainedRow> = Vec::new();
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
                    for row in &mut rows {
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
            for ((name, value), phi) in input.features.iter().zip(&input.values).zip(&shap) {
                let Some(&j) = index.get(name) else { continue };
                row.shap[j] = *phi;
                row.values[j] = value.unwrap_or(f64::NAN);
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
            rows.push(row);
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    let features = importance(&names, &rows);
    Ok(ExplanationAudit {
        outcome: query.outcome.clone(),
        from: query.from,
        to: query.to,
        site: query.site.clone(),
        scale,
        assessments,
        with_shap: rows.len() as u64,
        without_shap,
        not_predicted,
        features,
        missing_dominated: dominated,
        unreadable,
        feature_names: names,
        rows,
    })
}

/// Mean |SHAP|, mean SHAP and missing rate per feature, ranked.
fn importance(names: &[String], rows: &[ExplainedRow]) -> Vec<FeatureImportance> {
    if rows.is_empty() {
        return Vec::new();
    }
    let n = rows.len() as f64;
    let mut out: Vec<FeatureImportance> = names
        .iter()
        .enumerate()
        .map(|(j, name)| FeatureImportance {
            feature: name.clone(),
            rank: 0,
            mean_abs_shap: rows.iter().map(|r| r.shap[j].abs()).sum::<f64>() / n,
            mean_shap: rows.iter().map(|r| r.shap[j]).sum::<f64>() / n,
            missing_rate: rows.iter().filter(|r| r.values[j].is_nan()).count() as f64 / n,
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
}
