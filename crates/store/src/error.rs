//! The store's one error type.

/// What went wrong in the store. Callers match on the first variants (they
/// are answers: not found, conflict); the rest are failures with context.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in the tenant acting (or it is soft-deleted).
    #[error("not found")]
    NotFound,
    /// A unique rule was broken; `field` names the input that broke it.
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: &'static str,
    },
    /// A rule that depends on stored data was broken (a meter going down);
    /// `field` names the input at fault.
    #[error("{field} {message}")]
    Rule {
        field: &'static str,
        message: String,
    },
    /// An input the store itself checks (a cursor) is malformed.
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error("database error while {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the database schema is at version {database}, newer than this binary knows ({binary}); \
         run a newer Motorpool or restore a backup"
    )]
    SchemaTooNew { database: i64, binary: i64 },
    #[error(
        "the database schema is at version {database} but this binary needs {binary}; \
         run `motorpool migrate` with the owner's database URL"
    )]
    SchemaBehind { database: i64, binary: i64 },
    #[error(
        "migration {version} differs from the one applied to this database (checksum mismatch)"
    )]
    MigrationChanged { version: i64 },
    #[error("{0}")]
    Config(String),
    /// A stored value no longer parses: a bug or manual tampering.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// Unique indexes and the input field each protects, by index name
/// (PostgreSQL reports it) and by column list (SQLite reports that instead).
const UNIQUE_RULES: &[(&str, &str, &str, &str)] = &[
    (
        "vehicles_tenant_vin_key",
        "vehicles.tenant_id, vehicles.vin",
        "vin",
        "another vehicle in this tenant already has this VIN",
    ),
    (
        "telematics_connections_name_key",
        "telematics_connections.tenant_id, telematics_connections.name",
        "name",
        "another telematics connection in this tenant has this name",
    ),
    (
        "fault_rules_pattern_key",
        "index 'fault_rules_pattern_key'",
        "spn",
        "a rule for this code already exists; change that one",
    ),
    (
        "tenants_slug_key",
        "tenants.slug",
        "slug",
        "a tenant with this slug already exists",
    ),
    (
        "users_email_key",
        "users.email",
        "email",
        "a user with this email already exists",
    ),
    (
        "memberships_pkey",
        "memberships.tenant_id, memberships.user_id",
        "user",
        "this user is already a member of the tenant",
    ),
];

impl StoreError {
    /// Wraps a database error with what was being done, turning known unique
    /// violations into [`StoreError::Conflict`].
    pub(crate) fn db(context: &'static str, source: sqlx::Error) -> Self {
        if let Some(db) = source.as_database_error()
            && db.is_unique_violation()
        {
            let message = db.message();
            let constraint = db.constraint();
            for (name, columns, field, text) in UNIQUE_RULES {
                if constraint == Some(*name) || message.ends_with(columns) {
                    return Self::Conflict {
                        field,
                        message: text,
                    };
                }
            }
        }
        Self::Database { context, source }
    }
}

/// Adds context to a `sqlx` result: `query.fetch_one(c).await.ctx("loading the vehicle")?`.
pub(crate) trait ResultExt<T> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::db(context, e))
    }
}
