//! Maintenance schedules (service reminders) and the tenant's due list.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::ValidationErrors;
use domain::ids::VehicleId;
use domain::maintenance::{Baseline, DueStatus, Interval};
use domain::meter::MeterUnit;
use domain::tenancy::Role;
use domain::vehicle::OdometerUnit;
use serde::{Deserialize, Serialize};
use store::{NewSchedule, Schedule};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::parse_vehicle;
use crate::extract::{ApiJson, ApiQuery, check_limit};
use crate::openapi::{ReadErrors, WriteErrors};
use crate::routes::service::resolve_tasks;

/// Most vehicles one template may be applied to at once.
pub const MAX_TEMPLATE_VEHICLES: usize = 10_000;

/// A schedule's fields; distances in `distance_unit`. One shape serves
/// create (`task` required), apply (`task` and `vehicle_ids` required) and
/// update (neither allowed) — spelled out once rather than flattened, because
/// serde cannot deny unknown fields through `flatten`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFields {
    /// A catalog task, by key (`oil_change`) or id (create and apply only).
    pub task: Option<String>,
    /// The vehicles a template applies to (apply only).
    pub vehicle_ids: Option<Vec<VehicleId>>,
    /// Repeat every this distance.
    pub interval_distance: Option<f64>,
    /// Repeat every this many engine hours.
    pub interval_hours: Option<f64>,
    /// Repeat every this many days.
    pub interval_days: Option<i64>,
    /// Due-soon windows; default a tenth of each interval.
    pub due_soon_distance: Option<f64>,
    pub due_soon_hours: Option<f64>,
    pub due_soon_days: Option<i64>,
    /// `mi` or `km`; defaults to the vehicle's odometer unit (km for templates).
    pub distance_unit: Option<OdometerUnit>,
    /// Done once, then completed (e.g. a recall); default false.
    #[serde(default)]
    pub one_off: bool,
    /// When it was last done; default: today at the current meters.
    pub last_done_on: Option<Date>,
    pub last_done_odometer: Option<f64>,
    pub last_done_hours: Option<f64>,
}

/// The interval or window of a schedule, distances in km.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntervalView {
    pub distance_km: Option<f64>,
    pub hours: Option<f64>,
    pub days: Option<i64>,
}

impl From<Interval> for IntervalView {
    fn from(i: Interval) -> Self {
        Self {
            distance_km: i.km,
            hours: i.hours,
            days: i.days,
        }
    }
}

/// A schedule and its due state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub vehicle_name: String,
    pub task_id: Uuid,
    pub task_name: String,
    pub one_off: bool,
    pub interval: IntervalView,
    pub due_soon: IntervalView,
    pub last_done_on: Date,
    pub last_done_km: Option<f64>,
    pub last_done_hours: Option<f64>,
    pub next_due_km: Option<f64>,
    pub next_due_hours: Option<f64>,
    pub next_due_on: Option<Date>,
    pub status: DueStatus,
    /// When it will be due at the vehicle's recent usage (earliest dimension).
    pub forecast_on: Option<Date>,
}

impl From<Schedule> for ScheduleView {
    fn from(s: Schedule) -> Self {
        Self {
            id: s.id,
            vehicle_id: s.vehicle_id,
            vehicle_name: s.vehicle_name,
            task_id: s.task_id,
            task_name: s.task_name,
            one_off: s.one_off,
            interval: s.interval.into(),
            due_soon: s.window.into(),
            last_done_on: s.last_done.date,
            last_done_km: s.last_done.km,
            last_done_hours: s.last_done.hours,
            next_due_km: s.state.next_km,
            next_due_hours: s.state.next_hours,
            next_due_on: s.state.next_date,
            status: s.state.status,
            forecast_on: s.state.forecast,
        }
    }
}

/// A page of the due list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuePage {
    pub items: Vec<ScheduleView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Only overdue (default: due soon and overdue).
    #[serde(default)]
    pub overdue_only: bool,
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

fn to_km(value: f64, unit: OdometerUnit) -> f64 {
    match unit {
        OdometerUnit::Miles => MeterUnit::Miles.to_canonical(value),
        OdometerUnit::Kilometres => value,
    }
}

