//! Fuel and charging entries, and fuel economy.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::ValidationErrors;
use domain::fuel::{Economy, FuelUnit, Measure, check_quantity, economy, measure_of};
use domain::ids::VehicleId;
use domain::meter::{MeterKind, MeterUnit, meter_value};
use domain::money::{exponent, format_decimal, parse_decimal, round_half_away};
use domain::preferences::{CurrencyCode, UnitSystem};
use domain::tenancy::{Role, parse_display_text};
use domain::vehicle::{FuelType, OdometerUnit};
use serde::{Deserialize, Serialize};
use store::{FuelEntry, FuelStats, NewFuelEntry};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::parse_vehicle;
use crate::extract::{ApiJson, ApiQuery, Decimal, PageQuery};
use crate::openapi::{ReadErrors, WriteErrors};

/// A fill or a charge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FuelCreate {
    /// Defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub filled_at: Option<OffsetDateTime>,
    /// The odometer at the pump; recorded as a meter reading (source `fuel`).
    pub odometer: f64,
    /// Defaults to the vehicle's odometer unit.
    pub odometer_unit: Option<OdometerUnit>,
    /// Defaults to the vehicle's first fuel type; must be one the vehicle takes.
    pub fuel_type: Option<FuelType>,
    /// e.g. `premium 95`.
    pub grade: Option<String>,
    pub quantity: f64,
    /// Defaults to `us_gal` (imperial users) or `l` for liquids, `kwh` for electric, `kg` for CNG and hydrogen.
    pub unit: Option<FuelUnit>,
    /// Price per unit (up to 3 more decimals than the currency has, e.g. `3.459`).
    pub unit_price: Option<Decimal>,
    /// What was paid. Given one of `unit_price` and `total`, the other is derived
    /// (total rounded half away from zero to the minor unit).
    pub total: Option<Decimal>,
    /// Defaults to the user's currency.
    pub currency: Option<String>,
    /// Filled to full (default true). Economy is measured between full fills.
    #[serde(default = "yes")]
    pub full: bool,
    /// The previous fill-up was not logged: the segment before this fill is not measured.
    #[serde(default)]
    pub missed_previous: bool,
    pub station: Option<String>,
    /// State of charge before, percent (EVs).
    pub soc_before: Option<f64>,
    /// State of charge after, percent (EVs).
    pub soc_after: Option<f64>,
    pub notes: Option<String>,
}

fn yes() -> bool {
    true
}

/// A recorded fill, with the economy of the segment it closes.
#[derive(Debug, Serialize, ToSchema)]
pub struct FuelEntryView {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    #[serde(with = "time::serde::rfc3339")]
    pub filled_at: OffsetDateTime,
    pub odometer: f64,
    pub odometer_unit: MeterUnit,
    pub fuel_type: FuelType,
    pub grade: Option<String>,
    pub quantity: f64,
    pub unit: FuelUnit,
    /// Per unit, as decimal text.
    pub unit_price: Option<String>,
    /// As decimal text.
    pub total: Option<String>,
    pub currency: String,
    pub full: bool,
    pub missed_previous: bool,
    pub station: Option<String>,
    pub soc_before: Option<f64>,
    pub soc_after: Option<f64>,
    pub notes: Option<String>,
    /// Present on a full fill that closes a measured segment.
    pub economy: Option<Economy>,
}

impl From<FuelEntry> for FuelEntryView {
    fn from(f: FuelEntry) -> Self {
        let e = f.entry;
        let exp = exponent(&e.currency);
        Self {
            id: f.id,
            vehicle_id: e.vehicle_id,
            filled_at: e.filled_at,
            odometer: e.odometer.value,
            odometer_unit: e.odometer.unit,
            fuel_type: e.fuel_type,
            grade: e.grade,
            quantity: e.quantity,
            unit: e.quantity_unit,
            unit_price: e.unit_price_milli.map(|p| format_decimal(p, exp + 3)),
            total: e.total_minor.map(|t| format_decimal(t, exp)),
            currency: e.currency.as_str().to_string(),
            full: e.full,
            missed_previous: e.missed_previous,
            station: e.station,
            soc_before: e.soc_before,
            soc_after: e.soc_after,
            notes: e.notes,
            economy: f.segment.map(|s| economy(measure_of(e.fuel_type), &s)),
        }
    }
}

/// One page of fills, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FuelPage {
    pub items: Vec<FuelEntryView>,
    pub next_cursor: Option<String>,
}

