//! One LightGBM model, immutable and `Send + Sync`, predicting raw scores and explaining them
//! with exact (path-dependent) TreeSHAP, numerically identical to LightGBM's `raw_scores` and
//! `predict_contrib` — which the verification tests check on thousands of rows.
//!
//! Serving uses `lgb_tree`, a port of LightGBM's own evaluation and
//! TreeSHAP (LightGBM's semantics by construction), with per-tree precomputed TreeSHAP tables
//! (`shap_table`) for speed. Both are stored contiguously — all trees' nodes in a few arrays
//! (`lgb_tree::Forest`), all tables in a few arenas (`shap_table::ShapTables`) — because the
//! per-tree small allocations the parser would otherwise leave scattered cost about a factor of
//! three on a single-row explanation (cache and TLB misses). The independent reference
//! implementation (shap-rs) is built on demand by `shap_rs_oracle`, for tests only: serving
//! holds each model once.
//!
//! LightGBM's dense-matrix reader keeps a value only when `|x| > kZeroThreshold` (`1e-35f`) or it
//! is NaN; anything smaller becomes exactly 0 — inputs are snapped the same way.
//!
//! The expected value (base value) is the count-weighted mean leaf (LightGBM's data counts).

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::error::ModelError;
use super::lgb_text::{self, TextError};
use super::lgb_tree::{self, Forest, PathScratch};
use super::shap_table::ShapTables;

/// LightGBM's `kZeroThreshold` (`1e-35f`, a float widened to double).
pub const LGBM_ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// Batches larger than this many rows are split into chunks of this size and run on rayon.
const PREDICT_CHUNK: usize = 256;
const EXPLAIN_CHUNK: usize = 16;

/// Most precomputed TreeSHAP values one model may hold (8 bytes each: 64 MiB). A depth-4 tree
/// needs under 1,000; trees beyond the budget are explained by the recursion instead.
const SHAP_TABLE_BUDGET: usize = 8 << 20;

/// How LightGBM treats a model input column (from the model's `feature_infos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Numerical,
    Categorical,
    /// Not used by any tree (constant or filtered out in training).
    Unused,
}

/// TreeSHAP output for a batch, on the raw scale.
#[derive(Debug, Clone, PartialEq)]
pub struct RawExplanation {
    /// Raw scores (the trees' sum), one per row.
    pub raw: Vec<f64>,
    /// Expected raw score over the training data (same for every row).
    pub base_value: f64,
    /// `rows × features`; each row sums with `base_value` to its raw score.
    pub contributions: Array2<f64>,
}

/// One parsed LightGBM model: the serving trees (a port of LightGBM's evaluation, `lgb_tree`)
/// with their precomputed TreeSHAP tables.
#[derive(Clone)]
pub struct NativeModel {
    /// The trees, stored contiguously (`lgb_tree::Forest`).
    trees: Forest,
    /// The trees' precomputed TreeSHAP (`shap_table`), in one set of arenas; trees without a
    /// table use the recursion.
    tables: ShapTables,
    /// Longest TreeSHAP path buffer a tree without a table needs (0 when all have one: then the
    /// explanation allocates no scratch).
    path_len: usize,
    n_features: usize,
    base_value: f64,
    objective: Option<String>,
    /// The objective's `sigmoid:` parameter (1 when absent), parsed once for
    /// [`NativeModel::binary_probability`].
    sigmoid: f64,
    feature_names: Vec<String>,
    column_kinds: Vec<ColumnKind>,
}

/// A summary: the trees themselves would print megabytes.
impl std::fmt::Debug for NativeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeModel")
            .field("objective", &self.objective)
            .field("n_features", &self.n_features)
            .field("num_trees", &self.trees.len())
            .field("num_tabled_trees", &self.num_tabled_trees())
            .field("base_value", &self.base_value)
            .finish_non_exhaustive()
    }
}

