//! The meters at which a vehicle's stored due states can next move.
//!
//! A live feed moves a vehicle's meters every few minutes, and every batch
//! used to read and re-evaluate all of the vehicle's schedules. Nearly all
//! of them are "ok", and a stored "ok" state ([`DueState::to_stored`]: no
//! forecast) moves under rising meters only when a meter reaches the start
//! of its due-soon window. An overdue state does not move under rising
//! meters at all (its forecast is today). Only a due-soon state projected
//! from a meter moves with readings, and then only when its forecast moves
//! by a day or it turns overdue. So, per vehicle, one pair of thresholds and
//! the due-soon schedules themselves (a few at most) say whether a batch
//! needs the vehicle's schedules at all; the calendar is the hourly pass's
//! business, as before (`recheck_on`).

use serde::{Deserialize, Serialize};
use time::Date;

use crate::maintenance::{Baseline, DueState, DueStatus, Interval, Now, evaluate, recheck_on};

/// How far below a threshold a reading already counts as reaching it: the
/// status compares `next − current ≤ window`, the watch `current ≥ next −
/// window`, and the two roundings may differ in the last place. Evaluating
/// a millimetre early costs nothing.
const MARGIN: f64 = 1e-3;

/// Per meter, the value it was evaluated at and the lowest value at which a
/// reading can move one of the vehicle's stored "ok" due states; and the
/// due-soon schedules whose states move with the meters, to evaluate again.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DueWatch {
    /// The odometer (km) the states were evaluated at; `None`: never read.
    pub at_km: Option<f64>,
    /// The odometer from which an "ok" state can move; `None`: no reading of
    /// the odometer can move one (no "ok" schedule counts distance).
    pub km: Option<f64>,
    /// The engine hours the states were evaluated at; `None`: never read.
    pub at_hours: Option<f64>,
    /// The engine hours from which an "ok" state can move, as `km`.
    pub hours: Option<f64>,
    /// The due-soon schedules that count a meter, as evaluated and stored.
    /// A batch evaluates these again in memory ([`DueWatch::moves`]) and
    /// reads the vehicle's schedules only when one moved, instead of on
    /// every batch while a schedule is due soon. (Absent from watches
    /// stored before it was kept, which then had no due-soon schedule.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub soon: Vec<WatchedSchedule>,
}

/// One schedule as a watch is computed from, and as it keeps a due-soon
/// one: its settings, and the state and recheck day stored for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchedSchedule {
    pub interval: Interval,
    pub window: Interval,
    pub last: Baseline,
    /// The state as stored ([`DueState::to_stored`]).
    pub state: DueState,
    /// The recheck day stored with it ([`recheck_on`]).
    pub recheck_on: Date,
}

impl WatchedSchedule {
    /// Whether evaluating the schedule at `now` stores something else than
    /// it has: another state, or another recheck day.
    pub fn moved_at(&self, now: &Now) -> bool {
        let state = evaluate(&self.interval, &self.window, &self.last, now).to_stored();
        !state.same_as(&self.state) || recheck_on(&self.window, now, &state) != self.recheck_on
    }
}

