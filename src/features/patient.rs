//! One validated patient: every dictionary input either present (within range, known level) or
//! missing, parsed from JSON or from a CSV row.
//!
//! Values are stored as `f64` in dictionary order: booleans as 0/1, enums as the level's index.
//! Parsing collects *every* problem (not just the first) so a caller can fix a record in one go;
//! a value is never clamped or coerced silently.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::dictionary::{feature_index, idx, FeatureKind, FeatureSpec, FEATURES};

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Constraint {
    /// A required field is absent or empty.
    Required,
    /// The field is not part of the dictionary (JSON only; CSV extra columns are warnings).
    UnknownField,
    /// A request member that the request does not have (same wire kind as an unknown field).
    #[serde(rename = "unknown_field")]
    UnknownMember { allowed: &'static [&'static str] },
    /// The value has the wrong type, e.g. text where a number is expected.
    WrongType { expected: &'static str },
    /// A number outside the accepted physiological range.
    OutOfRange {
        min: f64,
        max: f64,
        unit: Option<&'static str>,
    },
    /// An integer field given a fractional value.
    NotInteger,
    /// An enum value that is not one of the listed levels.
    UnknownLevel { allowed: &'static [&'static str] },
    /// Values that cannot all be true of one surgery.
    Contradiction { detail: String },
    /// A text shorter or longer than allowed (characters).
    Length { min: usize, max: usize },
    /// A value this caller or this server may not use (another site's name, a site that is not
    /// configured).
    NotAllowed { detail: String },
    /// A field the server is not set up to take (no reference key configured).
    NotConfigured { detail: &'static str },
}

impl Constraint {
    /// The machine-readable kind (`required`, `unknown_field`, `wrong_type`, `out_of_range`,
    /// `not_integer`, `unknown_level`, `contradiction`): the wire's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::UnknownField | Self::UnknownMember { .. } => "unknown_field",
            Self::WrongType { .. } => "wrong_type",
            Self::OutOfRange { .. } => "out_of_range",
            Self::NotInteger => "not_integer",
            Self::UnknownLevel { .. } => "unknown_level",
            Self::Contradiction { .. } => "contradiction",
            Self::Length { .. } => "invalid_length",
            Self::NotAllowed { .. } => "not_allowed",
            Self::NotConfigured { .. } => "not_configured",
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Required => write!(f, "is required"),
            Self::UnknownField => write!(f, "is not a known feature"),
            Self::UnknownMember { allowed } => {
                write!(f, "is not a request field ({})", allowed.join(", "))
            }
            Self::WrongType { expected } => write!(f, "must be {expected}"),
            Self::OutOfRange { min, max, unit } => {
                write!(f, "must be within {min}..={max}")?;
                if let Some(unit) = unit {
                    write!(f, " {unit}")?;
                }
                Ok(())
            }
            Self::NotInteger => write!(f, "must be a whole number"),
            Self::UnknownLevel { allowed } => write!(f, "must be one of {}", allowed.join(", ")),
            Self::Contradiction { detail } => write!(f, "contradicts the plan: {detail}"),
            Self::Length { min, max } => write!(f, "must be {min} to {max} characters long"),
            Self::NotAllowed { detail } => write!(f, "is not allowed: {detail}"),
            Self::NotConfigured { detail } => write!(f, "cannot be used: {detail}"),
        }
    }
}

/// A problem with one field of one record. Never carries the offending value (no patient data in
/// errors or logs): the field and the constraint say what to fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub constraint: Constraint,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.constraint)
    }
}

/// All the problems found in one record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ValidationError {
    pub errors: Vec<FieldError>,
}

/// A validated patient and planned surgery.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    values: Vec<Option<f64>>,
}

impl Patient {
    /// A patient with every feature missing; used by builders such as the synthetic cohort, which
    /// then call [`Patient::validate`].
    pub fn empty() -> Self {
        Self {
            values: vec![None; FEATURES.len()],
        }
    }

    /// The value of a feature by dictionary index.
    pub fn value(&self, index: usize) -> Option<f64> {
        self.values[index]
    }

