//! Telematics connections, the provider device ids mapped to vehicles, and
//! sync logs.
//!
//! Secrets (credentials, the webhook secret) arrive here already sealed by
//! the server's keyring ([`domain::sealed`]); the store keeps the key id,
//! nonce and ciphertext and never sees plaintext.

use std::collections::HashMap;
use std::str::FromStr;

use domain::ids::{TenantId, VehicleId};
use domain::sealed::Sealed;
use domain::telematics::{Provider, SyncStatus};
use domain::vin::Vin;
use serde_json::{Map, Value, json};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::page::{Page, decode_cursor, page_limit};
use crate::{AuditContext, Mode, Store, StoreError, execute_tx, on_tx};

/// A connection to create. The id is chosen by the caller, because the
/// sealed secrets are bound to it.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub id: Uuid,
    pub name: String,
    pub provider: Provider,
    pub base_url: String,
    /// Non-secret provider settings.
    pub settings: Map<String, Value>,
    pub credentials: Option<Sealed>,
    pub webhook_secret: Sealed,
    pub sync_interval_minutes: i32,
    pub enabled: bool,
}

/// Changes to a connection; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ConnectionPatch {
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub settings: Option<Map<String, Value>>,
    /// `Some(None)` removes the credentials.
    pub credentials: Option<Option<Sealed>>,
    pub sync_interval_minutes: Option<i32>,
    pub enabled: Option<bool>,
}

/// A stored connection.
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: String,
    pub provider: Provider,
    pub base_url: String,
    pub settings: Map<String, Value>,
    pub credentials: Option<Sealed>,
    pub webhook_secret: Sealed,
    pub sync_interval_minutes: i32,
    pub enabled: bool,
    /// Where the next incremental pull starts (provider-specific).
    pub cursor: Option<String>,
    pub last_sync_at: Option<OffsetDateTime>,
    pub last_status: Option<SyncStatus>,
    pub next_sync_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    provider: String,
    base_url: String,
    settings: Json<Map<String, Value>>,
    credentials_key_id: Option<String>,
    credentials_nonce: Option<Vec<u8>>,
    credentials: Option<Vec<u8>>,
    webhook_key_id: String,
    webhook_nonce: Vec<u8>,
    webhook_secret: Vec<u8>,
    sync_interval_minutes: i32,
    enabled: bool,
    cursor: Option<String>,
    last_sync_at: Option<OffsetDateTime>,
    last_status: Option<String>,
    next_sync_at: OffsetDateTime,
    created_at: OffsetDateTime,
}

const CONNECTION_COLUMNS: &str = "id, tenant_id, name, provider, base_url, settings, credentials_key_id,
    credentials_nonce, credentials, webhook_key_id, webhook_nonce, webhook_secret, sync_interval_minutes,
    enabled, cursor, last_sync_at, last_status, next_sync_at, created_at";

impl TryFrom<ConnectionRow> for Connection {
    type Error = StoreError;
    fn try_from(r: ConnectionRow) -> Result<Self, StoreError> {
        let credentials = match (r.credentials_key_id, r.credentials_nonce, r.credentials) {
            (Some(key_id), Some(nonce), Some(ciphertext)) => Some(Sealed {
                key_id,
                nonce,
                ciphertext,
            }),
            _ => None,
        };
        Ok(Connection {
            id: r.id,
            tenant_id: r.tenant_id.into(),
            name: r.name,
            provider: Provider::from_str(&r.provider).map_err(StoreError::Corrupt)?,
            base_url: r.base_url,
            settings: r.settings.0,
            credentials,
            webhook_secret: Sealed {
                key_id: r.webhook_key_id,
                nonce: r.webhook_nonce,
                ciphertext: r.webhook_secret,
            },
            sync_interval_minutes: r.sync_interval_minutes,
            enabled: r.enabled,
            cursor: r.cursor,
            last_sync_at: r.last_sync_at,
            last_status: r
                .last_status
                .as_deref()
                .map(SyncStatus::from_str)
                .transpose()
                .map_err(StoreError::Corrupt)?,
            next_sync_at: r.next_sync_at,
            created_at: r.created_at,
        })
    }
}

/// A provider's device, as a sync saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalDevice {
    pub external_id: String,
    pub vin: Option<Vin>,
    /// The provider's name for it: matched against unit numbers, then names.
    pub name: Option<String>,
}

