//! Local recalibration end to end on the default model set: a synthetic cohort in which one site
//! is deliberately miscalibrated (its labels redrawn with shifted and steepened log-odds) is
//! recalibrated on that site's rows; on held-out rows the intercept and slope come back within
//! their CIs while the AUC is not lower; too few events is refused with the count and the
//! minimum; the written set keeps every tree byte for byte, loads hash-verified, and explains
//! exactly as before while its probabilities follow the new map. The CLI's refusals are readable.

use std::path::{Path, PathBuf};

use periop::dataset::{index_of, Dataset};
use periop::metrics::{logit, sigmoid};
use periop::model::ensemble::ModelSet;
use periop::model::manifest::sha256_hex;
use periop::model::recalibrated_set::{write_recalibrated_set, LocalSource, CARD_FILE};
use periop::model::recalibration::{recalibrate_set, RecalibrationError, RecalibrationSettings};
use periop::outcomes::Outcome;
use rand::{Rng, SeedableRng};

const OUTCOME: Outcome = Outcome::ProlongedLos;
const SITE: &str = "site_b";
/// The miscalibrated site's true log-odds: `SLOPE·logit(p_true) + SHIFT`.
const SHIFT: f64 = 0.7;
const SLOPE: f64 = 1.5;

fn default_set() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

fn cohort_bytes(rows: usize, seed: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    periop::synth::write_csv(&periop::synth::generate(rows, seed), &mut bytes).expect("csv");
    bytes
}

/// A synthetic cohort whose `SITE` rows have `OUTCOME` redrawn from a distorted truth.
fn miscalibrated_cohort() -> Dataset {
    let bytes = cohort_bytes(30_000, 20_261_201);
    let mut data = Dataset::from_reader(bytes.as_slice(), "local.csv").expect("valid");
    let k = index_of(OUTCOME);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut redrawn = 0;
    for r in &mut data.records {
        if r.site.as_deref() != Some(SITE) || r.outcomes[k].is_none() {
            continue;
        }
        let p = r.truth[k].expect("synthetic rows carry p_true");
        let distorted = sigmoid(SLOPE * logit(p) + SHIFT);
        r.outcomes[k] = Some(f64::from(u8::from(rng.gen::<f64>() < distorted)));
        redrawn += 1;
    }
    assert!(redrawn > 3_000, "only {redrawn} rows of {SITE}");
    data
}

fn contains(ci: Option<(f64, f64)>, v: f64) -> bool {
    ci.is_some_and(|(lo, hi)| lo <= v && v <= hi)
}

/// `ci` widened about its centre by `factor`.
fn widened(ci: Option<(f64, f64)>, factor: f64) -> Option<(f64, f64)> {
    ci.map(|(lo, hi)| {
        let (mid, half) = ((lo + hi) / 2.0, (hi - lo) / 2.0);
        (mid - factor * half, mid + factor * half)
    })
}

