//! Fuel and charging entries, and the economy segments they close.
//!
//! Recording a fill also records its odometer as a meter reading (source
//! `fuel`) in the same transaction, so the meter rules apply to it and the
//! vehicle's current odometer follows. Each write recomputes the
//! full-to-full chain of that vehicle and fuel type and stores each entry's
//! closed segment, so reading economy never walks history.

use std::str::FromStr;

use domain::fuel::{Fill, FuelUnit, Segment, segments};
use domain::ids::{TenantId, VehicleId};
use domain::meter::{MeterKind, MeterSource, MeterValue};
use domain::preferences::CurrencyCode;
use domain::vehicle::FuelType;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::fuel_batch::{FuelRow, SegmentUpdate, insert_fuel_rows, store_segments};
use crate::fuel_months::{CountedFill, refresh_fuel_months};
use crate::meters::{CurrentMeters, NewReading, ReadingOutcome, record_readings_in};
use crate::page::{Page, decode_cursor, page_limit};
use crate::{AuditContext, Mode, Store, StoreError, Tx, execute_tx, on_tx};

/// A fill (or charge) to record, already checked field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFuelEntry {
    pub vehicle_id: VehicleId,
    pub filled_at: OffsetDateTime,
    /// The odometer at the pump (an odometer `MeterValue`).
    pub odometer: MeterValue,
    pub fuel_type: FuelType,
    pub grade: Option<String>,
    pub quantity: f64,
    pub quantity_unit: FuelUnit,
    /// L, kWh or kg.
    pub quantity_canonical: f64,
    /// Price per unit in thousandths of the currency's minor unit.
    pub unit_price_milli: Option<i64>,
    pub total_minor: Option<i64>,
    pub currency: CurrencyCode,
    pub full: bool,
    pub missed_previous: bool,
    pub station: Option<String>,
    /// State of charge before and after, percent (EVs).
    pub soc_before: Option<f64>,
    pub soc_after: Option<f64>,
    pub notes: Option<String>,
}

/// A stored entry with the segment it closes, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct FuelEntry {
    pub id: Uuid,
    pub entry: NewFuelEntry,
    pub segment: Option<Segment>,
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: Uuid,
    vehicle_id: Uuid,
    filled_at: OffsetDateTime,
    odometer_value: f64,
    odometer_unit: String,
    odometer_km: f64,
    fuel_type: String,
    grade: Option<String>,
    quantity: f64,
    quantity_unit: String,
    quantity_canonical: f64,
    unit_price_milli: Option<i64>,
    total_minor: Option<i64>,
    currency: String,
    full_fill: bool,
    missed_previous: bool,
    station: Option<String>,
    soc_before: Option<f64>,
    soc_after: Option<f64>,
    notes: Option<String>,
    seg_distance_km: Option<f64>,
    seg_quantity: Option<f64>,
    seg_cost_minor: Option<i64>,
    created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, vehicle_id, filled_at, odometer_value, odometer_unit, odometer_km, fuel_type, grade,
    quantity, quantity_unit, quantity_canonical, unit_price_milli, total_minor, currency, full_fill, missed_previous,
    station, soc_before, soc_after, notes, seg_distance_km, seg_quantity, seg_cost_minor, created_at";

impl TryFrom<EntryRow> for FuelEntry {
    type Error = StoreError;
    fn try_from(r: EntryRow) -> Result<Self, StoreError> {
        let unit =
            domain::meter::MeterUnit::from_str(&r.odometer_unit).map_err(StoreError::Corrupt)?;
        Ok(FuelEntry {
            id: r.id,
            entry: NewFuelEntry {
                vehicle_id: r.vehicle_id.into(),
                filled_at: r.filled_at,
                odometer: MeterValue {
                    value: r.odometer_value,
                    unit,
                    canonical: r.odometer_km,
                },
                fuel_type: FuelType::from_str(&r.fuel_type).map_err(StoreError::Corrupt)?,
                grade: r.grade,
                quantity: r.quantity,
                quantity_unit: FuelUnit::from_str(&r.quantity_unit).map_err(StoreError::Corrupt)?,
                quantity_canonical: r.quantity_canonical,
                unit_price_milli: r.unit_price_milli,
                total_minor: r.total_minor,
                currency: CurrencyCode::parse(&r.currency).map_err(StoreError::Corrupt)?,
                full: r.full_fill,
                missed_previous: r.missed_previous,
                station: r.station,
                soc_before: r.soc_before,
                soc_after: r.soc_after,
                notes: r.notes,
            },
            segment: match (r.seg_distance_km, r.seg_quantity) {
                (Some(distance_km), Some(quantity)) => Some(Segment {
                    distance_km,
                    quantity,
                    cost_minor: r.seg_cost_minor,
                }),
                _ => None,
            },
            created_at: r.created_at,
        })
    }
}

