//! Each vehicle's usage rate (km and engine hours per day), kept on the
//! vehicle row so that due forecasts never read raw readings.
//!
//! The rate comes from `vehicle_daily_meters`: one row per vehicle, meter and
//! day holding the day's last live reading (effective value, offsets
//! included), maintained on ingest by a multi-row upsert that only moves a
//! day's value later in time. [`domain::maintenance::daily_rate`] over those
//! day values weighs day-to-day usage; over raw readings taken every few
//! minutes it only saw the pairs that crossed midnight.
//!
//! The rate moves whenever a vehicle's current meter does (every ingest
//! batch, void, offset). It covers the last [`RATE_WINDOW_DAYS`] days, and
//! is kept with its running sums ([`DailyRateSums`], on the vehicle row): an
//! ingest batch whose days all fall on or after a meter's latest day — a
//! live feed's every batch — advances the sums by the days it recorded
//! ([`MeterRates::advance`]); anything else (a late reading for an earlier
//! day, a void, an offset, an import, a new day for the window) recomputes
//! them from the stored days ([`sums_of`]), the once-a-day cost per vehicle
//! of a live feed. A rate whose meter has no reading inside the window any
//! more is not used (see [`VehicleMeters::now`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::LazyLock;

use domain::ids::{TenantId, VehicleId};
use domain::maintenance::{Now, RATE_WINDOW_DAYS};
use domain::meter::MeterKind;
use domain::usage_rate::DailyRateSums;
use time::{Date, Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::error::ResultExt;
use crate::meters::{Reading, load_offsets, offset_at};
use crate::reading_batch::push_in_list;
use crate::{StoreError, Tx, execute_tx, on_tx};

/// Rows per multi-row upsert (6 parameters each).
const UPSERT_CHUNK: usize = 1_000;

fn day_of(at: OffsetDateTime) -> Date {
    at.to_offset(UtcOffset::UTC).date()
}

/// The first day kept: the window, and a day's margin for the clock.
pub(crate) fn window_start(today: Date) -> Date {
    today - Duration::days(RATE_WINDOW_DAYS + 1)
}

/// The day values an ingest batch left in `vehicle_daily_meters`, by meter,
/// in day order: what [`MeterRates::advance`] takes.
pub(crate) type RecordedDays = HashMap<(VehicleId, MeterKind), Vec<(Date, f64)>>;

/// Folds newly recorded readings into their days (live ones only), and
/// returns the days' values as they now stand.
///
/// `ahead` names the meters whose stored readings are all older than the
/// batch's (what a live feed's batches are: [`crate::latest_meters::Latest::window_from`]
/// settled their windows). A day of theirs already stored holds an earlier
/// reading, so the batch's last reading of the day is what the day now
/// holds: their rows are written without reading them back. The others'
/// days (a late reading, an import) come back from the upsert, since a
/// later reading already stored keeps its day.
pub(crate) async fn record_days(
    tx: &mut Tx,
    tenant: TenantId,
    readings: &[Reading],
    ahead: &HashSet<(VehicleId, MeterKind)>,
) -> Result<RecordedDays, StoreError> {
    // (vehicle, meter, day) -> (last at, its value); history older than the
    // window (an import of past years) is never read, so not kept.
    let oldest = window_start(OffsetDateTime::now_utc().date());
    let mut known: BTreeMap<(VehicleId, &'static str, Date), (i64, f64)> = BTreeMap::new();
    let mut unknown: BTreeMap<_, (i64, f64)> = BTreeMap::new();
    for r in readings
        .iter()
        .filter(|r| !r.void && day_of(r.read_at) >= oldest)
    {
        let days = if ahead.contains(&(r.vehicle_id, r.kind)) {
            &mut known
        } else {
            &mut unknown
        };
        let at = r.read_at.unix_timestamp();
        days.entry((r.vehicle_id, r.kind.as_str(), day_of(r.read_at)))
            .and_modify(|d| {
                if at > d.0 {
                    *d = (at, r.effective);
                }
            })
            .or_insert((at, r.effective));
    }
    let known: Vec<_> = known.into_iter().collect();
    upsert(tx, tenant, &known, ReadBack::No).await?;
    let unknown: Vec<_> = unknown.into_iter().collect();
    let stored = upsert(tx, tenant, &unknown, ReadBack::Yes).await?;
    let known_days = known
        .iter()
        .map(|((v, k, d), (_, value))| (*v, *k, *d, *value));
    let stored_days = stored
        .iter()
        .map(|(v, k, d, value)| (VehicleId::from(*v), k.as_str(), *d, *value));
    let mut days = RecordedDays::new();
    for (vehicle, kind, day, value) in known_days.chain(stored_days) {
        let kind = MeterKind::from_str(kind).map_err(StoreError::Corrupt)?;
        days.entry((vehicle, kind)).or_default().push((day, value));
    }
    for series in days.values_mut() {
        series.sort_unstable_by_key(|(day, _)| *day);
    }
    Ok(days)
}

type DayRow = ((VehicleId, &'static str, Date), (i64, f64));

/// Whether an upsert returns the rows it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadBack {
    Yes,
    No,
}

/// Both right-hand sides of the upsert read the row as it was: a day's
/// later reading already stored wins.
const KEEP_LATER_DAY: &str = " ON CONFLICT (tenant_id, vehicle_id, kind, day) DO UPDATE SET
    last_value = CASE WHEN excluded.last_at > d.last_at THEN excluded.last_value ELSE d.last_value END,
    last_at = CASE WHEN excluded.last_at > d.last_at THEN excluded.last_at ELSE d.last_at END";

/// The day rows as they stand after the upsert.
const RETURNING_DAYS: &str = " RETURNING vehicle_id, kind, day, last_value";

/// A stored day: (vehicle, meter, day, value).
type StoredDay = (Uuid, String, Date, f64);

/// Upserts day rows; with [`ReadBack::Yes`], returns them as they now
/// stand (on SQLite every returned row is a message from the connection's
/// thread, so a live feed's rows, already known, are not returned).
async fn upsert(
    tx: &mut Tx,
    tenant: TenantId,
    rows: &[DayRow],
    read_back: ReadBack,
) -> Result<Vec<StoredDay>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let returning = match read_back {
        ReadBack::Yes => RETURNING_DAYS,
        ReadBack::No => "",
    };
    let mut stored: Vec<StoredDay> = Vec::new();
    if let Tx::Postgres(t) = tx {
        // One statement of arrays: the same text whatever the row count, so
        // it is prepared once per connection (a VALUES list of a batch's
        // thousand days was a new statement to parse and plan every time).
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "INSERT INTO vehicle_daily_meters AS d (tenant_id, vehicle_id, kind, day, last_at, last_value)
                 SELECT $1, u.* FROM unnest($2::uuid[], $3::text[], $4::date[], $5::int8[], $6::float8[])
                     AS u(vehicle_id, kind, day, last_at, last_value){KEEP_LATER_DAY}"
            )
        });
        let query = sqlx::query_as(sqlx::AssertSqlSafe(format!("{}{returning}", SQL.as_str())))
            .bind(tenant.as_uuid())
            .bind(
                rows.iter()
                    .map(|((v, _, _), _)| v.as_uuid())
                    .collect::<Vec<Uuid>>(),
            )
            .bind(rows.iter().map(|((_, k, _), _)| *k).collect::<Vec<&str>>())
            .bind(
                rows.iter()
                    .map(|((_, _, day), _)| *day)
                    .collect::<Vec<Date>>(),
            )
            .bind(rows.iter().map(|(_, (at, _))| *at).collect::<Vec<i64>>())
            .bind(
                rows.iter()
                    .map(|(_, (_, value))| *value)
                    .collect::<Vec<f64>>(),
            );
        stored = query
            .fetch_all(&mut **t)
            .await
            .ctx("recording daily meters")?;
    } else {
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let returned: Vec<StoredDay> = on_tx!(tx, |c| {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO vehicle_daily_meters AS d
                         (tenant_id, vehicle_id, kind, day, last_at, last_value) ",
                );
                q.push_values(chunk, |mut b, ((vehicle, kind, day), (at, value))| {
                    b.push_bind(tenant.as_uuid())
                        .push_bind(vehicle.as_uuid())
                        .push_bind(*kind)
                        .push_bind(*day)
                        .push_bind(*at)
                        .push_bind(*value);
                });
                q.push(KEEP_LATER_DAY).push(returning);
                q.build_query_as().fetch_all(c).await
            })
            .ctx("recording daily meters")?;
            stored.extend(returned);
        }
    }
    Ok(stored)
}

