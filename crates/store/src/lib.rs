//! Motorpool's persistence: one [`Store`] API over SQLite and PostgreSQL.
//!
//! The rest of the program sees only `Store` and the plain types it returns.
//! Inside, every operation opens a [`Tx`] and runs SQL written once for both
//! backends (`$1` placeholders, `RETURNING`, `ON CONFLICT`); the [`on_tx!`]
//! macro expands a query for whichever backend the transaction is on.
//!
//! Tenant isolation has two walls. The first is ours: every query on tenant
//! data says `WHERE tenant_id = $1`. The second is PostgreSQL's row-level
//! security, which follows `app.tenant_id`, set by [`Store::begin`] for the
//! tenant a transaction acts in. On SQLite (one owner, one file) the first
//! wall is the only one.

mod audit;
mod cost_report;
mod credential_cache;
mod credential_epoch;
mod current_meters;
mod daily_meters;
mod distance;
mod documents;
mod due_state;
mod due_writes;
mod error;
mod export;
mod fault_cycles;
mod fault_rules;
mod faults;
mod files;
mod fleet;
mod fuel;
mod fuel_batch;
mod fuel_months;
mod fuel_stats;
mod health;
mod idempotency;
mod identity;
mod import;
mod jobs;
mod json_rows;
mod latest_meters;
mod meters;
mod migrate;
mod month_split;
mod page;
mod reading_batch;
mod reading_window;
mod rollups;
mod schedules;
mod service;
mod sessions;
mod spend;
mod sync_logs;
mod telematics;
mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod tx;
mod usage;
mod vehicle_page;
mod vehicles;
mod wal_checkpoint;
mod warm_connections;

pub use audit::{Actor, AuditContext, AuditEntry, AuditFilter, INSTANCE_TENANT};
pub use cost_report::{MonthCosts, VehicleCosts};
pub use documents::{Document, NewDocument};
pub use error::StoreError;
pub use export::{EXPORT_FORMAT, EXPORT_VERSION, Export, ExportImportReport, VehicleExport};
pub use fault_rules::StoredRule;
pub use faults::{FaultCycle, FaultEvent, FaultReport, Resolve};
pub use files::{FileStore, sha256_hex};
pub use fleet::FleetOverview;
pub use fuel::{FuelEntry, NewFuelEntry};
pub use fuel_stats::FuelStats;
pub use idempotency::{IdempotencyClaim, StoredResponse};
pub use identity::{Membership, NewUser, Tenant, User};
pub use import::{ImportReport, ImportSettings};
pub use jobs::{Job, NewJob, now_ms};
pub use meters::{MeterOffset, NewMeterOffset, NewReading, Reading, ReadingOutcome};
pub use migrate::{
    MigrationReport, POSTGRES_SCHEMA_VERSION, RolePrivileges, SQLITE_SCHEMA_VERSION, SchemaStatus,
};
pub use page::Page;
pub use rollups::RollupRebuild;
pub use schedules::{NewSchedule, Schedule};
pub use service::{
    CostLine, Expense, LineItem, NewExpense, NewServiceRecord, ServiceRecord, ServiceTask,
};
pub use sessions::{
    ApiToken, Credential, CredentialKind, NewApiToken, NewSession, Session, ThrottleDecision,
};
pub use sync_logs::{SyncFinish, SyncLog};
pub use telematics::{Connection, ConnectionPatch, ExternalDevice, NewConnection};
pub use telemetry::{ItemOutcome, TelemetryItem, VehicleRef};
pub use tx::{Mode, Tx};
pub use vehicle_page::VehiclePage;
pub use vehicles::{
    CurrentMeters, HealthSummary, Vehicle, VehicleCursor, VehicleFilter, VehicleSort,
};

use std::str::FromStr;

use crate::error::ResultExt;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

use crate::warm_connections::WarmConnections;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// How long a pooled PostgreSQL connection may sit idle before it is tested
/// (pinged) on being handed out; see [`Store::connect`].
const PING_AFTER_IDLE: Duration = Duration::from_secs(2);

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Most pooled connections.
    pub max_connections: u32,
    /// How long a request may wait for a pooled connection.
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The database handle the whole program shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// Resolved credentials, kept briefly by a server (disabled elsewhere);
    /// see [`Store::with_credential_cache`].
    credentials: std::sync::Arc<credential_cache::CredentialCache>,
    /// Fleet overviews, kept briefly by a server (disabled elsewhere); see
    /// [`Store::with_overview_cache`].
    overviews: std::sync::Arc<fleet::OverviewCache>,
    /// Connections kept between one-statement reads ([`on_warm!`],
    /// `warm_connections.rs`); only the backend's own is used.
    warm_sqlite: std::sync::Arc<WarmConnections<Sqlite>>,
    warm_postgres: std::sync::Arc<WarmConnections<Postgres>>,
    /// Keeps the background checkpoint of an SQLite file's log running and
    /// tells write transactions when the log is due a restart
    /// (`wal_checkpoint.rs`); `None` on PostgreSQL, in memory, or when the
    /// store was opened outside a Tokio runtime.
    checkpoints: Option<std::sync::Arc<wal_checkpoint::Running>>,
}

