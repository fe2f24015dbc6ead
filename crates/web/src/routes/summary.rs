//! The vehicle summary: what a vehicle page draws, in one request.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use domain::ids::VehicleId;
use domain::meter::KM_PER_MILE;
use domain::money::{exponent, format_decimal};
use domain::preferences::CurrencyCode;
use domain::tenancy::Role;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::openapi::ReadErrors;
use crate::routes::documents::DocumentView;
use crate::routes::fuel::FuelStatsView;
use crate::routes::schedules::ScheduleView;
use crate::routes::service::CostView;
use crate::routes::vehicles::VehicleView;

/// Spend and cost per distance in one currency over the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostSummary {
    pub currency: String,
    pub fuel: String,
    pub service: String,
    /// Every expense category together.
    pub other: String,
    pub total: String,
    /// Total spend per km and per mile (decimal text, 4 places of the minor unit);
    /// absent without a measured distance.
    pub total_per_km: Option<String>,
    pub total_per_mile: Option<String>,
    pub fuel_per_km: Option<String>,
    pub service_per_km: Option<String>,
}

/// A vehicle page's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct VehicleSummary {
    pub vehicle: VehicleView,
    pub from: Date,
    pub to: Date,
    /// Distance driven in the period (km), from the odometer readings.
    pub distance_km: Option<f64>,
    /// Per fuel type: average economy over the period, last economy, spend.
    pub fuel: Vec<FuelStatsView>,
    pub costs: Vec<CostSummary>,
    /// Spend by month and category.
    pub spend_by_month: Vec<CostView>,
    /// The most urgent schedules (up to 5).
    pub next_due: Vec<ScheduleView>,
    /// Documents expiring within 60 days (or expired), soonest first.
    pub documents_expiring: Vec<DocumentView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// First day, inclusive (default: a year before `to`).
    pub from: Option<Date>,
    /// Last day, exclusive (default: tomorrow).
    pub to: Option<Date>,
}

/// Per-distance cost as decimal text with 4 extra places of precision.
fn per_distance(minor: i64, distance: Option<f64>, exp: u32) -> Option<String> {
    let d = distance.filter(|d| *d > 0.0)?;
    Some(format_decimal(
        (minor as f64 / d * 10_000.0).round() as i64,
        exp + 4,
    ))
}

/// Everything a vehicle page shows: current meters, fuel economy, costs and
/// cost per distance over a period, spend by month, next due maintenance.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/summary", tag = "vehicles",
    params(("id" = VehicleId, Path), SummaryQuery),
    responses((status = 200, body = VehicleSummary), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn vehicle_summary(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<Json<VehicleSummary>, ApiError> {
    principal.require(Role::Viewer)?;
    let id: VehicleId = id.parse().map_err(|_| ApiError::NotFound)?;
    let today = OffsetDateTime::now_utc().date();
    let to = q.to.unwrap_or_else(|| today.next_day().unwrap_or(today));
    let from = q.from.unwrap_or(to - Duration::days(365));
    if from >= to {
        return Err(ApiError::BadRequest {
            field: Some("from".into()),
            message: "from must be before to".into(),
        });
    }
    // One read transaction for the whole page (see `store::VehiclePage`).
    let page = state
        .store
        .vehicle_page(
            principal.tenant_id,
            id,
            from,
            to,
            today + Duration::days(60),
        )
        .await?;
    let (distance_km, lines) = (page.distance_km, page.costs);

    let mut by_currency: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    for l in &lines {
        let slot = match l.category.as_str() {
            "fuel" => 0,
            "service" => 1,
            _ => 2,
        };
        by_currency.entry(l.currency.clone()).or_default()[slot] += l.amount_minor;
    }
    let distance_mi = distance_km.map(|d| d / KM_PER_MILE);
    let costs = by_currency
        .into_iter()
        .map(|(currency, [fuel, service, other])| {
            let exp = CurrencyCode::parse(&currency)
                .map(|c| exponent(&c))
                .unwrap_or(2);
            let total = fuel + service + other;
            CostSummary {
                fuel: format_decimal(fuel, exp),
                service: format_decimal(service, exp),
                other: format_decimal(other, exp),
                total: format_decimal(total, exp),
                total_per_km: per_distance(total, distance_km, exp),
                total_per_mile: per_distance(total, distance_mi, exp),
                fuel_per_km: per_distance(fuel, distance_km, exp),
                service_per_km: per_distance(service, distance_km, exp),
                currency,
            }
        })
        .collect();
    let spend_by_month = lines.into_iter().map(Into::into).collect();
    Ok(Json(VehicleSummary {
        vehicle: page.vehicle.into(),
        from,
        to,
        distance_km,
        fuel: page.fuel.into_iter().map(Into::into).collect(),
        costs,
        spend_by_month,
        next_due: page.schedules.into_iter().take(5).map(Into::into).collect(),
        documents_expiring: page
            .documents_expiring
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}
