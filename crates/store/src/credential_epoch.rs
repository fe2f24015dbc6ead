//! The credential epoch, pushed to a PostgreSQL server instead of read on
//! every request.
//!
//! A cached credential is used only at the epoch it was resolved at
//! (`credential_cache.rs`), so every request needs the current epoch. Read
//! per request, that was one statement and one pooled-connection release
//! (sqlx pings a connection as it goes back to the pool) out of the two of
//! each on `GET /api/v1/vehicles/{id}`. Instead, a server's store listens on
//! the `motorpool_credential_epoch` channel — migration 20's trigger
//! announces each new epoch when the changing transaction commits — and
//! keeps the latest epoch in memory.
//!
//! What that means for a change of credentials (logout, revocation, role
//! change, …):
//! - made by this process: the store records the epoch it committed, so the
//!   next request sees it, as before;
//! - made by another process (a replica, the `motorpool admin` CLI): applied
//!   when the notification arrives, a moment after the commit;
//! - while the listener is not connected (starting, lost, reconnecting),
//!   [`EpochWatch::current`] answers `None` and each request reads the epoch
//!   itself, as before;
//! - if notifications stopped arriving without the connection failing, the
//!   watcher's own read every [`RECHECK_EVERY`] still bounds how stale the
//!   epoch can be.
//!
//! SQLite has no such channel; an SQLite server reads the epoch in-process
//! on each request, which costs little.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

/// The channel migration 20's trigger notifies.
const CHANNEL: &str = "motorpool_credential_epoch";

/// The epoch as committed now: read by a request where the epoch is not
/// pushed, and by the listener (on connecting and every recheck).
pub(crate) const READ_EPOCH: &str = "SELECT epoch FROM credential_epoch WHERE id = 1";

/// Moves the epoch on inside a credential change's transaction, returning
/// the new epoch (migration 20's trigger announces it at commit).
pub(crate) const ADVANCE_EPOCH: &str =
    "UPDATE credential_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch";

/// How often the watcher reads the epoch itself while listening: the bound
/// on staleness should notifications be lost without the connection failing.
pub(crate) const RECHECK_EVERY: Duration = Duration::from_secs(1);

/// Longest wait between attempts to reconnect the listener.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The latest credential epoch one server knows, kept current by a
/// background listener (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct EpochWatch {
    /// The highest epoch seen: notified, read, or committed by this process.
    epoch: AtomicI64,
    /// Whether `epoch` is being kept current: the listener is connected and
    /// the epoch was read after it started listening, so no change since
    /// that read can have been missed.
    live: AtomicBool,
}

impl EpochWatch {
    /// The current epoch, or `None` while it is not being kept current.
    pub(crate) fn current(&self) -> Option<i64> {
        self.live
            .load(Ordering::Acquire)
            .then(|| self.epoch.load(Ordering::Acquire))
    }

    /// Records an epoch known to be committed (epochs only grow).
    pub(crate) fn advance(&self, to: i64) {
        self.epoch.fetch_max(to, Ordering::AcqRel);
    }

    fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
    }

    /// Starts listening for `pool`'s database on a connection of its own
    /// (the request pool keeps all its connections). The listener stops
    /// when the returned watch is dropped or the pool is closed. Must be
    /// called within a Tokio runtime.
    pub(crate) fn spawn(pool: PgPool) -> Arc<EpochWatch> {
        Self::spawn_rechecking(pool, RECHECK_EVERY)
    }

    /// [`EpochWatch::spawn`] with another recheck interval (tests tell the
    /// notification from the recheck by making one of them never come).
    fn spawn_rechecking(pool: PgPool, recheck: Duration) -> Arc<EpochWatch> {
        let watch = Arc::new(EpochWatch::default());
        tokio::spawn(listen(pool, Arc::downgrade(&watch), recheck));
        watch
    }
}

/// The epoch as committed now.
async fn read_epoch(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(READ_EPOCH).fetch_one(pool).await
}

