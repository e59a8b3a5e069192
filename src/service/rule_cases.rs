//! Regression cases for a rule set (`periop rules test FILE --cases cases.json`): given inputs
//! (a patient, run through the model set first, or a ready rule context), the recommendation ids
//! that must and must not appear, so a quality team keeps its expectations beside its tables.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::assessor::rule_context;
use super::request::validate;
use super::types::AssessmentRequest;
use crate::model::ensemble::ModelSet;
use crate::rules::RuleSet;

/// A cases file: `{"cases": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub cases: Vec<Case>,
}

/// One case: exactly one of `patient` or `context`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// The clinical reasoning behind the expectation.
    #[serde(default)]
    pub why: String,
    /// Patient features (as in `POST /v1/assessments`); the model set predicts first.
    #[serde(default)]
    pub patient: Option<Map<String, Value>>,
    /// A ready rule context (`docs/rules.md`).
    #[serde(default)]
    pub context: Option<Value>,
    /// Ids that must be recommended.
    #[serde(default)]
    pub expect: Vec<String>,
    /// Ids that must not be recommended.
    #[serde(default)]
    pub absent: Vec<String>,
}

/// How one case went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    pub name: String,
    /// The ids recommended, in order.
    pub got: Vec<String>,
    /// Expected but not recommended.
    pub missing: Vec<String>,
    /// Recommended but listed under `absent`.
    pub unexpected: Vec<String>,
    /// Why the case could not run (bad patient, no model set, evaluation error).
    pub error: Option<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// Runs every case. `models` is needed only by cases that give a `patient`.
pub fn run(rules: &RuleSet, models: Option<&ModelSet>, file: &CaseFile) -> Vec<CaseResult> {
    file.cases
        .iter()
        .map(|case| {
            let mut result = CaseResult {
                name: case.name.clone(),
                got: Vec::new(),
                missing: Vec::new(),
                unexpected: Vec::new(),
                error: None,
            };
            match case_context(case, models)
                .and_then(|c| rules.evaluate(&c).map_err(|e| e.to_string()))
            {
                Err(e) => result.error = Some(e),
                Ok(outcome) => {
                    result.got = outcome.recommendations.into_iter().map(|r| r.id).collect();
                    result.missing = case
                        .expect
                        .iter()
                        .filter(|id| !result.got.contains(id))
                        .cloned()
                        .collect();
                    result.unexpected = case
                        .absent
                        .iter()
                        .filter(|id| result.got.contains(id))
                        .cloned()
                        .collect();
                }
            }
            result
        })
        .collect()
}

fn case_context(case: &Case, models: Option<&ModelSet>) -> Result<Value, String> {
    match (&case.patient, &case.context) {
        (Some(patient), None) => {
            let models = models.ok_or("a `patient` case needs a model set (--models)")?;
            let request = AssessmentRequest {
                patient: patient.clone(),
                outcomes: None,
                explain: false,
                missing_input_ranges: false,
                origin: Default::default(),
            };
            let job = validate(&request).map_err(|e| e.to_string())?;
            rule_context(models, &job).map_err(|e| e.to_string())
        }
        (None, Some(context)) => Ok(context.clone()),
        _ => Err("a case needs exactly one of `patient` or `context`".into()),
    }
}
