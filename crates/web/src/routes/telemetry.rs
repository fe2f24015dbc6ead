//! `POST /api/v1/telemetry`: batches of meter readings, faults and raw DM1/DM2
//! payloads from trucks, telematics providers and scripts.
//!
//! Each item is read on its own, so one malformed item is reported (with its
//! field) without failing the others; the accepted items commit together.

use axum::Json;
use axum::extract::State;
use domain::fault_code::Origin;
use domain::telemetry::{Door, TelemetryItemBody, parse_item};
use domain::tenancy::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::ItemOutcome;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ProblemField};
use crate::extract::ApiJson;
use crate::openapi::WriteErrors;

/// Most items in one batch.
pub const MAX_TELEMETRY_ITEMS: usize = 10_000;

/// A batch of telemetry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryBatch {
    /// 1 to 10,000 items.
    #[schema(value_type = Vec<TelemetryItemBody>)]
    pub items: Vec<Value>,
}

/// What happened to one item.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelemetryItemResult {
    /// Position in the batch, from 0.
    pub index: usize,
    /// `created`; `duplicate` (sent before: nothing changed); `applied` (a
    /// DM1 listing no codes: nothing to store, the ECU's open faults missed
    /// a report); `rejected` (nothing of it was written).
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// The answer to a batch. Accepted items were committed together.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelemetryResult {
    pub created: usize,
    pub duplicates: usize,
    pub applied: usize,
    pub rejected: usize,
    pub results: Vec<TelemetryItemResult>,
}

/// Ingests a batch of telemetry (technicians and up; integrations use an API
/// token). Idempotent: a batch sent twice changes nothing the second time.
/// Each item is reported as created, duplicate, applied or rejected (with
/// its fields); the accepted ones commit together.
#[utoipa::path(
    post, path = "/api/v1/telemetry", tag = "telemetry",
    request_body = TelemetryBatch,
    responses((status = 200, body = TelemetryResult), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn ingest(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<TelemetryBatch>,
) -> Result<Json<TelemetryResult>, ApiError> {
    principal.require(Role::Technician)?;
    let max = crate::routes::meters::max_daily_km(&state, &principal).await?;
    ingest_batch(
        &state,
        principal.tenant_id,
        body.items,
        Door { connection: None },
        Origin::Api,
        max,
        &principal.audit(),
    )
    .await
    .map(Json)
}

/// Reads and ingests a batch for a tenant: shared by the API and webhooks.
pub(crate) async fn ingest_batch(
    state: &AppState,
    tenant: domain::ids::TenantId,
    items: Vec<Value>,
    door: Door,
    origin: Origin,
    max: f64,
    audit: &store::AuditContext,
) -> Result<TelemetryResult, ApiError> {
    if items.is_empty() || items.len() > MAX_TELEMETRY_ITEMS {
        return Err(ApiError::field(
            "items",
            format!("must hold 1 to {MAX_TELEMETRY_ITEMS} items"),
        ));
    }
    let mut results: Vec<Option<TelemetryItemResult>> = Vec::with_capacity(items.len());
    let mut accepted = Vec::new();
    let mut positions = Vec::new();
    for (index, raw) in items.into_iter().enumerate() {
        match parse_item(index, raw, door) {
            Ok(item) => {
                results.push(None);
                positions.push(index);
                accepted.push(item);
            }
            Err(errors) => results.push(Some(TelemetryItemResult {
                index,
                status: "rejected".into(),
                errors: errors.into_iter().map(Into::into).collect(),
            })),
        }
    }
    let outcomes = if accepted.is_empty() {
        vec![]
    } else {
        state
            .store
            .ingest_telemetry(tenant, &accepted, origin, max, audit)
            .await?
    };
    for (index, outcome) in positions.into_iter().zip(outcomes) {
        let (status, errors) = match outcome {
            ItemOutcome::Created => ("created", vec![]),
            ItemOutcome::Duplicate => ("duplicate", vec![]),
            ItemOutcome::Applied => ("applied", vec![]),
            ItemOutcome::Rejected { field, message } => (
                "rejected",
                vec![ProblemField {
                    field: format!("items[{index}].{field}"),
                    message,
                }],
            ),
        };
        results[index] = Some(TelemetryItemResult {
            index,
            status: status.into(),
            errors,
        });
    }
    let results: Vec<TelemetryItemResult> = results.into_iter().flatten().collect();
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    Ok(TelemetryResult {
        created: count("created"),
        duplicates: count("duplicate"),
        applied: count("applied"),
        rejected: count("rejected"),
        results,
    })
}