/// The listener task: connect, LISTEN, read the epoch, then follow
/// notifications (and re-read every [`RECHECK_EVERY`]) until something
/// fails; then mark the epoch stale and start again after a pause.
#[tracing::instrument(skip_all)]
async fn listen(pool: PgPool, watch: Weak<EpochWatch>, recheck: Duration) {
    let own_connection = PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut backoff = Duration::from_millis(100);
    loop {
        match follow(&pool, &own_connection, &watch, recheck).await {
            Ok(()) => return,
            Err(error) => {
                if let Some(watch) = watch.upgrade() {
                    watch.set_live(false);
                }
                tracing::warn!(%error, "credential epoch listener lost; requests read the epoch until it is back");
            }
        }
        if pool.is_closed() || watch.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connected spell of the listener. `Ok` means the watch or the pool is
/// gone and the task should end; `Err`, that the epoch is no longer known.
async fn follow(
    pool: &PgPool,
    own_connection: &PgPool,
    watch: &Weak<EpochWatch>,
    recheck: Duration,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(own_connection).await?;
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    // Read only after LISTEN took effect: a change committed since is then
    // either in this read or in a notification still to come.
    let epoch = read_epoch(pool).await?;
    let Some(w) = watch.upgrade() else {
        return Ok(());
    };
    w.advance(epoch);
    w.set_live(true);
    drop(w);
    tracing::debug!(epoch, "following the credential epoch");
    let mut recheck = tokio::time::interval(recheck);
    recheck.tick().await;
    loop {
        let epoch = tokio::select! {
            notification = listener.try_recv() => match notification? {
                Some(n) => match n.payload().parse::<i64>() {
                    Ok(epoch) => epoch,
                    Err(_) => read_epoch(pool).await?,
                },
                None => return Err(sqlx::Error::Protocol("the listening connection closed".into())),
            },
            _ = recheck.tick() => {
                if pool.is_closed() {
                    return Ok(());
                }
                read_epoch(pool).await?
            }
        };
        let Some(w) = watch.upgrade() else {
            return Ok(());
        };
        w.advance(epoch);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::testing::TestDatabase;

    /// Waits (polling, up to 10 s) until `done` holds; the bound is for a
    /// test that would otherwise hang, not a timing requirement.
    async fn until(what: &str, done: impl Fn() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("never happened: {what}");
    }

    async fn bump(pool: &PgPool) -> i64 {
        sqlx::query_scalar(ADVANCE_EPOCH)
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn follows_each_change_and_resumes_after_the_connection_is_lost() {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        let pool = db.store.postgres_pool().unwrap().clone();
        // No recheck in the test's time: only notifications move the epoch.
        let watch = EpochWatch::spawn_rechecking(pool.clone(), Duration::from_secs(3600));
        until("listening", || watch.current() == Some(0)).await;

        let first = bump(&pool).await;
        until("the change notified", || watch.current() == Some(first)).await;

        // End the listening connection: the watch reconnects, and a change
        // made after that is followed again.
        db.owner_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .await;
        let second = bump(&pool).await;
        until("followed again after reconnecting", || {
            watch.current() == Some(second)
        })
        .await;
        let third = bump(&pool).await;
        until("the next change notified", || {
            watch.current() == Some(third)
        })
        .await;
    }

    #[tokio::test]
    async fn a_change_without_a_notification_is_read_within_the_recheck() {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        let pool = db.store.postgres_pool().unwrap().clone();
        let watch = EpochWatch::spawn(pool.clone());
        until("listening", || watch.current() == Some(0)).await;
        db.owner_execute(
            "ALTER TABLE credential_epoch DISABLE TRIGGER credential_epoch_notify; \
             UPDATE credential_epoch SET epoch = 7 WHERE id = 1",
        )
        .await;
        until("the recheck read it", || watch.current() == Some(7)).await;
    }

    #[tokio::test]
    async fn without_a_listener_there_is_no_pushed_epoch() {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        // A pool whose connections all fail: the database does not exist.
        let options = (*db.store.postgres_pool().unwrap().connect_options())
            .clone()
            .database("motorpool_no_such_database");
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy_with(options);
        let watch = EpochWatch::spawn(pool);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(watch.current(), None, "requests read the epoch themselves");
        watch.advance(3);
        assert_eq!(watch.current(), None, "a committed epoch alone is not live");
    }
}
