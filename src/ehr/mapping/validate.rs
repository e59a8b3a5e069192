//! Validation of a parsed mapping against the feature dictionary, and the lookups built from it:
//! the whole-file checks, the shared helpers and the analytes here; condition, medication,
//! procedure and order-detail tables in `tables`. Every error names the JSON path of the
//! offending member (`analytes[3].feature`).

use std::collections::HashMap;

use super::tables::{absent_levels, conditions, medications, order_details, procedures};
use super::{CodeRef, FhirMapping, Index, MappingError, UnitConversion, MAPPING_FORMAT};
use crate::features::dictionary::{feature_index, FeatureKind, DICTIONARY_VERSION, FEATURES};

pub(super) type Result<T> = std::result::Result<T, MappingError>;

/// Checks the whole mapping and builds its lookups.
pub(super) fn validate(m: &FhirMapping) -> Result<Index> {
    if m.format != MAPPING_FORMAT {
        return Err(MappingError::Format {
            found: m.format,
            expected: MAPPING_FORMAT,
        });
    }
    non_empty("version", &m.version)?;
    if m.dictionary_version != DICTIONARY_VERSION {
        return Err(MappingError::DictionaryVersion {
            found: m.dictionary_version.clone(),
            expected: DICTIONARY_VERSION,
        });
    }
    for (alias, system) in &m.systems {
        non_empty(&format!("systems.{alias}.url"), &system.url)?;
    }
    let mut index = Index {
        dotless: m
            .systems
            .values()
            .filter(|s| s.ignore_dots)
            .map(|s| s.url.clone())
            .collect(),
        ..Index::default()
    };
    analytes(m, &mut index)?;
    conditions(m, &mut index)?;
    medications(m, &mut index)?;
    absent_levels(m, &index)?;
    procedures(m, &mut index)?;
    order_details(m, &index)?;
    Ok(index)
}

pub(super) fn non_empty(path: &str, s: &str) -> Result<()> {
    if s.trim().is_empty() {
        return Err(MappingError::Empty {
            path: path.to_string(),
        });
    }
    Ok(())
}

pub(super) fn feature(path: &str, name: &str) -> Result<usize> {
    feature_index(name).ok_or_else(|| MappingError::UnknownFeature {
        path: path.to_string(),
        name: name.to_string(),
    })
}

pub(super) fn wrong_kind(path: &str, feature: usize, detail: &str) -> MappingError {
    MappingError::WrongKind {
        path: path.to_string(),
        feature: FEATURES[feature].name.to_string(),
        detail: detail.to_string(),
    }
}

pub(super) fn system<'m>(m: &'m FhirMapping, path: &str, alias: &str) -> Result<&'m str> {
    m.system_url(alias)
        .ok_or_else(|| MappingError::UnknownSystem {
            path: path.to_string(),
            alias: alias.to_string(),
        })
}

/// The exact code of a [`CodeRef`] (a prefix is only allowed for conditions).
pub(super) fn exact_code<'c>(path: &str, c: &'c CodeRef) -> Result<&'c str> {
    match (&c.code, &c.prefix) {
        (Some(code), None) => {
            non_empty(&format!("{path}.code"), code)?;
            Ok(code.trim())
        }
        _ => Err(MappingError::Invalid {
            path: path.to_string(),
            detail: "needs exactly one `code` (prefixes are for conditions only)".to_string(),
        }),
    }
}

pub(super) fn units(path: &str, units: &[UnitConversion]) -> Result<()> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, u) in units.iter().enumerate() {
        let p = format!("{path}[{i}]");
        non_empty(&format!("{p}.code"), &u.code)?;
        if let Some(first) = seen.insert(u.code.as_str(), i) {
            return Err(MappingError::DuplicateCode {
                path: format!("{p}.code"),
                code: u.code.clone(),
                first: format!("{path}[{first}]"),
            });
        }
        if u.factor.is_some() && u.divide_by.is_some() {
            return Err(MappingError::BadConversion {
                path: p,
                detail: "give factor or divide_by, not both".to_string(),
            });
        }
        for (name, v) in [("factor", u.factor), ("divide_by", u.divide_by)] {
            if let Some(v) = v {
                if !v.is_finite() || v == 0.0 {
                    return Err(MappingError::BadConversion {
                        path: format!("{p}.{name}"),
                        detail: "must be finite and non-zero".to_string(),
                    });
                }
            }
        }
        if u.offset.is_some_and(|o| !o.is_finite()) {
            return Err(MappingError::BadConversion {
                path: format!("{p}.offset"),
                detail: "must be finite".to_string(),
            });
        }
    }
    Ok(())
}

/// Records `key` in a code table, rejecting a second mapping of the same code.
pub(super) fn claim<V: Copy>(
    table: &mut HashMap<(String, String), V>,
    paths: &mut HashMap<(String, String), String>,
    key: (String, String),
    value: V,
    path: String,
) -> Result<()> {
    if let Some(first) = paths.get(&key) {
        return Err(MappingError::DuplicateCode {
            path,
            code: key.1,
            first: first.clone(),
        });
    }
    paths.insert(key.clone(), path);
    table.insert(key, value);
    Ok(())
}

