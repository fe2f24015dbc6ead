//! Telematics sync: pull a connection's provider incrementally from its
//! stored cursor, link the provider's devices to vehicles, ingest what came
//! back through the same telemetry path as the API, and log the run.
//!
//! Two job kinds: [`SCHEDULE_KIND`] runs every minute and enqueues one
//! [`SYNC_KIND`] job per connection that is due (deduplicated per slot, so
//! replicas do not double up); a sync job that fails is retried by the queue
//! with backoff (10 s, 20 s, 40 s …), each attempt with its own sync log.
//!
//! The cursor moves only after the pulled data has committed. A crash in
//! between pulls the same data again next time, which ingestion's
//! idempotency turns into duplicates: nothing is lost, nothing doubled.

mod feed;
mod samsara;
mod traccar;

use std::sync::Arc;
use std::time::Duration;

use domain::fault_code::Origin;
use domain::sealed::Keyring;
use domain::telematics::{Provider, SyncTrigger};
use serde_json::{Value, json};
use store::{
    AuditContext, Connection, ExternalDevice, ItemOutcome, NewJob, Store, SyncFinish, SyncLog,
    TelemetryItem, now_ms,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// The per-minute job that enqueues due syncs.
pub const SCHEDULE_KIND: &str = "telematics_schedule";
/// One connection's sync.
pub const SYNC_KIND: &str = "telematics_sync";
/// Telemetry items per ingest transaction.
const BATCH: usize = 2000;

/// What sync jobs need besides the store.
#[derive(Clone)]
pub struct SyncContext {
    pub keyring: Arc<Keyring>,
    pub http: reqwest::Client,
}

impl SyncContext {
    pub fn new(keyring: Arc<Keyring>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("motorpool/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { keyring, http }
    }
}

/// What a provider returned for one sync.
#[derive(Debug, Default)]
pub(crate) struct Pull {
    /// Devices seen, for linking to vehicles.
    pub devices: Vec<ExternalDevice>,
    /// Items naming their vehicle by `VehicleRef::External`.
    pub items: Vec<TelemetryItem>,
    pub next_cursor: Option<String>,
    /// Items the provider sent that could not be read.
    pub malformed: i32,
}

/// A provider call that failed: the message goes to the sync log and the job queue.
#[derive(Debug)]
pub(crate) struct PullError(pub String);

impl From<reqwest::Error> for PullError {
    fn from(e: reqwest::Error) -> Self {
        PullError(format!("request failed: {e}"))
    }
}

/// Reads a provider response: 2xx JSON, or an error that names the status
/// (401/403: credentials; 429: rate limited, with Retry-After when sent).
pub(crate) async fn json_response(response: reqwest::Response) -> Result<Value, PullError> {
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|e| PullError(format!("the provider sent a body that is not JSON: {e}")));
    }
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(" (retry after {v} s)"))
        .unwrap_or_default();
    let why = match status.as_u16() {
        401 | 403 => "the provider refused the credentials",
        429 => "the provider is rate limiting",
        500..=599 => "the provider failed",
        _ => "the provider refused the request",
    };
    Err(PullError(format!("{why}: HTTP {status}{retry}")))
}

