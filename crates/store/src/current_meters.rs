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
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::daily_meters::{CurrentReadings, RecordedDays};
use crate::error::ResultExt;
use crate::latest_meters::{self, BatchMeters, Latest};
use crate::reading_batch::IN_LIST_CHUNK;
use crate::usage::{MeterRates, VehicleMeters};
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
    recorded: Option<&Recorded<'_>>,
) -> Result<(), StoreError> {
    let today = OffsetDateTime::now_utc().date();
    // In id order: concurrent batches then lock shared vehicle rows in the same order.
    let mut vehicles = vehicles.to_vec();
    vehicles.sort_unstable();
    vehicles.dedup();
    for chunk in vehicles.chunks(IN_LIST_CHUNK) {
        let mut latest = match recorded {
            Some(r) => latest_meters::after_ingest(tx, tenant, chunk, r.stored, &r.batch).await?,
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
            let mut current = CurrentReadings::new();
            for vehicle in &recompute {
                if let Some(found) = latest.get(vehicle) {
                    found.current_readings_into(*vehicle, &mut current);
                }
            }
            crate::daily_meters::prune_days(tx, tenant, &recompute, today).await?;
            sums.extend(crate::usage::sums_of(tx, tenant, &recompute, &current, today).await?);
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
            columns.push(KeptColumns {
                odometer_seen: found.odometer_seen,
                hours_seen: found.hours_seen,
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
                columns.due_watch = crate::due_writes::watch_json(watch.as_ref())?;
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
pub(crate) struct Recorded<'a> {
    /// The days it recorded, each meter's open day last (see
    /// [`crate::daily_meters::record_days`]).
    pub days: RecordedDays,
    /// Its vehicles' rows as they were before it (read and locked first).
    pub stored: &'a HashMap<VehicleId, Latest>,
    /// What its accepted readings say of each meter.
    pub batch: BatchMeters,
}

/// What the refresh writes beside a vehicle's meters and rates: each
/// meter's latest time seen (see [`crate::latest_meters`]), the rates' sums
/// and the due watch (JSON).
#[derive(Debug, Default)]
struct KeptColumns {
    odometer_seen: Option<OffsetDateTime>,
    hours_seen: Option<OffsetDateTime>,
    odometer_sums: Option<String>,
    hours_sums: Option<String>,
    due_watch: Option<String>,
}

/// Rows per `UPDATE … FROM (VALUES …)` on SQLite (13 parameters each).
const SQLITE_UPDATE_CHUNK: usize = 500;

/// Writes the vehicles' meters, rates and kept columns: one statement
/// (PostgreSQL, from arrays) or one per 500 vehicles (SQLite).
async fn store(
    tx: &mut Tx,
    tenant: TenantId,
    today: Date,
    meters: &[(VehicleId, VehicleMeters)],
    json: &[KeptColumns],
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
            let text = |f: fn(&KeptColumns) -> &Option<String>| -> Vec<Option<&str>> {
                json.iter().map(|j| f(j).as_deref()).collect()
            };
            let seen =
                |f: fn(&KeptColumns) -> Option<OffsetDateTime>| -> Vec<Option<OffsetDateTime>> {
                    json.iter().map(f).collect()
                };
            sqlx::query(
                "UPDATE vehicles AS v
                    SET odometer_km = u.km, odometer_at = u.km_at, engine_hours = u.hours, hours_at = u.hours_at,
                        km_per_day = u.km_per_day, hours_per_day = u.hours_per_day, usage_on = $2,
                        odometer_rate_sums = u.km_sums, hours_rate_sums = u.hours_sums, due_watch = u.watch,
                        odometer_seen_at = u.km_seen, hours_seen_at = u.hours_seen
                   FROM unnest($3::uuid[], $4::float8[], $5::timestamptz[], $6::float8[], $7::timestamptz[],
                               $8::float8[], $9::float8[], $10::text[], $11::text[], $12::text[],
                               $13::timestamptz[], $14::timestamptz[])
                        AS u(id, km, km_at, hours, hours_at, km_per_day, hours_per_day, km_sums, hours_sums, watch,
                             km_seen, hours_seen)
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
            .bind(seen(|j| j.odometer_seen))
            .bind(seen(|j| j.hours_seen))
            .execute(&mut **t)
            .await
            .ctx("updating the vehicles' current meters")?;
        }
        Tx::Sqlite(t) => {
            let rows: Vec<_> = meters.iter().zip(json).collect();
            for chunk in rows.chunks(SQLITE_UPDATE_CHUNK) {
                let mut q = sqlx::QueryBuilder::new(
                    "WITH u(id, km, km_at, hours, hours_at, km_per_day, hours_per_day, km_sums, hours_sums, watch,
                            km_seen, hours_seen) AS (",
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
                        .push_bind(j.due_watch.as_deref())
                        .push_bind(j.odometer_seen)
                        .push_bind(j.hours_seen);
                });
                q.push(
                    ") UPDATE vehicles SET odometer_km = u.km, odometer_at = u.km_at, engine_hours = u.hours,
                         hours_at = u.hours_at, km_per_day = u.km_per_day, hours_per_day = u.hours_per_day,
                         odometer_rate_sums = u.km_sums, hours_rate_sums = u.hours_sums, due_watch = u.watch,
                         odometer_seen_at = u.km_seen, hours_seen_at = u.hours_seen, usage_on = ",
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
