//! What the operations endpoints report and what the housekeeping worker does: health,
//! readiness, the Prometheus text, history folding and retention.
use std::time::Duration;

use proto::clock::now_ms;

use super::Vantage;
use crate::metrics::HttpMetrics;

/// How long each layer of host history is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
    pub hour: Duration,
}

/// The answer `/healthz` and `/readyz` give.
#[derive(Debug)]
pub struct HealthReport {
    /// Seconds since local collection last succeeded.
    pub collection_age_s: u64,
    /// Everything wrong now; empty when healthy.
    pub reasons: Vec<String>,
}

impl Vantage {
    /// Every stalled part of the server, as "part: reason".
    fn problems(&self) -> Vec<String> {
        self.health
            .problems()
            .into_iter()
            .map(|(part, reason)| format!("{part}: {reason}"))
            .collect()
    }

    /// Healthy while local collection succeeded within `deadline` and nothing is stalled.
    pub fn health_report(&self, deadline: Duration) -> HealthReport {
        let age = self.live.collection_age();
        let mut reasons = Vec::new();
        if age > deadline {
            let detail = self
                .live
                .collection()
                .last_error
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            reasons.push(format!(
                "the local collection loop last succeeded {}s ago (limit {}s){detail}",
                age.as_secs(),
                deadline.as_secs()
            ));
        }
        reasons.extend(self.problems());
        HealthReport {
            collection_age_s: age.as_secs(),
            reasons,
        }
    }

    /// Ready when the store answers and nothing is stalled; else the reasons.
    pub async fn readiness(&self) -> Result<(), Vec<String>> {
        if let Err(e) = self.store.ping().await {
            tracing::warn!(error = %e, "store not ready");
            return Err(vec!["the store does not answer".into()]);
        }
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics_text(&self, http: &HttpMetrics) -> String {
        let mut body = crate::metrics::render(http, &self.live);
        let mut metric = |name: &str, help: &str, kind: &str, value: String| {
            body.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        if let Ok(bytes) = self.store.size_bytes().await {
            metric(
                "vantage_store_size_bytes",
                "Bytes the database takes on disk.",
                "gauge",
                bytes.to_string(),
            );
        }
        metric(
            "vantage_history_folded_agent_samples_total",
            "Host samples of remote agents folded into the rollups.",
            "counter",
            self.store.folded_agent_samples().to_string(),
        );
        if let Ok(n) = self.store.pending_chunks().await {
            metric(
                "vantage_history_pending_chunks",
                "Chunks of host samples not yet merged and rolled up.",
                "gauge",
                n.to_string(),
            );
        }
        metric(
            "vantage_history_fold_skips_total",
            "Times the fold could not process one host-hour of history and left it unfolded.",
            "counter",
            self.store.skipped_hours().to_string(),
        );
        metric(
            "vantage_history_unreadable_chunks_total",
            "Stored history chunks that could not be decoded (skipped wherever read).",
            "counter",
            crate::store::unreadable_chunks().count().to_string(),
        );
        metric(
            "vantage_ingest_refused_events_total",
            "Agent events refused by the ingest's checks.",
            "counter",
            self.health.refused_events().to_string(),
        );
        body.push_str("# HELP vantage_task_panics_total Panics of supervised tasks (each was restarted).\n# TYPE vantage_task_panics_total counter\n");
        for (task, n) in self.health.panics() {
            body.push_str(&format!(
                "vantage_task_panics_total{{task=\"{task}\"}} {n}\n"
            ));
        }
        body
    }

    /// Folds new samples into the rollups.
    pub async fn fold_history(&self) {
        let started = std::time::Instant::now();
        match self.store.roll_up().await {
            Ok(samples) => tracing::debug!(
                samples,
                took_ms = started.elapsed().as_millis() as u64,
                "history folded"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot roll up host samples"),
        }
    }

    /// Forgets old sign-in failures and expired sessions, and drops history past its
    /// retention.
    pub async fn purge_expired(&self, retention: Retention) {
        if let Err(e) = self
            .store
            .purge_login_failures(crate::auth::FORGET_AFTER_S)
            .await
        {
            tracing::warn!(error = %e, "cannot forget old sign-in failures");
        }
        match self.store.purge_expired_sessions().await {
            Ok(n) if n > 0 => tracing::info!(sessions = n, "expired sessions removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot remove expired sessions"),
        }
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        match self
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
        // Host timelines are kept as long as the 1-minute history.
        let before = now_ms().saturating_sub(ms(retention.minute));
        if let Err(e) = self.store.purge_host_events(before).await {
            tracing::warn!(error = %e, "cannot forget old timeline entries");
        }
    }
}
