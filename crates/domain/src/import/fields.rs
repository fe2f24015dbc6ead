//! Reading cells: numbers with a known decimal separator, money with
//! currency symbols, dates in a known order, booleans in the apps' spellings.

use time::{Date, Month, OffsetDateTime, Time};

use super::ImportError;

/// The order of day, month and year in a date written with separators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// 2024-01-31 (ISO; always accepted).
    Ymd,
    /// 01/31/2024 (US).
    Mdy,
    /// 31/01/2024, 31.01.2024.
    Dmy,
}

impl std::str::FromStr for DateOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ymd" => Ok(Self::Ymd),
            "mdy" => Ok(Self::Mdy),
            "dmy" => Ok(Self::Dmy),
            _ => Err(format!(
                "unknown date order `{s}`: expected ymd, mdy or dmy"
            )),
        }
    }
}

/// Parses a number written with `decimal` as its separator; the other of
/// `.`/`,` and spaces are thousands separators.
pub fn number(text: &str, decimal: char) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("is empty".into());
    }
    let thousands = if decimal == ',' { '.' } else { ',' };
    let cleaned: String = t
        .chars()
        .filter(|c| *c != thousands && !c.is_whitespace() && *c != '\u{a0}')
        .map(|c| if c == decimal { '.' } else { c })
        .collect();
    cleaned
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{t}` is not a number"))
}

/// Parses an amount of money into minor units: currency symbols and codes
/// are dropped, then the number is read exactly.
pub fn money(text: &str, decimal: char, exponent: u32) -> Result<i64, String> {
    let t = text.trim();
    let negative = t.starts_with('-') || (t.starts_with('(') && t.ends_with(')'));
    let kept: String = t
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .collect();
    if kept.is_empty() {
        return Err(format!("`{t}` is not an amount"));
    }
    let thousands = if decimal == ',' { '.' } else { ',' };
    let normalised: String = kept
        .chars()
        .filter(|c| *c != thousands)
        .map(|c| if c == decimal { '.' } else { c })
        .collect();
    // Round to the currency's places rather than refuse: apps export "12.345" for 3-place prices.
    let value: f64 = normalised
        .parse()
        .map_err(|_| format!("`{t}` is not an amount"))?;
    let minor = (value * 10f64.powi(exponent as i32)).round() as i64;
    Ok(if negative { -minor } else { minor })
}

/// Parses a date (and optional time) in the given order. ISO dates are
/// always accepted. Times `H:MM`, `HH:MM[:SS]` and `h:MM AM/PM` are read;
/// without a time, noon UTC.
pub fn datetime(text: &str, order: Option<DateOrder>) -> Result<OffsetDateTime, String> {
    let t = text.trim();
    let (date_part, time_part) = match t.split_once([' ', 'T']) {
        Some((d, rest)) => (d, Some(rest.trim())),
        None => (t, None),
    };
    let parts: Vec<&str> = date_part
        .split(['-', '/', '.'])
        .filter(|p| !p.is_empty())
        .collect();
    let nums: Vec<i32> = parts
        .iter()
        .map(|p| p.parse::<i32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{t}` is not a date"))?;
    let [a, b, c] = nums.as_slice() else {
        return Err(format!("`{t}` is not a date"));
    };
    let (y, m, d) = if parts[0].len() == 4 {
        (*a, *b, *c)
    } else {
        match order {
            Some(DateOrder::Mdy) => (*c, *a, *b),
            Some(DateOrder::Dmy) => (*c, *b, *a),
            Some(DateOrder::Ymd) | None => {
                return Err(format!(
                    "`{t}` needs to know whether the day or the month comes first (option `date_order`)"
                ));
            }
        }
    };
    let y = if y < 100 { 2000 + y } else { y };
    let month = Month::try_from(u8::try_from(m).unwrap_or(0))
        .map_err(|_| format!("`{t}` has no month {m}"))?;
    let date = Date::from_calendar_date(y, month, u8::try_from(d).unwrap_or(0))
        .map_err(|e| format!("`{t}`: {e}"))?;
    let time = match time_part.filter(|p| !p.is_empty()) {
        None => Time::from_hms(12, 0, 0).map_err(|e| e.to_string())?,
        Some(p) => clock(p).ok_or_else(|| format!("`{p}` is not a time"))?,
    };
    Ok(date.with_time(time).assume_utc())
}

