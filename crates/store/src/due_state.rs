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
//!
//! An "ok" schedule's forecast is not stored ([`DueState::to_stored`]), so
//! a stored "ok" state moves only at a threshold, and each vehicle keeps a
//! [`DueWatch`]: a live feed's batch reads the schedules only of vehicles
//! whose meters reached theirs. Reads fill the forecast in
//! ([`forecast_ok_schedules`]).

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::LazyLock;

use domain::due_watch::{DueWatch, WatchedSchedule};
use domain::ids::{TenantId, VehicleId};
use domain::maintenance::{Baseline, DueState, DueStatus, Interval, Now, evaluate, recheck_on};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::due_writes::{Moved, forget_watches, store_states, store_watch};
use crate::error::ResultExt;
use crate::reading_batch::push_in_list;
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

impl DueRow {
    /// The schedule evaluated at `now`: as a watch is computed from (and
    /// keeps a due-soon one), and what moved against the stored state
    /// (`Some` when the state or its recheck day did).
    fn evaluated(&self, now: &Now) -> Result<(WatchedSchedule, Option<Moved>), StoreError> {
        let (interval, window, last) =
            (self.due.interval(), self.due.window(), self.due.baseline());
        let state = evaluate(&interval, &window, &last, now).to_stored();
        let recheck = recheck_on(&window, now, &state);
        let moved = self.moved(&state, recheck)?;
        let watched = WatchedSchedule {
            interval,
            window,
            last,
            state,
            recheck_on: recheck,
        };
        Ok((watched, moved))
    }

    /// Evaluates the schedule against `now`; `Some` when the state moved.
    fn evaluate(&self, now: &Now) -> Result<Option<Moved>, StoreError> {
        Ok(self.evaluated(now)?.1)
    }

    /// Compares `state` and its `recheck` day, the schedule's at some
    /// moment, with the stored ones; `Some` when either moved.
    fn moved(&self, state: &DueState, recheck: Date) -> Result<Option<Moved>, StoreError> {
        let stored = self.due.stored()?;
        // Most evaluations find nothing changed: only what did is written
        // (and `updated_at` then says when the state last moved).
        let state_changed = !state.same_as(&stored);
        if !state_changed && recheck == self.recheck_on {
            return Ok(None);
        }
        let overdue_changed =
            (state.status == DueStatus::Overdue) != (stored.status == DueStatus::Overdue);
        Ok(Some(Moved {
            id: self.id,
            state: state.clone(),
            recheck_on: recheck,
            state_changed,
            overdue_changed,
        }))
    }
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
    let now = crate::usage::vehicle_meters(tx, tenant, vehicle)
        .await?
        .now(today);
    let mut moved = Vec::new();
    let mut states = Vec::with_capacity(rows.len());
    for r in &rows {
        let (watched, m) = r.evaluated(&now)?;
        moved.extend(m);
        states.push(watched);
    }
    store_states(tx, tenant, &moved).await?;
    let watch = DueWatch::over(&states, &now);
    store_watch(tx, tenant, vehicle, watch).await?;
    Ok(moved.iter().any(|m| m.overdue_changed))
}

/// Fills in the forecasts of the "ok" schedules among `schedules` (all of
/// `vehicle`), which are not stored ([`DueState::to_stored`]): computed from
/// the vehicle's stored meters and usage rates as of today, as evaluation
/// computes them. `meters` are the vehicle's, when the caller has read them
/// in this transaction already (`None`: read here).
pub(crate) async fn forecast_ok_schedules(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    meters: Option<VehicleMeters>,
    schedules: &mut [crate::schedules::Schedule],
) -> Result<(), StoreError> {
    if !schedules.iter().any(|s| s.state.status == DueStatus::Ok) {
        return Ok(());
    }
    let meters = match meters {
        Some(meters) => meters,
        None => crate::usage::vehicle_meters(tx, tenant, vehicle).await?,
    };
    forecast_ok(&meters, schedules);
    Ok(())
}

