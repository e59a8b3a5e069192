//! CDS Hooks over real HTTP on loopback, with a mock EHR that signs its calls (ES384 JWTs, its
//! JWKS exchanged as a file): discovery, an order-select call whose card's numbers equal
//! `POST /v1/assessments` for the equivalent JSON patient (labs in g/L and µmol/L, weight in lb,
//! height in in), the card recorded with the assessment, a non-spine order, missing prefetch,
//! JWT rejections, and missing prefetch read from a FHIR server on loopback (allow-listed, with
//! the request's token, paginated; refused, failing or hanging servers). Every CDS document is checked by the independent validator
//! (`scripts/validate_fhir.py`, `FHIR_VALIDATOR_PYTHON`).

#[path = "support/cds_jwt.rs"]
mod cds_jwt;
#[path = "support/fhir_server.rs"]
mod fhir_server;
#[path = "support/fhir_validator.rs"]
mod fhir_validator;
#[path = "support/server.rs"]
mod server;

use cds_jwt::{bearer, hs256_token, EhrSigner};
use chrono::{Duration, Utc};
use fhir_server::{FhirServer, Reply};
use fhir_validator::{run_validator, validate_document};
use periop::config::CdsIssuerConfig;
use serde_json::{json, Map, Value};
use server::{key, spawn_app, TestApp};

const ISS: &str = "https://ehr.test/issuer";
const SERVICE: &str = "periop-spine-risk-order-select";

struct Ehr {
    app: TestApp,
    signer: EhrSigner,
    dir: tempfile::TempDir,
}

fn start() -> Ehr {
    start_with(|_| {})
}

fn start_with(configure: impl FnOnce(&mut periop::config::Settings)) -> Ehr {
    let signer = EhrSigner::es384("ehr-key-1");
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks = dir.path().join("ehr.jwks.json");
    std::fs::write(&jwks, signer.jwks_json()).expect("jwks");
    let app = spawn_app(|s| {
        s.cds_issuers = vec![CdsIssuerConfig {
            iss: ISS.to_string(),
            tenant: None,
            jwks_file: Some(jwks.clone()),
            jku_allowed: Vec::new(),
        }];
        configure(s);
    });
    Ehr { app, signer, dir }
}

impl Ehr {
    fn token(&self, path: &str) -> String {
        let jti = uuid::Uuid::new_v4().to_string();
        self.signer.token(
            ISS,
            &format!("{}{path}", self.app.base),
            &jti,
            Utc::now().timestamp(),
        )
    }

    fn call(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, String, Value) {
        let mut req = self
            .app
            .client
            .post(format!("{}{path}", self.app.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.header("authorization", bearer(t));
        }
        let res = req.send().expect("request");
        let status = res.status().as_u16();
        let kind = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, kind, res.json().unwrap_or(Value::Null))
    }

    fn validate(&self, mode: &str, name: &str, document: &Value) {
        let (code, text) = validate_document(self.dir.path(), name, &[mode], document);
        assert_eq!(code, Some(0), "{mode} {name} rejected:\n{text}");
    }
}

fn days_ago(n: i64) -> String {
    (Utc::now() - Duration::days(n))
        .format("%Y-%m-%d")
        .to_string()
}

fn observation(id: &str, loinc: &str, value: f64, code: &str, date: &str) -> Value {
    json!({"search": {"mode": "match"}, "fullUrl": format!("https://ehr.test/fhir/Observation/{id}"),
        "resource": {"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/pat-42"}, "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": code, "system": "http://unitsofmeasure.org", "code": code}}})
}

fn searchset(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries})
}

