//! A tenant's fault rules (see [`domain::fault_rules`]). Changing a rule
//! rescores every vehicle with open faults in the same transaction, so the
//! fleet list never shows scores computed under old rules.

use std::str::FromStr;

use domain::fault_rules::{FaultRule, RuleAction, RuleMatch};
use domain::ids::{TenantId, VehicleId};
use domain::obd::ObdCode;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::{AuditContext, Mode, Store, StoreError, Tx, execute_tx, on_tx};

/// A stored rule.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub id: Uuid,
    pub rule: FaultRule,
    pub updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: Uuid,
    protocol: String,
    spn: Option<i32>,
    fmi: Option<i16>,
    source_address: Option<i16>,
    obd_code: Option<String>,
    action: String,
    label: Option<String>,
    note: Option<String>,
    updated_at: OffsetDateTime,
}

const RULE_COLUMNS: &str =
    "id, protocol, spn, fmi, source_address, obd_code, action, label, note, updated_at";

impl TryFrom<RuleRow> for StoredRule {
    type Error = StoreError;
    fn try_from(r: RuleRow) -> Result<Self, StoreError> {
        let corrupt = |m: String| StoreError::Corrupt(format!("fault rule: {m}"));
        let matches = match (r.protocol.as_str(), r.spn, r.obd_code) {
            ("j1939", Some(spn), None) => RuleMatch::j1939(
                u32::try_from(spn).map_err(|e| corrupt(e.to_string()))?,
                r.fmi.and_then(|f| u8::try_from(f).ok()),
                r.source_address.and_then(|a| u8::try_from(a).ok()),
            )
            .map_err(|(_, m)| corrupt(m))?,
            ("obd", None, Some(code)) => RuleMatch::Obd(ObdCode::parse(&code).map_err(corrupt)?),
            _ => return Err(corrupt("inconsistent columns".into())),
        };
        Ok(StoredRule {
            id: r.id,
            rule: FaultRule {
                matches,
                action: RuleAction::from_str(&r.action).map_err(corrupt)?,
                label: r.label,
                note: r.note,
            },
            updated_at: r.updated_at,
        })
    }
}

/// The columns of a match: (protocol, spn, fmi, source address, OBD code).
fn match_columns(
    m: &RuleMatch,
) -> (
    &'static str,
    Option<i32>,
    Option<i16>,
    Option<i16>,
    Option<String>,
) {
    match m {
        RuleMatch::J1939 {
            spn,
            fmi,
            source_address,
        } => (
            "j1939",
            i32::try_from(*spn).ok(),
            fmi.map(i16::from),
            source_address.map(i16::from),
            None,
        ),
        RuleMatch::Obd(code) => ("obd", None, None, None, Some(code.as_str().to_string())),
    }
}

/// The tenant's rules, inside a transaction (for scoring).
pub(crate) async fn rules_in(tx: &mut Tx, tenant: TenantId) -> Result<Vec<FaultRule>, StoreError> {
    let rows: Vec<RuleRow> = on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RULE_COLUMNS} FROM fault_rules WHERE tenant_id = $1 ORDER BY id"
    )))
    .bind(tenant.as_uuid())
    .fetch_all(c)
    .await)
    .ctx("loading fault rules")?;
    rows.into_iter()
        .map(|r| StoredRule::try_from(r).map(|s| s.rule))
        .collect()
}

/// Rescores every vehicle of the tenant that has open faults.
async fn rescore_open(tx: &mut Tx, tenant: TenantId) -> Result<(), StoreError> {
    let vehicles: Vec<Uuid> = on_tx!(tx, |c| {
        sqlx::query_scalar(
        "SELECT DISTINCT vehicle_id FROM fault_cycles WHERE tenant_id = $1 AND status <> 'resolved'"
    )
    .bind(tenant.as_uuid())
    .fetch_all(c)
    .await
    })
    .ctx("listing vehicles with open faults")?;
    // Each score is read from the vehicle's open cycles: locked first, so a
    // concurrent batch's sightings are in it (see `meters::lock_vehicle`).
    let ids: Vec<VehicleId> = vehicles.iter().map(|v| VehicleId::from(*v)).collect();
    crate::meters::lock_vehicles(tx, tenant, &ids).await?;
    let now = OffsetDateTime::now_utc();
    for v in vehicles {
        crate::health::refresh(tx, tenant, v.into(), now).await?;
    }
    Ok(())
}

