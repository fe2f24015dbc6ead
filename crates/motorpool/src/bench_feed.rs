//! The telemetry half of `motorpool bench generate`: each vehicle's odometer
//! (and engine-hour) readings and DM1 fault episodes, sent through the
//! telemetry ingest path in batches, in one of two orders ([`FeedOrder`]).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::bail;
use domain::fault_code::{FaultMessage, Origin};
use domain::ids::{TenantId, VehicleId};
use domain::j1939::{DiagnosticMessage, Dtc, Lamp, Lamps};
use domain::meter::{MeterKind, MeterUnit, meter_value};
use store::{AuditContext, Store, TelemetryItem, VehicleRef};
use time::{Date, Duration};

use crate::demo_history::Rng;

/// The order telemetry reaches the ingest path in. The two make the same
/// fleet; they differ in what a batch holds, and so in what ingest costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FeedOrder {
    /// A vehicle's whole history, vehicle after vehicle: a batch holds a
    /// meter or two of two or three vehicles (a backfill).
    #[default]
    Vehicle,
    /// Reading time by reading time, every vehicle's readings of one time
    /// together, as a live telematics feed sends them: a batch holds one
    /// or two readings of each of a thousand or more vehicles. The fleet's
    /// schedules are applied before the feed, counting from the meters the
    /// history ends with, or starts with (`--schedules-from`; a live feed
    /// finds them in place, so each batch re-evaluates the due states of
    /// the vehicles it moves), and each
    /// vehicle's fills and oil changes are imported a month at a time
    /// behind the feed, as a fuel card's statements arrive. The generator
    /// keeps each vehicle's daily odometer (8 bytes a vehicle a day) and
    /// its records until the feed is sent.
    Time,
}

/// Batches telemetry items and ingests each full batch in one transaction,
/// timing only the ingest.
pub(crate) struct Telemetry<'a> {
    pub store: &'a Store,
    pub tenant: TenantId,
    pub batch: Vec<TelemetryItem>,
    /// Items per ingest transaction (`--batch`).
    pub batch_size: usize,
    pub readings: u64,
    pub messages: u64,
    pub spent: std::time::Duration,
}

impl Telemetry<'_> {
    pub async fn push(&mut self, item: TelemetryItem) -> anyhow::Result<()> {
        match item {
            TelemetryItem::Reading { .. } => self.readings += 1,
            _ => self.messages += 1,
        }
        self.batch.push(item);
        if self.batch.len() >= self.batch_size {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let outcomes = self
            .store
            .ingest_telemetry(
                self.tenant,
                &self.batch,
                Origin::Cli,
                domain::meter::DEFAULT_MAX_DAILY_KM,
                &AuditContext::system("bench generate"),
            )
            .await?;
        self.spent += started.elapsed();
        if let Some(bad) = outcomes
            .iter()
            .find(|o| matches!(o, store::ItemOutcome::Rejected { .. }))
        {
            bail!("the generator produced a refused item: {bad:?}");
        }
        self.batch.clear();
        Ok(())
    }
}

/// What the feed needs of one vehicle to send its readings.
pub(crate) struct FeedVehicle {
    pub id: VehicleId,
    /// Trucks report engine hours as well as the odometer.
    pub truck: bool,
    /// The odometer at the end of each day (index 0: the day before the first).
    pub km: Vec<f64>,
    /// Its fills and oil changes not yet imported (`--order time` imports
    /// them behind the feed).
    pub records: crate::bench_history::PendingRecords,
}

/// The minutes after midnight of a day's readings, in time order: evenly
/// spaced, the first at noon when there is one a day.
pub(crate) fn reading_minutes(per_day: u32) -> Vec<i64> {
    let mut minutes: Vec<i64> = (0..per_day)
        .map(|i| (720 + i64::from(i) * 1440 / i64::from(per_day)) % 1440)
        .collect();
    minutes.sort_unstable();
    minutes
}

/// Sends `vehicle`'s readings of day `d` (1-based) at `minutes` after its
/// midnight. The odometer follows the day's driving: half of it by noon,
/// all of it by the 20:00 fill, so every reading agrees with fills and
/// services.
pub(crate) async fn push_readings(
    telemetry: &mut Telemetry<'_>,
    vehicle: &FeedVehicle,
    first_day: Date,
    d: usize,
    minutes: i64,
) -> anyhow::Result<()> {
    let at = (first_day + Duration::days(d as i64))
        .midnight()
        .assume_utc()
        + Duration::minutes(minutes);
    let mut readings = vec![(
        MeterKind::Odometer,
        odometer_at(&vehicle.km, d, minutes),
        MeterUnit::Kilometres,
    )];
    if vehicle.truck {
        readings.push((
            MeterKind::Hours,
            engine_hours_at(d, minutes),
            MeterUnit::Hours,
        ));
    }
    for (kind, value, unit) in readings {
        let value = meter_value(kind, value, unit).map_err(anyhow::Error::msg)?;
        telemetry
            .push(TelemetryItem::Reading {
                vehicle: VehicleRef::Id(vehicle.id),
                kind,
                read_at: at,
                value,
            })
            .await?;
    }
    Ok(())
}

