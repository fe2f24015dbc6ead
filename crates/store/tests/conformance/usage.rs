//! Usage rates kept on the vehicle (from one value per day) and the one-pass
//! fleet re-evaluation that reads them, on both backends.

use super::*;
use crate::meters::{hours_reading, reading, record_created};
use domain::maintenance::{DueStatus, Interval};
use time::{Duration, OffsetDateTime};

const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

/// A schedule every 10,000 km (nothing else), counted from today's meters.
pub(crate) async fn every_10k(s: &Store, t: TenantId, v: VehicleId) -> Schedule {
    let oil = s
        .list_service_tasks(t)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.key == "oil_change")
        .unwrap()
        .id;
    let every = Interval {
        km: Some(10_000.0),
        hours: None,
        days: None,
    };
    let new = NewSchedule {
        task_id: oil,
        one_off: false,
        interval: every,
        window: every.default_window(),
        last_done: None,
    };
    s.create_schedule(t, v, &new, &ctx()).await.unwrap()
}

/// Volvos of the given names in tenant `t`.
async fn trucks(s: &Store, t: TenantId, names: &[&str]) -> Vec<VehicleId> {
    let mut vehicles = Vec::new();
    for name in names {
        let v = s
            .create_vehicle(t, &spec(name, None, None, "Volvo"), &ctx())
            .await
            .unwrap()
            .id;
        vehicles.push(v);
    }
    vehicles
}

/// The forecast for `left` km at `rate` km a day, projected from the
/// reading `days_ago` days before today.
fn forecast_at(days_ago: i64, left: f64, rate: f64) -> Option<time::Date> {
    let read_on = OffsetDateTime::now_utc().date() - Duration::days(days_ago);
    Some(read_on + Duration::days((left / rate).ceil() as i64))
}

#[tokio::test]
async fn the_usage_rate_counts_day_to_day_driving_of_frequent_readings() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "usage").await;
        let v = s
            .create_vehicle(t.id, &spec("Truck", None, None, "Volvo"), &ctx())
            .await
            .unwrap()
            .id;
        // 30 days of a reading every two hours, 60 km a day, sent newest
        // half first: day-to-day that is 60 km a day. (Raw consecutive
        // readings a day apart only occur across midnight: 5 km "a day".)
        let start = OffsetDateTime::now_utc().date() - Duration::days(30);
        let all: Vec<NewReading> = (0..30 * 12)
            .map(|i| {
                let at = start.midnight().assume_utc() + Duration::hours(2 * i);
                reading(v, at, 10_000.0 + 5.0 * i as f64)
            })
            .collect();
        let (older, newer) = all.split_at(all.len() / 2);
        for batch in [newer, older] {
            let out = s.record_readings(t.id, batch, MAX, &ctx()).await.unwrap();
            assert!(out.iter().all(|o| matches!(o, ReadingOutcome::Created(_))));
        }
        let sched = every_10k(s, t.id, v).await;
        assert_eq!(
            sched.state.forecast,
            forecast_at(1, 10_000.0, 60.0),
            "{:?}",
            db.kind
        );

        // The hourly pass reads the stored rate and finds nothing to move,
        // today or tomorrow: the projection starts from the reading.
        let before = s.schedule(t.id, sched.id).await.unwrap();
        for ahead in [0, 1] {
            s.reevaluate_all_schedules(OffsetDateTime::now_utc().date() + Duration::days(ahead))
                .await
                .unwrap();
            let after = s.schedule(t.id, sched.id).await.unwrap();
            assert_eq!(
                (&after.state, after.updated_at),
                (&before.state, before.updated_at),
                "{:?}: {ahead} days ahead",
                db.kind
            );
        }
    }
}

