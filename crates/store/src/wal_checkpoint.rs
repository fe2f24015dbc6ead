//! SQLite's write-ahead log copied into the database file by a task of its
//! own, so that a writer's commit does not wait for the copy.
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
//! other core while it copies. The writers' own checkpoint stays, at
//! `wal_autocheckpoint`: only a writer can restart the log from its start
//! (it does so when it begins a transaction and finds every frame copied),
//! and its checkpoint is then left with the frames committed since this
//! task's last one. The log's size bound is unchanged.
//!
//! An idle database is looked at less and less often, down to once every
//! [`IDLE_EVERY`]; a look that finds nothing to copy costs no write and no
//! sync. The task ends when the store's pool is closed or every clone of
//! the store is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::SqlitePool;

/// The wait between checkpoints while the log grows.
pub(crate) const BUSY_EVERY: Duration = Duration::from_millis(250);

/// The longest wait between looks at an idle log.
pub(crate) const IDLE_EVERY: Duration = Duration::from_secs(4);

/// Keeps the checkpoint task running: the task holds only a [`Weak`] to it
/// and ends once it is gone (the last clone of the store dropped).
#[derive(Debug)]
pub(crate) struct Running(());

/// Starts checkpointing `pool`'s database in the background. Must be called
/// within a Tokio runtime.
pub(crate) fn spawn(pool: SqlitePool) -> Arc<Running> {
    let running = Arc::new(Running(()));
    tokio::spawn(run(pool, Arc::downgrade(&running)));
    running
}

/// What one `PRAGMA wal_checkpoint` reported: frames in the log and frames
/// copied into the database file (`-1` for both when the database is not in
/// WAL mode, such as an in-memory one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LogState {
    frames: i64,
    copied: i64,
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
        match checkpoint(&pool).await {
            Ok(state) => {
                // Unchanged since the last look: idle, so look less often.
                // Otherwise something was committed: look again soon.
                wait = if last.is_some_and(|l| l == state) {
                    (wait * 2).min(IDLE_EVERY)
                } else {
                    BUSY_EVERY
                };
                tracing::trace!(frames = state.frames, copied = state.copied, "checkpoint");
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

/// One passive checkpoint: copies every committed frame no reader still
/// needs, without blocking readers or writers.
async fn checkpoint(pool: &SqlitePool) -> Result<LogState, sqlx::Error> {
    let (_busy, frames, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok(LogState { frames, copied })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{Backend, ConnectOptions, Store};

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
        // About 250 pages of 4 KB: a log a sixtieth of the commits' own
        // checkpoint size.
        sqlx::query("CREATE TABLE filler (body BLOB NOT NULL)")
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
             INSERT INTO filler SELECT randomblob(1000) FROM n",
        )
        .execute(pool)
        .await
        .unwrap();
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
}
