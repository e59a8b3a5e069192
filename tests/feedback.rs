//! CDS Hooks feedback end to end on the committed default model set: an answer delivered as a
//! card and stored by the `Assessor` in a real SQLite audit file, feedback recorded against it
//! (accepted, overridden, repeated, rejected with the field named), the override summary over a
//! window, and `GET /v1/quality/overrides` over HTTP on loopback.

#[path = "support/conform.rs"]
mod conform;
#[path = "support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use periop::audit::{AuditStore, SqliteAuditStore};
use periop::ehr::cds::card::{card, suggestion_uuid, CardContext, OVERRIDE_REASON_SYSTEM};
use periop::ehr::cds::types::Card;
use periop::model::ensemble::ModelSet;
use periop::rules::RuleSet;
use periop::service::feedback::{
    record_feedback, FeedbackEntry, FeedbackRecord, FeedbackRejected, FeedbackStatus,
    OverrideReasonEntry, ReasonCoding, KIND_CDS_FEEDBACK,
};
use periop::service::overrides::override_summary;
use periop::service::{
    validate, Assessment, AssessmentRequest, Assessor, Caller, Delivery, RuleSource, ServiceError,
};
use serde_json::{json, Value};
use server::{key, spawn_app};

const SERVICE: &str = "periop-spine-risk";

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

fn models() -> Arc<ModelSet> {
    static MODELS: OnceLock<Arc<ModelSet>> = OnceLock::new();
    MODELS
        .get_or_init(|| Arc::new(ModelSet::load(&model_dir()).expect("models/default loads")))
        .clone()
}

fn rules() -> Arc<RuleSet> {
    static RULES: OnceLock<Arc<RuleSet>> = OnceLock::new();
    RULES
        .get_or_init(|| {
            Arc::new(periop::rules::shipped::load(&model_dir()).expect("the shipped rule set"))
        })
        .clone()
}

fn caller() -> Caller {
    Caller {
        request_id: "req_feedback_test".into(),
        key_id: "https://ehr.example.org".into(),
    }
}

/// A lumbar fusion with a history of VTE and anaemia: several recommendations with orders.
fn request() -> AssessmentRequest {
    let patient = json!({
        "age_years": 74, "sex": "female", "height_cm": 160, "weight_kg": 82,
        "smoking_status": "former", "asa_class": 3, "diabetes": "non_insulin",
        "hypertension": true, "history_of_vte": true, "bleeding_disorder_or_anticoagulant": false,
        "osteoporosis": true, "hemoglobin_g_dl": 9.6, "procedure": "lumbar_fusion",
        "fused_levels": 4, "decompressed_levels": 3, "fusion_to_sacrum": true,
        "planned_duration_min": 300, "tranexamic_acid_planned": false, "odi_baseline": 52
    });
    AssessmentRequest {
        patient: patient.as_object().expect("object").clone(),
        outcomes: None,
        explain: false,
        missing_input_ranges: false,
        origin: Default::default(),
    }
}

/// Assesses the patient, delivers the answer as a CDS Hooks card of [`SERVICE`] (stored with the
/// answer) and returns the card.
fn deliver(store: Arc<dyn AuditStore>) -> Card {
    let assessor = Assessor::new(models(), RuleSource::Fixed(rules()), Some(store));
    let request = request();
    let job = validate(&request).expect("a valid patient");
    let mut sent = None;
    let recorded = assessor
        .assess_job(
            job,
            serde_json::to_string(&request).expect("request json"),
            &caller(),
            &mut |answer: &mut Assessment| {
                let c = card(
                    answer,
                    &CardContext {
                        public_url: "https://periop.test",
                        patient: "Patient/pat-42",
                        encounter: Some("Encounter/enc-7"),
                        problems: &[],
                    },
                );
                answer.delivery = Some(Delivery {
                    channel: Delivery::CDS_HOOKS.into(),
                    service: Some(SERVICE.into()),
                    hook: Some("order-select".into()),
                    hook_instance: Some("5b1f7a2e-9c0d-4f4e-8a43-2f1c0b6d9e11".into()),
                    patient: Some("Patient/pat-42".into()),
                    encounter: Some("Encounter/enc-7".into()),
                    client: Some("https://ehr.example.org".into()),
                    basis: Vec::new(),
                    sources: Vec::new(),
                    problems: Vec::new(),
                    card: Some(serde_json::to_value(&c).expect("card json")),
                    fetched: Vec::new(),
                });
                sent = Some(c);
            },
        )
        .expect("assessed and recorded");
    let sent = sent.expect("the card was built");
    assert_eq!(sent.uuid, recorded.assessment_id);
    assert!(
        sent.suggestions.len() >= 2,
        "the patient should get at least two suggested orders: {:?}",
        sent.suggestions
    );
    sent
}

