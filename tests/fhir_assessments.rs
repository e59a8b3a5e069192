//! FHIR R4 in over REST, on a real server on loopback: `POST /v1/assessments` with
//! `Content-Type: application/fhir+json` and a Bundle (Patient, vitals and labs in other units —
//! g/L, µmol/L, [lb_av], [in_i] — Conditions, a MedicationRequest, a lumbar fusion ServiceRequest
//! with its CPT add-on code for the second level) gives exactly the assessment of the equivalent
//! JSON patient: probabilities, medians and intervals, SHAP values, inputs used and missing,
//! missing-input ranges and recommendations, number for number. The stored answer reads back as a
//! FHIR Bundle whose basis names the posted resources and which the independent validator
//! (`scripts/validate_fhir.py`, `FHIR_VALIDATOR_PYTHON`) accepts. Every bad input gets its status
//! and an OperationOutcome naming the Bundle path and the constraint; never a 500.

#[path = "support/fhir_validator.rs"]
mod fhir_validator;
#[path = "support/server.rs"]
mod server;

use std::path::Path;

use chrono::{Datelike, Duration, Utc};
use fhir_validator::validate_document;
use serde_json::{json, Value};
use server::{key, spawn_app, TestApp};

const FHIR: &str = "application/fhir+json";
const CPT: &str = "http://www.ama-assn.org/go/cpt";
const UCUM: &str = "http://unitsofmeasure.org";
const DETAIL: &str = "https://periop.example.org/fhir/StructureDefinition/order-detail";

/// An answer: status, content type, body.
struct Reply {
    status: u16,
    kind: String,
    location: Option<String>,
    body: Value,
}

fn post(app: &TestApp, role: &str, query: &str, kind: &str, accept: &str, body: String) -> Reply {
    let res = app
        .client
        .post(format!("{}/v1/assessments{query}", app.base))
        .bearer_auth(key(role))
        .header("content-type", kind)
        .header("accept", accept)
        .body(body)
        .send()
        .expect("request");
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (kind, location) = (
        header("content-type").unwrap_or_default(),
        header("location"),
    );
    Reply {
        status: res.status().as_u16(),
        kind,
        location,
        body: res.json().unwrap_or(Value::Null),
    }
}

fn post_fhir(app: &TestApp, query: &str, bundle: &Value) -> Reply {
    post(
        app,
        "ehr",
        query,
        FHIR,
        "application/json",
        bundle.to_string(),
    )
}

fn days_ago(n: i64) -> String {
    (Utc::now() - Duration::days(n))
        .format("%Y-%m-%d")
        .to_string()
}

fn observation(id: &str, loinc: &str, value: f64, code: &str, date: &str) -> Value {
    json!({"fullUrl": format!("https://ehr.test/fhir/Observation/{id}"),
        "resource": {"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/pat-42"}, "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": code, "system": UCUM, "code": code}}})
}

fn condition(id: &str, snomed: &str) -> Value {
    json!({"fullUrl": format!("https://ehr.test/fhir/Condition/{id}"), "resource": {
        "resourceType": "Condition", "id": id,
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": snomed}]},
        "subject": {"reference": "Patient/pat-42"}}})
}

fn service_request(id: &str, cpt: &str, extension: Value) -> Value {
    json!({"fullUrl": format!("https://ehr.test/fhir/ServiceRequest/{id}"), "resource": {
        "resourceType": "ServiceRequest", "id": id, "status": "active", "intent": "order",
        "code": {"coding": [{"system": CPT, "code": cpt}]},
        "subject": {"reference": "Patient/pat-42"}, "encounter": {"reference": "Encounter/enc-7"},
        "occurrenceDateTime": days_ago(0), "extension": extension}})
}

/// Born on 1 January 73 years ago: 73 on any day of this year.
fn birth_date() -> String {
    format!("{}-01-01", Utc::now().year() - 73)
}

