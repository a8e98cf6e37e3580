use std::sync::Arc;
use std::time::Duration;

use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::service::Vantage;

/// Marks agents disconnected when their stream has been silent longer than `threshold`.
pub async fn agent_staleness(
    vantage: Arc<Vantage>,
    threshold: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker =
        interval((threshold / 6).clamp(Duration::from_secs(1), Duration::from_secs(10)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        vantage.mark_silent_agents(threshold);
    }
}
