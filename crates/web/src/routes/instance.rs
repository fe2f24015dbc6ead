//! Instance administration: tenants and users across the whole server, for
//! users flagged as instance administrators (`motorpool admin create-user --admin`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::ValidationErrors;
use domain::credentials::{Password, hash_password};
use domain::tenancy::{Email, Role, Slug, TenantKind, parse_display_text};
use serde::{Deserialize, Serialize};
use store::NewUser;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, PageQuery};
use crate::openapi::{ReadErrors, WriteErrors};
use crate::views::{TenantView, UserView};

fn require_instance_admin(p: &Principal) -> Result<(), ApiError> {
    if p.user.is_instance_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only instance administrators may do this",
        ))
    }
}

/// A new tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// 2–63 characters of `a-z`, `0-9`, `-`, starting with a letter.
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
    /// An existing user who becomes the tenant's owner.
    pub owner_email: Option<String>,
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub email: String,
    pub display_name: String,
    /// At least 10 characters; generated (and returned once) when absent.
    pub password: Option<String>,
    #[serde(default)]
    pub is_instance_admin: bool,
}

/// A created user, with the generated password if one was generated.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: UserView,
    /// Present only when the server generated the password: shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
}

/// One page of tenants, by slug.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantPage {
    pub items: Vec<TenantView>,
    pub next_cursor: Option<String>,
}

/// Lists every tenant on the server.
#[utoipa::path(
    get, path = "/api/v1/instance/tenants", tag = "instance",
    params(PageQuery),
    responses((status = 200, body = TenantPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_tenants(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<TenantPage>, ApiError> {
    require_instance_admin(&principal)?;
    let tenants = state
        .store
        .list_tenants_page(page.cursor.as_deref(), page.limit()?)
        .await?;
    Ok(Json(TenantPage {
        items: tenants.items.iter().map(Into::into).collect(),
        next_cursor: tenants.next_cursor,
    }))
}

/// Creates a tenant, optionally with an existing user as its owner.
#[utoipa::path(
    post, path = "/api/v1/instance/tenants", tag = "instance",
    request_body = TenantCreate,
    responses((status = 201, body = TenantView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<TenantCreate>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    require_instance_admin(&principal)?;
    let mut errors = ValidationErrors::new();
    let slug = errors.check("slug", Slug::parse(&body.slug));
    let name = errors.check("name", parse_display_text(&body.name, 100));
    let owner_email = body
        .owner_email
        .as_deref()
        .and_then(|e| errors.check("owner_email", Email::parse(e)));
    errors.into_result()?;
    let (Some(slug), Some(name)) = (slug, name) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    // Resolve the owner before creating anything, so a bad e-mail writes nothing.
    let owner = match owner_email {
        Some(email) => Some(
            state
                .store
                .user_by_email(&email)
                .await
                .map_err(|e| match e {
                    store::StoreError::NotFound => {
                        ApiError::field("owner_email", "no user has this e-mail")
                    }
                    other => other.into(),
                })?,
        ),
        None => None,
    };
    let audit = principal.audit();
    let tenant = state
        .store
        .create_tenant(&slug, &name, body.kind, &audit)
        .await?;
    if let Some(owner) = owner {
        state
            .store
            .set_membership(tenant.id, owner.id, Role::Owner, &audit)
            .await?;
    }
    Ok((StatusCode::CREATED, Json((&tenant).into())))
}

/// Creates a user (who can then be added to tenants).
#[utoipa::path(
    post, path = "/api/v1/instance/users", tag = "instance",
    request_body = UserCreate,
    responses((status = 201, body = CreatedUser), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<UserCreate>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    require_instance_admin(&principal)?;
    let mut errors = ValidationErrors::new();
    let email = errors.check("email", Email::parse(&body.email));
    let display_name = errors.check("display_name", parse_display_text(&body.display_name, 100));
    let password = match body.password {
        Some(p) => errors
            .check("password", Password::new(p))
            .map(|p| (p, false)),
        None => Some((Password::generate()?, true)),
    };
    errors.into_result()?;
    let (Some(email), Some(display_name), Some((password, generated))) =
        (email, display_name, password)
    else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let (hash, password) =
        tokio::task::spawn_blocking(move || hash_password(&password).map(|h| (h, password)))
            .await
            .map_err(|e| ApiError::Internal(format!("password hashing panicked: {e}")))??;
    let new = NewUser {
        email,
        display_name,
        password_hash: Some(hash),
        is_instance_admin: body.is_instance_admin,
    };
    let user = state.store.create_user(&new, &principal.audit()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: (&user).into(),
            generated_password: generated.then(|| password.expose().to_string()),
        }),
    ))
}
