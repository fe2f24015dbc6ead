//! Service tasks, service records, expenses and cost totals.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::ValidationErrors;
use domain::ids::VehicleId;
use domain::meter::{MeterKind, MeterUnit, meter_value};
use domain::money::{exponent, format_decimal, parse_decimal};
use domain::preferences::CurrencyCode;
use domain::service::{ExpenseCategory, LineKind, Recurrence, line_amount, record_total};
use domain::tenancy::{Role, parse_display_text};
use domain::vehicle::OdometerUnit;
use serde::{Deserialize, Serialize};
use store::{Expense, LineItem, NewExpense, NewServiceRecord, ServiceRecord, ServiceTask};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::parse_vehicle;
use crate::extract::{ApiJson, ApiQuery, Decimal, PageQuery};
use crate::openapi::{ReadErrors, WriteErrors};

/// A task of the tenant's catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub id: Uuid,
    /// Stable identifier, e.g. `oil_change`.
    pub key: String,
    pub name: String,
}

impl From<ServiceTask> for TaskView {
    fn from(t: ServiceTask) -> Self {
        Self {
            id: t.id,
            key: t.key,
            name: t.name,
        }
    }
}

/// A new catalog task.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskCreate {
    /// `a-z`, `0-9` and `_`, e.g. `hydraulic_filter`.
    pub key: String,
    pub name: String,
}

/// A line of a service record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineCreate {
    pub kind: LineKind,
    pub description: String,
    pub part_number: Option<String>,
    /// Hours for labor; count for parts and fees (default 1).
    pub quantity: Option<f64>,
    /// Hourly rate for labor, price per unit otherwise.
    pub unit_cost: Decimal,
}

/// A service performed on a vehicle.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceCreate {
    pub performed_on: Date,
    /// When the meters were read; defaults to noon UTC of `performed_on`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub performed_at: Option<OffsetDateTime>,
    /// Recorded as a meter reading (source `service`).
    pub odometer: Option<f64>,
    /// Defaults to the vehicle's odometer unit.
    pub odometer_unit: Option<OdometerUnit>,
    pub engine_hours: Option<f64>,
    pub vendor: Option<String>,
    pub notes: Option<String>,
    /// Catalog tasks done, by key (`oil_change`) or id; they advance the vehicle's schedules.
    #[serde(default)]
    pub tasks: Vec<String>,
    #[serde(default)]
    pub line_items: Vec<LineCreate>,
    pub tax: Option<Decimal>,
    pub discount: Option<Decimal>,
    /// Defaults to the user's currency.
    pub currency: Option<String>,
}

/// A line as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    pub kind: LineKind,
    pub description: String,
    pub part_number: Option<String>,
    pub quantity: f64,
    pub unit_cost: String,
    pub amount: String,
}

/// A stored service record.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub performed_on: Date,
    pub odometer_km: Option<f64>,
    pub engine_hours: Option<f64>,
    pub vendor: Option<String>,
    pub notes: Option<String>,
    pub task_ids: Vec<Uuid>,
    pub line_items: Vec<LineView>,
    pub tax: String,
    pub discount: String,
    /// Lines − discount + tax.
    pub total: String,
    pub currency: String,
}

impl From<ServiceRecord> for ServiceView {
    fn from(r: ServiceRecord) -> Self {
        let n = r.record;
        let exp = exponent(&n.currency);
        Self {
            id: r.id,
            vehicle_id: n.vehicle_id,
            performed_on: n.performed_on,
            odometer_km: n.odometer_km,
            engine_hours: n.engine_hours,
            vendor: n.vendor,
            notes: n.notes,
            task_ids: n.task_ids,
            line_items: n
                .line_items
                .into_iter()
                .map(|l| LineView {
                    kind: l.kind,
                    description: l.description,
                    part_number: l.part_number,
                    quantity: l.quantity,
                    unit_cost: format_decimal(l.unit_cost_minor, exp),
                    amount: format_decimal(l.amount_minor, exp),
                })
                .collect(),
            tax: format_decimal(n.tax_minor, exp),
            discount: format_decimal(n.discount_minor, exp),
            total: format_decimal(n.total_minor, exp),
            currency: n.currency.as_str().to_string(),
        }
    }
}

/// One page of service records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServicePage {
    pub items: Vec<ServiceView>,
    pub next_cursor: Option<String>,
}

