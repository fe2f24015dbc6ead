//! Logging in and out, the current user, and switching tenants.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::ValidationErrors;
use domain::credentials::{SecretToken, TokenKind, verify_password};
use domain::preferences::{PreferencesPatch, UnitSystem};
use domain::tenancy::{Email, Role, parse_display_text};
use serde::{Deserialize, Serialize};
use store::{CredentialKind, NewSession, ThrottleDecision};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{ClientInfo, Principal, SESSION_COOKIE};
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::openapi::{ReadErrors, WriteErrors};
use crate::views::{MembershipView, TenantView, UserView};

/// Credentials for a browser session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Slug of the tenant to act in; defaults to the first by slug.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// Who is logged in, where, and how.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub user: UserView,
    /// The tenant this request acts in.
    pub tenant: TenantView,
    /// The effective role in that tenant.
    pub role: Role,
    /// Every tenant the user belongs to.
    pub memberships: Vec<MembershipView>,
    /// `session` or `token`.
    pub authenticated_by: String,
    /// For sessions: send this in `X-CSRF-Token` on every unsafe request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

async fn session_view(state: &AppState, p: &Principal) -> Result<SessionView, ApiError> {
    let tenant = state.store.tenant(p.tenant_id).await?;
    let memberships = state.store.memberships_of(p.user.id).await?;
    let (by, csrf) = match &p.via {
        CredentialKind::Session { csrf_token, .. } => ("session", Some(csrf_token.clone())),
        CredentialKind::Token { .. } => ("token", None),
    };
    Ok(SessionView {
        user: (&p.user).into(),
        tenant: (&tenant).into(),
        role: p.role,
        memberships: memberships.iter().map(Into::into).collect(),
        authenticated_by: by.to_string(),
        csrf_token: csrf,
    })
}

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let secure = if state.settings.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| ApiError::Internal(format!("building the session cookie: {e}")))
}

/// Logs in with e-mail and password and starts a browser session.
///
/// Failed attempts are limited per account and per client address; past the
/// limit the answer is 429 with `Retry-After`, even for the right password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = SessionView),
        (status = 401, description = "Wrong e-mail or password", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The user belongs to no tenant (or not to the one named)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is malformed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let email = Email::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    let s = &state.settings;
    let account_key = format!("login:email:{email}");
    let ip_key = format!("login:ip:{}", client.ip.as_deref().unwrap_or("unknown"));
    let keys = [
        (account_key.as_str(), s.login_limit_per_account),
        (ip_key.as_str(), s.login_limit_per_ip),
    ];
    if let ThrottleDecision::Blocked { retry_after } = state
        .store
        .throttle_check(&keys, s.login_window_secs)
        .await?
    {
        return Err(ApiError::TooManyRequests { retry_after });
    }

    let found = state.store.user_for_login(&email).await?;
    let password = body.password;
    let stored_hash = found.as_ref().and_then(|(_, h)| h.clone());
    // Argon2 is CPU-bound by design: keep it off the async workers.
    let ok =
        tokio::task::spawn_blocking(move || verify_password(&password, stored_hash.as_deref()))
            .await
            .map_err(|e| ApiError::Internal(format!("password check panicked: {e}")))?;
    let user = match found {
        Some((user, _)) if ok && !user.disabled => user,
        _ => {
            state
                .store
                .throttle_fail(&[&account_key, &ip_key], s.login_window_secs)
                .await?;
            tracing::info!(email = %email, "failed login");
            return Err(ApiError::WrongCredentials);
        }
    };
    state.store.throttle_reset(&account_key).await?;

    let memberships = state.store.memberships_of(user.id).await?;
    let membership = match body.tenant.as_deref() {
        Some(slug) => memberships
            .iter()
            .find(|m| m.tenant.slug == slug.trim().to_ascii_lowercase()),
        None => memberships.first(),
    }
    .ok_or(ApiError::Forbidden(
        "you are not a member of that tenant (or of any tenant yet)",
    ))?;

    let secret = SecretToken::generate(TokenKind::Session)?;
    let csrf = SecretToken::generate(TokenKind::Csrf)?;
    let session = state
        .store
        .create_session(&NewSession {
            user: user.id,
            tenant: membership.tenant.id,
            token_hash: &secret.hash(),
            csrf_token: csrf.expose(),
            lifetime_secs: s.session_lifetime_secs,
            ip: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
        })
        .await?;
    tracing::info!(user = %user.id, tenant = %membership.tenant.id, "logged in");
    let principal = Principal {
        user,
        tenant_id: membership.tenant.id,
        role: membership.role,
        via: CredentialKind::Session {
            id: session.id,
            csrf_token: session.csrf_token,
        },
        client,
    };
    let view = session_view(&state, &principal).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        session_cookie(&state, secret.expose(), s.session_lifetime_secs)?,
    );
    Ok((StatusCode::OK, headers, Json(view)).into_response())
}

