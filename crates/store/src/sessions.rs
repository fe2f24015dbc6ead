//! Credentials: browser sessions, API tokens, and login throttling.
//!
//! Both kinds of credential are stored only as the SHA-256 of their secret.
//! Resolving one yields a [`Credential`]: the user, the one tenant the request
//! acts in, and the effective role there (a token's role is capped by its
//! ceiling, and both need a live membership: removing a member disables their
//! sessions and tokens in that tenant at once).

use std::str::FromStr;

use domain::ids::{TenantId, TokenId, UserId};
use domain::tenancy::Role;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::identity::User;
use crate::page::{Page, decode_cursor, page_limit};
use crate::{AuditContext, Mode, Store, StoreError, execute_tx, on_tx};

/// A browser session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: UserId,
    /// The tenant this session currently acts in; switchable.
    pub tenant_id: TenantId,
    /// Must accompany every unsafe request made with this session's cookie.
    pub csrf_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// An API token's public description (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: TokenId,
    pub tenant_id: TenantId,
    pub name: String,
    pub user_id: UserId,
    /// The most the token may do, whatever its user's role.
    pub role_ceiling: Role,
    pub created_at: OffsetDateTime,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Unix seconds, updated at most once a minute.
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

/// What is needed to create an API token.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub name: String,
    pub token_hash: String,
    pub user_id: UserId,
    pub role_ceiling: Role,
    pub expires_at: Option<i64>,
}

/// What is needed to start a session.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    pub user: UserId,
    /// The tenant the session starts in.
    pub tenant: TenantId,
    /// SHA-256 of the cookie's secret.
    pub token_hash: &'a str,
    pub csrf_token: &'a str,
    /// Seconds until it expires unless used.
    pub lifetime_secs: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialKind {
    Session { id: Uuid, csrf_token: String },
    Token { id: TokenId, name: String },
}

/// A resolved credential: who, in which tenant, with which role.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub user: User,
    pub tenant_id: TenantId,
    pub role: Role,
    pub kind: CredentialKind,
}

/// The answer of [`Store::throttle_check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    Allowed,
    /// Too many failures; try again after this many seconds.
    Blocked {
        retry_after: i64,
    },
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    user_id: Uuid,
    role_ceiling: String,
    created_at: OffsetDateTime,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<OffsetDateTime>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        Ok(ApiToken {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            name: r.name,
            user_id: r.user_id.into(),
            role_ceiling: Role::from_str(&r.role_ceiling).map_err(StoreError::Corrupt)?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked: r.revoked_at.is_some(),
        })
    }
}

const TOKEN_COLUMNS: &str =
    "id, tenant_id, name, user_id, role_ceiling, created_at, expires_at, last_used_at, revoked_at";

/// Sessions and tokens record their last use at most this often (seconds),
/// so that reads do not turn into a write per request.
const TOUCH_INTERVAL: i64 = 60;

