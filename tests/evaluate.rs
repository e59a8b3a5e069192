//! Evaluation report logic without trained models: synthetic predictions and labels go through
//! the compute layer, the target checks, the renderers and the file writer.

use periop::evaluate::{
    binary_metrics, index, quantity_metrics, write_report, BinaryInput, DataInfo, Groups,
    OutcomeMetrics, OutcomeReport, QuantityInput, Report, Settings, REPORT_FORMAT,
};
use periop::metrics::{logit, sigmoid};
use periop::outcomes::Outcome;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 6000;

/// True logits, drawn labels, subgroup labels.
fn cohort(seed: u64) -> (Vec<f64>, Vec<bool>, Groups) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut logits = Vec::with_capacity(N);
    let mut labels = Vec::with_capacity(N);
    let mut groups = Groups::default();
    for i in 0..N {
        let z: f64 = (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0;
        let x = -1.4 + 1.1 * z;
        logits.push(x);
        labels.push(rng.gen::<f64>() < sigmoid(x));
        groups
            .site
            .push(format!("site_{}", (b'a' + (i % 5) as u8) as char));
        groups
            .sex
            .push(if i % 2 == 0 { "female" } else { "male" }.to_string());
        groups
            .age_band
            .push(["18-49", "50-64", "65-74", ">=75"][i % 4].to_string());
    }
    (logits, labels, groups)
}

fn settings() -> Settings {
    Settings {
        bootstrap_replicates: 300,
        ..Settings::default()
    }
}

fn binary_report(
    outcome: Outcome,
    probs: Vec<f64>,
    truth: &[f64],
    labels: &[bool],
    groups: &Groups,
) -> OutcomeReport {
    let s = settings();
    let input = BinaryInput {
        probs,
        labels: labels.to_vec(),
        truth: truth.iter().map(|&t| Some(t)).collect(),
        groups: groups.clone(),
    };
    OutcomeReport::new(
        outcome,
        10,
        2,
        None,
        OutcomeMetrics::Probability(binary_metrics(&input, &s)),
        &s.targets,
    )
}

fn as_binary(r: &OutcomeReport) -> &periop::evaluate::compute::BinaryMetrics {
    match &r.metrics {
        OutcomeMetrics::Probability(m) => m,
        OutcomeMetrics::Quantity(_) => panic!("expected a probability outcome"),
    }
}

#[test]
fn near_oracle_well_calibrated_model_meets_both_targets() {
    let (x, y, g) = cohort(1);
    let truth: Vec<f64> = x.iter().map(|&v| sigmoid(v)).collect();
    // A good model: the truth with a little noise on the logit.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let probs: Vec<f64> = x
        .iter()
        .map(|&v| sigmoid(v + 0.15 * (rng.gen::<f64>() - 0.5)))
        .collect();
    let r = binary_report(Outcome::Dvt, probs, &truth, &y, &g);
    let m = as_binary(&r);
    let oracle = m.oracle.as_ref().expect("truth present");
    let (auc, oracle_auc) = (m.auc.expect("auc"), oracle.auc.expect("oracle auc"));
    assert!((auc - oracle_auc).abs() < 0.01, "{auc} vs {oracle_auc}");
    let (lo, hi) = m.auc_ci.expect("ci");
    assert!(lo < auc && auc < hi && hi - lo < 0.06, "[{lo}, {hi}]");
    assert!((m.calibration_slope.expect("slope") - 1.0).abs() < 0.1);
    assert!(m.calibration_intercept.expect("intercept").abs() < 0.1);
    assert_eq!(r.criteria.auc_near_oracle, Some(true));
    assert_eq!(r.criteria.slope_in_range, Some(true));
    assert_eq!(r.criteria.all_met, Some(true));
    assert_eq!(m.subgroups.site.len(), 5);
    assert_eq!(m.subgroups.age_band.iter().map(|a| a.n).sum::<usize>(), N);
    assert_eq!(m.reliability.len(), 10);
}

#[test]
fn overconfident_model_fails_the_slope_target_and_a_weak_model_the_auc_target() {
    let (x, y, g) = cohort(3);
    let truth: Vec<f64> = x.iter().map(|&v| sigmoid(v)).collect();
    let overconfident: Vec<f64> = x.iter().map(|&v| sigmoid(2.0 * v)).collect();
    let r = binary_report(Outcome::Delirium, overconfident, &truth, &y, &g);
    let slope = as_binary(&r).calibration_slope.expect("slope");
    assert!((slope - 0.5).abs() < 0.07, "{slope}");
    assert_eq!(r.criteria.slope_in_range, Some(false));
    // Ranking unchanged: still near the oracle.
    assert_eq!(r.criteria.auc_near_oracle, Some(true));
    assert_eq!(r.criteria.all_met, Some(false));

    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let weak: Vec<f64> = x
        .iter()
        .map(|&v| sigmoid(v + 2.5 * (rng.gen::<f64>() - 0.5) * 2.0))
        .collect();
    let r = binary_report(Outcome::Delirium, weak, &truth, &y, &g);
    let gap = as_binary(&r)
        .oracle
        .as_ref()
        .and_then(|o| o.auc_gap)
        .expect("gap");
    assert!(gap < -0.03, "{gap}");
    assert_eq!(r.criteria.auc_near_oracle, Some(false));
}

