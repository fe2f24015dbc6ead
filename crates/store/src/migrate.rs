//! Numbered, tracked, idempotent schema migrations, one list per backend.
//!
//! Each migration runs in its own transaction together with the row that
//! records it, so a crash leaves it either applied and recorded or neither.
//! A checksum of each applied migration is kept: editing a migration after it
//! shipped is caught instead of silently diverging. A database whose schema
//! is newer than the binary is refused, never "downgraded".

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ResultExt;
use crate::{Backend, Mode, Store, StoreError, execute_tx, on_tx};

struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "spine: tenants, users, auth, vehicles, audit, idempotency",
        sql: include_str!("../migrations/sqlite/0001_spine.sql"),
    },
    Migration {
        version: 2,
        description: "meters: readings, offsets, current meters",
        sql: include_str!("../migrations/sqlite/0002_meters.sql"),
    },
    Migration {
        version: 3,
        description: "fuel and charging entries",
        sql: include_str!("../migrations/sqlite/0003_fuel.sql"),
    },
    Migration {
        version: 4,
        description: "service tasks, service records, expenses, maintenance schedules",
        sql: include_str!("../migrations/sqlite/0004_service.sql"),
    },
    Migration {
        version: 5,
        description: "import fingerprints",
        sql: include_str!("../migrations/sqlite/0005_imports.sql"),
    },
    Migration {
        version: 6,
        description: "documents",
        sql: include_str!("../migrations/sqlite/0006_documents.sql"),
    },
    Migration {
        version: 7,
        description: "export keys",
        sql: include_str!("../migrations/sqlite/0007_export.sql"),
    },
    Migration {
        version: 8,
        description: "fault events, fault cycles, vehicle health",
        sql: include_str!("../migrations/sqlite/0008_faults.sql"),
    },
    Migration {
        version: 9,
        description: "telematics connections, external vehicle ids, sync logs",
        sql: include_str!("../migrations/sqlite/0009_telematics.sql"),
    },
    Migration {
        version: 10,
        description: "fault rules",
        sql: include_str!("../migrations/sqlite/0010_fault_rules.sql"),
    },
    Migration {
        version: 11,
        description: "fleet overview indexes",
        sql: include_str!("../migrations/sqlite/0011_fleet_overview.sql"),
    },
    Migration {
        version: 12,
        description: "monthly spend per vehicle",
        sql: include_str!("../migrations/sqlite/0012_monthly_spend.sql"),
    },
    Migration {
        version: 13,
        description: "monthly distance per vehicle",
        sql: include_str!("../migrations/sqlite/0013_monthly_distance.sql"),
    },
    Migration {
        version: 14,
        description: "a vehicle's schedules in due order",
        sql: include_str!("../migrations/sqlite/0014_schedule_vehicle_index.sql"),
    },
    Migration {
        version: 15,
        description: "credential epoch",
        sql: include_str!("../migrations/sqlite/0015_credential_epoch.sql"),
    },
    Migration {
        version: 16,
        description: "usage rates from daily meters",
        sql: include_str!("../migrations/sqlite/0016_usage_rates.sql"),
    },
    Migration {
        version: 17,
        description: "the day a schedule's due state can next move",
        sql: include_str!("../migrations/sqlite/0017_schedule_recheck.sql"),
    },
    Migration {
        version: 18,
        description: "one vehicle of a tenant in one statement (PostgreSQL only)",
        sql: include_str!("../migrations/sqlite/0018_tenant_vehicle.sql"),
    },
    Migration {
        version: 19,
        description: "a vehicle's fills by fuel type in time order",
        sql: include_str!("../migrations/sqlite/0019_fuel_type_time_index.sql"),
    },
    Migration {
        version: 20,
        description: "credential epoch changes announced",
        sql: include_str!("../migrations/sqlite/0020_credential_epoch_notify.sql"),
    },
    Migration {
        version: 21,
        description: "usage rates kept as running sums",
        sql: include_str!("../migrations/sqlite/0021_usage_rate_sums.sql"),
    },
    Migration {
        version: 22,
        description: "due watch; ok forecasts computed when read",
        sql: include_str!("../migrations/sqlite/0022_due_watch.sql"),
    },
    Migration {
        version: 23,
        description: "each meter's latest reading time kept on the vehicle",
        sql: include_str!("../migrations/sqlite/0023_meter_seen_at.sql"),
    },
    Migration {
        version: 24,
        description: "room on hot tables' pages for heap-only updates (PostgreSQL fillfactor)",
        sql: include_str!("../migrations/sqlite/0024_hot_update_fillfactor.sql"),
    },
    Migration {
        version: 25,
        description: "SQLite's unused live-readings timeline index dropped",
        sql: include_str!("../migrations/sqlite/0025_sqlite_timeline_index.sql"),
    },
    Migration {
        version: 26,
        description: "monthly costs by category and monthly fuel figures, for the vehicle page",
        sql: include_str!("../migrations/sqlite/0026_page_rollups.sql"),
    },
];

