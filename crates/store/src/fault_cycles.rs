//! Fault cycles: how new fault events and DM1 snapshots move a vehicle's
//! open cycles (see [`crate::faults`] for the lifecycle), and how a cycle is
//! resolved.

use std::collections::{BTreeMap, HashSet};

use domain::fault_code::{FaultMessage, FaultPolicy, FaultStatus, Resolution};
use domain::ids::{TenantId, VehicleId};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::faults::{
    CYCLE_COLUMNS, CycleRow, Dm1Snapshot, FaultCycle, FaultReport, Resolve, code_columns, to_second,
};
use crate::{AuditContext, Mode, Store, StoreError, Tx, execute_tx, on_tx};

/// The open (active or inactive) cycle of a code on a vehicle.
async fn open_cycle(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    key: &str,
) -> Result<Option<FaultCycle>, StoreError> {
    let row: Option<CycleRow> = on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CYCLE_COLUMNS} FROM fault_cycles
         WHERE tenant_id = $1 AND vehicle_id = $2 AND fault_key = $3 AND status <> 'resolved'"
    )))
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .bind(key)
    .fetch_optional(c)
    .await)
    .ctx("loading an open fault cycle")?;
    row.map(FaultCycle::try_from).transpose()
}

/// Folds newly stored events into fault cycles: `reports` are the new events
/// (duplicates already dropped), in any order.
pub(crate) async fn apply_events(
    tx: &mut Tx,
    tenant: TenantId,
    reports: &[&FaultReport],
) -> Result<HashSet<VehicleId>, StoreError> {
    let mut groups: BTreeMap<(VehicleId, String), Vec<&FaultReport>> = BTreeMap::new();
    for r in reports {
        groups
            .entry((r.vehicle_id, r.code.key()))
            .or_default()
            .push(r);
    }
    let mut touched = HashSet::new();
    for ((vehicle, key), mut events) in groups {
        events.sort_by_key(|r| r.observed_at);
        let open = open_cycle(tx, tenant, vehicle, &key).await?;
        // DM2 lists codes that were active before: it closes nothing and
        // opens nothing, but marks a still-active cycle as no longer active.
        let (previous, current): (Vec<&FaultReport>, Vec<&FaultReport>) = events
            .into_iter()
            .partition(|r| r.message == FaultMessage::Dm2);
        if current.is_empty() {
            if let Some(cycle) = open {
                let latest = previous.iter().map(|r| to_second(r.observed_at)).max();
                if let Some(at) =
                    latest.filter(|at| cycle.status == FaultStatus::Active && *at > cycle.last_seen)
                {
                    set_inactive(tx, tenant, cycle.id, at).await?;
                    touched.insert(vehicle);
                }
            }
            continue;
        }
        let cycle = match open {
            Some(c) => Some(c),
            None => {
                // Sightings up to the last resolution belong to closed history.
                let resolved_at: Option<OffsetDateTime> = on_tx!(tx, |c| sqlx::query_scalar(
                    "SELECT max(resolved_at) FROM fault_cycles
                     WHERE tenant_id = $1 AND vehicle_id = $2 AND fault_key = $3 AND status = 'resolved'"
                )
                .bind(tenant.as_uuid())
                .bind(vehicle.as_uuid())
                .bind(&key)
                .fetch_one(c)
                .await)
                .ctx("loading a fault's last resolution")?;
                let fresh: Vec<&FaultReport> = current
                    .iter()
                    .copied()
                    .filter(|r| resolved_at.is_none_or(|at| to_second(r.observed_at) > at))
                    .collect();
                let Some(first) = fresh.first() else {
                    continue;
                };
                insert_cycle(tx, tenant, &key, first).await?;
                let opened = open_cycle(tx, tenant, vehicle, &key).await?;
                fold(tx, tenant, opened, &fresh[1..]).await?;
                touched.insert(vehicle);
                continue;
            }
        };
        fold(tx, tenant, cycle, &current).await?;
        touched.insert(vehicle);
    }
    Ok(touched)
}

async fn insert_cycle(
    tx: &mut Tx,
    tenant: TenantId,
    key: &str,
    r: &FaultReport,
) -> Result<(), StoreError> {
    let (protocol, spn, fmi, sa, obd) = code_columns(&r.code);
    let at = to_second(r.observed_at);
    let odometer = crate::meters::odometer_at(tx, tenant, r.vehicle_id, at).await?;
    let now = OffsetDateTime::now_utc();
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO fault_cycles (tenant_id, id, vehicle_id, fault_key, protocol, spn, fmi, source_address,
                 obd_code, status, severity, first_seen, last_seen, reports, occurrences, lamp_mil, lamp_red_stop,
                 lamp_amber_warning, lamp_protect, odometer_first_km, odometer_last_km, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', $10, $11, $11, 1, $12, $13, $14, $15, $16,
                 $17, $17, $18, $18)"
        )
        .bind(tenant.as_uuid())
        .bind(Uuid::now_v7())
        .bind(r.vehicle_id.as_uuid())
        .bind(key)
        .bind(protocol)
        .bind(spn)
        .bind(fmi)
        .bind(sa)
        .bind(obd)
        .bind(r.code.assess(&r.lamps).severity.as_str())
        .bind(at)
        .bind(r.occurrences.map(i16::from))
        .bind(r.lamps.mil.as_str())
        .bind(r.lamps.red_stop.as_str())
        .bind(r.lamps.amber_warning.as_str())
        .bind(r.lamps.protect.as_str())
        .bind(odometer)
        .bind(now)
    )
    .ctx("opening a fault cycle")?;
    Ok(())
}