/// An expense.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpenseCreate {
    pub category: ExpenseCategory,
    pub amount: Decimal,
    /// Defaults to the user's currency.
    pub currency: Option<String>,
    pub spent_on: Date,
    pub recurrence: Option<Recurrence>,
    pub notes: Option<String>,
}

/// A stored expense.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpenseView {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub category: ExpenseCategory,
    pub spent_on: Date,
    pub amount: String,
    pub currency: String,
    pub recurrence: Option<Recurrence>,
    pub notes: Option<String>,
}

impl From<Expense> for ExpenseView {
    fn from(e: Expense) -> Self {
        let x = e.expense;
        Self {
            id: e.id,
            vehicle_id: x.vehicle_id,
            category: x.category,
            spent_on: x.spent_on,
            amount: format_decimal(x.amount_minor, exponent(&x.currency)),
            currency: x.currency.as_str().to_string(),
            recurrence: x.recurrence,
            notes: x.notes,
        }
    }
}

/// One page of expenses, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpensePage {
    pub items: Vec<ExpenseView>,
    pub next_cursor: Option<String>,
}

/// Spend of one category in one month.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostView {
    /// `YYYY-MM`.
    pub month: String,
    /// `fuel`, `service`, or an expense category.
    pub category: String,
    pub currency: String,
    pub amount: String,
}

impl From<store::CostLine> for CostView {
    fn from(l: store::CostLine) -> Self {
        let exp = CurrencyCode::parse(&l.currency)
            .map(|c| exponent(&c))
            .unwrap_or(2);
        Self {
            amount: format_decimal(l.amount_minor, exp),
            month: l.month,
            category: l.category,
            currency: l.currency,
        }
    }
}

/// Which costs to total.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostQuery {
    /// One vehicle; the whole tenant when absent.
    pub vehicle_id: Option<VehicleId>,
    /// First day, inclusive (default: a year ago).
    pub from: Option<Date>,
    /// Last day, exclusive (default: tomorrow).
    pub to: Option<Date>,
}

fn parse_uuid(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

fn optional_text(
    errors: &mut ValidationErrors,
    field: &str,
    v: &Option<String>,
    max: usize,
) -> Option<String> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| errors.check(field, parse_display_text(s, max)))
}

fn currency_or_default(
    errors: &mut ValidationErrors,
    principal: &Principal,
    given: &Option<String>,
) -> Option<CurrencyCode> {
    match given.as_deref() {
        Some(c) => errors.check("currency", CurrencyCode::parse(c)),
        None => Some(principal.user.preferences.currency.clone()),
    }
}

/// Resolves task keys or ids against the tenant's catalog.
pub(crate) fn resolve_tasks(
    errors: &mut ValidationErrors,
    field: &str,
    wanted: &[String],
    catalog: &[ServiceTask],
) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for (i, w) in wanted.iter().enumerate() {
        let found = catalog
            .iter()
            .find(|t| t.key == w.trim() || t.id.to_string() == w.trim());
        match found {
            Some(t) if !ids.contains(&t.id) => ids.push(t.id),
            Some(_) => {}
            None => errors.push(
                format!("{field}[{i}]"),
                format!("`{w}` is not a task of this tenant's catalog"),
            ),
        }
    }
    ids
}

