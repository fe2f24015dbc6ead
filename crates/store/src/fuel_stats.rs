//! Fuel figures per fuel type over a period: entries, quantity, spend and
//! measured economy, with each type's most recent segment of all time.
//!
//! Read in one statement (the vehicle page's second): every fuel type the
//! vehicle has used, in order of first use, found by stepping down the
//! `(tenant, vehicle, fuel type, time)` index one type at a time rather than
//! by grouping the whole history; each type's latest closed segment; and the
//! period's sums per type and currency, totalled by the database from the
//! monthly rollup and the fills of the period's partial months.

use std::str::FromStr;
use std::sync::LazyLock;

use domain::fuel::Segment;
use domain::ids::{TenantId, VehicleId};
use domain::vehicle::FuelType;
use time::OffsetDateTime;

use crate::error::ResultExt;
use crate::month_split::MonthSplit;
use crate::{Mode, Store, StoreError, Tx, on_tx};

/// Fuel figures of one vehicle and fuel type over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct FuelStats {
    pub fuel_type: FuelType,
    pub entries: i64,
    /// All fuel bought in the period (L, kWh or kg).
    pub quantity: f64,
    /// Spend per currency, minor units.
    pub spend: Vec<(String, i64)>,
    /// The measured segments closed in the period, summed.
    pub measured: Option<Segment>,
    /// The most recent measured segment (of all time).
    pub last: Option<Segment>,
}

impl Store {
    /// Fuel figures per fuel type for entries filled in `[from, to)`.
    pub async fn fuel_stats(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> Result<Vec<FuelStats>, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        fuel_stats_in(&mut tx, tenant, vehicle, from, to).await
    }
}

/// The statement up to the join of each type's latest segment (`f`), which
/// the backends write differently (`$1` tenant, `$2` vehicle, `$3`..`$8`
/// the period as a [`MonthSplit`]).
///
/// `types` walks the distinct fuel types: each step is one index probe for
/// the next type up, where a `GROUP BY` read every fill of the vehicle's
/// history (600 on the benchmark's 5-year vehicle: a sixth of the page's
/// time in PostgreSQL, session 19). `period` sums the period per type and
/// currency: its full months from `vehicle_monthly_fuel` (see
/// `crate::fuel_months` for what each column counts), its partial months at
/// either end from the fills, counted the same way.
static HEAD: LazyLock<String> = LazyLock::new(|| {
    let fills = |from: &str, to: &str| {
        format!(
            "SELECT fuel_type, currency, filled_at AS first_at, 1 AS entries,
           quantity_canonical AS quantity, total_minor AS spend,
           CASE WHEN seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL THEN 1 ELSE 0 END AS segments,
           CASE WHEN seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL
                 AND seg_cost_minor IS NOT NULL THEN 1 ELSE 0 END AS costed,
           CASE WHEN seg_quantity IS NOT NULL THEN seg_distance_km END AS seg_distance,
           CASE WHEN seg_distance_km IS NOT NULL THEN seg_quantity END AS seg_quantity,
           CASE WHEN seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL THEN seg_cost_minor END AS seg_cost
      FROM fuel_entries WHERE tenant_id = $1 AND vehicle_id = $2 AND filled_at >= {from} AND filled_at < {to}"
        )
    };
    format!(
        "
WITH RECURSIVE types (fuel_type) AS (
    SELECT min(fuel_type) FROM fuel_entries WHERE tenant_id = $1 AND vehicle_id = $2
    UNION ALL
    SELECT (SELECT min(e.fuel_type) FROM fuel_entries e
             WHERE e.tenant_id = $1 AND e.vehicle_id = $2 AND e.fuel_type > types.fuel_type)
      FROM types WHERE types.fuel_type IS NOT NULL
), used AS (
    SELECT types.fuel_type,
           (SELECT min(e.filled_at) FROM fuel_entries e
             WHERE e.tenant_id = $1 AND e.vehicle_id = $2 AND e.fuel_type = types.fuel_type) AS first_at
      FROM types WHERE types.fuel_type IS NOT NULL
), period_rows AS (
    {head}
    UNION ALL
    {tail}
    UNION ALL
    SELECT fuel_type, currency, first_at, entries, quantity, spend, segments, costed,
           seg_distance, seg_quantity, seg_cost
      FROM vehicle_monthly_fuel WHERE tenant_id = $1 AND vehicle_id = $2 AND month >= $7 AND month < $8
), period AS (
    SELECT fuel_type, currency, min(first_at) AS first_at, CAST(sum(entries) AS BIGINT) AS entries,
           sum(quantity) AS quantity, CAST(sum(spend) AS BIGINT) AS spend,
           CAST(sum(segments) AS BIGINT) AS segments, CAST(sum(costed) AS BIGINT) AS costed,
           sum(seg_distance) AS seg_distance, sum(seg_quantity) AS seg_quantity,
           CAST(sum(seg_cost) AS BIGINT) AS seg_cost
      FROM period_rows GROUP BY fuel_type, currency
)
SELECT t.fuel_type, f.seg_distance_km AS last_distance_km, f.seg_quantity AS last_quantity,
       f.seg_cost_minor AS last_cost_minor, p.currency, p.entries, p.quantity, p.spend,
       p.segments, p.costed, p.seg_distance, p.seg_quantity, p.seg_cost
  FROM used t",
        head = fills("$3", "$4"),
        tail = fills("$5", "$6"),
    )
});

