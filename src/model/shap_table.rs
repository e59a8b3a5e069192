//! Precomputed path-dependent TreeSHAP for shallow trees (the idea of "Fast TreeSHAP v2",
//! Yang 2021): the serving explanation path.
//!
//! Why: in path-dependent TreeSHAP a leaf's contribution depends on the input only through which
//! of the distinct features on its path the input satisfies (`one` fractions are 0 or 1; the
//! `zero` fractions are training counts). A leaf with `d` distinct path features therefore has
//! at most `2^d` possible contribution vectors, which are computed here once, at load, with the
//! same `ExtendPath`/`UnwoundPathSum` arithmetic LightGBM uses (`lgb_tree`). Explaining a row
//! then costs one decision per internal node (kept as a bitmask) plus a few bit tests and a table
//! lookup per leaf, instead of LightGBM's O(leaves · depth²) recursion full of divisions.
//! Memory is `2^d · d` values per leaf, so tables are only built for trees with at most 64
//! internal nodes whose leaves have at most [`MAX_TABLE_DEPTH`] distinct path features (within a
//! budget set by the caller); other trees keep the recursion. All of a model's tables share one
//! set of arenas ([`ShapTables`]), laid out in tree order.

use std::ops::Range;

use super::lgb_tree::{extend_path, unwound_path_sum, FlatTree, Forest, PathScratch};

/// Largest number of distinct features on a leaf's path for which a table is built
/// (`2^8 · 8` = 2,048 values per leaf).
pub const MAX_TABLE_DEPTH: usize = 8;

/// Trees with more internal nodes than this keep the recursion (node outcomes fit one `u64`).
const MAX_SPLITS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Leaf {
    /// Bit `i` set when the leaf's path goes left at internal node `i` (path nodes only matter).
    left: u64,
    /// Offset of the leaf's distinct features in `ShapTables::features`, and of the matching
    /// node masks (bit `i`: node `i` is on the path and splits on that feature) in `nodes`.
    features: u32,
    /// Number of distinct features on the path.
    d: u32,
    /// Offset of the `2^d × d` contribution table in `ShapTables::values`.
    values: u32,
}

/// The precomputed TreeSHAP of every tree of one model that has a table, in arenas shared by
/// all trees (a tree's leaves, features, node masks and values are consecutive runs, and the
/// trees follow each other in model order), so explaining a row streams through memory rather
/// than chasing thousands of small allocations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShapTables {
    /// Per tree: the range of its leaves in `leaves`, or `None` when the tree has no table (it is
    /// explained by the recursion).
    trees: Vec<Option<Range<usize>>>,
    leaves: Vec<Leaf>,
    features: Vec<usize>,
    nodes: Vec<u64>,
    values: Vec<f64>,
}

impl ShapTables {
    /// The tables of `forest`'s trees, in tree order, holding at most `budget` values in all:
    /// trees whose table would exceed what is left of the budget, that have a leaf with more
    /// than [`MAX_TABLE_DEPTH`] distinct path features, or a single leaf (nothing to explain)
    /// get none.
    pub fn build(forest: &Forest, budget: usize) -> Self {
        let mut tables = Self::default();
        for tree in forest.iter() {
            let marks = tables.marks();
            let built = tables.add_tree(&tree).is_some()
                && tables.values.len() <= budget
                && u32::try_from(tables.values.len()).is_ok();
            if built {
                tables.trees.push(Some(marks.0..tables.leaves.len()));
            } else {
                tables.truncate(marks);
                tables.trees.push(None);
            }
        }
        tables.shrink_to_fit();
        tables
    }

    /// No tables: every one of `num_trees` trees is explained by the recursion.
    pub fn none(num_trees: usize) -> Self {
        Self {
            trees: vec![None; num_trees],
            ..Self::default()
        }
    }

    /// Whether tree `i` has a table.
    pub fn has_table(&self, i: usize) -> bool {
        self.trees.get(i).is_some_and(Option::is_some)
    }

    /// Number of trees with a table.
    pub fn num_tabled(&self) -> usize {
        self.trees.iter().filter(|t| t.is_some()).count()
    }

    /// Number of precomputed values (memory is 8 bytes each).
    pub fn size(&self) -> usize {
        self.values.len()
    }

