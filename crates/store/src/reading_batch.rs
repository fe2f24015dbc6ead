//! Recording meter readings in bulk: the batch's vehicles and their meter
//! offsets are read once, every meter's stored readings around the batch
//! together ([`Window::load_all`]), every item is checked in memory
//! (duplicates, the monotonic rule, jump flags) in time order, and the
//! accepted ones are written once for the whole batch — a few statements
//! per batch, however many vehicles and meters it spans, instead of several
//! per reading. Every statement is a round trip, and on PostgreSQL the round
//! trips, not the rows, were the ingest's cost (docs/PERFORMANCE.md,
//! sessions 8–10).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use domain::ids::{TenantId, VehicleId};
use domain::meter::{MeterKind, check_order, jump_flag};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::latest_meters::Latest;
use crate::meters::{CurrentMeters, NewReading, Reading, ReadingOutcome, offset_at, to_second};
use crate::reading_window::{Span, Window};
use crate::{StoreError, Tx, on_tx};

/// Records readings inside the caller's transaction (fuel and service
/// records add their odometer this way); see [`crate::Store::record_readings`].
pub(crate) async fn record_readings_in(
    tx: &mut Tx,
    tenant: TenantId,
    items: &[NewReading],
    max_daily_km: f64,
    current: CurrentMeters,
) -> Result<Vec<ReadingOutcome>, StoreError> {
    let vehicles: Vec<VehicleId> = items.iter().map(|i| i.vehicle_id).collect();
    let live = crate::latest_meters::live(tx, tenant, &vehicles, current).await?;
    record_readings_of_live(tx, tenant, items, max_daily_km, current, &live).await
}

/// [`record_readings_in`] for a caller that has just read (and locked) the
/// rows of its live vehicles in this transaction (telemetry resolves its
/// items' vehicles first): `live` holds them, by id, and items of any
/// other vehicle are refused.
pub(crate) async fn record_readings_of_live(
    tx: &mut Tx,
    tenant: TenantId,
    items: &[NewReading],
    max_daily_km: f64,
    current: CurrentMeters,
    live: &HashMap<VehicleId, Latest>,
) -> Result<Vec<ReadingOutcome>, StoreError> {
    let mut outcomes: Vec<Option<ReadingOutcome>> = vec![None; items.len()];
    // Process each meter's items in time order, so a batch may arrive unsorted.
    let mut groups: BTreeMap<(VehicleId, &str), Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        groups
            .entry((item.vehicle_id, item.kind.as_str()))
            .or_default()
            .push(i);
    }
    let now = OffsetDateTime::now_utc();
    // One query for the whole batch: every meter's offsets (a batch from a
    // fleet spans many vehicles).
    let mut vehicles: Vec<VehicleId> = groups
        .keys()
        .map(|(v, _)| *v)
        .filter(|v| live.contains_key(v))
        .collect();
    vehicles.dedup();
    // The rows of a batch that refreshes its vehicles settle most meters'
    // windows, then the current meters. A deferred refresh's do not (they
    // lag its own earlier readings).
    let stored = (current == CurrentMeters::Refresh).then_some(live);
    let mut all_offsets = offsets_of(tx, tenant, &vehicles).await?;
    // Each meter's items in time order, then every live meter's stored
    // readings around its items, read together.
    let groups: Vec<((VehicleId, MeterKind), Vec<usize>)> = groups
        .into_iter()
        .map(|((vehicle, _), mut indexes)| {
            indexes.sort_by_key(|i| items[*i].read_at);
            ((vehicle, items[indexes[0]].kind), indexes)
        })
        .collect();
    let mut settled = HashMap::new();
    let spans: Vec<Span> = groups
        .iter()
        .filter(|((vehicle, _), _)| live.contains_key(vehicle))
        .map(|((vehicle, kind), indexes)| Span {
            vehicle: *vehicle,
            kind: *kind,
            from: to_second(items[indexes[0]].read_at),
            to: to_second(items[indexes[indexes.len() - 1]].read_at),
        })
        .filter(|span| {
            let window = stored
                .and_then(|rows| rows.get(&span.vehicle))
                .and_then(|row| row.window_from(span.kind, span.from));
            match window {
                Some(window) => {
                    settled.insert((span.vehicle, span.kind), window);
                    false
                }
                None => true,
            }
        })
        .collect();
    let mut windows = Window::load_all(tx, tenant, &spans, &all_offsets).await?;
    // Meters whose every stored reading is older than the batch's.
    let ahead: HashSet<(VehicleId, MeterKind)> = settled.keys().copied().collect();
    windows.extend(settled);
    let mut moved = std::collections::BTreeSet::new();
    let mut all_accepted = Vec::new();
    for ((vehicle, kind), indexes) in groups {
        if !live.contains_key(&vehicle) {
            for i in indexes {
                outcomes[i] = Some(ReadingOutcome::Rejected {
                    field: "vehicle_id",
                    message: "no such vehicle".into(),
                });
            }
            continue;
        }
        let offsets = all_offsets.remove(&(vehicle, kind)).unwrap_or_default();
        let max_per_day = if kind == MeterKind::Hours {
            domain::meter::MAX_DAILY_HOURS
        } else {
            max_daily_km
        };
        let mut window = windows.remove(&(vehicle, kind)).unwrap_or_default();
        let mut accepted = Vec::new();
        for i in indexes {
            let item = &items[i];
            let at = to_second(item.read_at);
            if let Some(existing) = window.existing(at, item.source.as_str()) {
                outcomes[i] = Some(
                    if (existing.canonical - item.value.canonical).abs() < 1e-6 {
                        ReadingOutcome::Duplicate(existing.clone())
                    } else {
                        ReadingOutcome::Rejected {
                            field: "value",
                            message:
                                "a different reading from this source at this time already exists"
                                    .into(),
                        }
                    },
                );
                continue;
            }
            let effective = item.value.canonical + offset_at(&offsets, at);
            let flag = if item.void {
                None
            } else {
                let (previous, next) = window.neighbours(at);
                if let Err(message) = check_order(previous, next, effective) {
                    outcomes[i] = Some(ReadingOutcome::Rejected {
                        field: "value",
                        message,
                    });
                    continue;
                }
                jump_flag(previous, at, effective, max_per_day)
            };
            let reading = Reading {
                id: Uuid::now_v7(),
                vehicle_id: vehicle,
                kind,
                read_at: at,
                value: item.value.value,
                unit: item.value.unit,
                canonical: item.value.canonical,
                effective,
                source: item.source,
                note: item.note.clone(),
                void: item.void,
                flag,
            };
            window.add(&reading);
            outcomes[i] = Some(ReadingOutcome::Created(reading.clone()));
            accepted.push(reading);
        }
        if !accepted.is_empty() {
            moved.insert(vehicle);
        }
        all_accepted.append(&mut accepted);
    }
    // Written once for the whole batch: each meter's items were checked
    // against its own window above, and the summaries merge by vehicle.
    insert_readings(tx, tenant, &all_accepted, now).await?;
    crate::distance::record_distance(tx, tenant, &all_accepted).await?;
    let mut readings_before = crate::daily_meters::CurrentReadings::new();
    for (vehicle, row) in live {
        row.current_readings_into(*vehicle, &mut readings_before);
    }
    let days =
        crate::daily_meters::record_days(tx, tenant, &all_accepted, &ahead, &readings_before)
            .await?;
    if current == CurrentMeters::Refresh {
        let moved: Vec<VehicleId> = moved.into_iter().collect();
        let recorded = crate::current_meters::Recorded {
            days,
            stored: live,
            batch: crate::latest_meters::BatchMeters::of(&all_accepted),
        };
        crate::current_meters::refresh(tx, tenant, &moved, Some(&recorded)).await?;
    }
    let outcomes: Vec<ReadingOutcome> = outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| StoreError::Corrupt("a reading was not processed".into())))
        .collect::<Result<_, _>>()?;
    Ok(outcomes)
}

