//! The EHR path without HTTP (issue 9), on one realistic order-select call
//! (`benches/data/order-select-lumbar-fusion.json`: a Patient; 20 Observations in other units
//! (lb, in, g/L, µmol/L, 10*3/uL), stale, entered-in-error and one in an unknown unit; five
//! Conditions; three medications; a prior spine Procedure; a draftOrders Bundle with a two-level
//! lumbar fusion and a blood count): the prefetch mapping (`FhirInputs::from_prefetch` and
//! `map_patient`), the card (`ehr::cds::card::card`), the FHIR R4 out Bundle, the JWT check
//! (`CdsAuthenticator::verify` of an ES384 token, a fresh `jti` each time), the cost of "what
//! would sharpen the estimate" (the same patient with and without `missing_input_ranges`), and
//! the whole hook call in process (`answer_hook` into a SQLite store in a temp dir). Reported,
//! never enforced. Run: `cargo bench --bench ehr`.

#[path = "../tests/support/cds_jwt.rs"]
mod cds_jwt;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::{Map, Value};

use cds_jwt::{bearer, EhrSigner};
use periop::audit::SqliteAuditStore;
use periop::ehr::cds::call::{answer_hook, CallContext};
use periop::ehr::cds::card::{card, CardContext};
use periop::ehr::cds::fetch::FetchReport;
use periop::ehr::cds::types::HookRequest;
use periop::ehr::fhir_in::{map_patient, FhirInputs, MappedPatient, PrefetchKeys};
use periop::ehr::fhir_out::{assessment_bundle, stored_assessment_bundle, FhirOutOptions};
use periop::ehr::jwt::{CdsAuthPolicy, CdsAuthenticator, CdsIssuer};
use periop::ehr::mapping::FhirMapping;
use periop::features::Patient;
use periop::model::ensemble::ModelSet;
use periop::outcomes::Outcome;
use periop::service::{Assessment, Assessor, Caller, Delivery, PatientJob, RuleSource};

const SERVICE: &str = "periop-spine-risk-order-select";
const PUBLIC_URL: &str = "https://periop.example.org";
const ISS: &str = "https://ehr.example.org/issuer";

/// The fixture's dates are relative to this day (its "today").
fn fixture_today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).expect("a valid date")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn hook_body() -> Value {
    let path = root().join("benches/data/order-select-lumbar-fusion.json");
    let bytes = std::fs::read(&path).expect("benches/data/order-select-lumbar-fusion.json");
    serde_json::from_slice(&bytes).expect("the fixture is JSON")
}

fn prefetch(body: &Value) -> &Map<String, Value> {
    body["prefetch"].as_object().expect("prefetch object")
}

fn map(body: &Value, mapping: &FhirMapping) -> MappedPatient {
    let (inputs, _absent) = FhirInputs::from_prefetch(
        prefetch(body),
        &PrefetchKeys::default(),
        Some(&body["context"]["draftOrders"]),
    )
    .expect("the prefetch reads");
    map_patient(&inputs, mapping, fixture_today())
}

struct Setup {
    models: Arc<ModelSet>,
    mapping: FhirMapping,
    rules: RuleSource,
    body: Value,
}

fn setup() -> Setup {
    let dir = root().join("models/default");
    let models = Arc::new(ModelSet::load(&dir).expect("models/default"));
    let mapping = FhirMapping::from_json(
        models
            .fhir_mapping_bytes()
            .expect("models/default ships ehr/fhir-mapping.json"),
    )
    .expect("the shipped mapping is valid");
    let rules = Arc::new(periop::rules::shipped::load(&dir).expect("models/default/rules"));
    Setup {
        models,
        mapping,
        rules: RuleSource::Fixed(rules),
        body: hook_body(),
    }
}

/// The mapped patient as the CDS path validates it; the fixture must map to a lumbar fusion with
/// two fused levels (else the benches would time an error path).
fn mapped_patient(s: &Setup) -> (MappedPatient, Patient) {
    let mapped = map(&s.body, &s.mapping);
    assert_eq!(
        mapped.patient.get("procedure").and_then(Value::as_str),
        Some("lumbar_fusion"),
        "{:?}",
        mapped.problems
    );
    assert_eq!(
        mapped.patient.get("fused_levels").and_then(Value::as_i64),
        Some(2)
    );
    let patient = Patient::from_json(&mapped.patient).expect("the mapped patient validates");
    (mapped, patient)
}

