//! A meter's usage rate (km or engine hours a day) from one value per day.
//!
//! [`daily_rate`] defines the rate over a series of day values;
//! [`DailyRateSums`] holds the same computation as running sums, so that an
//! ingest batch that only moves a meter's latest day, or adds days after it,
//! updates the rate from the sums instead of reading the whole window again
//! (docs/PERFORMANCE.md, session 11). Both give the same result, to the bit:
//! `daily_rate` is the fold of `DailyRateSums::push`.

use serde::{Deserialize, Serialize};
use time::Date;

/// Half-life of the usage rate's memory: a month-old interval counts half.
pub const RATE_HALF_LIFE_DAYS: f64 = 30.0;

/// Daily usage (km or hours per day) from one value per day, sorted by date
/// (a later value for the same day replaces the earlier): the rate of each
/// interval between consecutive days, weighted by its length and by an
/// exponential decay of its age (half-life [`RATE_HALF_LIFE_DAYS`]), so
/// recent driving counts most. An interval whose value went down (a meter
/// replaced without an offset) does not count. `None` with fewer than two days.
pub fn daily_rate(days: &[(Date, f64)], today: Date) -> Option<f64> {
    let mut sums = DailyRateSums::new(today);
    for (day, value) in days {
        sums.push(*day, *value);
    }
    sums.rate()
}

/// [`daily_rate`]'s sums over a meter's day values as of one day, kept
/// between ingest batches: the weighted rates and weights of every interval
/// up to the second-latest day, and the two latest days themselves. The
/// latest day stays open (later readings that day still move its value);
/// its interval is added only when the rate is asked for.
///
/// The decay is aged from `as_of`, and the caller decides which days are in
/// the window from it: sums taken on another day must be recomputed from
/// the days themselves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DailyRateSums {
    /// The day the intervals' ages are counted to.
    pub as_of: Date,
    /// Σ weight × rate over the closed intervals.
    weighted: f64,
    /// Σ weight over the closed intervals.
    weights: f64,
    /// The second-latest day and its value: where the open interval starts.
    closed: Option<(Date, f64)>,
    /// The latest day and its value so far.
    open: Option<(Date, f64)>,
}

impl DailyRateSums {
    /// No days yet.
    pub fn new(as_of: Date) -> Self {
        DailyRateSums {
            as_of,
            weighted: 0.0,
            weights: 0.0,
            closed: None,
            open: None,
        }
    }

    /// The latest day taken, if any.
    pub fn latest_day(&self) -> Option<Date> {
        self.open.map(|(day, _)| day)
    }

    /// Takes a day's value: a new latest day closes the previous one's
    /// interval; the latest day again replaces its value. Returns false,
    /// changing nothing, for a day before the latest: the sums cannot take
    /// it (only a fold of the whole series can).
    pub fn push(&mut self, day: Date, value: f64) -> bool {
        match self.open {
            Some((open_day, _)) if day < open_day => return false,
            Some((open_day, _)) if day == open_day => {
                self.open = Some((day, value));
                return true;
            }
            _ => {}
        }
        if let (Some(from), Some(to)) = (self.closed, self.open)
            && let Some((weighted, weight)) = self.interval(from, to)
        {
            self.weighted += weighted;
            self.weights += weight;
        }
        self.closed = self.open;
        self.open = Some((day, value));
        true
    }

    /// The rate over every interval, the open one included.
    pub fn rate(&self) -> Option<f64> {
        let (mut weighted, mut weights) = (self.weighted, self.weights);
        if let (Some(from), Some(to)) = (self.closed, self.open)
            && let Some((w, weight)) = self.interval(from, to)
        {
            weighted += w;
            weights += weight;
        }
        (weights > 0.0).then(|| weighted / weights)
    }

    /// An interval's (weight × rate, weight), `None` when it does not count.
    fn interval(&self, (d0, v0): (Date, f64), (d1, v1): (Date, f64)) -> Option<(f64, f64)> {
        let days = (d1 - d0).whole_days() as f64;
        if days < 1.0 || v1 < v0 {
            return None;
        }
        let age = (self.as_of - d1).whole_days().max(0) as f64;
        let w = days * 0.5f64.powf(age / RATE_HALF_LIFE_DAYS);
        Some((w * (v1 - v0) / days, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::date;

    #[test]
    fn usage_rate_weighs_recent_driving() {
        let today = date!(2026 - 06 - 01);
        // Steady 40 km/day.
        let steady: Vec<(Date, f64)> = (0..10)
            .map(|i| {
                (
                    today - Duration::days(90 - i * 10),
                    1_000.0 + 400.0 * i as f64,
                )
            })
            .collect();
        assert!((daily_rate(&steady, today).unwrap() - 40.0).abs() < 1e-9);
        // Long ago 10 km/day, lately 100 km/day: the recent rate dominates.
        let change = [
            (today - Duration::days(200), 0.0),
            (today - Duration::days(100), 1_000.0),
            (today - Duration::days(10), 10_000.0),
            (today, 11_000.0),
        ];
        let r = daily_rate(&change, today).unwrap();
        assert!(r > 80.0 && r <= 100.0, "{r}");
        assert_eq!(daily_rate(&[(today, 5.0)], today), None);
    }

    #[test]
    fn a_meter_that_went_down_does_not_count_that_interval() {
        let today = date!(2026 - 06 - 01);
        let days = [
            (today - Duration::days(3), 1_000.0),
            (today - Duration::days(2), 1_050.0),
            (today - Duration::days(1), 10.0),
            (today, 60.0),
        ];
        // Both counted intervals are 50 km a day.
        assert!((daily_rate(&days, today).unwrap() - 50.0).abs() < 1e-9);
    }

    /// Pushing days one batch at a time, with the latest day moved by later
    /// readings in between, gives exactly the fold of the final series.
    #[test]
    fn running_sums_equal_the_fold_of_the_final_days() {
        let today = date!(2026 - 06 - 01);
        let mut sums = DailyRateSums::new(today);
        let mut finals: Vec<(Date, f64)> = Vec::new();
        let mut km = 10_000.0;
        for d in 0..60i64 {
            let day = today - Duration::days(60 - d);
            // Three readings a day; each replaces the day's value so far.
            for reading in 0..3 {
                km += 13.7 * (1 + (d * 7 + reading) % 5) as f64;
                assert!(sums.push(day, km));
            }
            finals.push((day, km));
            assert_eq!(sums.rate(), daily_rate(&finals, today), "day {d}");
        }
        assert_eq!(sums.latest_day(), finals.last().map(|d| d.0));
        // A day before the latest is refused and changes nothing.
        let before = sums;
        assert!(!sums.push(today - Duration::days(30), 1.0));
        assert_eq!(sums, before);
    }

    #[test]
    fn sums_survive_a_round_trip_through_json() {
        let today = date!(2026 - 06 - 01);
        let mut sums = DailyRateSums::new(today);
        sums.push(today - Duration::days(2), 100.1);
        sums.push(today - Duration::days(1), 157.3);
        sums.push(today, 203.9);
        let text = serde_json::to_string(&sums).unwrap();
        let back: DailyRateSums = serde_json::from_str(&text).unwrap();
        assert_eq!(back, sums);
        assert_eq!(back.rate(), sums.rate());
    }
}