/// The end of the statement: the period's sums joined to their type, each
/// type's rows together in order of first use.
const TAIL: &str = "
  LEFT JOIN period p ON p.fuel_type = t.fuel_type
 ORDER BY t.first_at, t.fuel_type, p.first_at, p.currency";

/// The latest closed segment of type `t.fuel_type`, from its end.
const LATEST: &str = "FROM fuel_entries l
     WHERE l.tenant_id = $1 AND l.vehicle_id = $2 AND l.fuel_type = t.fuel_type
       AND l.seg_distance_km IS NOT NULL AND l.seg_quantity IS NOT NULL
     ORDER BY l.filled_at DESC, l.id DESC LIMIT 1";

/// PostgreSQL joins the latest segment LATERAL: written as a join on a
/// correlated subquery its generic plan hashed every fill of the tenant
/// (0.4 s a page). SQLite has no LATERAL, and looks that join up by key.
static POSTGRES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}
  LEFT JOIN LATERAL (SELECT l.seg_distance_km, l.seg_quantity, l.seg_cost_minor {LATEST}) f ON true{TAIL}",
        *HEAD
    )
});
static SQLITE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\n  LEFT JOIN fuel_entries f ON f.tenant_id = $1 AND f.id = (SELECT l.id {LATEST}){TAIL}",
        *HEAD
    )
});

/// One fuel type with its latest segment, and one currency's sums for the
/// period (all `None` when the type has no fill in the period).
#[derive(sqlx::FromRow)]
struct StatsRow {
    fuel_type: String,
    last_distance_km: Option<f64>,
    last_quantity: Option<f64>,
    last_cost_minor: Option<i64>,
    currency: Option<String>,
    entries: Option<i64>,
    quantity: Option<f64>,
    spend: Option<i64>,
    segments: Option<i64>,
    costed: Option<i64>,
    seg_distance: Option<f64>,
    seg_quantity: Option<f64>,
    seg_cost: Option<i64>,
}

/// [`Store::fuel_stats`] inside the caller's transaction (which has checked
/// the vehicle).
pub(crate) async fn fuel_stats_in(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
) -> Result<Vec<FuelStats>, StoreError> {
    let split = MonthSplit::of(
        from.unwrap_or(OffsetDateTime::UNIX_EPOCH - time::Duration::days(365 * 100)),
        to.unwrap_or(OffsetDateTime::UNIX_EPOCH + time::Duration::days(365 * 300)),
    );
    let sql = match tx {
        Tx::Postgres(_) => POSTGRES_SQL.as_str(),
        Tx::Sqlite(_) => SQLITE_SQL.as_str(),
    };
    let rows: Vec<StatsRow> = on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(split.from)
        .bind(split.head_end)
        .bind(split.tail_start)
        .bind(split.to)
        .bind(split.first_month)
        .bind(split.end_month)
        .fetch_all(c)
        .await)
    .ctx("reading a vehicle's fuel figures")?;
    let mut stats: Vec<FuelStats> = Vec::new();
    for row in rows {
        let fuel_type = FuelType::from_str(&row.fuel_type).map_err(StoreError::Corrupt)?;
        // Each type's rows come together, in order of first use.
        if stats.last().is_none_or(|s| s.fuel_type != fuel_type) {
            stats.push(FuelStats {
                fuel_type,
                entries: 0,
                quantity: 0.0,
                spend: vec![],
                measured: None,
                last: row
                    .last_distance_km
                    .zip(row.last_quantity)
                    .map(|(distance_km, quantity)| Segment {
                        distance_km,
                        quantity,
                        cost_minor: row.last_cost_minor,
                    }),
            });
        }
        let (Some(s), Some(currency)) = (stats.last_mut(), row.currency) else {
            continue;
        };
        s.entries += row.entries.unwrap_or(0);
        s.quantity += row.quantity.unwrap_or(0.0);
        if let Some(spend) = row.spend {
            s.spend.push((currency, spend));
        }
        let segments = row.segments.unwrap_or(0);
        if let (true, Some(distance_km), Some(quantity)) =
            (segments > 0, row.seg_distance, row.seg_quantity)
        {
            let part = Segment {
                distance_km,
                quantity,
                cost_minor: row.seg_cost.filter(|_| row.costed == Some(segments)),
            };
            s.measured = domain::fuel::total(s.measured.into_iter().chain([part]));
        }
    }
    Ok(stats)
}