    /// The value of a feature by name.
    ///
    /// # Panics
    /// When `name` is not in the dictionary (a programming error; see [`idx`]).
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values[idx(name)]
    }

    /// `true` when a boolean feature is present and true.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name) == Some(1.0)
    }

    /// The enum level of a feature, if present.
    pub fn level(&self, name: &str) -> Option<&'static str> {
        let index = idx(name);
        match (FEATURES[index].kind, self.values[index]) {
            (FeatureKind::Enum { levels, .. }, Some(code)) => levels.get(code as usize).copied(),
            _ => None,
        }
    }

    /// Sets a value by name without validation (builders only; validate afterwards).
    pub fn set(&mut self, name: &str, value: Option<f64>) {
        self.values[idx(name)] = value;
    }

    /// Names of the optional features that are missing (reported, never imputed).
    pub fn missing(&self) -> Vec<&'static str> {
        FEATURES
            .iter()
            .zip(&self.values)
            .filter(|(_, v)| v.is_none())
            .map(|(f, _)| f.name)
            .collect()
    }

    /// Names of the features that are present.
    pub fn present(&self) -> Vec<&'static str> {
        FEATURES
            .iter()
            .zip(&self.values)
            .filter(|(_, v)| v.is_some())
            .map(|(f, _)| f.name)
            .collect()
    }

    /// The present values as JSON (booleans as `true`/`false`, enums as their level).
    pub fn to_json(&self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        for (spec, value) in FEATURES.iter().zip(&self.values) {
            let Some(v) = *value else { continue };
            let json = match spec.kind {
                FeatureKind::Boolean => Value::Bool(v == 1.0),
                FeatureKind::Enum { levels, .. } => Value::String(levels[v as usize].to_string()),
                FeatureKind::Integer { .. } => Value::from(v as i64),
                FeatureKind::Number { .. } => Value::from(v),
            };
            map.insert(spec.name.to_string(), json);
        }
        map
    }

    /// Parses one patient from a JSON object. Unknown keys are errors; `null` means missing.
    ///
    /// # Errors
    /// Every wrong type, unknown level, out-of-range value, missing required field, unknown field
    /// and contradiction, one [`FieldError`] each.
    pub fn from_json(object: &serde_json::Map<String, Value>) -> Result<Self, ValidationError> {
        let mut patient = Self::empty();
        let mut errors = Vec::new();
        for (key, value) in object {
            let Some(index) = feature_index(key) else {
                errors.push(FieldError {
                    field: key.clone(),
                    constraint: Constraint::UnknownField,
                });
                continue;
            };
            match parse_json_value(&FEATURES[index], value) {
                Ok(v) => patient.values[index] = v,
                Err(constraint) => errors.push(FieldError {
                    field: key.clone(),
                    constraint,
                }),
            }
        }
        patient.check(&mut errors);
        if errors.is_empty() {
            Ok(patient)
        } else {
            Err(ValidationError { errors })
        }
    }

    /// Parses one patient from CSV cells given as `(column name, cell)` pairs for dictionary
    /// columns (the caller drops extra columns and warns about them).
    ///
    /// # Errors
    /// As [`Patient::from_json`], with CSV encodings (`0`/`1` booleans, empty = missing).
    pub fn from_csv_cells<'a>(
        cells: impl IntoIterator<Item = (usize, &'a str)>,
    ) -> Result<Self, ValidationError> {
        let mut patient = Self::empty();
        let mut errors = Vec::new();
        for (index, cell) in cells {
            let spec = &FEATURES[index];
            match parse_csv_cell(spec, cell) {
                Ok(v) => patient.values[index] = v,
                Err(constraint) => errors.push(FieldError {
                    field: spec.name.to_string(),
                    constraint,
                }),
            }
        }
        patient.check(&mut errors);
        if errors.is_empty() {
            Ok(patient)
        } else {
            Err(ValidationError { errors })
        }
    }

    /// Checks a patient built with [`Patient::set`]: ranges, required fields, contradictions.
    ///
    /// # Errors
    /// As [`Patient::from_json`].
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = Vec::new();
        for (spec, value) in FEATURES.iter().zip(&self.values) {
            if let Some(v) = value {
                if let Err(constraint) = check_number(spec, *v) {
                    errors.push(FieldError {
                        field: spec.name.to_string(),
                        constraint,
                    });
                }
            }
        }
        self.check(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { errors })
        }
    }

    /// Required fields and cross-field contradictions.
    fn check(&self, errors: &mut Vec<FieldError>) {
        for (spec, value) in FEATURES.iter().zip(&self.values) {
            let already = errors.iter().any(|e| e.field == spec.name);
            if spec.required && value.is_none() && !already {
                errors.push(FieldError {
                    field: spec.name.to_string(),
                    constraint: Constraint::Required,
                });
            }
        }
        let Some(procedure) = self.level("procedure") else {
            return;
        };
        let mut contradiction = |field: &str, detail: String| {
            errors.push(FieldError {
                field: field.to_string(),
                constraint: Constraint::Contradiction { detail },
            });
        };
        let cervical = matches!(procedure, "acdf" | "posterior_cervical_fusion");
        if cervical && self.flag("fusion_to_sacrum") {
            contradiction(
                "fusion_to_sacrum",
                format!("a fusion to the sacrum is not part of {procedure}"),
            );
        }
        if procedure != "metastatic_tumor" {
            for field in ["tumor_histology", "tumor_resection", "preop_embolization"] {
                if self.get(field).is_some() {
                    contradiction(
                        field,
                        format!("only applies to metastatic_tumor, not {procedure}"),
                    );
                }
            }
        }
        if matches!(procedure, "lumbar_discectomy" | "lumbar_decompression")
            && self.get("fused_levels").is_some_and(|n| n > 0.0)
        {
            contradiction("fused_levels", format!("{procedure} instruments no level"));
        }
        if procedure == "lumbar_fusion" && self.get("fused_levels") == Some(0.0) {
            contradiction(
                "fused_levels",
                "lumbar_fusion instruments at least one level".to_string(),
            );
        }
        if self.flag("ambulatory_planned") && procedure == "metastatic_tumor" {
            contradiction(
                "ambulatory_planned",
                "metastatic tumour surgery is not ambulatory".to_string(),
            );
        }
        if let (Some(h), Some(w), Some(bmi)) = (
            self.get("height_cm"),
            self.get("weight_kg"),
            self.get("bmi"),
        ) {
            let computed = w / (h / 100.0).powi(2);
            if (computed - bmi).abs() > 1.0 {
                contradiction(
                    "bmi",
                    "differs by more than 1 kg/m2 from weight / height^2".to_string(),
                );
            }
        }
    }
}

