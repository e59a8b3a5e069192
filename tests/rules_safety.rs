//! Load-time safety checks of rule documents (`src/rules/safety.rs`): every rejection names the
//! offending node and the issue, all problems of a document are reported, and the valid minimal
//! document (`tests/data/rules/minimal.json`) loads, hashes stably and evaluates as documented.
//!
//! Each rejected document is `minimal.json` with one change.

use periop::features::Patient;
use periop::rules::safety::{MAX_EXPRESSION_CHARS, MAX_TABLE_ROWS};
use periop::rules::{context, Problem, RuleSet, RuleSetError};
use serde_json::{json, Value};

const MINIMAL: &str = include_str!("data/rules/minimal.json");

fn minimal() -> Value {
    serde_json::from_str(MINIMAL).expect("minimal.json is JSON")
}

fn load(doc: Value) -> Result<RuleSet, RuleSetError> {
    RuleSet::from_value("test-1", doc)
}

/// The problems of a document that must be rejected by the safety checks.
fn rejected(doc: Value) -> Vec<Problem> {
    match load(doc) {
        Err(RuleSetError::Rejected(problems)) => {
            assert!(!problems.is_empty(), "rejected without a problem");
            problems
        }
        Err(other) => panic!("expected RuleSetError::Rejected, got {other:?}"),
        Ok(set) => panic!("document was accepted: {:?}", set.reference()),
    }
}

/// The problem whose location contains every `location` part and whose text contains every
/// `problem` part; fails listing all problems when there is none.
fn find<'a>(problems: &'a [Problem], location: &[&str], problem: &[&str]) -> &'a Problem {
    problems
        .iter()
        .find(|p| {
            location.iter().all(|l| p.location.contains(l))
                && problem.iter().all(|t| p.problem.contains(t))
        })
        .unwrap_or_else(|| {
            let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
            panic!(
                "no problem at {location:?} saying {problem:?}; problems:\n{}",
                all.join("\n")
            )
        })
}

fn nodes(doc: &mut Value) -> &mut Vec<Value> {
    doc["nodes"].as_array_mut().expect("nodes")
}

fn edges(doc: &mut Value) -> &mut Vec<Value> {
    doc["edges"].as_array_mut().expect("edges")
}

fn node<'a>(doc: &'a mut Value, id: &str) -> &'a mut Value {
    nodes(doc)
        .iter_mut()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id}"))
}

/// The content of the VTE decision table.
fn vte(doc: &mut Value) -> &mut Value {
    &mut node(doc, "vte")["content"]
}

fn remove_node(doc: &mut Value, id: &str) {
    nodes(doc).retain(|n| n["id"] != id);
    edges(doc).retain(|e| e["sourceId"] != id && e["targetId"] != id);
}

/// Adds `node` between the input node and the output node.
fn add_node(doc: &mut Value, node: Value) {
    let id = node["id"].as_str().expect("id").to_string();
    nodes(doc).push(node);
    add_edge(doc, "in", &id);
    add_edge(doc, &id, "out");
}

fn add_edge(doc: &mut Value, source: &str, target: &str) {
    let id = format!("e_{source}_{target}");
    edges(doc).push(json!({"id": id, "sourceId": source, "targetId": target, "type": "edge"}));
}

fn expression_node(id: &str, name: &str, key: &str, value: &str) -> Value {
    json!({
        "id": id, "name": name, "type": "expressionNode", "position": {"x": 0, "y": 0},
        "content": {"expressions": [{"id": format!("{id}_1"), "key": key, "value": value}]}
    })
}

/// A one-column table writing `flag` (not a recommendation table).
fn flag_table(id: &str, name: &str) -> Value {
    json!({
        "id": id, "name": name, "type": "decisionTableNode", "position": {"x": 0, "y": 0},
        "content": {
            "hitPolicy": "first",
            "outputPath": format!("flags.{id}"),
            "inputs": [{"id": "i", "name": "mFI-5", "field": "derived.mfi5"}],
            "outputs": [{"id": "o", "name": "flag", "field": "flag"}],
            "rules": [{"i": ">= 2", "o": "true"}]
        }
    })
}

// Node types.

#[test]
fn function_node_is_rejected() {
    let mut doc = minimal();
    add_node(
        &mut doc,
        json!({"id": "js", "name": "Compute score", "type": "functionNode",
               "content": {"source": "export const handler = async (input) => input;"}}),
    );
    let problems = rejected(doc);
    find(
        &problems,
        &["\"Compute score\"", "(id js)"],
        &["JavaScript"],
    );
    // The edges to it are to a node of the document, just a forbidden one.
    assert_eq!(problems.len(), 1, "{problems:#?}");
}

