//! Deterministic history for the demo vehicles: about three years of fills,
//! oil changes, insurance and registration, then maintenance schedules and an
//! insurance card per vehicle. Generated with a fixed-seed generator, so every
//! demo looks the same, and written through the import path (one transaction
//! per vehicle, the same rules as real data).

use anyhow::Context;
use domain::document::{DocumentKind, sniff};
use domain::fuel::{FuelUnit, measure_of};
use domain::ids::{TenantId, VehicleId};
use domain::import::{Format, Parsed, Record, Row};
use domain::maintenance::{Baseline, Interval};
use domain::meter::KM_PER_MILE;
use domain::preferences::CurrencyCode;
use domain::service::ExpenseCategory;
use domain::vehicle::{OdometerUnit, VehicleStatus, VehicleType};
use store::{AuditContext, FileStore, ImportSettings, NewDocument, NewSchedule, Store, Vehicle};
use time::{Duration, OffsetDateTime};

/// A small deterministic generator (xorshift64*): no dependency, same sequence everywhere.
pub(crate) struct Rng(u64);

impl Rng {
    /// The generator for item `index` of a run seeded with `seed`.
    pub(crate) fn seeded(seed: u64, index: u64) -> Self {
        let mixed = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (index + 1).wrapping_mul(0x1000_0000_01b3))
            | 1;
        Self(mixed)
    }

    pub(crate) fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A factor in `1 ± spread`.
    pub(crate) fn around(&mut self, spread: f64) -> f64 {
        1.0 + spread * (2.0 * self.next() - 1.0)
    }
}

/// How a kind of vehicle is used: km a day, consumption per 100 km, days between fills,
/// km between oil changes.
fn usage(kind: VehicleType) -> (f64, f64, i64, f64) {
    match kind {
        VehicleType::HeavyTruck | VehicleType::Tractor => (350.0, 33.0, 4, 40_000.0),
        VehicleType::Van | VehicleType::Pickup => (90.0, 12.5, 7, 12_000.0),
        _ => (40.0, 7.0, 10, 10_000.0),
    }
}

