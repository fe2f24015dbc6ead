//! Writing due evaluation's results: moved due states in batches, and the
//! vehicles' due watches ([`domain::due_watch::DueWatch`]). Evaluation
//! itself is in [`crate::due_state`].

use domain::due_watch::DueWatch;
use domain::ids::{TenantId, VehicleId};
use domain::maintenance::DueState;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::ResultExt;
use crate::reading_batch::{IN_LIST_CHUNK, push_in_list};
use crate::schedules::far_future;
use crate::{StoreError, Tx, execute_tx, on_tx};

/// A schedule whose due state (or the day it can next move) moved: its id,
/// the new state, and whether it entered or left "overdue" (which the
/// vehicle's health counts).
pub(crate) struct Moved {
    pub id: Uuid,
    pub state: DueState,
    pub recheck_on: Date,
    /// False when only `recheck_on` moved (`updated_at` then stays).
    pub state_changed: bool,
    pub overdue_changed: bool,
}

/// Stores one vehicle's due watch (NULL for none: every reading evaluates).
pub(crate) async fn store_watch(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    watch: Option<DueWatch>,
) -> Result<(), StoreError> {
    let text = watch_json(watch.as_ref())?;
    execute_tx!(
        tx,
        sqlx::query("UPDATE vehicles SET due_watch = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(vehicle.as_uuid())
            .bind(text)
    )
    .ctx("storing a vehicle's due watch")?;
    Ok(())
}

/// A due watch as its column holds it.
pub(crate) fn watch_json(watch: Option<&DueWatch>) -> Result<Option<String>, StoreError> {
    watch
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("a due watch: {e}")))
}

/// Forgets the due watches of `vehicles` (after the calendar moved one of
/// their states, which can leave a threshold wrong): their next meter move
/// evaluates them and stores a new one.
pub(crate) async fn forget_watches(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
) -> Result<(), StoreError> {
    for chunk in vehicles.chunks(IN_LIST_CHUNK) {
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "UPDATE vehicles SET due_watch = NULL WHERE due_watch IS NOT NULL AND tenant_id = ",
            );
            q.push_bind(tenant.as_uuid()).push(" AND id");
            push_in_list(&mut q, chunk);
            q.build().execute(c).await.map(drop)
        })
        .ctx("forgetting due watches")?;
    }
    Ok(())
}

/// Writes moved due states: on PostgreSQL one `UPDATE … FROM unnest(…)` per
/// 10,000 schedules, on SQLite an `UPDATE … FROM` a `VALUES` list per 500
/// (see `fuel_batch::store_segments` for why both batch).
pub(crate) async fn store_states(
    tx: &mut Tx,
    tenant: TenantId,
    moved: &[Moved],
) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    match tx {
        Tx::Postgres(t) => {
            for chunk in moved.chunks(10_000) {
                let column = |f: &dyn Fn(&Moved) -> Option<f64>| -> Vec<Option<f64>> {
                    chunk.iter().map(f).collect()
                };
                let ids: Vec<Uuid> = chunk.iter().map(|m| m.id).collect();
                let next_km = column(&|m| m.state.next_km);
                let next_hours = column(&|m| m.state.next_hours);
                let next_on: Vec<Option<Date>> = chunk.iter().map(|m| m.state.next_date).collect();
                let status: Vec<&str> = chunk.iter().map(|m| m.state.status.as_str()).collect();
                let urgency: Vec<i32> = chunk.iter().map(|m| m.state.status.urgency()).collect();
                let forecast: Vec<Option<Date>> = chunk.iter().map(|m| m.state.forecast).collect();
                let sort: Vec<Date> = chunk
                    .iter()
                    .map(|m| m.state.forecast.unwrap_or_else(far_future))
                    .collect();
                let recheck: Vec<Date> = chunk.iter().map(|m| m.recheck_on).collect();
                let changed: Vec<bool> = chunk.iter().map(|m| m.state_changed).collect();
                sqlx::query(
                    "UPDATE maintenance_schedules AS s
                        SET next_due_km = u.next_km, next_due_hours = u.next_hours, next_due_on = u.next_on,
                            status = u.status, urgency = u.urgency, forecast_on = u.forecast,
                            forecast_sort = u.sort, recheck_on = u.recheck,
                            updated_at = CASE WHEN u.changed THEN $2 ELSE s.updated_at END
                       FROM unnest($3::uuid[], $4::float8[], $5::float8[], $6::date[], $7::text[], $8::int4[],
                                   $9::date[], $10::date[], $11::date[], $12::bool[])
                            AS u(id, next_km, next_hours, next_on, status, urgency, forecast, sort, recheck, changed)
                      WHERE s.tenant_id = $1 AND s.id = u.id",
                )
                .bind(tenant.as_uuid())
                .bind(now)
                .bind(ids)
                .bind(next_km)
                .bind(next_hours)
                .bind(next_on)
                .bind(status)
                .bind(urgency)
                .bind(forecast)
                .bind(sort)
                .bind(recheck)
                .bind(changed)
                .execute(&mut **t)
                .await
                .ctx("storing due states")?;
            }
        }
        Tx::Sqlite(t) => {
            // 10 parameters per row: 500 rows stay far below SQLite's limit.
            for chunk in moved.chunks(500) {
                let mut q = sqlx::QueryBuilder::new(
                    "WITH u(id, next_km, next_hours, next_on, status, urgency, forecast, sort, recheck, changed) AS (",
                );
                q.push_values(chunk, |mut row, m| {
                    row.push_bind(m.id)
                        .push_bind(m.state.next_km)
                        .push_bind(m.state.next_hours)
                        .push_bind(m.state.next_date)
                        .push_bind(m.state.status.as_str())
                        .push_bind(m.state.status.urgency())
                        .push_bind(m.state.forecast)
                        .push_bind(m.state.forecast.unwrap_or_else(far_future))
                        .push_bind(m.recheck_on)
                        .push_bind(m.state_changed);
                });
                q.push(
                    ") UPDATE maintenance_schedules
                        SET next_due_km = u.next_km, next_due_hours = u.next_hours, next_due_on = u.next_on,
                            status = u.status, urgency = u.urgency, forecast_on = u.forecast,
                            forecast_sort = u.sort, recheck_on = u.recheck,
                            updated_at = CASE WHEN u.changed THEN ",
                );
                q.push_bind(now);
                q.push(" ELSE maintenance_schedules.updated_at END");
                q.push(" FROM u WHERE maintenance_schedules.tenant_id = ");
                q.push_bind(tenant.as_uuid());
                q.push(" AND maintenance_schedules.id = u.id");
                q.build()
                    .execute(&mut **t)
                    .await
                    .ctx("storing due states")?;
            }
        }
    }
    Ok(())
}