    /// Adds the SHAP values of `tree` (tree number `i`) for the (normalised) row `x` to `phi`
    /// and returns the value of the leaf `x` lands in (what [`FlatTree::predict`] returns), or
    /// returns `None` (leaving `phi` alone) when the tree has no table.
    pub fn add_shap(
        &self,
        i: usize,
        tree: &FlatTree<'_>,
        x: &[f64],
        phi: &mut [f64],
    ) -> Option<f64> {
        let leaves = self.trees.get(i)?.as_ref()?;
        let mut went_left = 0_u64;
        for (i, s) in tree.splits.iter().enumerate() {
            went_left |= u64::from(tree.goes_left(s, x[s.feature])) << i;
        }
        // The leaf whose every path feature is satisfied is the one `x` lands in.
        let mut reached = 0;
        for (k, leaf) in self.leaves[leaves.clone()].iter().enumerate() {
            let d = leaf.d as usize;
            // Path nodes where the input goes the other way than the leaf's path.
            let off_path = went_left ^ leaf.left;
            let first = leaf.features as usize;
            let mut mask = 0;
            for (j, nodes) in self.nodes[first..first + d].iter().enumerate() {
                mask |= usize::from(nodes & off_path == 0) << j;
            }
            if mask == (1 << d) - 1 {
                reached = k;
            }
            let start = leaf.values as usize + mask * d;
            for (&c, &f) in self.values[start..start + d]
                .iter()
                .zip(&self.features[first..first + d])
            {
                phi[f] += c;
            }
        }
        Some(tree.leaf_value[reached])
    }

    /// Appends `tree`'s leaves and tables; `None` (with the arenas partly filled: the caller
    /// truncates) when the tree cannot have a table.
    fn add_tree(&mut self, tree: &FlatTree<'_>) -> Option<()> {
        if tree.splits.is_empty() || tree.splits.len() > MAX_SPLITS {
            return None;
        }
        let mut paths: Vec<Vec<(u32, i32)>> = vec![Vec::new(); tree.leaf_value.len()];
        collect_paths(tree, 0, &mut Vec::new(), &mut paths);
        for (leaf, path) in paths.iter().enumerate() {
            self.add_leaf(tree, tree.leaf_value[leaf], path)?;
        }
        Some(())
    }

    /// Current arena lengths (leaves, features/nodes, values).
    fn marks(&self) -> (usize, usize, usize) {
        (self.leaves.len(), self.features.len(), self.values.len())
    }

    /// Rolls the arenas back to `marks`.
    fn truncate(&mut self, (leaves, features, values): (usize, usize, usize)) {
        self.leaves.truncate(leaves);
        self.features.truncate(features);
        self.nodes.truncate(features);
        self.values.truncate(values);
    }

    fn shrink_to_fit(&mut self) {
        self.leaves.shrink_to_fit();
        self.features.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.values.shrink_to_fit();
    }

    /// Appends one leaf: its steps, distinct features (in the order LightGBM's recursion leaves
    /// them on the path: by last occurrence) and contribution table.
    fn add_leaf(&mut self, tree: &FlatTree<'_>, value: f64, path: &[(u32, i32)]) -> Option<()> {
        // Distinct features by last occurrence, with their zero fractions (products of the
        // path's count ratios, multiplied in LightGBM's order).
        let mut features: Vec<(usize, f64)> = Vec::new();
        for &(node, child) in path {
            let s = &tree.splits[node as usize];
            let ratio = tree.data_count(child) / s.count;
            let incoming = match features.iter().position(|&(f, _)| f == s.feature) {
                Some(i) => features.remove(i).1,
                None => 1.0,
            };
            features.push((s.feature, ratio * incoming));
        }
        let d = features.len();
        if d > MAX_TABLE_DEPTH {
            return None;
        }
        let mut left = 0_u64;
        let mut nodes = vec![0_u64; d];
        for &(node, child) in path {
            let s = &tree.splits[node as usize];
            if child == s.left {
                left |= 1 << node;
            }
            nodes[features.iter().position(|&(f, _)| f == s.feature)?] |= 1 << node;
        }
        self.leaves.push(Leaf {
            left,
            features: u32::try_from(self.features.len()).ok()?,
            d: u32::try_from(d).ok()?,
            values: u32::try_from(self.values.len()).ok()?,
        });
        self.features.extend(features.iter().map(|&(f, _)| f));
        self.nodes.extend(nodes);
        let mut buf = vec![PathScratch::default(); d + 1];
        for mask in 0..1_usize << d {
            extend_path(&mut buf, 0, 1.0, 1.0, -1);
            for (j, &(f, zero)) in features.iter().enumerate() {
                extend_path(&mut buf, j + 1, zero, ((mask >> j) & 1) as f64, f as i64);
            }
            for (j, &(_, zero)) in features.iter().enumerate() {
                let one = ((mask >> j) & 1) as f64;
                let w = unwound_path_sum(&buf, d, j + 1);
                self.values.push(w * (one - zero) * value);
            }
        }
        Some(())
    }
}

/// Every leaf's path from the root as `(internal node, child taken)` steps.
fn collect_paths(
    tree: &FlatTree<'_>,
    node: i32,
    prefix: &mut Vec<(u32, i32)>,
    out: &mut [Vec<(u32, i32)>],
) {
    if node < 0 {
        out[(!node) as usize] = prefix.clone();
        return;
    }
    let s = &tree.splits[node as usize];
    for child in [s.left, s.right] {
        prefix.push((node as u32, child));
        collect_paths(tree, child, prefix, out);
        prefix.pop();
    }
}
