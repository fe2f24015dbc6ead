//! Spend per vehicle, month and currency (fuel, service records,
//! expenses), kept in `vehicle_monthly_spend` (what the fleet overview and
//! cost report read) and by category as well in `vehicle_monthly_costs`
//! (what a vehicle page reads), both recomputed from the records whenever
//! they change: for one month after a single write, for
//! the whole vehicle once at the end of an import (never row by row inside
//! it, so a long import does not rewrite one hot summary row).

use std::collections::BTreeMap;

use domain::ids::{TenantId, VehicleId};
use time::{Date, OffsetDateTime};

use crate::error::ResultExt;
use crate::{StoreError, Tx, execute_tx, on_tx};

/// The first day of `d`'s month.
pub(crate) fn month_of(d: Date) -> Date {
    d.replace_day(1).unwrap_or(d)
}

/// The first day of the month after `first`.
pub(crate) fn next_month(first: Date) -> Date {
    let (y, m) = match first.month() {
        time::Month::December => (first.year() + 1, time::Month::January),
        m => (first.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(first)
}

/// The first day of the month before `first`.
pub(crate) fn previous_month(first: Date) -> Date {
    let (y, m) = match first.month() {
        time::Month::January => (first.year() - 1, time::Month::December),
        m => (first.year(), m.previous()),
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(first)
}

/// Recomputes a vehicle's monthly spend: for the month holding `on`, or
/// (`None`) for every month.
pub(crate) async fn refresh_spend(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    on: Option<Date>,
) -> Result<(), StoreError> {
    let (from, to) = match on {
        Some(d) => (month_of(d), next_month(month_of(d))),
        // Every month any record can have (both backends format these dates).
        None => (
            time::macros::date!(1900 - 01 - 01),
            time::macros::date!(2200 - 01 - 01),
        ),
    };
    let (from_at, to_at) = (from.midnight().assume_utc(), to.midnight().assume_utc());
    let (t, v) = (tenant.as_uuid(), vehicle.as_uuid());
    let fuel: Vec<(OffsetDateTime, String, i64)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT filled_at, currency, total_minor FROM fuel_entries WHERE tenant_id = $1 AND vehicle_id = $2
           AND total_minor IS NOT NULL AND filled_at >= $3 AND filled_at < $4"
    )
    .bind(t)
    .bind(v)
    .bind(from_at)
    .bind(to_at)
    .fetch_all(c)
    .await)
    .ctx("reading fuel spend")?;
    let other: Vec<(Date, String, String, i64)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT performed_on, 'service', currency, total_minor FROM service_records
          WHERE tenant_id = $1 AND vehicle_id = $2 AND performed_on >= $3 AND performed_on < $4
         UNION ALL
         SELECT spent_on, category, currency, amount_minor FROM expenses
          WHERE tenant_id = $1 AND vehicle_id = $2 AND spent_on >= $3 AND spent_on < $4"
    )
    .bind(t)
    .bind(v)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await)
    .ctx("reading service and expense spend")?;
    // (month, category, currency) → amount.
    let mut costs: BTreeMap<(Date, String, String), i64> = BTreeMap::new();
    let utc_day = |at: OffsetDateTime| at.to_offset(time::UtcOffset::UTC).date();
    for (day, category, currency, amount) in fuel
        .into_iter()
        .map(|(at, c, a)| (utc_day(at), "fuel".to_owned(), c, a))
        .chain(other)
    {
        *costs
            .entry((month_of(day), category, currency))
            .or_default() += amount;
    }
    for table in ["vehicle_monthly_spend", "vehicle_monthly_costs"] {
        execute_tx!(
            tx,
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND vehicle_id = $2 AND month >= $3 AND month < $4"
            )))
            .bind(t)
            .bind(v)
            .bind(from)
            .bind(to)
        )
        .ctx("clearing monthly spend")?;
    }
    let rows: Vec<((Date, String, String), i64)> = costs.into_iter().collect();
    for chunk in rows.chunks(500) {
        on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO vehicle_monthly_costs (tenant_id, vehicle_id, month, category, currency, amount_minor) ",
            );
            q.push_values(chunk, |mut row, ((month, category, currency), amount)| {
                row.push_bind(t)
                    .push_bind(v)
                    .push_bind(*month)
                    .push_bind(category.clone())
                    .push_bind(currency.clone())
                    .push_bind(*amount);
            });
            q.build().execute(c).await.map(|r| r.rows_affected())
        })
        .ctx("storing monthly costs")?;
    }
    // The spend rollup is the costs summed over categories, as a rebuild
    // derives it (`rollups.rs`).
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO vehicle_monthly_spend (tenant_id, vehicle_id, month, currency, amount_minor)
             SELECT tenant_id, vehicle_id, month, currency, sum(amount_minor) FROM vehicle_monthly_costs
              WHERE tenant_id = $1 AND vehicle_id = $2 AND month >= $3 AND month < $4
              GROUP BY tenant_id, vehicle_id, month, currency"
        )
        .bind(t)
        .bind(v)
        .bind(from)
        .bind(to)
    )
    .ctx("storing monthly spend")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn months() {
        assert_eq!(month_of(date!(2026 - 11 - 28)), date!(2026 - 11 - 01));
        assert_eq!(next_month(date!(2026 - 12 - 01)), date!(2027 - 01 - 01));
        assert_eq!(next_month(date!(2026 - 01 - 01)), date!(2026 - 02 - 01));
        assert_eq!(previous_month(date!(2026 - 01 - 01)), date!(2025 - 12 - 01));
    }
}