/// Checks schedule fields into intervals, window and baseline.
fn check_fields(
    f: &ScheduleFields,
    default_unit: OdometerUnit,
) -> Result<(Interval, Interval, Option<Baseline>), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let unit = f.distance_unit.unwrap_or(default_unit);
    let interval = Interval {
        km: f.interval_distance.map(|d| to_km(d, unit)),
        hours: f.interval_hours,
        days: f.interval_days,
    };
    errors.check("interval_distance", interval.check());
    let defaults = interval.default_window();
    let window = Interval {
        km: f.due_soon_distance.map(|d| to_km(d, unit)).or(defaults.km),
        hours: f.due_soon_hours.or(defaults.hours),
        days: f.due_soon_days.or(defaults.days),
    };
    if window.km.is_some_and(|v| v < 0.0)
        || window.hours.is_some_and(|v| v < 0.0)
        || window.days.is_some_and(|v| v < 0)
    {
        errors.push("due_soon_distance", "due-soon windows must not be negative");
    }
    let today = OffsetDateTime::now_utc().date();
    let baseline = match f.last_done_on {
        Some(date) if date > today => {
            errors.push("last_done_on", "is in the future");
            None
        }
        Some(date) => Some(Baseline {
            date,
            km: f.last_done_odometer.map(|d| to_km(d, unit)),
            hours: f.last_done_hours,
        }),
        None if f.last_done_odometer.is_some() || f.last_done_hours.is_some() => {
            errors.push(
                "last_done_on",
                "is required with last_done_odometer or last_done_hours",
            );
            None
        }
        None => None,
    };
    errors.into_result().map(|()| (interval, window, baseline))
}

/// The `task` field, resolved; an error when absent or unknown.
fn required_task(
    errors: &mut ValidationErrors,
    body: &ScheduleFields,
    catalog: &[store::ServiceTask],
) -> Vec<Uuid> {
    match &body.task {
        Some(task) => {
            let mut found = ValidationErrors::new();
            let ids = resolve_tasks(&mut found, "task", std::slice::from_ref(task), catalog);
            for e in found.0 {
                errors.push("task", e.message);
            }
            ids
        }
        None => {
            errors.push("task", "is required");
            vec![]
        }
    }
}

