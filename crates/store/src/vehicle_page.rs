//! Everything a vehicle page shows, read in one transaction.
//!
//! The page used to make six store calls, each its own transaction (and on
//! PostgreSQL its own BEGIN and ROLLBACK), four of them re-checking that the
//! vehicle exists. One read transaction ([`Mode::Snapshot`]) does the same
//! reads once, and the page's figures all come from one snapshot: a fill
//! recorded mid-request cannot show in the costs but not in the fuel
//! statistics.

use domain::ids::{TenantId, VehicleId};
use time::Date;

use crate::service::CostLine;
use crate::{Document, FuelStats, Mode, Schedule, Store, StoreError, Vehicle};

/// A vehicle page's data for the period `[from, to)`.
#[derive(Debug, Clone)]
pub struct VehiclePage {
    pub vehicle: Vehicle,
    /// Distance driven in the period (km), from the odometer readings.
    pub distance_km: Option<f64>,
    /// Fuel figures per fuel type over the period.
    pub fuel: Vec<FuelStats>,
    /// Spend by month, category and currency over the period.
    pub costs: Vec<CostLine>,
    /// Every schedule of the vehicle, most urgent first.
    pub schedules: Vec<Schedule>,
    /// The vehicle's documents expiring by the given day, soonest first.
    pub documents_expiring: Vec<Document>,
}

/// Documents a page lists at most.
const PAGE_DOCUMENTS: u32 = 20;

impl Store {
    /// A vehicle page's data: the vehicle, the period's distance, fuel
    /// statistics and costs, its schedules and the documents expiring by
    /// `documents_until`. NotFound unless the vehicle is live in the tenant.
    #[tracing::instrument(skip_all)]
    pub async fn vehicle_page(
        &self,
        tenant: TenantId,
        id: VehicleId,
        from: Date,
        to: Date,
        documents_until: Date,
    ) -> Result<VehiclePage, StoreError> {
        let mut tx = self.begin(Mode::Snapshot, Some(tenant)).await?;
        let vehicle = crate::vehicles::live_vehicle_in(&mut tx, tenant, id).await?;
        let (from_at, to_at) = (from.midnight().assume_utc(), to.midnight().assume_utc());
        let distance_km =
            crate::meters::distance_km_in(&mut tx, tenant, id, from_at, to_at).await?;
        let fuel =
            crate::fuel::fuel_stats_in(&mut tx, tenant, id, Some(from_at), Some(to_at)).await?;
        let costs = crate::service::costs_in(&mut tx, tenant, Some(id), from, to).await?;
        let schedules = crate::schedules::schedules_in(&mut tx, tenant, id).await?;
        let documents_expiring = crate::documents::expiring_documents_in(
            &mut tx,
            tenant,
            Some(id),
            documents_until,
            PAGE_DOCUMENTS,
        )
        .await?;
        Ok(VehiclePage {
            vehicle,
            distance_km,
            fuel,
            costs,
            schedules,
            documents_expiring,
        })
    }
}
