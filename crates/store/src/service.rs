//! The service-task catalog, service records and expenses, and cost totals.
//!
//! A service record's odometer and engine hours become meter readings
//! (source `service`) in the same transaction, and the tasks it lists advance
//! (or complete) the vehicle's maintenance schedules for them.

use std::str::FromStr;

use domain::ids::{TenantId, VehicleId};
use domain::meter::{MeterKind, MeterSource, MeterUnit, meter_value};
use domain::preferences::CurrencyCode;
use domain::service::{DEFAULT_TASKS, ExpenseCategory, LineKind, Recurrence};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::types::Json;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::due_state::reevaluate_vehicle;
use crate::error::ResultExt;
use crate::meters::{CurrentMeters, NewReading, ReadingOutcome, record_readings_in};
use crate::month_split::MonthSplit;
use crate::page::{Page, decode_cursor, page_limit};
use crate::schedules::advance_for_service;
use crate::{AuditContext, Mode, Store, StoreError, Tx, execute_tx, fetch_rows, on_tx};

/// A kind of row that belongs to a vehicle, for the shared delete path.
struct OwnedRow {
    /// Binds `$1` tenant, `$2` vehicle, `$3` row id.
    delete_sql: &'static str,
    action: &'static str,
    entity_type: &'static str,
}

/// A task of the tenant's catalog.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ServiceTask {
    pub id: Uuid,
    /// Stable identifier (`oil_change`), unique in the tenant.
    pub key: String,
    pub name: String,
}

/// One line of a service record, amounts in minor units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub kind: LineKind,
    pub description: String,
    pub part_number: Option<String>,
    /// Hours for labor, count for parts and fees.
    pub quantity: f64,
    /// Hourly rate for labor, price per unit otherwise.
    pub unit_cost_minor: i64,
    /// quantity × unit cost, rounded to the minor unit.
    pub amount_minor: i64,
}

/// A service record to store, already checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewServiceRecord {
    pub vehicle_id: VehicleId,
    pub performed_on: Date,
    /// When the meters were read (noon UTC of `performed_on` unless given).
    pub performed_at: OffsetDateTime,
    pub odometer_km: Option<f64>,
    pub engine_hours: Option<f64>,
    pub vendor: Option<String>,
    pub notes: Option<String>,
    pub currency: CurrencyCode,
    pub tax_minor: i64,
    pub discount_minor: i64,
    pub total_minor: i64,
    pub task_ids: Vec<Uuid>,
    pub line_items: Vec<LineItem>,
}

/// A stored service record.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    pub id: Uuid,
    pub record: NewServiceRecord,
    pub created_at: OffsetDateTime,
}

/// An expense to store, already checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExpense {
    pub vehicle_id: VehicleId,
    pub category: ExpenseCategory,
    pub spent_on: Date,
    pub amount_minor: i64,
    pub currency: CurrencyCode,
    pub recurrence: Option<Recurrence>,
    pub notes: Option<String>,
}

/// A stored expense.
#[derive(Debug, Clone, PartialEq)]
pub struct Expense {
    pub id: Uuid,
    pub expense: NewExpense,
}

