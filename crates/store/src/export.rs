//! A complete, lossless JSON export of vehicles and everything recorded
//! about them, and its re-import.
//!
//! Every item carries the id it had; re-importing remembers those ids
//! (`import_key`), so importing the same export twice changes nothing, and
//! an export of the re-imported data equals the original once ids are set
//! aside (the round-trip test checks exactly that). Documents travel as
//! metadata with their file's SHA-256; their bytes stay in the file store
//! (copy `documents_dir` along when moving servers).

use std::collections::BTreeMap;

use domain::document::DocumentKind;
use domain::fuel::FuelUnit;
use domain::ids::{TenantId, VehicleId};
use domain::maintenance::{Baseline, Interval};
use domain::meter::{MeterKind, MeterSource, MeterUnit, MeterValue};
use domain::preferences::CurrencyCode;
use domain::service::{ExpenseCategory, Recurrence};
use domain::vehicle::{FuelType, VehicleSpec};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::due_state::reevaluate_vehicle;
use crate::error::ResultExt;
use crate::fuel::{NewFuelEntry, insert_fuel_in, recompute_chain};
use crate::meters::{CurrentMeters, NewReading, ReadingOutcome, record_readings_in};
use crate::schedules::NewSchedule;
use crate::service::{
    LineItem, NewExpense, NewServiceRecord, insert_expense_in, insert_service_in,
};
use crate::vehicles::insert_vehicle_in;
use crate::{AuditContext, Mode, Store, StoreError, Tx, execute_tx, on_tx};

/// The export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Export {
    /// Always `motorpool-export`.
    pub format: String,
    pub version: u32,
    pub vehicles: Vec<VehicleExport>,
}

