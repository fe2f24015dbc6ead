//! Where a refresh of the current meters ([`crate::current_meters`]) finds
//! each vehicle's latest live readings.
//!
//! After an ingest batch they follow from what is already known: the
//! vehicle row holds the latest live reading of each meter as of the last
//! commit, and the batch's accepted items are the only readings added
//! since (a batch voids no stored reading). The later of the two is the
//! latest — from the vehicle rows the batch read (and locked) before its
//! readings were checked ([`live`]). Only a tie the stored order would
//! break (one second, two values) is looked up in the readings. Session
//! 11's profile of a live feed had the lookup of every moved vehicle's
//! latest readings (four index probes a vehicle) as its fourth cost
//! (docs/PERFORMANCE.md, session 12).
//!
//! The vehicle row also keeps, per meter, the time of its latest stored
//! reading of any kind, void or live (`odometer_seen_at`, `hours_seen_at`):
//! a batch whose items of a meter all come after it needs no window of
//! stored readings for that meter ([`Latest::window_from`]): there is none
//! in its span or after it, and the reading before it is the latest live one.
//!
//! Every other refresh (a void, an offset, an import) reads the readings.

use std::collections::HashMap;
use std::sync::LazyLock;

use domain::ids::{TenantId, VehicleId};
use domain::meter::MeterKind;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ResultExt;
use crate::meters::{CurrentMeters, Reading, offset_at};
use crate::reading_batch::{IN_LIST_CHUNK, offsets_of, push_in_list};
use crate::reading_window::Window;
use crate::{StoreError, Tx, on_tx};

/// A vehicle's latest live reading of each meter, (time, effective value),
/// and the time of its latest reading of any kind; with the JSON columns
/// the refresh reads beside them: its usage rates' stored sums (see
/// [`crate::usage::MeterRates`]) and its due watch (see [`crate::due_state`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct Latest {
    pub odometer: Option<(OffsetDateTime, f64)>,
    pub hours: Option<(OffsetDateTime, f64)>,
    /// The latest stored odometer reading's time, void or live; `None`: none.
    pub odometer_seen: Option<OffsetDateTime>,
    pub hours_seen: Option<OffsetDateTime>,
    pub odometer_sums: Option<String>,
    pub hours_sums: Option<String>,
    pub due_watch: Option<String>,
}

impl Latest {
    /// Puts this vehicle's current readings, each meter's latest live
    /// one, into `readings` (the open days of [`crate::daily_meters::record_days`]).
    pub(crate) fn current_readings_into(
        &self,
        vehicle: VehicleId,
        readings: &mut crate::daily_meters::CurrentReadings,
    ) {
        crate::daily_meters::insert_current(readings, vehicle, self.odometer, self.hours);
    }

    /// The window of stored readings for a batch's items of `kind` from
    /// `from` on, when this row settles it: every stored reading of the
    /// meter is before `from`, so none is in the span or after it, and the
    /// one before it is the latest live reading. `None`: load it.
    pub(crate) fn window_from(&self, kind: MeterKind, from: OffsetDateTime) -> Option<Window> {
        let (live, seen) = match kind {
            MeterKind::Odometer => (self.odometer, self.odometer_seen),
            MeterKind::Hours => (self.hours, self.hours_seen),
        };
        match seen {
            // No reading at all (a live one without a time seen is a row
            // written before the times were kept: load it).
            None => live.is_none().then(|| Window::after_latest(None)),
            Some(seen) if seen < from => Some(Window::after_latest(live)),
            Some(_) => None,
        }
    }
}

/// What an ingest batch's accepted readings say of each meter.
#[derive(Debug, Default)]
pub(crate) struct BatchMeters {
    /// The latest live reading of each meter.
    pub latest: HashMap<(VehicleId, MeterKind), BatchLatest>,
    /// The latest reading of each meter, void or live.
    pub seen: HashMap<(VehicleId, MeterKind), OffsetDateTime>,
}

impl BatchMeters {
    pub(crate) fn of(accepted: &[Reading]) -> BatchMeters {
        let mut seen: HashMap<(VehicleId, MeterKind), OffsetDateTime> = HashMap::new();
        for r in accepted {
            let at = seen.entry((r.vehicle_id, r.kind)).or_insert(r.read_at);
            *at = (*at).max(r.read_at);
        }
        BatchMeters {
            latest: batch_latest(accepted),
            seen,
        }
    }
}

