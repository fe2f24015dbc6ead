//! `GET /api/v1/reports/cost-per-distance`: distance, spend and cost per
//! kilometre for every vehicle and month of a range, from the monthly
//! rollups (see `store::cost_report`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use domain::ids::VehicleId;
use domain::tenancy::Role;
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiQuery, check_limit};
use crate::openapi::ReadErrors;

/// Longest range one report covers.
const MAX_MONTHS: i32 = 36;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostReportQuery {
    /// First month, inclusive, as `YYYY-MM` (default: eleven months before `to`'s last month).
    pub from: Option<String>,
    /// Last month, inclusive, as `YYYY-MM` (default: this month, UTC). At most 36 months in all.
    pub to: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Vehicles per page, 1–500 (default 50).
    pub limit: Option<u32>,
}

/// One page of the report: vehicles in id order, each with the months of
/// the range that have distance or spend.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostReportView {
    /// First month of the range (`YYYY-MM`).
    pub from: String,
    /// Last month of the range, inclusive (`YYYY-MM`).
    pub to: String,
    pub vehicles: Vec<VehicleCostsView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VehicleCostsView {
    pub vehicle_id: VehicleId,
    pub name: String,
    pub months: Vec<MonthCostsView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthCostsView {
    /// `YYYY-MM`.
    pub month: String,
    /// Kilometres driven in the month by the odometer (from the previous
    /// month's last reading to this month's last); absent without readings.
    pub distance_km: Option<f64>,
    /// Spend per currency in minor units: fuel, service records, expenses.
    #[schema(value_type = Object)]
    pub spend: BTreeMap<String, i64>,
    /// Spend per kilometre per currency, in minor units; absent when the
    /// month has no distance.
    #[schema(value_type = Object)]
    pub cost_per_km: BTreeMap<String, f64>,
}

fn month_label(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), u8::from(d.month()))
}

/// Parses `YYYY-MM` into the month's first day; the error names `field`.
fn parse_month(field: &str, value: &str) -> Result<Date, ApiError> {
    let bad = || ApiError::BadRequest {
        field: Some(field.into()),
        message: format!("{field} must be a month as YYYY-MM"),
    };
    let (year, month) = value.split_once('-').ok_or_else(bad)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: u8 = month.parse().map_err(|_| bad())?;
    let month = Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, 1).map_err(|_| bad())
}

fn months_between(from: Date, to: Date) -> i32 {
    (to.year() - from.year()) * 12 + i32::from(u8::from(to.month()))
        - i32::from(u8::from(from.month()))
}

fn add_months(d: Date, n: i32) -> Date {
    let index = d.year() * 12 + i32::from(u8::from(d.month())) - 1 + n;
    let month = u8::try_from(index.rem_euclid(12) + 1).unwrap_or(1);
    Date::from_calendar_date(
        index.div_euclid(12),
        Month::try_from(month).unwrap_or(Month::January),
        1,
    )
    .unwrap_or(d)
}

/// Cost per distance per vehicle per month (viewers and up).
#[utoipa::path(
    get, path = "/api/v1/reports/cost-per-distance", tag = "fleet",
    params(CostReportQuery),
    responses((status = 200, body = CostReportView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn cost_per_distance(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<CostReportQuery>,
) -> Result<Json<CostReportView>, ApiError> {
    principal.require(Role::Viewer)?;
    let limit = check_limit(q.limit)?;
    let today = OffsetDateTime::now_utc().date();
    let last = match &q.to {
        Some(v) => parse_month("to", v)?,
        None => today.replace_day(1).unwrap_or(today),
    };
    let first = match &q.from {
        Some(v) => parse_month("from", v)?,
        None => add_months(last, -11),
    };
    let span = months_between(first, last);
    if span < 0 {
        return Err(ApiError::BadRequest {
            field: Some("from".into()),
            message: "from must not be after to".into(),
        });
    }
    if span >= MAX_MONTHS {
        return Err(ApiError::BadRequest {
            field: Some("from".into()),
            message: format!("a report covers at most {MAX_MONTHS} months"),
        });
    }
    let page = state
        .store
        .cost_per_distance(
            principal.tenant_id,
            first,
            add_months(last, 1),
            q.cursor.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(CostReportView {
        from: month_label(first),
        to: month_label(last),
        vehicles: page
            .items
            .into_iter()
            .map(|v| VehicleCostsView {
                vehicle_id: v.vehicle_id,
                name: v.name,
                months: v
                    .months
                    .into_iter()
                    .map(|m| {
                        let spend: BTreeMap<String, i64> = m.spend.into_iter().collect();
                        let cost_per_km = match m.distance_km {
                            Some(km) if km > 0.0 => spend
                                .iter()
                                .map(|(c, amount)| (c.clone(), *amount as f64 / km))
                                .collect(),
                            _ => BTreeMap::new(),
                        };
                        MonthCostsView {
                            month: month_label(m.month),
                            distance_km: m.distance_km,
                            spend,
                            cost_per_km,
                        }
                    })
                    .collect(),
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn months_parse_and_count() {
        assert_eq!(
            parse_month("to", "2026-02").ok(),
            Some(date!(2026 - 02 - 01))
        );
        for bad in ["2026-13", "2026-2", "26-02", "2026/02", "", "2026-00"] {
            assert!(parse_month("to", bad).is_err(), "{bad}");
        }
        assert_eq!(
            add_months(date!(2026 - 01 - 01), -11),
            date!(2025 - 02 - 01)
        );
        assert_eq!(add_months(date!(2025 - 12 - 01), 1), date!(2026 - 01 - 01));
        assert_eq!(
            months_between(date!(2025 - 02 - 01), date!(2026 - 01 - 01)),
            11
        );
    }
}
