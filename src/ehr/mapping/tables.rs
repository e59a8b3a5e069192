//! Validation of the code tables: conditions, medications, absent levels, procedures and order
//! details (each code claimed once; targets of the right kind).

use std::collections::HashMap;

use super::validate::{claim, exact_code, feature, non_empty, system, units, wrong_kind, Result};
use super::{normalise_code, FhirMapping, Index, MappingError, Target};
use crate::features::dictionary::{feature_index, FeatureKind, FEATURES};

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

pub(super) fn conditions(m: &FhirMapping, index: &mut Index) -> Result<()> {
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

pub(super) fn medications(m: &FhirMapping, index: &mut Index) -> Result<()> {
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

pub(super) fn absent_levels(m: &FhirMapping, index: &Index) -> Result<()> {
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

pub(super) fn procedures(m: &FhirMapping, index: &mut Index) -> Result<()> {
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

pub(super) fn order_details(m: &FhirMapping, index: &Index) -> Result<()> {
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
