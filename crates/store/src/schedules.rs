//! Maintenance schedules and their stored due state.
//!
//! The due state (next due per dimension, status, forecast) is computed by
//! `domain::maintenance::evaluate` and **stored** (see [`crate::due_state`]),
//! updated on every write that can change it: a schedule edit, a service
//! record listing the task, a meter change, and a periodic pass for the
//! calendar. The tenant-wide due list is then one indexed query, however
//! large the fleet. An "ok" schedule's forecast is the exception: it moves
//! with nearly every reading, so it is computed when its vehicle's
//! schedules are read ([`crate::due_state::forecast_ok_schedules`]).

use std::sync::LazyLock;

use domain::ids::{TenantId, VehicleId};
use domain::maintenance::{Baseline, DueState, DueStatus, Interval};
use serde_json::json;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::due_state::{DueColumns, forecast_ok, forecast_ok_schedules, reevaluate_vehicle};
use crate::error::ResultExt;
use crate::json_rows::{self, Kind};
use crate::page::{Page, decode_cursor, page_limit};
use crate::service::NewServiceRecord;
use crate::usage::VehicleMeters;
use crate::{
    AuditContext, BackendKind, Mode, Store, StoreError, Tx, execute_tx, fetch_rows, on_tx,
};

/// A schedule to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    pub task_id: Uuid,
    pub one_off: bool,
    pub interval: Interval,
    /// The due-soon window per dimension.
    pub window: Interval,
    /// When it was last done (or when counting starts); `None` = today at the current meters.
    pub last_done: Option<Baseline>,
}

/// A stored schedule with its due state.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub vehicle_name: String,
    pub task_id: Uuid,
    pub task_name: String,
    pub one_off: bool,
    pub interval: Interval,
    pub window: Interval,
    pub last_done: Baseline,
    pub state: DueState,
    pub updated_at: OffsetDateTime,
}

/// A schedule as stored: a row, or on SQLite an object of a vehicle's
/// schedules fetched as one JSON row ([`schedules_in`], `json_rows`).
#[derive(sqlx::FromRow, serde::Deserialize)]
struct ScheduleRow {
    id: Uuid,
    vehicle_id: Uuid,
    vehicle_name: String,
    task_id: Uuid,
    task_name: String,
    one_off: bool,
    #[sqlx(flatten)]
    #[serde(flatten)]
    due: DueColumns,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

const COLUMNS: &str = "s.id, s.vehicle_id, v.name AS vehicle_name, s.task_id, t.name AS task_name, s.one_off,
    s.interval_km, s.interval_hours, s.interval_days, s.window_km, s.window_hours, s.window_days,
    s.last_done_on, s.last_done_km, s.last_done_hours, s.next_due_km, s.next_due_hours, s.next_due_on,
    s.status, s.forecast_on, s.updated_at";
const FROM: &str = "maintenance_schedules s
    JOIN vehicles v ON v.tenant_id = s.tenant_id AND v.id = s.vehicle_id
    JOIN service_tasks t ON t.tenant_id = s.tenant_id AND t.id = s.task_id";

/// Sorts last in the due list: schedules with no forecast.
pub(crate) fn far_future() -> Date {
    Date::from_calendar_date(9999, time::Month::December, 31).unwrap_or(Date::MAX)
}

impl TryFrom<ScheduleRow> for Schedule {
    type Error = StoreError;
    fn try_from(r: ScheduleRow) -> Result<Self, StoreError> {
        Ok(Schedule {
            id: r.id,
            vehicle_id: r.vehicle_id.into(),
            vehicle_name: r.vehicle_name,
            task_id: r.task_id,
            task_name: r.task_name,
            one_off: r.one_off,
            interval: r.due.interval(),
            window: r.due.window(),
            last_done: r.due.baseline(),
            state: r.due.stored()?,
            updated_at: r.updated_at,
        })
    }
}

/// A service record listing tasks moves those tasks' schedules: recurring
/// ones restart from the service (if it is their newest), one-off ones complete.
pub(crate) async fn advance_for_service(
    tx: &mut Tx,
    tenant: TenantId,
    service: &NewServiceRecord,
) -> Result<(), StoreError> {
    for task in &service.task_ids {
        execute_tx!(
            tx,
            sqlx::query(
                "UPDATE maintenance_schedules SET last_done_on = $4,
                     last_done_km = COALESCE($5, last_done_km), last_done_hours = COALESCE($6, last_done_hours)
                 WHERE tenant_id = $1 AND vehicle_id = $2 AND task_id = $3 AND status <> 'completed'
                   AND last_done_on <= $4"
            )
            .bind(tenant.as_uuid())
            .bind(service.vehicle_id.as_uuid())
            .bind(*task)
            .bind(service.performed_on)
            .bind(service.odometer_km)
            .bind(service.engine_hours)
        )
        .ctx("advancing schedules")?;
        execute_tx!(
            tx,
            sqlx::query(
                "UPDATE maintenance_schedules SET status = 'completed', urgency = 3, forecast_on = NULL, forecast_sort = $4
                 WHERE tenant_id = $1 AND vehicle_id = $2 AND task_id = $3 AND one_off = $5"
            )
            .bind(tenant.as_uuid())
            .bind(service.vehicle_id.as_uuid())
            .bind(*task)
            .bind(far_future())
            .bind(true)
        )
        .ctx("completing one-off schedules")?;
    }
    Ok(())
}

async fn fetch(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Schedule, StoreError> {
    let row: Option<ScheduleRow> = on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE s.tenant_id = $1 AND s.id = $2"
    )))
    .bind(tenant.as_uuid())
    .bind(id)
    .fetch_optional(c)
    .await)
    .ctx("loading a schedule")?;
    let mut schedule: Schedule = row.ok_or(StoreError::NotFound)?.try_into()?;
    let vehicle = schedule.vehicle_id;
    forecast_ok_schedules(
        tx,
        tenant,
        vehicle,
        None,
        std::slice::from_mut(&mut schedule),
    )
    .await?;
    Ok(schedule)
}