fn accepted(card: &str, suggestions: &[&str], at: &str) -> FeedbackEntry {
    FeedbackEntry {
        card: card.into(),
        outcome: "accepted".into(),
        accepted_suggestions: suggestions.iter().map(|s| s.to_string()).collect(),
        override_reason: None,
        outcome_timestamp: at.into(),
    }
}

fn overridden(card: &str, at: &str) -> FeedbackEntry {
    FeedbackEntry {
        card: card.into(),
        outcome: "overridden".into(),
        accepted_suggestions: Vec::new(),
        override_reason: Some(OverrideReasonEntry {
            reason: Some(ReasonCoding {
                system: OVERRIDE_REASON_SYSTEM.into(),
                code: "already-addressed".into(),
                display: Some("Risk already addressed in the surgical plan".into()),
            }),
            user_comment: Some("discussed at the MDT".into()),
        }),
        outcome_timestamp: at.into(),
    }
}

fn open(path: &Path) -> Arc<SqliteAuditStore> {
    Arc::new(SqliteAuditStore::open(path).expect("the audit store opens"))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[test]
fn feedback_is_recorded_once_linked_to_its_answer_and_summarised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("audit.db"));
    let sent = deliver(store.clone());
    let id = sent.uuid.clone();
    let first = &sent.suggestions[0];

    // The recommendation behind the first suggestion, found the way the card derived its uuid.
    let answer: Assessment =
        serde_json::from_str(&store.get(&id).expect("read").expect("stored").record.output)
            .expect("the stored answer parses");
    let accepted_rec = answer
        .recommendations
        .iter()
        .find(|r| suggestion_uuid(&id, &r.id) == first.uuid)
        .expect("the suggestion belongs to a recommendation")
        .id
        .clone();

    let before = store.count().expect("count");
    let entries = [
        accepted(&id, &[&first.uuid], "2026-03-02T10:15:00Z"),
        overridden(&id, "2026-03-02T10:16:30.250Z"),
    ];
    let results = record_feedback(store.as_ref(), SERVICE, &entries, &caller()).expect("recorded");
    assert!(
        results.iter().all(|r| r.status == FeedbackStatus::Recorded),
        "{results:?}"
    );
    assert_eq!(store.count().expect("count"), before + 2);

    let read = |fid: &str| -> FeedbackRecord {
        let stored = store.get(fid).expect("read").expect("stored");
        assert_eq!(stored.record.kind, KIND_CDS_FEEDBACK);
        assert_eq!(stored.record.caller, "https://ehr.example.org");
        serde_json::from_str(&stored.record.output).expect("the record parses")
    };
    let acc = read(&results[0].feedback_id);
    assert_eq!(acc.assessment_id, id);
    assert_eq!(acc.recommendation_ids, vec![accepted_rec.clone()]);
    assert_eq!(acc.accepted_suggestions[0].label, first.label);
    assert_eq!(acc.model_set, answer.model_set);
    assert_eq!(acc.rule_set.as_ref(), answer.rule_set.as_ref());
    assert_eq!(
        acc.rule_set.as_ref().map(|r| &r.version),
        Some(&rules().reference().version)
    );
    assert_eq!(acc.models.len(), answer.predictions.len());
    assert!(acc
        .models
        .iter()
        .zip(&answer.predictions)
        .all(|(m, p)| m.outcome == p.outcome && m.version == p.model.version));
    let ovr = read(&results[1].feedback_id);
    let all: Vec<String> = answer
        .recommendations
        .iter()
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(ovr.recommendation_ids, all);
    assert_eq!(
        ovr.override_reason.map(|r| r.code),
        Some("already-addressed".to_string())
    );

    // The same report twice (the EHR retried): stored once.
    let again = record_feedback(store.as_ref(), SERVICE, &entries, &caller()).expect("accepted");
    assert!(again
        .iter()
        .all(|r| r.status == FeedbackStatus::AlreadyRecorded));
    assert_eq!(
        again.iter().map(|r| &r.feedback_id).collect::<Vec<_>>(),
        results.iter().map(|r| &r.feedback_id).collect::<Vec<_>>()
    );
    assert_eq!(store.count().expect("count"), before + 2);

    // Rejected, each naming its field; nothing of the request is stored.
    let unknown_card = uuid::Uuid::new_v4().to_string();
    let unknown_suggestion = suggestion_uuid(&id, "no.such_recommendation");
    let bad = [
        accepted(&unknown_card, &[&first.uuid], "2026-03-02T10:15:00Z"),
        accepted(&id, &[&unknown_suggestion], "2026-03-02T10:17:00Z"),
        accepted(&id, &[], "2026-03-02T10:18:00Z"),
        accepted(&id, &[&first.uuid], "02/03/2026 10:19"),
        accepted(&id, &[&first.uuid], "2026-03-02T10:20:00Z"),
    ];
    match record_feedback(store.as_ref(), SERVICE, &bad, &caller()) {
        Err(ServiceError::Feedback(FeedbackRejected(errors))) => {
            let fields: Vec<String> = errors.iter().map(|e| e.field()).collect();
            assert_eq!(
                fields,
                vec![
                    "feedback[0].card",
                    "feedback[1].acceptedSuggestions[0].id",
                    "feedback[2].acceptedSuggestions",
                    "feedback[3].outcomeTimestamp",
                ]
            );
        }
        other => panic!("expected the feedback to be rejected, got {other:?}"),
    }
    assert_eq!(
        store.count().expect("count"),
        before + 2,
        "the valid item of a rejected request is not stored either"
    );
    assert!(store.verify().expect("verify").is_intact());

    // The summary over the window holding the feedback, and over one that does not.
    let now = Utc::now();
    let s = override_summary(
        store.as_ref(),
        now - Duration::hours(1),
        now + Duration::hours(1),
    )
    .expect("summary");
    assert_eq!((s.totals.accepted, s.totals.overridden), (1, 1));
    assert_eq!((s.totals.with_comment, s.totals.without_reason), (1, 0));
    assert_eq!(s.totals.reasons.len(), 1);
    assert_eq!(
        (s.totals.reasons[0].code.as_str(), s.totals.reasons[0].count),
        ("already-addressed", 1)
    );
    assert_eq!(s.recommendations.len(), all.len());
    for r in &s.recommendations {
        let expected_accepted = u64::from(r.id == accepted_rec);
        assert_eq!(
            (r.counts.accepted, r.counts.overridden),
            (expected_accepted, 1),
            "{}",
            r.id
        );
    }
    assert_eq!(s.model_sets.len(), 1);
    assert_eq!(s.model_sets[0].version, models().set_manifest().version);
    assert_eq!(
        (
            s.model_sets[0].counts.accepted,
            s.model_sets[0].counts.overridden
        ),
        (1, 1)
    );
    assert_eq!(s.rule_sets.len(), 1);
    assert_eq!(
        s.rule_sets[0].version.as_ref(),
        Some(&rules().reference().version)
    );
    assert_eq!(s.unreadable, 0);

    let earlier = override_summary(
        store.as_ref(),
        now - Duration::hours(2),
        now - Duration::hours(1),
    )
    .expect("summary");
    assert_eq!((earlier.totals.accepted, earlier.totals.overridden), (0, 0));
    assert!(earlier.recommendations.is_empty() && earlier.model_sets.is_empty());
}

