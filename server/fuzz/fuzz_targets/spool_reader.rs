//! Any bytes in a spool segment (a torn write, a damaged disk): opening the spool cuts the
//! segment back to its last whole record and reading never panics.
#![no_main]
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir(&spool_dir).expect("spool dir");
    std::fs::write(spool_dir.join("seg-00000000000000000001.log"), data).expect("segment");
    let Ok(mut spool) = agent::spool::Spool::open(&spool_dir, 1 << 30, Duration::from_secs(86_400)) else {
        return;
    };
    // Repair is complete the first time: opening the repaired spool again reads the same.
    let events = spool.read_after(0, 10_000).expect("a repaired spool reads back");
    drop(spool);
    let mut spool = agent::spool::Spool::open(&spool_dir, 1 << 30, Duration::from_secs(86_400))
        .expect("a repaired spool opens again");
    let again = spool.read_after(0, 10_000).expect("and reads back");
    assert_eq!(events.len(), again.len());
    assert!(events.iter().zip(&again).all(|(a, b)| a.0 == b.0));
    let _ = spool.enforce_bounds(0);
    let _ = spool.append(&proto::Event::default());
});
