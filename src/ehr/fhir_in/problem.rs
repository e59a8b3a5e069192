//! What the adapter says about its inputs: where each mapped value came from, and every value
//! found but not used (stale, wrong unit, out of range, entered in error, …) or required input not
//! found. Each problem has a one-line `Display` for cards. Problems may carry the offending value
//! (a card shows it to the clinician); they are never written to logs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where one mapped value came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSource {
    /// The dictionary feature.
    pub feature: String,
    /// The resource, `Observation/hb-1` (`Observation (no id)` for a resource without one).
    pub reference: String,
    /// The clinical date of the value (FHIR date/dateTime as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The value as the EHR gave it, `112 g/L`, `ICD-10-CM Z86.718`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

/// A value found but not used, or a required input not found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputProblem {
    /// The dictionary feature, or an input category (`conditions`, `medications`, …) when the
    /// problem concerns a whole category.
    pub feature: String,
    /// The resource the problem is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(flatten)]
    pub kind: ProblemKind,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProblemKind {
    /// The latest usable value is older than the look-back window.
    Stale { date: String, lookback_days: u32 },
    /// A unit the mapping does not accept (as described: code, or code and system).
    UnknownUnit { unit: String },
    /// Outside the dictionary's physiological range after conversion (never clamped).
    OutOfRange { value: f64, unit: String },
    /// Status `entered-in-error` (Observation, Condition verification).
    EnteredInError,
    /// Status `cancelled`.
    Cancelled,
    /// A status that is not a final result (`registered`, `preliminary` for a lab, …).
    NotFinal { status: String },
    /// `dataAbsentReason`, or no value.
    NoValue,
    /// No usable clinical date (effective[x] / issued absent or malformed).
    NoDate,
    /// A value that cannot be converted (D-dimer DDU, a fractional ECOG, …).
    NotConvertible { detail: String },
    /// A coded answer with no dictionary value (`system|code`).
    UnmappedAnswer { coding: String },
    /// A value[x] type not accepted for this feature (`valueString`).
    UnsupportedValueType { value_type: String },
    /// A partial birthDate whose every possible day does not give one whole-year age.
    ImpreciseBirthDate { birth_date: String },
    /// Patient.gender other than male/female.
    UnsupportedGender { gender: String },
    /// A required element not found (`Patient.birthDate`, `ServiceRequest.code`).
    MissingElement { element: String },
    /// A paginated prefetch Bundle (`next` link): only the first page was read.
    Incomplete { key: String },
    /// A prefetch key answered with an OperationOutcome: treated as not supplied.
    PrefetchFailed { key: String },
    /// The resource's subject is another patient.
    OtherPatient { subject: String },
    /// Condition.verificationStatus `refuted`.
    Refuted,
    /// A condition whose clinicalStatus does not count for this feature.
    NotActive { status: String },
    /// Condition.verificationStatus unconfirmed/provisional/differential: not counted.
    Unconfirmed { status: String },
    /// Evidence was found but does not settle the value.
    Undetermined { detail: String },
    /// Two sources disagree: the feature is left missing.
    Conflict { detail: String },
    /// An enum value that is not a dictionary level.
    UnknownLevel { level: String },
    /// An order-detail extension for a feature the mapping does not list.
    UnknownOrderDetail { name: String },
    /// A condition or medication without a usable code (text only, unresolved reference).
    NoCode,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stale {
                date,
                lookback_days,
            } => write!(
                f,
                "latest value ({date}) is older than the {lookback_days}-day look-back"
            ),
            Self::UnknownUnit { unit } => write!(f, "unit {unit} is not accepted"),
            Self::OutOfRange { value, unit } if unit.is_empty() => {
                write!(f, "{value} is outside the accepted range")
            }
            Self::OutOfRange { value, unit } => {
                write!(f, "{value} {unit} is outside the accepted range")
            }
            Self::EnteredInError => write!(f, "entered in error"),
            Self::Cancelled => write!(f, "cancelled"),
            Self::NotFinal { status } => write!(f, "status {status} is not a final result"),
            Self::NoValue => write!(f, "no value"),
            Self::NoDate => write!(f, "no usable date"),
            Self::NotConvertible { detail } | Self::Undetermined { detail } => {
                write!(f, "{detail}")
            }
            Self::UnmappedAnswer { coding } => write!(f, "answer {coding} is not mapped"),
            Self::UnsupportedValueType { value_type } => {
                write!(f, "{value_type} is not accepted here")
            }
            Self::ImpreciseBirthDate { birth_date } => write!(
                f,
                "birth date {birth_date} is too imprecise for a whole-year age"
            ),
            Self::UnsupportedGender { gender } => {
                write!(f, "gender {gender} is not male or female")
            }
            Self::MissingElement { element } => write!(f, "{element} not found"),
            Self::Incomplete { key } => {
                write!(f, "prefetch {key} has further pages that were not read")
            }
            Self::PrefetchFailed { key } => {
                write!(f, "prefetch {key} failed (OperationOutcome): not supplied")
            }
            Self::OtherPatient { subject } => {
                write!(f, "belongs to {subject}, not this patient")
            }
            Self::Refuted => write!(f, "refuted"),
            Self::NotActive { status } => write!(f, "clinical status {status}: not counted"),
            Self::Unconfirmed { status } => {
                write!(f, "verification status {status}: not counted")
            }
            Self::Conflict { detail } => write!(f, "sources disagree: {detail}"),
            Self::UnknownLevel { level } => write!(f, "{level} is not an accepted level"),
            Self::UnknownOrderDetail { name } => write!(f, "order detail {name} is not mapped"),
            Self::NoCode => write!(f, "no usable code"),
        }
    }
}

impl fmt::Display for InputProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.feature, self.kind)?;
        if let Some(reference) = &self.reference {
            write!(f, " ({reference})")?;
        }
        Ok(())
    }
}
