//! Observations → analyte features: the latest valid result per analyte (§3 of the EHR doc).
//!
//! Valid = the patient's, status final/amended/corrected (+preliminary where the mapping allows),
//! a clinical time, and a value of an accepted type. Invalid results are dropped (and reported
//! when newer than the one used, or when none is usable), so an entered-in-error result falls
//! back to the older final one. The latest valid result then decides: stale, a not-convertible
//! code, an unknown unit, an unmapped answer or an out-of-range value leave the feature missing
//! (reported) rather than reaching back for an older value that no longer describes the patient.

use std::cmp::Reverse;

use serde_json::Value;

use super::problem::{InputSource, ProblemKind};
use super::resource::{codings, display_reference, text, Subject};
use super::time::{age_in_days, clinical_time, last_updated, FhirDate};
use super::{Builder, Context, FhirInputs};
use crate::ehr::mapping::{Analyte, NotConvertibleCode};
use crate::ehr::ucum::{check_range, normalise, QuantityUnit, RangeError};
use crate::features::dictionary::{feature_index, FeatureKind, FeatureSpec, FEATURES};

/// A usable value of a result.
enum Reading<'a> {
    Quantity { value: f64, quantity: &'a Value },
    Integer(i64),
    Coded(&'a Value),
}

/// One candidate result after the validity checks.
struct Candidate<'a> {
    obs: &'a Value,
    not_convertible: Option<&'a NotConvertibleCode>,
    time: Option<FhirDate>,
    verdict: Result<Reading<'a>, ProblemKind>,
}

pub(super) fn map_observations(inputs: &FhirInputs, ctx: &Context<'_>, out: &mut Builder) {
    let Some(observations) = &inputs.observations else {
        return;
    };
    let analytes = &ctx.mapping.analytes;
    let mut candidates: Vec<Vec<Candidate<'_>>> = analytes.iter().map(|_| Vec::new()).collect();
    for obs in observations {
        let mut matched: Vec<(usize, Option<&NotConvertibleCode>)> = Vec::new();
        for c in codings(obs.get("code")) {
            if let Some(hit) = ctx.mapping.analyte_for(c.system, c.code) {
                if !matched.iter().any(|m| m.0 == hit.0) {
                    matched.push(hit);
                }
            }
        }
        for (a, not_convertible) in matched {
            candidates[a].push(Candidate {
                obs,
                not_convertible,
                time: clinical_time(obs),
                verdict: validity(obs, &analytes[a], ctx),
            });
        }
    }
    for (analyte, mut list) in analytes.iter().zip(candidates) {
        let Some(f) = feature_index(&analyte.feature) else {
            continue;
        };
        // Latest first: clinical time, then meta.lastUpdated.
        list.sort_by_key(|c| Reverse((c.time.as_ref().map(|t| t.instant), last_updated(c.obs))));
        choose(&FEATURES[f], analyte, list, ctx, out);
    }
}

/// Status, subject, time and value checks; `Ok` = usable.
fn validity<'a>(
    obs: &'a Value,
    analyte: &Analyte,
    ctx: &Context<'_>,
) -> Result<Reading<'a>, ProblemKind> {
    if let Subject::Other(subject) = ctx.patient.check(obs) {
        return Err(ProblemKind::OtherPatient { subject });
    }
    match text(obs, "status") {
        Some("final" | "amended" | "corrected") => {}
        Some("preliminary") if analyte.accept_preliminary => {}
        Some("entered-in-error") => return Err(ProblemKind::EnteredInError),
        Some("cancelled") => return Err(ProblemKind::Cancelled),
        other => {
            return Err(ProblemKind::NotFinal {
                status: other.unwrap_or("(none)").to_string(),
            })
        }
    }
    if clinical_time(obs).is_none() {
        return Err(ProblemKind::NoDate);
    }
    if obs.get("dataAbsentReason").is_some() {
        return Err(ProblemKind::NoValue);
    }
    if let Some(q) = obs.get("valueQuantity") {
        if analyte.units.is_empty() && !analyte.accept_no_unit {
            return Err(unsupported("valueQuantity"));
        }
        return match q.get("value").and_then(Value::as_f64) {
            Some(value) => Ok(Reading::Quantity { value, quantity: q }),
            None => Err(ProblemKind::NoValue),
        };
    }
    if let Some(v) = obs.get("valueInteger") {
        if !analyte.accept_integer {
            return Err(unsupported("valueInteger"));
        }
        return v.as_i64().map(Reading::Integer).ok_or(ProblemKind::NoValue);
    }
    if let Some(cc) = obs.get("valueCodeableConcept") {
        if analyte.answers.is_empty() {
            return Err(unsupported("valueCodeableConcept"));
        }
        return Ok(Reading::Coded(cc));
    }
    let other = obs
        .as_object()
        .and_then(|o| o.keys().find(|k| k.starts_with("value")));
    match other {
        Some(key) => Err(unsupported(key)),
        None => Err(ProblemKind::NoValue),
    }
}