#[tokio::test]
async fn voiding_readings_recomputes_the_rate_and_a_rebuild_agrees() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "usage-void").await;
        let v = s
            .create_vehicle(t.id, &spec("Van", None, None, "Ford"), &ctx())
            .await
            .unwrap()
            .id;
        // Noon readings: 40 km a day for 20 days, then 100 km a day for 10.
        let start = OffsetDateTime::now_utc().date() - Duration::days(31);
        let noon =
            |d: i64| (start + Duration::days(d)).midnight().assume_utc() + Duration::hours(12);
        let mut items = Vec::new();
        let mut km = 5_000.0;
        for d in 0..=30 {
            items.push(reading(v, noon(d), km));
            km += if d < 20 { 40.0 } else { 100.0 };
        }
        let out = s.record_readings(t.id, &items, MAX, &ctx()).await.unwrap();
        let fast: Vec<uuid::Uuid> = out[21..]
            .iter()
            .map(|o| match o {
                ReadingOutcome::Created(r) => r.id,
                other => panic!("{other:?}"),
            })
            .collect();
        let sched = every_10k(s, t.id, v).await;
        let mixed = sched.state.forecast.unwrap();
        assert!(
            mixed < forecast_at(1, 10_000.0, 40.0).unwrap()
                && mixed > forecast_at(1, 10_000.0, 100.0).unwrap(),
            "{:?}: {mixed}",
            db.kind
        );

        // Without the fast days the rate is 40 km a day again, and the
        // odometer is back 1,000 km (read 11 days ago): 11,000 km to go.
        for id in fast {
            s.set_reading_void(t.id, v, id, true, MAX, &ctx())
                .await
                .unwrap();
        }
        let slow = s.schedule(t.id, sched.id).await.unwrap().state;
        assert_eq!(
            slow.forecast,
            forecast_at(11, 11_000.0, 40.0),
            "{:?}",
            db.kind
        );

        // Rebuilt from the raw readings: the same 21 live days, the same rate.
        let rebuilt = s.rebuild_rollups(t.id).await.unwrap();
        assert_eq!(
            (rebuilt.daily_meter_rows, rebuilt.rated_vehicles),
            (21, 1),
            "{:?}",
            db.kind
        );
        s.reevaluate_all_schedules(OffsetDateTime::now_utc().date())
            .await
            .unwrap();
        assert_eq!(s.schedule(t.id, sched.id).await.unwrap().state, slow);

        // A vehicle from before rates were kept (none stored) is rated by the
        // next due pass, to the same rate and forecast.
        db.owner_execute(
            "UPDATE vehicles SET km_per_day = NULL, hours_per_day = NULL, usage_on = NULL;
             UPDATE maintenance_schedules SET recheck_on = '0001-01-01', forecast_on = NULL",
        )
        .await;
        let rechecked = s
            .reevaluate_all_schedules(OffsetDateTime::now_utc().date())
            .await
            .unwrap();
        assert!(rechecked >= 1, "{:?}", db.kind);
        assert_eq!(
            s.schedule(t.id, sched.id).await.unwrap().state,
            slow,
            "{:?}",
            db.kind
        );
    }
}

#[tokio::test]
async fn the_fleet_pass_moves_due_states_and_rescores_only_what_went_overdue() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "usage-pass").await;
        let other = tenant(s, "usage-pass-other").await;
        let oil = s
            .list_service_tasks(t.id)
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.key == "oil_change")
            .unwrap()
            .id;
        let monthly = Interval {
            km: None,
            hours: None,
            days: Some(30),
        };
        let today = OffsetDateTime::now_utc().date();
        let mut vehicles = Vec::new();
        // Done 10, 20 and 25 days ago: 20, 10 and 5 days left.
        for (i, ago) in [10, 20, 25].into_iter().enumerate() {
            let v = s
                .create_vehicle(t.id, &spec(&format!("V{i}"), None, None, "Ford"), &ctx())
                .await
                .unwrap()
                .id;
            let new = NewSchedule {
                task_id: oil,
                one_off: false,
                interval: monthly,
                window: monthly.default_window(),
                last_done: Some(domain::maintenance::Baseline {
                    date: today - Duration::days(ago),
                    km: None,
                    hours: None,
                }),
            };
            let sched = s.create_schedule(t.id, v, &new, &ctx()).await.unwrap();
            vehicles.push((v, sched.id));
        }
        let untouched = s
            .create_vehicle(other.id, &spec("Other", None, None, "Ford"), &ctx())
            .await
            .unwrap()
            .id;
        let statuses = || async {
            let mut out = Vec::new();
            for (v, id) in &vehicles {
                let status = s.schedule(t.id, *id).await.unwrap().state.status;
                let score = s.vehicle_health(t.id, *v).await.unwrap().0.score;
                out.push((status, score));
            }
            out
        };
        let fresh = statuses().await;
        assert!(
            fresh
                .iter()
                .all(|(st, score)| *st != DueStatus::Overdue && *score == 100),
            "{:?}: {fresh:?}",
            db.kind
        );

        // Eight days on, the one with five days left is overdue and its
        // vehicle's health shows it; the others keep theirs.
        let n = s
            .reevaluate_all_schedules(today + Duration::days(8))
            .await
            .unwrap();
        // Only the two whose window or due date came are read.
        assert!(n >= 2, "{:?}: {n} schedules", db.kind);
        let later = statuses().await;
        assert_eq!(later[2].0, DueStatus::Overdue, "{:?}", db.kind);
        assert!(later[2].1 < 100, "{:?}: {later:?}", db.kind);
        assert_eq!(later[0], (DueStatus::Ok, 100));
        assert_eq!(later[1].1, 100);
        assert_eq!(
            s.vehicle_health(other.id, untouched).await.unwrap().0.score,
            100
        );

        // Deleting the overdue schedule lifts it from the vehicle's health.
        s.delete_schedule(t.id, vehicles[2].1, &ctx())
            .await
            .unwrap();
        assert_eq!(
            s.vehicle_health(t.id, vehicles[2].0).await.unwrap().0.score,
            100,
            "{:?}",
            db.kind
        );
    }
}

