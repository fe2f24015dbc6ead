//! SQLite's write-ahead log copied into the database file by a task of its
//! own, so that a writer's commit does not wait for the copy, and restarted
//! from its beginning by the next writer once the task finds it long.
//!
//! In WAL mode a commit appends its pages to the `-wal` file; a checkpoint
//! copies them into the database file and syncs both files. Left to SQLite,
//! the checkpoint runs inside the commit that takes the log past
//! `wal_autocheckpoint` pages, and that writer waits for the copy and the
//! two syncs. On a live feed of 1,000 vehicles that was a sixth of the
//! ingest's samples on the connection's thread, and more of its time, since
//! a sync waits for the disk off the CPU (docs/PERFORMANCE.md, session 15).
//!
//! This task runs a `PASSIVE` checkpoint on a pooled connection every
//! [`BUSY_EVERY`] while the log grows: a passive checkpoint copies what is
//! committed without taking the write lock, so writers go on appending on the
//! other core while it copies.
//!
//! Copying is not enough to keep the file small: SQLite starts the log again
//! from its beginning only when a writer begins a transaction and finds
//! every frame already copied and no reader still in the log. Under a
//! continuous feed a passive checkpoint never leaves it so, since the writer
//! commits more while it copies. Once the log is past [`RESTART_AT_FRAMES`]
//! and a passive checkpoint has copied all it saw, the task therefore marks
//! a restart due, and the store's next write transaction, before it begins,
//! runs a passive checkpoint of its own ([`Running::before_write`]): with no
//! other writer between, that copies the few frames committed since the
//! task's, and the transaction then starts the log from its beginning. A
//! reader still in the log, or another writer committing between, puts the
//! restart off until the task marks it due again. The writer waits for that
//! one copy and its syncs once per restart, where SQLite's own threshold
//! made every commit past it checkpoint until a restart happened (session
//! 17); nothing waits for a lock, so no busy timeout is involved.
//!
//! The commits' own checkpoint (`wal_autocheckpoint`, set far above
//! [`RESTART_AT_FRAMES`]) stays as a backstop for a log the writers could
//! not restart (long readers, writes outside the store's transactions).
//!
//! An idle database is looked at less and less often, down to once every
//! [`IDLE_EVERY`]; a look that finds nothing to copy costs no write and no
//! sync. The task ends when the store's pool is closed or every clone of
//! the store is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::SqlitePool;

/// The wait between checkpoints while the log grows.
pub(crate) const BUSY_EVERY: Duration = Duration::from_millis(250);

/// The longest wait between looks at an idle log.
pub(crate) const IDLE_EVERY: Duration = Duration::from_secs(4);

/// The log's length, in frames (one page each: 4 KB), past which the task
/// has the next write restart it: 16,000 frames is 64 MB, the length session
/// 14 chose for the commits' own checkpoint (a busy ingest rewrites the same
/// pages batch after batch; a longer log holds more of them for fewer
/// restarts).
pub(crate) const RESTART_AT_FRAMES: i64 = 16_000;

/// Keeps the checkpoint task running (the task holds only a [`Weak`] to it
/// and ends once it is gone: the last clone of the store dropped), and
/// carries the task's word to the writers that the log is due a restart.
#[derive(Debug, Default)]
pub(crate) struct Running {
    /// Set by the task when the log is past [`RESTART_AT_FRAMES`] and fully
    /// copied; taken by the next write transaction.
    restart_due: AtomicBool,
}

impl Running {
    /// Called before a write transaction begins: if a restart is due, one
    /// passive checkpoint copies what was committed since the task's, so
    /// that the transaction starts the log from its beginning. A failure is
    /// logged, not returned: the write goes on, and the task marks the
    /// restart due again on its next turn.
    pub(crate) async fn before_write(&self, pool: &SqlitePool) {
        if self.restart_due.swap(false, Ordering::Relaxed)
            && let Err(error) = passive(pool).await
        {
            tracing::warn!(%error, "checkpoint before a write failed; the log restarts later");
        }
    }
}