/// Adds sightings (sorted by time) to an open cycle, with one update.
async fn fold(
    tx: &mut Tx,
    tenant: TenantId,
    cycle: Option<FaultCycle>,
    events: &[&FaultReport],
) -> Result<(), StoreError> {
    let Some(mut c) = cycle else {
        return Err(StoreError::Corrupt("a fault cycle vanished".into()));
    };
    if events.is_empty() {
        return Ok(());
    }
    let mut latest_moved = false;
    for r in events {
        let at = to_second(r.observed_at);
        c.reports += 1;
        let severity = r.code.assess(&r.lamps).severity;
        if severity.rank() > c.severity.rank() {
            c.severity = severity;
        }
        c.first_seen = c.first_seen.min(at);
        if at >= c.last_seen {
            c.last_seen = at;
            c.occurrences = r.occurrences;
            c.lamps = r.lamps;
            latest_moved = true;
        }
        if c.inactive_since.is_some_and(|since| at > since) {
            c.status = FaultStatus::Active;
            c.inactive_since = None;
        }
    }
    if latest_moved {
        c.odometer_last_km = crate::meters::odometer_at(tx, tenant, c.vehicle_id, c.last_seen)
            .await?
            .or(c.odometer_last_km);
    }
    execute_tx!(
        tx,
        sqlx::query(
            "UPDATE fault_cycles SET status = $3, severity = $4, first_seen = $5, last_seen = $6, reports = $7,
                 occurrences = $8, lamp_mil = $9, lamp_red_stop = $10, lamp_amber_warning = $11, lamp_protect = $12,
                 odometer_last_km = $13, inactive_since = $14,
                 missed_reports = CASE WHEN $15 THEN 0 ELSE missed_reports END, updated_at = $16
             WHERE tenant_id = $1 AND id = $2"
        )
        .bind(tenant.as_uuid())
        .bind(c.id)
        .bind(c.status.as_str())
        .bind(c.severity.as_str())
        .bind(c.first_seen)
        .bind(c.last_seen)
        .bind(c.reports)
        .bind(c.occurrences.map(i16::from))
        .bind(c.lamps.mil.as_str())
        .bind(c.lamps.red_stop.as_str())
        .bind(c.lamps.amber_warning.as_str())
        .bind(c.lamps.protect.as_str())
        .bind(c.odometer_last_km)
        .bind(c.inactive_since)
        .bind(latest_moved)
        .bind(OffsetDateTime::now_utc())
    )
    .ctx("updating a fault cycle")?;
    Ok(())
}

async fn set_inactive(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    since: OffsetDateTime,
) -> Result<(), StoreError> {
    execute_tx!(
        tx,
        sqlx::query(
            "UPDATE fault_cycles SET status = 'inactive', inactive_since = $3, updated_at = $4
             WHERE tenant_id = $1 AND id = $2 AND status = 'active'"
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(since)
        .bind(OffsetDateTime::now_utc())
    )
    .ctx("marking a fault cycle inactive")?;
    Ok(())
}

/// Applies DM1 snapshots: an active J1939 cycle of the snapshot's ECU that a
/// later snapshot does not list has missed a report; after the policy's
/// number of misses in a row it becomes inactive. Each miss is counted once
/// (by its instant), so re-ingesting the same snapshots changes nothing.
pub(crate) async fn apply_snapshots(
    tx: &mut Tx,
    tenant: TenantId,
    snapshots: &[Dm1Snapshot],
    policy: FaultPolicy,
) -> Result<HashSet<VehicleId>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Open {
        id: Uuid,
        fault_key: String,
        last_seen: OffsetDateTime,
        missed_reports: i32,
        last_missed_at: Option<OffsetDateTime>,
    }
    let mut groups: BTreeMap<(VehicleId, u8), Vec<&Dm1Snapshot>> = BTreeMap::new();
    for s in snapshots {
        groups
            .entry((s.vehicle_id, s.source_address))
            .or_default()
            .push(s);
    }
    let mut touched = HashSet::new();
    for ((vehicle, sa), mut group) in groups {
        group.sort_by_key(|s| s.observed_at);
        let open: Vec<Open> = on_tx!(tx, |c| sqlx::query_as(
            "SELECT id, fault_key, last_seen, missed_reports, last_missed_at FROM fault_cycles
             WHERE tenant_id = $1 AND vehicle_id = $2 AND protocol = 'j1939' AND source_address = $3
               AND status = 'active'"
        )
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(i16::from(sa))
        .fetch_all(c)
        .await)
        .ctx("loading an ECU's active fault cycles")?;
        for mut cycle in open {
            let before = (cycle.missed_reports, cycle.last_missed_at);
            let mut inactive_since = None;
            for s in &group {
                let at = to_second(s.observed_at);
                if at <= cycle.last_seen || cycle.last_missed_at.is_some_and(|m| at <= m) {
                    continue;
                }
                if s.keys.contains(&cycle.fault_key) {
                    // Listed again after a miss (its event moved last_seen
                    // already, unless it was a duplicate): the run restarts.
                    cycle.missed_reports = 0;
                    continue;
                }
                cycle.missed_reports += 1;
                cycle.last_missed_at = Some(at);
                if i64::from(cycle.missed_reports) >= i64::from(policy.inactive_after_reports) {
                    inactive_since = Some(at);
                    break;
                }
            }
            if (cycle.missed_reports, cycle.last_missed_at) == before && inactive_since.is_none() {
                continue;
            }
            execute_tx!(
                tx,
                sqlx::query(
                    "UPDATE fault_cycles SET missed_reports = $3, last_missed_at = $4,
                         status = CASE WHEN $5 IS NULL THEN status ELSE 'inactive' END,
                         inactive_since = COALESCE($5, inactive_since), updated_at = $6
                     WHERE tenant_id = $1 AND id = $2"
                )
                .bind(tenant.as_uuid())
                .bind(cycle.id)
                .bind(cycle.missed_reports)
                .bind(cycle.last_missed_at)
                .bind(inactive_since)
                .bind(OffsetDateTime::now_utc())
            )
            .ctx("counting a missed fault report")?;
            if inactive_since.is_some() {
                touched.insert(vehicle);
            }
        }
    }
    Ok(touched)
}

