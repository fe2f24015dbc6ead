//! Who is asking: resolving session cookies and API tokens into a
//! [`Principal`], CSRF protection for cookie-authenticated writes, and role
//! checks.
//!
//! The [`authenticate`] middleware runs on every API request and leaves its
//! verdict in the request's extensions; handlers take a [`Principal`]
//! argument to require one. Resolving once per request lets other middleware
//! (idempotency) see the principal too.

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use domain::credentials::{constant_time_eq, hash_token};
use domain::ids::TenantId;
use domain::tenancy::Role;
use store::{Actor, AuditContext, CredentialKind, User};

use crate::AppState;
use crate::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "motorpool_session";
/// The header a cookie-authenticated unsafe request must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Where a request came from, for the audit log and rate limiting.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts
            .extensions
            .get::<ClientInfo>()
            .cloned()
            .unwrap_or_default())
    }
}

/// An authenticated caller acting in exactly one tenant.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub tenant_id: TenantId,
    /// The effective role: the membership's, capped by a token's ceiling.
    pub role: Role,
    pub via: CredentialKind,
    pub client: ClientInfo,
}

impl Principal {
    /// Fails with 403 unless the caller's role is at least `min`.
    pub fn require(&self, min: Role) -> Result<(), ApiError> {
        if self.role >= min {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "your role in this tenant does not allow this",
            ))
        }
    }

    /// The audit context of this caller's writes.
    pub fn audit(&self) -> AuditContext {
        let actor = match &self.via {
            CredentialKind::Session { .. } => Actor::User {
                id: self.user.id,
                email: self.user.email.clone(),
            },
            CredentialKind::Token { id, name } => Actor::Token {
                id: *id,
                user_id: self.user.id,
                name: name.clone(),
            },
        };
        AuditContext {
            actor,
            ip: self.client.ip.clone(),
            user_agent: self.client.user_agent.clone(),
            request_id: self.client.request_id.clone(),
        }
    }

    /// A stable name for this credential's owner, scoping idempotency keys.
    pub fn idempotency_scope(&self) -> String {
        match &self.via {
            CredentialKind::Session { .. } => format!("user:{}", self.user.id),
            CredentialKind::Token { id, .. } => format!("token:{id}"),
        }
    }
}

/// The authentication verdict left in request extensions.
#[derive(Debug, Clone)]
enum AuthState {
    Authenticated(Box<Principal>),
    Anonymous,
    InvalidCredential,
    CsrfFailed,
    Failed(String),
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<AuthState>() {
            Some(AuthState::Authenticated(p)) => Ok((**p).clone()),
            Some(AuthState::CsrfFailed) => Err(ApiError::Forbidden(
                "cookie-authenticated writes need the session's CSRF token in the X-CSRF-Token header",
            )),
            Some(AuthState::Failed(e)) => Err(ApiError::Internal(e.clone())),
            Some(AuthState::InvalidCredential | AuthState::Anonymous) | None => {
                Err(ApiError::Unauthenticated)
            }
        }
    }
}

/// The authenticated principal if any, for middleware.
pub fn principal_of(req: &Request) -> Option<&Principal> {
    match req.extensions().get::<AuthState>() {
        Some(AuthState::Authenticated(p)) => Some(p),
        _ => None,
    }
}

/// Reads a cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn client_info(state: &AppState, req: &Request) -> ClientInfo {
    let headers = req.headers();
    let forwarded = state
        .settings
        .trust_forwarded_for
        .then(|| headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()))
        .flatten()
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string());
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    ClientInfo {
        ip: forwarded.or(peer),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect()),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    client: ClientInfo,
) -> AuthState {
    let (secret, from_cookie) = if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
            return AuthState::InvalidCredential;
        };
        (token.trim().to_string(), false)
    } else if let Some(value) = cookie(headers, SESSION_COOKIE) {
        (value.to_string(), true)
    } else {
        return AuthState::Anonymous;
    };
    let credential = match state
        .store
        .resolve_credential(&hash_token(&secret), state.settings.session_lifetime_secs)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) if from_cookie => return AuthState::Anonymous,
        Ok(None) => return AuthState::InvalidCredential,
        Err(e) => return AuthState::Failed(e.to_string()),
    };
    if from_cookie && !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let CredentialKind::Session { csrf_token, .. } = &credential.kind else {
            return AuthState::InvalidCredential;
        };
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !constant_time_eq(sent, csrf_token) {
            return AuthState::CsrfFailed;
        }
    }
    AuthState::Authenticated(Box::new(Principal {
        user: credential.user,
        tenant_id: credential.tenant_id,
        role: credential.role,
        via: credential.kind,
        client,
    }))
}

/// Middleware: resolves the caller and leaves the verdict for extractors.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let client = client_info(&state, &req);
    req.extensions_mut().insert(client.clone());
    // Request bodies are not Sync: hold only the parts resolution needs across awaits.
    let (headers, method) = (req.headers().clone(), req.method().clone());
    let verdict = resolve(&state, &headers, &method, client).await;
    req.extensions_mut().insert(verdict);
    next.run(req).await
}