/// Writes the history of one vehicle.
pub async fn seed_vehicle(
    store: &Store,
    files: &FileStore,
    tenant: TenantId,
    vehicle: &Vehicle,
    index: u64,
) -> anyhow::Result<()> {
    let ctx = AuditContext::system("demo");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index + 1).wrapping_mul(0x1000_0000_01b3));
    let today = OffsetDateTime::now_utc().date();
    let start = today - Duration::days(3 * 365);
    let end = if vehicle.spec.status == VehicleStatus::Sold {
        today - Duration::days(365)
    } else {
        today - Duration::days(1)
    };
    let (daily_km, per_100km, every, oil_km) = usage(vehicle.spec.vehicle_type);
    let fuel = vehicle.spec.fuel_types[0];
    let electric = measure_of(fuel) == domain::fuel::Measure::Energy;
    let miles = vehicle.spec.odometer_unit == OdometerUnit::Miles;
    let (distance_unit, volume_unit) = match (electric, miles) {
        (true, true) => (OdometerUnit::Miles, FuelUnit::KilowattHours),
        (true, false) => (OdometerUnit::Kilometres, FuelUnit::KilowattHours),
        (false, true) => (OdometerUnit::Miles, FuelUnit::UsGallons),
        (false, false) => (OdometerUnit::Kilometres, FuelUnit::Litres),
    };
    let per_unit_price = match (electric, miles) {
        (true, _) => 0.16,
        (false, true) => 3.40,
        (false, false) => 1.65 / 1.1, // USD per litre
    };
    let shown = |km: f64| if miles { km / KM_PER_MILE } else { km };

    let mut rows = Vec::new();
    let mut km = 20_000.0 + 5_000.0 * index as f64;
    let mut last_oil_km = km;
    let mut last_oil = None;
    let mut day = start;
    let mut n = 0;
    while day < end {
        let gap = (every as f64 * rng.around(0.3)).round().max(1.0) as i64;
        let driven = daily_km * gap as f64 * rng.around(0.2);
        day += Duration::days(gap);
        if day >= end {
            break;
        }
        km += driven;
        n += 1;
        let litres = driven * per_100km / 100.0 * rng.around(0.08);
        let quantity = ((volume_unit.from_canonical(litres)) * 1000.0).round() / 1000.0;
        let season = 1.0 + 0.12 * ((day.ordinal() as f64 / 365.0) * std::f64::consts::TAU).sin();
        let price_milli = (per_unit_price * season * rng.around(0.03) * 100_000.0).round() as i64;
        rows.push(Row {
            line: n,
            vehicle: None,
            record: Record::Fuel {
                at: day.with_time(time::macros::time!(8:30)).assume_utc(),
                odometer: (shown(km) * 10.0).round() / 10.0,
                quantity,
                total_minor: Some((quantity * price_milli as f64 / 1000.0).round() as i64),
                unit_price_milli: Some(price_milli),
                full: n % 7 != 0,
                missed_previous: n % 41 == 0,
                notes: None,
            },
            key: format!("demo-{index}-fuel-{n}"),
        });
        if km - last_oil_km >= oil_km && !electric {
            last_oil_km = km;
            last_oil = Some((day, km));
            rows.push(Row {
                line: n,
                vehicle: None,
                record: Record::Service {
                    on: day,
                    description: "Oil and filter change".into(),
                    total_minor: (if daily_km > 100.0 { 38_000.0 } else { 8_900.0 }
                        * rng.around(0.15)) as i64,
                    odometer: Some((shown(km) * 10.0).round() / 10.0 + 0.1),
                    notes: None,
                },
                key: format!("demo-{index}-service-{n}"),
            });
        }
    }
    for year in 0..3 {
        let on = start + Duration::days(365 * year + 15);
        for (category, amount, what) in [
            (ExpenseCategory::Insurance, 96_000, "Insurance"),
            (ExpenseCategory::Registration, 14_500, "Registration"),
        ] {
            rows.push(Row {
                line: 0,
                vehicle: None,
                record: Record::Expense {
                    on,
                    category,
                    description: format!("{what} {}", on.year()),
                    amount_minor: (amount as f64 * rng.around(0.1)) as i64,
                    notes: None,
                },
                key: format!("demo-{index}-{what}-{year}"),
            });
        }
    }
    let parsed = Parsed {
        format: Format::LubeLoggerFuel,
        distance_unit,
        volume_unit,
        rows,
        errors: vec![],
    };
    let settings = ImportSettings {
        vehicle: vehicle.id,
        source_vehicle: None,
        currency: CurrencyCode::parse("USD").map_err(anyhow::Error::msg)?,
        dry_run: false,
        valid_only: true,
        max_daily_km: domain::meter::DEFAULT_MAX_DAILY_KM,
    };
    store
        .import(tenant, &parsed, &settings, &ctx, &mut |_| {})
        .await
        .with_context(|| format!("history of {}", vehicle.spec.name))?;
    if vehicle.spec.status == VehicleStatus::Sold {
        return Ok(());
    }
    schedules(store, tenant, vehicle.id, last_oil, oil_km, electric, today).await?;
    let card = format!(
        "DEMO INSURANCE CARD\nVehicle: {}\nPolicy: DEMO-{:05}\nNot a real document.\n",
        vehicle.spec.name,
        (rng.next() * 99_999.0) as u32
    );
    let hash = files.put(card.as_bytes()).await?;
    let doc = NewDocument {
        vehicle_id: vehicle.id,
        record_id: None,
        kind: DocumentKind::Insurance,
        title: format!("Insurance card {}", today.year()),
        issued_on: Some(today - Duration::days(345)),
        expires_on: Some(
            today
                + Duration::days(if index == 0 {
                    20
                } else {
                    20 + 60 * index as i64
                }),
        ),
        notes: None,
        sha256: hash,
        size_bytes: card.len() as i64,
        content_type: sniff(card.as_bytes())
            .unwrap_or("text/plain; charset=utf-8")
            .to_string(),
        file_name: "insurance-card.txt".into(),
    };
    store.create_document(tenant, &doc, &ctx).await?;
    Ok(())
}

async fn schedules(
    store: &Store,
    tenant: TenantId,
    vehicle: VehicleId,
    last_oil: Option<(time::Date, f64)>,
    oil_km: f64,
    electric: bool,
    today: time::Date,
) -> anyhow::Result<()> {
    let ctx = AuditContext::system("demo");
    let tasks = store.list_service_tasks(tenant).await?;
    let task = |key: &str| tasks.iter().find(|t| t.key == key).map(|t| t.id);
    let mut plans = vec![
        (
            "tire_rotation",
            Interval {
                km: Some(10_000.0),
                hours: None,
                days: Some(365),
            },
            None,
        ),
        (
            "annual_inspection",
            Interval {
                days: Some(365),
                ..Default::default()
            },
            Some(Baseline {
                date: today - Duration::days(340),
                km: None,
                hours: None,
            }),
        ),
    ];
    if !electric {
        let baseline = last_oil.map(|(date, km)| Baseline {
            date,
            km: Some(km),
            hours: None,
        });
        plans.push((
            "oil_change",
            Interval {
                km: Some(oil_km),
                hours: None,
                days: Some(365),
            },
            baseline,
        ));
    }
    for (key, interval, last_done) in plans {
        let Some(task_id) = task(key) else { continue };
        let new = NewSchedule {
            task_id,
            one_off: false,
            interval,
            window: interval.default_window(),
            last_done,
        };
        store.create_schedule(tenant, vehicle, &new, &ctx).await?;
    }
    Ok(())
}
