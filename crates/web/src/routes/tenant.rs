//! The current tenant.

use axum::Json;
use axum::extract::State;
use domain::ValidationErrors;
use domain::tenancy::{Role, parse_display_text};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::openapi::{ReadErrors, WriteErrors};
use crate::views::TenantView;

/// Largest serialized tenant settings object, in bytes.
pub const MAX_SETTINGS_BYTES: usize = 64 * 1024;

/// Changes to the tenant; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    pub name: Option<String>,
    /// Replaces the whole settings object.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Map<String, Value>>,
}

/// The current tenant.
#[utoipa::path(
    get, path = "/api/v1/tenant", tag = "tenant",
    responses((status = 200, body = TenantView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_tenant(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<TenantView>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(
        (&state.store.tenant(principal.tenant_id).await?).into(),
    ))
}

/// Renames the tenant or replaces its settings (admins).
#[utoipa::path(
    patch, path = "/api/v1/tenant", tag = "tenant",
    request_body = TenantUpdate,
    responses((status = 200, body = TenantView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<TenantUpdate>,
) -> Result<Json<TenantView>, ApiError> {
    principal.require(Role::Admin)?;
    let mut errors = ValidationErrors::new();
    let name = body
        .name
        .as_deref()
        .and_then(|n| errors.check("name", parse_display_text(n, 100)));
    if let Some(settings) = &body.settings {
        let size = serde_json::to_vec(settings)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_SETTINGS_BYTES {
            errors.push(
                "settings",
                format!("must be at most {MAX_SETTINGS_BYTES} bytes as JSON"),
            );
        }
    }
    errors.into_result()?;
    let tenant = state
        .store
        .update_tenant(
            principal.tenant_id,
            name.as_deref(),
            body.settings.as_ref(),
            &principal.audit(),
        )
        .await?;
    Ok(Json((&tenant).into()))
}
