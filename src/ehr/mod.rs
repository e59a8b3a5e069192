//! The EHR adapter: CDS Hooks 2.0 and FHIR R4 translated to and from the one assessment path.
//! FHIR resources (prefetch, a posted Bundle, the draft orders) become the same validated patient
//! as the JSON path; answers become CDS Hooks cards and FHIR R4 resources; CDS clients are
//! authenticated by their signed JWTs. Nothing here predicts or decides: `service` does.

pub mod cds;
pub mod fhir_assess;
pub mod fhir_in;
pub mod fhir_out;
pub(crate) mod http_get;
pub mod jwt;
pub mod mapping;
pub mod ucum;
