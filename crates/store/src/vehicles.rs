//! Vehicles: the first tenant-owned entity, and the pattern later ones follow
//! (tenant predicate on every query, audit entry in the same transaction,
//! soft delete, keyset pagination).

use std::str::FromStr;
use std::sync::LazyLock;

use domain::health::RiskLevel;
use domain::ids::{TenantId, VehicleId};
use domain::vehicle::{FuelType, OdometerUnit, VehicleSpec, VehicleStatus, VehicleType};
use domain::vin::Vin;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::types::Json;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::json_rows::{self, Kind};
use crate::page::{Page, decode_cursor, page_limit};
use crate::{AuditContext, BackendKind, Mode, Store, StoreError, Tx, execute_tx, on_tx, on_warm};

/// A stored vehicle: its validated fields plus identity and timestamps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vehicle {
    pub id: VehicleId,
    pub tenant_id: TenantId,
    #[serde(flatten)]
    pub spec: VehicleSpec,
    /// The current meters, from the latest live readings (maintained on write).
    pub meters: CurrentMeters,
    /// The stored health score and risk level (the explanation is served
    /// separately); maintained when faults or maintenance state change.
    pub health: HealthSummary,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A vehicle's current odometer (km) and engine hours, with when each was read.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct CurrentMeters {
    pub odometer_km: Option<f64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub odometer_at: Option<OffsetDateTime>,
    pub engine_hours: Option<f64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub hours_at: Option<OffsetDateTime>,
}

/// A vehicle's health score (0–100) and risk level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HealthSummary {
    pub score: u8,
    pub risk: RiskLevel,
}

/// A vehicle as stored: a row on PostgreSQL, a JSON object of a listed page
/// on SQLite ([`list_json_object`]).
#[derive(sqlx::FromRow, Deserialize)]
pub(crate) struct VehicleRow {
    health_score: i16,
    risk_rank: i16,
    odometer_km: Option<f64>,
    #[serde(with = "time::serde::rfc3339::option")]
    odometer_at: Option<OffsetDateTime>,
    engine_hours: Option<f64>,
    #[serde(with = "time::serde::rfc3339::option")]
    hours_at: Option<OffsetDateTime>,
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    unit_number: Option<String>,
    vin: Option<String>,
    vin_warning: Option<String>,
    plate: Option<String>,
    year: Option<i32>,
    make: Option<String>,
    model: Option<String>,
    trim: Option<String>,
    vehicle_type: String,
    fuel_types: Json<Vec<FuelType>>,
    odometer_unit: String,
    in_service_date: Option<Date>,
    status: String,
    tags: Json<Vec<String>>,
    custom_fields: Json<Map<String, Value>>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, tenant_id, name, unit_number, vin, vin_warning, plate, year, make, model, trim,
    vehicle_type, fuel_types, odometer_unit, in_service_date, status, tags, custom_fields, created_at, updated_at,
    odometer_km, odometer_at, engine_hours, hours_at, health_score, risk_rank";

/// [`COLUMNS`] as the JSON object SQLite returns for each vehicle of a
/// listed page (see `json_rows`).
fn list_json_object() -> &'static str {
    static OBJECT: LazyLock<String> = LazyLock::new(|| {
        json_rows::object(
            COLUMNS,
            &[
                ("id", Kind::Blob),
                ("tenant_id", Kind::Blob),
                ("odometer_km", Kind::Real),
                ("engine_hours", Kind::Real),
                ("fuel_types", Kind::Json),
                ("tags", Kind::Json),
                ("custom_fields", Kind::Json),
            ],
        )
    });
    &OBJECT
}