impl DueWatch {
    /// The watch over a vehicle's active schedules, each with its state as
    /// stored, all evaluated at `now`. `None` when any reading can move a
    /// state: an "ok" schedule counting a meter the vehicle has never
    /// reported.
    pub fn over<'a>(
        schedules: impl IntoIterator<Item = &'a WatchedSchedule>,
        now: &Now,
    ) -> Option<DueWatch> {
        let mut watch = DueWatch {
            at_km: now.km,
            km: None,
            at_hours: now.hours,
            hours: None,
            soon: Vec::new(),
        };
        let lower = |threshold: &mut Option<f64>, value: f64| {
            *threshold = Some(threshold.map_or(value, |t: f64| t.min(value)));
        };
        for schedule in schedules {
            let (state, window) = (&schedule.state, &schedule.window);
            let counts_meters = state.next_km.is_some() || state.next_hours.is_some();
            match state.status {
                DueStatus::Overdue | DueStatus::Completed => {}
                DueStatus::DueSoon if counts_meters => watch.soon.push(schedule.clone()),
                DueStatus::DueSoon => {}
                DueStatus::Ok => {
                    if let Some(next) = state.next_km {
                        now.km?;
                        lower(&mut watch.km, next - window.km.unwrap_or(0.0));
                    }
                    if let Some(next) = state.next_hours {
                        now.hours?;
                        lower(&mut watch.hours, next - window.hours.unwrap_or(0.0));
                    }
                }
            }
        }
        Some(watch)
    }

    /// Whether the vehicle's stored states may have moved with its meters
    /// now at `now`: an "ok" one's threshold was reached ([`Self::reached`])
    /// or a due-soon one evaluates to another state or recheck day. `false`
    /// means a batch can leave the vehicle's schedules unread.
    pub fn moves(&self, now: &Now) -> bool {
        self.reached(now.km, now.hours) || self.soon.iter().any(|s| s.moved_at(now))
    }

    /// Whether meters now at `km` and `hours` may have moved an "ok" state:
    /// one reached its threshold, went down (a correction), or was first
    /// read or is no longer read.
    pub fn reached(&self, km: Option<f64>, hours: Option<f64>) -> bool {
        let moved = |at: Option<f64>, threshold: Option<f64>, value: Option<f64>| match (at, value)
        {
            (Some(at), Some(value)) => value < at || threshold.is_some_and(|t| value + MARGIN >= t),
            (None, None) => false,
            _ => true,
        };
        moved(self.at_km, self.km, km) || moved(self.at_hours, self.hours, hours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn now(km: Option<f64>, hours: Option<f64>) -> Now {
        Now {
            date: date!(2026 - 06 - 01),
            km,
            hours,
            km_read_on: km.map(|_| date!(2026 - 06 - 01)),
            hours_read_on: hours.map(|_| date!(2026 - 06 - 01)),
            km_per_day: Some(300.0),
            hours_per_day: Some(6.0),
        }
    }

    fn every(km: Option<f64>, hours: Option<f64>, days: Option<i64>) -> (Interval, Interval) {
        let interval = Interval { km, hours, days };
        (interval, interval.default_window())
    }

    /// When every test schedule was last done: 50,000 km and 2,000 h on
    /// 2026-01-01.
    const LAST: Baseline = Baseline {
        date: date!(2026 - 01 - 01),
        km: Some(50_000.0),
        hours: Some(2_000.0),
    };

    /// The stored state of `interval` counted from [`LAST`], at `now`.
    fn stored(interval: &Interval, window: &Interval, now: &Now) -> DueState {
        evaluate(interval, window, &LAST, now).to_stored()
    }

    /// `interval` evaluated at `now` and stored, as a watch reads it.
    fn watched(interval: &Interval, window: &Interval, now: &Now) -> WatchedSchedule {
        let state = stored(interval, window, now);
        WatchedSchedule {
            interval: *interval,
            window: *window,
            last: LAST,
            recheck_on: recheck_on(window, now, &state),
            state,
        }
    }

    #[test]
    fn ok_schedules_watch_the_start_of_their_nearest_window() {
        let (oil, oil_window) = every(Some(10_000.0), None, Some(365));
        let (hydraulics, hydraulics_window) = every(None, Some(500.0), None);
        let at = now(Some(52_000.0), Some(2_100.0));
        let schedules = [
            watched(&oil, &oil_window, &at),
            watched(&hydraulics, &hydraulics_window, &at),
        ];
        let watch = DueWatch::over(&schedules, &at).unwrap();
        // Due soon from 60,000 − 1,000 km and 2,500 − 50 h.
        assert_eq!((watch.km, watch.hours), (Some(59_000.0), Some(2_450.0)));
        assert!(watch.soon.is_empty());
        assert!(!watch.reached(Some(58_998.0), Some(2_449.0)));
        assert!(watch.reached(Some(59_000.0), Some(2_100.0)));
        assert!(watch.reached(Some(52_000.0), Some(2_450.0)));
        // A meter that went down, or one that appeared or vanished.
        assert!(watch.reached(Some(51_999.0), Some(2_100.0)));
        assert!(watch.reached(None, Some(2_100.0)));
        // Just below the threshold by rounding counts as reaching it.
        assert!(watch.reached(Some(59_000.0 - MARGIN / 2.0), Some(2_100.0)));
    }

    #[test]
    fn the_watch_agrees_with_evaluation_on_either_side_of_the_threshold() {
        let (oil, window) = every(Some(10_000.0), None, None);
        let at = now(Some(52_000.0), None);
        let schedule = watched(&oil, &window, &at);
        let watch = DueWatch::over([&schedule], &at).unwrap();
        for km in [
            52_000.0, 55_000.0, 58_999.0, 59_000.0, 59_000.5, 60_000.0, 61_000.0,
        ] {
            let moved = stored(&oil, &window, &now(Some(km), None)) != schedule.state;
            // Reaching the threshold may evaluate for nothing; a move is never missed.
            assert!(!moved || watch.reached(Some(km), None), "{km}");
            assert_eq!(watch.reached(Some(km), None), km >= 59_000.0, "{km}");
            assert_eq!(watch.moves(&now(Some(km), None)), km >= 59_000.0, "{km}");
        }
    }

    #[test]
    fn a_due_soon_schedule_is_watched_until_its_stored_state_moves() {
        let (oil, window) = every(Some(10_000.0), None, None);
        let soon = now(Some(59_100.0), None);
        let schedule = watched(&oil, &window, &soon);
        assert_eq!(schedule.state.status, DueStatus::DueSoon);
        // 900 km left at 300 km a day: due on 2026-06-04.
        assert_eq!(schedule.state.forecast, Some(date!(2026 - 06 - 04)));
        let watch = DueWatch::over([&schedule], &soon).unwrap();
        assert_eq!(watch.soon, vec![schedule.clone()]);
        assert_eq!(watch.km, None, "no ok schedule sets a threshold");
        // Every reading is checked against the stored state, and only a
        // reading that moves it (or its recheck day) asks for the schedules.
        for (km, rate, date) in [
            (59_100.0, 300.0, date!(2026 - 06 - 01)),
            (59_250.0, 300.0, date!(2026 - 06 - 01)),
            (59_400.0, 300.0, date!(2026 - 06 - 02)),
            (59_450.0, 300.0, date!(2026 - 06 - 02)),
            (59_450.0, 150.0, date!(2026 - 06 - 02)),
            (59_999.0, 300.0, date!(2026 - 06 - 02)),
            (60_000.0, 300.0, date!(2026 - 06 - 03)),
        ] {
            let at = Now {
                date,
                km: Some(km),
                km_read_on: Some(date),
                km_per_day: Some(rate),
                ..soon
            };
            let state = stored(&oil, &window, &at);
            let moved = !state.same_as(&schedule.state)
                || recheck_on(&window, &at, &state) != schedule.recheck_on;
            assert_eq!(watch.moves(&at), moved, "{km} km at {rate} a day on {date}");
        }
        // The same by hand, on the first day: 750 km left at 300 km a day
        // is still due on 2026-06-04; at half the rate, on 2026-06-06; at
        // 60,000 km it is overdue.
        let at = |km, rate| Now {
            km: Some(km),
            km_per_day: Some(rate),
            ..soon
        };
        assert!(!watch.moves(&at(59_250.0, 300.0)));
        assert!(watch.moves(&at(59_250.0, 150.0)));
        assert!(watch.moves(&at(60_000.0, 300.0)));
        // A correction below the evaluated odometer always asks.
        assert!(watch.moves(&at(59_000.0, 300.0)));
    }

    #[test]
    fn an_unread_meter_leaves_no_watch() {
        let (oil, window) = every(Some(10_000.0), None, None);
        let unread = now(None, None);
        assert_eq!(
            DueWatch::over([&watched(&oil, &window, &unread)], &unread),
            None
        );
    }

    #[test]
    fn overdue_and_calendar_only_schedules_set_no_threshold() {
        let (oil, oil_window) = every(Some(10_000.0), None, None);
        let (inspection, inspection_window) = every(None, None, Some(180));
        let at = Now {
            date: date!(2026 - 06 - 20),
            ..now(Some(61_000.0), None)
        };
        let overdue = watched(&oil, &oil_window, &at);
        let soon = watched(&inspection, &inspection_window, &at);
        assert_eq!(
            (overdue.state.status, soon.state.status),
            (DueStatus::Overdue, DueStatus::DueSoon)
        );
        let watch = DueWatch::over([&overdue, &soon], &at).unwrap();
        assert_eq!((watch.km, watch.hours), (None, None));
        assert!(watch.soon.is_empty(), "due soon by the calendar alone");
        // Rising meters move neither: the overdue forecast is today.
        assert!(!watch.moves(&Now {
            km: Some(70_000.0),
            ..at
        }));
        assert_eq!(
            stored(
                &oil,
                &oil_window,
                &Now {
                    km: Some(70_000.0),
                    ..at
                }
            ),
            overdue.state
        );
    }

    #[test]
    fn an_ok_state_is_stored_without_its_forecast() {
        let (oil, window) = every(Some(10_000.0), None, None);
        let at = now(Some(52_000.0), None);
        let full = evaluate(&oil, &window, &LAST, &at);
        assert!(full.forecast.is_some());
        assert_eq!(full.clone().to_stored().forecast, None);
        assert_eq!(
            full.clone().to_stored(),
            DueState {
                forecast: None,
                ..full
            }
        );
        let soon = evaluate(&oil, &window, &LAST, &now(Some(59_500.0), None));
        assert_eq!(
            soon.clone().to_stored(),
            soon,
            "a due-soon forecast is kept"
        );
    }

    #[test]
    fn json_round_trip() {
        let (oil, window) = every(Some(10_000.0), Some(500.0), Some(365));
        let soon = now(Some(59_100.0), Some(2_100.0));
        let watch = DueWatch {
            at_km: Some(59_100.0),
            km: Some(69_000.0),
            at_hours: None,
            hours: None,
            soon: vec![watched(&oil, &window, &soon)],
        };
        let text = serde_json::to_string(&watch).unwrap();
        assert_eq!(serde_json::from_str::<DueWatch>(&text).unwrap(), watch);
        // A watch stored before due-soon schedules were kept reads as one
        // without any.
        let old = r#"{"at_km":52000.0,"km":59000.0,"at_hours":null,"hours":null}"#;
        let read: DueWatch = serde_json::from_str(old).unwrap();
        assert_eq!((read.km, read.soon.len()), (Some(59_000.0), 0));
        assert!(!serde_json::to_string(&read).unwrap().contains("soon"));
    }
}
