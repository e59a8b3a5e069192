//! Discrimination (AUC) and overall accuracy (Brier score) of binary predictions.

use super::bootstrap::bootstrap_ci;

/// Area under the ROC curve, computed as the Mann–Whitney U statistic divided by
/// `n_pos · n_neg`: the probability that a random positive scores higher than a random negative,
/// with ties counted ½. Runs in O(n log n) (sort, then mid-ranks over tied groups).
///
/// Returns `None` when either class is empty, when the slices differ in length, or when a score
/// is NaN.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of (1-based, mid-) ranks of the positives.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j share the mid-rank.
        let mid_rank = (i + 1 + j) as f64 / 2.0;
        let pos_in_group = order[i..j].iter().filter(|&&k| labels[k]).count();
        rank_sum_pos += mid_rank * pos_in_group as f64;
        i = j;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    let u = rank_sum_pos - p * (p + 1.0) / 2.0;
    Some(u / (p * n))
}

/// 95 % percentile-bootstrap interval of [`auc`] ([`bootstrap_ci`] with `replicates` and `seed`):
/// exactly the interval of `auc` recomputed on each resample, but each replicate costs O(n) (the
/// rows are sorted once; a resample only counts how often each tie group's positives and
/// negatives were drawn), so it stays usable at a million rows. The U statistic is a sum of
/// integers and halves, exact in `f64`, so the result is bit-identical to sorting each resample.
///
/// Returns `None` when [`auc`] does (either class empty, lengths differ, a NaN score) or when
/// [`bootstrap_ci`] does.
pub fn auc_bootstrap_ci(
    scores: &[f64],
    labels: &[bool],
    replicates: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    auc(scores, labels)?;
    let n = scores.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Tie group of each row, groups numbered in ascending score order.
    let mut group_of = vec![0u32; n];
    let mut groups = 0u32;
    for (k, &row) in order.iter().enumerate() {
        if k > 0 && scores[row] != scores[order[k - 1]] {
            groups += 1;
        }
        group_of[row] = groups;
    }
    let groups = groups as usize + 1;
    bootstrap_ci(n, replicates, seed, |idx| {
        let mut pos = vec![0u32; groups];
        let mut neg = vec![0u32; groups];
        for &i in idx {
            let g = group_of[i] as usize;
            if labels[i] {
                pos[g] += 1;
            } else {
                neg[g] += 1;
            }
        }
        let (mut u, mut below, mut n_pos) = (0.0f64, 0.0f64, 0.0f64);
        for (&p, &q) in pos.iter().zip(&neg) {
            let (p, q) = (f64::from(p), f64::from(q));
            u += p * (below + 0.5 * q);
            below += q;
            n_pos += p;
        }
        (n_pos > 0.0 && below > 0.0).then(|| u / (n_pos * below))
    })
}

/// Brier score: mean of `(p − y)²` with `y ∈ {0, 1}`. Lower is better; 0 is perfect.
///
/// Returns NaN for empty input. Only the common prefix is used if lengths differ.
pub fn brier(probs: &[f64], labels: &[bool]) -> f64 {
    let n = probs.len().min(labels.len());
    if n == 0 {
        return f64::NAN;
    }
    let sum: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let d = p - if y { 1.0 } else { 0.0 };
            d * d
        })
        .sum();
    sum / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Brute-force O(n²) pairwise AUC for cross-checking.
    fn auc_pairs(s: &[f64], l: &[bool]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..s.len() {
            for j in 0..s.len() {
                if l[i] && !l[j] {
                    den += 1.0;
                    if s[i] > s[j] {
                        num += 1.0;
                    } else if s[i] == s[j] {
                        num += 0.5;
                    }
                }
            }
        }
        num / den
    }

    #[test]
    fn perfect_reversed_and_tied() {
        let l = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &l), Some(1.0));
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &l), Some(0.0));
        assert_eq!(auc(&[0.5, 0.5, 0.5, 0.5], &l), Some(0.5));
    }

    #[test]
    fn hand_computed_example() {
        // Positives: 0.8, 0.4; negatives: 0.5, 0.4, 0.1.
        // Pairs: 0.8 beats all 3 (3); 0.4 beats 0.1 (1), ties 0.4 (0.5), loses to 0.5 (0).
        // AUC = 4.5 / 6 = 0.75.
        let s = [0.8, 0.5, 0.4, 0.4, 0.1];
        let l = [true, false, true, false, false];
        let a = auc(&s, &l).expect("both classes");
        assert!(close(a, 0.75), "{a}");
    }

    #[test]
    fn matches_brute_force_with_many_ties() {
        let s: Vec<f64> = (0..200).map(|i| ((i * 37) % 11) as f64).collect();
        let l: Vec<bool> = (0..200).map(|i| (i * 13) % 7 < 3).collect();
        let a = auc(&s, &l).expect("both classes");
        assert!(close(a, auc_pairs(&s, &l)));
    }

    #[test]
    fn empty_class_or_bad_input_is_none() {
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(auc(&[], &[]), None);
        assert_eq!(auc(&[0.1], &[true, false]), None);
        assert_eq!(auc(&[f64::NAN, 0.2], &[true, false]), None);
    }

    #[test]
    fn fast_bootstrap_equals_sorting_each_resample() {
        let s: Vec<f64> = (0..300).map(|i| ((i * 37) % 23) as f64 / 23.0).collect();
        let l: Vec<bool> = (0..300).map(|i| (i * 13) % 7 < 2).collect();
        let fast = auc_bootstrap_ci(&s, &l, 200, 5).expect("ci");
        let slow = bootstrap_ci(s.len(), 200, 5, |idx| {
            let (a, b): (Vec<f64>, Vec<bool>) = idx.iter().map(|&i| (s[i], l[i])).unzip();
            auc(&a, &b)
        })
        .expect("ci");
        assert_eq!(fast, slow);
        assert!(fast.0 < auc(&s, &l).expect("auc") && auc(&s, &l).expect("auc") < fast.1);
        assert_eq!(auc_bootstrap_ci(&[0.1, 0.2], &[true, true], 100, 1), None);
    }

    #[test]
    fn brier_hand_examples() {
        assert!(close(brier(&[1.0, 0.0], &[true, false]), 0.0));
        assert!(close(brier(&[0.0, 1.0], &[true, false]), 1.0));
        // (0.2-0)² + (0.6-1)² = 0.04 + 0.16 = 0.2; /2 = 0.1
        assert!(close(brier(&[0.2, 0.6], &[false, true]), 0.1));
        assert!(brier(&[], &[]).is_nan());
    }
}