/// One meter's latest live reading among a batch's accepted items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BatchLatest {
    pub at: OffsetDateTime,
    /// Its effective value; `None` when readings of that second from
    /// different sources differ, which only the stored order settles.
    pub value: Option<f64>,
}

/// The latest live reading of each meter among a batch's accepted items.
fn batch_latest(accepted: &[Reading]) -> HashMap<(VehicleId, MeterKind), BatchLatest> {
    let mut latest: HashMap<(VehicleId, MeterKind), BatchLatest> = HashMap::new();
    for r in accepted.iter().filter(|r| !r.void) {
        let new = BatchLatest {
            at: r.read_at,
            value: Some(r.effective),
        };
        latest
            .entry((r.vehicle_id, r.kind))
            .and_modify(|held| {
                if r.read_at > held.at {
                    *held = new;
                } else if r.read_at == held.at && held.value.is_some_and(|v| !same(v, r.effective))
                {
                    held.value = None;
                }
            })
            .or_insert(new);
    }
    latest
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The latest live reading of a meter after a batch, from the stored one
/// and the batch's: the later of the two. `None` when the stored order
/// would decide: both in one second with different values, or the batch's
/// own latest second ambiguous.
fn after_batch(
    stored: Option<(OffsetDateTime, f64)>,
    batch: Option<&BatchLatest>,
) -> Option<Option<(OffsetDateTime, f64)>> {
    let Some(batch) = batch else {
        return Some(stored);
    };
    match stored {
        Some(s) if s.0 > batch.at => Some(Some(s)),
        Some(s) if s.0 == batch.at => match batch.value {
            Some(v) if same(v, s.1) => Some(Some(s)),
            _ => None,
        },
        _ => batch.value.map(|v| Some((batch.at, v))),
    }
}

/// The rows of those of `vehicles` that exist and are not deleted, as
/// stored (see the module's comment): the batch's check of its vehicles
/// and the start of its refresh in one statement. Read and locked before a
/// batch checks its readings: on PostgreSQL `FOR NO KEY UPDATE`, so a
/// concurrent batch of the same vehicle has committed its readings and
/// meters before this one reads them. Locks are taken in id order (the
/// chunks and, within one, the index scan), so batches sharing vehicles
/// queue instead of deadlocking. A deferred refresh (an import, recording
/// its readings vehicle by vehicle) takes no lock here: it would lock in
/// its own order; its refresh locks the rows at the end, in id order.
pub(crate) async fn live(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
    current: CurrentMeters,
) -> Result<HashMap<VehicleId, Latest>, StoreError> {
    let lock = current == CurrentMeters::Refresh;
    let mut sorted = vehicles.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut rows = HashMap::with_capacity(sorted.len());
    for chunk in sorted.chunks(IN_LIST_CHUNK) {
        rows.extend(vehicle_rows(tx, tenant, chunk, &LIVE_ROWS_SQL, lock).await?);
    }
    Ok(rows)
}

/// The latest readings of `vehicles` after an ingest batch: their rows as
/// `stored` before it, moved on by what the batch accepted, `batch`.
pub(crate) async fn after_ingest(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
    stored: &HashMap<VehicleId, Latest>,
    batch: &BatchMeters,
) -> Result<HashMap<VehicleId, Latest>, StoreError> {
    let mut latest = HashMap::with_capacity(vehicles.len());
    let mut unsettled = Vec::new();
    for vehicle in vehicles {
        let Some(before) = stored.get(vehicle) else {
            unsettled.push(*vehicle);
            continue;
        };
        let key = |kind| (*vehicle, kind);
        let moved = |stored: Option<(OffsetDateTime, f64)>, kind: MeterKind| {
            after_batch(stored, batch.latest.get(&key(kind)))
        };
        let seen = |stored: Option<OffsetDateTime>, kind: MeterKind| {
            stored.max(batch.seen.get(&key(kind)).copied())
        };
        match moved(before.odometer, MeterKind::Odometer).zip(moved(before.hours, MeterKind::Hours))
        {
            Some((odometer, hours)) => {
                let found = Latest {
                    odometer,
                    hours,
                    odometer_seen: seen(before.odometer_seen, MeterKind::Odometer),
                    hours_seen: seen(before.hours_seen, MeterKind::Hours),
                    ..before.clone()
                };
                latest.insert(*vehicle, found);
            }
            None => unsettled.push(*vehicle),
        }
    }
    if !unsettled.is_empty() {
        latest.extend(from_readings(tx, tenant, &unsettled).await?);
    }
    Ok(latest)
}

/// The latest live reading of both meters of each of `vehicles`, looked up
/// in the readings (four correlated lookups a vehicle, each the top of an
/// index range) with the meter offsets applied. Ties at one second are
/// broken by source, the key's last column, so the time and the value
/// always come from the same reading.
pub(crate) async fn from_readings(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
) -> Result<HashMap<VehicleId, Latest>, StoreError> {
    let mut offsets = offsets_of(tx, tenant, vehicles).await?;
    let rows = vehicle_rows(tx, tenant, vehicles, &LATEST_READINGS_SQL, true).await?;
    Ok(rows
        .into_iter()
        .map(|(vehicle, raw)| {
            // A meter's value is its raw reading plus the offsets in force then.
            let mut effective = |kind: MeterKind, reading: Option<(OffsetDateTime, f64)>| {
                let offsets = offsets.remove(&(vehicle, kind)).unwrap_or_default();
                reading.map(|(at, raw)| (at, raw + offset_at(&offsets, at)))
            };
            let found = Latest {
                odometer: effective(MeterKind::Odometer, raw.odometer),
                hours: effective(MeterKind::Hours, raw.hours),
                ..raw
            };
            (vehicle, found)
        })
        .collect())
}

/// The head of [`from_readings`]' statement (its vehicle list follows),
/// built once: every refresh but an ingest batch's runs it.
static LATEST_READINGS_SQL: LazyLock<String> = LazyLock::new(|| {
    let latest = |column: &str, kind: MeterKind| {
        format!(
            "(SELECT r.{column} FROM meter_readings r
               WHERE r.tenant_id = v.tenant_id AND r.vehicle_id = v.id AND r.kind = '{}' AND NOT r.void
               ORDER BY r.read_at DESC, r.source DESC LIMIT 1)",
            kind.as_str()
        )
    };
    let seen = |kind: MeterKind| {
        format!(
            "(SELECT r.read_at FROM meter_readings r
               WHERE r.tenant_id = v.tenant_id AND r.vehicle_id = v.id AND r.kind = '{}'
               ORDER BY r.read_at DESC LIMIT 1)",
            kind.as_str()
        )
    };
    format!(
        "SELECT v.id, {}, {}, {}, {}, {}, {}, {JSON_COLUMNS} FROM vehicles v WHERE v.tenant_id = ",
        latest("read_at", MeterKind::Odometer),
        latest("canonical", MeterKind::Odometer),
        latest("read_at", MeterKind::Hours),
        latest("canonical", MeterKind::Hours),
        seen(MeterKind::Odometer),
        seen(MeterKind::Hours),
    )
});

