//! The vehicle page reads a period's full months from the monthly rollups
//! (`vehicle_monthly_fuel`, `vehicle_monthly_costs`) and its partial months
//! from the raw records. A period inside one month reads only raw records,
//! so a period cut into such pieces is the reference: on both backends the
//! rollup-backed figures must equal the pieces' added up, after fills written
//! out of order, a currency change that re-costs the chain, a partial fill
//! and deletions; and a rebuild from the raw records must change nothing.

use super::*;
use crate::vehicle_page::fill;
use domain::fuel::Segment;
use domain::preferences::CurrencyCode;
use domain::service::ExpenseCategory;
use std::collections::BTreeMap;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

/// Fuel figures of consecutive pieces of a period, added up per fuel type
/// (every piece lists the same types, in order of first use of all time).
fn add_up(pieces: Vec<Vec<FuelStats>>) -> Vec<FuelStats> {
    let mut sum: Vec<FuelStats> = Vec::new();
    for piece in pieces {
        if sum.is_empty() {
            sum = piece
                .iter()
                .map(|s| FuelStats {
                    entries: 0,
                    quantity: 0.0,
                    spend: vec![],
                    measured: None,
                    ..s.clone()
                })
                .collect();
        }
        assert_eq!(piece.len(), sum.len(), "every piece lists every type");
        for (total, part) in sum.iter_mut().zip(piece) {
            assert_eq!(total.fuel_type, part.fuel_type);
            assert_eq!(total.last, part.last, "the latest segment is of all time");
            total.entries += part.entries;
            total.quantity += part.quantity;
            for (currency, minor) in part.spend {
                match total.spend.iter_mut().find(|(c, _)| *c == currency) {
                    Some((_, m)) => *m += minor,
                    None => total.spend.push((currency, minor)),
                }
            }
            total.measured = domain::fuel::total(total.measured.into_iter().chain(part.measured));
        }
    }
    sum
}

/// Cost lines of pieces of a period, added up per month, category and
/// currency, in the order `costs` returns them.
fn add_up_costs(pieces: Vec<Vec<CostLine>>) -> Vec<CostLine> {
    let mut sum: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for line in pieces.into_iter().flatten() {
        *sum.entry((line.month, line.category, line.currency))
            .or_default() += line.amount_minor;
    }
    sum.into_iter()
        .map(|((month, category, currency), amount_minor)| CostLine {
            month,
            category,
            currency,
            amount_minor,
        })
        .collect()
}

/// A service record of `v` on `on` (noon UTC), totalling `total_minor` in
/// `currency`, without meters or tasks.
pub(crate) fn service_record(
    v: VehicleId,
    on: Date,
    total_minor: i64,
    currency: &str,
) -> NewServiceRecord {
    NewServiceRecord {
        vehicle_id: v,
        performed_on: on,
        performed_at: on.with_time(time::macros::time!(12:00)).assume_utc(),
        odometer_km: None,
        engine_hours: None,
        vendor: None,
        notes: None,
        currency: CurrencyCode::parse(currency).unwrap(),
        tax_minor: 0,
        discount_minor: 0,
        total_minor,
        task_ids: vec![],
        line_items: vec![],
    }
}

/// An expense of `v` on `on`, `amount_minor` in `currency`, not recurring.
pub(crate) fn expense(
    v: VehicleId,
    category: ExpenseCategory,
    on: Date,
    amount_minor: i64,
    currency: &str,
) -> NewExpense {
    NewExpense {
        vehicle_id: v,
        category,
        spent_on: on,
        amount_minor,
        currency: CurrencyCode::parse(currency).unwrap(),
        recurrence: None,
        notes: None,
    }
}

/// `[from, to)` cut at each of `cuts`.
fn pieces(from: Date, cuts: &[Date], to: Date) -> Vec<(Date, Date)> {
    let ends: Vec<Date> = std::iter::once(from)
        .chain(cuts.iter().copied())
        .chain([to])
        .collect();
    ends.windows(2).map(|w| (w[0], w[1])).collect()
}

