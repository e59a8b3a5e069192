//! The FHIR → feature-dictionary mapping as data: which LOINC, SNOMED CT, ICD-10-CM, RxNorm and CPT
//! codes feed which dictionary feature, the UCUM unit conversions, the look-back windows and the
//! order-detail extensions, loaded from a versioned JSON file (`models/<set>/ehr/fhir-mapping.json`,
//! hashed into the model set's manifest) and validated against the dictionary at load.
//!
//! Invariants after [`FhirMapping::from_json`]: every feature named exists with a kind the mapping
//! can fill; every factor is finite and non-zero; a code (or an ICD-10-CM prefix) never maps to two
//! targets; every code system alias is declared. Lookups are by `(system URL, code)`.

mod error;
mod per_set;
mod tables;
mod validate;

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

pub use error::MappingError;
pub use per_set::{SetMappingError, SetMappings};

/// The mapping file's path inside a model set directory.
pub const MAPPING_FILE: &str = "ehr/fhir-mapping.json";

/// The mapping file format this code reads.
pub const MAPPING_FORMAT: u32 = 1;

/// The whole mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirMapping {
    /// File format ([`MAPPING_FORMAT`]).
    pub format: u32,
    /// Version of the mapping content (recorded with every assessment's provenance).
    pub version: String,
    /// The feature dictionary version the mapping was written for.
    pub dictionary_version: String,
    #[serde(default)]
    pub note: Option<String>,
    /// Code system alias → system.
    pub systems: BTreeMap<String, CodeSystem>,
    pub analytes: Vec<Analyte>,
    pub conditions: Vec<ConditionRule>,
    /// For enum comorbidities: the level meaning "none found" (booleans use `false`).
    #[serde(default)]
    pub absent_levels: BTreeMap<String, String>,
    pub medications: MedicationRules,
    pub procedures: ProcedureRules,
    pub order_details: OrderDetails,
    #[serde(skip)]
    index: Index,
}

/// One code system, referred to by its alias.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSystem {
    pub url: String,
    /// Compare codes with dots removed and upper-cased (ICD-10-CM `I82.401` = `I82401`).
    #[serde(default)]
    pub ignore_dots: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// A code (or, for conditions only, a code prefix) in a declared system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRef {
    /// A key of [`FhirMapping::systems`].
    pub system: String,
    #[serde(default)]
    pub code: Option<String>,
    /// Matches every code starting with it (conditions only).
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub display: Option<String>,
    /// Taken from a secondary source: verify before go-live.
    #[serde(default)]
    pub unverified: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// An analyte: Observations by code, their value conversion and look-back.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analyte {
    pub feature: String,
    pub codes: Vec<CodeRef>,
    /// Codes of the same analyte whose results cannot be converted (D-dimer DDU).
    #[serde(default)]
    pub not_convertible: Vec<NotConvertibleCode>,
    /// Results older than this many days before `today` are stale.
    pub lookback_days: u32,
    /// Accept `preliminary` results (vital signs).
    #[serde(default)]
    pub accept_preliminary: bool,
    /// Accepted UCUM codes of `valueQuantity`.
    #[serde(default)]
    pub units: Vec<UnitConversion>,
    /// Accept a `valueQuantity` without a unit code (dimensionless values such as INR).
    #[serde(default)]
    pub accept_no_unit: bool,
    /// Accept `valueInteger` as a value in the dictionary unit.
    #[serde(default)]
    pub accept_integer: bool,
    /// Coded answers (`valueCodeableConcept`) → dictionary value.
    #[serde(default)]
    pub answers: Vec<Answer>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A code whose results are reported, never converted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotConvertibleCode {
    pub system: String,
    pub code: String,
    /// Why (shown in the problem).
    pub detail: String,
    #[serde(default)]
    pub display: Option<String>,
    #[serde(default)]
    pub unverified: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// One accepted UCUM code and its conversion to the dictionary unit:
/// `value * factor / divide_by + offset` (factor and divide_by default to 1, offset to 0).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConversion {
    pub code: String,
    #[serde(default)]
    pub factor: Option<f64>,
    #[serde(default)]
    pub divide_by: Option<f64>,
    #[serde(default)]
    pub offset: Option<f64>,
    #[serde(default)]
    pub unverified: bool,
    #[serde(default)]
    pub note: Option<String>,
}