/// An order-select call for a two-level lumbar fusion, labs and vitals in other units.
fn order_select(cpt: &str) -> Value {
    let today = days_ago(0);
    json!({
        "hook": "order-select",
        "hookInstance": uuid::Uuid::new_v4().to_string(),
        "fhirServer": "https://ehr.test/fhir",
        "fhirAuthorization": {"access_token": "SECRET-ACCESS-TOKEN", "token_type": "Bearer",
            "expires_in": 300, "scope": "user/Observation.read", "subject": "periop"},
        "context": {
            "userId": "Practitioner/ortho-1", "patientId": "pat-42", "encounterId": "enc-7",
            "selections": ["ServiceRequest/sr-1"],
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [
                {"resource": {"resourceType": "ServiceRequest", "id": "sr-1", "status": "draft", "intent": "order",
                    "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": cpt}]},
                    "subject": {"reference": "Patient/pat-42"}, "occurrenceDateTime": today,
                    "extension": [
                        {"url": "https://periop.example.org/fhir/StructureDefinition/order-detail/planned_duration_min",
                         "valueQuantity": {"value": 4, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}},
                        {"url": "https://periop.example.org/fhir/StructureDefinition/order-detail/tranexamic_acid_planned",
                         "valueBoolean": true}]}},
                {"resource": {"resourceType": "ServiceRequest", "id": "sr-2", "status": "draft", "intent": "order",
                    "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22614"}]},
                    "subject": {"reference": "Patient/pat-42"}, "occurrenceDateTime": today}}]}
        },
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "pat-42", "gender": "female", "birthDate": "1951-04-11"},
            "vitals": searchset(vec![
                observation("wt-1", "29463-7", 176.0, "[lb_av]", &days_ago(20)),
                observation("ht-1", "8302-2", 65.0, "[in_i]", &days_ago(200)),
            ]),
            "labs": searchset(vec![
                observation("hb-1", "718-7", 112.0, "g/L", &days_ago(10)),
                observation("cr-1", "14682-9", 79.56, "umol/L", &days_ago(10)),
                observation("plt-1", "777-3", 250.0, "10*3/uL", &days_ago(10)),
                observation("alb-1", "1751-7", 38.0, "g/L", &days_ago(10)),
            ]),
            "conditions": searchset(vec![json!({"search": {"mode": "match"}, "resource": {
                "resourceType": "Condition", "id": "htn-1",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
                "subject": {"reference": "Patient/pat-42"}}})]),
            "medications": null,
            "medication_statements": null
        }
    })
}

#[test]
fn discovery_lists_a_service_per_hook_and_validates() {
    let ehr = start();
    let res = ehr
        .app
        .client
        .get(format!("{}/cds-services", ehr.app.base))
        .header("authorization", bearer(&ehr.token("/cds-services")))
        .send()
        .expect("discovery");
    assert_eq!(res.status().as_u16(), 200);
    let document: Value = res.json().expect("json");
    let hooks: Vec<&str> = document["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["hook"].as_str())
        .collect();
    assert_eq!(
        hooks,
        [
            "order-select",
            "order-sign",
            "appointment-book",
            "patient-view"
        ]
    );
    ehr.validate("--cds-discovery", "discovery.json", &document);
}

/// Every file of `dir`, relative to it.
fn set_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&rel)).expect("dir") {
            let entry = entry.expect("entry");
            let child = rel.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                stack.push(child);
            } else {
                out.push(child);
            }
        }
    }
    out
}

fn discovery_extension(ehr: &Ehr) -> Value {
    let res = ehr
        .app
        .client
        .get(format!("{}/cds-services", ehr.app.base))
        .header("authorization", bearer(&ehr.token("/cds-services")))
        .send()
        .expect("discovery");
    assert_eq!(res.status().as_u16(), 200);
    let document: Value = res.json().expect("json");
    document["services"][0]["extension"].clone()
}