impl NativeModel {
    /// Parses LightGBM model text (see `lgb_text`) and translates it.
    ///
    /// # Errors
    /// [`TextError`] naming the line of the offending tree or header field.
    pub fn from_text(text: &str) -> Result<Self, TextError> {
        let model = lgb_text::parse(text)?;
        let header = model.header;
        if header.average_output {
            return Err(TextError {
                line: 0,
                reason: "random-forest models (average_output) are not supported".into(),
            });
        }
        let n_features = header.max_feature_idx + 1;
        let trees = Forest::new(&model.trees);
        // `GBDT::PredictContrib` adds each tree's expected value to the base, in tree order.
        let base_value = trees.iter().fold(0.0, |acc, t| acc + t.expected_value());
        let tables = ShapTables::build(&trees, SHAP_TABLE_BUDGET);
        let path_len = recursion_path_len(&trees, &tables);
        let column_kinds = header
            .feature_infos
            .iter()
            .map(|info| match info.as_str() {
                "none" => ColumnKind::Unused,
                i if i.starts_with('[') => ColumnKind::Numerical,
                _ => ColumnKind::Categorical,
            })
            .collect();
        Ok(Self {
            trees,
            tables,
            path_len,
            n_features,
            base_value,
            sigmoid: sigmoid_scale(header.objective.as_deref()),
            objective: header.objective,
            feature_names: header.feature_names,
            column_kinds,
        })
    }

    /// Number of input columns.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn num_trees(&self) -> usize {
        self.trees.len()
    }

    /// Drops the precomputed TreeSHAP tables: explanations then run LightGBM's recursion (same
    /// values within rounding, several times slower, less memory).
    #[must_use]
    pub fn without_shap_tables(mut self) -> Self {
        self.tables = ShapTables::none(self.trees.len());
        self.path_len = recursion_path_len(&self.trees, &self.tables);
        self
    }

    /// Number of trees explained from precomputed tables (the rest use the recursion).
    pub fn num_tabled_trees(&self) -> usize {
        self.tables.num_tabled()
    }

    /// The objective line of the model, e.g. `binary sigmoid:1`.
    pub fn objective(&self) -> Option<&str> {
        self.objective.as_deref()
    }

    /// Objective name without parameters (`binary`, `regression`, `quantile`, ...).
    pub fn objective_name(&self) -> Option<&str> {
        self.objective.as_deref().and_then(|o| o.split(' ').next())
    }

    /// LightGBM's probability for a raw score of a binary model: `1 / (1 + exp(-sigmoid · raw))`.
    pub fn binary_probability(&self, raw: f64) -> f64 {
        super::calibration::sigmoid(self.sigmoid * raw)
    }

    /// Feature names stored in the model (LightGBM's `Column_<i>` unless the trainer set names).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// How LightGBM treats each column (empty if the model has no `feature_infos`).
    pub fn column_kinds(&self) -> &[ColumnKind] {
        &self.column_kinds
    }

    /// Expected raw score (TreeSHAP base value).
    pub fn base_value(&self) -> f64 {
        self.base_value
    }

    /// Raw scores of row-major `rows` (`NaN` = missing), as LightGBM's `raw_scores`.
    ///
    /// # Errors
    /// [`ModelError::FeatureCount`] when `rows` has the wrong number of columns.
    pub fn predict_raw(&self, rows: ArrayView2<'_, f64>) -> Result<Vec<f64>, ModelError> {
        let data = self.normalised(rows)?;
        let m = self.n_features;
        let mut raw = vec![0.0; rows.nrows()];
        if rows.nrows() <= PREDICT_CHUNK {
            self.predict_flat(&data, &mut raw);
        } else {
            raw.par_chunks_mut(PREDICT_CHUNK)
                .zip(data.par_chunks(PREDICT_CHUNK * m))
                .for_each(|(out, x)| self.predict_flat(x, out));
        }
        Ok(raw)
    }

    /// Raw scores and exact (path-dependent) TreeSHAP values of `rows`, as LightGBM's
    /// `predict_contrib` (whose last column is the base value).
    ///
    /// # Errors
    /// [`ModelError::FeatureCount`] for the wrong number of columns.
    pub fn explain_raw(&self, rows: ArrayView2<'_, f64>) -> Result<RawExplanation, ModelError> {
        let data = self.normalised(rows)?;
        let (n, m) = (rows.nrows(), self.n_features);
        let mut raw = vec![0.0; n];
        let mut phi = vec![0.0; n * m];
        if n <= EXPLAIN_CHUNK {
            self.explain_flat(&data, &mut raw, &mut phi);
        } else {
            raw.par_chunks_mut(EXPLAIN_CHUNK)
                .zip(phi.par_chunks_mut(EXPLAIN_CHUNK * m))
                .zip(data.par_chunks(EXPLAIN_CHUNK * m))
                .for_each(|((r, p), x)| self.explain_flat(x, r, p));
        }
        let contributions =
            Array2::from_shape_vec((n, m), phi).map_err(|_| ModelError::FeatureCount {
                expected: m,
                found: m,
            })?;
        Ok(RawExplanation {
            raw,
            base_value: self.base_value,
            contributions,
        })
    }

    /// Row-major copy of `rows` with LightGBM's C-API input rule applied.
    fn normalised(&self, rows: ArrayView2<'_, f64>) -> Result<Vec<f64>, ModelError> {
        if rows.ncols() != self.n_features {
            return Err(ModelError::FeatureCount {
                expected: self.n_features,
                found: rows.ncols(),
            });
        }
        let mut data: Vec<f64> = rows.iter().copied().collect();
        lgb_tree::normalise_row(&mut data);
        Ok(data)
    }

    /// Sums the trees' leaf values in tree order from 0, as `GBDT::PredictRaw`.
    fn predict_flat(&self, data: &[f64], out: &mut [f64]) {
        for (x, o) in data.chunks_exact(self.n_features).zip(out) {
            *o = self.trees.predict(x);
        }
    }

    /// Accumulates every tree's SHAP values per row, as `GBDT::PredictContrib`, and the raw
    /// scores as [`NativeModel::predict_flat`] (same leaf values, same order: a tree's table
    /// also tells which leaf the row lands in, so the trees are walked once).
    fn explain_flat(&self, data: &[f64], raw: &mut [f64], phi: &mut [f64]) {
        // Empty (no allocation) when every tree has a table.
        let mut path = vec![PathScratch::default(); self.path_len];
        for ((x, p), r) in data
            .chunks_exact(self.n_features)
            .zip(phi.chunks_exact_mut(self.n_features))
            .zip(raw)
        {
            *r = self.trees.iter().enumerate().fold(0.0, |acc, (i, t)| {
                let leaf = self.tables.add_shap(i, &t, x, p).unwrap_or_else(|| {
                    t.shap(x, p, &mut path);
                    t.predict(x)
                });
                acc + leaf
            });
        }
    }
}

