//! Each vehicle's current meters — its latest live odometer and engine-hour
//! readings with their offsets applied — and its usage rates, stored on the
//! vehicle row so that pages, due forecasts and reports never read raw
//! readings; then the due states that follow from them.
//!
//! [`refresh`] takes every vehicle a write moved at once: a telematics batch
//! spans many vehicles, and on PostgreSQL every statement is a round trip
//! (docs/PERFORMANCE.md, sessions 8 and 9). It runs a fixed handful of
//! statements per 1,000 vehicles — the latest readings with the rates'
//! stored sums ([`crate::latest_meters`]; after an ingest batch, only the
//! vehicle rows), the days behind the rates of those whose sums cannot simply
//! advance (see [`crate::usage`]), the schedules of those whose meters
//! reached their due watch ([`crate::due_state`]), one update of the
//! vehicle rows — instead of six or more per vehicle.

use std::collections::HashMap;

use domain::ids::{TenantId, VehicleId};
use domain::meter::MeterKind;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::ResultExt;
use crate::latest_meters::{self, BatchLatest};
use crate::reading_batch::IN_LIST_CHUNK;
use crate::usage::{MeterRates, RecordedDays, VehicleMeters};
use crate::{StoreError, Tx};

/// Recomputes the current meters and usage rates of `vehicles` from their
/// readings, re-evaluates the due states they can move, stores meters,
/// rates and due watches on the vehicle rows (one row version each), then
/// rescores the vehicles where a schedule entered or left "overdue". Every
/// vehicle of every ingest batch goes through here, inside the batch's
/// transaction.
///
/// `recorded` is what an ingest batch has just recorded: the latest
/// readings follow from the stored current meters and the batch's own
/// ([`crate::latest_meters::after_ingest`]), and the rates' stored sums
/// advance by its days where they can ([`MeterRates::advance`]). `None` (a
/// void, an offset, an import) looks the latest readings up and recomputes
/// the rates from the stored days, as vehicles whose sums cannot advance do.
pub(crate) async fn refresh(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
    recorded: Option<&Recorded>,
) -> Result<(), StoreError> {
    let today = OffsetDateTime::now_utc().date();
    // In id order: concurrent batches then lock shared vehicle rows in the same order.
    let mut vehicles = vehicles.to_vec();
    vehicles.sort_unstable();
    vehicles.dedup();
    for chunk in vehicles.chunks(IN_LIST_CHUNK) {
        let mut latest = match recorded {
            Some(r) => latest_meters::after_ingest(tx, tenant, chunk, &r.latest).await?,
            None => latest_meters::from_readings(tx, tenant, chunk).await?,
        };
        let mut sums: HashMap<Uuid, MeterRates> = HashMap::with_capacity(chunk.len());
        let mut recompute = Vec::new();
        for vehicle in chunk {
            let found = latest.get(vehicle);
            let advanced = recorded.zip(found).and_then(|(recorded, found)| {
                let stored = (found.odometer_sums.as_deref(), found.hours_sums.as_deref());
                MeterRates::advance(stored, *vehicle, &recorded.days, today)
            });
            match advanced {
                Some(rates) => {
                    sums.insert(vehicle.as_uuid(), rates);
                }
                None => recompute.push(*vehicle),
            }
        }
        if !recompute.is_empty() {
            crate::usage::prune_days(tx, tenant, &recompute, today).await?;
            sums.extend(crate::usage::sums_of(tx, tenant, &recompute, today).await?);
        }
        let mut meters = Vec::with_capacity(chunk.len());
        let mut columns = Vec::with_capacity(chunk.len());
        let mut watches = HashMap::with_capacity(chunk.len());
        for vehicle in chunk {
            let found = latest.remove(vehicle).unwrap_or_default();
            // A watch that cannot be read is no watch: the vehicle is evaluated.
            if let Some(w) = found
                .due_watch
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
            {
                watches.insert(*vehicle, w);
            }
            let (km, hours) = (found.odometer, found.hours);
            let rates = sums.get(&vehicle.as_uuid()).copied();
            let (km_per_day, hours_per_day) = rates.map(|r| r.rates()).unwrap_or_default();
            let (odometer_sums, hours_sums) = rates.map(MeterRates::to_columns).unwrap_or_default();
            columns.push(JsonColumns {
                odometer_sums,
                hours_sums,
                due_watch: found.due_watch,
            });
            meters.push((
                *vehicle,
                VehicleMeters {
                    odometer_km: km.map(|m| m.1),
                    odometer_at: km.map(|m| m.0),
                    engine_hours: hours.map(|m| m.1),
                    hours_at: hours.map(|m| m.0),
                    km_per_day,
                    hours_per_day,
                },
            ));
        }
        let due =
            crate::due_state::reevaluate_after_meters(tx, tenant, &meters, &watches, today).await?;
        for ((vehicle, _), columns) in meters.iter().zip(&mut columns) {
            if let Some(watch) = due.watches.get(vehicle) {
                columns.due_watch = crate::due_writes::watch_json(*watch)?;
            }
        }
        store(tx, tenant, today, &meters, &columns).await?;
        let at = OffsetDateTime::now_utc();
        for vehicle in due.rescore {
            crate::health::refresh(tx, tenant, vehicle, at).await?;
        }
    }
    Ok(())
}

