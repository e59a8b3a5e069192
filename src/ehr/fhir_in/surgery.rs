//! The planned spine surgery: which draft ServiceRequest is the spine order, the procedure and
//! level counts from its CPT/SNOMED codes and its add-on sibling orders, revision codes, and the
//! surgical-plan details carried as ServiceRequest extensions `<order_detail_base>/<feature>`.

use serde_json::Value;

use super::observations::numeric;
use super::problem::{InputSource, ProblemKind};
use super::resource::{codings, describe, display_reference, reference_of, text, Coding, Subject};
use super::time::FhirDate;
use super::{Builder, Context, FhirInputs};
use crate::ehr::mapping::{FhirMapping, ProcedureCode, UnitConversion};
use crate::ehr::ucum::{normalise, QuantityUnit};
use crate::features::dictionary::{feature_index, idx, FeatureKind, FeatureSpec, FEATURES};

/// What the rest of the mapping needs from the plan.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// `ServiceRequest/<id>` of the spine order.
    pub order: Option<String>,
    /// Its occurrence date, when given (the age is taken there).
    pub date: Option<FhirDate>,
}

/// The spine codes of an order, with the coding that matched.
fn spine_codes<'a>(
    order: &'a Value,
    mapping: &'a FhirMapping,
) -> Vec<(&'a ProcedureCode, Coding<'a>)> {
    codings(order.get("code"))
        .into_iter()
        .filter_map(|c| mapping.procedure_code_for(c.system, c.code).map(|p| (p, c)))
        .collect()
}

/// A ServiceRequest that is a plan (mapped status) and carries a spine code.
fn is_spine_order(order: &Value, mapping: &FhirMapping) -> bool {
    text(order, "resourceType") == Some("ServiceRequest")
        && text(order, "status")
            .is_some_and(|s| mapping.procedures.order_statuses.iter().any(|a| a == s))
        && !spine_codes(order, mapping).is_empty()
}

/// The order naming the highest-precedence procedure; else the first spine order.
fn best<'a>(orders: &[&'a Value], mapping: &FhirMapping) -> Option<&'a Value> {
    let rank = |o: &Value| {
        spine_codes(o, mapping)
            .iter()
            .filter_map(|(p, _)| p.procedure.as_deref())
            .map(|level| mapping.procedure_rank(level))
            .min()
            .unwrap_or(usize::MAX)
    };
    // `min_by_key` keeps the first of equal ranks.
    orders.iter().copied().min_by_key(|o| rank(o))
}

/// The planned spine surgery among draft orders, or `None` when no order is a spine surgery
/// (an order-select for something else: answer `{"cards": []}`).
pub fn spine_order<'a>(orders: &'a [Value], mapping: &FhirMapping) -> Option<&'a Value> {
    let spine: Vec<&Value> = orders
        .iter()
        .filter(|o| is_spine_order(o, mapping))
        .collect();
    best(&spine, mapping)
}

fn occurrence(order: &Value) -> Option<FhirDate> {
    text(order, "occurrenceDateTime")
        .or_else(|| order.get("occurrencePeriod").and_then(|p| text(p, "start")))
        .and_then(FhirDate::parse)
}

/// `quantityQuantity.value` as a whole multiplier (1 when absent).
fn quantity(order: &Value) -> Result<u32, ProblemKind> {
    if let Some(q) = order.get("quantityQuantity") {
        let n = q.get("value").and_then(Value::as_f64);
        return match n {
            Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= 100.0 => Ok(n as u32),
            _ => Err(ProblemKind::NotConvertible {
                detail: "ServiceRequest.quantityQuantity is not a whole count".to_string(),
            }),
        };
    }
    match ["quantityRatio", "quantityRange"]
        .iter()
        .find(|k| order.get(**k).is_some())
    {
        Some(k) => Err(ProblemKind::UnsupportedValueType {
            value_type: format!("ServiceRequest.{k}"),
        }),
        None => Ok(1),
    }
}

