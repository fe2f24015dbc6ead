//! CSV exports per record type, with LubeLogger's column names, so that the
//! file opens in LubeLogger and in Motorpool's own importer alike.
//!
//! Conventions (stated in the file's name, since CSV cannot carry them):
//! ISO dates with the time to the minute, `.` as the decimal separator,
//! distances in the vehicle's unit, volumes in litres (km vehicles) or US
//! gallons (mile vehicles), electricity in kWh, amounts in the entries' currency.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use domain::fuel::{FuelUnit, Measure, economy, measure_of};
use domain::ids::VehicleId;
use domain::meter::{MeterKind, MeterUnit};
use domain::money::{exponent, format_decimal};
use domain::tenancy::Role;
use domain::vehicle::OdometerUnit;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::openapi::ReadErrors;

/// Collects every page of a keyset-paginated store list.
async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, ApiError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<store::Page<T>, store::StoreError>>,
{
    let mut cursor = None;
    let mut out = Vec::new();
    loop {
        let page = fetch(cursor.take()).await?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

fn when(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
        .unwrap_or_default()
}

fn decimal(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, ApiError> {
    w.into_inner()
        .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))
}

fn csv_error(e: csv::Error) -> ApiError {
    ApiError::Internal(format!("writing CSV: {e}"))
}

/// Exports one record type of a vehicle as CSV: `fuel`, `service`,
/// `odometer` or `expenses` (LubeLogger's Gas, Service, Odometer and Tax layouts).
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/exports/{kind}", tag = "vehicles",
    params(("id" = VehicleId, Path), ("kind" = String, Path, description = "fuel, service, odometer or expenses")),
    responses((status = 200, description = "The CSV file", content_type = "text/csv", body = String), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn export_csv(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let id: VehicleId = id.parse().map_err(|_| ApiError::NotFound)?;
    let tenant = principal.tenant_id;
    let vehicle = state.store.vehicle(tenant, id).await?;
    let miles = vehicle.spec.odometer_unit == OdometerUnit::Miles;
    let distance = if miles {
        MeterUnit::Miles
    } else {
        MeterUnit::Kilometres
    };
    let mut w = writer();
    let (file_unit, volume) = match kind.as_str() {
        "fuel" => {
            let volume = if miles {
                FuelUnit::UsGallons
            } else {
                FuelUnit::Litres
            };
            w.write_record([
                "Date",
                "Odometer",
                "FuelConsumed",
                "Cost",
                "FuelEconomy",
                "IsFillToFull",
                "MissedFuelUp",
                "Notes",
                "Tags",
            ])
            .map_err(csv_error)?;
            let mut rows = all_pages(|c| {
                let store = state.store.clone();
                async move { store.list_fuel_entries(tenant, id, c.as_deref(), 500).await }
            })
            .await?;
            rows.reverse();
            for f in rows {
                let e = &f.entry;
                let unit = if measure_of(e.fuel_type) == Measure::Volume {
                    volume
                } else {
                    e.quantity_unit
                };
                let economy_shown = f.segment.map(|s| {
                    let ec = economy(measure_of(e.fuel_type), &s);
                    match (miles, ec.mpg_us) {
                        (true, Some(mpg)) => decimal(mpg),
                        _ => decimal(ec.per_100km),
                    }
                });
                w.write_record([
                    when(e.filled_at),
                    decimal(distance.from_canonical(e.odometer.canonical)),
                    decimal(unit.from_canonical(e.quantity_canonical)),
                    e.total_minor
                        .map(|t| format_decimal(t, exponent(&e.currency)))
                        .unwrap_or_default(),
                    economy_shown.unwrap_or_default(),
                    if e.full {
                        "True".into()
                    } else {
                        "False".into()
                    },
                    if e.missed_previous {
                        "True".into()
                    } else {
                        "False".into()
                    },
                    e.notes.clone().unwrap_or_default(),
                    String::new(),
                ])
                .map_err(csv_error)?;
            }
            ("fuel", Some(volume))
        }
        "service" => {
            w.write_record(["Date", "Description", "Cost", "Notes", "Odometer", "Tags"])
                .map_err(csv_error)?;
            let mut rows = all_pages(|c| {
                let store = state.store.clone();
                async move {
                    store
                        .list_service_records(tenant, id, c.as_deref(), 500)
                        .await
                }
            })
            .await?;
            rows.reverse();
            for r in rows {
                let n = &r.record;
                let description = n.vendor.clone().unwrap_or_else(|| "Service".into());
                w.write_record([
                    n.performed_on.to_string(),
                    description,
                    format_decimal(n.total_minor, exponent(&n.currency)),
                    n.notes.clone().unwrap_or_default(),
                    n.odometer_km
                        .map(|k| decimal(distance.from_canonical(k)))
                        .unwrap_or_default(),
                    String::new(),
                ])
                .map_err(csv_error)?;
            }
            ("service", None)
        }
        "odometer" => {
            w.write_record(["Date", "InitialOdometer", "Odometer", "Notes", "Tags"])
                .map_err(csv_error)?;
            let mut rows = all_pages(|c| {
                let store = state.store.clone();
                async move {
                    store
                        .list_readings(tenant, id, MeterKind::Odometer, c.as_deref(), 500)
                        .await
                }
            })
            .await?;
            rows.reverse();
            for r in rows.into_iter().filter(|r| !r.void) {
                w.write_record([
                    when(r.read_at),
                    "0".into(),
                    decimal(distance.from_canonical(r.effective)),
                    r.note.unwrap_or_default(),
                    String::new(),
                ])
                .map_err(csv_error)?;
            }
            ("odometer", None)
        }
        "expenses" => {
            w.write_record(["Date", "Description", "Cost", "Notes", "Tags"])
                .map_err(csv_error)?;
            let mut rows = all_pages(|c| {
                let store = state.store.clone();
                async move { store.list_expenses(tenant, id, c.as_deref(), 500).await }
            })
            .await?;
            rows.reverse();
            for e in rows {
                let x = &e.expense;
                w.write_record([
                    x.spent_on.to_string(),
                    x.category.as_str().to_string(),
                    format_decimal(x.amount_minor, exponent(&x.currency)),
                    x.notes.clone().unwrap_or_default(),
                    String::new(),
                ])
                .map_err(csv_error)?;
            }
            ("expenses", None)
        }
        _ => return Err(ApiError::NotFound),
    };
    let body = finish(w)?;
    let units = match volume {
        Some(v) => format!("{}-{}", distance.as_str(), v.as_str()),
        None => distance.as_str().to_string(),
    };
    let name: String = vehicle
        .spec
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let disposition = format!("attachment; filename=\"{name}-{file_unit}-{units}.csv\"");
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}