fn mapping(c: &mut Criterion) {
    let s = setup();
    let (mapped, _) = mapped_patient(&s);
    println!(
        "fixture: {} features mapped, {} sources, {} problems, {} basis references",
        mapped.patient.len(),
        mapped.sources.len(),
        mapped.problems.len(),
        mapped.basis.len()
    );
    for problem in &mapped.problems {
        println!("  not used: {problem}");
    }
    let body = &s.body;
    let keys = PrefetchKeys::default();
    let mut group = c.benchmark_group("ehr_mapping");
    group.bench_function("from_prefetch", |b| {
        b.iter(|| {
            FhirInputs::from_prefetch(
                black_box(prefetch(body)),
                &keys,
                Some(&body["context"]["draftOrders"]),
            )
            .expect("reads")
        })
    });
    let (inputs, _) =
        FhirInputs::from_prefetch(prefetch(body), &keys, Some(&body["context"]["draftOrders"]))
            .expect("reads");
    group.bench_function("map_patient", |b| {
        b.iter(|| map_patient(black_box(&inputs), &s.mapping, fixture_today()))
    });
    group.bench_function("from_prefetch_and_map_patient", |b| {
        b.iter(|| map(black_box(body), &s.mapping))
    });
    group.bench_function("from_prefetch_map_patient_and_validate", |b| {
        b.iter(|| {
            let mapped = map(black_box(body), &s.mapping);
            Patient::from_json(&mapped.patient).expect("validates")
        })
    });
    group.finish();
}

/// The answer the CDS path computes (explanations, missing-input ranges, the shipped rules),
/// with the delivery a hook call records.
fn cds_answer(s: &Setup, mapped: &MappedPatient, patient: Patient) -> Assessment {
    let assessor = Assessor::new(s.models.clone(), s.rules.clone(), None);
    let job = PatientJob::new(patient, Outcome::ALL.to_vec(), true).with_missing_input_ranges(true);
    let mut answer = assessor
        .answer(std::slice::from_ref(&job))
        .expect("answers")
        .pop()
        .expect("one answer");
    answer.delivery = Some(Delivery {
        channel: Delivery::CDS_HOOKS.to_string(),
        service: Some(SERVICE.to_string()),
        hook: Some("order-select".to_string()),
        hook_instance: Some("3f1b6c2e-8d2a-4d6e-9a57-1c0e4b7d2f90".to_string()),
        patient: Some("Patient/pat-77".to_string()),
        encounter: Some("Encounter/enc-9".to_string()),
        client: Some(ISS.to_string()),
        basis: mapped.basis.clone(),
        sources: Vec::new(),
        problems: Vec::new(),
        card: None,
        fetched: Vec::new(),
    });
    answer
}

fn card_and_fhir_out(c: &mut Criterion) {
    let s = setup();
    let (mapped, patient) = mapped_patient(&s);
    let answer = cds_answer(&s, &mapped, patient);
    let problems: Vec<String> = mapped.problems.iter().map(ToString::to_string).collect();
    let ctx = CardContext {
        public_url: PUBLIC_URL,
        patient: "Patient/pat-77",
        encounter: Some("Encounter/enc-9"),
        problems: &problems,
    };
    let built = card(&answer, &ctx);
    println!(
        "card: {} suggestions, detail {} bytes",
        built.suggestions.len(),
        built.detail.len()
    );
    let mut group = c.benchmark_group("ehr_out");
    group.bench_function("card", |b| b.iter(|| card(black_box(&answer), &ctx)));
    group.bench_function("card_to_json_bytes", |b| {
        b.iter(|| serde_json::to_vec(&card(black_box(&answer), &ctx)).expect("serialises"))
    });
    let options = FhirOutOptions {
        base_url: PUBLIC_URL,
        subject: Some("Patient/pat-77"),
        encounter: Some("Encounter/enc-9"),
        basis: &mapped.basis,
        synthetic: true,
    };
    group.bench_function("assessment_bundle", |b| {
        b.iter(|| assessment_bundle(black_box(&answer), &options))
    });
    group.bench_function("stored_assessment_bundle", |b| {
        b.iter(|| stored_assessment_bundle(black_box(&answer), PUBLIC_URL, true))
    });
    group.bench_function("stored_assessment_bundle_to_json_bytes", |b| {
        b.iter(|| {
            serde_json::to_vec(&stored_assessment_bundle(
                black_box(&answer),
                PUBLIC_URL,
                true,
            ))
            .expect("serialises")
        })
    });
    group.finish();
}