pub(super) fn map_surgery(inputs: &FhirInputs, ctx: &Context<'_>, out: &mut Builder) -> Plan {
    let mut orders: Vec<&Value> = Vec::new();
    for order in inputs
        .orders
        .iter()
        .filter(|o| is_spine_order(o, ctx.mapping))
    {
        match ctx.patient.check(order) {
            Subject::Other(subject) => out.problem(
                "procedure",
                Some(display_reference(order)),
                ProblemKind::OtherPatient { subject },
            ),
            Subject::Ours | Subject::Unknown => orders.push(order),
        }
    }
    let Some(primary) = best(&orders, ctx.mapping) else {
        return Plan::default();
    };
    // The primary order first: its details and sources lead.
    orders.retain(|o| !std::ptr::eq(*o, primary));
    orders.insert(0, primary);
    codes(&orders, ctx, out);
    for order in &orders {
        details(order, ctx, out);
    }
    Plan {
        order: reference_of(primary),
        date: occurrence(primary),
    }
}

fn source(feature: &str, order: &Value, original: String) -> InputSource {
    InputSource {
        feature: feature.to_string(),
        reference: display_reference(order),
        date: text(order, "occurrenceDateTime").map(str::to_string),
        original: Some(original),
    }
}

/// Procedure, level counts and revision from the orders' codes.
fn codes(orders: &[&Value], ctx: &Context<'_>, out: &mut Builder) {
    let mut procedure: Option<(usize, &str, Vec<InputSource>)> = None;
    let (mut fused, mut decompressed) = (0u32, 0u32);
    let (mut fused_sources, mut decompressed_sources) = (Vec::new(), Vec::new());
    let mut revision = Vec::new();
    let mut counts_ok = true;
    for order in orders {
        let q = match quantity(order) {
            Ok(q) => q,
            Err(kind) => {
                for f in ["fused_levels", "decompressed_levels"] {
                    out.problem(f, Some(display_reference(order)), kind.clone());
                }
                counts_ok = false;
                1
            }
        };
        for (code, coding) in spine_codes(order, ctx.mapping) {
            let times = if q > 1 {
                format!(" × {q}")
            } else {
                String::new()
            };
            let what = format!("{}{times}", describe(&coding));
            if let Some(level) = code.procedure.as_deref() {
                let rank = ctx.mapping.procedure_rank(level);
                let s = source("procedure", order, what.clone());
                match procedure.as_mut() {
                    Some((r, _, sources)) if *r == rank => sources.push(s),
                    Some((r, ..)) if *r < rank => {}
                    _ => procedure = Some((rank, level, vec![s])),
                }
            }
            if code.fused_levels > 0 {
                fused += code.fused_levels * q;
                fused_sources.push(source("fused_levels", order, what.clone()));
            }
            if code.decompressed_levels > 0 {
                decompressed += code.decompressed_levels * q;
                decompressed_sources.push(source("decompressed_levels", order, what.clone()));
            }
            if code.revision {
                revision.push(source("revision_surgery", order, what));
            }
        }
    }
    if let Some((_, level, sources)) = procedure {
        out.set("procedure", Value::from(level), sources);
        if counts_ok {
            let primary = orders[0];
            for (feature, n, mut sources, none) in [
                ("fused_levels", fused, fused_sources, "no arthrodesis code"),
                (
                    "decompressed_levels",
                    decompressed,
                    decompressed_sources,
                    "no decompression code",
                ),
            ] {
                if sources.is_empty() {
                    sources.push(source(feature, primary, none.to_string()));
                }
                let spec = &FEATURES[idx(feature)];
                match numeric(spec, f64::from(n)) {
                    Ok(v) => out.set(feature, v, sources),
                    Err(kind) => out.problem(feature, Some(display_reference(primary)), kind),
                }
            }
        }
    }
    if !revision.is_empty() {
        out.set("revision_surgery", Value::Bool(true), revision);
    }
}

