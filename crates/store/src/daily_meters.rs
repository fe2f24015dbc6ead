//! `vehicle_daily_meters`: each meter's day values, the day's last live
//! reading (effective value, offsets included), from which the usage rates
//! are computed ([`crate::usage`]). Maintained on ingest by a multi-row
//! upsert that only moves a day's value later in time ([`record_days`]),
//! rebuilt after a void or an offset ([`refresh_days`]), pruned to the rate
//! window ([`prune_days`]).
//!
//! A meter's latest day is open: its value is the vehicle row's current
//! meter, which every batch rewrites anyway, and its row is written when a
//! later day's reading closes it, so a live feed sending a reading every few
//! minutes writes one row per meter a day instead of one with every batch.
//! An open day's row, where there is one (a rebuild, a late reading), may
//! lag the vehicle row; readers take the later of the two
//! ([`crate::usage::sums_of`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::LazyLock;

use domain::ids::{TenantId, VehicleId};
use domain::maintenance::RATE_WINDOW_DAYS;
use domain::meter::MeterKind;
use time::{Date, Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::error::ResultExt;
use crate::meters::{Reading, load_offsets, offset_at};
use crate::reading_batch::push_in_list;
use crate::{StoreError, Tx, execute_tx, on_tx};

/// Rows per multi-row upsert (6 parameters each).
const UPSERT_CHUNK: usize = 1_000;

/// The UTC day of a reading's time.
pub(crate) fn day_of(at: OffsetDateTime) -> Date {
    at.to_offset(UtcOffset::UTC).date()
}

/// The first day kept: the window, and a day's margin for the clock.
pub(crate) fn window_start(today: Date) -> Date {
    today - Duration::days(RATE_WINDOW_DAYS + 1)
}

/// The day values an ingest batch recorded, by meter, in day order: what
/// [`crate::usage::MeterRates::advance`] takes. Each meter's last day is
/// its open day, which `vehicle_daily_meters` may not hold (see
/// [`record_days`]).
pub(crate) type RecordedDays = HashMap<(VehicleId, MeterKind), Vec<(Date, f64)>>;

/// Meters' current readings, (time, effective value), as the vehicle rows
/// hold them: the value of each meter's open day (see [`record_days`]).
pub(crate) type CurrentReadings = HashMap<(VehicleId, MeterKind), (OffsetDateTime, f64)>;

/// Puts a vehicle's current readings, (time, effective value) of each
/// meter that has one, into `readings`.
pub(crate) fn insert_current(
    readings: &mut CurrentReadings,
    vehicle: VehicleId,
    odometer: Option<(OffsetDateTime, f64)>,
    hours: Option<(OffsetDateTime, f64)>,
) {
    for (kind, reading) in [(MeterKind::Odometer, odometer), (MeterKind::Hours, hours)] {
        if let Some(reading) = reading {
            readings.insert((vehicle, kind), reading);
        }
    }
}

/// Folds newly recorded readings into their days (live ones only), and
/// returns the days' values as they now stand.
///
/// `ahead` names the meters whose stored readings are all older than the
/// batch's (what a live feed's batches are: [`crate::latest_meters::Latest::window_from`]
/// settled their windows); `current` holds the meters' current readings
/// before the batch. The batch's last reading of an ahead meter's day is
/// what the day now holds: the days it closes are written without reading
/// them back, with the open day it moved past (the current reading's), and
/// its last day stays open (see the module's comment). The others' days (a
/// late reading, an import) come back from the upsert, since a later
/// reading already stored keeps its day; their current reading joins the
/// upsert, so that its day is whole.
pub(crate) async fn record_days(
    tx: &mut Tx,
    tenant: TenantId,
    readings: &[Reading],
    ahead: &HashSet<(VehicleId, MeterKind)>,
    current: &CurrentReadings,
) -> Result<RecordedDays, StoreError> {
    // (vehicle, meter, day) -> (last at, its value); history older than the
    // window (an import of past years) is never read, so not kept.
    let oldest = window_start(OffsetDateTime::now_utc().date());
    let mut known: BTreeMap<DayKey, (i64, f64)> = BTreeMap::new();
    let mut unknown: BTreeMap<DayKey, (i64, f64)> = BTreeMap::new();
    let mut unknown_meters = HashSet::new();
    for r in readings
        .iter()
        .filter(|r| !r.void && day_of(r.read_at) >= oldest)
    {
        let meter = (r.vehicle_id, r.kind);
        let days = if ahead.contains(&meter) {
            &mut known
        } else {
            unknown_meters.insert(meter);
            &mut unknown
        };
        keep_later(days, meter, r.read_at, r.effective);
    }
    for meter in unknown_meters {
        if let Some(&(at, value)) = current.get(&meter)
            && day_of(at) >= oldest
        {
            keep_later(&mut unknown, meter, at, value);
        }
    }
    upsert(
        tx,
        tenant,
        &closed_days(&known, current, oldest),
        ReadBack::No,
    )
    .await?;
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

/// A day row's key: (vehicle, meter, day).
type DayKey = (VehicleId, &'static str, Date);

/// Takes a reading into its day: the day's latest reading wins.
fn keep_later(
    days: &mut BTreeMap<DayKey, (i64, f64)>,
    (vehicle, kind): (VehicleId, MeterKind),
    at: OffsetDateTime,
    value: f64,
) {
    let at_s = at.unix_timestamp();
    days.entry((vehicle, kind.as_str(), day_of(at)))
        .and_modify(|d| {
            if at_s > d.0 {
                *d = (at_s, value);
            }
        })
        .or_insert((at_s, value));
}

/// The rows an ahead meter's batch closes: each of its days but the last
/// (the new open day), and the open day before the batch when the batch
/// starts on a later day.
fn closed_days(
    known: &BTreeMap<DayKey, (i64, f64)>,
    current: &CurrentReadings,
    oldest: Date,
) -> Vec<DayRow> {
    let mut rows = Vec::with_capacity(known.len());
    let mut days = known.iter().peekable();
    let mut first_of_meter = true;
    while let Some((&(vehicle, kind, day), &row)) = days.next() {
        if first_of_meter
            && let Ok(meter) = MeterKind::from_str(kind)
            && let Some(&(at, value)) = current.get(&(vehicle, meter))
            && day_of(at) < day
            && day_of(at) >= oldest
        {
            rows.push(((vehicle, kind, day_of(at)), (at.unix_timestamp(), value)));
        }
        let next_same_meter = days
            .peek()
            .is_some_and(|((v, k, _), _)| *v == vehicle && *k == kind);
        if next_same_meter {
            rows.push(((vehicle, kind, day), row));
        }
        first_of_meter = !next_same_meter;
    }
    rows
}

type DayRow = (DayKey, (i64, f64));

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
