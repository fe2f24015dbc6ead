//! The current meters an ingest batch stores, on both backends: taken from
//! the stored current meters and the batch's own readings instead of looked
//! up in the readings, they must equal what the lookup finds, whatever the
//! batch holds.

use super::*;
use crate::meters::reading;
use domain::meter::{MeterKind, MeterSource, MeterUnit, meter_value};
use time::{Duration, OffsetDateTime};

const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

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
        let hours = |v: VehicleId, at: OffsetDateTime, h: f64| NewReading {
            kind: MeterKind::Hours,
            value: meter_value(MeterKind::Hours, h, MeterUnit::Hours).unwrap(),
            ..reading(v, at, 0.0)
        };
        let from = |source: MeterSource, r: NewReading| NewReading { source, ..r };
        // Each step: the batch, then every vehicle's stored meters against
        // the readings'.
        let step = |name: &'static str, batch: Vec<NewReading>| async move {
            let out = s.record_readings(t.id, &batch, MAX, &ctx()).await.unwrap();
            assert!(
                out.iter().all(|o| matches!(o, ReadingOutcome::Created(_))),
                "{kind:?} {name}: {out:?}"
            );
            for v in [a, b] {
                let stored = s.vehicle(t.id, v).await.unwrap().meters;
                let stored = (
                    stored.odometer_at.zip(stored.odometer_km),
                    stored.hours_at.zip(stored.engine_hours),
                );
                let looked_up = db.latest_from_readings(t.id, v).await;
                assert_eq!(stored, looked_up, "{kind:?} {name}");
            }
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
        let meters = s.vehicle(t.id, a).await.unwrap().meters;
        assert_eq!(
            meters.odometer_km,
            Some(10_701.0),
            "{kind:?}: telematics wins the tie"
        );
    }
}
