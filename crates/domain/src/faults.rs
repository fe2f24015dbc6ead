//! The fault library: what an FMI, an SPN and a source address mean, and a
//! default severity and recommended action for a fault.
//!
//! Descriptions come from `data/` (J1939-73 FMIs, common SPNs, source
//! addresses). Severity is decided where the facts support it — a few
//! SPN/FMI pairs whose meaning is unambiguous (engine oil pressure low, coolant
//! temperature high, coolant level low) — and otherwise by the lamps the ECU lit
//! (red stop dominates) and by the FMI's own severity level.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::j1939::{FIRST_PROPRIETARY_SPN, Lamps};

/// A common SPN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpnInfo {
    pub spn: u32,
    pub name: String,
    pub category: String,
    pub unit: String,
}

text_enum!(
    /// How bad a fault is.
    Severity {
        Info => "info",
        Minor => "minor",
        Major => "major",
        Critical => "critical",
    }
);

impl Severity {
    /// Higher is worse.
    pub fn rank(self) -> u8 {
        match self {
            Self::Info => 0,
            Self::Minor => 1,
            Self::Major => 2,
            Self::Critical => 3,
        }
    }
}

fn rows(text: &str) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .filter_map(Result::ok)
        .collect()
}

static FMIS: LazyLock<HashMap<u8, String>> = LazyLock::new(|| {
    rows(include_str!("../data/j1939-fmi.csv"))
        .iter()
        .filter_map(|r| Some((r.get(0)?.trim().parse().ok()?, r.get(1)?.trim().to_string())))
        .collect()
});

static SPNS: LazyLock<HashMap<u32, SpnInfo>> = LazyLock::new(|| {
    rows(include_str!("../data/j1939-spn-common.csv"))
        .iter()
        .skip(1)
        .filter_map(|r| {
            let spn = r.get(0)?.trim().parse().ok()?;
            Some((
                spn,
                SpnInfo {
                    spn,
                    name: r.get(1)?.to_string(),
                    category: r.get(2)?.to_string(),
                    unit: r.get(3)?.to_string(),
                },
            ))
        })
        .collect()
});

static SOURCES: LazyLock<HashMap<u8, String>> = LazyLock::new(|| {
    rows(include_str!("../data/j1939-source-addresses.csv"))
        .iter()
        .filter_map(|r| Some((r.get(0)?.trim().parse().ok()?, r.get(1)?.trim().to_string())))
        .collect()
});

/// What an FMI means.
pub fn fmi_description(fmi: u8) -> Option<&'static str> {
    FMIS.get(&fmi).map(String::as_str)
}

/// A common SPN's name, category and unit; `None` for SPNs outside the table.
pub fn spn_info(spn: u32) -> Option<&'static SpnInfo> {
    SPNS.get(&spn)
}

/// The name of the ECU at a source address.
pub fn source_name(sa: u8) -> Option<&'static str> {
    SOURCES.get(&sa).map(String::as_str)
}

/// Every known SPN, by number (for browsing the library).
pub fn all_spns() -> Vec<&'static SpnInfo> {
    let mut all: Vec<_> = SPNS.values().collect();
    all.sort_by_key(|s| s.spn);
    all
}

/// A fault's default severity and what to do about it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assessment {
    pub severity: Severity,
    pub action: String,
    /// Which rule decided.
    pub basis: String,
}

/// Assesses a J1939 fault from its SPN, FMI and the lamps of its message.
pub fn assess(spn: u32, fmi: u8, lamps: &Lamps) -> Assessment {
    let lit = crate::fault_code::is_lit;
    let known = match (spn, fmi) {
        (100, 1) | (100, 17) | (100, 18) => Some((
            Severity::Critical,
            "Engine oil pressure is low: stop the engine safely and check the oil level before driving on.",
        )),
        (110, 0) | (110, 15) | (110, 16) => Some((
            Severity::Critical,
            "Engine coolant is too hot: stop safely and let the engine cool; check coolant and fan.",
        )),
        (111, 1) | (111, 17) | (111, 18) => Some((
            Severity::Critical,
            "Engine coolant level is low: stop safely and top up before driving on.",
        )),
        _ => None,
    };
    if let Some((severity, action)) = known {
        return Assessment {
            severity,
            action: action.into(),
            basis: format!("SPN {spn} with FMI {fmi}"),
        };
    }
    if lit(lamps.red_stop) {
        return Assessment {
            severity: Severity::Critical,
            action: "The red stop lamp is on: stop the vehicle as soon as it is safe and call for service.".into(),
            basis: "red stop lamp".into(),
        };
    }
    if lit(lamps.amber_warning) || lit(lamps.protect) || lit(lamps.mil) {
        return Assessment {
            severity: Severity::Major,
            action: "A warning lamp is on: schedule service soon; the vehicle may derate.".into(),
            basis: "amber, protect or malfunction lamp".into(),
        };
    }
    let (severity, basis) = match fmi {
        0 | 1 => (Severity::Major, "FMI most severe level"),
        2..=14 | 19..=21 => (Severity::Minor, "FMI circuit or data fault"),
        15..=18 => (Severity::Minor, "FMI less severe level"),
        _ => (Severity::Info, "FMI condition or reserved"),
    };
    let action = if spn >= FIRST_PROPRIETARY_SPN {
        "A manufacturer-specific fault: look it up in the maker's service information."
    } else {
        "Check at the next service."
    };
    Assessment {
        severity,
        action: action.into(),
        basis: basis.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::j1939::Lamp;

    fn lamps(red: Lamp, amber: Lamp) -> Lamps {
        Lamps {
            mil: Lamp::Off,
            red_stop: red,
            amber_warning: amber,
            protect: Lamp::Off,
        }
    }

    #[test]
    fn the_tables_load_completely() {
        assert_eq!(
            (0..=31).filter(|f| fmi_description(*f).is_some()).count(),
            32
        );
        assert_eq!(
            fmi_description(4),
            Some("Voltage Below Normal, Or Shorted To Low Source")
        );
        assert_eq!(all_spns().len(), 128);
        assert_eq!(spn_info(100).unwrap().name, "Engine Oil Pressure 1");
        assert_eq!(spn_info(110).unwrap().unit, "°C");
        assert_eq!(source_name(0), Some("Engine #1"));
        assert_eq!(source_name(3), Some("Transmission #1"));
    }

    #[test]
    fn severity_rules() {
        let off = lamps(Lamp::Off, Lamp::Off);
        assert_eq!(
            assess(100, 1, &off).severity,
            Severity::Critical,
            "oil pressure low"
        );
        assert_eq!(
            assess(100, 3, &off).severity,
            Severity::Minor,
            "a sensor circuit, not low pressure"
        );
        assert_eq!(
            assess(3251, 2, &lamps(Lamp::On, Lamp::Off)).severity,
            Severity::Critical,
            "red stop dominates"
        );
        assert_eq!(
            assess(3251, 2, &lamps(Lamp::Off, Lamp::FastFlash)).severity,
            Severity::Major
        );
        assert_eq!(assess(168, 0, &off).severity, Severity::Major);
        assert_eq!(assess(168, 31, &off).severity, Severity::Info);
        assert!(assess(520_000, 31, &off).action.contains("manufacturer"));
    }
}
