//! The fleet cost report: distance, spend and cost per distance for every
//! vehicle and month of a range, read from the two monthly rollups
//! (`vehicle_monthly_distance`, `vehicle_monthly_spend`), never from raw
//! readings or records. Paginated by vehicle: a page of up to 500 vehicles
//! costs four indexed queries whatever the history behind it.

use std::collections::{BTreeMap, HashMap};

use domain::ids::{TenantId, VehicleId};
use time::Date;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::json_rows::{array, blob, real};
use crate::page::{Page, decode_cursor, page_limit};
use crate::{Mode, Store, StoreError, fetch_rows};

/// One vehicle's months in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleCosts {
    pub vehicle_id: VehicleId,
    pub name: String,
    /// Months with distance or spend, oldest first.
    pub months: Vec<MonthCosts>,
}

/// One vehicle's month.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthCosts {
    /// The first day of the month.
    pub month: Date,
    /// Kilometres driven, from the odometer: the month's last reading minus
    /// the previous month's last (or the month's own first reading, when it
    /// is the first month on record); never negative. `None` without
    /// readings that month.
    pub distance_km: Option<f64>,
    /// Spend per currency (fuel, service, expenses), in minor units.
    pub spend: Vec<(String, i64)>,
}

impl Store {
    /// Cost per distance per vehicle per month, for months `from` (inclusive)
    /// to `to` (exclusive), both first days of months.
    #[tracing::instrument(skip_all)]
    pub async fn cost_per_distance(
        &self,
        tenant: TenantId,
        from: Date,
        to: Date,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<VehicleCosts>, StoreError> {
        let after: Option<Uuid> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let t = tenant.as_uuid();
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let vehicles: Vec<(Uuid, String)> = fetch_rows!(
            &mut tx,
            "SELECT id, name FROM vehicles WHERE tenant_id = $1 AND deleted_at IS NULL
               AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
            sqlite(array(&[&blob("id"), "name"]), "id"),
            |q| q.bind(t).bind(after).bind(limit + 1)
        )
        .ctx("listing the report's vehicles")?;
        let shown = &vehicles[..vehicles.len().min(limit as usize)];
        let (Some(first), Some(last)) = (shown.first(), shown.last()) else {
            return Ok(Page::from_rows(Vec::new(), limit, |v: &VehicleCosts| {
                v.vehicle_id.as_uuid()
            }));
        };
        // The page's vehicles are a contiguous id range: one range scan per
        // rollup instead of a list of ids.
        let (low, high) = (first.0, last.0);
        let distance: Vec<(Uuid, Date, f64, f64)> = fetch_rows!(
            &mut tx,
            "SELECT vehicle_id, month, first_km, last_km FROM vehicle_monthly_distance
              WHERE tenant_id = $1 AND vehicle_id >= $2 AND vehicle_id <= $3 AND month >= $4 AND month < $5
              ORDER BY vehicle_id, month",
            sqlite(
                array(&[&blob("vehicle_id"), "month", &real("first_km"), &real("last_km")]),
                "vehicle_id, month"
            ),
            |q| q.bind(t).bind(low).bind(high).bind(from).bind(to)
        )
        .ctx("reading monthly distance")?;
        // Each vehicle's last value before the range, so the range's first
        // month counts the driving since then.
        let before: Vec<(Uuid, f64)> = fetch_rows!(
            &mut tx,
            "SELECT d.vehicle_id, d.last_km FROM vehicle_monthly_distance d
              WHERE d.tenant_id = $1 AND d.vehicle_id >= $2 AND d.vehicle_id <= $3
                AND d.month = (SELECT max(p.month) FROM vehicle_monthly_distance p
                                WHERE p.tenant_id = d.tenant_id AND p.vehicle_id = d.vehicle_id AND p.month < $4)",
            sqlite(array(&[&blob("vehicle_id"), &real("last_km")]), "vehicle_id"),
            |q| q.bind(t).bind(low).bind(high).bind(from)
        )
        .ctx("reading the distance before the range")?;
        let spend: Vec<(Uuid, Date, String, i64)> = fetch_rows!(
            &mut tx,
            "SELECT vehicle_id, month, currency, amount_minor FROM vehicle_monthly_spend
              WHERE tenant_id = $1 AND vehicle_id >= $2 AND vehicle_id <= $3 AND month >= $4 AND month < $5
              ORDER BY vehicle_id, month, currency",
            sqlite(
                array(&[&blob("vehicle_id"), "month", "currency", "amount_minor"]),
                "vehicle_id, month, currency"
            ),
            |q| q.bind(t).bind(low).bind(high).bind(from).bind(to)
        )
        .ctx("reading monthly spend")?;
        drop(tx);

        let mut previous: HashMap<Uuid, f64> = before.into_iter().collect();
        let mut months: HashMap<Uuid, BTreeMap<Date, MonthCosts>> = HashMap::new();
        let blank = |month| MonthCosts {
            month,
            distance_km: None,
            spend: Vec::new(),
        };
        for (vehicle, month, first_km, last_km) in distance {
            let start = previous.insert(vehicle, last_km).unwrap_or(first_km);
            months
                .entry(vehicle)
                .or_default()
                .entry(month)
                .or_insert_with(|| blank(month))
                .distance_km = Some((last_km - start).max(0.0));
        }
        for (vehicle, month, currency, amount) in spend {
            months
                .entry(vehicle)
                .or_default()
                .entry(month)
                .or_insert_with(|| blank(month))
                .spend
                .push((currency, amount));
        }
        let rows = vehicles
            .into_iter()
            .map(|(id, name)| VehicleCosts {
                vehicle_id: id.into(),
                name,
                months: months
                    .remove(&id)
                    .map(|m| m.into_values().collect())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Page::from_rows(rows, limit, |v| v.vehicle_id.as_uuid()))
    }
}
