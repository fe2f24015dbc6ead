//! Odometer and engine-hour readings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::ValidationErrors;
use domain::ids::VehicleId;
use domain::meter::{MeterKind, MeterSource, MeterUnit, meter_value};
use domain::tenancy::{Role, parse_display_text};
use domain::vehicle::OdometerUnit;
use serde::{Deserialize, Serialize};
use store::{NewMeterOffset, NewReading, Reading, ReadingOutcome};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::parse_vehicle;
use crate::extract::{ApiJson, ApiQuery, check_limit};
use crate::openapi::{ReadErrors, WriteErrors};

/// Most readings in one bulk request.
pub const MAX_BULK_READINGS: usize = 10_000;

/// A recorded reading.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingView {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub kind: MeterKind,
    #[serde(with = "time::serde::rfc3339")]
    pub read_at: OffsetDateTime,
    /// As recorded, in `unit`.
    pub value: f64,
    pub unit: MeterUnit,
    /// The reading with meter replacements applied, in `unit`: what the meter
    /// "really" reads, and what ordering and economy use.
    pub effective_value: f64,
    pub source: MeterSource,
    pub note: Option<String>,
    /// Void readings are kept for history and ignored everywhere else.
    pub void: bool,
    /// Set when the reading looks implausible (a jump); it is kept anyway.
    pub flag: Option<String>,
}

impl From<Reading> for ReadingView {
    fn from(r: Reading) -> Self {
        Self {
            id: r.id,
            vehicle_id: r.vehicle_id,
            kind: r.kind,
            read_at: r.read_at,
            value: r.value,
            unit: r.unit,
            // Unit conversion leaves float dust (12120.000000000002): round to 1/1000.
            effective_value: (r.unit.from_canonical(r.effective) * 1000.0).round() / 1000.0,
            source: r.source,
            note: r.note,
            void: r.void,
            flag: r.flag,
        }
    }
}

/// A reading of one vehicle's meter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingCreate {
    pub kind: MeterKind,
    pub value: f64,
    /// Defaults to the vehicle's odometer unit, or `h` for hours.
    pub unit: Option<MeterUnit>,
    /// Defaults to now. Kept to the second.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
    /// Defaults to `manual`.
    pub source: Option<MeterSource>,
    pub note: Option<String>,
    /// Record it as void (history only).
    #[serde(default)]
    pub void: bool,
}

/// A reading in a bulk request: a [`ReadingCreate`] that names its vehicle.
/// (Spelled out rather than flattened: serde cannot deny unknown fields
/// through `flatten`.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReading {
    pub vehicle_id: VehicleId,
    pub kind: MeterKind,
    pub value: f64,
    pub unit: Option<MeterUnit>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
    pub source: Option<MeterSource>,
    pub note: Option<String>,
    #[serde(default)]
    pub void: bool,
}

impl BulkReading {
    fn split(self) -> (VehicleId, ReadingCreate) {
        let reading = ReadingCreate {
            kind: self.kind,
            value: self.value,
            unit: self.unit,
            read_at: self.read_at,
            source: self.source,
            note: self.note,
            void: self.void,
        };
        (self.vehicle_id, reading)
    }
}

/// Many readings at once (up to 10,000, within the body size limit).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReadings {
    pub readings: Vec<BulkReading>,
}

/// What happened to one item of a bulk request.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkItemResult {
    /// Position in the request, from 0.
    pub index: usize,
    /// `created`, `duplicate` (recorded before; nothing changed) or `rejected`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading: Option<ReadingView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<crate::error::ProblemField>,
}

/// The answer to a bulk request. Accepted items were committed together.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    pub created: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub results: Vec<BulkItemResult>,
}

/// One page of readings, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingPage {
    pub items: Vec<ReadingView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadingQuery {
    /// `odometer` (default) or `hours`.
    pub kind: Option<MeterKind>,
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

/// Voids or restores a reading.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingUpdate {
    pub void: bool,
}

/// A meter replacement or rollover.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffsetCreate {
    pub kind: MeterKind,
    /// From when the offset applies.
    #[serde(with = "time::serde::rfc3339")]
    pub effective_at: OffsetDateTime,
    /// Added to every raw reading from `effective_at` on (the old meter's last
    /// reading for a replacement, the meter's capacity for a rollover).
    pub offset: f64,
    /// Defaults like a reading's unit.
    pub unit: Option<MeterUnit>,
    pub reason: String,
}

/// A recorded meter offset.
#[derive(Debug, Serialize, ToSchema)]
pub struct OffsetView {
    pub id: Uuid,
    pub kind: MeterKind,
    #[serde(with = "time::serde::rfc3339")]
    pub effective_at: OffsetDateTime,
    /// In km or h.
    pub offset_canonical: f64,
    pub reason: String,
}