#[test]
fn a_miscalibrated_site_is_recalibrated_and_the_new_set_verifies() {
    let set = ModelSet::load(&default_set()).expect("default set");
    let data = miscalibrated_cohort();
    let settings = RecalibrationSettings::default();
    let results = recalibrate_set(&set, &data, Some(SITE), &[OUTCOME], &settings)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let r = &results[0].report;
    eprintln!("before {:?}\nafter {:?}", r.before, r.after);
    // The tolerance: the held-out bootstrap CI covers the held-out rows' sampling error only;
    // the map itself was estimated on the fitting rows, whose independent error adds variance in
    // the ratio held/fit, so the CI is widened by sqrt(1 + held/fit) (≈ 1.20 at 30 % held out).
    let factor = (1.0 + r.before.rows as f64 / r.fit_rows as f64).sqrt();
    // Before: calibration-in-the-large and slope are off, outside even the widened CIs.
    assert!(
        !contains(widened(r.before.intercept_ci, factor), 0.0),
        "{:?}",
        r.before
    );
    assert!(
        !contains(widened(r.before.slope_ci, factor), 1.0),
        "{:?}",
        r.before
    );
    assert!(r.before.slope.expect("slope") > 1.2);
    // After, on the same held-out rows: the ideal values are within the (widened) CIs.
    assert!(
        contains(widened(r.after.intercept_ci, factor), 0.0),
        "{:?}",
        r.after
    );
    assert!(
        contains(widened(r.after.slope_ci, factor), 1.0),
        "{:?}",
        r.after
    );
    assert!(
        r.after.intercept.expect("intercept").abs()
            < r.before.intercept.expect("intercept").abs() / 2.0
    );
    assert!(r.after.brier < r.before.brier);
    let (before_auc, after_auc) = (r.before.auc.expect("auc"), r.after.auc.expect("auc"));
    assert!(
        after_auc >= before_auc - 1e-12,
        "{before_auc} -> {after_auc}"
    );
    assert_eq!(r.before.rows, r.after.rows);
    assert!(r.fit_events >= settings.min_events);

    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("site_b_recalibrated");
    let source = LocalSource {
        site: Some(SITE.into()),
        window: Some("2026-01..2026-06".into()),
        source: "local.csv".into(),
        source_sha256: None,
        store_rows: Vec::new(),
    };
    let written = write_recalibrated_set(&set, &results, &source, &out).expect("written");
    // Loads hash-verified from disk (again, independently of the writer's own check).
    let reloaded = ModelSet::load(&out).expect("the written set verifies");
    let (old, new) = (set.set_manifest(), reloaded.set_manifest());
    assert_ne!(old.version, new.version);
    assert_eq!(new.version, written.set_manifest().version);
    assert!(new
        .version
        .starts_with(&format!("{}+", env!("CARGO_PKG_VERSION"))));
    assert_eq!(
        new.recalibration.as_ref().expect("provenance").from_version,
        old.version
    );
    // Every file but the recalibrated manifest and model_set.json is byte-identical.
    let src = default_set();
    for (rel, bytes) in files(&src) {
        let copy = std::fs::read(out.join(&rel)).expect("copied");
        let changed = rel == Path::new("model_set.json")
            || rel == Path::new(OUTCOME.id()).join("manifest.json");
        assert_eq!(
            sha256_hex(&copy) != sha256_hex(&bytes),
            changed,
            "{}",
            rel.display()
        );
    }
    assert!(std::fs::read_to_string(out.join(CARD_FILE))
        .expect("card")
        .contains("Recalibrated on"));
    // Same raw scores and SHAP; probabilities follow the new map.
    let patients: Vec<_> = data
        .records
        .iter()
        .take(200)
        .map(|r| r.patient.clone())
        .collect();
    let patients: Vec<_> = patients
        .into_iter()
        .filter(|p| OUTCOME.applies_to(p).is_ok())
        .collect();
    let a = set.predict_batch(OUTCOME, &patients, true).expect("old");
    let b = reloaded
        .predict_batch(OUTCOME, &patients, true)
        .expect("new");
    let map = reloaded
        .manifest(OUTCOME)
        .and_then(|m| m.calibration.clone())
        .expect("calibration");
    let mut moved = 0;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.raw, y.raw);
        assert_eq!(x.explanation, y.explanation);
        let p = y.probability.expect("probability");
        assert_eq!(p, map.apply(y.raw));
        if (p - x.probability.expect("probability")).abs() > 1e-3 {
            moved += 1;
        }
    }
    assert!(moved > patients.len() / 2, "{moved} of {}", patients.len());
    // Outcomes not recalibrated answer exactly as before.
    let dvt_a = set
        .predict_batch(Outcome::Dvt, &patients, false)
        .expect("dvt");
    let dvt_b = reloaded
        .predict_batch(Outcome::Dvt, &patients, false)
        .expect("dvt");
    assert_eq!(dvt_a, dvt_b);
    // Sets are never overwritten.
    assert!(write_recalibrated_set(&set, &results, &source, &out).is_err());
}

#[test]
fn too_few_events_is_refused_with_the_count_and_the_minimum() {
    let set = ModelSet::load(&default_set()).expect("default set");
    let bytes = cohort_bytes(2_000, 5);
    let data = Dataset::from_reader(bytes.as_slice(), "small.csv").expect("valid");
    let errors = recalibrate_set(
        &set,
        &data,
        Some("site_c"),
        &[Outcome::Delirium],
        &RecalibrationSettings::default(),
    )
    .expect_err("a few hundred rows cannot have 100 delirium events");
    let [RecalibrationError::TooFewEvents {
        events, minimum, ..
    }] = errors.as_slice()
    else {
        panic!("{errors:?}")
    };
    assert_eq!(*minimum, 100);
    assert!(*events < 100);
    let text = errors[0].to_string();
    assert!(text.contains(&format!("{events} events")), "{text}");
    assert!(text.contains("at least 100 events"), "{text}");
}