#[tokio::test]
async fn the_pages_rollups_add_up_to_the_raw_records() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "rollups").await;
        let v = vehicle(s, t.id, "Rolled").await;
        let noon = |d: Date| d.with_time(time::macros::time!(12:00)).assume_utc();
        // Quantities are binary fractions: sums are exact in any order.
        let fills = [
            (
                date!(2025 - 01 - 10),
                1_000.0,
                FuelType::Gasoline,
                40.0,
                Some(4_000),
                "USD",
                true,
            ),
            (
                date!(2025 - 01 - 25),
                1_500.0,
                FuelType::Gasoline,
                35.5,
                Some(3_550),
                "USD",
                true,
            ),
            (
                date!(2025 - 02 - 12),
                2_000.0,
                FuelType::Gasoline,
                38.25,
                Some(3_825),
                "USD",
                true,
            ),
            (
                date!(2025 - 03 - 05),
                2_600.0,
                FuelType::Gasoline,
                42.0,
                None,
                "USD",
                true,
            ),
            (
                date!(2025 - 03 - 15),
                2_800.0,
                FuelType::Diesel,
                50.0,
                Some(6_000),
                "USD",
                true,
            ),
            (
                date!(2025 - 03 - 28),
                3_100.0,
                FuelType::Gasoline,
                30.5,
                Some(3_050),
                "EUR",
                true,
            ),
            (
                date!(2025 - 04 - 15),
                3_500.0,
                FuelType::Gasoline,
                20.0,
                Some(2_000),
                "EUR",
                false,
            ),
            (
                date!(2025 - 04 - 20),
                3_700.0,
                FuelType::Diesel,
                44.0,
                Some(5_500),
                "EUR",
                true,
            ),
            (
                date!(2025 - 04 - 30),
                3_900.0,
                FuelType::Gasoline,
                36.0,
                Some(3_600),
                "EUR",
                true,
            ),
            (
                date!(2025 - 05 - 18),
                4_400.0,
                FuelType::Gasoline,
                41.0,
                Some(4_100),
                "EUR",
                true,
            ),
        ];
        let mut ids = vec![];
        for (on, km, fuel, litres, minor, currency, full) in fills {
            let mut e = fill(v, noon(on), km, fuel, litres, minor.unwrap_or(0), currency);
            e.total_minor = minor;
            e.full = full;
            ids.push(s.create_fuel_entry(t.id, &e, MAX, &ctx()).await.unwrap().id);
        }
        // Written out of order: it splits February's first segment from
        // January, and the one April fill's deletion rejoins May's.
        let late = fill(
            v,
            noon(date!(2025 - 01 - 31)),
            1_800.0,
            FuelType::Gasoline,
            12.5,
            1_250,
            "USD",
        );
        s.create_fuel_entry(t.id, &late, MAX, &ctx()).await.unwrap();
        s.delete_fuel_entry(t.id, v, ids[8], &ctx()).await.unwrap();

        for (on, total) in [
            (date!(2025 - 01 - 20), 8_900),
            (date!(2025 - 03 - 16), 12_000),
            (date!(2025 - 05 - 19), 4_500),
        ] {
            let record = service_record(v, on, total, "EUR");
            s.create_service_record(t.id, &record, MAX, &ctx())
                .await
                .unwrap();
        }
        let mut expenses = vec![];
        for (category, on, amount) in [
            (ExpenseCategory::Insurance, date!(2025 - 02 - 05), 45_000),
            (ExpenseCategory::Tolls, date!(2025 - 05 - 02), 800),
            (ExpenseCategory::Tolls, date!(2025 - 05 - 25), 1_250),
            (ExpenseCategory::Tolls, date!(2025 - 03 - 31), 300),
        ] {
            let e = expense(v, category, on, amount, "EUR");
            expenses.push(s.create_expense(t.id, &e, &ctx()).await.unwrap().id);
        }
        s.delete_expense(t.id, v, expenses[3], &ctx())
            .await
            .unwrap();

        // Two partial months (from the records) around three full ones
        // (from the rollups); the pieces each lie inside one month.
        let (from, to) = (date!(2025 - 01 - 15), date!(2025 - 05 - 20));
        let cuts = [
            date!(2025 - 02 - 01),
            date!(2025 - 02 - 15),
            date!(2025 - 03 - 01),
            date!(2025 - 03 - 16),
            date!(2025 - 04 - 01),
            date!(2025 - 04 - 16),
            date!(2025 - 05 - 01),
        ];
        let at = |d: Date| -> OffsetDateTime { d.midnight().assume_utc() };
        let read = || async {
            let fuel = s
                .fuel_stats(t.id, v, Some(at(from)), Some(at(to)))
                .await
                .unwrap();
            let costs = s.costs(t.id, Some(v), from, to).await.unwrap();
            let page = s.vehicle_page(t.id, v, from, to, to).await.unwrap();
            assert_eq!((&page.fuel, &page.costs), (&fuel, &costs), "{kind:?}");
            (fuel, costs)
        };
        let (fuel, costs) = read().await;

        let mut fuel_pieces = vec![];
        let mut cost_pieces = vec![];
        for (a, b) in pieces(from, &cuts, to) {
            fuel_pieces.push(
                s.fuel_stats(t.id, v, Some(at(a)), Some(at(b)))
                    .await
                    .unwrap(),
            );
            cost_pieces.push(s.costs(t.id, Some(v), a, b).await.unwrap());
        }
        assert_eq!(fuel, add_up(fuel_pieces), "{kind:?}");
        assert_eq!(costs, add_up_costs(cost_pieces), "{kind:?}");

        // The figures themselves, so the pieces cannot agree on a wrong
        // answer: gasoline from Jan 25 to May 18, diesel from Mar 15 to Apr 20.
        let types: Vec<_> = fuel.iter().map(|f| (f.fuel_type, f.entries)).collect();
        assert_eq!(
            types,
            vec![(FuelType::Gasoline, 7), (FuelType::Diesel, 2)],
            "{kind:?}"
        );
        let gasoline = &fuel[0];
        assert_eq!(
            gasoline.quantity,
            35.5 + 12.5 + 38.25 + 42.0 + 30.5 + 20.0 + 41.0
        );
        assert_eq!(
            gasoline.spend,
            vec![
                ("USD".to_string(), 3_550 + 1_250 + 3_825),
                ("EUR".to_string(), 3_050 + 2_000 + 4_100)
            ],
            "{kind:?}"
        );
        // Segments closed by Jan 25, Jan 31, Feb 12, Mar 5, Mar 28 and May
        // 18 (the partial Apr 15 fill joins it to Mar 28): 3,400 km on all
        // but Jan 10's fill. Only the chain's latest currency (EUR) costs,
        // so the dollar segments have no cost and neither has the total.
        assert_eq!(
            gasoline.measured,
            Some(Segment {
                distance_km: 3_400.0,
                quantity: 35.5 + 12.5 + 38.25 + 42.0 + 30.5 + 20.0 + 41.0,
                cost_minor: None,
            }),
            "{kind:?}"
        );
        assert_eq!(
            fuel[1].measured,
            Some(Segment {
                distance_km: 900.0,
                quantity: 44.0,
                cost_minor: Some(5_500),
            }),
            "{kind:?}"
        );
        let line = |month: &str, category: &str, currency: &str, amount_minor: i64| CostLine {
            month: month.into(),
            category: category.into(),
            currency: currency.into(),
            amount_minor,
        };
        assert_eq!(
            costs,
            vec![
                line("2025-01", "fuel", "USD", 3_550 + 1_250),
                line("2025-01", "service", "EUR", 8_900),
                line("2025-02", "fuel", "USD", 3_825),
                line("2025-02", "insurance", "EUR", 45_000),
                line("2025-03", "fuel", "EUR", 3_050),
                line("2025-03", "fuel", "USD", 6_000),
                line("2025-03", "service", "EUR", 12_000),
                line("2025-04", "fuel", "EUR", 2_000 + 5_500),
                line("2025-05", "fuel", "EUR", 4_100),
                line("2025-05", "service", "EUR", 4_500),
                line("2025-05", "tolls", "EUR", 800),
            ],
            "{kind:?}"
        );

        // What the writes kept equals a rebuild from the records.
        let rebuilt = s.rebuild_rollups(t.id).await.unwrap();
        assert!(
            rebuilt.cost_rows > 0 && rebuilt.fuel_rows > 0,
            "{rebuilt:?}"
        );
        let figures = (fuel, costs);
        assert_eq!(read().await, figures, "{kind:?}");
        // And so does the backfill of the migration that added the tables.
        db.rerun_migrations_from(
            26,
            "DROP TABLE vehicle_monthly_costs; DROP TABLE vehicle_monthly_fuel",
        )
        .await;
        assert_eq!(read().await, figures, "{kind:?}: after the backfill");
    }
}