/// A two-level lumbar fusion (CPT 22612 and the add-on 22614), vitals and labs in other units,
/// hypertension, apixaban, and a 4 h plan with tranexamic acid.
fn bundle() -> Value {
    json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "https://ehr.test/fhir/Patient/pat-42", "resource": {
            "resourceType": "Patient", "id": "pat-42", "gender": "female", "birthDate": birth_date()}},
        observation("wt-1", "29463-7", 176.0, "[lb_av]", &days_ago(20)),
        observation("ht-1", "8302-2", 65.0, "[in_i]", &days_ago(200)),
        observation("hb-1", "718-7", 112.0, "g/L", &days_ago(10)),
        observation("cr-1", "14682-9", 79.56, "umol/L", &days_ago(10)),
        observation("plt-1", "777-3", 250.0, "10*3/uL", &days_ago(10)),
        observation("alb-1", "1751-7", 38.0, "g/L", &days_ago(10)),
        condition("htn-1", "38341003"),
        {"fullUrl": "https://ehr.test/fhir/MedicationRequest/mr-1", "resource": {
            "resourceType": "MedicationRequest", "id": "mr-1", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1364445"}]},
            "subject": {"reference": "Patient/pat-42"}}},
        service_request("sr-1", "22612", json!([
            {"url": format!("{DETAIL}/planned_duration_min"),
             "valueQuantity": {"value": 4, "unit": "h", "system": UCUM, "code": "h"}},
            {"url": format!("{DETAIL}/tranexamic_acid_planned"), "valueBoolean": true}])),
        service_request("sr-2", "22614", json!([])),
    ]})
}

/// The same patient as a JSON request, converted by hand with the UCUM factors (1 [lb_av] =
/// 0.45359237 kg, 1 [in_i] = 2.54 cm, g/L ÷ 10 = g/dL, creatinine µmol/L ÷ 88.4 = mg/dL). The
/// categories the Bundle supplies (Conditions, medications) make absent comorbidities "no"; a
/// fusion order without a decompression code decompresses no level; 4 h is 240 min.
fn json_patient() -> Value {
    json!({
        "age_years": 73, "sex": "female",
        "weight_kg": 176.0 * 0.453_592_37, "height_cm": 65.0 * 2.54,
        "hemoglobin_g_dl": 112.0 / 10.0, "creatinine_mg_dl": 79.56 / 88.4,
        "platelets_10e9_l": 250.0, "albumin_g_dl": 38.0 / 10.0,
        "hypertension": true, "bleeding_disorder_or_anticoagulant": true,
        "diabetes": "none", "coronary_artery_disease": false, "congestive_heart_failure": false,
        "copd": false, "chronic_kidney_disease": false, "osteoporosis": false,
        "history_of_vte": false, "depression_anxiety": false, "cognitive_impairment": false,
        "alcohol_use_disorder": false, "chronic_opioid_use": false, "chronic_steroid_use": false,
        "procedure": "lumbar_fusion", "fused_levels": 2, "decompressed_levels": 0,
        "planned_duration_min": 240, "tranexamic_acid_planned": true
    })
}

/// The answer without what differs between two answers to the same patient.
fn comparable(answer: &Value) -> Value {
    let mut answer = answer.clone();
    let object = answer.as_object_mut().expect("an assessment object");
    for member in ["assessment_id", "created_at", "delivery"] {
        object.remove(member);
    }
    answer
}

fn numbers_in(v: &Value) -> usize {
    match v {
        Value::Number(_) => 1,
        Value::Array(a) => a.iter().map(numbers_in).sum(),
        Value::Object(o) => o.values().map(numbers_in).sum(),
        _ => 0,
    }
}

#[test]
fn a_bundle_gives_exactly_the_assessment_of_the_equivalent_json_patient() {
    let app = spawn_app(|_| {});
    for query in ["", "?missing_input_ranges=true", "?explain=false"] {
        let fhir = post_fhir(&app, query, &bundle());
        assert_eq!(fhir.status, 201, "{query}: {}", fhir.body);
        assert!(fhir.kind.starts_with("application/json"), "{}", fhir.kind);
        let request = json!({
            "patient": json_patient(),
            "explain": !query.contains("explain=false"),
            "missing_input_ranges": query.contains("missing_input_ranges=true"),
        });
        let plain = post(
            &app,
            "ehr",
            "",
            "application/json",
            "application/json",
            request.to_string(),
        );
        assert_eq!(plain.status, 201, "{}", plain.body);
        // Inputs (used, derived, missing), every prediction with its explanation, ranges,
        // recommendations and warnings: identical, number for number.
        assert_eq!(
            comparable(&fhir.body)["inputs"],
            comparable(&plain.body)["inputs"],
            "{query}: the mapped inputs differ"
        );
        assert_eq!(
            comparable(&fhir.body),
            comparable(&plain.body),
            "{query}: the answers differ"
        );
        let predictions = &fhir.body["predictions"];
        let shap = predictions
            .as_array()
            .expect("predictions")
            .iter()
            .filter(|p| p["explanation"]["contributions"].is_array())
            .count();
        match query {
            "?explain=false" => assert_eq!(shap, 0, "{predictions}"),
            _ => {
                assert!(shap >= 8, "{shap} explained outcomes");
                assert!(numbers_in(predictions) > 500, "{predictions}");
            }
        }
        assert!(numbers_in(predictions) > 30, "{predictions}");
        assert!(
            predictions.to_string().contains("\"median\""),
            "blood loss has its interval"
        );
        assert_eq!(
            fhir.body["missing_input_ranges"].is_object(),
            query.contains("missing_input_ranges=true"),
            "{query}"
        );
        assert!(fhir.body["inputs"]["missing"]
            .to_string()
            .contains("smoking_status"));

        // The delivery says where the inputs came from; the stored copy is the answer.
        let delivery = &fhir.body["delivery"];
        assert_eq!(delivery["channel"], "fhir");
        assert_eq!(delivery["patient"], "Patient/pat-42");
        assert_eq!(delivery["encounter"], "Encounter/enc-7");
        assert!(delivery.get("card").is_none());
        let id = fhir.body["assessment_id"].as_str().expect("id");
        assert_eq!(
            fhir.location.as_deref(),
            Some(format!("/v1/assessments/{id}").as_str())
        );
        let stored: Value = app
            .client
            .get(format!("{}/v1/assessments/{id}", app.base))
            .bearer_auth(key("clinician"))
            .send()
            .expect("stored")
            .json()
            .expect("json");
        assert_eq!(stored, fhir.body);
    }
}

