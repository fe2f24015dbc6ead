//! API tokens of the current tenant.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::ValidationErrors;
use domain::credentials::{SecretToken, TokenKind};
use domain::ids::{TokenId, UserId};
use domain::tenancy::{Role, parse_display_text};
use serde::{Deserialize, Serialize};
use store::{ApiToken, NewApiToken};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, PageQuery};
use crate::openapi::{ReadErrors, WriteErrors};

/// Longest lifetime a token may be given, in days.
pub const MAX_TOKEN_DAYS: i64 = 3650;

/// An API token's description (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: TokenId,
    pub name: String,
    /// The user the token acts for; it stops working if they leave the tenant.
    pub user_id: UserId,
    /// The most the token may do, whatever its user's role.
    pub role_ceiling: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

fn instant(secs: Option<i64>) -> Option<OffsetDateTime> {
    secs.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            user_id: t.user_id,
            role_ceiling: t.role_ceiling,
            created_at: t.created_at,
            expires_at: instant(t.expires_at),
            last_used_at: instant(t.last_used_at),
            revoked: t.revoked,
        }
    }
}

/// One page of tokens, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPage {
    pub items: Vec<TokenView>,
    pub next_cursor: Option<String>,
}

/// A new token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// What the token is for, e.g. `telematics import`.
    pub name: String,
    /// Defaults to `viewer`; may not exceed the creator's own role.
    pub role_ceiling: Option<Role>,
    /// Days until it expires (1–3650); absent means it never expires.
    pub expires_in_days: Option<i64>,
}

/// A created token, with its secret: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenView,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Lists the tenant's API tokens (admins).
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "tenant",
    params(PageQuery),
    responses((status = 200, body = TokenPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<TokenPage>, ApiError> {
    principal.require(Role::Admin)?;
    let tokens = state
        .store
        .list_api_tokens(principal.tenant_id, page.cursor.as_deref(), page.limit()?)
        .await?;
    Ok(Json(TokenPage {
        items: tokens.items.into_iter().map(Into::into).collect(),
        next_cursor: tokens.next_cursor,
    }))
}

/// Creates an API token acting for the caller (admins).
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "tenant",
    request_body = TokenCreate,
    responses((status = 201, body = CreatedToken), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<TokenCreate>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    principal.require(Role::Admin)?;
    let mut errors = ValidationErrors::new();
    let name = errors.check("name", parse_display_text(&body.name, 100));
    let ceiling = body.role_ceiling.unwrap_or(Role::Viewer);
    if ceiling > principal.role {
        errors.push(
            "role_ceiling",
            format!("may not exceed your own role ({})", principal.role),
        );
    }
    let expires_at = match body.expires_in_days {
        Some(days) if !(1..=MAX_TOKEN_DAYS).contains(&days) => {
            errors.push("expires_in_days", format!("must be 1 to {MAX_TOKEN_DAYS}"));
            None
        }
        Some(days) => Some(OffsetDateTime::now_utc().unix_timestamp() + days * 86_400),
        None => None,
    };
    errors.into_result()?;
    let secret = SecretToken::generate(TokenKind::Api)?;
    let new = NewApiToken {
        name: name.unwrap_or_default(),
        token_hash: secret.hash(),
        user_id: principal.user.id,
        role_ceiling: ceiling,
        expires_at,
    };
    let token = state
        .store
        .create_api_token(principal.tenant_id, &new, &principal.audit())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: token.into(),
            secret: secret.expose().to_string(),
        }),
    ))
}

/// Revokes an API token at once (admins).
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "tenant",
    params(("id" = TokenId, Path)),
    responses((status = 204, description = "Revoked"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    let id: TokenId = id.parse().map_err(|_| ApiError::NotFound)?;
    state
        .store
        .revoke_api_token(principal.tenant_id, id, &principal.audit())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
