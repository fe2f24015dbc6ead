//! Meters: odometers and engine-hour meters, and the rules their readings
//! follow.
//!
//! A meter only goes up. A reading that would make it go down (lower than an
//! earlier reading, or higher than a later one) is refused, unless it is
//! marked `void` (kept for history, ignored for calculations) or the vehicle
//! records a meter replacement or rollover: an offset added to every raw
//! reading from its effective time on. Readings compare in canonical units
//! (kilometres, hours), so a reading typed in miles on a kilometre vehicle
//! still orders correctly.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Kilometres in one international mile (exact, by definition).
pub const KM_PER_MILE: f64 = 1.609_344;

/// Distance a vehicle plausibly covers in a day unless the tenant says
/// otherwise: 2,000 miles.
pub const DEFAULT_MAX_DAILY_KM: f64 = 2_000.0 * KM_PER_MILE;
/// Engine hours a day can hold.
pub const MAX_DAILY_HOURS: f64 = 24.0;
/// The largest reading accepted (a sanity bound far above any real meter).
pub const MAX_KM: f64 = 10_000_000.0;
pub const MAX_HOURS: f64 = 1_000_000.0;
/// Readings that differ by less than this (canonical units) are "equal", so
/// a mile reading converted to km does not fail ordering by rounding.
const EPSILON: f64 = 1e-6;

text_enum!(
    /// Which meter a reading is of.
    MeterKind {
        Odometer => "odometer",
        /// Engine hours.
        Hours => "hours",
    }
);

text_enum!(
    /// The unit a reading was taken in.
    MeterUnit {
        Miles => "mi",
        Kilometres => "km",
        Hours => "h",
    }
);

text_enum!(
    /// Where a reading came from.
    MeterSource {
        Manual => "manual",
        Fuel => "fuel",
        Service => "service",
        Telematics => "telematics",
        Import => "import",
    }
);

impl MeterUnit {
    /// Converts a value in this unit to the canonical unit (km or h).
    pub fn to_canonical(self, value: f64) -> f64 {
        match self {
            Self::Miles => value * KM_PER_MILE,
            Self::Kilometres | Self::Hours => value,
        }
    }

    /// Converts a canonical value (km or h) to this unit.
    pub fn from_canonical(self, value: f64) -> f64 {
        match self {
            Self::Miles => value / KM_PER_MILE,
            Self::Kilometres | Self::Hours => value,
        }
    }

    /// Whether readings of `kind` may be in this unit.
    pub fn fits(self, kind: MeterKind) -> bool {
        matches!(
            (kind, self),
            (MeterKind::Odometer, Self::Miles | Self::Kilometres) | (MeterKind::Hours, Self::Hours)
        )
    }
}

/// A reading's value after its unit was checked: canonical and as typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterValue {
    /// As typed, in `unit`.
    pub value: f64,
    pub unit: MeterUnit,
    /// In km (odometer) or h (hours).
    pub canonical: f64,
}

/// Checks a raw value against its kind and unit.
pub fn meter_value(kind: MeterKind, value: f64, unit: MeterUnit) -> Result<MeterValue, String> {
    if !unit.fits(kind) {
        return Err(format!(
            "`{}` is not a unit of the {} meter",
            unit.as_str(),
            kind.as_str()
        ));
    }
    if !value.is_finite() || value < 0.0 {
        return Err("must be a number of zero or more".into());
    }
    let canonical = unit.to_canonical(value);
    let max = if kind == MeterKind::Hours {
        MAX_HOURS
    } else {
        MAX_KM
    };
    if canonical > max {
        return Err(format!(
            "is implausibly large (more than {max} {})",
            if kind == MeterKind::Hours { "h" } else { "km" }
        ));
    }
    Ok(MeterValue {
        value,
        unit,
        canonical,
    })
}

/// A neighbouring reading, for the ordering rule: when and what (effective, canonical).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub at: OffsetDateTime,
    pub value: f64,
}

/// The monotonic rule: a reading may not be lower than the one before it in
/// time, nor higher than the one after. Values are effective (offsets applied)
/// and canonical. Returns a sentence naming the conflicting reading.
pub fn check_order(
    previous: Option<Neighbour>,
    next: Option<Neighbour>,
    value: f64,
) -> Result<(), String> {
    if let Some(p) = previous
        && value + EPSILON < p.value
    {
        return Err(format!(
            "is lower than the reading of {} at {}; a meter only goes up (mark the reading void, or record a meter replacement)",
            round(p.value),
            p.at
        ));
    }
    if let Some(n) = next
        && value > n.value + EPSILON
    {
        return Err(format!(
            "is higher than the later reading of {} at {}; a meter only goes up",
            round(n.value),
            n.at
        ));
    }
    Ok(())
}