/// Rebuilds a meter's days from the day of `from` on, after a reading was
/// voided or restored or an offset changed effective values. Days before the
/// rate window are not rebuilt: nothing reads them again. One index lookup
/// per day of the window.
pub(crate) async fn refresh_days(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    kind: MeterKind,
    from: OffsetDateTime,
) -> Result<(), StoreError> {
    let (t, v) = (tenant.as_uuid(), vehicle.as_uuid());
    execute_tx!(
        tx,
        sqlx::query(
            "DELETE FROM vehicle_daily_meters WHERE tenant_id = $1 AND vehicle_id = $2 AND kind = $3 AND day >= $4"
        )
        .bind(t)
        .bind(v)
        .bind(kind.as_str())
        .bind(day_of(from))
    )
    .ctx("clearing daily meters")?;
    let latest: Option<OffsetDateTime> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT max(read_at) FROM meter_readings
          WHERE tenant_id = $1 AND vehicle_id = $2 AND kind = $3 AND NOT void"
    )
    .bind(t)
    .bind(v)
    .bind(kind.as_str())
    .fetch_one(c)
    .await)
    .ctx("finding the latest reading")?;
    let Some(latest) = latest else {
        return Ok(());
    };
    let offsets = load_offsets(tx, tenant, vehicle, kind).await?;
    let mut rows = Vec::new();
    let mut day = day_of(from).max(window_start(OffsetDateTime::now_utc().date()));
    while day <= day_of(latest) {
        let (begin, end) = (
            day.midnight().assume_utc(),
            (day + Duration::days(1)).midnight().assume_utc(),
        );
        let last: Option<(OffsetDateTime, f64)> = on_tx!(tx, |c| sqlx::query_as(
            "SELECT read_at, canonical FROM meter_readings
              WHERE tenant_id = $1 AND vehicle_id = $2 AND kind = $3 AND NOT void
                AND read_at >= $4 AND read_at < $5
              ORDER BY read_at DESC LIMIT 1"
        )
        .bind(t)
        .bind(v)
        .bind(kind.as_str())
        .bind(begin)
        .bind(end)
        .fetch_optional(c)
        .await)
        .ctx("reading a day's last reading")?;
        if let Some((at, raw)) = last {
            rows.push((
                (vehicle, kind.as_str(), day),
                (at.unix_timestamp(), raw + offset_at(&offsets, at)),
            ));
        }
        day += Duration::days(1);
    }
    upsert(tx, tenant, &rows, ReadBack::No).await?;
    Ok(())
}