const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "spine: tenants, users, auth, vehicles, audit, idempotency",
        sql: include_str!("../migrations/postgres/0001_spine.sql"),
    },
    Migration {
        version: 2,
        description: "meters: readings, offsets, current meters",
        sql: include_str!("../migrations/postgres/0002_meters.sql"),
    },
    Migration {
        version: 3,
        description: "fuel and charging entries",
        sql: include_str!("../migrations/postgres/0003_fuel.sql"),
    },
    Migration {
        version: 4,
        description: "service tasks, service records, expenses, maintenance schedules",
        sql: include_str!("../migrations/postgres/0004_service.sql"),
    },
    Migration {
        version: 5,
        description: "import fingerprints",
        sql: include_str!("../migrations/postgres/0005_imports.sql"),
    },
    Migration {
        version: 6,
        description: "documents",
        sql: include_str!("../migrations/postgres/0006_documents.sql"),
    },
    Migration {
        version: 7,
        description: "export keys",
        sql: include_str!("../migrations/postgres/0007_export.sql"),
    },
    Migration {
        version: 8,
        description: "fault events, fault cycles, vehicle health",
        sql: include_str!("../migrations/postgres/0008_faults.sql"),
    },
    Migration {
        version: 9,
        description: "telematics connections, external vehicle ids, sync logs",
        sql: include_str!("../migrations/postgres/0009_telematics.sql"),
    },
    Migration {
        version: 10,
        description: "fault rules",
        sql: include_str!("../migrations/postgres/0010_fault_rules.sql"),
    },
    Migration {
        version: 11,
        description: "fleet overview indexes",
        sql: include_str!("../migrations/postgres/0011_fleet_overview.sql"),
    },
    Migration {
        version: 12,
        description: "monthly spend per vehicle",
        sql: include_str!("../migrations/postgres/0012_monthly_spend.sql"),
    },
    Migration {
        version: 13,
        description: "monthly distance per vehicle",
        sql: include_str!("../migrations/postgres/0013_monthly_distance.sql"),
    },
    Migration {
        version: 14,
        description: "a vehicle's schedules in due order",
        sql: include_str!("../migrations/postgres/0014_schedule_vehicle_index.sql"),
    },
    Migration {
        version: 15,
        description: "credential epoch",
        sql: include_str!("../migrations/postgres/0015_credential_epoch.sql"),
    },
    Migration {
        version: 16,
        description: "usage rates from daily meters",
        sql: include_str!("../migrations/postgres/0016_usage_rates.sql"),
    },
    Migration {
        version: 17,
        description: "the day a schedule's due state can next move",
        sql: include_str!("../migrations/postgres/0017_schedule_recheck.sql"),
    },
    Migration {
        version: 18,
        description: "one vehicle of a tenant in one statement",
        sql: include_str!("../migrations/postgres/0018_tenant_vehicle.sql"),
    },
    Migration {
        version: 19,
        description: "a vehicle's fills by fuel type in time order",
        sql: include_str!("../migrations/postgres/0019_fuel_type_time_index.sql"),
    },
    Migration {
        version: 20,
        description: "credential epoch changes announced",
        sql: include_str!("../migrations/postgres/0020_credential_epoch_notify.sql"),
    },
    Migration {
        version: 21,
        description: "usage rates kept as running sums",
        sql: include_str!("../migrations/postgres/0021_usage_rate_sums.sql"),
    },
    Migration {
        version: 22,
        description: "due watch; ok forecasts computed when read",
        sql: include_str!("../migrations/postgres/0022_due_watch.sql"),
    },
    Migration {
        version: 23,
        description: "each meter's latest reading time kept on the vehicle",
        sql: include_str!("../migrations/postgres/0023_meter_seen_at.sql"),
    },
    Migration {
        version: 24,
        description: "room on hot tables' pages for heap-only updates (PostgreSQL fillfactor)",
        sql: include_str!("../migrations/postgres/0024_hot_update_fillfactor.sql"),
    },
    Migration {
        version: 25,
        description: "SQLite's unused live-readings timeline index dropped",
        sql: include_str!("../migrations/postgres/0025_sqlite_timeline_index.sql"),
    },
    Migration {
        version: 26,
        description: "monthly costs by category and monthly fuel figures, for the vehicle page",
        sql: include_str!("../migrations/postgres/0026_page_rollups.sql"),
    },
];

