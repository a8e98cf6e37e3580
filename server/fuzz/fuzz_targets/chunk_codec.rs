//! Any stored blob: decoding never panics nor allocates without bound, and what decodes
//! encodes back to the same rows.
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::store::chunk::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = decode(data) {
        let again = decode(&encode(&block)).expect("what was decoded re-encodes");
        assert_eq!(again, block);
    }
});
