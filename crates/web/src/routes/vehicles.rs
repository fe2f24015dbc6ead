//! Vehicles of the current tenant.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::health::RiskLevel;
use domain::ids::{TenantId, VehicleId};
use domain::meter::MeterUnit;
use domain::preferences::UnitSystem;
use domain::tenancy::Role;
use domain::vehicle::{
    FuelType, OdometerUnit, VehicleDraft, VehicleSpec, VehicleStatus, VehicleType,
};
use domain::vin::Vin;
use domain::vin_decode::decode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use store::{Vehicle, VehicleFilter, VehicleSort};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::present;
use crate::extract::{ApiJson, ApiQuery, check_limit};
use crate::openapi::{ReadErrors, WriteErrors};

/// A vehicle: its fields, identity and timestamps.
#[derive(Debug, Serialize, ToSchema)]
pub struct VehicleView {
    pub id: VehicleId,
    pub tenant_id: TenantId,
    #[serde(flatten)]
    pub spec: VehicleSpec,
    /// The current meters, from the latest live readings.
    pub meters: MetersView,
    /// Health score and risk level, kept current as faults and maintenance
    /// change; the explanation is at `/api/v1/vehicles/{id}/health`.
    pub health: HealthView,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A vehicle's health score (0–100, higher is healthier) and risk level.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    pub score: u8,
    pub risk: RiskLevel,
}

/// A vehicle's current meters.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetersView {
    /// In the vehicle's `odometer_unit`.
    pub odometer: Option<f64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub odometer_at: Option<OffsetDateTime>,
    pub engine_hours: Option<f64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub hours_at: Option<OffsetDateTime>,
}

impl From<Vehicle> for VehicleView {
    fn from(v: Vehicle) -> Self {
        let unit = match v.spec.odometer_unit {
            OdometerUnit::Miles => MeterUnit::Miles,
            OdometerUnit::Kilometres => MeterUnit::Kilometres,
        };
        let meters = MetersView {
            odometer: v
                .meters
                .odometer_km
                .map(|km| (unit.from_canonical(km) * 10.0).round() / 10.0),
            odometer_at: v.meters.odometer_at,
            engine_hours: v.meters.engine_hours,
            hours_at: v.meters.hours_at,
        };
        Self {
            id: v.id,
            tenant_id: v.tenant_id,
            spec: v.spec,
            meters,
            health: HealthView {
                score: v.health.score,
                risk: v.health.risk,
            },
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// One page of vehicles.
#[derive(Debug, Serialize, ToSchema)]
pub struct VehiclePage {
    pub items: Vec<VehicleView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A new vehicle. Only `name` is required. With a VIN, an absent `make` is
/// filled from the manufacturer code and an absent `year` from the model-year
/// code when the VIN alone settles it (see `GET /api/v1/vin/{vin}`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VehicleCreate {
    pub name: String,
    pub unit_number: Option<String>,
    /// 17 characters; case and surrounding space are normalised.
    pub vin: Option<String>,
    pub plate: Option<String>,
    pub year: Option<i32>,
    pub make: Option<String>,
    pub model: Option<String>,
    pub trim: Option<String>,
    /// Defaults to `car`.
    pub vehicle_type: Option<VehicleType>,
    /// Defaults to `["gasoline"]`.
    pub fuel_types: Option<Vec<FuelType>>,
    /// Defaults from the user's unit system (`mi` for imperial, else `km`).
    pub odometer_unit: Option<OdometerUnit>,
    pub in_service_date: Option<Date>,
    /// Defaults to `active`.
    pub status: Option<VehicleStatus>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
}

/// Changes to a vehicle (JSON merge patch): absent fields stay, `null`
/// clears an optional field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VehiclePatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub unit_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub vin: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub plate: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>)]
    pub year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub make: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub trim: Option<Option<String>>,
    pub vehicle_type: Option<VehicleType>,
    pub fuel_types: Option<Vec<FuelType>>,
    pub odometer_unit: Option<OdometerUnit>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Date>)]
    pub in_service_date: Option<Option<Date>>,
    pub status: Option<VehicleStatus>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
}

/// Filters, order and page of a vehicle list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VehicleListQuery {
    pub status: Option<VehicleStatus>,
    /// Exact make, case-insensitive.
    pub make: Option<String>,
    pub year_min: Option<i32>,
    pub year_max: Option<i32>,
    /// Case-insensitive substring of name, VIN, plate or unit number.
    pub q: Option<String>,
    /// Only vehicles at this risk level.
    pub risk: Option<RiskLevel>,
    /// `name` (default), `-name`, `year`, `-year`, `created`, `-created`,
    /// `health` (least healthy first), `-health`, `risk`, `-risk` (most at risk first).
    pub sort: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

fn current_year() -> i32 {
    OffsetDateTime::now_utc().year()
}

fn vehicle_location(id: VehicleId) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/vehicles/{id}")) {
        headers.insert(header::LOCATION, v);
    }
    headers
}