/// Adds a maintenance schedule to a vehicle (managers).
#[utoipa::path(
    post, path = "/api/v1/vehicles/{id}/schedules", tag = "maintenance",
    params(("id" = VehicleId, Path)),
    request_body = ScheduleFields,
    responses((status = 201, body = ScheduleView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_schedule(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ScheduleFields>,
) -> Result<(StatusCode, Json<ScheduleView>), ApiError> {
    principal.require(Role::Manager)?;
    let vehicle = state
        .store
        .vehicle(principal.tenant_id, parse_vehicle(&id)?)
        .await?;
    let catalog = state.store.list_service_tasks(principal.tenant_id).await?;
    let mut errors = ValidationErrors::new();
    let task = required_task(&mut errors, &body, &catalog);
    if body.vehicle_ids.is_some() {
        errors.push(
            "vehicle_ids",
            "is for POST /api/v1/schedules/apply; this schedule is for the vehicle in the path",
        );
    }
    let checked = check_fields(&body, vehicle.spec.odometer_unit);
    if let Err(e) = &checked {
        errors.0.extend(e.0.iter().cloned());
    }
    errors.into_result()?;
    let ((interval, window, last_done), Some(task_id)) = (checked?, task.first().copied()) else {
        return Err(ApiError::field("task", "is required"));
    };
    let new = NewSchedule {
        task_id,
        one_off: body.one_off,
        interval,
        window,
        last_done,
    };
    let schedule = state
        .store
        .create_schedule(principal.tenant_id, vehicle.id, &new, &principal.audit())
        .await?;
    Ok((StatusCode::CREATED, Json(schedule.into())))
}

/// Applies one schedule to many vehicles (managers), in one transaction.
#[utoipa::path(
    post, path = "/api/v1/schedules/apply", tag = "maintenance",
    request_body = ScheduleFields,
    responses((status = 201, body = Vec<Uuid>), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn apply_template(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ScheduleFields>,
) -> Result<(StatusCode, Json<Vec<Uuid>>), ApiError> {
    principal.require(Role::Manager)?;
    let catalog = state.store.list_service_tasks(principal.tenant_id).await?;
    let mut errors = ValidationErrors::new();
    let task = required_task(&mut errors, &body, &catalog);
    let vehicles = body.vehicle_ids.clone().unwrap_or_default();
    if vehicles.is_empty() || vehicles.len() > MAX_TEMPLATE_VEHICLES {
        errors.push(
            "vehicle_ids",
            format!("must list 1 to {MAX_TEMPLATE_VEHICLES} vehicles"),
        );
    }
    let checked = check_fields(&body, OdometerUnit::Kilometres);
    if let Err(e) = &checked {
        errors.0.extend(e.0.iter().cloned());
    }
    errors.into_result()?;
    let ((interval, window, last_done), Some(task_id)) = (checked?, task.first().copied()) else {
        return Err(ApiError::field("task", "is required"));
    };
    let mut vehicles = vehicles;
    vehicles.sort();
    vehicles.dedup();
    let new = NewSchedule {
        task_id,
        one_off: body.one_off,
        interval,
        window,
        last_done,
    };
    let ids = state
        .store
        .apply_schedule(principal.tenant_id, &vehicles, &new, &principal.audit())
        .await?;
    Ok((StatusCode::CREATED, Json(ids)))
}

/// A vehicle's schedules, most urgent first.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/schedules", tag = "maintenance",
    params(("id" = VehicleId, Path)),
    responses((status = 200, body = Vec<ScheduleView>), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_schedules(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    principal.require(Role::Viewer)?;
    let schedules = state
        .store
        .list_schedules(principal.tenant_id, parse_vehicle(&id)?)
        .await?;
    Ok(Json(schedules.into_iter().map(Into::into).collect()))
}

/// Changes a schedule's intervals or baseline (managers); its next due is recomputed.
#[utoipa::path(
    put, path = "/api/v1/schedules/{schedule_id}", tag = "maintenance",
    params(("schedule_id" = Uuid, Path)),
    request_body = ScheduleFields,
    responses((status = 200, body = ScheduleView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_schedule(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ScheduleFields>,
) -> Result<Json<ScheduleView>, ApiError> {
    principal.require(Role::Manager)?;
    let id: Uuid = id.parse().map_err(|_| ApiError::NotFound)?;
    let current = state.store.schedule(principal.tenant_id, id).await?;
    let vehicle = state
        .store
        .vehicle(principal.tenant_id, current.vehicle_id)
        .await?;
    let mut errors = ValidationErrors::new();
    for (field, present) in [
        ("task", body.task.is_some()),
        ("vehicle_ids", body.vehicle_ids.is_some()),
    ] {
        if present {
            errors.push(
                field,
                "cannot be changed; delete the schedule and create another",
            );
        }
    }
    errors.into_result()?;
    let (interval, window, last_done) = check_fields(&body, vehicle.spec.odometer_unit)?;
    let schedule = state
        .store
        .update_schedule(
            principal.tenant_id,
            id,
            interval,
            window,
            last_done.unwrap_or(current.last_done),
            &principal.audit(),
        )
        .await?;
    Ok(Json(schedule.into()))
}

/// Deletes a schedule (managers).
#[utoipa::path(
    delete, path = "/api/v1/schedules/{schedule_id}", tag = "maintenance",
    params(("schedule_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_schedule(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Manager)?;
    let id: Uuid = id.parse().map_err(|_| ApiError::NotFound)?;
    state
        .store
        .delete_schedule(principal.tenant_id, id, &principal.audit())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything due soon or overdue across the tenant, most urgent first
/// (overdue, then due soon; each by forecast date). Read from stored due state.
#[utoipa::path(
    get, path = "/api/v1/maintenance/due", tag = "maintenance",
    params(DueQuery),
    responses((status = 200, body = DuePage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn due_list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<DueQuery>,
) -> Result<Json<DuePage>, ApiError> {
    principal.require(Role::Viewer)?;
    let limit = check_limit(q.limit)?;
    let page = state
        .store
        .due_list(
            principal.tenant_id,
            q.overdue_only,
            q.cursor.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(DuePage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}
