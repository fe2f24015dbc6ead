//! Applying a parsed import file to one vehicle, in one transaction.
//!
//! Every row goes through the same paths as the API (meter rules, economy,
//! schedules). A row seen before (same fingerprint) is a duplicate and adds
//! nothing, so importing a file twice changes nothing. A file with errors
//! writes nothing unless `valid_only`; a dry run never writes, but reports
//! exactly what a real run would do, because it *is* a real run rolled back.

use domain::fuel::{check_quantity, measure_of};
use domain::ids::{TenantId, VehicleId};
use domain::import::{Parsed, Record, RowError};
use domain::meter::{MeterKind, MeterSource, MeterUnit, meter_value};
use domain::preferences::CurrencyCode;
use domain::vehicle::OdometerUnit;
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::fuel::{NewFuelEntry, insert_fuel_in, recompute_chain};
use crate::meters::{
    CurrentMeters, NewReading, ReadingOutcome, record_readings_in, refresh_current,
};
use crate::schedules::reevaluate_vehicle;
use crate::service::{NewExpense, NewServiceRecord, insert_expense_in, insert_service_in};
use crate::{AuditContext, Mode, Store, StoreError, Tx, on_tx};

/// How to apply a file.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    pub vehicle: VehicleId,
    /// For files holding several vehicles: which one's rows to import.
    pub source_vehicle: Option<String>,
    pub currency: CurrencyCode,
    /// Report only; write nothing.
    pub dry_run: bool,
    /// Import the valid rows even if others have errors.
    pub valid_only: bool,
    pub max_daily_km: f64,
}

/// What an import did (or, for a dry run or a refused file, would do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    pub format: String,
    pub rows: usize,
    pub fuel: usize,
    pub services: usize,
    pub odometer: usize,
    pub expenses: usize,
    /// Rows imported before (nothing added for them).
    pub duplicates: usize,
    /// Every row skipped, with why.
    pub errors: Vec<RowError>,
    /// Whether the rows were written.
    pub committed: bool,
}

async fn seen(
    tx: &mut Tx,
    table: &'static str,
    tenant: TenantId,
    vehicle: VehicleId,
    key: &str,
) -> Result<bool, StoreError> {
    let sql = match table {
        "fuel" => {
            "SELECT 1 FROM fuel_entries WHERE tenant_id = $1 AND vehicle_id = $2 AND import_key = $3"
        }
        "service" => {
            "SELECT 1 FROM service_records WHERE tenant_id = $1 AND vehicle_id = $2 AND import_key = $3"
        }
        _ => "SELECT 1 FROM expenses WHERE tenant_id = $1 AND vehicle_id = $2 AND import_key = $3",
    };
    let found: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(key)
        .fetch_optional(c)
        .await)
    .ctx("looking for an imported row")?;
    Ok(found.is_some())
}

