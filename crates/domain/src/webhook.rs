//! Webhook signatures: HMAC-SHA256 over `"{timestamp}.{body}"`, sent as
//! `X-Motorpool-Timestamp: <unix seconds>` and
//! `X-Motorpool-Signature: sha256=<hex>`. Requests older (or newer) than
//! five minutes are refused, so a captured request cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from now.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing or malformed X-Motorpool-Timestamp")]
    Timestamp,
    #[error("the request is more than five minutes old (or from the future): replays are refused")]
    Stale,
    #[error("missing or malformed X-Motorpool-Signature (expected sha256=<hex>)")]
    SignatureFormat,
    #[error("the signature does not match")]
    Mismatch,
    #[error("unusable webhook secret")]
    Key,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, WebhookError> {
    // HMAC accepts keys of any length; the error exists only in the trait.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).map_err(|_| WebhookError::Key)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `X-Motorpool-Signature` value for a body sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let tag = mac(secret, timestamp, body)?.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("sha256={hex}"))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a request's timestamp and signature headers against its body.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookError> {
    let ts: i64 = timestamp
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or(WebhookError::Timestamp)?;
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err(WebhookError::Stale);
    }
    let tag = signature
        .and_then(|s| s.trim().strip_prefix("sha256="))
        .and_then(unhex)
        .ok_or(WebhookError::SignatureFormat)?;
    // `verify_slice` compares in constant time.
    mac(secret, ts, body)?
        .verify_slice(&tag)
        .map_err(|_| WebhookError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_requests_verify_and_everything_else_is_refused() {
        let secret = b"whsec_test";
        let body = br#"{"items":[]}"#;
        let now = 1_800_000_000;
        let sig = sign(secret, now, body).unwrap();
        let ts = now.to_string();
        assert_eq!(verify(secret, Some(&ts), Some(&sig), body, now), Ok(()));
        assert_eq!(
            verify(secret, Some(&ts), Some(&sig), body, now + 299),
            Ok(())
        );
        assert_eq!(
            verify(secret, Some(&ts), Some(&sig), body, now + 301),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify(secret, Some(&ts), Some(&sig), b"{}", now),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify(b"other", Some(&ts), Some(&sig), body, now),
            Err(WebhookError::Mismatch)
        );
        let other_time = (now - 1).to_string();
        assert_eq!(
            verify(secret, Some(&other_time), Some(&sig), body, now),
            Err(WebhookError::Mismatch),
            "the timestamp is signed too"
        );
        assert_eq!(
            verify(secret, None, Some(&sig), body, now),
            Err(WebhookError::Timestamp)
        );
        assert_eq!(
            verify(secret, Some("-5"), Some(&sig), body, now),
            Err(WebhookError::Timestamp)
        );
        assert_eq!(
            verify(secret, Some(&ts), Some("md5=00"), body, now),
            Err(WebhookError::SignatureFormat)
        );
        assert_eq!(
            verify(secret, Some(&ts), Some("sha256=zz"), body, now),
            Err(WebhookError::SignatureFormat)
        );
    }
}
