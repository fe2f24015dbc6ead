//! Writes of one vehicle made at once, each its own transaction on a
//! multi-threaded runtime: fills and deletions, expenses and service
//! records of one month, readings voided while offsets are added,
//! schedules. Each recomputes state derived from the vehicle's records (the
//! fuel chain and its monthly figures, the monthly spend, the days and
//! months of distance, the due watch); every write must succeed and the derived state must count
//! every one of them, as a rebuild from the records does. On PostgreSQL
//! these writes lock the vehicle's row first (`meters::lock_vehicle`):
//! without it each test failed on every run.

use super::*;
use crate::page_rollups::{expense, service_record};
use crate::vehicle_page::fill;
use domain::fuel::Segment;
use domain::service::ExpenseCategory;
use time::macros::{date, datetime};

const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

/// Waits for every write of `writes`; panics, naming the backend, at the
/// first that failed.
pub(crate) async fn all_succeed<T: 'static>(
    mut writes: tokio::task::JoinSet<Result<T, StoreError>>,
    kind: BackendKind,
) {
    while let Some(done) = writes.join_next().await {
        if let Err(e) = done.expect("the write's task ran to its end") {
            panic!("{kind:?}: a concurrent write failed: {e}");
        }
    }
}

/// Fills added and deleted at once on one vehicle's chain (each write its
/// own transaction, on a multi-threaded runtime): every write succeeds, and
/// the chain's segments and monthly figures they leave equal a rebuild from
/// the fills. On PostgreSQL each write locks the vehicle before it touches a
/// fill, so the last to commit recomputes the chain with every other in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_fills_and_deletions_leave_the_chain_whole() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "race").await;
        let v = vehicle(s, t.id, "Raced").await;
        let week = |k: i64| datetime!(2025-01-06 12:00 UTC) + time::Duration::days(7 * k);
        let km = |k: i64| 1_000.0 + 500.0 * k as f64;
        let mut ids = vec![];
        for k in 0..12 {
            let e = fill(v, week(k), km(k), FuelType::Diesel, 40.0, 4_000, "EUR");
            ids.push(s.create_fuel_entry(t.id, &e, MAX, &ctx()).await.unwrap().id);
        }
        // Every odd fill deleted while a fill is added three days after
        // each even one.
        let mut writes = tokio::task::JoinSet::new();
        for k in 0..12 {
            let (s, tenant) = (s.clone(), t.id);
            if k % 2 == 1 {
                let id = ids[k as usize];
                writes.spawn(async move { s.delete_fuel_entry(tenant, v, id, &ctx()).await });
            } else {
                let e = fill(
                    v,
                    week(k) + time::Duration::days(3),
                    km(k) + 250.0,
                    FuelType::Diesel,
                    12.5,
                    1_250,
                    "EUR",
                );
                writes.spawn(async move {
                    s.create_fuel_entry(tenant, &e, MAX, &ctx())
                        .await
                        .map(|_| ())
                });
            }
        }
        all_succeed(writes, kind).await;
        let (from, to) = (
            datetime!(2025-01-01 00:00 UTC),
            datetime!(2025-05-01 00:00 UTC),
        );
        let fuel = s.fuel_stats(t.id, v, Some(from), Some(to)).await.unwrap();
        // Twelve fills, every one full, from the first (1,000 km) to the
        // one after the last even fill (6,250 km): 5,250 km on all fuel but
        // the first's.
        assert_eq!(fuel[0].entries, 12, "{kind:?}");
        assert_eq!(
            fuel[0].measured,
            Some(Segment {
                distance_km: 5_250.0,
                quantity: 6.0 * 40.0 + 6.0 * 12.5 - 40.0,
                cost_minor: Some(6 * 4_000 + 6 * 1_250 - 4_000),
            }),
            "{kind:?}"
        );
        s.rebuild_rollups(t.id).await.unwrap();
        assert_eq!(
            s.fuel_stats(t.id, v, Some(from), Some(to)).await.unwrap(),
            fuel,
            "{kind:?}"
        );
    }
}

/// Expenses and service records of one vehicle and month written at once:
/// every write succeeds, and the month's costs count each of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spend_in_one_month_is_all_counted() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "spend-race").await;
        let v = vehicle(s, t.id, "Spent").await;
        let mut writes = tokio::task::JoinSet::new();
        for k in 0..8_i64 {
            let (s, tenant) = (s.clone(), t.id);
            let on = date!(2025 - 03 - 01) + time::Duration::days(k);
            writes.spawn(async move {
                if k % 2 == 0 {
                    let e = expense(v, ExpenseCategory::Tolls, on, 100, "EUR");
                    s.create_expense(tenant, &e, &ctx()).await.map(|_| ())
                } else {
                    let record = service_record(v, on, 1_000, "EUR");
                    s.create_service_record(tenant, &record, MAX, &ctx())
                        .await
                        .map(|_| ())
                }
            });
        }
        all_succeed(writes, kind).await;
        let costs = s
            .costs(t.id, Some(v), date!(2025 - 01 - 01), date!(2025 - 06 - 01))
            .await
            .unwrap();
        let flat: Vec<(String, String, i64)> = costs
            .into_iter()
            .map(|l| (l.month, l.category, l.amount_minor))
            .collect();
        assert_eq!(
            flat,
            vec![
                ("2025-03".to_string(), "service".to_string(), 4_000),
                ("2025-03".to_string(), "tolls".to_string(), 400),
            ],
            "{kind:?}"
        );
    }
}

