//! Meter readings: recorded one at a time or in bulk, idempotent by
//! (vehicle, meter, time, source), ordered by the monotonic rule, flagged when
//! they jump implausibly, and folded into each vehicle's current meters on
//! write (so a vehicle page never scans its history).

use std::str::FromStr;
use std::sync::LazyLock;

use domain::ids::{TenantId, VehicleId};
use domain::meter::{
    MeterKind, MeterSource, MeterUnit, MeterValue, Neighbour, check_order, jump_flag,
};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::page::{Page, decode_cursor, page_limit};
pub(crate) use crate::reading_batch::record_readings_in;
use crate::{AuditContext, Mode, Store, StoreError, Tx, execute_tx, on_tx};

/// A reading to record, already checked field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReading {
    pub vehicle_id: VehicleId,
    pub kind: MeterKind,
    /// Truncated to whole seconds when stored.
    pub read_at: OffsetDateTime,
    pub value: MeterValue,
    pub source: MeterSource,
    pub note: Option<String>,
    /// Kept for history, ignored for calculations and ordering.
    pub void: bool,
}

/// A stored reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub kind: MeterKind,
    pub read_at: OffsetDateTime,
    /// As recorded, in `unit`.
    pub value: f64,
    pub unit: MeterUnit,
    /// Raw value in km or h (before any meter offset).
    pub canonical: f64,
    /// `canonical` plus the meter offsets in force at `read_at`.
    pub effective: f64,
    pub source: MeterSource,
    pub note: Option<String>,
    pub void: bool,
    /// Why the reading looks implausible, if it does (it is kept anyway).
    pub flag: Option<String>,
}

/// What happened to one item of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadingOutcome {
    Created(Reading),
    /// The same reading (vehicle, meter, time, source, value) was recorded before.
    Duplicate(Reading),
    /// Refused, with the field at fault; nothing of it was written.
    Rejected {
        field: &'static str,
        message: String,
    },
}

/// A meter replacement or rollover: from `effective_at` on, `offset` (km or
/// h) is added to every raw reading of the meter.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterOffset {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub kind: MeterKind,
    pub effective_at: OffsetDateTime,
    pub offset: f64,
    pub reason: String,
}

/// A meter replacement or rollover to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeterOffset {
    pub kind: MeterKind,
    pub effective_at: OffsetDateTime,
    /// In km or h.
    pub offset: f64,
    pub reason: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReadingRow {
    id: Uuid,
    vehicle_id: Uuid,
    kind: String,
    read_at: OffsetDateTime,
    value: f64,
    unit: String,
    canonical: f64,
    source: String,
    note: Option<String>,
    void: bool,
    flag: Option<String>,
}

pub(crate) const READING_COLUMNS: &str =
    "id, vehicle_id, kind, read_at, value, unit, canonical, source, note, void, flag";

impl ReadingRow {
    /// The vehicle and meter this row is a reading of.
    pub(crate) fn meter(&self) -> Result<(VehicleId, MeterKind), StoreError> {
        let kind = MeterKind::from_str(&self.kind).map_err(StoreError::Corrupt)?;
        Ok((self.vehicle_id.into(), kind))
    }

    pub(crate) fn into_reading(
        self,
        offsets: &[(OffsetDateTime, f64)],
    ) -> Result<Reading, StoreError> {
        let corrupt = StoreError::Corrupt;
        Ok(Reading {
            id: self.id,
            vehicle_id: self.vehicle_id.into(),
            kind: MeterKind::from_str(&self.kind).map_err(corrupt)?,
            read_at: self.read_at,
            value: self.value,
            unit: MeterUnit::from_str(&self.unit).map_err(StoreError::Corrupt)?,
            effective: self.canonical + offset_at(offsets, self.read_at),
            canonical: self.canonical,
            source: MeterSource::from_str(&self.source).map_err(StoreError::Corrupt)?,
            note: self.note,
            void: self.void,
            flag: self.flag,
        })
    }
}

/// The sum of offsets in force at `at`.
pub(crate) fn offset_at(offsets: &[(OffsetDateTime, f64)], at: OffsetDateTime) -> f64 {
    offsets
        .iter()
        .filter(|(from, _)| *from <= at)
        .map(|(_, o)| o)
        .sum()
}