/// The order-detail extensions of one order.
fn details(order: &Value, ctx: &Context<'_>, out: &mut Builder) {
    let prefix = format!("{}/", ctx.mapping.order_details.base.trim());
    let extensions = order.get("extension").and_then(Value::as_array);
    for ext in extensions.into_iter().flatten() {
        let Some(name) = text(ext, "url").and_then(|u| u.strip_prefix(prefix.as_str())) else {
            continue;
        };
        let reference = Some(display_reference(order));
        let (Some(detail), Some(f)) = (ctx.mapping.order_detail(name), feature_index(name)) else {
            out.problem(
                name,
                reference,
                ProblemKind::UnknownOrderDetail {
                    name: name.to_string(),
                },
            );
            continue;
        };
        match detail_value(&FEATURES[f], ext, &detail.units) {
            Ok((value, original)) => out.set(
                name,
                value,
                vec![source(name, order, format!("order detail {original}"))],
            ),
            Err(kind) => out.problem(name, reference, kind),
        }
    }
}

/// The value[x] of an order-detail extension, by the feature's kind.
fn detail_value(
    spec: &FeatureSpec,
    ext: &Value,
    units: &[UnitConversion],
) -> Result<(Value, String), ProblemKind> {
    let Some((key, value)) = ext
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.starts_with("value")))
    else {
        return Err(ProblemKind::NoValue);
    };
    let unsupported = || ProblemKind::UnsupportedValueType {
        value_type: key.clone(),
    };
    let shown = value.to_string();
    match (spec.kind, key.as_str()) {
        (FeatureKind::Boolean, "valueBoolean") => {
            let b = value.as_bool().ok_or(ProblemKind::NoValue)?;
            Ok((Value::Bool(b), shown))
        }
        (FeatureKind::Integer { .. }, "valueInteger" | "valuePositiveInt" | "valueUnsignedInt") => {
            let n = value.as_i64().ok_or(ProblemKind::NoValue)?;
            Ok((numeric(spec, n as f64)?, shown))
        }
        (FeatureKind::Number { .. }, "valueDecimal" | "valueInteger") => {
            let n = value.as_f64().ok_or(ProblemKind::NoValue)?;
            Ok((numeric(spec, n)?, shown))
        }
        (FeatureKind::Number { .. }, "valueQuantity" | "valueDuration") if !units.is_empty() => {
            let n = value
                .get("value")
                .and_then(Value::as_f64)
                .ok_or(ProblemKind::NoValue)?;
            let unit = QuantityUnit::of(value);
            let converted = normalise(n, unit, units, false)
                .map_err(|e| ProblemKind::UnknownUnit { unit: e.unit })?;
            Ok((
                numeric(spec, converted)?,
                format!("{n} {}", unit.describe()),
            ))
        }
        (FeatureKind::Enum { levels, .. }, "valueCode" | "valueString") => {
            let level = value.as_str().ok_or(ProblemKind::NoValue)?;
            if levels.contains(&level) {
                Ok((Value::from(level), level.to_string()))
            } else {
                Err(ProblemKind::UnknownLevel {
                    level: level.to_string(),
                })
            }
        }
        _ => Err(unsupported()),
    }
}

/// A completed earlier spine Procedure when the plan does not say whether this is a revision:
/// reported for the clinician to settle, never turned into `revision_surgery`.
pub(super) fn report_prior_spine_surgery(
    inputs: &FhirInputs,
    ctx: &Context<'_>,
    has_order: bool,
    out: &mut Builder,
) {
    if !has_order || out.has("revision_surgery") {
        return;
    }
    for procedure in inputs.procedures.iter().flatten() {
        if text(procedure, "status") != Some("completed")
            || matches!(ctx.patient.check(procedure), Subject::Other(_))
        {
            continue;
        }
        let codes = spine_codes(procedure, ctx.mapping);
        let Some((_, coding)) = codes.first() else {
            continue;
        };
        let when = text(procedure, "performedDateTime")
            .or_else(|| {
                procedure
                    .get("performedPeriod")
                    .and_then(|p| text(p, "start"))
            })
            .map_or_else(String::new, |d| format!(" on {d}"));
        out.problem(
            "revision_surgery",
            Some(display_reference(procedure)),
            ProblemKind::Undetermined {
                detail: format!(
                    "earlier spine surgery ({}){when}: state whether this is a revision",
                    describe(coding)
                ),
            },
        );
    }
}
