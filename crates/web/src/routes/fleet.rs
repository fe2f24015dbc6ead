//! `GET /api/v1/fleet/overview`: the dashboard's figures for the tenant.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use domain::tenancy::Role;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::openapi::ReadErrors;

/// The fleet at a glance. Every figure comes from maintained summary state
/// (stored health and risk, stored due state, open fault cycles), so the
/// answer costs a handful of indexed aggregates whatever the history's size;
/// and a server keeps each tenant's answer for a few seconds, so a dashboard
/// polled by many users costs those aggregates once per interval.
#[derive(Debug, Serialize, ToSchema)]
pub struct FleetOverviewView {
    /// Live vehicles per status.
    #[schema(value_type = Object)]
    pub vehicles_by_status: BTreeMap<String, i64>,
    pub vehicles: i64,
    /// Vehicles per risk level: `low`, `medium`, `high`, `critical`.
    #[schema(value_type = Object)]
    pub risk: BTreeMap<String, i64>,
    /// Vehicles per health band: `0-39`, `40-59`, `60-79`, `80-100`.
    #[schema(value_type = Object)]
    pub health_bands: BTreeMap<String, i64>,
    pub average_health: Option<f64>,
    pub schedules_due_soon: i64,
    pub schedules_overdue: i64,
    pub vehicles_with_overdue: i64,
    pub active_faults: i64,
    pub active_critical_faults: i64,
    pub vehicles_with_critical_faults: i64,
    /// Per currency, in minor units: fuel, service records and expenses
    /// dated in this calendar month (UTC) …
    #[schema(value_type = Object)]
    pub spend_this_month: BTreeMap<String, i64>,
    /// … and in the month before.
    #[schema(value_type = Object)]
    pub spend_last_month: BTreeMap<String, i64>,
    /// When the figures were computed: a server serves one tenant's overview
    /// for up to `overview_cache_secs` (default 5) after computing it.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub computed_at: OffsetDateTime,
}

/// The fleet overview (viewers and up).
#[utoipa::path(
    get, path = "/api/v1/fleet/overview", tag = "fleet",
    responses((status = 200, body = FleetOverviewView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn overview(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<FleetOverviewView>, ApiError> {
    principal.require(Role::Viewer)?;
    let o = state
        .store
        .fleet_overview(principal.tenant_id, OffsetDateTime::now_utc().date())
        .await?;
    Ok(Json(FleetOverviewView {
        vehicles_by_status: o.vehicles_by_status,
        vehicles: o.vehicles,
        risk: o.risk,
        health_bands: o.health_bands,
        average_health: o.average_health,
        schedules_due_soon: o.schedules_due_soon,
        schedules_overdue: o.schedules_overdue,
        vehicles_with_overdue: o.vehicles_with_overdue,
        active_faults: o.active_faults,
        active_critical_faults: o.active_critical_faults,
        vehicles_with_critical_faults: o.vehicles_with_critical_faults,
        spend_this_month: o.spend_this_month,
        spend_last_month: o.spend_last_month,
        computed_at: o.computed_at,
    }))
}
