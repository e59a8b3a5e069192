//! Conditions and medications → comorbidity features (booleans, and diabetes with its treatment).
//!
//! Evidence per feature is the highest level found (`true`; for diabetes none < non_insulin <
//! insulin). A feature is set when that level is the highest any source can give, or when every
//! category that could raise it (conditions and/or medications, per the mapping) was supplied in
//! full; absence then means `false`/`none`. Otherwise the feature stays missing: a category not
//! supplied, or a finding that could still be outranked (diabetes found, insulin use unknown
//! because medications were not supplied: reported). An unconfirmed finding above the confirmed
//! level also leaves the feature missing.

use serde_json::Value;

use super::inputs::Category;
use super::problem::{InputSource, ProblemKind};
use super::resource::{codings, concept_code, describe, display_reference, text, Coding, Subject};
use super::{Builder, Context, FhirInputs};
use crate::ehr::mapping::Target;
use crate::features::dictionary::{FeatureKind, FEATURES};

/// One finding for a feature.
struct Evidence {
    level: usize,
    source: InputSource,
}

#[derive(Default)]
struct Findings {
    confirmed: Vec<Evidence>,
    unconfirmed: Vec<Evidence>,
}

const COUNTED_CLINICAL: &[&str] = &["active", "recurrence", "relapse"];
const INACTIVE_CLINICAL: &[&str] = &["inactive", "remission", "resolved"];
const UNCERTAIN_VERIFICATION: &[&str] = &["unconfirmed", "provisional", "differential"];

fn onset(r: &Value) -> Option<String> {
    [
        "onsetDateTime",
        "recordedDate",
        "authoredOn",
        "effectiveDateTime",
        "dateAsserted",
    ]
    .iter()
    .find_map(|k| text(r, k))
    .map(str::to_string)
}

pub(super) fn map_comorbidities(inputs: &FhirInputs, ctx: &Context<'_>, out: &mut Builder) {
    let features = ctx.mapping.comorbidity_features();
    let mut findings: Vec<Findings> = features.iter().map(|_| Findings::default()).collect();
    let mut add = |t: Target, unconfirmed: bool, source: InputSource| {
        if let Some(i) = features.iter().position(|f| f.0 == t.feature) {
            let list = if unconfirmed {
                &mut findings[i].unconfirmed
            } else {
                &mut findings[i].confirmed
            };
            list.push(Evidence {
                level: t.level,
                source,
            });
        }
    };
    for condition in inputs.conditions.iter().flatten() {
        read_condition(condition, ctx, out, &mut add);
    }
    if let Some(meds) = &inputs.medications {
        for med in meds {
            read_medication(med, meds, ctx, out, &mut add);
        }
    }
    let usable =
        |category: Category, supplied: bool| supplied && !inputs.incomplete.contains(&category);
    let conditions_ok = usable(Category::Conditions, inputs.conditions.is_some());
    let medications_ok = usable(Category::Medications, inputs.medications.is_some());
    for (&(f, from_conditions, from_medications), found) in features.iter().zip(findings) {
        let complete = (!from_conditions || conditions_ok) && (!from_medications || medications_ok);
        settle(
            f,
            found,
            complete,
            from_medications && !medications_ok,
            ctx,
            out,
        );
    }
}

/// Decides one feature from its findings.
fn settle(
    f: usize,
    found: Findings,
    complete: bool,
    medications_missing: bool,
    ctx: &Context<'_>,
    out: &mut Builder,
) {
    let spec = &FEATURES[f];
    let (top, as_json): (usize, Box<dyn Fn(usize) -> Value>) = match spec.kind {
        FeatureKind::Enum { levels, .. } => (
            levels.len() - 1,
            Box::new(move |l: usize| Value::from(levels[l])),
        ),
        _ => (1, Box::new(|l: usize| Value::Bool(l == 1))),
    };
    let confirmed = found.confirmed.iter().map(|e| e.level).max();
    let unconfirmed = found.unconfirmed.iter().map(|e| e.level).max();
    let sources_at = |level: usize| -> Vec<InputSource> {
        found
            .confirmed
            .iter()
            .filter(|e| e.level == level)
            .map(|e| e.source.clone())
            .collect()
    };
    if confirmed == Some(top) {
        return out.set(spec.name, as_json(top), sources_at(top));
    }
    if unconfirmed > confirmed {
        // Reported per condition as Unconfirmed; the feature cannot be settled.
        return;
    }
    if complete {
        match confirmed {
            Some(level) => out.set(spec.name, as_json(level), sources_at(level)),
            None => {
                let absent = match spec.kind {
                    FeatureKind::Enum { .. } => ctx
                        .mapping
                        .absent_levels
                        .get(spec.name)
                        .map(|l| Value::from(l.as_str())),
                    _ => Some(Value::Bool(false)),
                };
                if let Some(value) = absent {
                    out.set_from_absence(spec.name, value);
                }
            }
        }
        return;
    }
    if let Some(level) = confirmed {
        let why = if medications_missing {
            "medications were not supplied"
        } else {
            "the conditions or medications were not supplied in full"
        };
        let refs: Vec<String> = sources_at(level).into_iter().map(|s| s.reference).collect();
        let shown = match as_json(level) {
            Value::String(s) => s,
            other => other.to_string(),
        };
        out.problem(
            spec.name,
            refs.first().cloned(),
            ProblemKind::Undetermined {
                detail: format!(
                    "{shown} found ({}) but a higher level cannot be ruled out: {why}",
                    refs.join(", ")
                ),
            },
        );
    }
}

