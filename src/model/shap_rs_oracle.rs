//! shap-rs as an independent reference: the same LightGBM model translated into a
//! `shap_rs::TreeEnsemble`, built on demand from the model text. Tests compare the serving
//! ensemble (`native`) against it and against LightGBM itself; serving never holds it.
//!
//! Why the shap-rs translation needs a mapping layer: LightGBM's and shap-rs's split rules differ
//! in their handling of missing and odd values, so each LightGBM node becomes the shap-rs node that
//! sends every input the same way, and inputs are normalised first:
//!
//! * **Input** (both paths). LightGBM's dense-matrix reader keeps a value only when
//!   `|x| > kZeroThreshold` (`1e-35f`) or it is NaN; anything smaller becomes exactly 0 — we snap
//!   the same values to 0.
//! * **`+inf` thresholds.** LightGBM writes the last bin's upper bound, `inf`, as the threshold of
//!   splits that separate the missing value from everything else, and `x <= inf` holds for every
//!   non-NaN `x`. shap-rs only accepts finite thresholds, so such a threshold becomes `f64::MAX`
//!   and an input `+inf` becomes `f64::MAX` too: every comparison keeps its outcome (no real
//!   LightGBM threshold lies between `f64::MAX` and `inf`).
//! * **Numerical split, missing type None** (feature had no NaN in training): LightGBM turns NaN
//!   into 0 and compares `0 <= threshold`. Encoded as a NaN-missing split whose missing branch is
//!   the side 0 goes to.
//! * **Missing type Zero** (`zero_as_missing`): NaN becomes 0 and 0 goes to the default branch.
//!   shap-rs's `Zero` policy (NaN or 0 is missing) is the same rule once tiny values are snapped.
//! * **Missing type NaN**: NaN goes to the default branch, 0 is compared normally — shap-rs `NaN`.
//! * **Categorical split**: LightGBM truncates the value to `int` (`static_cast<int>`), sends NaN
//!   and negatives right, and goes left iff the category's bit is set in the node's bitset.
//!   shap-rs goes left iff the value is an integer in the category list, NaN (missing) right; so
//!   values of features used categorically are truncated toward zero before traversal.
//!
//! Covers are LightGBM's data counts (`leaf_count`, `internal_count`), which is what its TreeSHAP
//! weighs cold branches by.

use ndarray::{Array2, ArrayView2, Axis};
use shap_rs::explainers::TreeExplainer;
use shap_rs::{
    Explainer, MissingBranch, MissingValuePolicy, Node, SplitComparison, Tree, TreeEnsemble,
};

use super::error::ModelError;
use super::lgb_text::{self, LgbTree, TextError};
use super::native::{RawExplanation, LGBM_ZERO_THRESHOLD};

/// One LightGBM model as a shap-rs ensemble (reference implementation for tests).
pub struct ShapRsModel {
    ensemble: TreeEnsemble,
    n_features: usize,
    /// Per feature: used in a categorical split, so inputs are truncated like LightGBM does.
    truncate: Vec<bool>,
}

impl ShapRsModel {
    /// Parses LightGBM model text and translates every tree.
    ///
    /// # Errors
    /// [`TextError`] naming the line of the offending tree, or shap-rs rejecting a tree.
    pub fn from_text(text: &str) -> Result<Self, TextError> {
        let model = lgb_text::parse(text)?;
        let n_features = model.header.max_feature_idx + 1;
        let mut truncate = vec![false; n_features];
        let mut trees = Vec::with_capacity(model.trees.len());
        for t in &model.trees {
            trees.push((convert_tree(t, n_features, &mut truncate)?, 1.0));
        }
        let ensemble = TreeEnsemble::new(trees, vec![0.0]).map_err(|e| TextError {
            line: 0,
            reason: format!("shap-rs rejected the ensemble: {e}"),
        })?;
        Ok(Self {
            ensemble,
            n_features,
            truncate,
        })
    }

    /// The shap-rs ensemble (for shap-rs's other explainers and plots).
    pub fn ensemble(&self) -> &TreeEnsemble {
        &self.ensemble
    }

    /// Raw scores through shap-rs's tree traversal.
    ///
    /// # Errors
    /// [`ModelError::FeatureCount`] for the wrong number of columns; [`ModelError::Shap`] if
    /// shap-rs rejects the input.
    pub fn predict_raw(&self, rows: ArrayView2<'_, f64>) -> Result<Vec<f64>, ModelError> {
        let x = self.prepare(rows)?;
        self.predict_prepared(x.view())
    }

    /// Raw scores and TreeSHAP through shap-rs's `TreeExplainer` (several times slower than the
    /// serving ensemble).
    ///
    /// # Errors
    /// As [`ShapRsModel::predict_raw`].
    pub fn explain_raw(&self, rows: ArrayView2<'_, f64>) -> Result<RawExplanation, ModelError> {
        let x = self.prepare(rows)?;
        let n = x.nrows();
        let base_value = self.ensemble.expected_value()[0];
        if n == 0 {
            return Ok(RawExplanation {
                raw: Vec::new(),
                base_value,
                contributions: Array2::zeros((0, self.n_features)),
            });
        }
        let raw = self.predict_prepared(x.view())?;
        let explanation = TreeExplainer::new(&self.ensemble)
            .explain(x.view())
            .map_err(|e| ModelError::Shap(e.to_string()))?;
        let contributions = explanation.values().index_axis(Axis(2), 0).to_owned();
        Ok(RawExplanation {
            raw,
            base_value,
            contributions,
        })
    }

