//! Any sequence of TP.CM / TP.DT frames from a few sources: the reassembler
//! reports errors and completes messages, never panics, and never returns a
//! message longer than announced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motorpool_domain::j1939::transport::Reassembler;

fuzz_target!(|data: &[u8]| {
    let mut r = Reassembler::new();
    let mut at = 0.0;
    for chunk in data.chunks(10) {
        if chunk.len() < 2 {
            break;
        }
        let source = chunk[0] & 0x03;
        at += f64::from(chunk[1] & 0x0F) * 0.1;
        let frame = &chunk[2..];
        if chunk[1] & 0x80 != 0 {
            let _ = r.connection(source, frame, at);
        } else if let Ok(Some(m)) = r.data(source, frame, at) {
            assert!(m.data.len() <= 1785);
        }
    }
});
