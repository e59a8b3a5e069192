//! Distribution-shift statistics between a reference sample (the training data, or an earlier
//! month) and a live sample: the population stability index over shared bins, the two-sample
//! Kolmogorov–Smirnov statistic (exact on raw values, or on binned counts) with its asymptotic
//! p-value, and Pearson's chi-squared test of homogeneity over shared categories.
//!
//! No distribution crate is a dependency of periop (statrs would add nalgebra and friends for
//! two survival functions), so the two tail probabilities are written out with their references:
//! the Kolmogorov distribution's series and the regularised upper incomplete gamma function.

/// Proportion used in place of an empty bin in [`psi`] (the logarithm of zero is undefined).
/// A bin empty on both sides contributes nothing and is skipped.
pub const PSI_EMPTY_BIN_PROPORTION: f64 = 1e-4;

/// The population stability index of `actual` against `expected`, both counts over the same bins:
/// `Σ (a_i − e_i) · ln(a_i / e_i)` over the bins' proportions (Siddiqi, *Credit Risk Scorecards*,
/// 2006, ch. 8; Yurdakul, *Statistical properties of the population stability index*, 2018). An
/// empty bin on one side takes the proportion [`PSI_EMPTY_BIN_PROPORTION`]. `None` when either
/// side has no counts or the bin counts differ in length.
pub fn psi(expected: &[f64], actual: &[f64]) -> Option<f64> {
    if expected.len() != actual.len() {
        return None;
    }
    let (te, ta): (f64, f64) = (expected.iter().sum(), actual.iter().sum());
    if te <= 0.0 || ta <= 0.0 {
        return None;
    }
    let mut total = 0.0;
    for (&e, &a) in expected.iter().zip(actual) {
        if e <= 0.0 && a <= 0.0 {
            continue;
        }
        let pe = if e > 0.0 {
            e / te
        } else {
            PSI_EMPTY_BIN_PROPORTION
        };
        let pa = if a > 0.0 {
            a / ta
        } else {
            PSI_EMPTY_BIN_PROPORTION
        };
        total += (pa - pe) * (pa / pe).ln();
    }
    Some(total)
}

/// A two-sample Kolmogorov–Smirnov result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsTest {
    /// `D`: the largest distance between the two empirical distribution functions.
    pub statistic: f64,
    /// The asymptotic p-value of `D` ([`ks_p_value`]).
    pub p_value: f64,
}

