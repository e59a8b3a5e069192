//! LightGBM's own tree evaluation and TreeSHAP, ported line by line to Rust: the serving fast path.
//!
//! Why hand-written when shap-rs has TreeSHAP: shap-rs 0.1.0's `TreeExplainer` allocates a
//! `Vec<Vec<f64>>` per tree per row, clones the decision path at every node and recomputes the
//! ensemble's expected value on every call. Measured on a 300-tree, depth-4, 51-feature model it
//! explains one row in about 2 ms — five times slower than LightGBM's own `predict_contrib` and
//! far beyond the serving budget. This port of `Tree::NumericalDecision`,
//! `Tree::CategoricalDecision`, `Tree::TreeSHAP`, `ExtendPath`, `UnwindPath`, `UnwoundPathSum` and
//! `Tree::ExpectedValue` (LightGBM 4.7.0, `include/LightGBM/tree.h`, `src/io/tree.cpp`) keeps one
//! preallocated path buffer per tree walk and LightGBM's order of floating-point operations, so it
//! reproduces LightGBM's numbers (to the last bit on the verification data). The shap-rs ensemble
//! built alongside (`native.rs`) stays as an independent cross-check in the tests.
//!
//! A model's trees are stored together in a [`Forest`] (a few contiguous arrays with per-tree
//! ranges); [`FlatTree`] is a borrowed view of one tree.

use std::ops::Range;

use super::lgb_text::LgbTree;
use super::native::LGBM_ZERO_THRESHOLD;

/// One internal node, laid out for the walk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Split {
    pub(super) feature: usize,
    /// Numerical: the threshold; categorical: the index of the bitset in the [`Forest`].
    pub(super) threshold: f64,
    /// LightGBM's `decision_type` byte.
    pub(super) decision: u8,
    /// `>= 0` internal node, `< 0` leaf `!c`.
    pub(super) left: i32,
    pub(super) right: i32,
    /// Training rows through the node (`internal_count`).
    pub(super) count: f64,
}

/// A decision-path element (LightGBM's `Tree::PathElement`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PathElement {
    /// `-1` for the root's placeholder.
    feature: i64,
    zero: f64,
    one: f64,
    pweight: f64,
}

/// Every tree of one model in LightGBM's layout, concatenated into a few contiguous arrays (one
/// per kind of node data, with per-tree ranges), so that walking the trees in order streams
/// through memory. Storing each tree's nodes in its own small `Vec`s instead scatters them among
/// the parser's freed temporaries, which made a single-row explanation about three times slower.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Forest {
    trees: Vec<TreeRanges>,
    splits: Vec<Split>,
    leaf_value: Vec<f64>,
    leaf_count: Vec<f64>,
    /// All trees' categorical bitsets: `cat_threshold[cat_boundaries[k]..cat_boundaries[k + 1]]`
    /// is bitset `k`, where a categorical split's `threshold` holds `k`. Both are offset while
    /// concatenating, so bitset indices are global (unlike in the model text, where they are
    /// per tree).
    cat_boundaries: Vec<usize>,
    cat_threshold: Vec<u32>,
}

/// Where one tree's nodes and leaves lie in the [`Forest`]'s arrays (leaf and child indices stay
/// relative to the tree, as in the model text), and what is precomputed about it.
#[derive(Debug, Clone, PartialEq)]
struct TreeRanges {
    splits: Range<usize>,
    leaves: Range<usize>,
    path_len: usize,
    expected_value: f64,
}

impl Forest {
    /// Builds from reader trees (whose structure `lgb_text` has checked).
    pub fn new(trees: &[LgbTree]) -> Self {
        let mut forest = Self::default();
        for t in trees {
            forest.push(t);
        }
        forest
    }