#[test]
fn the_cli_refuses_readably_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("local.csv");
    std::fs::write(&data, cohort_bytes(3_000, 8)).expect("csv");
    let out = tmp.path().join("new_set");
    let run = |extra: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_periop"))
            .arg("recalibrate")
            .arg("--models")
            .arg(default_set())
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .expect("run periop");
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = run(&["--outcomes", "csf_leak"]);
    assert!(
        e.contains("csf_leak:") && e.contains("at least 100 events"),
        "{e}"
    );
    assert!(e.contains("nothing was written"), "{e}");
    let e = run(&["--site", "nowhere"]);
    assert!(e.contains("--site nowhere") && e.contains("site_a"), "{e}");
    let e = run(&["--outcomes", "blood_loss_ml"]);
    assert!(e.contains("quantity outcome"), "{e}");
    let e = run(&["--outcomes", "dvt", "--held-out", "1.5"]);
    assert!(e.contains("held_out_fraction"), "{e}");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).expect("dir").count(), 1);
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&rel)).expect("dir") {
            let entry = entry.expect("entry");
            let child = rel.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                stack.push(child);
            } else {
                out.push((
                    child.clone(),
                    std::fs::read(dir.join(&child)).expect("read"),
                ));
            }
        }
    }
    out
}

mod activation {
    //! Activating the recalibrated set like a rule set: audited before the switch, atomic for
    //! every assessment, picked up by a replica sharing the store, reversible.

    use std::sync::Arc;

    use periop::audit::{AuditStore, ListQuery, SqliteAuditStore};
    use periop::model::ensemble::ModelSet;
    use periop::model::recalibrated_set::{write_recalibrated_set, LocalSource};
    use periop::model::recalibration::{recalibrate_set, RecalibrationSettings};
    use periop::service::model_sets::{
        ModelHolder, ModelSetError, ModelSetRegistry, KIND_MODEL_SET_ACTIVATION,
    };
    use periop::service::{Assessor, Caller, RuleSource};
    use serde_json::{json, Value};

    use super::{default_set, files, miscalibrated_cohort, OUTCOME, SITE};

    fn patient() -> Value {
        json!({"patient": {
            "age_years": 71, "sex": "female", "height_cm": 162, "weight_kg": 80,
            "smoking_status": "former", "asa_class": 3, "diabetes": "non_insulin",
            "hypertension": true, "procedure": "lumbar_fusion", "fused_levels": 3,
            "decompressed_levels": 2, "planned_duration_min": 240
        }})
    }

    /// `(set version, probability of OUTCOME)` of a stored answer.
    fn answered(body: &str) -> (String, f64) {
        let v: Value = serde_json::from_str(body).expect("answer");
        let p = v["predictions"]
            .as_array()
            .expect("predictions")
            .iter()
            .find(|p| p["outcome"] == OUTCOME.id())
            .and_then(|p| p["probability"].as_f64())
            .expect("probability");
        (
            v["model_set"]["version"]
                .as_str()
                .expect("version")
                .to_string(),
            p,
        )
    }