/// A vehicle's usage rates as running sums, one per meter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MeterRates {
    pub odometer: DailyRateSums,
    pub hours: DailyRateSums,
}

impl MeterRates {
    /// No days in the window yet.
    fn new(today: Date) -> Self {
        MeterRates {
            odometer: DailyRateSums::new(today),
            hours: DailyRateSums::new(today),
        }
    }

    fn meter(&mut self, kind: MeterKind) -> &mut DailyRateSums {
        match kind {
            MeterKind::Odometer => &mut self.odometer,
            MeterKind::Hours => &mut self.hours,
        }
    }

    /// (km a day, hours a day).
    pub(crate) fn rates(&self) -> (Option<f64>, Option<f64>) {
        (self.odometer.rate(), self.hours.rate())
    }

    /// The sums as stored on the vehicle row (JSON text).
    pub(crate) fn to_columns(self) -> (Option<String>, Option<String>) {
        let text = |sums: &DailyRateSums| serde_json::to_string(sums).ok();
        (text(&self.odometer), text(&self.hours))
    }

    /// `vehicle`'s stored sums advanced by the days an ingest batch recorded,
    /// or `None` when they cannot be: sums missing or unreadable (the next
    /// refresh recomputes them, so a damaged column heals itself), taken on
    /// another day (the window moved), or a recorded day before a meter's
    /// latest (the sums only extend the series at its end).
    pub(crate) fn advance(
        stored: (Option<&str>, Option<&str>),
        vehicle: VehicleId,
        recorded: &RecordedDays,
        today: Date,
    ) -> Option<MeterRates> {
        let parse = |text: Option<&str>| {
            text.and_then(|t| serde_json::from_str::<DailyRateSums>(t).ok())
                .filter(|sums| sums.as_of == today)
        };
        let mut rates = MeterRates {
            odometer: parse(stored.0)?,
            hours: parse(stored.1)?,
        };
        let first_day = today - Duration::days(RATE_WINDOW_DAYS);
        for kind in [MeterKind::Odometer, MeterKind::Hours] {
            let sums = rates.meter(kind);
            for (day, value) in recorded.get(&(vehicle, kind)).into_iter().flatten() {
                if *day >= first_day && !sums.push(*day, *value) {
                    return None;
                }
            }
        }
        Some(rates)
    }
}

