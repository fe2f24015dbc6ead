//! Fault events and fault cycles.
//!
//! Every reported fault is kept as a raw event (idempotent by vehicle, code,
//! instant and message; monthly partitions on PostgreSQL). Events fold into
//! **fault cycles**: one open cycle per vehicle and code, `active` while
//! reported, `inactive` once its ECU's DM1 reports stop listing it (or it goes
//! unreported for a while), `resolved` by a service record, a work order or by
//! hand. A code seen again after resolution opens a new cycle; closed cycles
//! are history.

use std::collections::HashSet;
use std::str::FromStr;

use domain::fault_code::{
    FaultCode, FaultMessage, FaultPolicy, FaultStatus, Origin, Protocol, Resolution,
};
use domain::faults::Severity;
use domain::ids::{TenantId, UserId, VehicleId};
use domain::j1939::{Lamp, Lamps};
use domain::obd::ObdCode;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::page::{Page, decode_cursor, page_limit};
use crate::{Backend, Mode, Store, StoreError, Tx, on_tx};

/// One sighting of a fault on a vehicle, already checked field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultReport {
    pub vehicle_id: VehicleId,
    pub code: FaultCode,
    pub message: FaultMessage,
    /// Truncated to whole seconds when stored (DM1 repeats once a second).
    pub observed_at: OffsetDateTime,
    /// `None` when the sender gave none (or sent 127, "not available").
    pub occurrences: Option<u8>,
    pub lamps: Lamps,
    pub legacy_conversion: bool,
}

/// A DM1 message's complete list of active codes from one ECU at one instant:
/// the codes it does not list have stopped being active.
#[derive(Debug, Clone, PartialEq)]
pub struct Dm1Snapshot {
    pub vehicle_id: VehicleId,
    pub source_address: u8,
    pub observed_at: OffsetDateTime,
    /// [`FaultCode::key`] of every code listed.
    pub keys: HashSet<String>,
}

/// A stored fault cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultCycle {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub code: FaultCode,
    pub status: FaultStatus,
    /// The worst severity assessed over the cycle.
    pub severity: Severity,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    /// How many events fed this cycle.
    pub reports: i32,
    /// The latest occurrence count the ECU sent.
    pub occurrences: Option<u8>,
    /// The lamps of the latest report.
    pub lamps: Lamps,
    /// Effective odometer (km) at the first and the latest sighting, when known.
    pub odometer_first_km: Option<f64>,
    pub odometer_last_km: Option<f64>,
    pub inactive_since: Option<OffsetDateTime>,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_by: Option<UserId>,
    pub resolution: Option<Resolution>,
    pub resolution_note: Option<String>,
    pub service_record_id: Option<Uuid>,
}

/// A stored raw fault event.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultEvent {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub code: FaultCode,
    pub message: FaultMessage,
    pub observed_at: OffsetDateTime,
    pub occurrences: Option<u8>,
    pub lamps: Lamps,
    pub legacy_conversion: bool,
    pub origin: Origin,
}

/// How to close a fault cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolve {
    pub resolution: Resolution,
    /// Required for [`Resolution::Service`]: the record that fixed it.
    pub service_record_id: Option<Uuid>,
    pub note: Option<String>,
    pub by: Option<UserId>,
}

#[derive(sqlx::FromRow)]
struct CodeColumns {
    protocol: String,
    spn: Option<i32>,
    fmi: Option<i16>,
    source_address: Option<i16>,
    obd_code: Option<String>,
}

impl CodeColumns {
    fn code(&self) -> Result<FaultCode, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("fault code: {what}"));
        match Protocol::from_str(&self.protocol) {
            Ok(Protocol::J1939) => {
                let spn = self.spn.and_then(|v| u32::try_from(v).ok());
                let fmi = self.fmi.and_then(|v| u8::try_from(v).ok());
                let sa = self.source_address.and_then(|v| u8::try_from(v).ok());
                match (spn, fmi, sa) {
                    (Some(spn), Some(fmi), Some(sa)) => {
                        FaultCode::j1939(spn, fmi, sa).map_err(|(_, m)| StoreError::Corrupt(m))
                    }
                    _ => Err(corrupt("J1939 fields missing")),
                }
            }
            Ok(Protocol::Obd) => {
                let text = self
                    .obd_code
                    .as_deref()
                    .ok_or_else(|| corrupt("no OBD code"))?;
                ObdCode::parse(text)
                    .map(FaultCode::Obd)
                    .map_err(StoreError::Corrupt)
            }
            Err(e) => Err(StoreError::Corrupt(e)),
        }
    }
}