    /// Number of trees.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// Whether the forest has no trees.
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    /// The trees, in model order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = FlatTree<'_>> + '_ {
        self.trees.iter().map(|r| FlatTree {
            splits: &self.splits[r.splits.clone()],
            leaf_value: &self.leaf_value[r.leaves.clone()],
            leaf_count: &self.leaf_count[r.leaves.clone()],
            cat_boundaries: &self.cat_boundaries,
            cat_threshold: &self.cat_threshold,
            path_len: r.path_len,
            expected_value: r.expected_value,
        })
    }

    /// The raw score of `x` (normalised by [`normalise_row`]): the trees' leaf values summed in
    /// tree order from 0, as `GBDT::PredictRaw`. Same as summing [`FlatTree::predict`] over
    /// [`Forest::iter`], without building each tree's view.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let cats = (&self.cat_boundaries[..], &self.cat_threshold[..]);
        self.trees.iter().fold(0.0, |acc, r| {
            let splits = &self.splits[r.splits.clone()];
            // A single-leaf tree starts (and ends) at leaf 0, i.e. node `!0`.
            let mut node = if splits.is_empty() { !0 } else { 0_i32 };
            while node >= 0 {
                let s = &splits[node as usize];
                node = if goes_left(s, x[s.feature], cats) {
                    s.left
                } else {
                    s.right
                };
            }
            acc + self.leaf_value[r.leaves.start + (!node) as usize]
        })
    }

    fn push(&mut self, t: &LgbTree) {
        let first_split = self.splits.len();
        // Bitset `k` of this tree is the forest's bitset `first_cat + k`.
        let first_cat = self.cat_boundaries.len();
        self.splits.extend((0..t.num_leaves - 1).map(|i| Split {
            feature: t.split_feature[i],
            threshold: if t.decision_type[i] & 1 == 1 {
                // Bitset indices are small integers: exact in an f64.
                t.threshold[i] + first_cat as f64
            } else {
                t.threshold[i]
            },
            decision: t.decision_type[i],
            left: t.left_child[i],
            right: t.right_child[i],
            count: t.internal_count[i] as f64,
        }));
        let splits = &self.splits[first_split..];
        let leaf_count: Vec<f64> = t.leaf_count.iter().map(|&c| c as f64).collect();
        let max_depth = if splits.is_empty() {
            0
        } else {
            depth(splits, 0)
        };
        let max_path_len = max_depth + 1;
        // `Tree::ExpectedValue`: the count-weighted mean leaf value.
        let expected_value = if splits.is_empty() {
            t.leaf_value[0]
        } else {
            let total = splits[0].count;
            t.leaf_value
                .iter()
                .zip(&leaf_count)
                .fold(0.0, |acc, (v, c)| acc + (c / total) * v)
        };
        let ranges = TreeRanges {
            splits: first_split..self.splits.len(),
            leaves: self.leaf_value.len()..self.leaf_value.len() + t.leaf_value.len(),
            path_len: max_path_len * (max_path_len + 1) / 2,
            expected_value,
        };
        self.leaf_value.extend_from_slice(&t.leaf_value);
        self.leaf_count.extend(leaf_count);
        // A tree's `cat_boundaries` are `num_cat + 1` offsets into its own `cat_threshold`; the
        // forest keeps each tree's bitsets as consecutive pairs, so the last boundary of one tree
        // and the first of the next are both stored (bitset `first_cat + num_cat` is never used).
        let first_word = self.cat_threshold.len();
        self.cat_boundaries
            .extend(t.cat_boundaries.iter().map(|&b| b + first_word));
        self.cat_threshold.extend_from_slice(&t.cat_threshold);
        self.trees.push(ranges);
    }
}

/// One tree in LightGBM's layout: a view into a [`Forest`] (its nodes and leaves, and the
/// forest's categorical bitsets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlatTree<'a> {
    pub(super) splits: &'a [Split],
    pub(super) leaf_value: &'a [f64],
    pub(super) leaf_count: &'a [f64],
    cat_boundaries: &'a [usize],
    cat_threshold: &'a [u32],
    /// Length of the path buffer TreeSHAP needs.
    path_len: usize,
    expected_value: f64,
}