impl TryFrom<VehicleRow> for Vehicle {
    type Error = StoreError;
    fn try_from(r: VehicleRow) -> Result<Self, StoreError> {
        let spec = VehicleSpec {
            name: r.name,
            unit_number: r.unit_number,
            vin: r
                .vin
                .map(|v| Vin::parse(&v).map_err(|e| StoreError::Corrupt(e.to_string())))
                .transpose()?,
            vin_warning: r.vin_warning,
            plate: r.plate,
            year: r.year,
            make: r.make,
            model: r.model,
            trim: r.trim,
            vehicle_type: VehicleType::from_str(&r.vehicle_type).map_err(StoreError::Corrupt)?,
            fuel_types: r.fuel_types.0,
            odometer_unit: OdometerUnit::from_str(&r.odometer_unit).map_err(StoreError::Corrupt)?,
            in_service_date: r.in_service_date,
            status: VehicleStatus::from_str(&r.status).map_err(StoreError::Corrupt)?,
            tags: r.tags.0,
            custom_fields: r.custom_fields.0,
        };
        Ok(Vehicle {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            spec,
            meters: CurrentMeters {
                odometer_km: r.odometer_km,
                odometer_at: r.odometer_at,
                engine_hours: r.engine_hours,
                hours_at: r.hours_at,
            },
            health: HealthSummary {
                score: u8::try_from(r.health_score.clamp(0, 100)).unwrap_or(100),
                risk: RiskLevel::ALL
                    .iter()
                    .copied()
                    .find(|l| i16::from(l.rank()) == r.risk_rank)
                    .ok_or_else(|| StoreError::Corrupt(format!("risk rank {}", r.risk_rank)))?,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Binds a spec's 16 columns, in `INSERT`/`UPDATE` column order, onto a query.
macro_rules! bind_spec {
    ($query:expr, $spec:expr) => {
        $query
            .bind(&$spec.name)
            .bind($spec.unit_number.as_deref())
            .bind($spec.vin.as_ref().map(Vin::as_str))
            .bind($spec.vin_warning.as_deref())
            .bind($spec.plate.as_deref())
            .bind($spec.year)
            .bind($spec.make.as_deref())
            .bind($spec.model.as_deref())
            .bind($spec.trim.as_deref())
            .bind($spec.vehicle_type.as_str())
            .bind(Json(&$spec.fuel_types))
            .bind($spec.odometer_unit.as_str())
            .bind($spec.in_service_date)
            .bind($spec.status.as_str())
            .bind(Json(&$spec.tags))
            .bind(Json(&$spec.custom_fields))
    };
}

impl Vehicle {
    fn audit_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The orders a vehicle list can come in. Every order ends with the id, so
/// it is total and a keyset cursor is unambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VehicleSort {
    #[default]
    Name,
    NameDesc,
    Year,
    YearDesc,
    Created,
    CreatedDesc,
    /// Least healthy first.
    Health,
    HealthDesc,
    /// Lowest risk first (`-risk`: most at risk first).
    Risk,
    RiskDesc,
}

impl VehicleSort {
    pub const ALL: [(&'static str, VehicleSort); 10] = [
        ("name", Self::Name),
        ("-name", Self::NameDesc),
        ("year", Self::Year),
        ("-year", Self::YearDesc),
        ("created", Self::Created),
        ("-created", Self::CreatedDesc),
        ("health", Self::Health),
        ("-health", Self::HealthDesc),
        ("risk", Self::Risk),
        ("-risk", Self::RiskDesc),
    ];

    /// The SQL expression sorted on (before the id) and whether it descends.
    fn key(self) -> (Option<&'static str>, bool) {
        match self {
            Self::Name => (Some("name"), false),
            Self::NameDesc => (Some("name"), true),
            Self::Year => (Some("COALESCE(year, 0)"), false),
            Self::YearDesc => (Some("COALESCE(year, 0)"), true),
            Self::Created => (None, false),
            Self::CreatedDesc => (None, true),
            Self::Health => (Some("health_score"), false),
            Self::HealthDesc => (Some("health_score"), true),
            Self::Risk => (Some("risk_rank"), false),
            Self::RiskDesc => (Some("risk_rank"), true),
        }
    }
}

impl FromStr for VehicleSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.iter().find(|(name, _)| *name == s).map(|(_, v)| *v).ok_or_else(|| {
            format!("unknown sort `{s}`: expected one of name, -name, year, -year, created, -created, health, -health, risk, -risk")
        })
    }
}

/// Which vehicles to list; filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct VehicleFilter {
    pub status: Option<VehicleStatus>,
    /// Exact make, case-insensitive.
    pub make: Option<String>,
    pub year_min: Option<i32>,
    pub year_max: Option<i32>,
    pub risk: Option<RiskLevel>,
    /// Substring of name, VIN, plate or unit number, case-insensitive.
    pub q: Option<String>,
    pub sort: VehicleSort,
    pub cursor: Option<String>,
    pub limit: u32,
}

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleCursor {
    /// The sort key of the last row (text for name, number for year).
    #[serde(default)]
    k: Option<Value>,
    id: Uuid,
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Inserts a vehicle inside the caller's transaction (not audited; the
/// caller audits). `import_key` is the id it was exported under, if any.
pub(crate) async fn insert_vehicle_in(
    tx: &mut Tx,
    tenant: TenantId,
    spec: &VehicleSpec,
    import_key: Option<&str>,
) -> Result<Vehicle, StoreError> {
    let id = VehicleId::new();
    let now = OffsetDateTime::now_utc();
    let row: VehicleRow = on_tx!(tx, |c| bind_spec!(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO vehicles (tenant_id, id, name, unit_number, vin, vin_warning, plate, year, make, model,
             trim, vehicle_type, fuel_types, odometer_unit, in_service_date, status, tags, custom_fields,
             created_at, updated_at, import_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $20)
         RETURNING {COLUMNS}"
    )))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid()), spec)
    .bind(now)
    .bind(import_key)
    .fetch_one(c)
    .await)
    .ctx("creating a vehicle")?;
    Vehicle::try_from(row)
}

