//! Writing fills in bulk: multi-row INSERTs of fills whose readings are
//! already recorded, and batched updates of the economy segments the chain
//! recomputation changed. The import path writes thousands of fills this
//! way; a fill created through the API goes through the same writer.

use domain::ids::TenantId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::fuel::NewFuelEntry;
use crate::{StoreError, Tx, on_tx};

/// One fill ready to store: its odometer reading is already recorded.
pub(crate) struct FuelRow<'a> {
    pub id: Uuid,
    pub entry: &'a NewFuelEntry,
    pub reading_id: Uuid,
    pub import_key: Option<&'a str>,
}

/// Rows per multi-row INSERT of fills (24 parameters each: well under both
/// backends' parameter limits).
const FUEL_INSERT_CHUNK: usize = 400;

/// Writes fills with multi-row INSERTs: an import of thousands of fills costs
/// a few statements instead of one round trip each.
pub(crate) async fn insert_fuel_rows(
    tx: &mut Tx,
    tenant: TenantId,
    rows: &[FuelRow<'_>],
) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    for chunk in rows.chunks(FUEL_INSERT_CHUNK) {
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO fuel_entries (tenant_id, id, vehicle_id, filled_at, odometer_value, odometer_unit,
                     odometer_km, fuel_type, grade, quantity, quantity_unit, quantity_canonical, unit_price_milli,
                     total_minor, currency, full_fill, missed_previous, station, soc_before, soc_after, notes,
                     meter_reading_id, created_at, import_key) ",
            );
            q.push_values(chunk, |mut b, row| {
                let new = row.entry;
                b.push_bind(tenant.as_uuid())
                    .push_bind(row.id)
                    .push_bind(new.vehicle_id.as_uuid())
                    .push_bind(crate::meters::to_second(new.filled_at))
                    .push_bind(new.odometer.value)
                    .push_bind(new.odometer.unit.as_str())
                    .push_bind(new.odometer.canonical)
                    .push_bind(new.fuel_type.as_str())
                    .push_bind(new.grade.clone())
                    .push_bind(new.quantity)
                    .push_bind(new.quantity_unit.as_str())
                    .push_bind(new.quantity_canonical)
                    .push_bind(new.unit_price_milli)
                    .push_bind(new.total_minor)
                    .push_bind(new.currency.as_str().to_string())
                    .push_bind(new.full)
                    .push_bind(new.missed_previous)
                    .push_bind(new.station.clone())
                    .push_bind(new.soc_before)
                    .push_bind(new.soc_after)
                    .push_bind(new.notes.clone())
                    .push_bind(row.reading_id)
                    .push_bind(now)
                    .push_bind(row.import_key.map(str::to_string));
            });
            q.build().execute(c).await.map(|r| r.rows_affected())
        })
        .ctx("recording fuel entries")?;
    }
    Ok(())
}

/// A fill whose closed segment changed: (id, distance, quantity, cost).
pub(crate) type SegmentUpdate = (Uuid, Option<f64>, Option<f64>, Option<i64>);

/// Writes changed segments. After an import every new fill has one, so they
/// go in batches instead of a statement each (the 50,000-row import made
/// 50,000 statements here): on PostgreSQL one `UPDATE … FROM unnest(…)` per
/// 10,000 rows, typed by its array parameters; on SQLite, which has no
/// arrays, an `UPDATE … FROM` a `VALUES` list per 500 rows (each statement
/// crosses to sqlx's SQLite worker thread, which cost ~40 µs a row).
pub(crate) async fn store_segments(
    tx: &mut Tx,
    tenant: TenantId,
    changed: &[SegmentUpdate],
) -> Result<(), StoreError> {
    match tx {
        Tx::Postgres(t) => {
            for chunk in changed.chunks(10_000) {
                let ids: Vec<Uuid> = chunk.iter().map(|c| c.0).collect();
                let distances: Vec<Option<f64>> = chunk.iter().map(|c| c.1).collect();
                let quantities: Vec<Option<f64>> = chunk.iter().map(|c| c.2).collect();
                let costs: Vec<Option<i64>> = chunk.iter().map(|c| c.3).collect();
                sqlx::query(
                    "UPDATE fuel_entries AS f
                        SET seg_distance_km = s.distance, seg_quantity = s.quantity, seg_cost_minor = s.cost
                       FROM unnest($2::uuid[], $3::float8[], $4::float8[], $5::int8[])
                            AS s(id, distance, quantity, cost)
                      WHERE f.tenant_id = $1 AND f.id = s.id",
                )
                .bind(tenant.as_uuid())
                .bind(ids)
                .bind(distances)
                .bind(quantities)
                .bind(costs)
                .execute(&mut **t)
                .await
                .ctx("storing fuel segments")?;
            }
        }
        Tx::Sqlite(t) => {
            // 4 parameters per row: 500 rows stay far below SQLite's limit.
            for chunk in changed.chunks(500) {
                let mut q = sqlx::QueryBuilder::new("WITH s(id, distance, quantity, cost) AS (");
                q.push_values(chunk, |mut row, (id, distance, quantity, cost)| {
                    row.push_bind(*id)
                        .push_bind(*distance)
                        .push_bind(*quantity)
                        .push_bind(*cost);
                });
                q.push(
                    ") UPDATE fuel_entries
                        SET seg_distance_km = s.distance, seg_quantity = s.quantity, seg_cost_minor = s.cost
                       FROM s WHERE fuel_entries.tenant_id = ",
                );
                q.push_bind(tenant.as_uuid());
                q.push(" AND fuel_entries.id = s.id");
                q.build()
                    .execute(&mut **t)
                    .await
                    .ctx("storing fuel segments")?;
            }
        }
    }
    Ok(())
}
