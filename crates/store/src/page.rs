//! Keyset pagination: a page of rows and an opaque cursor to the next one.
//!
//! A cursor is the sort key of the last row shown, serialised as JSON and
//! base64url-encoded. It is opaque to clients (they only pass it back) and
//! stable under inserts, unlike an offset.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

pub(crate) fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

pub(crate) fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, StoreError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(StoreError::Invalid {
            field: "cursor",
            message: "is not a cursor this list returned",
        })
}
