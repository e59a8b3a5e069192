//! Deterministic train/validation split: a seeded shuffle of the row indices, so the same data and
//! seed always hold out the same rows.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Splits `indices` into (train, validation) with `fraction` held out for validation.
pub fn train_validation(indices: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut shuffled = indices.to_vec();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_valid = ((indices.len() as f64) * fraction).round() as usize;
    let mut valid = shuffled.split_off(indices.len() - n_valid);
    let mut train = shuffled;
    train.sort_unstable();
    valid.sort_unstable();
    (train, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_a_deterministic_partition() {
        let idx: Vec<usize> = (0..100).collect();
        let (t, v) = train_validation(&idx, 0.2, 7);
        assert_eq!(v.len(), 20);
        assert_eq!(t.len(), 80);
        assert!(t.iter().all(|i| !v.contains(i)));
        assert_eq!(train_validation(&idx, 0.2, 7), (t, v.clone()));
        assert_ne!(train_validation(&idx, 0.2, 8).1, v);
    }
}