impl UnitConversion {
    /// The value in the dictionary unit.
    pub fn apply(&self, value: f64) -> f64 {
        let scaled = match (self.factor, self.divide_by) {
            (Some(f), _) => value * f,
            (None, Some(d)) => value / d,
            (None, None) => value,
        };
        scaled + self.offset.unwrap_or(0.0)
    }
}

/// A coded answer and the dictionary value it stands for (a level string or an integer).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub system: String,
    pub code: String,
    pub value: serde_json::Value,
    #[serde(default)]
    pub display: Option<String>,
    #[serde(default)]
    pub unverified: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// Condition codes that set a comorbidity (`true`, or `level` for an ordered enum).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionRule {
    pub feature: String,
    #[serde(default)]
    pub level: Option<String>,
    /// A resolved/inactive/remission condition still counts (a history, e.g. of VTE).
    #[serde(default)]
    pub counts_when_inactive: bool,
    pub codes: Vec<CodeRef>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Medication classes and which statuses count as current use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedicationRules {
    pub request_statuses: Vec<String>,
    pub statement_statuses: Vec<String>,
    pub classes: Vec<MedicationClass>,
    #[serde(default)]
    pub note: Option<String>,
}

/// One class: its RxNorm ingredient and product (SCD/SBD) codes and the feature it sets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedicationClass {
    pub class: String,
    pub feature: String,
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default)]
    pub ingredients: Vec<CodeRef>,
    #[serde(default)]
    pub products: Vec<CodeRef>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Planned-surgery codes (ServiceRequest.code).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureRules {
    /// ServiceRequest statuses that are a plan (draft orders, re-signed active orders).
    pub order_statuses: Vec<String>,
    /// Every procedure level, first = wins when several codes name one.
    pub precedence: Vec<String>,
    pub codes: Vec<ProcedureCode>,
    #[serde(default)]
    pub note: Option<String>,
}

/// One spine surgery code: what each occurrence contributes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureCode {
    pub system: String,
    pub code: String,
    /// The procedure level a primary code names (`None` for add-ons and markers).
    #[serde(default)]
    pub procedure: Option<String>,
    #[serde(default)]
    pub fused_levels: u32,
    #[serde(default)]
    pub decompressed_levels: u32,
    /// The code means a revision of earlier spine surgery.
    #[serde(default)]
    pub revision: bool,
    #[serde(default)]
    pub display: Option<String>,
    #[serde(default)]
    pub unverified: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// Surgical-plan details carried as ServiceRequest extensions `<base>/<feature>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderDetails {
    pub base: String,
    pub features: Vec<OrderDetailFeature>,
    #[serde(default)]
    pub note: Option<String>,
}

