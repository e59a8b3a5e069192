//! Load-time safety checks of a JDM rule document (`design.md`, "Rules are data"): only input,
//! output, decision-table, expression and switch nodes; no cycle; every edge between existing
//! nodes; every table well formed; every expression compiles; every field it reads exists; and
//! static size bounds that bound the evaluation time.
//!
//! zen-engine's own `Decision::validate` only checks the input-node count and cycles, without
//! naming a node, and accepts function (JavaScript), custom and sub-decision nodes; hence these
//! checks. They run on the raw JSON first, so each problem names the node it is about.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;
use zen_engine::model::{DecisionNode, DecisionNodeKind, TransformAttributes};
use zen_expression::intellisense::{IntelliSense, ReadDependency};

use super::context::KnownFields;
use super::recommendation;

/// Node types a rule set may contain.
pub const ALLOWED_NODE_TYPES: [&str; 5] = [
    "inputNode",
    "outputNode",
    "decisionTableNode",
    "expressionNode",
    "switchNode",
];

/// Static bounds: together they bound the work of one evaluation (no loops over unbounded data,
/// no recursion: sub-decisions are not allowed), which is how evaluation time is bounded.
pub const MAX_NODES: usize = 200;
/// Rows per decision table.
pub const MAX_TABLE_ROWS: usize = 2_000;
/// Characters per expression or cell.
pub const MAX_EXPRESSION_CHARS: usize = 2_000;
/// Size of the whole document in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// One reason a rule document is rejected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Where: `document`, `nodes[3] "VTE prophylaxis" (id vte)`, or `edges[2] (id e2)`.
    pub location: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.problem)
    }
}

/// The typed nodes of a document that passed [`check`], in document order.
pub struct Checked {
    pub nodes: Vec<DecisionNode>,
}

