//! Area under the precision–recall curve as average precision (AP), the step-wise definition of
//! scikit-learn's `average_precision_score` (no interpolation).

/// Average precision `AP = Σₖ (Rₖ − Rₖ₋₁) · Pₖ` over the distinct score thresholds taken from the
/// highest score down, where `Pₖ` and `Rₖ` are precision and recall when every row scoring at or
/// above threshold `k` is called positive. Tied scores enter together (one threshold), as in
/// scikit-learn. Its value under random ranking is the event rate, so read it against `events/n`.
///
/// Returns `None` when there is no positive, when the slices differ in length, or when a score is
/// NaN. (With no negative it is 1.)
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let n_pos = labels.iter().filter(|&&l| l).count();
    if n_pos == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut called) = (0usize, 0usize);
    let mut previous_recall = 0.0;
    let mut ap = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if labels[order[j]] {
                tp += 1;
            }
            called += 1;
            j += 1;
        }
        let recall = tp as f64 / n_pos as f64;
        let precision = tp as f64 / called as f64;
        ap += (recall - previous_recall) * precision;
        previous_recall = recall;
        i = j;
    }
    Some(ap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn scikit_learn_documentation_example() {
        // sklearn.metrics.average_precision_score docs: y_true = [0, 0, 1, 1],
        // y_scores = [0.1, 0.4, 0.35, 0.8] → 0.8333… (by hand: 0.5·1 + 0·½ + 0.5·⅔ = 5/6).
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert!(close(ap.expect("positives"), 5.0 / 6.0), "{ap:?}");
    }

    #[test]
    fn ties_enter_as_one_threshold() {
        // All tied: one threshold, recall 1 at precision = event rate (sklearn gives 0.5 too).
        let ap = average_precision(&[0.3; 4], &[true, false, true, false]).expect("positives");
        assert!(close(ap, 0.5), "{ap}");
        // Scores 0.9 (pos), 0.5 (pos, neg tied), 0.1 (neg): 0.5·1 + 0.5·⅔ = 5/6.
        let ap = average_precision(&[0.9, 0.5, 0.5, 0.1], &[true, true, false, false]);
        assert!(close(ap.expect("positives"), 5.0 / 6.0));
    }

    #[test]
    fn perfect_ranking_is_one_and_bad_input_none() {
        assert_eq!(
            average_precision(&[0.9, 0.8, 0.1], &[true, true, false]),
            Some(1.0)
        );
        assert_eq!(average_precision(&[0.9, 0.8], &[false, false]), None);
        assert_eq!(average_precision(&[0.9], &[true, false]), None);
        assert_eq!(average_precision(&[f64::NAN, 0.2], &[true, false]), None);
        assert_eq!(average_precision(&[0.2, 0.3], &[true, true]), Some(1.0));
    }
}