fn clock(text: &str) -> Option<Time> {
    let upper = text.to_ascii_uppercase();
    let (hms, pm) = match (upper.strip_suffix("PM"), upper.strip_suffix("AM")) {
        (Some(h), _) => (h.trim().to_string(), Some(true)),
        (_, Some(h)) => (h.trim().to_string(), Some(false)),
        _ => (upper.trim_end_matches('Z').to_string(), None),
    };
    let mut it = hms.split(':');
    let mut h: u8 = it.next()?.trim().parse().ok()?;
    let m: u8 = it.next().unwrap_or("0").trim().parse().ok()?;
    let s: u8 = it
        .next()
        .map(|s| s.split('.').next().unwrap_or("0"))
        .unwrap_or("0")
        .trim()
        .parse()
        .ok()?;
    match pm {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    Time::from_hms(h, m, s).ok()
}

/// Reads the apps' booleans: `1`, `true`, `yes`, `full` (any case) are true.
pub fn boolean(text: &str) -> bool {
    // English, and the Portuguese, Spanish, Danish and French yes of Drivvo's exports.
    matches!(
        text.trim().to_lowercase().as_str(),
        "1" | "true" | "yes" | "y" | "full" | "sim" | "sí" | "si" | "ja" | "oui"
    )
}

/// The index of the first header among `names` (case-insensitive, trimmed).
pub fn column(header: &[String], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| {
        let h = h.trim().to_lowercase();
        names.iter().any(|n| h == *n)
    })
}

/// The decimal separator, from the options (the file's format may fix it).
pub fn decimal(given: Option<char>) -> Result<char, ImportError> {
    given.ok_or(ImportError::NeedsOption {
        what: "decimal separator",
        option: "decimal_separator",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_separator() {
        assert_eq!(number("1,234.5", '.'), Ok(1234.5));
        assert_eq!(number("1.234,5", ','), Ok(1234.5));
        assert_eq!(number("12,5", ','), Ok(12.5));
        assert!(number("abc", '.').is_err());
        assert!(number("", '.').is_err());
    }

    #[test]
    fn money_drops_symbols_and_reads_exactly() {
        assert_eq!(money("$1,234.56", '.', 2), Ok(123_456));
        assert_eq!(money("1.234,56 €", ',', 2), Ok(123_456));
        assert_eq!(money("(12.00)", '.', 2), Ok(-1200));
        assert_eq!(money("¥1,200", '.', 0), Ok(1200));
        assert!(money("n/a", '.', 2).is_err());
    }

    #[test]
    fn dates_need_an_order_unless_iso() {
        assert_eq!(
            datetime("2024-01-31", None).unwrap().date().to_string(),
            "2024-01-31"
        );
        assert!(datetime("01/31/2024", None).is_err());
        assert_eq!(
            datetime("01/31/2024", Some(DateOrder::Mdy))
                .unwrap()
                .date()
                .to_string(),
            "2024-01-31"
        );
        assert_eq!(
            datetime("31.01.2024", Some(DateOrder::Dmy))
                .unwrap()
                .date()
                .to_string(),
            "2024-01-31"
        );
        let t = datetime("2024-01-31 3:04 PM", None).unwrap();
        assert_eq!((t.hour(), t.minute()), (15, 4));
        let t = datetime("01-31-2024 07:30", Some(DateOrder::Mdy)).unwrap();
        assert_eq!((t.hour(), t.minute()), (7, 30));
        assert!(datetime("2024-02-30", None).is_err());
    }

    #[test]
    fn booleans() {
        assert!(boolean("True") && boolean("1") && boolean("Full"));
        assert!(!boolean("False") && !boolean("0") && !boolean(""));
    }
}