#[test]
fn the_stored_answer_reads_as_a_valid_fhir_bundle_based_on_the_posted_resources() {
    let app = spawn_app(|_| {});
    let dir = tempfile::tempdir().expect("tempdir");
    let answer = post_fhir(&app, "", &bundle());
    assert_eq!(answer.status, 201, "{}", answer.body);
    let basis = answer.body["delivery"]["basis"].to_string();
    for reference in [
        "ServiceRequest/sr-1",
        "Observation/hb-1",
        "Observation/cr-1",
        "Observation/wt-1",
        "Condition/htn-1",
        "MedicationRequest/mr-1",
    ] {
        assert!(basis.contains(reference), "{reference} not in {basis}");
    }
    let id = answer.body["assessment_id"].as_str().expect("id");
    let res = app
        .client
        .get(format!("{}/v1/assessments/{id}", app.base))
        .bearer_auth(key("clinician"))
        .header("accept", FHIR)
        .send()
        .expect("fhir");
    assert_eq!(res.status().as_u16(), 200);
    let read: Value = res.json().expect("json");
    assert_eq!(read["resourceType"], "Bundle");
    let risks: Vec<&Value> = read["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "RiskAssessment")
        .collect();
    assert!(risks.len() >= 8, "{} RiskAssessments", risks.len());
    for risk in &risks {
        assert_eq!(risk["subject"]["reference"], "Patient/pat-42");
        assert_eq!(risk["encounter"]["reference"], "Encounter/enc-7");
        let basis = risk["basis"].to_string();
        assert!(basis.contains("Observation/hb-1"), "{basis}");
        assert!(basis.contains("ServiceRequest/sr-1"), "{basis}");
    }
    let (code, text) = validate_document(dir.path(), "read.json", &["--strict"], &read);
    assert_eq!(
        code,
        Some(0),
        "the stored answer's Bundle is rejected:\n{text}"
    );

    // Asking for FHIR on the POST answers the same Bundle at once.
    let direct = post(&app, "ehr", "", FHIR, FHIR, bundle().to_string());
    assert_eq!(direct.status, 201, "{}", direct.body);
    assert!(direct.kind.starts_with(FHIR), "{}", direct.kind);
    assert_eq!(direct.body["resourceType"], "Bundle");
    assert!(direct.location.is_some());
    let (code, text) = validate_document(dir.path(), "direct.json", &["--strict"], &direct.body);
    assert_eq!(
        code,
        Some(0),
        "the POST answer's Bundle is rejected:\n{text}"
    );
}

/// Asserts an OperationOutcome answer with `status`, an issue of `code` whose expression is
/// `expression` (when given) and whose diagnostics contain `says`.
fn assert_outcome(reply: &Reply, status: u16, code: &str, expression: Option<&str>, says: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.kind.starts_with(FHIR), "{}", reply.kind);
    assert_eq!(
        reply.body["resourceType"], "OperationOutcome",
        "{}",
        reply.body
    );
    let issues = reply.body["issue"].as_array().expect("issues");
    let found = issues.iter().any(|i| {
        i["severity"] == "error"
            && i["code"] == code
            && i["diagnostics"].as_str().is_some_and(|d| d.contains(says))
            && expression.is_none_or(|e| i["expression"] == json!([e]))
    });
    assert!(
        found,
        "no {code} issue at {expression:?} saying {says:?}: {}",
        reply.body
    );
}