fn read_condition(
    condition: &Value,
    ctx: &Context<'_>,
    out: &mut Builder,
    add: &mut impl FnMut(Target, bool, InputSource),
) {
    let reference = display_reference(condition);
    let all = codings(condition.get("code"));
    let mut hits: Vec<(usize, Coding<'_>)> = Vec::new();
    for c in &all {
        for rule in ctx.mapping.condition_rules_for(c.system, c.code) {
            if !hits.iter().any(|h| h.0 == rule) {
                hits.push((rule, *c));
            }
        }
    }
    let verification = concept_code(condition, "verificationStatus");
    let clinical = concept_code(condition, "clinicalStatus");
    let abated = condition
        .as_object()
        .is_some_and(|o| o.keys().any(|k| k.starts_with("abatement")));
    if hits.is_empty() {
        let counted = clinical.is_none_or(|s| COUNTED_CLINICAL.contains(&s));
        if all.is_empty() && counted && verification != Some("entered-in-error") {
            out.problem(
                Category::Conditions.name(),
                Some(reference),
                ProblemKind::NoCode,
            );
        }
        return;
    }
    for (rule, coding) in hits {
        let target = ctx.mapping.condition_target(rule);
        let feature = FEATURES[target.feature].name;
        let problem = |out: &mut Builder, kind| out.problem(feature, Some(reference.clone()), kind);
        if let Subject::Other(subject) = ctx.patient.check(condition) {
            problem(out, ProblemKind::OtherPatient { subject });
            continue;
        }
        match verification {
            Some("entered-in-error") => {
                problem(out, ProblemKind::EnteredInError);
                continue;
            }
            Some("refuted") => {
                problem(out, ProblemKind::Refuted);
                continue;
            }
            _ => {}
        }
        let counts_when_inactive = ctx.mapping.conditions[rule].counts_when_inactive;
        let status = match clinical {
            Some(s) => s,
            None if abated => "resolved",
            None => "active",
        };
        let counts = COUNTED_CLINICAL.contains(&status)
            || (INACTIVE_CLINICAL.contains(&status) && counts_when_inactive);
        if !counts {
            problem(
                out,
                ProblemKind::NotActive {
                    status: status.to_string(),
                },
            );
            continue;
        }
        let unconfirmed = verification.is_some_and(|v| UNCERTAIN_VERIFICATION.contains(&v));
        if let Some(v) = verification.filter(|_| unconfirmed) {
            problem(
                out,
                ProblemKind::Unconfirmed {
                    status: v.to_string(),
                },
            );
        }
        add(
            target,
            unconfirmed,
            InputSource {
                feature: feature.to_string(),
                reference: reference.clone(),
                date: onset(condition),
                original: Some(describe(&coding)),
            },
        );
    }
}

/// The codings naming a medication: its CodeableConcept, or the referenced (contained or
/// supplied) Medication's code and ingredient codes. `None` when a reference does not resolve.
fn medication_codings<'a>(med: &'a Value, all: &'a [Value]) -> Option<Vec<Coding<'a>>> {
    if let Some(cc) = med.get("medicationCodeableConcept") {
        return Some(codings(Some(cc)));
    }
    let reference = med
        .get("medicationReference")
        .and_then(|r| text(r, "reference"))?;
    let target = if let Some(local) = reference.strip_prefix('#') {
        med.get("contained")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|r| text(r, "id") == Some(local)))
    } else {
        let id = reference.rsplit_once("Medication/").map(|(_, id)| id)?;
        all.iter()
            .find(|r| text(r, "resourceType") == Some("Medication") && text(r, "id") == Some(id))
    }?;
    let mut out = codings(target.get("code"));
    for ingredient in target
        .get("ingredient")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(codings(ingredient.get("itemCodeableConcept")));
    }
    Some(out)
}

fn read_medication(
    med: &Value,
    all: &[Value],
    ctx: &Context<'_>,
    out: &mut Builder,
    add: &mut impl FnMut(Target, bool, InputSource),
) {
    let rules = &ctx.mapping.medications;
    let statuses = match text(med, "resourceType") {
        Some("MedicationRequest") => &rules.request_statuses,
        Some("MedicationStatement") => &rules.statement_statuses,
        _ => return, // Medication: only a reference target.
    };
    if !text(med, "status").is_some_and(|s| statuses.iter().any(|a| a == s)) {
        return;
    }
    let reference = display_reference(med);
    let codes = match medication_codings(med, all) {
        Some(codes) if !codes.is_empty() => codes,
        _ => {
            out.problem(
                Category::Medications.name(),
                Some(reference),
                ProblemKind::NoCode,
            );
            return;
        }
    };
    let mut classes: Vec<(usize, Coding<'_>)> = Vec::new();
    for c in codes {
        if let Some(k) = ctx.mapping.medication_class_for(c.system, c.code) {
            if !classes.iter().any(|h| h.0 == k) {
                classes.push((k, c));
            }
        }
    }
    for (k, coding) in classes {
        let target = ctx.mapping.medication_target(k);
        let feature = FEATURES[target.feature].name;
        if let Subject::Other(subject) = ctx.patient.check(med) {
            out.problem(
                feature,
                Some(reference.clone()),
                ProblemKind::OtherPatient { subject },
            );
            continue;
        }
        add(
            target,
            false,
            InputSource {
                feature: feature.to_string(),
                reference: reference.clone(),
                date: onset(med),
                original: Some(format!(
                    "{} ({})",
                    describe(&coding),
                    rules.classes[k].class
                )),
            },
        );
    }
}
