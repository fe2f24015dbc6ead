//! Fuel figures per vehicle, month, fuel type and currency
//! (`vehicle_monthly_fuel`): what a vehicle page's fuel statistics add up
//! for the period's full months, instead of every fill of them.
//!
//! A fill's closed segment depends on its neighbours in the chain, and one
//! write can change the segments of many fills (a currency change re-costs
//! the whole chain), so the rollup is refreshed where segments are: at the
//! end of [`crate::fuel::recompute_chain`], which every fuel write path ends
//! with. The chain is already in memory there; its months are summed again
//! and compared with the stored rows, and only the months that differ are
//! rewritten (usually the one month of the fill written).

use std::collections::{BTreeMap, BTreeSet};

use domain::fuel::Segment;
use domain::ids::{TenantId, VehicleId};
use domain::vehicle::FuelType;
use time::{Date, OffsetDateTime};

use crate::error::ResultExt;
use crate::spend::month_of;
use crate::{StoreError, Tx, on_tx};

/// One fill of a chain as the rollup counts it.
pub(crate) struct CountedFill {
    pub filled_at: OffsetDateTime,
    pub currency: String,
    /// L, kWh or kg.
    pub quantity: f64,
    pub total_minor: Option<i64>,
    /// The segment the fill closes, as just recomputed.
    pub segment: Option<Segment>,
}

/// One month's figures of one fuel type and currency: the columns of
/// `vehicle_monthly_fuel` after its key. A segment counts when it exists
/// (distance and quantity known), its cost when it has one; the sums are
/// `None` when nothing was summed, as SQL's `sum` is.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct MonthFigures {
    first_at: OffsetDateTime,
    entries: i64,
    quantity: f64,
    spend: Option<i64>,
    segments: i64,
    costed: i64,
    seg_distance: Option<f64>,
    seg_quantity: Option<f64>,
    seg_cost: Option<i64>,
}

impl MonthFigures {
    fn new(first_at: OffsetDateTime) -> Self {
        Self {
            first_at,
            entries: 0,
            quantity: 0.0,
            spend: None,
            segments: 0,
            costed: 0,
            seg_distance: None,
            seg_quantity: None,
            seg_cost: None,
        }
    }

    fn count(&mut self, fill: &CountedFill) {
        self.first_at = self.first_at.min(fill.filled_at);
        self.entries += 1;
        self.quantity += fill.quantity;
        if let Some(total) = fill.total_minor {
            self.spend = Some(self.spend.unwrap_or(0) + total);
        }
        if let Some(s) = fill.segment {
            self.segments += 1;
            self.seg_distance = Some(self.seg_distance.unwrap_or(0.0) + s.distance_km);
            self.seg_quantity = Some(self.seg_quantity.unwrap_or(0.0) + s.quantity);
            if let Some(cost) = s.cost_minor {
                self.costed += 1;
                self.seg_cost = Some(self.seg_cost.unwrap_or(0) + cost);
            }
        }
    }
}

/// A stored row: its month and currency, and its figures.
#[derive(sqlx::FromRow)]
struct StoredMonth {
    month: Date,
    currency: String,
    #[sqlx(flatten)]
    figures: MonthFigures,
}

/// Rewrites the months of one vehicle and fuel type whose figures differ
/// from those of `chain` (every fill of that type, in any order).
pub(crate) async fn refresh_fuel_months(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    fuel: FuelType,
    chain: &[CountedFill],
) -> Result<(), StoreError> {
    let (t, v) = (tenant.as_uuid(), vehicle.as_uuid());
    let mut fresh: BTreeMap<(Date, String), MonthFigures> = BTreeMap::new();
    for fill in chain {
        let month = month_of(fill.filled_at.to_offset(time::UtcOffset::UTC).date());
        fresh
            .entry((month, fill.currency.clone()))
            .or_insert_with(|| MonthFigures::new(fill.filled_at))
            .count(fill);
    }
    let stored: Vec<StoredMonth> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT month, currency, first_at, entries, quantity, spend, segments, costed,
                seg_distance, seg_quantity, seg_cost
           FROM vehicle_monthly_fuel WHERE tenant_id = $1 AND vehicle_id = $2 AND fuel_type = $3"
    )
    .bind(t)
    .bind(v)
    .bind(fuel.as_str())
    .fetch_all(c)
    .await)
    .ctx("reading monthly fuel figures")?;
    let stored: BTreeMap<(Date, String), MonthFigures> = stored
        .into_iter()
        .map(|s| ((s.month, s.currency), s.figures))
        .collect();
    // A month is rewritten whole (every currency of it) when any of its
    // rows was added, removed or changed.
    let changed: BTreeSet<Date> = fresh
        .iter()
        .filter(|(key, figures)| stored.get(*key) != Some(*figures))
        .chain(stored.iter().filter(|(key, _)| !fresh.contains_key(*key)))
        .map(|((month, _), _)| *month)
        .collect();
    let changed: Vec<Date> = changed.into_iter().collect();
    for months in changed.chunks(500) {
        on_tx!(tx, |c| {
            let mut q =
                sqlx::QueryBuilder::new("DELETE FROM vehicle_monthly_fuel WHERE tenant_id = ");
            q.push_bind(t)
                .push(" AND vehicle_id = ")
                .push_bind(v)
                .push(" AND fuel_type = ")
                .push_bind(fuel.as_str())
                .push(" AND month IN (");
            let mut list = q.separated(", ");
            for month in months {
                list.push_bind(*month);
            }
            q.push(")");
            q.build().execute(c).await.map(|r| r.rows_affected())
        })
        .ctx("clearing monthly fuel figures")?;
    }
    let rows: Vec<(&(Date, String), &MonthFigures)> = fresh
        .iter()
        .filter(|((month, _), _)| changed.binary_search(month).is_ok())
        .collect();
    for chunk in rows.chunks(200) {
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO vehicle_monthly_fuel (tenant_id, vehicle_id, month, fuel_type, currency,
                     first_at, entries, quantity, spend, segments, costed, seg_distance, seg_quantity, seg_cost) ",
            );
            q.push_values(chunk, |mut row, ((month, currency), f)| {
                row.push_bind(t)
                    .push_bind(v)
                    .push_bind(*month)
                    .push_bind(fuel.as_str())
                    .push_bind(currency.clone())
                    .push_bind(f.first_at)
                    .push_bind(f.entries)
                    .push_bind(f.quantity)
                    .push_bind(f.spend)
                    .push_bind(f.segments)
                    .push_bind(f.costed)
                    .push_bind(f.seg_distance)
                    .push_bind(f.seg_quantity)
                    .push_bind(f.seg_cost);
            });
            q.build().execute(c).await.map(|r| r.rows_affected())
        })
        .ctx("storing monthly fuel figures")?;
    }
    Ok(())
}