#[test]
fn custom_node_is_rejected() {
    let mut doc = minimal();
    add_node(
        &mut doc,
        json!({"id": "ext", "name": "Call registry", "type": "customNode",
               "content": {"kind": "http", "config": {}}}),
    );
    find(
        &rejected(doc),
        &["\"Call registry\"", "(id ext)"],
        &["custom nodes"],
    );
}

#[test]
fn decision_node_is_rejected() {
    let mut doc = minimal();
    add_node(
        &mut doc,
        json!({"id": "sub", "name": "Shared VTE rules", "type": "decisionNode",
               "content": {"key": "shared/vte.json"}}),
    );
    find(
        &rejected(doc),
        &["\"Shared VTE rules\"", "(id sub)"],
        &["decision nodes", "not allowed"],
    );
}

#[test]
fn unknown_node_type_is_rejected() {
    let mut doc = minimal();
    add_node(
        &mut doc,
        json!({"id": "odd", "name": "Odd node", "type": "ruleNode", "content": {}}),
    );
    find(
        &rejected(doc),
        &["\"Odd node\"", "(id odd)"],
        &["`ruleNode`", "not allowed"],
    );
}

// Graph shape.

#[test]
fn cycle_is_rejected_naming_a_node_on_it() {
    let mut doc = minimal();
    nodes(&mut doc).push(flag_table("a", "Table A"));
    nodes(&mut doc).push(flag_table("b", "Table B"));
    add_edge(&mut doc, "in", "a");
    add_edge(&mut doc, "a", "b");
    add_edge(&mut doc, "b", "a");
    add_edge(&mut doc, "b", "out");
    let problems = rejected(doc);
    let p = find(&problems, &[], &["cycle"]);
    assert!(
        (p.location.contains("\"Table A\"") && p.location.contains("(id a)"))
            || (p.location.contains("\"Table B\"") && p.location.contains("(id b)")),
        "the cycle problem must name node a or b: {p}"
    );
}

#[test]
fn edge_to_missing_node_is_rejected() {
    let mut doc = minimal();
    add_edge(&mut doc, "vte", "ghost");
    find(
        &rejected(doc),
        &["(id e_vte_ghost)"],
        &["`ghost`", "not a node"],
    );
}

#[test]
fn missing_input_node_is_rejected() {
    let mut doc = minimal();
    remove_node(&mut doc, "in");
    find(
        &rejected(doc),
        &["document"],
        &["exactly one inputNode", "found 0"],
    );
}

#[test]
fn two_input_nodes_are_rejected() {
    let mut doc = minimal();
    nodes(&mut doc).push(json!({"id": "in2", "name": "Second request", "type": "inputNode"}));
    add_edge(&mut doc, "in2", "vte");
    find(
        &rejected(doc),
        &["document"],
        &["exactly one inputNode", "found 2"],
    );
}

#[test]
fn missing_output_node_is_rejected() {
    let mut doc = minimal();
    remove_node(&mut doc, "out");
    find(&rejected(doc), &["document"], &["outputNode"]);
}

#[test]
fn duplicate_node_id_is_rejected() {
    let mut doc = minimal();
    nodes(&mut doc).push(json!({"id": "out", "name": "Second response", "type": "outputNode"}));
    find(
        &rejected(doc),
        &["\"Second response\"", "(id out)"],
        &["duplicate node id `out`"],
    );
}

// Field references.

#[test]
fn unknown_feature_in_column_field_is_rejected() {
    let mut doc = minimal();
    vte(&mut doc)["inputs"][1]["field"] = json!("patient.not_a_feature");
    find(
        &rejected(doc),
        &["\"VTE prophylaxis\"", "(id vte)", "inputs[1]"],
        &["unknown field", "patient.not_a_feature"],
    );
}

#[test]
fn unknown_prediction_member_in_expression_is_rejected() {
    let mut doc = minimal();
    add_node(
        &mut doc,
        expression_node(
            "expr",
            "Bleeding estimate",
            "bleeding.median",
            "predictions.dvt.median",
        ),
    );
    find(
        &rejected(doc),
        &["\"Bleeding estimate\"", "(id expr)", "expressions[0]"],
        &["unknown field", "predictions.dvt.median"],
    );
}