/// The rate sums of `vehicles` (at most [`crate::reading_batch::IN_LIST_CHUNK`]),
/// computed from their days in the window in one statement; every vehicle
/// has an entry (empty sums when it has no days).
pub(crate) async fn sums_of(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
    today: Date,
) -> Result<HashMap<Uuid, MeterRates>, StoreError> {
    let days: Vec<(Uuid, String, Date, f64)> = on_tx!(tx, |c| {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT vehicle_id, kind, day, last_value FROM vehicle_daily_meters WHERE tenant_id = ",
        );
        q.push_bind(tenant.as_uuid())
            .push(" AND day >= ")
            .push_bind(today - Duration::days(RATE_WINDOW_DAYS))
            .push(" AND vehicle_id");
        push_in_list(&mut q, vehicles);
        q.push(" ORDER BY vehicle_id, kind, day");
        q.build_query_as().fetch_all(c).await
    })
    .ctx("loading daily meters")?;
    let mut sums: HashMap<Uuid, MeterRates> = vehicles
        .iter()
        .map(|v| (v.as_uuid(), MeterRates::new(today)))
        .collect();
    fold_days(&mut sums, &days, today)?;
    Ok(sums)
}

/// Folds days, ordered by vehicle, meter and day, into the sums of the
/// vehicles `sums` holds (days of others are skipped): each meter's series
/// through [`DailyRateSums::push`], which [`domain::usage_rate::daily_rate`]
/// is the fold of, so the weighting is defined in one place.
fn fold_days(
    sums: &mut HashMap<Uuid, MeterRates>,
    days: &[(Uuid, String, Date, f64)],
    today: Date,
) -> Result<(), StoreError> {
    for group in days.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
        let (vehicle, kind) = (group[0].0, group[0].1.as_str());
        let Some(rates) = sums.get_mut(&vehicle) else {
            continue;
        };
        let kind = MeterKind::from_str(kind).map_err(StoreError::Corrupt)?;
        let meter = rates.meter(kind);
        *meter = DailyRateSums::new(today);
        for (_, _, day, value) in group {
            meter.push(*day, *value);
        }
    }
    Ok(())
}

