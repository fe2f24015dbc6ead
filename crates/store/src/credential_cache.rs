//! A short-lived, in-process cache of resolved credentials.
//!
//! Every API request resolves its token or session: a transaction of three
//! lookups (credential, user, membership) before the request's own work. The
//! benchmark of `GET /api/v1/vehicles/{id}` spent about half its database
//! round trips there, so a server keeps what it resolved for a few seconds.
//!
//! Correctness rests on invalidation, not on the time limit:
//! - every store method that can change what a credential resolves to
//!   (logout, revoking a token, switching tenant, membership and role
//!   changes, password and profile changes, deleting a tenant) ends with
//!   [`crate::Store::commit_credential_change`], which empties this cache
//!   after its commit;
//! - on PostgreSQL the same call sends `NOTIFY motorpool_credentials` inside
//!   the transaction, and every replica listens and empties its cache when
//!   the notice arrives (at commit). While a replica's listener is not
//!   connected, it does not use its cache at all;
//! - the time limit only bounds changes made outside any server process on
//!   SQLite (the `motorpool admin` CLI against a running server's file) and
//!   natural expiry, which is checked on every hit anyway.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sessions::Credential;

/// The PostgreSQL channel credential changes are announced on.
pub(crate) const CHANNEL: &str = "motorpool_credentials";

/// Entries kept at most; a full cache is emptied rather than aged entry by
/// entry (a fleet's active tokens and sessions are far fewer).
const CAPACITY: usize = 10_000;

#[derive(Debug)]
pub(crate) struct CredentialCache {
    /// How long an entry may be used; zero disables the cache.
    ttl: Duration,
    /// Bumped by every invalidation: an entry resolved under an older
    /// generation is never used, even if it was stored after the bump.
    generation: AtomicU64,
    /// Whether hits may be served: always on SQLite, only while the
    /// PostgreSQL listener is connected.
    trusted: AtomicBool,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    credential: Credential,
    generation: u64,
    stored: Instant,
    /// Unix seconds after which the credential is expired, if it expires.
    expires_at: Option<i64>,
}

impl CredentialCache {
    pub(crate) fn new(ttl: Duration, trusted: bool) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            trusted: AtomicBool::new(trusted),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A disabled cache: every lookup misses (CLI commands, tests of the store).
    pub(crate) fn disabled() -> Self {
        Self::new(Duration::ZERO, false)
    }

    /// The generation to pass to [`Self::put`] for a lookup starting now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, token_hash: &str, now: i64) -> Option<Credential> {
        if self.ttl.is_zero() || !self.trusted.load(Ordering::SeqCst) {
            return None;
        }
        let generation = self.generation();
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(token_hash)?;
        let fresh = entry.generation == generation
            && entry.stored.elapsed() < self.ttl
            && entry.expires_at.is_none_or(|e| e > now);
        fresh.then(|| entry.credential.clone())
    }

    /// Stores what a lookup that started at `generation` resolved.
    pub(crate) fn put(
        &self,
        token_hash: &str,
        credential: &Credential,
        expires_at: Option<i64>,
        generation: u64,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(
                token_hash.to_string(),
                Entry {
                    credential: credential.clone(),
                    generation,
                    stored: Instant::now(),
                    expires_at,
                },
            );
        }
    }

    /// Forgets everything: called after any credential change commits.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    pub(crate) fn active(&self) -> bool {
        !self.ttl.is_zero() && self.trusted.load(Ordering::SeqCst)
    }

    /// Whether the cache may serve hits (see the module docs).
    pub(crate) fn set_trusted(&self, trusted: bool) {
        self.invalidate();
        self.trusted.store(trusted, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::CredentialKind;
    use domain::tenancy::Role;

    fn credential() -> Credential {
        Credential {
            user: crate::identity::User {
                id: uuid::Uuid::nil().into(),
                email: "a@example.com".into(),
                display_name: "A".into(),
                preferences: Default::default(),
                is_instance_admin: false,
                created_at: time::OffsetDateTime::UNIX_EPOCH,
                disabled: false,
            },
            tenant_id: uuid::Uuid::nil().into(),
            role: Role::Owner,
            kind: CredentialKind::Session {
                id: uuid::Uuid::nil(),
                csrf_token: "c".into(),
            },
        }
    }

    #[test]
    fn hits_until_invalidated_expired_or_distrusted() {
        let cache = CredentialCache::new(Duration::from_secs(60), true);
        let g = cache.generation();
        cache.put("h", &credential(), Some(1_000), g);
        assert_eq!(cache.get("h", 999), Some(credential()));
        assert_eq!(cache.get("h", 1_000), None, "expired credentials miss");
        assert_eq!(cache.get("other", 0), None);

        // A lookup that started before an invalidation is never served.
        let stale = cache.generation();
        cache.invalidate();
        cache.put("h", &credential(), None, stale);
        assert_eq!(cache.get("h", 0), None);
        cache.put("h", &credential(), None, cache.generation());
        assert!(cache.get("h", 0).is_some());

        cache.set_trusted(false);
        cache.put("h", &credential(), None, cache.generation());
        assert_eq!(cache.get("h", 0), None, "an untrusted cache never hits");
    }

    #[test]
    fn a_disabled_cache_never_hits() {
        let cache = CredentialCache::disabled();
        cache.put("h", &credential(), None, cache.generation());
        assert_eq!(cache.get("h", 0), None);
    }
}