/// Spend in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Spend {
    pub currency: String,
    /// Decimal text.
    pub amount: String,
}

/// Figures of one fuel type.
#[derive(Debug, Serialize, ToSchema)]
pub struct FuelStatsView {
    pub fuel_type: FuelType,
    pub measure: Measure,
    pub entries: i64,
    /// Bought in the period, in L, kWh or kg.
    pub quantity: f64,
    pub spend: Vec<Spend>,
    /// Total distance over total fuel of the segments measured in the period.
    pub average: Option<Economy>,
    /// The most recent measured segment.
    pub last: Option<Economy>,
}

impl From<FuelStats> for FuelStatsView {
    fn from(s: FuelStats) -> Self {
        let measure = measure_of(s.fuel_type);
        Self {
            fuel_type: s.fuel_type,
            measure,
            entries: s.entries,
            quantity: s.quantity,
            spend: s
                .spend
                .into_iter()
                .map(|(currency, minor)| {
                    let exp = CurrencyCode::parse(&currency)
                        .map(|c| exponent(&c))
                        .unwrap_or(2);
                    Spend {
                        amount: format_decimal(minor, exp),
                        currency,
                    }
                })
                .collect(),
            average: s.measured.map(|m| economy(measure, &m)),
            last: s.last.map(|m| economy(measure, &m)),
        }
    }
}

/// The period of a statistics request.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Start, inclusive (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>)]
    pub from: Option<OffsetDateTime>,
    /// End, exclusive (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>)]
    pub to: Option<OffsetDateTime>,
}

fn default_unit(measure: Measure, units: UnitSystem) -> FuelUnit {
    match (measure, units) {
        (Measure::Energy, _) => FuelUnit::KilowattHours,
        (Measure::Mass, _) => FuelUnit::Kilograms,
        (Measure::Volume, UnitSystem::Imperial) => FuelUnit::UsGallons,
        (Measure::Volume, UnitSystem::Metric) => FuelUnit::Litres,
    }
}

/// Records a fill or charge (drivers and up). Its odometer must fit the
/// meter's history (422 on `odometer` otherwise), and nothing is written then.
#[utoipa::path(
    post, path = "/api/v1/vehicles/{id}/fuel", tag = "fuel",
    params(("id" = VehicleId, Path)),
    request_body = FuelCreate,
    responses((status = 201, body = FuelEntryView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_fuel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FuelCreate>,
) -> Result<(StatusCode, Json<FuelEntryView>), ApiError> {
    principal.require(Role::Driver)?;
    let vehicle = state
        .store
        .vehicle(principal.tenant_id, parse_vehicle(&id)?)
        .await?;
    let mut errors = ValidationErrors::new();
    let prefs = &principal.user.preferences;

    let odometer_unit = match body.odometer_unit.unwrap_or(vehicle.spec.odometer_unit) {
        OdometerUnit::Miles => MeterUnit::Miles,
        OdometerUnit::Kilometres => MeterUnit::Kilometres,
    };
    let odometer = errors.check(
        "odometer",
        meter_value(MeterKind::Odometer, body.odometer, odometer_unit),
    );
    let fuel_type = body
        .fuel_type
        .or_else(|| vehicle.spec.fuel_types.first().copied())
        .unwrap_or(FuelType::Gasoline);
    if !vehicle.spec.fuel_types.contains(&fuel_type) {
        errors.push(
            "fuel_type",
            format!(
                "this vehicle does not take {} (it takes the vehicle's fuel_types)",
                fuel_type.as_str()
            ),
        );
    }
    let unit = body
        .unit
        .unwrap_or_else(|| default_unit(measure_of(fuel_type), prefs.unit_system));
    let quantity = errors.check("quantity", check_quantity(fuel_type, body.quantity, unit));
    let currency = match body.currency.as_deref() {
        Some(c) => errors.check("currency", CurrencyCode::parse(c)),
        None => Some(prefs.currency.clone()),
    };
    let exp = currency.as_ref().map(exponent).unwrap_or(2);
    let total = body
        .total
        .as_ref()
        .and_then(|t| errors.check("total", parse_decimal(&t.0, exp)));
    let unit_price = body
        .unit_price
        .as_ref()
        .and_then(|p| errors.check("unit_price", parse_decimal(&p.0, exp + 3)));
    for (field, value) in [("total", total), ("unit_price", unit_price)] {
        if value.is_some_and(|v| v < 0) {
            errors.push(field, "must not be negative");
        }
    }
    for (field, soc) in [
        ("soc_before", body.soc_before),
        ("soc_after", body.soc_after),
    ] {
        if soc.is_some_and(|s| !(0.0..=100.0).contains(&s)) {
            errors.push(field, "must be a percentage from 0 to 100");
        }
    }
    let text = |errors: &mut ValidationErrors, field: &str, v: &Option<String>, max: usize| {
        v.as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| errors.check(field, parse_display_text(s, max)))
    };
    let grade = text(&mut errors, "grade", &body.grade, 40);
    let station = text(&mut errors, "station", &body.station, 200);
    let notes = text(&mut errors, "notes", &body.notes, 2000);
    let filled_at = body.filled_at.unwrap_or_else(OffsetDateTime::now_utc);
    if filled_at > OffsetDateTime::now_utc() + time::Duration::minutes(5) {
        errors.push("filled_at", "is in the future");
    }
    errors.into_result()?;
    let (Some(odometer), Some(quantity_canonical), Some(currency)) = (odometer, quantity, currency)
    else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    // One of price and total gives the other: total = quantity × price,
    // rounded half away from zero to the minor unit.
    let (unit_price_milli, total_minor) = match (unit_price, total) {
        (Some(p), None) => (
            Some(p),
            Some(round_half_away(body.quantity * p as f64 / 1000.0)),
        ),
        (None, Some(t)) => (
            Some(round_half_away(t as f64 * 1000.0 / body.quantity)),
            Some(t),
        ),
        other => other,
    };
    let new = NewFuelEntry {
        vehicle_id: vehicle.id,
        filled_at,
        odometer,
        fuel_type,
        grade,
        quantity: body.quantity,
        quantity_unit: unit,
        quantity_canonical,
        unit_price_milli,
        total_minor,
        currency,
        full: body.full,
        missed_previous: body.missed_previous,
        station,
        soc_before: body.soc_before,
        soc_after: body.soc_after,
        notes,
    };
    let max = crate::routes::meters::max_daily_km(&state, &principal).await?;
    let entry = state
        .store
        .create_fuel_entry(principal.tenant_id, &new, max, &principal.audit())
        .await?;
    Ok((StatusCode::CREATED, Json(entry.into())))
}

