use std::sync::Arc;
use std::time::Duration;

use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::service::{Retention, Vantage};

/// Every 30 s folds new samples into the rollups; hourly drops expired sessions and history
/// past its retention.
pub async fn housekeeping(
    vantage: Arc<Vantage>,
    retention: Retention,
    shutdown: CancellationToken,
) {
    let mut ticker = interval(Duration::from_secs(30));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        vantage.fold_history().await;
        ticks += 1;
        if ticks % 120 == 1 {
            vantage.purge_expired(retention).await;
        }
    }
}
