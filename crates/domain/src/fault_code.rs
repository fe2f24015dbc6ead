//! What identifies a fault on a vehicle, and the label and severity it gets.
//!
//! A J1939 fault is (SPN, FMI, source address): the same SPN/FMI from the
//! engine and from the transmission are two faults. An OBD-II fault is its
//! code. The text [`FaultCode::key`] is what the store indexes fault cycles and
//! raw events by.

use serde::{Deserialize, Serialize};

use crate::faults::{self, Assessment, Severity};
use crate::j1939::{Lamp, Lamps, MAX_SPN};
use crate::obd::{ObdClass, ObdCode};

text_enum!(
    /// Which diagnostic protocol reported a fault.
    Protocol {
        J1939 => "j1939",
        Obd => "obd",
    }
);

/// A fault's identity on one vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaultCode {
    J1939 {
        /// 0–524,287 (checked by [`FaultCode::j1939`]).
        spn: u32,
        /// 0–31.
        fmi: u8,
        /// The reporting ECU.
        source_address: u8,
    },
    Obd(ObdCode),
}

impl FaultCode {
    /// A J1939 code, with its SPN and FMI range-checked (the error names the field).
    pub fn j1939(spn: u32, fmi: u8, source_address: u8) -> Result<Self, (&'static str, String)> {
        if spn > MAX_SPN {
            return Err(("spn", format!("{spn} is above the largest SPN, {MAX_SPN}")));
        }
        if fmi > 31 {
            return Err(("fmi", format!("{fmi} is not an FMI (0–31)")));
        }
        Ok(Self::J1939 {
            spn,
            fmi,
            source_address,
        })
    }

    pub fn protocol(&self) -> Protocol {
        match self {
            Self::J1939 { .. } => Protocol::J1939,
            Self::Obd(_) => Protocol::Obd,
        }
    }

    /// The stable text key: `j1939:100:1:0` (SPN:FMI:SA) or `obd:P0420`.
    pub fn key(&self) -> String {
        match self {
            Self::J1939 {
                spn,
                fmi,
                source_address,
            } => format!("j1939:{spn}:{fmi}:{source_address}"),
            Self::Obd(code) => format!("obd:{}", code.as_str()),
        }
    }

    /// A human label: `SPN 100 Engine Oil Pressure 1 — FMI 1 (…)`, or the OBD code.
    pub fn label(&self) -> String {
        match self {
            Self::J1939 { spn, fmi, .. } => {
                let name = faults::spn_info(*spn).map_or_else(
                    || {
                        if *spn >= crate::j1939::FIRST_PROPRIETARY_SPN {
                            "manufacturer-specific".to_string()
                        } else {
                            "unlisted SPN".to_string()
                        }
                    },
                    |i| i.name.clone(),
                );
                let fmi_text = faults::fmi_description(*fmi).unwrap_or("reserved");
                format!("SPN {spn} {name}: FMI {fmi} {fmi_text}")
            }
            Self::Obd(code) => {
                if let Some(title) = code.title() {
                    return format!("{} {title}", code.as_str());
                }
                let class = match code.class() {
                    ObdClass::Generic => "generic",
                    ObdClass::Manufacturer => "manufacturer-specific",
                    ObdClass::Mixed => "generic or manufacturer",
                };
                match code.subsystem() {
                    Some(area) => format!("OBD-II {} ({class} code: {area})", code.as_str()),
                    None => format!("OBD-II {} ({class} code)", code.as_str()),
                }
            }
        }
    }

    /// The default severity and action for this code with these lamps lit.
    /// OBD-II codes have no per-code table yet: a lit MIL makes one major,
    /// otherwise it is minor (a pending or stored code).
    pub fn assess(&self, lamps: &Lamps) -> Assessment {
        match self {
            Self::J1939 { spn, fmi, .. } => faults::assess(*spn, *fmi, lamps),
            Self::Obd(_) if is_lit(lamps.mil) => Assessment {
                severity: Severity::Major,
                action: "The check-engine lamp is on: have the code diagnosed soon.".into(),
                basis: "malfunction indicator lamp".into(),
            },
            Self::Obd(_) => Assessment {
                severity: Severity::Minor,
                action: "Check at the next service.".into(),
                basis: "OBD-II code without a lit lamp".into(),
            },
        }
    }
}

text_enum!(
    /// What kind of report a fault event came from.
    FaultMessage {
        /// J1939 DM1: the ECU's complete list of active codes at that instant.
        Dm1 => "dm1",
        /// J1939 DM2: previously active codes (they do not open a fault cycle).
        Dm2 => "dm2",
        /// One fault reported on its own (a provider's feed, an OBD-II scan).
        Fault => "fault",
    }
);