#[test]
fn unknown_root_field_in_input_cell_is_rejected() {
    let mut doc = minimal();
    vte(&mut doc)["rules"][1]["c_p"] = json!(">= thresholds.dvt_probability");
    find(
        &rejected(doc),
        &["\"VTE prophylaxis\"", "(id vte)", "rules[1] column `c_p`"],
        &["unknown field", "thresholds.dvt_probability"],
    );
}

#[test]
fn unknown_root_field_in_output_cell_is_rejected() {
    let mut doc = minimal();
    vte(&mut doc)["rules"][0]["o_rat"] = json!("frailty.summary");
    find(
        &rejected(doc),
        &["\"VTE prophylaxis\"", "(id vte)", "rules[0] column `o_rat`"],
        &["unknown field", "frailty.summary"],
    );
}

#[test]
fn field_written_by_an_earlier_expression_node_is_accepted() {
    let mut doc = minimal();
    let mut scores = expression_node(
        "scores",
        "Scores",
        "scores.vte_history",
        "patient.history_of_vte == true",
    );
    scores["content"]["passThrough"] = json!(true);
    nodes(&mut doc).push(scores);
    edges(&mut doc).retain(|e| e["id"] != "e1");
    add_edge(&mut doc, "in", "scores");
    add_edge(&mut doc, "scores", "vte");
    vte(&mut doc)["inputs"][1]["field"] = json!("scores.vte_history");
    let set = load(doc).expect("a field written by an expression node may be read");

    let mut ctx = context::build(
        &Patient::empty(),
        &periop::features::Derived::of(&Patient::empty()),
        &[],
    );
    ctx["patient"]["history_of_vte"] = json!(true);
    ctx["predictions"]["dvt"] =
        json!({"status": "ok", "probability": 0.4, "risk_band": "high", "relative_risk": 3.0});
    let outcome = set.evaluate(&ctx).expect("evaluates");
    let ids: Vec<&str> = outcome
        .recommendations
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids, ["vte.combined", "vte.mechanical"]);
}

#[test]
fn context_is_lost_after_a_node_without_pass_through() {
    // zen-engine hands a node only its predecessors' outputs: after an expression node without
    // passThrough, `predictions` and `patient` are gone and would read as null at run time.
    let mut doc = minimal();
    let scores = expression_node(
        "scores",
        "Scores",
        "scores.vte_history",
        "patient.history_of_vte == true",
    );
    nodes(&mut doc).push(scores);
    edges(&mut doc).retain(|e| e["id"] != "e1");
    add_edge(&mut doc, "in", "scores");
    add_edge(&mut doc, "scores", "vte");
    vte(&mut doc)["inputs"][1]["field"] = json!("scores.vte_history");
    let problems = rejected(doc);
    find(
        &problems,
        &["\"VTE prophylaxis\"", "(id vte)"],
        &["predictions.dvt.risk_band", "passThrough"],
    );
    // The field the expression node does write is still readable.
    assert!(!problems
        .iter()
        .any(|p| p.problem.contains("`scores.vte_history`")));
}

#[test]
fn field_written_on_a_parallel_branch_is_rejected() {
    // `scores` runs beside `vte`, not before it: `vte` cannot read what it writes.
    let mut doc = minimal();
    let mut scores = expression_node(
        "scores",
        "Scores",
        "scores.vte_history",
        "patient.history_of_vte == true",
    );
    scores["content"]["passThrough"] = json!(true);
    nodes(&mut doc).push(scores);
    add_edge(&mut doc, "in", "scores");
    add_edge(&mut doc, "scores", "out");
    vte(&mut doc)["inputs"][1]["field"] = json!("scores.vte_history");
    find(
        &rejected(doc),
        &["\"VTE prophylaxis\"", "(id vte)"],
        &["`scores.vte_history`"],
    );
}

// Malformed tables.

#[test]
fn cell_of_unknown_column_is_rejected() {
    let mut doc = minimal();
    vte(&mut doc)["rules"][0]["c_ghost"] = json!("true");
    find(
        &rejected(doc),
        &[
            "\"VTE prophylaxis\"",
            "(id vte)",
            "rules[0] column `c_ghost`",
        ],
        &["not an input or output column"],
    );
}

#[test]
fn cell_that_does_not_compile_is_rejected() {
    let mut doc = minimal();
    vte(&mut doc)["rules"][1]["c_p"] = json!(">= >=");
    find(
        &rejected(doc),
        &["\"VTE prophylaxis\"", "(id vte)", "rules[1] column `c_p`"],
        &["`>= >=`", "does not compile"],
    );
}

