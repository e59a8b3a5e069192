//! Risk bands, stored in each manifest (never in serving code). Binary outcomes are banded
//! relative to the cohort baseline so a clinician reads "about average" or "3 times the usual
//! risk" consistently across outcomes; blood loss is banded on the predicted median in mL at the
//! volumes that change blood-management plans.

use crate::model::manifest::RiskBand;

fn band(name: &str, lower: f64, upper: f64) -> RiskBand {
    RiskBand {
        name: name.to_string(),
        lower,
        upper,
    }
}

/// Bands on a calibrated probability: low < 0.67x baseline, average up to 1.5x, elevated up to
/// 3x, high above.
pub fn probability_bands(baseline: f64) -> Vec<RiskBand> {
    let cut = |m: f64| (baseline * m).min(1.0);
    vec![
        band("low", 0.0, cut(0.67)),
        band("average", cut(0.67), cut(1.5)),
        band("elevated", cut(1.5), cut(3.0)),
        band("high", cut(3.0), 1.0),
    ]
}

/// Bands on the predicted median blood loss in mL.
pub fn blood_loss_bands() -> Vec<RiskBand> {
    vec![
        band("low", 0.0, 500.0),
        band("moderate", 500.0, 1500.0),
        band("high", 1500.0, 2500.0),
        band("massive", 2500.0, f64::MAX),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_bands_tile_the_unit_interval() {
        let b = probability_bands(0.12);
        assert_eq!(b.first().map(|b| b.lower), Some(0.0));
        assert_eq!(b.last().map(|b| b.upper), Some(1.0));
        assert!(b.windows(2).all(|w| w[0].upper == w[1].lower));
    }
}
