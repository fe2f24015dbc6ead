//! Liveness, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, Problem};

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Present on readiness: the database backend (`sqlite` or `postgres`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Present on readiness: the schema version in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
    pub version: String,
}

/// Liveness: the process is up and answering. Touches nothing else.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        database: None,
        schema_version: None,
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Readiness: the database answers and its schema is the one this binary needs.
#[utoipa::path(
    get, path = "/readyz", tag = "system",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "Database unreachable or schema not current", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let status = state
        .store
        .check_schema()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(Health {
        status: "ok".into(),
        database: Some(state.store.kind().as_str().into()),
        schema_version: Some(status.database),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

/// Metrics in Prometheus text format: requests and latencies by route, database
/// pool usage, background job counts.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.metrics.render(state.store.pool_stats());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