/// Recomputes the full-to-full chain of one vehicle and fuel type, writing
/// each entry's closed segment where it changed, and the chain's monthly
/// figures (`vehicle_monthly_fuel`) where they changed. Costs count only in the
/// currency of the chain's latest entry (a segment mixing currencies has no cost).
pub(crate) async fn recompute_chain(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    fuel: FuelType,
) -> Result<(), StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        filled_at: OffsetDateTime,
        odometer_km: f64,
        quantity_canonical: f64,
        full_fill: bool,
        missed_previous: bool,
        total_minor: Option<i64>,
        currency: String,
        seg_distance_km: Option<f64>,
        seg_quantity: Option<f64>,
        seg_cost_minor: Option<i64>,
    }
    let rows: Vec<Row> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT id, filled_at, odometer_km, quantity_canonical, full_fill, missed_previous, total_minor, currency,
                seg_distance_km, seg_quantity, seg_cost_minor
         FROM fuel_entries WHERE tenant_id = $1 AND vehicle_id = $2 AND fuel_type = $3
         ORDER BY odometer_km, filled_at, id"
    )
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .bind(fuel.as_str())
    .fetch_all(c)
    .await)
    .ctx("loading a fuel chain")?;
    let currency = rows.last().map(|r| r.currency.clone()).unwrap_or_default();
    let fills: Vec<Fill> = rows
        .iter()
        .map(|r| Fill {
            odometer_km: r.odometer_km,
            quantity: r.quantity_canonical,
            full: r.full_fill,
            missed_previous: r.missed_previous,
            cost_minor: r.total_minor.filter(|_| r.currency == currency),
        })
        .collect();
    let segments = segments(&fills);
    let changed: Vec<SegmentUpdate> = rows
        .iter()
        .zip(&segments)
        .filter_map(|(row, segment)| {
            let new = (
                segment.map(|s| s.distance_km),
                segment.map(|s| s.quantity),
                segment.and_then(|s| s.cost_minor),
            );
            (new != (row.seg_distance_km, row.seg_quantity, row.seg_cost_minor))
                .then_some((row.id, new.0, new.1, new.2))
        })
        .collect();
    store_segments(tx, tenant, &changed).await?;
    let counted: Vec<CountedFill> = rows
        .into_iter()
        .zip(segments)
        .map(|(row, segment)| CountedFill {
            filled_at: row.filled_at,
            currency: row.currency,
            quantity: row.quantity_canonical,
            total_minor: row.total_minor,
            segment,
        })
        .collect();
    refresh_fuel_months(tx, tenant, vehicle, fuel, &counted).await
}

