//! The job queue on both backends: runs, retries with backoff, dies after
//! the last attempt, dedups periodic slots, and recovers expired leases.

// Helpers panic on setup failure: that is how a test should fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use motorpool_jobs::{Runner, housekeeping};

#[path = "queue/telematics.rs"]
mod telematics;
use serde_json::json;
use store::testing::TestDatabase;
use store::{NewJob, now_ms};

fn job(kind: &str, max_attempts: i32) -> NewJob {
    NewJob {
        kind: kind.into(),
        payload: json!({"n": 1}),
        run_at_ms: now_ms(),
        dedup_key: None,
        max_attempts,
    }
}

#[tokio::test]
async fn jobs_run_retry_and_die() {
    for db in TestDatabase::all().await {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let runner = Runner::new(db.store.clone())
            .handle("ok", |_, payload: serde_json::Value| async move {
                assert_eq!(payload["n"], 1);
                Ok(())
            })
            .handle("flaky", move |_, _| {
                let seen = seen.clone();
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    Err("provider said 503".to_string())
                }
            });
        assert!(db.store.enqueue_job(&job("ok", 3)).await.unwrap());
        assert!(runner.run_one().await.unwrap());
        assert_eq!(runner.stats().outcome("ok", "succeeded"), 1);
        assert!(
            !runner.run_one().await.unwrap(),
            "{:?}: queue should be empty",
            db.kind
        );

        assert!(db.store.enqueue_job(&job("flaky", 2)).await.unwrap());
        assert!(runner.run_one().await.unwrap());
        // Retried later, not now: backoff moved run_at into the future.
        assert!(!runner.run_one().await.unwrap());
        assert_eq!(runner.stats().outcome("flaky", "retried"), 1);
        let counts = db.store.job_counts().await.unwrap();
        assert!(counts.contains(&("queued".to_string(), 1)), "{counts:?}");

        // Unknown kinds fail too (a newer replica may have enqueued them).
        db.store.enqueue_job(&job("mystery", 1)).await.unwrap();
        assert!(runner.run_one().await.unwrap());
        assert_eq!(runner.stats().outcome("mystery", "dead"), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn periodic_slots_are_enqueued_once_across_replicas() {
    for db in TestDatabase::all().await {
        let a = Runner::new(db.store.clone())
            .every("tick", Duration::from_secs(3600))
            .handle("tick", |_, _| async { Ok(()) });
        let b = Runner::new(db.store.clone())
            .every("tick", Duration::from_secs(3600))
            .handle("tick", |_, _| async { Ok(()) });
        a.schedule_periodic().await.unwrap();
        b.schedule_periodic().await.unwrap();
        a.schedule_periodic().await.unwrap();
        let ran = u32::from(a.run_one().await.unwrap()) + u32::from(b.run_one().await.unwrap());
        assert_eq!(ran, 1, "{:?}: one slot, one run", db.kind);
    }
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    for db in TestDatabase::all().await {
        db.store.enqueue_job(&job("slow", 3)).await.unwrap();
        // A worker leases it for 1 ms and "dies".
        let leased = db.store.lease_job("dead-worker", 1).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let runner = Runner::new(db.store.clone()).handle("slow", |_, _| async { Ok(()) });
        assert!(runner.run_one().await.unwrap());
        let (state, attempts, _) = db.store.job_state(leased.id).await.unwrap();
        assert_eq!(
            (state.as_str(), attempts),
            ("succeeded", 2),
            "{:?}",
            db.kind
        );
        // The dead worker's late completion is ignored.
        assert!(
            !db.store
                .complete_job(leased.id, "dead-worker")
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn housekeeping_runs_on_both_backends() {
    for db in TestDatabase::all().await {
        let runner = Runner::new(db.store.clone()).handle(housekeeping::KIND, housekeeping::run);
        db.store
            .enqueue_job(&job(housekeeping::KIND, 3))
            .await
            .unwrap();
        assert!(runner.run_one().await.unwrap());
        assert_eq!(
            runner.stats().outcome(housekeeping::KIND, "succeeded"),
            1,
            "{:?}",
            db.kind
        );
        let mut text = String::new();
        runner.stats().render_prometheus(&mut text);
        assert!(
            text.contains("motorpool_jobs_total{kind=\"housekeeping\",outcome=\"succeeded\"} 1")
        );
    }
}

#[tokio::test]
async fn the_maintenance_refresh_runs_on_both_backends() {
    for db in TestDatabase::all().await {
        let runner = Runner::new(db.store.clone()).handle(
            motorpool_jobs::maintenance::KIND,
            motorpool_jobs::maintenance::run,
        );
        db.store
            .enqueue_job(&job(motorpool_jobs::maintenance::KIND, 3))
            .await
            .unwrap();
        assert!(runner.run_one().await.unwrap());
        assert_eq!(
            runner
                .stats()
                .outcome(motorpool_jobs::maintenance::KIND, "succeeded"),
            1,
            "{:?}",
            db.kind
        );
    }
}
