//! Distance per vehicle and month (`vehicle_monthly_distance`), maintained
//! on write, so the fleet cost report reads twelve small rows per vehicle
//! instead of a year of raw odometer readings.
//!
//! A row holds the first and last live odometer reading of the month (time
//! and effective value, offsets included). A month's distance is its last
//! value minus the last value of the vehicle's previous month with readings
//! (or its own first, for the first month on record): driving that spans a
//! month boundary is counted in the month it is read in.
//!
//! New readings only ever widen a month's span, so the ingest path upserts
//! them without reading anything back. Voiding a reading or adding a meter
//! offset changes values already summarised: those rebuild the vehicle's
//! months from the change on ([`refresh_distance`]).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use domain::ids::{TenantId, VehicleId};
use domain::meter::MeterKind;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::error::ResultExt;
use crate::meters::{Reading, load_offsets, offset_at};
use crate::spend::{month_of, next_month};
use crate::{StoreError, Tx, execute_tx, on_tx};

/// A month's span of readings: (first at, first km, last at, last km), times
/// in Unix seconds.
type Span = (i64, f64, i64, f64);

fn month_at(at: OffsetDateTime) -> Date {
    month_of(at.to_offset(UtcOffset::UTC).date())
}

/// Rows per multi-row upsert (7 parameters each).
const UPSERT_CHUNK: usize = 1_000;

/// Folds newly recorded readings into their months (odometer, live only).
pub(crate) async fn record_distance(
    tx: &mut Tx,
    tenant: TenantId,
    readings: &[Reading],
) -> Result<(), StoreError> {
    let mut spans: BTreeMap<(VehicleId, Date), Span> = BTreeMap::new();
    for r in readings
        .iter()
        .filter(|r| r.kind == MeterKind::Odometer && !r.void)
    {
        let at = r.read_at.unix_timestamp();
        spans
            .entry((r.vehicle_id, month_at(r.read_at)))
            .and_modify(|s| {
                if at < s.0 {
                    (s.0, s.1) = (at, r.effective);
                }
                if at > s.2 {
                    (s.2, s.3) = (at, r.effective);
                }
            })
            .or_insert((at, r.effective, at, r.effective));
    }
    let rows: Vec<_> = spans.into_iter().collect();
    upsert(tx, tenant, &rows).await
}

/// Every right-hand side of the upsert reads the row as it was: the order
/// of the assignments does not matter.
const WIDEN_MONTH: &str = " ON CONFLICT (tenant_id, vehicle_id, month) DO UPDATE SET
    first_km = CASE WHEN excluded.first_at < d.first_at THEN excluded.first_km ELSE d.first_km END,
    first_at = CASE WHEN excluded.first_at < d.first_at THEN excluded.first_at ELSE d.first_at END,
    last_km = CASE WHEN excluded.last_at > d.last_at THEN excluded.last_km ELSE d.last_km END,
    last_at = CASE WHEN excluded.last_at > d.last_at THEN excluded.last_at ELSE d.last_at END";

