//! Transactions over either backend, scoped to a tenant.

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
                let tx = pool
                    .begin_with(sqlx::AssertSqlSafe(format!(
                        "{begin}; SELECT set_config('app.tenant_id', '{tenant}', true)"
                    )))
                    .await
                    .ctx("starting a transaction")?;
                Ok(Tx::Postgres(tx))
            }
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
