//! Secrets at rest: AES-256-GCM with a keyring, so keys can rotate.
//!
//! Every sealed value records the id of the key that sealed it (the first 8
//! hex digits of the key's SHA-256), a fresh random 96-bit nonce, and is bound
//! to its owner by associated data (e.g. the connection id): a ciphertext
//! copied onto another row does not open. New values are sealed with the
//! current key; values sealed with a previous key still open until they are
//! re-sealed.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};

/// A sealed secret as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("bytes", &self.ciphertext.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed with key {0}, which this server does not have (add it as a previous key)")]
    UnknownKey(String),
    #[error("the sealed value does not open: wrong key, wrong owner or tampered")]
    Tampered,
    #[error("could not draw a random nonce")]
    Random,
}

/// The current key and any previous ones.
#[derive(Clone)]
pub struct Keyring {
    /// `(id, key)`, current first.
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

/// A key's id: the first 8 hex digits of its SHA-256 (not secret).
pub fn key_id(key: &[u8; 32]) -> String {
    Sha256::digest(key)
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Keyring {
    pub fn new(current: [u8; 32], previous: Vec<[u8; 32]>) -> Self {
        let keys = std::iter::once(current)
            .chain(previous)
            .map(|k| (key_id(&k), k))
            .collect();
        Self { keys }
    }

    /// The id new values are sealed with.
    pub fn current_id(&self) -> &str {
        self.keys.first().map_or("", |(id, _)| id.as_str())
    }

    pub fn seal(&self, plaintext: &[u8], owner: &[u8]) -> Result<Sealed, SealError> {
        let (id, key) = self.keys.first().ok_or(SealError::Random)?;
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let cipher = Aes256Gcm::new(key.into());
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: owner,
                },
            )
            .map_err(|_| SealError::Tampered)?;
        Ok(Sealed {
            key_id: id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub fn open(&self, sealed: &Sealed, owner: &[u8]) -> Result<Vec<u8>, SealError> {
        let (_, key) = self
            .keys
            .iter()
            .find(|(id, _)| *id == sealed.key_id)
            .ok_or_else(|| SealError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 12 {
            return Err(SealError::Tampered);
        }
        Aes256Gcm::new(key.into())
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: owner,
                },
            )
            .map_err(|_| SealError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_bound_to_the_owner() {
        let ring = Keyring::new([7; 32], vec![]);
        let sealed = ring.seal(b"hunter2", b"connection-1").unwrap();
        assert_eq!(sealed.key_id, ring.current_id());
        assert_ne!(sealed.ciphertext, b"hunter2");
        assert_eq!(ring.open(&sealed, b"connection-1").unwrap(), b"hunter2");
        assert_eq!(
            ring.open(&sealed, b"connection-2"),
            Err(SealError::Tampered)
        );
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(
            ring.open(&flipped, b"connection-1"),
            Err(SealError::Tampered)
        );
        let again = ring.seal(b"hunter2", b"connection-1").unwrap();
        assert_ne!(again.nonce, sealed.nonce, "a fresh nonce every time");
    }

    #[test]
    fn keys_rotate() {
        let old = Keyring::new([1; 32], vec![]);
        let sealed = old.seal(b"secret", b"o").unwrap();
        let rotated = Keyring::new([2; 32], vec![[1; 32]]);
        assert_eq!(rotated.open(&sealed, b"o").unwrap(), b"secret");
        assert_ne!(rotated.current_id(), sealed.key_id);
        let new_only = Keyring::new([2; 32], vec![]);
        assert!(matches!(
            new_only.open(&sealed, b"o"),
            Err(SealError::UnknownKey(_))
        ));
        assert!(
            !format!("{rotated:?}").contains("[1, 1"),
            "Debug hides keys"
        );
    }
}
