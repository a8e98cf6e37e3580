use proto::clock::now_ms;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::service::Vantage;

/// How long each layer of host history is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
    pub hour: Duration,
}

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
        if let Err(e) = vantage.store.roll_up().await {
            tracing::warn!(error = %e, "cannot roll up host samples");
        }
        ticks += 1;
        if ticks % 120 != 1 {
            continue;
        }
        if let Err(e) = vantage
            .store
            .purge_login_failures(crate::auth::FORGET_AFTER_S)
            .await
        {
            tracing::warn!(error = %e, "cannot forget old sign-in failures");
        }
        match vantage.store.purge_expired_sessions().await {
            Ok(n) if n > 0 => tracing::info!(sessions = n, "expired sessions removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot remove expired sessions"),
        }
        let ms = |d: Duration| d.as_millis() as i64;
        match vantage
            .store
            .apply_retention(
                now_ms(),
                ms(retention.raw),
                ms(retention.minute),
                ms(retention.hour),
            )
            .await
        {
            Ok([raw, minute, hour]) if raw + minute + hour > 0 => {
                tracing::info!(raw, minute, hour, "history past its retention removed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot apply history retention"),
        }
    }
}
