//! The vehicle page reads its figures in fewer statements than the reads it
//! stands for (its vehicle with the period's odometer and the meters the
//! forecasts need; every fuel type with its sums): on both backends, each
//! part must still equal the read that answers it alone.

use super::*;
use crate::meters::{reading, record_created};
use crate::usage::every_10k;
use domain::fuel::FuelUnit;
use domain::maintenance::DueStatus;
use domain::meter::{MeterKind, MeterUnit, meter_value};
use domain::preferences::CurrencyCode;
use time::{Duration, OffsetDateTime};

const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

/// A full fill of `litres` of `fuel` at `km`, costing `minor` in `currency`.
pub(crate) fn fill(
    vehicle: VehicleId,
    at: OffsetDateTime,
    km: f64,
    fuel: FuelType,
    litres: f64,
    minor: i64,
    currency: &str,
) -> NewFuelEntry {
    NewFuelEntry {
        vehicle_id: vehicle,
        filled_at: at,
        odometer: meter_value(MeterKind::Odometer, km, MeterUnit::Kilometres).unwrap(),
        fuel_type: fuel,
        grade: None,
        quantity: litres,
        quantity_unit: FuelUnit::Litres,
        quantity_canonical: litres,
        unit_price_milli: None,
        total_minor: Some(minor),
        currency: CurrencyCode::parse(currency).unwrap(),
        full: true,
        missed_previous: false,
        station: None,
        soc_before: None,
        soc_after: None,
        notes: None,
    }
}

/// A vehicle with a fuel used only before the period, a fuel bought in two
/// currencies inside it, an odometer replaced mid-period and a schedule
/// whose forecast comes from its usage rate: the page equals the reads of
/// the vehicle, the distance, the fuel statistics and the schedules alone.
#[tokio::test]
async fn the_vehicle_page_equals_each_of_its_reads_alone() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "page").await;
        let v = s
            .create_vehicle(t.id, &spec("Page", None, None, "X"), &ctx())
            .await
            .unwrap()
            .id;
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let day = |n: i64| now - Duration::days(n);
        // E85 before the period only: listed first (used first), no entries.
        for (n, km) in [(100, 10_000.0), (95, 10_400.0)] {
            let e = fill(v, day(n), km, FuelType::E85, 40.0, 4_000, "USD");
            s.create_fuel_entry(t.id, &e, MAX, &ctx()).await.unwrap();
        }
        // Gasoline inside it, in dollars and then in euros.
        for (n, km, currency) in [
            (50, 11_000.0, "USD"),
            (40, 11_500.0, "USD"),
            (30, 12_000.0, "EUR"),
        ] {
            let e = fill(v, day(n), km, FuelType::Gasoline, 35.0, 5_000, currency);
            s.create_fuel_entry(t.id, &e, MAX, &ctx()).await.unwrap();
        }
        // The instrument cluster replaced 20 days ago: the new one reads 50
        // where the old read 12,600.
        record_created(s, t.id, &[reading(v, day(21), 12_600.0)], "old cluster").await;
        let replacement = NewMeterOffset {
            kind: MeterKind::Odometer,
            effective_at: day(20),
            offset: 12_550.0,
            reason: "new instrument cluster".into(),
        };
        s.add_meter_offset(t.id, v, &replacement, &ctx())
            .await
            .unwrap();
        record_created(s, t.id, &[reading(v, day(2), 450.0)], "new cluster").await;
        every_10k(s, t.id, v).await;

        let (from, to) = (day(60).date(), now.date() + Duration::days(1));
        let (from_at, to_at) = (from.midnight().assume_utc(), to.midnight().assume_utc());
        let page = s.vehicle_page(t.id, v, from, to, to).await.unwrap();
        let kind = db.kind;

        assert_eq!(page.vehicle, s.vehicle(t.id, v).await.unwrap(), "{kind:?}");
        // 11,000 km at the first reading of the period, 450 + 12,550 at the last.
        assert_eq!(page.distance_km, Some(2_000.0), "{kind:?}");
        assert_eq!(
            page.distance_km,
            s.distance_km(t.id, v, from_at, to_at).await.unwrap(),
            "{kind:?}"
        );

        let fuel = s
            .fuel_stats(t.id, v, Some(from_at), Some(to_at))
            .await
            .unwrap();
        assert_eq!(page.fuel, fuel, "{kind:?}");
        let kinds: Vec<_> = fuel.iter().map(|f| (f.fuel_type, f.entries)).collect();
        assert_eq!(
            kinds,
            vec![(FuelType::E85, 0), (FuelType::Gasoline, 3)],
            "{kind:?}"
        );
        assert!(
            fuel[0].last.is_some() && fuel[0].spend.is_empty(),
            "{fuel:?}"
        );
        assert_eq!(
            fuel[1].spend,
            vec![("USD".to_string(), 10_000), ("EUR".to_string(), 5_000)],
            "{kind:?}: currencies in order of first use"
        );
        assert!((fuel[1].quantity - 105.0).abs() < 1e-9, "{fuel:?}");

        let schedules = s.list_schedules(t.id, v).await.unwrap();
        assert_eq!(page.schedules, schedules, "{kind:?}");
        assert_eq!(schedules.len(), 1);
        assert_eq!(schedules[0].state.status, DueStatus::Ok, "{kind:?}");
        assert!(
            schedules[0].state.forecast.is_some(),
            "{kind:?}: an ok schedule's forecast comes from the usage rate"
        );
    }
}
