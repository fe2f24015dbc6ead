//! A vehicle's faults (cycles and raw events), resolving them, its health
//! explanation, and the fault library.

use axum::Json;
use axum::extract::{Path, State};
use domain::fault_code::{FaultCode, FaultMessage, FaultStatus, Origin, Protocol, Resolution};
use domain::fault_rules::{RuleAction, applicable};
use domain::faults::{self, Assessment, Severity, SpnInfo};
use domain::health::Health;
use domain::ids::{UserId, VehicleId};
use domain::j1939::Lamps;
use domain::obd::ObdCode;
use domain::tenancy::{Role, parse_display_text};
use serde::{Deserialize, Serialize};
use store::{FaultCycle, FaultEvent, Resolve, StoredRule};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::parse_vehicle;
use crate::extract::{ApiJson, ApiQuery, check_limit};
use crate::openapi::{ReadErrors, WriteErrors};
use crate::routes::fault_rules::RuleView;

/// What a fault code is, from the library.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeView {
    pub protocol: Protocol,
    /// `j1939:SPN:FMI:SA` or `obd:P0420`.
    pub key: String,
    pub spn: Option<u32>,
    pub fmi: Option<u8>,
    pub source_address: Option<u8>,
    /// The ECU at `source_address`, when known.
    pub source_name: Option<String>,
    pub obd_code: Option<String>,
    /// A readable one-line description.
    pub label: String,
    /// The SPN's name, category and unit, for the 128 common SPNs.
    pub spn_info: Option<SpnInfo>,
    pub fmi_description: Option<String>,
    /// SPN 516,096 and up (or an OBD-II code's second character `1`): the manufacturer's own.
    pub manufacturer_specific: bool,
    /// OBD-II: the code's SAE title, where the library cites a source for it.
    pub obd_title: Option<String>,
    /// OBD-II P0/P2 codes: the powertrain area the code's third character names.
    pub obd_subsystem: Option<String>,
}

impl From<&FaultCode> for CodeView {
    fn from(code: &FaultCode) -> Self {
        let obd_code = match code {
            FaultCode::Obd(c) => Some(c),
            FaultCode::J1939 { .. } => None,
        };
        let (spn, fmi, sa, obd) = match code {
            FaultCode::J1939 {
                spn,
                fmi,
                source_address,
            } => (Some(*spn), Some(*fmi), Some(*source_address), None),
            FaultCode::Obd(c) => (None, None, None, Some(c.as_str().to_string())),
        };
        Self {
            protocol: code.protocol(),
            key: code.key(),
            spn,
            fmi,
            source_address: sa,
            source_name: sa.and_then(faults::source_name).map(str::to_string),
            obd_code: obd,
            label: code.label(),
            spn_info: spn.and_then(faults::spn_info).cloned(),
            fmi_description: fmi.and_then(faults::fmi_description).map(str::to_string),
            manufacturer_specific: spn.is_some_and(|s| s >= domain::j1939::FIRST_PROPRIETARY_SPN)
                || obd_code.is_some_and(|c| c.class() == domain::obd::ObdClass::Manufacturer),
            obd_title: obd_code.and_then(|c| c.title()).map(str::to_string),
            obd_subsystem: obd_code.and_then(|c| c.subsystem()).map(str::to_string),
        }
    }
}

/// A fault cycle: one stretch of a code being reported on a vehicle.
#[derive(Debug, Serialize, ToSchema)]
pub struct FaultCycleView {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub code: CodeView,
    /// `active`, `inactive` (stopped being reported) or `resolved`.
    pub status: FaultStatus,
    /// The worst severity assessed over the cycle.
    pub severity: Severity,
    /// What to do about it (from the latest lamps) and which rule decided.
    pub assessment: Assessment,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// Events that fed the cycle.
    pub reports: i32,
    /// The ECU's latest occurrence count, when it sent one.
    pub occurrences: Option<u8>,
    /// The lamps of the latest report.
    pub lamps: Lamps,
    pub odometer_first_km: Option<f64>,
    pub odometer_last_km: Option<f64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub inactive_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_by: Option<UserId>,
    pub resolution: Option<Resolution>,
    pub resolution_note: Option<String>,
    pub service_record_id: Option<Uuid>,
    /// The tenant's rule for this code, if one applies (its label and note
    /// override the library's; `ignore` keeps it out of the health score).
    pub rule: Option<RuleView>,
}

