//! Each vehicle's health score and risk level, stored on the vehicle row and
//! recomputed (by [`domain::health::assess`]) when its faults or maintenance
//! state change, and hourly as faults age: the fleet list sorts and filters
//! on the stored values and never reads fault history.

use std::collections::HashSet;
use std::str::FromStr;

use domain::fault_code::{FaultCode, FaultPolicy, FaultStatus, is_lit};
use domain::fault_rules::{RuleAction, applicable};
use domain::faults::Severity;
use domain::health::{FaultInput, Health, HealthInputs};
use domain::ids::{TenantId, VehicleId};
use domain::obd::ObdCode;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::{Mode, Store, StoreError, Tx, execute_tx, on_tx};

/// Recomputes and stores one vehicle's health.
pub(crate) async fn refresh(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    now: OffsetDateTime,
) -> Result<Health, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Open {
        protocol: String,
        spn: Option<i32>,
        fmi: Option<i16>,
        source_address: Option<i16>,
        obd_code: Option<String>,
        status: String,
        severity: String,
        last_seen: OffsetDateTime,
        occurrences: Option<i16>,
        lamp_red_stop: String,
        lamp_amber_warning: String,
        lamp_protect: String,
    }
    let open: Vec<Open> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT protocol, spn, fmi, source_address, obd_code, status, severity, last_seen, occurrences,
                lamp_red_stop, lamp_amber_warning, lamp_protect
         FROM fault_cycles WHERE tenant_id = $1 AND vehicle_id = $2 AND status <> 'resolved'"
    )
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .fetch_all(c)
    .await)
    .ctx("loading a vehicle's open faults")?;
    let overdue: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM maintenance_schedules WHERE tenant_id = $1 AND vehicle_id = $2 AND status = 'overdue'"
    )
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .fetch_one(c)
    .await)
    .ctx("counting overdue schedules")?;
    let lit = |s: &str| domain::j1939::Lamp::from_str(s).is_ok_and(is_lit);
    let rules = crate::fault_rules::rules_in(tx, tenant).await?;
    let mut faults = Vec::with_capacity(open.len());
    for o in open {
        let code = match (
            o.protocol.as_str(),
            o.spn,
            o.fmi,
            o.source_address,
            &o.obd_code,
        ) {
            ("j1939", Some(spn), Some(fmi), Some(sa), _) => FaultCode::j1939(
                u32::try_from(spn).unwrap_or(u32::MAX),
                u8::try_from(fmi).unwrap_or(u8::MAX),
                u8::try_from(sa).unwrap_or_default(),
            )
            .map_err(|(_, m)| StoreError::Corrupt(m))?,
            ("obd", _, _, _, Some(text)) => {
                FaultCode::Obd(ObdCode::parse(text).map_err(StoreError::Corrupt)?)
            }
            _ => return Err(StoreError::Corrupt("a fault cycle without a code".into())),
        };
        // A tenant's rule may leave the code out, make it critical, or rename it.
        let rule = applicable(&rules, &code, |r| r);
        let mut severity = Severity::from_str(&o.severity).map_err(StoreError::Corrupt)?;
        match rule.map(|r| r.action) {
            Some(RuleAction::Ignore) => continue,
            Some(RuleAction::Critical) => severity = Severity::Critical,
            _ => {}
        }
        let label = rule
            .and_then(|r| r.label.clone())
            .unwrap_or_else(|| code.label());
        faults.push(FaultInput {
            label,
            severity,
            active: FaultStatus::from_str(&o.status).map_err(StoreError::Corrupt)?
                == FaultStatus::Active,
            red_stop_lamp: lit(&o.lamp_red_stop),
            amber_lamp: lit(&o.lamp_amber_warning) || lit(&o.lamp_protect),
            last_seen: o.last_seen,
            occurrences: o.occurrences.and_then(|v| u8::try_from(v).ok()),
        });
    }
    let health = domain::health::assess(&HealthInputs {
        faults,
        overdue_schedules: u32::try_from(overdue).unwrap_or(u32::MAX),
        now,
    });
    execute_tx!(
        tx,
        sqlx::query(
            "UPDATE vehicles SET health_score = $3, risk_rank = $4, health = $5, health_at = $6
             WHERE tenant_id = $1 AND id = $2"
        )
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(i16::from(health.score))
        .bind(i16::from(health.risk.rank()))
        .bind(Json(&health))
        .bind(now)
    )
    .ctx("storing a vehicle's health")?;
    Ok(health)
}

/// Marks active cycles not reported for the policy's time as inactive.
async fn age_cycles(
    tx: &mut Tx,
    tenant: TenantId,
    policy: FaultPolicy,
    now: OffsetDateTime,
) -> Result<HashSet<VehicleId>, StoreError> {
    let stale_before = now - policy.inactive_after;
    let aged: Vec<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(
        "UPDATE fault_cycles SET status = 'inactive', inactive_since = $3, updated_at = $3
         WHERE tenant_id = $1 AND status = 'active' AND last_seen < $2
         RETURNING vehicle_id"
    )
    .bind(tenant.as_uuid())
    .bind(stale_before)
    .bind(now)
    .fetch_all(c)
    .await)
    .ctx("ageing fault cycles")?;
    Ok(aged.into_iter().map(VehicleId::from).collect())
}

impl Store {
    /// The hourly pass: in every tenant, active faults not reported for the
    /// tenant's `fault_inactive_after_hours` become inactive, and the health
    /// of every vehicle with open faults is recomputed (recency decays).
    /// Returns how many vehicles were rescored.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_fleet_health(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut count = 0;
        for tenant in self.list_tenants().await? {
            let policy = FaultPolicy::from_settings(&tenant.settings);
            let mut tx = self.begin(Mode::Write, Some(tenant.id)).await?;
            let mut vehicles = age_cycles(&mut tx, tenant.id, policy, now).await?;
            let open: Vec<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT DISTINCT vehicle_id FROM fault_cycles WHERE tenant_id = $1 AND status <> 'resolved'"
            )
            .bind(tenant.id.as_uuid())
            .fetch_all(c)
            .await)
            .ctx("listing vehicles with open faults")?;
            vehicles.extend(open.into_iter().map(VehicleId::from));
            for v in vehicles {
                refresh(&mut tx, tenant.id, v, now).await?;
                count += 1;
            }
            tx.commit().await?;
        }
        Ok(count)
    }

    /// A vehicle's stored health with when it was computed; a vehicle never
    /// scored (no faults, no maintenance change yet) is a clean 100 with no time.
    pub async fn vehicle_health(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
    ) -> Result<(Health, Option<OffsetDateTime>), StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let row: Option<(Option<Json<Health>>, Option<OffsetDateTime>)> =
            on_tx!(&mut tx, |c| sqlx::query_as(
                "SELECT health, health_at FROM vehicles WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
            )
            .bind(tenant.as_uuid())
            .bind(vehicle.as_uuid())
            .fetch_optional(c)
            .await)
            .ctx("loading a vehicle's health")?;
        match row {
            None => Err(StoreError::NotFound),
            Some((Some(Json(h)), at)) => Ok((h, at)),
            Some((None, _)) => Ok((
                domain::health::assess(&HealthInputs {
                    faults: vec![],
                    overdue_schedules: 0,
                    now: OffsetDateTime::now_utc(),
                }),
                None,
            )),
        }
    }
}
