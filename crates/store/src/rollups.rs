//! Rebuilding a tenant's rollups (`vehicle_monthly_distance`,
//! `vehicle_monthly_spend`, `vehicle_monthly_costs`, `vehicle_monthly_fuel`,
//! and the window of `vehicle_daily_meters` with the
//! usage rates computed from it) from the raw records, in one transaction.
//!
//! The write paths keep the rollups current; this is the repair and
//! benchmark path (`motorpool admin rebuild-rollups`): set-based SQL per
//! backend, the same queries the migrations backfilled with, scoped to one
//! tenant so it runs as the app role under row-level security.

use domain::ids::TenantId;

use time::OffsetDateTime;

use crate::error::ResultExt;
use crate::{Mode, Store, StoreError, Tx, execute_tx};

/// Rows written by a rebuild.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupRebuild {
    pub distance_rows: u64,
    pub spend_rows: u64,
    /// `vehicle_monthly_costs`: spend by category as well.
    pub cost_rows: u64,
    /// `vehicle_monthly_fuel`.
    pub fuel_rows: u64,
    /// Days of the usage-rate window (`vehicle_daily_meters`).
    pub daily_meter_rows: u64,
    /// Vehicles whose usage rates were recomputed from those days.
    pub rated_vehicles: u64,
}

const PG_DISTANCE: &str = "
INSERT INTO vehicle_monthly_distance (tenant_id, vehicle_id, month, first_at, first_km, last_at, last_km)
SELECT s.tenant_id, s.vehicle_id, s.month,
       extract(epoch FROM s.first_at)::bigint,
       (SELECT min(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = 'odometer'
           AND r.read_at = s.first_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = 'odometer'
           AND o.effective_at <= s.first_at), 0),
       extract(epoch FROM s.last_at)::bigint,
       (SELECT max(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = 'odometer'
           AND r.read_at = s.last_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = 'odometer'
           AND o.effective_at <= s.last_at), 0)
  FROM (SELECT tenant_id, vehicle_id, date_trunc('month', read_at AT TIME ZONE 'UTC')::date AS month,
               min(read_at) AS first_at, max(read_at) AS last_at
          FROM meter_readings WHERE tenant_id = $1 AND kind = 'odometer' AND NOT void
         GROUP BY 1, 2, 3) AS s";

const SQLITE_DISTANCE: &str = "
INSERT INTO vehicle_monthly_distance (tenant_id, vehicle_id, month, first_at, first_km, last_at, last_km)
SELECT s.tenant_id, s.vehicle_id, s.month,
       CAST(strftime('%s', s.first_at) AS INTEGER),
       (SELECT min(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = 'odometer'
           AND r.read_at = s.first_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = 'odometer'
           AND o.effective_at <= s.first_at), 0),
       CAST(strftime('%s', s.last_at) AS INTEGER),
       (SELECT max(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = 'odometer'
           AND r.read_at = s.last_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = 'odometer'
           AND o.effective_at <= s.last_at), 0)
  FROM (SELECT tenant_id, vehicle_id, substr(read_at, 1, 7) || '-01' AS month,
               min(read_at) AS first_at, max(read_at) AS last_at
          FROM meter_readings WHERE tenant_id = $1 AND kind = 'odometer' AND NOT void
         GROUP BY 1, 2, 3) AS s";

/// The month of a timestamp column and of a date column, per backend
/// (SQLite keeps both as ISO text).
fn month_expressions(tx: &Tx) -> (&'static str, &'static str) {
    match tx {
        Tx::Postgres(_) => (
            "date_trunc('month', {} AT TIME ZONE 'UTC')::date",
            "date_trunc('month', {})::date",
        ),
        Tx::Sqlite(_) => ("substr({}, 1, 7) || '-01'", "substr({}, 1, 7) || '-01'"),
    }
}

/// Spend per vehicle, month, category and currency (`$1` the tenant).
fn costs_sql(tx: &Tx) -> String {
    let (at, on) = month_expressions(tx);
    let (fill, service, expense) = (
        at.replace("{}", "filled_at"),
        on.replace("{}", "performed_on"),
        on.replace("{}", "spent_on"),
    );
    format!(
        "INSERT INTO vehicle_monthly_costs (tenant_id, vehicle_id, month, category, currency, amount_minor)
SELECT tenant_id, vehicle_id, month, category, currency, sum(amount) FROM (
    SELECT tenant_id, vehicle_id, {fill} AS month, 'fuel' AS category, currency, total_minor AS amount
      FROM fuel_entries WHERE tenant_id = $1 AND total_minor IS NOT NULL
    UNION ALL
    SELECT tenant_id, vehicle_id, {service}, 'service', currency, total_minor
      FROM service_records WHERE tenant_id = $1
    UNION ALL
    SELECT tenant_id, vehicle_id, {expense}, category, currency, amount_minor
      FROM expenses WHERE tenant_id = $1
) AS spent GROUP BY tenant_id, vehicle_id, month, category, currency"
    )
}

/// Spend per vehicle, month and currency: the costs summed over categories.
const SPEND_FROM_COSTS: &str = "
INSERT INTO vehicle_monthly_spend (tenant_id, vehicle_id, month, currency, amount_minor)
SELECT tenant_id, vehicle_id, month, currency, sum(amount_minor) FROM vehicle_monthly_costs
 WHERE tenant_id = $1 GROUP BY tenant_id, vehicle_id, month, currency";