/// Vehicles per statement that names them (SQLite binds each id: well under
/// its limit on parameters).
pub(crate) const IN_LIST_CHUNK: usize = 1000;

/// Every meter offset of `vehicles`, by (vehicle, meter), in time order: one
/// statement for a whole batch.
pub(crate) async fn offsets_of(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
) -> Result<HashMap<(VehicleId, MeterKind), Vec<(OffsetDateTime, f64)>>, StoreError> {
    let mut offsets: HashMap<_, Vec<_>> = HashMap::new();
    for chunk in vehicles.chunks(IN_LIST_CHUNK) {
        let rows: Vec<(Uuid, String, OffsetDateTime, f64)> = on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT vehicle_id, kind, effective_at, offset_value FROM meter_offsets WHERE tenant_id = ",
            );
            q.push_bind(tenant.as_uuid()).push(" AND vehicle_id");
            push_in_list(&mut q, chunk);
            q.push(" ORDER BY vehicle_id, kind, effective_at");
            q.build_query_as().fetch_all(c).await
        })
        .ctx("loading meter offsets")?;
        for (vehicle, kind, at, offset) in rows {
            let kind = MeterKind::from_str(&kind).map_err(StoreError::Corrupt)?;
            offsets
                .entry((VehicleId::from(vehicle), kind))
                .or_default()
                .push((at, offset));
        }
    }
    Ok(offsets)
}

/// Appends a condition on a set of vehicle ids to a statement: ` = ANY($n)`
/// with one array parameter on PostgreSQL, so the statement text (and its
/// prepared plan) is the same whatever the batch's size; ` IN (?, …)` on
/// SQLite, which has no arrays and whose statements cost no round trip.
pub(crate) fn push_in_list<DB: VehicleSet>(q: &mut sqlx::QueryBuilder<DB>, vehicles: &[VehicleId]) {
    DB::push_vehicles(q, vehicles);
}