/// Readings, fills and fault events are kept to the second: finer is noise,
/// and whole seconds keep SQLite's text timestamps in time order.
pub(crate) fn to_second(at: OffsetDateTime) -> OffsetDateTime {
    let at = at.to_offset(time::UtcOffset::UTC);
    at.replace_nanosecond(0).unwrap_or(at)
}

pub(crate) async fn load_offsets(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    kind: MeterKind,
) -> Result<Vec<(OffsetDateTime, f64)>, StoreError> {
    on_tx!(tx, |c| sqlx::query_as(
        "SELECT effective_at, offset_value FROM meter_offsets
         WHERE tenant_id = $1 AND vehicle_id = $2 AND kind = $3 ORDER BY effective_at"
    )
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .bind(kind.as_str())
    .fetch_all(c)
    .await)
    .ctx("loading meter offsets")
}

/// The live reading just before (`before = true`) or just after `at`.
pub(crate) async fn neighbour(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    kind: MeterKind,
    at: OffsetDateTime,
    before: bool,
) -> Result<Option<(OffsetDateTime, f64)>, StoreError> {
    let sql = if before {
        "SELECT read_at, canonical FROM meter_readings WHERE tenant_id = $1 AND vehicle_id = $2 AND kind = $3
         AND void = $5 AND read_at < $4 ORDER BY read_at DESC LIMIT 1"
    } else {
        "SELECT read_at, canonical FROM meter_readings WHERE tenant_id = $1 AND vehicle_id = $2 AND kind = $3
         AND void = $5 AND read_at > $4 ORDER BY read_at ASC LIMIT 1"
    };
    on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(kind.as_str())
        .bind(at)
        .bind(false)
        .fetch_optional(c)
        .await)
    .ctx("loading a neighbouring reading")
}

/// Checks the monotonic rule for a live reading at `at` with raw canonical
/// `value`, and returns the jump flag, if any.
#[allow(clippy::too_many_arguments)]
async fn check_timeline(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    kind: MeterKind,
    at: OffsetDateTime,
    value: f64,
    offsets: &[(OffsetDateTime, f64)],
    max_per_day: f64,
) -> Result<Result<Option<String>, String>, StoreError> {
    let effective = |(t, v): (OffsetDateTime, f64)| Neighbour {
        at: t,
        value: v + offset_at(offsets, t),
    };
    let previous = neighbour(tx, tenant, vehicle, kind, at, true)
        .await?
        .map(effective);
    let next = neighbour(tx, tenant, vehicle, kind, at, false)
        .await?
        .map(effective);
    let value = value + offset_at(offsets, at);
    if let Err(message) = check_order(previous, next, value) {
        return Ok(Err(message));
    }
    Ok(Ok(jump_flag(previous, at, value, max_per_day)))
}

/// The vehicle's effective odometer (km) at `at`: its latest live reading
/// at or before then, plus the offsets in force.
pub(crate) async fn odometer_at(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    at: OffsetDateTime,
) -> Result<Option<f64>, StoreError> {
    let latest: Option<(OffsetDateTime, f64)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT read_at, canonical FROM meter_readings WHERE tenant_id = $1 AND vehicle_id = $2
           AND kind = 'odometer' AND void = $3 AND read_at <= $4 ORDER BY read_at DESC LIMIT 1"
    )
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .bind(false)
    .bind(at)
    .fetch_optional(c)
    .await)
    .ctx("loading the odometer at a time")?;
    let Some((read_at, raw)) = latest else {
        return Ok(None);
    };
    let offsets = load_offsets(tx, tenant, vehicle, MeterKind::Odometer).await?;
    Ok(Some(raw + offset_at(&offsets, read_at)))
}

/// After live readings changed in place (a reading voided or restored, an
/// offset added) from `from` on: rebuilds the summaries of what changed (the
/// days behind the usage rate, the monthly distance), then the current meter.
pub(crate) async fn refresh_after_change(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    kind: MeterKind,
    from: OffsetDateTime,
) -> Result<(), StoreError> {
    crate::daily_meters::refresh_days(tx, tenant, vehicle, kind, from).await?;
    if kind == MeterKind::Odometer {
        crate::distance::refresh_distance(tx, tenant, vehicle, from).await?;
    }
    crate::current_meters::refresh(tx, tenant, &[vehicle], None).await
}

