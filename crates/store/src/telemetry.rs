//! Telemetry batches: meter readings, single faults and DM1/DM2 messages
//! from trucks and providers, thousands per call, each naming its vehicle by
//! id, VIN or unit number.
//!
//! A batch is one transaction: the accepted items commit together, a refused
//! item is reported with the field at fault and writes nothing, and a batch
//! sent twice changes nothing the second time (readings are idempotent by
//! vehicle, meter, time and source; fault events by vehicle, code, time and
//! message; a DM1 snapshot's missed reports are counted once per instant).

use std::collections::HashMap;

use domain::fault_code::{FaultCode, FaultMessage, FaultPolicy, Origin};
use domain::ids::{TenantId, VehicleId};
use domain::j1939::{DiagnosticMessage, OC_NOT_AVAILABLE};
use domain::meter::MeterSource;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::faults::{Dm1Snapshot, FaultReport};
use crate::meters::{CurrentMeters, NewReading, ReadingOutcome};
use crate::reading_batch::record_readings_of_live;
use crate::{AuditContext, Mode, Store, StoreError, Tx, on_tx};
pub use domain::telemetry::{TelemetryItem, VehicleRef};

/// What happened to one item.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// Something new was stored.
    Created,
    /// Everything in it was stored before; nothing changed.
    Duplicate,
    /// A DM1 listing no codes: nothing to store, but applied to the ECU's
    /// open faults (they missed a report).
    Applied,
    Rejected {
        field: &'static str,
        message: String,
    },
}

/// Why an item naming no live vehicle of the tenant is refused.
const NO_VEHICLE: &str = "matches no vehicle";

/// The field of an item that names its vehicle by `r`, for an error.
fn field_of(r: &VehicleRef) -> &'static str {
    match r {
        VehicleRef::Id(_) => "vehicle_id",
        VehicleRef::Vin(_) => "vin",
        VehicleRef::External { .. } => "external_id",
        VehicleRef::UnitNumber(_) => "unit_number",
    }
}

/// Finds the vehicle an item names otherwise than by id (an id is checked
/// with the batch's vehicle rows); `Err` is the reason to reject it.
async fn resolve(
    tx: &mut Tx,
    tenant: TenantId,
    r: &VehicleRef,
) -> Result<Result<VehicleId, (&'static str, String)>, StoreError> {
    let ids: Vec<Uuid> = match r {
        // Checked against the batch's live rows instead.
        VehicleRef::Id(id) => return Ok(Ok(*id)),
        VehicleRef::Vin(vin) => on_tx!(tx, |c| sqlx::query_scalar(
            "SELECT id FROM vehicles WHERE tenant_id = $1 AND vin = $2 AND deleted_at IS NULL"
        )
        .bind(tenant.as_uuid())
        .bind(vin.as_str())
        .fetch_all(c)
        .await)
        .ctx("finding a vehicle by VIN")?,
        VehicleRef::External {
            connection,
            external_id,
        } => on_tx!(tx, |c| sqlx::query_scalar(
            "SELECT x.vehicle_id FROM vehicle_external_ids x JOIN vehicles v
               ON v.tenant_id = x.tenant_id AND v.id = x.vehicle_id AND v.deleted_at IS NULL
             WHERE x.tenant_id = $1 AND x.connection_id = $2 AND x.external_id = $3"
        )
        .bind(tenant.as_uuid())
        .bind(connection)
        .bind(external_id)
        .fetch_all(c)
        .await)
        .ctx("finding a vehicle by external id")?,
        VehicleRef::UnitNumber(unit) => on_tx!(tx, |c| sqlx::query_scalar(
            "SELECT id FROM vehicles WHERE tenant_id = $1 AND unit_number = $2 AND deleted_at IS NULL LIMIT 2"
        )
        .bind(tenant.as_uuid())
        .bind(unit)
        .fetch_all(c)
        .await)
        .ctx("finding a vehicle by unit number")?,
    };
    let field = field_of(r);
    Ok(match ids.as_slice() {
        [id] => Ok(VehicleId::from(*id)),
        [] => Err((field, NO_VEHICLE.into())),
        _ => Err((
            field,
            "matches more than one vehicle; name it by id or VIN".into(),
        )),
    })
}

