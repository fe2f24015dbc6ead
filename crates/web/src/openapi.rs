//! The OpenAPI document's frame: metadata, security schemes and the shared
//! error responses. Paths are added by the router as routes are registered
//! (see `crate::router`), so every route is in the document by construction.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Motorpool API",
        description = "Vehicle maintenance and fleet health. Every request acts in one tenant: the \
            session's current tenant, or the tenant an API token belongs to. Errors are RFC 9457 \
            problem documents. Lists use keyset pagination: pass `next_cursor` back as `cursor`.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&SecuritySchemes),
    components(schemas(Problem)),
    tags(
        (name = "session", description = "Logging in and out, the current user, switching tenants"),
        (name = "vehicles", description = "Vehicles of the current tenant"),
        (name = "meters", description = "Odometer and engine-hour readings, meter replacements"),
        (name = "fuel", description = "Fuel and charging entries, fuel economy"),
        (name = "service", description = "Service tasks, service records, expenses, cost totals"),
        (name = "maintenance", description = "Recurring maintenance schedules and the due list"),
        (name = "documents", description = "Documents of vehicles: upload, download, expiry"),
        (name = "tenant", description = "The current tenant, its members and API tokens"),
        (name = "audit", description = "The current tenant's audit log"),
        (name = "instance", description = "Tenants and users across the server (instance administrators)"),
        (name = "system", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(
                "An API token (`mpt_…`) created under /api/v1/tokens or with `motorpool admin create-token`.",
            )).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "A browser session from POST /api/v1/auth/login. Unsafe methods also need the \
                 session's CSRF token in the X-CSRF-Token header.",
            ))),
        );
    }
}

/// The errors any authenticated read can answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ReadErrors {
    /// A query parameter or cursor is malformed.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(#[to_schema] Problem),
    /// No valid credential.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(#[to_schema] Problem),
    /// The caller's role does not allow this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(#[to_schema] Problem),
    /// No such object in the current tenant.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(#[to_schema] Problem),
}

/// The errors any authenticated write can answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum WriteErrors {
    /// The body is not valid JSON.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(#[to_schema] Problem),
    /// No valid credential.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(#[to_schema] Problem),
    /// The caller's role does not allow this, or the CSRF token is missing.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(#[to_schema] Problem),
    /// No such object in the current tenant.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(#[to_schema] Problem),
    /// A unique rule was broken (the field is named), or the Idempotency-Key is in use.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(#[to_schema] Problem),
    /// The body is larger than the server accepts.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(#[to_schema] Problem),
    /// The body is not JSON.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(#[to_schema] Problem),
    /// Fields are invalid (each is named), or an Idempotency-Key was reused for another request.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(#[to_schema] Problem),
}