fn analytes(m: &FhirMapping, index: &mut Index) -> Result<()> {
    let mut paths = HashMap::new();
    let mut features: HashMap<usize, usize> = HashMap::new();
    for (a, analyte) in m.analytes.iter().enumerate() {
        let path = format!("analytes[{a}]");
        let f = feature(&format!("{path}.feature"), &analyte.feature)?;
        if let Some(first) = features.insert(f, a) {
            return Err(MappingError::Invalid {
                path: format!("{path}.feature"),
                detail: format!("{} is already mapped at analytes[{first}]", analyte.feature),
            });
        }
        if analyte.lookback_days == 0 {
            return Err(MappingError::Invalid {
                path: format!("{path}.lookback_days"),
                detail: "must be at least 1".to_string(),
            });
        }
        if analyte.codes.is_empty() {
            return Err(MappingError::Invalid {
                path: format!("{path}.codes"),
                detail: "needs at least one code".to_string(),
            });
        }
        let has_units = !analyte.units.is_empty() || analyte.accept_no_unit;
        let has_answers = !analyte.answers.is_empty();
        let fp = format!("{path}.feature");
        match FEATURES[f].kind {
            FeatureKind::Boolean => {
                return Err(wrong_kind(&fp, f, "a boolean is not an observation value"))
            }
            FeatureKind::Number { .. } => {
                if !has_units || has_answers || analyte.accept_integer {
                    return Err(wrong_kind(
                        &fp,
                        f,
                        "a number needs units (or accept_no_unit) and no answers/accept_integer",
                    ));
                }
            }
            FeatureKind::Integer { .. } => {
                if !has_units && !has_answers && !analyte.accept_integer {
                    return Err(wrong_kind(
                        &fp,
                        f,
                        "an integer needs units, answers or accept_integer",
                    ));
                }
            }
            FeatureKind::Enum { .. } => {
                if !has_answers || has_units || analyte.accept_integer {
                    return Err(wrong_kind(&fp, f, "an enum needs answers and no units"));
                }
            }
        }
        units(&format!("{path}.units"), &analyte.units)?;
        for (i, c) in analyte.codes.iter().enumerate() {
            let p = format!("{path}.codes[{i}]");
            let url = system(m, &format!("{p}.system"), &c.system)?;
            let code = exact_code(&p, c)?;
            let key = (url.to_string(), code.to_string());
            claim(&mut index.observation, &mut paths, key, (a, None), p)?;
        }
        for (i, c) in analyte.not_convertible.iter().enumerate() {
            let p = format!("{path}.not_convertible[{i}]");
            let url = system(m, &format!("{p}.system"), &c.system)?;
            non_empty(&format!("{p}.code"), &c.code)?;
            non_empty(&format!("{p}.detail"), &c.detail)?;
            let key = (url.to_string(), c.code.trim().to_string());
            claim(&mut index.observation, &mut paths, key, (a, Some(i)), p)?;
        }
        let mut answers: HashMap<(String, String), String> = HashMap::new();
        for (i, ans) in analyte.answers.iter().enumerate() {
            let p = format!("{path}.answers[{i}]");
            let url = system(m, &format!("{p}.system"), &ans.system)?;
            non_empty(&format!("{p}.code"), &ans.code)?;
            let key = (url.to_string(), ans.code.trim().to_string());
            if let Some(first) = answers.insert(key, p.clone()) {
                return Err(MappingError::DuplicateCode {
                    path: p,
                    code: ans.code.clone(),
                    first,
                });
            }
            answer_value(&format!("{p}.value"), f, &ans.value)?;
        }
    }
    Ok(())
}

/// An answer's value must be a level (enum) or an in-range whole number (integer).
fn answer_value(path: &str, f: usize, value: &serde_json::Value) -> Result<()> {
    let bad = |detail: &str| MappingError::Invalid {
        path: path.to_string(),
        detail: detail.to_string(),
    };
    match FEATURES[f].kind {
        FeatureKind::Enum { levels, .. } => {
            let level = value
                .as_str()
                .ok_or_else(|| bad("must be a level string"))?;
            if !levels.contains(&level) {
                return Err(MappingError::UnknownLevel {
                    path: path.to_string(),
                    feature: FEATURES[f].name.to_string(),
                    level: level.to_string(),
                });
            }
        }
        FeatureKind::Integer { min, max } => {
            let n = value
                .as_i64()
                .ok_or_else(|| bad("must be a whole number"))?;
            if n < min || n > max {
                return Err(bad(&format!("must be within {min}..={max}")));
            }
        }
        FeatureKind::Number { .. } | FeatureKind::Boolean => {
            return Err(bad("answers only map to enum or integer features"))
        }
    }
    Ok(())
}
