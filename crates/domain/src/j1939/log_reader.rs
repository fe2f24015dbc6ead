//! Turns a `candump -l` log, line by line, into the DM1/DM2 messages it
//! carries: single frames directly, longer messages through BAM reassembly.
//! Memory is bounded by the open transport sessions (one per source
//! address), whatever the log's size.

use super::candump::parse_line;
use super::transport::{PGN_TP_CM, PGN_TP_DT, Reassembler};
use super::{DecodeError, DiagnosticMessage, PGN_DM1, PGN_DM2, decode_dm};

/// A decoded diagnostic message from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedDm {
    /// `PGN_DM1` or `PGN_DM2`.
    pub pgn: u32,
    pub source: u8,
    /// Microseconds since the epoch, from the log.
    pub at_micros: i64,
    pub message: DiagnosticMessage,
}

/// What one log line amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    Dm(LoggedDm),
    /// A well-formed frame that is not (or not yet) a diagnostic message:
    /// other PGNs, transport packets of an unfinished message.
    Other,
    /// Blank lines and `#` comments.
    Skipped,
}

/// Feeds log lines in order; keeps the transport sessions between them.
#[derive(Default)]
pub struct LogReader {
    transport: Reassembler,
}

impl LogReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one line. A malformed line, a broken transport session or an
    /// undecodable payload is an error for that line only; reading goes on.
    pub fn line(&mut self, line: &str) -> Result<LineOutcome, DecodeError> {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Ok(LineOutcome::Skipped);
        }
        let frame = parse_line(trimmed)?;
        let (pgn, source, at) = (frame.pgn(), frame.source(), frame.seconds());
        let (pgn, payload) = match pgn {
            PGN_DM1 | PGN_DM2 => (pgn, frame.data),
            PGN_TP_CM => {
                self.transport.connection(source, &frame.data, at)?;
                return Ok(LineOutcome::Other);
            }
            PGN_TP_DT => match self.transport.data(source, &frame.data, at)? {
                Some(done) if matches!(done.pgn, PGN_DM1 | PGN_DM2) => (done.pgn, done.data),
                _ => return Ok(LineOutcome::Other),
            },
            _ => return Ok(LineOutcome::Other),
        };
        Ok(LineOutcome::Dm(LoggedDm {
            pgn,
            source,
            at_micros: frame.at_micros,
            message: decode_dm(&payload)?,
        }))
    }
}

/// Parses a payload written as hex (`04FF6E000005FFFF`; spaces allowed),
/// for APIs that take a DM payload as text.
pub fn parse_hex(text: &str, max_bytes: usize) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err("must be hex bytes, two digits each".into());
    }
    if digits.len() / 2 > max_bytes {
        return Err(format!("is longer than {max_bytes} bytes"));
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    Ok(digits
        .chunks_exact(2)
        .map(|p| nibble(p[0]) << 4 | nibble(p[1]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::j1939::transport::bam_frames;
    use crate::j1939::{Dtc, Lamp, Lamps, encode_dm};

    fn hex(data: &[u8]) -> String {
        data.iter().map(|b| format!("{b:02X}")).collect()
    }

    #[test]
    fn single_frames_and_bam_messages_come_out_as_dms() {
        let mut r = LogReader::new();
        let single = r
            .line("(1700000000.123456) can0 18FECA00#04FF6E000005FFFF")
            .unwrap();
        let LineOutcome::Dm(dm) = single else {
            panic!("{single:?}")
        };
        assert_eq!((dm.pgn, dm.source, dm.message.dtcs.len()), (PGN_DM1, 0, 1));

        let msg = DiagnosticMessage {
            lamps: Lamps {
                mil: Lamp::Off,
                red_stop: Lamp::On,
                amber_warning: Lamp::Off,
                protect: Lamp::Off,
            },
            dtcs: [(100, 1), (110, 0), (3251, 2)]
                .map(|(spn, fmi)| Dtc {
                    spn,
                    fmi,
                    occurrences: 1,
                    legacy_conversion: false,
                })
                .to_vec(),
        };
        let mut out = vec![];
        for (i, (pgn, data)) in bam_frames(PGN_DM1, &encode_dm(&msg)).iter().enumerate() {
            // TP.CM / TP.DT, priority 7, to global (FF), from source 03.
            let id = 0x1C00_0000 | (pgn << 8) | 0xFF03;
            out.push(
                r.line(&format!(
                    "(1700000001.{:06}) can0 {id:08X}#{}",
                    i * 10_000,
                    hex(data)
                ))
                .unwrap(),
            );
        }
        let Some(LineOutcome::Dm(dm)) = out.last() else {
            panic!("{out:?}")
        };
        assert_eq!((dm.source, dm.message.clone()), (3, msg));
        assert!(
            out[..out.len() - 1]
                .iter()
                .all(|o| *o == LineOutcome::Other)
        );
    }

    #[test]
    fn other_lines_and_errors() {
        let mut r = LogReader::new();
        assert_eq!(r.line("").unwrap(), LineOutcome::Skipped);
        assert_eq!(r.line("# a comment").unwrap(), LineOutcome::Skipped);
        assert_eq!(
            r.line("(1700000000.1) can0 0CF00400#FFFFFF6813FFFFFF")
                .unwrap(),
            LineOutcome::Other,
            "EEC1 is not diagnostic"
        );
        assert!(r.line("garbage").is_err());
        assert!(
            r.line("(1700000000.1) can0 18FECA00#04").is_err(),
            "too short a DM"
        );
        assert!(
            r.line("(1700000000.1) can0 1CEBFF00#01FFFFFFFFFFFFFF")
                .is_err(),
            "data without an announcement"
        );
    }

    #[test]
    fn hex_payloads() {
        assert_eq!(parse_hex("04FF 6e00", 8).unwrap(), vec![4, 0xFF, 0x6E, 0]);
        assert!(parse_hex("0", 8).is_err());
        assert!(parse_hex("zz", 8).is_err());
        assert!(parse_hex("00112233445566778899", 8).is_err());
    }
}
