//! The training distribution of a model set (`training_distribution.json`): for every dictionary
//! input, how often it was missing and how its values were spread over every row of the data file
//! the set was trained on. Serving reads it for "what would sharpen the estimate" (the plausible
//! values of a missing input, [`TrainingDistribution::plausible_values`]) and drift monitoring
//! (missing rates, decile bins and level counts to compare live inputs against).
//!
//! Values are the inputs as recorded in the data file, before any derivation (a missing BMI stays
//! missing here even when height and weight are present).
//!
//! Quantiles are Hyndman & Fan type 7 (linear interpolation between the closest order statistics:
//! R's default, NumPy's `linear`), written out here because it is one formula over a sorted slice.
//! Decile bin edges are observed values instead (type 1, the inverted empirical CDF), so no bin of
//! the training data is empty.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::features::dictionary::{feature_index, DICTIONARY_VERSION};
use crate::features::{FeatureKind, Patient, FEATURES};

/// Format version of `training_distribution.json`.
pub const TRAINING_DISTRIBUTION_FORMAT: u32 = 1;

/// File name of the distribution, at the top of the set directory.
pub const TRAINING_DISTRIBUTION_FILE: &str = "training_distribution.json";

/// The quantile method recorded in the file (see the module doc).
pub const QUANTILE_METHOD: &str = "hyndman_fan_7";

/// Share of the non-missing training rows a boolean or enum level needs to be a plausible value.
pub const PLAUSIBLE_LEVEL_SHARE: f64 = 0.01;

/// Significant digits of the plausible values of number features: as precise as these inputs are
/// reported (albumin 3.9 g/dL, INR 1.05, platelets 245 10^9/L, bone density 142 HU).
pub const PLAUSIBLE_SIGNIFICANT_DIGITS: usize = 3;

/// Levels of a boolean feature as recorded in the file (CSV `0`/`1`, JSON `false`/`true`).
const BOOLEAN_LEVELS: &[&str] = &["false", "true"];

/// `training_distribution.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingDistribution {
    pub format: u32,
    pub dictionary_version: String,
    /// SHA-256 of the data file it was computed from: `training_data.sha256` of `model_set.json`.
    pub training_data_sha256: String,
    /// Rows of the data file.
    pub rows: usize,
    /// [`QUANTILE_METHOD`].
    pub quantile_method: String,
    /// Every dictionary input, in dictionary order.
    pub features: Vec<FeatureDistribution>,
}

/// One input's distribution over the training rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureDistribution {
    pub name: String,
    /// Training rows (every row, missing or not).
    pub rows: usize,
    /// Rows where the input was missing.
    pub missing: usize,
    /// `missing / rows`.
    pub missing_rate: f64,
    pub values: Values,
}

/// The non-missing values, by the feature's dictionary kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Values {
    /// `summary` is `None` when every row was missing.
    Number { summary: Option<NumericSummary> },
    /// As `Number`, for whole-number inputs.
    Integer { summary: Option<NumericSummary> },
    /// Counts of `false` and `true`, in that order.
    Boolean { levels: Vec<LevelCount> },
    /// Counts of every dictionary level (zero counts included), in dictionary order.
    Enum { levels: Vec<LevelCount> },
}

/// Summary of a number or integer input's non-missing values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NumericSummary {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub quantiles: Quantiles,
    pub deciles: DecileBins,
}

/// Type-7 quantiles (see the module doc).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Quantiles {
    pub p1: f64,
    pub p5: f64,
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Quantiles {
    /// `(probability, value)` pairs in increasing order.
    pub fn pairs(&self) -> [(f64, f64); 9] {
        [
            (0.01, self.p1),
            (0.05, self.p5),
            (0.10, self.p10),
            (0.25, self.p25),
            (0.50, self.p50),
            (0.75, self.p75),
            (0.90, self.p90),
            (0.95, self.p95),
            (0.99, self.p99),
        ]
    }
}