/// Spend of one category in one month and currency.
#[derive(Debug, Clone, PartialEq)]
pub struct CostLine {
    /// `YYYY-MM`.
    pub month: String,
    /// `fuel`, `service`, or an expense category.
    pub category: String,
    pub currency: String,
    pub amount_minor: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct RecordRow {
    id: Uuid,
    vehicle_id: Uuid,
    performed_on: Date,
    odometer_km: Option<f64>,
    engine_hours: Option<f64>,
    vendor: Option<String>,
    notes: Option<String>,
    currency: String,
    tax_minor: i64,
    discount_minor: i64,
    total_minor: i64,
    task_ids: Json<Vec<Uuid>>,
    line_items: Json<Vec<LineItem>>,
    created_at: OffsetDateTime,
    performed_at: Option<OffsetDateTime>,
}

const RECORD_COLUMNS: &str =
    "id, vehicle_id, performed_on, odometer_km, engine_hours, vendor, notes, currency,
    tax_minor, discount_minor, total_minor, task_ids, line_items, created_at, performed_at";

impl TryFrom<RecordRow> for ServiceRecord {
    type Error = StoreError;
    fn try_from(r: RecordRow) -> Result<Self, StoreError> {
        Ok(ServiceRecord {
            id: r.id,
            record: NewServiceRecord {
                vehicle_id: r.vehicle_id.into(),
                performed_on: r.performed_on,
                // Records from before migration 7 read their meters at noon.
                performed_at: r.performed_at.unwrap_or_else(|| {
                    r.performed_on
                        .with_time(time::macros::time!(12:00))
                        .assume_utc()
                }),
                odometer_km: r.odometer_km,
                engine_hours: r.engine_hours,
                vendor: r.vendor,
                notes: r.notes,
                currency: CurrencyCode::parse(&r.currency).map_err(StoreError::Corrupt)?,
                tax_minor: r.tax_minor,
                discount_minor: r.discount_minor,
                total_minor: r.total_minor,
                task_ids: r.task_ids.0,
                line_items: r.line_items.0,
            },
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ExpenseRow {
    id: Uuid,
    vehicle_id: Uuid,
    category: String,
    spent_on: Date,
    amount_minor: i64,
    currency: String,
    recurrence: Option<String>,
    notes: Option<String>,
}

impl TryFrom<ExpenseRow> for Expense {
    type Error = StoreError;
    fn try_from(r: ExpenseRow) -> Result<Self, StoreError> {
        Ok(Expense {
            id: r.id,
            expense: NewExpense {
                vehicle_id: r.vehicle_id.into(),
                category: ExpenseCategory::from_str(&r.category).map_err(StoreError::Corrupt)?,
                spent_on: r.spent_on,
                amount_minor: r.amount_minor,
                currency: CurrencyCode::parse(&r.currency).map_err(StoreError::Corrupt)?,
                recurrence: r
                    .recurrence
                    .map(|v| Recurrence::from_str(&v))
                    .transpose()
                    .map_err(StoreError::Corrupt)?,
                notes: r.notes,
            },
        })
    }
}

/// Seeds a new tenant's task catalog (inside its creating transaction).
pub(crate) async fn seed_default_tasks(tx: &mut Tx, tenant: TenantId) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    for (key, name) in DEFAULT_TASKS {
        execute_tx!(
            tx,
            sqlx::query("INSERT INTO service_tasks (tenant_id, id, key, name, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(tenant.as_uuid())
                .bind(Uuid::now_v7())
                .bind(*key)
                .bind(*name)
                .bind(now)
        )
        .ctx("seeding the service-task catalog")?;
    }
    Ok(())
}

/// Records a service (its meters, the record, the schedules it advances)
/// inside the caller's transaction; the caller re-evaluates due states.
pub(crate) async fn insert_service_in(
    tx: &mut Tx,
    tenant: TenantId,
    new: &NewServiceRecord,
    max_daily_km: f64,
    import_key: Option<&str>,
    current: CurrentMeters,
) -> Result<RecordRow, StoreError> {
    for task in &new.task_ids {
        let known: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
            "SELECT 1 FROM service_tasks WHERE tenant_id = $1 AND id = $2"
        )
        .bind(tenant.as_uuid())
        .bind(*task)
        .fetch_optional(c)
        .await)
        .ctx("checking a service task")?;
        if known.is_none() {
            return Err(StoreError::Rule {
                field: "task_ids",
                message: format!("unknown service task {task}"),
            });
        }
    }
    let meters = [
        (
            MeterKind::Odometer,
            new.odometer_km,
            MeterUnit::Kilometres,
            "odometer",
        ),
        (
            MeterKind::Hours,
            new.engine_hours,
            MeterUnit::Hours,
            "engine_hours",
        ),
    ];
    for (kind, value, unit, field) in meters {
        let Some(value) = value else { continue };
        let value = meter_value(kind, value, unit)
            .map_err(|message| StoreError::Rule { field, message })?;
        let reading = NewReading {
            vehicle_id: new.vehicle_id,
            kind,
            read_at: new.performed_at,
            value,
            source: MeterSource::Service,
            note: None,
            void: false,
        };
        if let Some(ReadingOutcome::Rejected { message, .. }) =
            record_readings_in(tx, tenant, &[reading], max_daily_km, current)
                .await?
                .pop()
        {
            return Err(StoreError::Rule { field, message });
        }
    }
    let id = Uuid::now_v7();
    let row: RecordRow = on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO service_records (tenant_id, id, vehicle_id, performed_on, odometer_km, engine_hours, vendor,
                 notes, currency, tax_minor, discount_minor, total_minor, task_ids, line_items, created_at, import_key,
                 performed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING {RECORD_COLUMNS}"
        )))
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(new.vehicle_id.as_uuid())
        .bind(new.performed_on)
        .bind(new.odometer_km)
        .bind(new.engine_hours)
        .bind(new.vendor.as_deref())
        .bind(new.notes.as_deref())
        .bind(new.currency.as_str())
        .bind(new.tax_minor)
        .bind(new.discount_minor)
        .bind(new.total_minor)
        .bind(Json(&new.task_ids))
        .bind(Json(&new.line_items))
        .bind(OffsetDateTime::now_utc())
        .bind(import_key)
        .bind(new.performed_at)
        .fetch_one(c)
        .await)
        .ctx("recording a service")?;
    advance_for_service(tx, tenant, new).await?;
    Ok(row)
}