/// A model-set activation brings the new set's own FHIR mapping to CDS Hooks without a restart:
/// discovery names the new set and its mapping version, and a hook call is answered (and
/// recorded) by the new set.
#[test]
fn an_activated_model_set_answers_cds_hooks_with_its_own_mapping() {
    use periop::model::ensemble::ModelSet;
    use periop::model::recalibrated_set::{write_recalibrated_set, LocalSource};
    use periop::model::recalibration::{recalibrate_set, RecalibrationSettings};

    let tmp = tempfile::tempdir().expect("tmp");
    let sets = tmp.path().join("sets");
    let shipped = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default");
    for rel in set_files(&shipped) {
        let to = sets.join("default").join(&rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("dir");
        std::fs::copy(shipped.join(&rel), to).expect("copy");
    }
    // A recalibrated set (new version, same trees) whose mapping file is then given a new
    // version string, its hash updated in model_set.json.
    let base = ModelSet::load(&sets.join("default")).expect("default");
    let mut cohort = Vec::new();
    periop::synth::write_csv(&periop::synth::generate(5_000, 7), &mut cohort).expect("csv");
    let data = periop::dataset::Dataset::from_reader(cohort.as_slice(), "local.csv").expect("data");
    let results = recalibrate_set(
        &base,
        &data,
        None,
        &[periop::outcomes::Outcome::ProlongedLos],
        &RecalibrationSettings::default(),
    )
    .expect("recalibrated");
    let source = LocalSource {
        site: None,
        window: None,
        source: "local.csv".into(),
        source_sha256: None,
        store_rows: Vec::new(),
    };
    let new_dir = sets.join("local");
    let new = write_recalibrated_set(&base, &results, &source, &new_dir).expect("written");
    let mapping_path = new_dir.join("ehr/fhir-mapping.json");
    let mut mapping: Value =
        serde_json::from_slice(&std::fs::read(&mapping_path).expect("mapping")).expect("json");
    mapping["version"] = json!("local-mapping-2");
    let bytes = serde_json::to_vec_pretty(&mapping).expect("bytes");
    std::fs::write(&mapping_path, &bytes).expect("write mapping");
    let manifest_path = new_dir.join("model_set.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("manifest")).expect("json");
    manifest["fhir_mapping"]["sha256"] = json!(periop::model::manifest::sha256_hex(&bytes));
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).expect("bytes"),
    )
    .expect("write manifest");
    let new_version = new.set_manifest().version.clone();
    assert_ne!(new_version, base.set_manifest().version);

    let (default_dir, sets_dir) = (sets.join("default"), sets.clone());
    let ehr = start_with(move |s| {
        s.models = default_dir;
        s.model_sets_dir = Some(sets_dir);
    });
    let before = discovery_extension(&ehr);
    assert_eq!(
        before["org.periop.modelSetVersion"],
        json!(base.set_manifest().version)
    );
    assert_ne!(before["org.periop.fhirMappingVersion"], "local-mapping-2");

    let res = ehr
        .app
        .client
        .post(format!("{}/v1/models/activations", ehr.app.base))
        .bearer_auth(key("admin"))
        .json(&json!({"version": new_version}))
        .send()
        .expect("activate");
    let status = res.status().as_u16();
    assert!(
        status == 200 || status == 201,
        "{status} {}",
        res.text().unwrap_or_default()
    );
    let after = discovery_extension(&ehr);
    assert_eq!(after["org.periop.modelSetVersion"], json!(new_version));
    assert_eq!(after["org.periop.fhirMappingVersion"], "local-mapping-2");

    let path = format!("/cds-services/{SERVICE}");
    let (status, _, response) = ehr.call(&path, Some(&ehr.token(&path)), &order_select("22612"));
    assert_eq!(status, 200, "{response}");
    let stored = stored_of(&ehr, &response["cards"][0]);
    assert_eq!(stored["model_set"]["version"], json!(new_version));
}

