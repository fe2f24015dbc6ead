//! Recurring maintenance: intervals by distance, engine hours and time
//! (whichever comes first), due-soon windows, the due state, and a forecast
//! of the due date from the vehicle's recent usage.

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

text_enum!(
    /// How urgent a scheduled task is. Ordered: `Overdue` is the most urgent.
    DueStatus {
        Ok => "ok",
        DueSoon => "due_soon",
        Overdue => "overdue",
        /// A one-off task that was done.
        Completed => "completed",
    }
);

impl DueStatus {
    /// Sort rank: lower is more urgent.
    pub fn urgency(self) -> i32 {
        match self {
            Self::Overdue => 0,
            Self::DueSoon => 1,
            Self::Ok => 2,
            Self::Completed => 3,
        }
    }
}

/// How often a task recurs; any combination, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Interval {
    pub km: Option<f64>,
    pub hours: Option<f64>,
    pub days: Option<i64>,
}

impl Interval {
    /// At least one dimension, all positive.
    pub fn check(&self) -> Result<(), String> {
        if self.km.is_none() && self.hours.is_none() && self.days.is_none() {
            return Err("needs a distance, an engine-hour or a time interval (or several)".into());
        }
        let positive = self.km.is_none_or(|v| v.is_finite() && v > 0.0)
            && self.hours.is_none_or(|v| v.is_finite() && v > 0.0)
            && self.days.is_none_or(|v| v > 0);
        if positive {
            Ok(())
        } else {
            Err("intervals must be more than zero".into())
        }
    }

    /// The default due-soon window: a tenth of each interval.
    pub fn default_window(&self) -> Interval {
        Interval {
            km: self.km.map(|v| v / 10.0),
            hours: self.hours.map(|v| v / 10.0),
            days: self.days.map(|v| (v / 10).max(1)),
        }
    }
}

/// When (and at which meters) the task was last done, or the schedule started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub date: Date,
    pub km: Option<f64>,
    pub hours: Option<f64>,
}

/// The vehicle now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub date: Date,
    pub km: Option<f64>,
    pub hours: Option<f64>,
    /// The days `km` and `hours` were read. A forecast projects from the
    /// reading, not from today: a vehicle that last reported ten days ago
    /// has driven on since. (It also makes a stored forecast independent of
    /// the day it was computed, so the calendar alone rarely moves it.)
    pub km_read_on: Option<Date>,
    pub hours_read_on: Option<Date>,
    /// Recent usage per day (see [`daily_rate`]).
    pub km_per_day: Option<f64>,
    pub hours_per_day: Option<f64>,
}

/// The computed due state of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DueState {
    pub next_km: Option<f64>,
    pub next_hours: Option<f64>,
    pub next_date: Option<Date>,
    pub status: DueStatus,
    /// When it will be due at the current usage rate (earliest dimension);
    /// today when overdue; `None` when no dimension can be projected.
    pub forecast: Option<Date>,
}

impl DueState {
    /// What is stored of the state: all of it but an "ok" schedule's
    /// forecast. That forecast moves with nearly every reading (the meter
    /// and the rate both move it by a day either way), yet an "ok" schedule
    /// is in no due list: its forecast is shown only with its vehicle, and
    /// computed when read. Stored, it cost a write per schedule every few
    /// days of a live feed, the feed's largest cost (docs/PERFORMANCE.md,
    /// session 12). A stored "ok" state then moves only when the status
    /// does or its schedule changes, which is what lets a live feed skip
    /// the schedules of a vehicle whose meters reached no threshold
    /// ([`crate::due_watch::DueWatch`]).
    pub fn to_stored(mut self) -> DueState {
        if self.status == DueStatus::Ok {
            self.forecast = None;
        }
        self
    }

    /// Whether two states are the same, meters compared to a millionth of
    /// a km or hour: a value that went through a text form (the fleet pass
    /// reads schedules as JSON, SQLite's pages travel as JSON) may come back
    /// one unit in the last place off.
    pub fn same_as(&self, other: &DueState) -> bool {
        let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-6,
            (x, y) => x.is_none() && y.is_none(),
        };
        close(self.next_km, other.next_km)
            && close(self.next_hours, other.next_hours)
            && self.next_date == other.next_date
            && self.status == other.status
            && self.forecast == other.forecast
    }
}