/// A rollup row is the tenant's own: another tenant's page of the same
/// months reads none of it.
#[tokio::test]
async fn another_tenants_rollups_stay_out_of_a_page() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let (a, b) = (tenant(s, "roll-a").await, tenant(s, "roll-b").await);
        let va = vehicle(s, a.id, "A").await;
        let vb = vehicle(s, b.id, "B").await;
        for (on, km) in [
            (datetime!(2025-02-10 12:00 UTC), 1_000.0),
            (datetime!(2025-02-20 12:00 UTC), 1_400.0),
        ] {
            let e = fill(va, on, km, FuelType::Gasoline, 40.0, 4_000, "USD");
            s.create_fuel_entry(a.id, &e, MAX, &ctx()).await.unwrap();
        }
        let (from, to) = (date!(2025 - 01 - 01), date!(2025 - 04 - 01));
        let own = s.vehicle_page(a.id, va, from, to, to).await.unwrap();
        assert_eq!(own.fuel[0].entries, 2, "{:?}", db.kind);
        assert_eq!(own.costs.len(), 1, "{:?}", db.kind);
        let other = s.vehicle_page(b.id, vb, from, to, to).await.unwrap();
        assert!(
            other.fuel.is_empty() && other.costs.is_empty(),
            "{:?}: {other:?}",
            db.kind
        );
        let tenant_wide = s.costs(b.id, None, from, to).await.unwrap();
        assert!(tenant_wide.is_empty(), "{:?}: {tenant_wide:?}", db.kind);
        assert_eq!(
            s.costs(a.id, None, from, to).await.unwrap(),
            own.costs,
            "{:?}",
            db.kind
        );
    }
}
