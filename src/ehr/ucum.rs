//! Unit normalisation of FHIR quantities to the dictionary unit, over the mapping's conversion
//! table, and the physiological range check that follows it.
//!
//! Written by hand rather than with a UCUM library: the accepted units and factors must be data in
//! the versioned mapping file (hashed into the model set), several conversions are analyte-specific
//! (creatinine µmol/L → mg/dL needs its molar mass, haemoglobin mmol/L its monomer), and an unlisted
//! unit must be refused even when UCUM could convert it. A quantity is matched on its UCUM `code`
//! (with `system` = UCUM), never on the free-text `unit`.

use crate::ehr::mapping::UnitConversion;
use crate::features::dictionary::{FeatureKind, FeatureSpec};

/// The UCUM code system.
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";

/// The unit parts of a FHIR `Quantity` (`valueQuantity`, `valueDuration`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantityUnit<'a> {
    pub system: Option<&'a str>,
    pub code: Option<&'a str>,
    /// Free text; shown in problems, never used for conversion.
    pub unit: Option<&'a str>,
}

impl<'a> QuantityUnit<'a> {
    /// The unit members of a FHIR Quantity object.
    pub fn of(quantity: &'a serde_json::Value) -> Self {
        let text = |k: &str| quantity.get(k).and_then(serde_json::Value::as_str);
        Self {
            system: text("system"),
            code: text("code"),
            unit: text("unit"),
        }
    }

    /// How the unit reads in a problem or source line (`g/L`, `mg/dl (system http://x)`).
    pub fn describe(&self) -> String {
        match (self.code, self.system) {
            (Some(code), Some(UCUM_SYSTEM)) => code.to_string(),
            (Some(code), Some(system)) => format!("{code} (system {system})"),
            (Some(code), None) => format!("{code} (no UCUM system)"),
            (None, _) => match self.unit {
                Some(unit) => format!("{unit} (no unit code)"),
                None => "(no unit)".to_string(),
            },
        }
    }
}

/// A unit the table does not accept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unit {unit} is not accepted")]
pub struct UnknownUnit {
    /// The unit as described by [`QuantityUnit::describe`].
    pub unit: String,
}

/// Converts `value` in `unit` to the dictionary unit using `table`; a quantity without a unit
/// code is accepted only when `accept_no_unit` (dimensionless values).
///
/// # Errors
/// [`UnknownUnit`] when the unit code is not UCUM or not in the table, or absent and not accepted.
pub fn normalise(
    value: f64,
    unit: QuantityUnit<'_>,
    table: &[UnitConversion],
    accept_no_unit: bool,
) -> Result<f64, UnknownUnit> {
    let unknown = || UnknownUnit {
        unit: unit.describe(),
    };
    match unit.code {
        Some(code) => {
            if unit.system != Some(UCUM_SYSTEM) {
                return Err(unknown());
            }
            table
                .iter()
                .find(|u| u.code == code)
                .map(|u| u.apply(value))
                .ok_or_else(unknown)
        }
        None if accept_no_unit && unit.system.is_none_or(|s| s == UCUM_SYSTEM) => Ok(value),
        None => Err(unknown()),
    }
}

/// Why a converted value is not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RangeError {
    #[error("{value} is outside {min}..={max}")]
    OutOfRange { value: f64, min: f64, max: f64 },
    #[error("{value} is not a whole number")]
    NotInteger { value: f64 },
    #[error("not a numeric feature")]
    NotNumeric,
}

