//! Errors of model training.

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid training parameter {name}: {constraint}")]
    InvalidParam {
        name: &'static str,
        constraint: &'static str,
    },
    #[error("{outcome}: {reason}")]
    NotEnoughData {
        outcome: &'static str,
        reason: String,
    },
    #[error("LightGBM failed while training {outcome}: {message}")]
    LightGbm {
        outcome: &'static str,
        message: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the default rule set: {0}")]
    Rules(String),
    #[error(transparent)]
    Distribution(#[from] crate::model::training_distribution::DistributionError),
}
