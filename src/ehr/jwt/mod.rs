//! CDS Hooks 2.0 client authentication ("Trusting CDS Clients"): every discovery, service and
//! feedback request carries `Authorization: Bearer <JWT>` signed by the EHR's private key.
//! [`CdsAuthenticator::verify`] checks it against the [`CdsAuthPolicy`] and names the client,
//! or says why not ([`JwtError`]). No HTTP framework types: the HTTP adapter passes the raw
//! header value and the endpoint's configured public URL.
//!
//! Order of the checks (each failure is its own [`JwtError`] variant):
//! 1. `Bearer` scheme, three base64url parts, JSON header and claims.
//! 2. Header: `alg` ES384 or RS384 (ES256/RS256 only with `allow_es256_rs256`), refused by name
//!    before any key lookup (`none`, HS*, PS*, EdDSA, ...); no `crit`/`b64`; `typ` JWT if
//!    present; `kid` present.
//! 3. `iss` allow-listed (and `tenant`, when one `iss` has entries per tenant), which picks the
//!    key set: the JWKS file, or the header's `jku` only if it is in that issuer's
//!    `jku_allowed` (any other jku is refused without a request).
//! 4. The key with that `kid`, whose kty/crv/alg/use/key_ops fit the header `alg`.
//! 5. The signature (jsonwebtoken, aws-lc-rs).
//! 6. Claims of the verified token: `tenant` (if the issuer has one), `aud` contains the
//!    endpoint URL exactly, `exp` not past, `nbf` not future, `iat` not future and not older than
//!    `max_token_age_seconds` (all with the leeway), `jti` present, `sub` a string if present.
//! 7. (iss, jti) not seen before; it is then remembered (see [`replay`] for the bounds; the
//!    cache is per process, replicas do not share it).

mod error;
mod jku;
mod jose;
mod jwks;
mod policy;
mod replay;

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::Validation;
use serde_json::{Map, Value};

pub use error::{JwtConfigError, JwtError};
pub use policy::{CdsAuthPolicy, CdsIssuer};

use jku::JkuCache;
use jwks::{KeySet, SigAlg};
use replay::ReplayCache;

/// The authenticated CDS client of a request (for the audit trail; no token material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdsClient {
    /// The allow-listed issuer (the EHR).
    pub iss: String,
    /// The token's `sub`, when it has one.
    pub sub: Option<String>,
    /// The token's `tenant` claim, when it has one.
    pub tenant: Option<String>,
    /// The token's unique id (already recorded against replay).
    pub jti: String,
    /// The key that signed it.
    pub kid: String,
}

/// Verifies CDS clients' JWTs. Build once at start and share (it is `Send + Sync`; the JWKS
/// and replay caches are inside).
pub struct CdsAuthenticator {
    /// Issuer entries by `iss`; several only when each has its own tenant.
    issuers: HashMap<String, Vec<Issuer>>,
    leeway: i64,
    leeway_seconds: u64,
    max_age: i64,
    max_age_seconds: u64,
    allow_es256_rs256: bool,
    jku: JkuCache,
    replay: ReplayCache,
}

/// One issuer entry with its out-of-band keys loaded.
struct Issuer {
    tenant: Option<String>,
    file_keys: Option<Arc<KeySet>>,
    jku_allowed: Vec<String>,
}