impl Store {
    /// Records a fill, its odometer reading and the economy it closes. An
    /// odometer that breaks the meter rules refuses the fill (field `odometer`).
    #[tracing::instrument(skip_all)]
    pub async fn create_fuel_entry(
        &self,
        tenant: TenantId,
        new: &NewFuelEntry,
        max_daily_km: f64,
        ctx: &AuditContext,
    ) -> Result<FuelEntry, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, new.vehicle_id).await?;
        let id = insert_fuel_in(
            &mut tx,
            tenant,
            new,
            max_daily_km,
            None,
            CurrentMeters::Refresh,
        )
        .await?;
        recompute_chain(&mut tx, tenant, new.vehicle_id, new.fuel_type).await?;
        let entry = fetch_entry(&mut tx, tenant, new.vehicle_id, id).await?;
        crate::spend::refresh_spend(
            &mut tx,
            tenant,
            new.vehicle_id,
            Some(entry.entry.filled_at.to_offset(time::UtcOffset::UTC).date()),
        )
        .await?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "fuel.create",
                entity_type: "fuel_entry",
                entity_id: id.to_string(),
                before: None,
                after: Some(entry_json(&entry)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// One entry of a vehicle.
    pub async fn fuel_entry(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        id: Uuid,
    ) -> Result<FuelEntry, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        fetch_entry(&mut tx, tenant, vehicle, id).await
    }

    /// A vehicle's entries, newest first.
    pub async fn list_fuel_entries(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<FuelEntry>, StoreError> {
        let before: Option<(i64, Uuid)> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        let before_at = before.and_then(|(t, _)| OffsetDateTime::from_unix_timestamp(t).ok());
        let rows: Vec<EntryRow> =
            on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM fuel_entries WHERE tenant_id = $1 AND vehicle_id = $2
             AND ($3 IS NULL OR filled_at < $3 OR (filled_at = $3 AND id < $4))
             ORDER BY filled_at DESC, id DESC LIMIT $5"
            )))
            .bind(tenant.as_uuid())
            .bind(vehicle.as_uuid())
            .bind(before_at)
            .bind(before.map(|(_, id)| id))
            .bind(limit + 1)
            .fetch_all(c)
            .await)
            .ctx("listing fuel entries")?;
        let entries = rows
            .into_iter()
            .map(FuelEntry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(entries, limit, |e| {
            (e.entry.filled_at.unix_timestamp(), e.id)
        }))
    }

    /// Deletes an entry: its odometer reading is voided and the chain recomputed.
    #[tracing::instrument(skip_all)]
    pub async fn delete_fuel_entry(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        id: Uuid,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        crate::meters::lock_vehicle(&mut tx, tenant, vehicle).await?;
        let entry = fetch_entry(&mut tx, tenant, vehicle, id).await?;
        let reading: Option<Option<Uuid>> = on_tx!(&mut tx, |c| {
            sqlx::query_scalar(
            "DELETE FROM fuel_entries WHERE tenant_id = $1 AND id = $2 RETURNING meter_reading_id"
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(c)
        .await
        })
        .ctx("deleting a fuel entry")?;
        if let Some(Some(reading)) = reading {
            execute_tx!(
                &mut tx,
                sqlx::query(
                    "UPDATE meter_readings SET void = $3 WHERE tenant_id = $1 AND id = $2 AND source = 'fuel'"
                )
                .bind(tenant.as_uuid())
                .bind(reading)
                .bind(true)
            )
            .ctx("voiding a fuel entry's reading")?;
            crate::meters::refresh_after_change(
                &mut tx,
                tenant,
                vehicle,
                MeterKind::Odometer,
                entry.entry.filled_at,
            )
            .await?;
        }
        recompute_chain(&mut tx, tenant, vehicle, entry.entry.fuel_type).await?;
        crate::spend::refresh_spend(
            &mut tx,
            tenant,
            vehicle,
            Some(entry.entry.filled_at.to_offset(time::UtcOffset::UTC).date()),
        )
        .await?;
        crate::service::unlink_documents(&mut tx, tenant, id).await?;
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "fuel.delete",
                entity_type: "fuel_entry",
                entity_id: id.to_string(),
                before: Some(entry_json(&entry)),
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }
}

/// Records a fill and its odometer reading inside the caller's transaction,
/// without recomputing the economy chain (the caller does, once per batch).
pub(crate) async fn insert_fuel_in(
    tx: &mut Tx,
    tenant: TenantId,
    new: &NewFuelEntry,
    max_daily_km: f64,
    import_key: Option<&str>,
    current: CurrentMeters,
) -> Result<Uuid, StoreError> {
    let filled_at = crate::meters::to_second(new.filled_at);
    let reading = NewReading {
        vehicle_id: new.vehicle_id,
        kind: MeterKind::Odometer,
        read_at: filled_at,
        value: new.odometer,
        source: MeterSource::Fuel,
        note: None,
        void: false,
    };
    let reading_id = match record_readings_in(tx, tenant, &[reading], max_daily_km, current)
        .await?
        .pop()
    {
        Some(ReadingOutcome::Created(r) | ReadingOutcome::Duplicate(r)) => r.id,
        Some(ReadingOutcome::Rejected { message, .. }) => {
            return Err(StoreError::Rule {
                field: "odometer",
                message,
            });
        }
        None => return Err(StoreError::Corrupt("no outcome for a fuel reading".into())),
    };
    let id = Uuid::now_v7();
    insert_fuel_rows(
        tx,
        tenant,
        &[FuelRow {
            id,
            entry: new,
            reading_id,
            import_key,
        }],
    )
    .await?;
    Ok(id)
}

async fn fetch_entry(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    id: Uuid,
) -> Result<FuelEntry, StoreError> {
    let row: Option<EntryRow> = on_tx!(tx, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM fuel_entries WHERE tenant_id = $1 AND vehicle_id = $2 AND id = $3"
    )))
    .bind(tenant.as_uuid())
    .bind(vehicle.as_uuid())
    .bind(id)
    .fetch_optional(c)
    .await
    })
    .ctx("loading a fuel entry")?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

fn entry_json(e: &FuelEntry) -> serde_json::Value {
    let n = &e.entry;
    json!({
        "vehicle_id": n.vehicle_id, "filled_at": n.filled_at.unix_timestamp(), "odometer": n.odometer.value,
        "odometer_unit": n.odometer.unit.as_str(), "fuel_type": n.fuel_type.as_str(), "quantity": n.quantity,
        "unit": n.quantity_unit.as_str(), "total_minor": n.total_minor, "currency": n.currency.as_str(),
        "full": n.full, "missed_previous": n.missed_previous,
    })
}
