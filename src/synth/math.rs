//! Deterministic numerics for the synthetic cohort: logistic and normal functions, rounding.
//!
//! Every transcendental function goes through the pure-Rust `libm` crate rather than the
//! platform's C library, so the generated file is byte-identical on every machine
//! (`cohort-model.md`, §4 "Determinism").

/// Natural logarithm (`ln` in the specification).
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// `e^x`.
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// The logistic function `σ(z) = 1/(1+e^−z)`.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + exp(-z))
    } else {
        let e = exp(z);
        e / (1.0 + e)
    }
}

/// `σ(logit(p) + shift)`, well defined for `p` = 0 or 1 (returned unchanged).
pub fn shift_logit(p: f64, shift: f64) -> f64 {
    let odds = p * exp(shift);
    odds / (odds + (1.0 - p))
}

/// `[x]`: 1 if `x` else 0.
pub fn ind(x: bool) -> f64 {
    if x {
        1.0
    } else {
        0.0
    }
}

/// `clip(x, a, b)`.
pub fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    x.clamp(lo, hi)
}

/// The standard normal CDF `Φ(x)`.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// The standard normal quantile `Φ⁻¹(p)` for `0 < p < 1` (Acklam's rational approximation,
/// relative error below 1.2e-9), used to place stratified Monte Carlo draws.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail(libm::sqrt(-2.0 * ln(p)))
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail(libm::sqrt(-2.0 * ln(1.0 - p)))
    }
}

/// Rounds to `decimals` decimal places (the value then prints as that decimal); never `-0`.
pub fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = [1.0, 10.0, 100.0, 1000.0][decimals.clamp(0, 3) as usize];
    (x * scale).round() / scale + 0.0
}

/// Rounds to six significant digits (truth columns) through exact decimal formatting.
pub fn round_sig6(x: f64) -> f64 {
    format!("{x:.5e}").parse::<f64>().unwrap_or(x) + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_inverts_the_cdf() {
        for p in [1e-6, 0.01, 0.024, 0.3, 0.5, 0.77, 0.976, 0.999_99] {
            let x = normal_quantile(p);
            assert!((normal_cdf(x) - p).abs() < 1e-8 * p.max(1e-3), "{p}");
        }
    }

    #[test]
    fn rounding_prints_as_the_decimal() {
        assert_eq!(round_to(1.2345, 2).to_string(), "1.23");
        assert_eq!(round_to(-0.2, 0).to_string(), "0");
        assert_eq!(round_sig6(0.123_456_789).to_string(), "0.123457");
        assert_eq!(round_sig6(318.234_567).to_string(), "318.235");
    }

    #[test]
    fn logit_shift_is_the_identity_at_zero_and_safe_at_the_bounds() {
        assert!((shift_logit(0.3, 0.0) - 0.3).abs() < 1e-15);
        assert!((shift_logit(0.3, 0.5) - sigmoid(ln(0.3 / 0.7) + 0.5)).abs() < 1e-12);
        assert_eq!(shift_logit(0.0, 1.0), 0.0);
        assert_eq!(shift_logit(1.0, -1.0), 1.0);
    }
}