#[test]
fn an_order_select_card_matches_the_json_assessment_and_is_recorded() {
    let ehr = start();
    let path = format!("/cds-services/{SERVICE}");
    let (status, _, response) = ehr.call(&path, Some(&ehr.token(&path)), &order_select("22612"));
    assert_eq!(status, 200, "{response}");
    ehr.validate("--cds-response", "response.json", &response);
    let cards = response["cards"].as_array().expect("cards");
    assert_eq!(cards.len(), 1);
    let card = &cards[0];
    let summary = card["summary"].as_str().expect("summary");
    assert!(summary.chars().count() < 140, "{summary}");
    let detail = card["detail"].as_str().expect("detail");
    assert!(detail.contains("| DVT |"), "{detail}");
    assert!(detail.contains("synthetic"), "{detail}");
    assert!(detail.contains("not on file"), "{detail}");
    assert_ne!(card["indicator"], "critical");

    // The card's uuid is the stored assessment; the token never reached the audit.
    let id = card["uuid"].as_str().expect("uuid");
    let stored = stored_of(&ehr, card);
    assert_eq!(stored["assessment_id"].as_str(), Some(id));
    assert_eq!(stored["delivery"]["card"]["uuid"], card["uuid"]);
    assert_eq!(stored["delivery"]["patient"], "Patient/pat-42");
    let audit = audit_bytes(&ehr);
    assert!(
        !audit.contains("SECRET-ACCESS-TOKEN"),
        "the FHIR access token was stored"
    );

    // Units were converted to the dictionary's.
    let used: Map<String, Value> = stored["inputs"]["used"]
        .as_array()
        .expect("used")
        .iter()
        .map(|u| {
            (
                u["feature"].as_str().expect("feature").to_string(),
                u["value"].clone(),
            )
        })
        .collect();
    let number = |f: &str| used.get(f).and_then(Value::as_f64).unwrap_or(f64::NAN);
    assert!((number("hemoglobin_g_dl") - 11.2).abs() < 1e-9);
    assert!((number("albumin_g_dl") - 3.8).abs() < 1e-9);
    assert!((number("creatinine_mg_dl") - 0.9).abs() < 1e-9);
    assert!((number("weight_kg") - 176.0 * 0.453_592_37).abs() < 1e-9);
    assert!((number("height_cm") - 165.1).abs() < 1e-9);
    assert!((number("planned_duration_min") - 240.0).abs() < 1e-9);
    assert_eq!(used["procedure"], "lumbar_fusion");
    assert_eq!(used["fused_levels"], 2);
    assert_eq!(used["hypertension"], true);

    // The equivalent JSON patient gives the same numbers.
    let res = ehr
        .app
        .client
        .post(format!("{}/v1/assessments", ehr.app.base))
        .bearer_auth(key("ehr"))
        .json(&json!({"patient": used}))
        .send()
        .expect("json assessment");
    assert_eq!(res.status().as_u16(), 201);
    let plain: Value = res.json().expect("json");
    let mut compared = 0;
    for (a, b) in stored["predictions"]
        .as_array()
        .expect("predictions")
        .iter()
        .zip(plain["predictions"].as_array().expect("predictions"))
    {
        assert_eq!(a["outcome"], b["outcome"]);
        assert_eq!(a["status"], b["status"]);
        assert_eq!(a["probability"], b["probability"], "{}", a["outcome"]);
        assert_eq!(a["quantity"], b["quantity"], "{}", a["outcome"]);
        if let Some(p) = a["probability"].as_f64() {
            let shown = format!("{:.1} %", 100.0 * p);
            assert!(
                detail.contains(&shown),
                "{} {shown} not in the card",
                a["outcome"]
            );
            compared += 1;
        }
    }
    assert!(compared >= 8, "{compared}");
}

#[test]
fn a_non_spine_order_gets_no_card_and_missing_prefetch_is_412() {
    let ehr = start();
    let path = format!("/cds-services/{SERVICE}");
    // A blood count and a chest X-ray: no spine order among the draft orders.
    let mut body = order_select("85025");
    body["context"]["draftOrders"]["entry"][1]["resource"]["code"]["coding"][0]["code"] =
        json!("71046");
    let (status, _, response) = ehr.call(&path, Some(&ehr.token(&path)), &body);
    assert_eq!(status, 200);
    assert_eq!(response, json!({"cards": []}));

    let mut body = order_select("22612");
    body["prefetch"]
        .as_object_mut()
        .expect("prefetch")
        .remove("patient");
    let (status, kind, outcome) = ehr.call(&path, Some(&ehr.token(&path)), &body);
    assert_eq!(status, 412, "{outcome}");
    assert!(kind.starts_with("application/fhir+json"), "{kind}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert!(outcome["issue"][0]["diagnostics"]
        .as_str()
        .expect("diagnostics")
        .contains("patient"));

    let (status, _, outcome) = ehr.call(
        "/cds-services/no-such-service",
        Some(&ehr.token("/cds-services/no-such-service")),
        &body,
    );
    assert_eq!(status, 404, "{outcome}");
}

