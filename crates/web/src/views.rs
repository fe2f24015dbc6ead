//! The JSON shapes the API answers with for identity objects. Each is built
//! from a store type; none exposes a secret or a hash.

use domain::ids::{TenantId, UserId};
use domain::preferences::{Preferences, UnitSystem};
use domain::tenancy::{Role, TenantKind};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A user as others may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub preferences: PreferencesView,
    pub is_instance_admin: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&store::User> for UserView {
    fn from(u: &store::User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            preferences: (&u.preferences).into(),
            is_instance_admin: u.is_instance_admin,
            created_at: u.created_at,
        }
    }
}

/// How a user wants values shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreferencesView {
    pub unit_system: UnitSystem,
    /// ISO 4217 code.
    pub currency: String,
    /// IANA time zone name.
    pub time_zone: String,
    /// BCP 47 language tag.
    pub locale: String,
}

impl From<&Preferences> for PreferencesView {
    fn from(p: &Preferences) -> Self {
        Self {
            unit_system: p.unit_system,
            currency: p.currency.as_str().to_string(),
            time_zone: p.time_zone.as_str().to_string(),
            locale: p.locale.as_str().to_string(),
        }
    }
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
    /// Free-form settings object.
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&store::Tenant> for TenantView {
    fn from(t: &store::Tenant) -> Self {
        Self {
            id: t.id,
            slug: t.slug.clone(),
            name: t.name.clone(),
            kind: t.kind,
            settings: t.settings.clone(),
            created_at: t.created_at,
        }
    }
}

/// One tenant a user belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub tenant: TenantView,
    pub role: Role,
}

impl From<&store::Membership> for MembershipView {
    fn from(m: &store::Membership) -> Self {
        Self {
            tenant: (&m.tenant).into(),
            role: m.role,
        }
    }
}