/// Checks a parsed JDM document. Returns every problem found (not just the first).
///
/// # Errors
/// The list of problems when there is at least one.
pub fn check(document: &Value, known: &KnownFields) -> Result<Checked, Vec<Problem>> {
    let mut problems = Vec::new();
    let doc = |problem: String| Problem {
        location: "document".to_string(),
        problem,
    };
    let Some(object) = document.as_object() else {
        return Err(vec![doc(
            "must be a JSON object with `nodes` and `edges`".into()
        )]);
    };
    if object.contains_key("blocks") {
        return Err(vec![doc(
            "is a GoRules policy document; only decision graphs (`nodes` and `edges`) are accepted"
                .into(),
        )]);
    }
    let (Some(raw_nodes), Some(raw_edges)) = (
        object.get("nodes").and_then(Value::as_array),
        object.get("edges").and_then(Value::as_array),
    ) else {
        return Err(vec![doc("must have arrays `nodes` and `edges`".into())]);
    };
    if raw_nodes.len() > MAX_NODES {
        problems.push(doc(format!(
            "has {} nodes; at most {MAX_NODES} are allowed",
            raw_nodes.len()
        )));
    }
    if let Some(imports) = object.get("imports").and_then(Value::as_array) {
        if !imports.is_empty() {
            problems.push(doc(
                "has `imports`; a rule set must be self-contained (no loading of other documents)"
                    .into(),
            ));
        }
    }

    let mut nodes = Vec::new();
    let mut locations: HashMap<String, String> = HashMap::new();
    for (i, raw) in raw_nodes.iter().enumerate() {
        let id = raw.get("id").and_then(Value::as_str).unwrap_or("");
        let name = raw.get("name").and_then(Value::as_str).unwrap_or("");
        let location = format!("nodes[{i}] \"{name}\" (id {id})");
        let kind = raw.get("type").and_then(Value::as_str).unwrap_or("");
        if id.is_empty() {
            problems.push(Problem {
                location,
                problem: "has no `id`".into(),
            });
            continue;
        }
        // Recorded before the type check, so an edge to a forbidden node is not also reported
        // as an edge to a missing node.
        if locations.insert(id.to_string(), location.clone()).is_some() {
            problems.push(Problem {
                location,
                problem: format!("duplicate node id `{id}`"),
            });
            continue;
        }
        if !ALLOWED_NODE_TYPES.contains(&kind) {
            problems.push(Problem {
                location,
                problem: forbidden_type(kind),
            });
            continue;
        }
        match serde_json::from_value::<DecisionNode>(raw.clone()) {
            Ok(node) => nodes.push((location, node)),
            Err(e) => problems.push(Problem {
                location,
                problem: format!("malformed {kind}: {e}"),
            }),
        }
    }

    let inputs = nodes
        .iter()
        .filter(|(_, n)| matches!(n.kind, DecisionNodeKind::InputNode { .. }))
        .count();
    if inputs != 1 {
        problems.push(doc(format!(
            "must have exactly one inputNode, found {inputs}"
        )));
    }
    if !nodes
        .iter()
        .any(|(_, n)| matches!(n.kind, DecisionNodeKind::OutputNode { .. }))
    {
        problems.push(doc("must have at least one outputNode".into()));
    }

    let mut edges: Vec<(String, String)> = Vec::new();
    for (i, raw) in raw_edges.iter().enumerate() {
        let id = raw.get("id").and_then(Value::as_str).unwrap_or("");
        let location = format!("edges[{i}] (id {id})");
        let source = raw.get("sourceId").and_then(Value::as_str);
        let target = raw.get("targetId").and_then(Value::as_str);
        match (source, target) {
            (Some(s), Some(t)) => {
                for (end, node) in [("sourceId", s), ("targetId", t)] {
                    if !locations.contains_key(node) {
                        problems.push(Problem {
                            location: location.clone(),
                            problem: format!("{end} `{node}` is not a node of this document"),
                        });
                    }
                }
                edges.push((s.to_string(), t.to_string()));
            }
            _ => problems.push(Problem {
                location,
                problem: "needs string `sourceId` and `targetId`".into(),
            }),
        }
    }
    let cycle = node_on_cycle(&nodes, &edges);
    if let Some(node) = &cycle {
        problems.push(Problem {
            location: locations.get(node).cloned().unwrap_or(node.clone()),
            problem: "is on a cycle; a rule graph must be acyclic".into(),
        });
    }

    // What each node can read: the merged outputs of its predecessors (zen-engine's data flow).
    // Without an order (a cycle) only syntax is checked.
    let available = if cycle.is_none() {
        Some(available_inputs(&nodes, &edges, known))
    } else {
        None
    };
    let everything = BTreeSet::new();
    let mut checker = ExpressionChecker {
        intellisense: IntelliSense::new(),
        available: &everything,
        check_reads: false,
    };
    for (location, node) in &nodes {
        match &available {
            Some(map) => {
                checker.available = map.get(&*node.id).unwrap_or(&everything);
                checker.check_reads = true;
            }
            None => checker.check_reads = false,
        }
        checker.node(location, node, &mut problems);
    }

    if problems.is_empty() {
        Ok(Checked {
            nodes: nodes.into_iter().map(|(_, n)| n).collect(),
        })
    } else {
        Err(problems)
    }
}

fn forbidden_type(kind: &str) -> String {
    match kind {
        "functionNode" => "function nodes run JavaScript and are not allowed in a rule set".into(),
        "customNode" => "custom nodes call out of the engine and are not allowed".into(),
        "decisionNode" => {
            "decision nodes load other documents and are not allowed; inline the rules".into()
        }
        "" => format!("has no `type`; allowed: {}", ALLOWED_NODE_TYPES.join(", ")),
        other => format!(
            "type `{other}` is not allowed; allowed: {}",
            ALLOWED_NODE_TYPES.join(", ")
        ),
    }
}

