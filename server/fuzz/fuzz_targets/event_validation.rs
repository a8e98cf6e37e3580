//! Any bytes an agent could send as a batch: decoding and the edge checks never panic, and
//! what passes can be turned into stored rows without overflow.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;
use server::ingest::validate::{Window, check_batch, check_event};

const NOW: i64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = proto::EventBatch::decode(data) else {
        return;
    };
    if check_batch(&batch).is_err() {
        return;
    }
    let window = Window {
        oldest_ms: NOW - 7 * 86_400_000,
        now_ms: NOW,
    };
    for event in batch.events {
        if check_event(&event, window).is_ok()
            && let Some(proto::event::Body::HostSample(s)) = event.body
        {
            let sample = agent::stream::wire::host_sample_from_wire(event.time_ms, s);
            let row = server::store::SampleRow::from_host(None, &sample);
            assert!(row.disk_used >= 0 && row.disk_total >= 0 && row.mem_total >= 0);
        }
    }
});