/// The fault reports a DM message carries, one per DTC.
fn dm_reports(
    vehicle: VehicleId,
    message: FaultMessage,
    source_address: u8,
    observed_at: OffsetDateTime,
    decoded: &DiagnosticMessage,
) -> Vec<FaultReport> {
    decoded
        .dtcs
        .iter()
        .filter_map(|d| {
            let code = FaultCode::j1939(d.spn, d.fmi, source_address).ok()?;
            Some(FaultReport {
                vehicle_id: vehicle,
                code,
                message,
                observed_at,
                occurrences: (d.occurrences != OC_NOT_AVAILABLE).then_some(d.occurrences),
                lamps: decoded.lamps,
                legacy_conversion: d.legacy_conversion,
            })
        })
        .collect()
}

impl Store {
    /// Ingests a telemetry batch; see the module documentation. Returns one
    /// outcome per item, in order.
    #[tracing::instrument(skip_all, fields(items = items.len()))]
    pub async fn ingest_telemetry(
        &self,
        tenant: TenantId,
        items: &[TelemetryItem],
        origin: Origin,
        max_daily_km: f64,
        ctx: &AuditContext,
    ) -> Result<Vec<ItemOutcome>, StoreError> {
        crate::faults::ensure_partitions(
            self,
            items
                .iter()
                .filter(|i| !matches!(i, TelemetryItem::Reading { .. }))
                .map(|i| crate::faults::to_second(i.observed_at())),
        )
        .await?;
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let policy = FaultPolicy::from_settings(
            &crate::identity::tenant_in(&mut tx, tenant).await?.settings,
        );
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; items.len()];

        // Vehicles named otherwise than by id are found one by one; then
        // the rows of every vehicle the batch names are read (and locked)
        // in one statement, which is also the check that those named by id
        // (what telematics sends) exist and are live.
        let mut vehicles: HashMap<&VehicleRef, Result<VehicleId, (&'static str, String)>> =
            HashMap::new();
        for item in items {
            let r = item.vehicle();
            if !matches!(r, VehicleRef::Id(_)) && !vehicles.contains_key(r) {
                let found = resolve(&mut tx, tenant, r).await?;
                vehicles.insert(r, found);
            }
        }
        let named: Vec<VehicleId> = items
            .iter()
            .filter_map(|i| match i.vehicle() {
                VehicleRef::Id(id) => Some(*id),
                _ => None,
            })
            .chain(vehicles.values().filter_map(|v| v.as_ref().ok().copied()))
            .collect();
        let live =
            crate::latest_meters::live(&mut tx, tenant, &named, CurrentMeters::Refresh).await?;
        for item in items {
            let r = item.vehicle();
            let found = match (r, vehicles.get(r)) {
                (VehicleRef::Id(id), None) if live.contains_key(id) => Ok(*id),
                (VehicleRef::Id(_), None) => Err((field_of(r), NO_VEHICLE.into())),
                // Found, then deleted before its row was read (a concurrent commit).
                (_, Some(Ok(id))) if !live.contains_key(id) => {
                    Err((field_of(r), NO_VEHICLE.into()))
                }
                _ => continue,
            };
            vehicles.insert(r, found);
        }
        let vehicle_of = |i: usize| -> Result<VehicleId, ItemOutcome> {
            match vehicles.get(items[i].vehicle()) {
                Some(Ok(v)) => Ok(*v),
                Some(Err((field, message))) => Err(ItemOutcome::Rejected {
                    field,
                    message: message.clone(),
                }),
                None => Err(ItemOutcome::Rejected {
                    field: "vehicle",
                    message: "was not looked up".into(),
                }),
            }
        };

        // Readings first, so faults in the same batch find their odometer.
        let mut readings = Vec::new();
        let mut reading_items = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let TelemetryItem::Reading {
                kind,
                read_at,
                value,
                ..
            } = item
            {
                match vehicle_of(i) {
                    Ok(vehicle_id) => {
                        readings.push(NewReading {
                            vehicle_id,
                            kind: *kind,
                            read_at: *read_at,
                            value: *value,
                            source: MeterSource::Telematics,
                            note: None,
                            void: false,
                        });
                        reading_items.push(i);
                    }
                    Err(rejected) => outcomes[i] = Some(rejected),
                }
            }
        }
        // The readings' vehicles' current meters, rates and due states are
        // refreshed inside, once for the batch.
        let reading_outcomes = record_readings_of_live(
            &mut tx,
            tenant,
            &readings,
            max_daily_km,
            CurrentMeters::Refresh,
            &live,
        )
        .await?;
        for (i, outcome) in reading_items.iter().zip(reading_outcomes) {
            outcomes[*i] = Some(match outcome {
                ReadingOutcome::Created(_) => ItemOutcome::Created,
                ReadingOutcome::Duplicate(_) => ItemOutcome::Duplicate,
                ReadingOutcome::Rejected { field, message } => {
                    ItemOutcome::Rejected { field, message }
                }
            });
        }

