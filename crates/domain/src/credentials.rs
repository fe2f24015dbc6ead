//! Passwords and bearer secrets.
//!
//! Passwords are hashed with Argon2id at the OWASP-recommended minimum
//! (19 MiB memory, 2 passes, 1 lane): slow enough to make offline guessing
//! expensive, fast enough (~20 ms here) to keep logins snappy.
//!
//! Session cookies and API tokens are 256-bit random secrets. Only their
//! SHA-256 is stored: the secret itself has full entropy, so a fast hash is
//! enough, and a stolen database yields nothing that authenticates.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Argon2id memory cost in KiB.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes over memory.
pub const ARGON2_ITERATIONS: u32 = 2;
/// Argon2id lanes.
pub const ARGON2_PARALLELISM: u32 = 1;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted: bounds the hashing work an attacker can ask for.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// A password that meets the policy. Its `Debug` never shows the text.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Applies the password policy: at least [`MIN_PASSWORD_CHARS`] characters,
    /// not only spaces, at most [`MAX_PASSWORD_BYTES`] bytes.
    pub fn new(text: String) -> Result<Self, String> {
        if text.chars().count() < MIN_PASSWORD_CHARS {
            return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
        }
        if text.len() > MAX_PASSWORD_BYTES {
            return Err(format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
        }
        if text.trim().is_empty() {
            return Err("must not be only spaces".into());
        }
        Ok(Self(text))
    }

    /// Generates a random 20-character password (about 119 bits).
    pub fn generate() -> Result<Self, CredentialError> {
        let bytes = random_bytes::<15>()?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn argon2() -> Result<Argon2<'static>, CredentialError> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .map_err(|e| CredentialError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], CredentialError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| CredentialError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash_password(password: &Password) -> Result<String, CredentialError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| CredentialError::Hash(e.to_string()))?;
    let hash = argon2()?
        .hash_password(password.0.as_bytes(), &salt)
        .map_err(|e| CredentialError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// A hash of a random password nobody knows, verified against when the
/// account does not exist so that a login takes as long either way.
static DUMMY_HASH: std::sync::LazyLock<Option<String>> = std::sync::LazyLock::new(|| {
    Password::generate()
        .ok()
        .and_then(|p| hash_password(&p).ok())
});

/// Checks a password against a stored hash. With `None` (no such account) it
/// still does the work of one verification and answers `false`.
pub fn verify_password(candidate: &str, stored: Option<&str>) -> bool {
    let Ok(argon2) = argon2() else { return false };
    let Some(target) = stored.or(DUMMY_HASH.as_deref()) else {
        return false;
    };
    let Ok(parsed) = PasswordHash::new(target) else {
        return false;
    };
    let ok = argon2
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok();
    ok && stored.is_some()
}

/// What a secret token is for; the prefix lets secret scanners spot a leaked one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A browser session cookie.
    Session,
    /// An API token for `Authorization: Bearer`.
    Api,
    /// A CSRF token bound to a session.
    Csrf,
    /// A telematics connection's webhook signing secret (sealed, not hashed).
    Webhook,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Session => "mps_",
            Self::Api => "mpt_",
            Self::Csrf => "mpc_",
            Self::Webhook => "whsec_",
        }
    }
}

/// A freshly generated bearer secret: shown to its owner once, stored only as
/// [`SecretToken::hash`].
pub struct SecretToken(String);

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

impl SecretToken {
    pub fn generate(kind: TokenKind) -> Result<Self, CredentialError> {
        let bytes = random_bytes::<32>()?;
        Ok(Self(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
}

/// The stored form of a bearer secret: lower-case hex SHA-256.
pub fn hash_token(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        assert!(Password::new("short".into()).is_err());
        assert!(Password::new("          ".into()).is_err());
        assert!(Password::new("x".repeat(2000)).is_err());
        assert!(Password::new("correct horse".into()).is_ok());
        assert_eq!(
            format!("{:?}", Password::new("correct horse".into()).unwrap()),
            "Password(<redacted>)"
        );
    }

    #[test]
    fn hash_and_verify() {
        let password = Password::new("correct horse battery".into()).unwrap();
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("correct horse battery!", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("anything", Some("not a hash")));
    }

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let a = SecretToken::generate(TokenKind::Api).unwrap();
        let b = SecretToken::generate(TokenKind::Api).unwrap();
        assert!(a.expose().starts_with("mpt_"));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash().len(), 64);
        assert_eq!(a.hash(), hash_token(a.expose()));
        assert_eq!(format!("{a:?}"), "SecretToken(<redacted>)");
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