pub(crate) async fn insert(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    new: &NewSchedule,
    today: Date,
) -> Result<Uuid, StoreError> {
    let last = match new.last_done {
        Some(b) => b,
        None => {
            let (km, hours): (Option<f64>, Option<f64>) = on_tx!(tx, |c| {
                sqlx::query_as(
                "SELECT odometer_km, engine_hours FROM vehicles WHERE tenant_id = $1 AND id = $2"
            )
            .bind(tenant.as_uuid())
            .bind(vehicle.as_uuid())
            .fetch_one(c)
            .await
            })
            .ctx("loading a vehicle's meters")?;
            Baseline {
                date: today,
                km: km.or(Some(0.0)),
                hours: hours.or(Some(0.0)),
            }
        }
    };
    let id = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO maintenance_schedules (tenant_id, id, vehicle_id, task_id, one_off, interval_km, interval_hours,
                 interval_days, window_km, window_hours, window_days, last_done_on, last_done_km, last_done_hours,
                 status, urgency, forecast_sort, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'ok', 2, $15, $16, $16)"
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(vehicle.as_uuid())
        .bind(new.task_id)
        .bind(new.one_off)
        .bind(new.interval.km)
        .bind(new.interval.hours)
        .bind(new.interval.days)
        .bind(new.window.km)
        .bind(new.window.hours)
        .bind(new.window.days)
        .bind(last.date)
        .bind(last.km)
        .bind(last.hours)
        .bind(far_future())
        .bind(now)
    )
    .ctx("creating a schedule")?;
    Ok(id)
}

async fn check_task(tx: &mut Tx, tenant: TenantId, task: Uuid) -> Result<(), StoreError> {
    let known: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT 1 FROM service_tasks WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant.as_uuid())
    .bind(task)
    .fetch_optional(c)
    .await)
    .ctx("checking a service task")?;
    known.map(drop).ok_or(StoreError::Rule {
        field: "task_id",
        message: "no such service task".into(),
    })
}

/// The due list's position after which the next page starts.
type DueCursor = (i32, Date, Uuid);

impl Store {
    /// Creates a schedule for one vehicle and evaluates it.
    #[tracing::instrument(skip_all)]
    pub async fn create_schedule(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        new: &NewSchedule,
        ctx: &AuditContext,
    ) -> Result<Schedule, StoreError> {
        let ids = self.apply_schedule(tenant, &[vehicle], new, ctx).await?;
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        fetch(&mut tx, tenant, ids[0]).await
    }