/// One batch across vehicles: each vehicle's meters, rate and due state
/// follow its own readings (the batch refreshes them all together), and its
/// health counts its own overdue schedule only.
#[tokio::test]
async fn a_batch_across_vehicles_moves_each_due_state_by_its_own_meters() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "usage-batch").await;
        let vehicles = trucks(s, t.id, &["Long haul", "Town"]).await;
        let [far, near] = vehicles[..] else {
            unreachable!()
        };
        let start = OffsetDateTime::now_utc().date() - Duration::days(21);
        let noon =
            |day: i64| (start + Duration::days(day)).midnight().assume_utc() + Duration::hours(12);
        // Both start at 10,000 km, and their schedules count from there.
        let first = [
            reading(far, noon(0), 10_000.0),
            reading(near, noon(0), 10_000.0),
        ];
        s.record_readings(t.id, &first, MAX, &ctx()).await.unwrap();
        let far_oil = every_10k(s, t.id, far).await;
        let near_oil = every_10k(s, t.id, near).await;
        // Twenty days in one batch, day by day across both: 600 km a day
        // (12,000 km: overdue) and 60 km a day (1,200 km: 8,800 left).
        let batch: Vec<NewReading> = (1..=20)
            .flat_map(|d| {
                [
                    reading(far, noon(d), 10_000.0 + 600.0 * d as f64),
                    reading(near, noon(d), 10_000.0 + 60.0 * d as f64),
                ]
            })
            .collect();
        let out = s.record_readings(t.id, &batch, MAX, &ctx()).await.unwrap();
        assert!(
            out.iter().all(|o| matches!(o, ReadingOutcome::Created(_))),
            "{:?}",
            db.kind
        );

        let kind = db.kind;
        let meters = |v| async move { s.vehicle(t.id, v).await.unwrap().meters };
        assert_eq!(meters(far).await.odometer_km, Some(22_000.0), "{kind:?}");
        assert_eq!(meters(near).await.odometer_km, Some(11_200.0), "{kind:?}");
        assert_eq!(meters(near).await.odometer_at, Some(noon(20)), "{kind:?}");
        let far_state = s.schedule(t.id, far_oil.id).await.unwrap().state;
        let near_state = s.schedule(t.id, near_oil.id).await.unwrap().state;
        assert_eq!(far_state.status, DueStatus::Overdue, "{kind:?}");
        assert_eq!(near_state.status, DueStatus::Ok, "{kind:?}");
        // The town van's forecast runs at its own 60 km a day from its last reading.
        assert_eq!(
            near_state.forecast,
            forecast_at(1, 8_800.0, 60.0),
            "{kind:?}"
        );
        let score = |v| async move { s.vehicle_health(t.id, v).await.unwrap().0.score };
        assert!(score(far).await < 100, "{kind:?}: overdue weighs on health");
        assert_eq!(score(near).await, 100, "{kind:?}");
    }
}

