//! The current meters an ingest batch stores, on both backends: taken from
//! the stored current meters and the batch's own readings instead of looked
//! up in the readings, they must equal what the lookup finds, whatever the
//! batch holds.

use super::*;
use crate::meters::{hours_reading, reading, record_created};
use domain::meter::{MeterKind, MeterSource};
use time::{Duration, OffsetDateTime};

/// How many vehicles keep a latest time seen, of either meter, other than
/// their readings' latest (void or live).
const SEEN_DIFFERS: &str = "SELECT CAST(count(*) AS TEXT) FROM vehicles v
     WHERE COALESCE(CAST(v.odometer_seen_at AS TEXT), '-') <> COALESCE(CAST((SELECT max(r.read_at)
               FROM meter_readings r WHERE r.vehicle_id = v.id AND r.kind = 'odometer') AS TEXT), '-')
        OR COALESCE(CAST(v.hours_seen_at AS TEXT), '-') <> COALESCE(CAST((SELECT max(r.read_at)
               FROM meter_readings r WHERE r.vehicle_id = v.id AND r.kind = 'hours') AS TEXT), '-')";

#[tokio::test]
async fn a_batch_stores_the_meters_the_readings_hold() {
    for db in TestDatabase::all().await {
        let db = &db;
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "current-meters").await;
        let mut vehicles = Vec::new();
        for name in ["First", "Second"] {
            let spec = spec(name, None, None, "Volvo");
            vehicles.push(s.create_vehicle(t.id, &spec, &ctx()).await.unwrap().id);
        }
        let [a, b] = vehicles[..] else { unreachable!() };
        let start = OffsetDateTime::now_utc().date() - Duration::days(10);
        let at = |day: i64, minute: i64| {
            (start + Duration::days(day)).midnight().assume_utc() + Duration::minutes(minute)
        };
        let hours = hours_reading;
        let from = |source: MeterSource, r: NewReading| NewReading { source, ..r };
        // Each step: the batch, then every vehicle's stored meters against
        // the readings'.
        let step = |name: &'static str, batch: Vec<NewReading>| async move {
            record_created(s, t.id, &batch, &format!("{kind:?} {name}")).await;
            for v in [a, b] {
                let stored = s.vehicle(t.id, v).await.unwrap().meters;
                let stored = (
                    stored.odometer_at.zip(stored.odometer_km),
                    stored.hours_at.zip(stored.engine_hours),
                );
                let looked_up = db.latest_from_readings(t.id, v).await;
                assert_eq!(stored, looked_up, "{kind:?} {name}");
            }
            // Each meter's latest time seen, void or live, kept on the row.
            let differing = db.owner_texts(SEEN_DIFFERS).await;
            assert_eq!(differing, vec![Some("0".to_string())], "{kind:?} {name}");
        };
        step(
            "first readings",
            vec![
                reading(a, at(0, 600), 10_000.0),
                hours(a, at(0, 600), 500.0),
                reading(b, at(0, 600), 20_000.0),
            ],
        )
        .await;
        step(
            "in time order, several a meter",
            vec![
                reading(a, at(1, 600), 10_200.0),
                reading(a, at(1, 720), 10_260.0),
                hours(a, at(1, 720), 506.0),
                reading(b, at(1, 600), 20_100.0),
                hours(b, at(1, 600), 40.0),
            ],
        )
        .await;
        step(
            "late readings, before the stored latest",
            vec![reading(a, at(0, 900), 10_050.0), hours(b, at(0, 900), 30.0)],
        )
        .await;
        step(
            "only the odometer; the hours stay",
            vec![reading(a, at(2, 600), 10_500.0)],
        )
        .await;
        // Two sources in the batch's latest second with different values:
        // the readings' order decides (telematics after manual).
        step(
            "a tie inside the batch",
            vec![
                reading(a, at(3, 600), 10_700.0),
                from(MeterSource::Telematics, reading(a, at(3, 600), 10_701.0)),
            ],
        )
        .await;
        // The stored latest second again, from another source.
        step(
            "a tie with the stored latest",
            vec![from(MeterSource::Fuel, reading(a, at(3, 600), 10_699.0))],
        )
        .await;
        step(
            "the same value in the stored latest second",
            vec![from(MeterSource::Service, reading(a, at(3, 600), 10_701.0))],
        )
        .await;
        step(
            "a void reading after everything",
            vec![NewReading {
                void: true,
                ..reading(b, at(5, 600), 99_999.0)
            }],
        )
        .await;
        let meters = s.vehicle(t.id, a).await.unwrap().meters;
        let tie = "telematics wins the tie";
        assert_eq!(meters.odometer_km, Some(10_701.0), "{kind:?}: {tie}");
        // After the void reading, the batch's items are checked against it:
        // the same void again is a duplicate, a reading before it is
        // accepted, and one lower than the latest live reading is refused.
        let outcomes = |batch: Vec<NewReading>| async move {
            s.record_readings(t.id, &batch, domain::meter::DEFAULT_MAX_DAILY_KM, &ctx())
                .await
                .unwrap()
        };
        let again = outcomes(vec![NewReading {
            void: true,
            ..reading(b, at(5, 600), 99_999.0)
        }])
        .await;
        assert!(
            matches!(again[..], [ReadingOutcome::Duplicate(_)]),
            "{kind:?}: {again:?}"
        );
        step(
            "between the latest and the void",
            vec![reading(b, at(3, 0), 20_150.0)],
        )
        .await;
        let lower = outcomes(vec![reading(b, at(3, 60), 20_000.0)]).await;
        assert!(
            matches!(lower[..], [ReadingOutcome::Rejected { field: "value", .. }]),
            "{kind:?}: {lower:?}"
        );
        // A batch sent twice: the second time every item is a duplicate.
        let twice = vec![
            reading(a, at(7, 600), 11_000.0),
            hours(a, at(7, 600), 520.0),
        ];
        step("sent once", twice.clone()).await;
        let repeated = outcomes(twice).await;
        assert!(
            repeated
                .iter()
                .all(|o| matches!(o, ReadingOutcome::Duplicate(_))),
            "{kind:?}: {repeated:?}"
        );
        // A meter offset from day 4: the batch's values count with it.
        s.add_meter_offset(
            t.id,
            b,
            &NewMeterOffset {
                kind: MeterKind::Odometer,
                effective_at: at(4, 0),
                offset: 20_100.0,
                reason: "replaced cluster".into(),
            },
            &ctx(),
        )
        .await
        .unwrap();
        step(
            "after an offset",
            vec![reading(b, at(6, 600), 150.0), hours(b, at(6, 600), 52.0)],
        )
        .await;
        let meters = s.vehicle(t.id, b).await.unwrap().meters;
        assert_eq!(meters.odometer_km, Some(20_250.0), "{kind:?}");
    }
}

/// Every ingest batch rewrites each moved vehicle's row, its month's
/// distance and its day's meters; on PostgreSQL their pages keep room for
/// the next versions (migration 24), so the rewrites stay heap-only and
/// write no index entries. SQLite has no such setting.
#[tokio::test]
async fn the_rows_every_batch_rewrites_have_room_on_their_pages() {
    for db in TestDatabase::all().await {
        if db.kind != BackendKind::Postgres {
            continue;
        }
        let options = db
            .owner_texts(
                "SELECT c.relname || ' ' || array_to_string(c.reloptions, ',') FROM pg_class c
                  WHERE c.oid IN ('vehicles'::regclass, 'vehicle_monthly_distance'::regclass,
                                  'vehicle_daily_meters'::regclass)
                  ORDER BY c.relname",
            )
            .await;
        let expected = [
            "vehicle_daily_meters fillfactor=50",
            "vehicle_monthly_distance fillfactor=50",
            "vehicles fillfactor=50",
        ];
        assert_eq!(
            options,
            expected.map(|o| Some(o.to_string())).to_vec(),
            "room for heap-only updates"
        );
    }
}