/// Decile bins of the training values, for population-stability comparisons.
///
/// `lower_edges` are the distinct values among the minimum and the type-1 10th, 20th, …, 90th
/// percentiles, strictly increasing (fewer than ten bins when deciles coincide, as for integers
/// with few values). Bin `i` holds `lower_edges[i] <= v < lower_edges[i + 1]`; the last bin holds
/// every `v >= ` its lower edge. [`DecileBins::bin_of`] extends the first bin downwards for values
/// below the training minimum, so every live value falls into a bin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DecileBins {
    pub lower_edges: Vec<f64>,
    /// Training rows per bin; sums to the non-missing rows.
    pub counts: Vec<usize>,
}

impl DecileBins {
    /// Index of the bin `v` falls into (see the type doc).
    pub fn bin_of(&self, v: f64) -> usize {
        bin_index(&self.lower_edges, v)
    }
}

/// Rows with one level of a boolean or enum input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LevelCount {
    /// The enum level, or `false`/`true` for booleans.
    pub level: String,
    pub count: usize,
}

/// Why a distribution could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DistributionError {
    /// The data had no rows: no distribution to describe.
    #[error("the training data has no rows: no distribution to record")]
    NoRows,
}

impl TrainingDistribution {
    /// The distribution of every dictionary input over `patients` (every training row).
    ///
    /// # Errors
    /// [`DistributionError::NoRows`] when `patients` is empty.
    pub fn compute<'a>(
        patients: impl IntoIterator<Item = &'a Patient>,
        training_data_sha256: &str,
    ) -> Result<Self, DistributionError> {
        let mut columns: Vec<Vec<f64>> = vec![Vec::new(); FEATURES.len()];
        let mut rows = 0;
        for patient in patients {
            rows += 1;
            for (i, column) in columns.iter_mut().enumerate() {
                if let Some(v) = patient.value(i) {
                    column.push(v);
                }
            }
        }
        if rows == 0 {
            return Err(DistributionError::NoRows);
        }
        let features = FEATURES
            .iter()
            .zip(columns)
            .map(|(spec, mut column)| {
                let missing = rows - column.len();
                let values = match spec.kind {
                    FeatureKind::Number { .. } => Values::Number {
                        summary: numeric_summary(&mut column),
                    },
                    FeatureKind::Integer { .. } => Values::Integer {
                        summary: numeric_summary(&mut column),
                    },
                    FeatureKind::Boolean => Values::Boolean {
                        levels: level_counts(BOOLEAN_LEVELS, &column),
                    },
                    FeatureKind::Enum { levels, .. } => Values::Enum {
                        levels: level_counts(levels, &column),
                    },
                };
                FeatureDistribution {
                    name: spec.name.to_string(),
                    rows,
                    missing,
                    missing_rate: missing as f64 / rows as f64,
                    values,
                }
            })
            .collect();
        Ok(Self {
            format: TRAINING_DISTRIBUTION_FORMAT,
            dictionary_version: DICTIONARY_VERSION.to_string(),
            training_data_sha256: training_data_sha256.to_string(),
            rows,
            quantile_method: QUANTILE_METHOD.to_string(),
            features,
        })
    }

    /// The file's text: pretty JSON with a final newline (the bytes whose SHA-256 the set records).
    pub fn to_file_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// One input's distribution, `None` for a name not in the file.
    pub fn feature(&self, name: &str) -> Option<&FeatureDistribution> {
        self.features.iter().find(|f| f.name == name)
    }

    /// Values a missing input plausibly takes, as JSON valid for `Patient::from_json`:
    ///
    /// - numbers: the distinct values of the 5th, 25th, 50th, 75th and 95th percentiles, rounded
    ///   to [`PLAUSIBLE_SIGNIFICANT_DIGITS`] significant digits (kept unrounded in the rare case
    ///   rounding would leave the dictionary range);
    /// - integers: the same percentiles rounded to the nearest whole number, as JSON integers;
    /// - booleans and enums: every level observed in at least [`PLAUSIBLE_LEVEL_SHARE`] of the
    ///   non-missing rows, in dictionary order, as JSON booleans or level strings.
    ///
    /// `None` when the feature is unknown or no training row had a value.
    pub fn plausible_values(&self, feature: &str) -> Option<Vec<Value>> {
        let spec = FEATURES.get(feature_index(feature)?)?;
        let values = match (&self.feature(feature)?.values, spec.kind) {
            (Values::Number { summary: Some(s) }, FeatureKind::Number { min, max }) => {
                let mut out: Vec<f64> = Vec::new();
                for q in middle_quantiles(&s.quantiles) {
                    let r = round_significant(q, PLAUSIBLE_SIGNIFICANT_DIGITS);
                    let v = if (min..=max).contains(&r) { r } else { q };
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                out.into_iter().map(Value::from).collect()
            }
            (Values::Integer { summary: Some(s) }, FeatureKind::Integer { min, max }) => {
                let mut out: Vec<i64> = Vec::new();
                for q in middle_quantiles(&s.quantiles) {
                    // Quantiles lie within the training min and max, themselves whole numbers in
                    // the dictionary range, so the rounded value is too; checked all the same.
                    let v = q.round() as i64;
                    if (min..=max).contains(&v) && !out.contains(&v) {
                        out.push(v);
                    }
                }
                out.into_iter().map(Value::from).collect()
            }
            (Values::Boolean { levels }, FeatureKind::Boolean) => common_levels(levels)
                .map(|l| Value::Bool(l == "true"))
                .collect(),
            (Values::Enum { levels }, FeatureKind::Enum { .. }) => common_levels(levels)
                .map(|l| Value::String(l.to_string()))
                .collect(),
            _ => Vec::new(),
        };
        (!values.is_empty()).then_some(values)
    }

    /// Checks the file against this build's dictionary and against itself (counts add up,
    /// quantiles ordered and within the dictionary range, bins well-formed), so a loaded
    /// distribution can be trusted by its readers.
    ///
    /// # Errors
    /// The first inconsistency, naming the feature and the field.
    pub fn check(&self) -> Result<(), String> {
        if self.format != TRAINING_DISTRIBUTION_FORMAT {
            return Err(format!(
                "format {} is not supported (expected {TRAINING_DISTRIBUTION_FORMAT})",
                self.format
            ));
        }
        if self.quantile_method != QUANTILE_METHOD {
            return Err(format!(
                "quantile_method `{}` is not supported (expected `{QUANTILE_METHOD}`)",
                self.quantile_method
            ));
        }
        let names: Vec<&str> = self.features.iter().map(|f| f.name.as_str()).collect();
        let expected: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
        if names != expected {
            return Err(format!(
                "features must be the {} dictionary inputs in dictionary order; the file lists {} \
                 (first difference: {})",
                expected.len(),
                names.len(),
                names
                    .iter()
                    .zip(&expected)
                    .find(|(a, b)| a != b)
                    .map_or_else(
                        || "one list is longer".to_string(),
                        |(a, b)| format!("`{a}` where `{b}` was expected")
                    )
            ));
        }
        for (f, spec) in self.features.iter().zip(FEATURES) {
            check_feature(f, spec.kind, self.rows).map_err(|e| format!("{}: {e}", f.name))?;
        }
        Ok(())
    }
}

