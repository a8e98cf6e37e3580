//! Any flag value: the duration and size parsers never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = agent::units::parse_duration(text);
        let _ = agent::units::parse_bytes(text);
    }
});
