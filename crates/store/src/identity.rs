//! Tenants, users and memberships: the identity tables.
//!
//! These are read before any tenant is chosen (logging in, listing a user's
//! tenants), so on PostgreSQL they are not under row-level security; every
//! query here names its tenant or user explicitly.

use std::str::FromStr;

use domain::ids::{TenantId, UserId};
use domain::preferences::Preferences;
use domain::tenancy::{Email, Role, Slug, TenantKind};
use serde_json::{Map, Value, json};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Change, INSTANCE_TENANT, record};
use crate::error::ResultExt;
use crate::page::{Page, decode_cursor, page_limit};
use crate::{AuditContext, Mode, Store, StoreError, Tx, execute_tx, on_tx};

/// A tenant: one household, fleet or dealer, and everything it owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
    /// Free-form tenant settings (a JSON object).
    pub settings: Map<String, Value>,
    pub created_at: OffsetDateTime,
}

impl Tenant {
    /// The implausible-jump threshold for meter readings: the tenant's
    /// `max_daily_km` setting when positive, else 2,000 miles a day.
    pub fn max_daily_km(&self) -> f64 {
        self.settings
            .get("max_daily_km")
            .and_then(Value::as_f64)
            .filter(|v| *v > 0.0)
            .unwrap_or(domain::meter::DEFAULT_MAX_DAILY_KM)
    }
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: Uuid,
    slug: String,
    name: String,
    kind: String,
    settings: Json<Map<String, Value>>,
    created_at: OffsetDateTime,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: r.id.into(),
            kind: TenantKind::from_str(&r.kind).map_err(StoreError::Corrupt)?,
            slug: r.slug,
            name: r.name,
            settings: r.settings.0,
            created_at: r.created_at,
        })
    }
}

/// A person who can log in.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub preferences: Preferences,
    /// Manages the server itself (all tenants), not just one tenant.
    pub is_instance_admin: bool,
    pub created_at: OffsetDateTime,
    pub disabled: bool,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
    preferences: Json<Preferences>,
    is_instance_admin: bool,
    created_at: OffsetDateTime,
    disabled_at: Option<OffsetDateTime>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id.into(),
            email: r.email,
            display_name: r.display_name,
            preferences: r.preferences.0,
            is_instance_admin: r.is_instance_admin,
            created_at: r.created_at,
            disabled: r.disabled_at.is_some(),
        }
    }
}

pub(crate) const USER_COLUMNS: &str =
    "id, email, display_name, preferences, is_instance_admin, created_at, disabled_at";

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub display_name: String,
    /// Argon2id PHC string; `None` for an account that cannot log in yet.
    pub password_hash: Option<String>,
    pub is_instance_admin: bool,
}

/// A user's place in one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub tenant: Tenant,
    pub user_id: UserId,
    pub role: Role,
}

fn user_json(u: &User) -> Value {
    json!({"email": u.email, "display_name": u.display_name, "is_instance_admin": u.is_instance_admin})
}

