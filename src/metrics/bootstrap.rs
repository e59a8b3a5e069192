//! Non-parametric bootstrap percentile confidence intervals, deterministic and parallel.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// 95 % percentile bootstrap interval of `statistic` over `n` rows.
///
/// Each replicate `r` draws `n` row indices with replacement from its own `ChaCha8Rng` seeded
/// with `seed` and stream `r`, so results are identical for a given `seed` regardless of thread
/// count or scheduling. `statistic` receives the resampled indices and may return `None` (e.g. a
/// resample with a single class for AUC); such replicates are dropped. The interval is the 2.5th
/// and 97.5th percentiles (linear interpolation between order statistics) of the remaining values.
///
/// Returns `None` when `n == 0`, `replicates == 0`, or fewer than half the replicates produced a
/// value (the interval would be unreliable).
pub fn bootstrap_ci<F>(n: usize, replicates: usize, seed: u64, statistic: F) -> Option<(f64, f64)>
where
    F: Fn(&[usize]) -> Option<f64> + Sync,
{
    if n == 0 || replicates == 0 {
        return None;
    }
    let mut values: Vec<f64> = (0..replicates)
        .into_par_iter()
        .map_init(
            || vec![0usize; n],
            |idx, r| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(r as u64);
                for slot in idx.iter_mut() {
                    *slot = rng.gen_range(0..n);
                }
                statistic(idx).filter(|v| !v.is_nan())
            },
        )
        .collect::<Vec<Option<f64>>>()
        .into_iter()
        .flatten()
        .collect();
    if values.len() * 2 < replicates {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((percentile(&values, 0.025), percentile(&values, 0.975)))
}

/// Percentile of sorted, non-empty `v` with linear interpolation (type 7, as R's default).
fn percentile(v: &[f64], q: f64) -> f64 {
    let h = (v.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_of(data: &[f64]) -> impl Fn(&[usize]) -> Option<f64> + Sync + '_ {
        move |idx: &[usize]| Some(idx.iter().map(|&i| data[i]).sum::<f64>() / idx.len() as f64)
    }

    #[test]
    fn deterministic_given_seed() {
        let data: Vec<f64> = (0..300).map(|i| ((i * 7919) % 101) as f64).collect();
        let a = bootstrap_ci(data.len(), 500, 42, mean_of(&data)).expect("ci");
        let b = bootstrap_ci(data.len(), 500, 42, mean_of(&data)).expect("ci");
        assert_eq!(a, b);
        let c = bootstrap_ci(data.len(), 500, 43, mean_of(&data)).expect("ci");
        assert_ne!(a, c);
    }

    #[test]
    fn mean_interval_matches_normal_theory() {
        // Values 0..=100 uniformly: sd ≈ 29.15; n = 1010 → se ≈ 0.917; 95 % half-width ≈ 1.80.
        let data: Vec<f64> = (0..1010).map(|i| (i % 101) as f64).collect();
        let (lo, hi) = bootstrap_ci(data.len(), 2000, 1, mean_of(&data)).expect("ci");
        assert!(lo < 50.0 && 50.0 < hi, "({lo}, {hi})");
        let half = (hi - lo) / 2.0;
        assert!((half - 1.80).abs() < 0.2, "half width {half}");
    }

    #[test]
    fn none_statistics_dropped_or_reject() {
        assert_eq!(bootstrap_ci(10, 100, 0, |_| None), None);
        assert_eq!(bootstrap_ci(0, 100, 0, |_| Some(1.0)), None);
        assert_eq!(bootstrap_ci(10, 0, 0, |_| Some(1.0)), None);
        assert_eq!(bootstrap_ci(10, 100, 0, |_| Some(1.0)), Some((1.0, 1.0)));
    }

    #[test]
    fn percentile_interpolates() {
        let v = [0.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(percentile(&v, 0.0), 0.0);
        assert_eq!(percentile(&v, 0.5), 20.0);
        assert!((percentile(&v, 0.025) - 1.0).abs() < 1e-12);
        assert_eq!(percentile(&v, 1.0), 40.0);
    }
}