/// Evaluates a recurring schedule.
pub fn evaluate(interval: &Interval, window: &Interval, last: &Baseline, now: &Now) -> DueState {
    let next_km = last.km.zip(interval.km).map(|(a, b)| a + b);
    let next_hours = last.hours.zip(interval.hours).map(|(a, b)| a + b);
    let next_date = interval.days.map(|d| last.date + Duration::days(d));

    let mut status = DueStatus::Ok;
    let mut forecast: Option<Date> = None;
    let mut consider = |s: DueStatus, f: Option<Date>| {
        if s.urgency() < status.urgency() {
            status = s;
        }
        if let Some(f) = f {
            forecast = Some(forecast.map_or(f, |c: Date| c.min(f)));
        }
    };
    let meter = |next: Option<f64>,
                 current: Option<f64>,
                 read_on: Option<Date>,
                 window: Option<f64>,
                 rate: Option<f64>| {
        let (next, current) = (next?, current?);
        let left = next - current;
        let s = if left <= 0.0 {
            DueStatus::Overdue
        } else if left <= window.unwrap_or(0.0) {
            DueStatus::DueSoon
        } else {
            DueStatus::Ok
        };
        // From the day of the reading (never later than today), and
        // never before today: a date already passed means "probably now".
        let from = read_on.map_or(now.date, |d| d.min(now.date));
        let f = if left <= 0.0 {
            Some(now.date)
        } else {
            rate.filter(|r| *r > 0.0)
                .map(|r| (from + Duration::days((left / r).ceil() as i64)).max(now.date))
        };
        Some((s, f))
    };
    if let Some((s, f)) = meter(next_km, now.km, now.km_read_on, window.km, now.km_per_day) {
        consider(s, f);
    }
    if let Some((s, f)) = meter(
        next_hours,
        now.hours,
        now.hours_read_on,
        window.hours,
        now.hours_per_day,
    ) {
        consider(s, f);
    }
    if let Some(due) = next_date {
        let left = (due - now.date).whole_days();
        let s = if left <= 0 {
            DueStatus::Overdue
        } else if left <= window.days.unwrap_or(0) {
            DueStatus::DueSoon
        } else {
            DueStatus::Ok
        };
        consider(s, Some(due.max(now.date)));
    }
    DueState {
        next_km,
        next_hours,
        next_date,
        status,
        forecast,
    }
}

/// How far back a usage rate looks; a rate whose meter has not been read
/// for longer is not used.
pub const RATE_WINDOW_DAYS: i64 = 120;

/// The first day after `now` on which the calendar alone could move a state
/// `evaluate` returned for `now` (with the meters unchanged): the day after
/// the forecast (a projected date passed becomes "today", which then moves
/// daily), a calendar due date or the start of its window, or — when there
/// is a forecast — the day a meter's last reading leaves the rate window
/// (a state without one, such as a stored "ok" state, has none for the rate
/// to move). Stored with the state, it lets the hourly pass read only the
/// schedules that can move.
pub fn recheck_on(window: &Interval, now: &Now, state: &DueState) -> Date {
    let mut candidates = Vec::with_capacity(5);
    candidates.extend(state.forecast.map(|f| f.max(now.date) + Duration::days(1)));
    if let Some(due) = state.next_date {
        candidates.push(due - Duration::days(window.days.unwrap_or(0)));
        candidates.push(due);
    }
    let stale = |read_on: Option<Date>, rate: Option<f64>| {
        read_on
            .filter(|_| rate.is_some())
            .map(|d| d + Duration::days(RATE_WINDOW_DAYS + 1))
    };
    if state.forecast.is_some() {
        candidates.extend(stale(now.km_read_on, now.km_per_day));
        candidates.extend(stale(now.hours_read_on, now.hours_per_day));
    }
    candidates
        .into_iter()
        .filter(|d| *d > now.date)
        .min()
        .unwrap_or(Date::MAX)
}

