//! SAE J1939 diagnostics: DM1/DM2 payloads (lamps and DTCs), the transport
//! protocol that carries long ones, and `candump` log lines.
//!
//! Facts from `shared/reference/j1939-obd-vin.md` §1. Decoding never panics:
//! every malformed input is a typed [`DecodeError`].

pub mod candump;
pub mod log_reader;
#[cfg(test)]
mod oracle;
pub mod transport;

use serde::{Deserialize, Serialize};

/// DM1: active diagnostic trouble codes.
pub const PGN_DM1: u32 = 65226;
/// DM2: previously active diagnostic trouble codes.
pub const PGN_DM2: u32 = 65227;
/// The largest SPN (19 bits).
pub const MAX_SPN: u32 = 524_287;
/// SPNs from here on are manufacturer-assigned.
pub const FIRST_PROPRIETARY_SPN: u32 = 516_096;
/// Occurrence count meaning "not available".
pub const OC_NOT_AVAILABLE: u8 = 127;

/// Why bytes are not a diagnostic message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("a DM payload needs at least 2 lamp bytes (got {0})")]
    TooShort(usize),
    #[error("{0}")]
    Frame(String),
    #[error("transport: {0}")]
    Transport(String),
}

/// A lamp's state, combining its status (byte 1) and flash (byte 2) bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Lamp {
    Off,
    On,
    SlowFlash,
    FastFlash,
    /// The ECU does not support this lamp (status 11).
    NotAvailable,
    /// A reserved combination.
    Reserved,
}

impl Lamp {
    pub const ALL: [Lamp; 6] = [
        Lamp::Off,
        Lamp::On,
        Lamp::SlowFlash,
        Lamp::FastFlash,
        Lamp::NotAvailable,
        Lamp::Reserved,
    ];

    /// The snake_case name (as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Lamp::Off => "off",
            Lamp::On => "on",
            Lamp::SlowFlash => "slow_flash",
            Lamp::FastFlash => "fast_flash",
            Lamp::NotAvailable => "not_available",
            Lamp::Reserved => "reserved",
        }
    }
}

impl std::str::FromStr for Lamp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lamp::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("unknown lamp state `{s}`"))
    }
}

fn lamp(status: u8, flash: u8) -> Lamp {
    match (status, flash) {
        (0b00, _) => Lamp::Off,
        (0b01, 0b00) => Lamp::SlowFlash,
        (0b01, 0b01) => Lamp::FastFlash,
        (0b01, _) => Lamp::On,
        (0b11, _) => Lamp::NotAvailable,
        _ => Lamp::Reserved,
    }
}

fn lamp_bits(l: Lamp) -> (u8, u8) {
    match l {
        Lamp::Off => (0b00, 0b11),
        Lamp::On => (0b01, 0b11),
        Lamp::SlowFlash => (0b01, 0b00),
        Lamp::FastFlash => (0b01, 0b01),
        Lamp::NotAvailable => (0b11, 0b11),
        Lamp::Reserved => (0b10, 0b11),
    }
}

/// The four lamps of a DM message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lamps {
    /// Malfunction indicator (emissions).
    pub mil: Lamp,
    /// Red stop: stop the vehicle.
    pub red_stop: Lamp,
    /// Amber warning.
    pub amber_warning: Lamp,
    /// Engine protection.
    pub protect: Lamp,
}

impl Lamps {
    /// Whether any lamp is lit or flashing.
    pub fn any_on(&self) -> bool {
        [self.mil, self.red_stop, self.amber_warning, self.protect]
            .iter()
            .any(|l| matches!(l, Lamp::On | Lamp::SlowFlash | Lamp::FastFlash))
    }
}

/// One J1939 diagnostic trouble code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dtc {
    /// Suspect parameter number, 0–524,287.
    pub spn: u32,
    /// Failure mode identifier, 0–31.
    pub fmi: u8,
    /// Occurrence count, 0–126; 127 = not available.
    pub occurrences: u8,
    /// Conversion method 1: a legacy byte order; the SPN is not to be trusted.
    pub legacy_conversion: bool,
}

impl Dtc {
    /// Whether the SPN is in the manufacturer-assignable range.
    pub fn proprietary(&self) -> bool {
        self.spn >= FIRST_PROPRIETARY_SPN
    }

    /// The 4 bytes of this DTC in a DM payload.
    pub fn encode(&self) -> [u8; 4] {
        let spn = self.spn & MAX_SPN;
        [
            (spn & 0xFF) as u8,
            ((spn >> 8) & 0xFF) as u8,
            (((spn >> 16) & 0x07) << 5) as u8 | (self.fmi & 0x1F),
            (u8::from(self.legacy_conversion) << 7) | (self.occurrences & 0x7F),
        ]
    }

    /// Decodes 4 DTC bytes.
    pub fn decode(b: [u8; 4]) -> Dtc {
        Dtc {
            spn: u32::from(b[0]) | (u32::from(b[1]) << 8) | ((u32::from(b[2]) & 0xE0) << 11),
            fmi: b[2] & 0x1F,
            occurrences: b[3] & 0x7F,
            legacy_conversion: b[3] >> 7 == 1,
        }
    }
}

/// A decoded DM1 or DM2 message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiagnosticMessage {
    pub lamps: Lamps,
    pub dtcs: Vec<Dtc>,
}

