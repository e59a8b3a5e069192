//! Age and sex from the Patient resource: age in whole years completed at the surgery date (the
//! order's date, else `today`), from a birthDate that may be partial; sex from
//! `Patient.gender` male/female only.

use serde_json::Value;

use super::problem::{InputSource, ProblemKind};
use super::resource::{display_reference, text};
use super::time::{whole_years, FhirDate};
use super::{Builder, Context, FhirInputs};
use crate::ehr::ucum::check_range;
use crate::features::dictionary::{idx, FEATURES};

pub(super) fn map_demographics(
    inputs: &FhirInputs,
    ctx: &Context<'_>,
    surgery_date: Option<&FhirDate>,
    out: &mut Builder,
) {
    let Some(patient) = &inputs.patient else {
        return;
    };
    let reference = display_reference(patient);
    let at = surgery_date
        .cloned()
        .unwrap_or_else(|| FhirDate::day(ctx.today));
    age(patient, &reference, &at, out);
    sex(patient, &reference, out);
}

fn age(patient: &Value, reference: &str, at: &FhirDate, out: &mut Builder) {
    let feature = "age_years";
    let problem = |out: &mut Builder, kind| out.problem(feature, Some(reference.to_string()), kind);
    let Some(birth_text) = text(patient, "birthDate") else {
        problem(
            out,
            ProblemKind::MissingElement {
                element: "Patient.birthDate".to_string(),
            },
        );
        return;
    };
    let Some(birth) = FhirDate::parse(birth_text).filter(|b| b.text.len() <= 10) else {
        problem(
            out,
            ProblemKind::NotConvertible {
                detail: format!("Patient.birthDate {birth_text:?} is not a FHIR date"),
            },
        );
        return;
    };
    let Ok(years) = whole_years(&birth, at) else {
        problem(
            out,
            ProblemKind::ImpreciseBirthDate {
                birth_date: birth_text.to_string(),
            },
        );
        return;
    };
    let spec = &FEATURES[idx(feature)];
    if check_range(spec, years as f64).is_err() {
        problem(
            out,
            ProblemKind::OutOfRange {
                value: years as f64,
                unit: spec.unit.unwrap_or("").to_string(),
            },
        );
        return;
    }
    out.set(
        feature,
        Value::from(years),
        vec![InputSource {
            feature: feature.to_string(),
            reference: reference.to_string(),
            date: Some(at.text.clone()),
            original: Some(format!("birthDate {birth_text}")),
        }],
    );
}

fn sex(patient: &Value, reference: &str, out: &mut Builder) {
    let feature = "sex";
    match text(patient, "gender") {
        Some(g @ ("male" | "female")) => out.set(
            feature,
            Value::from(g),
            vec![InputSource {
                feature: feature.to_string(),
                reference: reference.to_string(),
                date: None,
                original: Some(format!("gender {g}")),
            }],
        ),
        Some(other) => out.problem(
            feature,
            Some(reference.to_string()),
            ProblemKind::UnsupportedGender {
                gender: other.to_string(),
            },
        ),
        None => out.problem(
            feature,
            Some(reference.to_string()),
            ProblemKind::MissingElement {
                element: "Patient.gender".to_string(),
            },
        ),
    }
}