/// Drops the days of `vehicles` that have left the window, in one statement.
pub(crate) async fn prune_days(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
    today: Date,
) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        let mut q = sqlx::QueryBuilder::new("DELETE FROM vehicle_daily_meters WHERE tenant_id = ");
        q.push_bind(tenant.as_uuid())
            .push(" AND day < ")
            .push_bind(window_start(today))
            .push(" AND vehicle_id");
        push_in_list(&mut q, vehicles);
        q.build().execute(c).await.map(|r| r.rows_affected())
    })
    .ctx("pruning daily meters")?;
    Ok(())
}

/// Vehicles per page of [`refresh_tenant_rates`]: their window's days (at
/// most ~240 rows a vehicle) are held in memory at once.
const RATE_PAGE: usize = 500;

/// Which vehicles [`refresh_tenant_rates`] rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateScope {
    /// Every vehicle with a reading (the rollup rebuild).
    All,
    /// Those whose rates were never computed (readings from before rates
    /// were kept): the due pass rates them once.
    Unrated,
}

/// Recomputes and stores the rates of the tenant's vehicles that have a
/// reading (all, or the unrated), a page of vehicles at a time: one read of
/// the page's days in order and one batched update, instead of three
/// statements per vehicle (the rollup rebuild spent ~30,000 round trips on
/// 10,000 vehicles). The weighting stays in [`daily_rate`], the one place
/// that defines it. Returns the number of vehicles rated.
pub(crate) async fn refresh_tenant_rates(
    tx: &mut Tx,
    tenant: TenantId,
    today: Date,
    scope: RateScope,
) -> Result<u64, StoreError> {
    let unrated = match scope {
        RateScope::All => "",
        RateScope::Unrated => " AND usage_on IS NULL",
    };
    let vehicles: Vec<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM vehicles
          WHERE tenant_id = $1 AND (odometer_at IS NOT NULL OR hours_at IS NOT NULL){unrated} ORDER BY id"
    )))
    .bind(tenant.as_uuid())
    .fetch_all(c)
    .await)
    .ctx("listing vehicles with readings")?;
    let since = today - Duration::days(RATE_WINDOW_DAYS);
    for page in vehicles.chunks(RATE_PAGE) {
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            continue;
        };
        let days: Vec<(Uuid, String, Date, f64)> = on_tx!(tx, |c| sqlx::query_as(
            "SELECT vehicle_id, kind, day, last_value FROM vehicle_daily_meters
              WHERE tenant_id = $1 AND vehicle_id >= $2 AND vehicle_id <= $3 AND day >= $4
              ORDER BY vehicle_id, kind, day"
        )
        .bind(tenant.as_uuid())
        .bind(first)
        .bind(last)
        .bind(since)
        .fetch_all(c)
        .await)
        .ctx("loading a page of daily meters")?;
        // Every vehicle of the page is written, those without days as none;
        // the id range may hold others (rated already, or without readings).
        let mut sums: HashMap<Uuid, MeterRates> =
            page.iter().map(|v| (*v, MeterRates::new(today))).collect();
        fold_days(&mut sums, &days, today)?;
        let sums: BTreeMap<Uuid, MeterRates> = sums.into_iter().collect();
        store_rates(tx, tenant, today, &sums).await?;
    }
    Ok(vehicles.len() as u64)
}