/// Runs one statement outside any transaction on a kept connection of the
/// store's backend (see `warm_connections.rs`), with `$conn` bound to the
/// backend's connection; the connection is kept again only if the
/// statement succeeded. Like [`on_tx!`], the expression is compiled once per
/// backend and evaluates to a `Result<_, sqlx::Error>`.
#[macro_export]
#[doc(hidden)]
macro_rules! on_warm {
    ($store:expr, |$conn:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite(pool) => {
                $crate::on_warm!(@on $store.warm_sqlite.take(pool), |$conn| $body)
            }
            $crate::Backend::Postgres(pool) => {
                $crate::on_warm!(@on $store.warm_postgres.take(pool), |$conn| $body)
            }
        }
    };
    (@on $take:expr, |$conn:ident| $body:expr) => {
        match $take.await {
            Ok(mut taken) => {
                let out = {
                    let $conn = &mut *taken;
                    $body
                };
                if out.is_ok() {
                    taken.keep();
                }
                out
            }
            Err(e) => Err(e),
        }
    };
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Pages SQLite's write-ahead log grows to before a commit copies them into
/// the database file (SQLite's default is 1,000: 4 MB). A backstop only: the
/// store's own task copies the log as it grows, and has the next write
/// restart it from its beginning at a quarter of this (`wal_checkpoint.rs`),
/// so no commit waits for a copy and its syncs unless the log could not be
/// restarted (a long reader). Past this length every commit checkpoints
/// until the log restarts, so it is set well above the task's bound: with
/// the commits checkpointing past 16,000 pages, the bound itself, a live
/// feed took 3.7 % longer (docs/PERFORMANCE.md, session 18).
const SQLITE_WAL_AUTOCHECKPOINT_PAGES: u32 = 64_000;

// The backstop stays far above the task's restart bound.
const _: () =
    assert!(SQLITE_WAL_AUTOCHECKPOINT_PAGES as i64 >= 4 * wal_checkpoint::RESTART_AT_FRAMES);

/// The size the log file is cut back to after a checkpoint empties it
/// (SQLite reuses the file rather than shrinking it): a log that a long
/// reader let grow past the checkpoint size gives the space back.
const SQLITE_JOURNAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Pool figures for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub size: u32,
    pub idle: usize,
    pub max: u32,
}