/// A node on a cycle, if there is one (Kahn's algorithm: what cannot be ordered is on or after a
/// cycle; walking predecessors among those finds one on it).
fn node_on_cycle(nodes: &[(String, DecisionNode)], edges: &[(String, String)]) -> Option<String> {
    let ids: HashSet<&str> = nodes.iter().map(|(_, n)| &*n.id).collect();
    let edges: Vec<(&str, &str)> = edges
        .iter()
        .filter(|(s, t)| ids.contains(s.as_str()) && ids.contains(t.as_str()))
        .map(|(s, t)| (s.as_str(), t.as_str()))
        .collect();
    let mut indegree: HashMap<&str, usize> = ids.iter().map(|id| (*id, 0)).collect();
    for (_, t) in &edges {
        *indegree.entry(t).or_default() += 1;
    }
    let mut ready: Vec<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(id, _)| *id)
        .collect();
    let mut done: HashSet<&str> = HashSet::new();
    while let Some(id) = ready.pop() {
        done.insert(id);
        for (s, t) in &edges {
            if *s == id {
                let d = indegree.entry(t).or_default();
                *d -= 1;
                if *d == 0 {
                    ready.push(t);
                }
            }
        }
    }
    let remaining: HashSet<&str> = ids.difference(&done).copied().collect();
    // Every remaining node has a remaining predecessor; following predecessors must revisit.
    let mut current = nodes
        .iter()
        .map(|(_, n)| &*n.id)
        .find(|id| remaining.contains(id))?;
    let mut seen = Vec::new();
    loop {
        if seen.contains(&current) {
            return Some(current.to_string());
        }
        seen.push(current);
        current = edges
            .iter()
            .find(|(s, t)| *t == current && remaining.contains(s))
            .map(|(s, _)| *s)?;
    }
}

/// The fields a node writes (expression keys, table outputs under its `outputPath`), with every
/// prefix.
fn node_writes(node: &DecisionNode) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |attrs: &TransformAttributes, field: &str| {
        let field = field.trim().trim_end_matches("[]").trim();
        let full = match attrs.output_path.as_deref() {
            Some(p) if !p.trim().is_empty() => format!("{}.{field}", p.trim()),
            _ => field.to_string(),
        };
        let mut prefix = String::new();
        for part in full.split('.') {
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(part);
            out.insert(prefix.clone());
        }
    };
    match &node.kind {
        DecisionNodeKind::ExpressionNode { content } => {
            for e in content.expressions.iter() {
                add(&content.transform_attributes, &e.key);
            }
        }
        DecisionNodeKind::DecisionTableNode { content } => {
            for o in content.outputs.iter() {
                add(&content.transform_attributes, &o.field);
            }
        }
        _ => {}
    }
    out
}

/// For each node, the fields its input holds: the union of its predecessors' outputs. The input
/// node outputs the context ([`KnownFields`]); a switch passes its input on; an expression node
/// or table outputs what it writes, plus its input when `passThrough` is set. Call only on an
/// acyclic graph.
fn available_inputs(
    nodes: &[(String, DecisionNode)],
    edges: &[(String, String)],
    known: &KnownFields,
) -> HashMap<String, BTreeSet<String>> {
    let mut outputs: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut inputs: HashMap<String, BTreeSet<String>> = HashMap::new();
    let by_id: HashMap<&str, &DecisionNode> = nodes.iter().map(|(_, n)| (&*n.id, n)).collect();
    let mut pending: Vec<&str> = nodes.iter().map(|(_, n)| &*n.id).collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|id| {
            let preds: Vec<&str> = edges
                .iter()
                .filter(|(_, t)| t == id)
                .map(|(s, _)| s.as_str())
                .filter(|s| by_id.contains_key(s))
                .collect();
            if preds.iter().any(|p| !outputs.contains_key(*p)) {
                return true; // a predecessor is not computed yet
            }
            let input: BTreeSet<String> = preds
                .iter()
                .flat_map(|p| outputs[*p].iter().cloned())
                .collect();
            let node = by_id[id];
            let output = match &node.kind {
                DecisionNodeKind::InputNode { .. } => known.paths().clone(),
                DecisionNodeKind::SwitchNode { .. } | DecisionNodeKind::OutputNode { .. } => {
                    input.clone()
                }
                DecisionNodeKind::ExpressionNode { content } => {
                    flow(node, &input, content.transform_attributes.pass_through)
                }
                DecisionNodeKind::DecisionTableNode { content } => {
                    flow(node, &input, content.transform_attributes.pass_through)
                }
                _ => BTreeSet::new(),
            };
            inputs.insert(id.to_string(), input);
            outputs.insert(id.to_string(), output);
            false
        });
        if pending.len() == before {
            break; // unreachable for an acyclic graph
        }
    }
    inputs
}

