//! The fleet overview: one tenant's vehicles by status, health and risk,
//! maintenance due soon and overdue, active critical faults, and spend this
//! month against last — every figure an aggregate over maintained summary
//! state (stored health, stored due state, open fault cycles, the monthly
//! spend rollup), never over the raw records or events.

use std::collections::BTreeMap;

use domain::ids::TenantId;
use serde::Serialize;
use time::Date;

use crate::error::ResultExt;
use crate::spend::{month_of, previous_month};
use crate::{Mode, Store, StoreError, on_tx};

/// The overview's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetOverview {
    /// Live vehicles per status (`active`, `out_of_service`, …).
    pub vehicles_by_status: BTreeMap<String, i64>,
    pub vehicles: i64,
    /// Vehicles per risk level (`low` … `critical`).
    pub risk: BTreeMap<String, i64>,
    /// Vehicles per health band: `0-39`, `40-59`, `60-79`, `80-100`.
    pub health_bands: BTreeMap<String, i64>,
    pub average_health: Option<f64>,
    pub schedules_due_soon: i64,
    pub schedules_overdue: i64,
    pub vehicles_with_overdue: i64,
    pub active_faults: i64,
    pub active_critical_faults: i64,
    pub vehicles_with_critical_faults: i64,
    /// Spend per currency (minor units) in the calendar month of `today`
    /// and the one before: fuel, service records and expenses.
    pub spend_this_month: BTreeMap<String, i64>,
    pub spend_last_month: BTreeMap<String, i64>,
}

impl Store {
    /// The fleet overview of a tenant as of `today`.
    #[tracing::instrument(skip_all)]
    pub async fn fleet_overview(
        &self,
        tenant: TenantId,
        today: Date,
    ) -> Result<FleetOverview, StoreError> {
        let t = tenant.as_uuid();
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let by_status: Vec<(String, i64)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT status, count(*) FROM vehicles WHERE tenant_id = $1 AND deleted_at IS NULL GROUP BY status"
        )
        .bind(t)
        .fetch_all(c)
        .await)
        .ctx("counting vehicles by status")?;
        let by_risk: Vec<(i16, i64)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT risk_rank, count(*) FROM vehicles WHERE tenant_id = $1 AND deleted_at IS NULL GROUP BY risk_rank"
        )
        .bind(t)
        .fetch_all(c)
        .await)
        .ctx("counting vehicles by risk")?;
        let bands: Vec<(String, i64, f64)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT CASE WHEN health_score < 40 THEN '0-39' WHEN health_score < 60 THEN '40-59'
                         WHEN health_score < 80 THEN '60-79' ELSE '80-100' END AS band,
                    count(*), CAST(sum(health_score) AS DOUBLE PRECISION)
             FROM vehicles WHERE tenant_id = $1 AND deleted_at IS NULL GROUP BY band"
        )
        .bind(t)
        .fetch_all(c)
        .await)
        .ctx("counting vehicles by health")?;
        let due: Vec<(String, i64, i64)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT status, count(*), count(DISTINCT vehicle_id) FROM maintenance_schedules
             WHERE tenant_id = $1 AND status IN ('due_soon', 'overdue') GROUP BY status"
        )
        .bind(t)
        .fetch_all(c)
        .await)
        .ctx("counting due schedules")?;
        let (active, critical, critical_vehicles): (i64, i64, i64) =
            on_tx!(&mut tx, |c| sqlx::query_as(
                "SELECT count(*),
                    count(CASE WHEN severity = 'critical' THEN 1 END),
                    count(DISTINCT CASE WHEN severity = 'critical' THEN vehicle_id END)
             FROM fault_cycles WHERE tenant_id = $1 AND status = 'active'"
            )
            .bind(t)
            .fetch_one(c)
            .await)
            .ctx("counting active faults")?;

        // Spend comes from the maintained monthly rollup (`crate::spend`).
        let this_month = month_of(today);
        let mut spend = [BTreeMap::new(), BTreeMap::new()];
        for (i, month) in [this_month, previous_month(this_month)]
            .into_iter()
            .enumerate()
        {
            let rows: Vec<(String, i64)> = on_tx!(&mut tx, |c| sqlx::query_as(
                "SELECT currency, CAST(sum(amount_minor) AS BIGINT) FROM vehicle_monthly_spend
                 WHERE tenant_id = $1 AND month = $2 GROUP BY currency"
            )
            .bind(t)
            .bind(month)
            .fetch_all(c)
            .await)
            .ctx("summing spend")?;
            spend[i] = rows.into_iter().collect();
        }
        let [spend_this_month, spend_last_month] = spend;

        let vehicles: i64 = by_status.iter().map(|(_, n)| n).sum();
        let health_sum: f64 = bands.iter().map(|(_, _, s)| s).sum();
        let risk = domain::health::RiskLevel::ALL
            .iter()
            .map(|level| {
                let n = by_risk
                    .iter()
                    .filter(|(rank, _)| *rank == i16::from(level.rank()))
                    .map(|(_, n)| *n)
                    .sum();
                (level.as_str().to_string(), n)
            })
            .collect();
        let due_of = |status: &str| due.iter().find(|(s, _, _)| s == status);
        Ok(FleetOverview {
            vehicles_by_status: by_status.into_iter().collect(),
            vehicles,
            risk,
            health_bands: bands.into_iter().map(|(b, n, _)| (b, n)).collect(),
            average_health: (vehicles > 0)
                .then(|| (health_sum / vehicles as f64 * 10.0).round() / 10.0),
            schedules_due_soon: due_of("due_soon").map_or(0, |d| d.1),
            schedules_overdue: due_of("overdue").map_or(0, |d| d.1),
            vehicles_with_overdue: due_of("overdue").map_or(0, |d| d.2),
            active_faults: active,
            active_critical_faults: critical,
            vehicles_with_critical_faults: critical_vehicles,
            spend_this_month,
            spend_last_month,
        })
    }
}