/// One order-detail feature; `units` for a number given as valueQuantity/valueDuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderDetailFeature {
    pub feature: String,
    #[serde(default)]
    pub units: Vec<UnitConversion>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What a condition or medication code sets: a feature and its level index (1 = `true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// Index into [`crate::features::FEATURES`].
    pub feature: usize,
    /// For booleans 1 (`true`); for enums the level index.
    pub level: usize,
}

/// Lookups built once after validation.
#[derive(Debug, Clone, Default)]
struct Index {
    /// (system URL, code) → (analyte, not-convertible entry).
    observation: HashMap<(String, String), (usize, Option<usize>)>,
    /// (system URL, normalised code) → condition rule.
    condition_exact: HashMap<(String, String), usize>,
    /// (system URL, normalised prefix, condition rule).
    condition_prefix: Vec<(String, String, usize)>,
    /// (system URL, code) → medication class.
    medication: HashMap<(String, String), usize>,
    /// (system URL, code) → procedure code.
    procedure: HashMap<(String, String), usize>,
    /// System URLs compared without dots.
    dotless: Vec<String>,
    condition_targets: Vec<Target>,
    medication_targets: Vec<Target>,
}

impl FhirMapping {
    /// Parses and validates a mapping file.
    ///
    /// # Errors
    /// [`MappingError`] naming the JSON path of the first problem: malformed JSON, an unknown
    /// member, an unknown feature or one of the wrong kind, a bad factor, a duplicate code.
    pub fn from_json(bytes: &[u8]) -> Result<Self, MappingError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let mut mapping: FhirMapping =
            serde_path_to_error::deserialize(&mut de).map_err(|e| MappingError::Parse {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        de.end().map_err(|e| MappingError::Parse {
            path: ".".to_string(),
            message: e.to_string(),
        })?;
        mapping.index = validate::validate(&mapping)?;
        Ok(mapping)
    }

    /// The URL of a declared system alias.
    pub fn system_url(&self, alias: &str) -> Option<&str> {
        self.systems.get(alias).map(|s| s.url.as_str())
    }

    /// The analyte a coding belongs to, with the not-convertible entry when it is one.
    pub fn analyte_for(
        &self,
        system: &str,
        code: &str,
    ) -> Option<(usize, Option<&NotConvertibleCode>)> {
        let key = (system.to_string(), code.trim().to_string());
        let (a, nc) = *self.index.observation.get(&key)?;
        Some((a, nc.map(|i| &self.analytes[a].not_convertible[i])))
    }

    /// The condition rules a coding matches (exact code or prefix).
    pub fn condition_rules_for(&self, system: &str, code: &str) -> Vec<usize> {
        let code = self.normalise(system, code);
        let mut out = Vec::new();
        if let Some(&i) = self
            .index
            .condition_exact
            .get(&(system.to_string(), code.clone()))
        {
            out.push(i);
        }
        for (s, prefix, i) in &self.index.condition_prefix {
            if s == system && code.starts_with(prefix.as_str()) && !out.contains(i) {
                out.push(*i);
            }
        }
        out
    }

    /// The medication class of a coding (ingredient or product).
    pub fn medication_class_for(&self, system: &str, code: &str) -> Option<usize> {
        self.index
            .medication
            .get(&(system.to_string(), code.trim().to_string()))
            .copied()
    }

    /// The spine surgery code entry of a coding.
    pub fn procedure_code_for(&self, system: &str, code: &str) -> Option<&ProcedureCode> {
        self.index
            .procedure
            .get(&(system.to_string(), code.trim().to_string()))
            .map(|&i| &self.procedures.codes[i])
    }

    /// The order-detail entry of a feature.
    pub fn order_detail(&self, feature: &str) -> Option<&OrderDetailFeature> {
        self.order_details
            .features
            .iter()
            .find(|f| f.feature == feature)
    }

    /// What condition rule `i` sets.
    pub fn condition_target(&self, i: usize) -> Target {
        self.index.condition_targets[i]
    }

    /// What medication class `i` sets.
    pub fn medication_target(&self, i: usize) -> Target {
        self.index.medication_targets[i]
    }

    /// Every feature set by conditions or medications, with whether each category feeds it:
    /// `(feature index, from conditions, from medications)`.
    pub fn comorbidity_features(&self) -> Vec<(usize, bool, bool)> {
        let mut out: Vec<(usize, bool, bool)> = Vec::new();
        let mut add = |feature: usize, cond: bool| {
            if let Some(e) = out.iter_mut().find(|e| e.0 == feature) {
                if cond {
                    e.1 = true;
                } else {
                    e.2 = true;
                }
            } else {
                out.push((feature, cond, !cond));
            }
        };
        for t in &self.index.condition_targets {
            add(t.feature, true);
        }
        for t in &self.index.medication_targets {
            add(t.feature, false);
        }
        out
    }

    /// Rank of a procedure level in [`ProcedureRules::precedence`] (0 = wins).
    pub fn procedure_rank(&self, level: &str) -> usize {
        self.procedures
            .precedence
            .iter()
            .position(|p| p == level)
            .unwrap_or(usize::MAX)
    }

    /// A code as compared for `system` (dots removed and upper-cased for ICD-10-CM).
    fn normalise(&self, system: &str, code: &str) -> String {
        normalise_code(self.index.dotless.iter().any(|s| s == system), code)
    }
}

fn normalise_code(dotless: bool, code: &str) -> String {
    let code = code.trim();
    if dotless {
        code.chars()
            .filter(|c| *c != '.')
            .map(|c| c.to_ascii_uppercase())
            .collect()
    } else {
        code.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests;