#[test]
fn table_without_rules_is_rejected() {
    let mut doc = minimal();
    vte(&mut doc)
        .as_object_mut()
        .expect("content")
        .remove("rules");
    find(
        &rejected(doc),
        &["\"VTE prophylaxis\"", "(id vte)"],
        &["malformed decisionTableNode", "rules"],
    );
}

#[test]
fn recommendation_table_without_category_is_rejected() {
    let mut doc = minimal();
    let content = vte(&mut doc);
    content["outputs"]
        .as_array_mut()
        .expect("outputs")
        .retain(|o| o["field"] != "category");
    for rule in content["rules"].as_array_mut().expect("rules") {
        rule.as_object_mut().expect("rule").remove("o_cat");
    }
    find(
        &rejected(doc),
        &["\"VTE prophylaxis\"", "(id vte)", "outputs"],
        &["`category`"],
    );
}

#[test]
fn recommendation_table_with_unknown_output_field_is_rejected() {
    let mut doc = minimal();
    vte(&mut doc)["outputs"][7]["field"] = json!("order.priority");
    find(
        &rejected(doc),
        &["\"VTE prophylaxis\"", "(id vte)", "outputs[7]"],
        &["`order.priority`", "not a recommendation field"],
    );
}

// Bounds and document kinds.

#[test]
fn expression_longer_than_the_bound_is_rejected() {
    let mut doc = minimal();
    let long = format!("1{}", " + 1".repeat(MAX_EXPRESSION_CHARS / 4));
    assert!(long.len() > MAX_EXPRESSION_CHARS);
    add_node(&mut doc, expression_node("sum", "Long sum", "total", &long));
    find(
        &rejected(doc),
        &["\"Long sum\"", "(id sum)", "expressions[0]"],
        &[&format!("longer than {MAX_EXPRESSION_CHARS}")],
    );
}

#[test]
fn table_with_too_many_rows_is_rejected() {
    let mut doc = minimal();
    let content = vte(&mut doc);
    let row = content["rules"][1].clone();
    content["rules"] = Value::Array(vec![row; MAX_TABLE_ROWS + 1]);
    find(
        &rejected(doc),
        &["\"VTE prophylaxis\"", "(id vte)", "rules"],
        &[&format!("{} rows", MAX_TABLE_ROWS + 1)],
    );
}

#[test]
fn imports_are_rejected() {
    let mut doc = minimal();
    doc["imports"] = json!([{"key": "shared/vte.json"}]);
    find(&rejected(doc), &["document"], &["`imports`"]);
}

#[test]
fn policy_document_is_rejected() {
    let doc = json!({"blocks": [{"id": "b1", "type": "rule", "content": {}}]});
    find(&rejected(doc), &["document"], &["policy document"]);
}

#[test]
fn non_json_bytes_are_a_json_error() {
    let err = RuleSet::from_slice("test-1", b"{nodes: [").expect_err("not JSON");
    assert!(matches!(err, RuleSetError::Json(_)), "{err:?}");
}

#[test]
fn bad_version_name_is_a_version_error() {
    let err = RuleSet::from_value("v 1/../x", minimal()).expect_err("bad version");
    assert!(
        matches!(&err, RuleSetError::Version(v) if v == "v 1/../x"),
        "{err:?}"
    );
}

#[test]
fn every_problem_of_a_document_is_reported() {
    let mut doc = minimal();
    add_node(
        &mut doc,
        json!({"id": "js", "name": "Compute score", "type": "functionNode",
               "content": {"source": "export const handler = async (input) => input;"}}),
    );
    vte(&mut doc)["inputs"][1]["field"] = json!("patient.not_a_feature");
    vte(&mut doc)["rules"][1]["c_p"] = json!(">= >=");
    add_edge(&mut doc, "vte", "ghost");
    doc["imports"] = json!([{"key": "shared/vte.json"}]);
    let problems = rejected(doc);
    find(&problems, &["(id js)"], &["JavaScript"]);
    find(
        &problems,
        &["(id vte)", "inputs[1]"],
        &["patient.not_a_feature"],
    );
    find(
        &problems,
        &["(id vte)", "rules[1] column `c_p`"],
        &["does not compile"],
    );
    find(&problems, &["(id e_vte_ghost)"], &["`ghost`"]);
    find(&problems, &["document"], &["`imports`"]);
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

// The valid document.

#[test]
fn minimal_document_loads() {
    let set = RuleSet::from_slice("minimal-1", MINIMAL.as_bytes()).expect("minimal.json loads");
    assert_eq!(set.reference().version, "minimal-1");
    let sha = &set.reference().sha256;
    assert_eq!(sha.len(), 64);
    assert!(
        sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{sha}"
    );
}

/// `value` as JSON text with every object's keys in reverse order and generous whitespace.
fn reordered(value: &Value, indent: usize) -> String {
    let pad = "  ".repeat(indent + 1);
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.reverse();
            let members: Vec<String> = keys
                .iter()
                .map(|k| format!("{pad}{} :  {}", json!(k), reordered(&map[*k], indent + 1)))
                .collect();
            format!("{{\n{}\n{}}}", members.join(",\n"), "  ".repeat(indent))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|v| reordered(v, indent + 1)).collect();
            format!("[ {} ]", items.join(" ,\t"))
        }
        scalar => scalar.to_string(),
    }
}

