//! Reader of LightGBM's text model format (`Booster::save_string()` / `model.txt`, LightGBM 4.x)
//! into plain arrays, one [`LgbTree`] per tree, with structural checks and line numbers for errors.
//!
//! Why hand-written: shap-rs's importer (`from_lightgbm_json`) reads LightGBM's *JSON dump*, which
//! `lightgbm3` does not expose (its `Booster` handle is private, so it would need unsafe FFI), and
//! the text file is the canonical artifact of a model set — it is what is hashed in the manifest.
//! The format is documented only by LightGBM's source: `GBDT::SaveModelToString`
//! (`src/boosting/gbdt_model_text.cpp`) writes a header of `key=value` lines, then one block per
//! tree (`Tree=<i>` followed by `Tree::ToString`'s `key=value` lines, `src/io/tree.cpp`), then
//! `end of trees` and sections (importances, parameters) that prediction does not need.
//!
//! This module only reads syntax and checks structure; what the numbers *mean* (decision-type
//! bits, missing-value handling) is mapped in `native.rs`.

use std::collections::HashMap;
use std::str::FromStr;

/// A parse failure at a 1-based line of the model text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub line: usize,
    pub reason: String,
}

impl TextError {
    fn new(line: usize, reason: impl Into<String>) -> Self {
        Self {
            line,
            reason: reason.into(),
        }
    }
}

/// The model-level header of a LightGBM text model.
#[derive(Debug, Clone, PartialEq)]
pub struct LgbHeader {
    pub version: String,
    pub num_class: usize,
    pub num_tree_per_iteration: usize,
    /// Number of input columns minus one.
    pub max_feature_idx: usize,
    /// E.g. `binary sigmoid:1`, `regression`, `quantile`; `None` for custom objectives.
    pub objective: Option<String>,
    /// Random-forest mode: the raw score is the mean, not the sum, of the trees.
    pub average_output: bool,
    pub feature_names: Vec<String>,
    /// Per feature: `[min:max]` (numerical), `c0:c1:...` (categorical) or `none` (unused).
    pub feature_infos: Vec<String>,
}

/// One tree, as LightGBM stores it. Internal nodes are `0..num_leaves-1`; a child index `c < 0`
/// denotes leaf `!c` (`~c` in C++).
#[derive(Debug, Clone, PartialEq)]
pub struct LgbTree {
    /// Line of the `Tree=` header, for error messages.
    pub line: usize,
    pub num_leaves: usize,
    pub num_cat: usize,
    pub split_feature: Vec<usize>,
    /// Numerical splits: the threshold (may be `+inf`: everything but the missing value goes
    /// left); categorical splits: the index into `cat_boundaries`.
    pub threshold: Vec<f64>,
    /// Bit 0 categorical, bit 1 default-left, bits 2–3 missing type (0 None, 1 Zero, 2 NaN).
    pub decision_type: Vec<u8>,
    pub left_child: Vec<i32>,
    pub right_child: Vec<i32>,
    /// Already multiplied by the shrinkage (learning rate); the first tree includes the init score.
    pub leaf_value: Vec<f64>,
    /// Training rows reaching each leaf / internal node: LightGBM's TreeSHAP "data counts".
    pub leaf_count: Vec<u64>,
    pub internal_count: Vec<u64>,
    pub cat_boundaries: Vec<usize>,
    pub cat_threshold: Vec<u32>,
}

/// A whole text model.
#[derive(Debug, Clone, PartialEq)]
pub struct LgbText {
    pub header: LgbHeader,
    pub trees: Vec<LgbTree>,
}

