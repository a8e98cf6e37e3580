use std::sync::Arc;
use std::time::Duration;

use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::service::Vantage;

/// The liveness pass over every tracked app, every `period` (`--app-check-interval`).
pub async fn app_liveness(vantage: Arc<Vantage>, period: Duration, shutdown: CancellationToken) {
    let mut ticker = interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        if let Err(e) = vantage.check_apps().await {
            tracing::warn!(error = %e, "app liveness pass failed; trying again next period");
        }
    }
}
