//! Sync logs: one row per sync run of a telematics connection (status,
//! counts, error, duration, cursors), and moving the connection's cursor and
//! next due time when a run ends.

use std::str::FromStr;

use domain::ids::TenantId;
use domain::telematics::{SyncStatus, SyncTrigger};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::page::{Page, decode_cursor, page_limit};
use crate::telematics::Connection;
use crate::{Mode, Store, StoreError, execute_tx, on_tx};

/// One sync run, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncLog {
    pub id: Uuid,
    pub connection_id: Uuid,
    pub trigger: SyncTrigger,
    pub status: SyncStatus,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub duration_ms: Option<i64>,
    pub vehicles: i32,
    pub readings: i32,
    pub faults: i32,
    pub rejected: i32,
    pub error: Option<String>,
    pub cursor_before: Option<String>,
    pub cursor_after: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SyncLogRow {
    id: Uuid,
    connection_id: Uuid,
    trigger: String,
    status: String,
    started_at: OffsetDateTime,
    finished_at: Option<OffsetDateTime>,
    duration_ms: Option<i64>,
    vehicles: i32,
    readings: i32,
    faults: i32,
    rejected: i32,
    error: Option<String>,
    cursor_before: Option<String>,
    cursor_after: Option<String>,
}

const SYNC_COLUMNS: &str =
    "id, connection_id, trigger, status, started_at, finished_at, duration_ms,
    vehicles, readings, faults, rejected, error, cursor_before, cursor_after";

impl TryFrom<SyncLogRow> for SyncLog {
    type Error = StoreError;
    fn try_from(r: SyncLogRow) -> Result<Self, StoreError> {
        Ok(SyncLog {
            id: r.id,
            connection_id: r.connection_id,
            trigger: SyncTrigger::from_str(&r.trigger).map_err(StoreError::Corrupt)?,
            status: SyncStatus::from_str(&r.status).map_err(StoreError::Corrupt)?,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms,
            vehicles: r.vehicles,
            readings: r.readings,
            faults: r.faults,
            rejected: r.rejected,
            error: r.error,
            cursor_before: r.cursor_before,
            cursor_after: r.cursor_after,
        })
    }
}

/// How a sync ended.
#[derive(Debug, Clone, Default)]
pub struct SyncFinish {
    pub failed: bool,
    pub vehicles: i32,
    pub readings: i32,
    pub faults: i32,
    pub rejected: i32,
    pub error: Option<String>,
    /// The cursor to resume from next time (`None`: keep the old one).
    pub cursor_after: Option<String>,
}

impl Store {
    /// Opens a sync log (`in_progress`) and returns it.
    pub async fn start_sync(
        &self,
        tenant: TenantId,
        connection: &Connection,
        trigger: SyncTrigger,
    ) -> Result<SyncLog, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let row: SyncLogRow = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO telematics_sync_logs (tenant_id, id, connection_id, trigger, status, started_at, cursor_before)
             VALUES ($1, $2, $3, $4, 'in_progress', $5, $6) RETURNING {SYNC_COLUMNS}"
        )))
        .bind(tenant.as_uuid())
        .bind(Uuid::now_v7())
        .bind(connection.id)
        .bind(trigger.as_str())
        .bind(OffsetDateTime::now_utc())
        .bind(connection.cursor.as_deref())
        .fetch_one(c)
        .await)
        .ctx("starting a sync log")?;
        tx.commit().await?;
        SyncLog::try_from(row)
    }

    /// Closes a sync log and moves the connection on: its cursor (when the
    /// sync produced one), last status, and next due time.
    pub async fn finish_sync(
        &self,
        tenant: TenantId,
        log: &SyncLog,
        finish: &SyncFinish,
    ) -> Result<SyncLog, StoreError> {
        let now = OffsetDateTime::now_utc();
        let status = if finish.failed {
            SyncStatus::Failed
        } else if finish.rejected > 0 {
            SyncStatus::Partial
        } else {
            SyncStatus::Completed
        };
        let duration = i64::try_from((now - log.started_at).whole_milliseconds()).unwrap_or(0);
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let interval: i32 = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT sync_interval_minutes FROM telematics_connections WHERE tenant_id = $1 AND id = $2"
        )
        .bind(tenant.as_uuid())
        .bind(log.connection_id)
        .fetch_one(c)
        .await)
        .ctx("loading a connection's interval")?;
        let row: SyncLogRow = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE telematics_sync_logs SET status = $3, finished_at = $4, duration_ms = $5, vehicles = $6,
                 readings = $7, faults = $8, rejected = $9, error = $10, cursor_after = $11
             WHERE tenant_id = $1 AND id = $2 RETURNING {SYNC_COLUMNS}"
        )))
        .bind(tenant.as_uuid())
        .bind(log.id)
        .bind(status.as_str())
        .bind(now)
        .bind(duration.max(0))
        .bind(finish.vehicles)
        .bind(finish.readings)
        .bind(finish.faults)
        .bind(finish.rejected)
        .bind(finish.error.as_deref())
        .bind(finish.cursor_after.as_deref().or(log.cursor_before.as_deref()))
        .fetch_one(c)
        .await)
        .ctx("finishing a sync log")?;
        execute_tx!(
            &mut tx,
            sqlx::query(
                "UPDATE telematics_connections SET cursor = COALESCE($3, cursor), last_sync_at = $4, last_status = $5,
                     next_sync_at = $6
                 WHERE tenant_id = $1 AND id = $2"
            )
            .bind(tenant.as_uuid())
            .bind(log.connection_id)
            .bind(finish.cursor_after.as_deref())
            .bind(now)
            .bind(status.as_str())
            .bind(now + time::Duration::minutes(i64::from(interval)))
        )
        .ctx("moving a connection's cursor")?;
        tx.commit().await?;
        SyncLog::try_from(row)
    }

    /// A connection's sync logs, newest first.
    pub async fn list_sync_logs(
        &self,
        tenant: TenantId,
        connection: Uuid,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<SyncLog>, StoreError> {
        let after: Option<Uuid> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let rows: Vec<SyncLogRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SYNC_COLUMNS} FROM telematics_sync_logs
             WHERE tenant_id = $1 AND connection_id = $2 AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
            )))
            .bind(tenant.as_uuid())
            .bind(connection)
            .bind(after)
            .bind(limit + 1)
            .fetch_all(c)
            .await)
            .ctx("listing sync logs")?;
        let items = rows
            .into_iter()
            .map(SyncLog::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |l| l.id))
    }
}
