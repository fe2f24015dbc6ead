//! The due watch, on both backends: a live feed reads a vehicle's schedules
//! only when its meters reach the threshold of one of its stored states,
//! and every state still equals a fresh evaluation; an "ok" schedule's
//! forecast is computed when read, not stored.

use super::*;
use crate::meters::{hours_reading, reading, record_created};
use domain::due_watch::DueWatch;
use domain::maintenance::{DueState, DueStatus, Interval, Now, evaluate};
use time::{Date, Duration, OffsetDateTime};

const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

/// The id of the service task `key` of tenant `t`.
pub(crate) async fn task(s: &Store, t: TenantId, key: &str) -> uuid::Uuid {
    s.list_service_tasks(t)
        .await
        .unwrap()
        .into_iter()
        .find(|task| task.key == key)
        .unwrap()
        .id
}

/// A schedule of `task` every `interval`, due soon within `window`,
/// counted from the vehicle's meters today.
async fn schedule(
    s: &Store,
    t: TenantId,
    v: VehicleId,
    task: uuid::Uuid,
    interval: Interval,
    window: Interval,
) -> uuid::Uuid {
    let new = NewSchedule {
        task_id: task,
        one_off: false,
        interval,
        window,
        last_done: None,
    };
    s.create_schedule(t, v, &new, &ctx()).await.unwrap().id
}

pub(crate) fn km(km: f64) -> Interval {
    Interval {
        km: Some(km),
        hours: None,
        days: None,
    }
}

/// The state a fresh evaluation gives schedule `id` today, from the
/// vehicle's stored meters and usage rates.
async fn evaluated(db: &TestDatabase, t: TenantId, v: VehicleId, id: uuid::Uuid) -> DueState {
    let s = &db.store;
    let schedule = s.schedule(t, id).await.unwrap();
    let meters = s.vehicle(t, v).await.unwrap().meters;
    let rates = db.usage_rates().await;
    let (_, km_per_day, hours_per_day) = rates.iter().find(|r| r.0 == v.as_uuid()).unwrap();
    let now = Now {
        date: OffsetDateTime::now_utc().date(),
        km: meters.odometer_km,
        hours: meters.engine_hours,
        km_read_on: meters.odometer_at.map(|at| at.date()),
        hours_read_on: meters.hours_at.map(|at| at.date()),
        km_per_day: *km_per_day,
        hours_per_day: *hours_per_day,
    };
    evaluate(
        &schedule.interval,
        &schedule.window,
        &schedule.last_done,
        &now,
    )
}

