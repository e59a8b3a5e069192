//! CDS Hooks 2.0: the wire types, discovery, the service call (with missing prefetch read from
//! the EHR's FHIR server), the card an assessment becomes, and feedback. The HTTP handlers in `api::routes::cds_hooks` only translate
//! to and from these.

pub mod call;
pub mod card;
pub mod feedback;
pub mod fetch;
pub mod services;
pub mod types;