/// A vehicle's fills, newest first.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/fuel", tag = "fuel",
    params(("id" = VehicleId, Path), PageQuery),
    responses((status = 200, body = FuelPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_fuel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<FuelPage>, ApiError> {
    principal.require(Role::Viewer)?;
    let entries = state
        .store
        .list_fuel_entries(
            principal.tenant_id,
            parse_vehicle(&id)?,
            page.cursor.as_deref(),
            page.limit()?,
        )
        .await?;
    Ok(Json(FuelPage {
        items: entries.items.into_iter().map(Into::into).collect(),
        next_cursor: entries.next_cursor,
    }))
}

/// One fill.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/fuel/{entry_id}", tag = "fuel",
    params(("id" = VehicleId, Path), ("entry_id" = Uuid, Path)),
    responses((status = 200, body = FuelEntryView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_fuel(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, entry)): Path<(String, String)>,
) -> Result<Json<FuelEntryView>, ApiError> {
    principal.require(Role::Viewer)?;
    let entry: Uuid = entry.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(
        state
            .store
            .fuel_entry(principal.tenant_id, parse_vehicle(&id)?, entry)
            .await?
            .into(),
    ))
}

/// Deletes a fill (managers): its odometer reading is voided and economy recomputed.
#[utoipa::path(
    delete, path = "/api/v1/vehicles/{id}/fuel/{entry_id}", tag = "fuel",
    params(("id" = VehicleId, Path), ("entry_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_fuel(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, entry)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Manager)?;
    let entry: Uuid = entry.parse().map_err(|_| ApiError::NotFound)?;
    state
        .store
        .delete_fuel_entry(
            principal.tenant_id,
            parse_vehicle(&id)?,
            entry,
            &principal.audit(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fuel figures per fuel type: average and last economy in every unit, spend,
/// cost per distance, over an optional period.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/fuel-stats", tag = "fuel",
    params(("id" = VehicleId, Path), PeriodQuery),
    responses((status = 200, body = Vec<FuelStatsView>), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn fuel_stats(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Json<Vec<FuelStatsView>>, ApiError> {
    principal.require(Role::Viewer)?;
    let stats = state
        .store
        .fuel_stats(principal.tenant_id, parse_vehicle(&id)?, q.from, q.to)
        .await?;
    Ok(Json(stats.into_iter().map(Into::into).collect()))
}