pub const EXPORT_FORMAT: &str = "motorpool-export";
pub const EXPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleExport {
    pub id: Uuid,
    pub spec: VehicleSpec,
    /// Readings not made by a fill or a service (those come with them).
    pub readings: Vec<ReadingExport>,
    pub offsets: Vec<OffsetExport>,
    pub fuel: Vec<FuelExport>,
    pub services: Vec<ServiceExport>,
    pub expenses: Vec<ExpenseExport>,
    pub schedules: Vec<ScheduleExport>,
    pub documents: Vec<DocumentExport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingExport {
    pub kind: MeterKind,
    #[serde(with = "time::serde::rfc3339")]
    pub read_at: OffsetDateTime,
    pub value: f64,
    pub unit: MeterUnit,
    pub source: MeterSource,
    pub note: Option<String>,
    pub void: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffsetExport {
    pub kind: MeterKind,
    #[serde(with = "time::serde::rfc3339")]
    pub effective_at: OffsetDateTime,
    pub offset: f64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuelExport {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub filled_at: OffsetDateTime,
    pub odometer: f64,
    pub odometer_unit: MeterUnit,
    pub fuel_type: FuelType,
    pub grade: Option<String>,
    pub quantity: f64,
    pub unit: FuelUnit,
    pub unit_price_milli: Option<i64>,
    pub total_minor: Option<i64>,
    pub currency: String,
    pub full: bool,
    pub missed_previous: bool,
    pub station: Option<String>,
    pub soc_before: Option<f64>,
    pub soc_after: Option<f64>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceExport {
    pub id: Uuid,
    pub performed_on: Date,
    #[serde(with = "time::serde::rfc3339")]
    pub performed_at: OffsetDateTime,
    pub odometer_km: Option<f64>,
    pub engine_hours: Option<f64>,
    pub vendor: Option<String>,
    pub notes: Option<String>,
    pub currency: String,
    pub tax_minor: i64,
    pub discount_minor: i64,
    pub total_minor: i64,
    /// Task keys and names (ids differ between tenants).
    pub tasks: Vec<(String, String)>,
    pub line_items: Vec<LineItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpenseExport {
    pub id: Uuid,
    pub category: ExpenseCategory,
    pub spent_on: Date,
    pub amount_minor: i64,
    pub currency: String,
    pub recurrence: Option<Recurrence>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleExport {
    pub task: (String, String),
    pub one_off: bool,
    pub interval: Interval,
    pub window: Interval,
    pub last_done_on: Date,
    pub last_done_km: Option<f64>,
    pub last_done_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentExport {
    pub kind: DocumentKind,
    pub title: String,
    pub issued_on: Option<Date>,
    pub expires_on: Option<Date>,
    pub notes: Option<String>,
    pub sha256: String,
    pub size_bytes: i64,
    pub content_type: String,
    pub file_name: String,
}

/// What a JSON import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportImportReport {
    pub vehicles_created: usize,
    pub vehicles_existing: usize,
    pub items_created: usize,
    pub items_existing: usize,
}

/// Collects every page of a keyset-paginated list.
async fn all<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<crate::Page<T>, StoreError>>,
{
    let mut cursor = None;
    let mut out = Vec::new();
    loop {
        let page = fetch(cursor.take()).await?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

impl Store {
    /// Exports the given vehicles (all live ones when `None`), oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn export(
        &self,
        tenant: TenantId,
        vehicles: Option<&[VehicleId]>,
    ) -> Result<Export, StoreError> {
        let ids: Vec<VehicleId> = match vehicles {
            Some(v) => v.to_vec(),
            None => {
                let filter = crate::VehicleFilter {
                    sort: crate::VehicleSort::Created,
                    limit: 500,
                    ..Default::default()
                };
                all(|c| {
                    let filter = crate::VehicleFilter {
                        cursor: c,
                        ..filter.clone()
                    };
                    async move { self.list_vehicles(tenant, &filter).await }
                })
                .await?
                .into_iter()
                .map(|v| v.id)
                .collect()
            }
        };
        let tasks: BTreeMap<Uuid, (String, String)> = self
            .list_service_tasks(tenant)
            .await?
            .into_iter()
            .map(|t| (t.id, (t.key, t.name)))
            .collect();
        let mut out = Vec::new();
        for id in ids {
            let vehicle = self.vehicle(tenant, id).await?;
            let mut readings = Vec::new();
            for kind in [MeterKind::Odometer, MeterKind::Hours] {
                let mut r = all(|c| async move {
                    self.list_readings(tenant, id, kind, c.as_deref(), 500)
                        .await
                })
                .await?;
                r.reverse();
                readings.extend(
                    r.into_iter()
                        .filter(|r| !matches!(r.source, MeterSource::Fuel | MeterSource::Service))
                        .map(|r| ReadingExport {
                            kind: r.kind,
                            read_at: r.read_at,
                            value: r.value,
                            unit: r.unit,
                            source: r.source,
                            note: r.note,
                            void: r.void,
                        }),
                );
            }
            let mut fuel =
                all(|c| async move { self.list_fuel_entries(tenant, id, c.as_deref(), 500).await })
                    .await?;
            fuel.reverse();
            let mut services = all(|c| async move {
                self.list_service_records(tenant, id, c.as_deref(), 500)
                    .await
            })
            .await?;
            services.reverse();
            let mut expenses =
                all(|c| async move { self.list_expenses(tenant, id, c.as_deref(), 500).await })
                    .await?;
            expenses.reverse();
            let mut documents =
                all(|c| async move { self.list_documents(tenant, id, c.as_deref(), 500).await })
                    .await?;
            documents.reverse();
            let offsets = self.meter_offsets(tenant, id).await?;
            let schedules = self.list_schedules(tenant, id).await?;
            let task_of = |id: &Uuid| {
                tasks
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| (id.to_string(), id.to_string()))
            };
            out.push(VehicleExport {
                id: id.as_uuid(),
                spec: vehicle.spec,
                readings,
                offsets: offsets
                    .into_iter()
                    .map(|o| OffsetExport {
                        kind: o.kind,
                        effective_at: o.effective_at,
                        offset: o.offset,
                        reason: o.reason,
                    })
                    .collect(),
                fuel: fuel
                    .into_iter()
                    .map(|f| {
                        let e = f.entry;
                        FuelExport {
                            id: f.id,
                            filled_at: e.filled_at,
                            odometer: e.odometer.value,
                            odometer_unit: e.odometer.unit,
                            fuel_type: e.fuel_type,
                            grade: e.grade,
                            quantity: e.quantity,
                            unit: e.quantity_unit,
                            unit_price_milli: e.unit_price_milli,
                            total_minor: e.total_minor,
                            currency: e.currency.as_str().to_string(),
                            full: e.full,
                            missed_previous: e.missed_previous,
                            station: e.station,
                            soc_before: e.soc_before,
                            soc_after: e.soc_after,
                            notes: e.notes,
                        }
                    })
                    .collect(),
                services: services
                    .into_iter()
                    .map(|s| {
                        let r = s.record;
                        ServiceExport {
                            id: s.id,
                            performed_on: r.performed_on,
                            performed_at: r.performed_at,
                            odometer_km: r.odometer_km,
                            engine_hours: r.engine_hours,
                            vendor: r.vendor,
                            notes: r.notes,
                            currency: r.currency.as_str().to_string(),
                            tax_minor: r.tax_minor,
                            discount_minor: r.discount_minor,
                            total_minor: r.total_minor,
                            tasks: r.task_ids.iter().map(task_of).collect(),
                            line_items: r.line_items,
                        }
                    })
                    .collect(),
                expenses: expenses
                    .into_iter()
                    .map(|e| ExpenseExport {
                        id: e.id,
                        category: e.expense.category,
                        spent_on: e.expense.spent_on,
                        amount_minor: e.expense.amount_minor,
                        currency: e.expense.currency.as_str().to_string(),
                        recurrence: e.expense.recurrence,
                        notes: e.expense.notes,
                    })
                    .collect(),
                schedules: schedules
                    .into_iter()
                    .map(|s| ScheduleExport {
                        task: task_of(&s.task_id),
                        one_off: s.one_off,
                        interval: s.interval,
                        window: s.window,
                        last_done_on: s.last_done.date,
                        last_done_km: s.last_done.km,
                        last_done_hours: s.last_done.hours,
                    })
                    .collect(),
                documents: documents
                    .into_iter()
                    .map(|d| DocumentExport {
                        kind: d.doc.kind,
                        title: d.doc.title,
                        issued_on: d.doc.issued_on,
                        expires_on: d.doc.expires_on,
                        notes: d.doc.notes,
                        sha256: d.doc.sha256,
                        size_bytes: d.doc.size_bytes,
                        content_type: d.doc.content_type,
                        file_name: d.doc.file_name,
                    })
                    .collect(),
            });
        }
        Ok(Export {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            vehicles: out,
        })
    }

    /// A vehicle's meter offsets, oldest first.
    pub async fn meter_offsets(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
    ) -> Result<Vec<crate::MeterOffset>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: Uuid,
            kind: String,
            effective_at: OffsetDateTime,
            offset_value: f64,
            reason: String,
        }
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let rows: Vec<Row> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id, kind, effective_at, offset_value, reason FROM meter_offsets
             WHERE tenant_id = $1 AND vehicle_id = $2 ORDER BY effective_at, id"
        )
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .fetch_all(c)
        .await)
        .ctx("listing meter offsets")?;
        rows.into_iter()
            .map(|r| {
                Ok(crate::MeterOffset {
                    id: r.id,
                    vehicle_id: vehicle,
                    kind: r.kind.parse().map_err(StoreError::Corrupt)?,
                    effective_at: r.effective_at,
                    offset: r.offset_value,
                    reason: r.reason,
                })
            })
            .collect()
    }

    /// Imports an export into a tenant, in one transaction. Vehicles and
    /// items imported before (same original ids) are left as they are.
    #[tracing::instrument(skip_all)]
    pub async fn import_export(
        &self,
        tenant: TenantId,
        export: &Export,
        ctx: &AuditContext,
    ) -> Result<ExportImportReport, StoreError> {
        if export.format != EXPORT_FORMAT || export.version != EXPORT_VERSION {
            return Err(StoreError::Rule {
                field: "format",
                message: format!("expected a {EXPORT_FORMAT} version {EXPORT_VERSION} file"),
            });
        }
        let mut report = ExportImportReport::default();
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let max = f64::MAX; // the data was accepted once; jumps stay as they were
        for v in &export.vehicles {
            let key = v.id.to_string();
            let existing: Option<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT id FROM vehicles WHERE tenant_id = $1 AND import_key = $2"
            )
            .bind(tenant.as_uuid())
            .bind(&key)
            .fetch_optional(c)
            .await)
            .ctx("looking for an imported vehicle")?;
            let vehicle = match existing {
                Some(id) => {
                    report.vehicles_existing += 1;
                    VehicleId::from_uuid(id)
                }
                None => {
                    report.vehicles_created += 1;
                    insert_vehicle_in(&mut tx, tenant, &v.spec, Some(&key))
                        .await?
                        .id
                }
            };
            import_items(
                &mut tx,
                tenant,
                vehicle,
                v,
                max,
                existing.is_some(),
                &mut report,
            )
            .await?;
            reevaluate_vehicle(&mut tx, tenant, vehicle, OffsetDateTime::now_utc().date()).await?;
            crate::spend::refresh_spend(&mut tx, tenant, vehicle, None).await?;
        }
        record(&mut tx, tenant, ctx, Change {
            action: "import.export",
            entity_type: "tenant",
            entity_id: tenant.to_string(),
            before: None,
            after: Some(json!({
                "vehicles_created": report.vehicles_created, "vehicles_existing": report.vehicles_existing,
                "items_created": report.items_created, "items_existing": report.items_existing,
            })),
        })
        .await?;
        tx.commit().await?;
        Ok(report)
    }
}