/// Readings voided and offsets added at once on one vehicle: every
/// correction succeeds, and the monthly distance they leave equals a rebuild
/// from the readings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_meter_corrections_all_succeed() {
    use crate::meters::{reading, record_created};
    use domain::meter::MeterKind;
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "meter-race").await;
        let v = vehicle(s, t.id, "Corrected").await;
        let day = |k: i64| datetime!(2025-02-01 12:00 UTC) + time::Duration::days(3 * k);
        let batch: Vec<_> = (0..20)
            .map(|k| reading(v, day(k), 1_000.0 + 100.0 * k as f64))
            .collect();
        record_created(s, t.id, &batch, "a month of readings").await;
        let ids: Vec<uuid::Uuid> = s
            .list_readings(t.id, v, MeterKind::Odometer, None, 100)
            .await
            .unwrap()
            .items
            .iter()
            .map(|r| r.id)
            .collect();
        let mut writes = tokio::task::JoinSet::new();
        for (n, id) in ids.iter().copied().enumerate().filter(|(n, _)| n % 3 == 1) {
            let (s, tenant) = (s.clone(), t.id);
            writes.spawn(async move {
                s.set_reading_void(tenant, v, id, true, MAX, &ctx())
                    .await
                    .map(|_| n)
            });
        }
        for k in [5_i64, 12] {
            let (s, tenant) = (s.clone(), t.id);
            let offset = NewMeterOffset {
                kind: MeterKind::Odometer,
                effective_at: day(k) + time::Duration::hours(1),
                offset: 0.0,
                reason: format!("re-check {k}"),
            };
            writes.spawn(async move {
                s.add_meter_offset(tenant, v, &offset, &ctx())
                    .await
                    .map(|_| 0)
            });
        }
        all_succeed(writes, kind).await;
        let (from, to) = (date!(2025 - 01 - 01), date!(2025 - 05 - 01));
        let kept = s
            .cost_per_distance(t.id, from, to, None, 10)
            .await
            .unwrap()
            .items;
        s.rebuild_rollups(t.id).await.unwrap();
        let rebuilt = s
            .cost_per_distance(t.id, from, to, None, 10)
            .await
            .unwrap()
            .items;
        assert_eq!(kept, rebuilt, "{kind:?}");
        assert!(!kept.is_empty(), "{kind:?}");
    }
}

/// Schedules of one vehicle created at once leave the vehicle's due watch
/// (the lowest meter value at which a reading can move a state) as creating
/// them one by one does on a twin vehicle.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedules_leave_the_due_watch_whole() {
    use crate::due_watch::{km, task};
    use crate::meters::{reading, record_created};
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "watch-race").await;
        let oil = task(s, t.id, "oil_change").await;
        let mut twins = vec![];
        for name in ["A concurrent", "B sequential"] {
            let v = s
                .create_vehicle(t.id, &spec(name, None, None, "X"), &ctx())
                .await
                .unwrap()
                .id;
            let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
            record_created(s, t.id, &[reading(v, now, 1_000.0)], "odometer").await;
            twins.push(v);
        }
        let new = |every: f64| NewSchedule {
            task_id: oil,
            one_off: false,
            interval: km(every),
            window: km(100.0),
            last_done: None,
        };
        // Thresholds at 1,000 + 2,000 … 7,000 km: the watch is the lowest
        // a reading can reach, whichever schedule's creation commits last.
        let mut writes = tokio::task::JoinSet::new();
        for every in [7_000.0, 6_000.0, 5_000.0, 4_000.0, 3_000.0, 2_000.0] {
            let (s, tenant, v, new) = (s.clone(), t.id, twins[0], new(every));
            writes.spawn(async move { s.create_schedule(tenant, v, &new, &ctx()).await });
        }
        all_succeed(writes, kind).await;
        for every in [7_000.0, 6_000.0, 5_000.0, 4_000.0, 3_000.0, 2_000.0] {
            s.create_schedule(t.id, twins[1], &new(every), &ctx())
                .await
                .unwrap();
        }
        let watches = db
            .owner_texts("SELECT due_watch FROM vehicles ORDER BY name")
            .await;
        assert_eq!(watches.len(), 2, "{kind:?}");
        assert!(watches[1].is_some(), "{kind:?}: {watches:?}");
        assert_eq!(watches[0], watches[1], "{kind:?}");
    }
}