async fn upsert(
    tx: &mut Tx,
    tenant: TenantId,
    rows: &[((VehicleId, Date), Span)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    if let Tx::Postgres(t) = tx {
        // Arrays, so the statement is prepared once per connection whatever
        // the row count (as the readings' insert).
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "INSERT INTO vehicle_monthly_distance AS d
                     (tenant_id, vehicle_id, month, first_at, first_km, last_at, last_km)
                 SELECT $1, u.* FROM unnest($2::uuid[], $3::date[], $4::int8[], $5::float8[], $6::int8[], $7::float8[])
                     AS u(vehicle_id, month, first_at, first_km, last_at, last_km){WIDEN_MONTH}"
            )
        });
        let spans = || rows.iter().map(|(_, span)| span);
        sqlx::query(SQL.as_str())
            .bind(tenant.as_uuid())
            .bind(
                rows.iter()
                    .map(|((v, _), _)| v.as_uuid())
                    .collect::<Vec<uuid::Uuid>>(),
            )
            .bind(
                rows.iter()
                    .map(|((_, month), _)| *month)
                    .collect::<Vec<Date>>(),
            )
            .bind(spans().map(|s| s.0).collect::<Vec<i64>>())
            .bind(spans().map(|s| s.1).collect::<Vec<f64>>())
            .bind(spans().map(|s| s.2).collect::<Vec<i64>>())
            .bind(spans().map(|s| s.3).collect::<Vec<f64>>())
            .execute(&mut **t)
            .await
            .ctx("recording monthly distance")?;
        return Ok(());
    }
    for chunk in rows.chunks(UPSERT_CHUNK) {
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO vehicle_monthly_distance AS d
                     (tenant_id, vehicle_id, month, first_at, first_km, last_at, last_km) ",
            );
            q.push_values(chunk, |mut b, ((vehicle, month), span)| {
                b.push_bind(tenant.as_uuid())
                    .push_bind(vehicle.as_uuid())
                    .push_bind(*month)
                    .push_bind(span.0)
                    .push_bind(span.1)
                    .push_bind(span.2)
                    .push_bind(span.3);
            });
            q.push(WIDEN_MONTH);
            q.build().execute(c).await.map(|r| r.rows_affected())
        })
        .ctx("recording monthly distance")?;
    }
    Ok(())
}

/// Rebuilds a vehicle's months from the month of `from` on, from its live
/// odometer readings: after a reading is voided or restored, or an offset
/// changes the effective values from some time on. Two index lookups per
/// month with readings.
pub(crate) async fn refresh_distance(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    from: OffsetDateTime,
) -> Result<(), StoreError> {
    let start = month_at(from);
    let (t, v) = (tenant.as_uuid(), vehicle.as_uuid());
    execute_tx!(
        tx,
        sqlx::query(
            "DELETE FROM vehicle_monthly_distance WHERE tenant_id = $1 AND vehicle_id = $2 AND month >= $3"
        )
        .bind(t)
        .bind(v)
        .bind(start)
    )
    .ctx("clearing monthly distance")?;
    let latest: Option<OffsetDateTime> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT max(read_at) FROM meter_readings
          WHERE tenant_id = $1 AND vehicle_id = $2 AND kind = 'odometer' AND NOT void"
    )
    .bind(t)
    .bind(v)
    .fetch_one(c)
    .await)
    .ctx("finding the latest reading")?;
    let Some(latest) = latest else {
        return Ok(());
    };
    let offsets = load_offsets(tx, tenant, vehicle, MeterKind::Odometer).await?;
    let mut rows = Vec::new();
    let mut month = start;
    while month <= month_at(latest) {
        let (begin, end) = (
            month.midnight().assume_utc(),
            next_month(month).midnight().assume_utc(),
        );
        let mut span: Option<Span> = None;
        for order in ["ASC", "DESC"] {
            let edge: Option<(OffsetDateTime, f64)> =
                on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT read_at, canonical FROM meter_readings
                      WHERE tenant_id = $1 AND vehicle_id = $2 AND kind = 'odometer' AND NOT void
                        AND read_at >= $3 AND read_at < $4
                      ORDER BY read_at {order} LIMIT 1"
                )))
                .bind(t)
                .bind(v)
                .bind(begin)
                .bind(end)
                .fetch_optional(c)
                .await)
                .ctx("reading a month's odometer span")?;
            let Some((at, km)) = edge else { break };
            let (at, km) = (at.unix_timestamp(), km + offset_at(&offsets, at));
            span = Some(match span {
                None => (at, km, at, km),
                Some((first_at, first_km, _, _)) => (first_at, first_km, at, km),
            });
        }
        if let Some(span) = span {
            rows.push(((vehicle, month), span));
        }
        month = next_month(month);
    }
    upsert(tx, tenant, &rows).await
}
