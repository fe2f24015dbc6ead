//! The current tenant's audit log.

use axum::Json;
use axum::extract::State;
use domain::tenancy::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{AuditEntry, AuditFilter};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiQuery, check_limit};
use crate::openapi::ReadErrors;

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `user`, `token` or `system`.
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    /// The user's e-mail, the token's name or the system label.
    pub actor_label: String,
    /// `entity.verb`, e.g. `vehicle.update`.
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            actor_label: e.actor_label,
            action: e.action,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            before: e.before.map(|j| j.0),
            after: e.after.map(|j| j.0),
            ip: e.ip,
            user_agent: e.user_agent,
            request_id: e.request_id,
        }
    }
}

/// One page of audit entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

/// Audit filters; all optional.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// e.g. `vehicle`, `membership`, `api_token`, `tenant`.
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// e.g. `vehicle.update`.
    pub action: Option<String>,
    /// A user or token id.
    pub actor_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

/// Lists the tenant's audit log (admins).
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses((status = 200, body = AuditPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    principal.require(Role::Admin)?;
    let limit = check_limit(q.limit)?;
    let filter = AuditFilter {
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        action: q.action,
        actor_id: q.actor_id,
        cursor: q.cursor,
        limit,
    };
    let page = state.store.list_audit(principal.tenant_id, &filter).await?;
    Ok(Json(AuditPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}
