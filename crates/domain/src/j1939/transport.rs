//! J1939-21 broadcast transport (BAM): a TP.CM announcement (PGN 0xEC00,
//! control byte 32) followed by TP.DT packets (PGN 0xEB00) of 7 data bytes,
//! reassembled per source address.

use std::collections::HashMap;

use super::DecodeError;

/// TP.CM (connection management).
pub const PGN_TP_CM: u32 = 0xEC00;
/// TP.DT (data transfer).
pub const PGN_TP_DT: u32 = 0xEB00;
/// TP.CM control byte of a broadcast announcement.
pub const BAM: u8 = 32;
/// Longest gap between packets of one message (T1, seconds).
pub const PACKET_TIMEOUT_SECS: f64 = 0.75;

struct Session {
    pgn: u32,
    size: usize,
    packets: u8,
    next: u8,
    data: Vec<u8>,
    last_at: f64,
}

/// A message the reassembler completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    pub source: u8,
    pub pgn: u32,
    pub data: Vec<u8>,
}

/// Reassembles BAM sessions, one per source address. Gaps, out-of-order
/// packets and timeouts abandon the session (reported as an error); a new
/// announcement from the same source replaces an unfinished one.
#[derive(Default)]
pub struct Reassembler {
    sessions: HashMap<u8, Session>,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a TP.CM frame's 8 data bytes.
    pub fn connection(&mut self, source: u8, data: &[u8], at: f64) -> Result<(), DecodeError> {
        if data.len() < 8 {
            return Err(DecodeError::Transport(format!(
                "TP.CM needs 8 bytes (got {})",
                data.len()
            )));
        }
        if data[0] != BAM {
            // RTS/CTS and aborts are point-to-point sessions we do not take part in.
            return Ok(());
        }
        let size = usize::from(u16::from_le_bytes([data[1], data[2]]));
        let packets = data[3];
        if size < 9 || usize::from(packets) != size.div_ceil(7) {
            self.sessions.remove(&source);
            return Err(DecodeError::Transport(format!(
                "BAM of {size} bytes announces {packets} packets (expected {})",
                size.div_ceil(7)
            )));
        }
        let pgn = u32::from(data[5]) | u32::from(data[6]) << 8 | u32::from(data[7]) << 16;
        self.sessions.insert(
            source,
            Session {
                pgn,
                size,
                packets,
                next: 1,
                data: Vec::with_capacity(size),
                last_at: at,
            },
        );
        Ok(())
    }

    /// Feeds a TP.DT frame's 8 data bytes; returns the message when complete.
    pub fn data(
        &mut self,
        source: u8,
        data: &[u8],
        at: f64,
    ) -> Result<Option<Reassembled>, DecodeError> {
        if data.is_empty() {
            return Err(DecodeError::Transport("empty TP.DT".into()));
        }
        let Some(s) = self.sessions.get_mut(&source) else {
            return Err(DecodeError::Transport(format!(
                "TP.DT from {source:#04x} without an announcement"
            )));
        };
        if at - s.last_at > PACKET_TIMEOUT_SECS {
            self.sessions.remove(&source);
            return Err(DecodeError::Transport(format!(
                "BAM from {source:#04x} timed out"
            )));
        }
        if data[0] != s.next {
            let expected = s.next;
            self.sessions.remove(&source);
            return Err(DecodeError::Transport(format!(
                "BAM from {source:#04x}: packet {} where {expected} was due",
                data[0]
            )));
        }
        s.data.extend_from_slice(&data[1..data.len().min(8)]);
        s.next += 1;
        s.last_at = at;
        if s.next <= s.packets {
            return Ok(None);
        }
        let s = self
            .sessions
            .remove(&source)
            .ok_or_else(|| DecodeError::Transport("session vanished".into()))?;
        let mut data = s.data;
        data.truncate(s.size);
        Ok(Some(Reassembled {
            source,
            pgn: s.pgn,
            data,
        }))
    }
}