impl Store {
    #[tracing::instrument(skip_all)]
    pub async fn create_vehicle(
        &self,
        tenant: TenantId,
        spec: &VehicleSpec,
        ctx: &AuditContext,
    ) -> Result<Vehicle, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let vehicle = insert_vehicle_in(&mut tx, tenant, spec, None).await?;
        let id = vehicle.id;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "vehicle.create",
                entity_type: "vehicle",
                entity_id: id.to_string(),
                before: None,
                after: Some(vehicle.audit_json()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(vehicle)
    }

    /// A live vehicle of the tenant; another tenant's id is simply not found.
    #[tracing::instrument(skip_all)]
    pub async fn vehicle(&self, tenant: TenantId, id: VehicleId) -> Result<Vehicle, StoreError> {
        // One statement, on a kept connection (`warm_connections.rs`). It
        // is its own snapshot and names the tenant: SQLite needs no
        // transaction (BEGIN and the ROLLBACK of dropping one were two of
        // the four round trips to sqlx's SQLite worker thread that `GET` one
        // vehicle made). On PostgreSQL row-level security needs the tenant
        // set for the statement: the function sets it and reads, in one
        // round trip instead of three (migration 18).
        // Built once: this runs on every `GET` of a vehicle.
        static SQLITE: LazyLock<String> = LazyLock::new(live_vehicle_sql);
        static POSTGRES: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {COLUMNS} FROM tenant_vehicle($1, $2)"));
        let sql: &'static str = match self.kind() {
            BackendKind::Sqlite => &SQLITE,
            BackendKind::Postgres => &POSTGRES,
        };
        let row: Option<VehicleRow> = on_warm!(self, |c| sqlx::query_as(sql)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(c)
            .await)
        .ctx("loading a vehicle")?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Replaces a vehicle's editable fields.
    #[tracing::instrument(skip_all)]
    pub async fn update_vehicle(
        &self,
        tenant: TenantId,
        id: VehicleId,
        spec: &VehicleSpec,
        ctx: &AuditContext,
    ) -> Result<Vehicle, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let lock = if self.kind() == BackendKind::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let before: Option<VehicleRow> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM vehicles WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL{lock}"
        )))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(c)
        .await)
        .ctx("loading a vehicle to update")?;
        let before = Vehicle::try_from(before.ok_or(StoreError::NotFound)?)?;
        let row: VehicleRow = on_tx!(&mut tx, |c| bind_spec!(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE vehicles SET name = $3, unit_number = $4, vin = $5, vin_warning = $6, plate = $7, year = $8,
                 make = $9, model = $10, trim = $11, vehicle_type = $12, fuel_types = $13, odometer_unit = $14,
                 in_service_date = $15, status = $16, tags = $17, custom_fields = $18, updated_at = $19
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
             RETURNING {COLUMNS}"
        )))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid()), spec)
        .bind(OffsetDateTime::now_utc())
        .fetch_one(c)
        .await)
        .ctx("updating a vehicle")?;
        let after = Vehicle::try_from(row)?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "vehicle.update",
                entity_type: "vehicle",
                entity_id: id.to_string(),
                before: Some(before.audit_json()),
                after: Some(after.audit_json()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Soft-deletes a vehicle: gone from every read, kept for history, and
    /// its VIN is free for a new vehicle.
    #[tracing::instrument(skip_all)]
    pub async fn delete_vehicle(
        &self,
        tenant: TenantId,
        id: VehicleId,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let n = execute_tx!(&mut tx, sqlx::query(
            "UPDATE vehicles SET deleted_at = $3 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(OffsetDateTime::now_utc()))
        .ctx("deleting a vehicle")?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "vehicle.delete",
                entity_type: "vehicle",
                entity_id: id.to_string(),
                before: None,
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }

    /// Lists a tenant's live vehicles, one page at a time.
    #[tracing::instrument(skip_all)]
    pub async fn list_vehicles(
        &self,
        tenant: TenantId,
        filter: &VehicleFilter,
    ) -> Result<Page<Vehicle>, StoreError> {
        let (key, desc) = filter.sort.key();
        let after: Option<VehicleCursor> =
            filter.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = page_limit(filter.limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        // SQLite returns the page as one JSON row (see `json_rows`): the
        // page's SELECT becomes a subquery of the aggregate.
        let as_json = matches!(tx, Tx::Sqlite(_));
        let dir = if desc { "DESC" } else { "ASC" };
        let order = match key {
            Some(expr) => format!("{expr} {dir}, id {dir}"),
            None => format!("id {dir}"),
        };
        let rows: Vec<VehicleRow> = on_tx!(&mut tx, |c| {
            let select = format!("SELECT {COLUMNS} FROM vehicles WHERE tenant_id = ");
            let mut q = sqlx::QueryBuilder::new(if as_json {
                json_rows::aggregate_open(list_json_object(), &order) + &select
            } else {
                select
            });
            q.push_bind(tenant.as_uuid())
                .push(" AND deleted_at IS NULL");
            if let Some(status) = filter.status {
                q.push(" AND status = ").push_bind(status.as_str());
            }
            if let Some(make) = &filter.make {
                q.push(" AND lower(make) = ")
                    .push_bind(make.trim().to_lowercase());
            }
            if let Some(min) = filter.year_min {
                q.push(" AND year >= ").push_bind(min);
            }
            if let Some(max) = filter.year_max {
                q.push(" AND year <= ").push_bind(max);
            }
            if let Some(risk) = filter.risk {
                q.push(" AND risk_rank = ")
                    .push_bind(i16::from(risk.rank()));
            }
            if let Some(text) = filter.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                let pattern = like_pattern(text);
                q.push(" AND (");
                for (i, column) in ["name", "vin", "plate", "unit_number"].iter().enumerate() {
                    if i > 0 {
                        q.push(" OR ");
                    }
                    q.push(format!("lower({column}) LIKE "))
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\'");
                }
                q.push(")");
            }
            let op = if desc { "<" } else { ">" };
            if let Some(cursor) = &after {
                match (key, &cursor.k) {
                    (Some("name"), Some(Value::String(k))) => {
                        q.push(format!(" AND (name {op} ")).push_bind(k.clone());
                        q.push(" OR (name = ").push_bind(k.clone());
                        q.push(format!(" AND id {op} "))
                            .push_bind(cursor.id)
                            .push("))");
                    }
                    (Some(expr), Some(Value::Number(k))) => {
                        let k = k.as_i64().unwrap_or_default();
                        q.push(format!(" AND ({expr} {op} ")).push_bind(k);
                        q.push(format!(" OR ({expr} = ")).push_bind(k);
                        q.push(format!(" AND id {op} "))
                            .push_bind(cursor.id)
                            .push("))");
                    }
                    (None, _) => {
                        q.push(format!(" AND id {op} ")).push_bind(cursor.id);
                    }
                    _ => {}
                }
            }
            q.push(format!(" ORDER BY {order} LIMIT "))
                .push_bind(limit + 1);
            if as_json {
                q.push(json_rows::AGGREGATE_CLOSE);
                q.build_query_scalar::<String>()
                    .fetch_one(c)
                    .await
                    .and_then(|text| json_rows::decode(&text))
            } else {
                q.build_query_as().fetch_all(c).await
            }
        })
        .ctx("listing vehicles")?;
        let items = rows
            .into_iter()
            .map(Vehicle::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |v| {
            let k = match key {
                Some("name") => Some(Value::String(v.spec.name.clone())),
                Some("health_score") => Some(Value::from(v.health.score)),
                Some("risk_rank") => Some(Value::from(v.health.risk.rank())),
                Some(_) => Some(Value::from(v.spec.year.unwrap_or(0))),
                None => None,
            };
            VehicleCursor {
                k,
                id: v.id.as_uuid(),
            }
        }))
    }
}

/// One live vehicle of a tenant by id (`$1` tenant, `$2` id).
fn live_vehicle_sql() -> String {
    live_vehicle_sql_with("")
}

/// [`live_vehicle_sql`] with more select-list items after the vehicle's
/// columns (`extra` starts with a comma), read in the same statement.
pub(crate) fn live_vehicle_sql_with(extra: &str) -> String {
    format!(
        "SELECT {COLUMNS}{extra} FROM vehicles WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("Ab%_\\"), "%ab\\%\\_\\\\%");
    }

    #[test]
    fn sorts_parse() {
        for (name, sort) in VehicleSort::ALL {
            assert_eq!(name.parse::<VehicleSort>(), Ok(sort));
        }
        assert!("colour".parse::<VehicleSort>().is_err());
    }
}
