//! Background loops: each ticks, skips missed ticks, logs errors and keeps going, and stops
//! when the shutdown token is cancelled. Each runs under [`supervised`]: a panic is logged,
//! counted and reported on `/healthz`, and the loop starts again.
mod alerts;
mod apps;
mod collect;
mod housekeeping;
mod staleness;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use alerts::{Transitions, alert_recorder, alert_sweep};
pub use apps::app_liveness;
pub use collect::local_collection;
pub use housekeeping::housekeeping;
pub use staleness::agent_staleness;

use crate::health::{Health, panic_message};

/// A restarted worker that runs this long without panicking counts as well again.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// Runs the worker `start` makes until it returns (at shutdown); after a panic, logs it,
/// counts it (`vantage_task_panics_total`), reports it on `/healthz` and starts a fresh one a
/// second later (so a worker that panics at once cannot spin a core).
pub async fn supervised<F, Fut>(
    task: &'static str,
    health: Arc<Health>,
    shutdown: CancellationToken,
    start: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let mut run = tokio::spawn(start());
        let outcome = if health.problems().iter().any(|(part, _)| *part == task) {
            // Restarted after a panic: well again once it has run a while.
            tokio::select! {
                outcome = &mut run => outcome,
                _ = tokio::time::sleep(HEALTHY_AFTER) => {
                    health.clear(task);
                    run.await
                }
            }
        } else {
            run.await
        };
        match outcome {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                let message = panic_message(&*e.into_panic());
                tracing::error!(task, panic = %message, "a worker panicked; restarting it");
                health.count_panic(task);
                health.set(task, format!("restarting after a panic: {message}"));
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_panicking_worker_is_restarted_counted_and_reported() {
        let health = Arc::new(Health::default());
        let runs = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let counted = runs.clone();
        let supervisor = tokio::spawn(supervised(
            "flaky",
            health.clone(),
            shutdown.clone(),
            move || {
                let counted = counted.clone();
                async move {
                    if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("first run fails");
                    }
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            },
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "restarted once");
        assert_eq!(health.panics(), vec![("flaky", 1)]);
        let problems = health.problems();
        assert!(problems[0].1.contains("first run fails"), "{problems:?}");
        tokio::time::sleep(HEALTHY_AFTER + Duration::from_secs(1)).await;
        assert!(
            health.problems().is_empty(),
            "well again after a quiet minute"
        );
        supervisor.abort();
    }
}