/// Detaches documents from a deleted record: they stay with the vehicle
/// (and keep their files) rather than pointing at nothing.
pub(crate) async fn unlink_documents(
    tx: &mut Tx,
    tenant: TenantId,
    record: Uuid,
) -> Result<(), StoreError> {
    execute_tx!(
        tx,
        sqlx::query(
            "UPDATE documents SET record_id = NULL WHERE tenant_id = $1 AND record_id = $2"
        )
        .bind(tenant.as_uuid())
        .bind(record)
    )
    .ctx("detaching documents from a deleted record")?;
    Ok(())
}

/// Records an expense inside the caller's transaction.
pub(crate) async fn insert_expense_in(
    tx: &mut Tx,
    tenant: TenantId,
    new: &NewExpense,
    import_key: Option<&str>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    execute_tx!(
            tx,
            sqlx::query(
                "INSERT INTO expenses (tenant_id, id, vehicle_id, category, spent_on, amount_minor, currency, recurrence, notes, created_at, import_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            )
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(new.vehicle_id.as_uuid())
            .bind(new.category.as_str())
            .bind(new.spent_on)
            .bind(new.amount_minor)
            .bind(new.currency.as_str())
            .bind(new.recurrence.map(|r| r.as_str()))
            .bind(new.notes.as_deref())
            .bind(OffsetDateTime::now_utc())
            .bind(import_key)
        )
        .ctx("recording an expense")?;
    Ok(id)
}

impl Store {
    /// The tenant's task catalog, by name.
    pub async fn list_service_tasks(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<ServiceTask>, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id, key, name FROM service_tasks WHERE tenant_id = $1 ORDER BY name"
        )
        .bind(tenant.as_uuid())
        .fetch_all(c)
        .await)
        .ctx("listing service tasks")
    }

    /// Adds a task to the catalog; `key` must be new in the tenant.
    pub async fn create_service_task(
        &self,
        tenant: TenantId,
        key: &str,
        name: &str,
        ctx: &AuditContext,
    ) -> Result<ServiceTask, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let task: ServiceTask = on_tx!(&mut tx, |c| sqlx::query_as(
            "INSERT INTO service_tasks (tenant_id, id, key, name, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING id, key, name"
        )
        .bind(tenant.as_uuid())
        .bind(Uuid::now_v7())
        .bind(key)
        .bind(name)
        .bind(OffsetDateTime::now_utc())
        .fetch_one(c)
        .await)
        .ctx("creating a service task")?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "service_task.create",
                entity_type: "service_task",
                entity_id: task.id.to_string(),
                before: None,
                after: Some(json!({"key": key, "name": name})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Records a service: its meters, its record, and the schedules it advances.
    #[tracing::instrument(skip_all)]
    pub async fn create_service_record(
        &self,
        tenant: TenantId,
        new: &NewServiceRecord,
        max_daily_km: f64,
        ctx: &AuditContext,
    ) -> Result<ServiceRecord, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        crate::meters::lock_live_vehicle(&mut tx, tenant, new.vehicle_id).await?;
        let row = insert_service_in(
            &mut tx,
            tenant,
            new,
            max_daily_km,
            None,
            CurrentMeters::Refresh,
        )
        .await?;
        let id = row.id;
        reevaluate_vehicle(
            &mut tx,
            tenant,
            new.vehicle_id,
            OffsetDateTime::now_utc().date(),
        )
        .await?;
        crate::spend::refresh_spend(&mut tx, tenant, new.vehicle_id, Some(new.performed_on))
            .await?;
        let mut stored = ServiceRecord::try_from(row)?;
        stored.record.performed_at = new.performed_at;
        record(&mut tx, tenant, ctx, Change {
            action: "service.create",
            entity_type: "service_record",
            entity_id: id.to_string(),
            before: None,
            after: Some(json!({
                "vehicle_id": new.vehicle_id, "performed_on": new.performed_on.to_string(), "total_minor": new.total_minor,
                "currency": new.currency.as_str(), "task_ids": new.task_ids, "odometer_km": new.odometer_km,
            })),
        })
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// A vehicle's service records, newest first.
    pub async fn list_service_records(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<ServiceRecord>, StoreError> {
        let before: Option<(Date, Uuid)> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        let rows: Vec<RecordRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM service_records WHERE tenant_id = $1 AND vehicle_id = $2
             AND ($3 IS NULL OR performed_on < $3 OR (performed_on = $3 AND id < $4))
             ORDER BY performed_on DESC, id DESC LIMIT $5"
        )))
            .bind(tenant.as_uuid())
            .bind(vehicle.as_uuid())
            .bind(before.map(|(d, _)| d))
            .bind(before.map(|(_, id)| id))
            .bind(limit + 1)
            .fetch_all(c)
            .await)
            .ctx("listing service records")?;
        let records = rows
            .into_iter()
            .map(ServiceRecord::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(records, limit, |r| {
            (r.record.performed_on, r.id)
        }))
    }

    /// Deletes a service record (its meter readings stay; schedules it advanced keep their dates).
    pub async fn delete_service_record(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        id: Uuid,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        const KIND: OwnedRow = OwnedRow {
            delete_sql: "DELETE FROM service_records WHERE tenant_id = $1 AND vehicle_id = $2 AND id = $3",
            action: "service.delete",
            entity_type: "service_record",
        };
        self.delete_vehicle_row(tenant, vehicle, id, &KIND, ctx)
            .await
    }

    /// Records an expense.
    pub async fn create_expense(
        &self,
        tenant: TenantId,
        new: &NewExpense,
        ctx: &AuditContext,
    ) -> Result<Expense, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        crate::meters::lock_live_vehicle(&mut tx, tenant, new.vehicle_id).await?;
        let id = insert_expense_in(&mut tx, tenant, new, None).await?;
        crate::spend::refresh_spend(&mut tx, tenant, new.vehicle_id, Some(new.spent_on)).await?;
        record(&mut tx, tenant, ctx, Change {
            action: "expense.create",
            entity_type: "expense",
            entity_id: id.to_string(),
            before: None,
            after: Some(json!({
                "vehicle_id": new.vehicle_id, "category": new.category.as_str(), "spent_on": new.spent_on.to_string(),
                "amount_minor": new.amount_minor, "currency": new.currency.as_str(),
            })),
        })
        .await?;
        tx.commit().await?;
        Ok(Expense {
            id,
            expense: new.clone(),
        })
    }

    /// A vehicle's expenses, newest first.
    pub async fn list_expenses(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Expense>, StoreError> {
        let before: Option<(Date, Uuid)> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        let rows: Vec<ExpenseRow> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id, vehicle_id, category, spent_on, amount_minor, currency, recurrence, notes FROM expenses
             WHERE tenant_id = $1 AND vehicle_id = $2 AND ($3 IS NULL OR spent_on < $3 OR (spent_on = $3 AND id < $4))
             ORDER BY spent_on DESC, id DESC LIMIT $5"
        )
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(before.map(|(d, _)| d))
        .bind(before.map(|(_, id)| id))
        .bind(limit + 1)
        .fetch_all(c)
        .await)
        .ctx("listing expenses")?;
        let items = rows
            .into_iter()
            .map(Expense::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |e| {
            (e.expense.spent_on, e.id)
        }))
    }

    /// Deletes an expense.
    pub async fn delete_expense(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        id: Uuid,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        const KIND: OwnedRow = OwnedRow {
            delete_sql: "DELETE FROM expenses WHERE tenant_id = $1 AND vehicle_id = $2 AND id = $3",
            action: "expense.delete",
            entity_type: "expense",
        };
        self.delete_vehicle_row(tenant, vehicle, id, &KIND, ctx)
            .await
    }

    /// Deletes one row belonging to a vehicle and audits it; NotFound when
    /// the row is not the vehicle's (or not the tenant's).
    async fn delete_vehicle_row(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        id: Uuid,
        kind: &OwnedRow,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        crate::meters::lock_vehicle(&mut tx, tenant, vehicle).await?;
        let n = execute_tx!(
            &mut tx,
            sqlx::query(kind.delete_sql)
                .bind(tenant.as_uuid())
                .bind(vehicle.as_uuid())
                .bind(id)
        )
        .ctx("deleting a vehicle's record")?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        unlink_documents(&mut tx, tenant, id).await?;
        // Service records and expenses are spend: recompute the vehicle's months.
        crate::spend::refresh_spend(&mut tx, tenant, vehicle, None).await?;
        let change = Change {
            action: kind.action,
            entity_type: kind.entity_type,
            entity_id: id.to_string(),
            before: None,
            after: None,
        };
        record(&mut tx, tenant, ctx, change).await?;
        tx.commit().await
    }

    /// Spend by month, category and currency — fuel, service and each expense
    /// category — for one vehicle or the whole tenant, in `[from, to)`.
    pub async fn costs(
        &self,
        tenant: TenantId,
        vehicle: Option<VehicleId>,
        from: Date,
        to: Date,
    ) -> Result<Vec<CostLine>, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        if let Some(v) = vehicle {
            self.vehicle_in(&mut tx, tenant, v).await?;
        }
        costs_in(&mut tx, tenant, vehicle, from, to).await
    }
}