/// Parses a LightGBM text model.
///
/// # Errors
/// [`TextError`] with the line and reason for anything malformed or unsupported (multiclass,
/// linear trees, inconsistent arrays, dangling or shared child indices).
pub fn parse(text: &str) -> Result<LgbText, TextError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .peekable();

    match lines.next() {
        Some((_, "tree")) => {}
        Some((n, other)) => {
            return Err(TextError::new(
                n,
                format!("expected `tree` (a GBDT model), found `{}`", clip(other)),
            ))
        }
        None => return Err(TextError::new(0, "empty model text")),
    }

    // Header: `key=value` lines (and the bare `average_output` flag) up to the first `Tree=`.
    let mut header: HashMap<&str, (usize, &str)> = HashMap::new();
    let mut last_line = 1;
    while let Some(&(n, line)) = lines.peek() {
        if line.starts_with("Tree=") || line == "end of trees" {
            break;
        }
        lines.next();
        last_line = n;
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        header.insert(key, (n, value));
    }
    let header = read_header(&header, last_line)?;

    // Trees: `Tree=<i>` then `key=value` lines up to a blank line.
    let mut trees = Vec::new();
    loop {
        let Some((n, line)) = lines.next() else {
            return Err(TextError::new(
                last_line,
                "model text ends before `end of trees`",
            ));
        };
        last_line = n;
        if line.is_empty() {
            continue;
        }
        if line == "end of trees" {
            break;
        }
        let Some(index) = line.strip_prefix("Tree=") else {
            return Err(TextError::new(
                n,
                format!(
                    "expected `Tree=<i>` or `end of trees`, found `{}`",
                    clip(line)
                ),
            ));
        };
        if index.parse::<usize>().ok() != Some(trees.len()) {
            return Err(TextError::new(
                n,
                format!("expected Tree={}, found `{}`", trees.len(), clip(line)),
            ));
        }
        let mut fields: HashMap<&str, (usize, &str)> = HashMap::new();
        while let Some(&(m, l)) = lines.peek() {
            if l.is_empty() || l.starts_with("Tree=") || l == "end of trees" {
                break;
            }
            lines.next();
            let Some((key, value)) = l.split_once('=') else {
                return Err(TextError::new(
                    m,
                    format!(
                        "expected `key=value` in tree {}, found `{}`",
                        trees.len(),
                        clip(l)
                    ),
                ));
            };
            fields.insert(key, (m, value));
        }
        trees.push(read_tree(n, &fields)?);
    }
    if trees.is_empty() {
        return Err(TextError::new(last_line, "model has no trees"));
    }
    for tree in &trees {
        if tree
            .split_feature
            .iter()
            .any(|&f| f > header.max_feature_idx)
        {
            return Err(TextError::new(
                tree.line,
                format!(
                    "split on a feature beyond max_feature_idx={}",
                    header.max_feature_idx
                ),
            ));
        }
    }
    Ok(LgbText { header, trees })
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

