//! Evaluating and storing maintenance due states.
//!
//! Every write that can move a vehicle's due states (its meters, its
//! schedules, its service history) re-evaluates that vehicle's schedules in
//! its transaction ([`reevaluate_vehicle`], [`reevaluate_after_meters`]).
//! What is left is the calendar: each schedule stores `recheck_on`, the first
//! day the calendar alone could move its state
//! ([`domain::maintenance::recheck_on`]), and the hourly pass
//! ([`Store::reevaluate_all_schedules`]) reads only the schedules whose day
//! has come. Moved states are written in batches; a vehicle's health is
//! rescored when one of its schedules enters or leaves "overdue".

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::LazyLock;

use domain::ids::{TenantId, VehicleId};
use domain::maintenance::{Baseline, DueState, DueStatus, Interval, Now, evaluate, recheck_on};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::ResultExt;
use crate::reading_batch::push_in_list;
use crate::schedules::far_future;
use crate::usage::VehicleMeters;
use crate::{Mode, Store, StoreError, Tx, on_tx};

/// A schedule's settings and stored due state: what the API's schedule rows
/// and evaluation both read.
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct DueColumns {
    interval_km: Option<f64>,
    interval_hours: Option<f64>,
    interval_days: Option<i64>,
    window_km: Option<f64>,
    window_hours: Option<f64>,
    window_days: Option<i64>,
    last_done_on: Date,
    last_done_km: Option<f64>,
    last_done_hours: Option<f64>,
    next_due_km: Option<f64>,
    next_due_hours: Option<f64>,
    next_due_on: Option<Date>,
    status: String,
    forecast_on: Option<Date>,
}

impl DueColumns {
    pub(crate) fn interval(&self) -> Interval {
        Interval {
            km: self.interval_km,
            hours: self.interval_hours,
            days: self.interval_days,
        }
    }

    pub(crate) fn window(&self) -> Interval {
        Interval {
            km: self.window_km,
            hours: self.window_hours,
            days: self.window_days,
        }
    }

    pub(crate) fn baseline(&self) -> Baseline {
        Baseline {
            date: self.last_done_on,
            km: self.last_done_km,
            hours: self.last_done_hours,
        }
    }

    /// The due state as stored.
    pub(crate) fn stored(&self) -> Result<DueState, StoreError> {
        Ok(DueState {
            next_km: self.next_due_km,
            next_hours: self.next_due_hours,
            next_date: self.next_due_on,
            status: DueStatus::from_str(&self.status).map_err(StoreError::Corrupt)?,
            forecast: self.forecast_on,
        })
    }
}

/// A schedule as evaluation reads it.
#[derive(sqlx::FromRow)]
struct DueRow {
    id: Uuid,
    #[sqlx(flatten)]
    due: DueColumns,
    recheck_on: Date,
}

const DUE_COLUMNS: &str = "s.id, s.interval_km, s.interval_hours, s.interval_days,
    s.window_km, s.window_hours, s.window_days, s.last_done_on, s.last_done_km, s.last_done_hours,
    s.next_due_km, s.next_due_hours, s.next_due_on, s.status, s.forecast_on, s.recheck_on";

/// A schedule whose due state (or the day it can next move) moved: its id,
/// the new state, and whether it entered or left "overdue" (which the
/// vehicle's health counts).
struct Moved {
    id: Uuid,
    state: DueState,
    recheck_on: Date,
    /// False when only `recheck_on` moved (`updated_at` then stays).
    state_changed: bool,
    overdue_changed: bool,
}

impl DueRow {
    /// Evaluates the schedule against `now`; `Some` when the state moved.
    fn evaluate(&self, now: &Now) -> Result<Option<Moved>, StoreError> {
        let window = self.due.window();
        let state = evaluate(&self.due.interval(), &window, &self.due.baseline(), now);
        let stored = self.due.stored()?;
        let recheck = recheck_on(&window, now, &state);
        // Most evaluations find nothing changed: only what did is written
        // (and `updated_at` then says when the state last moved).
        let state_changed = !same_state(&state, &stored);
        if !state_changed && recheck == self.recheck_on {
            return Ok(None);
        }
        let overdue_changed =
            (state.status == DueStatus::Overdue) != (stored.status == DueStatus::Overdue);
        Ok(Some(Moved {
            id: self.id,
            state,
            recheck_on: recheck,
            state_changed,
            overdue_changed,
        }))
    }
}

