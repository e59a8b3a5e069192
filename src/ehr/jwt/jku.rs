//! JWKS fetched from allow-listed `jku` URLs, cached: one slot per URL known at start (no other
//! URL can ever be requested), a short timeout, no redirects, a body size cap, a cache time,
//! and at most one refetch per interval when a token names a `kid` the cached set lacks.
//!
//! Times are the caller's `now` (unix seconds), like every other check of the authenticator,
//! so the cache is deterministic under test. A clock that goes backwards makes the cached set
//! stale (refetched once), never fresher. A stale set is not used when its refetch fails (the
//! EHR may have withdrawn a key): the request fails with `JwksUnavailable`, and for 5 s further
//! requests naming that jku fail at once instead of each waiting for a timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::error::{JwtConfigError, JwtError};
use super::jwks::{Entry, KeySet};
use crate::ehr::http_get::{describe, read_capped};

/// Whole-request timeout of a JWKS fetch (connect, headers and body).
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest JWKS body read (a JWKS of a few RSA keys is 2-5 KiB).
pub(crate) const MAX_JWKS_BYTES: usize = 64 * 1024;
/// After a failed fetch, requests naming this jku fail at once for this long instead of each
/// waiting for another timeout.
const FAILURE_BACKOFF_SECONDS: i64 = 5;

/// The cached JWKS of every allow-listed `jku`.
pub(crate) struct JkuCache {
    client: reqwest::Client,
    cache_seconds: i64,
    refetch_seconds: i64,
    slots: HashMap<String, Mutex<Slot>>,
}

#[derive(Default)]
struct Slot {
    /// The last JWKS fetched successfully, and when.
    keys: Option<(Arc<KeySet>, i64)>,
    /// When the last fetch was attempted, and why it failed (if it did).
    last_attempt: Option<(i64, Option<String>)>,
}

impl JkuCache {
    /// One slot per URL; `urls` are the allow-lists of all issuers (already checked).
    pub(crate) fn new<'a>(
        urls: impl IntoIterator<Item = &'a String>,
        cache_seconds: u64,
        refetch_seconds: u64,
    ) -> Result<Self, JwtConfigError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| JwtConfigError::HttpClient(e.to_string()))?;
        Ok(JkuCache {
            client,
            cache_seconds: i64::try_from(cache_seconds).unwrap_or(i64::MAX),
            refetch_seconds: i64::try_from(refetch_seconds).unwrap_or(i64::MAX),
            slots: urls
                .into_iter()
                .map(|u| (u.clone(), Mutex::new(Slot::default())))
                .collect(),
        })
    }

    /// The entry for `kid` in the JWKS at `url`, fetching it when there is no fresh copy, or once
    /// per refetch interval when the fresh copy lacks `kid`. Concurrent callers for one URL wait
    /// for one fetch rather than each making one.
    pub(crate) async fn entry(&self, url: &str, kid: &str, now: i64) -> Result<Entry, JwtError> {
        let Some(slot) = self.slots.get(url) else {
            // The caller checks the issuer's allow-list first; a URL without a slot is not
            // allow-listed for anyone and is never fetched.
            return Err(JwtError::JkuNotAllowed);
        };
        let mut slot = slot.lock().await;
        let fresh = slot
            .keys
            .as_ref()
            .filter(|(_, at)| now >= *at && now - *at < self.cache_seconds)
            .map(|(set, _)| Arc::clone(set));
        if let Some(set) = &fresh {
            if let Some(entry) = set.get(kid) {
                return Ok(entry.clone());
            }
            let refetched_recently = slot
                .last_attempt
                .as_ref()
                .is_some_and(|(at, _)| now >= *at && now - *at < self.refetch_seconds);
            if refetched_recently {
                return Err(JwtError::UnknownKid);
            }
        } else if let Some((at, Some(reason))) = &slot.last_attempt {
            if now >= *at && now - *at < FAILURE_BACKOFF_SECONDS {
                return Err(JwtError::JwksUnavailable {
                    reason: format!("{reason} (not retried for {FAILURE_BACKOFF_SECONDS} s)"),
                });
            }
        }
        match self.fetch(url).await {
            Ok(set) => {
                let set = Arc::new(set);
                slot.keys = Some((Arc::clone(&set), now));
                slot.last_attempt = Some((now, None));
                set.get(kid).cloned().ok_or(JwtError::UnknownKid)
            }
            Err(reason) => {
                slot.last_attempt = Some((now, Some(reason.clone())));
                Err(JwtError::JwksUnavailable { reason })
            }
        }
    }

    /// GET the JWKS: 200 only, at most [`MAX_JWKS_BYTES`], within [`FETCH_TIMEOUT`].
    async fn fetch(&self, url: &str) -> Result<KeySet, String> {
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| describe(&e, FETCH_TIMEOUT))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!("HTTP status {}", status.as_u16()));
        }
        let body = read_capped(response, MAX_JWKS_BYTES, FETCH_TIMEOUT).await?;
        KeySet::parse(&body).map_err(|e| format!("not a usable JWKS: {e}"))
    }
}
