//! What simulated agents send and how: host samples with plausible noise, batches with the
//! agent's back-off.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proto::agent_message::Body as Up;
use proto::server_message::Body as Down;

use super::*;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) events_sent: AtomicU64,
    pub(crate) events_committed: AtomicU64,
    /// Back-off answers (rate limited, overloaded …): the batch is sent again.
    pub(crate) refusals: AtomicU64,
    /// Events the server refused one by one (too old, malformed): acknowledged, not stored.
    pub(crate) events_refused: AtomicU64,
}

/// A deterministic pseudo-random number in [0, 1) for (agent, time step, figure).
pub(crate) fn noise(i: u64, step: i64, figure: u64) -> f64 {
    let mut z = i
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add((step as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_add(figure.wrapping_mul(0x94d0_49bb_1331_11eb));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as f64 / u64::MAX as f64
}

/// Numeric values the server stores per host sample of [`host_sample`]'s shape (one per
/// series, as Prometheus counts samples): the twelve totals (CPU, three load averages, memory
/// and swap total/used, disk size/used, network in/out) and the labelled series (four cores,
/// swap, three load averages, two file systems, two interfaces in and out). The test of
/// `export` checks it against what is written for a peer.
pub(crate) const VALUES_PER_EVENT: u64 = 12 + 4 + 1 + 3 + 2 + 4;

/// A host sample shaped like a small real server (4 cores, 2 file systems, 2 interfaces):
/// figures follow a slow daily-like wave with noise on top, as real hosts do. CPU and network
/// rates jitter every sample, memory moves by up to 16 MiB in whole pages, the disks fill a
/// few blocks per sample; only the totals stay put. Twelve top processes ride along, as a
/// real agent sends them (they are kept live, not stored).
pub(crate) fn host_sample(time_ms: i64, i: u64) -> proto::Event {
    let step = time_ms / 10_000;
    let wave = (step as f64 / 500.0 + i as f64).sin() * 0.5 + 0.5;
    let n = |figure: u64| noise(i, step, figure);
    let cpu = (60.0 * wave + 20.0 * n(0)).clamp(0.0, 100.0);
    let page = 4096u64;
    let mem_used = (3 << 30)
        + (wave * (1u64 << 30) as f64) as u64 / page * page
        + (n(1) * 4096.0) as u64 * page;
    // Load averages come with two decimals; the longer ones follow the wave more smoothly.
    let two_decimals = |v: f64| (v * 100.0).round() / 100.0;
    proto::Event {
        time_ms,
        body: Some(proto::event::Body::HostSample(proto::HostSample {
            hostname: format!("loadgen-{i}"),
            uptime_s: 86_400,
            cpu_pct: cpu,
            cpu_per_core_pct: (0..4)
                .map(|c| (cpu + 10.0 * (n(10 + c) - 0.5)).clamp(0.0, 100.0))
                .collect(),
            load1: two_decimals(4.0 * cpu / 100.0),
            load5: two_decimals(4.0 * wave + 0.2 * n(2)),
            load15: two_decimals(4.0 * wave + 0.05 * n(3)),
            memory_total_bytes: 8 << 30,
            memory_available_bytes: (8 << 30) - mem_used,
            memory_used_bytes: mem_used,
            swap_total_bytes: 2 << 30,
            swap_used_bytes: 100 << 20,
            filesystems: (0..2u64)
                .map(|f| {
                    // Filling by up to 64 KiB per sample, emptied every 100,000 samples.
                    let written = step.rem_euclid(100_000) as u64 * 8 + (n(20 + f) * 8.0) as u64;
                    let used = (40 << 30) + written * page;
                    proto::Filesystem {
                        mount_point: format!("/fs{f}"),
                        device: format!("/dev/sd{f}"),
                        fs_type: "ext4".into(),
                        total_bytes: 100 << 30,
                        used_bytes: used,
                        available_bytes: (100 << 30) - used,
                    }
                })
                .collect(),
            interfaces: (0..2u64)
                .map(|k| proto::Interface {
                    name: format!("eth{k}"),
                    rx_bytes_per_s: 1e5 * wave * (0.8 + 0.4 * n(30 + k)),
                    tx_bytes_per_s: 5e4 * wave * (0.8 + 0.4 * n(40 + k)),
                })
                .collect(),
            processes: (0..12u64)
                .map(|p| proto::Process {
                    pid: 1000 + p as u32,
                    name: format!("worker-{p}"),
                    user: "www-data".into(),
                    cpu_pct: cpu / (p + 2) as f64,
                    rss_bytes: (200 << 20) / (p + 1),
                })
                .collect(),
        })),
    }
}

/// Sends `count` events (event `k` made by `event(k)`) in batches as the agent does (at most
/// `MAX_BATCHES_IN_FLIGHT` unanswered) and counts acknowledgements. After a refusal it lets
/// the batches in flight be answered, waits as told, and resends everything after the
/// acknowledged position. Live mode sends one event per call.
pub(crate) async fn drive(
    agent: &mut SimulatedAgent,
    count: u64,
    event: impl Fn(u64) -> proto::Event,
    batch_events: usize,
    counters: &Counters,
) {
    let base = agent.next_seq;
    let end = base + count - 1;
    let mut acked = base - 1;
    let mut sent = acked;
    let mut in_flight = 0usize;
    let mut retry_after: Option<Duration> = None;
    while acked < end {
        while retry_after.is_none()
            && in_flight < agent::stream::MAX_BATCHES_IN_FLIGHT
            && sent < end
        {
            let from = sent + 1 - base;
            let batch: Vec<proto::Event> = (from..(from + batch_events as u64).min(count))
                .map(&event)
                .collect();
            let n = batch.len() as u64;
            let message = proto::AgentMessage {
                body: Some(Up::Batch(proto::EventBatch {
                    first_seq: sent + 1,
                    events: batch,
                    ..Default::default()
                })),
            };
            if agent.up.send(message).await.is_err() {
                return;
            }
            counters.events_sent.fetch_add(n, Ordering::Relaxed);
            sent += n;
            in_flight += 1;
        }
        match agent.down.message().await {
            Ok(Some(proto::ServerMessage {
                body: Some(Down::Ack(ack)),
            })) => {
                counters
                    .events_committed
                    .fetch_add(ack.seq.saturating_sub(acked), Ordering::Relaxed);
                acked = acked.max(ack.seq);
            }
            Ok(Some(proto::ServerMessage {
                body: Some(Down::Error(e)),
            })) if e.error_code() == proto::ErrorCode::InvalidEvent => {
                // One event of a batch refused; the batch's acknowledgement follows.
                counters.events_refused.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Ok(Some(proto::ServerMessage {
                body: Some(Down::Error(e)),
            })) if matches!(
                e.error_code(),
                proto::ErrorCode::InvalidBatch | proto::ErrorCode::MessageTooLarge
            ) =>
            {
                // Sent again it would be refused again.
                eprintln!("vantage-loadgen: the server refused a batch: {}", e.message);
                return;
            }
            Ok(Some(proto::ServerMessage {
                body: Some(Down::Error(e)),
            })) => {
                counters.refusals.fetch_add(1, Ordering::Relaxed);
                let wait = Duration::from_millis(e.retry_after_ms.max(50));
                retry_after = Some(retry_after.map_or(wait, |w| w.max(wait)));
            }
            _ => return,
        }
        in_flight -= 1;
        if in_flight == 0
            && let Some(wait) = retry_after.take()
        {
            tokio::time::sleep(wait).await;
            sent = acked;
        }
    }
    agent.next_seq = acked + 1;
}
