//! `Idempotency-Key` bookkeeping: the first response to a keyed POST is
//! stored, and a retry with the same key gets that response again instead of
//! doing the work twice.
//!
//! A key is claimed (row inserted without a response) *before* the work runs,
//! so two concurrent requests with one key cannot both run: the second sees
//! the claim and is told the first is still in progress.

use domain::ids::TenantId;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::error::ResultExt;
use crate::{Mode, Store, StoreError, execute_tx, on_tx};

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The headers worth replaying (content type, location), as name/value pairs.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: do the work, then [`Store::complete_idempotency`].
    New,
    /// Seen before with the same request: send this again.
    Replay(StoredResponse),
    /// Seen before with a different request body or route.
    Mismatch,
    /// The first request with this key has not finished yet.
    InProgress,
}

impl Store {
    /// Claims `key` for `principal` in `tenant`. Keys older than `ttl_secs` are
    /// forgotten and may be reused.
    pub async fn claim_idempotency(
        &self,
        tenant: TenantId,
        principal: &str,
        key: &str,
        request_hash: &str,
        ttl_secs: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        execute_tx!(&mut tx, sqlx::query(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND principal = $2 AND key = $3 AND created_at <= $4"
        )
        .bind(tenant.as_uuid())
        .bind(principal)
        .bind(key)
        .bind(now - ttl_secs))
        .ctx("expiring an idempotency key")?;
        let inserted =
            execute_tx!(&mut tx, sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, principal, key, request_hash, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, principal, key) DO NOTHING"
        )
        .bind(tenant.as_uuid())
        .bind(principal)
        .bind(key)
        .bind(request_hash)
        .bind(now))
            .ctx("claiming an idempotency key")?;
        if inserted == 1 {
            tx.commit().await?;
            return Ok(IdempotencyClaim::New);
        }
        #[allow(clippy::type_complexity)]
        let row: (
            String,
            Option<i32>,
            Option<Json<Vec<(String, String)>>>,
            Option<Vec<u8>>,
        ) = on_tx!(&mut tx, |c| {
            sqlx::query_as(
            "SELECT request_hash, status_code, response_headers, response_body FROM idempotency_keys
             WHERE tenant_id = $1 AND principal = $2 AND key = $3"
        )
        .bind(tenant.as_uuid())
        .bind(principal)
        .bind(key)
        .fetch_one(c)
        .await
        })
        .ctx("reading an idempotency key")?;
        tx.commit().await?;
        Ok(match row {
            (hash, _, _, _) if hash != request_hash => IdempotencyClaim::Mismatch,
            (_, Some(status), headers, body) => IdempotencyClaim::Replay(StoredResponse {
                status: u16::try_from(status).unwrap_or(500),
                headers: headers.map(|h| h.0).unwrap_or_default(),
                body: body.unwrap_or_default(),
            }),
            (_, None, _, _) => IdempotencyClaim::InProgress,
        })
    }

    /// Stores the response of a claimed key.
    pub async fn complete_idempotency(
        &self,
        tenant: TenantId,
        principal: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        execute_tx!(
            &mut tx,
            sqlx::query(
                "UPDATE idempotency_keys SET status_code = $4, response_headers = $5, response_body = $6
                 WHERE tenant_id = $1 AND principal = $2 AND key = $3"
            )
            .bind(tenant.as_uuid())
            .bind(principal)
            .bind(key)
            .bind(i32::from(response.status))
            .bind(Json(&response.headers))
            .bind(&response.body)
        )
        .ctx("storing an idempotent response")?;
        tx.commit().await
    }

    /// Gives up a claim (the work failed with a server error, so a retry
    /// should run it again).
    pub async fn release_idempotency(
        &self,
        tenant: TenantId,
        principal: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        execute_tx!(
            &mut tx,
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND principal = $2 AND key = $3"
            )
            .bind(tenant.as_uuid())
            .bind(principal)
            .bind(key)
        )
        .ctx("releasing an idempotency key")?;
        tx.commit().await
    }

    /// Forgets keys older than `ttl_secs` in every tenant; returns how many.
    /// Runs tenant by tenant because row-level security confines each
    /// transaction to one tenant.
    pub async fn purge_idempotency(&self, ttl_secs: i64) -> Result<u64, StoreError> {
        let cutoff = OffsetDateTime::now_utc().unix_timestamp() - ttl_secs;
        let mut total = 0;
        for tenant in self.list_tenants().await? {
            let mut tx = self.begin(Mode::Write, Some(tenant.id)).await?;
            total += execute_tx!(
                &mut tx,
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND created_at <= $2"
                )
                .bind(tenant.id.as_uuid())
                .bind(cutoff)
            )
            .ctx("purging idempotency keys")?;
            tx.commit().await?;
        }
        Ok(total)
    }
}
