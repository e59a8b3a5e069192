//! Rules over the assessment path: evaluate a rule set (the active one, a stored version or an
//! inline document) on a patient predicted now or on a stored answer, and back-test a candidate
//! over the stored answers of a window. Nothing here writes.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::assessor::Assessor;
use super::backtest::{backtest, BacktestReport, StoredAssessment};
use super::error::ServiceError;
use crate::audit::{AuditStore, KIND_ASSESSMENT};
use crate::rules::registry::RuleRegistry;
use crate::rules::{RuleOutcome, RuleSet, RuleSetRef};

/// The version name an inline document is evaluated under.
pub const INLINE_VERSION: &str = "inline";

/// What to evaluate on.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// A patient, predicted now (every outcome, no explanations).
    Patient(Map<String, Value>),
    /// A stored assessment, rebuilt from its audit record (the predictions as answered).
    Stored(String),
}

/// Which rule set to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub enum Candidate {
    Active,
    Version(String),
    Document(Value),
}

/// Rule evaluation and back-tests over one assessor, registry and store.
pub struct RuleEvaluation {
    pub assessor: Arc<Assessor>,
    pub registry: Arc<RuleRegistry>,
    pub store: Arc<dyn AuditStore>,
}

impl RuleEvaluation {
    /// Evaluates `candidate` on `subject`: the rule set's identity and its outcome.
    ///
    /// # Errors
    /// Invalid patient, unknown assessment or version, a rejected inline document, a rule set
    /// that fails on this input, or a store or model failure.
    pub fn evaluate(
        &self,
        subject: Subject,
        candidate: Candidate,
    ) -> Result<(RuleSetRef, RuleOutcome), ServiceError> {
        let context = self.context(subject)?;
        let rules = self.candidate(candidate)?;
        let outcome = rules.evaluate(&context)?;
        Ok((rules.reference().clone(), outcome))
    }

    /// Back-tests `candidate` over the stored answers of `[since, until)`.
    ///
    /// # Errors
    /// Unknown version, a rejected inline document, a window too large, or a store failure.
    pub fn backtest(
        &self,
        candidate: Candidate,
        (since, until): (DateTime<Utc>, DateTime<Utc>),
        max_examples: usize,
    ) -> Result<BacktestReport, ServiceError> {
        let rules = self.candidate(candidate)?;
        Ok(backtest(
            self.store.as_ref(),
            &rules,
            since,
            until,
            max_examples,
        )?)
    }

    fn context(&self, subject: Subject) -> Result<Value, ServiceError> {
        match subject {
            Subject::Patient(patient) => self.assessor.rule_context_of(patient),
            Subject::Stored(id) => {
                let stored = self
                    .store
                    .get(&id)?
                    .filter(|s| s.record.kind == KIND_ASSESSMENT)
                    .ok_or(ServiceError::AssessmentNotFound)?;
                Ok(StoredAssessment::from_record(&stored.record)?.context())
            }
        }
    }

    fn candidate(&self, candidate: Candidate) -> Result<Arc<RuleSet>, ServiceError> {
        match candidate {
            Candidate::Active => Ok(self.registry.active().rules.clone()),
            Candidate::Version(v) => Ok(self.registry.load(&v)?),
            Candidate::Document(d) => Ok(Arc::new(RuleSet::from_value(INLINE_VERSION, d)?)),
        }
    }
}