/// The schema version this binary brings for SQLite (migrations are numbered 1..=n).
pub const SQLITE_SCHEMA_VERSION: i64 = SQLITE.len() as i64;
/// The schema version this binary brings for PostgreSQL.
pub const POSTGRES_SCHEMA_VERSION: i64 = POSTGRES.len() as i64;

/// Arbitrary constant key of the PostgreSQL advisory lock that serialises
/// replicas migrating the same database at once.
const PG_MIGRATION_LOCK: i64 = 0x6d6f_746f_7270;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// Where a database's schema stands against this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Highest migration applied to the database (0 for an empty database).
    pub database: i64,
    /// Highest migration this binary carries.
    pub binary: i64,
}

/// What a [`Store::migrate`] run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<i64>,
    pub version: i64,
}

/// What the connected PostgreSQL role may do that a server role must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolePrivileges {
    pub superuser: bool,
    pub bypass_rls: bool,
    pub owns_tables: bool,
}

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A PostgreSQL role name we are willing to interpolate into DDL.
fn check_role_name(role: &str) -> Result<(), StoreError> {
    let ok = !role.is_empty()
        && role.len() <= 63
        && role.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "app role `{role}` must be lower-case letters, digits and `_`"
        )))
    }
}

impl Store {
    fn migrations(&self) -> &'static [Migration] {
        match self.backend {
            Backend::Sqlite(_) => SQLITE,
            Backend::Postgres(_) => POSTGRES,
        }
    }

    /// The highest migration this binary carries for this backend.
    pub fn binary_schema_version(&self) -> i64 {
        self.migrations().last().map_or(0, |m| m.version)
    }

    /// Reads the database's schema version without changing anything.
    pub async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let mut tx = self.begin(Mode::Read, None).await?;
        let exists: bool = on_tx!(&mut tx, |c| match self.backend {
            Backend::Sqlite(_) => sqlx::query_scalar(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            )
            .fetch_one(c)
            .await,
            Backend::Postgres(_) => sqlx::query_scalar("SELECT to_regclass('schema_migrations') IS NOT NULL")
                .fetch_one(c)
                .await,
        })
        .ctx("looking for the migrations table")?;
        let database: i64 = if exists {
            on_tx!(&mut tx, |c| sqlx::query_scalar::<_, Option<i64>>(
                "SELECT max(version) FROM schema_migrations"
            )
            .fetch_one(c)
            .await)
            .ctx("reading the schema version")?
            .unwrap_or(0)
        } else {
            0
        };
        Ok(SchemaStatus {
            database,
            binary: self.binary_schema_version(),
        })
    }

    /// Fails unless the database is exactly at this binary's schema version.
    pub async fn check_schema(&self) -> Result<SchemaStatus, StoreError> {
        let status = self.schema_status().await?;
        if status.database > status.binary {
            return Err(StoreError::SchemaTooNew {
                database: status.database,
                binary: status.binary,
            });
        }
        if status.database < status.binary {
            return Err(StoreError::SchemaBehind {
                database: status.database,
                binary: status.binary,
            });
        }
        Ok(status)
    }

    /// Applies every pending migration. Safe to run again and from several
    /// replicas at once; refuses a database newer than this binary.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let status = self.schema_status().await?;
        if status.database > status.binary {
            return Err(StoreError::SchemaTooNew {
                database: status.database,
                binary: status.binary,
            });
        }
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut conn = pool
                    .acquire()
                    .await
                    .ctx("acquiring a connection to migrate")?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(PG_MIGRATION_LOCK)
                    .execute(&mut *conn)
                    .await
                    .ctx("taking the migration lock")?;
                let result = self.apply_pending().await;
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(PG_MIGRATION_LOCK)
                    .execute(&mut *conn)
                    .await
                    .ctx("releasing the migration lock")?;
                result
            }
            Backend::Sqlite(_) => self.apply_pending().await,
        }
    }

    async fn apply_pending(&self) -> Result<MigrationReport, StoreError> {
        let mut tx = self.begin(Mode::Write, None).await?;
        execute_tx!(&mut tx, sqlx::query(CREATE_TABLE)).ctx("creating the migrations table")?;
        tx.commit().await?;

        let mut applied = Vec::new();
        for migration in self.migrations() {
            let sum = checksum(migration.sql);
            let mut tx = self.begin(Mode::Write, None).await?;
            let existing: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT checksum FROM schema_migrations WHERE version = $1"
            )
            .bind(migration.version)
            .fetch_optional(c)
            .await)
            .ctx("reading an applied migration")?;
            match existing {
                Some(existing) if existing == sum => continue,
                Some(_) => {
                    return Err(StoreError::MigrationChanged {
                        version: migration.version,
                    });
                }
                None => {}
            }
            tracing::info!(
                version = migration.version,
                description = migration.description,
                "applying migration"
            );
            let now = OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default();
            execute_tx!(&mut tx, sqlx::raw_sql(migration.sql)).ctx("applying a migration")?;
            execute_tx!(&mut tx, sqlx::query(
                "INSERT INTO schema_migrations (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)"
            )
            .bind(migration.version)
            .bind(migration.description)
            .bind(&sum)
            .bind(&now))
            .ctx("recording a migration")?;
            tx.commit().await?;
            applied.push(migration.version);
        }
        Ok(MigrationReport {
            applied,
            version: self.binary_schema_version(),
        })
    }

    /// PostgreSQL only: creates `role` if missing (LOGIN, no superuser, no
    /// BYPASSRLS, optionally with a password) and grants it what the server
    /// needs and no more: data access on the tables, read-only on
    /// `schema_migrations`, append-only on `audit_log`. Run as the owner.
    #[tracing::instrument(skip_all, fields(role))]
    pub async fn grant_app_role(
        &self,
        role: &str,
        password: Option<&str>,
    ) -> Result<(), StoreError> {
        check_role_name(role)?;
        let Backend::Postgres(pool) = &self.backend else {
            return Err(StoreError::Config(
                "app roles exist only on PostgreSQL".into(),
            ));
        };
        let create = format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                     CREATE ROLE {role} LOGIN;
                 END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$"
        );
        let mut statements = vec![
            create,
            // Only when needed: concurrent ALTER ROLEs on one role collide
            // ("tuple concurrently updated"), and replicas migrate together.
            format!(
                "DO $$ BEGIN
                     IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}' AND (rolsuper OR rolbypassrls
                                OR rolcreatedb OR rolcreaterole OR NOT rolcanlogin)) THEN
                         ALTER ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
                     END IF;
                 END $$"
            ),
            format!("GRANT USAGE ON SCHEMA public TO {role}"),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
            format!("REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM {role}"),
            format!("REVOKE UPDATE, DELETE ON audit_log FROM {role}"),
            // Monthly fault-event partitions are created through this
            // owner-run function (the role itself may not create tables).
            format!("GRANT EXECUTE ON FUNCTION motorpool_ensure_fault_event_partition(timestamptz) TO {role}"),
        ];
        let connect: String = sqlx::query_scalar(
            "SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), $1::text)",
        )
        .bind(role)
        .fetch_one(pool)
        .await
        .ctx("quoting the database name")?;
        statements.push(connect);
        if let Some(password) = password {
            let alter: String = sqlx::query_scalar(
                "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)",
            )
            .bind(role)
            .bind(password)
            .fetch_one(pool)
            .await
            .ctx("quoting the role password")?;
            statements.push(alter);
        }
        for statement in statements {
            // Every interpolated name passed `check_role_name` or was quoted by
            // PostgreSQL's own `format(%I, %L)`.
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(pool)
                .await
                .ctx("granting the app role")?;
        }
        Ok(())
    }

    /// PostgreSQL only: the name of the role this store connects as.
    pub async fn current_role(&self) -> Result<String, StoreError> {
        let Backend::Postgres(pool) = &self.backend else {
            return Err(StoreError::Config("roles exist only on PostgreSQL".into()));
        };
        sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(pool)
            .await
            .ctx("reading the current role")
    }

    /// PostgreSQL only: what the connected role could do to bypass row-level
    /// security. The server refuses to start as such a role unless told to.
    pub async fn role_privileges(&self) -> Result<Option<RolePrivileges>, StoreError> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(None);
        };
        let (superuser, bypass_rls): (bool, bool) = sqlx::query_as(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(pool)
        .await
        .ctx("reading the role's attributes")?;
        let owns_tables: bool = sqlx::query_scalar(
            "SELECT count(*) > 0 FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user",
        )
        .fetch_one(pool)
        .await
        .ctx("reading table owners")?;
        Ok(Some(RolePrivileges {
            superuser,
            bypass_rls,
            owns_tables,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_one_by_one_and_match_across_backends() {
        for list in [SQLITE, POSTGRES] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1);
            }
        }
        assert_eq!(SQLITE.len(), POSTGRES.len());
    }

    #[test]
    fn role_names_are_checked_before_interpolation() {
        assert!(check_role_name("motorpool_app").is_ok());
        assert!(check_role_name("app; DROP TABLE users").is_err());
        assert!(check_role_name("App").is_err());
        assert!(check_role_name("").is_err());
    }
}