impl FaultCycleView {
    fn with_rules(c: FaultCycle, rules: &[StoredRule]) -> Self {
        let rule = applicable(rules, &c.code, |r| &r.rule).map(RuleView::from);
        let mut view = Self::from(c);
        if let Some(r) = &rule {
            if let Some(label) = &r.label {
                view.code.label.clone_from(label);
            }
            if r.action == RuleAction::Critical {
                view.severity = Severity::Critical;
            }
        }
        view.rule = rule;
        view
    }
}

impl From<FaultCycle> for FaultCycleView {
    fn from(c: FaultCycle) -> Self {
        Self {
            id: c.id,
            vehicle_id: c.vehicle_id,
            code: CodeView::from(&c.code),
            status: c.status,
            severity: c.severity,
            assessment: c.code.assess(&c.lamps),
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            reports: c.reports,
            occurrences: c.occurrences,
            lamps: c.lamps,
            odometer_first_km: c.odometer_first_km,
            odometer_last_km: c.odometer_last_km,
            inactive_since: c.inactive_since,
            resolved_at: c.resolved_at,
            resolved_by: c.resolved_by,
            resolution: c.resolution,
            resolution_note: c.resolution_note,
            service_record_id: c.service_record_id,
            rule: None,
        }
    }
}

/// One page of fault cycles, latest sighting first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FaultCyclePage {
    pub items: Vec<FaultCycleView>,
    pub next_cursor: Option<String>,
}

/// A raw fault event, as received.
#[derive(Debug, Serialize, ToSchema)]
pub struct FaultEventView {
    pub id: Uuid,
    pub code: CodeView,
    pub message: FaultMessage,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    pub occurrences: Option<u8>,
    pub lamps: Lamps,
    /// Conversion method 1: the SPN may be wrong (legacy byte order).
    pub legacy_conversion: bool,
    pub origin: Origin,
}

impl From<FaultEvent> for FaultEventView {
    fn from(e: FaultEvent) -> Self {
        Self {
            id: e.id,
            code: CodeView::from(&e.code),
            message: e.message,
            observed_at: e.observed_at,
            occurrences: e.occurrences,
            lamps: e.lamps,
            legacy_conversion: e.legacy_conversion,
            origin: e.origin,
        }
    }
}

/// One page of raw fault events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FaultEventPage {
    pub items: Vec<FaultEventView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FaultQuery {
    /// Only cycles in this state.
    pub status: Option<FaultStatus>,
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

/// How a fault was resolved.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `manual` (default), `service` (with `service_record_id`) or `work_order`.
    pub resolution: Option<Resolution>,
    pub service_record_id: Option<Uuid>,
    /// Why, for the history (up to 1,000 characters).
    pub note: Option<String>,
}

/// A vehicle's health score, risk level and the factors behind them.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthExplanation {
    pub vehicle_id: VehicleId,
    #[serde(flatten)]
    pub health: Health,
    /// When it was last computed; absent if never (a clean vehicle).
    #[serde(with = "time::serde::rfc3339::option")]
    pub computed_at: Option<OffsetDateTime>,
}

