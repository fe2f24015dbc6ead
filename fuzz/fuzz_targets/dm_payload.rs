//! Any bytes as a DM1/DM2 payload: decoding must not panic, and whatever
//! decodes must survive an encode→decode round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motorpool_domain::j1939::{decode_dm, encode_dm};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_dm(data) {
        let again = decode_dm(&encode_dm(&message)).expect("our own encoding decodes");
        assert_eq!(again.dtcs, message.dtcs);
    }
});
