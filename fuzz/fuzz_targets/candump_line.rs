//! Any text as a `candump -l` line: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motorpool_domain::j1939::candump::parse_line;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data)
        && let Ok(frame) = parse_line(line)
    {
        let _ = (frame.pgn(), frame.source(), frame.seconds());
    }
});
