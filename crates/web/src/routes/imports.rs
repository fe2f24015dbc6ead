//! Importing another app's export into a vehicle.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use domain::fuel::FuelUnit;
use domain::ids::VehicleId;
use domain::import::{
    DateOrder, GenericKind, ImportError, Options, parse, parse_generic, parse_mapping,
};
use domain::money::exponent;
use domain::preferences::CurrencyCode;
use domain::tenancy::Role;
use domain::vehicle::OdometerUnit;
use serde::{Deserialize, Serialize};
use store::{ImportReport, ImportSettings};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ProblemField};
use crate::extract::ApiQuery;
use crate::openapi::WriteErrors;

/// Largest import file accepted (bytes): far above the request body limit,
/// since three years of history can be megabytes.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// What the file does not say itself, and how to apply it.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Report what would be imported; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Import the valid rows even if some have errors (default: a file with errors writes nothing).
    #[serde(default)]
    pub valid_only: bool,
    /// `mi` or `km`, when the file does not name its units (LubeLogger).
    pub distance_unit: Option<OdometerUnit>,
    /// `us_gal`, `uk_gal` or `l`, when the file does not name its units.
    pub volume_unit: Option<FuelUnit>,
    /// `.` or `,`, when the file's numbers are locale-formatted (LubeLogger).
    pub decimal_separator: Option<String>,
    /// `ymd`, `mdy` or `dmy`, for dates that are not ISO.
    pub date_order: Option<String>,
    /// Currency of the file's amounts (default: yours).
    pub currency: Option<String>,
    /// For files holding several vehicles (Fuelly): the one to import.
    pub source_vehicle: Option<String>,
    /// `generic` for any CSV with a column mapping; otherwise detected from the header.
    pub format: Option<String>,
    /// For `generic`: `fuel`, `service` or `odometer`.
    pub kind: Option<GenericKind>,
    /// For `generic`: our fields to the file's columns, e.g. `date:Fecha,odometer:Km,quantity:Litros,total:Importe`.
    pub columns: Option<String>,
}

/// The outcome of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportView {
    /// The detected format (`fuelly`, `lubelogger_fuel`, …).
    pub format: String,
    pub rows: usize,
    pub fuel: usize,
    pub services: usize,
    pub odometer: usize,
    pub expenses: usize,
    /// Rows imported before: nothing added for them.
    pub duplicates: usize,
    /// Every skipped row: `field` is `line N: column`.
    pub errors: Vec<ProblemField>,
    /// Whether anything was written.
    pub committed: bool,
}

impl From<ImportReport> for ImportView {
    fn from(r: ImportReport) -> Self {
        Self {
            format: r.format,
            rows: r.rows,
            fuel: r.fuel,
            services: r.services,
            odometer: r.odometer,
            expenses: r.expenses,
            duplicates: r.duplicates,
            errors: r
                .errors
                .into_iter()
                .map(|e| ProblemField {
                    field: format!("line {}: {}", e.line, e.field),
                    message: e.message,
                })
                .collect(),
            committed: r.committed,
        }
    }
}

/// Builds parse options from the query; errors name the parameter.
pub fn options(q: &ImportQuery, currency: &CurrencyCode) -> Result<Options, ApiError> {
    let decimal_separator = match q.decimal_separator.as_deref() {
        None => None,
        Some(".") => Some('.'),
        Some(",") => Some(','),
        Some(_) => {
            return Err(ApiError::BadRequest {
                field: Some("decimal_separator".into()),
                message: "decimal_separator must be `.` or `,`".into(),
            });
        }
    };
    let date_order = q
        .date_order
        .as_deref()
        .map(str::parse::<DateOrder>)
        .transpose()
        .map_err(|m| ApiError::BadRequest {
            field: Some("date_order".into()),
            message: m,
        })?;
    Ok(Options {
        distance_unit: q.distance_unit,
        volume_unit: q.volume_unit,
        decimal_separator,
        date_order,
        currency_exponent: exponent(currency),
    })
}

/// Maps a file-level import error to a problem naming the option or the file.
pub fn file_error(e: ImportError) -> ApiError {
    match e {
        ImportError::NeedsOption { option, .. } => ApiError::field(option, e.to_string()),
        other => ApiError::field("file", other.to_string()),
    }
}

/// Imports a Fuelly, Fuelio or LubeLogger CSV export into a vehicle (managers).
///
/// The body is the file (`text/csv`). The format is detected from its header.
/// Units, decimal separator and date order come from the file where it states
/// them, otherwise from the query — never guessed. Importing the same file
/// twice adds nothing. A file with errors writes nothing unless `valid_only`;
/// the answer lists every skipped row either way. `dry_run` writes nothing.
#[utoipa::path(
    post, path = "/api/v1/vehicles/{id}/imports", tag = "vehicles",
    params(("id" = VehicleId, Path), ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The exported file"),
    responses(
        (status = 200, description = "Imported (or, for a dry run or a refused file, what would be)", body = ImportView),
        WriteErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn import_file(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ImportView>), ApiError> {
    principal.require(Role::Manager)?;
    let vehicle: VehicleId = id.parse().map_err(|_| ApiError::NotFound)?;
    state.store.vehicle(principal.tenant_id, vehicle).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !(content_type.starts_with("text/csv")
        || content_type.starts_with("text/plain")
        || content_type.starts_with("application/octet-stream"))
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::field("file", "is not UTF-8 text"))?;
    let currency = match q.currency.as_deref() {
        Some(c) => CurrencyCode::parse(c).map_err(|m| ApiError::BadRequest {
            field: Some("currency".into()),
            message: m,
        })?,
        None => principal.user.preferences.currency.clone(),
    };
    let options = options(&q, &currency)?;
    let generic = match q.format.as_deref() {
        None => None,
        Some("generic") => {
            let kind = q.kind.ok_or_else(|| ApiError::BadRequest {
                field: Some("kind".into()),
                message: "a generic import needs kind".into(),
            })?;
            let columns = q.columns.as_deref().ok_or_else(|| ApiError::BadRequest {
                field: Some("columns".into()),
                message: "a generic import needs columns".into(),
            })?;
            let mapping = parse_mapping(columns).map_err(|m| ApiError::BadRequest {
                field: Some("columns".into()),
                message: m,
            })?;
            Some((kind, mapping))
        }
        Some(other) => {
            return Err(ApiError::BadRequest {
                field: Some("format".into()),
                message: format!("unknown format `{other}`: only `generic` is chosen by hand"),
            });
        }
    };
    // Parsing is CPU work on a possibly large file: keep it off the async workers.
    let parsed = tokio::task::spawn_blocking(move || match generic {
        Some((kind, mapping)) => parse_generic(&text, kind, &mapping, &options),
        None => parse(&text, &options),
    })
    .await
    .map_err(|e| ApiError::Internal(format!("import parser panicked: {e}")))?
    .map_err(file_error)?;
    let settings = ImportSettings {
        vehicle,
        source_vehicle: q.source_vehicle.clone(),
        currency,
        dry_run: q.dry_run,
        valid_only: q.valid_only,
        max_daily_km: crate::routes::meters::max_daily_km(&state, &principal).await?,
    };
    let report = state
        .store
        .import(
            principal.tenant_id,
            &parsed,
            &settings,
            &principal.audit(),
            &mut |_| {},
        )
        .await?;
    Ok((StatusCode::OK, Json(report.into())))
}