impl Store {
    /// Connects to `sqlite://path` (the file and its folder are created if
    /// missing) or `postgres://…`. Does not migrate: see [`Store::migrate`].
    #[tracing::instrument(skip_all, fields(backend))]
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self, StoreError> {
        let mut checkpoints = None;
        let backend = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(StoreError::Config(
                    "a sqlite URL needs a path: sqlite://data/motorpool.db".into(),
                ));
            }
            if path != ":memory:"
                && let Some(parent) = std::path::Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Config(format!("cannot create folder {}: {e}", parent.display()))
                })?;
            }
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("invalid sqlite URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma(
                    "wal_autocheckpoint",
                    SQLITE_WAL_AUTOCHECKPOINT_PAGES.to_string(),
                )
                .pragma(
                    "journal_size_limit",
                    SQLITE_JOURNAL_SIZE_LIMIT_BYTES.to_string(),
                );
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                // An in-process connection does not go stale; sqlx's default
                // ping before every acquire was a round trip to the
                // connection's worker thread on every query.
                .test_before_acquire(false)
                .connect_with(connect)
                .await
                .map_err(|e| StoreError::Config(format!("cannot open {url}: {e}")))?;
            if path != ":memory:" && tokio::runtime::Handle::try_current().is_ok() {
                checkpoints = Some(wal_checkpoint::spawn(pool.clone()));
            }
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let connect = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("invalid postgres URL: {e}")))?
                .application_name("motorpool");
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                // sqlx pings every connection before handing it out: one
                // round trip per query outside a transaction, per
                // transaction otherwise. Under load a connection was in use
                // a moment ago, so only one that sat idle is tested (a
                // restarted server is then still noticed before a request
                // uses a dead connection, unless it went down in the last
                // moment, when the request fails once with a clear error).
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_AFTER_IDLE {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(connect)
                .await
                .map_err(|e| StoreError::Config(format!("cannot connect to PostgreSQL: {e}")))?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::Config(
                "the database URL must start with sqlite:// or postgres://".into(),
            ));
        };
        let store = Self {
            backend,
            credentials: std::sync::Arc::new(credential_cache::CredentialCache::new(
                Duration::ZERO,
                None,
            )),
            overviews: Default::default(),
            warm_sqlite: std::sync::Arc::new(WarmConnections::new(
                options.max_connections,
                warm_connections::FRESH_FOR,
            )),
            warm_postgres: std::sync::Arc::new(WarmConnections::new(
                options.max_connections,
                warm_connections::FRESH_FOR,
            )),
            checkpoints,
        };
        tracing::Span::current().record("backend", store.kind().as_str());
        Ok(store)
    }

    /// Keeps resolved credentials for up to `ttl` (zero: not at all), as a
    /// server does; see `credential_cache.rs` for why a change made anywhere
    /// applies to the next request all the same.
    ///
    /// On PostgreSQL, and within a Tokio runtime, the store also starts
    /// following the credential epoch by LISTEN/NOTIFY on a connection of
    /// its own, so a request need not read it (`credential_epoch.rs`).
    pub fn with_credential_cache(mut self, ttl: Duration) -> Self {
        let pushed = match &self.backend {
            Backend::Postgres(pool)
                if !ttl.is_zero() && tokio::runtime::Handle::try_current().is_ok() =>
            {
                Some(credential_epoch::EpochWatch::spawn(pool.clone()))
            }
            _ => None,
        };
        self.credentials = std::sync::Arc::new(credential_cache::CredentialCache::new(ttl, pushed));
        self
    }

    /// Commits a transaction that changed what some credential resolves to,
    /// after moving the credential epoch on in it: every server's cached
    /// credentials stop being used when it commits.
    pub(crate) async fn commit_credential_change(&self, mut tx: Tx) -> Result<(), StoreError> {
        let epoch: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
            credential_epoch::ADVANCE_EPOCH
        )
        .fetch_one(c)
        .await)
        .ctx("moving the credential epoch")?;
        tx.commit().await?;
        self.credentials.committed(epoch);
        Ok(())
    }

    /// The current credential epoch: as pushed to this server where it is
    /// (PostgreSQL, see `credential_epoch.rs`), otherwise one primary-key
    /// read outside any transaction (see `credential_cache.rs`).
    pub(crate) async fn credential_epoch(&self) -> Result<i64, StoreError> {
        if let Some(epoch) = self.credentials.pushed_epoch() {
            return Ok(epoch);
        }
        on_warm!(self, |c| sqlx::query_scalar(credential_epoch::READ_EPOCH)
            .fetch_one(c)
            .await)
        .ctx("reading the credential epoch")
    }

    /// Serves each tenant's fleet overview for up to `max_age` after
    /// computing it (zero: always computes). The overview carries its
    /// `computed_at`.
    pub fn with_overview_cache(mut self, max_age: Duration) -> Self {
        self.overviews = std::sync::Arc::new(fleet::OverviewCache::new(max_age));
        self
    }

    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    pub fn pool_stats(&self) -> PoolStats {
        match &self.backend {
            // Kept connections (`warm_connections.rs`) are idle too.
            Backend::Sqlite(p) => PoolStats {
                size: p.size(),
                idle: p.num_idle() + self.warm_sqlite.len(),
                max: p.options().get_max_connections(),
            },
            Backend::Postgres(p) => PoolStats {
                size: p.size(),
                idle: p.num_idle() + self.warm_postgres.len(),
                max: p.options().get_max_connections(),
            },
        }
    }

    /// Answers whether the database takes a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
            Backend::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
        }
        .map_err(|e| StoreError::db("pinging the database", e))
    }

    /// Closes every pooled connection, waiting for those in use.
    pub async fn close(&self) {
        // The pool waits for every connection it handed out, kept ones too.
        self.warm_sqlite.release_all();
        self.warm_postgres.release_all();
        match &self.backend {
            Backend::Sqlite(p) => p.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }

    /// The PostgreSQL pool, for tests that must run raw SQL as the app role.
    #[cfg(any(test, feature = "test-support"))]
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres(p) => Some(p),
            Backend::Sqlite(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every SQLite connection keeps a log of many batches before copying
    /// it into the database, and cuts the file back after a checkpoint.
    #[tokio::test]
    async fn sqlite_connections_keep_a_long_write_ahead_log() {
        let db = testing::TestDatabase::sqlite().await;
        let Backend::Sqlite(pool) = &db.store.backend else {
            panic!("a SQLite store");
        };
        let mut conn = pool.acquire().await.unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(pages, i64::from(SQLITE_WAL_AUTOCHECKPOINT_PAGES));
        assert_eq!(limit, 64 * 1024 * 1024);
    }
}