/// Whether two due states are the same, meters compared to a millionth of
/// a km or hour: a value that went through a text form (the fleet pass reads
/// schedules as JSON) may come back one unit in the last place off.
fn same_state(a: &DueState, b: &DueState) -> bool {
    let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-6,
        (x, y) => x.is_none() && y.is_none(),
    };
    close(a.next_km, b.next_km)
        && close(a.next_hours, b.next_hours)
        && a.next_date == b.next_date
        && a.status == b.status
        && a.forecast == b.forecast
}

/// One schedule of the fleet pass, as an element of its vehicle's JSON array
/// (the columns of [`DUE_COLUMNS`] in order; dates as ISO text).
type DueJson = (
    String,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<String>,
    String,
    Option<String>,
    String,
);

/// The fleet pass reads one row per vehicle: its meters and its active
/// schedules as one JSON array. Decoding 100,000 rows of 22 columns through
/// sqlx's SQLite driver took 0.6–1 s of a 10,000-vehicle pass; 10,000 rows
/// with one text column each take a fraction of that.
const FLEET_DUE_ELEMENTS: &str = "s.interval_km, s.interval_hours, s.interval_days,
    s.window_km, s.window_hours, s.window_days, s.last_done_on, s.last_done_km, s.last_done_hours,
    s.next_due_km, s.next_due_hours, s.next_due_on, s.status, s.forecast_on, s.recheck_on";

fn fleet_due_sql(backend: crate::BackendKind) -> String {
    // SQLite's JSON cannot hold a BLOB: the id goes as hex.
    let (aggregate, id) = match backend {
        crate::BackendKind::Sqlite => ("json_group_array(json_array", "hex(s.id)"),
        crate::BackendKind::Postgres => ("json_agg(json_build_array", "s.id"),
    };
    format!(
        "SELECT v.id AS vehicle_id, {meters}, {aggregate}({id}, {FLEET_DUE_ELEMENTS})) AS schedules
           FROM maintenance_schedules s
           JOIN vehicles v ON v.tenant_id = s.tenant_id AND v.id = s.vehicle_id
          WHERE s.tenant_id = $1 AND s.recheck_on <= $2 AND s.status <> 'completed'
          GROUP BY v.tenant_id, v.id",
        meters = crate::usage::VEHICLE_METER_COLUMNS
    )
}

fn iso_date(text: &str) -> Result<Date, StoreError> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|e| StoreError::Corrupt(format!("a schedule date {text:?}: {e}")))
}

impl DueRow {
    fn from_json(j: DueJson) -> Result<Self, StoreError> {
        let date = |d: Option<String>| d.as_deref().map(iso_date).transpose();
        Ok(DueRow {
            id: Uuid::parse_str(&j.0)
                .map_err(|e| StoreError::Corrupt(format!("a schedule id {:?}: {e}", j.0)))?,
            due: DueColumns {
                interval_km: j.1,
                interval_hours: j.2,
                interval_days: j.3,
                window_km: j.4,
                window_hours: j.5,
                window_days: j.6,
                last_done_on: iso_date(&j.7)?,
                last_done_km: j.8,
                last_done_hours: j.9,
                next_due_km: j.10,
                next_due_hours: j.11,
                next_due_on: date(j.12)?,
                status: j.13,
                forecast_on: date(j.14)?,
            },
            recheck_on: iso_date(&j.15)?,
        })
    }
}

/// Recomputes and stores the due state of every active schedule of a
/// vehicle. Returns whether a schedule entered or left "overdue".
async fn evaluate_vehicle(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    today: Date,
) -> Result<bool, StoreError> {
    let rows: Vec<DueRow> = on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DUE_COLUMNS} FROM maintenance_schedules s
          WHERE s.tenant_id = $1 AND s.vehicle_id = $2 AND s.status <> 'completed'"
    )))
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .fetch_all(c)
    .await)
    .ctx("loading a vehicle's schedules")?;
    if rows.is_empty() {
        return Ok(false);
    }
    let now = crate::usage::vehicle_meters(tx, tenant, vehicle)
        .await?
        .now(today);
    let mut moved = Vec::new();
    for r in &rows {
        moved.extend(r.evaluate(&now)?);
    }
    store_states(tx, tenant, &moved).await?;
    Ok(moved.iter().any(|m| m.overdue_changed))
}

/// Recomputes a vehicle's due states and its health (overdue maintenance
/// weighs on it), after a write to its schedules or service history.
pub(crate) async fn reevaluate_vehicle(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    today: Date,
) -> Result<(), StoreError> {
    evaluate_vehicle(tx, tenant, vehicle, today).await?;
    crate::health::refresh(tx, tenant, vehicle, OffsetDateTime::now_utc()).await?;
    Ok(())
}