/// Starts checkpointing `pool`'s database in the background. Must be called
/// within a Tokio runtime.
pub(crate) fn spawn(pool: SqlitePool) -> Arc<Running> {
    let running = Arc::new(Running::default());
    tokio::spawn(run(pool, Arc::downgrade(&running)));
    running
}

/// What one look at the log found: frames in the log and frames copied into
/// the database file (`-1` for both when the database is not in WAL mode,
/// such as an in-memory one), and whether the look found a restart due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LogState {
    frames: i64,
    copied: i64,
    restart_due: bool,
}

#[tracing::instrument(skip_all)]
async fn run(pool: SqlitePool, running: Weak<Running>) {
    let mut wait = BUSY_EVERY;
    let mut last: Option<LogState> = None;
    loop {
        tokio::time::sleep(wait).await;
        if pool.is_closed() || running.strong_count() == 0 {
            return;
        }
        match checkpoint(&pool, RESTART_AT_FRAMES).await {
            Ok(state) => {
                if state.restart_due
                    && let Some(running) = running.upgrade()
                {
                    running.restart_due.store(true, Ordering::Relaxed);
                }
                // Unchanged since the last look: idle, so look less often.
                // Otherwise something was committed: look again soon.
                wait = if last.is_some_and(|l| l == state) {
                    (wait * 2).min(IDLE_EVERY)
                } else {
                    BUSY_EVERY
                };
                tracing::trace!(
                    frames = state.frames,
                    copied = state.copied,
                    restart_due = state.restart_due,
                    "checkpoint"
                );
                last = Some(state);
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                // The writers' own checkpoints still bound the log.
                tracing::warn!(%error, "background checkpoint failed; commits checkpoint the log themselves");
                wait = IDLE_EVERY;
            }
        }
    }
}

/// One passive checkpoint, and whether the log is now due a restart: at
/// least `restart_at` frames long, with the copy leaving nothing behind (a
/// reader that kept the copy short would keep the writer from restarting
/// the log too).
async fn checkpoint(pool: &SqlitePool, restart_at: i64) -> Result<LogState, sqlx::Error> {
    let (frames, copied) = passive(pool).await?;
    Ok(LogState {
        frames,
        copied,
        restart_due: frames >= restart_at && copied == frames,
    })
}