    /// Applies one schedule template to many vehicles in one transaction
    /// (all or none). Returns the new schedules' ids.
    #[tracing::instrument(skip_all, fields(vehicles = vehicles.len()))]
    pub async fn apply_schedule(
        &self,
        tenant: TenantId,
        vehicles: &[VehicleId],
        new: &NewSchedule,
        ctx: &AuditContext,
    ) -> Result<Vec<Uuid>, StoreError> {
        let today = OffsetDateTime::now_utc().date();
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        // Each vehicle's due watch is computed from all its schedules: lock
        // the vehicles first, or two schedules created at once each store a
        // watch without the other.
        crate::meters::lock_vehicles(&mut tx, tenant, vehicles).await?;
        check_task(&mut tx, tenant, new.task_id).await?;
        let mut ids = Vec::with_capacity(vehicles.len());
        for vehicle in vehicles {
            self.vehicle_in(&mut tx, tenant, *vehicle)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => StoreError::Rule {
                        field: "vehicle_ids",
                        message: format!("no such vehicle {vehicle}"),
                    },
                    other => other,
                })?;
            ids.push(insert(&mut tx, tenant, *vehicle, new, today).await?);
            reevaluate_vehicle(&mut tx, tenant, *vehicle, today).await?;
        }
        record(&mut tx, tenant, ctx, Change {
            action: if ids.len() == 1 { "schedule.create" } else { "schedule.apply" },
            entity_type: "maintenance_schedule",
            entity_id: if ids.len() == 1 { ids[0].to_string() } else { "bulk".into() },
            before: None,
            after: Some(json!({
                "task_id": new.task_id, "vehicles": vehicles.len(), "interval_km": new.interval.km,
                "interval_hours": new.interval.hours, "interval_days": new.interval.days, "one_off": new.one_off,
            })),
        })
        .await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// One schedule.
    pub async fn schedule(&self, tenant: TenantId, id: Uuid) -> Result<Schedule, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        fetch(&mut tx, tenant, id).await
    }

    /// Changes a schedule's intervals, window or baseline; the due state follows.
    #[tracing::instrument(skip_all)]
    pub async fn update_schedule(
        &self,
        tenant: TenantId,
        id: Uuid,
        interval: Interval,
        window: Interval,
        last_done: Baseline,
        ctx: &AuditContext,
    ) -> Result<Schedule, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        // The vehicle locked before its schedules are read (see `apply_schedule`).
        let vehicle = fetch(&mut tx, tenant, id).await?.vehicle_id;
        crate::meters::lock_vehicle(&mut tx, tenant, vehicle).await?;
        let before = fetch(&mut tx, tenant, id).await?;
        execute_tx!(
            &mut tx,
            sqlx::query(
                "UPDATE maintenance_schedules SET interval_km = $3, interval_hours = $4, interval_days = $5, window_km = $6,
                     window_hours = $7, window_days = $8, last_done_on = $9, last_done_km = $10, last_done_hours = $11
                 WHERE tenant_id = $1 AND id = $2"
            )
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(interval.km)
            .bind(interval.hours)
            .bind(interval.days)
            .bind(window.km)
            .bind(window.hours)
            .bind(window.days)
            .bind(last_done.date)
            .bind(last_done.km)
            .bind(last_done.hours)
        )
        .ctx("updating a schedule")?;
        reevaluate_vehicle(
            &mut tx,
            tenant,
            before.vehicle_id,
            OffsetDateTime::now_utc().date(),
        )
        .await?;
        let after = fetch(&mut tx, tenant, id).await?;
        record(&mut tx, tenant, ctx, Change {
            action: "schedule.update",
            entity_type: "maintenance_schedule",
            entity_id: id.to_string(),
            before: Some(json!({"interval": before.interval, "last_done_on": before.last_done.date.to_string()})),
            after: Some(json!({"interval": after.interval, "last_done_on": after.last_done.date.to_string()})),
        })
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a schedule.
    pub async fn delete_schedule(
        &self,
        tenant: TenantId,
        id: Uuid,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        // The vehicle locked before its health is recomputed from its
        // schedules (see `apply_schedule`).
        let vehicle = fetch(&mut tx, tenant, id).await?.vehicle_id;
        crate::meters::lock_vehicle(&mut tx, tenant, vehicle).await?;
        let deleted: Option<(Uuid, String)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "DELETE FROM maintenance_schedules WHERE tenant_id = $1 AND id = $2 RETURNING vehicle_id, status"
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(c)
        .await)
        .ctx("deleting a schedule")?;
        let (vehicle, status) = deleted.ok_or(StoreError::NotFound)?;
        // An overdue schedule weighed on the vehicle's health; now it does not.
        if status == DueStatus::Overdue.as_str() {
            crate::health::refresh(&mut tx, tenant, vehicle.into(), OffsetDateTime::now_utc())
                .await?;
        }
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "schedule.delete",
                entity_type: "maintenance_schedule",
                entity_id: id.to_string(),
                before: None,
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }

    /// A vehicle's schedules, most urgent first.
    pub async fn list_schedules(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
    ) -> Result<Vec<Schedule>, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        schedules_in(&mut tx, tenant, vehicle, None).await
    }

    /// Everything due soon or overdue across the tenant (of live vehicles),
    /// most urgent first: overdue before due soon, then by forecast date.
    /// Reads stored due state through one index.
    pub async fn due_list(
        &self,
        tenant: TenantId,
        overdue_only: bool,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Schedule>, StoreError> {
        let after: Option<DueCursor> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let max_urgency = if overdue_only { 0 } else { 1 };
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let rows: Vec<ScheduleRow> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE s.tenant_id = $1 AND s.urgency <= $2 AND v.deleted_at IS NULL
             AND ($3 IS NULL OR s.urgency > $3 OR (s.urgency = $3 AND (s.forecast_sort > $4
                  OR (s.forecast_sort = $4 AND s.id > $5))))
             ORDER BY s.urgency, s.forecast_sort, s.id LIMIT $6"
        )))
        .bind(tenant.as_uuid())
        .bind(max_urgency)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(after.map(|a| a.2))
        .bind(limit + 1)
        .fetch_all(c)
        .await)
        .ctx("listing due maintenance")?;
        let items = rows
            .into_iter()
            .map(Schedule::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |s| {
            (
                s.state.status.urgency(),
                s.state.forecast.unwrap_or_else(far_future),
                s.id,
            )
        }))
    }
}

