use std::sync::Arc;
use std::time::Duration;

use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::service::Vantage;
use crate::store::now_ms;

/// How long raw host samples are kept.
pub const SAMPLE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Hourly: drops expired sessions and host samples past their retention.
pub async fn housekeeping(vantage: Arc<Vantage>, shutdown: CancellationToken) {
    let mut ticker = interval(Duration::from_secs(3600));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        match vantage.store.purge_expired_sessions().await {
            Ok(n) if n > 0 => tracing::info!(sessions = n, "expired sessions removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot remove expired sessions"),
        }
        let cutoff = now_ms() - SAMPLE_RETENTION.as_millis() as i64;
        match vantage.store.purge_host_samples(cutoff).await {
            Ok(n) if n > 0 => tracing::info!(samples = n, "old host samples removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot remove old host samples"),
        }
    }
}