/// Ends the current browser session.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "session",
    responses((status = 204, description = "Logged out; the cookie is cleared"), WriteErrors),
    security(("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    let CredentialKind::Session { id, .. } = principal.via else {
        return Err(ApiError::field(
            "authorization",
            "API tokens are revoked, not logged out",
        ));
    };
    state.store.delete_session(id).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, session_cookie(&state, "", 0)?);
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// The current user, tenant and role.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = SessionView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn me(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(session_view(&state, &principal).await?))
}

/// Changes to the current user's profile; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    pub display_name: Option<String>,
    pub preferences: Option<PreferencesUpdate>,
}

/// Changes to display preferences.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesUpdate {
    pub unit_system: Option<UnitSystem>,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: Option<String>,
    /// IANA time zone, e.g. `America/Chicago`.
    pub time_zone: Option<String>,
    /// BCP 47 tag, e.g. `en-US`.
    pub locale: Option<String>,
}

/// Updates the current user's display name and preferences.
#[utoipa::path(
    patch, path = "/api/v1/me", tag = "session",
    request_body = ProfileUpdate,
    responses((status = 200, body = SessionView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_me(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ProfileUpdate>,
) -> Result<Json<SessionView>, ApiError> {
    let mut errors = ValidationErrors::new();
    let display_name = match &body.display_name {
        Some(name) => errors.check("display_name", parse_display_text(name, 100)),
        None => Some(principal.user.display_name.clone()),
    };
    let prefs = body.preferences.as_ref();
    let patch = PreferencesPatch {
        unit_system: prefs.and_then(|p| p.unit_system),
        currency: prefs.and_then(|p| p.currency.as_deref()),
        time_zone: prefs.and_then(|p| p.time_zone.as_deref()),
        locale: prefs.and_then(|p| p.locale.as_deref()),
    };
    let preferences = match principal.user.preferences.apply(&patch) {
        Ok(p) => Some(p),
        Err(e) => {
            for f in e.0 {
                errors.push(format!("preferences.{}", f.field), f.message);
            }
            None
        }
    };
    errors.into_result()?;
    let (Some(display_name), Some(preferences)) = (display_name, preferences) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let user = state
        .store
        .update_user_profile(
            principal.user.id,
            &display_name,
            &preferences,
            &principal.audit(),
        )
        .await?;
    let principal = Principal { user, ..principal };
    Ok(Json(session_view(&state, &principal).await?))
}

/// The tenant to act in from now on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchTenant {
    /// The tenant's slug.
    pub tenant: String,
}

/// Switches the session to another tenant the user belongs to.
#[utoipa::path(
    put, path = "/api/v1/me/tenant", tag = "session",
    request_body = SwitchTenant,
    responses((status = 200, body = SessionView), WriteErrors),
    security(("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn switch_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<SwitchTenant>,
) -> Result<Json<SessionView>, ApiError> {
    let CredentialKind::Session { id, .. } = &principal.via else {
        return Err(ApiError::field(
            "tenant",
            "an API token belongs to one tenant and cannot switch",
        ));
    };
    let memberships = state.store.memberships_of(principal.user.id).await?;
    let wanted = body.tenant.trim().to_ascii_lowercase();
    let m = memberships
        .iter()
        .find(|m| m.tenant.slug == wanted)
        .ok_or_else(|| {
            ApiError::field("tenant", "you are not a member of a tenant with this slug")
        })?;
    state.store.switch_session_tenant(*id, m.tenant.id).await?;
    let principal = Principal {
        tenant_id: m.tenant.id,
        role: m.role,
        ..principal
    };
    Ok(Json(session_view(&state, &principal).await?))
}