fn currency(code: &str) -> Result<CurrencyCode, StoreError> {
    CurrencyCode::parse(code).map_err(|m| StoreError::Rule {
        field: "currency",
        message: m,
    })
}

/// Finds (or adds) a catalog task by key.
async fn task_id(
    tx: &mut Tx,
    tenant: TenantId,
    (key, name): &(String, String),
) -> Result<Uuid, StoreError> {
    let found: Option<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM service_tasks WHERE tenant_id = $1 AND key = $2"
    )
    .bind(tenant.as_uuid())
    .bind(key)
    .fetch_optional(c)
    .await)
    .ctx("looking up a task")?;
    if let Some(id) = found {
        return Ok(id);
    }
    let id = Uuid::now_v7();
    execute_tx!(
        tx,
        sqlx::query("INSERT INTO service_tasks (tenant_id, id, key, name, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(key)
            .bind(name)
            .bind(OffsetDateTime::now_utc())
    )
    .ctx("adding a task")?;
    Ok(id)
}

async fn exists(
    tx: &mut Tx,
    sql: &'static str,
    tenant: TenantId,
    vehicle: VehicleId,
    key: &str,
) -> Result<bool, StoreError> {
    let found: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(key)
        .fetch_optional(c)
        .await)
    .ctx("looking for an imported item")?;
    Ok(found.is_some())
}