#[test]
fn tokens_are_rejected_with_401_and_a_problem_never_a_500() {
    let ehr = start();
    let path = format!("/cds-services/{SERVICE}");
    let aud = format!("{}{path}", ehr.app.base);
    let now = Utc::now().timestamp();
    let body = order_select("22612");
    let replayed = ehr.signer.token(ISS, &aud, "jti-once", now);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        (
            "wrong audience",
            Some(
                ehr.signer
                    .token(ISS, "https://elsewhere/cds-services/x", "j1", now),
            ),
        ),
        (
            "unknown issuer",
            Some(ehr.signer.token("https://other.test", &aud, "j2", now)),
        ),
        (
            "expired",
            Some(
                ehr.signer
                    .token_with(ISS, &aud, "j3", now - 3600, |_, _| {}),
            ),
        ),
        (
            "unknown kid",
            Some(ehr.signer.token_with(ISS, &aud, "j4", now, |_, h| {
                h.insert("kid".into(), json!("not-a-key"));
            })),
        ),
        (
            "hs256",
            Some({
                let (claims, mut header) = ehr.signer.parts(ISS, &aud, "j5", now);
                header.insert("alg".into(), json!("HS256"));
                hs256_token(
                    &ehr.signer.public_key_bytes(),
                    &Value::Object(header),
                    &Value::Object(claims),
                )
            }),
        ),
    ];
    for (name, token) in &cases {
        let (status, kind, problem) = ehr.call(&path, token.as_deref(), &body);
        assert_eq!(status, 401, "{name}: {problem}");
        assert!(
            kind.starts_with("application/problem+json"),
            "{name}: {kind}"
        );
        assert_eq!(problem["code"], "cds_token_rejected", "{name}");
    }
    let res = ehr
        .app
        .client
        .post(format!("{}{path}", ehr.app.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .expect("request");
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer error=\"invalid_token\"")
    );
    let (status, _, _) = ehr.call(&path, Some(&replayed), &body);
    assert_eq!(status, 200);
    let (status, _, problem) = ehr.call(&path, Some(&replayed), &body);
    assert_eq!(status, 401, "replayed: {problem}");
}