/// Whether a write refreshes the vehicle's stored current meters itself.
///
/// Bulk paths that record one reading at a time (imports) defer it to one
/// refresh at the end: updating the same `vehicles` row once per reading
/// inside one PostgreSQL transaction leaves a chain of row versions that
/// every later lookup of the vehicle walks, which made a 50,000-fill import
/// quadratic (7 minutes; see docs/PERFORMANCE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CurrentMeters {
    /// Update the vehicle's current meters after recording.
    Refresh,
    /// The caller calls [`refresh_current`] once when its batch is done.
    Deferred,
}

impl Store {
    /// Records readings (one, or a batch of thousands). Items are checked in
    /// time order per meter against what is stored and against each other;
    /// the accepted ones commit together, the refused ones are reported with
    /// the field at fault, and a repeat of an earlier reading is a duplicate,
    /// not an error. `max_daily_km` sets the implausible-jump threshold.
    #[tracing::instrument(skip_all, fields(items = items.len()))]
    pub async fn record_readings(
        &self,
        tenant: TenantId,
        items: &[NewReading],
        max_daily_km: f64,
        ctx: &AuditContext,
    ) -> Result<Vec<ReadingOutcome>, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let outcomes =
            record_readings_in(&mut tx, tenant, items, max_daily_km, CurrentMeters::Refresh)
                .await?;
        let created = outcomes
            .iter()
            .filter(|o| matches!(o, ReadingOutcome::Created(_)))
            .count();
        if created > 0 {
            let change = match outcomes.as_slice() {
                [ReadingOutcome::Created(r)] => Change {
                    action: "meter.record",
                    entity_type: "meter_reading",
                    entity_id: r.id.to_string(),
                    before: None,
                    after: Some(json!({
                        "vehicle_id": r.vehicle_id, "kind": r.kind.as_str(), "read_at": r.read_at.unix_timestamp(),
                        "value": r.value, "unit": r.unit.as_str(), "source": r.source.as_str(), "void": r.void,
                    })),
                },
                _ => Change {
                    action: "meter.record_bulk",
                    entity_type: "meter_reading",
                    entity_id: "bulk".into(),
                    before: None,
                    after: Some(json!({"created": created, "submitted": items.len()})),
                },
            };
            record(&mut tx, tenant, ctx, change).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// A vehicle's readings of one meter, newest first.
    pub async fn list_readings(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        kind: MeterKind,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Reading>, StoreError> {
        let before: Option<(i64, Uuid)> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        let offsets = load_offsets(&mut tx, tenant, vehicle, kind).await?;
        let before_at = before.and_then(|(t, _)| OffsetDateTime::from_unix_timestamp(t).ok());
        let rows: Vec<ReadingRow> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {READING_COLUMNS} FROM meter_readings WHERE tenant_id = $1 AND vehicle_id = $2 AND kind = $3
             AND ($4 IS NULL OR read_at < $4 OR (read_at = $4 AND id < $5))
             ORDER BY read_at DESC, id DESC LIMIT $6"
        )))
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(kind.as_str())
        .bind(before_at)
        .bind(before.map(|(_, id)| id))
        .bind(limit + 1)
        .fetch_all(c)
        .await)
        .ctx("listing readings")?;
        let readings = rows
            .into_iter()
            .map(|r| r.into_reading(&offsets))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(readings, limit, |r| {
            (r.read_at.unix_timestamp(), r.id)
        }))
    }

    /// Voids or restores a reading. Restoring re-checks the monotonic rule.
    #[tracing::instrument(skip_all)]
    pub async fn set_reading_void(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        id: Uuid,
        void: bool,
        max_daily_km: f64,
        ctx: &AuditContext,
    ) -> Result<Reading, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        lock_vehicle(&mut tx, tenant, vehicle).await?;
        let row: Option<ReadingRow> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {READING_COLUMNS} FROM meter_readings WHERE tenant_id = $1 AND vehicle_id = $2 AND id = $3"
        )))
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(id)
        .fetch_optional(c)
        .await)
        .ctx("loading a reading")?;
        let row = row.ok_or(StoreError::NotFound)?;
        let kind = MeterKind::from_str(&row.kind).map_err(StoreError::Corrupt)?;
        let offsets = load_offsets(&mut tx, tenant, vehicle, kind).await?;
        let mut flag = row.flag.clone();
        if row.void && !void {
            let max = if kind == MeterKind::Hours {
                domain::meter::MAX_DAILY_HOURS
            } else {
                max_daily_km
            };
            match check_timeline(
                &mut tx,
                tenant,
                vehicle,
                kind,
                row.read_at,
                row.canonical,
                &offsets,
                max,
            )
            .await?
            {
                Ok(f) => flag = f,
                Err(message) => {
                    return Err(StoreError::Rule {
                        field: "void",
                        message,
                    });
                }
            }
        }
        execute_tx!(
            &mut tx,
            sqlx::query(
                "UPDATE meter_readings SET void = $3, flag = $4 WHERE tenant_id = $1 AND id = $2"
            )
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(void)
            .bind(flag.as_deref())
        )
        .ctx("voiding a reading")?;
        refresh_after_change(&mut tx, tenant, vehicle, kind, row.read_at).await?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: if void { "meter.void" } else { "meter.restore" },
                entity_type: "meter_reading",
                entity_id: id.to_string(),
                before: Some(json!({"void": row.void})),
                after: Some(json!({"void": void})),
            },
        )
        .await?;
        let reading = ReadingRow { void, flag, ..row }.into_reading(&offsets)?;
        tx.commit().await?;
        Ok(reading)
    }

    /// Records a meter replacement or rollover.
    #[tracing::instrument(skip_all)]
    pub async fn add_meter_offset(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        new: &NewMeterOffset,
        ctx: &AuditContext,
    ) -> Result<MeterOffset, StoreError> {
        let NewMeterOffset {
            kind,
            effective_at,
            offset,
            ref reason,
        } = *new;
        let reason = reason.as_str();
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        lock_live_vehicle(&mut tx, tenant, vehicle).await?;
        let id = Uuid::now_v7();
        let effective_at = to_second(effective_at);
        execute_tx!(
            &mut tx,
            sqlx::query(
                "INSERT INTO meter_offsets (tenant_id, id, vehicle_id, kind, effective_at, offset_value, reason, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            )
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(vehicle.as_uuid())
            .bind(kind.as_str())
            .bind(effective_at)
            .bind(offset)
            .bind(reason)
            .bind(OffsetDateTime::now_utc())
        )
        .ctx("recording a meter offset")?;
        refresh_after_change(&mut tx, tenant, vehicle, kind, effective_at).await?;
        record(&mut tx, tenant, ctx, Change {
            action: "meter.offset",
            entity_type: "vehicle",
            entity_id: vehicle.to_string(),
            before: None,
            after: Some(json!({"kind": kind.as_str(), "effective_at": effective_at.unix_timestamp(), "offset": offset, "reason": reason})),
        })
        .await?;
        tx.commit().await?;
        Ok(MeterOffset {
            id,
            vehicle_id: vehicle,
            kind,
            effective_at,
            offset,
            reason: reason.to_string(),
        })
    }

    /// Distance (km) the odometer advanced within `[from, to)`: the last live
    /// reading in the period minus the first, meter offsets applied; `None`
    /// with fewer than two readings.
    pub async fn distance_km(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Option<f64>, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        distance_km_in(&mut tx, tenant, vehicle, from, to).await
    }

    /// Fails with NotFound unless the vehicle is live in the tenant.
    pub(crate) async fn vehicle_in(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        vehicle: VehicleId,
    ) -> Result<(), StoreError> {
        if vehicle_is_live(tx, tenant, vehicle).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }
}