fn audit_view(rule: &FaultRule) -> serde_json::Value {
    let (protocol, spn, fmi, sa, obd) = match_columns(&rule.matches);
    json!({
        "protocol": protocol, "spn": spn, "fmi": fmi, "source_address": sa, "obd_code": obd,
        "action": rule.action.as_str(), "label": rule.label, "note": rule.note,
    })
}

impl Store {
    /// The tenant's fault rules (a tenant has tens, not thousands).
    pub async fn list_fault_rules(&self, tenant: TenantId) -> Result<Vec<StoredRule>, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let rows: Vec<RuleRow> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM fault_rules WHERE tenant_id = $1 ORDER BY id"
        )))
        .bind(tenant.as_uuid())
        .fetch_all(c)
        .await)
        .ctx("listing fault rules")?;
        rows.into_iter().map(StoredRule::try_from).collect()
    }

    /// Creates a rule (one per pattern: a second is a conflict on `spn`).
    #[tracing::instrument(skip_all)]
    pub async fn create_fault_rule(
        &self,
        tenant: TenantId,
        rule: &FaultRule,
        ctx: &AuditContext,
    ) -> Result<StoredRule, StoreError> {
        let (protocol, spn, fmi, sa, obd) = match_columns(&rule.matches);
        let now = OffsetDateTime::now_utc();
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let row: RuleRow = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO fault_rules (tenant_id, id, protocol, spn, fmi, source_address, obd_code, action, label,
                 note, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING {RULE_COLUMNS}"
        )))
        .bind(tenant.as_uuid())
        .bind(Uuid::now_v7())
        .bind(protocol)
        .bind(spn)
        .bind(fmi)
        .bind(sa)
        .bind(obd)
        .bind(rule.action.as_str())
        .bind(rule.label.as_deref())
        .bind(rule.note.as_deref())
        .bind(now)
        .fetch_one(c)
        .await)
        .ctx("creating a fault rule")?;
        let stored = StoredRule::try_from(row)?;
        rescore_open(&mut tx, tenant).await?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "fault_rule.create",
                entity_type: "fault_rule",
                entity_id: stored.id.to_string(),
                before: None,
                after: Some(audit_view(rule)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Changes a rule's action, label and note (its pattern is its identity:
    /// delete and create to match other codes).
    #[tracing::instrument(skip_all)]
    pub async fn update_fault_rule(
        &self,
        tenant: TenantId,
        id: Uuid,
        action: RuleAction,
        label: Option<&str>,
        note: Option<&str>,
        ctx: &AuditContext,
    ) -> Result<StoredRule, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let row: Option<RuleRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE fault_rules SET action = $3, label = $4, note = $5, updated_at = $6
             WHERE tenant_id = $1 AND id = $2 RETURNING {RULE_COLUMNS}"
            )))
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(action.as_str())
            .bind(label)
            .bind(note)
            .bind(OffsetDateTime::now_utc())
            .fetch_optional(c)
            .await)
            .ctx("updating a fault rule")?;
        let stored = StoredRule::try_from(row.ok_or(StoreError::NotFound)?)?;
        rescore_open(&mut tx, tenant).await?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "fault_rule.update",
                entity_type: "fault_rule",
                entity_id: id.to_string(),
                before: None,
                after: Some(audit_view(&stored.rule)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Deletes a rule.
    #[tracing::instrument(skip_all)]
    pub async fn delete_fault_rule(
        &self,
        tenant: TenantId,
        id: Uuid,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let done = execute_tx!(
            &mut tx,
            sqlx::query("DELETE FROM fault_rules WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_uuid())
                .bind(id)
        )
        .ctx("deleting a fault rule")?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        rescore_open(&mut tx, tenant).await?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "fault_rule.delete",
                entity_type: "fault_rule",
                entity_id: id.to_string(),
                before: None,
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }
}
