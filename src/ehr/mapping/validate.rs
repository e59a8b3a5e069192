//! Validation of a parsed mapping against the feature dictionary, and the lookups built from it.
//! Every error names the JSON path of the offending member (`analytes[3].feature`).

use std::collections::HashMap;

use super::{normalise_code, CodeRef, FhirMapping, Index, Target, UnitConversion, MAPPING_FORMAT};
use crate::features::dictionary::{feature_index, FeatureKind, DICTIONARY_VERSION, FEATURES};

/// Why a mapping file was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("format: {found} is not the supported format {expected}")]
    Format { found: u32, expected: u32 },
    #[error("{path}: must be a non-empty string")]
    Empty { path: String },
    #[error("dictionary_version: {found:?}, but this build's dictionary is {expected:?}")]
    DictionaryVersion {
        found: String,
        expected: &'static str,
    },
    #[error("{path}: {name:?} is not a dictionary feature")]
    UnknownFeature { path: String, name: String },
    #[error("{path}: {feature} cannot be mapped here: {detail}")]
    WrongKind {
        path: String,
        feature: String,
        detail: String,
    },
    #[error("{path}: {level:?} is not a level of {feature}")]
    UnknownLevel {
        path: String,
        feature: String,
        level: String,
    },
    #[error("{path}: {alias:?} is not a declared code system (see systems)")]
    UnknownSystem { path: String, alias: String },
    #[error("{path}: {detail}")]
    BadConversion { path: String, detail: String },
    #[error("{path}: {code:?} is already mapped at {first}")]
    DuplicateCode {
        path: String,
        code: String,
        first: String,
    },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}

type Result<T> = std::result::Result<T, MappingError>;

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

fn non_empty(path: &str, s: &str) -> Result<()> {
    if s.trim().is_empty() {
        return Err(MappingError::Empty {
            path: path.to_string(),
        });
    }
    Ok(())
}

fn feature(path: &str, name: &str) -> Result<usize> {
    feature_index(name).ok_or_else(|| MappingError::UnknownFeature {
        path: path.to_string(),
        name: name.to_string(),
    })
}

fn wrong_kind(path: &str, feature: usize, detail: &str) -> MappingError {
    MappingError::WrongKind {
        path: path.to_string(),
        feature: FEATURES[feature].name.to_string(),
        detail: detail.to_string(),
    }
}

fn system<'m>(m: &'m FhirMapping, path: &str, alias: &str) -> Result<&'m str> {
    m.system_url(alias)
        .ok_or_else(|| MappingError::UnknownSystem {
            path: path.to_string(),
            alias: alias.to_string(),
        })
}

/// The exact code of a [`CodeRef`] (a prefix is only allowed for conditions).
fn exact_code<'c>(path: &str, c: &'c CodeRef) -> Result<&'c str> {
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