fn flow(node: &DecisionNode, input: &BTreeSet<String>, pass_through: bool) -> BTreeSet<String> {
    let mut out = node_writes(node);
    if pass_through {
        out.extend(input.iter().cloned());
    }
    out
}

struct ExpressionChecker<'a> {
    intellisense: IntelliSense,
    /// Fields the current node's input holds.
    available: &'a BTreeSet<String>,
    /// Whether reads are checked (not when the graph has a cycle).
    check_reads: bool,
}

#[derive(Clone, Copy)]
enum Mode {
    /// A full expression (expression node values, table outputs, switch conditions, column fields).
    Standard,
    /// A decision-table input cell, tested against the column value `$`.
    Unary,
}

impl ExpressionChecker<'_> {
    fn node(&mut self, location: &str, node: &DecisionNode, problems: &mut Vec<Problem>) {
        let mut report = |what: String, problem: String| {
            problems.push(Problem {
                location: format!("{location}, {what}"),
                problem,
            })
        };
        match &node.kind {
            DecisionNodeKind::ExpressionNode { content } => {
                let root = input_root(&content.transform_attributes);
                for (i, e) in content.expressions.iter().enumerate() {
                    let what = format!("expressions[{i}] `{}`", e.key);
                    if e.key.trim().is_empty() {
                        report(what.clone(), "has an empty key".into());
                    }
                    for p in self.expression(&e.value, Mode::Standard, &root) {
                        report(what.clone(), p);
                    }
                }
            }
            DecisionNodeKind::SwitchNode { content } => {
                for (i, s) in content.statements.iter().enumerate() {
                    if s.condition.trim().is_empty() {
                        continue; // an empty condition is the default branch
                    }
                    for p in self.expression(&s.condition, Mode::Standard, &[]) {
                        report(format!("statements[{i}]"), p);
                    }
                }
            }
            DecisionNodeKind::DecisionTableNode { content } => {
                let root = input_root(&content.transform_attributes);
                let input_ids: HashSet<&str> = content.inputs.iter().map(|c| &*c.id).collect();
                let output_ids: HashSet<&str> = content.outputs.iter().map(|c| &*c.id).collect();
                if content.outputs.is_empty() {
                    report(
                        "outputs".into(),
                        "a decision table needs at least one output column".into(),
                    );
                }
                for (i, column) in content.inputs.iter().enumerate() {
                    if let Some(field) = &column.field {
                        for p in self.expression(field, Mode::Standard, &root) {
                            report(format!("inputs[{i}] `{}` field", column.name), p);
                        }
                    }
                }
                for (i, column) in content.outputs.iter().enumerate() {
                    if column.field.trim().starts_with("_periop")
                        || column.id.starts_with("_periop")
                    {
                        report(
                            format!("outputs[{i}] `{}`", column.name),
                            "names starting with `_periop` are reserved for periop's row tags"
                                .into(),
                        );
                    }
                    if column.field.trim().is_empty() {
                        report(
                            format!("outputs[{i}] `{}`", column.name),
                            "has no field".into(),
                        );
                    }
                }
                if recommendation::writes_recommendations(content) {
                    for (i, column) in content.outputs.iter().enumerate() {
                        if !recommendation::is_output_field(&column.field) {
                            report(
                                format!("outputs[{i}] `{}`", column.name),
                                format!(
                                    "field `{}` is not a recommendation field (id, category, text, rationale, strength, order.system, order.code, order.display)",
                                    column.field
                                ),
                            );
                        }
                    }
                    for required in ["id", "category", "text", "rationale", "strength"] {
                        if !content.outputs.iter().any(|c| c.field.trim() == required) {
                            report(
                                "outputs".into(),
                                format!(
                                    "a recommendation table needs an output column `{required}`"
                                ),
                            );
                        }
                    }
                }
                if content.rules.len() > MAX_TABLE_ROWS {
                    report(
                        "rules".into(),
                        format!(
                            "{} rows; at most {MAX_TABLE_ROWS} are allowed",
                            content.rules.len()
                        ),
                    );
                }
                for (r, rule) in content.rules.iter().enumerate() {
                    for (column, cell) in rule.iter() {
                        let what = format!("rules[{r}] column `{column}`");
                        if column.starts_with('_') {
                            continue; // `_id`, `_description`: editor metadata
                        }
                        let mode = if input_ids.contains(&**column) {
                            Mode::Unary
                        } else if output_ids.contains(&**column) {
                            Mode::Standard
                        } else {
                            report(
                                what,
                                "is not an input or output column of this table".into(),
                            );
                            continue;
                        };
                        if cell.trim().is_empty() {
                            continue; // an empty input cell matches anything; an empty output is null
                        }
                        let column_has_field = content
                            .inputs
                            .iter()
                            .find(|c| *c.id == **column)
                            .is_some_and(|c| c.field.is_some());
                        // A cell of an input column without a field is a full boolean expression.
                        let mode = match mode {
                            Mode::Unary if !column_has_field => Mode::Standard,
                            m => m,
                        };
                        for p in self.expression(cell, mode, &root) {
                            report(what.clone(), p);
                        }
                    }
                }
            }
            DecisionNodeKind::InputNode { .. } | DecisionNodeKind::OutputNode { .. } => {}
            DecisionNodeKind::FunctionNode { .. }
            | DecisionNodeKind::DecisionNode { .. }
            | DecisionNodeKind::CustomNode { .. } => {
                report("type".into(), "not allowed".into());
            }
        }
    }

    /// Problems with one expression: too long, does not compile, or reads an unknown field.
    fn expression(&mut self, source: &str, mode: Mode, root: &[String]) -> Vec<String> {
        if source.chars().count() > MAX_EXPRESSION_CHARS {
            return vec![format!(
                "expression longer than {MAX_EXPRESSION_CHARS} characters"
            )];
        }
        let compiled = match mode {
            Mode::Standard => zen_expression::validate::validate_expression(source),
            Mode::Unary => zen_expression::validate::validate_unary_expression(source),
        };
        if let Err(e) = compiled {
            return vec![format!("expression `{source}` does not compile: {e}")];
        }
        let reads = match mode {
            Mode::Standard => self.intellisense.reads(source),
            Mode::Unary => self.intellisense.reads_unary(source),
        };
        let mut problems = Vec::new();
        for read in reads {
            self.read(&read, root, source, &mut problems);
        }
        problems
    }

    fn read(&self, read: &ReadDependency, root: &[String], source: &str, out: &mut Vec<String>) {
        match read {
            ReadDependency::Direct { path, .. } => self.path(path, root, source, out),
            ReadDependency::Iteration { collection, .. } => {
                // Reads inside a closure are relative to the element (`#`); check the collection.
                self.path(collection, root, source, out);
            }
            ReadDependency::Unresolved { path, .. } => {
                let path: Vec<&str> = path.iter().map(|p| &**p).collect();
                if path
                    .first()
                    .is_some_and(|p| !p.starts_with('$') && !p.starts_with('#'))
                {
                    self.path(
                        &path.iter().map(|p| (*p).into()).collect::<Vec<_>>(),
                        root,
                        source,
                        out,
                    );
                }
            }
        }
    }

    fn path(
        &self,
        path: &[std::rc::Rc<str>],
        root: &[String],
        source: &str,
        out: &mut Vec<String>,
    ) {
        let Some(first) = path.first() else { return };
        if first.starts_with('$') || first.starts_with('#') {
            return; // the column value, the node's own output, or a closure element
        }
        let full: Vec<String> = root
            .iter()
            .cloned()
            .chain(path.iter().map(|p| p.to_string()))
            .collect();
        let joined = full.join(".");
        if !self.check_reads || self.available.contains(&joined) {
            return;
        }
        out.push(format!(
            "expression `{source}` reads unknown field `{joined}`: not in the context (docs/rules.md) nor written by a node before this one (a node without passThrough passes on only its own outputs)"
        ));
    }
}

/// The path a node's `inputField` re-roots its expressions at (empty: the whole context).
fn input_root(attrs: &TransformAttributes) -> Vec<String> {
    attrs
        .input_field
        .as_deref()
        .map(|f| f.trim().split('.').map(str::to_string).collect())
        .unwrap_or_default()
}
