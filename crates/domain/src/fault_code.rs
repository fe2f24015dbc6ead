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

/// Which diagnostic protocol reported a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    J1939,
    Obd,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::J1939 => "j1939",
            Self::Obd => "obd",
        }
    }
}

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
                let class = match code.class() {
                    ObdClass::Generic => "generic",
                    ObdClass::Manufacturer => "manufacturer-specific",
                    ObdClass::Mixed => "generic or manufacturer",
                };
                format!("OBD-II {} ({class} code)", code.as_str())
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
