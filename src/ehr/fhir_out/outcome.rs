//! FHIR R4 `OperationOutcome`: how periop says, in FHIR, why it could not answer FHIR input. Each
//! issue names the constraint (`diagnostics`) and, when there is one, where in the input it is
//! (`expression`, a FHIRPath such as `Bundle.entry[3].resource.birthDate`).

use serde::Serialize;
use serde_json::{json, Value};

/// `OperationOutcome.issue.code` values periop uses (FHIR R4 `issue-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueType {
    /// Not a usable structure (not JSON, not a Bundle, a malformed entry).
    Structure,
    /// A required element or resource is absent.
    Required,
    /// An element's value is not acceptable.
    Value,
    /// Elements that cannot all hold together.
    Invariant,
    /// A request parameter or feature periop does not support.
    NotSupported,
    /// The input is too large to process.
    TooCostly,
    /// The named service or resource does not exist.
    NotFound,
    /// The content is valid but cannot be processed (e.g. required prefetch not supplied).
    Processing,
    /// The content is invalid (a hook request that does not fit the service).
    Invalid,
}

/// One `OperationOutcome.issue` (severity `error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub code: IssueType,
    /// The constraint in words (never patient values).
    pub diagnostics: String,
    /// Where in the input: FHIRPath expressions; empty when the issue is about the request as a
    /// whole.
    pub expression: Vec<String>,
}

impl Issue {
    /// An issue at `expression` (none when `None`).
    pub fn new(
        code: IssueType,
        diagnostics: impl Into<String>,
        expression: Option<String>,
    ) -> Self {
        Self {
            code,
            diagnostics: diagnostics.into(),
            expression: expression.into_iter().collect(),
        }
    }
}

/// The OperationOutcome of `issues` (each of severity `error`).
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issue: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut v = json!({"severity": "error", "code": i.code, "diagnostics": i.diagnostics});
            if !i.expression.is_empty() {
                v["expression"] = json!(i.expression);
            }
            v
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issue})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_carry_their_code_and_only_a_given_expression() {
        let outcome = operation_outcome(&[
            Issue::new(
                IssueType::Required,
                "age_years is required",
                Some("Bundle.entry[0].resource.birthDate".into()),
            ),
            Issue::new(IssueType::TooCostly, "the body exceeds 10 bytes", None),
        ]);
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["code"], "required");
        assert_eq!(
            outcome["issue"][0]["expression"][0],
            "Bundle.entry[0].resource.birthDate"
        );
        assert_eq!(outcome["issue"][1]["code"], "too-costly");
        assert!(outcome["issue"][1].get("expression").is_none());
    }
}
