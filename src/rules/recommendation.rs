//! Recommendations and the trace of an evaluation (`docs/rules.md`, "What a rule set answers").
//!
//! Recommendations come from the matched rows of decision tables whose `outputPath` is under
//! `recommendations`; each carries the table and row that produced it and the inputs that row
//! tested with the patient's values (its `triggers`), so the audit proves which rule answered.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zen_engine::model::{DecisionNodeKind, DecisionTableContent, GraphContent};
use zen_engine::{DecisionGraphResponse, EvaluationTrace};

use super::{RuleEvalError, RuleOutcome};

/// The root under which decision tables write recommendations.
pub const RECOMMENDATIONS_ROOT: &str = "recommendations";

/// What a recommendation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    BloodManagement,
    VteProphylaxis,
    BoneHealthFixation,
    DuralRepair,
    DeliriumPrevention,
    DischargePlanning,
    FollowUp,
}

/// How strongly it is suggested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    Consider,
    Recommend,
}

/// A suggested order: a coding the EHR integration turns into a FHIR resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuggestedOrder {
    pub system: String,
    pub code: String,
    pub display: String,
}

/// Where a recommendation came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleRef {
    /// Decision-table node id.
    pub node_id: String,
    /// Decision-table node name.
    pub node_name: String,
    /// Index of the matched row (0-based, in document order).
    pub row: usize,
    /// The row's `_id` in the document, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_id: Option<String>,
}

/// One input the matched row tested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Trigger {
    /// The column's field expression, e.g. `predictions.dvt.risk_band`.
    pub field: String,
    /// The row's cell, e.g. `"high", "elevated"`.
    pub condition: String,
    /// The patient's value of `field`.
    #[schema(value_type = Object)]
    pub value: Value,
}

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recommendation {
    /// Stable id, e.g. `vte.combined_prophylaxis`.
    pub id: String,
    pub category: Category,
    /// What to do, for a clinician.
    pub text: String,
    /// Why, naming the inputs that triggered it.
    pub rationale: String,
    pub strength: Strength,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<SuggestedOrder>,
    pub rule: RuleRef,
    pub triggers: Vec<Trigger>,
}

/// The fields a recommendation table writes (its output columns' `field`s).
const OUTPUT_FIELDS: [&str; 8] = [
    "id",
    "category",
    "text",
    "rationale",
    "strength",
    "order.system",
    "order.code",
    "order.display",
];

/// Which rows of which nodes ran, in execution order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleTrace {
    pub nodes: Vec<NodeTrace>,
}

/// One node that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeTrace {
    pub node_id: String,
    pub node_name: String,
    /// JDM node type, e.g. `decisionTableNode`.
    pub kind: String,
    /// Decision tables: the rows that matched (0-based), in the order they matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_rows: Vec<usize>,
}

/// A recommendation table's matched row and the output it produced.
struct MatchedRow {
    row: usize,
    reference_map: Value,
}

/// Builds the outcome of an evaluation from zen's response and trace.
///
/// # Errors
/// [`RuleEvalError::Output`] when a recommendation row's output is not the documented shape.
pub fn collect(
    graph: &GraphContent,
    context: &Value,
    response: &DecisionGraphResponse,
) -> Result<RuleOutcome, RuleEvalError> {
    let Some(EvaluationTrace::Graph(traces)) = &response.trace else {
        return Err(RuleEvalError::Output {
            path: "trace".into(),
            problem: "zen-engine returned no graph trace".into(),
        });
    };
    let mut ran: Vec<(u32, NodeTrace)> = Vec::new();
    let mut recommendations = Vec::new();
    let mut seen_ids: HashSet<String> = HashSet::new();
    let nodes: HashMap<&str, _> = graph.nodes.iter().map(|n| (&*n.id, n)).collect();
    let mut ordered: Vec<_> = traces.iter().collect();
    ordered.sort_by_key(|(_, t)| t.order);
    for (id, trace) in ordered {
        let Some(node) = nodes.get(&**id) else {
            continue;
        };
        let kind = node_kind_name(&node.kind);
        let mut node_trace = NodeTrace {
            node_id: id.to_string(),
            node_name: node.name.to_string(),
            kind: kind.to_string(),
            matched_rows: Vec::new(),
        };
        if let DecisionNodeKind::DecisionTableNode { content } = &node.kind {
            let data = trace.trace_data.as_ref().map(|v| v.to_value());
            let rows = matched_rows(data.as_ref());
            node_trace.matched_rows = rows.iter().map(|r| r.row).collect();
            if writes_recommendations(content) {
                let outputs = row_outputs(content, trace.output.to_value(), rows.len(), id)?;
                for (matched, output) in rows.iter().zip(outputs) {
                    let r = recommendation(content, id, &node.name, matched, &output, context)?;
                    if seen_ids.insert(r.id.clone()) {
                        recommendations.push(r);
                    }
                }
            }
        }
        ran.push((trace.order, node_trace));
    }
    Ok(RuleOutcome {
        recommendations,
        trace: RuleTrace {
            nodes: ran.into_iter().map(|(_, t)| t).collect(),
        },
    })
}