#[tokio::test]
async fn a_feed_reads_schedules_only_at_a_threshold_and_every_state_stays_exact() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "watch-feed").await;
        let v = s
            .create_vehicle(t.id, &spec("Watched", None, None, "Volvo"), &ctx())
            .await
            .unwrap()
            .id;
        let start = OffsetDateTime::now_utc().date() - Duration::days(20);
        let at = |day: i64, hour: i64| {
            (start + Duration::days(day)).midnight().assume_utc() + Duration::hours(hour)
        };
        let hours = |at: OffsetDateTime, h: f64| hours_reading(v, at, h);
        let send = |batch: Vec<NewReading>| async move {
            record_created(s, t.id, &batch, &format!("{kind:?}")).await;
        };
        send(vec![
            reading(v, at(0, 18), 10_000.0),
            hours(at(0, 18), 100.0),
        ])
        .await;
        // Counted from 10,000 km and 100 h: oil due soon from 15,000 km,
        // tyres from 13,600 (due at 14,000), hydraulics from 550 h.
        let oil = schedule(
            s,
            t.id,
            v,
            task(s, t.id, "oil_change").await,
            km(10_000.0),
            km(5_000.0),
        )
        .await;
        let every_500_h = Interval {
            km: None,
            hours: Some(500.0),
            days: None,
        };
        let hydraulics = schedule(
            s,
            t.id,
            v,
            task(s, t.id, "tire_rotation").await,
            every_500_h,
            every_500_h.default_window(),
        )
        .await;
        let tyres = schedule(
            s,
            t.id,
            v,
            task(s, t.id, "brake_inspection").await,
            km(4_000.0),
            km(400.0),
        )
        .await;
        let all = [oil, hydraulics, tyres];
        let watch = || async {
            db.owner_texts("SELECT due_watch FROM vehicles")
                .await
                .remove(0)
        };
        assert!(
            watch().await.is_some(),
            "{kind:?}: creating a schedule stores a watch"
        );

        // Twenty days of two readings a day, 270, 300 or 330 km and 6 h a
        // day, up to today.
        let (mut odometer, mut engine) = (10_000.0, 100.0);
        let (mut tampered, mut skipped) = (false, 0);
        let mut statuses = Vec::new();
        for day in 1..=20i64 {
            let driven = 270.0 + (day % 3) as f64 * 30.0;
            for (hour, share) in [(6, 0.4), (18, 0.6)] {
                odometer += driven * share;
                engine += 6.0 * share;
                send(vec![
                    reading(v, at(day, hour), odometer),
                    hours(at(day, hour), engine),
                ])
                .await;
                let hydraulics_state = s.schedule(t.id, hydraulics).await.unwrap().state;
                if tampered && hydraulics_state.next_hours == Some(1.0) {
                    // Below every threshold the batch read no schedule.
                    assert!(odometer < 13_600.0, "{kind:?}: day {day}: {odometer} km");
                    skipped += 1;
                    continue;
                }
                tampered = false;
                for id in all {
                    let state = s.schedule(t.id, id).await.unwrap().state;
                    assert_eq!(
                        state,
                        evaluated(&db, t.id, v, id).await,
                        "{kind:?}: day {day} {hour}h"
                    );
                }
            }
            if day == 6 {
                // "Ok" forecasts are computed when read: none is stored, and
                // the list orders them by it (tyres, oil, hydraulics; made
                // oil, hydraulics, tyres).
                let stored = db
                    .owner_texts("SELECT CAST(forecast_on AS TEXT) FROM maintenance_schedules")
                    .await;
                assert_eq!(stored, vec![None, None, None], "{kind:?}");
                let listed: Vec<uuid::Uuid> = s
                    .list_schedules(t.id, v)
                    .await
                    .unwrap()
                    .iter()
                    .map(|s| s.id)
                    .collect();
                assert_eq!(listed, vec![tyres, oil, hydraulics], "{kind:?}");
                // A stored state no reading can reach: the next batches leave
                // it until the odometer reaches the tyres' window.
                db.owner_execute("UPDATE maintenance_schedules SET next_due_hours = 1 WHERE next_due_hours IS NOT NULL")
                    .await;
                tampered = true;
            }
            let oil_state = s.schedule(t.id, oil).await.unwrap().state;
            let tyres_state = s.schedule(t.id, tyres).await.unwrap().state;
            statuses.push((oil_state.status, tyres_state.status));
        }
        // Every batch until the tyres' threshold (day 12) skipped the
        // schedules; the one that reached it evaluated the vehicle again.
        assert!(skipped >= 10, "{kind:?}: {skipped} batches skipped");
        assert_eq!(
            s.schedule(t.id, hydraulics).await.unwrap().state.next_hours,
            Some(600.0),
            "{kind:?}"
        );
        assert!(
            statuses.contains(&(DueStatus::Ok, DueStatus::DueSoon)),
            "{kind:?}: {statuses:?}"
        );
        assert_eq!(
            statuses.last(),
            Some(&(DueStatus::DueSoon, DueStatus::Overdue)),
            "{kind:?}: {statuses:?}"
        );
        // Due soon by the odometer: the watch keeps the oil schedule, to
        // evaluate it again with each batch; no "ok" one is left.
        let kept: DueWatch = serde_json::from_str(&watch().await.unwrap()).unwrap();
        assert_eq!(kept.km, None, "{kind:?}");
        assert_eq!(kept.soon.len(), 1, "{kind:?}: {kept:?}");
        assert_eq!(
            kept.soon[0].state,
            s.schedule(t.id, oil).await.unwrap().state,
            "{kind:?}"
        );
        assert!(
            s.vehicle_health(t.id, v).await.unwrap().0.score < 100,
            "{kind:?}: the overdue tyres weigh on health"
        );
    }
}