/// The decrypted credentials object (`{}` when there are none).
fn credentials(ctx: &SyncContext, c: &Connection) -> Result<Value, String> {
    let Some(sealed) = &c.credentials else {
        return Ok(json!({}));
    };
    let bytes = ctx
        .keyring
        .open(sealed, c.id.as_bytes())
        .map_err(|e| format!("cannot open the credentials: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("stored credentials are not JSON: {e}"))
}

/// Adds the credentials to a request: `token` as a bearer token, or
/// `user` and `password` as basic authentication.
pub(crate) fn authorize(req: reqwest::RequestBuilder, creds: &Value) -> reqwest::RequestBuilder {
    if let Some(token) = creds.get("token").and_then(Value::as_str) {
        req.bearer_auth(token)
    } else if let Some(user) = creds.get("user").and_then(Value::as_str) {
        req.basic_auth(user, creds.get("password").and_then(Value::as_str))
    } else {
        req
    }
}

/// Runs one sync of a connection now and returns its log.
pub async fn sync(
    store: &Store,
    ctx: &SyncContext,
    tenant: domain::ids::TenantId,
    connection: Uuid,
    trigger: SyncTrigger,
) -> Result<SyncLog, String> {
    let conn = store
        .connection(tenant, connection)
        .await
        .map_err(|e| e.to_string())?;
    let log = store
        .start_sync(tenant, &conn, trigger)
        .await
        .map_err(|e| e.to_string())?;
    let result = pull_and_ingest(store, ctx, &conn).await;
    let finish = match &result {
        Ok(f) => f.clone(),
        Err(message) => SyncFinish {
            failed: true,
            error: Some(message.clone()),
            ..SyncFinish::default()
        },
    };
    let log = store
        .finish_sync(tenant, &log, &finish)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(connection = %conn.id, status = log.status.as_str(), readings = log.readings, faults = log.faults, "telematics sync");
    match result {
        Ok(_) => Ok(log),
        Err(message) => Err(message),
    }
}

async fn pull_and_ingest(
    store: &Store,
    ctx: &SyncContext,
    conn: &Connection,
) -> Result<SyncFinish, String> {
    let creds = credentials(ctx, conn)?;
    let pull = match conn.provider {
        Provider::Traccar => traccar::pull(ctx, conn, &creds).await,
        Provider::Samsara => samsara::pull(ctx, conn, &creds).await,
        Provider::MotorpoolFeed => feed::pull(ctx, conn, &creds).await,
    }
    .map_err(|e| e.0)?;
    let linked = store
        .link_devices(conn.tenant_id, conn.id, &pull.devices)
        .await
        .map_err(|e| e.to_string())?;
    let tenant = store
        .tenant(conn.tenant_id)
        .await
        .map_err(|e| e.to_string())?;
    let max_daily_km = tenant.max_daily_km();
    let mut finish = SyncFinish {
        vehicles: i32::try_from(linked.len()).unwrap_or(i32::MAX),
        cursor_after: pull.next_cursor.clone(),
        rejected: pull.malformed,
        ..SyncFinish::default()
    };
    let audit = AuditContext::system("telematics sync");
    for chunk in pull.items.chunks(BATCH) {
        let outcomes = store
            .ingest_telemetry(conn.tenant_id, chunk, Origin::Sync, max_daily_km, &audit)
            .await
            .map_err(|e| e.to_string())?;
        for (item, outcome) in chunk.iter().zip(outcomes) {
            match (outcome, item) {
                (ItemOutcome::Rejected { .. }, _) => finish.rejected += 1,
                (ItemOutcome::Duplicate, _) => {}
                (_, TelemetryItem::Reading { .. }) => finish.readings += 1,
                (_, _) => finish.faults += 1,
            }
        }
    }
    Ok(finish)
}

/// Enqueues a sync of every due connection (the per-minute job).
pub async fn schedule(store: Store) -> Result<(), String> {
    let now = OffsetDateTime::now_utc();
    let due = store
        .due_connections(now)
        .await
        .map_err(|e| e.to_string())?;
    let slot = now_ms() / 60_000;
    for (tenant, connection) in due {
        enqueue(
            &store,
            tenant,
            connection,
            SyncTrigger::Schedule,
            Some(slot),
        )
        .await?;
    }
    Ok(())
}

/// Enqueues one sync job (deduplicated per minute slot when `slot` is given).
pub async fn enqueue(
    store: &Store,
    tenant: domain::ids::TenantId,
    connection: Uuid,
    trigger: SyncTrigger,
    slot: Option<i64>,
) -> Result<(), String> {
    store
        .enqueue_job(&NewJob {
            kind: SYNC_KIND.into(),
            payload: json!({"tenant_id": tenant, "connection_id": connection, "trigger": trigger.as_str()}),
            run_at_ms: now_ms(),
            dedup_key: slot.map(|s| format!("{SYNC_KIND}:{connection}@{s}")),
            max_attempts: 5,
        })
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The sync job's handler.
pub async fn run(store: Store, ctx: SyncContext, payload: Value) -> Result<(), String> {
    let field = |name: &str| {
        payload
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("payload has no {name}"))
    };
    let tenant: domain::ids::TenantId = field("tenant_id")?
        .parse()
        .map_err(|_| "bad tenant_id".to_string())?;
    let connection: Uuid = field("connection_id")?
        .parse()
        .map_err(|_| "bad connection_id".to_string())?;
    let trigger = field("trigger")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(SyncTrigger::Schedule);
    sync(&store, &ctx, tenant, connection, trigger)
        .await
        .map(drop)
}