fn node_kind_name(kind: &DecisionNodeKind) -> &'static str {
    match kind {
        DecisionNodeKind::InputNode { .. } => "inputNode",
        DecisionNodeKind::OutputNode { .. } => "outputNode",
        DecisionNodeKind::FunctionNode { .. } => "functionNode",
        DecisionNodeKind::DecisionNode { .. } => "decisionNode",
        DecisionNodeKind::DecisionTableNode { .. } => "decisionTableNode",
        DecisionNodeKind::ExpressionNode { .. } => "expressionNode",
        DecisionNodeKind::SwitchNode { .. } => "switchNode",
        DecisionNodeKind::CustomNode { .. } => "customNode",
    }
}

/// Whether a table writes recommendations (its `outputPath` is under `recommendations`).
pub fn writes_recommendations(content: &DecisionTableContent) -> bool {
    content
        .transform_attributes
        .output_path
        .as_deref()
        .map(str::trim)
        .is_some_and(|p| p == RECOMMENDATIONS_ROOT || p.starts_with("recommendations."))
}

/// The matched rows of a table trace: one object (first hit) or a list (collect).
fn matched_rows(data: Option<&Value>) -> Vec<MatchedRow> {
    let one = |v: &Value| {
        v.get("index").and_then(Value::as_u64).map(|i| MatchedRow {
            row: i as usize,
            reference_map: v.get("reference_map").cloned().unwrap_or(Value::Null),
        })
    };
    match data {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(v @ Value::Object(_)) => one(v).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The output objects of the matched rows, in order (the node output under its `outputPath`).
fn row_outputs(
    content: &DecisionTableContent,
    output: Value,
    expected: usize,
    node_id: &str,
) -> Result<Vec<Value>, RuleEvalError> {
    let mut value = output;
    if let Some(path) = content.transform_attributes.output_path.as_deref() {
        for part in path.trim().split('.') {
            if let Some(inner) = value.get(part) {
                value = inner.clone();
            }
        }
    }
    let outputs = match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    };
    if outputs.len() != expected {
        return Err(RuleEvalError::Output {
            path: format!("node {node_id}"),
            problem: format!("{} matched rows but {} outputs", expected, outputs.len()),
        });
    }
    Ok(outputs)
}

fn recommendation(
    content: &DecisionTableContent,
    node_id: &str,
    node_name: &str,
    matched: &MatchedRow,
    output: &Value,
    context: &Value,
) -> Result<Recommendation, RuleEvalError> {
    let path = format!("node {node_id} row {}", matched.row);
    let bad = |problem: String| RuleEvalError::Output {
        path: path.clone(),
        problem,
    };
    let text = |name: &str| -> Result<String, RuleEvalError> {
        match output.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            _ => Err(bad(format!("`{name}` must be a non-empty string"))),
        }
    };
    let id = text("id")?;
    if !valid_id(&id) {
        return Err(bad(format!("id `{id}` must match ^[a-z0-9_.-]{{1,80}}$")));
    }
    let category: Category = serde_json::from_value(output.get("category").cloned().unwrap_or_default())
        .map_err(|_| bad("`category` must be one of blood_management, vte_prophylaxis, bone_health_fixation, dural_repair, delirium_prevention, discharge_planning, follow_up".into()))?;
    let strength: Strength =
        serde_json::from_value(output.get("strength").cloned().unwrap_or_default())
            .map_err(|_| bad("`strength` must be `consider` or `recommend`".into()))?;
    let order = match output.get("order") {
        None | Some(Value::Null) => None,
        Some(o) => {
            let field = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
            match (field("system"), field("code"), field("display")) {
                (Some(system), Some(code), Some(display)) => Some(SuggestedOrder {
                    system,
                    code,
                    display,
                }),
                (None, None, None) => None,
                _ => {
                    return Err(bad(
                        "`order` needs all of system, code and display as strings".into(),
                    ))
                }
            }
        }
    };
    let rule = content.rules.get(matched.row);
    let row_id = rule
        .and_then(|r| r.get("_id"))
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty());
    let triggers = content
        .inputs
        .iter()
        .filter_map(|column| {
            let cell = rule?.get(&column.id)?;
            if cell.trim().is_empty() {
                return None;
            }
            let field = column.field.as_deref().unwrap_or("").to_string();
            let value = lookup(context, &field)
                .or_else(|| matched.reference_map.get(&*field).cloned())
                .unwrap_or(Value::Null);
            Some(Trigger {
                field,
                condition: cell.to_string(),
                value,
            })
        })
        .collect();
    Ok(Recommendation {
        id,
        category,
        text: text("text")?,
        rationale: text("rationale")?,
        strength,
        order,
        rule: RuleRef {
            node_id: node_id.to_string(),
            node_name: node_name.to_string(),
            row: matched.row,
            row_id,
        },
        triggers,
    })
}

/// The value at a dotted path of the context, when `field` is a plain path.
fn lookup(context: &Value, field: &str) -> Option<Value> {
    let field = field.trim();
    if field.is_empty()
        || !field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    let mut v = context;
    for part in field.split('.') {
        v = v.get(part)?;
    }
    Some(v.clone())
}

/// Recommendation ids: `^[a-z0-9_.-]{1,80}$`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 80
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}

/// The output fields a recommendation table may write (checked at load).
pub fn is_output_field(field: &str) -> bool {
    OUTPUT_FIELDS.contains(&field.trim())
}