/// A live feed: every batch holds one reading time of every vehicle, both
/// meters. The rates' stored sums advance batch by batch; whatever path a
/// batch took (a later reading the same day, a new day, a late reading for
/// an earlier day, sums that cannot be read), the rates equal, to the bit,
/// those recomputed from the raw readings by a rollup rebuild.
#[tokio::test]
async fn rates_advanced_batch_by_batch_equal_rates_recomputed_from_the_readings() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "usage-feed").await;
        let vehicles = trucks(s, t.id, &["Feed A", "Feed B"]).await;
        let hours = hours_reading;
        let send = |batch: Vec<NewReading>| async move {
            record_created(s, t.id, &batch, &format!("{kind:?}")).await;
        };
        // The stored rates, then the same after a rebuild from the readings;
        // the days behind them must be the rebuild's too (a batch whose
        // meters are all ahead of the stored readings writes its days
        // without reading them back). A meter's open day, its latest, is
        // the vehicle row's: a rebuild writes its row, a live feed does not
        // (`open_days_kept`: whether the rows of the open days are there).
        let days = || async {
            let rows = db
                .owner_texts(
                    "SELECT kind || ' ' || day || ' ' || CAST(last_value AS TEXT) FROM vehicle_daily_meters
                      ORDER BY vehicle_id, kind, day",
                )
                .await;
            rows.into_iter()
                .map(Option::unwrap_or_default)
                .collect::<Vec<String>>()
        };
        // Each meter's rows but its latest (rows come grouped by vehicle
        // then meter, and the two meters alternate).
        let closed = |rows: &[String]| -> Vec<String> {
            rows.chunk_by(|a, b| a.split(' ').next() == b.split(' ').next())
                .flat_map(|meter| meter[..meter.len() - 1].to_vec())
                .collect()
        };
        let (db_ref, days, tenant_id) = (&db, &days, t.id);
        let advanced_and_rebuilt = |open_days_kept: bool| async move {
            let db = db_ref;
            let advanced = db.usage_rates().await;
            let kept = days().await;
            s.rebuild_rollups(tenant_id).await.unwrap();
            let rebuilt = days().await;
            let expected = if open_days_kept {
                rebuilt.clone()
            } else {
                closed(&rebuilt)
            };
            assert_eq!(kept, expected, "{kind:?}: the days as a rebuild makes them");
            assert!(
                rebuilt.len() >= 2 * 2 * 10,
                "{kind:?}: {} days",
                rebuilt.len()
            );
            (advanced, db.usage_rates().await)
        };
        // Three reading times a day (06:00, 12:00, 18:00) for 20 days, each
        // vehicle driving a different, uneven amount; the odometer's
        // readings are kept for the late one below.
        let start = OffsetDateTime::now_utc().date() - Duration::days(21);
        let at = |day: i64, hour: i64| {
            (start + Duration::days(day)).midnight().assume_utc() + Duration::hours(hour)
        };
        let mut km: Vec<Vec<(OffsetDateTime, f64)>> = vec![vec![], vec![]];
        let mut engine = [1_000.0, 300.0];
        for day in 0..20i64 {
            for hour in [6, 12, 18] {
                let mut batch = Vec::new();
                for (i, v) in vehicles.iter().enumerate() {
                    let last = km[i].last().map_or(10_000.0 * (i + 1) as f64, |r| r.1);
                    let driven = ((day * 37 + hour + i as i64 * 11) % 90) as f64 * (1.0 + i as f64);
                    km[i].push((at(day, hour), last + driven));
                    engine[i] += ((day + hour) % 4) as f64 * 0.75;
                    batch.push(reading(*v, at(day, hour), last + driven));
                    batch.push(hours(*v, at(day, hour), engine[i]));
                }
                send(batch).await;
            }
            if day == 9 {
                let (advanced, rebuilt) = advanced_and_rebuilt(false).await;
                assert!(
                    advanced.iter().all(|r| r.1.is_some() && r.2.is_some()),
                    "{kind:?}: {advanced:?}"
                );
                assert_eq!(advanced, rebuilt, "{kind:?}: after ten days");
            }
        }
        let (advanced, rebuilt) = advanced_and_rebuilt(false).await;
        assert_eq!(advanced, rebuilt, "{kind:?}: after twenty days");

        // A late reading that becomes day 15's last (23:00, between its
        // neighbours) moves an interval the sums closed long ago: the rates
        // move, recomputed from the days.
        let late: Vec<NewReading> = vehicles
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let between = (km[i][3 * 15 + 2].1 + km[i][3 * 16].1) / 2.0;
                reading(*v, at(15, 23), between)
            })
            .collect();
        let before = db.usage_rates().await;
        send(late).await;
        // The last rebuild wrote the open days' rows.
        let (advanced, rebuilt) = advanced_and_rebuilt(true).await;
        assert_ne!(
            advanced, before,
            "{kind:?}: the late reading moves the rates"
        );
        assert_eq!(advanced, rebuilt, "{kind:?}: after a late reading");

        // Sums that cannot be read are recomputed by the next batch.
        db.owner_execute(
            "UPDATE vehicles SET odometer_rate_sums = 'not sums', hours_rate_sums = NULL",
        )
        .await;
        let next: Vec<NewReading> = vehicles
            .iter()
            .enumerate()
            .flat_map(|(i, v)| {
                let last = km[i].last().map_or(0.0, |r| r.1);
                [
                    reading(*v, at(20, 6), last + 55.0),
                    hours(*v, at(20, 6), engine[i] + 2.0),
                ]
            })
            .collect();
        send(next).await;
        let (advanced, rebuilt) = advanced_and_rebuilt(false).await;
        assert_eq!(advanced, rebuilt, "{kind:?}: after unreadable sums");
    }
}