/// The odometer at the first and at the last live reading of a period,
/// offsets in force at each applied: two select-list items,
/// `period_first_km` and `period_last_km` (`$1` tenant, `$2` vehicle, `$3`
/// false, `$4`..`$5` the period). Select-list items, not a statement, so
/// the vehicle page reads them in the statement that reads its vehicle: each
/// statement is a round trip, and on a loaded PostgreSQL round trips cost as
/// much as the reads (docs/PERFORMANCE.md, session 19). Each end is one step
/// down the readings' key; a reading's offsets are summed only for the
/// reading the `LIMIT` keeps.
pub(crate) static PERIOD_ODOMETER_ENDS: LazyLock<String> = LazyLock::new(|| {
    let end = |order: &str, name: &str| {
        format!(
            "(SELECT r.canonical + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
                      WHERE o.tenant_id = $1 AND o.vehicle_id = $2 AND o.kind = 'odometer'
                        AND o.effective_at <= r.read_at), 0)
               FROM meter_readings r WHERE r.tenant_id = $1 AND r.vehicle_id = $2
                AND r.kind = 'odometer' AND r.void = $3 AND r.read_at >= $4 AND r.read_at < $5
              ORDER BY r.read_at {order} LIMIT 1) AS {name}"
        )
    };
    format!(
        "{}, {}",
        end("ASC", "period_first_km"),
        end("DESC", "period_last_km")
    )
});

