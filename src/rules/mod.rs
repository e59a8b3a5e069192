//! Rules: versioned GoRules JDM decision graphs that turn an assessment's risks into recommended
//! orders (`design.md`, "Rules are data"; `docs/rules.md`).
//!
//! A [`RuleSet`] is one checked, compiled document with its version and SHA-256. Loading runs the
//! safety checks of [`safety`]; evaluation ([`RuleSet::evaluate`]) builds the context of
//! [`context`], runs zen-engine with tracing on, and returns the recommendations with their
//! provenance ([`recommendation`]) and the trace of the table rows that matched.

pub mod context;
pub mod recommendation;
pub mod registry;
pub mod safety;
pub mod shipped;

use std::sync::Arc;

use futures_util::FutureExt;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use zen_engine::model::{DecisionContent, GraphContent};
use zen_engine::{Decision, EvaluationOptions};

pub use context::KnownFields;
pub use recommendation::{Category, Recommendation, RuleTrace, Strength};
pub use safety::Problem;

/// Depth limit passed to zen-engine (sub-decisions are rejected at load, so 1 level is used).
const MAX_DEPTH: u8 = 4;

/// Version names: what `GET /v1/rules/versions/{v}` accepts in a path segment.
pub const VERSION_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$";

/// Why a rule document cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    /// The bytes are not JSON.
    #[error("rule document is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The version name does not match [`VERSION_PATTERN`].
    #[error("version `{0}` must match {VERSION_PATTERN}")]
    Version(String),
    /// The document failed the safety checks.
    #[error("rule document rejected: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<Problem>),
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Why an evaluation failed (never the patient's fault: the document passed the load checks).
#[derive(Debug, thiserror::Error)]
pub enum RuleEvalError {
    /// zen-engine reported an error, e.g. an expression failing at run time.
    #[error("rule evaluation failed in node `{node}`: {message}")]
    Engine { node: String, message: String },
    /// The evaluation tried to wait (it can only do so for I/O, which a rule set must not do).
    #[error("rule evaluation suspended: a rule set must not do I/O")]
    Suspended,
    /// The output is not the documented shape.
    #[error("rule output invalid at {path}: {problem}")]
    Output { path: String, problem: String },
}

/// Identity of a rule set, as stored with every assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RuleSetRef {
    /// Version name, e.g. `default-1`.
    pub version: String,
    /// SHA-256 of the document's canonical JSON (keys sorted, no whitespace).
    pub sha256: String,
}

/// One loaded, checked and compiled rule set.
pub struct RuleSet {
    reference: RuleSetRef,
    /// An example policy shipped with a model set, not a locally reviewed one.
    example_policy: bool,
    document: Value,
    graph: Arc<GraphContent>,
    decision: Decision,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

/// What one evaluation answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleOutcome {
    pub recommendations: Vec<Recommendation>,
    pub trace: RuleTrace,
}

impl RuleSet {
    /// Loads a rule document from bytes under a version name.
    ///
    /// # Errors
    /// Not JSON, a bad version name, or any safety problem (all of them listed).
    pub fn from_slice(version: &str, bytes: &[u8]) -> Result<Self, RuleSetError> {
        if bytes.len() > safety::MAX_DOCUMENT_BYTES {
            return Err(RuleSetError::Rejected(vec![Problem {
                location: "document".into(),
                problem: format!(
                    "is {} bytes; at most {} are allowed",
                    bytes.len(),
                    safety::MAX_DOCUMENT_BYTES
                ),
            }]));
        }
        let document: Value = serde_json::from_slice(bytes)?;
        Self::from_value(version, document)
    }