/// A vehicle's fault cycles (viewers and up).
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/faults", tag = "faults",
    params(("id" = VehicleId, Path), FaultQuery),
    responses((status = 200, body = FaultCyclePage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_faults(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<FaultQuery>,
) -> Result<Json<FaultCyclePage>, ApiError> {
    principal.require(Role::Viewer)?;
    let limit = check_limit(q.limit)?;
    let page = state
        .store
        .list_fault_cycles(
            principal.tenant_id,
            parse_vehicle(&id)?,
            q.status,
            q.cursor.as_deref(),
            limit,
        )
        .await?;
    let rules = state.store.list_fault_rules(principal.tenant_id).await?;
    Ok(Json(FaultCyclePage {
        items: page
            .items
            .into_iter()
            .map(|c| FaultCycleView::with_rules(c, &rules))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A vehicle's raw fault events, as received (viewers and up).
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/fault-events", tag = "faults",
    params(("id" = VehicleId, Path), EventQuery),
    responses((status = 200, body = FaultEventPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> Result<Json<FaultEventPage>, ApiError> {
    principal.require(Role::Viewer)?;
    let limit = check_limit(q.limit)?;
    let page = state
        .store
        .list_fault_events(
            principal.tenant_id,
            parse_vehicle(&id)?,
            q.cursor.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(FaultEventPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Resolves a fault cycle (technicians and up): by hand, by a service record
/// of the same vehicle, or by a work order. A later sighting opens a new cycle.
#[utoipa::path(
    post, path = "/api/v1/vehicles/{id}/faults/{fault_id}/resolve", tag = "faults",
    params(("id" = VehicleId, Path), ("fault_id" = Uuid, Path)),
    request_body = ResolveBody,
    responses((status = 200, body = FaultCycleView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn resolve_fault(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, fault_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Json<FaultCycleView>, ApiError> {
    principal.require(Role::Technician)?;
    let fault_id: Uuid = fault_id.parse().map_err(|_| ApiError::NotFound)?;
    let note = body
        .note
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| parse_display_text(n, 1000))
        .transpose()
        .map_err(|m| ApiError::field("note", m))?;
    let how = Resolve {
        resolution: body.resolution.unwrap_or(Resolution::Manual),
        service_record_id: body.service_record_id,
        note,
        by: Some(principal.user.id),
    };
    let cycle = state
        .store
        .resolve_fault(
            principal.tenant_id,
            parse_vehicle(&id)?,
            fault_id,
            &how,
            &principal.audit(),
        )
        .await?;
    Ok(Json(cycle.into()))
}

/// A vehicle's health score and risk level with the factors behind them
/// (viewers and up). Recomputed when faults or maintenance change, and hourly.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/health", tag = "faults",
    params(("id" = VehicleId, Path)),
    responses((status = 200, body = HealthExplanation), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn vehicle_health(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<HealthExplanation>, ApiError> {
    principal.require(Role::Viewer)?;
    let vehicle = parse_vehicle(&id)?;
    let (health, computed_at) = state
        .store
        .vehicle_health(principal.tenant_id, vehicle)
        .await?;
    Ok(Json(HealthExplanation {
        vehicle_id: vehicle,
        health,
        computed_at,
    }))
}

/// Looks up one code in the library.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    pub spn: Option<u32>,
    pub fmi: Option<u8>,
    /// Default 0 (engine #1).
    pub source_address: Option<u8>,
    /// Instead of SPN/FMI: an OBD-II code such as `P0420`.
    pub obd_code: Option<String>,
}

/// A code from the library with its default assessment (no lamps lit).
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupView {
    pub code: CodeView,
    pub assessment: Assessment,
}

/// The fault library's tables.
#[derive(Debug, Serialize, ToSchema)]
pub struct LibraryView {
    /// FMI 0–31 and what each means.
    pub fmis: Vec<FmiView>,
    /// The common SPNs with name, category and unit.
    pub spns: Vec<SpnInfo>,
    /// Known J1939 source addresses.
    pub source_addresses: Vec<SourceView>,
    /// SPNs from here up are manufacturer-assigned.
    pub first_manufacturer_spn: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FmiView {
    pub fmi: u8,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub source_address: u8,
    pub name: String,
}

/// The fault library: FMIs, common SPNs and source addresses (anyone signed in).
#[utoipa::path(
    get, path = "/api/v1/fault-library", tag = "faults",
    responses((status = 200, body = LibraryView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn library(principal: Principal) -> Result<Json<LibraryView>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(LibraryView {
        fmis: (0..=31u8)
            .filter_map(|fmi| {
                faults::fmi_description(fmi).map(|d| FmiView {
                    fmi,
                    description: d.to_string(),
                })
            })
            .collect(),
        spns: faults::all_spns().into_iter().cloned().collect(),
        source_addresses: (0..=255u8)
            .filter_map(|sa| {
                faults::source_name(sa).map(|n| SourceView {
                    source_address: sa,
                    name: n.to_string(),
                })
            })
            .collect(),
        first_manufacturer_spn: domain::j1939::FIRST_PROPRIETARY_SPN,
    }))
}

/// Describes one code and its default severity and action (anyone signed in).
#[utoipa::path(
    get, path = "/api/v1/fault-library/lookup", tag = "faults",
    params(LookupQuery),
    responses((status = 200, body = LookupView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn lookup(
    principal: Principal,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> Result<Json<LookupView>, ApiError> {
    principal.require(Role::Viewer)?;
    let code = match (q.spn, q.fmi, q.obd_code) {
        (Some(spn), Some(fmi), None) => FaultCode::j1939(spn, fmi, q.source_address.unwrap_or(0))
            .map_err(|(field, m)| ApiError::field(field, m))?,
        (None, None, Some(code)) => ObdCode::parse(&code)
            .map(FaultCode::Obd)
            .map_err(|m| ApiError::field("obd_code", m))?,
        _ => {
            return Err(ApiError::field(
                "spn",
                "give either spn and fmi (and source_address) or obd_code",
            ));
        }
    };
    Ok(Json(LookupView {
        assessment: code.assess(&domain::fault_code::LAMPS_OFF),
        code: CodeView::from(&code),
    }))
}