/// The head of the read of many vehicles' schedules (their list follows),
/// built once: it runs for every ingest batch.
static SCHEDULES_OF_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT s.vehicle_id, {DUE_COLUMNS} FROM maintenance_schedules s
          WHERE s.status <> 'completed' AND s.tenant_id = "
    )
});

/// Recomputes the due states of `vehicles` after their meters moved (their
/// new meters given), in one read of their schedules and one batched write;
/// a vehicle's health only when one of its schedules entered or left
/// "overdue", the one way meters reach it. This runs for the vehicles of
/// every ingest batch (at most [`crate::reading_batch::IN_LIST_CHUNK`] at a time).
pub(crate) async fn reevaluate_after_meters(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[(VehicleId, VehicleMeters)],
    today: Date,
) -> Result<(), StoreError> {
    #[derive(sqlx::FromRow)]
    struct VehicleDueRow {
        vehicle_id: Uuid,
        #[sqlx(flatten)]
        row: DueRow,
    }
    let ids: Vec<VehicleId> = vehicles.iter().map(|(v, _)| *v).collect();
    let rows: Vec<VehicleDueRow> = on_tx!(tx, |c| {
        let mut q = sqlx::QueryBuilder::new(SCHEDULES_OF_SQL.as_str());
        q.push_bind(tenant.as_uuid()).push(" AND s.vehicle_id");
        push_in_list(&mut q, &ids);
        q.build_query_as().fetch_all(c).await
    })
    .ctx("loading the vehicles' schedules")?;
    if rows.is_empty() {
        return Ok(());
    }
    let now: HashMap<Uuid, Now> = vehicles
        .iter()
        .map(|(v, meters)| (v.as_uuid(), meters.now(today)))
        .collect();
    let mut moved = Vec::new();
    let mut rescore = BTreeSet::new();
    for VehicleDueRow { vehicle_id, row } in &rows {
        let Some(now) = now.get(vehicle_id) else {
            continue;
        };
        if let Some(m) = row.evaluate(now)? {
            if m.overdue_changed {
                rescore.insert(VehicleId::from(*vehicle_id));
            }
            moved.push(m);
        }
    }
    store_states(tx, tenant, &moved).await?;
    let at = OffsetDateTime::now_utc();
    for vehicle in rescore {
        crate::health::refresh(tx, tenant, vehicle, at).await?;
    }
    Ok(())
}