fn default_unit(kind: MeterKind, odometer_unit: OdometerUnit) -> MeterUnit {
    match (kind, odometer_unit) {
        (MeterKind::Hours, _) => MeterUnit::Hours,
        (MeterKind::Odometer, OdometerUnit::Miles) => MeterUnit::Miles,
        (MeterKind::Odometer, OdometerUnit::Kilometres) => MeterUnit::Kilometres,
    }
}

/// The tenant's implausible-jump threshold: `settings.max_daily_km`, else 2,000 miles.
pub(crate) async fn max_daily_km(state: &AppState, principal: &Principal) -> Result<f64, ApiError> {
    Ok(state
        .store
        .tenant(principal.tenant_id)
        .await?
        .max_daily_km())
}

/// Checks one reading's fields; `prefix` names them inside a bulk request.
fn check_reading(
    vehicle_id: VehicleId,
    body: ReadingCreate,
    odometer_unit: OdometerUnit,
    prefix: &str,
) -> Result<NewReading, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let unit = body
        .unit
        .unwrap_or_else(|| default_unit(body.kind, odometer_unit));
    let value = errors.check(
        &format!("{prefix}value"),
        meter_value(body.kind, body.value, unit),
    );
    let note = body
        .note
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .and_then(|n| errors.check(&format!("{prefix}note"), parse_display_text(n, 500)));
    let read_at = body.read_at.unwrap_or_else(OffsetDateTime::now_utc);
    if read_at > OffsetDateTime::now_utc() + time::Duration::minutes(5) {
        errors.push(format!("{prefix}read_at"), "is in the future");
    }
    errors.into_result()?;
    let Some(value) = value else {
        return Err(ValidationErrors::single(
            format!("{prefix}value"),
            "is required",
        ));
    };
    Ok(NewReading {
        vehicle_id,
        kind: body.kind,
        read_at,
        value,
        source: body.source.unwrap_or(MeterSource::Manual),
        note,
        void: body.void,
    })
}