fn unsupported(key: &str) -> ProblemKind {
    ProblemKind::UnsupportedValueType {
        value_type: key.to_string(),
    }
}

/// Uses the latest valid candidate; reports the invalid ones that are newer (or all of them
/// when none is valid).
fn choose(
    spec: &FeatureSpec,
    analyte: &Analyte,
    list: Vec<Candidate<'_>>,
    ctx: &Context<'_>,
    out: &mut Builder,
) {
    let chosen = list.iter().position(|c| c.verdict.is_ok());
    let chosen_instant = chosen.and_then(|i| list[i].time.as_ref().map(|t| t.instant));
    for c in &list {
        let Err(kind) = &c.verdict else { continue };
        let newer = match (chosen_instant, c.time.as_ref()) {
            (None, _) => true,
            (Some(used), Some(t)) => t.instant >= used,
            (Some(_), None) => false,
        };
        if newer {
            out.problem(spec.name, Some(display_reference(c.obs)), kind.clone());
        }
    }
    let Some(c) = chosen.map(|i| &list[i]) else {
        return;
    };
    let (Some(time), Ok(reading)) = (&c.time, &c.verdict) else {
        return;
    };
    let reference = display_reference(c.obs);
    let problem = |out: &mut Builder, kind| out.problem(spec.name, Some(reference.clone()), kind);
    if age_in_days(time, ctx.today) > i64::from(analyte.lookback_days) {
        return problem(
            out,
            ProblemKind::Stale {
                date: time.text.clone(),
                lookback_days: analyte.lookback_days,
            },
        );
    }
    if let Some(nc) = c.not_convertible {
        return problem(
            out,
            ProblemKind::NotConvertible {
                detail: nc.detail.clone(),
            },
        );
    }
    match convert(spec, analyte, reading, ctx) {
        Ok((value, original)) => out.set(
            spec.name,
            value,
            vec![InputSource {
                feature: spec.name.to_string(),
                reference,
                date: Some(time.text.clone()),
                original: Some(original),
            }],
        ),
        Err(kind) => problem(out, kind),
    }
}

/// The dictionary value of a reading and how the EHR wrote it.
fn convert(
    spec: &FeatureSpec,
    analyte: &Analyte,
    reading: &Reading<'_>,
    ctx: &Context<'_>,
) -> Result<(Value, String), ProblemKind> {
    match reading {
        Reading::Quantity { value, quantity } => {
            let unit = QuantityUnit::of(quantity);
            let converted = normalise(*value, unit, &analyte.units, analyte.accept_no_unit)
                .map_err(|e| ProblemKind::UnknownUnit { unit: e.unit })?;
            let written = quantity
                .get("value")
                .map_or_else(String::new, Value::to_string);
            let original = match unit.unit.or(unit.code) {
                Some(u) => format!("{written} {u}"),
                None => written,
            };
            Ok((numeric(spec, converted)?, original))
        }
        Reading::Integer(n) => Ok((numeric(spec, *n as f64)?, n.to_string())),
        Reading::Coded(cc) => {
            let found = codings(Some(cc)).into_iter().find_map(|c| {
                analyte
                    .answers
                    .iter()
                    .find(|a| {
                        ctx.mapping.system_url(&a.system) == Some(c.system) && a.code == c.code
                    })
                    .map(|a| (a, c))
            });
            let Some((answer, coding)) = found else {
                let first = codings(Some(cc))
                    .first()
                    .map(|c| format!("{}|{}", c.system, c.code))
                    .or_else(|| text(cc, "text").map(str::to_string))
                    .unwrap_or_else(|| "(no coding)".to_string());
                return Err(ProblemKind::UnmappedAnswer { coding: first });
            };
            let original = coding
                .display
                .map_or_else(|| coding.code.to_string(), str::to_string);
            match spec.kind {
                FeatureKind::Enum { .. } => Ok((answer.value.clone(), original)),
                _ => {
                    let n = answer.value.as_f64().ok_or(ProblemKind::NotConvertible {
                        detail: "the mapped answer is not a number".to_string(),
                    })?;
                    Ok((numeric(spec, n)?, original))
                }
            }
        }
    }
}

/// A converted number checked against the dictionary range, as JSON.
pub(super) fn numeric(spec: &FeatureSpec, value: f64) -> Result<Value, ProblemKind> {
    match check_range(spec, value) {
        Ok(v) => Ok(match spec.kind {
            FeatureKind::Integer { .. } => Value::from(v as i64),
            _ => Value::from(v),
        }),
        Err(RangeError::NotInteger { value }) => Err(ProblemKind::NotConvertible {
            detail: format!("{value} is not a whole number"),
        }),
        Err(RangeError::OutOfRange { value, .. }) => Err(ProblemKind::OutOfRange {
            value,
            unit: spec.unit.unwrap_or("").to_string(),
        }),
        Err(RangeError::NotNumeric) => Err(ProblemKind::NotConvertible {
            detail: format!("{} is not numeric", spec.name),
        }),
    }
}