/// A live feed writes a meter's day once, when a later day's reading closes
/// it: the open day is the vehicle row's current meter, and the rates see
/// it all the same. A late reading for the open day writes its row as the
/// day stands, the later reading winning.
#[tokio::test]
async fn a_live_feed_writes_a_day_once_when_the_next_day_closes_it() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "usage-open-day").await;
        let v = trucks(s, t.id, &["Open day"]).await[0];
        let start = OffsetDateTime::now_utc().date() - Duration::days(5);
        let at = |day: i64, hour: i64| {
            (start + Duration::days(day)).midnight().assume_utc() + Duration::hours(hour)
        };
        let day_text = |day: i64| (start + Duration::days(day)).to_string();
        let rows = || async {
            db.owner_texts(
                "SELECT day || ' ' || CAST(CAST(last_value AS INTEGER) AS TEXT)
                   FROM vehicle_daily_meters ORDER BY day",
            )
            .await
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect::<Vec<String>>()
        };
        let km_per_day = || async { db.usage_rates().await[0].1 };
        let send = |day, hour, km| async move {
            record_created(
                s,
                t.id,
                &[reading(v, at(day, hour), km)],
                &format!("{kind:?}"),
            )
            .await;
        };
        for (hour, km) in [(6, 1_000.0), (12, 1_040.0), (18, 1_100.0)] {
            send(0, hour, km).await;
        }
        assert_eq!(rows().await, Vec::<String>::new(), "{kind:?}: day 0 open");
        assert_eq!(km_per_day().await, None, "{kind:?}: one day, no rate");

        send(1, 6, 1_150.0).await;
        assert_eq!(rows().await, [format!("{} 1100", day_text(0))], "{kind:?}");
        let rate = km_per_day().await.unwrap();
        assert!((rate - 50.0).abs() < 1e-9, "{kind:?}: {rate}");
        send(1, 18, 1_300.0).await;
        assert_eq!(rows().await.len(), 1, "{kind:?}: day 1 still open");
        let rate = km_per_day().await.unwrap();
        assert!((rate - 200.0).abs() < 1e-9, "{kind:?}: {rate}");

        // A late reading for the open day: its row holds 18:00's value.
        send(1, 3, 1_120.0).await;
        let closed_and_open = [
            format!("{} 1100", day_text(0)),
            format!("{} 1300", day_text(1)),
        ];
        assert_eq!(rows().await, closed_and_open, "{kind:?}");
        let advanced = db.usage_rates().await;
        s.rebuild_rollups(t.id).await.unwrap();
        assert_eq!(rows().await, closed_and_open, "{kind:?}: rebuilt");
        assert_eq!(advanced, db.usage_rates().await, "{kind:?}: rebuilt rates");
    }
}