/// Flags an implausible jump since the previous reading: more than
/// `max_per_day` (canonical units) per day elapsed, counting at least one day
/// (so a short gap is judged generously). Flagged readings are kept.
pub fn jump_flag(
    previous: Option<Neighbour>,
    at: OffsetDateTime,
    value: f64,
    max_per_day: f64,
) -> Option<String> {
    let p = previous?;
    let days = ((at - p.at).as_seconds_f64() / 86_400.0).max(1.0);
    let delta = value - p.value;
    (delta > max_per_day * days).then(|| {
        format!(
            "implausible jump: {} in {:.1} days since the previous reading (more than {} a day)",
            round(delta),
            days,
            round(max_per_day)
        )
    })
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn n(at: OffsetDateTime, value: f64) -> Option<Neighbour> {
        Some(Neighbour { at, value })
    }

    #[test]
    fn units_fit_their_meters() {
        assert!(meter_value(MeterKind::Odometer, 100.0, MeterUnit::Miles).is_ok());
        assert!(meter_value(MeterKind::Odometer, 100.0, MeterUnit::Hours).is_err());
        assert!(meter_value(MeterKind::Hours, 100.0, MeterUnit::Kilometres).is_err());
        assert!(meter_value(MeterKind::Odometer, -1.0, MeterUnit::Kilometres).is_err());
        assert!(meter_value(MeterKind::Odometer, f64::NAN, MeterUnit::Kilometres).is_err());
        assert!(meter_value(MeterKind::Odometer, 20_000_000.0, MeterUnit::Kilometres).is_err());
        let v = meter_value(MeterKind::Odometer, 100.0, MeterUnit::Miles).unwrap();
        assert!((v.canonical - 160.9344).abs() < 1e-9);
    }

    #[test]
    fn meters_only_go_up() {
        let t = datetime!(2026-01-10 12:00 UTC);
        assert!(
            check_order(n(t, 1000.0), None, 1000.0).is_ok(),
            "equal is fine"
        );
        assert!(
            check_order(n(t, 1000.0), None, 999.0)
                .unwrap_err()
                .contains("lower")
        );
        assert!(
            check_order(None, n(t, 1000.0), 1001.0)
                .unwrap_err()
                .contains("higher")
        );
        assert!(check_order(n(t, 10.0), n(t, 20.0), 15.0).is_ok());
        // 100 mi typed on a km meter that read 160.9344 km is equal, not lower.
        let miles = MeterUnit::Miles.to_canonical(100.0);
        assert!(check_order(n(t, 160.9344), None, miles).is_ok());
    }

    #[test]
    fn jumps_are_flagged_per_day_elapsed() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let t1 = datetime!(2026-01-03 00:00 UTC);
        assert!(
            jump_flag(n(t0, 0.0), t1, 6_000.0, DEFAULT_MAX_DAILY_KM).is_none(),
            "2 days, 6000 km"
        );
        assert!(jump_flag(n(t0, 0.0), t1, 7_000.0, DEFAULT_MAX_DAILY_KM).is_some());
        // A short gap counts as a whole day.
        let t_hour = datetime!(2026-01-01 01:00 UTC);
        assert!(jump_flag(n(t0, 0.0), t_hour, 3_000.0, DEFAULT_MAX_DAILY_KM).is_none());
        assert!(jump_flag(None, t1, 1e6, DEFAULT_MAX_DAILY_KM).is_none());
    }

    proptest! {
        #[test]
        fn unit_conversion_round_trips(v in 0.0f64..1e7) {
            for unit in MeterUnit::ALL {
                let back = unit.from_canonical(unit.to_canonical(v));
                prop_assert!((back - v).abs() <= v * 1e-12 + 1e-9);
            }
        }

        #[test]
        fn a_value_between_its_neighbours_is_always_accepted(a in 0.0f64..1e6, gap in 0.0f64..1e5, f in 0.0f64..=1.0) {
            let t = datetime!(2026-01-01 00:00 UTC);
            let v = a + gap * f;
            prop_assert!(check_order(n(t, a), n(t, a + gap), v).is_ok());
            prop_assert!(check_order(n(t, a), None, a - 0.5).is_err(), "below the previous reading");
        }
    }
}
