//! A user's display preferences: units, currency, time zone and locale.
//! Stored values are always canonical (SI units, UTC, minor currency units);
//! preferences only change how they are shown and how input is read.

use serde::{Deserialize, Serialize};

use crate::ValidationErrors;

/// Which family of units a user reads and types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnitSystem {
    /// Kilometres, litres, L/100 km.
    Metric,
    /// Miles, US gallons, mpg.
    Imperial,
}

/// ISO 4217 alphabetic codes of the currencies in circulation (2024 list, minus
/// funds and precious-metal codes). Kept sorted for binary search.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP",
    "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY",
    "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK",
    "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG",
    "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS",
    "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// An ISO 4217 currency code in circulation, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub fn parse(input: &str) -> Result<Self, String> {
        let code = input.trim().to_ascii_uppercase();
        if ISO_4217.binary_search(&code.as_str()).is_ok() {
            Ok(Self(code))
        } else {
            Err(format!(
                "`{input}` is not an ISO 4217 currency code such as USD or EUR"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<CurrencyCode> for String {
    fn from(value: CurrencyCode) -> Self {
        value.0
    }
}

/// An IANA time zone name known to the bundled time zone database
/// (`Europe/Berlin`, `America/Chicago`, `UTC`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(input: &str) -> Result<Self, String> {
        let name = input.trim();
        match jiff::tz::TimeZone::get(name) {
            Ok(_) => Ok(Self(name.to_string())),
            Err(_) => Err(format!(
                "`{input}` is not an IANA time zone name such as Europe/Berlin or America/Chicago"
            )),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<TimeZoneName> for String {
    fn from(value: TimeZoneName) -> Self {
        value.0
    }
}

/// A BCP 47 language tag in its common shape: a 2–3 letter language, then
/// optional subtags of 2–8 letters or digits (`en`, `en-US`, `pt-BR`, `zh-Hant-TW`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    pub fn parse(input: &str) -> Result<Self, String> {
        let tag = input.trim().replace('_', "-");
        let mut parts = tag.split('-');
        let language = parts.next().unwrap_or_default();
        let language_ok =
            (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_alphabetic());
        let rest_ok = parts
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if language_ok && rest_ok {
            Ok(Self(tag))
        } else {
            Err(format!(
                "`{input}` is not a language tag such as en-US or de"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Locale {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<Locale> for String {
    fn from(value: Locale) -> Self {
        value.0
    }
}

/// A user's preferences, with defaults for a new account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub unit_system: UnitSystem,
    pub currency: CurrencyCode,
    pub time_zone: TimeZoneName,
    pub locale: Locale,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            unit_system: UnitSystem::Metric,
            currency: CurrencyCode("EUR".into()),
            time_zone: TimeZoneName("UTC".into()),
            locale: Locale("en".into()),
        }
    }
}

/// A partial update of preferences as raw text; each present field is parsed.
#[derive(Debug, Clone, Default)]
pub struct PreferencesPatch<'a> {
    pub unit_system: Option<UnitSystem>,
    pub currency: Option<&'a str>,
    pub time_zone: Option<&'a str>,
    pub locale: Option<&'a str>,
}

impl Preferences {
    /// Applies a patch, validating every present field; on any error nothing
    /// changes and every bad field is reported.
    pub fn apply(&self, patch: &PreferencesPatch<'_>) -> Result<Preferences, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut next = self.clone();
        if let Some(units) = patch.unit_system {
            next.unit_system = units;
        }
        if let Some(c) = patch
            .currency
            .and_then(|c| errors.check("currency", CurrencyCode::parse(c)))
        {
            next.currency = c;
        }
        if let Some(tz) = patch
            .time_zone
            .and_then(|t| errors.check("time_zone", TimeZoneName::parse(t)))
        {
            next.time_zone = tz;
        }
        if let Some(l) = patch
            .locale
            .and_then(|l| errors.check("locale", Locale::parse(l)))
        {
            next.locale = l;
        }
        errors.into_result().map(|()| next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_list_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn currencies() {
        assert_eq!(CurrencyCode::parse("usd").unwrap().as_str(), "USD");
        assert!(CurrencyCode::parse("XYZ").is_err());
        assert!(CurrencyCode::parse("US").is_err());
    }

    #[test]
    fn time_zones() {
        assert!(TimeZoneName::parse("Europe/Berlin").is_ok());
        assert!(TimeZoneName::parse("America/Chicago").is_ok());
        assert!(TimeZoneName::parse("UTC").is_ok());
        assert!(TimeZoneName::parse("Mars/Olympus_Mons").is_err());
    }

    #[test]
    fn locales() {
        assert_eq!(Locale::parse("en_US").unwrap().as_str(), "en-US");
        assert!(Locale::parse("zh-Hant-TW").is_ok());
        assert!(Locale::parse("english").is_err());
        assert!(Locale::parse("en-").is_err());
    }

    #[test]
    fn patch_reports_every_bad_field_and_changes_nothing() {
        let prefs = Preferences::default();
        let err = prefs
            .apply(&PreferencesPatch {
                unit_system: Some(UnitSystem::Imperial),
                currency: Some("XYZ"),
                time_zone: Some("Nowhere/Land"),
                locale: Some("en"),
            })
            .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["currency", "time_zone"]);
    }
}
