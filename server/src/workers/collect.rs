use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent::collect::{HostCollector, HostSample};
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;

use crate::service::Vantage;
use crate::store::SampleRow;

/// Collects this machine's figures every `period` and feeds them to the store and live state
/// with agent_id = local.
pub async fn local_collection(
    proc_root: PathBuf,
    period: Duration,
    vantage: Arc<Vantage>,
    shutdown: CancellationToken,
) {
    let mut collector: Option<HostCollector> = None;
    let mut failures = FailureLog::default();
    // The first sample comes quickly (rates need two readings); then one per period.
    let mut ticker = interval_at(Instant::now() + period.min(Duration::from_secs(1)), period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        if collector.is_none() {
            match HostCollector::new(&proc_root) {
                Ok(c) => collector = Some(c),
                Err(e) => failures.record(
                    &vantage,
                    format!("cannot read {}: {e}", proc_root.display()),
                    Duration::ZERO,
                ),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let Some(mut c) = collector.take() else {
            continue;
        };
        let started = std::time::Instant::now();
        let Ok((c, result)) = tokio::task::spawn_blocking(move || {
            let result = c.collect();
            (c, result)
        })
        .await
        else {
            tracing::error!("collection task panicked; starting over");
            continue;
        };
        collector = Some(c);
        let took = started.elapsed();
        match result {
            Ok(sample) => {
                if let Err(e) = vantage.store.insert_host_sample(&row(&sample)).await {
                    tracing::error!(error = %e, "cannot store the local sample");
                }
                vantage.live.record_local(sample, took);
                failures.recovered();
            }
            Err(e) => failures.record(&vantage, e.to_string(), took),
        }
    }
}

/// Logs a failure when it first happens or changes, not on every cycle it repeats.
#[derive(Default)]
struct FailureLog {
    last: Option<String>,
}

impl FailureLog {
    fn record(&mut self, vantage: &Vantage, error: String, took: Duration) {
        if self.last.as_deref() != Some(error.as_str()) {
            tracing::warn!(%error, "local collection failed");
            self.last = Some(error.clone());
        }
        vantage.live.record_local_failure(error, took);
    }

    fn recovered(&mut self) {
        if self.last.take().is_some() {
            tracing::info!("local collection works again");
        }
    }
}

fn row(s: &HostSample) -> SampleRow {
    let disk_used: u64 = s.filesystems.iter().map(|f| f.used_bytes).sum();
    let disk_usable: u64 = s
        .filesystems
        .iter()
        .map(|f| f.used_bytes + f.available_bytes)
        .sum();
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    SampleRow {
        agent_id: None,
        ts_ms: s.taken_at_ms,
        cpu_pct: s.cpu.total_pct,
        load: [s.load.one, s.load.five, s.load.fifteen],
        mem_total: int(s.memory.total_bytes),
        mem_used: int(s.memory.used_bytes),
        swap_total: int(s.memory.swap_total_bytes),
        swap_used: int(s.memory.swap_used_bytes),
        disk_total: int(disk_usable),
        disk_used: int(disk_used),
        net_rx_bps: s.net_rx_bytes_per_s(),
        net_tx_bps: s.net_tx_bytes_per_s(),
    }
}