async fn import_items(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: VehicleId,
    v: &VehicleExport,
    max: f64,
    vehicle_existed: bool,
    report: &mut ExportImportReport,
) -> Result<(), StoreError> {
    let rule = |field: &'static str| move |message: String| StoreError::Rule { field, message };
    if !vehicle_existed {
        // Offsets first: later readings are ordered through them.
        for o in &v.offsets {
            execute_tx!(
                tx,
                sqlx::query(
                    "INSERT INTO meter_offsets (tenant_id, id, vehicle_id, kind, effective_at, offset_value, reason, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                )
                .bind(tenant.as_uuid())
                .bind(Uuid::now_v7())
                .bind(vehicle.as_uuid())
                .bind(o.kind.as_str())
                .bind(o.effective_at)
                .bind(o.offset)
                .bind(&o.reason)
                .bind(OffsetDateTime::now_utc())
            )
            .ctx("importing a meter offset")?;
            report.items_created += 1;
        }
    }
    let readings: Vec<NewReading> = v
        .readings
        .iter()
        .map(|r| {
            Ok(NewReading {
                vehicle_id: vehicle,
                kind: r.kind,
                read_at: r.read_at,
                value: MeterValue {
                    value: r.value,
                    unit: r.unit,
                    canonical: r.unit.to_canonical(r.value),
                },
                source: r.source,
                note: r.note.clone(),
                void: r.void,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    for outcome in record_readings_in(tx, tenant, &readings, max, CurrentMeters::Refresh).await? {
        match outcome {
            ReadingOutcome::Created(_) => report.items_created += 1,
            ReadingOutcome::Duplicate(_) => report.items_existing += 1,
            ReadingOutcome::Rejected { field, message } => {
                return Err(StoreError::Rule { field, message });
            }
        }
    }
    let mut fuel_types = Vec::new();
    for f in &v.fuel {
        let key = f.id.to_string();
        if exists(tx, "SELECT 1 FROM fuel_entries WHERE tenant_id = $1 AND vehicle_id = $2 AND import_key = $3", tenant, vehicle, &key).await? {
            report.items_existing += 1;
            continue;
        }
        let new = NewFuelEntry {
            vehicle_id: vehicle,
            filled_at: f.filled_at,
            odometer: MeterValue {
                value: f.odometer,
                unit: f.odometer_unit,
                canonical: f.odometer_unit.to_canonical(f.odometer),
            },
            fuel_type: f.fuel_type,
            grade: f.grade.clone(),
            quantity: f.quantity,
            quantity_unit: f.unit,
            quantity_canonical: f.unit.to_canonical(f.quantity),
            unit_price_milli: f.unit_price_milli,
            total_minor: f.total_minor,
            currency: currency(&f.currency)?,
            full: f.full,
            missed_previous: f.missed_previous,
            station: f.station.clone(),
            soc_before: f.soc_before,
            soc_after: f.soc_after,
            notes: f.notes.clone(),
        };
        insert_fuel_in(tx, tenant, &new, max, Some(&key), CurrentMeters::Refresh).await?;
        if !fuel_types.contains(&f.fuel_type) {
            fuel_types.push(f.fuel_type);
        }
        report.items_created += 1;
    }
    for fuel in fuel_types {
        recompute_chain(tx, tenant, vehicle, fuel).await?;
    }
    for s in &v.services {
        let key = s.id.to_string();
        if exists(tx, "SELECT 1 FROM service_records WHERE tenant_id = $1 AND vehicle_id = $2 AND import_key = $3", tenant, vehicle, &key).await? {
            report.items_existing += 1;
            continue;
        }
        let mut task_ids = Vec::new();
        for t in &s.tasks {
            task_ids.push(task_id(tx, tenant, t).await?);
        }
        let new = NewServiceRecord {
            vehicle_id: vehicle,
            performed_on: s.performed_on,
            performed_at: s.performed_at,
            odometer_km: s.odometer_km,
            engine_hours: s.engine_hours,
            vendor: s.vendor.clone(),
            notes: s.notes.clone(),
            currency: currency(&s.currency)?,
            tax_minor: s.tax_minor,
            discount_minor: s.discount_minor,
            total_minor: s.total_minor,
            task_ids,
            line_items: s.line_items.clone(),
        };
        insert_service_in(tx, tenant, &new, max, Some(&key), CurrentMeters::Refresh).await?;
        report.items_created += 1;
    }
    for e in &v.expenses {
        let key = e.id.to_string();
        if exists(
            tx,
            "SELECT 1 FROM expenses WHERE tenant_id = $1 AND vehicle_id = $2 AND import_key = $3",
            tenant,
            vehicle,
            &key,
        )
        .await?
        {
            report.items_existing += 1;
            continue;
        }
        let new = NewExpense {
            vehicle_id: vehicle,
            category: e.category,
            spent_on: e.spent_on,
            amount_minor: e.amount_minor,
            currency: currency(&e.currency)?,
            recurrence: e.recurrence,
            notes: e.notes.clone(),
        };
        insert_expense_in(tx, tenant, &new, Some(&key)).await?;
        report.items_created += 1;
    }
    if vehicle_existed {
        return Ok(());
    }
    for s in &v.schedules {
        let new = NewSchedule {
            task_id: task_id(tx, tenant, &s.task).await?,
            one_off: s.one_off,
            interval: s.interval,
            window: s.window,
            last_done: Some(Baseline {
                date: s.last_done_on,
                km: s.last_done_km,
                hours: s.last_done_hours,
            }),
        };
        new.interval.check().map_err(rule("schedules"))?;
        crate::schedules::insert(tx, tenant, vehicle, &new, OffsetDateTime::now_utc().date())
            .await?;
        report.items_created += 1;
    }
    for d in &v.documents {
        let doc = crate::NewDocument {
            vehicle_id: vehicle,
            record_id: None,
            kind: d.kind,
            title: d.title.clone(),
            issued_on: d.issued_on,
            expires_on: d.expires_on,
            notes: d.notes.clone(),
            sha256: d.sha256.clone(),
            size_bytes: d.size_bytes,
            content_type: d.content_type.clone(),
            file_name: d.file_name.clone(),
        };
        crate::documents::insert_document_in(tx, tenant, &doc).await?;
        report.items_created += 1;
    }
    Ok(())
}