#[test]
fn feedback_is_recorded_once_and_counted_and_the_assessment_reads_as_fhir() {
    let ehr = start();
    let path = format!("/cds-services/{SERVICE}");
    let (status, _, response) = ehr.call(&path, Some(&ehr.token(&path)), &order_select("22612"));
    assert_eq!(status, 200, "{response}");
    let card = &response["cards"][0];
    let id = card["uuid"].as_str().expect("uuid");
    let suggestion = card["suggestions"][0]["uuid"]
        .as_str()
        .expect("the example policy suggests orders for this patient");
    let feedback = json!({"feedback": [{
        "card": id, "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }]});
    ehr.validate("--cds-feedback", "feedback.json", &feedback);
    let feedback_path = format!("{path}/feedback");
    let (status, _, first) = ehr.call(&feedback_path, Some(&ehr.token(&feedback_path)), &feedback);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["results"][0]["status"], "recorded");
    let (status, _, again) = ehr.call(&feedback_path, Some(&ehr.token(&feedback_path)), &feedback);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["results"][0]["status"], "already_recorded");
    let mut unknown = feedback.clone();
    unknown["feedback"][0]["card"] = json!(uuid::Uuid::new_v4().to_string());
    let (status, _, problem) = ehr.call(&feedback_path, Some(&ehr.token(&feedback_path)), &unknown);
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem.to_string().contains("feedback[0].card"),
        "{problem}"
    );

    let from = (Utc::now() - Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let to = (Utc::now() + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let summary: Value = ehr
        .app
        .client
        .get(format!(
            "{}/v1/quality/overrides?from={from}&to={to}",
            ehr.app.base
        ))
        .bearer_auth(key("quality"))
        .send()
        .expect("overrides")
        .json()
        .expect("json");
    assert!(summary.to_string().contains("\"accepted\":1"), "{summary}");

    let bundle: Value = ehr
        .app
        .client
        .get(format!("{}/v1/assessments/{id}", ehr.app.base))
        .bearer_auth(key("clinician"))
        .header("accept", "application/fhir+json")
        .send()
        .expect("fhir")
        .json()
        .expect("json");
    assert_eq!(bundle["resourceType"], "Bundle");
    let risk = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["resource"]["resourceType"] == "RiskAssessment")
        .expect("a RiskAssessment");
    assert_eq!(risk["resource"]["subject"]["reference"], "Patient/pat-42");
    assert!(risk["resource"]["basis"]
        .to_string()
        .contains("Observation/hb-1"));
    let file = ehr.dir.path().join("bundle.json");
    std::fs::write(&file, bundle.to_string()).expect("write");
    let (code, text) = run_validator(&["--strict"], &[file]);
    assert_eq!(code, Some(0), "{text}");
}

/// Every byte the SQLite audit store holds (the database file and its write-ahead log, where
/// the latest records are until a checkpoint).
fn audit_bytes(ehr: &Ehr) -> String {
    let mut bytes = std::fs::read(&ehr.app.audit_file).expect("audit file");
    let mut wal = ehr.app.audit_file.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The stored answer of a card.
fn stored_of(ehr: &Ehr, card: &Value) -> Value {
    let id = card["uuid"].as_str().expect("uuid");
    ehr.app
        .client
        .get(format!("{}/v1/assessments/{id}", ehr.app.base))
        .bearer_auth(key("clinician"))
        .send()
        .expect("stored")
        .json()
        .expect("json")
}

fn take(body: &mut Value, key: &str) -> Value {
    body["prefetch"]
        .as_object_mut()
        .expect("prefetch")
        .remove(key)
        .expect("prefetch key")
}

#[test]
fn missing_prefetch_is_read_from_an_allow_listed_fhir_server_with_the_same_answer() {
    let fhir = FhirServer::start();
    let allowed = fhir.base.clone();
    let ehr = start_with(move |s| s.cds_fhir_servers = vec![format!("{allowed}/")]);
    let path = format!("/cds-services/{SERVICE}");

    // Everything in the prefetch (the named fhirServer is not allow-listed: nothing to fetch).
    let mut full = order_select("22612");
    full["prefetch"]["procedures"] = searchset(Vec::new());
    let (status, _, response) = ehr.call(&path, Some(&ehr.token(&path)), &full);
    assert_eq!(status, 200, "{response}");
    let complete = stored_of(&ehr, &response["cards"][0]);

    // The same call with only the patient prefetched: the rest comes from the FHIR server,
    // labs in two pages.
    let mut partial = full.clone();
    partial["fhirServer"] = json!(fhir.base);
    let vitals = take(&mut partial, "vitals");
    let labs = take(&mut partial, "labs");
    let conditions = take(&mut partial, "conditions");
    let procedures = take(&mut partial, "procedures");
    let entries = labs["entry"].as_array().expect("entries").clone();
    let mut first = searchset(entries[..2].to_vec());
    first["link"] =
        json!([{"relation": "next", "url": format!("{}/Observation?page=2", fhir.base)}]);
    fhir.route("Observation", "category=vital-signs", Reply::Json(vitals));
    fhir.route(
        "Observation",
        "page=2",
        Reply::Json(searchset(entries[2..].to_vec())),
    );
    fhir.route("Observation", "patient=pat-42", Reply::Json(first));
    fhir.route("Condition", "patient=pat-42", Reply::Json(conditions));
    fhir.route("Procedure", "patient=pat-42", Reply::Json(procedures));
    let (status, _, response) = ehr.call(&path, Some(&ehr.token(&path)), &partial);
    assert_eq!(status, 200, "{response}");
    ehr.validate("--cds-response", "fetched.json", &response);
    let fetched = stored_of(&ehr, &response["cards"][0]);
    assert_eq!(
        fetched["delivery"]["fetched"],
        json!(["conditions", "labs", "procedures", "vitals"])
    );
    assert!(complete["delivery"].get("fetched").is_none());
    assert_eq!(fetched["inputs"], complete["inputs"]);
    assert_eq!(fetched["predictions"], complete["predictions"]);

    // Five requests (two lab pages), each with the request's token; null keys not fetched.
    let seen = fhir.seen();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer SECRET-ACCESS-TOKEN")));
    assert!(!seen
        .iter()
        .any(|r| r.target.starts_with("/fhir/Medication")));
    let audit = audit_bytes(&ehr);
    assert!(
        !audit.contains("SECRET-ACCESS-TOKEN"),
        "the token was stored"
    );

    // The record of the call holds what was fetched (labs of both pages), not the token.
    use periop::audit::AuditStore;
    let store =
        periop::audit::SqliteAuditStore::open_read_only(&ehr.app.audit_file).expect("store");
    let id = fetched["assessment_id"].as_str().expect("id");
    let record = store.get(id).expect("read").expect("recorded").record;
    let input: Value = serde_json::from_str(&record.input).expect("recorded input");
    let recorded_labs: Vec<&str> = input["prefetch"]["labs"]["entry"]
        .as_array()
        .expect("recorded labs")
        .iter()
        .filter_map(|e| e["resource"]["id"].as_str())
        .collect();
    assert_eq!(recorded_labs, ["hb-1", "cr-1", "plt-1", "alb-1"]);
    assert!(input.get("fhirAuthorization").is_none());
    assert!(input["prefetch"]["procedures"].is_object());
}

#[test]
fn a_fhir_server_not_allow_listed_failing_or_hanging_is_reported_never_a_500() {
    let fhir = FhirServer::start();
    let allowed = fhir.base.clone();
    let ehr = start_with(move |s| {
        s.cds_fhir_servers = vec![allowed];
        s.cds_fhir_timeout_ms = 600;
    });
    let path = format!("/cds-services/{SERVICE}");
    let diagnostics = |outcome: &Value| {
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    // Not allow-listed: 412 saying so, and nothing is requested anywhere.
    let mut body = order_select("22612");
    take(&mut body, "patient");
    let (status, _, outcome) = ehr.call(&path, Some(&ehr.token(&path)), &body);
    assert_eq!(status, 412, "{outcome}");
    assert!(
        diagnostics(&outcome).contains("not allow-listed"),
        "{outcome}"
    );

    // Allow-listed but no token: 412.
    body["fhirServer"] = json!(fhir.base);
    let auth = body
        .as_object_mut()
        .expect("body")
        .remove("fhirAuthorization");
    let (status, _, outcome) = ehr.call(&path, Some(&ehr.token(&path)), &body);
    assert_eq!(status, 412, "{outcome}");
    assert!(
        diagnostics(&outcome).contains("without fhirAuthorization"),
        "{outcome}"
    );
    assert!(fhir.seen().is_empty());

    // The server does not know the patient: 412 naming the status.
    body["fhirAuthorization"] = auth.expect("auth");
    let (status, _, outcome) = ehr.call(&path, Some(&ehr.token(&path)), &body);
    assert_eq!(status, 412, "{outcome}");
    assert!(diagnostics(&outcome).contains("HTTP 404"), "{outcome}");

    // Labs hang and conditions' next page leaves the server: a card all the same, with those
    // inputs reported missing and why.
    let mut body = order_select("22612");
    body["fhirServer"] = json!(fhir.base);
    take(&mut body, "labs");
    take(&mut body, "conditions");
    fhir.route(
        "Observation",
        "patient=pat-42",
        Reply::Hang(std::time::Duration::from_secs(3)),
    );
    let mut conditions = searchset(Vec::new());
    conditions["link"] =
        json!([{"relation": "next", "url": "http://127.0.0.2:1/fhir/Condition?page=2"}]);
    fhir.route("Condition", "patient=pat-42", Reply::Json(conditions));
    fhir.route("Procedure", "patient=pat-42", Reply::Status(500));
    let (status, _, response) = ehr.call(&path, Some(&ehr.token(&path)), &body);
    assert_eq!(status, 200, "{response}");
    let stored = stored_of(&ehr, &response["cards"][0]);
    let problems = stored["delivery"]["problems"].to_string();
    let detail = response["cards"][0]["detail"].as_str().unwrap_or_default();
    for (key, why) in [
        ("labs", "answer within 600 ms"),
        ("conditions", "leaves the allow-listed FHIR server"),
        ("procedures", "HTTP 500"),
    ] {
        assert!(
            detail.contains(&format!("prefetch `{key}` not supplied and not fetched"))
                && detail.contains(why),
            "{key}: {why} not on the card:\n{detail}\n{problems}"
        );
    }
    let missing = stored["inputs"]["missing"].to_string();
    assert!(missing.contains("hemoglobin_g_dl"), "{missing}");
}

/// The order-select call's draft orders as the `planned_surgery` prefetch of another hook.
fn chart_hook(hook: &str, extra_orders: Vec<Value>) -> Value {
    let mut body = order_select("22612");
    let mut orders: Vec<Value> = body["context"]["draftOrders"]["entry"]
        .as_array()
        .expect("draft orders")
        .iter()
        .map(|e| json!({"search": {"mode": "match"}, "resource": e["resource"].clone()}))
        .collect();
    orders.extend(extra_orders);
    body["hook"] = json!(hook);
    body["context"] = json!({"userId": "Practitioner/ortho-1", "patientId": "pat-42"});
    body["prefetch"]["planned_surgery"] = searchset(orders);
    body
}

#[test]
fn patient_view_and_appointment_book_assess_the_planned_spine_order() {
    let ehr = start();
    let order_path = format!("/cds-services/{SERVICE}");
    let (status, _, response) = ehr.call(
        &order_path,
        Some(&ehr.token(&order_path)),
        &order_select("22612"),
    );
    assert_eq!(status, 200, "{response}");
    let reference = stored_of(&ehr, &response["cards"][0]);

    // patient-view: the same orders from the planned_surgery prefetch give the same answer.
    let path = "/cds-services/periop-spine-risk-patient-view";
    let (status, _, response) = ehr.call(
        path,
        Some(&ehr.token(path)),
        &chart_hook("patient-view", Vec::new()),
    );
    assert_eq!(status, 200, "{response}");
    ehr.validate("--cds-response", "patient-view.json", &response);
    let viewed = stored_of(&ehr, &response["cards"][0]);
    assert_eq!(viewed["predictions"], reference["predictions"]);
    assert_eq!(viewed["delivery"]["hook"], "patient-view");

    // appointment-book: the booked appointment names the lumbar fusion (and its add-on level)
    // among two planned spine orders; the ACDF is not assessed.
    let acdf = json!({"search": {"mode": "match"}, "resource": {"resourceType": "ServiceRequest",
        "id": "sr-9", "status": "active", "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22551"}]},
        "subject": {"reference": "Patient/pat-42"}, "occurrenceDateTime": days_ago(-30)}});
    let path = "/cds-services/periop-spine-risk-appointment-book";
    let mut body = chart_hook("appointment-book", vec![acdf]);
    let (status, _, outcome) = ehr.call(path, Some(&ehr.token(path)), &body);
    assert_eq!(status, 400, "appointments are required: {outcome}");
    assert!(outcome["issue"][0]["diagnostics"]
        .as_str()
        .is_some_and(|d| d.contains("context.appointments")));
    body["context"]["appointments"] = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Appointment", "id": "apt-1", "status": "proposed",
         "basedOn": [{"reference": "ServiceRequest/sr-1"}, {"reference": "ServiceRequest/sr-2"}],
         "participant": [{"actor": {"reference": "Patient/pat-42"}, "status": "needs-action"}]}}]});
    let (status, _, response) = ehr.call(path, Some(&ehr.token(path)), &body);
    assert_eq!(status, 200, "{response}");
    ehr.validate("--cds-response", "appointment-book.json", &response);
    let booked = stored_of(&ehr, &response["cards"][0]);
    assert_eq!(booked["predictions"], reference["predictions"]);

    // Naming the ACDF instead: that is the surgery assessed.
    body["context"]["appointments"]["entry"][0]["resource"]["basedOn"] =
        json!([{"reference": "ServiceRequest/sr-9"}]);
    let (status, _, response) = ehr.call(path, Some(&ehr.token(path)), &body);
    assert_eq!(status, 200, "{response}");
    let acdf = stored_of(&ehr, &response["cards"][0]);
    let procedure = |answer: &Value| {
        answer["inputs"]["used"]
            .as_array()
            .expect("used")
            .iter()
            .find(|u| u["feature"] == "procedure")
            .map(|u| u["value"].clone())
    };
    assert_eq!(procedure(&booked), Some(json!("lumbar_fusion")));
    assert_eq!(procedure(&acdf), Some(json!("acdf")));

    // Naming no planned order: every planned order is considered, and the card says so.
    body["context"]["appointments"]["entry"][0]["resource"]
        .as_object_mut()
        .expect("appointment")
        .remove("basedOn");
    let (status, _, response) = ehr.call(path, Some(&ehr.token(path)), &body);
    assert_eq!(status, 200, "{response}");
    let detail = response["cards"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("no booked appointment names a planned spine order"),
        "{detail}"
    );
}