/// Decodes a DM1/DM2 payload of any length (2-byte lamps-only, 6- or
/// 8-byte single frame, or a reassembled transport message). Slots that mean
/// "no DTC" (SPN 0 with FMI 0, or all `FF`) are dropped; trailing bytes
/// shorter than a DTC are padding.
pub fn decode_dm(payload: &[u8]) -> Result<DiagnosticMessage, DecodeError> {
    if payload.len() < 2 {
        return Err(DecodeError::TooShort(payload.len()));
    }
    let (b1, b2) = (payload[0], payload[1]);
    let lamps = Lamps {
        mil: lamp(b1 >> 6 & 0b11, b2 >> 6 & 0b11),
        red_stop: lamp(b1 >> 4 & 0b11, b2 >> 4 & 0b11),
        amber_warning: lamp(b1 >> 2 & 0b11, b2 >> 2 & 0b11),
        protect: lamp(b1 & 0b11, b2 & 0b11),
    };
    let dtcs = payload[2..]
        .chunks_exact(4)
        .filter(|slot| *slot != [0xFF; 4])
        .map(|slot| Dtc::decode([slot[0], slot[1], slot[2], slot[3]]))
        .filter(|d| !(d.spn == 0 && d.fmi == 0))
        .collect();
    Ok(DiagnosticMessage { lamps, dtcs })
}

/// Encodes a DM payload: lamps, DTCs, and (when there is none) the
/// standard "no DTC" slot; single-frame payloads are padded to 8 bytes.
pub fn encode_dm(msg: &DiagnosticMessage) -> Vec<u8> {
    let bits = [
        msg.lamps.mil,
        msg.lamps.red_stop,
        msg.lamps.amber_warning,
        msg.lamps.protect,
    ]
    .map(lamp_bits);
    let b1 = bits[0].0 << 6 | bits[1].0 << 4 | bits[2].0 << 2 | bits[3].0;
    let b2 = bits[0].1 << 6 | bits[1].1 << 4 | bits[2].1 << 2 | bits[3].1;
    let mut out = vec![b1, b2];
    if msg.dtcs.is_empty() {
        out.extend([0, 0, 0, 0]);
    }
    for d in &msg.dtcs {
        out.extend(d.encode());
    }
    while out.len() < 8 {
        out.push(0xFF);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_frame_dm1_from_the_reference() {
        // Red stop on, amber on; SPN 100 (oil pressure) FMI 1, OC 3.
        let payload = [0b0001_0100, 0xFF, 0x64, 0x00, 0x01, 0x03, 0xFF, 0xFF];
        let m = decode_dm(&payload).unwrap();
        assert_eq!(
            (m.lamps.red_stop, m.lamps.amber_warning, m.lamps.mil),
            (Lamp::On, Lamp::On, Lamp::Off)
        );
        assert_eq!(
            m.dtcs,
            vec![Dtc {
                spn: 100,
                fmi: 1,
                occurrences: 3,
                legacy_conversion: false
            }]
        );
        assert!(m.lamps.any_on());
    }

    #[test]
    fn no_dtc_encodings() {
        for payload in [
            &[0u8, 0xFF, 0, 0, 0, 0, 0xFF, 0xFF][..],
            &[0, 0xFF, 0, 0, 0, 0][..],
            &[0xFF; 8][..],
            &[0, 0xFF][..],
        ] {
            assert!(
                decode_dm(payload).unwrap().dtcs.is_empty(),
                "{payload:02X?}"
            );
        }
        assert_eq!(decode_dm(&[0x00]), Err(DecodeError::TooShort(1)));
    }

    #[test]
    fn high_spns_and_flags() {
        // SPN 520,192 (proprietary): bits 18..16 = 0b111.
        let d = Dtc {
            spn: 520_192,
            fmi: 31,
            occurrences: OC_NOT_AVAILABLE,
            legacy_conversion: true,
        };
        let b = d.encode();
        assert_eq!(b[2] >> 5, 0b111);
        assert_eq!(Dtc::decode(b), d);
        assert!(d.proprietary());
    }

    #[test]
    fn flash_states() {
        let m = decode_dm(&[0b0100_0000, 0b0000_0000, 0, 0, 0, 0]).unwrap();
        assert_eq!(m.lamps.mil, Lamp::SlowFlash);
        let m = decode_dm(&[0b0100_0000, 0b0100_0000, 0, 0, 0, 0]).unwrap();
        assert_eq!(m.lamps.mil, Lamp::FastFlash);
        let m = decode_dm(&[0b1100_0000, 0xFF, 0, 0, 0, 0]).unwrap();
        assert_eq!(m.lamps.mil, Lamp::NotAvailable);
    }

    fn lamp_strategy() -> impl Strategy<Value = Lamp> {
        proptest::sample::select(vec![
            Lamp::Off,
            Lamp::On,
            Lamp::SlowFlash,
            Lamp::FastFlash,
            Lamp::NotAvailable,
        ])
    }

    proptest! {
        #[test]
        fn dtcs_round_trip_at_every_edge(spn in prop_oneof![Just(0u32), Just(1), Just(65_535), Just(65_536), Just(516_096), Just(MAX_SPN), 0u32..=MAX_SPN],
                                         fmi in 0u8..=31, oc in 0u8..=127, cm in any::<bool>()) {
            let d = Dtc { spn, fmi, occurrences: oc, legacy_conversion: cm };
            prop_assert_eq!(Dtc::decode(d.encode()), d);
        }

        #[test]
        fn messages_round_trip(l in [lamp_strategy(), lamp_strategy(), lamp_strategy(), lamp_strategy()],
                               dtcs in proptest::collection::vec((1u32..MAX_SPN, 0u8..=31, 0u8..=127), 0..20)) {
            let msg = DiagnosticMessage {
                lamps: Lamps { mil: l[0], red_stop: l[1], amber_warning: l[2], protect: l[3] },
                dtcs: dtcs.into_iter().map(|(spn, fmi, occurrences)| Dtc { spn, fmi, occurrences, legacy_conversion: false }).collect(),
            };
            prop_assert_eq!(decode_dm(&encode_dm(&msg)).unwrap(), msg);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_dm(&bytes);
        }
    }
}