fn check_feature(f: &FeatureDistribution, kind: FeatureKind, rows: usize) -> Result<(), String> {
    if f.rows != rows {
        return Err(format!("rows {} differ from the file's {rows}", f.rows));
    }
    if f.missing > f.rows {
        return Err(format!("missing {} exceeds rows {}", f.missing, f.rows));
    }
    let present = f.rows - f.missing;
    match (&f.values, kind) {
        (Values::Number { summary }, FeatureKind::Number { min, max }) => {
            check_summary(summary.as_ref(), present, min, max)
        }
        (Values::Integer { summary }, FeatureKind::Integer { min, max }) => {
            check_summary(summary.as_ref(), present, min as f64, max as f64)
        }
        (Values::Boolean { levels }, FeatureKind::Boolean) => {
            check_levels(levels, BOOLEAN_LEVELS, present)
        }
        (Values::Enum { levels }, FeatureKind::Enum { levels: dict, .. }) => {
            check_levels(levels, dict, present)
        }
        (values, kind) => Err(format!(
            "values are recorded as {} but the dictionary kind is {kind:?}",
            match values {
                Values::Number { .. } => "number",
                Values::Integer { .. } => "integer",
                Values::Boolean { .. } => "boolean",
                Values::Enum { .. } => "enum",
            }
        )),
    }
}