impl CdsAuthenticator {
    /// Checks the policy and reads every issuer's JWKS file (a bad file is an error naming it).
    pub fn new(policy: CdsAuthPolicy) -> Result<Self, JwtConfigError> {
        policy.check()?;
        let mut issuers: HashMap<String, Vec<Issuer>> = HashMap::new();
        for entry in &policy.issuers {
            let file_keys = match &entry.jwks_file {
                None => None,
                Some(path) => {
                    let bytes =
                        std::fs::read(path).map_err(|source| JwtConfigError::JwksFileRead {
                            iss: entry.iss.clone(),
                            path: path.clone(),
                            source,
                        })?;
                    let set = KeySet::parse(&bytes).map_err(|reason| {
                        JwtConfigError::JwksFileInvalid {
                            iss: entry.iss.clone(),
                            path: path.clone(),
                            reason,
                        }
                    })?;
                    Some(Arc::new(set))
                }
            };
            issuers.entry(entry.iss.clone()).or_default().push(Issuer {
                tenant: entry.tenant.clone(),
                file_keys,
                jku_allowed: entry.jku_allowed.clone(),
            });
        }
        let jku = JkuCache::new(
            policy.issuers.iter().flat_map(|i| i.jku_allowed.iter()),
            policy.jwks_cache_seconds,
            policy.jku_refetch_seconds,
        )?;
        Ok(CdsAuthenticator {
            issuers,
            leeway: seconds(policy.leeway_seconds),
            leeway_seconds: policy.leeway_seconds,
            max_age: seconds(policy.max_token_age_seconds),
            max_age_seconds: policy.max_token_age_seconds,
            allow_es256_rs256: policy.allow_es256_rs256,
            jku,
            replay: ReplayCache::new(policy.replay_cache_capacity),
        })
    }

