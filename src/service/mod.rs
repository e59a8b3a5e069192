//! The use cases behind every surface, with no HTTP types: the assessment ([`Assessor`]: validate
//! once, predict and explain, rules, audit record, durable append, the answer), rule evaluation
//! and regression cases over the same path, back-tests over stored answers, CDS Hooks feedback
//! into the audit and the override summary over it, drift and the explanation audit over stored
//! assessments, local recalibration on the outcomes recorded in the store. The REST layer,
//! `periop score` and the EHR adapters translate to and from these; they do not decide.

pub mod answer;
pub mod assessor;
pub mod audit_reads;
pub mod audit_search;
pub mod backtest;
pub mod drift;
pub mod error;
pub mod explain;
pub mod explanation_audit;
pub mod explanation_plot;
pub mod feedback;
pub mod inputs;
pub mod model_sets;
pub mod outcome_records;
pub mod overrides;
pub mod performance;
pub mod predict;
pub mod prepared;
pub mod provenance;
pub mod quality_rows;
pub mod recalibration;
pub mod record;
pub mod request;
pub mod rule_cases;
pub mod rule_evaluation;
pub mod sharpen;
pub mod types;

pub use assessor::{rule_context, Assessor, Recorded, RuleSource};
pub use error::ServiceError;
pub use explain::explanation_svg;
pub use predict::{predict_jobs, risk_band};
pub use prepared::PreparedPatient;
pub use record::Caller;
pub use request::{parse_request, validate, PatientJob, OUTCOME_IDS};
pub use types::*;
