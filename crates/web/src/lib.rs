//! Motorpool's HTTP face: the JSON API under `/api/v1` (documented at
//! `/api/openapi.json`), health and metrics endpoints, and the pages.
//!
//! [`Application::build`] binds a listener and assembles the router;
//! integration tests start it on port 0 against a throwaway database.

pub mod auth;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use store::Store;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use middleware::metrics::{Metrics, MetricsSource};

/// What the HTTP layer needs to know beyond the store.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The address users reach the server at; `https://` turns on secure
    /// cookies and HSTS.
    pub base_url: String,
    /// A session ends after this long without use (seconds).
    pub session_lifetime_secs: i64,
    /// Largest request body accepted (bytes).
    pub max_body_bytes: usize,
    /// Largest document upload accepted (bytes).
    pub max_upload_bytes: usize,
    /// Believe `X-Forwarded-For` (only behind a reverse proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Failed logins allowed per account per window.
    pub login_limit_per_account: i64,
    /// Failed logins allowed per client address per window.
    pub login_limit_per_ip: i64,
    /// The login throttle's window (seconds).
    pub login_window_secs: i64,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080".into(),
            session_lifetime_secs: 14 * 24 * 3600,
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 25 * 1024 * 1024,
            trust_forwarded_for: false,
            login_limit_per_account: 5,
            login_limit_per_ip: 50,
            login_window_secs: 15 * 60,
        }
    }
}

impl WebSettings {
    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// Shared by every handler: one `Arc`, because axum clones the state for
/// every middleware layer and every `State` extractor of every request (a
/// clone of the parts was eight reference counts, contended between the
/// runtime's threads, several times a request). Derefs to the parts.
#[derive(Clone)]
pub struct AppState(Arc<AppServices>);

impl AppState {
    pub fn new(services: AppServices) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppServices;

    fn deref(&self) -> &AppServices {
        &self.0
    }
}

/// What the handlers use, built once at start-up (see [`AppState`]).
pub struct AppServices {
    pub store: Store,
    /// Where document files live.
    pub files: store::FileStore,
    pub settings: Arc<WebSettings>,
    pub metrics: Arc<Metrics>,
    /// Seals and opens stored secrets (telematics credentials, webhook secrets).
    pub keyring: Arc<domain::sealed::Keyring>,
}

/// The full router: API, system endpoints, pages, and the middleware stack.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(routes::session::login))
        .routes(routes!(routes::session::logout))
        .routes(routes!(routes::session::me, routes::session::update_me))
        .routes(routes!(routes::session::switch_tenant))
        .routes(routes!(
            routes::vehicles::list_vehicles,
            routes::vehicles::create_vehicle
        ))
        .routes(routes!(
            routes::vehicles::get_vehicle,
            routes::vehicles::update_vehicle,
            routes::vehicles::delete_vehicle
        ))
        .routes(routes!(
            routes::tenant::get_tenant,
            routes::tenant::update_tenant
        ))
        .routes(routes!(
            routes::members::list_members,
            routes::members::add_member
        ))
        .routes(routes!(
            routes::members::update_member,
            routes::members::remove_member
        ))
        .routes(routes!(
            routes::tokens::list_tokens,
            routes::tokens::create_token
        ))
        .routes(routes!(routes::tokens::revoke_token))
        .routes(routes!(routes::vin::decode_vin))
        .routes(routes!(
            routes::meters::list_readings,
            routes::meters::create_reading
        ))
        .routes(routes!(routes::meters::update_reading))
        .routes(routes!(routes::meters::create_offset))
        .routes(routes!(routes::meters::bulk_readings))
        .routes(routes!(routes::telemetry::ingest))
        .routes(routes!(routes::faults::list_faults))
        .routes(routes!(routes::faults::list_events))
        .routes(routes!(routes::faults::resolve_fault))
        .routes(routes!(routes::faults::vehicle_health))
        .routes(routes!(routes::faults::library))
        .routes(routes!(routes::faults::lookup))
        .routes(routes!(routes::fleet::overview))
        .routes(routes!(routes::reports::cost_per_distance))
        .routes(routes!(
            routes::fault_rules::list_rules,
            routes::fault_rules::create_rule
        ))
        .routes(routes!(
            routes::fault_rules::update_rule,
            routes::fault_rules::delete_rule
        ))
        .routes(routes!(
            routes::telematics::list_connections,
            routes::telematics::create_connection
        ))
        .routes(routes!(
            routes::telematics::get_connection,
            routes::telematics::update_connection,
            routes::telematics::delete_connection
        ))
        .routes(routes!(routes::telematics::sync_now))
        .routes(routes!(routes::telematics::list_sync_logs))
        .routes(routes!(routes::telematics::webhook))
        .routes(routes!(routes::fuel::list_fuel, routes::fuel::create_fuel))
        .routes(routes!(routes::fuel::get_fuel, routes::fuel::delete_fuel))
        .routes(routes!(routes::fuel::fuel_stats))
        .routes(routes!(
            routes::service::list_tasks,
            routes::service::create_task
        ))
        .routes(routes!(
            routes::service::list_services,
            routes::service::create_service
        ))
        .routes(routes!(routes::service::delete_service))
        .routes(routes!(
            routes::service::list_expenses,
            routes::service::create_expense
        ))
        .routes(routes!(routes::service::delete_expense))
        .routes(routes!(routes::service::costs))
        .routes(routes!(
            routes::schedules::list_schedules,
            routes::schedules::create_schedule
        ))
        .routes(routes!(routes::schedules::apply_template))
        .routes(routes!(
            routes::schedules::update_schedule,
            routes::schedules::delete_schedule
        ))
        .routes(routes!(routes::schedules::due_list))
        .routes(routes!(routes::summary::vehicle_summary))
        .routes(routes!(routes::imports::import_file))
        .routes(routes!(routes::exports::export_csv))
        .routes(routes!(routes::export_json::export))
        .routes(routes!(routes::export_json::import))
        .routes({
            // Uploads may be far larger than JSON bodies.
            let (schemas, paths, method) =
                routes!(routes::documents::list, routes::documents::upload);
            (
                schemas,
                paths,
                method.layer(DefaultBodyLimit::max(
                    state.settings.max_upload_bytes + 64 * 1024,
                )),
            )
        })
        .routes(routes!(routes::documents::expiring))
        .routes(routes!(routes::documents::get, routes::documents::delete))
        .routes(routes!(routes::documents::download))
        .routes(routes!(routes::audit::list_audit))
        .routes(routes!(
            routes::instance::list_tenants,
            routes::instance::create_tenant
        ))
        .routes(routes!(routes::instance::create_user))
        .routes(routes!(routes::system::healthz))
        .routes(routes!(routes::system::readyz))
        .routes(routes!(routes::system::metrics))
        .split_for_parts();
    let openapi = Arc::new(openapi);

    let request_id = HeaderName::from_static("x-request-id");
    api.route(
        "/api/openapi.json",
        get(move || {
            let doc = openapi.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
    .route("/", get(pages::home))
    .fallback(|| async { error::ApiError::NotFound })
    .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::idempotency::idempotency))
    .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
    .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
    .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::security::security_headers))
    .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::metrics::track))
    .layer(
        TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }),
    )
    .layer(PropagateRequestIdLayer::new(request_id.clone()))
    .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
    .with_state(state)
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Application {
    /// Binds `listen` (port 0 picks a free port) and builds the router.
    pub async fn build(listen: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        Ok(Self {
            listener,
            router: router(state),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting connections and
    /// lets requests in flight finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}