    /// Authenticates a request: `authorization` is the raw `Authorization` header value (if
    /// any), `audience` the configured public URL of the endpoint called (never derived from
    /// `Host`), `now_unix` the current time in seconds. On success the (iss, jti) is recorded,
    /// so the same token is refused next time.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        audience: &str,
        now_unix: i64,
    ) -> Result<CdsClient, JwtError> {
        let token = jose::bearer(authorization)?;
        let compact = jose::split(token)?;
        let header = &compact.header;

        // 2. The header, before any key is looked up.
        let alg = self.algorithm(header.alg.as_deref())?;
        if header.crit.is_some() || header.b64.is_some() {
            return Err(JwtError::UnsupportedExtension);
        }
        if header
            .typ
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
        {
            return Err(JwtError::WrongType);
        }
        let kid = match header.kid.as_deref() {
            Some(k) if !k.is_empty() => k,
            _ => return Err(JwtError::MissingKid),
        };

        // 3. The issuer entry, and from it the key set.
        let iss = jose::string(&compact.claims, "iss")?;
        let tenant = jose::optional_string(&compact.claims, "tenant")?;
        let issuer = self.issuer(iss, tenant)?;
        let entry = match header.jku.as_deref() {
            Some(url) => {
                if !issuer.jku_allowed.iter().any(|a| a == url) {
                    return Err(JwtError::JkuNotAllowed);
                }
                self.jku.entry(url, kid, now_unix).await?
            }
            None => {
                let keys = issuer.file_keys.as_ref().ok_or(JwtError::JkuRequired)?;
                keys.get(kid).cloned().ok_or(JwtError::UnknownKid)?
            }
        };

        // 4. The key must fit the algorithm.
        let key = entry.map_err(|reason| JwtError::KeyMismatch { reason })?;
        key.check_alg(alg)
            .map_err(|reason| JwtError::KeyMismatch { reason })?;

        // 5. The signature; the claims used from here on are the verified ones.
        let claims = verify_signature(compact.token, key.decoding_key(), alg)?;

        // 6. The claims.
        let client = self.check_claims(&claims, issuer, audience, kid, now_unix)?;

        // 7. Replay.
        let exp = jose::date(&claims, "exp")?;
        let iat = jose::date(&claims, "iat")?;
        let keep_until = exp
            .min(iat.saturating_add(self.max_age))
            .saturating_add(self.leeway);
        self.replay
            .check_and_insert(&client.iss, &client.jti, keep_until, now_unix)?;
        Ok(client)
    }

    /// The header `alg`, if the policy accepts it.
    fn algorithm(&self, alg: Option<&str>) -> Result<SigAlg, JwtError> {
        let accepted = if self.allow_es256_rs256 {
            "ES384, RS384, ES256, RS256"
        } else {
            "ES384, RS384"
        };
        let refuse = |alg: &str| JwtError::AlgorithmNotAllowed {
            alg: jose::echo_alg(alg),
            accepted,
        };
        let Some(name) = alg else {
            return Err(refuse(""));
        };
        match SigAlg::from_name(name) {
            Some(a @ (SigAlg::Es384 | SigAlg::Rs384)) => Ok(a),
            Some(a @ (SigAlg::Es256 | SigAlg::Rs256)) if self.allow_es256_rs256 => Ok(a),
            _ => Err(refuse(name)),
        }
    }

    /// The issuer entry for `iss` (and, when the iss has entries per tenant, `tenant`).
    fn issuer(&self, iss: &str, tenant: Option<&str>) -> Result<&Issuer, JwtError> {
        let entries = self.issuers.get(iss).ok_or(JwtError::UnknownIssuer)?;
        match entries.as_slice() {
            [only] => Ok(only),
            many => {
                let tenant = tenant.ok_or(JwtError::MissingClaim { claim: "tenant" })?;
                many.iter()
                    .find(|e| e.tenant.as_deref() == Some(tenant))
                    .ok_or(JwtError::TenantMismatch)
            }
        }
    }

    /// Step 6 on the verified claims.
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        issuer: &Issuer,
        audience: &str,
        kid: &str,
        now: i64,
    ) -> Result<CdsClient, JwtError> {
        let iss = jose::string(claims, "iss")?;
        let tenant = jose::optional_string(claims, "tenant")?;
        if let Some(required) = &issuer.tenant {
            match tenant {
                None => return Err(JwtError::MissingClaim { claim: "tenant" }),
                Some(t) if t != required => return Err(JwtError::TenantMismatch),
                Some(_) => {}
            }
        }
        if !jose::audience_contains(claims, audience)? {
            return Err(JwtError::WrongAudience);
        }
        let exp = jose::date(claims, "exp")?;
        if now >= exp.saturating_add(self.leeway) {
            return Err(JwtError::Expired {
                leeway_seconds: self.leeway_seconds,
            });
        }
        if let Some(nbf) = jose::optional_date(claims, "nbf")? {
            if nbf > now.saturating_add(self.leeway) {
                return Err(JwtError::NotYetValid {
                    leeway_seconds: self.leeway_seconds,
                });
            }
        }
        let iat = jose::date(claims, "iat")?;
        if iat > now.saturating_add(self.leeway) {
            return Err(JwtError::IssuedInFuture {
                leeway_seconds: self.leeway_seconds,
            });
        }
        if now.saturating_sub(iat) > self.max_age.saturating_add(self.leeway) {
            return Err(JwtError::TooOld {
                max_age_seconds: self.max_age_seconds,
                leeway_seconds: self.leeway_seconds,
            });
        }
        let jti = jose::string(claims, "jti")?;
        if jti.is_empty() || jti.len() > jose::MAX_JTI_LEN {
            return Err(JwtError::InvalidClaim {
                claim: "jti",
                expected: "a non-empty string of at most 256 bytes",
            });
        }
        let sub = jose::optional_string(claims, "sub")?;
        Ok(CdsClient {
            iss: iss.to_string(),
            sub: sub.map(str::to_string),
            tenant: tenant.map(str::to_string),
            jti: jti.to_string(),
            kid: kid.to_string(),
        })
    }
}

/// Verifies the signature with jsonwebtoken and returns the verified claims. Its own claim
/// validation is off (step 6 does it, with one error per reason).
fn verify_signature(
    token: &str,
    key: &jsonwebtoken::DecodingKey,
    alg: SigAlg,
) -> Result<Map<String, Value>, JwtError> {
    let mut validation = Validation::new(alg.jsonwebtoken());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::BadSignature,
            jsonwebtoken::errors::ErrorKind::Base64(_) => JwtError::Malformed {
                reason: "the signature is not unpadded base64url",
            },
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
            | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
            | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_) => JwtError::KeyMismatch {
                reason: format!("the key cannot verify {}", alg.name()),
            },
            // Header, JSON and shape problems were caught by `jose::split`; anything else the
            // library refuses is still a refusal, reported as an unverifiable signature.
            _ => JwtError::BadSignature,
        }),
    }
}

fn seconds(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authenticator_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<CdsAuthenticator>();
        shared::<CdsClient>();
    }
}