/// [`Store::costs`] inside the caller's transaction (which has checked the
/// vehicle, if one is given).
pub(crate) async fn costs_in(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: Option<VehicleId>,
    from: Date,
    to: Date,
) -> Result<Vec<CostLine>, StoreError> {
    let vehicle = vehicle.map(|v| v.as_uuid());
    let split = MonthSplit::of(from.midnight().assume_utc(), to.midnight().assume_utc());
    let [from_day, head_end_day, tail_start_day, to_day] = split.days();
    // One vehicle's costs must use the (tenant, vehicle, date) indexes: an
    // `$2 IS NULL OR vehicle_id = $2` filter cannot, and scanned a whole
    // 10,000-vehicle tenant's year for one vehicle page (2.2 s).
    let scope = if vehicle.is_some() {
        "AND vehicle_id = $2"
    } else {
        "AND $2 IS NULL"
    };
    // The period's full months from `vehicle_monthly_costs`, its partial
    // first and last months from the fills, service records and expenses,
    // summed by month in one statement (each read is a round trip of the
    // vehicle page).
    let (fill_month, service_month, expense_month, rollup_month) = match tx {
        Tx::Postgres(_) => (
            "to_char(filled_at AT TIME ZONE 'UTC', 'YYYY-MM')",
            "to_char(performed_on, 'YYYY-MM')",
            "to_char(spent_on, 'YYYY-MM')",
            "to_char(month, 'YYYY-MM')",
        ),
        Tx::Sqlite(_) => (
            "substr(filled_at, 1, 7)",
            "substr(performed_on, 1, 7)",
            "substr(spent_on, 1, 7)",
            "substr(month, 1, 7)",
        ),
    };
    // The raw records between two parameters: timestamps (`at`) for the
    // fills, days (`on`) for the dated records.
    let raw = |[at_from, at_to]: [&str; 2], [on_from, on_to]: [&str; 2]| {
        format!(
            "SELECT {fill_month} AS month, 'fuel' AS category, currency, total_minor AS amount
               FROM fuel_entries WHERE tenant_id = $1 {scope}
                AND filled_at >= {at_from} AND filled_at < {at_to} AND total_minor IS NOT NULL
             UNION ALL
             SELECT {service_month}, 'service', currency, total_minor
               FROM service_records WHERE tenant_id = $1 {scope}
                AND performed_on >= {on_from} AND performed_on < {on_to}
             UNION ALL
             SELECT {expense_month}, category, currency, amount_minor
               FROM expenses WHERE tenant_id = $1 {scope} AND spent_on >= {on_from} AND spent_on < {on_to}"
        )
    };
    let select = format!(
        "SELECT month, category, currency, CAST(sum(amount) AS BIGINT) AS amount FROM (
             {head}
             UNION ALL
             {tail}
             UNION ALL
             SELECT {rollup_month}, category, currency, amount_minor FROM vehicle_monthly_costs
              WHERE tenant_id = $1 {scope} AND month >= $11 AND month < $12
         ) AS spent GROUP BY month, category, currency",
        head = raw(["$3", "$4"], ["$7", "$8"]),
        tail = raw(["$5", "$6"], ["$9", "$10"]),
    );
    let sums: Vec<(String, String, String, i64)> = fetch_rows!(
        tx,
        &select,
        sqlite(
            crate::json_rows::array(&["month", "category", "currency", "amount"]),
            "month, category, currency"
        ),
        |q| q
            .bind(tenant.as_uuid())
            .bind(vehicle)
            .bind(split.from)
            .bind(split.head_end)
            .bind(split.tail_start)
            .bind(split.to)
            .bind(from_day)
            .bind(head_end_day)
            .bind(tail_start_day)
            .bind(to_day)
            .bind(split.first_month)
            .bind(split.end_month)
    )
    .ctx("summing costs")?;
    // Grouped by the database; ordered here, by byte order whatever the
    // database's collation.
    let mut lines: Vec<CostLine> = sums
        .into_iter()
        .map(|(month, category, currency, amount_minor)| CostLine {
            month,
            category,
            currency,
            amount_minor,
        })
        .collect();
    lines.sort_by(|a, b| {
        (&a.month, &a.category, &a.currency).cmp(&(&b.month, &b.category, &b.currency))
    });
    Ok(lines)
}