/// Lists the tenant's vehicles.
#[utoipa::path(
    get, path = "/api/v1/vehicles", tag = "vehicles",
    params(VehicleListQuery),
    responses((status = 200, body = VehiclePage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_vehicles(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<VehicleListQuery>,
) -> Result<Json<VehiclePage>, ApiError> {
    principal.require(Role::Viewer)?;
    let sort = match query.sort.as_deref() {
        Some(s) => s.parse::<VehicleSort>().map_err(|m| ApiError::BadRequest {
            field: Some("sort".into()),
            message: m,
        })?,
        None => VehicleSort::default(),
    };
    let limit = check_limit(query.limit)?;
    let filter = VehicleFilter {
        status: query.status,
        make: query.make,
        year_min: query.year_min,
        year_max: query.year_max,
        q: query.q,
        risk: query.risk,
        sort,
        cursor: query.cursor,
        limit,
    };
    let page = state
        .store
        .list_vehicles(principal.tenant_id, &filter)
        .await?;
    Ok(Json(VehiclePage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Creates a vehicle.
#[utoipa::path(
    post, path = "/api/v1/vehicles", tag = "vehicles",
    request_body = VehicleCreate,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key get the first response again")),
    responses((status = 201, body = VehicleView, headers(("Location" = String))), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_vehicle(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<VehicleCreate>,
) -> Result<Response, ApiError> {
    principal.require(Role::Manager)?;
    let default_unit = match principal.user.preferences.unit_system {
        UnitSystem::Imperial => OdometerUnit::Miles,
        UnitSystem::Metric => OdometerUnit::Kilometres,
    };
    // A VIN fills in what it settles: the make when the maker is known, the
    // model year when the VIN alone decides it.
    let decoded = body
        .vin
        .as_deref()
        .and_then(|v| Vin::parse(v).ok())
        .map(|v| decode(&v, current_year()));
    let draft = VehicleDraft {
        name: body.name,
        unit_number: body.unit_number,
        vin: body.vin,
        plate: body.plate,
        year: body
            .year
            .or_else(|| decoded.as_ref().and_then(|d| d.model_year.year)),
        make: body
            .make
            .or_else(|| decoded.as_ref().and_then(|d| d.make.clone())),
        model: body.model,
        trim: body.trim,
        vehicle_type: body.vehicle_type.unwrap_or(VehicleType::Car),
        fuel_types: body.fuel_types.unwrap_or_else(|| vec![FuelType::Gasoline]),
        odometer_unit: body.odometer_unit.unwrap_or(default_unit),
        in_service_date: body.in_service_date,
        status: body.status.unwrap_or(VehicleStatus::Active),
        tags: body.tags,
        custom_fields: body.custom_fields,
    };
    let spec = VehicleSpec::validate(draft, current_year())?;
    let vehicle = state
        .store
        .create_vehicle(principal.tenant_id, &spec, &principal.audit())
        .await?;
    let headers = vehicle_location(vehicle.id);
    Ok((
        StatusCode::CREATED,
        headers,
        Json(VehicleView::from(vehicle)),
    )
        .into_response())
}

/// One vehicle.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}", tag = "vehicles",
    params(("id" = VehicleId, Path)),
    responses((status = 200, body = VehicleView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_vehicle(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<VehicleView>, ApiError> {
    principal.require(Role::Viewer)?;
    let id = parse_id(&id)?;
    Ok(Json(
        state.store.vehicle(principal.tenant_id, id).await?.into(),
    ))
}

/// A malformed id is as unknown as a missing one: 404, not 400.
fn parse_id(id: &str) -> Result<VehicleId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// Changes a vehicle.
#[utoipa::path(
    patch, path = "/api/v1/vehicles/{id}", tag = "vehicles",
    params(("id" = VehicleId, Path)),
    request_body = VehiclePatch,
    responses((status = 200, body = VehicleView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_vehicle(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<VehiclePatch>,
) -> Result<Json<VehicleView>, ApiError> {
    principal.require(Role::Manager)?;
    let id = parse_id(&id)?;
    let current = state.store.vehicle(principal.tenant_id, id).await?;
    let c = current.spec;
    let draft = VehicleDraft {
        name: patch.name.unwrap_or(c.name),
        unit_number: patch.unit_number.unwrap_or(c.unit_number),
        vin: patch.vin.unwrap_or(c.vin.map(String::from)),
        plate: patch.plate.unwrap_or(c.plate),
        year: patch.year.unwrap_or(c.year),
        make: patch.make.unwrap_or(c.make),
        model: patch.model.unwrap_or(c.model),
        trim: patch.trim.unwrap_or(c.trim),
        vehicle_type: patch.vehicle_type.unwrap_or(c.vehicle_type),
        fuel_types: patch.fuel_types.unwrap_or(c.fuel_types),
        odometer_unit: patch.odometer_unit.unwrap_or(c.odometer_unit),
        in_service_date: patch.in_service_date.unwrap_or(c.in_service_date),
        status: patch.status.unwrap_or(c.status),
        tags: patch.tags.unwrap_or(c.tags),
        custom_fields: patch.custom_fields.unwrap_or(c.custom_fields),
    };
    let spec = VehicleSpec::validate(draft, current_year())?;
    let vehicle = state
        .store
        .update_vehicle(principal.tenant_id, id, &spec, &principal.audit())
        .await?;
    Ok(Json(vehicle.into()))
}

/// Deletes a vehicle (soft: kept for history, gone from every read).
#[utoipa::path(
    delete, path = "/api/v1/vehicles/{id}", tag = "vehicles",
    params(("id" = VehicleId, Path)),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_vehicle(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Manager)?;
    let id = parse_id(&id)?;
    state
        .store
        .delete_vehicle(principal.tenant_id, id, &principal.audit())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
