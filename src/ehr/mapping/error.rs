//! Why a mapping file was rejected: each variant names the JSON path of the offending member.

/// Why a mapping file was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("format: {found} is not the supported format {expected}")]
    Format { found: u32, expected: u32 },
    #[error("{path}: must be a non-empty string")]
    Empty { path: String },
    #[error("dictionary_version: {found:?}, but this build's dictionary is {expected:?}")]
    DictionaryVersion {
        found: String,
        expected: &'static str,
    },
    #[error("{path}: {name:?} is not a dictionary feature")]
    UnknownFeature { path: String, name: String },
    #[error("{path}: {feature} cannot be mapped here: {detail}")]
    WrongKind {
        path: String,
        feature: String,
        detail: String,
    },
    #[error("{path}: {level:?} is not a level of {feature}")]
    UnknownLevel {
        path: String,
        feature: String,
        level: String,
    },
    #[error("{path}: {alias:?} is not a declared code system (see systems)")]
    UnknownSystem { path: String, alias: String },
    #[error("{path}: {detail}")]
    BadConversion { path: String, detail: String },
    #[error("{path}: {code:?} is already mapped at {first}")]
    DuplicateCode {
        path: String,
        code: String,
        first: String,
    },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}