/// Writes moved due states: on PostgreSQL one `UPDATE … FROM unnest(…)` per
/// 10,000 schedules, on SQLite an `UPDATE … FROM` a `VALUES` list per 500
/// (see `fuel_batch::store_segments` for why both batch).
async fn store_states(tx: &mut Tx, tenant: TenantId, moved: &[Moved]) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    match tx {
        Tx::Postgres(t) => {
            for chunk in moved.chunks(10_000) {
                let column = |f: &dyn Fn(&Moved) -> Option<f64>| -> Vec<Option<f64>> {
                    chunk.iter().map(f).collect()
                };
                let ids: Vec<Uuid> = chunk.iter().map(|m| m.id).collect();
                let next_km = column(&|m| m.state.next_km);
                let next_hours = column(&|m| m.state.next_hours);
                let next_on: Vec<Option<Date>> = chunk.iter().map(|m| m.state.next_date).collect();
                let status: Vec<&str> = chunk.iter().map(|m| m.state.status.as_str()).collect();
                let urgency: Vec<i32> = chunk.iter().map(|m| m.state.status.urgency()).collect();
                let forecast: Vec<Option<Date>> = chunk.iter().map(|m| m.state.forecast).collect();
                let sort: Vec<Date> = chunk
                    .iter()
                    .map(|m| m.state.forecast.unwrap_or_else(far_future))
                    .collect();
                let recheck: Vec<Date> = chunk.iter().map(|m| m.recheck_on).collect();
                let changed: Vec<bool> = chunk.iter().map(|m| m.state_changed).collect();
                sqlx::query(
                    "UPDATE maintenance_schedules AS s
                        SET next_due_km = u.next_km, next_due_hours = u.next_hours, next_due_on = u.next_on,
                            status = u.status, urgency = u.urgency, forecast_on = u.forecast,
                            forecast_sort = u.sort, recheck_on = u.recheck,
                            updated_at = CASE WHEN u.changed THEN $2 ELSE s.updated_at END
                       FROM unnest($3::uuid[], $4::float8[], $5::float8[], $6::date[], $7::text[], $8::int4[],
                                   $9::date[], $10::date[], $11::date[], $12::bool[])
                            AS u(id, next_km, next_hours, next_on, status, urgency, forecast, sort, recheck, changed)
                      WHERE s.tenant_id = $1 AND s.id = u.id",
                )
                .bind(tenant.as_uuid())
                .bind(now)
                .bind(ids)
                .bind(next_km)
                .bind(next_hours)
                .bind(next_on)
                .bind(status)
                .bind(urgency)
                .bind(forecast)
                .bind(sort)
                .bind(recheck)
                .bind(changed)
                .execute(&mut **t)
                .await
                .ctx("storing due states")?;
            }
        }
        Tx::Sqlite(t) => {
            // 10 parameters per row: 500 rows stay far below SQLite's limit.
            for chunk in moved.chunks(500) {
                let mut q = sqlx::QueryBuilder::new(
                    "WITH u(id, next_km, next_hours, next_on, status, urgency, forecast, sort, recheck, changed) AS (",
                );
                q.push_values(chunk, |mut row, m| {
                    row.push_bind(m.id)
                        .push_bind(m.state.next_km)
                        .push_bind(m.state.next_hours)
                        .push_bind(m.state.next_date)
                        .push_bind(m.state.status.as_str())
                        .push_bind(m.state.status.urgency())
                        .push_bind(m.state.forecast)
                        .push_bind(m.state.forecast.unwrap_or_else(far_future))
                        .push_bind(m.recheck_on)
                        .push_bind(m.state_changed);
                });
                q.push(
                    ") UPDATE maintenance_schedules
                        SET next_due_km = u.next_km, next_due_hours = u.next_hours, next_due_on = u.next_on,
                            status = u.status, urgency = u.urgency, forecast_on = u.forecast,
                            forecast_sort = u.sort, recheck_on = u.recheck,
                            updated_at = CASE WHEN u.changed THEN ",
                );
                q.push_bind(now);
                q.push(" ELSE maintenance_schedules.updated_at END");
                q.push(" FROM u WHERE maintenance_schedules.tenant_id = ");
                q.push_bind(tenant.as_uuid());
                q.push(" AND maintenance_schedules.id = u.id");
                q.build()
                    .execute(&mut **t)
                    .await
                    .ctx("storing due states")?;
            }
        }
    }
    Ok(())
}

impl Store {
    /// Brings every tenant's due states up to `today` (the calendar moves on
    /// even when nothing is written). Every write re-evaluates what it
    /// touches, so only schedules whose `recheck_on` has come can move: one
    /// indexed query per tenant reads those with their vehicles' stored
    /// meters and usage rates, the moved states are written in batches, and
    /// only vehicles where a schedule entered or left "overdue" are rescored.
    /// Returns how many schedules were rechecked.
    #[tracing::instrument(skip_all)]
    pub async fn reevaluate_all_schedules(&self, today: Date) -> Result<u64, StoreError> {
        let mut count = 0;
        for tenant in self.list_tenants().await? {
            let t = tenant.id;
            let mut tx = self.begin(Mode::Write, Some(t)).await?;
            // Vehicles whose rates were never computed (readings from before
            // rates were kept): once each.
            crate::usage::refresh_tenant_rates(&mut tx, t, today, crate::usage::RateScope::Unrated)
                .await?;
            #[derive(sqlx::FromRow)]
            struct VehicleDue {
                vehicle_id: Uuid,
                #[sqlx(flatten)]
                meters: crate::usage::VehicleMeters,
                schedules: sqlx::types::Json<Vec<DueJson>>,
            }
            let rows: Vec<VehicleDue> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
                fleet_due_sql(self.kind())
            ))
            .bind(t.as_uuid())
            .bind(today)
            .fetch_all(c)
            .await)
            .ctx("loading the tenant's schedules")?;
            let mut rescore = Vec::new();
            let mut moved = Vec::new();
            for r in rows {
                let now = r.meters.now(today);
                let mut overdue_changed = false;
                count += r.schedules.0.len() as u64;
                for j in r.schedules.0 {
                    if let Some(m) = DueRow::from_json(j)?.evaluate(&now)? {
                        overdue_changed |= m.overdue_changed;
                        moved.push(m);
                    }
                }
                if overdue_changed {
                    rescore.push(r.vehicle_id);
                }
            }
            store_states(&mut tx, t, &moved).await?;
            let now = OffsetDateTime::now_utc();
            for v in rescore {
                crate::health::refresh(&mut tx, t, v.into(), now).await?;
            }
            tx.commit().await?;
        }
        Ok(count)
    }
}