text_enum!(
    /// Where a fault cycle stands.
    FaultStatus {
        /// Being reported.
        Active => "active",
        /// No longer reported, not yet resolved (it may come back).
        Inactive => "inactive",
        /// Closed by a service record, a work order or by hand; a new sighting opens a new cycle.
        Resolved => "resolved",
    }
);

text_enum!(
    /// How a fault cycle was closed.
    Resolution {
        Service => "service",
        WorkOrder => "work_order",
        Manual => "manual",
    }
);

text_enum!(
    /// Which door telemetry came in through.
    Origin {
        Api => "api",
        Cli => "cli",
        Webhook => "webhook",
        Sync => "sync",
    }
);

/// When an active fault cycle becomes inactive: after this many DM1 reports
/// in a row from its ECU that do not list it, or after this long without
/// being reported at all. Per tenant, from its settings
/// (`fault_inactive_after_reports`, `fault_inactive_after_hours`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPolicy {
    pub inactive_after_reports: u32,
    pub inactive_after: time::Duration,
}

impl Default for FaultPolicy {
    /// Three missed DM1 reports (DM1 is broadcast every second while a code
    /// is active, so three seconds of silence from a running ECU), or 24
    /// hours without any report (a parked truck sends nothing).
    fn default() -> Self {
        Self {
            inactive_after_reports: 3,
            inactive_after: time::Duration::hours(24),
        }
    }
}

impl FaultPolicy {
    /// Reads the policy from a tenant's settings object, keeping the default
    /// for a missing or non-positive value.
    pub fn from_settings(settings: &serde_json::Map<String, serde_json::Value>) -> Self {
        let d = Self::default();
        let positive = |key: &str| {
            settings
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .filter(|v| *v > 0)
        };
        Self {
            inactive_after_reports: positive("fault_inactive_after_reports")
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(d.inactive_after_reports),
            inactive_after: positive("fault_inactive_after_hours")
                .and_then(|v| i64::try_from(v).ok())
                .map_or(d.inactive_after, time::Duration::hours),
        }
    }
}

/// Whether a lamp is lit or flashing.
pub fn is_lit(lamp: Lamp) -> bool {
    matches!(lamp, Lamp::On | Lamp::SlowFlash | Lamp::FastFlash)
}

/// All four lamps off (what a lone fault report with no lamp data means).
pub const LAMPS_OFF: Lamps = Lamps {
    mil: Lamp::Off,
    red_stop: Lamp::Off,
    amber_warning: Lamp::Off,
    protect: Lamp::Off,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_source_addresses_and_protocols() {
        let engine = FaultCode::j1939(100, 1, 0).unwrap();
        let transmission = FaultCode::j1939(100, 1, 3).unwrap();
        assert_eq!(engine.key(), "j1939:100:1:0");
        assert_ne!(engine.key(), transmission.key());
        let obd = FaultCode::Obd(ObdCode::parse("p0420").unwrap());
        assert_eq!(obd.key(), "obd:P0420");
        assert_eq!(obd.protocol(), Protocol::Obd);
    }

    #[test]
    fn ranges_are_checked_with_the_field_named() {
        assert_eq!(FaultCode::j1939(MAX_SPN + 1, 0, 0).unwrap_err().0, "spn");
        assert_eq!(FaultCode::j1939(100, 32, 0).unwrap_err().0, "fmi");
        assert!(FaultCode::j1939(MAX_SPN, 31, 255).is_ok());
    }

    #[test]
    fn labels_name_the_parameter_and_failure_mode() {
        let label = FaultCode::j1939(100, 1, 0).unwrap().label();
        assert!(label.contains("Engine Oil Pressure"), "{label}");
        assert!(label.contains("FMI 1"), "{label}");
        assert!(
            FaultCode::j1939(520_000, 31, 0)
                .unwrap()
                .label()
                .contains("manufacturer-specific")
        );
    }

    #[test]
    fn the_policy_reads_tenant_settings_and_keeps_defaults() {
        let settings = serde_json::json!({
            "fault_inactive_after_reports": 5, "fault_inactive_after_hours": 0
        });
        let p = FaultPolicy::from_settings(settings.as_object().unwrap());
        assert_eq!(p.inactive_after_reports, 5);
        assert_eq!(
            p.inactive_after,
            time::Duration::hours(24),
            "0 keeps the default"
        );
        assert_eq!(
            FaultPolicy::from_settings(&serde_json::Map::new()),
            FaultPolicy::default()
        );
    }

    #[test]
    fn obd_severity_follows_the_mil() {
        let code = FaultCode::Obd(ObdCode::parse("P0301").unwrap());
        assert_eq!(code.assess(&LAMPS_OFF).severity, Severity::Minor);
        let mil = Lamps {
            mil: Lamp::On,
            ..LAMPS_OFF
        };
        assert_eq!(code.assess(&mil).severity, Severity::Major);
    }
}
