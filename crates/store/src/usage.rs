//! Each vehicle's usage rate (km and engine hours per day), kept on the
//! vehicle row so that due forecasts never read raw readings.
//!
//! The rate comes from each meter's day values ([`crate::daily_meters`]:
//! the day's last live reading, a meter's open day being the vehicle row's
//! current meter). [`domain::maintenance::daily_rate`] over those day
//! values weighs day-to-day usage; over raw readings taken every few
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

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use domain::ids::{TenantId, VehicleId};
use domain::maintenance::{Now, RATE_WINDOW_DAYS};
use domain::meter::MeterKind;
use domain::usage_rate::DailyRateSums;
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use crate::daily_meters::{CurrentReadings, RecordedDays, day_of, insert_current};
use crate::error::ResultExt;
use crate::reading_batch::push_in_list;
use crate::{StoreError, Tx, on_tx};

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
/// computed from their days in the window in one statement, each meter's
/// current reading (`current`) taken into its open day; every vehicle has
/// an entry (empty sums when it has no days).
pub(crate) async fn sums_of(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
    current: &CurrentReadings,
    today: Date,
) -> Result<HashMap<Uuid, MeterRates>, StoreError> {
    let days: Vec<StoredDayAt> = on_tx!(tx, |c| {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT vehicle_id, kind, day, last_at, last_value FROM vehicle_daily_meters WHERE tenant_id = ",
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
    fold_days(vehicles.iter().copied(), &days, current, today)
}

/// A stored day with its reading's time: (vehicle, meter, day, last at
/// (Unix seconds), value).
type StoredDayAt = (Uuid, String, Date, i64, f64);

/// The rate sums of `vehicles` from their stored days (ordered by vehicle,
/// meter and day; days of others are skipped), each meter's current
/// reading taken into its day, the later reading winning as on write (the
/// open day's row may lag it: see
/// [`crate::daily_meters::record_days`]). Each meter's series
/// goes through [`DailyRateSums::push`], which
/// [`domain::usage_rate::daily_rate`] is the fold of, so the weighting is
/// defined in one place.
fn fold_days(
    vehicles: impl Iterator<Item = VehicleId>,
    days: &[StoredDayAt],
    current: &CurrentReadings,
    today: Date,
) -> Result<HashMap<Uuid, MeterRates>, StoreError> {
    let mut stored: HashMap<(Uuid, MeterKind), &[StoredDayAt]> = HashMap::new();
    for group in days.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
        let kind = MeterKind::from_str(&group[0].1).map_err(StoreError::Corrupt)?;
        stored.insert((group[0].0, kind), group);
    }
    let first_day = today - Duration::days(RATE_WINDOW_DAYS);
    let mut sums = HashMap::new();
    for vehicle in vehicles {
        let mut rates = MeterRates::new(today);
        for kind in [MeterKind::Odometer, MeterKind::Hours] {
            let mut series: Vec<(Date, i64, f64)> = stored
                .get(&(vehicle.as_uuid(), kind))
                .into_iter()
                .flat_map(|group| group.iter())
                .map(|(_, _, day, at, value)| (*day, *at, *value))
                .collect();
            if let Some(&(at, value)) = current.get(&(vehicle, kind)) {
                let (day, at) = (day_of(at), at.unix_timestamp());
                match series.binary_search_by_key(&day, |d| d.0) {
                    Ok(i) if at > series[i].1 => series[i] = (day, at, value),
                    Ok(_) => {}
                    Err(i) => series.insert(i, (day, at, value)),
                }
            }
            let meter = rates.meter(kind);
            for (day, _, value) in series.into_iter().filter(|d| d.0 >= first_day) {
                meter.push(day, value);
            }
        }
        sums.insert(vehicle.as_uuid(), rates);
    }
    Ok(sums)
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
/// 10,000 vehicles). The weighting stays in
/// [`domain::usage_rate::daily_rate`], the one place that defines it.
/// Returns the number of vehicles rated.
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
    let vehicles: Vec<CurrentRow> = on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, odometer_at, odometer_km, hours_at, engine_hours FROM vehicles
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
        let days: Vec<StoredDayAt> = on_tx!(tx, |c| sqlx::query_as(
            "SELECT vehicle_id, kind, day, last_at, last_value FROM vehicle_daily_meters
              WHERE tenant_id = $1 AND vehicle_id >= $2 AND vehicle_id <= $3 AND day >= $4
              ORDER BY vehicle_id, kind, day"
        )
        .bind(tenant.as_uuid())
        .bind(first.0)
        .bind(last.0)
        .bind(since)
        .fetch_all(c)
        .await)
        .ctx("loading a page of daily meters")?;
        let mut current = CurrentReadings::new();
        for (id, odometer_at, odometer_km, hours_at, engine_hours) in page {
            let odometer = odometer_at.zip(*odometer_km);
            let hours = hours_at.zip(*engine_hours);
            insert_current(&mut current, VehicleId::from(*id), odometer, hours);
        }
        // Every vehicle of the page is written, those without days as none;
        // the id range may hold others (rated already, or without readings).
        let page_ids = page.iter().map(|row| VehicleId::from(row.0));
        let sums = fold_days(page_ids, &days, &current, today)?;
        let sums: BTreeMap<Uuid, MeterRates> = sums.into_iter().collect();
        store_rates(tx, tenant, today, &sums).await?;
    }
    Ok(vehicles.len() as u64)
}

/// A vehicle with its current meters: (id, odometer at, km, hours at, hours).
type CurrentRow = (
    Uuid,
    Option<OffsetDateTime>,
    Option<f64>,
    Option<OffsetDateTime>,
    Option<f64>,
);

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