#[test]
fn bad_bundles_get_an_operation_outcome_naming_the_path() {
    let app = spawn_app(|_| {});

    let not_a_bundle = json!({"resourceType": "Patient", "id": "pat-42", "gender": "female"});
    let reply = post_fhir(&app, "", &not_a_bundle);
    assert_outcome(
        &reply,
        400,
        "structure",
        Some("Bundle.resourceType"),
        "Patient",
    );

    let mut message = bundle();
    message["type"] = json!("message");
    let reply = post_fhir(&app, "", &message);
    assert_outcome(&reply, 400, "structure", Some("Bundle.type"), "\"message\"");

    let mut malformed = bundle();
    malformed["entry"][3] = json!({"fullUrl": "https://ehr.test/fhir/Observation/hb-1"});
    let reply = post_fhir(&app, "", &malformed);
    assert_outcome(
        &reply,
        400,
        "structure",
        Some("Bundle.entry[3].resource"),
        "a resource object",
    );

    let mut two = bundle();
    let patient = two["entry"][0].clone();
    two["entry"].as_array_mut().expect("entries").push(patient);
    let reply = post_fhir(&app, "", &two);
    assert_outcome(
        &reply,
        400,
        "structure",
        Some("Bundle.entry[11].resource"),
        "a second Patient",
    );

    let reply = post(
        &app,
        "ehr",
        "",
        FHIR,
        "application/json",
        "{not json".into(),
    );
    assert_outcome(&reply, 400, "structure", None, "not valid JSON");

    // A JSON assessment request sent as FHIR says so.
    let request = json!({"patient": json_patient()});
    let reply = post_fhir(&app, "", &request);
    assert_outcome(
        &reply,
        400,
        "structure",
        Some("Bundle.resourceType"),
        "send it with Content-Type: application/json",
    );

    // No spine surgery: each ServiceRequest named; none at all: the entries.
    let mut blood_count = bundle();
    blood_count["entry"][9]["resource"]["code"]["coding"][0]["code"] = json!("85025");
    blood_count["entry"][10]["resource"]["code"]["coding"][0]["code"] = json!("71046");
    let reply = post_fhir(&app, "", &blood_count);
    for (entry, id) in [(9, "sr-1"), (10, "sr-2")] {
        assert_outcome(
            &reply,
            422,
            "required",
            Some(&format!("Bundle.entry[{entry}].resource.code")),
            &format!("ServiceRequest/{id} is not a planned spine surgery"),
        );
    }
    let mut no_order = bundle();
    no_order["entry"]
        .as_array_mut()
        .expect("entries")
        .truncate(9);
    let reply = post_fhir(&app, "", &no_order);
    assert_outcome(
        &reply,
        422,
        "required",
        Some("Bundle.entry"),
        "no ServiceRequest",
    );

    // No birthDate and no gender: both fields, each at its element.
    let mut anonymous = bundle();
    let patient = anonymous["entry"][0]["resource"]
        .as_object_mut()
        .expect("patient");
    patient.remove("birthDate");
    patient.remove("gender");
    let reply = post_fhir(&app, "", &anonymous);
    assert_outcome(
        &reply,
        422,
        "required",
        Some("Bundle.entry[0].resource.birthDate"),
        "age_years is required: Patient.birthDate not found",
    );
    assert_outcome(
        &reply,
        422,
        "required",
        Some("Bundle.entry[0].resource.gender"),
        "sex is required",
    );
    assert_eq!(reply.body["issue"].as_array().map(Vec::len), Some(2));
    let mut no_patient = bundle();
    no_patient["entry"]
        .as_array_mut()
        .expect("entries")
        .remove(0);
    let reply = post_fhir(&app, "", &no_patient);
    assert_outcome(
        &reply,
        422,
        "required",
        Some("Bundle.entry"),
        "no Patient resource",
    );

    // An unknown unit and an entered-in-error value are reported missing, not an error.
    let mut odd = bundle();
    odd["entry"][3]["resource"]["valueQuantity"]["code"] = json!("mg");
    odd["entry"][4]["resource"]["status"] = json!("entered-in-error");
    let reply = post_fhir(&app, "", &odd);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let missing = reply.body["inputs"]["missing"].to_string();
    assert!(missing.contains("hemoglobin_g_dl"), "{missing}");
    assert!(missing.contains("creatinine_mg_dl"), "{missing}");
    let problems = reply.body["delivery"]["problems"].to_string();
    assert!(problems.contains("unknown_unit"), "{problems}");
    assert!(problems.contains("entered_in_error"), "{problems}");

    // Values of the wrong JSON type anywhere: an answer or an OperationOutcome, never a 500.
    let mut odd_types = Vec::new();
    for (entry, member, value) in [
        (0, "birthDate", json!(1951)),
        (0, "gender", json!(["female"])),
        (3, "valueQuantity", json!("112 g/L")),
        (3, "effectiveDateTime", json!({"date": 1})),
        (7, "clinicalStatus", json!("active")),
        (8, "medicationCodeableConcept", json!(null)),
        (9, "code", json!("22612")),
        (9, "extension", json!({"url": 1})),
        (10, "occurrenceDateTime", json!(true)),
    ] {
        let mut b = bundle();
        b["entry"][entry]["resource"][member] = value;
        odd_types.push(b);
    }
    let mut not_an_array = bundle();
    not_an_array["entry"] = json!({"resource": {}});
    odd_types.push(not_an_array);
    odd_types.push(json!([bundle()]));
    odd_types.push(json!(null));
    for (i, b) in odd_types.iter().enumerate() {
        let reply = post_fhir(&app, "", b);
        assert!(
            [201, 400, 422].contains(&reply.status),
            "case {i}: {} {}",
            reply.status,
            reply.body
        );
        if reply.status != 201 {
            assert_eq!(reply.body["resourceType"], "OperationOutcome", "case {i}");
        }
    }

    // Query parameters: an unknown one and a bad value are named.
    let reply = post_fhir(&app, "?explain=maybe&colour=blue", &bundle());
    assert_outcome(&reply, 400, "not-supported", None, "\"colour\"");
    assert_outcome(
        &reply,
        400,
        "value",
        None,
        "\"explain\" must be true or false",
    );
}

