//! Why a CDS client's JWT was refused ([`JwtError`], one variant per reason, with a stable code)
//! and why the authenticator could not be built from its policy ([`JwtConfigError`]).
//!
//! No message ever contains the token, a signature or key material: a variant names the header,
//! claim or setting and the constraint it broke. Values a client sent are echoed only where they
//! are an algorithm name (sanitised, see [`JwtError::AlgorithmNotAllowed`]).

use std::path::PathBuf;

/// Why a request's `Authorization` header did not authenticate a CDS client.
///
/// HTTP status the lead should use (recommendation): 401 with
/// `WWW-Authenticate: Bearer error="invalid_token"` for every variant except
/// [`JwtError::ReplayCacheFull`] (503 with `Retry-After`, the server is at capacity, the token may
/// be fine) and [`JwtError::JwksUnavailable`] (503 is more honest than 401 when the allow-listed
/// JWKS server is down, 401 is acceptable). [`JwtError::UnknownIssuer`] and
/// [`JwtError::TenantMismatch`] may be decided before the signature is checked (the issuer and
/// tenant pick the key set), so they are not proof of an authenticated but unauthorised caller:
/// keep them at 401 rather than 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// No `Authorization` header.
    #[error(
        "the Authorization header is missing (CDS Hooks requires a Bearer JWT on every request)"
    )]
    Missing,

    /// The header's scheme is not `Bearer` (or it has no credentials).
    #[error("the Authorization header is not `Bearer <JWT>`")]
    NotBearer,

    /// The token is not a compact JWS with a base64url JSON header and payload.
    #[error("the bearer token is not a well-formed JWT: {reason}")]
    Malformed { reason: &'static str },

    /// The header's `alg` is not one this service accepts (`none`, HS*, PS*, EdDSA, ...).
    /// `alg` is the header's value when it is a short plain name, `(unrecognised)` otherwise.
    #[error("the JWT header alg {alg} is not allowed (accepted: {accepted})")]
    AlgorithmNotAllowed { alg: String, accepted: &'static str },

    /// The header has a `crit` (or `b64`) parameter: no JWS extension is supported.
    #[error("the JWT header has a crit or b64 parameter: no JWS extensions are supported")]
    UnsupportedExtension,

    /// The header's `typ` is present and is not `JWT`.
    #[error("the JWT header typ must be JWT when present")]
    WrongType,

    /// The header has no `kid` (CDS Hooks requires it).
    #[error("the JWT header has no kid (CDS Hooks requires the key id)")]
    MissingKid,

    /// The `iss` claim is not an allow-listed CDS client.
    #[error("the iss claim is not an allow-listed CDS client")]
    UnknownIssuer,

    /// The issuer is allow-listed for another tenant than the token's `tenant` claim.
    #[error("the tenant claim does not match the tenant this issuer is allowed for")]
    TenantMismatch,

    /// The header names a `jku` that is not among the issuer's allowed JWKS URLs (never fetched).
    #[error("the JWT header jku is not an allowed JWKS URL for this issuer (it was not fetched)")]
    JkuNotAllowed,

    /// The header has no `jku` and the issuer has no JWKS exchanged out of band.
    #[error("the JWT header has no jku and this issuer has no out-of-band JWKS")]
    JkuRequired,

    /// No key with the header's `kid` in the issuer's JWKS (after at most one refetch of a jku).
    #[error("no key with the JWT header kid in this issuer's JWKS")]
    UnknownKid,

    /// The key found by `kid` cannot verify the header's `alg` (kty, crv, alg, use or key_ops).
    #[error("the key with this kid cannot verify the header alg: {reason}")]
    KeyMismatch { reason: String },

    /// The allow-listed `jku` JWKS could not be fetched or is not a usable JWKS.
    #[error("the JWKS at the allow-listed jku is unavailable: {reason}")]
    JwksUnavailable { reason: String },

    /// The signature does not verify with the issuer's key (tampered, or signed by another key).
    #[error("the JWT signature does not verify with the issuer's key")]
    BadSignature,

    /// `aud` does not contain this endpoint's configured public URL.
    #[error("the aud claim does not contain this endpoint's URL")]
    WrongAudience,

    /// `exp` is in the past (beyond the leeway).
    #[error("the JWT has expired (exp is past, beyond {leeway_seconds} s leeway)")]
    Expired { leeway_seconds: u64 },

    /// `nbf` is in the future (beyond the leeway).
    #[error("the JWT is not valid yet (nbf is in the future, beyond {leeway_seconds} s leeway)")]
    NotYetValid { leeway_seconds: u64 },

    /// `iat` is in the future (beyond the leeway).
    #[error("the iat claim is in the future (beyond {leeway_seconds} s leeway)")]
    IssuedInFuture { leeway_seconds: u64 },

    /// `iat` is older than the maximum token age (plus the leeway).
    #[error("the JWT is too old (iat more than {max_age_seconds} s ago, plus {leeway_seconds} s leeway)")]
    TooOld {
        max_age_seconds: u64,
        leeway_seconds: u64,
    },

    /// A required claim is absent.
    #[error("the {claim} claim is missing")]
    MissingClaim { claim: &'static str },

    /// A claim has the wrong type or an unacceptable value.
    #[error("the {claim} claim must be {expected}")]
    InvalidClaim {
        claim: &'static str,
        expected: &'static str,
    },

    /// This (iss, jti) was already accepted and has not expired: a replay.
    #[error("the jti claim was already used by this issuer (replayed token)")]
    Replayed,

    /// The replay cache is full of unexpired entries: new tokens are refused until some expire.
    #[error("the replay cache is full ({capacity} unexpired tokens): try again later")]
    ReplayCacheFull { capacity: usize },
}

impl JwtError {
    /// A stable snake_case code for problem+json bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::Missing => "token_missing",
            JwtError::NotBearer => "token_not_bearer",
            JwtError::Malformed { .. } => "token_malformed",
            JwtError::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            JwtError::UnsupportedExtension => "jws_extension_not_supported",
            JwtError::WrongType => "typ_not_jwt",
            JwtError::MissingKid => "kid_missing",
            JwtError::UnknownIssuer => "issuer_unknown",
            JwtError::TenantMismatch => "tenant_mismatch",
            JwtError::JkuNotAllowed => "jku_not_allowed",
            JwtError::JkuRequired => "jku_required",
            JwtError::UnknownKid => "kid_unknown",
            JwtError::KeyMismatch { .. } => "key_mismatch",
            JwtError::JwksUnavailable { .. } => "jwks_unavailable",
            JwtError::BadSignature => "signature_invalid",
            JwtError::WrongAudience => "audience_mismatch",
            JwtError::Expired { .. } => "token_expired",
            JwtError::NotYetValid { .. } => "token_not_yet_valid",
            JwtError::IssuedInFuture { .. } => "iat_in_future",
            JwtError::TooOld { .. } => "token_too_old",
            JwtError::MissingClaim { .. } => "claim_missing",
            JwtError::InvalidClaim { .. } => "claim_invalid",
            JwtError::Replayed => "token_replayed",
            JwtError::ReplayCacheFull { .. } => "replay_cache_full",
        }
    }
}