/// The head of [`after_ingest`]'s statement: the stored current meters.
static LIVE_ROWS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT v.id, v.odometer_at, v.odometer_km, v.hours_at, v.engine_hours,
                v.odometer_seen_at, v.hours_seen_at, {JSON_COLUMNS}
           FROM vehicles v WHERE v.deleted_at IS NULL AND v.tenant_id = "
    )
});

const JSON_COLUMNS: &str = "v.odometer_rate_sums, v.hours_rate_sums, v.due_watch";

/// Runs `head` (which selects a vehicle id, each meter's time and value,
/// each meter's latest time seen, then [`JSON_COLUMNS`], ending in the
/// tenant's comparison) for `vehicles`. With `lock`, on PostgreSQL the
/// vehicle rows are locked here (`FOR NO KEY UPDATE`, which foreign keys'
/// share locks do not wait for): a concurrent batch of the same vehicle
/// waits, then reads the meters and sums this one stores, so no batch's
/// days are lost from them. SQLite has one writer at a time.
async fn vehicle_rows(
    tx: &mut Tx,
    tenant: TenantId,
    vehicles: &[VehicleId],
    head: &str,
    lock: bool,
) -> Result<Vec<(VehicleId, Latest)>, StoreError> {
    type Row = (
        Uuid,
        Option<OffsetDateTime>,
        Option<f64>,
        Option<OffsetDateTime>,
        Option<f64>,
        Option<OffsetDateTime>,
        Option<OffsetDateTime>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let lock = match tx {
        Tx::Postgres(_) if lock => " FOR NO KEY UPDATE OF v",
        _ => "",
    };
    let rows: Vec<Row> = on_tx!(tx, |c| {
        let mut q = sqlx::QueryBuilder::new(head);
        q.push_bind(tenant.as_uuid()).push(" AND v.id");
        push_in_list(&mut q, vehicles);
        q.push(lock);
        q.build_query_as().fetch_all(c).await
    })
    .ctx("loading the vehicles' latest readings")?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                km_at,
                km,
                hours_at,
                hours,
                km_seen,
                hours_seen,
                odometer_sums,
                hours_sums,
                due_watch,
            )| {
                let latest = Latest {
                    odometer: km_at.zip(km),
                    hours: hours_at.zip(hours),
                    odometer_seen: km_seen,
                    hours_seen,
                    odometer_sums,
                    hours_sums,
                    due_watch,
                };
                (VehicleId::from(id), latest)
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::meter::{MeterSource, MeterUnit};
    use time::macros::datetime;

    fn reading(vehicle: VehicleId, at: OffsetDateTime, km: f64, source: MeterSource) -> Reading {
        Reading {
            id: Uuid::now_v7(),
            vehicle_id: vehicle,
            kind: MeterKind::Odometer,
            read_at: at,
            value: km,
            unit: MeterUnit::Kilometres,
            canonical: km,
            effective: km,
            source,
            note: None,
            void: false,
            flag: None,
        }
    }

    #[test]
    fn the_batch_latest_is_its_last_second_unless_two_values_share_it() {
        let v = VehicleId::from(Uuid::now_v7());
        let (one, two) = (
            datetime!(2026-05-01 10:00 UTC),
            datetime!(2026-05-01 11:00 UTC),
        );
        let tie = [
            reading(v, one, 100.0, MeterSource::Manual),
            reading(v, one, 101.0, MeterSource::Telematics),
        ];
        let key = (v, MeterKind::Odometer);
        assert_eq!(
            batch_latest(&tie)[&key],
            BatchLatest {
                at: one,
                value: None
            }
        );
        // A later second settles it; the same value twice is no tie.
        let mut settled = tie.to_vec();
        settled.push(reading(v, two, 102.0, MeterSource::Manual));
        settled.push(reading(v, two, 102.0, MeterSource::Fuel));
        let void = Reading {
            void: true,
            ..reading(
                v,
                datetime!(2026-05-02 0:00 UTC),
                999.0,
                MeterSource::Manual,
            )
        };
        settled.push(void);
        assert_eq!(
            batch_latest(&settled)[&key],
            BatchLatest {
                at: two,
                value: Some(102.0)
            }
        );
    }

    #[test]
    fn the_later_of_stored_and_batch_wins_and_a_tie_is_looked_up() {
        let (one, two) = (
            datetime!(2026-05-01 10:00 UTC),
            datetime!(2026-05-01 11:00 UTC),
        );
        let batch = |at, value| BatchLatest { at, value };
        assert_eq!(after_batch(Some((one, 5.0)), None), Some(Some((one, 5.0))));
        assert_eq!(
            after_batch(None, Some(&batch(one, Some(5.0)))),
            Some(Some((one, 5.0)))
        );
        assert_eq!(
            after_batch(Some((two, 9.0)), Some(&batch(one, Some(5.0)))),
            Some(Some((two, 9.0)))
        );
        assert_eq!(
            after_batch(Some((one, 5.0)), Some(&batch(two, Some(9.0)))),
            Some(Some((two, 9.0)))
        );
        assert_eq!(
            after_batch(Some((one, 5.0)), Some(&batch(one, Some(5.0)))),
            Some(Some((one, 5.0)))
        );
        assert_eq!(
            after_batch(Some((one, 5.0)), Some(&batch(one, Some(6.0)))),
            None
        );
        assert_eq!(after_batch(Some((one, 5.0)), Some(&batch(two, None))), None);
        // A tie the stored reading is later than does not matter.
        assert_eq!(
            after_batch(Some((two, 9.0)), Some(&batch(one, None))),
            Some(Some((two, 9.0)))
        );
    }
}
