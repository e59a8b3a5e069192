//! CDS Hooks 2.0: the wire types, the card an assessment becomes, and (as they land) discovery,
//! the service call and feedback. The HTTP handlers in `api::routes::cds_hooks` only translate
//! to and from these.

pub mod call;
pub mod card;
pub mod feedback;
pub mod services;
pub mod types;