#[tokio::test]
async fn a_due_soon_schedule_is_evaluated_from_the_watch_until_its_state_moves() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "watch-soon").await;
        let v = s
            .create_vehicle(t.id, &spec("Soon", None, None, "Volvo"), &ctx())
            .await
            .unwrap()
            .id;
        let start = OffsetDateTime::now_utc().date() - Duration::days(16);
        let at =
            |day: i64| (start + Duration::days(day)).midnight().assume_utc() + Duration::hours(6);
        let send = |batch: Vec<NewReading>| async move {
            record_created(s, t.id, &batch, &format!("{kind:?}")).await;
        };
        send(vec![reading(v, at(0), 10_000.0)]).await;
        // Every 3,000 km from 10,000: due soon from 12,000 (day 10 at 200
        // km a day), overdue at 13,000 (day 15).
        let oil = schedule(
            s,
            t.id,
            v,
            task(s, t.id, "oil_change").await,
            km(3_000.0),
            km(1_000.0),
        )
        .await;
        // A stored date evaluation never gives this km-only schedule: a
        // batch that reads the schedules writes it back to none, one that
        // leaves them unread leaves it.
        let tamper = format!(
            "UPDATE maintenance_schedules SET next_due_on = '2099-01-01' WHERE id = {}",
            match kind {
                BackendKind::Sqlite => format!("X'{}'", oil.simple()),
                BackendKind::Postgres => format!("'{oil}'"),
            }
        );
        let watch = || async {
            let text = db
                .owner_texts("SELECT due_watch FROM vehicles")
                .await
                .remove(0);
            serde_json::from_str::<DueWatch>(&text.unwrap()).unwrap()
        };
        let (mut skipped, mut read, mut tampered) = (0, 0, None::<DueState>);
        for day in 1..=16i64 {
            send(vec![reading(v, at(day), 10_000.0 + 200.0 * day as f64)]).await;
            // As stored: a read fills an "ok" forecast in.
            let stored = s.schedule(t.id, oil).await.unwrap().state.to_stored();
            let fresh = evaluated(&db, t.id, v, oil).await.to_stored();
            if let Some(before) = tampered.take() {
                if stored.next_date.is_some() {
                    // Left unread: rightly, nothing moved.
                    assert_eq!(fresh, before, "{kind:?}: day {day}");
                    skipped += 1;
                    tampered = Some(before);
                    continue;
                }
                read += 1;
            }
            assert_eq!(stored, fresh, "{kind:?}: day {day}");
            let kept = watch().await;
            if stored.status == DueStatus::DueSoon {
                assert_eq!(kept.soon.len(), 1, "{kind:?}: day {day}: {kept:?}");
                assert_eq!(kept.soon[0].state, stored, "{kind:?}: day {day}");
                db.owner_execute(&tamper).await;
                tampered = Some(stored);
            } else {
                assert!(kept.soon.is_empty(), "{kind:?}: day {day}: {kept:?}");
            }
        }
        // Due soon from day 10 to 14: the batches whose forecast held left
        // the schedules unread, and the one that made it overdue read them.
        assert!(skipped >= 2, "{kind:?}: {skipped} batches left it unread");
        assert!(read >= 1, "{kind:?}: {read} batches read it");
        let last = s.schedule(t.id, oil).await.unwrap().state;
        assert_eq!(
            (last.status, last.next_date),
            (DueStatus::Overdue, None),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn the_calendar_pass_forgets_the_watch_of_a_vehicle_whose_state_it_moved() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "watch-calendar").await;
        let today = OffsetDateTime::now_utc().date();
        let noon = |d: Date| d.midnight().assume_utc() + Duration::hours(12);
        let oil = task(s, t.id, "oil_change").await;
        let mut vehicles = Vec::new();
        // Every 10,000 km or 30 days and every 10,000 km or a year, done
        // 20 days ago: due soon (by the calendar) 7 days and 315 days on.
        for (name, days) in [("A monthly", 30), ("B yearly", 365)] {
            let v = s
                .create_vehicle(t.id, &spec(name, None, None, "Ford"), &ctx())
                .await
                .unwrap()
                .id;
            let first = [reading(v, noon(today - Duration::days(1)), 10_000.0)];
            s.record_readings(t.id, &first, MAX, &ctx()).await.unwrap();
            let interval = Interval {
                km: Some(10_000.0),
                hours: None,
                days: Some(days),
            };
            let new = NewSchedule {
                task_id: oil,
                one_off: false,
                interval,
                window: interval.default_window(),
                last_done: Some(domain::maintenance::Baseline {
                    date: today - Duration::days(20),
                    km: Some(10_000.0),
                    hours: None,
                }),
            };
            s.create_schedule(t.id, v, &new, &ctx()).await.unwrap();
            vehicles.push(v);
        }
        let watches = || db.owner_texts("SELECT due_watch FROM vehicles ORDER BY name");
        let before = watches().await;
        assert!(before.iter().all(Option::is_some), "{kind:?}: {before:?}");

        s.reevaluate_all_schedules(today + Duration::days(8))
            .await
            .unwrap();
        let after = watches().await;
        assert_eq!(after[0], None, "{kind:?}: the monthly one went due soon");
        assert_eq!(after[1], before[1], "{kind:?}: the yearly one did not move");

        // The next reading evaluates the vehicle and stores a watch again.
        let next = [reading(vehicles[0], noon(today), 10_300.0)];
        s.record_readings(t.id, &next, MAX, &ctx()).await.unwrap();
        assert!(watches().await[0].is_some(), "{kind:?}");
    }
}