impl Store {
    /// Applies a parsed file to one vehicle. `progress` is called with the
    /// number of rows handled so far.
    #[tracing::instrument(skip_all, fields(rows = parsed.rows.len()))]
    pub async fn import(
        &self,
        tenant: TenantId,
        parsed: &Parsed,
        settings: &ImportSettings,
        ctx: &AuditContext,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport {
            format: parsed.format.as_str().to_string(),
            errors: parsed.errors.clone(),
            ..Default::default()
        };
        let names: std::collections::BTreeSet<&str> = parsed
            .rows
            .iter()
            .filter_map(|r| r.vehicle.as_deref())
            .collect();
        if names.len() > 1 && settings.source_vehicle.is_none() {
            let list: Vec<&str> = names.into_iter().collect();
            return Err(StoreError::Rule {
                field: "source_vehicle",
                message: format!(
                    "the file holds several vehicles ({}); choose one",
                    list.join(", ")
                ),
            });
        }
        let mut rows: Vec<_> = parsed
            .rows
            .iter()
            .filter(|r| {
                settings
                    .source_vehicle
                    .as_deref()
                    .is_none_or(|want| r.vehicle.as_deref() == Some(want))
            })
            .collect();
        rows.sort_by_key(|r| match &r.record {
            Record::Fuel { at, .. } | Record::Odometer { at, .. } => *at,
            Record::Service { on, .. } | Record::Expense { on, .. } => on.midnight().assume_utc(),
        });
        report.rows = rows.len();

        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, settings.vehicle).await?;
        let vehicle = settings.vehicle;
        let fuel_type: domain::vehicle::FuelType = on_tx!(&mut tx, |c| sqlx::query_scalar::<
            _,
            sqlx::types::Json<Vec<domain::vehicle::FuelType>>,
        >(
            "SELECT fuel_types FROM vehicles WHERE tenant_id = $1 AND id = $2"
        )
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .fetch_one(c)
        .await)
        .ctx("loading the vehicle's fuel types")?
        .0
        .into_iter()
        .find(|f| measure_of(*f) == parsed.volume_unit.measure())
        .unwrap_or(domain::vehicle::FuelType::Gasoline);
        let distance = match parsed.distance_unit {
            OdometerUnit::Miles => MeterUnit::Miles,
            OdometerUnit::Kilometres => MeterUnit::Kilometres,
        };
        let mut fuel_created = false;
        for (i, row) in rows.iter().enumerate() {
            progress(i + 1);
            let fail = |field: &str, message: String| RowError {
                line: row.line,
                field: field.into(),
                message,
            };
            let outcome: Result<&mut usize, RowError> = match &row.record {
                Record::Fuel {
                    at,
                    odometer,
                    quantity,
                    total_minor,
                    unit_price_milli,
                    full,
                    missed_previous,
                    notes,
                } => {
                    if seen(&mut tx, "fuel", tenant, vehicle, &row.key).await? {
                        Ok(&mut report.duplicates)
                    } else {
                        match (
                            meter_value(MeterKind::Odometer, *odometer, distance),
                            check_quantity(fuel_type, *quantity, parsed.volume_unit),
                        ) {
                            (Err(m), _) => Err(fail("odometer", m)),
                            (_, Err(m)) => Err(fail("quantity", m)),
                            (Ok(odo), Ok(canonical)) => {
                                let new = NewFuelEntry {
                                    vehicle_id: vehicle,
                                    filled_at: *at,
                                    odometer: odo,
                                    fuel_type,
                                    grade: None,
                                    quantity: *quantity,
                                    quantity_unit: parsed.volume_unit,
                                    quantity_canonical: canonical,
                                    unit_price_milli: *unit_price_milli,
                                    total_minor: *total_minor,
                                    currency: settings.currency.clone(),
                                    full: *full,
                                    missed_previous: *missed_previous,
                                    station: None,
                                    soc_before: None,
                                    soc_after: None,
                                    notes: notes.clone(),
                                };
                                match insert_fuel_in(
                                    &mut tx,
                                    tenant,
                                    &new,
                                    settings.max_daily_km,
                                    Some(&row.key),
                                    CurrentMeters::Deferred,
                                )
                                .await
                                {
                                    Ok(_) => {
                                        fuel_created = true;
                                        Ok(&mut report.fuel)
                                    }
                                    Err(StoreError::Rule { field, message }) => {
                                        Err(fail(field, message))
                                    }
                                    Err(e) => return Err(e),
                                }
                            }
                        }
                    }
                }
                Record::Service {
                    on,
                    description,
                    total_minor,
                    odometer,
                    notes,
                } => {
                    if seen(&mut tx, "service", tenant, vehicle, &row.key).await? {
                        Ok(&mut report.duplicates)
                    } else {
                        let odometer_km = odometer.map(|o| distance.to_canonical(o));
                        let new = NewServiceRecord {
                            vehicle_id: vehicle,
                            performed_on: *on,
                            performed_at: on.with_time(time::macros::time!(12:00)).assume_utc(),
                            odometer_km,
                            engine_hours: None,
                            vendor: None,
                            notes: Some(match notes {
                                Some(n) => format!("{description}\n{n}"),
                                None => description.clone(),
                            }),
                            currency: settings.currency.clone(),
                            tax_minor: 0,
                            discount_minor: 0,
                            total_minor: *total_minor,
                            task_ids: vec![],
                            line_items: vec![],
                        };
                        match insert_service_in(
                            &mut tx,
                            tenant,
                            &new,
                            settings.max_daily_km,
                            Some(&row.key),
                            CurrentMeters::Deferred,
                        )
                        .await
                        {
                            Ok(_) => Ok(&mut report.services),
                            Err(StoreError::Rule { field, message }) => Err(fail(field, message)),
                            Err(e) => return Err(e),
                        }
                    }
                }
                Record::Odometer {
                    at,
                    odometer,
                    notes,
                } => match meter_value(MeterKind::Odometer, *odometer, distance) {
                    Err(m) => Err(fail("odometer", m)),
                    Ok(value) => {
                        let reading = NewReading {
                            vehicle_id: vehicle,
                            kind: MeterKind::Odometer,
                            read_at: *at,
                            value,
                            source: MeterSource::Import,
                            note: notes.clone(),
                            void: false,
                        };
                        match record_readings_in(
                            &mut tx,
                            tenant,
                            &[reading],
                            settings.max_daily_km,
                            CurrentMeters::Deferred,
                        )
                        .await?
                        .pop()
                        {
                            Some(ReadingOutcome::Created(_)) => Ok(&mut report.odometer),
                            Some(ReadingOutcome::Duplicate(_)) => Ok(&mut report.duplicates),
                            Some(ReadingOutcome::Rejected { message, .. }) => {
                                Err(fail("odometer", message))
                            }
                            None => Err(fail("odometer", "not processed".into())),
                        }
                    }
                },
                Record::Expense {
                    on,
                    category,
                    description,
                    amount_minor,
                    notes,
                } => {
                    if seen(&mut tx, "expense", tenant, vehicle, &row.key).await? {
                        Ok(&mut report.duplicates)
                    } else {
                        let new = NewExpense {
                            vehicle_id: vehicle,
                            category: *category,
                            spent_on: *on,
                            amount_minor: *amount_minor,
                            currency: settings.currency.clone(),
                            recurrence: None,
                            notes: Some(match notes {
                                Some(n) => format!("{description}\n{n}"),
                                None => description.clone(),
                            }),
                        };
                        insert_expense_in(&mut tx, tenant, &new, Some(&row.key)).await?;
                        Ok(&mut report.expenses)
                    }
                }
            };
            match outcome {
                Ok(counter) => *counter += 1,
                Err(e) => report.errors.push(e),
            }
        }
        if fuel_created {
            recompute_chain(&mut tx, tenant, vehicle, fuel_type).await?;
        }
        // Readings were recorded with their refresh deferred (see `CurrentMeters`).
        for kind in [MeterKind::Odometer, MeterKind::Hours] {
            refresh_current(&mut tx, tenant, vehicle, kind).await?;
        }
        reevaluate_vehicle(&mut tx, tenant, vehicle, OffsetDateTime::now_utc().date()).await?;
        crate::spend::refresh_spend(&mut tx, tenant, vehicle, None).await?;
        report.errors.sort_by_key(|e| e.line);
        let created = report.fuel + report.services + report.odometer + report.expenses;
        let write =
            !settings.dry_run && (report.errors.is_empty() || settings.valid_only) && created > 0;
        if write {
            record(&mut tx, tenant, ctx, Change {
                action: "import.run",
                entity_type: "vehicle",
                entity_id: vehicle.to_string(),
                before: None,
                after: Some(json!({
                    "format": report.format, "fuel": report.fuel, "services": report.services, "odometer": report.odometer,
                    "expenses": report.expenses, "duplicates": report.duplicates, "skipped": report.errors.len(),
                })),
            })
            .await?;
            tx.commit().await?;
            report.committed = true;
        }
        // Otherwise the transaction is dropped: rolled back, nothing written.
        Ok(report)
    }
}
