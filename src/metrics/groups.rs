//! Subgroup definitions shared by `periop evaluate` and the quality analytics over recorded
//! outcomes, so a subgroup means the same rows in both.

/// Age bands for subgroup metrics: `[lower, upper)` in years; the last band is open-ended.
pub const AGE_BANDS: &[(&str, f64, f64)] = &[
    ("18-49", 18.0, 50.0),
    ("50-64", 50.0, 65.0),
    ("65-74", 65.0, 75.0),
    (">=75", 75.0, f64::INFINITY),
];

/// The age band label of an age in years (`"unknown"` when missing or below 18).
pub fn age_band(age_years: Option<f64>) -> &'static str {
    age_years
        .and_then(|a| AGE_BANDS.iter().find(|(_, lo, hi)| (*lo..*hi).contains(&a)))
        .map_or("unknown", |b| b.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_band_edges() {
        assert_eq!(age_band(Some(18.0)), "18-49");
        assert_eq!(age_band(Some(49.9)), "18-49");
        assert_eq!(age_band(Some(50.0)), "50-64");
        assert_eq!(age_band(Some(65.0)), "65-74");
        assert_eq!(age_band(Some(75.0)), ">=75");
        assert_eq!(age_band(Some(100.0)), ">=75");
        assert_eq!(age_band(Some(17.0)), "unknown");
        assert_eq!(age_band(None), "unknown");
    }
}