/// A passive checkpoint: copies every committed frame no reader still needs,
/// without blocking readers or writers (another checkpoint under way makes
/// it copy nothing). Returns the frames in the log and those copied.
async fn passive(pool: &SqlitePool) -> Result<(i64, i64), sqlx::Error> {
    let (_busy, frames, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok((frames, copied))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sqlx::SqlitePool;
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };

    use std::sync::atomic::Ordering;

    use super::{Running, checkpoint, passive};
    use crate::{Backend, ConnectOptions, Mode, Store};

    /// Committed pages reach the database file while the store is open,
    /// though the log is far below the size at which a commit would copy
    /// it; closing the store then leaves no log behind (the task gave its
    /// connection back).
    #[tokio::test]
    async fn the_log_is_copied_into_the_database_file_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpointed.db");
        let wal = dir.path().join("checkpointed.db-wal");
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .unwrap();
        let Backend::Sqlite(pool) = &store.backend else {
            panic!("a SQLite store");
        };
        // About 250 pages of 4 KB: a log a sixty-fourth of the restart
        // bound.
        create_filler(pool).await;
        fill(pool, 1000).await;
        let copied = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) >= 1_000_000;
        // Not a timing assertion: a generous bound on a task that runs
        // every quarter second, so a broken one fails instead of hanging.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !copied() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            copied(),
            "the database file holds {} bytes; the rows are still only in the log",
            std::fs::metadata(&path).unwrap().len()
        );
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM filler")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(rows, 1000);
        store.close().await;
        assert!(!wal.exists(), "closing the store leaves {}", wal.display());
    }

    /// A pool on a fresh file whose commits never checkpoint and with no
    /// task of its own, so that only the test's calls copy the log.
    async fn quiet_pool(dir: &tempfile::TempDir) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("quiet.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("wal_autocheckpoint", "1000000");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        create_filler(&pool).await;
        pool
    }

    /// The table the tests fill to grow the log.
    async fn create_filler(pool: &SqlitePool) {
        sqlx::query("CREATE TABLE filler (body BLOB NOT NULL)")
            .execute(pool)
            .await
            .unwrap();
    }

    /// Commits `rows` rows of 1,000 bytes (a quarter page each) in one
    /// transaction, on `executor`.
    async fn fill<'c, E: sqlx::SqliteExecutor<'c>>(executor: E, rows: u32) {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
             INSERT INTO filler SELECT randomblob(1000) FROM n",
        )
        .bind(rows)
        .execute(executor)
        .await
        .unwrap();
    }

    /// The log's length in frames, as a passive checkpoint reports it.
    async fn log_frames(pool: &SqlitePool) -> i64 {
        passive(pool).await.unwrap().0
    }

    /// Past the bound, and with nothing left behind by the copy, a restart
    /// is due; under it, the log is only copied.
    #[tokio::test]
    async fn a_log_past_the_bound_is_due_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let pool = quiet_pool(&dir).await;
        fill(&pool, 1000).await;
        let under = checkpoint(&pool, 1_000_000).await.unwrap();
        assert!(under.frames >= 250, "the log holds {} frames", under.frames);
        assert_eq!(under.copied, under.frames);
        assert!(!under.restart_due, "{under:?}");
        let past = checkpoint(&pool, 100).await.unwrap();
        assert_eq!(past.frames, under.frames);
        assert!(past.restart_due, "{past:?}");
    }

    /// A reader still on an older snapshot keeps the copy short, and then no
    /// restart is due (the writer could not restart the log under it).
    #[tokio::test]
    async fn a_reader_in_the_log_puts_the_restart_off() {
        let dir = tempfile::tempdir().unwrap();
        let pool = quiet_pool(&dir).await;
        fill(&pool, 1000).await;
        let mut reader = pool.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM filler")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        assert_eq!(seen, 1000);
        fill(&pool, 1000).await;
        let state = checkpoint(&pool, 100).await.unwrap();
        assert!(state.copied < state.frames, "{state:?}");
        assert!(!state.restart_due, "{state:?}");
        sqlx::query("COMMIT").execute(&mut *reader).await.unwrap();
        drop(reader);
        assert!(checkpoint(&pool, 100).await.unwrap().restart_due);
    }

    /// A write that begins with a restart due copies the log first and then
    /// writes from the log's beginning, so the log is no longer than that
    /// write; without one, its frames go after everything before them (the
    /// quiet pool's commits never checkpoint). Either way the due mark is
    /// taken at most once.
    #[tokio::test]
    async fn the_write_after_a_due_restart_starts_the_log_again() {
        let dir = tempfile::tempdir().unwrap();
        let pool = quiet_pool(&dir).await;
        let running = Running::default();
        fill(&pool, 1000).await;
        running.before_write(&pool).await;
        fill(&pool, 10).await;
        let grown = log_frames(&pool).await;
        assert!(grown >= 250, "the log holds {grown} frames");

        fill(&pool, 1000).await;
        running.restart_due.store(true, Ordering::Relaxed);
        running.before_write(&pool).await;
        assert!(!running.restart_due.load(Ordering::Relaxed));
        fill(&pool, 10).await;
        let frames = log_frames(&pool).await;
        assert!(
            frames < 20,
            "the log holds {frames} frames after one small write"
        );
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM filler")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 2020);
    }

    /// The store's write transactions are the writes that take a due mark
    /// (its reads are not: a read cannot restart the log).
    #[tokio::test]
    async fn the_stores_write_transactions_take_the_due_mark() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("marked.db").display());
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .unwrap();
        let running = store
            .checkpoints
            .clone()
            .expect("a file's store checkpoints");
        running.restart_due.store(true, Ordering::Relaxed);
        store.begin(Mode::Read, None).await.unwrap();
        assert!(running.restart_due.load(Ordering::Relaxed));
        let tx = store.begin(Mode::Write, None).await.unwrap();
        tx.commit().await.unwrap();
        assert!(!running.restart_due.load(Ordering::Relaxed));
        store.close().await;
    }
}