type Fields<'a> = HashMap<&'a str, (usize, &'a str)>;

fn read_header(h: &Fields<'_>, last_line: usize) -> Result<LgbHeader, TextError> {
    let get = |key: &str| {
        h.get(key)
            .copied()
            .ok_or_else(|| TextError::new(last_line, format!("header has no `{key}`")))
    };
    let int = |key: &str| -> Result<usize, TextError> {
        let (n, v) = get(key)?;
        v.trim().parse().map_err(|_| {
            TextError::new(
                n,
                format!("`{key}` is not a non-negative integer: `{}`", clip(v)),
            )
        })
    };
    let num_class = int("num_class")?;
    let num_tree_per_iteration = int("num_tree_per_iteration")?;
    if num_class != 1 || num_tree_per_iteration != 1 {
        let (n, _) = get("num_class")?;
        return Err(TextError::new(n, format!("only single-output models are supported (num_class={num_class}, num_tree_per_iteration={num_tree_per_iteration})")));
    }
    let max_feature_idx = int("max_feature_idx")?;
    let split = |key: &str| -> Vec<String> {
        h.get(key)
            .map(|(_, v)| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let feature_names = split("feature_names");
    let feature_infos = split("feature_infos");
    for (key, list) in [
        ("feature_names", &feature_names),
        ("feature_infos", &feature_infos),
    ] {
        if !list.is_empty() && list.len() != max_feature_idx + 1 {
            let (n, _) = get(key)?;
            return Err(TextError::new(
                n,
                format!(
                    "`{key}` has {} entries, max_feature_idx={max_feature_idx}",
                    list.len()
                ),
            ));
        }
    }
    Ok(LgbHeader {
        version: h
            .get("version")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default(),
        num_class,
        num_tree_per_iteration,
        max_feature_idx,
        objective: h.get("objective").map(|(_, v)| v.trim().to_string()),
        average_output: h.contains_key("average_output"),
        feature_names,
        feature_infos,
    })
}

/// Parses a space-separated array of exactly `len` values.
fn array<T: FromStr>(
    fields: &Fields<'_>,
    tree_line: usize,
    key: &str,
    len: usize,
) -> Result<Vec<T>, TextError> {
    let Some(&(n, value)) = fields.get(key) else {
        return Err(TextError::new(tree_line, format!("tree has no `{key}`")));
    };
    let values: Vec<T> = value
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<T>()
                .map_err(|_| TextError::new(n, format!("`{key}`: cannot parse `{}`", clip(s))))
        })
        .collect::<Result<_, _>>()?;
    if values.len() != len {
        return Err(TextError::new(
            n,
            format!("`{key}` has {} values, expected {len}", values.len()),
        ));
    }
    Ok(values)
}

fn scalar<T: FromStr>(fields: &Fields<'_>, tree_line: usize, key: &str) -> Result<T, TextError> {
    let Some(&(n, value)) = fields.get(key) else {
        return Err(TextError::new(tree_line, format!("tree has no `{key}`")));
    };
    value
        .trim()
        .parse()
        .map_err(|_| TextError::new(n, format!("`{key}`: cannot parse `{}`", clip(value))))
}

fn read_tree(line: usize, f: &Fields<'_>) -> Result<LgbTree, TextError> {
    let num_leaves: usize = scalar(f, line, "num_leaves")?;
    if num_leaves == 0 {
        return Err(TextError::new(line, "num_leaves is 0"));
    }
    if f.get("is_linear").is_some_and(|(_, v)| v.trim() != "0") {
        return Err(TextError::new(
            line,
            "linear trees (linear_tree=true) are not supported",
        ));
    }
    let num_cat: usize = scalar(f, line, "num_cat")?;
    let inner = num_leaves - 1;
    let leaf_value: Vec<f64> = array(f, line, "leaf_value", num_leaves)?;
    if leaf_value.iter().any(|v| !v.is_finite()) {
        return Err(TextError::new(line, "non-finite leaf value"));
    }
    // A one-leaf tree (no split possible; typically the init score alone) needs no counts.
    let leaf_count: Vec<u64> = if inner == 0 && !f.contains_key("leaf_count") {
        vec![0]
    } else {
        array(f, line, "leaf_count", num_leaves)?
    };
    let mut tree = LgbTree {
        line,
        num_leaves,
        num_cat,
        split_feature: array(f, line, "split_feature", inner)?,
        threshold: array(f, line, "threshold", inner)?,
        decision_type: array::<i16>(f, line, "decision_type", inner)?
            .into_iter()
            .map(|d| (d & 0xff) as u8)
            .collect(),
        left_child: array(f, line, "left_child", inner)?,
        right_child: array(f, line, "right_child", inner)?,
        leaf_value,
        leaf_count,
        internal_count: array(f, line, "internal_count", inner)?,
        cat_boundaries: Vec::new(),
        cat_threshold: Vec::new(),
    };
    if num_cat > 0 {
        tree.cat_boundaries = array(f, line, "cat_boundaries", num_cat + 1)?;
        let total = tree.cat_boundaries.last().copied().unwrap_or(0);
        tree.cat_threshold = array(f, line, "cat_threshold", total)?;
        if tree.cat_boundaries.first() != Some(&0)
            || tree.cat_boundaries.windows(2).any(|w| w[0] > w[1])
        {
            return Err(TextError::new(
                line,
                "cat_boundaries must start at 0 and not decrease",
            ));
        }
    }
    check_structure(&tree)?;
    Ok(tree)
}

/// Every child index is in range and every node except the root has exactly one parent, so the
/// tree is a tree; categorical splits point at an existing bitset; counts add up (LightGBM's
/// TreeSHAP divides by the parent's count, shap-rs by the sum of the children's: equal only then).
fn check_structure(t: &LgbTree) -> Result<(), TextError> {
    let inner = t.num_leaves - 1;
    let mut internal_parents = vec![0u32; inner];
    let mut leaf_parents = vec![0u32; t.num_leaves];
    let count = |c: i32| -> Option<u64> {
        if c >= 0 {
            t.internal_count.get(usize::try_from(c).ok()?).copied()
        } else {
            t.leaf_count.get(usize::try_from(!c).ok()?).copied()
        }
    };
    for node in 0..inner {
        for c in [t.left_child[node], t.right_child[node]] {
            let slot = if c >= 0 {
                internal_parents.get_mut(c as usize)
            } else {
                leaf_parents.get_mut((!c) as usize)
            };
            match slot {
                Some(p) => *p += 1,
                None => {
                    return Err(TextError::new(
                        t.line,
                        format!("node {node} has an out-of-range child {c}"),
                    ))
                }
            }
        }
        let is_categorical = t.decision_type[node] & 1 == 1;
        if is_categorical {
            let idx = t.threshold[node];
            if idx < 0.0 || idx.fract() != 0.0 || idx as usize >= t.num_cat {
                return Err(TextError::new(
                    t.line,
                    format!("categorical node {node} has an invalid bitset index {idx}"),
                ));
            }
        } else if t.threshold[node].is_nan() || t.threshold[node] == f64::NEG_INFINITY {
            // `+inf` is legitimate: the upper bound of the last bin, used to split NaN from the rest.
            return Err(TextError::new(
                t.line,
                format!("node {node} has an invalid threshold {}", t.threshold[node]),
            ));
        }
        let (Some(l), Some(r)) = (count(t.left_child[node]), count(t.right_child[node])) else {
            return Err(TextError::new(
                t.line,
                format!("node {node}: child counts missing"),
            ));
        };
        if l + r != t.internal_count[node] {
            return Err(TextError::new(
                t.line,
                format!(
                    "node {node}: internal_count {} is not the sum of its children's ({l} + {r})",
                    t.internal_count[node]
                ),
            ));
        }
    }
    let root_ok = inner == 0 || internal_parents[0] == 0;
    if !root_ok
        || internal_parents.iter().skip(1).any(|&p| p != 1)
        || (inner > 0 && leaf_parents.iter().any(|&p| p != 1))
    {
        return Err(TextError::new(t.line, "child indices do not form a tree"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TWO_TREES: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=binary sigmoid:1\nfeature_names=a b\nfeature_infos=[0:1] -1:0:1\ntree_sizes=1 1\n\nTree=0\nnum_leaves=3\nnum_cat=1\nsplit_feature=0 1\nsplit_gain=1 1\nthreshold=0.5 0\ndecision_type=2 1\nleft_child=-1 -2\nright_child=1 -3\nleaf_value=0.1 0.2 0.3\nleaf_weight=1 1 1\nleaf_count=5 3 2\ninternal_value=0 0\ninternal_weight=1 1\ninternal_count=10 5\ncat_boundaries=0 1\ncat_threshold=2\nis_linear=0\nshrinkage=1\n\n\nTree=1\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\ndecision_type=\nleft_child=\nright_child=\nleaf_value=-0.5\nleaf_weight=0\nleaf_count=0\ninternal_value=\ninternal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1\n\n\nend of trees\n\nfeature_importances:\na=1\n";

    #[test]
    fn reads_header_trees_categorical_bitsets_and_one_leaf_trees() {
        let m = parse(TWO_TREES).unwrap();
        assert_eq!(m.header.max_feature_idx, 1);
        assert_eq!(m.header.objective.as_deref(), Some("binary sigmoid:1"));
        assert_eq!(m.header.feature_names, vec!["a", "b"]);
        assert_eq!(m.trees.len(), 2);
        assert_eq!(m.trees[0].decision_type, vec![2, 1]);
        assert_eq!(m.trees[0].cat_threshold, vec![2]);
        assert_eq!(m.trees[1].num_leaves, 1);
        assert_eq!(m.trees[1].leaf_value, vec![-0.5]);
    }

    #[test]
    fn a_wrong_array_length_names_its_line() {
        let bad = TWO_TREES.replace("leaf_value=0.1 0.2 0.3", "leaf_value=0.1 0.2");
        let err = parse(&bad).unwrap_err();
        assert_eq!(err.line, 21, "{err:?}");
        assert!(err.reason.contains("leaf_value"), "{err:?}");
    }

    #[test]
    fn counts_that_do_not_add_up_are_refused() {
        let bad = TWO_TREES.replace("internal_count=10 5", "internal_count=11 5");
        assert!(parse(&bad).unwrap_err().reason.contains("internal_count"));
    }

    #[test]
    fn a_shared_child_is_refused() {
        let bad = TWO_TREES.replace("right_child=1 -3", "right_child=1 -2");
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn truncated_text_is_refused() {
        let cut = &TWO_TREES[..TWO_TREES.find("end of trees").unwrap()];
        assert!(parse(cut).unwrap_err().reason.contains("end of trees"));
        assert!(parse("").is_err());
        assert!(parse("not a model").is_err());
    }
}
