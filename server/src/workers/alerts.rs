use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::alerts::engine::Transition;
use crate::service::Vantage;

/// The alert recorder's input, shared so a restarted recorder takes it up again.
pub type Transitions = Arc<Mutex<mpsc::UnboundedReceiver<Transition>>>;

/// Stores each alert transition in order, notifies, tells the dashboard. A transition the
/// store cannot take is retried (five times, a second apart) before it is given up and logged.
pub async fn alert_recorder(
    vantage: Arc<Vantage>,
    transitions: Transitions,
    shutdown: CancellationToken,
) {
    let mut transitions = transitions.lock().await;
    loop {
        let transition = tokio::select! {
            _ = shutdown.cancelled() => break,
            t = transitions.recv() => match t {
                Some(t) => t,
                None => break,
            },
        };
        for attempt in 1..=5 {
            match vantage.record_transition(transition.clone()).await {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    tracing::warn!(error = %e, attempt, "cannot record an alert transition; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, rule = transition.key.rule_id, subject = %transition.key.subject, "an alert transition was not recorded");
                }
            }
        }
    }
}

/// The absence sweep (agent down), reminders.
pub async fn alert_sweep(vantage: Arc<Vantage>, period: Duration, shutdown: CancellationToken) {
    let mut ticker = interval(period.max(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // The first tick is at once: nothing is silent yet at start.
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        if let Err(e) = vantage.alert_sweep().await {
            tracing::warn!(error = %e, "the alert sweep failed");
        }
    }
}