fn check_summary(
    summary: Option<&NumericSummary>,
    present: usize,
    min: f64,
    max: f64,
) -> Result<(), String> {
    let Some(s) = summary else {
        return if present == 0 {
            Ok(())
        } else {
            Err(format!("no summary for {present} non-missing rows"))
        };
    };
    if present == 0 {
        return Err("a summary although every row is missing".to_string());
    }
    let mut ordered = vec![s.min];
    ordered.extend(s.quantiles.pairs().iter().map(|&(_, q)| q));
    ordered.push(s.max);
    if ordered.iter().any(|v| !v.is_finite()) || ordered.windows(2).any(|w| w[0] > w[1]) {
        return Err("min <= p1 <= ... <= p99 <= max does not hold".to_string());
    }
    if s.min < min || s.max > max {
        return Err(format!(
            "values {}..={} leave the dictionary range {min}..={max}",
            s.min, s.max
        ));
    }
    if !(s.min..=s.max).contains(&s.mean) {
        return Err(format!("mean {} is outside min..=max", s.mean));
    }
    let d = &s.deciles;
    if d.lower_edges.first() != Some(&s.min)
        || d.lower_edges.windows(2).any(|w| w[0] >= w[1])
        || d.lower_edges.last().is_some_and(|&e| e > s.max)
    {
        return Err(
            "deciles.lower_edges must start at min and increase strictly up to max".to_string(),
        );
    }
    if d.counts.len() != d.lower_edges.len() || d.counts.iter().sum::<usize>() != present {
        return Err(format!(
            "deciles.counts must have one count per edge and sum to the {present} non-missing rows"
        ));
    }
    Ok(())
}

fn check_levels(levels: &[LevelCount], expected: &[&str], present: usize) -> Result<(), String> {
    if !levels
        .iter()
        .map(|l| l.level.as_str())
        .eq(expected.iter().copied())
    {
        return Err(format!(
            "levels must be {} in that order",
            expected.join(", ")
        ));
    }
    let sum: usize = levels.iter().map(|l| l.count).sum();
    if sum != present {
        return Err(format!(
            "level counts sum to {sum}, not to the {present} non-missing rows"
        ));
    }
    Ok(())
}

/// Summary of one column (sorted in place); `None` when it is empty.
fn numeric_summary(column: &mut [f64]) -> Option<NumericSummary> {
    column.sort_by(f64::total_cmp);
    let (&min, &max) = (column.first()?, column.last()?);
    let mean = column.iter().sum::<f64>() / column.len() as f64;
    let q = |p| quantile_type7(column, p);
    let quantiles = Quantiles {
        p1: q(0.01),
        p5: q(0.05),
        p10: q(0.10),
        p25: q(0.25),
        p50: q(0.50),
        p75: q(0.75),
        p90: q(0.90),
        p95: q(0.95),
        p99: q(0.99),
    };
    let mut lower_edges = vec![min];
    for k in 1..10 {
        let edge = decile_type1(column, k);
        if lower_edges.last().is_some_and(|&last| edge > last) {
            lower_edges.push(edge);
        }
    }
    let mut counts = vec![0; lower_edges.len()];
    for &v in column.iter() {
        counts[bin_index(&lower_edges, v)] += 1;
    }
    Some(NumericSummary {
        min,
        max,
        // Rounding of the sum can put the mean of identical values a hair outside min..=max.
        mean: mean.clamp(min, max),
        quantiles,
        deciles: DecileBins {
            lower_edges,
            counts,
        },
    })
}

/// The bin of `v` among strictly increasing lower edges (the first bin extends downwards).
fn bin_index(lower_edges: &[f64], v: f64) -> usize {
    lower_edges.partition_point(|&e| e <= v).saturating_sub(1)
}