impl Store {
    /// Starts a session.
    #[tracing::instrument(skip_all)]
    pub async fn create_session(&self, new: &NewSession<'_>) -> Result<Session, StoreError> {
        let NewSession {
            user,
            tenant,
            token_hash,
            csrf_token,
            lifetime_secs,
            ip,
            user_agent,
        } = *new;
        let now = OffsetDateTime::now_utc();
        let session = Session {
            id: Uuid::now_v7(),
            user_id: user,
            tenant_id: tenant,
            csrf_token: csrf_token.to_string(),
            expires_at: now.unix_timestamp() + lifetime_secs,
        };
        let mut tx = self.begin(Mode::Write, None).await?;
        execute_tx!(&mut tx, sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, tenant_id, csrf_token, created_at, expires_at,
                                   last_seen_at, ip, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )
        .bind(session.id)
        .bind(token_hash)
        .bind(user.as_uuid())
        .bind(tenant.as_uuid())
        .bind(csrf_token)
        .bind(now)
        .bind(session.expires_at)
        .bind(now.unix_timestamp())
        .bind(ip)
        .bind(user_agent))
        .ctx("creating a session")?;
        tx.commit().await?;
        Ok(session)
    }

    /// Resolves a session cookie or API token by the hash of its secret.
    /// Expired, revoked, disabled-user and no-longer-member credentials
    /// resolve to `None`. A session's expiry slides forward on use.
    #[tracing::instrument(skip_all)]
    pub async fn resolve_credential(
        &self,
        token_hash: &str,
        session_lifetime_secs: i64,
    ) -> Result<Option<Credential>, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        #[derive(sqlx::FromRow)]
        struct SessionRow {
            id: Uuid,
            user_id: Uuid,
            tenant_id: Uuid,
            csrf_token: String,
            expires_at: i64,
            last_seen_at: i64,
        }
        let epoch = if self.credentials.enabled() {
            let epoch = self.credential_epoch().await?;
            if let Some(hit) = self.credentials.get(token_hash, epoch, now) {
                return Ok(Some(hit));
            }
            epoch
        } else {
            0
        };
        let mut tx = self.begin(Mode::Read, None).await?;
        let session: Option<SessionRow> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id, user_id, tenant_id, csrf_token, expires_at, last_seen_at FROM sessions WHERE token_hash = $1"
        )
        .bind(token_hash)
        .fetch_optional(c)
        .await)
        .ctx("looking up a session")?;
        let (user_id, tenant_id, kind, ceiling, touch, expires_at) = if let Some(s) = session {
            if s.expires_at <= now {
                return Ok(None);
            }
            let touch = now - s.last_seen_at >= TOUCH_INTERVAL;
            (
                s.user_id,
                s.tenant_id,
                CredentialKind::Session {
                    id: s.id,
                    csrf_token: s.csrf_token,
                },
                Role::Owner,
                touch,
                Some(s.expires_at),
            )
        } else {
            let token: Option<TokenRow> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
                format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1")
            ))
            .bind(token_hash)
            .fetch_optional(c)
            .await)
            .ctx("looking up an API token")?;
            let Some(token) = token.map(ApiToken::try_from).transpose()? else {
                return Ok(None);
            };
            if token.revoked || token.expires_at.is_some_and(|e| e <= now) {
                return Ok(None);
            }
            let touch = token.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL);
            let kind = CredentialKind::Token {
                id: token.id,
                name: token.name,
            };
            (
                token.user_id.as_uuid(),
                token.tenant_id.as_uuid(),
                kind,
                token.role_ceiling,
                touch,
                token.expires_at,
            )
        };
        // The user and their membership, in the same transaction: this runs
        // on every request, so every round trip counts.
        let user: Option<crate::identity::UserRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM users WHERE id = $1",
                crate::identity::USER_COLUMNS
            )))
            .bind(user_id)
            .fetch_optional(c)
            .await)
            .ctx("loading a credential's user")?;
        let Some(user) = user.map(User::from) else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        let role: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id
             WHERE m.tenant_id = $1 AND m.user_id = $2 AND t.deleted_at IS NULL"
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_optional(c)
        .await)
        .ctx("loading a credential's membership")?;
        drop(tx);
        let Some(role) = role
            .map(|r| Role::from_str(&r).map_err(StoreError::Corrupt))
            .transpose()?
        else {
            return Ok(None);
        };
        if touch {
            self.touch_credential(&kind, now, session_lifetime_secs)
                .await?;
        }
        let credential = Credential {
            user,
            tenant_id: tenant_id.into(),
            role: role.capped_at(ceiling),
            kind,
        };
        self.credentials
            .put(token_hash, &credential, expires_at, epoch);
        Ok(Some(credential))
    }

    async fn touch_credential(
        &self,
        kind: &CredentialKind,
        now: i64,
        lifetime: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, None).await?;
        match kind {
            CredentialKind::Session { id, .. } => execute_tx!(
                &mut tx,
                sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .bind(now + lifetime)
            ),
            CredentialKind::Token { id, .. } => execute_tx!(
                &mut tx,
                sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id.as_uuid())
                    .bind(now)
            ),
        }
        .ctx("recording a credential's use")?;
        tx.commit().await
    }

    /// Moves a session to another tenant the user belongs to.
    pub async fn switch_session_tenant(
        &self,
        session: Uuid,
        tenant: TenantId,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, None).await?;
        execute_tx!(
            &mut tx,
            sqlx::query("UPDATE sessions SET tenant_id = $2 WHERE id = $1")
                .bind(session)
                .bind(tenant.as_uuid())
        )
        .ctx("switching a session's tenant")?;
        self.commit_credential_change(tx).await
    }

    /// Ends a session (logout).
    pub async fn delete_session(&self, session: Uuid) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, None).await?;
        execute_tx!(
            &mut tx,
            sqlx::query("DELETE FROM sessions WHERE id = $1").bind(session)
        )
        .ctx("deleting a session")?;
        self.commit_credential_change(tx).await
    }

    /// Removes sessions past their expiry; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.begin(Mode::Write, None).await?;
        let n = execute_tx!(
            &mut tx,
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now)
        )
        .ctx("purging expired sessions")?;
        tx.commit().await?;
        Ok(n)
    }

    /// Creates an API token in a tenant.
    #[tracing::instrument(skip_all)]
    pub async fn create_api_token(
        &self,
        tenant: TenantId,
        new: &NewApiToken,
        ctx: &AuditContext,
    ) -> Result<ApiToken, StoreError> {
        let id = TokenId::new();
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let row: TokenRow = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO api_tokens (tenant_id, id, name, token_hash, user_id, role_ceiling, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {TOKEN_COLUMNS}"
        )))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(&new.name)
        .bind(&new.token_hash)
        .bind(new.user_id.as_uuid())
        .bind(new.role_ceiling.as_str())
        .bind(OffsetDateTime::now_utc())
        .bind(new.expires_at)
        .fetch_one(c)
        .await)
        .ctx("creating an API token")?;
        let token = ApiToken::try_from(row)?;
        record(&mut tx, tenant, ctx, Change {
            action: "api_token.create",
            entity_type: "api_token",
            entity_id: id.to_string(),
            before: None,
            after: Some(json!({
                "name": token.name, "user_id": token.user_id, "role_ceiling": token.role_ceiling.as_str(),
                "expires_at": token.expires_at,
            })),
        })
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// A tenant's API tokens, newest first (revoked ones included, marked).
    pub async fn list_api_tokens(
        &self,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<ApiToken>, StoreError> {
        let before: Option<Uuid> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let rows: Vec<TokenRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        )))
            .bind(tenant.as_uuid())
            .bind(before)
            .bind(limit + 1)
            .fetch_all(c)
            .await)
            .ctx("listing API tokens")?;
        let tokens = rows
            .into_iter()
            .map(ApiToken::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(tokens, limit, |t| t.id.as_uuid()))
    }

    /// Revokes an API token; it stops working at once.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_api_token(
        &self,
        tenant: TenantId,
        id: TokenId,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let n = execute_tx!(&mut tx, sqlx::query(
            "UPDATE api_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL"
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(OffsetDateTime::now_utc()))
        .ctx("revoking an API token")?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "api_token.revoke",
                entity_type: "api_token",
                entity_id: id.to_string(),
                before: None,
                after: None,
            },
        )
        .await?;
        self.commit_credential_change(tx).await
    }

    /// Whether any of `keys` has reached `limit` failures within the last
    /// `window_secs`. Keys are like `login:email:ann@example.com`, `login:ip:10.0.0.1`.
    pub async fn throttle_check(
        &self,
        keys: &[(&str, i64)],
        window_secs: i64,
    ) -> Result<ThrottleDecision, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.begin(Mode::Read, None).await?;
        let mut retry_after = 0;
        for (key, limit) in keys {
            let row: Option<(i64, i64)> = on_tx!(&mut tx, |c| sqlx::query_as(
                "SELECT window_start, failures FROM login_throttle WHERE key = $1"
            )
            .bind(*key)
            .fetch_optional(c)
            .await)
            .ctx("reading the login throttle")?;
            if let Some((start, failures)) = row
                && start + window_secs > now
                && failures >= *limit
            {
                retry_after = retry_after.max(start + window_secs - now);
            }
        }
        Ok(if retry_after > 0 {
            ThrottleDecision::Blocked { retry_after }
        } else {
            ThrottleDecision::Allowed
        })
    }

    /// Counts one failure against each key, starting a new window for keys
    /// whose window has passed.
    pub async fn throttle_fail(&self, keys: &[&str], window_secs: i64) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.begin(Mode::Write, None).await?;
        for key in keys {
            execute_tx!(
                &mut tx,
                sqlx::query(
                    "INSERT INTO login_throttle (key, window_start, failures) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET
                     failures = CASE WHEN login_throttle.window_start + $3 <= $2 THEN 1
                                     ELSE login_throttle.failures + 1 END,
                     window_start = CASE WHEN login_throttle.window_start + $3 <= $2 THEN $2
                                         ELSE login_throttle.window_start END"
                )
                .bind(*key)
                .bind(now)
                .bind(window_secs)
            )
            .ctx("counting a login failure")?;
        }
        tx.commit().await
    }

    /// Clears a key after a success.
    pub async fn throttle_reset(&self, key: &str) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, None).await?;
        execute_tx!(
            &mut tx,
            sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key)
        )
        .ctx("clearing the login throttle")?;
        tx.commit().await
    }

    /// Removes throttle windows older than `window_secs`.
    pub async fn purge_throttle(&self, window_secs: i64) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = self.begin(Mode::Write, None).await?;
        let n = execute_tx!(
            &mut tx,
            sqlx::query("DELETE FROM login_throttle WHERE window_start + $2 <= $1")
                .bind(now)
                .bind(window_secs)
        )
        .ctx("purging the login throttle")?;
        tx.commit().await?;
        Ok(n)
    }
}
