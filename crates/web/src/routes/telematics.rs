//! Telematics connections (admins), their sync logs, a manual sync, and
//! each connection's signed webhook.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use domain::fault_code::Origin;
use domain::ids::TenantId;
use domain::telematics::{Provider, SyncStatus, SyncTrigger};
use domain::tenancy::{Role, parse_display_text};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use store::{AuditContext, Connection, ConnectionPatch, NewConnection, SyncLog};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::present;
use crate::extract::{ApiJson, ApiQuery, check_limit};
use crate::openapi::{ReadErrors, WriteErrors};
use crate::routes::telemetry::{TelemetryBatch, TelemetryResult, ingest_batch};
use domain::telemetry::Door;

/// A connection as the API shows it: never its credentials or webhook secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    pub id: Uuid,
    pub name: String,
    pub provider: Provider,
    pub base_url: String,
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    /// Whether credentials are stored (they are never returned).
    pub has_credentials: bool,
    pub sync_interval_minutes: i32,
    pub enabled: bool,
    /// Where the next incremental pull starts.
    pub cursor: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sync_at: Option<OffsetDateTime>,
    pub last_status: Option<SyncStatus>,
    #[serde(with = "time::serde::rfc3339")]
    pub next_sync_at: OffsetDateTime,
    /// Where the provider (or any system) can push signed telemetry.
    pub webhook_url: String,
}

/// A new connection, with its webhook secret (shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedConnection {
    #[serde(flatten)]
    pub connection: ConnectionView,
    /// HMAC-SHA256 key for the webhook: store it now, it is not shown again.
    pub webhook_secret: String,
}

fn view(state: &AppState, c: Connection) -> ConnectionView {
    ConnectionView {
        webhook_url: format!(
            "{}/api/v1/telematics/webhooks/{}/{}",
            state.settings.base_url, c.tenant_id, c.id
        ),
        id: c.id,
        name: c.name,
        provider: c.provider,
        base_url: c.base_url,
        settings: c.settings,
        has_credentials: c.credentials.is_some(),
        sync_interval_minutes: c.sync_interval_minutes,
        enabled: c.enabled,
        cursor: c.cursor,
        last_sync_at: c.last_sync_at,
        last_status: c.last_status,
        next_sync_at: c.next_sync_at,
    }
}

/// A connection to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionCreate {
    pub name: String,
    pub provider: Provider,
    /// The provider's API root, `http://` or `https://`.
    pub base_url: String,
    /// Provider settings (Traccar: `initial_days`, `sample_minutes`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    /// `{"token": "…"}` (bearer) or `{"user": "…", "password": "…"}` (basic);
    /// encrypted at rest, never returned.
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Map<String, Value>>,
    /// 1–1,440 (default 15).
    pub sync_interval_minutes: Option<i32>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Changes to a connection: absent fields stay; `"credentials": null` removes them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionUpdate {
    pub name: Option<String>,
    pub base_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Option<Map<String, Value>>>,
    pub sync_interval_minutes: Option<i32>,
    pub enabled: Option<bool>,
}

/// One page of connections.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionPage {
    pub items: Vec<ConnectionView>,
    pub next_cursor: Option<String>,
}

/// One sync run.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncLogView {
    pub id: Uuid,
    pub trigger: SyncTrigger,
    pub status: SyncStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub duration_ms: Option<i64>,
    /// Provider devices linked to vehicles.
    pub vehicles: i32,
    /// New readings and fault items (repeats are not counted).
    pub readings: i32,
    pub faults: i32,
    pub rejected: i32,
    pub error: Option<String>,
    pub cursor_before: Option<String>,
    pub cursor_after: Option<String>,
}

impl From<SyncLog> for SyncLogView {
    fn from(l: SyncLog) -> Self {
        Self {
            id: l.id,
            trigger: l.trigger,
            status: l.status,
            started_at: l.started_at,
            finished_at: l.finished_at,
            duration_ms: l.duration_ms,
            vehicles: l.vehicles,
            readings: l.readings,
            faults: l.faults,
            rejected: l.rejected,
            error: l.error,
            cursor_before: l.cursor_before,
            cursor_after: l.cursor_after,
        }
    }
}

/// One page of sync logs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncLogPage {
    pub items: Vec<SyncLogView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

