//! Money: an integer count of a currency's minor units, never a float.
//!
//! Amounts arrive as decimal text (`"45.67"`, or a JSON number read as its
//! text) and are converted exactly; a value with more decimals than the
//! currency has is refused rather than rounded silently.

use serde::{Deserialize, Serialize};

use crate::preferences::CurrencyCode;

/// Currencies whose minor unit is not a hundredth (ISO 4217 exponents).
const EXPONENT_0: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
const EXPONENT_3: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// Decimal places of a currency's minor unit (2 for most, 0 for JPY, 3 for KWD …).
pub fn exponent(currency: &CurrencyCode) -> u32 {
    let code = currency.as_str();
    if EXPONENT_0.contains(&code) {
        0
    } else if EXPONENT_3.contains(&code) {
        3
    } else {
        2
    }
}

/// An amount: minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: CurrencyCode,
}

impl Money {
    /// The amount as decimal text (`1234` cents → `"12.34"`).
    pub fn to_decimal(&self) -> String {
        format_decimal(self.minor, exponent(&self.currency))
    }
}

/// Parses decimal text into an integer scaled by `10^scale`, exactly.
/// `"3.459"` at scale 3 → 3459. More decimals than `scale` is an error.
pub fn parse_decimal(text: &str, scale: u32) -> Result<i64, String> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = !(whole.is_empty() && fraction.is_empty())
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit());
    if !valid {
        return Err(format!("`{text}` is not a decimal number"));
    }
    if fraction.len() > scale as usize {
        return Err(format!("has more than {scale} decimal places"));
    }
    let mut value: i64 = 0;
    let padded = format!("{fraction:0<width$}", width = scale as usize);
    for c in whole.chars().chain(padded.chars()) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c as u8 - b'0')))
            .ok_or_else(|| "is too large".to_string())?;
    }
    Ok(if negative { -value } else { value })
}

/// Formats an integer scaled by `10^scale` as decimal text.
pub fn format_decimal(value: i64, scale: u32) -> String {
    if scale == 0 {
        return value.to_string();
    }
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let factor = 10u64.pow(scale);
    format!(
        "{sign}{}.{:0width$}",
        abs / factor,
        abs % factor,
        width = scale as usize
    )
}

/// Rounds half away from zero to the nearest integer, as receipts do.
pub fn round_half_away(value: f64) -> i64 {
    value.round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(code: &str) -> CurrencyCode {
        CurrencyCode::parse(code).unwrap()
    }

    #[test]
    fn exponents() {
        assert_eq!(exponent(&c("USD")), 2);
        assert_eq!(exponent(&c("JPY")), 0);
        assert_eq!(exponent(&c("KWD")), 3);
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_decimal("45.67", 2), Ok(4567));
        assert_eq!(parse_decimal("45.6", 2), Ok(4560));
        assert_eq!(parse_decimal("45", 2), Ok(4500));
        assert_eq!(parse_decimal(".5", 2), Ok(50));
        assert_eq!(parse_decimal("-3.459", 3), Ok(-3459));
        assert!(parse_decimal("45.678", 2).is_err());
        assert!(parse_decimal("4,5", 2).is_err());
        assert!(parse_decimal("", 2).is_err());
        assert!(parse_decimal("1e3", 2).is_err());
        assert!(parse_decimal("99999999999999999999", 2).is_err());
        assert_eq!(
            Money {
                minor: 1234,
                currency: c("EUR")
            }
            .to_decimal(),
            "12.34"
        );
        assert_eq!(
            Money {
                minor: 1234,
                currency: c("JPY")
            }
            .to_decimal(),
            "1234"
        );
        assert_eq!(format_decimal(-5, 2), "-0.05");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(v in -1_000_000_000_000i64..1_000_000_000_000, scale in 0u32..6) {
            prop_assert_eq!(parse_decimal(&format_decimal(v, scale), scale), Ok(v));
        }
    }
}
