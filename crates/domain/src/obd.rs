//! OBD-II diagnostic trouble codes (SAE J2012): `P0420`, `U0100`, from text
//! or from their two-byte wire form.

use serde::{Deserialize, Serialize};

/// Which system a code belongs to (its letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObdSystem {
    Powertrain,
    Chassis,
    Body,
    Network,
}

/// Who defines a code (its second character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObdClass {
    /// `0` and `2`: SAE-defined, the same for every maker.
    Generic,
    /// `1`: the manufacturer's own.
    Manufacturer,
    /// `3`: partly manufacturer, partly SAE.
    Mixed,
}

/// A valid OBD-II code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObdCode(String);

impl ObdCode {
    /// Parses `P0420` (any case, surrounding space ignored).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_uppercase();
        let mut chars = t.chars();
        let ok = t.len() == 5
            && matches!(chars.next(), Some('P' | 'C' | 'B' | 'U'))
            && matches!(chars.next(), Some('0'..='3'))
            && chars.all(|c| c.is_ascii_hexdigit());
        if ok {
            Ok(Self(t))
        } else {
            Err(format!("`{text}` is not an OBD-II code such as P0420"))
        }
    }

    /// Decodes the two-byte form; `00 00` is padding (no code).
    pub fn from_bytes(b: [u8; 2]) -> Option<Self> {
        if b == [0, 0] {
            return None;
        }
        let letter = ['P', 'C', 'B', 'U'][usize::from(b[0] >> 6)];
        Some(Self(format!(
            "{letter}{}{:X}{:02X}",
            (b[0] >> 4) & 0x3,
            b[0] & 0x0F,
            b[1]
        )))
    }

    /// The two-byte wire form.
    pub fn to_bytes(&self) -> [u8; 2] {
        let c: Vec<char> = self.0.chars().collect();
        let letter = match c[0] {
            'C' => 1,
            'B' => 2,
            'U' => 3,
            _ => 0,
        };
        let d = |i: usize| c[i].to_digit(16).unwrap_or(0) as u8;
        [letter << 6 | d(1) << 4 | d(2), d(3) << 4 | d(4)]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn system(&self) -> ObdSystem {
        match self.0.as_bytes()[0] {
            b'C' => ObdSystem::Chassis,
            b'B' => ObdSystem::Body,
            b'U' => ObdSystem::Network,
            _ => ObdSystem::Powertrain,
        }
    }

    pub fn class(&self) -> ObdClass {
        match self.0.as_bytes()[1] {
            b'1' => ObdClass::Manufacturer,
            b'3' => ObdClass::Mixed,
            _ => ObdClass::Generic,
        }
    }
}

static TITLES: std::sync::LazyLock<std::collections::HashMap<String, String>> =
    std::sync::LazyLock::new(|| {
        csv::Reader::from_reader(include_str!("../data/obd-generic-codes.csv").as_bytes())
            .records()
            .filter_map(Result::ok)
            .filter_map(|r| Some((r.get(0)?.to_string(), r.get(1)?.to_string())))
            .collect()
    });

impl ObdCode {
    /// The code's title, for the few codes the library has a cited source for.
    pub fn title(&self) -> Option<&'static str> {
        TITLES.get(&self.0).map(String::as_str)
    }

    /// What part of the powertrain a generic P0/P2 code concerns, from its
    /// third character (SAE J2012 structure, shared reference §6.1).
    pub fn subsystem(&self) -> Option<&'static str> {
        let b = self.0.as_bytes();
        if b[0] != b'P' || !matches!(b[1], b'0' | b'2') {
            return None;
        }
        Some(match b[2] {
            b'0' | b'1' | b'2' => "fuel and air metering",
            b'3' => "ignition system or misfire",
            b'4' => "auxiliary emission controls",
            b'5' => "vehicle speed, idle control and auxiliary inputs",
            b'6' => "computer and output circuits",
            b'7' | b'8' | b'9' => "transmission",
            _ => "hybrid propulsion",
        })
    }
}

impl TryFrom<String> for ObdCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<ObdCode> for String {
    fn from(value: ObdCode) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn titles_and_subsystems() {
        let p0420 = ObdCode::parse("P0420").unwrap();
        assert_eq!(
            p0420.title(),
            Some("Catalyst System Efficiency Below Threshold (Bank 1)")
        );
        assert_eq!(p0420.subsystem(), Some("auxiliary emission controls"));
        assert_eq!(TITLES.len(), 4, "every row of the data file parses");
        let misfire = ObdCode::parse("P0304").unwrap();
        assert_eq!(misfire.title(), None);
        assert_eq!(misfire.subsystem(), Some("ignition system or misfire"));
        assert_eq!(
            ObdCode::parse("P1234").unwrap().subsystem(),
            None,
            "manufacturer"
        );
        assert_eq!(ObdCode::parse("U0100").unwrap().subsystem(), None);
    }

    #[test]
    fn reference_vectors() {
        for (bytes, code) in [
            ([0x04, 0x20], "P0420"),
            ([0x03, 0x00], "P0300"),
            ([0xC1, 0x00], "U0100"),
            ([0x41, 0x23], "C0123"),
            ([0x80, 0x01], "B0001"),
        ] {
            let c = ObdCode::from_bytes(bytes).unwrap();
            assert_eq!(c.as_str(), code);
            assert_eq!(c.to_bytes(), bytes);
        }
        assert_eq!(ObdCode::from_bytes([0, 0]), None);
        assert_eq!(
            ObdCode::from_bytes([0x14, 0x5A]).unwrap().as_str(),
            "P145A",
            "upper case"
        );
    }

    #[test]
    fn text_and_classes() {
        let c = ObdCode::parse(" p0420 ").unwrap();
        assert_eq!(
            (c.as_str(), c.system(), c.class()),
            ("P0420", ObdSystem::Powertrain, ObdClass::Generic)
        );
        assert_eq!(
            ObdCode::parse("P1456").unwrap().class(),
            ObdClass::Manufacturer
        );
        assert_eq!(
            ObdCode::parse("U0100").unwrap().system(),
            ObdSystem::Network
        );
        for bad in ["P042", "X0420", "P4420", "P04G0", ""] {
            assert!(ObdCode::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn two_bytes_round_trip(a in any::<u8>(), b in any::<u8>()) {
            prop_assume!((a, b) != (0, 0));
            let c = ObdCode::from_bytes([a, b]).unwrap();
            prop_assert_eq!(c.to_bytes(), [a, b]);
            prop_assert_eq!(ObdCode::parse(c.as_str()).unwrap(), c);
        }
    }
}