impl Store {
    /// Creates a tenant.
    #[tracing::instrument(skip_all)]
    pub async fn create_tenant(
        &self,
        slug: &Slug,
        name: &str,
        kind: TenantKind,
        ctx: &AuditContext,
    ) -> Result<Tenant, StoreError> {
        let id = TenantId::new();
        let mut tx = self.begin(Mode::Write, Some(id)).await?;
        let row: TenantRow = on_tx!(&mut tx, |c| sqlx::query_as(
            "INSERT INTO tenants (id, slug, name, kind, settings, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id, slug, name, kind, settings, created_at"
        )
        .bind(id.as_uuid())
        .bind(slug.as_str())
        .bind(name)
        .bind(kind.as_str())
        .bind(Json(Map::new()))
        .bind(OffsetDateTime::now_utc())
        .fetch_one(c)
        .await)
        .ctx("creating a tenant")?;
        let tenant = Tenant::try_from(row)?;
        crate::service::seed_default_tasks(&mut tx, id).await?;
        let after = json!({"slug": tenant.slug, "name": tenant.name, "kind": kind.as_str()});
        record(
            &mut tx,
            id,
            ctx,
            Change {
                action: "tenant.create",
                entity_type: "tenant",
                entity_id: id.to_string(),
                before: None,
                after: Some(after),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(tenant)
    }

    /// A tenant that is not deleted.
    pub async fn tenant(&self, id: TenantId) -> Result<Tenant, StoreError> {
        let mut tx = self.begin(Mode::Read, None).await?;
        tenant_in(&mut tx, id).await
    }

    /// A tenant that is not deleted, by slug.
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Tenant, StoreError> {
        let mut tx = self.begin(Mode::Read, None).await?;
        let row: Option<TenantRow> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id, slug, name, kind, settings, created_at FROM tenants WHERE slug = $1 AND deleted_at IS NULL"
        )
        .bind(slug.trim().to_ascii_lowercase())
        .fetch_optional(c)
        .await)
        .ctx("loading a tenant by slug")?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Every live tenant, by slug (for instance administrators).
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let mut tx = self.begin(Mode::Read, None).await?;
        let rows: Vec<TenantRow> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id, slug, name, kind, settings, created_at FROM tenants WHERE deleted_at IS NULL ORDER BY slug"
        )
        .fetch_all(c)
        .await)
        .ctx("listing tenants")?;
        rows.into_iter().map(Tenant::try_from).collect()
    }

    /// Renames a tenant and/or replaces its settings.
    #[tracing::instrument(skip_all)]
    pub async fn update_tenant(
        &self,
        id: TenantId,
        name: Option<&str>,
        settings: Option<&Map<String, Value>>,
        ctx: &AuditContext,
    ) -> Result<Tenant, StoreError> {
        let before = self.tenant(id).await?;
        let mut tx = self.begin(Mode::Write, Some(id)).await?;
        let row: Option<TenantRow> = on_tx!(&mut tx, |c| sqlx::query_as(
            "UPDATE tenants SET name = $2, settings = $3 WHERE id = $1 AND deleted_at IS NULL
             RETURNING id, slug, name, kind, settings, created_at"
        )
        .bind(id.as_uuid())
        .bind(name.unwrap_or(&before.name))
        .bind(Json(settings.unwrap_or(&before.settings)))
        .fetch_optional(c)
        .await)
        .ctx("updating a tenant")?;
        let after: Tenant = row.ok_or(StoreError::NotFound)?.try_into()?;
        record(
            &mut tx,
            id,
            ctx,
            Change {
                action: "tenant.update",
                entity_type: "tenant",
                entity_id: id.to_string(),
                before: Some(json!({"name": before.name, "settings": before.settings})),
                after: Some(json!({"name": after.name, "settings": after.settings})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Soft-deletes a tenant: it disappears from every lookup, its data stays
    /// until an operator purges it, and its sessions and tokens stop working.
    #[tracing::instrument(skip_all)]
    pub async fn delete_tenant(&self, id: TenantId, ctx: &AuditContext) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(id)).await?;
        let done = execute_tx!(
            &mut tx,
            sqlx::query("UPDATE tenants SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id.as_uuid())
                .bind(OffsetDateTime::now_utc())
        )
        .ctx("deleting a tenant")?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        execute_tx!(
            &mut tx,
            sqlx::query("DELETE FROM sessions WHERE tenant_id = $1").bind(id.as_uuid())
        )
        .ctx("ending the tenant's sessions")?;
        record(
            &mut tx,
            id,
            ctx,
            Change {
                action: "tenant.delete",
                entity_type: "tenant",
                entity_id: id.to_string(),
                before: None,
                after: None,
            },
        )
        .await?;
        self.commit_credential_change(tx).await
    }

    /// Creates a user. Recorded in the instance audit log.
    #[tracing::instrument(skip_all)]
    pub async fn create_user(&self, new: &NewUser, ctx: &AuditContext) -> Result<User, StoreError> {
        let id = UserId::new();
        let mut tx = self.begin(Mode::Write, Some(INSTANCE_TENANT)).await?;
        let row: UserRow = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO users (id, email, display_name, password_hash, preferences, is_instance_admin, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
        )))
        .bind(id.as_uuid())
        .bind(new.email.as_str())
        .bind(&new.display_name)
        .bind(new.password_hash.as_deref())
        .bind(Json(Preferences::default()))
        .bind(new.is_instance_admin)
        .bind(OffsetDateTime::now_utc())
        .fetch_one(c)
        .await)
        .ctx("creating a user")?;
        let user = User::from(row);
        record(
            &mut tx,
            INSTANCE_TENANT,
            ctx,
            Change {
                action: "user.create",
                entity_type: "user",
                entity_id: id.to_string(),
                before: None,
                after: Some(user_json(&user)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let mut tx = self.begin(Mode::Read, None).await?;
        let row: Option<UserRow> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
            format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")
        ))
        .bind(id.as_uuid())
        .fetch_optional(c)
        .await)
        .ctx("loading a user")?;
        row.map(User::from).ok_or(StoreError::NotFound)
    }

    /// A user and their password hash, for logging in.
    pub async fn user_for_login(
        &self,
        email: &Email,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: Option<String>,
        }
        let mut tx = self.begin(Mode::Read, None).await?;
        let row: Option<Row> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
        )))
        .bind(email.as_str())
        .fetch_optional(c)
        .await)
        .ctx("loading a user by e-mail")?;
        Ok(row.map(|r| (User::from(r.user), r.password_hash)))
    }

    pub async fn user_by_email(&self, email: &Email) -> Result<User, StoreError> {
        self.user_for_login(email)
            .await?
            .map(|(u, _)| u)
            .ok_or(StoreError::NotFound)
    }

    /// How many users exist: zero means the instance still needs its first administrator.
    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let mut tx = self.begin(Mode::Read, None).await?;
        on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT count(*) FROM users"
        )
        .fetch_one(c)
        .await)
        .ctx("counting users")
    }

    /// Replaces a user's password hash and ends all their sessions.
    #[tracing::instrument(skip_all)]
    pub async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(INSTANCE_TENANT)).await?;
        let done = execute_tx!(
            &mut tx,
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(password_hash)
        )
        .ctx("setting a password")?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        execute_tx!(
            &mut tx,
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.as_uuid())
        )
        .ctx("ending a user's sessions")?;
        record(
            &mut tx,
            INSTANCE_TENANT,
            ctx,
            Change {
                action: "user.password_reset",
                entity_type: "user",
                entity_id: id.to_string(),
                before: None,
                after: None,
            },
        )
        .await?;
        self.commit_credential_change(tx).await
    }

    /// Updates a user's display name and preferences.
    #[tracing::instrument(skip_all)]
    pub async fn update_user_profile(
        &self,
        id: UserId,
        display_name: &str,
        preferences: &Preferences,
        ctx: &AuditContext,
    ) -> Result<User, StoreError> {
        let before = self.user(id).await?;
        let mut tx = self.begin(Mode::Write, Some(INSTANCE_TENANT)).await?;
        let row: UserRow = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET display_name = $2, preferences = $3 WHERE id = $1 RETURNING {USER_COLUMNS}"
        )))
        .bind(id.as_uuid())
        .bind(display_name)
        .bind(Json(preferences))
        .fetch_one(c)
        .await)
        .ctx("updating a user's profile")?;
        let after = User::from(row);
        record(
            &mut tx,
            INSTANCE_TENANT,
            ctx,
            Change {
                action: "user.update",
                entity_type: "user",
                entity_id: id.to_string(),
                before: Some(
                    json!({"display_name": before.display_name, "preferences": before.preferences}),
                ),
                after: Some(
                    json!({"display_name": after.display_name, "preferences": after.preferences}),
                ),
            },
        )
        .await?;
        self.commit_credential_change(tx).await?;
        Ok(after)
    }

    /// Every live tenant a user belongs to, with their role there.
    pub async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            tenant: TenantRow,
            role: String,
        }
        let mut tx = self.begin(Mode::Read, None).await?;
        let rows: Vec<Row> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT t.id, t.slug, t.name, t.kind, t.settings, t.created_at, m.role
             FROM memberships m JOIN tenants t ON t.id = m.tenant_id
             WHERE m.user_id = $1 AND t.deleted_at IS NULL ORDER BY t.slug"
        )
        .bind(user.as_uuid())
        .fetch_all(c)
        .await)
        .ctx("listing a user's memberships")?;
        rows.into_iter()
            .map(|r| {
                Ok(Membership {
                    tenant: r.tenant.try_into()?,
                    user_id: user,
                    role: Role::from_str(&r.role).map_err(StoreError::Corrupt)?,
                })
            })
            .collect()
    }

    /// A user's role in a live tenant, if they are a member.
    pub async fn role_in(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Option<Role>, StoreError> {
        let mut tx = self.begin(Mode::Read, None).await?;
        let role: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id
             WHERE m.tenant_id = $1 AND m.user_id = $2 AND t.deleted_at IS NULL"
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(c)
        .await)
        .ctx("loading a membership")?;
        role.map(|r| Role::from_str(&r).map_err(StoreError::Corrupt))
            .transpose()
    }

    /// A tenant's members and their roles, by e-mail, one page at a time.
    pub async fn list_members(
        &self,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<(User, Role)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            role: String,
        }
        let after: Option<String> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, None).await?;
        let rows: Vec<Row> = on_tx!(&mut tx, |c| {
            sqlx::query_as(
                "SELECT u.id, u.email, u.display_name, u.preferences, u.is_instance_admin, u.created_at,
                        u.disabled_at, m.role
                 FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.tenant_id = $1 AND ($2 IS NULL OR u.email > $2) ORDER BY u.email LIMIT $3",
            )
            .bind(tenant.as_uuid())
            .bind(after.as_deref())
            .bind(limit + 1)
            .fetch_all(c)
            .await
        })
        .ctx("listing members")?;
        let members = rows
            .into_iter()
            .map(|r| {
                Ok((
                    User::from(r.user),
                    Role::from_str(&r.role).map_err(StoreError::Corrupt)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_rows(members, limit, |(u, _)| u.email.clone()))
    }

    /// Live tenants by slug, one page at a time (for instance administrators).
    pub async fn list_tenants_page(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Tenant>, StoreError> {
        let after: Option<String> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, None).await?;
        let rows: Vec<TenantRow> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id, slug, name, kind, settings, created_at FROM tenants
             WHERE deleted_at IS NULL AND ($1 IS NULL OR slug > $1) ORDER BY slug LIMIT $2"
        )
        .bind(after.as_deref())
        .bind(limit + 1)
        .fetch_all(c)
        .await)
        .ctx("listing tenants")?;
        let tenants = rows
            .into_iter()
            .map(Tenant::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(tenants, limit, |t| t.slug.clone()))
    }

    /// Adds a member, or changes an existing member's role. Refuses to leave a
    /// tenant without an owner.
    #[tracing::instrument(skip_all)]
    pub async fn set_membership(
        &self,
        tenant: TenantId,
        user: UserId,
        role: Role,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let before: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2"
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(c)
        .await)
        .ctx("loading a membership")?;
        execute_tx!(&mut tx, sqlx::query(
            "INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role"
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .bind(role.as_str())
        .bind(OffsetDateTime::now_utc()))
        .ctx("saving a membership")?;
        ensure_an_owner_remains(&mut tx, tenant, before.as_deref()).await?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: if before.is_some() {
                    "member.update"
                } else {
                    "member.add"
                },
                entity_type: "membership",
                entity_id: user.to_string(),
                before: before.map(|r| json!({"role": r})),
                after: Some(json!({"role": role.as_str()})),
            },
        )
        .await?;
        self.commit_credential_change(tx).await
    }

    /// Removes a member (their sessions in the tenant end; their API tokens
    /// there stop working because tokens act through the membership).
    #[tracing::instrument(skip_all)]
    pub async fn remove_membership(
        &self,
        tenant: TenantId,
        user: UserId,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let before: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
            "DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2 RETURNING role"
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(c)
        .await)
        .ctx("removing a membership")?;
        let Some(before) = before else {
            return Err(StoreError::NotFound);
        };
        ensure_an_owner_remains(&mut tx, tenant, Some(&before)).await?;
        execute_tx!(
            &mut tx,
            sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
        )
        .ctx("ending the member's sessions")?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "member.remove",
                entity_type: "membership",
                entity_id: user.to_string(),
                before: Some(json!({"role": before})),
                after: None,
            },
        )
        .await?;
        self.commit_credential_change(tx).await
    }
}

/// After a membership change that touched an owner, checks one is left.
async fn ensure_an_owner_remains(
    tx: &mut crate::Tx,
    tenant: TenantId,
    before: Option<&str>,
) -> Result<(), StoreError> {
    if before != Some("owner") {
        return Ok(());
    }
    let owners: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM memberships WHERE tenant_id = $1 AND role = 'owner'"
    )
    .bind(tenant.as_uuid())
    .fetch_one(c)
    .await)
    .ctx("counting owners")?;
    if owners == 0 {
        return Err(StoreError::Conflict {
            field: "role",
            message: "a tenant must keep at least one owner",
        });
    }
    Ok(())
}

/// A tenant that is not deleted, read inside the caller's transaction (an
/// ingest batch reads its tenant's settings without a transaction of its own).
pub(crate) async fn tenant_in(tx: &mut Tx, id: TenantId) -> Result<Tenant, StoreError> {
    let row: Option<TenantRow> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT id, slug, name, kind, settings, created_at FROM tenants WHERE id = $1 AND deleted_at IS NULL"
    )
    .bind(id.as_uuid())
    .fetch_optional(c)
    .await)
    .ctx("loading a tenant")?;
    row.ok_or(StoreError::NotFound)?.try_into()
}