/// What an ingest batch recorded, for the refresh that follows it in its
/// transaction.
pub(crate) struct Recorded {
    /// The days it left in `vehicle_daily_meters`.
    pub days: RecordedDays,
    /// Each meter's latest live reading among its accepted items.
    pub latest: HashMap<(VehicleId, MeterKind), BatchLatest>,
}

/// The JSON columns the refresh writes beside a vehicle's meters: its rates'
/// sums and its due watch.
#[derive(Debug, Default)]
struct JsonColumns {
    odometer_sums: Option<String>,
    hours_sums: Option<String>,
    due_watch: Option<String>,
}

/// Rows per `UPDATE … FROM (VALUES …)` on SQLite (11 parameters each).
const SQLITE_UPDATE_CHUNK: usize = 500;

/// Writes the vehicles' meters, rates and due watches: one statement
/// (PostgreSQL, from arrays) or one per 500 vehicles (SQLite).
async fn store(
    tx: &mut Tx,
    tenant: TenantId,
    today: Date,
    meters: &[(VehicleId, VehicleMeters)],
    json: &[JsonColumns],
) -> Result<(), StoreError> {
    match tx {
        Tx::Postgres(t) => {
            let column = |f: fn(&VehicleMeters) -> Option<f64>| -> Vec<Option<f64>> {
                meters.iter().map(|(_, m)| f(m)).collect()
            };
            let at =
                |f: fn(&VehicleMeters) -> Option<OffsetDateTime>| -> Vec<Option<OffsetDateTime>> {
                    meters.iter().map(|(_, m)| f(m)).collect()
                };
            let ids: Vec<Uuid> = meters.iter().map(|(v, _)| v.as_uuid()).collect();
            let text = |f: fn(&JsonColumns) -> &Option<String>| -> Vec<Option<&str>> {
                json.iter().map(|j| f(j).as_deref()).collect()
            };
            sqlx::query(
                "UPDATE vehicles AS v
                    SET odometer_km = u.km, odometer_at = u.km_at, engine_hours = u.hours, hours_at = u.hours_at,
                        km_per_day = u.km_per_day, hours_per_day = u.hours_per_day, usage_on = $2,
                        odometer_rate_sums = u.km_sums, hours_rate_sums = u.hours_sums, due_watch = u.watch
                   FROM unnest($3::uuid[], $4::float8[], $5::timestamptz[], $6::float8[], $7::timestamptz[],
                               $8::float8[], $9::float8[], $10::text[], $11::text[], $12::text[])
                        AS u(id, km, km_at, hours, hours_at, km_per_day, hours_per_day, km_sums, hours_sums, watch)
                  WHERE v.tenant_id = $1 AND v.id = u.id",
            )
            .bind(tenant.as_uuid())
            .bind(today)
            .bind(ids)
            .bind(column(|m| m.odometer_km))
            .bind(at(|m| m.odometer_at))
            .bind(column(|m| m.engine_hours))
            .bind(at(|m| m.hours_at))
            .bind(column(|m| m.km_per_day))
            .bind(column(|m| m.hours_per_day))
            .bind(text(|j| &j.odometer_sums))
            .bind(text(|j| &j.hours_sums))
            .bind(text(|j| &j.due_watch))
            .execute(&mut **t)
            .await
            .ctx("updating the vehicles' current meters")?;
        }
        Tx::Sqlite(t) => {
            let rows: Vec<_> = meters.iter().zip(json).collect();
            for chunk in rows.chunks(SQLITE_UPDATE_CHUNK) {
                let mut q = sqlx::QueryBuilder::new(
                    "WITH u(id, km, km_at, hours, hours_at, km_per_day, hours_per_day, km_sums, hours_sums, watch) AS (",
                );
                q.push_values(chunk, |mut row, ((vehicle, m), j)| {
                    row.push_bind(vehicle.as_uuid())
                        .push_bind(m.odometer_km)
                        .push_bind(m.odometer_at)
                        .push_bind(m.engine_hours)
                        .push_bind(m.hours_at)
                        .push_bind(m.km_per_day)
                        .push_bind(m.hours_per_day)
                        .push_bind(j.odometer_sums.as_deref())
                        .push_bind(j.hours_sums.as_deref())
                        .push_bind(j.due_watch.as_deref());
                });
                q.push(
                    ") UPDATE vehicles SET odometer_km = u.km, odometer_at = u.km_at, engine_hours = u.hours,
                         hours_at = u.hours_at, km_per_day = u.km_per_day, hours_per_day = u.hours_per_day,
                         odometer_rate_sums = u.km_sums, hours_rate_sums = u.hours_sums, due_watch = u.watch,
                         usage_on = ",
                );
                q.push_bind(today);
                q.push(" FROM u WHERE vehicles.tenant_id = ");
                q.push_bind(tenant.as_uuid());
                q.push(" AND vehicles.id = u.id");
                q.build()
                    .execute(&mut **t)
                    .await
                    .ctx("updating the vehicles' current meters")?;
            }
        }
    }
    Ok(())
}
