//! Motorpool's background work: a [`Runner`] that leases jobs from the
//! database queue, runs their handlers, retries failures with exponential
//! backoff and buries a job as `dead` after its last attempt.
//!
//! Periodic work is scheduled by enqueueing the current time slot's job with
//! a dedup key (`kind@slot`): every replica tries, the database keeps one,
//! so a periodic job runs once per slot however many servers there are.

pub mod housekeeping;
pub mod maintenance;
pub mod telematics;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use store::{NewJob, Store, StoreError, now_ms};
use tokio::sync::watch;

/// What a handler returns: `Err` with a message to retry (or bury) the job.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Runs one kind of job.
pub trait Handler: Send + Sync {
    fn run(&self, store: Store, payload: Value) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(Store, Value) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    fn run(&self, store: Store, payload: Value) -> HandlerFuture {
        Box::pin(self(store, payload))
    }
}

/// Delay before retry number `attempt` (1-based): 10 s, 20 s, 40 s … capped at an hour.
pub fn backoff(attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(12);
    Duration::from_secs((10u64 << exp).min(3600))
}

/// Counters of what this process's runner did, for `/metrics`.
#[derive(Default)]
pub struct JobStats {
    outcomes: Mutex<BTreeMap<(String, &'static str), u64>>,
    queue: Mutex<Vec<(String, i64)>>,
}

impl JobStats {
    fn count(&self, kind: &str, outcome: &'static str) {
        if let Ok(mut m) = self.outcomes.lock() {
            *m.entry((kind.to_string(), outcome)).or_default() += 1;
        }
    }

    /// How many runs of `kind` ended with `outcome` (`succeeded`, `retried`, `dead`).
    pub fn outcome(&self, kind: &str, outcome: &str) -> u64 {
        self.outcomes
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|((k, o), _)| k == kind && *o == outcome)
                    .map(|(_, n)| *n)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Appends the job metrics in Prometheus text format.
    pub fn render_prometheus(&self, out: &mut String) {
        out.push_str("# HELP motorpool_jobs_total Jobs this process ran, by kind and outcome.\n");
        out.push_str("# TYPE motorpool_jobs_total counter\n");
        if let Ok(m) = self.outcomes.lock() {
            for ((kind, outcome), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "motorpool_jobs_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP motorpool_jobs Jobs in the queue by state (all replicas).\n");
        out.push_str("# TYPE motorpool_jobs gauge\n");
        if let Ok(q) = self.queue.lock() {
            for (state, n) in q.iter() {
                let _ = writeln!(out, "motorpool_jobs{{state=\"{state}\"}} {n}");
            }
        }
    }
}

struct Periodic {
    kind: String,
    every: Duration,
}

/// Leases and runs jobs until told to stop.
pub struct Runner {
    store: Store,
    worker: String,
    handlers: HashMap<String, Arc<dyn Handler>>,
    periodic: Vec<Periodic>,
    poll: Duration,
    lease: Duration,
    max_attempts: i32,
    stats: Arc<JobStats>,
}

impl Runner {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            worker: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple()),
            handlers: HashMap::new(),
            periodic: Vec::new(),
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(300),
            max_attempts: 5,
            stats: Arc::default(),
        }
    }

    /// Registers the handler of `kind`.
    pub fn handle(mut self, kind: &str, handler: impl Handler + 'static) -> Self {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    /// Runs `kind` once per `every` (across all replicas).
    pub fn every(mut self, kind: &str, every: Duration) -> Self {
        self.periodic.push(Periodic {
            kind: kind.to_string(),
            every,
        });
        self
    }

    /// How long to sleep when the queue is empty.
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    pub fn stats(&self) -> Arc<JobStats> {
        self.stats.clone()
    }

    /// Enqueues the current slot of every periodic job (a no-op for slots
    /// already enqueued by this or another replica).
    pub async fn schedule_periodic(&self) -> Result<(), StoreError> {
        let now = now_ms();
        for p in &self.periodic {
            let every = i64::try_from(p.every.as_millis())
                .unwrap_or(i64::MAX)
                .max(1);
            let slot = now / every;
            self.store
                .enqueue_job(&NewJob {
                    kind: p.kind.clone(),
                    payload: Value::Object(Default::default()),
                    run_at_ms: slot * every,
                    dedup_key: Some(format!("{}@{slot}", p.kind)),
                    max_attempts: self.max_attempts,
                })
                .await?;
        }
        Ok(())
    }

    /// Leases and runs one job. Returns whether there was one.
    pub async fn run_one(&self) -> Result<bool, StoreError> {
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let Some(job) = self.store.lease_job(&self.worker, lease_ms).await? else {
            return Ok(false);
        };
        let span =
            tracing::info_span!("job", kind = %job.kind, id = %job.id, attempt = job.attempts);
        let _enter = span.enter();
        if job.attempts > job.max_attempts {
            // Its last worker died mid-run on the final attempt.
            self.store
                .fail_job(
                    job.id,
                    &self.worker,
                    "lease expired on the last attempt",
                    None,
                )
                .await?;
            self.stats.count(&job.kind, "dead");
            return Ok(true);
        }
        let result = match self.handlers.get(&job.kind) {
            Some(handler) => {
                let fut = handler.run(self.store.clone(), job.payload.0.clone());
                match tokio::spawn(fut).await {
                    Ok(r) => r,
                    Err(e) => Err(format!("handler panicked: {e}")),
                }
            }
            None => Err(format!(
                "no handler for job kind `{}` in this binary",
                job.kind
            )),
        };
        match result {
            Ok(()) => {
                self.store.complete_job(job.id, &self.worker).await?;
                self.stats.count(&job.kind, "succeeded");
            }
            Err(error) if job.attempts < job.max_attempts => {
                let retry_at = now_ms()
                    + i64::try_from(backoff(job.attempts).as_millis()).unwrap_or(3_600_000);
                tracing::warn!(%error, "job failed; will retry");
                self.store
                    .fail_job(job.id, &self.worker, &error, Some(retry_at))
                    .await?;
                self.stats.count(&job.kind, "retried");
            }
            Err(error) => {
                tracing::error!(%error, "job failed on its last attempt; it is dead");
                self.store
                    .fail_job(job.id, &self.worker, &error, None)
                    .await?;
                self.stats.count(&job.kind, "dead");
            }
        }
        Ok(true)
    }

    /// Runs until `shutdown` turns true, finishing the job in hand first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.worker, "job runner started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.schedule_periodic().await {
                tracing::error!(error = %e, "scheduling periodic jobs");
            }
            let ran = match self.run_one().await {
                Ok(ran) => ran,
                Err(e) => {
                    tracing::error!(error = %e, "running a job");
                    false
                }
            };
            if let Ok(counts) = self.store.job_counts().await
                && let Ok(mut q) = self.stats.queue.lock()
            {
                *q = counts;
            }
            if !ran {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        tracing::info!("job runner stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(4), Duration::from_secs(80));
        assert_eq!(backoff(30), Duration::from_secs(3600));
        assert_eq!(backoff(0), Duration::from_secs(10));
    }
}
