//! The audit log: who changed what, in which tenant, from where.
//!
//! Entries are written inside the same transaction as the change they
//! describe, so there is never a change without its entry (or the reverse).
//! On PostgreSQL the app role may only insert and read them.

use domain::ids::{AuditId, TenantId, TokenId, UserId};
use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::page::{Page, decode_cursor, page_limit};
use crate::{Mode, Store, StoreError, Tx, execute_tx, on_tx};

/// The pseudo-tenant under which instance-level events (a user created by an
/// instance administrator, say) are recorded.
pub const INSTANCE_TENANT: TenantId = TenantId::from_uuid(Uuid::nil());

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person, through a browser session.
    User { id: UserId, email: String },
    /// A script, through an API token (acting for the user who created it).
    Token {
        id: TokenId,
        user_id: UserId,
        name: String,
    },
    /// The server itself or the command line.
    System { label: String },
}

impl Actor {
    fn parts(&self) -> (&'static str, Option<Uuid>, String) {
        match self {
            Actor::User { id, email } => ("user", Some(id.as_uuid()), email.clone()),
            Actor::Token { id, name, .. } => ("token", Some(id.as_uuid()), name.clone()),
            Actor::System { label } => ("system", None, label.clone()),
        }
    }
}

/// Everything about the request behind a change that the audit log keeps.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub actor: Actor,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl AuditContext {
    /// The context of a command-line action.
    pub fn system(label: impl Into<String>) -> Self {
        Self {
            actor: Actor::System {
                label: label.into(),
            },
            ip: None,
            user_agent: None,
            request_id: None,
        }
    }
}

/// One recorded change.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: OffsetDateTime,
    /// `user`, `token` or `system`.
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    /// The user's e-mail, the token's name or the system label, as at the time.
    pub actor_label: String,
    /// `entity.verb`, e.g. `vehicle.update`.
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<Json<Value>>,
    pub after: Option<Json<Value>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// Which entries to list; all filters are optional and combine with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub actor_id: Option<Uuid>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    pub limit: u32,
}

/// The change a write is about, for [`record`].
pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Writes one audit entry inside the caller's transaction.
pub(crate) async fn record(
    tx: &mut Tx,
    tenant: TenantId,
    ctx: &AuditContext,
    change: Change<'_>,
) -> Result<(), StoreError> {
    let (actor_type, actor_id, actor_label) = ctx.actor.parts();
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, id, at, actor_type, actor_id, actor_label, action,
             entity_type, entity_id, before, after, ip, user_agent, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )
        .bind(tenant.as_uuid())
        .bind(AuditId::new().as_uuid())
        .bind(OffsetDateTime::now_utc())
        .bind(actor_type)
        .bind(actor_id)
        .bind(&actor_label)
        .bind(change.action)
        .bind(change.entity_type)
        .bind(&change.entity_id)
        .bind(change.before.as_ref().map(Json))
        .bind(change.after.as_ref().map(Json))
        .bind(ctx.ip.as_deref())
        .bind(ctx.user_agent.as_deref())
        .bind(ctx.request_id.as_deref())
    )
    .ctx("writing the audit log")?;
    Ok(())
}

impl Store {
    /// Lists a tenant's audit entries, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let after: Option<Uuid> = filter.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = page_limit(filter.limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let rows: Vec<AuditEntry> = on_tx!(&mut tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT id, at, actor_type, actor_id, actor_label, action, entity_type, entity_id,
                        before, after, ip, user_agent, request_id
                 FROM audit_log WHERE tenant_id = ",
            );
            q.push_bind(tenant.as_uuid());
            if let Some(v) = &filter.entity_type {
                q.push(" AND entity_type = ").push_bind(v.clone());
            }
            if let Some(v) = &filter.entity_id {
                q.push(" AND entity_id = ").push_bind(v.clone());
            }
            if let Some(v) = &filter.action {
                q.push(" AND action = ").push_bind(v.clone());
            }
            if let Some(v) = filter.actor_id {
                q.push(" AND actor_id = ").push_bind(v);
            }
            if let Some(v) = after {
                q.push(" AND id < ").push_bind(v);
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
            q.build_query_as().fetch_all(c).await
        })
        .ctx("listing the audit log")?;
        Ok(Page::from_rows(rows, limit, |r| r.id))
    }
}