/// Checks a converted value against the dictionary range (inclusive); never clamps.
///
/// # Errors
/// [`RangeError`] when outside the range, fractional for an integer feature, or the feature is
/// not numeric.
pub fn check_range(spec: &FeatureSpec, value: f64) -> Result<f64, RangeError> {
    let (min, max, integer) = match spec.kind {
        FeatureKind::Number { min, max } => (min, max, false),
        FeatureKind::Integer { min, max } => (min as f64, max as f64, true),
        FeatureKind::Boolean | FeatureKind::Enum { .. } => return Err(RangeError::NotNumeric),
    };
    if !value.is_finite() || value < min || value > max {
        return Err(RangeError::OutOfRange { value, min, max });
    }
    if integer && value.fract() != 0.0 {
        return Err(RangeError::NotInteger { value });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::dictionary::{idx, FEATURES};

    fn conv(code: &str, factor: Option<f64>, divide_by: Option<f64>) -> UnitConversion {
        UnitConversion {
            code: code.to_string(),
            factor,
            divide_by,
            offset: None,
            unverified: false,
            note: None,
        }
    }

    fn ucum(code: &str) -> QuantityUnit<'_> {
        QuantityUnit {
            system: Some(UCUM_SYSTEM),
            code: Some(code),
            unit: None,
        }
    }

    #[test]
    fn listed_ucum_codes_convert_with_their_factor_or_divisor() {
        let table = [
            conv("g/dL", None, None),
            conv("g/L", None, Some(10.0)),
            conv("[lb_av]", Some(0.45359237), None),
        ];
        assert_eq!(normalise(11.2, ucum("g/dL"), &table, false), Ok(11.2));
        assert_eq!(normalise(112.0, ucum("g/L"), &table, false), Ok(11.2));
        let kg = normalise(176.0, ucum("[lb_av]"), &table, false).expect("lb");
        assert!((kg - 79.832_257_12).abs() < 1e-9, "{kg}");
    }

    #[test]
    fn the_offset_is_added_after_scaling() {
        let mut c = conv("[degF]", None, Some(1.8));
        c.offset = Some(-32.0 / 1.8);
        let celsius = normalise(212.0, ucum("[degF]"), &[c], false).expect("degF");
        assert!((celsius - 100.0).abs() < 1e-9, "{celsius}");
    }

    #[test]
    fn unlisted_non_ucum_and_missing_units_are_refused_naming_the_unit() {
        let table = [conv("g/dL", None, None)];
        let err = normalise(7.0, ucum("mmol/L"), &table, false).expect_err("unlisted");
        assert_eq!(err.unit, "mmol/L");
        let local = QuantityUnit {
            system: Some("http://lab.example/units"),
            code: Some("g/dL"),
            unit: Some("g/dL"),
        };
        let err = normalise(11.0, local, &table, false).expect_err("not UCUM");
        assert_eq!(err.unit, "g/dL (system http://lab.example/units)");
        let text_only = QuantityUnit {
            system: None,
            code: None,
            unit: Some("g/dL"),
        };
        let err = normalise(11.0, text_only, &table, false).expect_err("free text only");
        assert_eq!(err.unit, "g/dL (no unit code)");
        assert_eq!(normalise(1.1, text_only, &table, true), Ok(1.1));
    }

    #[test]
    fn the_free_text_unit_never_decides() {
        let table = [conv("g/L", None, Some(10.0))];
        let lying = QuantityUnit {
            system: Some(UCUM_SYSTEM),
            code: Some("g/L"),
            unit: Some("g/dL"),
        };
        assert_eq!(normalise(112.0, lying, &table, false), Ok(11.2));
    }

    #[test]
    fn range_check_rejects_out_of_range_and_fractional_integers_without_clamping() {
        let hb = &FEATURES[idx("hemoglobin_g_dl")];
        assert_eq!(check_range(hb, 11.2), Ok(11.2));
        assert_eq!(
            check_range(hb, 112.0),
            Err(RangeError::OutOfRange {
                value: 112.0,
                min: 3.0,
                max: 25.0
            })
        );
        let ecog = &FEATURES[idx("ecog")];
        assert_eq!(check_range(ecog, 2.0), Ok(2.0));
        assert_eq!(
            check_range(ecog, 1.5),
            Err(RangeError::NotInteger { value: 1.5 })
        );
        assert!(matches!(
            check_range(ecog, 5.0),
            Err(RangeError::OutOfRange { .. })
        ));
        assert!(matches!(
            check_range(hb, f64::NAN),
            Err(RangeError::OutOfRange { .. })
        ));
        assert_eq!(
            check_range(&FEATURES[idx("copd")], 1.0),
            Err(RangeError::NotNumeric)
        );
    }
}