/// Splits a message into BAM frames (TP.CM then TP.DT), as a sender would;
/// used to test the reassembler and to generate test logs.
pub fn bam_frames(pgn: u32, data: &[u8]) -> Vec<(u32, [u8; 8])> {
    let packets = data.len().div_ceil(7);
    let size = (data.len() as u16).to_le_bytes();
    let mut out = vec![(
        PGN_TP_CM,
        [
            BAM,
            size[0],
            size[1],
            packets as u8,
            0xFF,
            pgn as u8,
            (pgn >> 8) as u8,
            (pgn >> 16) as u8,
        ],
    )];
    for (i, chunk) in data.chunks(7).enumerate() {
        let mut frame = [0xFF; 8];
        frame[0] = i as u8 + 1;
        frame[1..1 + chunk.len()].copy_from_slice(chunk);
        out.push((PGN_TP_DT, frame));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::j1939::{PGN_DM1, decode_dm};

    #[test]
    fn the_reference_bam_reassembles() {
        // From the reference: a 10-byte DM1 in 2 packets from SA 0x00.
        let mut r = Reassembler::new();
        r.connection(0, &[0x20, 0x0A, 0x00, 0x02, 0xFF, 0xCA, 0xFE, 0x00], 0.0)
            .unwrap();
        assert_eq!(
            r.data(0, &[0x01, 0x14, 0xFF, 0x64, 0x00, 0x01, 0x03, 0xBE], 0.05)
                .unwrap(),
            None
        );
        let m = r
            .data(0, &[0x02, 0x00, 0x10, 0x01, 0xFF, 0xFF, 0xFF, 0xFF], 0.1)
            .unwrap()
            .unwrap();
        assert_eq!(m.pgn, PGN_DM1);
        assert_eq!(m.data.len(), 10, "padding dropped");
        let dm = decode_dm(&m.data).unwrap();
        assert_eq!(dm.dtcs.len(), 2);
        assert_eq!(
            (dm.dtcs[0].spn, dm.dtcs[0].fmi, dm.dtcs[0].occurrences),
            (100, 1, 3)
        );
    }

    #[test]
    fn gaps_timeouts_and_bad_sizes_abandon_the_session() {
        let frames = bam_frames(PGN_DM1, &[7u8; 14]);
        assert_eq!(frames.len(), 3, "ceil(14 / 7) = 2 data packets");
        let mut r = Reassembler::new();
        r.connection(3, &frames[0].1, 0.0).unwrap();
        assert!(r.data(3, &frames[2].1, 0.1).is_err(), "packet 2 before 1");
        assert!(r.data(3, &frames[1].1, 0.2).is_err(), "the session is gone");
        r.connection(3, &frames[0].1, 1.0).unwrap();
        r.data(3, &frames[1].1, 1.1).unwrap();
        assert!(r.data(3, &frames[2].1, 2.5).is_err(), "too slow");
        assert!(
            r.connection(3, &[0x20, 14, 0, 3, 0xFF, 0xCA, 0xFE, 0], 3.0)
                .is_err(),
            "3 packets announced for 14 bytes"
        );
    }

    #[test]
    fn sessions_are_kept_per_source() {
        let a = bam_frames(PGN_DM1, &[1u8; 10]);
        let b = bam_frames(PGN_DM1, &[2u8; 10]);
        let mut r = Reassembler::new();
        r.connection(1, &a[0].1, 0.0).unwrap();
        r.connection(2, &b[0].1, 0.0).unwrap();
        r.data(1, &a[1].1, 0.1).unwrap();
        r.data(2, &b[1].1, 0.1).unwrap();
        assert_eq!(
            r.data(2, &b[2].1, 0.2).unwrap().unwrap().data,
            vec![2u8; 10]
        );
        assert_eq!(
            r.data(1, &a[2].1, 0.2).unwrap().unwrap().data,
            vec![1u8; 10]
        );
    }
}