    /// Loads a rule document file under a version name.
    ///
    /// # Errors
    /// As [`RuleSet::from_slice`], or the file cannot be read.
    pub fn from_file(version: &str, path: &std::path::Path) -> Result<Self, RuleSetError> {
        let bytes = std::fs::read(path).map_err(|source| RuleSetError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_slice(version, &bytes)
    }

    /// Loads a parsed rule document under a version name.
    ///
    /// # Errors
    /// A bad version name or any safety problem (all of them listed).
    pub fn from_value(version: &str, document: Value) -> Result<Self, RuleSetError> {
        if !valid_version(version) {
            return Err(RuleSetError::Version(version.to_string()));
        }
        safety::check(&document, &KnownFields::new()).map_err(RuleSetError::Rejected)?;
        let content: DecisionContent = serde_json::from_value(document.clone()).map_err(|e| {
            RuleSetError::Rejected(vec![Problem {
                location: "document".into(),
                problem: format!("not a JDM decision graph: {e}"),
            }])
        })?;
        let Some(graph) = content.as_graph() else {
            return Err(RuleSetError::Rejected(vec![Problem {
                location: "document".into(),
                problem: "not a JDM decision graph".into(),
            }]));
        };
        let mut graph = graph.clone();
        recommendation::instrument(&mut graph);
        graph.compile();
        let graph = Arc::new(graph);
        let decision = Decision::from(graph.clone());
        decision.validate().map_err(|e| {
            RuleSetError::Rejected(vec![Problem {
                location: "document".into(),
                problem: format!("zen-engine rejects the graph: {e}"),
            }])
        })?;
        Ok(Self {
            reference: RuleSetRef {
                version: version.to_string(),
                sha256: canonical_sha256(&document),
            },
            document,
            graph,
            decision,
            example_policy: false,
        })
    }

    /// Version and SHA-256.
    pub fn reference(&self) -> &RuleSetRef {
        &self.reference
    }

    /// Marks the set as an example policy (the model set's manifest says so): every answer using
    /// it then warns that its recommendations are not a locally reviewed policy.
    #[must_use]
    pub fn into_example_policy(mut self) -> Self {
        self.example_policy = true;
        self
    }

    /// Whether this is an example policy (see [`RuleSet::into_example_policy`]).
    pub fn is_example_policy(&self) -> bool {
        self.example_policy
    }

    /// The JDM document as loaded.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Evaluates the rule set on one context ([`context::build`]).
    ///
    /// # Errors
    /// [`RuleEvalError`] when the engine fails or the output has the wrong shape.
    pub fn evaluate(&self, context: &Value) -> Result<RuleOutcome, RuleEvalError> {
        let options = EvaluationOptions {
            trace: false,
            max_depth: MAX_DEPTH,
        };
        // No node that could wait is allowed, so the future completes on its first poll; if it
        // ever does not, the rule set tried to wait on something (I/O) and is refused.
        let response = self
            .decision
            .evaluate_with_opts(context.into(), options)
            .now_or_never()
            .ok_or(RuleEvalError::Suspended)?
            .map_err(|e| engine_error(&e))?;
        recommendation::collect(&self.graph, context, &response.result.to_value())
    }
}

fn engine_error(e: &zen_engine::EvaluationError) -> RuleEvalError {
    match e {
        zen_engine::EvaluationError::NodeError {
            node_id, source, ..
        } => RuleEvalError::Engine {
            node: node_id.to_string(),
            message: source.to_string(),
        },
        other => RuleEvalError::Engine {
            node: String::new(),
            message: other.to_string(),
        },
    }
}

/// Whether `v` is a valid version name ([`VERSION_PATTERN`]).
pub fn valid_version(v: &str) -> bool {
    let mut chars = v.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    v.len() <= 64
        && first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
}

/// SHA-256 (lower hex) of `document` serialised with sorted keys and no whitespace, so the hash
/// does not depend on formatting or key order (the GoRules editor reorders keys).
pub fn canonical_sha256(document: &Value) -> String {
    let mut bytes = Vec::new();
    write_canonical(document, &mut bytes);
    hex::encode(Sha256::digest(&bytes))
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).unwrap_or_default());
                out.push(b':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_hash_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, {"y": 2, "x": "s"}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[1,{"x":"s","y":2}],"b":1}"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"a":[1,{"x":"s","y":3}],"b":1}"#).unwrap();
        assert_eq!(canonical_sha256(&a), canonical_sha256(&b));
        assert_ne!(canonical_sha256(&a), canonical_sha256(&c));
    }

    #[test]
    fn version_names() {
        for ok in ["default-1", "2026.11.22", "local+dvt.2", "A"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in ["", "-x", "a/b", "a b", &"x".repeat(65), "ü"] {
            assert!(!valid_version(bad), "{bad}");
        }
    }
}