fn quantity_report() -> OutcomeReport {
    let (x, _, g) = cohort(5);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut input = QuantityInput {
        groups: g,
        ..QuantityInput::default()
    };
    for &v in &x {
        let mu = 6.0 + 0.6 * v; // ln mL
        let z: f64 = (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0;
        input.actual.push((mu + 0.55 * z).exp());
        input.truth.push(Some(mu.exp()));
        input.median.push((mu + 0.05).exp());
        input.p10.push((mu - 1.2816 * 0.55).exp());
        input.p90.push((mu + 1.2816 * 0.55).exp());
    }
    let s = settings();
    let m = quantity_metrics(&input, &s);
    OutcomeReport::new(
        Outcome::BloodLossMl,
        0,
        0,
        None,
        OutcomeMetrics::Quantity(m),
        &s.targets,
    )
}

#[test]
fn blood_loss_interval_covers_about_80_percent() {
    let r = quantity_report();
    let OutcomeMetrics::Quantity(m) = &r.metrics else {
        panic!("expected quantity")
    };
    assert!((m.coverage_80 - 0.80).abs() < 0.03, "{}", m.coverage_80);
    let oracle = m.oracle.as_ref().expect("truth");
    assert!(m.median_absolute_error_ml >= oracle.median_absolute_error_ml * 0.95);
    assert!(m.massive_events > 0);
    assert_eq!(r.criteria.coverage_in_range, Some(true));
    assert_eq!(r.criteria.slope_in_range, None);
}

#[test]
fn report_files_are_written_and_consistent() {
    let (x, y, g) = cohort(7);
    let truth: Vec<f64> = x.iter().map(|&v| sigmoid(v)).collect();
    let probs: Vec<f64> = truth.iter().map(|&p| sigmoid(logit(p) * 1.02)).collect();
    let report = Report {
        format: REPORT_FORMAT,
        periop_version: "test".to_string(),
        model_set: None,
        data: DataInfo {
            file: "test.csv".to_string(),
            sha256: "ab".repeat(32),
            rows: N,
            synthetic: true,
        },
        settings: settings(),
        outcomes: vec![
            quantity_report(),
            binary_report(Outcome::CsfLeak, probs, &truth, &y, &g),
        ],
        skipped: vec![periop::evaluate::Skipped {
            outcome: "dvt".to_string(),
            reason: "no model".to_string(),
        }],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let written = write_report(&report, dir.path()).expect("written");
    assert_eq!(written.len(), 5, "{written:?}");

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("metrics.json")).expect("json"),
    )
    .expect("parse");
    assert_eq!(json["data"]["synthetic"], true);
    assert_eq!(json["data"]["file"], "test.csv");
    assert_eq!(
        json["settings"]["bootstrap_seed"],
        settings().bootstrap_seed
    );
    assert_eq!(json["outcomes"][1]["outcome"], "csf_leak");
    assert_eq!(json["outcomes"][1]["metrics"]["kind"], "probability");
    assert!(json["outcomes"][1]["metrics"]["oracle"]["auc"]
        .as_f64()
        .is_some());
    assert_eq!(json["outcomes"][1]["criteria"]["all_met"], true);
    assert!(json["outcomes"][1]["published"][0]["paper"]
        .as_str()
        .expect("paper")
        .contains("Guo"));
    assert_eq!(json["skipped"][0]["outcome"], "dvt");

    let card = std::fs::read_to_string(dir.path().join("cards/csf_leak.md")).expect("card");
    for section in [
        "## Intended use",
        "## Population",
        "## Inputs",
        "## Training data",
        "## Validation",
        "## Calibration",
        "## Risk bands",
        "## Published models",
        "## Limitations",
        "SYNTHETIC",
        "0.734",
        "lumbar_fusion",
        "../plots/csf_leak_reliability.svg",
    ] {
        assert!(card.contains(section), "card lacks {section}");
    }
    let ebl_card =
        std::fs::read_to_string(dir.path().join("cards/blood_loss_ml.md")).expect("card");
    assert!(ebl_card.contains("coverage of the 80 % interval"));

    let svg =
        std::fs::read_to_string(dir.path().join("plots/csf_leak_reliability.svg")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.contains("SYNTHETIC DATA") && svg.contains("csf_leak"));
    assert!(!dir
        .path()
        .join("plots/blood_loss_ml_reliability.svg")
        .exists());

    let readme = std::fs::read_to_string(dir.path().join("README.md")).expect("readme");
    assert!(readme.contains("[card](cards/csf_leak.md)"));
    assert!(readme.contains("[plot](plots/csf_leak_reliability.svg)"));
    assert!(readme.contains("1 of 1 meet both targets"));
    assert!(readme.contains("`dvt`: no model"));
    let table = index::console_table(&report);
    assert!(table.contains("csf_leak") && table.contains("blood_loss_ml") && table.contains("✓"));
}