/// The `sigmoid:` parameter of an objective line such as `binary sigmoid:1` (1 when absent).
fn sigmoid_scale(objective: Option<&str>) -> f64 {
    objective
        .and_then(|o| o.split(' ').find_map(|p| p.strip_prefix("sigmoid:")))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(1.0)
}

/// Longest TreeSHAP path buffer among the trees of `trees` that `tables` does not cover.
fn recursion_path_len(trees: &Forest, tables: &ShapTables) -> usize {
    trees
        .iter()
        .enumerate()
        .filter(|&(i, _)| !tables.has_table(i))
        .map(|(_, t)| t.path_len())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::shap_rs_oracle::ShapRsModel;
    use ndarray::{array, Axis};

    /// Feature 0 numerical with missing type None (decision_type 2: default-left, None) at
    /// threshold -1 (so 0, and therefore NaN, go right); feature 1 categorical {1, 33}.
    const MODEL: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=binary sigmoid:1\nfeature_names=a b\nfeature_infos=[-5:5] 1:2:33\ntree_sizes=1\n\nTree=0\nnum_leaves=3\nnum_cat=1\nsplit_feature=0 1\nsplit_gain=1 1\nthreshold=-1 0\ndecision_type=2 1\nleft_child=-1 -2\nright_child=1 -3\nleaf_value=1 2 4\nleaf_weight=1 1 1\nleaf_count=4 2 2\ninternal_value=0 0\ninternal_weight=1 1\ninternal_count=8 4\ncat_boundaries=0 2\ncat_threshold=2 2\nis_linear=0\nshrinkage=1\n\n\nend of trees\n";

    /// Feature 0 split with missing type NaN (decision_type 8: default right) at threshold `inf`:
    /// everything but NaN goes left, `+inf` included.
    const INF_MODEL: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=0\nobjective=regression\nfeature_names=a\nfeature_infos=[0:5]\ntree_sizes=1\n\nTree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nsplit_gain=1\nthreshold=inf\ndecision_type=8\nleft_child=-1\nright_child=-2\nleaf_value=1 2\nleaf_weight=1 1\nleaf_count=3 1\ninternal_value=0\ninternal_weight=1\ninternal_count=4\nis_linear=0\nshrinkage=1\n\n\nend of trees\n";

    /// Raw scores from all three paths (tables, recursion, shap-rs), which must agree.
    fn all_paths(text: &str, x: ArrayView2<'_, f64>) -> Vec<f64> {
        let m = NativeModel::from_text(text).unwrap();
        let oracle = ShapRsModel::from_text(text).unwrap();
        let raw = m.predict_raw(x).unwrap();
        assert_eq!(oracle.predict_raw(x).unwrap(), raw);
        let tables = m.explain_raw(x).unwrap();
        let recursion = m.clone().without_shap_tables().explain_raw(x).unwrap();
        let reference = oracle.explain_raw(x).unwrap();
        for e in [&tables, &recursion, &reference] {
            assert_eq!(e.raw, raw);
            assert!((e.base_value - m.base_value()).abs() < 1e-12);
            for (r, row) in e.contributions.axis_iter(Axis(0)).enumerate() {
                assert!((e.base_value + row.sum() - raw[r]).abs() < 1e-12);
            }
            assert!(e
                .contributions
                .iter()
                .zip(&tables.contributions)
                .all(|(a, b)| (a - b).abs() < 1e-12));
        }
        raw
    }

    #[test]
    fn missing_type_none_sends_nan_where_zero_goes() {
        assert_eq!(
            all_paths(
                MODEL,
                array![[-2.0, 1.0], [f64::NAN, 1.0], [0.0, 5.0]].view()
            ),
            vec![1.0, 2.0, 4.0]
        );
    }

    #[test]
    fn categorical_values_are_truncated_and_nan_or_negative_go_right() {
        let m = NativeModel::from_text(MODEL).unwrap();
        let x = array![
            [0.0, 33.0],
            [0.0, 1.9],
            [0.0, -0.5],
            [0.0, f64::NAN],
            [0.0, -1.0],
            [0.0, 2.0],
            [0.0, 1e12]
        ];
        assert_eq!(
            all_paths(MODEL, x.view()),
            vec![2.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
        );
        assert_eq!(
            m.column_kinds(),
            &[ColumnKind::Numerical, ColumnKind::Categorical]
        );
    }

    #[test]
    fn an_infinite_threshold_sends_everything_but_nan_left() {
        let x = array![
            [f64::INFINITY],
            [f64::MAX],
            [-1.0],
            [f64::NAN],
            [f64::NEG_INFINITY]
        ];
        assert_eq!(
            all_paths(INF_MODEL, x.view()),
            vec![1.0, 1.0, 1.0, 2.0, 1.0]
        );
    }

    #[test]
    fn the_base_value_is_count_weighted() {
        let m = NativeModel::from_text(MODEL).unwrap();
        assert!((m.base_value() - (4.0 * 1.0 + 2.0 * 2.0 + 2.0 * 4.0) / 8.0).abs() < 1e-15);
        assert_eq!(m.num_tabled_trees(), 1);
    }

    #[test]
    fn a_wrong_column_count_is_an_error() {
        let m = NativeModel::from_text(MODEL).unwrap();
        assert!(matches!(
            m.predict_raw(array![[1.0]].view()),
            Err(ModelError::FeatureCount {
                expected: 2,
                found: 1
            })
        ));
        assert!(matches!(
            m.explain_raw(array![[1.0, 2.0, 3.0]].view()),
            Err(ModelError::FeatureCount {
                expected: 2,
                found: 3
            })
        ));
    }

    #[test]
    fn empty_batches_are_fine() {
        let m = NativeModel::from_text(MODEL).unwrap();
        let x = Array2::<f64>::zeros((0, 2));
        assert!(m.predict_raw(x.view()).unwrap().is_empty());
        assert_eq!(m.explain_raw(x.view()).unwrap().contributions.dim(), (0, 2));
        assert_eq!(
            ShapRsModel::from_text(MODEL)
                .unwrap()
                .explain_raw(x.view())
                .unwrap()
                .contributions
                .dim(),
            (0, 2)
        );
    }
}
