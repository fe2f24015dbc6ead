//! Transactions over either backend, scoped to a tenant.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use sqlx::{Postgres, Sqlite};

use crate::error::ResultExt;
use crate::{Backend, Store, StoreError};
use domain::ids::TenantId;

/// Whether a transaction will write. On SQLite a write transaction starts
/// with `BEGIN IMMEDIATE`, taking the write lock up front so that two writers
/// queue instead of failing halfway with `SQLITE_BUSY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
    /// A read whose statements must all see one snapshot (a page of figures
    /// that must agree). SQLite's read transactions always do; PostgreSQL's
    /// default (read committed) gives each statement its own, so this one is
    /// `REPEATABLE READ READ ONLY` (which never fails to serialize).
    Snapshot,
}

/// An open transaction on one backend. Dropping it without
/// [`Tx::commit`] rolls it back, so an early `?` return writes nothing.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Runs one expression against whichever backend a `&mut Tx` is on, with
/// `$conn` bound to the backend's connection. The expression is compiled once
/// per backend, so SQL written this way must be portable.
#[macro_export]
#[doc(hidden)]
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

/// Executes a statement with [`on_tx!`] and returns the number of rows it
/// affected (the backends' result types differ; the count does not).
#[macro_export]
#[doc(hidden)]
macro_rules! execute_tx {
    ($tx:expr, $query:expr) => {
        $crate::on_tx!($tx, |conn| $query
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))
    };
}

impl Store {
    /// Opens a transaction. With a tenant, PostgreSQL's row-level security is
    /// pointed at that tenant for this transaction only (`set_config(…, true)`),
    /// so a pooled connection never carries one request's tenant into the next.
    pub async fn begin(&self, mode: Mode, tenant: Option<TenantId>) -> Result<Tx, StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                if mode == Mode::Write
                    && let Some(checkpoints) = &self.checkpoints
                {
                    // Copies the log first when it is due a restart, so that
                    // this transaction starts it again (`wal_checkpoint.rs`).
                    checkpoints.before_write(pool).await;
                }
                let tx = match mode {
                    Mode::Write => pool.begin_with("BEGIN IMMEDIATE").await,
                    Mode::Read | Mode::Snapshot => pool.begin().await,
                }
                .ctx("starting a transaction")?;
                Ok(Tx::Sqlite(tx))
            }
            Backend::Postgres(pool) => {
                // BEGIN and the tenant in one round trip (one simple-query
                // message): every request opens at least one transaction, and
                // on a loaded server round trips are what PostgreSQL spends
                // its time on. The tenant is a UUID, formatted by us, so
                // writing it into the SQL cannot inject anything.
                let tenant = tenant.map(|t| t.as_uuid().to_string()).unwrap_or_default();
                let begin = match mode {
                    Mode::Snapshot => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                    Mode::Read | Mode::Write => "BEGIN",
                };
                let tx = begin_postgres(
                    pool,
                    format!("{begin}; SELECT set_config('app.tenant_id', '{tenant}', true)"),
                )
                .await
                .ctx("starting a transaction")?;
                Ok(Tx::Postgres(tx))
            }
        }
    }
}

/// Begins a PostgreSQL transaction with `statement`, and finishes beginning
/// it even if the caller is dropped half-way (a client that goes away drops
/// its request). sqlx 0.9.0 counts a transaction only once the server has
/// answered its `BEGIN`: a caller dropped while waiting for that answer left
/// the transaction open on the connection, sqlx unaware of it, and the
/// connection went back to the pool that way; every later transaction on it
/// then ran inside that one (a read-only snapshot's `BEGIN` fails there, and
/// after the first error every statement does) until the connection was
/// closed (transact-rs/sqlx#4385, fixed upstream after 0.9.0). Finished, the
/// transaction is counted, and dropped unclaimed it is rolled back.
async fn begin_postgres(
    pool: &sqlx::PgPool,
    statement: String,
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    FinishOnDrop(Some(Box::pin(async move {
        pool.begin_with(sqlx::AssertSqlSafe(statement)).await
    })))
    .await
}

/// A future that, dropped before it is done, is run to its end on a task of
/// its own (its output then dropped there) instead of stopping where it was.
/// Awaited to the end it costs one allocation and no task.
struct FinishOnDrop<F: Future + Send + 'static>(Option<Pin<Box<F>>>)
where
    F::Output: Send;

impl<F: Future + Send + 'static> Future for FinishOnDrop<F>
where
    F::Output: Send,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(inner) = self.0.as_mut() else {
            // Polled again after it was done: there is nothing more to give.
            return Poll::Pending;
        };
        let out = std::task::ready!(inner.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(out)
    }
}

impl<F: Future + Send + 'static> Drop for FinishOnDrop<F>
where
    F::Output: Send,
{
    fn drop(&mut self) {
        if let Some(unfinished) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                drop(unfinished.await);
            });
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
        .ctx("committing")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::begin_postgres;
    use crate::testing;

    /// A caller dropped while its `BEGIN` is on the server (held there by a
    /// sleep, so the drop lands in that window every time) leaves no
    /// transaction on the connection: the next user of the pool's only
    /// connection is outside any transaction, and the dropped one's
    /// transaction-local setting is gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_begin_cut_short_leaves_no_transaction_on_the_connection() {
        let Some(db) = testing::TestDatabase::postgres().await else {
            return;
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&db.url)
            .await
            .unwrap();
        let begun = pool.clone();
        let begin = tokio::spawn(async move {
            begin_postgres(
                &begun,
                "BEGIN; SELECT set_config('app.tenant_id', 'left-open', true), pg_sleep(0.3)"
                    .into(),
            )
            .await
            .map(drop)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        begin.abort();
        assert!(begin.await.unwrap_err().is_cancelled());

        let mut conn = pool.acquire().await.unwrap();
        let setting: Option<String> =
            sqlx::query_scalar("SELECT current_setting('app.tenant_id', true)")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_ne!(setting.as_deref(), Some("left-open"));
        // A savepoint is refused outside a transaction block.
        let refused = sqlx::query("SAVEPOINT probe")
            .execute(&mut *conn)
            .await
            .expect_err("the connection is still inside the dropped transaction");
        assert!(
            refused.to_string().contains("transaction blocks"),
            "{refused}"
        );
    }
}
