use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent::collect::HostCollector;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;

use crate::service::Vantage;

/// Collects this machine's figures every `period` and hands them to the service, which
/// stores them through the batch writer (as agent_id = local) and puts them live.
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
                vantage.record_local_sample(sample, took).await;
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
        vantage.record_local_failure(error, took);
    }

    fn recovered(&mut self) {
        if self.last.take().is_some() {
            tracing::info!("local collection works again");
        }
    }
}