/// Fills in the forecasts of the "ok" schedules among `schedules`, all of
/// the vehicle whose stored `meters` are given ([`forecast_ok_schedules`]).
pub(crate) fn forecast_ok(meters: &VehicleMeters, schedules: &mut [crate::schedules::Schedule]) {
    let now = meters.now(OffsetDateTime::now_utc().date());
    for s in schedules
        .iter_mut()
        .filter(|s| s.state.status == DueStatus::Ok)
    {
        s.state.forecast = evaluate(&s.interval, &s.window, &s.last_done, &now).forecast;
    }
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

/// What re-evaluating after a meter move leaves to the caller, which writes
/// the vehicle rows once and rescores their health after.
#[derive(Debug, Default)]
pub(crate) struct AfterMeters {
    /// The new due watch of each vehicle that was evaluated (`None`: none,
    /// every reading evaluates it); a vehicle not here keeps its own.
    pub watches: HashMap<VehicleId, Option<DueWatch>>,
    /// Vehicles where a schedule entered or left "overdue", the one way
    /// meters reach health.
    pub rescore: BTreeSet<VehicleId>,
}

/// Recomputes the due states of `vehicles` after their meters moved (their
/// new meters given), in one read of their schedules and one batched write.
/// Only vehicles whose stored due watch (`watches`; one without a watch
/// always) says a state may have moved are read ([`DueWatch::moves`]): no
/// other can have a stored state moved by meters. This runs for the
/// vehicles of every ingest batch (at most
/// [`crate::reading_batch::IN_LIST_CHUNK`] at a time).
pub(crate) async fn reevaluate_after_meters(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[(VehicleId, VehicleMeters)],
    watches: &HashMap<VehicleId, DueWatch>,
    today: Date,
) -> Result<AfterMeters, StoreError> {
    #[derive(sqlx::FromRow)]
    struct VehicleDueRow {
        vehicle_id: Uuid,
        #[sqlx(flatten)]
        row: DueRow,
    }
    // Each vehicle's meters now, for the vehicles whose watch asks for
    // their schedules.
    let mut now: HashMap<Uuid, Now> = HashMap::new();
    let mut ids = Vec::new();
    for (vehicle, meters) in vehicles {
        let at = meters.now(today);
        if watches.get(vehicle).is_none_or(|w| w.moves(&at)) {
            now.insert(vehicle.as_uuid(), at);
            ids.push(*vehicle);
        }
    }
    if ids.is_empty() {
        return Ok(AfterMeters::default());
    }
    let rows: Vec<VehicleDueRow> = on_tx!(tx, |c| {
        let mut q = sqlx::QueryBuilder::new(SCHEDULES_OF_SQL.as_str());
        q.push_bind(tenant.as_uuid()).push(" AND s.vehicle_id");
        push_in_list(&mut q, &ids);
        q.build_query_as().fetch_all(c).await
    })
    .ctx("loading the vehicles' schedules")?;
    // Every evaluated vehicle gets a watch, one without schedules too.
    let mut states: HashMap<Uuid, Vec<WatchedSchedule>> =
        ids.iter().map(|v| (v.as_uuid(), Vec::new())).collect();
    let mut moved = Vec::new();
    let mut rescore = BTreeSet::new();
    for VehicleDueRow { vehicle_id, row } in &rows {
        let Some(now) = now.get(vehicle_id) else {
            continue;
        };
        let (watched, m) = row.evaluated(now)?;
        if let Some(m) = m {
            if m.overdue_changed {
                rescore.insert(VehicleId::from(*vehicle_id));
            }
            moved.push(m);
        }
        states.entry(*vehicle_id).or_default().push(watched);
    }
    store_states(tx, tenant, &moved).await?;
    let watches = states
        .into_iter()
        .filter_map(|(vehicle, states)| {
            let now = now.get(&vehicle)?;
            let watch = DueWatch::over(&states, now);
            Some((VehicleId::from(vehicle), watch))
        })
        .collect();
    Ok(AfterMeters { watches, rescore })
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
            let mut forget = Vec::new();
            let mut moved = Vec::new();
            for r in rows {
                let now = r.meters.now(today);
                let (mut overdue_changed, mut state_changed) = (false, false);
                count += r.schedules.0.len() as u64;
                for j in r.schedules.0 {
                    if let Some(m) = DueRow::from_json(j)?.evaluate(&now)? {
                        overdue_changed |= m.overdue_changed;
                        state_changed |= m.state_changed;
                        moved.push(m);
                    }
                }
                if overdue_changed {
                    rescore.push(r.vehicle_id);
                }
                if state_changed {
                    forget.push(VehicleId::from(r.vehicle_id));
                }
            }
            store_states(&mut tx, t, &moved).await?;
            forget_watches(&mut tx, t, &forget).await?;
            let now = OffsetDateTime::now_utc();
            for v in rescore {
                crate::health::refresh(&mut tx, t, v.into(), now).await?;
            }
            tx.commit().await?;
        }
        Ok(count)
    }
}