/// The tenant's service-task catalog.
#[utoipa::path(
    get, path = "/api/v1/service-tasks", tag = "service",
    responses((status = 200, body = Vec<TaskView>), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_tasks(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(
        state
            .store
            .list_service_tasks(principal.tenant_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Adds a task to the catalog (managers).
#[utoipa::path(
    post, path = "/api/v1/service-tasks", tag = "service",
    request_body = TaskCreate,
    responses((status = 201, body = TaskView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_task(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<TaskCreate>,
) -> Result<(StatusCode, Json<TaskView>), ApiError> {
    principal.require(Role::Manager)?;
    let mut errors = ValidationErrors::new();
    let key = body.key.trim().to_string();
    if key.is_empty()
        || key.len() > 60
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        errors.push("key", "must be 1 to 60 characters of a-z, 0-9 and _");
    }
    let name = errors.check("name", parse_display_text(&body.name, 100));
    errors.into_result()?;
    let name = name.unwrap_or_default();
    let task = state
        .store
        .create_service_task(principal.tenant_id, &key, &name, &principal.audit())
        .await?;
    Ok((StatusCode::CREATED, Json(task.into())))
}

/// Records a service (technicians and up). Its odometer and hours must fit
/// the meters' history; its tasks advance (or complete) the vehicle's schedules.
#[utoipa::path(
    post, path = "/api/v1/vehicles/{id}/services", tag = "service",
    params(("id" = VehicleId, Path)),
    request_body = ServiceCreate,
    responses((status = 201, body = ServiceView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_service(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ServiceCreate>,
) -> Result<(StatusCode, Json<ServiceView>), ApiError> {
    principal.require(Role::Technician)?;
    let vehicle = state
        .store
        .vehicle(principal.tenant_id, parse_vehicle(&id)?)
        .await?;
    let catalog = state.store.list_service_tasks(principal.tenant_id).await?;
    let mut errors = ValidationErrors::new();
    let currency = currency_or_default(&mut errors, &principal, &body.currency);
    let exp = currency.as_ref().map(exponent).unwrap_or(2);
    let unit = match body.odometer_unit.unwrap_or(vehicle.spec.odometer_unit) {
        OdometerUnit::Miles => MeterUnit::Miles,
        OdometerUnit::Kilometres => MeterUnit::Kilometres,
    };
    let odometer_km = body
        .odometer
        .and_then(|v| errors.check("odometer", meter_value(MeterKind::Odometer, v, unit)))
        .map(|v| v.canonical);
    let engine_hours = body
        .engine_hours
        .and_then(|v| {
            errors.check(
                "engine_hours",
                meter_value(MeterKind::Hours, v, MeterUnit::Hours),
            )
        })
        .map(|v| v.canonical);
    let task_ids = resolve_tasks(&mut errors, "tasks", &body.tasks, &catalog);
    let mut lines = Vec::new();
    for (i, l) in body.line_items.iter().enumerate() {
        let quantity = l.quantity.unwrap_or(1.0);
        if !quantity.is_finite() || quantity <= 0.0 {
            errors.push(
                format!("line_items[{i}].quantity"),
                "must be more than zero",
            );
        }
        let description = errors.check(
            &format!("line_items[{i}].description"),
            parse_display_text(&l.description, 200),
        );
        let unit_cost = errors.check(
            &format!("line_items[{i}].unit_cost"),
            parse_decimal(&l.unit_cost.0, exp),
        );
        let part_number = optional_text(
            &mut errors,
            &format!("line_items[{i}].part_number"),
            &l.part_number,
            60,
        );
        if let (Some(description), Some(unit_cost)) = (description, unit_cost) {
            lines.push(LineItem {
                kind: l.kind,
                description,
                part_number,
                quantity,
                unit_cost_minor: unit_cost,
                amount_minor: line_amount(quantity, unit_cost),
            });
        }
    }
    let tax = body
        .tax
        .as_ref()
        .and_then(|t| errors.check("tax", parse_decimal(&t.0, exp)))
        .unwrap_or(0);
    let discount = body
        .discount
        .as_ref()
        .and_then(|d| errors.check("discount", parse_decimal(&d.0, exp)))
        .unwrap_or(0);
    let vendor = optional_text(&mut errors, "vendor", &body.vendor, 200);
    let notes = optional_text(&mut errors, "notes", &body.notes, 4000);
    let today = OffsetDateTime::now_utc().date();
    if body.performed_on > today {
        errors.push("performed_on", "is in the future");
    }
    errors.into_result()?;
    let currency = currency.unwrap_or_else(|| principal.user.preferences.currency.clone());
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount_minor).collect();
    let new = NewServiceRecord {
        vehicle_id: vehicle.id,
        performed_on: body.performed_on,
        performed_at: body.performed_at.unwrap_or_else(|| {
            body.performed_on
                .with_time(time::macros::time!(12:00))
                .assume_utc()
        }),
        odometer_km,
        engine_hours,
        vendor,
        notes,
        currency,
        tax_minor: tax,
        discount_minor: discount,
        total_minor: record_total(&amounts, tax, discount),
        task_ids,
        line_items: lines,
    };
    let max = crate::routes::meters::max_daily_km(&state, &principal).await?;
    let record = state
        .store
        .create_service_record(principal.tenant_id, &new, max, &principal.audit())
        .await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// A vehicle's service records, newest first.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/services", tag = "service",
    params(("id" = VehicleId, Path), PageQuery),
    responses((status = 200, body = ServicePage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_services(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<ServicePage>, ApiError> {
    principal.require(Role::Viewer)?;
    let p = state
        .store
        .list_service_records(
            principal.tenant_id,
            parse_vehicle(&id)?,
            page.cursor.as_deref(),
            page.limit()?,
        )
        .await?;
    Ok(Json(ServicePage {
        items: p.items.into_iter().map(Into::into).collect(),
        next_cursor: p.next_cursor,
    }))
}

/// Deletes a service record (managers).
#[utoipa::path(
    delete, path = "/api/v1/vehicles/{id}/services/{record_id}", tag = "service",
    params(("id" = VehicleId, Path), ("record_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_service(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, record)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Manager)?;
    state
        .store
        .delete_service_record(
            principal.tenant_id,
            parse_vehicle(&id)?,
            parse_uuid(&record)?,
            &principal.audit(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records an expense (drivers and up).
#[utoipa::path(
    post, path = "/api/v1/vehicles/{id}/expenses", tag = "service",
    params(("id" = VehicleId, Path)),
    request_body = ExpenseCreate,
    responses((status = 201, body = ExpenseView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_expense(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExpenseCreate>,
) -> Result<(StatusCode, Json<ExpenseView>), ApiError> {
    principal.require(Role::Driver)?;
    let vehicle = parse_vehicle(&id)?;
    let mut errors = ValidationErrors::new();
    let currency = currency_or_default(&mut errors, &principal, &body.currency);
    let exp = currency.as_ref().map(exponent).unwrap_or(2);
    let amount = errors.check("amount", parse_decimal(&body.amount.0, exp));
    if amount.is_some_and(|a| a < 0) {
        errors.push("amount", "must not be negative");
    }
    let notes = optional_text(&mut errors, "notes", &body.notes, 2000);
    errors.into_result()?;
    let (Some(currency), Some(amount)) = (currency, amount) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let new = NewExpense {
        vehicle_id: vehicle,
        category: body.category,
        spent_on: body.spent_on,
        amount_minor: amount,
        currency,
        recurrence: body.recurrence,
        notes,
    };
    let expense = state
        .store
        .create_expense(principal.tenant_id, &new, &principal.audit())
        .await?;
    Ok((StatusCode::CREATED, Json(expense.into())))
}

/// A vehicle's expenses, newest first.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/expenses", tag = "service",
    params(("id" = VehicleId, Path), PageQuery),
    responses((status = 200, body = ExpensePage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_expenses(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<ExpensePage>, ApiError> {
    principal.require(Role::Viewer)?;
    let p = state
        .store
        .list_expenses(
            principal.tenant_id,
            parse_vehicle(&id)?,
            page.cursor.as_deref(),
            page.limit()?,
        )
        .await?;
    Ok(Json(ExpensePage {
        items: p.items.into_iter().map(Into::into).collect(),
        next_cursor: p.next_cursor,
    }))
}

/// Deletes an expense (managers).
#[utoipa::path(
    delete, path = "/api/v1/vehicles/{id}/expenses/{expense_id}", tag = "service",
    params(("id" = VehicleId, Path), ("expense_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_expense(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, expense)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Manager)?;
    state
        .store
        .delete_expense(
            principal.tenant_id,
            parse_vehicle(&id)?,
            parse_uuid(&expense)?,
            &principal.audit(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Spend by month and category (fuel, service, each expense category) for
/// one vehicle or the whole tenant.
#[utoipa::path(
    get, path = "/api/v1/costs", tag = "service",
    params(CostQuery),
    responses((status = 200, body = Vec<CostView>), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn costs(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<CostQuery>,
) -> Result<Json<Vec<CostView>>, ApiError> {
    principal.require(Role::Viewer)?;
    let today = OffsetDateTime::now_utc().date();
    let to = q.to.unwrap_or_else(|| today.next_day().unwrap_or(today));
    let from = q.from.unwrap_or_else(|| to - time::Duration::days(366));
    if from >= to {
        return Err(ApiError::BadRequest {
            field: Some("from".into()),
            message: "from must be before to".into(),
        });
    }
    let lines = state
        .store
        .costs(principal.tenant_id, q.vehicle_id, from, to)
        .await?;
    Ok(Json(lines.into_iter().map(Into::into).collect()))
}