/// The exact two-sample KS statistic of two raw samples (NaN values are ignored) with its
/// asymptotic p-value. `None` when either sample is empty.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Option<KsTest> {
    let mut a: Vec<f64> = a.iter().copied().filter(|v| !v.is_nan()).collect();
    let mut b: Vec<f64> = b.iter().copied().filter(|v| !v.is_nan()).collect();
    if a.is_empty() || b.is_empty() {
        return None;
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        // Step past every copy of the smaller value on both sides (ties move together).
        let v = a[i].min(b[j]);
        while i < a.len() && a[i] <= v {
            i += 1;
        }
        while j < b.len() && b[j] <= v {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    Some(KsTest {
        statistic: d,
        p_value: ks_p_value(d, a.len(), b.len()),
    })
}

/// The KS statistic of two samples known only as counts over the same ordered bins: the largest
/// distance between the two cumulative bin proportions, at the bins' upper edges. It is at most
/// the statistic of the raw values (the distance is only observed at the edges), so its p-value
/// errs on the side of "no shift". `None` when either side has no counts or the lengths differ.
pub fn ks_binned(expected: &[f64], actual: &[f64]) -> Option<KsTest> {
    if expected.len() != actual.len() {
        return None;
    }
    let (te, ta): (f64, f64) = (expected.iter().sum(), actual.iter().sum());
    if te <= 0.0 || ta <= 0.0 {
        return None;
    }
    let (mut ce, mut ca, mut d) = (0.0, 0.0, 0.0f64);
    for (&e, &a) in expected.iter().zip(actual) {
        ce += e;
        ca += a;
        d = d.max((ce / te - ca / ta).abs());
    }
    Some(KsTest {
        statistic: d,
        p_value: ks_p_value(d, te.round() as usize, ta.round() as usize),
    })
}

/// The asymptotic p-value of a two-sample KS statistic `d` for sample sizes `n` and `m`:
/// `Q_KS((√N + 0.12 + 0.11/√N) · d)` with `N = n m / (n + m)` (Stephens 1970, as in Press et al.,
/// *Numerical Recipes*, 3rd ed., §14.3.3), where `Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2 j² λ²}`
/// is the Kolmogorov distribution's survival function.
pub fn ks_p_value(d: f64, n: usize, m: usize) -> f64 {
    if n == 0 || m == 0 {
        return 1.0;
    }
    let ne = (n as f64 * m as f64) / (n as f64 + m as f64);
    let sq = ne.sqrt();
    kolmogorov_survival((sq + 0.12 + 0.11 / sq) * d)
}

/// `Q_KS(λ)` (see [`ks_p_value`]); 1 for `λ` below 0.2, where the series converges slowly and the
/// value is 1 to nine decimals.
pub fn kolmogorov_survival(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for j in 1..=100 {
        let jf = f64::from(j);
        let term = sign * (-2.0 * jf * jf * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// A chi-squared test result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChiSquaredTest {
    pub statistic: f64,
    pub degrees_of_freedom: usize,
    /// `P(χ²_df ≥ statistic)` ([`chi_squared_survival`]).
    pub p_value: f64,
}

/// Pearson's chi-squared test of homogeneity of two samples' counts over the same categories (the
/// 2 × k contingency table): `Σ (O − E)² / E` with `E = row total · column total / N`, over the
/// categories with a count on either side, with `k' − 1` degrees of freedom for those `k'`
/// categories. `None` when either side has no counts or fewer than two categories are used.
pub fn chi_squared_homogeneity(expected: &[f64], actual: &[f64]) -> Option<ChiSquaredTest> {
    if expected.len() != actual.len() {
        return None;
    }
    let (te, ta): (f64, f64) = (expected.iter().sum(), actual.iter().sum());
    if te <= 0.0 || ta <= 0.0 {
        return None;
    }
    let n = te + ta;
    let mut statistic = 0.0;
    let mut used = 0usize;
    for (&e, &a) in expected.iter().zip(actual) {
        let column = e + a;
        if column <= 0.0 {
            continue;
        }
        used += 1;
        let (ee, ea) = (te * column / n, ta * column / n);
        statistic += (e - ee).powi(2) / ee + (a - ea).powi(2) / ea;
    }
    if used < 2 {
        return None;
    }
    let degrees_of_freedom = used - 1;
    Some(ChiSquaredTest {
        statistic,
        degrees_of_freedom,
        p_value: chi_squared_survival(statistic, degrees_of_freedom),
    })
}

/// `P(χ²_k ≥ x)`: the regularised upper incomplete gamma function `Q(k/2, x/2)`.
pub fn chi_squared_survival(x: f64, k: usize) -> f64 {
    if x <= 0.0 || k == 0 {
        return 1.0;
    }
    upper_regularised_gamma(k as f64 / 2.0, x / 2.0)
}

/// `Q(a, x) = Γ(a, x) / Γ(a)` for `a > 0`, `x ≥ 0`: the series of `P = 1 − Q` for `x < a + 1`,
/// else Lentz's continued fraction for `Q` (Press et al., *Numerical Recipes*, 3rd ed., §6.2,
/// `gser` and `gcf`).
fn upper_regularised_gamma(a: f64, x: f64) -> f64 {
    const EPS: f64 = 1e-15;
    const TINY: f64 = 1e-300;
    let ln_prefix = -x + a * x.ln() - libm::lgamma(a);
    if x < a + 1.0 {
        let (mut ap, mut del) = (a, 1.0 / a);
        let mut sum = del;
        for _ in 0..1000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * EPS {
                break;
            }
        }
        (1.0 - sum * ln_prefix.exp()).clamp(0.0, 1.0)
    } else {
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -f64::from(i) * (f64::from(i) - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < EPS {
                break;
            }
        }
        (ln_prefix.exp() * h).clamp(0.0, 1.0)
    }
}

/// Benjamini–Hochberg adjusted p-values (q-values) of a family of tests, in the input's order:
/// `q_(i) = min_{j ≥ i} min(1, m·p_(j)/j)` over the p-values sorted ascending (Benjamini &
/// Hochberg, J R Stat Soc B 1995;57:289). Rejecting the tests with `q < α` controls the false
/// discovery rate at `α` for independent or positively dependent tests. Fifteen lines: not worth a
/// dependency.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut q = vec![1.0; m];
    let mut running = 1.0_f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        let adjusted = (p_values[i] * m as f64 / (rank + 1) as f64).min(1.0);
        running = running.min(adjusted);
        q[i] = running;
    }
    q
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn psi_is_zero_for_equal_proportions_and_grows_with_shift() {
        assert!(close(
            psi(&[10.0, 20.0, 30.0], &[1.0, 2.0, 3.0]).unwrap(),
            0.0,
            1e-12
        ));
        // By hand: (0.3-0.5)ln(0.3/0.5) + (0.7-0.5)ln(0.7/0.5).
        let by_hand = -0.2 * (0.3f64 / 0.5).ln() + 0.2 * (0.7f64 / 0.5).ln();
        assert!(close(
            psi(&[50.0, 50.0], &[3.0, 7.0]).unwrap(),
            by_hand,
            1e-12
        ));
        // Empty live bin: the floor proportion.
        let floor = (PSI_EMPTY_BIN_PROPORTION - 0.5) * (PSI_EMPTY_BIN_PROPORTION / 0.5).ln()
            + 0.5 * (1.0f64 / 0.5).ln();
        assert!(close(psi(&[5.0, 5.0], &[0.0, 4.0]).unwrap(), floor, 1e-12));
        assert_eq!(psi(&[1.0], &[0.0]), None);
        assert_eq!(psi(&[1.0, 2.0], &[1.0]), None);
    }

    #[test]
    fn kolmogorov_survival_matches_tabulated_values() {
        // Critical values of the Kolmogorov distribution: Q(1.3581) = 0.05, Q(1.6276) = 0.01.
        assert!(close(kolmogorov_survival(1.3581), 0.05, 2e-4));
        assert!(close(kolmogorov_survival(1.6276), 0.01, 1e-4));
        assert_eq!(kolmogorov_survival(0.1), 1.0);
        assert!(kolmogorov_survival(5.0) < 1e-15);
    }

    #[test]
    fn exact_ks_matches_a_hand_computed_case() {
        // a = {1,2,3,4}, b = {3,4,5,6}: after 2, F_a = 0.5, F_b = 0 → D = 0.5.
        let t = ks_two_sample(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]).unwrap();
        assert!(close(t.statistic, 0.5, 1e-12));
        assert!(close(t.p_value, ks_p_value(0.5, 4, 4), 1e-15));
        // Identical samples (with ties): D = 0, p = 1.
        let same = ks_two_sample(&[1.0, 1.0, 2.0], &[1.0, 2.0, 1.0]).unwrap();
        assert_eq!((same.statistic, same.p_value), (0.0, 1.0));
        assert_eq!(ks_two_sample(&[], &[1.0]), None);
        // Disjoint large samples: D = 1, p ≈ 0.
        let a: Vec<f64> = (0..200).map(f64::from).collect();
        let b: Vec<f64> = (1000..1200).map(f64::from).collect();
        let far = ks_two_sample(&a, &b).unwrap();
        assert_eq!(far.statistic, 1.0);
        assert!(far.p_value < 1e-20);
    }

    #[test]
    fn binned_ks_reads_the_cumulative_proportions() {
        // Cumulative: expected 0.25, 0.5, 0.75, 1; actual 0.1, 0.2, 0.6, 1 → D = 0.3.
        let t = ks_binned(&[25.0, 25.0, 25.0, 25.0], &[1.0, 1.0, 4.0, 4.0]).unwrap();
        assert!(close(t.statistic, 0.3, 1e-12));
        assert!(close(t.p_value, ks_p_value(0.3, 100, 10), 1e-15));
    }

    #[test]
    fn chi_squared_survival_matches_tables() {
        // χ² critical values at 0.05: 3.841 (1 df), 5.991 (2), 18.307 (10); at 0.01: 6.635 (1).
        assert!(close(chi_squared_survival(3.841_459, 1), 0.05, 1e-6));
        assert!(close(chi_squared_survival(5.991_465, 2), 0.05, 1e-6));
        assert!(close(chi_squared_survival(18.307_04, 10), 0.05, 1e-6));
        assert!(close(chi_squared_survival(6.634_897, 1), 0.01, 1e-6));
        // 2 df is exactly exp(-x/2).
        assert!(close(chi_squared_survival(1.0, 2), (-0.5f64).exp(), 1e-12));
        assert_eq!(chi_squared_survival(0.0, 3), 1.0);
    }

    #[test]
    fn homogeneity_test_by_hand() {
        // 2×2 table [[20, 30], [30, 20]]: every E = 25, χ² = 4 · 25/25 = 4, 1 df.
        let t = chi_squared_homogeneity(&[20.0, 30.0], &[30.0, 20.0]).unwrap();
        assert!(close(t.statistic, 4.0, 1e-12));
        assert_eq!(t.degrees_of_freedom, 1);
        assert!(close(t.p_value, chi_squared_survival(4.0, 1), 1e-15));
        // A category empty on both sides is not a category: still 1 df.
        let u = chi_squared_homogeneity(&[20.0, 0.0, 30.0], &[30.0, 0.0, 20.0]).unwrap();
        assert_eq!((u.statistic, u.degrees_of_freedom), (t.statistic, 1));
        assert_eq!(chi_squared_homogeneity(&[5.0, 0.0], &[3.0, 0.0]), None);
    }

    #[test]
    fn benjamini_hochberg_matches_the_textbook_example() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.20), "BH")
        //   = 0.025 0.05 0.05 0.025 0.20
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005, 0.20]);
        for (got, want) in q.iter().zip([0.025, 0.05, 0.05, 0.025, 0.20]) {
            assert!((got - want).abs() < 1e-12, "{q:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[0.9, 0.95]), vec![0.95, 0.95]);
    }
}
