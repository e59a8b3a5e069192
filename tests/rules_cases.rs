//! The default rule set against its table of clinical cases (`tests/data/rules/default-cases.json`,
//! the same file `periop rules test` runs): each case gives a patient (scored by the default
//! models first) or a ready rule context, the recommendations it must and must not get, and why.

use std::path::PathBuf;

use periop::model::ensemble::ModelSet;
use periop::rules::shipped;
use periop::service::rule_cases::{self as cases, CaseFile};
use periop::service::{AssessmentRequest, Assessor, RuleSource};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn case_file() -> CaseFile {
    let text = std::fs::read_to_string(root().join("tests/data/rules/default-cases.json"))
        .expect("cases file");
    serde_json::from_str(&text).expect("cases file parses")
}

#[test]
fn every_clinical_case_gets_the_expected_recommendations() {
    let models = ModelSet::load(&root().join("models/default")).expect("models");
    let rules = shipped::load(&root().join("models/default")).expect("default rules");
    let file = case_file();
    assert!(file.cases.len() >= 8, "a real table of cases");
    let results = cases::run(&rules, Some(&models), &file);
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_case_says_why_and_checks_something() {
    for case in case_file().cases {
        assert!(case.why.trim().len() > 20, "{}: state why", case.name);
        assert!(
            !case.expect.is_empty() || !case.absent.is_empty(),
            "{}: expects nothing",
            case.name
        );
    }
}

#[test]
fn a_case_fails_when_its_expectation_is_wrong() {
    let models = ModelSet::load(&root().join("models/default")).expect("models");
    let rules = shipped::load(&root().join("models/default")).expect("default rules");
    let mut file = case_file();
    let mut case = file
        .cases
        .iter()
        .find(|c| !c.expect.is_empty())
        .cloned()
        .expect("a case with expectations");
    // Swap what must and must not appear: the case must now fail both ways.
    std::mem::swap(&mut case.expect, &mut case.absent);
    file.cases = vec![case];
    let result = &cases::run(&rules, Some(&models), &file)[0];
    assert!(!result.passed());
    assert!(!result.unexpected.is_empty());
}

#[test]
fn assessments_carry_the_same_recommendations_as_the_cases_runner() {
    let models = ModelSet::load(&root().join("models/default")).expect("models");
    let rules = shipped::load(&root().join("models/default")).expect("default rules");
    let file = case_file();
    let rules = std::sync::Arc::new(rules);
    let assessor = Assessor::new(
        std::sync::Arc::new(ModelSet::load(&root().join("models/default")).expect("models")),
        RuleSource::Fixed(rules.clone()),
        None,
    );
    for case in file.cases.iter().filter(|c| c.patient.is_some()) {
        let request = AssessmentRequest {
            patient: case.patient.clone().unwrap_or_default(),
            outcomes: None,
            explain: false,
            missing_input_ranges: false,
            origin: Default::default(),
        };
        let assessment = assessor.answer_request(&request).expect("assessed");
        let ids: Vec<String> = assessment
            .recommendations
            .iter()
            .map(|r| r.id.clone())
            .collect();
        let single = CaseFile {
            cases: vec![case.clone()],
        };
        let result = &cases::run(&rules, Some(&models), &single)[0];
        assert_eq!(ids, result.got, "{}", case.name);
        assert_eq!(
            assessment.rule_set.as_ref().map(|r| r.version.as_str()),
            Some(rules.reference().version.as_str())
        );
        assert!(
            assessment
                .warnings
                .iter()
                .any(|w| w.contains("example policy")),
            "the example policy is labelled as such: {:?}",
            assessment.warnings
        );
        let trace = assessment.rule_trace.expect("trace");
        for r in &assessment.recommendations {
            let node = trace
                .nodes
                .iter()
                .find(|n| n.node_id == r.rule.node_id)
                .expect("the recommending node ran");
            assert!(node.matched_rows.contains(&r.rule.row), "{}", r.id);
            assert!(!r.triggers.is_empty() || r.rationale.len() > 10, "{}", r.id);
        }
    }
}

#[test]
fn the_shipped_rule_set_is_verified_against_its_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    shipped::write_default(dir.path()).expect("written");
    let written = shipped::load(dir.path()).expect("loads");
    let committed = shipped::load(&root().join("models/default")).expect("committed");
    assert_eq!(written.reference(), committed.reference());

    // One changed threshold: refused, naming the file and both hashes.
    let file = dir.path().join("rules").join(shipped::DEFAULT_FILE);
    let text = std::fs::read_to_string(&file).expect("read");
    let changed = text.replacen(">= 500", ">= 499", 1);
    assert_ne!(text, changed, "the default rules test p90 >= 500 mL");
    std::fs::write(&file, changed).expect("write");
    let err = shipped::load(dir.path()).expect_err("tampered");
    let message = err.to_string();
    assert!(message.contains("differs from the manifest"), "{message}");
    assert!(message.contains(&committed.reference().sha256), "{message}");
}

fn periop(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_periop"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run periop");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn rules_check_accepts_the_default_set_and_names_the_node_it_rejects() {
    let (ok, out, _) = periop(&["rules", "check", "models/default/rules/default-rules.json"]);
    assert!(ok);
    let committed = shipped::load(&root().join("models/default")).expect("committed");
    assert!(out.contains(&committed.reference().sha256), "{out}");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/data/rules/minimal.json")).expect("read"),
    )
    .expect("json");
    doc["nodes"]
        .as_array_mut()
        .expect("nodes")
        .push(serde_json::json!({
            "id": "js", "name": "Compute score", "type": "functionNode",
            "content": {"source": "export const handler = async (input) => input;"}
        }));
    let file = dir.path().join("bad.json");
    std::fs::write(&file, doc.to_string()).expect("write");
    let (ok, _, err) = periop(&["rules", "check", file.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(
        err.contains("\"Compute score\" (id js)") && err.contains("function"),
        "{err}"
    );
}

#[test]
fn rules_test_exits_non_zero_when_a_case_fails() {
    let (ok, out, _) = periop(&[
        "rules",
        "test",
        "models/default/rules/default-rules.json",
        "--cases",
        "tests/data/rules/default-cases.json",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("0 failed"), "{out}");

    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("cases.json");
    std::fs::write(
        &cases,
        r#"{"cases": [{"name": "empty context must get crossmatch (wrong on purpose)",
            "why": "a deliberately wrong expectation", "context": {"patient": {}, "derived": {}, "predictions": {}},
            "expect": ["blood.crossmatch"]}]}"#,
    )
    .expect("write");
    let (ok, out, _) = periop(&[
        "rules",
        "test",
        "models/default/rules/default-rules.json",
        "--cases",
        cases.to_str().expect("utf-8 path"),
    ]);
    assert!(!ok);
    assert!(
        out.contains("FAIL") && out.contains("blood.crossmatch"),
        "{out}"
    );
}
