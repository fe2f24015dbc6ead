//! Tenants, users and roles: who may do what, where.

use serde::{Deserialize, Serialize};

/// What kind of organisation a tenant is. It changes defaults and which
/// features are offered, never what data isolation applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    /// One person or household with a few vehicles.
    Personal,
    /// A business running its own vehicles.
    Fleet,
    /// A dealer or service shop that also sees consenting customers' vehicles.
    Dealer,
}

impl TenantKind {
    pub const ALL: [TenantKind; 3] = [Self::Personal, Self::Fleet, Self::Dealer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Fleet => "fleet",
            Self::Dealer => "dealer",
        }
    }
}

impl std::str::FromStr for TenantKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown tenant kind `{s}`: expected personal, fleet or dealer"))
    }
}

/// A member's role in one tenant. Roles are ordered: each includes every
/// permission of the roles below it, so a check is `role >= Role::Manager`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything in the tenant, changes nothing.
    Viewer,
    /// Records what happens to the vehicles assigned to them (fuel, inspections).
    Driver,
    /// Writes maintenance records and work orders.
    Technician,
    /// Writes all vehicle records and schedules.
    Manager,
    /// Manages members, API tokens and tenant settings.
    Admin,
    /// Everything an admin can, plus deleting the tenant and managing owners.
    Owner,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Self::Viewer,
        Self::Driver,
        Self::Technician,
        Self::Manager,
        Self::Admin,
        Self::Owner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Driver => "driver",
            Self::Technician => "technician",
            Self::Manager => "manager",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// The role that applies when a credential carries a ceiling: the lower of
    /// the member's role and the ceiling.
    pub fn capped_at(self, ceiling: Role) -> Role {
        self.min(ceiling)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!(
                "unknown role `{s}`: expected one of viewer, driver, technician, manager, admin, owner"
            )
        })
    }
}

/// A tenant's URL-safe short name: 2–63 characters of `a-z`, `0-9` and `-`,
/// starting with a letter, not ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim().to_ascii_lowercase();
        if s.len() < 2 || s.len() > 63 {
            return Err("must be 2 to 63 characters long".into());
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err("must start with a letter".into());
        }
        if s.ends_with('-') {
            return Err("must not end with `-`".into());
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(format!(
                "must contain only letters, digits and `-` (found `{bad}`)"
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(value: Slug) -> Self {
        value.0
    }
}

/// An e-mail address, trimmed and lower-cased so that uniqueness is
/// case-insensitive everywhere without relying on database collations.
///
/// The check is deliberately shallow (one `@`, a dot in the domain, no
/// spaces): the only real proof of an address is a message that arrives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim().to_lowercase();
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("must contain `@`".into());
        };
        if local.is_empty() || domain.contains('@') {
            return Err("must have exactly one `@` with a name before it".into());
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err("must have a domain such as example.com after `@`".into());
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces".into());
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

/// A name shown to people: trimmed, 1–`max` characters, no control characters.
pub fn parse_display_text(input: &str, max: usize) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Owner > Role::Admin);
        assert!(Role::Admin > Role::Manager);
        assert!(Role::Manager > Role::Technician);
        assert!(Role::Technician > Role::Driver);
        assert!(Role::Driver > Role::Viewer);
        assert_eq!(Role::Owner.capped_at(Role::Viewer), Role::Viewer);
        assert_eq!(Role::Driver.capped_at(Role::Admin), Role::Driver);
    }

    #[test]
    fn role_and_kind_round_trip_through_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        for kind in TenantKind::ALL {
            assert_eq!(kind.as_str().parse::<TenantKind>(), Ok(kind));
        }
        assert!("superuser".parse::<Role>().is_err());
    }

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "a nn@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn slug_rules() {
        assert_eq!(
            Slug::parse("Acme-Trucking").unwrap().as_str(),
            "acme-trucking"
        );
        for bad in ["a", "1abc", "abc-", "ab_c", "ab c"] {
            assert!(Slug::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn display_text_is_trimmed_and_bounded() {
        assert_eq!(parse_display_text("  Truck 7 ", 10).unwrap(), "Truck 7");
        assert!(parse_display_text("   ", 10).is_err());
        assert!(parse_display_text("abcdefghijk", 10).is_err());
        assert!(parse_display_text("a\u{0}b", 10).is_err());
    }
}
