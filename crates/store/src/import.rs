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
use std::collections::HashSet;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::due_state::reevaluate_vehicle;
use crate::error::ResultExt;
use crate::fuel::{NewFuelEntry, recompute_chain};
use crate::fuel_batch::{FuelRow, insert_fuel_rows};
use crate::meters::{CurrentMeters, NewReading, ReadingOutcome};
use crate::reading_batch::record_readings_in;
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

/// The import keys (row fingerprints) already stored for the vehicle, per
/// table: loaded once, so duplicate detection costs three queries per file
/// instead of one per row. Memory grows with the vehicle's history (a few
/// megabytes for tens of thousands of records).
async fn stored_keys(
    tx: &mut Tx,
    table: &'static str,
    tenant: TenantId,
    vehicle: VehicleId,
) -> Result<HashSet<String>, StoreError> {
    let sql = match table {
        "fuel" => {
            "SELECT import_key FROM fuel_entries WHERE tenant_id = $1 AND vehicle_id = $2 AND import_key IS NOT NULL"
        }
        "service" => {
            "SELECT import_key FROM service_records WHERE tenant_id = $1 AND vehicle_id = $2 AND import_key IS NOT NULL"
        }
        _ => {
            "SELECT import_key FROM expenses WHERE tenant_id = $1 AND vehicle_id = $2 AND import_key IS NOT NULL"
        }
    };
    let keys: Vec<String> = on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .fetch_all(c)
        .await)
    .ctx("loading the keys of imported rows")?;
    Ok(keys.into_iter().collect())
}

/// Rows that only need an odometer reading (fills and odometer rows), held
/// until a service or expense row, a full chunk or the end of the file:
/// their readings are checked and written in one batch, then the fills in
/// multi-row INSERTs. Rows are in time order and flushed before any other
/// kind of row, so every row sees exactly the timeline it would see if the
/// rows were applied one by one.
#[derive(Default)]
struct PendingRun<'a> {
    rows: Vec<PendingRow<'a>>,
    keys: HashSet<&'a str>,
}

struct PendingRow<'a> {
    line: usize,
    key: &'a str,
    reading: NewReading,
    /// The fill to store once its reading is accepted; `None` for an odometer row.
    fill: Option<NewFuelEntry>,
}

/// Rows per flushed run.
const RUN_CHUNK: usize = 2_000;

impl<'a> PendingRun<'a> {
    fn push(&mut self, row: PendingRow<'a>) {
        self.keys.insert(row.key);
        self.rows.push(row);
    }

