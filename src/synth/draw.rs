//! Seeded random streams and the elementary draws of the cohort model (`N`, `LN`, Bernoulli,
//! categorical).
//!
//! Each row owns independent ChaCha8 streams derived from `(seed, row)`, so rows can be generated
//! in any order or in parallel and still give the same values. Normals use Box–Muller with `libm`
//! (not a platform-dependent sampler), keeping the output identical on every machine.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::math::{exp, ln};

/// What a stream is used for; each purpose and row gets its own ChaCha8 stream.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    /// Cohort-wide draws made first from the seed: the site offsets.
    Cohort,
    /// One row's preoperative features, outcomes and missingness.
    Row(u64),
    /// One row's Monte Carlo draws for the truth columns.
    Truth(u64),
}

impl Purpose {
    fn stream(self) -> u64 {
        const ROW: u64 = 1 << 62;
        const TRUTH: u64 = 2 << 62;
        match self {
            Self::Cohort => 0,
            Self::Row(row) => ROW | (row & (ROW - 1)),
            Self::Truth(row) => TRUTH | (row & (ROW - 1)),
        }
    }
}

/// A seeded random stream with the draws the specification uses.
#[derive(Debug, Clone)]
pub struct Stream(ChaCha8Rng);

impl Stream {
    /// The stream of `purpose` under `seed`.
    pub fn new(seed: u64, purpose: Purpose) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(purpose.stream());
        Self(rng)
    }

    /// `U(0, 1)`, 53 random bits in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.0.gen::<f64>()
    }

    /// `N(0, 1)` by Box–Muller (one value per pair of uniforms).
    pub fn std_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
        let u2 = self.uniform();
        libm::sqrt(-2.0 * ln(u1)) * libm::cos(std::f64::consts::TAU * u2)
    }

    /// `N(m, s)`.
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        mean + sd * self.std_normal()
    }

    /// `LN(m, s) = exp(N(m, s))`.
    pub fn lognormal(&mut self, mean: f64, sd: f64) -> f64 {
        exp(self.normal(mean, sd))
    }

    /// `true` with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// An index drawn with the given probabilities (which sum to 1; the last level takes any
    /// rounding remainder).
    pub fn categorical(&mut self, probabilities: &[f64]) -> usize {
        let u = self.uniform();
        let mut cumulative = 0.0;
        for (i, p) in probabilities.iter().enumerate() {
            cumulative += p;
            if u < cumulative {
                return i;
            }
        }
        probabilities.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<f64> = (0..4)
            .map(|_| Stream::new(7, Purpose::Row(3)).uniform())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut row = Stream::new(7, Purpose::Row(3));
        let mut truth = Stream::new(7, Purpose::Truth(3));
        let mut other = Stream::new(7, Purpose::Row(4));
        let x = row.uniform();
        assert_ne!(x, truth.uniform());
        assert_ne!(x, other.uniform());
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut s = Stream::new(1, Purpose::Cohort);
        let draws: Vec<f64> = (0..20_000).map(|_| s.std_normal()).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / draws.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.04,
            "{mean} {var}"
        );
    }

    #[test]
    fn categorical_follows_the_probabilities() {
        let mut s = Stream::new(2, Purpose::Cohort);
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[s.categorical(&[0.2, 0.5, 0.3])] += 1;
        }
        assert!(
            (counts[1] as f64 / 30_000.0 - 0.5).abs() < 0.02,
            "{counts:?}"
        );
    }
}
