//! The replay cache: each accepted (iss, jti) is remembered until the token could no longer be
//! accepted anyway, so the same token is refused a second time.
//!
//! Bounds: at most `capacity` entries. An entry is kept until `min(exp, iat + max_token_age) +
//! leeway` (after that the token is refused as expired or too old), so an entry lives at most
//! `max_token_age + 2 × leeway` (iat may be up to one leeway in the future): 420 s with the
//! defaults, so the default 100 000 entries sustain about 238 new tokens a second per process.
//! Expired entries are pruned when the cache is full; if it is still full, new tokens are
//! refused ([`JwtError::ReplayCacheFull`]) rather than the cache growing or an entry being
//! dropped early (which would reopen a replay window). Each entry holds the iss and the jti
//! (at most 256 characters, checked by the caller).
//!
//! The cache is per process: replicas behind a load balancer do not share it, so a token can be
//! replayed once against each other replica within its lifetime. Sticky routing per EHR, or a
//! shared store, closes that; the short lifetime bounds it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::error::JwtError;

/// Accepted (iss, jti) pairs with the time until which each is remembered.
pub(crate) struct ReplayCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    /// (iss, jti) -> remembered until (unix seconds, exclusive).
    seen: HashMap<(String, String), i64>,
    /// No entry expires before this time, so pruning earlier would free nothing.
    earliest_expiry: i64,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> Self {
        ReplayCache {
            capacity,
            inner: Mutex::new(Inner {
                seen: HashMap::new(),
                earliest_expiry: i64::MAX,
            }),
        }
    }

    /// Records (iss, jti) until `keep_until`, or refuses it if it is remembered already.
    pub(crate) fn check_and_insert(
        &self,
        iss: &str,
        jti: &str,
        keep_until: i64,
        now: i64,
    ) -> Result<(), JwtError> {
        // A panic elsewhere while holding the lock leaves the map consistent (every mutation
        // below is a single call), so a poisoned lock is still usable.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (iss.to_string(), jti.to_string());
        if inner.seen.get(&key).is_some_and(|until| *until > now) {
            return Err(JwtError::Replayed);
        }
        if inner.seen.len() >= self.capacity && !inner.seen.contains_key(&key) {
            if now >= inner.earliest_expiry {
                inner.seen.retain(|_, until| *until > now);
                inner.earliest_expiry = inner.seen.values().copied().min().unwrap_or(i64::MAX);
            }
            if inner.seen.len() >= self.capacity {
                return Err(JwtError::ReplayCacheFull {
                    capacity: self.capacity,
                });
            }
        }
        inner.earliest_expiry = inner.earliest_expiry.min(keep_until);
        inner.seen.insert(key, keep_until);
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_refused_until_it_expires_then_accepted_again() {
        let cache = ReplayCache::new(10);
        cache
            .check_and_insert("ehr", "j1", 100, 0)
            .expect("first use");
        assert_eq!(
            cache.check_and_insert("ehr", "j1", 100, 99),
            Err(JwtError::Replayed)
        );
        // The same jti from another issuer is another token.
        cache
            .check_and_insert("other", "j1", 100, 50)
            .expect("other iss");
        cache
            .check_and_insert("ehr", "j1", 200, 100)
            .expect("expired entry");
        assert_eq!(
            cache.check_and_insert("ehr", "j1", 200, 150),
            Err(JwtError::Replayed)
        );
    }

    #[test]
    fn a_full_cache_prunes_expired_entries_and_refuses_when_none_expired() {
        let cache = ReplayCache::new(3);
        cache.check_and_insert("ehr", "a", 10, 0).expect("a");
        cache.check_and_insert("ehr", "b", 20, 0).expect("b");
        cache.check_and_insert("ehr", "c", 30, 0).expect("c");
        assert_eq!(
            cache.check_and_insert("ehr", "d", 40, 5),
            Err(JwtError::ReplayCacheFull { capacity: 3 })
        );
        assert_eq!(cache.len(), 3);
        // At 15, `a` has expired: it is pruned and `d` fits; `b` and `c` are still remembered.
        cache
            .check_and_insert("ehr", "d", 40, 15)
            .expect("after pruning");
        assert_eq!(cache.len(), 3);
        assert_eq!(
            cache.check_and_insert("ehr", "b", 40, 15),
            Err(JwtError::Replayed)
        );
        assert_eq!(
            cache.check_and_insert("ehr", "e", 40, 19),
            Err(JwtError::ReplayCacheFull { capacity: 3 })
        );
        cache
            .check_and_insert("ehr", "a", 50, 16)
            .expect_err("full: a was pruned, no room");
        cache
            .check_and_insert("ehr", "e", 40, 31)
            .expect("b and c expired");
        assert_eq!(cache.len(), 2);
    }
}