/// The distance between a period's odometer ends ([`PERIOD_ODOMETER_ENDS`]):
/// `None` with fewer than two readings, or none forward.
pub(crate) fn distance_between(first_km: Option<f64>, last_km: Option<f64>) -> Option<f64> {
    match (first_km, last_km) {
        (Some(first), Some(last)) if last > first => Some(last - first),
        _ => None,
    }
}

/// The distance driven in `[from, to)` (km, offsets applied): the last
/// odometer reading of the period minus the first, inside the caller's
/// transaction (which has checked the vehicle).
pub(crate) async fn distance_km_in(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Option<f64>, StoreError> {
    static SELECT: LazyLock<String> = LazyLock::new(|| format!("SELECT {}", *PERIOD_ODOMETER_ENDS));
    let (first_km, last_km): (Option<f64>, Option<f64>) =
        on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(SELECT.as_str()))
            .bind(tenant.as_uuid())
            .bind(vehicle.as_uuid())
            .bind(false)
            .bind(to_second(from))
            .bind(to_second(to))
            .fetch_one(c)
            .await)
        .ctx("reading the period's odometer")?;
    Ok(distance_between(first_km, last_km))
}

/// Locks a vehicle's row on PostgreSQL (`FOR NO KEY UPDATE`, as an ingest
/// batch and a fill's reading do), first thing in a write that recomputes
/// the vehicle's state from its records (its fuel chains, its monthly spend
/// and distance, its due watch, its health). A concurrent write of the same
/// vehicle then waits, and reads the records with this one's in them.
/// Without it:
/// two fills recomputed a chain each without the other's change; a deletion
/// and a fill deadlocked (the fill's segment update waiting on the deleted
/// fill, the deletion on the vehicle); two expenses of one month both
/// inserted its spend row (a unique violation); readings voided while an
/// offset was added left a month's distance without some of them, or
/// deadlocked; schedules created at once each stored a due watch without
/// the others; faults resolved at once left a critical health score behind.
/// SQLite has one writer at a time. Whether the vehicle is live is the
/// caller's check.
pub(crate) async fn lock_vehicle(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
) -> Result<(), StoreError> {
    lock_vehicles(tx, tenant, &[vehicle]).await
}

/// [`lock_vehicle`] and [`Store::vehicle_in`] in one statement: NotFound
/// unless the vehicle is live in the tenant, and on PostgreSQL its row
/// locked (one round trip where the two took two).
pub(crate) async fn lock_live_vehicle(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
) -> Result<(), StoreError> {
    let live = match tx {
        Tx::Postgres(t) => sqlx::query_scalar::<_, i32>(
            "SELECT 1 FROM vehicles WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR NO KEY UPDATE",
        )
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .fetch_optional(&mut **t)
        .await
        .ctx("locking a vehicle for a write")?
        .is_some(),
        Tx::Sqlite(_) => vehicle_is_live(tx, tenant, vehicle).await?,
    };
    if live {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// [`lock_vehicle`] for many vehicles in one statement, in id order (as an
/// ingest batch locks them), so that two writes sharing vehicles queue
/// instead of deadlocking.
pub(crate) async fn lock_vehicles(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
) -> Result<(), StoreError> {
    let Tx::Postgres(t) = tx else {
        return Ok(());
    };
    let ids: Vec<Uuid> = vehicles.iter().map(|v| v.as_uuid()).collect();
    sqlx::query(
        "SELECT id FROM vehicles WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(tenant.as_uuid())
    .bind(ids)
    .execute(&mut **t)
    .await
    .ctx("locking vehicles for a write")?;
    Ok(())
}

/// Whether the vehicle exists in the tenant and is not deleted.
pub(crate) async fn vehicle_is_live(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
) -> Result<bool, StoreError> {
    let exists: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT 1 FROM vehicles WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
    )
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .fetch_optional(c)
    .await)
    .ctx("checking a vehicle")?;
    Ok(exists.is_some())
}
