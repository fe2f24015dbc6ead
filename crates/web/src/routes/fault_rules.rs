//! A tenant's fault rules: rename or annotate a code, ignore it, or mark it
//! critical (see `domain::fault_rules`).

use axum::Json;
use axum::extract::{Path, State};
use domain::fault_code::Protocol;
use domain::fault_rules::{FaultRule, RuleAction, RuleMatch};
use domain::obd::ObdCode;
use domain::tenancy::{Role, parse_display_text};
use serde::{Deserialize, Serialize};
use store::StoredRule;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::openapi::{ReadErrors, WriteErrors};

/// A tenant's fault rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    pub id: Uuid,
    pub protocol: Protocol,
    pub spn: Option<u32>,
    /// Absent: every FMI.
    pub fmi: Option<u8>,
    /// Absent: every source address.
    pub source_address: Option<u8>,
    pub obd_code: Option<String>,
    pub action: RuleAction,
    pub label: Option<String>,
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&StoredRule> for RuleView {
    fn from(s: &StoredRule) -> Self {
        let (protocol, spn, fmi, sa, obd) = match &s.rule.matches {
            RuleMatch::J1939 {
                spn,
                fmi,
                source_address,
            } => (Protocol::J1939, Some(*spn), *fmi, *source_address, None),
            RuleMatch::Obd(c) => (
                Protocol::Obd,
                None,
                None,
                None,
                Some(c.as_str().to_string()),
            ),
        };
        Self {
            id: s.id,
            protocol,
            spn,
            fmi,
            source_address: sa,
            obd_code: obd,
            action: s.rule.action,
            label: s.rule.label.clone(),
            note: s.rule.note.clone(),
            updated_at: s.updated_at,
        }
    }
}

/// A rule to create: a J1939 SPN (optionally one FMI and one source
/// address) or an OBD-II code, and what to do with it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCreate {
    pub spn: Option<u32>,
    pub fmi: Option<u8>,
    pub source_address: Option<u8>,
    pub obd_code: Option<String>,
    /// `ignore` (leave out of health scores), `critical` or `annotate`.
    pub action: RuleAction,
    /// Shown instead of the library's label (up to 200 characters).
    pub label: Option<String>,
    /// The fleet's note (up to 1,000 characters).
    pub note: Option<String>,
}

/// Changes to a rule's action, label or note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleUpdate {
    pub action: Option<RuleAction>,
    pub label: Option<String>,
    pub note: Option<String>,
}

fn optional_text(field: &str, text: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| parse_display_text(t, max).map_err(|m| ApiError::field(field, m)))
        .transpose()
}

/// The tenant's fault rules (viewers and up).
#[utoipa::path(
    get, path = "/api/v1/fault-rules", tag = "faults",
    responses((status = 200, body = Vec<RuleView>), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_rules(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<RuleView>>, ApiError> {
    principal.require(Role::Viewer)?;
    let rules = state.store.list_fault_rules(principal.tenant_id).await?;
    Ok(Json(rules.iter().map(RuleView::from).collect()))
}

/// Creates a fault rule (managers and up); scores are recomputed at once.
#[utoipa::path(
    post, path = "/api/v1/fault-rules", tag = "faults",
    request_body = RuleCreate,
    responses((status = 201, body = RuleView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_rule(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<RuleCreate>,
) -> Result<(axum::http::StatusCode, Json<RuleView>), ApiError> {
    principal.require(Role::Manager)?;
    let matches = match (body.spn, body.obd_code.as_deref()) {
        (Some(spn), None) => RuleMatch::j1939(spn, body.fmi, body.source_address)
            .map_err(|(field, m)| ApiError::field(field, m))?,
        (None, Some(code)) if body.fmi.is_none() && body.source_address.is_none() => {
            RuleMatch::Obd(ObdCode::parse(code).map_err(|m| ApiError::field("obd_code", m))?)
        }
        _ => {
            return Err(ApiError::field(
                "spn",
                "give either spn (with optional fmi and source_address) or obd_code",
            ));
        }
    };
    let rule = FaultRule {
        matches,
        action: body.action,
        label: optional_text("label", body.label.as_deref(), 200)?,
        note: optional_text("note", body.note.as_deref(), 1000)?,
    };
    let stored = state
        .store
        .create_fault_rule(principal.tenant_id, &rule, &principal.audit())
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(RuleView::from(&stored)),
    ))
}

/// Changes a fault rule (managers and up).
#[utoipa::path(
    patch, path = "/api/v1/fault-rules/{rule_id}", tag = "faults",
    params(("rule_id" = Uuid, Path)),
    request_body = RuleUpdate,
    responses((status = 200, body = RuleView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(rule_id): Path<String>,
    ApiJson(body): ApiJson<RuleUpdate>,
) -> Result<Json<RuleView>, ApiError> {
    principal.require(Role::Manager)?;
    let id: Uuid = rule_id.parse().map_err(|_| ApiError::NotFound)?;
    let current = state
        .store
        .list_fault_rules(principal.tenant_id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(ApiError::NotFound)?;
    let label = match body.label.as_deref() {
        Some(l) => optional_text("label", Some(l), 200)?,
        None => current.rule.label.clone(),
    };
    let note = match body.note.as_deref() {
        Some(n) => optional_text("note", Some(n), 1000)?,
        None => current.rule.note.clone(),
    };
    let stored = state
        .store
        .update_fault_rule(
            principal.tenant_id,
            id,
            body.action.unwrap_or(current.rule.action),
            label.as_deref(),
            note.as_deref(),
            &principal.audit(),
        )
        .await?;
    Ok(Json(RuleView::from(&stored)))
}

/// Deletes a fault rule (managers and up).
#[utoipa::path(
    delete, path = "/api/v1/fault-rules/{rule_id}", tag = "faults",
    params(("rule_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(rule_id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    principal.require(Role::Manager)?;
    let id: Uuid = rule_id.parse().map_err(|_| ApiError::NotFound)?;
    state
        .store
        .delete_fault_rule(principal.tenant_id, id, &principal.audit())
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