/// Writes a page of vehicles' rates and their sums in one statement.
async fn store_rates(
    tx: &mut Tx,
    tenant: TenantId,
    today: Date,
    sums: &BTreeMap<Uuid, MeterRates>,
) -> Result<(), StoreError> {
    let rates: Vec<(Option<f64>, Option<f64>)> = sums.values().map(MeterRates::rates).collect();
    let columns: Vec<(Option<String>, Option<String>)> =
        sums.values().map(|s| s.to_columns()).collect();
    match tx {
        Tx::Postgres(t) => {
            let ids: Vec<Uuid> = sums.keys().copied().collect();
            let km: Vec<Option<f64>> = rates.iter().map(|r| r.0).collect();
            let hours: Vec<Option<f64>> = rates.iter().map(|r| r.1).collect();
            let km_sums: Vec<Option<String>> = columns.iter().map(|c| c.0.clone()).collect();
            let hours_sums: Vec<Option<String>> = columns.iter().map(|c| c.1.clone()).collect();
            sqlx::query(
                "UPDATE vehicles AS v SET km_per_day = u.km, hours_per_day = u.hours, usage_on = $2,
                        odometer_rate_sums = u.km_sums, hours_rate_sums = u.hours_sums
                   FROM unnest($3::uuid[], $4::float8[], $5::float8[], $6::text[], $7::text[])
                        AS u(id, km, hours, km_sums, hours_sums)
                  WHERE v.tenant_id = $1 AND v.id = u.id",
            )
            .bind(tenant.as_uuid())
            .bind(today)
            .bind(ids)
            .bind(km)
            .bind(hours)
            .bind(km_sums)
            .bind(hours_sums)
            .execute(&mut **t)
            .await
            .ctx("storing usage rates")?;
        }
        Tx::Sqlite(t) => {
            let rows: Vec<_> = sums.keys().zip(rates.iter().zip(&columns)).collect();
            let mut q = sqlx::QueryBuilder::new("WITH u(id, km, hours, km_sums, hours_sums) AS (");
            q.push_values(
                rows,
                |mut row, (id, ((km, hours), (km_sums, hours_sums)))| {
                    row.push_bind(*id)
                        .push_bind(*km)
                        .push_bind(*hours)
                        .push_bind(km_sums.clone())
                        .push_bind(hours_sums.clone());
                },
            );
            q.push(
                ") UPDATE vehicles SET km_per_day = u.km, hours_per_day = u.hours,
                     odometer_rate_sums = u.km_sums, hours_rate_sums = u.hours_sums, usage_on = ",
            );
            q.push_bind(today);
            q.push(" FROM u WHERE vehicles.tenant_id = ");
            q.push_bind(tenant.as_uuid());
            q.push(" AND vehicles.id = u.id");
            q.build()
                .execute(&mut **t)
                .await
                .ctx("storing usage rates")?;
        }
    }
    Ok(())
}

/// A vehicle's stored meters and usage rates, as due evaluation needs them.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(crate) struct VehicleMeters {
    pub odometer_km: Option<f64>,
    pub odometer_at: Option<OffsetDateTime>,
    pub engine_hours: Option<f64>,
    pub hours_at: Option<OffsetDateTime>,
    pub km_per_day: Option<f64>,
    pub hours_per_day: Option<f64>,
}

/// The `vehicles` columns [`VehicleMeters`] reads, for queries aliasing vehicles as `v`.
pub(crate) const VEHICLE_METER_COLUMNS: &str =
    "v.odometer_km, v.odometer_at, v.engine_hours, v.hours_at, v.km_per_day, v.hours_per_day";

impl VehicleMeters {
    /// The vehicle as of `today`. A rate counts only while its meter has a
    /// reading inside the window, as a rate computed today from the raw
    /// readings would.
    pub(crate) fn now(&self, today: Date) -> Now {
        let since = today - Duration::days(RATE_WINDOW_DAYS);
        let fresh = |at: Option<OffsetDateTime>, rate: Option<f64>| {
            rate.filter(|_| at.is_some_and(|at| day_of(at) >= since))
        };
        Now {
            date: today,
            km: self.odometer_km,
            hours: self.engine_hours,
            km_read_on: self.odometer_at.map(day_of),
            hours_read_on: self.hours_at.map(day_of),
            km_per_day: fresh(self.odometer_at, self.km_per_day),
            hours_per_day: fresh(self.hours_at, self.hours_per_day),
        }
    }
}

/// Loads one vehicle's [`VehicleMeters`].
pub(crate) async fn vehicle_meters(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
) -> Result<VehicleMeters, StoreError> {
    on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VEHICLE_METER_COLUMNS} FROM vehicles v WHERE v.tenant_id = $1 AND v.id = $2"
    )))
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .fetch_one(c)
    .await)
    .ctx("loading a vehicle's meters")
}
