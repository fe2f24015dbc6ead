//! The meters at which a vehicle's stored due states can next move.
//!
//! A live feed moves a vehicle's meters every few minutes, and every batch
//! used to read and re-evaluate all of the vehicle's schedules. Nearly all
//! of them are "ok", and a stored "ok" state ([`DueState::to_stored`]: no
//! forecast) moves under rising meters only when a meter reaches the start
//! of its due-soon window. An overdue state does not move under rising
//! meters at all (its forecast is today). Only a due-soon state projected
//! from a meter moves with every reading. So, per vehicle, one pair of
//! thresholds says whether a batch needs the vehicle's schedules at all;
//! the calendar is the hourly pass's business, as before (`recheck_on`).

use serde::{Deserialize, Serialize};

use crate::maintenance::{DueState, DueStatus, Interval, Now};

/// How far below a threshold a reading already counts as reaching it: the
/// status compares `next − current ≤ window`, the watch `current ≥ next −
/// window`, and the two roundings may differ in the last place. Evaluating
/// a millimetre early costs nothing.
const MARGIN: f64 = 1e-3;

/// Per meter, the value it was evaluated at and the lowest value at which a
/// reading can move one of the vehicle's stored due states.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DueWatch {
    /// The odometer (km) the states were evaluated at; `None`: never read.
    pub at_km: Option<f64>,
    /// The odometer from which a state can move; `None`: no reading of the
    /// odometer can move one (no schedule counts distance, or each that
    /// does is already overdue).
    pub km: Option<f64>,
    /// The engine hours the states were evaluated at; `None`: never read.
    pub at_hours: Option<f64>,
    /// The engine hours from which a state can move, as `km`.
    pub hours: Option<f64>,
}

impl DueWatch {
    /// The watch over a vehicle's active schedules, each given by its
    /// due-soon window and its state as stored, all evaluated at `now`.
    /// `None` when any reading can move a state: a due-soon schedule with a
    /// meter dimension (its forecast moves with the meter and the rate), or
    /// an "ok" schedule counting a meter the vehicle has never reported.
    pub fn over<'a>(
        schedules: impl IntoIterator<Item = (&'a Interval, &'a DueState)>,
        now: &Now,
    ) -> Option<DueWatch> {
        let mut watch = DueWatch {
            at_km: now.km,
            km: None,
            at_hours: now.hours,
            hours: None,
        };
        let lower = |threshold: &mut Option<f64>, value: f64| {
            *threshold = Some(threshold.map_or(value, |t: f64| t.min(value)));
        };
        for (window, state) in schedules {
            let counts_meters = state.next_km.is_some() || state.next_hours.is_some();
            match state.status {
                DueStatus::Overdue | DueStatus::Completed => {}
                DueStatus::DueSoon if counts_meters => return None,
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

    /// Whether meters now at `km` and `hours` may have moved a state: one
    /// reached its threshold, went down (a correction), or was first read
    /// or is no longer read.
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
    use crate::maintenance::{Baseline, evaluate};
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

    /// The stored state of `interval` counted from 50,000 km and 2,000 h on
    /// 2026-01-01, at `now`.
    fn stored(interval: &Interval, window: &Interval, now: &Now) -> DueState {
        let last = Baseline {
            date: date!(2026 - 01 - 01),
            km: Some(50_000.0),
            hours: Some(2_000.0),
        };
        evaluate(interval, window, &last, now).to_stored()
    }

    #[test]
    fn ok_schedules_watch_the_start_of_their_nearest_window() {
        let (oil, oil_window) = every(Some(10_000.0), None, Some(365));
        let (hydraulics, hydraulics_window) = every(None, Some(500.0), None);
        let at = now(Some(52_000.0), Some(2_100.0));
        let states = [
            (oil_window, stored(&oil, &oil_window, &at)),
            (
                hydraulics_window,
                stored(&hydraulics, &hydraulics_window, &at),
            ),
        ];
        let watch = DueWatch::over(states.iter().map(|(w, s)| (w, s)), &at).unwrap();
        // Due soon from 60,000 − 1,000 km and 2,500 − 50 h.
        assert_eq!((watch.km, watch.hours), (Some(59_000.0), Some(2_450.0)));
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
        let state = stored(&oil, &window, &at);
        let watch = DueWatch::over([(&window, &state)], &at).unwrap();
        for km in [
            52_000.0, 55_000.0, 58_999.0, 59_000.0, 59_000.5, 60_000.0, 61_000.0,
        ] {
            let moved = stored(&oil, &window, &now(Some(km), None)) != state;
            // Reaching the threshold may evaluate for nothing; a move is never missed.
            assert!(!moved || watch.reached(Some(km), None), "{km}");
            assert_eq!(watch.reached(Some(km), None), km >= 59_000.0, "{km}");
        }
    }

    #[test]
    fn due_soon_by_a_meter_or_an_unread_meter_leaves_no_watch() {
        let (oil, window) = every(Some(10_000.0), None, None);
        let soon = now(Some(59_500.0), None);
        let state = stored(&oil, &window, &soon);
        assert_eq!(state.status, DueStatus::DueSoon);
        assert_eq!(DueWatch::over([(&window, &state)], &soon), None);
        let unread = now(None, None);
        let state = stored(&oil, &window, &unread);
        assert_eq!(DueWatch::over([(&window, &state)], &unread), None);
    }

    #[test]
    fn overdue_and_calendar_only_schedules_set_no_threshold() {
        let (oil, oil_window) = every(Some(10_000.0), None, None);
        let (inspection, inspection_window) = every(None, None, Some(180));
        let at = Now {
            date: date!(2026 - 06 - 20),
            ..now(Some(61_000.0), None)
        };
        let overdue = stored(&oil, &oil_window, &at);
        let soon = stored(&inspection, &inspection_window, &at);
        assert_eq!(
            (overdue.status, soon.status),
            (DueStatus::Overdue, DueStatus::DueSoon)
        );
        let watch =
            DueWatch::over([(&oil_window, &overdue), (&inspection_window, &soon)], &at).unwrap();
        assert_eq!((watch.km, watch.hours), (None, None));
        // Rising meters move neither: the overdue forecast is today.
        assert!(!watch.reached(Some(70_000.0), None));
        assert_eq!(
            stored(
                &oil,
                &oil_window,
                &Now {
                    km: Some(70_000.0),
                    ..at
                }
            ),
            overdue
        );
    }

    #[test]
    fn an_ok_state_is_stored_without_its_forecast() {
        let (oil, window) = every(Some(10_000.0), None, None);
        let at = now(Some(52_000.0), None);
        let last = Baseline {
            date: date!(2026 - 01 - 01),
            km: Some(50_000.0),
            hours: None,
        };
        let full = evaluate(&oil, &window, &last, &at);
        assert!(full.forecast.is_some());
        assert_eq!(full.clone().to_stored().forecast, None);
        assert_eq!(
            full.clone().to_stored(),
            DueState {
                forecast: None,
                ..full
            }
        );
        let soon = evaluate(&oil, &window, &last, &now(Some(59_500.0), None));
        assert_eq!(
            soon.clone().to_stored(),
            soon,
            "a due-soon forecast is kept"
        );
    }

    #[test]
    fn json_round_trip() {
        let watch = DueWatch {
            at_km: Some(52_000.0),
            km: Some(59_000.0),
            at_hours: None,
            hours: None,
        };
        let text = serde_json::to_string(&watch).unwrap();
        assert_eq!(serde_json::from_str::<DueWatch>(&text).unwrap(), watch);
    }
}
