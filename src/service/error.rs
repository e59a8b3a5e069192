//! The one error type of the use cases in `service`. Adapters map it to their own wire form in
//! one place each (problem+json: `api::error`; CLI: its message).

use crate::audit::AuditError;
use crate::features::FieldError;
use crate::model::ensemble::ModelError;
use crate::rules::{RuleEvalError, RuleSetError};

use super::backtest::{BacktestError, Unreadable};
use super::feedback::FeedbackRejected;
use super::outcome_records::OutcomesRejected;
use super::overrides::WindowError;
use super::performance::PerformanceError;
use crate::rules::registry::RegistryError;

/// Why a use case could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Every problem with the input (HTTP 422). Patient fields are named `patient.<feature>`,
    /// outcome ids `outcomes[<i>]`, request members by their name.
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// CDS Hooks feedback items that do not fit the cards periop sent, each problem naming its
    /// field (`feedback[2].outcomeTimestamp`); nothing was stored.
    #[error(transparent)]
    Feedback(#[from] FeedbackRejected),
    /// Recorded-outcome items that are invalid or do not fit a stored assessment, each problem
    /// naming its field (`items[2].value`); nothing was stored.
    #[error(transparent)]
    Outcomes(#[from] OutcomesRejected),
    /// A time window that ends before it starts.
    #[error(transparent)]
    Window(#[from] WindowError),
    /// Audit-search filters that cannot be combined (`band` without `outcome`) or a bad page
    /// size.
    #[error(transparent)]
    Filter(#[from] super::audit_search::FilterError),
    /// A performance query that cannot be answered as asked (its `reference`).
    #[error(transparent)]
    Performance(#[from] PerformanceError),
    /// No stored assessment with this id.
    #[error("no assessment with this id")]
    AssessmentNotFound,
    /// A rule document given with the request fails the load-time checks.
    #[error(transparent)]
    RuleSet(#[from] RuleSetError),
    /// The rule set failed on this input at run time.
    #[error(transparent)]
    RuleEvaluation(#[from] RuleEvalError),
    /// A rule-set version could not be loaded from the registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A back-test could not run (window too large, store failure).
    #[error(transparent)]
    Backtest(#[from] BacktestError),
    /// The model set failed (never caused by the input).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The audit store could not record or read (nothing was acknowledged).
    #[error(transparent)]
    Store(#[from] AuditError),
    /// A stored record can no longer be read (never its content).
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    /// An invariant of the service broke (a bug, never the input).
    #[error("internal: {0}")]
    Internal(&'static str),
    /// An answer could not be serialised (a bug, never the input).
    #[error("serialising the answer: {0}")]
    Serialise(#[from] serde_json::Error),
}

impl ServiceError {
    /// A batch-wide failure, repeated for each item of the batch (the sources are not `Clone`;
    /// they are carried as their message where needed).
    pub(crate) fn for_each_item(&self) -> Self {
        match self {
            Self::Invalid(e) => Self::Invalid(e.clone()),
            Self::AssessmentNotFound => Self::AssessmentNotFound,
            Self::Model(ModelError::NoModel { outcome }) => {
                Self::Model(ModelError::NoModel { outcome })
            }
            Self::Store(AuditError::Unavailable { message, .. }) => {
                Self::Store(AuditError::Unavailable {
                    message: message.clone(),
                    source: message.clone().into(),
                })
            }
            other => Self::Model(ModelError::Shap(other.to_string())),
        }
    }
}