#[test]
fn sha256_ignores_key_order_and_whitespace() {
    let original = RuleSet::from_slice("minimal-1", MINIMAL.as_bytes()).expect("loads");
    let text = reordered(&minimal(), 0);
    assert_ne!(text, MINIMAL);
    let first_key = text.find('"').map(|i| &text[i..i + 7]);
    assert_eq!(first_key, Some("\"nodes\""), "keys are reversed");
    let reformatted = RuleSet::from_slice("minimal-1", text.as_bytes()).expect("loads");
    let compact = serde_json::to_vec(&minimal()).expect("serialises");
    let compact = RuleSet::from_slice("minimal-1", &compact).expect("loads");
    assert_eq!(original.reference(), reformatted.reference());
    assert_eq!(original.reference(), compact.reference());

    let mut changed = minimal();
    vte(&mut changed)["rules"][1]["c_p"] = json!(">= 0.20");
    let changed = load(changed).expect("loads");
    assert_ne!(original.reference().sha256, changed.reference().sha256);
}

#[test]
fn nulls_never_fire() {
    let set = load(minimal()).expect("loads");
    let ctx = context::build(
        &Patient::empty(),
        &periop::features::Derived::of(&Patient::empty()),
        &[],
    );
    let outcome = set.evaluate(&ctx).expect("evaluates without error");
    assert!(
        outcome.recommendations.is_empty(),
        "{:#?}",
        outcome.recommendations
    );
}

#[test]
fn high_dvt_risk_with_history_recommends_combined_and_mechanical() {
    let set = load(minimal()).expect("loads");
    let mut ctx = context::build(
        &Patient::empty(),
        &periop::features::Derived::of(&Patient::empty()),
        &[],
    );
    ctx["patient"]["history_of_vte"] = json!(true);
    ctx["predictions"]["dvt"] =
        json!({"status": "ok", "probability": 0.4, "risk_band": "high", "relative_risk": 3.0});
    let outcome = set.evaluate(&ctx).expect("evaluates");
    let recs = &outcome.recommendations;
    let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["vte.combined", "vte.mechanical"]);

    let combined = &recs[0];
    assert_eq!(combined.rule.node_id, "vte");
    assert_eq!(combined.rule.node_name, "VTE prophylaxis");
    assert_eq!(combined.rule.row, 0);
    assert_eq!(combined.rule.row_id.as_deref(), Some("r1"));
    let triggers: Vec<(&str, &Value)> = combined
        .triggers
        .iter()
        .map(|t| (t.field.as_str(), &t.value))
        .collect();
    assert_eq!(
        triggers,
        [
            ("predictions.dvt.risk_band", &json!("high")),
            ("patient.history_of_vte", &json!(true)),
        ]
    );
    assert_eq!(combined.triggers[0].condition, "\"high\", \"elevated\"");
    let order = combined.order.as_ref().expect("combined has an order");
    assert_eq!(order.code, "vte-combined");

    let mechanical = &recs[1];
    assert_eq!(mechanical.rule.row, 1);
    assert_eq!(mechanical.rule.row_id.as_deref(), Some("r2"));
    let triggers: Vec<(&str, &str, &Value)> = mechanical
        .triggers
        .iter()
        .map(|t| (t.field.as_str(), t.condition.as_str(), &t.value))
        .collect();
    assert_eq!(
        triggers,
        [("predictions.dvt.probability", ">= 0.10", &json!(0.4))]
    );
    assert!(mechanical.order.is_none());
}