fn audit_view(c: &Connection) -> Value {
    json!({
        "name": c.name, "provider": c.provider.as_str(), "base_url": c.base_url,
        "settings": c.settings, "has_credentials": c.credentials.is_some(),
        "sync_interval_minutes": c.sync_interval_minutes, "enabled": c.enabled,
    })
}

impl Store {
    /// Creates a connection; its first sync is due at once.
    #[tracing::instrument(skip_all)]
    pub async fn create_connection(
        &self,
        tenant: TenantId,
        new: &NewConnection,
        ctx: &AuditContext,
    ) -> Result<Connection, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let creds = new.credentials.as_ref();
        let row: ConnectionRow = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO telematics_connections (tenant_id, id, name, provider, base_url, settings,
                 credentials_key_id, credentials_nonce, credentials, webhook_key_id, webhook_nonce, webhook_secret,
                 sync_interval_minutes, enabled, next_sync_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $15)
             RETURNING {CONNECTION_COLUMNS}"
        )))
        .bind(tenant.as_uuid())
        .bind(new.id)
        .bind(&new.name)
        .bind(new.provider.as_str())
        .bind(&new.base_url)
        .bind(Json(&new.settings))
        .bind(creds.map(|s| s.key_id.clone()))
        .bind(creds.map(|s| s.nonce.clone()))
        .bind(creds.map(|s| s.ciphertext.clone()))
        .bind(&new.webhook_secret.key_id)
        .bind(&new.webhook_secret.nonce)
        .bind(&new.webhook_secret.ciphertext)
        .bind(new.sync_interval_minutes)
        .bind(new.enabled)
        .bind(now)
        .fetch_one(c)
        .await)
        .ctx("creating a telematics connection")?;
        let created = Connection::try_from(row)?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "telematics.connection.create",
                entity_type: "telematics_connection",
                entity_id: created.id.to_string(),
                before: None,
                after: Some(audit_view(&created)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// One connection of the tenant.
    pub async fn connection(&self, tenant: TenantId, id: Uuid) -> Result<Connection, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let row: Option<ConnectionRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CONNECTION_COLUMNS} FROM telematics_connections
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
            )))
            .bind(tenant.as_uuid())
            .bind(id)
            .fetch_optional(c)
            .await)
            .ctx("loading a telematics connection")?;
        Connection::try_from(row.ok_or(StoreError::NotFound)?)
    }

    /// The tenant's connections, by id (creation order).
    pub async fn list_connections(
        &self,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Connection>, StoreError> {
        let after: Option<Uuid> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let rows: Vec<ConnectionRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CONNECTION_COLUMNS} FROM telematics_connections
             WHERE tenant_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id > $2)
             ORDER BY id LIMIT $3"
            )))
            .bind(tenant.as_uuid())
            .bind(after)
            .bind(limit + 1)
            .fetch_all(c)
            .await)
            .ctx("listing telematics connections")?;
        let items = rows
            .into_iter()
            .map(Connection::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |c| c.id))
    }

    /// Changes a connection.
    #[tracing::instrument(skip_all)]
    pub async fn update_connection(
        &self,
        tenant: TenantId,
        id: Uuid,
        patch: &ConnectionPatch,
        ctx: &AuditContext,
    ) -> Result<Connection, StoreError> {
        let before = self.connection(tenant, id).await?;
        let mut after = before.clone();
        if let Some(v) = &patch.name {
            after.name.clone_from(v);
        }
        if let Some(v) = &patch.base_url {
            after.base_url.clone_from(v);
        }
        if let Some(v) = &patch.settings {
            after.settings.clone_from(v);
        }
        if let Some(v) = &patch.credentials {
            after.credentials.clone_from(v);
        }
        if let Some(v) = patch.sync_interval_minutes {
            after.sync_interval_minutes = v;
        }
        if let Some(v) = patch.enabled {
            after.enabled = v;
        }
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let creds = after.credentials.as_ref();
        let done = execute_tx!(
            &mut tx,
            sqlx::query(
                "UPDATE telematics_connections SET name = $3, base_url = $4, settings = $5, credentials_key_id = $6,
                     credentials_nonce = $7, credentials = $8, sync_interval_minutes = $9, enabled = $10, updated_at = $11
                 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
            )
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(&after.name)
            .bind(&after.base_url)
            .bind(Json(&after.settings))
            .bind(creds.map(|s| s.key_id.clone()))
            .bind(creds.map(|s| s.nonce.clone()))
            .bind(creds.map(|s| s.ciphertext.clone()))
            .bind(after.sync_interval_minutes)
            .bind(after.enabled)
            .bind(OffsetDateTime::now_utc())
        )
        .ctx("updating a telematics connection")?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "telematics.connection.update",
                entity_type: "telematics_connection",
                entity_id: id.to_string(),
                before: Some(audit_view(&before)),
                after: Some(audit_view(&after)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Soft-deletes a connection: it stops syncing and its webhook stops
    /// answering; its sync logs and the data it brought stay.
    #[tracing::instrument(skip_all)]
    pub async fn delete_connection(
        &self,
        tenant: TenantId,
        id: Uuid,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let done = execute_tx!(
            &mut tx,
            sqlx::query(
                "UPDATE telematics_connections SET deleted_at = $3, enabled = $4
                 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
            )
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(OffsetDateTime::now_utc())
            .bind(false)
        )
        .ctx("deleting a telematics connection")?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "telematics.connection.delete",
                entity_type: "telematics_connection",
                entity_id: id.to_string(),
                before: None,
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }

    /// Enabled connections whose next sync is due, across all tenants.
    pub async fn due_connections(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<(TenantId, Uuid)>, StoreError> {
        let mut due = Vec::new();
        for tenant in self.list_tenants().await? {
            let mut tx = self.begin(Mode::Read, Some(tenant.id)).await?;
            let ids: Vec<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT id FROM telematics_connections
                 WHERE tenant_id = $1 AND enabled = $2 AND deleted_at IS NULL AND next_sync_at <= $3"
            )
            .bind(tenant.id.as_uuid())
            .bind(true)
            .bind(now)
            .fetch_all(c)
            .await)
            .ctx("listing due connections")?;
            due.extend(ids.into_iter().map(|id| (tenant.id, id)));
        }
        Ok(due)
    }

    /// Maps a provider's devices to the tenant's vehicles: a device keeps
    /// the vehicle it was first linked to; a new one is linked by VIN, then
    /// by unit number, then by exact name (when exactly one vehicle matches).
    /// Returns the devices that have a vehicle.
    pub async fn link_devices(
        &self,
        tenant: TenantId,
        connection: Uuid,
        devices: &[ExternalDevice],
    ) -> Result<HashMap<String, VehicleId>, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let mut linked = HashMap::new();
        for d in devices {
            let existing: Option<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT vehicle_id FROM vehicle_external_ids WHERE tenant_id = $1 AND connection_id = $2 AND external_id = $3"
            )
            .bind(tenant.as_uuid())
            .bind(connection)
            .bind(&d.external_id)
            .fetch_optional(c)
            .await)
            .ctx("loading a device link")?;
            if let Some(v) = existing {
                linked.insert(d.external_id.clone(), VehicleId::from(v));
                continue;
            }
            let mut candidates: Vec<Uuid> = Vec::new();
            if let Some(vin) = &d.vin {
                candidates = on_tx!(&mut tx, |c| sqlx::query_scalar(
                    "SELECT id FROM vehicles WHERE tenant_id = $1 AND vin = $2 AND deleted_at IS NULL"
                )
                .bind(tenant.as_uuid())
                .bind(vin.as_str())
                .fetch_all(c)
                .await)
                .ctx("matching a device by VIN")?;
            }
            if let Some(name) = d.name.as_deref().filter(|_| candidates.is_empty()) {
                for column in ["unit_number", "name"] {
                    candidates = on_tx!(&mut tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT id FROM vehicles WHERE tenant_id = $1 AND {column} = $2 AND deleted_at IS NULL LIMIT 2"
                    )))
                    .bind(tenant.as_uuid())
                    .bind(name)
                    .fetch_all(c)
                    .await)
                    .ctx("matching a device by name")?;
                    if !candidates.is_empty() {
                        break;
                    }
                }
            }
            if let [vehicle] = candidates.as_slice() {
                execute_tx!(
                    &mut tx,
                    sqlx::query(
                        "INSERT INTO vehicle_external_ids (tenant_id, connection_id, external_id, vehicle_id, created_at)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
                    )
                    .bind(tenant.as_uuid())
                    .bind(connection)
                    .bind(&d.external_id)
                    .bind(vehicle)
                    .bind(OffsetDateTime::now_utc())
                )
                .ctx("linking a device")?;
                linked.insert(d.external_id.clone(), VehicleId::from(*vehicle));
            }
        }
        tx.commit().await?;
        Ok(linked)
    }
}
