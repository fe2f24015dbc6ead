//! `Idempotency-Key` on POST: a retried request with the same key and body
//! gets the first response again (with `Idempotent-Replayed: true`) instead
//! of creating a second object.
//!
//! Keys are scoped to the tenant and the credential's owner, live 24 hours,
//! and are claimed before the handler runs (see `store::IdempotencyClaim`).
//! A server error releases the claim so that a retry runs again.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use store::{IdempotencyClaim, StoredResponse};

use crate::AppState;
use crate::auth::principal_of;
use crate::error::ApiError;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const TTL_SECS: i64 = 24 * 3600;
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// Headers kept with a stored response and replayed.
const KEPT_HEADERS: [HeaderName; 2] = [header::CONTENT_TYPE, header::LOCATION];

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k)
            if !k.is_empty()
                && k.len() <= MAX_KEY_LEN
                && k.chars().all(|c| c.is_ascii_graphic()) =>
        {
            k.to_string()
        }
        _ => {
            return ApiError::BadRequest {
                field: Some("Idempotency-Key".into()),
                message: format!(
                    "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
                ),
            }
            .into_response();
        }
    };
    // Unauthenticated requests (a login) are not keyed; the handler decides.
    let Some(principal) = principal_of(&req).cloned() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, state.settings.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return ApiError::PayloadTooLarge.into_response(),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_default(),
    );
    hasher.update([0]);
    hasher.update(&bytes);
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let scope = principal.idempotency_scope();
    let tenant = principal.tenant_id;

    match state
        .store
        .claim_idempotency(tenant, &scope, &key, &hash, TTL_SECS)
        .await
    {
        Err(e) => ApiError::from(e).into_response(),
        Ok(IdempotencyClaim::Mismatch) => ApiError::field(
            "Idempotency-Key",
            "this key was already used for a different request; use a new key for a new request",
        )
        .into_response(),
        Ok(IdempotencyClaim::InProgress) => ApiError::Conflict {
            field: "Idempotency-Key",
            message: "a request with this key is still being processed; retry later".into(),
        }
        .into_response(),
        Ok(IdempotencyClaim::Replay(stored)) => replay(stored),
        Ok(IdempotencyClaim::New) => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            if response.status().is_server_error() {
                if let Err(e) = state.store.release_idempotency(tenant, &scope, &key).await {
                    tracing::error!(error = %e, "releasing an idempotency key");
                }
                return response;
            }
            let (mut rparts, rbody) = response.into_parts();
            let body = match to_bytes(rbody, usize::MAX).await {
                Ok(b) => b,
                Err(e) => {
                    return ApiError::Internal(format!("buffering a response: {e}"))
                        .into_response();
                }
            };
            let stored = StoredResponse {
                status: rparts.status.as_u16(),
                headers: KEPT_HEADERS
                    .iter()
                    .filter_map(|name| {
                        let value = rparts.headers.get(name)?.to_str().ok()?;
                        Some((name.as_str().to_string(), value.to_string()))
                    })
                    .collect(),
                body: body.to_vec(),
            };
            if let Err(e) = state
                .store
                .complete_idempotency(tenant, &scope, &key, &stored)
                .await
            {
                tracing::error!(error = %e, "storing an idempotent response");
            }
            rparts
                .headers
                .insert(REPLAYED, HeaderValue::from_static("false"));
            Response::from_parts(rparts, Body::from(body))
        }
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}