pub use crate::usage_rate::{RATE_HALF_LIFE_DAYS, daily_rate};

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn now(date: Date, km: f64, rate: f64) -> Now {
        Now {
            date,
            km: Some(km),
            hours: None,
            km_read_on: Some(date),
            hours_read_on: None,
            km_per_day: Some(rate),
            hours_per_day: None,
        }
    }

    #[test]
    fn whichever_comes_first() {
        // Every 10,000 km or 365 days; done at 50,000 km on 2026-01-01.
        let interval = Interval {
            km: Some(10_000.0),
            hours: None,
            days: Some(365),
        };
        let window = Interval {
            km: Some(1_000.0),
            hours: None,
            days: Some(30),
        };
        let last = Baseline {
            date: date!(2026 - 01 - 01),
            km: Some(50_000.0),
            hours: None,
        };

        let s = evaluate(
            &interval,
            &window,
            &last,
            &now(date!(2026 - 03 - 01), 52_000.0, 50.0),
        );
        assert_eq!(
            (s.next_km, s.next_date),
            (Some(60_000.0), Some(date!(2027 - 01 - 01)))
        );
        assert_eq!(s.status, DueStatus::Ok);
        // 8,000 km left at 50 km/day: 160 days → 2026-08-08, before the date.
        assert_eq!(s.forecast, Some(date!(2026 - 08 - 08)));
        // The same reading looked at ten days later: the projection starts
        // from the reading, so the forecast stays where it was…
        let later = Now {
            date: date!(2026 - 03 - 11),
            ..now(date!(2026 - 03 - 01), 52_000.0, 50.0)
        };
        assert_eq!(
            evaluate(&interval, &window, &last, &later).forecast,
            Some(date!(2026 - 08 - 08))
        );
        // Without new readings, the first day it can move is the one its
        // reading leaves the rate window (before the forecast's next day).
        assert_eq!(recheck_on(&window, &later, &s), date!(2026 - 06 - 30));
        // …and a projected date already passed is today, not the past.
        let silent = Now {
            date: date!(2026 - 09 - 01),
            ..later
        };
        assert_eq!(
            evaluate(&interval, &window, &last, &silent).forecast,
            Some(date!(2026 - 09 - 01))
        );

        let soon = evaluate(
            &interval,
            &window,
            &last,
            &now(date!(2026 - 06 - 01), 59_200.0, 50.0),
        );
        assert_eq!(soon.status, DueStatus::DueSoon);
        let late = evaluate(
            &interval,
            &window,
            &last,
            &now(date!(2026 - 06 - 01), 60_000.0, 50.0),
        );
        assert_eq!(
            (late.status, late.forecast),
            (DueStatus::Overdue, Some(date!(2026 - 06 - 01)))
        );
        // Barely driven: the calendar decides.
        let idle = evaluate(
            &interval,
            &window,
            &last,
            &now(date!(2026 - 12 - 15), 50_100.0, 0.3),
        );
        assert_eq!(
            (idle.status, idle.forecast),
            (DueStatus::DueSoon, Some(date!(2027 - 01 - 01)))
        );
        // The calendar moves it next on its due date.
        assert_eq!(
            recheck_on(&window, &now(date!(2026 - 12 - 15), 50_100.0, 0.3), &idle),
            date!(2027 - 01 - 01)
        );
        let old = evaluate(
            &interval,
            &window,
            &last,
            &now(date!(2027 - 02 - 01), 50_100.0, 0.3),
        );
        assert_eq!(old.status, DueStatus::Overdue);
    }

    #[test]
    fn engine_hours_and_unknown_meters() {
        let interval = Interval {
            km: Some(20_000.0),
            hours: Some(500.0),
            days: None,
        };
        let window = interval.default_window();
        let last = Baseline {
            date: date!(2026 - 01 - 01),
            km: None,
            hours: Some(1_000.0),
        };
        let n = Now {
            date: date!(2026 - 02 - 01),
            km: Some(5.0),
            hours: Some(1_460.0),
            km_read_on: None,
            hours_read_on: Some(date!(2026 - 02 - 01)),
            km_per_day: None,
            hours_per_day: Some(8.0),
        };
        let s = evaluate(&interval, &window, &last, &n);
        assert_eq!(s.next_km, None, "no baseline km: distance is not tracked");
        assert_eq!(
            (s.next_hours, s.status),
            (Some(1_500.0), DueStatus::DueSoon)
        );
        assert_eq!(s.forecast, Some(date!(2026 - 02 - 06)), "40 h at 8 h/day");
    }

    #[test]
    fn intervals_are_checked() {
        assert!(Interval::default().check().is_err());
        assert!(
            Interval {
                km: Some(-5.0),
                ..Default::default()
            }
            .check()
            .is_err()
        );
        assert!(
            Interval {
                days: Some(0),
                ..Default::default()
            }
            .check()
            .is_err()
        );
        assert!(
            Interval {
                days: Some(90),
                ..Default::default()
            }
            .check()
            .is_ok()
        );
        assert_eq!(
            Interval {
                days: Some(5),
                ..Default::default()
            }
            .default_window()
            .days,
            Some(1)
        );
    }

    #[test]
    fn urgency_orders_statuses() {
        let mut s = vec![
            DueStatus::Ok,
            DueStatus::Overdue,
            DueStatus::Completed,
            DueStatus::DueSoon,
        ];
        s.sort_by_key(|d| d.urgency());
        assert_eq!(
            s,
            [
                DueStatus::Overdue,
                DueStatus::DueSoon,
                DueStatus::Ok,
                DueStatus::Completed
            ]
        );
    }
}