#[test]
fn the_override_summary_is_served_to_quality_and_admin_only() {
    let app = spawn_app(|s| s.workers = 1);
    let spec = conform::openapi_document();
    // Feedback written into the server's own audit file, as the CDS Hooks route will.
    let store = open(&app.audit_file);
    let sent = deliver(store.clone());
    record_feedback(
        store.as_ref(),
        SERVICE,
        &[
            overridden(&sent.uuid, "2026-03-02T10:16:00Z"),
            accepted(
                &sent.uuid,
                &[&sent.suggestions[1].uuid],
                "2026-03-02T10:17:00Z",
            ),
        ],
        &caller(),
    )
    .expect("recorded");

    let now = Utc::now();
    let window = format!(
        "from={}&to={}",
        rfc3339(now - Duration::hours(1)),
        rfc3339(now + Duration::hours(1))
    );
    let get = |role: Option<&str>, query: &str| -> (u16, Value) {
        let mut req = app
            .client
            .get(format!("{}/v1/quality/overrides?{query}", app.base));
        if let Some(r) = role {
            req = req.bearer_auth(key(r));
        }
        let res = req.send().expect("request");
        let status = res.status().as_u16();
        (status, res.json().unwrap_or(Value::Null))
    };

    for role in ["quality", "admin"] {
        let (status, body) = get(Some(role), &window);
        assert_eq!(status, 200, "{role}: {body}");
        conform::assert_conforms(&spec, "/v1/quality/overrides", "get", 200, &body);
        assert_eq!(body["totals"]["accepted"], 1, "{body}");
        assert_eq!(body["totals"]["overridden"], 1, "{body}");
        assert_eq!(body["totals"]["with_comment"], 1, "{body}");
        assert!(
            !body.to_string().contains("discussed at the MDT"),
            "comments are never returned: {body}"
        );
        assert_eq!(
            body["rule_sets"][0]["version"],
            json!(rules().reference().version)
        );
    }
    let earlier = format!(
        "from={}&to={}",
        rfc3339(now - Duration::hours(2)),
        rfc3339(now - Duration::hours(1))
    );
    let (status, body) = get(Some("quality"), &earlier);
    assert_eq!(status, 200);
    assert_eq!(body["totals"]["accepted"], 0, "{body}");
    assert_eq!(body["recommendations"], json!([]), "{body}");

    let (status, body) = get(Some("clinician"), &window);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    conform::assert_conforms(&spec, "/v1/quality/overrides", "get", 403, &body);
    let (status, body) = get(None, &window);
    assert_eq!(status, 401, "{body}");
    conform::assert_conforms(&spec, "/v1/quality/overrides", "get", 401, &body);

    let (status, body) = get(Some("quality"), "from=last-monday&to=2026-03-01T00:00:00Z");
    assert_eq!(status, 422, "{body}");
    conform::assert_conforms(&spec, "/v1/quality/overrides", "get", 422, &body);
    assert_eq!(body["code"], "invalid_input");
    assert_eq!(body["errors"][0]["field"], "from", "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");

    let (status, body) = get(Some("quality"), "to=2026-03-01T00:00:00Z");
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "from", "{body}");
    assert_eq!(body["errors"][0]["reason"], "required", "{body}");

    let (status, body) = get(
        Some("quality"),
        "from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
    );
    assert_eq!(status, 422, "{body}");
    conform::assert_conforms(&spec, "/v1/quality/overrides", "get", 422, &body);
    assert_eq!(body["errors"][0]["field"], "to", "{body}");
    assert_eq!(body["errors"][0]["reason"], "contradiction", "{body}");
}