    #[test]
    fn activation_is_audited_atomic_shared_and_reversible() {
        let tmp = tempfile::tempdir().expect("tmp");
        let sets = tmp.path().join("sets");
        // The source set, copied under model_sets_dir, and its recalibrated version beside it.
        for (rel, bytes) in files(&default_set()) {
            let to = sets.join("default").join(rel);
            std::fs::create_dir_all(to.parent().expect("parent")).expect("dir");
            std::fs::write(to, bytes).expect("copy");
        }
        let base = Arc::new(ModelSet::load(&sets.join("default")).expect("default"));
        let results = recalibrate_set(
            &base,
            &miscalibrated_cohort(),
            Some(SITE),
            &[OUTCOME],
            &RecalibrationSettings::default(),
        )
        .expect("recalibrated");
        let source = LocalSource {
            site: Some(SITE.into()),
            window: None,
            source: "local.csv".into(),
            source_sha256: None,
            store_rows: Vec::new(),
        };
        let new = write_recalibrated_set(&base, &results, &source, &sets.join("site_b"))
            .expect("written");
        let (old_v, new_v) = (
            base.set_manifest().version.clone(),
            new.set_manifest().version.clone(),
        );

        let store: Arc<dyn AuditStore> =
            Arc::new(SqliteAuditStore::open(tmp.path().join("audit.db")).expect("store"));
        let holder = Arc::new(ModelHolder::new(base.clone()));
        let registry = ModelSetRegistry::open(store.clone(), holder.clone(), Some(sets.clone()))
            .expect("open");
        let assessor = Arc::new(Assessor::with_holder(
            holder.clone(),
            RuleSource::Off,
            Some(store.clone()),
        ));
        let caller = Caller {
            request_id: "req".into(),
            key_id: "admin-1".into(),
        };
        let body = patient();
        let before = assessor
            .assess(&body, body.to_string(), &caller)
            .expect("assessed");
        let (v0, p0) = answered(&before.body);
        assert_eq!(v0, old_v);

        // Assessments running while the set is switched each use one set from start to end.
        let (old_p, new_p) = {
            let p = |set: &ModelSet| {
                let job = periop::service::validate(
                    &periop::service::parse_request(&body).expect("request"),
                )
                .expect("valid");
                set.predict_one(OUTCOME, job.patient(), false)
                    .expect("predicted")
                    .probability
                    .expect("probability")
            };
            (p(&base), p(&new))
        };
        assert_eq!(old_p, p0);
        assert!((new_p - old_p).abs() > 1e-3, "{old_p} {new_p}");
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (assessor, caller, body) = (assessor.clone(), caller.clone(), body.clone());
                std::thread::spawn(move || {
                    (0..40)
                        .map(|_| {
                            answered(
                                &assessor
                                    .assess(&body, body.to_string(), &caller)
                                    .expect("assessed")
                                    .body,
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let activation = registry
            .activate(&new_v, "admin-1", "req-activate")
            .expect("activated");
        assert_eq!(activation.previous_version, old_v);
        assert_eq!(activation.directory, "site_b");
        for w in workers {
            for (v, p) in w.join().expect("worker") {
                let expected = if v == old_v { old_p } else { new_p };
                assert!(v == old_v || v == new_v, "{v}");
                assert_eq!(
                    p, expected,
                    "an answer of {v} with another set's probability"
                );
            }
        }
        let after = assessor
            .assess(&body, body.to_string(), &caller)
            .expect("assessed");
        assert_eq!(answered(&after.body), (new_v.clone(), new_p));
        // The record of the answer names the set that answered.
        let stored = store
            .get(&after.assessment_id)
            .expect("get")
            .expect("stored");
        assert!(
            stored.record.model_set.contains(&new_v),
            "{}",
            stored.record.model_set
        );

        // In the chain, before any answer of the new set; the chain verifies.
        let records = store
            .list(&ListQuery {
                kind: Some(KIND_MODEL_SET_ACTIVATION.into()),
                ..ListQuery::default()
            })
            .expect("list");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].record.caller, "admin-1");
        assert_eq!(store.verify().expect("verify").broken_links, 0);

        // A replica sharing the store answers with the activated set once it looks.
        let replica_holder = Arc::new(ModelHolder::new(base.clone()));
        let replica =
            ModelSetRegistry::open(store.clone(), replica_holder.clone(), Some(sets.clone()))
                .expect("replica");
        assert_eq!(
            replica_holder.current().models.set_manifest().version,
            new_v
        );
        assert!(replica.refresh().expect("refresh").is_none());

        // Unknown versions and paths are refused; nothing changes.
        assert!(matches!(
            registry.activate("../default", "admin-1", "r"),
            Err(ModelSetError::NotFound(_))
        ));
        assert_eq!(holder.current().models.set_manifest().version, new_v);

        // Rollback = activating the previous version; nothing was deleted.
        registry
            .activate(&old_v, "admin-1", "req-rollback")
            .expect("rollback");
        assert_eq!(
            answered(
                &assessor
                    .assess(&body, body.to_string(), &caller)
                    .expect("a")
                    .body
            )
            .0,
            old_v
        );
        assert_eq!(
            replica.refresh().expect("refresh").map(|a| a.version),
            Some(old_v.clone())
        );
        assert_eq!(registry.activations().expect("activations").len(), 2);
        assert!(sets.join("site_b/model_set.json").exists());
        let listed = registry.available().expect("available");
        assert_eq!(listed.len(), 2);
        assert_eq!(
            listed
                .iter()
                .find(|s| s.directory == "site_b")
                .and_then(|s| s.recalibrated_from.clone()),
            Some(old_v)
        );
    }
}