impl FlatTree<'_> {
    /// The tree's expected value (its share of the TreeSHAP base value).
    pub fn expected_value(&self) -> f64 {
        self.expected_value
    }

    /// Number of internal nodes.
    pub fn num_splits(&self) -> usize {
        self.splits.len()
    }

    /// Path-buffer length for [`FlatTree::shap`].
    pub fn path_len(&self) -> usize {
        self.path_len
    }

    /// The leaf value `x` (normalised by [`normalise_row`]) lands in (`Tree::Predict`).
    pub fn predict(&self, x: &[f64]) -> f64 {
        if self.splits.is_empty() {
            return self.leaf_value[0];
        }
        let mut node = 0_i32;
        while node >= 0 {
            let s = &self.splits[node as usize];
            node = self.decision(s, x[s.feature]);
        }
        self.leaf_value[(!node) as usize]
    }

    /// Adds this tree's SHAP values for `x` to `phi` (one per feature), using `path` (at least
    /// [`FlatTree::path_len`] long) as scratch (`Tree::PredictContrib` without the base value).
    pub fn shap(&self, x: &[f64], phi: &mut [f64], path: &mut [PathScratch]) {
        if self.splits.is_empty() {
            return;
        }
        self.tree_shap(x, phi, 0, 0, path, 0, 1.0, 1.0, -1);
    }

    pub(super) fn data_count(&self, node: i32) -> f64 {
        if node >= 0 {
            self.splits[node as usize].count
        } else {
            self.leaf_count[(!node) as usize]
        }
    }

    /// `Tree::Decision`: the child `fval` goes to.
    pub(super) fn decision(&self, s: &Split, fval: f64) -> i32 {
        if self.goes_left(s, fval) {
            s.left
        } else {
            s.right
        }
    }

    /// Whether `Tree::Decision` sends `fval` to the left child.
    pub(super) fn goes_left(&self, s: &Split, fval: f64) -> bool {
        goes_left(s, fval, (self.cat_boundaries, self.cat_threshold))
    }

    /// `Tree::TreeSHAP`. `start` is where this node's path begins in `buf` (the C++ pointer
    /// `parent_unique_path + unique_depth`).
    #[allow(clippy::too_many_arguments)]
    fn tree_shap(
        &self,
        x: &[f64],
        phi: &mut [f64],
        node: i32,
        unique_depth: usize,
        buf: &mut [PathScratch],
        parent_start: usize,
        parent_zero: f64,
        parent_one: f64,
        parent_feature: i64,
    ) {
        let start = parent_start + unique_depth;
        if unique_depth > 0 {
            buf.copy_within(parent_start..parent_start + unique_depth, start);
        }
        extend_path(
            &mut buf[start..],
            unique_depth,
            parent_zero,
            parent_one,
            parent_feature,
        );

        if node < 0 {
            let value = self.leaf_value[(!node) as usize];
            let path = &buf[start..];
            for i in 1..=unique_depth {
                let w = unwound_path_sum(path, unique_depth, i);
                let el = path[i].0;
                phi[el.feature as usize] += w * (el.one - el.zero) * value;
            }
            return;
        }

        let s = self.splits[node as usize];
        let hot = self.decision(&s, x[s.feature]);
        let cold = if hot == s.left { s.right } else { s.left };
        let w = s.count;
        let hot_zero = self.data_count(hot) / w;
        let cold_zero = self.data_count(cold) / w;
        let mut incoming_zero = 1.0;
        let mut incoming_one = 1.0;
        let mut unique_depth = unique_depth;
        let feature = s.feature as i64;
        if let Some(index) = buf[start..=start + unique_depth]
            .iter()
            .position(|e| e.0.feature == feature)
        {
            incoming_zero = buf[start + index].0.zero;
            incoming_one = buf[start + index].0.one;
            unwind_path(&mut buf[start..], unique_depth, index);
            unique_depth -= 1;
        }
        self.tree_shap(
            x,
            phi,
            hot,
            unique_depth + 1,
            buf,
            start,
            hot_zero * incoming_zero,
            incoming_one,
            feature,
        );
        self.tree_shap(
            x,
            phi,
            cold,
            unique_depth + 1,
            buf,
            start,
            cold_zero * incoming_zero,
            0.0,
            feature,
        );
    }
}

/// Scratch space for [`FlatTree::shap`]; allocate `vec![PathScratch::default(); len]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathScratch(pub(super) PathElement);

/// Whether `Tree::Decision` sends `fval` to the left child; `cats` are the forest's
/// `(cat_boundaries, cat_threshold)`.
fn goes_left(s: &Split, fval: f64, cats: (&[usize], &[u32])) -> bool {
    if s.decision & 1 == 1 {
        categorical_goes_left(s, fval, cats)
    } else {
        numerical_goes_left(s, fval)
    }
}

/// `Tree::CategoricalDecision`: NaN and negatives go right; otherwise the truncated value's bit
/// in the node's bitset decides. (`as i32` saturates where C++'s `static_cast<int>` is
/// undefined, i.e. beyond ±2^31; both end in "not in the bitset" or "negative": right.)
fn categorical_goes_left(
    s: &Split,
    fval: f64,
    (cat_boundaries, cat_threshold): (&[usize], &[u32]),
) -> bool {
    if fval.is_nan() {
        return false;
    }
    let int_fval = fval as i32;
    if int_fval < 0 {
        return false;
    }
    let k = s.threshold as usize;
    let bits = &cat_threshold[cat_boundaries[k]..cat_boundaries[k + 1]];
    let (word, bit) = ((int_fval / 32) as usize, int_fval % 32);
    bits.get(word).is_some_and(|w| (w >> bit) & 1 == 1)
}