impl Store {
    /// Closes an open fault cycle: by a service record of the same vehicle
    /// (`service_record_id`), a work order, or by hand, with who and why. A
    /// sighting after this opens a new cycle. Resolving a resolved cycle is a
    /// conflict, not a silent success.
    #[tracing::instrument(skip_all)]
    pub async fn resolve_fault(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        cycle: Uuid,
        how: &Resolve,
        ctx: &AuditContext,
    ) -> Result<FaultCycle, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        // The health is recomputed from every open cycle of the vehicle.
        crate::meters::lock_live_vehicle(&mut tx, tenant, vehicle).await?;
        let before: Option<CycleRow> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CYCLE_COLUMNS} FROM fault_cycles WHERE tenant_id = $1 AND vehicle_id = $2 AND id = $3"
        )))
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(cycle)
        .fetch_optional(c)
        .await)
        .ctx("loading a fault cycle")?;
        let before = FaultCycle::try_from(before.ok_or(StoreError::NotFound)?)?;
        if before.status == FaultStatus::Resolved {
            return Err(StoreError::Conflict {
                field: "status",
                message: "this fault cycle is already resolved",
            });
        }
        match (how.resolution, how.service_record_id) {
            (Resolution::Service, None) => {
                return Err(StoreError::Rule {
                    field: "service_record_id",
                    message: "is required to resolve by a service record".into(),
                });
            }
            (Resolution::Service, Some(record_id)) => {
                let found: Option<i32> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                    "SELECT 1 FROM service_records WHERE tenant_id = $1 AND vehicle_id = $2 AND id = $3"
                )
                .bind(tenant.as_uuid())
                .bind(vehicle.as_uuid())
                .bind(record_id)
                .fetch_optional(c)
                .await)
                .ctx("checking a service record")?;
                if found.is_none() {
                    return Err(StoreError::Rule {
                        field: "service_record_id",
                        message: "is not a service record of this vehicle".into(),
                    });
                }
            }
            (_, Some(_)) => {
                return Err(StoreError::Rule {
                    field: "service_record_id",
                    message: "is only for resolution `service`".into(),
                });
            }
            (_, None) => {}
        }
        let now = OffsetDateTime::now_utc();
        // Resolution time is to the second, like sightings, so a sighting in
        // the same second stays with the closed cycle.
        let resolved_at = to_second(now).max(before.last_seen);
        let row: CycleRow = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE fault_cycles SET status = 'resolved', resolved_at = $3, resolved_by = $4, resolution = $5,
                 resolution_note = $6, service_record_id = $7, updated_at = $8
             WHERE tenant_id = $1 AND id = $2 RETURNING {CYCLE_COLUMNS}"
        )))
        .bind(tenant.as_uuid())
        .bind(cycle)
        .bind(resolved_at)
        .bind(how.by.map(|u| u.as_uuid()))
        .bind(how.resolution.as_str())
        .bind(how.note.as_deref())
        .bind(how.service_record_id)
        .bind(now)
        .fetch_one(c)
        .await)
        .ctx("resolving a fault cycle")?;
        let after = FaultCycle::try_from(row)?;
        crate::health::refresh(&mut tx, tenant, vehicle, now).await?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "fault.resolve",
                entity_type: "fault_cycle",
                entity_id: cycle.to_string(),
                before: Some(json!({"status": before.status.as_str()})),
                after: Some(json!({
                    "status": after.status.as_str(),
                    "resolution": how.resolution.as_str(),
                    "service_record_id": how.service_record_id,
                    "note": how.note,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}
