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

/// The page reads the vehicle's schedules and expiring documents as JSON
/// columns of its first statement: they must equal the reads that list
/// them alone, in their order, with every field through the JSON intact
/// (text that needs escaping, absent values, UUIDs, timestamps), none of
/// another vehicle's or a deleted document, and at most 20 documents.
#[tokio::test]
async fn the_page_lists_schedules_and_expiring_documents_as_their_own_reads_do() {
    use domain::document::DocumentKind;
    use domain::maintenance::{Baseline, Interval};
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "page-lists").await;
        let other = tenant(s, "page-lists-other").await;
        let [v, w] = ["Listed", "Other"].map(|name| spec(name, None, None, "X"));
        let v = s.create_vehicle(t.id, &v, &ctx()).await.unwrap().id;
        let w = s.create_vehicle(t.id, &w, &ctx()).await.unwrap().id;
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let today = now.date();
        record_created(
            s,
            t.id,
            &[reading(v, now - Duration::days(10), 9_000.0)],
            "a",
        )
        .await;
        record_created(
            s,
            t.id,
            &[reading(v, now - Duration::hours(1), 10_300.0)],
            "b",
        )
        .await;

        // Overdue (due at 9,000 km), due soon (10,500, within 300 km), and
        // two "ok" ones, by distance and by the calendar.
        let tasks = s.list_service_tasks(t.id).await.unwrap();
        let plans = [
            (Some(1_000.0), None, 8_000.0, 100.0),
            (Some(1_000.0), None, 9_500.0, 300.0),
            (Some(10_000.0), None, 10_300.0, 1_000.0),
            (None, Some(30), 10_300.0, 0.0),
        ];
        for ((km, days, from_km, window_km), task) in plans.into_iter().zip(&tasks) {
            let interval = Interval {
                km,
                hours: None,
                days,
            };
            let new = NewSchedule {
                task_id: task.id,
                one_off: false,
                interval,
                window: Interval {
                    km: km.map(|_| window_km),
                    ..interval.default_window()
                },
                last_done: Some(Baseline {
                    date: today - Duration::days(10),
                    km: Some(from_km),
                    hours: None,
                }),
            };
            s.create_schedule(t.id, v, &new, &ctx()).await.unwrap();
        }

        // Documents expiring from 5 days ago to 20 days on (22 of them, two
        // a day on two days), one in 90 days, one without a date, a deleted
        // one, and one of another vehicle.
        let document = |vehicle: VehicleId, n: i64, expires: Option<i64>| NewDocument {
            vehicle_id: vehicle,
            record_id: None,
            kind: if n % 2 == 0 {
                DocumentKind::Insurance
            } else {
                DocumentKind::Registration
            },
            title: format!("Card {n} \"grün\" \\ ✓"),
            issued_on: (n % 3 == 0).then(|| today - Duration::days(300)),
            expires_on: expires.map(|d| today + Duration::days(d)),
            notes: (n % 2 == 1).then(|| format!("line one\nline {n}\t'quoted'")),
            sha256: "ab".repeat(32),
            size_bytes: 1_000 + n,
            content_type: "application/pdf".into(),
            file_name: format!("card-{n}.pdf"),
        };
        let mut n = 0;
        for day in (-5..=15).chain([3]) {
            n += 1;
            s.create_document(t.id, &document(v, n, Some(day)), &ctx())
                .await
                .unwrap();
        }
        for (vehicle, expires) in [(v, Some(90)), (v, None), (w, Some(1))] {
            n += 1;
            s.create_document(t.id, &document(vehicle, n, expires), &ctx())
                .await
                .unwrap();
        }
        let deleted = s
            .create_document(t.id, &document(v, 99, Some(-6)), &ctx())
            .await
            .unwrap();
        s.delete_document(t.id, deleted.id, &ctx()).await.unwrap();

        let until = today + Duration::days(60);
        let page = s
            .vehicle_page(
                t.id,
                v,
                today - Duration::days(30),
                today + Duration::days(1),
                until,
            )
            .await
            .unwrap();

        let schedules = s.list_schedules(t.id, v).await.unwrap();
        assert_eq!(page.schedules, schedules, "{kind:?}");
        let statuses: Vec<_> = schedules.iter().map(|s| s.state.status).collect();
        assert_eq!(
            statuses,
            vec![
                DueStatus::Overdue,
                DueStatus::DueSoon,
                DueStatus::Ok,
                DueStatus::Ok
            ],
            "{kind:?}"
        );

        let documents = s
            .expiring_documents(t.id, Some(v), until, 20)
            .await
            .unwrap();
        assert_eq!(page.documents_expiring, documents, "{kind:?}");
        assert_eq!(documents.len(), 20, "{kind:?}: the page lists 20 at most");
        let expiring: Vec<_> = documents
            .iter()
            .map(|d| (d.doc.expires_on.unwrap() - today).whole_days())
            .collect();
        let mut expected: Vec<i64> = (-5..=15).chain([3]).collect();
        expected.sort();
        expected.truncate(20);
        assert_eq!(expiring, expected, "{kind:?}: soonest first, none deleted");
        assert!(
            documents.iter().all(|d| d.doc.vehicle_id == v),
            "{kind:?}: none of another vehicle"
        );
        assert!(
            documents
                .iter()
                .any(|d| d.doc.notes.as_deref().is_some_and(|n| n.contains('\n'))
                    && d.doc.title.contains("\"grün\" \\ ✓")),
            "{kind:?}"
        );

        // Another tenant asking for the vehicle finds nothing.
        assert!(
            matches!(
                s.vehicle_page(other.id, v, today - Duration::days(30), today, until)
                    .await,
                Err(StoreError::NotFound)
            ),
            "{kind:?}"
        );
    }
}