/// The odometer `minutes` after midnight of day `d` (1-based), to 0.1 km,
/// from the end-of-day odometer `km`.
pub(crate) fn odometer_at(km: &[f64], d: usize, minutes: i64) -> f64 {
    ((km[d - 1] + (km[d] - km[d - 1]) * day_share(minutes)) * 10.0).round() / 10.0
}

/// A truck's engine hours `minutes` after midnight of day `d` (1-based):
/// 9.5 hours a day, counted evenly from noon to noon.
pub(crate) fn engine_hours_at(d: usize, minutes: i64) -> f64 {
    let elapsed = (d - 1) as f64 + (minutes + 720) as f64 / 1440.0;
    ((8_000.0 + elapsed * 9.5) * 1000.0).round() / 1000.0
}

/// The share of a day's driving done by `minutes` after midnight: half by
/// noon, all by 20:00 (when the bench fills up), none after.
fn day_share(minutes: i64) -> f64 {
    let m = minutes as f64;
    if m <= 720.0 {
        0.5 * m / 720.0
    } else {
        (0.5 + 0.5 * (m - 720.0) / 480.0).min(1.0)
    }
}

/// Realistic J1939 faults for the mix: (SPN, FMI).
const FAULT_MIX: [(u32, u8); 10] = [
    (100, 1),
    (110, 0),
    (111, 1),
    (3251, 2),
    (97, 3),
    (190, 2),
    (168, 4),
    (1569, 31),
    (5246, 0),
    (3364, 4),
];

/// A fault episode for about a third of the fleet: 1–3 codes, reported
/// every 10 minutes for an hour from 09:00 of one day, then cleared (unless
/// it is the last day, when it stays active). Returns the day (1-based) and
/// the DM1 messages.
pub(crate) fn fault_episode(
    rng: &mut Rng,
    vehicle: VehicleId,
    days: i64,
    first_day: Date,
) -> Option<(i64, Vec<TelemetryItem>)> {
    if rng.next() >= 0.35 {
        return None;
    }
    let count = 1 + (rng.next() * 3.0) as usize;
    let dtcs: Vec<Dtc> = (0..count)
        .map(|_| {
            let (spn, fmi) =
                FAULT_MIX[(rng.next() * FAULT_MIX.len() as f64) as usize % FAULT_MIX.len()];
            Dtc {
                spn,
                fmi,
                occurrences: 1 + (rng.next() * 20.0) as u8,
                legacy_conversion: false,
            }
        })
        .collect();
    let red = dtcs
        .iter()
        .any(|d| matches!((d.spn, d.fmi), (100, 1) | (110, 0)));
    let lamps = Lamps {
        mil: Lamp::Off,
        red_stop: if red { Lamp::On } else { Lamp::Off },
        amber_warning: if red { Lamp::Off } else { Lamp::On },
        protect: Lamp::Off,
    };
    let day = 1 + (rng.next() * (days - 1) as f64) as i64;
    let begin = (first_day + Duration::days(day))
        .with_time(time::macros::time!(9:00))
        .assume_utc();
    let message = |observed_at, lamps, dtcs| TelemetryItem::Dm {
        vehicle: VehicleRef::Id(vehicle),
        message: FaultMessage::Dm1,
        source_address: 0,
        observed_at,
        decoded: DiagnosticMessage { lamps, dtcs },
    };
    let mut items: Vec<TelemetryItem> = (0..6)
        .map(|k| message(begin + Duration::minutes(10 * k), lamps, dtcs.clone()))
        .collect();
    if day < days - 1 {
        items.extend((0..3).map(|k| {
            message(
                begin + Duration::minutes(70 + k),
                domain::fault_code::LAMPS_OFF,
                vec![],
            )
        }));
    }
    Some((day, items))
}

/// Fault episodes held back until the time-ordered feed reaches their day.
pub(crate) type EpisodesByDay = BTreeMap<i64, Vec<TelemetryItem>>;
