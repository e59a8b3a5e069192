//! Wire types of FHIR R4 over REST (`POST /v1/assessments` with `Content-Type:
//! application/fhir+json`), for the OpenAPI document only: the posted Bundle (what periop reads
//! of it; FHIR resources carry far more, so these schemas allow other members), the Bundle of an
//! answer, and the OperationOutcome of an error (exactly what the server writes:
//! `ehr::fhir_out::outcome`). The examples are produced by the server's own code where it can.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A FHIR R4 Bundle: posted, the patient's resources and the planned spine-surgery
/// ServiceRequest (`docs/ehr.md`, "FHIR in over REST"); answered, the assessment as
/// RiskAssessments, an Observation, a Device and a Provenance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!(examples::bundle()))]
pub struct FhirBundleDto {
    /// `Bundle`.
    #[serde(rename = "resourceType")]
    pub resource_type: BundleNameDto,
    /// `collection`, `transaction`, `batch`, `searchset` or `document` (posted); `collection`
    /// (answered).
    #[serde(rename = "type")]
    pub kind: BundleTypeDto,
    /// The resources. Posted: one Patient, Observations (vitals and labs by LOINC, UCUM units),
    /// Conditions, MedicationRequests/MedicationStatements (RxNorm), prior Procedures and the
    /// ServiceRequests of the planned surgery; other resource types are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub entry: Option<Vec<BundleEntryDto>>,
}

/// `Bundle.resourceType`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub enum BundleNameDto {
    Bundle,
}

/// `Bundle.type` values periop accepts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BundleTypeDto {
    Collection,
    Transaction,
    Batch,
    Searchset,
    Document,
}

/// One Bundle entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BundleEntryDto {
    /// The entry's URL (references to the resource may use it).
    #[serde(rename = "fullUrl", default, skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "urn:uuid:5b1f7a2e-9c0d-4f4e-8a43-2f1c0b6d9e11"
    )]
    pub full_url: Option<String>,
    /// A FHIR R4 resource (any members; `resourceType` required).
    pub resource: FhirResourceDto,
}

/// A FHIR R4 resource: `resourceType` and the resource's own members.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FhirResourceDto {
    /// The FHIR resource type, e.g. `Observation`.
    #[serde(rename = "resourceType")]
    #[schema(example = "Observation")]
    pub resource_type: String,
}

/// A FHIR R4 OperationOutcome: why FHIR input was not assessed, one issue per problem.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(examples::not_a_bundle()))]
pub struct OperationOutcomeDto {
    /// `OperationOutcome`.
    #[serde(rename = "resourceType")]
    pub resource_type: OperationOutcomeNameDto,
    /// The problems, each with where it is and what it breaks.
    pub issue: Vec<IssueDto>,
}

/// `OperationOutcome.resourceType`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub enum OperationOutcomeNameDto {
    OperationOutcome,
}

/// One `OperationOutcome.issue`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueDto {
    /// Always `error`: nothing was assessed or recorded.
    pub severity: IssueSeverityDto,
    /// FHIR `issue-type`: `structure` (not JSON, not a Bundle, a malformed entry), `required`
    /// (no spine-surgery order, a required input absent), `value` (a value not accepted, a bad
    /// query parameter value), `invariant` (contradictory inputs), `not-supported` (an unknown
    /// query parameter, no FHIR mapping), `too-costly` (the body is over the size limit).
    pub code: IssueTypeDto,
    /// The constraint in words (never patient values).
    #[schema(example = "age_years is required: Patient.birthDate not found")]
    pub diagnostics: String,
    /// Where in the input: FHIRPath, e.g. `Bundle.entry[0].resource.birthDate`; absent when
    /// the issue is about the request as a whole (the query, the body's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = json!(["Bundle.entry[0].resource.birthDate"]))]
    pub expression: Option<Vec<String>>,
}

/// `OperationOutcome.issue.severity`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IssueSeverityDto {
    Error,
}

/// `OperationOutcome.issue.code` values periop writes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IssueTypeDto {
    Structure,
    Required,
    Value,
    Invariant,
    NotSupported,
    TooCostly,
    NotFound,
    Processing,
    Invalid,
}

/// Examples of the FHIR bodies.
pub mod examples {
    use serde_json::{json, Value};

    use crate::api::routes::fhir_assessments::{parse_options, NO_MAPPING};
    use crate::ehr::fhir_assess::BundleError;
    use crate::ehr::fhir_in::FhirInputs;
    use crate::ehr::fhir_out::outcome::{operation_outcome, Issue, IssueType};

    const CPT: &str = "http://www.ama-assn.org/go/cpt";
    const DETAIL: &str = "https://periop.example.org/fhir/StructureDefinition/order-detail";