/// Fuel figures per vehicle, month, fuel type and currency (`$1` the
/// tenant), counted as `crate::fuel_months` counts them.
fn fuel_sql(tx: &Tx) -> String {
    let month = month_expressions(tx).0.replace("{}", "filled_at");
    format!(
        "INSERT INTO vehicle_monthly_fuel (tenant_id, vehicle_id, month, fuel_type, currency, first_at, entries,
                                  quantity, spend, segments, costed, seg_distance, seg_quantity, seg_cost)
SELECT tenant_id, vehicle_id, {month}, fuel_type, currency,
       min(filled_at), count(*), sum(quantity_canonical), sum(total_minor),
       count(*) FILTER (WHERE seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL),
       count(seg_cost_minor) FILTER (WHERE seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL),
       sum(seg_distance_km) FILTER (WHERE seg_quantity IS NOT NULL),
       sum(seg_quantity) FILTER (WHERE seg_distance_km IS NOT NULL),
       sum(seg_cost_minor) FILTER (WHERE seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL)
  FROM fuel_entries WHERE tenant_id = $1 GROUP BY 1, 2, 3, 4, 5"
    )
}

/// Each day's last reading in one sorted pass (`DISTINCT ON`): looking the
/// value up again per day, as the SQLite query does, was ~2 M index probes
/// into 100 M readings, 200 of the rebuild's 334 s on PostgreSQL.
const PG_DAILY: &str = "
INSERT INTO vehicle_daily_meters (tenant_id, vehicle_id, kind, day, last_at, last_value)
SELECT d.tenant_id, d.vehicle_id, d.kind, d.day, extract(epoch FROM d.read_at)::bigint,
       d.canonical
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = d.tenant_id AND o.vehicle_id = d.vehicle_id AND o.kind = d.kind
           AND o.effective_at <= d.read_at), 0)
  FROM (SELECT DISTINCT ON (vehicle_id, kind, (read_at AT TIME ZONE 'UTC')::date)
               tenant_id, vehicle_id, kind, (read_at AT TIME ZONE 'UTC')::date AS day, read_at, canonical
          FROM meter_readings WHERE tenant_id = $1 AND NOT void AND read_at >= $2
         ORDER BY vehicle_id, kind, (read_at AT TIME ZONE 'UTC')::date, read_at DESC, canonical DESC) AS d";
const SQLITE_DAILY: &str = "
INSERT INTO vehicle_daily_meters (tenant_id, vehicle_id, kind, day, last_at, last_value)
SELECT s.tenant_id, s.vehicle_id, s.kind, s.day, CAST(strftime('%s', s.last_at) AS INTEGER),
       (SELECT max(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = s.kind
           AND r.read_at = s.last_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = s.kind
           AND o.effective_at <= s.last_at), 0)
  FROM (SELECT tenant_id, vehicle_id, kind, substr(read_at, 1, 10) AS day, max(read_at) AS last_at
          FROM meter_readings WHERE tenant_id = $1 AND NOT void AND read_at >= $2
         GROUP BY 1, 2, 3, 4) AS s";

impl Store {
    /// Replaces a tenant's monthly rollups with ones computed from its raw
    /// readings, fills, service records and expenses.
    #[tracing::instrument(skip_all)]
    pub async fn rebuild_rollups(&self, tenant: TenantId) -> Result<RollupRebuild, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        if let Tx::Postgres(_) = &tx {
            // The daily pass sorts the window's readings (a third of the
            // table): in memory where it fits, not in 4 MB runs on disk.
            execute_tx!(&mut tx, sqlx::query("SET LOCAL work_mem = '256MB'"))
                .ctx("sizing the rebuild's sorts")?;
        }
        let t = tenant.as_uuid();
        for table in [
            "vehicle_monthly_distance",
            "vehicle_monthly_spend",
            "vehicle_monthly_costs",
            "vehicle_monthly_fuel",
            "vehicle_daily_meters",
        ] {
            execute_tx!(
                &mut tx,
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE tenant_id = $1"
                )))
                .bind(t)
            )
            .ctx("clearing a rollup")?;
        }
        let (distance, daily) = match &tx {
            Tx::Postgres(_) => (PG_DISTANCE, PG_DAILY),
            Tx::Sqlite(_) => (SQLITE_DISTANCE, SQLITE_DAILY),
        };
        let (costs, fuel) = (costs_sql(&tx), fuel_sql(&tx));
        let distance_rows = execute_tx!(&mut tx, sqlx::query(distance).bind(t))
            .ctx("rebuilding monthly distance")?;
        let cost_rows = execute_tx!(&mut tx, sqlx::query(sqlx::AssertSqlSafe(costs)).bind(t))
            .ctx("rebuilding monthly costs")?;
        let spend_rows = execute_tx!(&mut tx, sqlx::query(SPEND_FROM_COSTS).bind(t))
            .ctx("rebuilding monthly spend")?;
        let fuel_rows = execute_tx!(&mut tx, sqlx::query(sqlx::AssertSqlSafe(fuel)).bind(t))
            .ctx("rebuilding monthly fuel figures")?;
        // Only the usage rate's window is kept (see `usage`).
        let today = OffsetDateTime::now_utc().date();
        let since = crate::daily_meters::window_start(today)
            .midnight()
            .assume_utc();
        let daily_meter_rows = execute_tx!(&mut tx, sqlx::query(daily).bind(t).bind(since))
            .ctx("rebuilding daily meters")?;
        let rated_vehicles = crate::usage::refresh_tenant_rates(
            &mut tx,
            tenant,
            today,
            crate::usage::RateScope::All,
        )
        .await?;
        tx.commit().await?;
        Ok(RollupRebuild {
            distance_rows,
            spend_rows,
            cost_rows,
            fuel_rows,
            daily_meter_rows,
            rated_vehicles,
        })
    }
}