/// A backend's way to name a set of vehicles in one statement; see [`push_in_list`].
pub(crate) trait VehicleSet: sqlx::Database {
    fn push_vehicles(q: &mut sqlx::QueryBuilder<Self>, vehicles: &[VehicleId]);
}

impl VehicleSet for sqlx::Postgres {
    fn push_vehicles(q: &mut sqlx::QueryBuilder<Self>, vehicles: &[VehicleId]) {
        let ids: Vec<Uuid> = vehicles.iter().map(|v| v.as_uuid()).collect();
        q.push(" = ANY(").push_bind(ids).push(")");
    }
}

impl VehicleSet for sqlx::Sqlite {
    fn push_vehicles(q: &mut sqlx::QueryBuilder<Self>, vehicles: &[VehicleId]) {
        q.push(" IN (");
        let mut ids = q.separated(", ");
        for v in vehicles {
            ids.push_bind(v.as_uuid());
        }
        q.push(")");
    }
}

/// Rows per multi-row INSERT on SQLite (13 parameters each: well under its limit).
const INSERT_CHUNK: usize = 500;

/// Rows per INSERT on PostgreSQL, whose arrays carry any number of rows.
const PG_INSERT_CHUNK: usize = 10_000;

/// Writes accepted readings: on PostgreSQL one `INSERT … SELECT … FROM
/// unnest(…)` per 10,000 rows (one array parameter per column, so the
/// statement is planned once and the parameters are sent as eleven binary
/// arrays instead of 13 parameters a row); on SQLite multi-row INSERTs.
async fn insert_readings(
    tx: &mut Tx,
    tenant: TenantId,
    readings: &[Reading],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if let Tx::Postgres(t) = tx {
        for chunk in readings.chunks(PG_INSERT_CHUNK) {
            let strings = |f: &dyn Fn(&Reading) -> &'static str| -> Vec<&'static str> {
                chunk.iter().map(f).collect()
            };
            let optional = |f: &dyn Fn(&Reading) -> Option<String>| -> Vec<Option<String>> {
                chunk.iter().map(f).collect()
            };
            let ids: Vec<Uuid> = chunk.iter().map(|r| r.id).collect();
            let vehicles: Vec<Uuid> = chunk.iter().map(|r| r.vehicle_id.as_uuid()).collect();
            let times: Vec<OffsetDateTime> = chunk.iter().map(|r| r.read_at).collect();
            let values: Vec<f64> = chunk.iter().map(|r| r.value).collect();
            let canonical: Vec<f64> = chunk.iter().map(|r| r.canonical).collect();
            let void: Vec<bool> = chunk.iter().map(|r| r.void).collect();
            sqlx::query(
                "INSERT INTO meter_readings (tenant_id, id, vehicle_id, kind, read_at, value, unit, canonical,
                     source, note, void, flag, created_at)
                 SELECT $1, u.id, u.vehicle_id, u.kind, u.read_at, u.value, u.unit, u.canonical,
                        u.source, u.note, u.void, u.flag, $2
                   FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[], $7::float8[],
                               $8::text[], $9::float8[], $10::text[], $11::text[], $12::bool[], $13::text[])
                        AS u(id, vehicle_id, kind, read_at, value, unit, canonical, source, note, void, flag)",
            )
            .bind(tenant.as_uuid())
            .bind(now)
            .bind(ids)
            .bind(vehicles)
            .bind(strings(&|r| r.kind.as_str()))
            .bind(times)
            .bind(values)
            .bind(strings(&|r| r.unit.as_str()))
            .bind(canonical)
            .bind(strings(&|r| r.source.as_str()))
            .bind(optional(&|r| r.note.clone()))
            .bind(void)
            .bind(optional(&|r| r.flag.clone()))
            .execute(&mut **t)
            .await
            .ctx("recording readings")?;
        }
        return Ok(());
    }
    for chunk in readings.chunks(INSERT_CHUNK) {
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO meter_readings (tenant_id, id, vehicle_id, kind, read_at, value, unit, canonical,
                     source, note, void, flag, created_at) ",
            );
            q.push_values(chunk, |mut row, r| {
                row.push_bind(tenant.as_uuid())
                    .push_bind(r.id)
                    .push_bind(r.vehicle_id.as_uuid())
                    .push_bind(r.kind.as_str())
                    .push_bind(r.read_at)
                    .push_bind(r.value)
                    .push_bind(r.unit.as_str())
                    .push_bind(r.canonical)
                    .push_bind(r.source.as_str())
                    .push_bind(r.note.clone())
                    .push_bind(r.void)
                    .push_bind(r.flag.clone())
                    .push_bind(now);
            });
            q.build().execute(c).await.map(|r| r.rows_affected())
        })
        .ctx("recording readings")?;
    }
    Ok(())
}