/// Hyndman & Fan type 7 quantile of a sorted, non-empty slice: with `h = (n - 1) p`, the value
/// `x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋ + 1] - x[⌊h⌋])` (0-based).
fn quantile_type7(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The `k`-th decile of a sorted, non-empty slice as an observed value (type 1: the smallest `x`
/// with at least `k n / 10` values `<= x`), in integer arithmetic.
fn decile_type1(sorted: &[f64], k: usize) -> f64 {
    let rank = (k * sorted.len()).div_ceil(10).max(1);
    sorted[rank - 1]
}

fn middle_quantiles(q: &Quantiles) -> [f64; 5] {
    [q.p5, q.p25, q.p50, q.p75, q.p95]
}

/// Levels with at least [`PLAUSIBLE_LEVEL_SHARE`] of the non-missing rows (and at least one row).
fn common_levels(levels: &[LevelCount]) -> impl Iterator<Item = &str> {
    let present: usize = levels.iter().map(|l| l.count).sum();
    levels
        .iter()
        .filter(move |l| l.count > 0 && l.count as f64 >= PLAUSIBLE_LEVEL_SHARE * present as f64)
        .map(|l| l.level.as_str())
}

/// `v` to `digits` significant digits, through its decimal text so the result is the double
/// nearest the rounded decimal (3.9, not 3.9000000000000004).
fn round_significant(v: f64, digits: usize) -> f64 {
    format!("{v:.prec$e}", prec = digits.saturating_sub(1))
        .parse()
        .unwrap_or(v)
}

fn level_counts(levels: &[&str], column: &[f64]) -> Vec<LevelCount> {
    let mut counts = vec![0usize; levels.len()];
    for &v in column {
        // Validated patients hold level indices (booleans 0/1) only.
        if let Some(c) = counts.get_mut(v as usize) {
            *c += 1;
        }
    }
    levels
        .iter()
        .zip(counts)
        .map(|(level, count)| LevelCount {
            level: (*level).to_string(),
            count,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patient(fields: Value) -> Patient {
        Patient::from_json(fields.as_object().unwrap()).unwrap()
    }

    /// Five rows, by hand: ages 40..80, albumin 3.0..4.5 with one missing, ASA 1, 2, 2, 3 and one
    /// missing, smoking never ×3 + current with one missing, hypertension 2 × false, 2 × true.
    fn five() -> Vec<Patient> {
        let base = |age: u32, sex: &str, procedure: &str| json!({"age_years": age, "sex": sex, "procedure": procedure});
        let mut rows = vec![
            base(40, "female", "lumbar_fusion"),
            base(50, "male", "lumbar_fusion"),
            base(60, "female", "acdf"),
            base(70, "male", "acdf"),
            base(80, "female", "lumbar_discectomy"),
        ];
        let set = |rows: &mut Vec<Value>, name: &str, values: [Value; 5]| {
            for (row, v) in rows.iter_mut().zip(values) {
                if !v.is_null() {
                    row[name] = v;
                }
            }
        };
        set(
            &mut rows,
            "albumin_g_dl",
            [json!(3.0), json!(3.5), json!(4.0), json!(4.5), Value::Null],
        );
        set(
            &mut rows,
            "smoking_status",
            [
                json!("never"),
                json!("never"),
                json!("current"),
                Value::Null,
                json!("never"),
            ],
        );
        set(
            &mut rows,
            "asa_class",
            [json!(1), json!(2), json!(2), json!(3), Value::Null],
        );
        set(
            &mut rows,
            "hypertension",
            [
                json!(false),
                json!(true),
                Value::Null,
                json!(true),
                json!(false),
            ],
        );
        rows.into_iter().map(patient).collect()
    }

    fn summary(d: &TrainingDistribution, name: &str) -> NumericSummary {
        match &d.feature(name).unwrap().values {
            Values::Number { summary } | Values::Integer { summary } => summary.clone().unwrap(),
            other => panic!("{name}: {other:?}"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn levels(d: &TrainingDistribution, name: &str) -> Vec<(String, usize)> {
        match &d.feature(name).unwrap().values {
            Values::Boolean { levels } | Values::Enum { levels } => {
                levels.iter().map(|l| (l.level.clone(), l.count)).collect()
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn a_hand_made_dataset_has_the_hand_computed_distribution() {
        let d = TrainingDistribution::compute(&five(), "abc").unwrap();
        d.check().unwrap();
        assert_eq!((d.rows, d.training_data_sha256.as_str()), (5, "abc"));
        assert_eq!(d.features.len(), FEATURES.len());

        // Ages 40, 50, 60, 70, 80: h = 4p, so p1 = 40 + 0.04 × 10, p90 = 70 + 0.6 × 10, ...
        let age = summary(&d, "age_years");
        assert_eq!((age.min, age.max), (40.0, 80.0));
        assert!(close(age.mean, 60.0));
        let expected = [40.4, 42.0, 44.0, 50.0, 60.0, 70.0, 76.0, 78.0, 79.6];
        for ((p, got), want) in age.quantiles.pairs().iter().zip(expected) {
            assert!(close(*got, want), "age p{p}: {got} != {want}");
        }
        // Type-1 deciles of 5 values: ranks 1,1,2,2,3,3,4,4,5 -> every value is an edge.
        assert_eq!(age.deciles.lower_edges, vec![40.0, 50.0, 60.0, 70.0, 80.0]);
        assert_eq!(age.deciles.counts, vec![1, 1, 1, 1, 1]);

        // Albumin 3.0, 3.5, 4.0, 4.5 and one missing: h = 3p.
        let f = d.feature("albumin_g_dl").unwrap();
        assert_eq!((f.rows, f.missing), (5, 1));
        assert!(close(f.missing_rate, 0.2));
        let alb = summary(&d, "albumin_g_dl");
        assert!(close(alb.mean, 3.75));
        let expected = [3.015, 3.075, 3.15, 3.375, 3.75, 4.125, 4.35, 4.425, 4.485];
        for ((p, got), want) in alb.quantiles.pairs().iter().zip(expected) {
            assert!(close(*got, want), "albumin p{p}: {got} != {want}");
        }
        assert_eq!(alb.deciles.lower_edges, vec![3.0, 3.5, 4.0, 4.5]);

        // ASA 1, 2, 2, 3: type-1 deciles 1,1,2,2,2,2,2,3,3 -> edges 1, 2, 3.
        let asa = summary(&d, "asa_class");
        assert_eq!(asa.deciles.lower_edges, vec![1.0, 2.0, 3.0]);
        assert_eq!(asa.deciles.counts, vec![1, 2, 1]);
        assert!(close(asa.quantiles.p25, 1.75) && close(asa.quantiles.p75, 2.25));

        let s = |v: &[(&str, usize)]| {
            v.iter()
                .map(|(l, c)| (l.to_string(), *c))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            levels(&d, "smoking_status"),
            s(&[("never", 3), ("former", 0), ("current", 1)])
        );
        assert_eq!(d.feature("smoking_status").unwrap().missing, 1);
        assert_eq!(levels(&d, "hypertension"), s(&[("false", 2), ("true", 2)]));
        assert_eq!(levels(&d, "sex"), s(&[("female", 3), ("male", 2)]));
        let never_recorded = d.feature("d_dimer_mg_l_feu").unwrap();
        assert_eq!(never_recorded.missing, 5);
        assert_eq!(never_recorded.values, Values::Number { summary: None });
    }

    #[test]
    fn plausible_values_are_rounded_middle_quantiles_and_common_levels() {
        let d = TrainingDistribution::compute(&five(), "abc").unwrap();
        // p5, p25, p50, p75, p95 of the ages: 42, 50, 60, 70, 77.99999999999999 -> 78.
        assert_eq!(
            d.plausible_values("age_years"),
            Some(vec![
                json!(42.0),
                json!(50.0),
                json!(60.0),
                json!(70.0),
                json!(78.0)
            ])
        );
        // ASA quantiles 1.15, 1.75, 2, 2.25, 2.85 -> whole numbers 1, 2, 3 as JSON integers.
        assert_eq!(
            d.plausible_values("asa_class"),
            Some(vec![json!(1), json!(2), json!(3)])
        );
        // `former` was never observed.
        assert_eq!(
            d.plausible_values("smoking_status"),
            Some(vec![json!("never"), json!("current")])
        );
        assert_eq!(
            d.plausible_values("hypertension"),
            Some(vec![json!(false), json!(true)])
        );
        assert_eq!(
            d.plausible_values("d_dimer_mg_l_feu"),
            None,
            "never recorded"
        );
        assert_eq!(d.plausible_values("no_such_feature"), None);
    }

    #[test]
    fn a_level_needs_one_percent_of_the_non_missing_rows() {
        // 200 rows with a value: `former` in 2 (1 %) is plausible, `current` in 1 (0.5 %) is not.
        let mut rows = Vec::new();
        for i in 0..210 {
            let mut p = json!({"age_years": 50, "sex": "male", "procedure": "acdf"});
            let level = match i {
                0 | 1 => Some("former"),
                2 => Some("current"),
                200.. => None,
                _ => Some("never"),
            };
            if let Some(level) = level {
                p["smoking_status"] = json!(level);
            }
            rows.push(patient(p));
        }
        let d = TrainingDistribution::compute(&rows, "x").unwrap();
        assert_eq!(
            d.plausible_values("smoking_status"),
            Some(vec![json!("never"), json!("former")])
        );
        // One value only: one plausible value.
        assert_eq!(d.plausible_values("age_years"), Some(vec![json!(50.0)]));
    }

    #[test]
    fn numbers_are_rounded_to_three_significant_digits() {
        assert_eq!(round_significant(3.8734, 3), 3.87);
        assert_eq!(round_significant(0.43218, 3), 0.432);
        assert_eq!(round_significant(245.6, 3), 246.0);
        assert_eq!(round_significant(1234.5, 3), 1230.0);
        assert_eq!(round_significant(-12.345, 3), -12.3);
        assert_eq!(round_significant(0.0, 3), 0.0);
    }

    #[test]
    fn bins_extend_to_values_outside_the_training_range() {
        let bins = DecileBins {
            lower_edges: vec![1.0, 2.0, 3.0],
            counts: vec![1, 2, 1],
        };
        assert_eq!(
            [0.0, 1.0, 1.5, 2.0, 2.99, 3.0, 9.0].map(|v| bins.bin_of(v)),
            [0, 0, 0, 1, 1, 2, 2]
        );
    }

    #[test]
    fn the_file_round_trips_and_inconsistent_files_fail_the_check() {
        let d = TrainingDistribution::compute(&five(), "abc").unwrap();
        let back: TrainingDistribution = serde_json::from_str(&d.to_file_text()).unwrap();
        assert_eq!(back, d);

        let mut bad = d.clone();
        bad.features[idx_of("smoking_status")].missing = 2;
        let e = bad.check().unwrap_err();
        assert!(
            e.starts_with("smoking_status:") && e.contains("sum to 4"),
            "{e}"
        );

        let mut bad = d.clone();
        if let Values::Number { summary: Some(s) } =
            &mut bad.features[idx_of("albumin_g_dl")].values
        {
            s.quantiles.p50 = 9.0;
        }
        assert!(bad.check().unwrap_err().starts_with("albumin_g_dl:"));

        let mut bad = d.clone();
        bad.features[idx_of("sex")].values = Values::Boolean { levels: Vec::new() };
        assert!(bad.check().unwrap_err().contains("dictionary kind"));

        let mut bad = d;
        bad.features.swap(0, 1);
        assert!(bad.check().unwrap_err().contains("dictionary order"));
    }

    #[test]
    fn no_rows_is_an_error() {
        assert_eq!(
            TrainingDistribution::compute(&[], "x"),
            Err(DistributionError::NoRows)
        );
    }

    fn idx_of(name: &str) -> usize {
        feature_index(name).unwrap()
    }
}