fn units(path: &str, units: &[UnitConversion]) -> Result<()> {
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
fn claim<V: Copy>(
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

/// The target of a condition rule or medication class: `true` for a boolean, an ordered level
/// for an enum.
fn target(path: &str, name: &str, level: Option<&str>) -> Result<Target> {
    let fp = format!("{path}.feature");
    let f = feature(&fp, name)?;
    match (FEATURES[f].kind, level) {
        (FeatureKind::Boolean, None) => Ok(Target {
            feature: f,
            level: 1,
        }),
        (FeatureKind::Boolean, Some(_)) => Err(MappingError::Invalid {
            path: format!("{path}.level"),
            detail: format!("{name} is a boolean: no level"),
        }),
        (FeatureKind::Enum { nominal: true, .. }, _) => Err(wrong_kind(
            &fp,
            f,
            "an unordered enum cannot take the highest of several findings",
        )),
        (FeatureKind::Enum { levels, .. }, Some(level)) => levels
            .iter()
            .position(|l| *l == level)
            .map(|i| Target {
                feature: f,
                level: i,
            })
            .ok_or_else(|| MappingError::UnknownLevel {
                path: format!("{path}.level"),
                feature: name.to_string(),
                level: level.to_string(),
            }),
        (FeatureKind::Enum { .. }, None) => Err(MappingError::Invalid {
            path: format!("{path}.level"),
            detail: format!("{name} is an enum: give the level this sets"),
        }),
        (FeatureKind::Number { .. } | FeatureKind::Integer { .. }, _) => Err(wrong_kind(
            &fp,
            f,
            "conditions and medications set booleans or ordered enums",
        )),
    }
}

fn conditions(m: &FhirMapping, index: &mut Index) -> Result<()> {
    // (system URL, normalised code, is prefix, path)
    let mut seen: Vec<(String, String, bool, String)> = Vec::new();
    for (r, rule) in m.conditions.iter().enumerate() {
        let path = format!("conditions[{r}]");
        let t = target(&path, &rule.feature, rule.level.as_deref())?;
        index.condition_targets.push(t);
        if rule.codes.is_empty() {
            return Err(MappingError::Invalid {
                path: format!("{path}.codes"),
                detail: "needs at least one code".to_string(),
            });
        }
        for (i, c) in rule.codes.iter().enumerate() {
            let p = format!("{path}.codes[{i}]");
            let url = system(m, &format!("{p}.system"), &c.system)?;
            let dotless = index.dotless.iter().any(|s| s == url);
            let (raw, is_prefix) = match (&c.code, &c.prefix) {
                (Some(code), None) => (code, false),
                (None, Some(prefix)) => (prefix, true),
                _ => {
                    return Err(MappingError::Invalid {
                        path: p,
                        detail: "needs exactly one of `code` and `prefix`".to_string(),
                    })
                }
            };
            let code = normalise_code(dotless, raw);
            if code.is_empty() {
                return Err(MappingError::Empty { path: p });
            }
            // A code, or a code under a prefix, may be claimed once.
            for (s, other, other_prefix, first) in &seen {
                let overlaps = s == url
                    && (other == &code
                        || (*other_prefix && code.starts_with(other.as_str()))
                        || (is_prefix && other.starts_with(code.as_str())));
                if overlaps {
                    return Err(MappingError::DuplicateCode {
                        path: p,
                        code: raw.clone(),
                        first: first.clone(),
                    });
                }
            }
            seen.push((url.to_string(), code.clone(), is_prefix, p));
            if is_prefix {
                index.condition_prefix.push((url.to_string(), code, r));
            } else {
                index.condition_exact.insert((url.to_string(), code), r);
            }
        }
    }
    Ok(())
}

fn medications(m: &FhirMapping, index: &mut Index) -> Result<()> {
    let rules = &m.medications;
    for (name, statuses) in [
        ("request_statuses", &rules.request_statuses),
        ("statement_statuses", &rules.statement_statuses),
    ] {
        if statuses.is_empty() {
            return Err(MappingError::Invalid {
                path: format!("medications.{name}"),
                detail: "needs at least one status".to_string(),
            });
        }
    }
    let mut paths = HashMap::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (k, class) in rules.classes.iter().enumerate() {
        let path = format!("medications.classes[{k}]");
        non_empty(&format!("{path}.class"), &class.class)?;
        if let Some(first) = names.insert(class.class.as_str(), k) {
            return Err(MappingError::Invalid {
                path: format!("{path}.class"),
                detail: format!("{} is already defined at classes[{first}]", class.class),
            });
        }
        index
            .medication_targets
            .push(target(&path, &class.feature, class.level.as_deref())?);
        if class.ingredients.is_empty() && class.products.is_empty() {
            return Err(MappingError::Invalid {
                path,
                detail: "needs ingredient or product codes".to_string(),
            });
        }
        for (list, codes) in [
            ("ingredients", &class.ingredients),
            ("products", &class.products),
        ] {
            for (i, c) in codes.iter().enumerate() {
                let p = format!("{path}.{list}[{i}]");
                let url = system(m, &format!("{p}.system"), &c.system)?;
                let code = exact_code(&p, c)?;
                let key = (url.to_string(), code.to_string());
                claim(&mut index.medication, &mut paths, key, k, p)?;
            }
        }
    }
    Ok(())
}

fn absent_levels(m: &FhirMapping, index: &Index) -> Result<()> {
    let targets: Vec<usize> = index
        .condition_targets
        .iter()
        .chain(&index.medication_targets)
        .map(|t| t.feature)
        .collect();
    for (name, level) in &m.absent_levels {
        let path = format!("absent_levels.{name}");
        let f = feature(&path, name)?;
        if !targets.contains(&f) {
            return Err(MappingError::Invalid {
                path,
                detail: format!("{name} is set by no condition or medication"),
            });
        }
        let FeatureKind::Enum { levels, .. } = FEATURES[f].kind else {
            return Err(wrong_kind(&path, f, "only enums have an absent level"));
        };
        if !levels.contains(&level.as_str()) {
            return Err(MappingError::UnknownLevel {
                path,
                feature: name.clone(),
                level: level.clone(),
            });
        }
    }
    for &f in &targets {
        if matches!(FEATURES[f].kind, FeatureKind::Enum { .. })
            && !m.absent_levels.contains_key(FEATURES[f].name)
        {
            return Err(MappingError::Invalid {
                path: "absent_levels".to_string(),
                detail: format!("{} needs the level meaning none found", FEATURES[f].name),
            });
        }
    }
    Ok(())
}

fn procedures(m: &FhirMapping, index: &mut Index) -> Result<()> {
    let rules = &m.procedures;
    if rules.order_statuses.is_empty() {
        return Err(MappingError::Invalid {
            path: "procedures.order_statuses".to_string(),
            detail: "needs at least one status".to_string(),
        });
    }
    let procedure = feature("procedures", "procedure")?;
    let FeatureKind::Enum { levels, .. } = FEATURES[procedure].kind else {
        return Err(wrong_kind("procedures", procedure, "procedure is an enum"));
    };
    for (i, level) in rules.precedence.iter().enumerate() {
        let path = format!("procedures.precedence[{i}]");
        if !levels.contains(&level.as_str()) {
            return Err(MappingError::UnknownLevel {
                path,
                feature: "procedure".to_string(),
                level: level.clone(),
            });
        }
        if rules.precedence[..i].contains(level) {
            return Err(MappingError::Invalid {
                path,
                detail: format!("{level} is listed twice"),
            });
        }
    }
    if let Some(missing) = levels
        .iter()
        .find(|l| !rules.precedence.iter().any(|p| p == *l))
    {
        return Err(MappingError::Invalid {
            path: "procedures.precedence".to_string(),
            detail: format!("{missing} is missing"),
        });
    }
    let mut paths = HashMap::new();
    for (i, c) in rules.codes.iter().enumerate() {
        let p = format!("procedures.codes[{i}]");
        let url = system(m, &format!("{p}.system"), &c.system)?;
        non_empty(&format!("{p}.code"), &c.code)?;
        if let Some(level) = &c.procedure {
            if !levels.contains(&level.as_str()) {
                return Err(MappingError::UnknownLevel {
                    path: format!("{p}.procedure"),
                    feature: "procedure".to_string(),
                    level: level.clone(),
                });
            }
        }
        let key = (url.to_string(), c.code.trim().to_string());
        claim(&mut index.procedure, &mut paths, key, i, p)?;
    }
    Ok(())
}

fn order_details(m: &FhirMapping, index: &Index) -> Result<()> {
    let details = &m.order_details;
    let base = details.base.trim();
    if !(base.starts_with("https://") || base.starts_with("http://")) || base.ends_with('/') {
        return Err(MappingError::Invalid {
            path: "order_details.base".to_string(),
            detail: "must be an absolute http(s) URL without a trailing /".to_string(),
        });
    }
    let elsewhere: Vec<usize> = m
        .analytes
        .iter()
        .filter_map(|a| feature_index(&a.feature))
        .chain(index.condition_targets.iter().map(|t| t.feature))
        .chain(index.medication_targets.iter().map(|t| t.feature))
        .collect();
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for (i, d) in details.features.iter().enumerate() {
        let path = format!("order_details.features[{i}]");
        let f = feature(&format!("{path}.feature"), &d.feature)?;
        if let Some(first) = seen.insert(f, i) {
            return Err(MappingError::Invalid {
                path: format!("{path}.feature"),
                detail: format!("{} is already listed at features[{first}]", d.feature),
            });
        }
        if elsewhere.contains(&f) {
            return Err(wrong_kind(
                &format!("{path}.feature"),
                f,
                "it comes from observations, conditions or medications",
            ));
        }
        if !d.units.is_empty() && !matches!(FEATURES[f].kind, FeatureKind::Number { .. }) {
            return Err(wrong_kind(
                &format!("{path}.units"),
                f,
                "only number features take units",
            ));
        }
        units(&format!("{path}.units"), &d.units)?;
    }
    Ok(())
}