#[test]
fn authentication_errors_stay_problems_and_a_set_without_mapping_is_503() {
    let app = spawn_app(|_| {});
    let reply = post(
        &app,
        "quality",
        "",
        FHIR,
        "application/json",
        bundle().to_string(),
    );
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(
        reply.kind.starts_with("application/problem+json"),
        "{}",
        reply.kind
    );
    assert_eq!(reply.body["code"], "forbidden");
    let res = app
        .client
        .post(format!("{}/v1/assessments", app.base))
        .header("content-type", FHIR)
        .body(bundle().to_string())
        .send()
        .expect("request");
    assert_eq!(res.status().as_u16(), 401);
    let problem: Value = res.json().expect("json");
    assert_eq!(problem["code"], "unauthorized");

    // A model set without ehr/fhir-mapping.json cannot read FHIR.
    let dir = tempfile::tempdir().expect("tempdir");
    let models = dir.path().join("models");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default"),
        &models,
    );
    std::fs::remove_file(models.join("ehr/fhir-mapping.json")).expect("remove the mapping");
    strip_mapping_from_manifest(&models.join("model_set.json"));
    let bare = spawn_app(|s| s.models = models.clone());
    let reply = post_fhir(&bare, "", &bundle());
    assert_outcome(&reply, 503, "not-supported", None, "no FHIR mapping");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The manifest without its FHIR mapping entry (the set then ships none).
fn strip_mapping_from_manifest(manifest: &Path) {
    let text = std::fs::read_to_string(manifest).expect("manifest");
    let mut value: Value = serde_json::from_str(&text).expect("json");
    value
        .as_object_mut()
        .expect("manifest object")
        .remove("fhir_mapping")
        .expect("the default set names its mapping");
    std::fs::write(manifest, value.to_string()).expect("write manifest");
}

/// The worked example of `docs/ehr.md` §8.2 is accepted as written (its dates are fixed, so only
/// what does not age is checked).
#[test]
fn the_documented_example_bundle_is_assessed() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ehr.md"))
        .expect("docs/ehr.md");
    let start = doc
        .find("--data @- <<'JSON'\n")
        .expect("the worked example")
        + "--data @- <<'JSON'\n".len();
    let end = start + doc[start..].find("\nJSON\n").expect("its end");
    let example: Value = serde_json::from_str(&doc[start..end]).expect("the example is JSON");
    let app = spawn_app(|_| {});
    let reply = post_fhir(&app, "?missing_input_ranges=true", &example);
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["delivery"]["patient"], "Patient/pat-42");
    assert_eq!(reply.body["delivery"]["encounter"], "Encounter/enc-7");
    assert!(reply.body["missing_input_ranges"].is_object());
    let used = reply.body["inputs"]["used"].to_string();
    for feature in ["\"procedure\"", "\"fused_levels\"", "\"hypertension\""] {
        assert!(used.contains(feature), "{feature} not used: {used}");
    }
}
