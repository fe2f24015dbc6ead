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

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in order: the extra
    /// row only says there is a next page, whose cursor is the key of the
    /// last row kept.
    pub(crate) fn from_rows<K: Serialize>(
        mut rows: Vec<T>,
        limit: i64,
        key: impl Fn(&T) -> K,
    ) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| encode_cursor(&key(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// The page size a caller asked for, clamped to 1–500, as SQL wants it.
pub(crate) fn page_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 500))
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
