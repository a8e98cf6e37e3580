//! Our own Prometheus text: process, HTTP requests, the collection loop and the local host.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use agent::exposition::{Histogram, ProcessFigures, counter, escape, gauge};

use crate::live::LiveState;

/// Request counts keyed by (route, method, status) and request durations by route, low
/// cardinality by construction: routes are the matched patterns, not raw paths.
#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<Requests>,
}

#[derive(Default, Clone)]
struct Requests {
    counts: BTreeMap<RequestKey, u64>,
    durations: BTreeMap<String, Histogram>,
}

/// Route pattern, method and status.
type RequestKey = (String, String, u16);

/// Upper bounds of the request-duration buckets, in seconds.
const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl HttpMetrics {
    /// Counts one answered request and its duration.
    pub fn observe(&self, route: &str, method: &str, status: u16, took: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests
            .counts
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        requests
            .durations
            .entry(route.to_owned())
            .or_insert_with(|| Histogram::new(&DURATION_BUCKETS))
            .observe(took.as_secs_f64());
    }
}

/// Renders every metric in the Prometheus text format.
pub fn render(http: &HttpMetrics, live: &LiveState) -> String {
    let mut out = String::with_capacity(4096);
    ProcessFigures::read().write(&mut out);

    let requests = http
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    out.push_str("# HELP vantage_http_requests_total HTTP requests answered, by route pattern, method and status.\n");
    out.push_str("# TYPE vantage_http_requests_total counter\n");
    for ((route, method, status), count) in &requests.counts {
        let _ = writeln!(
            out,
            "vantage_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
            escape(route)
        );
    }
    out.push_str(
        "# HELP vantage_http_request_duration_seconds Time spent answering, by route pattern.\n",
    );
    out.push_str("# TYPE vantage_http_request_duration_seconds histogram\n");
    for (route, histogram) in &requests.durations {
        histogram.write(
            &mut out,
            "vantage_http_request_duration_seconds",
            &format!("route=\"{}\"", escape(route)),
        );
    }

    let c = live.collection();
    counter(
        &mut out,
        "vantage_collection_runs_total",
        "Local collection cycles run.",
        c.runs as f64,
    );
    counter(
        &mut out,
        "vantage_collection_failures_total",
        "Local collection cycles that failed.",
        c.failures as f64,
    );
    gauge(
        &mut out,
        "vantage_collection_duration_seconds",
        "Duration of the last local collection cycle.",
        c.last_duration.as_secs_f64(),
    );
    gauge(
        &mut out,
        "vantage_collection_age_seconds",
        "Seconds since the last successful local collection.",
        live.collection_age().as_secs_f64(),
    );

    if let Some(s) = live.local_sample() {
        gauge(
            &mut out,
            "vantage_host_cpu_percent",
            "Busy CPU share of this host.",
            s.cpu.total_pct,
        );
        gauge(
            &mut out,
            "vantage_host_load1",
            "1-minute load average of this host.",
            s.load.one,
        );
        gauge(
            &mut out,
            "vantage_host_memory_total_bytes",
            "Memory size.",
            s.memory.total_bytes as f64,
        );
        gauge(
            &mut out,
            "vantage_host_memory_used_bytes",
            "Used memory (total minus available).",
            s.memory.used_bytes as f64,
        );
        gauge(
            &mut out,
            "vantage_host_swap_used_bytes",
            "Used swap.",
            s.memory.swap_used_bytes as f64,
        );
        gauge(
            &mut out,
            "vantage_host_disk_used_percent",
            "Used share of all real file systems.",
            s.disk_used_pct(),
        );
        gauge(
            &mut out,
            "vantage_host_network_receive_bytes_per_second",
            "Received bytes per second, all interfaces.",
            s.net_rx_bytes_per_s(),
        );
        gauge(
            &mut out,
            "vantage_host_network_transmit_bytes_per_second",
            "Sent bytes per second, all interfaces.",
            s.net_tx_bytes_per_s(),
        );
        gauge(
            &mut out,
            "vantage_host_uptime_seconds",
            "Seconds since this host booted.",
            s.uptime_s as f64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_process_and_request_metrics() {
        let http = HttpMetrics::default();
        http.observe("/api/v1/auth/me", "GET", 401, Duration::from_millis(3));
        http.observe("/api/v1/auth/me", "GET", 401, Duration::from_millis(1));
        let text = render(&http, &LiveState::new());
        assert!(text.contains(
            r#"vantage_http_requests_total{route="/api/v1/auth/me",method="GET",status="401"} 2"#
        ));
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .unwrap();
        assert!(rss.parse::<f64>().unwrap() > 1_000_000.0);
        assert!(text.contains("vantage_collection_runs_total 0"));
    }
}
