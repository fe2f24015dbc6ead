//! Members of the current tenant.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::ids::UserId;
use domain::tenancy::{Email, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, PageQuery};
use crate::openapi::{ReadErrors, WriteErrors};
use crate::views::UserView;

/// A member and their role.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user: UserView,
    pub role: Role,
}

/// One page of members, by e-mail.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    pub items: Vec<MemberView>,
    pub next_cursor: Option<String>,
}

/// Adds an existing user to the tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberAdd {
    /// The user's e-mail (they must already have an account).
    pub email: String,
    pub role: Role,
}

/// A member's new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberUpdate {
    pub role: Role,
}

/// Only an owner may make (or unmake) owners; admins manage the roles below.
fn may_grant(principal: &Principal, role: Role) -> Result<(), ApiError> {
    principal.require(Role::Admin)?;
    if role == Role::Owner && principal.role < Role::Owner {
        return Err(ApiError::Forbidden(
            "only an owner may grant or change the owner role",
        ));
    }
    Ok(())
}

/// Lists the tenant's members.
#[utoipa::path(
    get, path = "/api/v1/members", tag = "tenant",
    params(PageQuery),
    responses((status = 200, body = MemberPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_members(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<MemberPage>, ApiError> {
    principal.require(Role::Viewer)?;
    let members = state
        .store
        .list_members(principal.tenant_id, page.cursor.as_deref(), page.limit()?)
        .await?;
    Ok(Json(MemberPage {
        items: members
            .items
            .iter()
            .map(|(u, r)| MemberView {
                user: u.into(),
                role: *r,
            })
            .collect(),
        next_cursor: members.next_cursor,
    }))
}

/// Adds a user to the tenant (admins; owners for the owner role).
#[utoipa::path(
    post, path = "/api/v1/members", tag = "tenant",
    request_body = MemberAdd,
    responses((status = 201, body = MemberView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn add_member(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<MemberAdd>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    may_grant(&principal, body.role)?;
    let email = Email::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    let user = state
        .store
        .user_by_email(&email)
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => ApiError::field(
                "email",
                "no user has this e-mail; an administrator creates accounts",
            ),
            other => other.into(),
        })?;
    if state
        .store
        .role_in(principal.tenant_id, user.id)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            field: "email",
            message: "this user is already a member".into(),
        });
    }
    state
        .store
        .set_membership(principal.tenant_id, user.id, body.role, &principal.audit())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MemberView {
            user: (&user).into(),
            role: body.role,
        }),
    ))
}

fn parse_user(id: &str) -> Result<UserId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// Changes a member's role.
#[utoipa::path(
    patch, path = "/api/v1/members/{user_id}", tag = "tenant",
    params(("user_id" = UserId, Path)),
    request_body = MemberUpdate,
    responses((status = 200, body = MemberView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<MemberUpdate>,
) -> Result<Json<MemberView>, ApiError> {
    let user_id = parse_user(&user_id)?;
    let current = state
        .store
        .role_in(principal.tenant_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    may_grant(&principal, body.role)?;
    may_grant(&principal, current)?;
    state
        .store
        .set_membership(principal.tenant_id, user_id, body.role, &principal.audit())
        .await?;
    let user = state.store.user(user_id).await?;
    Ok(Json(MemberView {
        user: (&user).into(),
        role: body.role,
    }))
}

/// Removes a member; their sessions and tokens in this tenant stop working.
#[utoipa::path(
    delete, path = "/api/v1/members/{user_id}", tag = "tenant",
    params(("user_id" = UserId, Path)),
    responses((status = 204, description = "Removed"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn remove_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = parse_user(&user_id)?;
    let current = state
        .store
        .role_in(principal.tenant_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    may_grant(&principal, current)?;
    state
        .store
        .remove_membership(principal.tenant_id, user_id, &principal.audit())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
