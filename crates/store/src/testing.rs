//! Throwaway databases for tests: a fresh SQLite file, or a fresh PostgreSQL
//! database migrated by its owner and opened as the unprivileged app role.
//!
//! PostgreSQL tests run whenever a server answers at
//! `MOTORPOOL_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! a role allowed to create databases). When none answers they are skipped
//! with a note, except under `CI=true`, where that is a failure.

// Test helpers: a setup failure should fail the test loudly, so they panic.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use crate::{BackendKind, ConnectOptions, Store};

/// A vehicle's latest odometer and engine-hour readings, each (time,
/// effective value).
pub type LatestMeters = (
    Option<(time::OffsetDateTime, f64)>,
    Option<(time::OffsetDateTime, f64)>,
);

/// The role test databases grant to; created on first use, shared by all.
pub const TEST_APP_ROLE: &str = "motorpool_test_app";

/// One throwaway database and a store opened on it as the server would be.
pub struct TestDatabase {
    pub kind: BackendKind,
    /// The store as the server uses it (the app role on PostgreSQL).
    pub store: Store,
    /// The URL the server would be given.
    pub url: String,
    /// A URL with owner rights (same as `url` on SQLite).
    pub owner_url: String,
    guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Dropped from sync code, possibly inside a runtime: use a thread
            // with its own runtime. FORCE ends the test's leftover connections.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

impl TestDatabase {
    /// A migrated SQLite database in a temporary folder.
    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("motorpool.db").display());
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        TestDatabase {
            kind: BackendKind::Sqlite,
            store,
            owner_url: url.clone(),
            url,
            guard: Guard::Sqlite(dir),
        }
    }

    /// A migrated PostgreSQL database opened as [`TEST_APP_ROLE`], or `None`
    /// (with a note on stderr) when no server answers outside CI.
    pub async fn postgres() -> Option<TestDatabase> {
        let admin_url = admin_url();
        let options = PgConnectOptions::from_str(&admin_url)
            .expect("MOTORPOOL_TEST_POSTGRES_URL is a postgres URL");
        let mut admin = match options.connect().await {
            Ok(conn) => conn,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true but PostgreSQL is not reachable at {admin_url}: {e}")
            }
            Err(e) => {
                eprintln!("note: skipping PostgreSQL tests, no server at {admin_url}: {e}");
                return None;
            }
        };
        let name = format!("motorpool_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let guard = Guard::Postgres {
            admin_url: admin_url.clone(),
            name: name.clone(),
        };

        let owner = options.clone().database(&name);
        let owner_url = owner.to_url_lossy().to_string();
        let owner_store = Store::connect(
            &owner_url,
            &ConnectOptions {
                max_connections: 2,
                ..Default::default()
            },
        )
        .await
        .expect("connect as owner");
        owner_store.migrate().await.expect("migrate postgres");
        owner_store
            .grant_app_role(TEST_APP_ROLE, None)
            .await
            .expect("grant app role");
        owner_store.close().await;

        let app = PgConnectOptions::new()
            .host(options.get_host())
            .port(options.get_port())
            .username(TEST_APP_ROLE)
            .database(&name);
        let url = app.to_url_lossy().to_string();
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .expect("connect as app role");
        Some(TestDatabase {
            kind: BackendKind::Postgres,
            store,
            url,
            owner_url,
            guard,
        })
    }

    /// Every backend available here: SQLite always, PostgreSQL when reachable.
    pub async fn all() -> Vec<TestDatabase> {
        let mut dbs = vec![Self::sqlite().await];
        dbs.extend(Self::postgres().await);
        dbs
    }

    /// A one-connection store with the owner's rights (row-level security
    /// does not apply to it); close it when done.
    async fn owner(&self) -> Store {
        Store::connect(
            &self.owner_url,
            &ConnectOptions {
                max_connections: 1,
                ..Default::default()
            },
        )
        .await
        .expect("connect as owner")
    }

    /// Runs raw SQL with owner rights (to set up states the API refuses to
    /// create, such as a schema from the future).
    pub async fn owner_execute(&self, sql: &str) {
        let owner = self.owner().await;
        let mut tx = owner.begin(crate::Mode::Write, None).await.expect("begin");
        crate::execute_tx!(&mut tx, sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())))
            .expect("owner SQL");
        tx.commit().await.expect("commit");
        owner.close().await;
    }

    /// Applies the migrations from `version` on again, as the owner, after
    /// `undo` (raw SQL reverting them): a migration's backfill checked
    /// against what the write paths keep.
    pub async fn rerun_migrations_from(&self, version: i64, undo: &str) {
        self.owner_execute(&format!(
            "{undo}; DELETE FROM schema_migrations WHERE version >= {version}"
        ))
        .await;
        // Migrating holds a lock on one connection and works on another.
        let owner = Store::connect(
            &self.owner_url,
            &ConnectOptions {
                max_connections: 2,
                ..Default::default()
            },
        )
        .await
        .expect("connect as owner");
        owner.migrate().await.expect("migrate again");
        if self.kind == BackendKind::Postgres {
            owner
                .grant_app_role(TEST_APP_ROLE, None)
                .await
                .expect("grant app role");
        }
        owner.close().await;
    }

    /// Every vehicle's stored usage rates, (id, km a day, hours a day) in id
    /// order, read with owner rights: the API shows rates only through
    /// the forecasts they make.
    pub async fn usage_rates(&self) -> Vec<(uuid::Uuid, Option<f64>, Option<f64>)> {
        let owner = self.owner().await;
        let mut tx = owner.begin(crate::Mode::Read, None).await.expect("begin");
        let rates = crate::on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id, km_per_day, hours_per_day FROM vehicles ORDER BY id"
        )
        .fetch_all(c)
        .await)
        .expect("reading usage rates");
        tx.commit().await.expect("commit");
        owner.close().await;
        rates
    }

    /// The one text column of every row `sql` returns, read with owner
    /// rights (stored columns the API does not show, such as a vehicle's
    /// due watch); cast anything else `CAST(… AS TEXT)`.
    pub async fn owner_texts(&self, sql: &str) -> Vec<Option<String>> {
        let owner = self.owner().await;
        let mut tx = owner.begin(crate::Mode::Read, None).await.expect("begin");
        let texts = crate::on_tx!(&mut tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql.to_string()
        ))
        .fetch_all(c)
        .await)
        .expect("owner query");
        tx.commit().await.expect("commit");
        owner.close().await;
        texts
    }

    /// Each meter's latest live reading of `vehicle`, (time, effective
    /// value), looked up in the readings as every refresh but an ingest
    /// batch's does: what the meters an ingest batch stores must equal.
    pub async fn latest_from_readings(
        &self,
        tenant: domain::ids::TenantId,
        vehicle: domain::ids::VehicleId,
    ) -> LatestMeters {
        // A write transaction: the lookup locks the vehicle row on PostgreSQL.
        let mut tx = self
            .store
            .begin(crate::Mode::Write, Some(tenant))
            .await
            .expect("begin");
        let mut found = crate::latest_meters::from_readings(&mut tx, tenant, &[vehicle])
            .await
            .expect("latest readings");
        drop(tx); // rolls back
        let latest = found.remove(&vehicle).expect("the vehicle");
        (latest.odometer, latest.hours)
    }

    /// Keeps the database alive as long as the returned value (for tests
    /// that hand the URL to a server and drop the store).
    pub fn name(&self) -> &str {
        match &self.guard {
            Guard::Sqlite(_) => "sqlite",
            Guard::Postgres { name, .. } => name,
        }
    }
}

/// The PostgreSQL URL tests create databases with.
pub fn admin_url() -> String {
    std::env::var("MOTORPOOL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}