/// A manual sync was queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncQueued {
    pub queued: bool,
}

fn check_url(field: &str, url: &str) -> Result<String, ApiError> {
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 500 {
        return Err(ApiError::field(
            field,
            "must be an http:// or https:// URL (up to 500 characters)",
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn check_interval(minutes: i32) -> Result<i32, ApiError> {
    if (1..=1440).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(ApiError::field(
            "sync_interval_minutes",
            "must be 1 to 1440",
        ))
    }
}

fn seal_credentials(
    state: &AppState,
    id: Uuid,
    creds: &Map<String, Value>,
) -> Result<domain::sealed::Sealed, ApiError> {
    let bytes = serde_json::to_vec(creds).map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .keyring
        .seal(&bytes, id.as_bytes())
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// Creates a telematics connection (admins). The answer holds the webhook
/// secret, once; credentials are encrypted and never shown again.
#[utoipa::path(
    post, path = "/api/v1/telematics/connections", tag = "telematics",
    request_body = ConnectionCreate,
    responses((status = 201, body = CreatedConnection), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_connection(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ConnectionCreate>,
) -> Result<(StatusCode, Json<CreatedConnection>), ApiError> {
    principal.require(Role::Admin)?;
    let name = parse_display_text(&body.name, 100).map_err(|m| ApiError::field("name", m))?;
    let base_url = check_url("base_url", &body.base_url)?;
    let interval = check_interval(body.sync_interval_minutes.unwrap_or(15))?;
    let id = Uuid::now_v7();
    let credentials = body
        .credentials
        .as_ref()
        .map(|c| seal_credentials(&state, id, c))
        .transpose()?;
    let secret =
        domain::credentials::SecretToken::generate(domain::credentials::TokenKind::Webhook)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    let secret_text = secret.expose().to_string();
    let webhook_secret = state
        .keyring
        .seal(secret_text.as_bytes(), id.as_bytes())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let created = state
        .store
        .create_connection(
            principal.tenant_id,
            &NewConnection {
                id,
                name,
                provider: body.provider,
                base_url,
                settings: body.settings,
                credentials,
                webhook_secret,
                sync_interval_minutes: interval,
                enabled: body.enabled.unwrap_or(true),
            },
            &principal.audit(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedConnection {
            connection: view(&state, created),
            webhook_secret: secret_text,
        }),
    ))
}

/// The tenant's telematics connections (admins).
#[utoipa::path(
    get, path = "/api/v1/telematics/connections", tag = "telematics",
    params(PageQuery),
    responses((status = 200, body = ConnectionPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_connections(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ConnectionPage>, ApiError> {
    principal.require(Role::Admin)?;
    let limit = check_limit(q.limit)?;
    let page = state
        .store
        .list_connections(principal.tenant_id, q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(ConnectionPage {
        items: page.items.into_iter().map(|c| view(&state, c)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One connection (admins).
#[utoipa::path(
    get, path = "/api/v1/telematics/connections/{id}", tag = "telematics",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ConnectionView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    principal.require(Role::Admin)?;
    let c = state
        .store
        .connection(principal.tenant_id, parse_id(&id)?)
        .await?;
    Ok(Json(view(&state, c)))
}

/// Changes a connection (admins). New credentials are sealed with the current key.
#[utoipa::path(
    patch, path = "/api/v1/telematics/connections/{id}", tag = "telematics",
    params(("id" = Uuid, Path)),
    request_body = ConnectionUpdate,
    responses((status = 200, body = ConnectionView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConnectionUpdate>,
) -> Result<Json<ConnectionView>, ApiError> {
    principal.require(Role::Admin)?;
    let id = parse_id(&id)?;
    let patch = ConnectionPatch {
        name: body
            .name
            .as_deref()
            .map(|n| parse_display_text(n, 100).map_err(|m| ApiError::field("name", m)))
            .transpose()?,
        base_url: body
            .base_url
            .as_deref()
            .map(|u| check_url("base_url", u))
            .transpose()?,
        settings: body.settings,
        credentials: match body.credentials {
            None => None,
            Some(None) => Some(None),
            Some(Some(c)) => Some(Some(seal_credentials(&state, id, &c)?)),
        },
        sync_interval_minutes: body.sync_interval_minutes.map(check_interval).transpose()?,
        enabled: body.enabled,
    };
    let c = state
        .store
        .update_connection(principal.tenant_id, id, &patch, &principal.audit())
        .await?;
    Ok(Json(view(&state, c)))
}

/// Deletes a connection (admins): syncing and its webhook stop; what it
/// brought in stays.
#[utoipa::path(
    delete, path = "/api/v1/telematics/connections/{id}", tag = "telematics",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    state
        .store
        .delete_connection(principal.tenant_id, parse_id(&id)?, &principal.audit())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a sync of the connection now (admins); see its sync logs for the outcome.
#[utoipa::path(
    post, path = "/api/v1/telematics/connections/{id}/sync", tag = "telematics",
    params(("id" = Uuid, Path)),
    responses((status = 202, body = SyncQueued), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn sync_now(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SyncQueued>), ApiError> {
    principal.require(Role::Admin)?;
    let c = state
        .store
        .connection(principal.tenant_id, parse_id(&id)?)
        .await?;
    jobs::telematics::enqueue(
        &state.store,
        principal.tenant_id,
        c.id,
        SyncTrigger::Manual,
        None,
    )
    .await
    .map_err(ApiError::Internal)?;
    Ok((StatusCode::ACCEPTED, Json(SyncQueued { queued: true })))
}

/// A connection's sync logs, newest first (admins).
#[utoipa::path(
    get, path = "/api/v1/telematics/connections/{id}/sync-logs", tag = "telematics",
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = SyncLogPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_sync_logs(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<SyncLogPage>, ApiError> {
    principal.require(Role::Admin)?;
    let limit = check_limit(q.limit)?;
    let c = state
        .store
        .connection(principal.tenant_id, parse_id(&id)?)
        .await?;
    let page = state
        .store
        .list_sync_logs(principal.tenant_id, c.id, q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(SyncLogPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Receives signed telemetry for a connection: the body of
/// `POST /api/v1/telemetry`, where items may also name their vehicle by
/// `external_id` (the provider's device id, linked by the connection).
/// Authenticated by `X-Motorpool-Timestamp` (unix seconds) and
/// `X-Motorpool-Signature: sha256=<hex of HMAC-SHA256(secret, "{timestamp}.{body}")>`;
/// requests more than five minutes old are refused (no replays).
#[utoipa::path(
    post, path = "/api/v1/telematics/webhooks/{tenant_id}/{connection_id}", tag = "telematics",
    params(("tenant_id" = Uuid, Path), ("connection_id" = Uuid, Path)),
    request_body = TelemetryBatch,
    responses((status = 200, body = TelemetryResult), (status = 401, description = "Bad or stale signature"), WriteErrors)
)]
#[tracing::instrument(skip_all)]
pub async fn webhook(
    State(state): State<AppState>,
    Path((tenant_id, connection_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TelemetryResult>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Unsigned requests are refused before any lookup.
    if header("x-motorpool-timestamp").is_none() || header("x-motorpool-signature").is_none() {
        return Err(ApiError::BadSignature(
            "send X-Motorpool-Timestamp and X-Motorpool-Signature".into(),
        ));
    }
    let tenant: TenantId = tenant_id.parse().map_err(|_| ApiError::NotFound)?;
    let connection = state
        .store
        .connection(tenant, parse_id(&connection_id)?)
        .await?;
    if !connection.enabled {
        return Err(ApiError::NotFound);
    }
    let secret = state
        .keyring
        .open(&connection.webhook_secret, connection.id.as_bytes())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    domain::webhook::verify(
        &secret,
        header("x-motorpool-timestamp"),
        header("x-motorpool-signature"),
        &body,
        OffsetDateTime::now_utc().unix_timestamp(),
    )
    .map_err(|e| ApiError::BadSignature(e.to_string()))?;
    let batch: TelemetryBatch =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            field: None,
            message: format!("the body is not a telemetry batch: {e}"),
        })?;
    let max = state.store.tenant(tenant).await?.max_daily_km();
    let audit = AuditContext::system(format!("telematics webhook {}", connection.name));
    ingest_batch(
        &state,
        tenant,
        batch.items,
        Door {
            connection: Some(connection.id),
        },
        Origin::Webhook,
        max,
        &audit,
    )
    .await
    .map(Json)
}
