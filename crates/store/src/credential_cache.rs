//! A short-lived, in-process cache of resolved credentials.
//!
//! Every API request resolves its token or session: a transaction of three
//! lookups (credential, user, membership) before the request's own work. The
//! benchmark of `GET /api/v1/vehicles/{id}` spent about half its database
//! round trips there, so a server keeps what it resolved for a few seconds.
//!
//! Correctness rests on the credential epoch, not on the time limit: every
//! store method that can change what a credential resolves to (logout,
//! revoking a token, switching tenant, membership and role changes, password
//! and profile changes, deleting a tenant) increments the one-row
//! `credential_epoch` table in its own transaction
//! ([`crate::Store::commit_credential_change`]). A cached entry remembers
//! the epoch read before it was resolved, and each request checks the
//! current epoch before using it: on SQLite it reads it (one primary-key
//! read, no transaction); on PostgreSQL the epoch is pushed to the server
//! (`credential_epoch.rs`). So a change made by this process applies to the
//! very next request, and one made by another — a replica, the `motorpool
//! admin` CLI — on SQLite to the very next request too, on PostgreSQL as soon
//! as its notification arrives (a request reads the epoch itself whenever
//! the listener is not connected). The time limit only bounds how long an
//! unused entry is kept, and expiry is checked on every hit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::credential_epoch::EpochWatch;
use crate::sessions::Credential;

/// Entries kept at most; a full cache is emptied rather than aged entry by
/// entry (a fleet's active tokens and sessions are far fewer).
const CAPACITY: usize = 10_000;

#[derive(Debug)]
pub(crate) struct CredentialCache {
    /// How long an entry may be used; zero disables the cache.
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// On PostgreSQL, the epoch as notified (`credential_epoch.rs`), so a
    /// request need not read it.
    pushed: Option<Arc<EpochWatch>>,
}

#[derive(Debug)]
struct Entry {
    credential: Credential,
    /// The credential epoch read before this entry was resolved.
    epoch: i64,
    stored: Instant,
    /// Unix seconds after which the credential is expired, if it expires.
    expires_at: Option<i64>,
}

impl CredentialCache {
    pub(crate) fn new(ttl: Duration, pushed: Option<Arc<EpochWatch>>) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            pushed,
        }
    }

    /// The current epoch as pushed to this server, if it is being kept
    /// current; otherwise the caller reads it.
    pub(crate) fn pushed_epoch(&self) -> Option<i64> {
        self.pushed.as_ref().and_then(|w| w.current())
    }

    /// Records an epoch this process has just committed, so its own next
    /// request does not wait for the notification.
    pub(crate) fn committed(&self, epoch: i64) {
        if let Some(watch) = &self.pushed {
            watch.advance(epoch);
        }
    }

    /// Whether the cache is in use at all (a server's store; not the CLI's).
    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The entry for `token_hash`, if it was resolved at the current
    /// `epoch`, within the time limit, and has not expired by `now`.
    pub(crate) fn get(&self, token_hash: &str, epoch: i64, now: i64) -> Option<Credential> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(token_hash)?;
        let fresh = entry.epoch == epoch
            && entry.stored.elapsed() < self.ttl
            && entry.expires_at.is_none_or(|e| e > now);
        fresh.then(|| entry.credential.clone())
    }

    /// Stores what a lookup that started at `epoch` resolved.
    pub(crate) fn put(
        &self,
        token_hash: &str,
        credential: &Credential,
        expires_at: Option<i64>,
        epoch: i64,
    ) {
        if !self.enabled() {
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
                    epoch,
                    stored: Instant::now(),
                    expires_at,
                },
            );
        }
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
    fn hits_only_at_the_same_epoch_and_before_expiry() {
        let cache = CredentialCache::new(Duration::from_secs(60), None);
        cache.put("h", &credential(), Some(1_000), 7);
        assert_eq!(cache.get("h", 7, 999), Some(credential()));
        assert_eq!(cache.get("h", 7, 1_000), None, "expired credentials miss");
        assert_eq!(cache.get("h", 8, 0), None, "a credential changed since");
        assert_eq!(cache.get("other", 7, 0), None);
    }

    #[test]
    fn a_disabled_cache_never_hits() {
        let cache = CredentialCache::new(Duration::ZERO, None);
        cache.put("h", &credential(), None, 0);
        assert_eq!(cache.get("h", 0, 0), None);
    }
}