/// A vehicle's schedules (`$1` the tenant, `$2` the vehicle) in no order,
/// with the stored order's keys: [`schedules_in`] reads it, and the vehicle
/// page as a JSON column of its first statement
/// ([`vehicle_schedules_column`]).
static VEHICLE_SCHEDULES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {COLUMNS}, s.urgency, s.forecast_sort FROM {FROM}
          WHERE s.tenant_id = $1 AND s.vehicle_id = $2"
    )
});

/// [`VEHICLE_SCHEDULES`]' order, most urgent first by the stored state.
const VEHICLE_SCHEDULES_ORDER: &str = "urgency, forecast_sort, id";

/// A row of [`VEHICLE_SCHEDULES`] as a SQLite JSON object (`json_rows`).
static SQLITE_ROW: LazyLock<String> = LazyLock::new(|| {
    let real = |name| (name, Kind::Real);
    json_rows::object(
        COLUMNS,
        &[
            ("id", Kind::Blob),
            ("vehicle_id", Kind::Blob),
            ("task_id", Kind::Blob),
            ("one_off", Kind::Bool),
            real("interval_km"),
            real("interval_hours"),
            real("window_km"),
            real("window_hours"),
            real("last_done_km"),
            real("last_done_hours"),
            real("next_due_km"),
            real("next_due_hours"),
        ],
    )
});

/// A vehicle's schedules, most urgent first, inside the caller's transaction
/// (which has checked the vehicle). `meters`: the vehicle's, if the caller
/// has read them already (the "ok" schedules' forecasts need them).
pub(crate) async fn schedules_in(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    meters: Option<VehicleMeters>,
) -> Result<Vec<Schedule>, StoreError> {
    static SELECT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{} ORDER BY s.urgency, s.forecast_sort, s.id",
            *VEHICLE_SCHEDULES
        )
    });
    let rows: Vec<ScheduleRow> = fetch_rows!(
        tx,
        &SELECT,
        sqlite(&*SQLITE_ROW, VEHICLE_SCHEDULES_ORDER),
        |q| q.bind(tenant.as_uuid()).bind(vehicle.as_uuid())
    )
    .ctx("listing a vehicle's schedules")?;
    let mut schedules = to_schedules(rows)?;
    forecast_ok_schedules(tx, tenant, vehicle, meters, &mut schedules).await?;
    by_urgency(&mut schedules);
    Ok(schedules)
}

/// A vehicle's schedules as one JSON array, a column of another statement
/// whose `$1` is the tenant and `$2` the vehicle (the vehicle page's first
/// statement: a round trip fewer); read it with [`schedules_from_column`].
pub(crate) fn vehicle_schedules_column(kind: BackendKind) -> String {
    json_rows::array_column(
        kind,
        &SQLITE_ROW,
        VEHICLE_SCHEDULES_ORDER,
        &VEHICLE_SCHEDULES,
    )
}

/// The schedules of a [`vehicle_schedules_column`], their "ok" forecasts
/// computed from the vehicle's `meters`, most urgent first: what
/// [`schedules_in`] returns.
pub(crate) fn schedules_from_column(
    text: &str,
    meters: &VehicleMeters,
) -> Result<Vec<Schedule>, StoreError> {
    let rows: Vec<ScheduleRow> = json_rows::decode(text).ctx("reading a vehicle's schedules")?;
    let mut schedules = to_schedules(rows)?;
    forecast_ok(meters, &mut schedules);
    by_urgency(&mut schedules);
    Ok(schedules)
}

fn to_schedules(rows: Vec<ScheduleRow>) -> Result<Vec<Schedule>, StoreError> {
    rows.into_iter().map(Schedule::try_from).collect()
}

/// Most urgent first, then by forecast: after the "ok" forecasts are filled
/// in (the stored order has none for them).
fn by_urgency(schedules: &mut [Schedule]) {
    schedules.sort_by_key(|s| {
        (
            s.state.status.urgency(),
            s.state.forecast.unwrap_or_else(far_future),
            s.id,
        )
    });
}
