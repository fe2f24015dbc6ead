//! Connections kept out of sqlx's pool between one-statement reads.
//!
//! sqlx tests every connection it takes back: dropping a `PoolConnection`
//! spawns a task that pings it (a round trip to PostgreSQL, or to SQLite's
//! worker thread) before the pool may hand it out again. For a request that
//! is one statement, `GET` one vehicle, that was half its exchanges with the
//! database and a task and two thread wake-ups more. A statement that
//! completed leaves its connection as it found it (no transaction, nothing
//! pending), so [`WarmConnections`] keeps such a connection for the next
//! read without a test.
//!
//! At most half the pool circulates this way (in use or kept: a first
//! version counted only the kept ones, so under load every connection ended
//! up circulating here, and whatever else needed the pool waited seconds).
//! A read waits for a kept connection and for the pool at once, whichever
//! comes first.
//!
//! What still goes back to sqlx, to be tested as before: a connection whose
//! statement failed or whose request was cancelled midway (only a
//! [`Taken::keep`] after success keeps one; dropping returns it), one
//! beyond the cap, and one that sat unused for [`FRESH_FOR`] (it may have
//! been closed by the server meanwhile; sqlx's test notices). The pool
//! counts kept connections as in use; `Store::close` returns them first, as
//! the pool waits for every connection before it closes.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::Database;
use sqlx::pool::{Pool, PoolConnection};
use tokio::sync::Semaphore;

/// How long a kept connection is trusted without a test: the pool's own
/// threshold for testing an idle connection (`PING_AFTER_IDLE`).
pub(crate) const FRESH_FOR: Duration = crate::PING_AFTER_IDLE;

/// Connections kept warm for one-statement reads.
pub(crate) struct WarmConnections<DB: Database> {
    state: Mutex<Kept<DB>>,
    /// One permit per kept connection: a read waits on it and on the pool
    /// at once, and waiters are served in order.
    available: Semaphore,
    /// Most connections circulating here (in use or kept); the rest of the
    /// pool stays with sqlx, for transactions and everything else.
    cap: usize,
    /// [`FRESH_FOR`], but for tests.
    fresh_for: Duration,
}

/// The kept connections, most recently used last, and how many circulate.
struct Kept<DB: Database> {
    idle: Vec<(PoolConnection<DB>, Instant)>,
    /// Kept connections plus those handed out from here and not yet back.
    circulating: usize,
}

/// A connection handed out by [`WarmConnections::take`]. Dropping it
/// returns it to sqlx's pool; [`Taken::keep`] keeps it for the next read.
pub(crate) struct Taken<'a, DB: Database> {
    conn: Option<PoolConnection<DB>>,
    /// Whether it circulates here (came from the kept ones).
    circulating: bool,
    warm: &'a WarmConnections<DB>,
}

impl<DB: Database> Deref for Taken<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        // Only `keep` and `drop` take the connection out.
        self.conn.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl<DB: Database> DerefMut for Taken<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<DB: Database> Taken<'_, DB> {
    /// Keeps the connection for the next read: call only once its statement
    /// has completed. Beyond the cap it goes back to the pool.
    pub(crate) fn keep(mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let warm = self.warm;
        let kept = match warm.state.lock() {
            Ok(mut state) if self.circulating || state.circulating < warm.cap => {
                if !self.circulating {
                    state.circulating += 1;
                }
                state.idle.push((conn, Instant::now()));
                true
            }
            _ => false,
        };
        // Kept: it circulates as a kept connection now, not as `self`.
        // Otherwise `conn` went back to the pool and `self`'s drop stops
        // counting it.
        if kept {
            self.circulating = false;
            warm.available.add_permits(1);
        }
    }
}

impl<DB: Database> Drop for Taken<'_, DB> {
    fn drop(&mut self) {
        if self.circulating {
            self.warm.stop_circulating(1);
        }
    }
}

impl<DB: Database> std::fmt::Debug for WarmConnections<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmConnections")
            .field("kept", &self.len())
            .field("cap", &self.cap)
            .finish()
    }
}

impl<DB: Database> WarmConnections<DB> {
    /// Lets up to half of a pool of `max_connections` (at least one)
    /// circulate, each kept one trusted for `fresh_for` ([`FRESH_FOR`]).
    pub(crate) fn new(max_connections: u32, fresh_for: Duration) -> Self {
        Self {
            state: Mutex::new(Kept {
                idle: Vec::new(),
                circulating: 0,
            }),
            available: Semaphore::new(0),
            cap: usize::try_from(max_connections / 2).unwrap_or(1).max(1),
            fresh_for,
        }
    }