/// Records one reading of a vehicle's meter (drivers and up).
///
/// A reading lower than an earlier one, or higher than a later one, is
/// refused (422 on `value`) unless recorded as void; record a meter
/// replacement first if the meter was changed. Implausible jumps are kept and flagged.
#[utoipa::path(
    post, path = "/api/v1/vehicles/{id}/meters", tag = "meters",
    params(("id" = VehicleId, Path)),
    request_body = ReadingCreate,
    responses((status = 201, body = ReadingView), (status = 200, description = "The same reading was recorded before", body = ReadingView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_reading(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReadingCreate>,
) -> Result<(StatusCode, Json<ReadingView>), ApiError> {
    principal.require(Role::Driver)?;
    let vehicle = state
        .store
        .vehicle(principal.tenant_id, parse_vehicle(&id)?)
        .await?;
    let reading = check_reading(vehicle.id, body, vehicle.spec.odometer_unit, "")?;
    let max = max_daily_km(&state, &principal).await?;
    let mut outcomes = state
        .store
        .record_readings(principal.tenant_id, &[reading], max, &principal.audit())
        .await?;
    match outcomes.pop() {
        Some(ReadingOutcome::Created(r)) => Ok((StatusCode::CREATED, Json(r.into()))),
        Some(ReadingOutcome::Duplicate(r)) => Ok((StatusCode::OK, Json(r.into()))),
        Some(ReadingOutcome::Rejected { field, message }) => Err(ApiError::field(field, message)),
        None => Err(ApiError::Internal("no outcome for a reading".into())),
    }
}

/// A vehicle's readings of one meter, newest first.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/meters", tag = "meters",
    params(("id" = VehicleId, Path), ReadingQuery),
    responses((status = 200, body = ReadingPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_readings(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReadingQuery>,
) -> Result<Json<ReadingPage>, ApiError> {
    principal.require(Role::Viewer)?;
    let limit = check_limit(q.limit)?;
    let page = state
        .store
        .list_readings(
            principal.tenant_id,
            parse_vehicle(&id)?,
            q.kind.unwrap_or(MeterKind::Odometer),
            q.cursor.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(ReadingPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Voids a reading (kept for history, ignored for calculations) or restores
/// it (re-checked against its neighbours) (managers).
#[utoipa::path(
    patch, path = "/api/v1/vehicles/{id}/meters/{reading_id}", tag = "meters",
    params(("id" = VehicleId, Path), ("reading_id" = Uuid, Path)),
    request_body = ReadingUpdate,
    responses((status = 200, body = ReadingView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_reading(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, reading_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReadingUpdate>,
) -> Result<Json<ReadingView>, ApiError> {
    principal.require(Role::Manager)?;
    let vehicle = parse_vehicle(&id)?;
    let reading_id: Uuid = reading_id.parse().map_err(|_| ApiError::NotFound)?;
    let max = max_daily_km(&state, &principal).await?;
    let reading = state
        .store
        .set_reading_void(
            principal.tenant_id,
            vehicle,
            reading_id,
            body.void,
            max,
            &principal.audit(),
        )
        .await?;
    Ok(Json(reading.into()))
}

/// Records a meter replacement or rollover (managers).
#[utoipa::path(
    post, path = "/api/v1/vehicles/{id}/meter-offsets", tag = "meters",
    params(("id" = VehicleId, Path)),
    request_body = OffsetCreate,
    responses((status = 201, body = OffsetView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_offset(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OffsetCreate>,
) -> Result<(StatusCode, Json<OffsetView>), ApiError> {
    principal.require(Role::Manager)?;
    let vehicle = state
        .store
        .vehicle(principal.tenant_id, parse_vehicle(&id)?)
        .await?;
    let mut errors = ValidationErrors::new();
    let unit = body
        .unit
        .unwrap_or_else(|| default_unit(body.kind, vehicle.spec.odometer_unit));
    let offset = errors.check("offset", meter_value(body.kind, body.offset, unit));
    let reason = errors.check("reason", parse_display_text(&body.reason, 500));
    errors.into_result()?;
    let (Some(offset), Some(reason)) = (offset, reason) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let created = state
        .store
        .add_meter_offset(
            principal.tenant_id,
            vehicle.id,
            &NewMeterOffset {
                kind: body.kind,
                effective_at: body.effective_at,
                offset: offset.canonical,
                reason,
            },
            &principal.audit(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(OffsetView {
            id: created.id,
            kind: created.kind,
            effective_at: created.effective_at,
            offset_canonical: created.offset,
            reason: created.reason,
        }),
    ))
}

/// Records many readings across vehicles (technicians and up; telematics
/// scripts). Idempotent: an item recorded before is reported as `duplicate`.
/// Refused items are reported with their fields; the accepted ones commit together.
#[utoipa::path(
    post, path = "/api/v1/meters/bulk", tag = "meters",
    request_body = BulkReadings,
    responses((status = 200, body = BulkResult), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn bulk_readings(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<BulkReadings>,
) -> Result<Json<BulkResult>, ApiError> {
    principal.require(Role::Technician)?;
    if body.readings.is_empty() || body.readings.len() > MAX_BULK_READINGS {
        return Err(ApiError::field(
            "readings",
            format!("must hold 1 to {MAX_BULK_READINGS} readings"),
        ));
    }
    let mut results: Vec<Option<BulkItemResult>> = Vec::with_capacity(body.readings.len());
    let mut accepted = Vec::new();
    let mut positions = Vec::new();
    for (index, item) in body.readings.into_iter().enumerate() {
        let (vehicle_id, reading) = item.split();
        // The vehicle's odometer unit is only needed when the item has no unit;
        // the store checks the vehicle exists in the tenant.
        let odometer_unit = if reading.unit.is_none() && reading.kind == MeterKind::Odometer {
            match state.store.vehicle(principal.tenant_id, vehicle_id).await {
                Ok(v) => v.spec.odometer_unit,
                Err(store::StoreError::NotFound) => OdometerUnit::Kilometres,
                Err(e) => return Err(e.into()),
            }
        } else {
            OdometerUnit::Kilometres
        };
        match check_reading(
            vehicle_id,
            reading,
            odometer_unit,
            &format!("readings[{index}]."),
        ) {
            Ok(r) => {
                results.push(None);
                positions.push(index);
                accepted.push(r);
            }
            Err(errors) => results.push(Some(BulkItemResult {
                index,
                status: "rejected".into(),
                reading: None,
                errors: errors.0.into_iter().map(Into::into).collect(),
            })),
        }
    }
    let max = max_daily_km(&state, &principal).await?;
    let outcomes = if accepted.is_empty() {
        vec![]
    } else {
        state
            .store
            .record_readings(principal.tenant_id, &accepted, max, &principal.audit())
            .await?
    };
    for (index, outcome) in positions.into_iter().zip(outcomes) {
        results[index] = Some(match outcome {
            ReadingOutcome::Created(r) => BulkItemResult {
                index,
                status: "created".into(),
                reading: Some(r.into()),
                errors: vec![],
            },
            ReadingOutcome::Duplicate(r) => BulkItemResult {
                index,
                status: "duplicate".into(),
                reading: Some(r.into()),
                errors: vec![],
            },
            ReadingOutcome::Rejected { field, message } => BulkItemResult {
                index,
                status: "rejected".into(),
                reading: None,
                errors: vec![crate::error::ProblemField {
                    field: format!("readings[{index}].{field}"),
                    message,
                }],
            },
        });
    }
    let results: Vec<BulkItemResult> = results.into_iter().flatten().collect();
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    Ok(Json(BulkResult {
        created: count("created"),
        duplicates: count("duplicate"),
        rejected: count("rejected"),
        results,
    }))
}