    fn observation(id: &str, loinc: &str, value: f64, unit: &str) -> Value {
        json!({"fullUrl": format!("https://ehr.example.org/fhir/Observation/{id}"), "resource": {
            "resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": "Patient/pat-42"}, "effectiveDateTime": "2025-01-20",
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}})
    }

    /// A posted Bundle: a two-level lumbar fusion (CPT 22612 with the add-on 22614), labs in
    /// g/L and µmol/L, weight in lb, height in in, hypertension, an anticoagulant.
    pub fn bundle() -> Value {
        json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "https://ehr.example.org/fhir/Patient/pat-42", "resource": {
                "resourceType": "Patient", "id": "pat-42", "gender": "female", "birthDate": "1957-06-02"}},
            observation("wt-1", "29463-7", 176.0, "[lb_av]"),
            observation("ht-1", "8302-2", 65.0, "[in_i]"),
            observation("hb-1", "718-7", 124.0, "g/L"),
            observation("cr-1", "14682-9", 79.56, "umol/L"),
            observation("alb-1", "1751-7", 39.0, "g/L"),
            {"resource": {"resourceType": "Condition", "id": "htn-1",
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
                "subject": {"reference": "Patient/pat-42"}}},
            {"resource": {"resourceType": "MedicationRequest", "id": "mr-1", "status": "active", "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1364445"}]},
                "subject": {"reference": "Patient/pat-42"}}},
            {"resource": {"resourceType": "ServiceRequest", "id": "sr-1", "status": "active", "intent": "order",
                "code": {"coding": [{"system": CPT, "code": "22612"}]},
                "subject": {"reference": "Patient/pat-42"}, "occurrenceDateTime": "2025-02-03",
                "extension": [
                    {"url": format!("{DETAIL}/planned_duration_min"),
                     "valueQuantity": {"value": 4, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}},
                    {"url": format!("{DETAIL}/tranexamic_acid_planned"), "valueBoolean": true}]}},
            {"resource": {"resourceType": "ServiceRequest", "id": "sr-2", "status": "active", "intent": "order",
                "code": {"coding": [{"system": CPT, "code": "22614"}]},
                "subject": {"reference": "Patient/pat-42"}, "occurrenceDateTime": "2025-02-03"}}
        ]})
    }

    /// The Bundle of the example assessment (`Accept: application/fhir+json`).
    pub fn answer_bundle() -> Value {
        serde_json::from_value::<crate::service::Assessment>(super::super::examples::assessment())
            .map(|answer| {
                crate::ehr::fhir_out::stored_assessment_bundle(
                    &answer,
                    "https://periop.example.org",
                    true,
                )
            })
            .unwrap_or_else(|_| json!({"resourceType": "Bundle", "type": "collection"}))
    }

    /// The OperationOutcome of a Bundle periop cannot read, from the server's own reader.
    fn structure(body: &Value) -> Value {
        match FhirInputs::from_bundle(body) {
            Err(source) => operation_outcome(
                &BundleError::Structure {
                    json_request: body.get("resourceType").is_none()
                        && body.get("patient").is_some(),
                    source,
                }
                .issues(),
            ),
            Ok(_) => operation_outcome(&[]),
        }
    }

    /// 400: the body is a Patient, not a Bundle.
    pub fn not_a_bundle() -> Value {
        structure(&json!({"resourceType": "Patient", "id": "pat-42"}))
    }

    /// 400: a Bundle type periop does not read.
    pub fn bad_bundle_type() -> Value {
        structure(&json!({"resourceType": "Bundle", "type": "message", "entry": []}))
    }

    /// 400: an entry without a resource.
    pub fn malformed_entry() -> Value {
        structure(
            &json!({"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "urn:uuid:1"}]}),
        )
    }

    /// 400: a JSON assessment request sent as FHIR.
    pub fn json_request() -> Value {
        structure(&super::super::examples::assessment_request())
    }

    /// 400: an unknown and a malformed query parameter.
    pub fn bad_query() -> Value {
        operation_outcome(
            &parse_options("explain=maybe&format=xml")
                .err()
                .unwrap_or_default(),
        )
    }

    /// 413: the body is over the limit.
    pub fn too_large() -> Value {
        operation_outcome(&[Issue::new(
            IssueType::TooCostly,
            format!(
                "the body exceeds {} bytes",
                crate::config::DEFAULT_MAX_BODY_BYTES
            ),
            None,
        )])
    }

    /// 422: no ServiceRequest in the Bundle is a spine surgery.
    pub fn no_spine_order() -> Value {
        operation_outcome(&[Issue::new(
            IssueType::Required,
            "ServiceRequest/sr-9 is not a planned spine surgery: a spine procedure code of the mapping (CPT or SNOMED CT) with status draft, active is required",
            Some("Bundle.entry[4].resource.code".into()),
        )])
    }

    /// 422: the Patient has neither birthDate nor gender.
    pub fn unassessable() -> Value {
        operation_outcome(&[
            Issue::new(
                IssueType::Required,
                "age_years is required: Patient.birthDate not found",
                Some("Bundle.entry[0].resource.birthDate".into()),
            ),
            Issue::new(
                IssueType::Required,
                "sex is required: Patient.gender not found",
                Some("Bundle.entry[0].resource.gender".into()),
            ),
        ])
    }

    /// 503: the model set ships no FHIR mapping.
    pub fn no_mapping() -> Value {
        operation_outcome(&[Issue::new(IssueType::NotSupported, NO_MAPPING, None)])
    }
}
