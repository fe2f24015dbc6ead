//! The records half of `motorpool bench generate`: each vehicle's fills and
//! oil changes, sent through the import path — all at once before its
//! telemetry in `--order vehicle`, a month at a time behind the feed in
//! `--order time` (as a fuel card's statements arrive) — and, for the
//! time-ordered feed, the meters the finished history leaves a vehicle
//! with, which its schedules count from.

use std::collections::VecDeque;

use anyhow::bail;
use domain::fuel::FuelUnit;
use domain::ids::{TenantId, VehicleId};
use domain::import::{Format, Parsed, Record, Row};
use domain::maintenance::Baseline;
use domain::meter::MeterSource;
use domain::preferences::CurrencyCode;
use domain::vehicle::OdometerUnit;
use store::{AuditContext, ImportSettings, Store};
use time::{Date, Duration, OffsetDateTime};

use crate::bench_feed::{FeedVehicle, engine_hours_at, odometer_at};
use crate::demo_history::Rng;

/// In `--order time`, each vehicle's records of the last this many days are
/// imported together, after the feed's readings of those days.
pub(crate) const IMPORT_EVERY_DAYS: usize = 30;

/// A vehicle's records not yet imported, in time order, each with its day
/// (1-based, as the feed counts them).
pub(crate) type PendingRecords = VecDeque<(usize, Row)>;

/// A vehicle's fills every few days and an oil change every 40,000 km, read
/// off its daily odometer `km`. `per_100km` is its fuel economy.
pub(crate) fn records(
    n: u64,
    km: &[f64],
    first_day: Date,
    (daily_km, per_100km): (f64, f64),
    rng: &mut Rng,
) -> PendingRecords {
    let days = km.len() - 1;
    let mut rows = PendingRecords::new();
    let mut line = 2;
    let mut last_fill = 0usize;
    let mut last_oil = km[0];
    let every = if daily_km > 200.0 { 3 } else { 7 };
    for d in (every..=days).step_by(every) {
        let driven = km[d] - km[last_fill];
        last_fill = d;
        let litres = (driven * per_100km / 100.0 * rng.around(0.06) * 1000.0).round() / 1000.0;
        let price_milli = (1.55 * rng.around(0.05) * 100_000.0).round() as i64;
        let day = first_day + Duration::days(d as i64);
        rows.push_back((
            d,
            Row {
                line,
                vehicle: None,
                record: Record::Fuel {
                    at: day.with_time(time::macros::time!(20:00)).assume_utc(),
                    odometer: (km[d] * 10.0).round() / 10.0,
                    quantity: litres,
                    total_minor: Some((litres * price_milli as f64 / 1000.0).round() as i64),
                    unit_price_milli: Some(price_milli),
                    full: true,
                    missed_previous: false,
                    notes: None,
                },
                key: format!("bench-{n}-fuel-{d}"),
            },
        ));
        line += 1;
        if km[d] - last_oil > 40_000.0 {
            last_oil = km[d];
            rows.push_back((
                d,
                Row {
                    line,
                    vehicle: None,
                    record: Record::Service {
                        on: day,
                        description: "Oil and filter change".into(),
                        total_minor: (35_000.0 * rng.around(0.2)) as i64,
                        // Services are read at noon: the day's midpoint.
                        odometer: Some(((km[d - 1] + km[d]) / 2.0 * 10.0).round() / 10.0),
                        notes: None,
                    },
                    key: format!("bench-{n}-oil-{d}"),
                },
            ));
            line += 1;
        }
    }
    rows
}

/// What an import brought in.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Imported {
    pub fuel: usize,
    pub services: usize,
}

/// Imports `vehicle`'s records up to day `through` (all of them with
/// `usize::MAX`), as a LubeLogger fuel file; any refused row is an error.
pub(crate) async fn import_through(
    store: &Store,
    tenant: TenantId,
    vehicle: VehicleId,
    pending: &mut PendingRecords,
    through: usize,
    currency: &CurrencyCode,
) -> anyhow::Result<Imported> {
    let mut rows = Vec::new();
    while pending.front().is_some_and(|(d, _)| *d <= through) {
        if let Some((_, row)) = pending.pop_front() {
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return Ok(Imported::default());
    }
    let report = store
        .import(
            tenant,
            &Parsed {
                format: Format::LubeLoggerFuel,
                distance_unit: OdometerUnit::Kilometres,
                volume_unit: FuelUnit::Litres,
                rows,
                errors: vec![],
            },
            &ImportSettings {
                vehicle,
                source_vehicle: None,
                currency: currency.clone(),
                dry_run: false,
                valid_only: false,
                max_daily_km: domain::meter::DEFAULT_MAX_DAILY_KM,
            },
            &AuditContext::system("bench generate"),
            &mut |_| {},
        )
        .await?;
    if !report.errors.is_empty() {
        bail!(
            "the generator produced refused rows: {:?}",
            &report.errors[..1]
        );
    }
    Ok(Imported {
        fuel: report.fuel,
        services: report.services,
    })
}

/// A vehicle's meters before the first day of its history, dated `today`
/// (`--schedules-from start`).
pub(crate) fn start_meters(vehicle: &FeedVehicle, today: Date) -> Baseline {
    Baseline {
        date: today,
        km: vehicle.km.first().copied(),
        hours: Some(if vehicle.truck {
            engine_hours_at(1, -720)
        } else {
            0.0
        }),
    }
}

/// The meters `vehicle` ends with once its whole history is in — its latest
/// reading of each meter, as the store picks it (latest time; at one time,
/// the greatest source) — as a schedule baseline on `today`: what a
/// schedule created after the history counts from. A vehicle without an
/// engine-hour reading counts hours from 0, as such a schedule does.
pub(crate) fn final_meters(
    vehicle: &FeedVehicle,
    records: &PendingRecords,
    minutes: &[i64],
    first_day: Date,
    today: Date,
) -> Baseline {
    let days = vehicle.km.len() - 1;
    let at = |d: usize, minute: i64| {
        (first_day + Duration::days(d as i64))
            .midnight()
            .assume_utc()
            + Duration::minutes(minute)
    };
    let last_minute = minutes.last().copied().unwrap_or(720);
    let mut latest: (OffsetDateTime, &str, f64) = (
        at(days, last_minute),
        MeterSource::Telematics.as_str(),
        odometer_at(&vehicle.km, days, last_minute),
    );
    for (_, row) in records {
        let reading = match &row.record {
            Record::Fuel { at, odometer, .. } => (*at, MeterSource::Fuel.as_str(), *odometer),
            Record::Service {
                on,
                odometer: Some(odometer),
                ..
            } => (
                on.with_time(time::macros::time!(12:00)).assume_utc(),
                MeterSource::Service.as_str(),
                *odometer,
            ),
            _ => continue,
        };
        if (reading.0, reading.1) > (latest.0, latest.1) {
            latest = reading;
        }
    }
    Baseline {
        date: today,
        km: Some(latest.2),
        hours: Some(if vehicle.truck {
            engine_hours_at(days, last_minute)
        } else {
            0.0
        }),
    }
}