    /// Records the run's readings, then its fills; counts into `report`.
    /// Returns whether a fill was stored.
    async fn flush(
        &mut self,
        tx: &mut Tx,
        tenant: TenantId,
        max_daily_km: f64,
        fuel_keys: &mut HashSet<String>,
        report: &mut ImportReport,
    ) -> Result<bool, StoreError> {
        if self.rows.is_empty() {
            return Ok(false);
        }
        let readings: Vec<NewReading> = self.rows.iter().map(|r| r.reading.clone()).collect();
        let outcomes =
            record_readings_in(tx, tenant, &readings, max_daily_km, CurrentMeters::Deferred)
                .await?;
        let mut fills = Vec::new();
        for (row, outcome) in self.rows.iter().zip(outcomes) {
            let reading_id = match outcome {
                ReadingOutcome::Rejected { message, .. } => {
                    report.errors.push(RowError {
                        line: row.line,
                        field: "odometer".into(),
                        message,
                    });
                    continue;
                }
                ReadingOutcome::Duplicate(_) if row.fill.is_none() => {
                    report.duplicates += 1;
                    continue;
                }
                ReadingOutcome::Created(r) | ReadingOutcome::Duplicate(r) => r.id,
            };
            match &row.fill {
                None => report.odometer += 1,
                Some(entry) => {
                    fuel_keys.insert(row.key.to_string());
                    fills.push(FuelRow {
                        id: Uuid::now_v7(),
                        entry,
                        reading_id,
                        import_key: Some(row.key),
                    });
                }
            }
        }
        report.fuel += fills.len();
        insert_fuel_rows(tx, tenant, &fills).await?;
        let stored = !fills.is_empty();
        self.rows.clear();
        self.keys.clear();
        Ok(stored)
    }
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
        crate::meters::lock_live_vehicle(&mut tx, tenant, settings.vehicle).await?;
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
        let mut fuel_keys = stored_keys(&mut tx, "fuel", tenant, vehicle).await?;
        let mut service_keys = stored_keys(&mut tx, "service", tenant, vehicle).await?;
        let mut expense_keys = stored_keys(&mut tx, "expense", tenant, vehicle).await?;
        let mut run = PendingRun::default();
        let mut fuel_created = false;
        let max_daily_km = settings.max_daily_km;
        for (i, row) in rows.iter().enumerate() {
            progress(i + 1);
            let fail = |field: &str, message: String| RowError {
                line: row.line,
                field: field.into(),
                message,
            };
            let key = row.key.as_str();
            if run.keys.contains(key) || run.rows.len() >= RUN_CHUNK {
                // The same fingerprint twice in one run: apply the first
                // before deciding whether the second is a duplicate.
                fuel_created |= run
                    .flush(&mut tx, tenant, max_daily_km, &mut fuel_keys, &mut report)
                    .await?;
            }
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
                    if fuel_keys.contains(key) {
                        report.duplicates += 1;
                        continue;
                    }
                    match (
                        meter_value(MeterKind::Odometer, *odometer, distance),
                        check_quantity(fuel_type, *quantity, parsed.volume_unit),
                    ) {
                        (Err(m), _) => Err(fail("odometer", m)),
                        (_, Err(m)) => Err(fail("quantity", m)),
                        (Ok(odo), Ok(canonical)) => {
                            let at = crate::meters::to_second(*at);
                            run.push(PendingRow {
                                line: row.line,
                                key,
                                reading: NewReading {
                                    vehicle_id: vehicle,
                                    kind: MeterKind::Odometer,
                                    read_at: at,
                                    value: odo,
                                    source: MeterSource::Fuel,
                                    note: None,
                                    void: false,
                                },
                                fill: Some(NewFuelEntry {
                                    vehicle_id: vehicle,
                                    filled_at: at,
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
                                }),
                            });
                            continue;
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
                        run.push(PendingRow {
                            line: row.line,
                            key,
                            reading: NewReading {
                                vehicle_id: vehicle,
                                kind: MeterKind::Odometer,
                                read_at: *at,
                                value,
                                source: MeterSource::Import,
                                note: notes.clone(),
                                void: false,
                            },
                            fill: None,
                        });
                        continue;
                    }
                },
                Record::Service {
                    on,
                    description,
                    total_minor,
                    odometer,
                    notes,
                } => {
                    fuel_created |= run
                        .flush(&mut tx, tenant, max_daily_km, &mut fuel_keys, &mut report)
                        .await?;
                    if !service_keys.insert(row.key.clone()) {
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
                            max_daily_km,
                            Some(&row.key),
                            CurrentMeters::Deferred,
                        )
                        .await
                        {
                            Ok(_) => Ok(&mut report.services),
                            Err(StoreError::Rule { field, message }) => {
                                // Not stored: the same row later in the file may be tried again.
                                service_keys.remove(&row.key);
                                Err(fail(field, message))
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Record::Expense {
                    on,
                    category,
                    description,
                    amount_minor,
                    notes,
                } => {
                    fuel_created |= run
                        .flush(&mut tx, tenant, max_daily_km, &mut fuel_keys, &mut report)
                        .await?;
                    if !expense_keys.insert(row.key.clone()) {
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
        fuel_created |= run
            .flush(&mut tx, tenant, max_daily_km, &mut fuel_keys, &mut report)
            .await?;
        if fuel_created {
            recompute_chain(&mut tx, tenant, vehicle, fuel_type).await?;
        }
        // Readings were recorded with their refresh deferred (see `CurrentMeters`).
        crate::current_meters::refresh(&mut tx, tenant, &[vehicle], None).await?;
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