/// Why a [`CdsAuthPolicy`](super::CdsAuthPolicy) could not become an authenticator.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    /// No issuer is configured: every request would be refused.
    #[error("no CDS client issuer is configured (cds auth issuers is empty)")]
    NoIssuers,

    /// An issuer entry's `iss` or `tenant` is empty or has surrounding whitespace.
    #[error("CDS issuer {iss:?}: {field} must be non-empty without surrounding whitespace")]
    BadIdentifier { iss: String, field: &'static str },

    /// An issuer has neither a JWKS file nor an allowed `jku`.
    #[error("CDS issuer {iss:?} has neither a jwks_file nor any jku_allowed URL: its keys cannot be found")]
    NoKeySource { iss: String },

    /// The same (iss, tenant) pair is configured twice.
    #[error("CDS issuer {iss:?} (tenant {tenant:?}) is configured twice")]
    DuplicateIssuer { iss: String, tenant: Option<String> },

    /// One `iss` has an entry without a tenant and other entries: which one applies is ambiguous.
    #[error("CDS issuer {iss:?} has several entries and one has no tenant: give each a tenant")]
    AmbiguousIssuer { iss: String },

    /// An allowed `jku` is not an absolute https URL (http only for a loopback host).
    #[error("CDS issuer {iss:?}: jku_allowed entry {url:?} is not acceptable: {reason}")]
    BadJkuUrl {
        iss: String,
        url: String,
        reason: String,
    },

    /// A JWKS file could not be read.
    #[error("cannot read the JWKS file {} of CDS issuer {iss:?}: {source}", path.display())]
    JwksFileRead {
        iss: String,
        path: PathBuf,
        source: std::io::Error,
    },

    /// A JWKS file is not a usable JWKS.
    #[error("the JWKS file {} of CDS issuer {iss:?} is invalid: {reason}", path.display())]
    JwksFileInvalid {
        iss: String,
        path: PathBuf,
        reason: String,
    },

    /// A numeric setting is out of range.
    #[error("cds auth setting {setting} = {value} is out of range: {constraint}")]
    OutOfRange {
        setting: &'static str,
        value: u64,
        constraint: &'static str,
    },

    /// The HTTP client for `jku` fetches could not be built.
    #[error("cannot build the HTTP client for jku JWKS fetches: {0}")]
    HttpClient(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn every_variant() -> Vec<JwtError> {
        vec![
            JwtError::Missing,
            JwtError::NotBearer,
            JwtError::Malformed { reason: "r" },
            JwtError::AlgorithmNotAllowed {
                alg: "none".into(),
                accepted: "ES384, RS384",
            },
            JwtError::UnsupportedExtension,
            JwtError::WrongType,
            JwtError::MissingKid,
            JwtError::UnknownIssuer,
            JwtError::TenantMismatch,
            JwtError::JkuNotAllowed,
            JwtError::JkuRequired,
            JwtError::UnknownKid,
            JwtError::KeyMismatch { reason: "r".into() },
            JwtError::JwksUnavailable { reason: "r".into() },
            JwtError::BadSignature,
            JwtError::WrongAudience,
            JwtError::Expired { leeway_seconds: 60 },
            JwtError::NotYetValid { leeway_seconds: 60 },
            JwtError::IssuedInFuture { leeway_seconds: 60 },
            JwtError::TooOld {
                max_age_seconds: 300,
                leeway_seconds: 60,
            },
            JwtError::MissingClaim { claim: "jti" },
            JwtError::InvalidClaim {
                claim: "exp",
                expected: "a NumericDate",
            },
            JwtError::Replayed,
            JwtError::ReplayCacheFull { capacity: 1 },
        ]
    }

    #[test]
    fn every_variant_has_its_own_snake_case_code() {
        let all = every_variant();
        let codes: HashSet<&str> = all.iter().map(JwtError::code).collect();
        assert_eq!(codes.len(), all.len(), "two variants share a code");
        for code in codes {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
        }
    }

    #[test]
    fn messages_name_the_claim_or_header() {
        assert!(JwtError::MissingClaim { claim: "jti" }
            .to_string()
            .contains("jti"));
        assert!(JwtError::MissingKid.to_string().contains("kid"));
        assert!(JwtError::WrongAudience.to_string().contains("aud"));
        assert!(JwtError::AlgorithmNotAllowed {
            alg: "HS256".into(),
            accepted: "ES384, RS384"
        }
        .to_string()
        .contains("HS256"));
    }
}
