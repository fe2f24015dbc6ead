//! Offline VIN decoding.

use axum::Json;
use axum::extract::Path;
use domain::tenancy::Role;
use domain::vin::Vin;
use domain::vin_decode::{VinDecode, decode};
use time::OffsetDateTime;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::openapi::ReadErrors;

/// Decodes a VIN without any network: check digit, manufacturer, country,
/// model-year candidates (and the year, when the VIN settles it), plant, serial.
#[utoipa::path(
    get, path = "/api/v1/vin/{vin}", tag = "vehicles",
    params(("vin" = String, Path, description = "17 characters; case and surrounding space are ignored")),
    responses(
        (status = 200, body = VinDecode),
        (status = 422, description = "Not a VIN", body = crate::error::Problem, content_type = "application/problem+json"),
        ReadErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn decode_vin(
    principal: Principal,
    Path(vin): Path<String>,
) -> Result<Json<VinDecode>, ApiError> {
    principal.require(Role::Viewer)?;
    let vin = Vin::parse(&vin).map_err(|e| ApiError::field("vin", e.to_string()))?;
    Ok(Json(decode(&vin, OffsetDateTime::now_utc().year())))
}