    /// Walks the trees with `Tree::predict_row` (the traversal shap-rs's TreeSHAP follows) rather
    /// than `TreeEnsemble::predict`, which re-validates (clones) the whole ensemble on every call.
    fn predict_prepared(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>, ModelError> {
        x.axis_iter(Axis(0))
            .map(|row| {
                let mut sum = 0.0;
                for (tree, weight) in self.ensemble.trees() {
                    let leaf = tree
                        .predict_row(row)
                        .map_err(|e| ModelError::Shap(e.to_string()))?;
                    sum += weight * leaf[0];
                }
                Ok(sum)
            })
            .collect()
    }

    /// Copies `rows`, applying the input mapping shap-rs needs (see the module doc).
    fn prepare(&self, rows: ArrayView2<'_, f64>) -> Result<Array2<f64>, ModelError> {
        if rows.ncols() != self.n_features {
            return Err(ModelError::FeatureCount {
                expected: self.n_features,
                found: rows.ncols(),
            });
        }
        let mut x = rows.to_owned();
        for mut row in x.axis_iter_mut(Axis(0)) {
            for (v, &truncate) in row.iter_mut().zip(&self.truncate) {
                if v.abs() <= LGBM_ZERO_THRESHOLD {
                    *v = 0.0;
                } else if *v == f64::INFINITY {
                    *v = f64::MAX;
                } else if truncate && v.is_finite() {
                    *v = v.trunc();
                }
            }
        }
        Ok(x)
    }
}

/// Translates one LightGBM tree to a shap-rs tree: internal node `i` stays `i`, leaf `j` becomes
/// `num_leaves - 1 + j`. Marks features used in categorical splits in `truncate`.
fn convert_tree(t: &LgbTree, n_features: usize, truncate: &mut [bool]) -> Result<Tree, TextError> {
    let err = |reason: String| TextError {
        line: t.line,
        reason,
    };
    let inner = t.num_leaves - 1;
    let child = |c: i32| -> usize {
        if c >= 0 {
            c as usize
        } else {
            inner + (!c) as usize
        }
    };
    let mut nodes = Vec::with_capacity(2 * t.num_leaves - 1);
    for i in 0..inner {
        let feature = t.split_feature[i];
        let (left, right, cover) = (
            child(t.left_child[i]),
            child(t.right_child[i]),
            t.internal_count[i] as f64,
        );
        let d = t.decision_type[i];
        let node = if d & 1 == 1 {
            // Categorical: threshold is the index of the node's bitset (checked by the reader).
            let k = t.threshold[i] as usize;
            let words = &t.cat_threshold[t.cat_boundaries[k]..t.cat_boundaries[k + 1]];
            let categories: Vec<i64> = words
                .iter()
                .enumerate()
                .flat_map(|(w, &bits)| {
                    (0..32)
                        .filter(move |b| bits >> b & 1 == 1)
                        .map(move |b| (32 * w + b) as i64)
                })
                .collect();
            if categories.is_empty() {
                return Err(err(format!(
                    "categorical node {i} has an empty category set"
                )));
            }
            truncate[feature] = true;
            Node::CategoricalSplit {
                feature,
                categories,
                left,
                right,
                missing: MissingBranch::Right,
                missing_value: MissingValuePolicy::NaN,
                cover,
            }
        } else {
            let threshold = if t.threshold[i] == f64::INFINITY {
                f64::MAX
            } else {
                t.threshold[i]
            };
            let default_left = if d & 2 == 2 {
                MissingBranch::Left
            } else {
                MissingBranch::Right
            };
            let (missing, missing_value) = match (d >> 2) & 3 {
                // None: NaN is read as 0, which then takes the ordinary comparison.
                0 => (
                    if 0.0 <= threshold {
                        MissingBranch::Left
                    } else {
                        MissingBranch::Right
                    },
                    MissingValuePolicy::NaN,
                ),
                1 => (default_left, MissingValuePolicy::Zero),
                2 => (default_left, MissingValuePolicy::NaN),
                other => return Err(err(format!("node {i} has unknown missing type {other}"))),
            };
            Node::NumericalSplit {
                feature,
                threshold,
                comparison: SplitComparison::LessThanOrEqual,
                left,
                right,
                missing,
                missing_value,
                cover,
            }
        };
        nodes.push(node);
    }
    for (j, &value) in t.leaf_value.iter().enumerate() {
        nodes.push(Node::Leaf {
            values: vec![value],
            cover: t.leaf_count[j] as f64,
        });
    }
    Tree::new(nodes, 0, n_features).map_err(|e| err(format!("shap-rs rejected the tree: {e}")))
}
