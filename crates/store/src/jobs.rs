//! The job queue's storage: enqueue with an optional dedup key, lease the
//! next due job (skipping ones another worker holds), finish or fail it.
//!
//! A lease expires: a job whose worker died is picked up again after
//! `lease_until`, counting as another attempt. PostgreSQL leases with
//! `FOR UPDATE SKIP LOCKED` so workers never wait on each other; SQLite
//! serialises writers with `BEGIN IMMEDIATE`, which gives the same outcome.

use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::{BackendKind, Mode, Store, StoreError, execute_tx, on_tx};

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    /// Unix milliseconds; the job is not run before.
    pub run_at_ms: i64,
    /// At most one job with this key ever exists (periodic slots use it).
    pub dedup_key: Option<String>,
    pub max_attempts: i32,
}

/// A leased job.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub payload: Json<Value>,
    /// Including this one.
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Store {
    /// Enqueues a job; returns `false` when its dedup key already exists.
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<bool, StoreError> {
        let mut tx = self.begin(Mode::Write, None).await?;
        let n = execute_tx!(&mut tx, sqlx::query(
            "INSERT INTO jobs (id, kind, payload, state, max_attempts, run_at, dedup_key, created_at)
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7) ON CONFLICT (dedup_key) DO NOTHING"
        )
        .bind(Uuid::now_v7())
        .bind(&job.kind)
        .bind(Json(&job.payload))
        .bind(job.max_attempts)
        .bind(job.run_at_ms)
        .bind(job.dedup_key.as_deref())
        .bind(now_ms()))
        .ctx("enqueueing a job")?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Leases the next due job (or one whose lease expired) for `lease_ms`.
    pub async fn lease_job(&self, worker: &str, lease_ms: i64) -> Result<Option<Job>, StoreError> {
        let now = now_ms();
        let skip_locked = if self.kind() == BackendKind::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $2, locked_by = $3
             WHERE id = (SELECT id FROM jobs
                         WHERE (state = 'queued' AND run_at <= $1) OR (state = 'running' AND lease_until < $1)
                         ORDER BY run_at, id LIMIT 1{skip_locked})
             RETURNING id, kind, payload, attempts, max_attempts"
        );
        let mut tx = self.begin(Mode::Write, None).await?;
        let job: Option<Job> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(now)
        .bind(now + lease_ms)
        .bind(worker)
        .fetch_optional(c)
        .await)
        .ctx("leasing a job")?;
        tx.commit().await?;
        Ok(job)
    }

    /// Marks a leased job done. `false` if the lease was lost meanwhile.
    pub async fn complete_job(&self, id: Uuid, worker: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin(Mode::Write, None).await?;
        let n = execute_tx!(
            &mut tx,
            sqlx::query(
                "UPDATE jobs SET state = 'succeeded', finished_at = $3, lease_until = NULL
             WHERE id = $1 AND locked_by = $2 AND state = 'running'"
            )
            .bind(id)
            .bind(worker)
            .bind(now_ms())
        )
        .ctx("completing a job")?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Records a failure: queued again at `retry_at_ms`, or dead (kept for
    /// inspection, never retried) when that is `None`.
    pub async fn fail_job(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, None).await?;
        execute_tx!(
            &mut tx,
            sqlx::query(
                "UPDATE jobs SET state = CASE WHEN $4 IS NULL THEN 'dead' ELSE 'queued' END,
                 run_at = COALESCE($4, run_at), last_error = $3, lease_until = NULL,
                 finished_at = CASE WHEN $4 IS NULL THEN $5 ELSE NULL END
             WHERE id = $1 AND locked_by = $2 AND state = 'running'"
            )
            .bind(id)
            .bind(worker)
            .bind(error)
            .bind(retry_at_ms)
            .bind(now_ms())
        )
        .ctx("failing a job")?;
        tx.commit().await
    }

    /// How many jobs are in each state.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut tx = self.begin(Mode::Read, None).await?;
        on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state"
        )
        .fetch_all(c)
        .await)
        .ctx("counting jobs")
    }

    /// The state and last error of one job (for tests and the CLI).
    pub async fn job_state(&self, id: Uuid) -> Result<(String, i32, Option<String>), StoreError> {
        let mut tx = self.begin(Mode::Read, None).await?;
        let row: Option<(String, i32, Option<String>)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT state, attempts, last_error FROM jobs WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)
        .ctx("reading a job")?;
        row.ok_or(StoreError::NotFound)
    }

    /// Deletes succeeded jobs finished before `before_ms`; dead ones are kept.
    pub async fn purge_finished_jobs(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin(Mode::Write, None).await?;
        let n = execute_tx!(
            &mut tx,
            sqlx::query("DELETE FROM jobs WHERE state = 'succeeded' AND finished_at < $1")
                .bind(before_ms)
        )
        .ctx("purging finished jobs")?;
        tx.commit().await?;
        Ok(n)
    }
}
