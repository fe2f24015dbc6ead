//! The complete JSON export of a tenant (or one vehicle), and its re-import.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use domain::ids::VehicleId;
use domain::tenancy::Role;
use serde::{Deserialize, Serialize};
use store::Export;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiQuery, parse_json};
use crate::openapi::{ReadErrors, WriteErrors};
use crate::routes::imports::MAX_IMPORT_BYTES;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// One vehicle; every live vehicle of the tenant when absent.
    pub vehicle_id: Option<VehicleId>,
}

/// What re-importing an export did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportImportView {
    pub vehicles_created: usize,
    /// Vehicles imported before (same original id): left as they are, new items added.
    pub vehicles_existing: usize,
    pub items_created: usize,
    /// Items imported before: nothing added for them.
    pub items_existing: usize,
}

/// Everything recorded about the tenant's vehicles (or one vehicle) as one
/// JSON document (`motorpool-export` version 1) that `POST /api/v1/imports/json`
/// and `motorpool import` read back losslessly.
#[utoipa::path(
    get, path = "/api/v1/export", tag = "vehicles",
    params(ExportQuery),
    responses((status = 200, description = "The export", content_type = "application/json", body = Object), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let vehicles = q.vehicle_id.map(|v| vec![v]);
    let export = state
        .store
        .export(principal.tenant_id, vehicles.as_deref())
        .await?;
    let body = serde_json::to_vec(&export)
        .map_err(|e| ApiError::Internal(format!("serialising an export: {e}")))?;
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"motorpool-export.json\""),
    );
    Ok(response.into_response())
}

/// Imports a `motorpool-export` document into the tenant (admins), in one
/// transaction: vehicles and items imported before are recognised by their
/// original ids and not duplicated.
#[utoipa::path(
    post, path = "/api/v1/imports/json", tag = "vehicles",
    request_body(content = Object, description = "A motorpool-export document"),
    responses((status = 200, body = ExportImportView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn import(
    State(state): State<AppState>,
    principal: Principal,
    body: Body,
) -> Result<Json<ExportImportView>, ApiError> {
    principal.require(Role::Admin)?;
    let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let export: Export = parse_json(&bytes)?;
    let r = state
        .store
        .import_export(principal.tenant_id, &export, &principal.audit())
        .await?;
    Ok(Json(ExportImportView {
        vehicles_created: r.vehicles_created,
        vehicles_existing: r.vehicles_existing,
        items_created: r.items_created,
        items_existing: r.items_existing,
    }))
}