fn jwt(c: &mut Criterion) {
    let signer = EhrSigner::es384("ehr-key-1");
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks = dir.path().join("ehr.jwks.json");
    std::fs::write(&jwks, signer.jwks_json()).expect("write the JWKS");
    let authenticator = CdsAuthenticator::new(CdsAuthPolicy {
        issuers: vec![CdsIssuer {
            iss: ISS.to_string(),
            tenant: None,
            jwks_file: Some(jwks),
            jku_allowed: Vec::new(),
        }],
        // Every iteration's jti stays remembered for the token's lifetime: room for all of them.
        replay_cache_capacity: 2_000_000,
        ..CdsAuthPolicy::default()
    })
    .expect("the policy is valid");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let audience = format!("{PUBLIC_URL}/cds-services/{SERVICE}");
    let mut serial: u64 = 0;
    let mut fresh = || {
        serial += 1;
        let now = chrono::Utc::now().timestamp();
        let token = signer.token(ISS, &audience, &format!("bench-{serial}"), now);
        (bearer(&token), now)
    };
    let (header, now) = fresh();
    runtime
        .block_on(authenticator.verify(Some(&header), &audience, now))
        .expect("a valid token is accepted");
    let mut group = c.benchmark_group("ehr_jwt");
    group.bench_function("verify_es384_jwks_file", |b| {
        b.iter_batched(
            &mut fresh,
            |(header, now)| {
                runtime
                    .block_on(authenticator.verify(Some(black_box(&header)), &audience, now))
                    .expect("accepted")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn missing_input_ranges(c: &mut Criterion) {
    let s = setup();
    let (_, patient) = mapped_patient(&s);
    let assessor = Assessor::new(s.models.clone(), s.rules.clone(), None);
    let mut group = c.benchmark_group("ehr_missing_input_ranges");
    for explain in [true, false] {
        for ranges in [false, true] {
            let job = PatientJob::new(patient.clone(), Outcome::ALL.to_vec(), explain)
                .with_missing_input_ranges(ranges);
            let answer = assessor
                .answer(std::slice::from_ref(&job))
                .expect("answers")
                .pop()
                .expect("one answer");
            if let Some(r) = &answer.missing_input_ranges {
                println!(
                    "explain={explain}: {} inputs missing ({} with ranges), patients_evaluated {}, model_evaluations {}",
                    answer.inputs.missing.len(),
                    r.inputs.len(),
                    r.patients_evaluated,
                    r.model_evaluations
                );
            }
            let name = format!(
                "{}_{}",
                if explain {
                    "explain"
                } else {
                    "no_explanations"
                },
                if ranges {
                    "with_ranges"
                } else {
                    "without_ranges"
                }
            );
            group.bench_function(name, |b| {
                b.iter(|| {
                    assessor
                        .answer(std::slice::from_ref(black_box(&job)))
                        .expect("answers")
                })
            });
        }
    }
    group.finish();
}

fn hook_call_in_process(c: &mut Criterion) {
    let s = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteAuditStore::open(dir.path().join("audit.db")).expect("a SQLite store");
    let assessor = Assessor::new(s.models.clone(), s.rules.clone(), Some(Arc::new(store)));
    let request: HookRequest = serde_json::from_value(s.body.clone()).expect("a hook request");
    let call = CallContext {
        service_id: SERVICE,
        hook: "order-select",
        mapping: &s.mapping,
        public_url: PUBLIC_URL,
        client: Some(ISS),
        today: fixture_today(),
        fetch: &FetchReport::default(),
    };
    let caller = Caller {
        request_id: "bench".to_string(),
        key_id: format!("cds:{ISS}"),
    };
    let first = answer_hook(&assessor, &request, &s.body, &call, &caller).expect("answers");
    assert_eq!(first.cards.len(), 1, "one card");
    let mut group = c.benchmark_group("ehr_hook_call");
    group.bench_function("answer_hook_sqlite_store", |b| {
        b.iter(|| {
            answer_hook(&assessor, black_box(&request), &s.body, &call, &caller).expect("answers")
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    mapping,
    card_and_fhir_out,
    jwt,
    missing_input_ranges,
    hook_call_in_process
);
criterion_main!(benches);