#[derive(sqlx::FromRow)]
struct LampColumns {
    lamp_mil: String,
    lamp_red_stop: String,
    lamp_amber_warning: String,
    lamp_protect: String,
}

impl LampColumns {
    fn lamps(&self) -> Result<Lamps, StoreError> {
        let l = |s: &str| Lamp::from_str(s).map_err(StoreError::Corrupt);
        Ok(Lamps {
            mil: l(&self.lamp_mil)?,
            red_stop: l(&self.lamp_red_stop)?,
            amber_warning: l(&self.lamp_amber_warning)?,
            protect: l(&self.lamp_protect)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CycleRow {
    id: Uuid,
    vehicle_id: Uuid,
    #[sqlx(flatten)]
    code: CodeColumns,
    status: String,
    severity: String,
    first_seen: OffsetDateTime,
    last_seen: OffsetDateTime,
    reports: i32,
    occurrences: Option<i16>,
    #[sqlx(flatten)]
    lamps: LampColumns,
    odometer_first_km: Option<f64>,
    odometer_last_km: Option<f64>,
    inactive_since: Option<OffsetDateTime>,
    resolved_at: Option<OffsetDateTime>,
    resolved_by: Option<Uuid>,
    resolution: Option<String>,
    resolution_note: Option<String>,
    service_record_id: Option<Uuid>,
}

pub(crate) const CYCLE_COLUMNS: &str = "id, vehicle_id, protocol, spn, fmi, source_address, obd_code, status, severity,
    first_seen, last_seen, reports, occurrences, lamp_mil, lamp_red_stop, lamp_amber_warning, lamp_protect,
    odometer_first_km, odometer_last_km, inactive_since, resolved_at, resolved_by, resolution,
    resolution_note, service_record_id";

impl TryFrom<CycleRow> for FaultCycle {
    type Error = StoreError;
    fn try_from(r: CycleRow) -> Result<Self, StoreError> {
        Ok(FaultCycle {
            id: r.id,
            vehicle_id: r.vehicle_id.into(),
            code: r.code.code()?,
            status: FaultStatus::from_str(&r.status).map_err(StoreError::Corrupt)?,
            severity: Severity::from_str(&r.severity).map_err(StoreError::Corrupt)?,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            reports: r.reports,
            occurrences: r.occurrences.and_then(|v| u8::try_from(v).ok()),
            lamps: r.lamps.lamps()?,
            odometer_first_km: r.odometer_first_km,
            odometer_last_km: r.odometer_last_km,
            inactive_since: r.inactive_since,
            resolved_at: r.resolved_at,
            resolved_by: r.resolved_by.map(UserId::from),
            resolution: r
                .resolution
                .as_deref()
                .map(Resolution::from_str)
                .transpose()
                .map_err(StoreError::Corrupt)?,
            resolution_note: r.resolution_note,
            service_record_id: r.service_record_id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    vehicle_id: Uuid,
    #[sqlx(flatten)]
    code: CodeColumns,
    message: String,
    observed_at: OffsetDateTime,
    occurrences: Option<i16>,
    #[sqlx(flatten)]
    lamps: LampColumns,
    legacy_conversion: bool,
    origin: String,
}

const EVENT_COLUMNS: &str = "id, vehicle_id, protocol, spn, fmi, source_address, obd_code, message, observed_at,
    occurrences, lamp_mil, lamp_red_stop, lamp_amber_warning, lamp_protect, legacy_conversion, origin";

impl TryFrom<EventRow> for FaultEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        let message = FaultMessage::from_str(&r.message).map_err(StoreError::Corrupt)?;
        Ok(FaultEvent {
            id: r.id,
            vehicle_id: r.vehicle_id.into(),
            code: r.code.code()?,
            message,
            observed_at: r.observed_at,
            occurrences: r.occurrences.and_then(|v| u8::try_from(v).ok()),
            lamps: r.lamps.lamps()?,
            legacy_conversion: r.legacy_conversion,
            origin: Origin::from_str(&r.origin).map_err(StoreError::Corrupt)?,
        })
    }
}

/// The code's columns: (protocol, spn, fmi, source address, OBD code).
pub(crate) fn code_columns(
    code: &FaultCode,
) -> (
    &'static str,
    Option<i32>,
    Option<i16>,
    Option<i16>,
    Option<&str>,
) {
    match code {
        FaultCode::J1939 {
            spn,
            fmi,
            source_address,
        } => (
            "j1939",
            i32::try_from(*spn).ok(),
            Some(i16::from(*fmi)),
            Some(i16::from(*source_address)),
            None,
        ),
        FaultCode::Obd(c) => ("obd", None, None, None, Some(c.as_str())),
    }
}

/// Fault times are kept to the second, like meter readings.
pub(crate) use crate::meters::to_second;

/// What makes a fault event unique (the dedup key's columns past the
/// tenant): vehicle, code key, instant (unix seconds), message.
type EventKey = (Uuid, String, i64, String);

fn event_key(r: &FaultReport) -> EventKey {
    (
        r.vehicle_id.as_uuid(),
        r.code.key(),
        to_second(r.observed_at).unix_timestamp(),
        r.message.as_str().to_string(),
    )
}

/// Rows per multi-row INSERT on SQLite (19 parameters each).
const SQLITE_EVENT_CHUNK: usize = 500;

/// Stores a batch's events in one statement (PostgreSQL, from arrays; on
/// SQLite one per 500) and returns, per report, whether it was new: the
/// same event stored before, or earlier in the batch, is not.
async fn insert_events(
    tx: &mut Tx,
    tenant: TenantId,
    reports: &[FaultReport],
    origin: Origin,
) -> Result<Vec<bool>, StoreError> {
    // The first of each event in the batch is written; its repeats are not new.
    let keys: Vec<EventKey> = reports.iter().map(event_key).collect();
    let mut seen = HashSet::new();
    let first: Vec<bool> = keys.iter().map(|k| seen.insert(k)).collect();
    let firsts: Vec<&FaultReport> = reports
        .iter()
        .zip(&first)
        .filter_map(|(r, is_first)| is_first.then_some(r))
        .collect();
    let now = OffsetDateTime::now_utc();
    let mut inserted: HashSet<EventKey> = HashSet::with_capacity(firsts.len());
    let mut collect = |rows: Vec<(Uuid, String, OffsetDateTime, String)>| {
        inserted.extend(
            rows.into_iter()
                .map(|(v, key, at, message)| (v, key, at.unix_timestamp(), message)),
        );
    };
    match tx {
        Tx::Postgres(t) if !firsts.is_empty() => {
            let codes: Vec<_> = firsts.iter().map(|r| code_columns(&r.code)).collect();
            let lamp = |f: fn(&Lamps) -> Lamp| -> Vec<&'static str> {
                firsts.iter().map(|r| f(&r.lamps).as_str()).collect()
            };
            let rows = sqlx::query_as(
                "INSERT INTO fault_events (tenant_id, id, vehicle_id, observed_at, fault_key, protocol, spn, fmi,
                     source_address, obd_code, message, occurrences, lamp_mil, lamp_red_stop, lamp_amber_warning,
                     lamp_protect, legacy_conversion, origin, created_at)
                 SELECT $1, u.id, u.vehicle_id, u.observed_at, u.fault_key, u.protocol, u.spn, u.fmi,
                        u.source_address, u.obd_code, u.message, u.occurrences, u.lamp_mil, u.lamp_red_stop,
                        u.lamp_amber_warning, u.lamp_protect, u.legacy_conversion, $2, $3
                   FROM unnest($4::uuid[], $5::uuid[], $6::timestamptz[], $7::text[], $8::text[], $9::int4[],
                               $10::int2[], $11::int2[], $12::text[], $13::text[], $14::int2[], $15::text[],
                               $16::text[], $17::text[], $18::text[], $19::bool[])
                        AS u(id, vehicle_id, observed_at, fault_key, protocol, spn, fmi, source_address, obd_code,
                             message, occurrences, lamp_mil, lamp_red_stop, lamp_amber_warning, lamp_protect,
                             legacy_conversion)
                 ON CONFLICT (tenant_id, vehicle_id, fault_key, observed_at, message) DO NOTHING
                 RETURNING vehicle_id, fault_key, observed_at, message",
            )
            .bind(tenant.as_uuid())
            .bind(origin.as_str())
            .bind(now)
            .bind(firsts.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
            .bind(firsts.iter().map(|r| r.vehicle_id.as_uuid()).collect::<Vec<_>>())
            .bind(firsts.iter().map(|r| to_second(r.observed_at)).collect::<Vec<_>>())
            .bind(firsts.iter().map(|r| r.code.key()).collect::<Vec<_>>())
            .bind(codes.iter().map(|c| c.0).collect::<Vec<_>>())
            .bind(codes.iter().map(|c| c.1).collect::<Vec<_>>())
            .bind(codes.iter().map(|c| c.2).collect::<Vec<_>>())
            .bind(codes.iter().map(|c| c.3).collect::<Vec<_>>())
            .bind(codes.iter().map(|c| c.4).collect::<Vec<_>>())
            .bind(firsts.iter().map(|r| r.message.as_str()).collect::<Vec<_>>())
            .bind(firsts.iter().map(|r| r.occurrences.map(i16::from)).collect::<Vec<_>>())
            .bind(lamp(|l| l.mil))
            .bind(lamp(|l| l.red_stop))
            .bind(lamp(|l| l.amber_warning))
            .bind(lamp(|l| l.protect))
            .bind(firsts.iter().map(|r| r.legacy_conversion).collect::<Vec<_>>())
            .fetch_all(&mut **t)
            .await
            .ctx("recording fault events")?;
            collect(rows);
        }
        Tx::Postgres(_) => {}
        Tx::Sqlite(t) => {
            for chunk in firsts.chunks(SQLITE_EVENT_CHUNK) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO fault_events (tenant_id, id, vehicle_id, observed_at, fault_key, protocol, spn, fmi,
                         source_address, obd_code, message, occurrences, lamp_mil, lamp_red_stop, lamp_amber_warning,
                         lamp_protect, legacy_conversion, origin, created_at) ",
                );
                q.push_values(chunk, |mut row, r| {
                    let (protocol, spn, fmi, sa, obd) = code_columns(&r.code);
                    row.push_bind(tenant.as_uuid())
                        .push_bind(Uuid::now_v7())
                        .push_bind(r.vehicle_id.as_uuid())
                        .push_bind(to_second(r.observed_at))
                        .push_bind(r.code.key())
                        .push_bind(protocol)
                        .push_bind(spn)
                        .push_bind(fmi)
                        .push_bind(sa)
                        .push_bind(obd.map(str::to_string))
                        .push_bind(r.message.as_str())
                        .push_bind(r.occurrences.map(i16::from))
                        .push_bind(r.lamps.mil.as_str())
                        .push_bind(r.lamps.red_stop.as_str())
                        .push_bind(r.lamps.amber_warning.as_str())
                        .push_bind(r.lamps.protect.as_str())
                        .push_bind(r.legacy_conversion)
                        .push_bind(origin.as_str())
                        .push_bind(now);
                });
                q.push(
                    " ON CONFLICT (tenant_id, vehicle_id, fault_key, observed_at, message) DO NOTHING
                     RETURNING vehicle_id, fault_key, observed_at, message",
                );
                let rows = q
                    .build_query_as()
                    .fetch_all(&mut **t)
                    .await
                    .ctx("recording fault events")?;
                collect(rows);
            }
        }
    }
    // A report is new when it is the batch's first of its event and was inserted.
    Ok(keys
        .iter()
        .zip(first)
        .map(|(key, is_first)| is_first && inserted.contains(key))
        .collect())
}

/// PostgreSQL keeps fault events in monthly partitions, created on demand by
/// an owner-run function. Called before the transaction that writes the
/// events, so the partition's brief table lock is not held through an ingest.
pub(crate) async fn ensure_partitions(
    store: &Store,
    instants: impl IntoIterator<Item = OffsetDateTime>,
) -> Result<(), StoreError> {
    let Backend::Postgres(pool) = &store.backend else {
        return Ok(());
    };
    let months: HashSet<(i32, time::Month)> = instants
        .into_iter()
        .map(|t| (t.year(), t.month()))
        .collect();
    for (year, month) in months {
        let first = time::Date::from_calendar_date(year, month, 1)
            .map_err(|e| StoreError::Corrupt(format!("a fault month: {e}")))?
            .midnight()
            .assume_utc();
        sqlx::query("SELECT motorpool_ensure_fault_event_partition($1)")
            .bind(first)
            .execute(pool)
            .await
            .ctx("creating a fault-event partition")?;
    }
    Ok(())
}

/// Records fault reports (and DM1 snapshots) inside the caller's
/// transaction; returns, per report, whether it was new, and the vehicles
/// whose cycles changed. Partitions must exist ([`ensure_partitions`]).
pub(crate) async fn record_in(
    tx: &mut Tx,
    tenant: TenantId,
    reports: &[FaultReport],
    snapshots: &[Dm1Snapshot],
    origin: Origin,
    policy: FaultPolicy,
) -> Result<(Vec<bool>, HashSet<VehicleId>), StoreError> {
    let new = insert_events(tx, tenant, reports, origin).await?;
    let fresh: Vec<&FaultReport> = reports
        .iter()
        .zip(&new)
        .filter_map(|(r, was_new)| was_new.then_some(r))
        .collect();
    let mut touched = crate::fault_cycles::apply_events(tx, tenant, &fresh).await?;
    touched.extend(crate::fault_cycles::apply_snapshots(tx, tenant, snapshots, policy).await?);
    Ok((new, touched))
}

impl Store {
    /// A vehicle's fault cycles, latest sighting first; `status` filters.
    pub async fn list_fault_cycles(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        status: Option<FaultStatus>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<FaultCycle>, StoreError> {
        let after: Option<(i64, Uuid)> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        let before_at = after.and_then(|(t, _)| OffsetDateTime::from_unix_timestamp(t).ok());
        let rows: Vec<CycleRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CYCLE_COLUMNS} FROM fault_cycles WHERE tenant_id = $1 AND vehicle_id = $2
               AND ($3 IS NULL OR status = $3)
               AND ($4 IS NULL OR last_seen < $4 OR (last_seen = $4 AND id < $5))
             ORDER BY last_seen DESC, id DESC LIMIT $6"
            )))
            .bind(tenant.as_uuid())
            .bind(vehicle.as_uuid())
            .bind(status.map(FaultStatus::as_str))
            .bind(before_at)
            .bind(after.map(|(_, id)| id))
            .bind(limit + 1)
            .fetch_all(c)
            .await)
            .ctx("listing fault cycles")?;
        let cycles = rows
            .into_iter()
            .map(FaultCycle::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(cycles, limit, |c| {
            (c.last_seen.unix_timestamp(), c.id)
        }))
    }

    /// A vehicle's raw fault events, newest first.
    pub async fn list_fault_events(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<FaultEvent>, StoreError> {
        let after: Option<(i64, Uuid)> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        let before_at = after.and_then(|(t, _)| OffsetDateTime::from_unix_timestamp(t).ok());
        let rows: Vec<EventRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {EVENT_COLUMNS} FROM fault_events WHERE tenant_id = $1 AND vehicle_id = $2
               AND ($3 IS NULL OR observed_at < $3 OR (observed_at = $3 AND id < $4))
             ORDER BY observed_at DESC, id DESC LIMIT $5"
            )))
            .bind(tenant.as_uuid())
            .bind(vehicle.as_uuid())
            .bind(before_at)
            .bind(after.map(|(_, id)| id))
            .bind(limit + 1)
            .fetch_all(c)
            .await)
            .ctx("listing fault events")?;
        let events = rows
            .into_iter()
            .map(FaultEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(events, limit, |e| {
            (e.observed_at.unix_timestamp(), e.id)
        }))
    }
}
