//! `candump -l` log lines: `(1700000000.123456) can0 18FECA00#04FF6E000005FFFF`.

use super::DecodeError;

/// One CAN frame from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Seconds since the epoch, as logged.
    pub at_micros: i64,
    pub interface: String,
    /// The 29-bit identifier.
    pub id: u32,
    pub data: Vec<u8>,
}

impl Frame {
    /// The PGN the identifier carries (PDU1 PGNs have their destination byte cleared).
    pub fn pgn(&self) -> u32 {
        let pf = (self.id >> 16) & 0xFF;
        let dp = (self.id >> 24) & 0x03;
        let ps = (self.id >> 8) & 0xFF;
        if pf < 240 {
            dp << 16 | pf << 8
        } else {
            dp << 16 | pf << 8 | ps
        }
    }

    /// The source address.
    pub fn source(&self) -> u8 {
        (self.id & 0xFF) as u8
    }

    /// Seconds, as a float (for transport timeouts).
    pub fn seconds(&self) -> f64 {
        self.at_micros as f64 / 1e6
    }
}

/// Parses one `candump -l` line.
pub fn parse_line(line: &str) -> Result<Frame, DecodeError> {
    let bad = |why: &str| {
        DecodeError::Frame(format!(
            "{why}: `{}`",
            line.chars().take(80).collect::<String>()
        ))
    };
    let mut parts = line.split_whitespace();
    let stamp = parts.next().ok_or_else(|| bad("empty line"))?;
    let stamp = stamp
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| bad("no (timestamp)"))?;
    let (secs, frac) = stamp.split_once('.').unwrap_or((stamp, "0"));
    // Digits only: `parse` alone would accept signs (`-5`, `+1`).
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(secs) || !all_digits(frac) {
        return Err(bad("bad timestamp"));
    }
    let secs: i64 = secs.parse().map_err(|_| bad("bad timestamp"))?;
    let frac = format!("{frac:0<6}");
    let micros: i64 = frac
        .get(..6)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| bad("bad timestamp"))?;
    let interface = parts.next().ok_or_else(|| bad("no interface"))?.to_string();
    let frame = parts.next().ok_or_else(|| bad("no frame"))?;
    let (id, data) = frame
        .split_once('#')
        .ok_or_else(|| bad("no `#` in the frame"))?;
    if id.len() != 8 {
        return Err(bad("not a 29-bit identifier"));
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| bad("bad identifier"))?;
    if id > 0x1FFF_FFFF {
        return Err(bad("identifier above 29 bits"));
    }
    // Checking for ASCII hex first keeps the two-character slicing below on
    // character boundaries (fuzzing found `#\u{e9}0` panicking here).
    if data.len() % 2 != 0 || data.len() > 16 || !data.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("data must be 0 to 8 hex bytes"));
    }
    let data = (0..data.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&data[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad("bad data"))?;
    let at_micros = secs
        .checked_mul(1_000_000)
        .and_then(|s| s.checked_add(micros))
        .ok_or_else(|| bad("timestamp out of range"))?;
    Ok(Frame {
        at_micros,
        interface,
        id,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::j1939::{PGN_DM1, decode_dm};
    use proptest::prelude::*;

    #[test]
    fn a_dm1_line() {
        let f = parse_line("(1700000000.123456) can0 18FECA00#04FF6E000005FFFF").unwrap();
        assert_eq!(
            (f.pgn(), f.source(), f.at_micros),
            (PGN_DM1, 0, 1_700_000_000_123_456)
        );
        let dm = decode_dm(&f.data).unwrap();
        assert_eq!(
            (dm.dtcs[0].spn, dm.dtcs[0].fmi, dm.dtcs[0].occurrences),
            (110, 0, 5)
        );
        let tp = parse_line("(1700000000.2) can0 1CECFF00#200A0002FFCAFE00").unwrap();
        assert_eq!(
            (tp.pgn(), tp.at_micros % 1_000_000),
            (0xEC00, 200_000),
            "PDU1: destination cleared"
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in [
            "",
            "can0 18FECA00#00",
            "(x) can0 18FECA00#00",
            "(1.0) can0 18FECA00",
            "(1.0) can0 7DF#00",
            "(1.0) can0 18FECA00#0",
            "(1.0) can0 18FECA00#GG",
            "(1.0) can0 FFFFFFFF#00",
            "(1.0) can0 18FECA00#\u{e9}0",
            "(1.0) can0 18FECA00#+1",
            "(99999999999999999.0) can0 18FECA00#00",
            "(-1.0) can0 18FECA00#00",
            "(1.-5) can0 18FECA00#00",
        ] {
            assert!(parse_line(line).is_err(), "{line}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_never_panics(line in ".{0,80}") {
            let _ = parse_line(&line);
        }
    }
}