fn parse_json_value(spec: &FeatureSpec, value: &Value) -> Result<Option<f64>, Constraint> {
    if value.is_null() {
        return Ok(None);
    }
    let v = match spec.kind {
        FeatureKind::Boolean => match value {
            Value::Bool(b) => f64::from(u8::from(*b)),
            _ => {
                return Err(Constraint::WrongType {
                    expected: "a boolean (true or false)",
                })
            }
        },
        FeatureKind::Enum { levels, .. } => match value {
            Value::String(s) => match levels.iter().position(|l| l == s) {
                Some(i) => i as f64,
                None => return Err(Constraint::UnknownLevel { allowed: levels }),
            },
            _ => {
                return Err(Constraint::WrongType {
                    expected: "a string level",
                })
            }
        },
        FeatureKind::Integer { .. } | FeatureKind::Number { .. } => match value.as_f64() {
            Some(v) => v,
            None => {
                return Err(Constraint::WrongType {
                    expected: "a number",
                })
            }
        },
    };
    check_number(spec, v).map(|()| Some(v))
}

fn parse_csv_cell(spec: &FeatureSpec, cell: &str) -> Result<Option<f64>, Constraint> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    let v = match spec.kind {
        FeatureKind::Boolean => match cell {
            "0" => 0.0,
            "1" => 1.0,
            _ => return Err(Constraint::WrongType { expected: "0 or 1" }),
        },
        FeatureKind::Enum { levels, .. } => match levels.iter().position(|l| *l == cell) {
            Some(i) => i as f64,
            None => return Err(Constraint::UnknownLevel { allowed: levels }),
        },
        FeatureKind::Integer { .. } | FeatureKind::Number { .. } => match cell.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                return Err(Constraint::WrongType {
                    expected: "a number",
                })
            }
        },
    };
    check_number(spec, v).map(|()| Some(v))
}

/// Range and integrality of an already-typed value.
fn check_number(spec: &FeatureSpec, v: f64) -> Result<(), Constraint> {
    match spec.kind {
        FeatureKind::Number { min, max } => {
            if !v.is_finite() || v < min || v > max {
                return Err(Constraint::OutOfRange {
                    min,
                    max,
                    unit: spec.unit,
                });
            }
        }
        FeatureKind::Integer { min, max } => {
            if v.fract() != 0.0 {
                return Err(Constraint::NotInteger);
            }
            if v < min as f64 || v > max as f64 {
                return Err(Constraint::OutOfRange {
                    min: min as f64,
                    max: max as f64,
                    unit: spec.unit,
                });
            }
        }
        FeatureKind::Boolean => {
            if v != 0.0 && v != 1.0 {
                return Err(Constraint::WrongType {
                    expected: "a boolean",
                });
            }
        }
        FeatureKind::Enum { levels, .. } => {
            if v.fract() != 0.0 || v < 0.0 || v as usize >= levels.len() {
                return Err(Constraint::UnknownLevel { allowed: levels });
            }
        }
    }
    Ok(())
}
