//! Any text as an import file, with every option set: parsed with per-row
//! errors or refused as a whole, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motorpool_domain::fuel::FuelUnit;
use motorpool_domain::import::{DateOrder, Options, parse};
use motorpool_domain::vehicle::OdometerUnit;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let options = Options {
            distance_unit: Some(OdometerUnit::Kilometres),
            volume_unit: Some(FuelUnit::Litres),
            decimal_separator: Some(','),
            date_order: Some(DateOrder::Dmy),
            currency_exponent: 2,
        };
        let _ = parse(text, &options);
    }
});