/// `Tree::NumericalDecision`, as "goes left": NaN reads as 0 unless the missing type is NaN; a
/// missing value (NaN for type NaN, zero for type Zero) takes the default branch; otherwise
/// `fval <= threshold` goes left. Written with non-short-circuit operators so it compiles to
/// selects rather than hard-to-predict branches.
fn numerical_goes_left(s: &Split, fval: f64) -> bool {
    let missing_type = (s.decision >> 2) & 3;
    let nan = fval.is_nan();
    let fval = if nan & (missing_type != 2) { 0.0 } else { fval };
    let missing = ((missing_type == 1) & is_zero(fval)) | ((missing_type == 2) & nan);
    let default_left = s.decision & 2 == 2;
    (missing & default_left) | (!missing & (fval <= s.threshold))
}

/// `Tree::IsZero`.
#[allow(clippy::manual_range_contains)] // `&` rather than `contains`: no branch
fn is_zero(fval: f64) -> bool {
    (fval >= -LGBM_ZERO_THRESHOLD) & (fval <= LGBM_ZERO_THRESHOLD)
}

/// Applies LightGBM's C-API input rule: values with `|x| <= kZeroThreshold` are dropped from the
/// sparse row it builds, i.e. read as exactly 0.
pub fn normalise_row(row: &mut [f64]) {
    for v in row {
        if v.abs() <= LGBM_ZERO_THRESHOLD {
            *v = 0.0;
        }
    }
}

fn depth(splits: &[Split], node: i32) -> usize {
    if node < 0 {
        0
    } else {
        let s = &splits[node as usize];
        1 + depth(splits, s.left).max(depth(splits, s.right))
    }
}

/// `Tree::ExtendPath` (operation order kept).
pub(super) fn extend_path(
    path: &mut [PathScratch],
    unique_depth: usize,
    zero: f64,
    one: f64,
    feature: i64,
) {
    path[unique_depth].0 = PathElement {
        feature,
        zero,
        one,
        pweight: if unique_depth == 0 { 1.0 } else { 0.0 },
    };
    let d1 = (unique_depth + 1) as f64;
    for i in (0..unique_depth).rev() {
        path[i + 1].0.pweight += one * path[i].0.pweight * (i + 1) as f64 / d1;
        path[i].0.pweight = zero * path[i].0.pweight * (unique_depth - i) as f64 / d1;
    }
}

/// `Tree::UnwindPath` (operation order kept).
fn unwind_path(path: &mut [PathScratch], unique_depth: usize, path_index: usize) {
    let one = path[path_index].0.one;
    let zero = path[path_index].0.zero;
    let mut next_one_portion = path[unique_depth].0.pweight;
    let d1 = (unique_depth + 1) as f64;
    for i in (0..unique_depth).rev() {
        if one != 0.0 {
            let tmp = path[i].0.pweight;
            path[i].0.pweight = next_one_portion * d1 / ((i + 1) as f64 * one);
            next_one_portion = tmp - path[i].0.pweight * zero * (unique_depth - i) as f64 / d1;
        } else {
            path[i].0.pweight = (path[i].0.pweight * d1) / (zero * (unique_depth - i) as f64);
        }
    }
    for i in path_index..unique_depth {
        path[i].0.feature = path[i + 1].0.feature;
        path[i].0.zero = path[i + 1].0.zero;
        path[i].0.one = path[i + 1].0.one;
    }
}

/// `Tree::UnwoundPathSum` (operation order kept).
pub(super) fn unwound_path_sum(
    path: &[PathScratch],
    unique_depth: usize,
    path_index: usize,
) -> f64 {
    let one = path[path_index].0.one;
    let zero = path[path_index].0.zero;
    let mut next_one_portion = path[unique_depth].0.pweight;
    let mut total = 0.0;
    let d1 = (unique_depth + 1) as f64;
    for i in (0..unique_depth).rev() {
        if one != 0.0 {
            let tmp = next_one_portion * d1 / ((i + 1) as f64 * one);
            total += tmp;
            next_one_portion = path[i].0.pweight - tmp * zero * ((unique_depth - i) as f64 / d1);
        } else {
            total += (path[i].0.pweight / zero) / ((unique_depth - i) as f64 / d1);
        }
    }
    total
}
