//! The monthly distance rollup and the fleet cost report, on both backends.

use super::*;
use crate::meters::reading;
use domain::meter::MeterKind;
use domain::service::ExpenseCategory;
use time::macros::{date, datetime};

const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

fn month(page: &Page<VehicleCosts>, vehicle: VehicleId, m: time::Date) -> Option<MonthCosts> {
    page.items
        .iter()
        .find(|v| v.vehicle_id == vehicle)
        .and_then(|v| v.months.iter().find(|c| c.month == m).cloned())
}

fn distance(page: &Page<VehicleCosts>, vehicle: VehicleId, m: time::Date) -> Option<f64> {
    distance_of(&page.items, vehicle, m)
}

fn distance_of(items: &[VehicleCosts], vehicle: VehicleId, m: time::Date) -> Option<f64> {
    items
        .iter()
        .find(|v| v.vehicle_id == vehicle)
        .and_then(|v| v.months.iter().find(|c| c.month == m))
        .and_then(|c| c.distance_km)
}

#[tokio::test]
async fn the_cost_report_reads_distance_and_spend_per_vehicle_and_month() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "costs").await;
        let other = tenant(s, "costs-other").await;
        let a = s
            .create_vehicle(t.id, &spec("A", None, None, "Ford"), &ctx())
            .await
            .unwrap()
            .id;
        let b = s
            .create_vehicle(t.id, &spec("B", None, None, "Ford"), &ctx())
            .await
            .unwrap()
            .id;
        let hidden = s
            .create_vehicle(other.id, &spec("Other", None, None, "Ford"), &ctx())
            .await
            .unwrap()
            .id;
        // Unsorted, in two batches: the rollup keeps each month's first and last.
        let a_readings = [
            reading(a, datetime!(2025-02-25 12:00 UTC), 2_600.0),
            reading(a, datetime!(2025-01-10 12:00 UTC), 1_000.0),
            reading(a, datetime!(2025-03-15 12:00 UTC), 3_000.0),
        ];
        s.record_readings(t.id, &a_readings, MAX, &ctx())
            .await
            .unwrap();
        let more = [
            reading(a, datetime!(2025-01-20 12:00 UTC), 1_500.0),
            reading(a, datetime!(2025-02-05 12:00 UTC), 2_000.0),
            reading(b, datetime!(2025-03-01 00:00 UTC), 100.0),
            reading(b, datetime!(2025-03-31 23:59 UTC), 400.0),
        ];
        s.record_readings(t.id, &more, MAX, &ctx()).await.unwrap();
        s.record_readings(
            t.id,
            &[reading(hidden, datetime!(2025-02-10 12:00 UTC), 9_000.0)],
            MAX,
            &ctx(),
        )
        .await
        .unwrap();
        let usd = domain::preferences::CurrencyCode::parse("USD").unwrap();
        for (vehicle, on, amount) in [
            (a, date!(2025 - 02 - 14), 5_000),
            (a, date!(2025 - 03 - 02), 700),
        ] {
            let e = NewExpense {
                vehicle_id: vehicle,
                category: ExpenseCategory::Tolls,
                spent_on: on,
                amount_minor: amount,
                currency: usd.clone(),
                recurrence: None,
                notes: None,
            };
            s.create_expense(t.id, &e, &ctx()).await.unwrap();
        }

        let (feb, mar, apr) = (
            date!(2025 - 02 - 01),
            date!(2025 - 03 - 01),
            date!(2025 - 04 - 01),
        );
        let page = s
            .cost_per_distance(t.id, feb, apr, None, 100)
            .await
            .unwrap();
        assert_eq!(
            page.items.len(),
            2,
            "{:?}: only this tenant's vehicles",
            db.kind
        );
        // February counts from January's last reading (1,500) to February's last.
        assert_eq!(distance(&page, a, feb), Some(1_100.0), "{:?}", db.kind);
        assert_eq!(distance(&page, a, mar), Some(400.0));
        assert_eq!(
            month(&page, a, feb).unwrap().spend,
            [("USD".to_string(), 5_000)]
        );
        assert_eq!(
            month(&page, a, mar).unwrap().spend,
            [("USD".to_string(), 700)]
        );
        // B's first month on record counts from its own first reading.
        assert_eq!(distance(&page, b, mar), Some(300.0));
        assert_eq!(month(&page, b, feb), None);

        // Voiding a reading rebuilds the months from it on.
        let stored = s
            .list_readings(t.id, a, MeterKind::Odometer, None, 10)
            .await
            .unwrap()
            .items;
        let feb25 = stored.iter().find(|r| r.canonical == 2_600.0).unwrap();
        s.set_reading_void(t.id, a, feb25.id, true, MAX, &ctx())
            .await
            .unwrap();
        let page = s
            .cost_per_distance(t.id, feb, apr, None, 100)
            .await
            .unwrap();
        assert_eq!(distance(&page, a, feb), Some(500.0), "{:?}", db.kind);
        assert_eq!(distance(&page, a, mar), Some(1_000.0));

        // An offset (a new instrument cluster) counts on from where the old one stopped.
        s.add_meter_offset(
            t.id,
            a,
            &NewMeterOffset {
                kind: MeterKind::Odometer,
                effective_at: datetime!(2025-03-20 00:00 UTC),
                offset: 3_000.0,
                reason: "new cluster".into(),
            },
            &ctx(),
        )
        .await
        .unwrap();
        s.record_readings(
            t.id,
            &[reading(a, datetime!(2025-03-25 12:00 UTC), 250.0)],
            MAX,
            &ctx(),
        )
        .await
        .unwrap();
        let page = s
            .cost_per_distance(t.id, feb, apr, None, 100)
            .await
            .unwrap();
        assert_eq!(distance(&page, a, mar), Some(1_250.0), "{:?}", db.kind);

        // What the write paths maintained equals a rebuild from the raw records.
        let rebuilt = s.rebuild_rollups(t.id).await.unwrap();
        assert_eq!(
            rebuilt,
            RollupRebuild {
                distance_rows: 4,
                spend_rows: 2,
                // Two months of tolls, and no fills.
                cost_rows: 2,
                fuel_rows: 0,
                // The readings are from 2025: older than the usage window.
                daily_meter_rows: 0,
                rated_vehicles: 2,
            },
            "{:?}",
            db.kind
        );
        assert_eq!(
            s.cost_per_distance(t.id, feb, apr, None, 100)
                .await
                .unwrap()
                .items,
            page.items
        );
        let whole = |p: Page<VehicleCosts>| p.items;
        let jan = date!(2025 - 01 - 01);
        let before = whole(
            s.cost_per_distance(t.id, jan, apr, None, 100)
                .await
                .unwrap(),
        );
        assert_eq!(distance_of(&before, a, jan), Some(500.0), "{:?}", db.kind);

        // Pages of one vehicle, in id order, with a cursor.
        let first = s.cost_per_distance(t.id, feb, apr, None, 1).await.unwrap();
        assert_eq!(first.items.len(), 1);
        let cursor = first.next_cursor.clone().expect("a second page");
        let second = s
            .cost_per_distance(t.id, feb, apr, Some(&cursor), 1)
            .await
            .unwrap();
        assert_eq!(second.items.len(), 1);
        assert_ne!(first.items[0].vehicle_id, second.items[0].vehicle_id);
        assert!(second.next_cursor.is_none());
        assert!(matches!(
            s.cost_per_distance(t.id, feb, apr, Some("nonsense"), 1)
                .await,
            Err(StoreError::Invalid {
                field: "cursor",
                ..
            })
        ));
    }
}
