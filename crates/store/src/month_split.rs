//! A period split at month boundaries, for reads that take the period's
//! full months from a monthly rollup and only its partial first and last
//! months from the raw records.

use time::{Date, OffsetDateTime, UtcOffset};

use crate::spend::{month_of, next_month};

/// `[from, to)` as three disjoint parts that cover it: the raw records of
/// `[from, head_end)` and `[tail_start, to)`, and the rollup rows of the
/// months `[first_month, end_month)`. A period with no full month is all
/// head (an empty tail and no months).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MonthSplit {
    pub from: OffsetDateTime,
    pub head_end: OffsetDateTime,
    /// First day of the first full month (UTC).
    pub first_month: Date,
    /// First day after the last full month.
    pub end_month: Date,
    pub tail_start: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl MonthSplit {
    pub(crate) fn of(from: OffsetDateTime, to: OffsetDateTime) -> Self {
        let midnight = |d: Date| d.midnight().assume_utc();
        let from_utc = from.to_offset(UtcOffset::UTC);
        let starts = month_of(from_utc.date());
        let first_month = if midnight(starts) == from_utc {
            starts
        } else {
            next_month(starts)
        };
        let end_month = month_of(to.to_offset(UtcOffset::UTC).date());
        if first_month < end_month {
            Self {
                from,
                head_end: midnight(first_month),
                first_month,
                end_month,
                tail_start: midnight(end_month),
                to,
            }
        } else {
            Self {
                from,
                head_end: to,
                first_month,
                end_month: first_month,
                tail_start: to,
                to,
            }
        }
    }

    /// The raw parts as days, for date columns (exact when the period's
    /// ends are midnights UTC).
    pub(crate) fn days(&self) -> [Date; 4] {
        [self.from, self.head_end, self.tail_start, self.to]
            .map(|at| at.to_offset(UtcOffset::UTC).date())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn a_year_from_mid_month_is_two_partial_months_and_eleven_full_ones() {
        let s = MonthSplit::of(
            datetime!(2025-11-29 00:00 UTC),
            datetime!(2026-11-29 00:00 UTC),
        );
        assert_eq!(s.head_end, datetime!(2025-12-01 00:00 UTC));
        assert_eq!(
            (s.first_month, s.end_month),
            (date!(2025 - 12 - 01), date!(2026 - 11 - 01))
        );
        assert_eq!(s.tail_start, datetime!(2026-11-01 00:00 UTC));
        assert_eq!(
            s.days(),
            [
                date!(2025 - 11 - 29),
                date!(2025 - 12 - 01),
                date!(2026 - 11 - 01),
                date!(2026 - 11 - 29)
            ]
        );
    }

    #[test]
    fn month_aligned_ends_leave_no_raw_part() {
        let s = MonthSplit::of(
            datetime!(2025-01-01 00:00 UTC),
            datetime!(2025-03-01 00:00 UTC),
        );
        assert_eq!((s.from, s.head_end), (s.head_end, s.from));
        assert_eq!(
            (s.first_month, s.end_month),
            (date!(2025 - 01 - 01), date!(2025 - 03 - 01))
        );
        assert_eq!(s.tail_start, s.to);
    }

    #[test]
    fn a_period_inside_one_month_is_all_raw() {
        for (from, to) in [
            (
                datetime!(2025-01-10 00:00 UTC),
                datetime!(2025-01-20 00:00 UTC),
            ),
            (
                datetime!(2025-01-10 00:00 UTC),
                datetime!(2025-02-20 00:00 UTC),
            ),
            (
                datetime!(2025-01-01 06:00 UTC),
                datetime!(2025-02-01 00:00 UTC),
            ),
        ] {
            let s = MonthSplit::of(from, to);
            assert_eq!((s.from, s.head_end, s.tail_start, s.to), (from, to, to, to));
            assert_eq!(s.first_month, s.end_month);
        }
    }

    #[test]
    fn offsets_are_read_in_utc() {
        let s = MonthSplit::of(
            datetime!(2025-01-01 02:00 +02:00),
            datetime!(2025-03-15 00:00 UTC),
        );
        assert_eq!(s.first_month, date!(2025 - 01 - 01));
        assert_eq!(s.end_month, date!(2025 - 03 - 01));
    }
}