    /// A kept connection, or one from the pool, whichever is available
    /// first (a kept one when both are; the pool's when it can open one). A
    /// kept connection that went stale goes back to the pool, to be tested
    /// there.
    pub(crate) async fn take(&self, pool: &Pool<DB>) -> Result<Taken<'_, DB>, sqlx::Error> {
        loop {
            let permit = match self.available.try_acquire() {
                Ok(permit) => Ok(permit),
                // While the pool may still open a connection, let it: racing
                // it would cancel connection attempts midway.
                Err(_) if pool.size() < pool.options().get_max_connections() => {
                    return Ok(self.taken(pool.acquire().await?, false));
                }
                Err(_) => tokio::select! {
                    biased;
                    permit = self.available.acquire() => permit,
                    conn = pool.acquire() => return Ok(self.taken(conn?, false)),
                },
            };
            match permit {
                Ok(permit) => permit.forget(),
                Err(_closed) => return Ok(self.taken(pool.acquire().await?, false)),
            }
            let newest = self
                .state
                .lock()
                .ok()
                .and_then(|mut state| state.idle.pop());
            match newest {
                Some((conn, at)) if at.elapsed() < self.fresh_for => {
                    return Ok(self.taken(conn, true));
                }
                // Returned to the pool, which tests it; try again.
                Some((stale, _)) => {
                    drop(stale);
                    self.stop_circulating(1);
                }
                None => {}
            }
        }
    }

    fn taken(&self, conn: PoolConnection<DB>, circulating: bool) -> Taken<'_, DB> {
        Taken {
            conn: Some(conn),
            circulating,
            warm: self,
        }
    }

    fn stop_circulating(&self, n: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.circulating = state.circulating.saturating_sub(n);
        }
    }

    /// Returns every kept connection to the pool.
    pub(crate) fn release_all(&self) {
        let all = self
            .state
            .lock()
            .map(|mut state| {
                let all = std::mem::take(&mut state.idle);
                state.circulating = state.circulating.saturating_sub(all.len());
                all
            })
            .unwrap_or_default();
        for _ in &all {
            if let Ok(permit) = self.available.try_acquire() {
                permit.forget();
            }
        }
        drop(all);
    }

    /// How many connections are kept (idle, as far as `/metrics` goes).
    pub(crate) fn len(&self) -> usize {
        self.state.lock().map(|s| s.idle.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;

    async fn pool(max: u32) -> sqlx::SqlitePool {
        SqlitePoolOptions::new()
            .max_connections(max)
            .connect("sqlite::memory:")
            .await
            .expect("an in-memory pool")
    }

    /// Marks a connection so it can be recognised when handed out again.
    async fn mark(conn: &mut Taken<'_, sqlx::Sqlite>, name: &str) {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE TEMP TABLE {name} (x)")))
            .execute(&mut **conn)
            .await
            .expect("marks");
    }

    async fn marked(conn: &mut Taken<'_, sqlx::Sqlite>, name: &str) -> bool {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_temp_master WHERE type = 'table' AND name = $1",
        )
        .bind(name)
        .fetch_one(&mut **conn)
        .await
        .expect("reads")
            == 1
    }

    #[tokio::test]
    async fn a_kept_connection_is_handed_out_again_up_to_the_cap() {
        let pool = pool(4).await;
        let warm = WarmConnections::new(4, FRESH_FOR);
        let mut first = warm.take(&pool).await.unwrap();
        mark(&mut first, "first").await;
        let mut second = warm.take(&pool).await.unwrap();
        assert!(!marked(&mut second, "first").await, "a second connection");
        let third = warm.take(&pool).await.unwrap();
        first.keep();
        second.keep();
        third.keep();
        assert_eq!(warm.len(), 2, "half of a pool of four");
        assert_eq!(pool.size(), 3, "kept ones stay out of the pool");

        // Most recently kept first: `second`, then `first`.
        let mut again = warm.take(&pool).await.unwrap();
        assert!(!marked(&mut again, "first").await);
        let mut first = warm.take(&pool).await.unwrap();
        assert!(marked(&mut first, "first").await, "the first one, untested");
        assert_eq!(warm.len(), 0);

        // Both still circulate while in use: a connection from the pool
        // is not kept beyond the cap, and a failed read's is not kept.
        let from_pool = warm.take(&pool).await.unwrap();
        from_pool.keep();
        assert_eq!(warm.len(), 0, "two already circulate");
        drop(again);
        first.keep();
        assert_eq!(warm.len(), 1);
    }

    #[tokio::test]
    async fn stale_connections_go_back_to_the_pool() {
        let pool = pool(4).await;
        let warm = WarmConnections::new(4, Duration::ZERO);
        let mut conn = warm.take(&pool).await.unwrap();
        mark(&mut conn, "stale").await;
        conn.keep();
        assert_eq!(warm.len(), 1);
        let _fresh = warm.take(&pool).await.unwrap();
        assert_eq!(warm.len(), 0, "the stale one was returned");
        // It reaches the pool once sqlx has tested it (a spawned task).
        for _ in 0..200 {
            if pool.num_idle() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(pool.num_idle(), 1);
    }

    #[tokio::test]
    async fn release_all_lets_the_pool_close() {
        let pool = pool(2).await;
        let warm = WarmConnections::new(2, FRESH_FOR);
        warm.take(&pool).await.unwrap().keep();
        warm.release_all();
        assert_eq!(warm.len(), 0);
        // A pool waits for every connection it handed out before closing.
        tokio::time::timeout(Duration::from_secs(30), pool.close())
            .await
            .expect("the pool closes once the kept connection is back");
    }
}
