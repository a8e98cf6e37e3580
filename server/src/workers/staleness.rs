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
        for agent_id in vantage.live.silent_agents(threshold) {
            tracing::info!(%agent_id, "agent silent past the threshold: disconnected");
            vantage.live.set_connected(&agent_id, false);
        }
    }
}