        // Faults: each item becomes zero or more events; DM1s are also snapshots.
        let mut reports = Vec::new();
        let mut report_item = Vec::new();
        let mut snapshots = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let vehicle = match item {
                TelemetryItem::Reading { .. } => continue,
                _ => match vehicle_of(i) {
                    Ok(v) => v,
                    Err(rejected) => {
                        outcomes[i] = Some(rejected);
                        continue;
                    }
                },
            };
            match item {
                TelemetryItem::Reading { .. } => {}
                TelemetryItem::Fault {
                    code,
                    observed_at,
                    occurrences,
                    lamps,
                    ..
                } => {
                    reports.push(FaultReport {
                        vehicle_id: vehicle,
                        code: code.clone(),
                        message: FaultMessage::Fault,
                        observed_at: *observed_at,
                        occurrences: *occurrences,
                        lamps: *lamps,
                        legacy_conversion: false,
                    });
                    report_item.push(i);
                }
                TelemetryItem::Dm {
                    message,
                    source_address,
                    observed_at,
                    decoded,
                    ..
                } => {
                    let dm = dm_reports(vehicle, *message, *source_address, *observed_at, decoded);
                    if *message == FaultMessage::Dm1 {
                        snapshots.push(Dm1Snapshot {
                            vehicle_id: vehicle,
                            source_address: *source_address,
                            observed_at: *observed_at,
                            keys: dm.iter().map(|r| r.code.key()).collect(),
                        });
                    }
                    if dm.is_empty() {
                        outcomes[i] = Some(ItemOutcome::Applied);
                    }
                    report_item.extend(std::iter::repeat_n(i, dm.len()));
                    reports.extend(dm);
                }
            }
        }
        let (new, touched) =
            crate::faults::record_in(&mut tx, tenant, &reports, &snapshots, origin, policy).await?;
        for (i, was_new) in report_item.iter().zip(new) {
            let slot = &mut outcomes[*i];
            *slot = Some(match (slot.take(), was_new) {
                (_, true) | (Some(ItemOutcome::Created), false) => ItemOutcome::Created,
                _ => ItemOutcome::Duplicate,
            });
        }
        // (Moved meters rescored their vehicles through the due-state refresh.)
        let now = OffsetDateTime::now_utc();
        for vehicle in &touched {
            crate::health::refresh(&mut tx, tenant, *vehicle, now).await?;
        }

        let outcomes: Vec<ItemOutcome> = outcomes
            .into_iter()
            .map(|o| {
                o.ok_or_else(|| StoreError::Corrupt("a telemetry item was not processed".into()))
            })
            .collect::<Result<_, _>>()?;
        let count = |f: fn(&ItemOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        let created = count(|o| matches!(o, ItemOutcome::Created | ItemOutcome::Applied));
        if created > 0 {
            record(
                &mut tx,
                tenant,
                ctx,
                Change {
                    action: "telemetry.ingest",
                    entity_type: "telemetry",
                    entity_id: "batch".into(),
                    before: None,
                    after: Some(json!({
                        "submitted": items.len(),
                        "created": created,
                        "duplicate": count(|o| matches!(o, ItemOutcome::Duplicate)),
                        "rejected": count(|o| matches!(o, ItemOutcome::Rejected { .. })),
                        "origin": origin.as_str(),
                    })),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }
}
