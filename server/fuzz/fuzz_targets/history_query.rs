//! Any query string of `/api/v1/resources/history`: parsing never panics, and accepted times
//! and steps convert to milliseconds without overflow.
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::http::query::{parse_step, parse_time};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = parse_time("from", text) {
        assert!(t.checked_mul(1000).is_some());
    }
    if let Ok(s) = parse_step(text) {
        assert!(s >= 1 && s.checked_mul(1000).is_some());
    }
});
