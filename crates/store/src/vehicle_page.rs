//! Everything a vehicle page shows, read in one transaction.
//!
//! The page used to make six store calls, each its own transaction (and on
//! PostgreSQL its own BEGIN and ROLLBACK), four of them re-checking that the
//! vehicle exists. One read transaction ([`Mode::Snapshot`]) does the same
//! reads once, and the page's figures all come from one snapshot: a fill
//! recorded mid-request cannot show in the costs but not in the fuel
//! statistics.

use std::sync::LazyLock;

use domain::ids::{TenantId, VehicleId};
use time::{Date, OffsetDateTime};

use crate::error::ResultExt;
use crate::meters::{PERIOD_ODOMETER_ENDS, distance_between, to_second};
use crate::service::CostLine;
use crate::usage::VehicleMeters;
use crate::vehicles::VehicleRow;
use crate::{
    BackendKind, Document, FuelStats, Mode, Schedule, Store, StoreError, Tx, Vehicle, on_tx,
};

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
        let (from_at, to_at) = (from.midnight().assume_utc(), to.midnight().assume_utc());
        let head = read_head(&mut tx, tenant, id, from_at, to_at, documents_until).await?;
        let fuel =
            crate::fuel_stats::fuel_stats_in(&mut tx, tenant, id, Some(from_at), Some(to_at))
                .await?;
        let costs = crate::service::costs_in(&mut tx, tenant, Some(id), from, to).await?;
        let schedules = crate::schedules::schedules_from_column(&head.schedules, &head.meters)?;
        let documents_expiring = crate::documents::documents_from_column(&head.documents)?;
        Ok(VehiclePage {
            vehicle: head.vehicle.try_into()?,
            distance_km: distance_between(head.period_first_km, head.period_last_km),
            fuel,
            costs,
            schedules,
            documents_expiring,
        })
    }
}

/// What the page reads in its first statement: the vehicle, its meters and
/// usage rates (the schedules' forecasts need them), the period's odometer
/// ends, and its schedules and expiring documents as JSON columns. One
/// statement where there were five: on SQLite each is a hand-off to the
/// connection's worker thread (two fewer took a quarter off the page's CPU),
/// on PostgreSQL a round trip (docs/PERFORMANCE.md, sessions 19 and 21).
#[derive(sqlx::FromRow)]
struct Head {
    #[sqlx(flatten)]
    vehicle: VehicleRow,
    /// Read from the same columns as `vehicle`'s meters, plus the rates.
    #[sqlx(flatten)]
    meters: VehicleMeters,
    period_first_km: Option<f64>,
    period_last_km: Option<f64>,
    /// `crate::schedules::vehicle_schedules_column`.
    schedules: String,
    /// `crate::documents::expiring_documents_column`.
    documents: String,
}

/// The head statement on `kind`: `$1` the tenant, `$2` the vehicle, `$3`
/// `false` (no void reading), `$4` and `$5` the period, `$6` the last day
/// of the documents listed.
fn head_sql(kind: BackendKind) -> String {
    crate::vehicles::live_vehicle_sql_with(&format!(
        ", km_per_day, hours_per_day, {}, {} AS schedules, {} AS documents",
        *PERIOD_ODOMETER_ENDS,
        crate::schedules::vehicle_schedules_column(kind),
        crate::documents::expiring_documents_column(kind, "$6", PAGE_DOCUMENTS),
    ))
}

/// Reads the page's [`Head`]: NotFound unless the vehicle is live in the
/// tenant.
async fn read_head(
    tx: &mut Tx,
    tenant: TenantId,
    id: VehicleId,
    from: OffsetDateTime,
    to: OffsetDateTime,
    documents_until: Date,
) -> Result<Head, StoreError> {
    // Built once per backend: this runs on every page.
    static SQLITE: LazyLock<String> = LazyLock::new(|| head_sql(BackendKind::Sqlite));
    static POSTGRES: LazyLock<String> = LazyLock::new(|| head_sql(BackendKind::Postgres));
    let sql: &'static str = match tx {
        Tx::Sqlite(_) => &SQLITE,
        Tx::Postgres(_) => &POSTGRES,
    };
    let head: Option<Head> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(false)
        .bind(to_second(from))
        .bind(to_second(to))
        .bind(documents_until)
        .fetch_optional(c)
        .await)
    .ctx("loading a vehicle, its period's odometer, schedules and documents")?;
    head.ok_or(StoreError::NotFound)
}
