//! Our own Prometheus text: process, HTTP requests, the collection loop and the local host.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::live::LiveState;

/// Request counters keyed by (route, method, status), low cardinality by construction:
/// routes are the matched patterns, not raw paths.
#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<RequestKey, RequestTotals>>,
}

/// Route pattern, method and status.
type RequestKey = (String, String, u16);
/// Count and total seconds.
type RequestTotals = (u64, f64);

impl HttpMetrics {
    /// Counts one answered request.
    pub fn observe(&self, route: &str, method: &str, status: u16, took: Duration) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default();
        entry.0 += 1;
        entry.1 += took.as_secs_f64();
    }
}

/// Renders every metric in the Prometheus text format.
pub fn render(http: &HttpMetrics, live: &LiveState) -> String {
    let mut out = String::with_capacity(4096);
    let process = ProcessFigures::read();
    gauge(
        &mut out,
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        process.rss_bytes as f64,
    );
    counter(
        &mut out,
        "process_cpu_seconds_total",
        "User and system CPU time in seconds.",
        process.cpu_seconds,
    );
    gauge(
        &mut out,
        "process_open_fds",
        "Open file descriptors.",
        process.open_fds as f64,
    );
    gauge(
        &mut out,
        "process_start_time_seconds",
        "Start time since the epoch in seconds.",
        process.start_time_s,
    );

    let requests = http
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    out.push_str("# HELP vantage_http_requests_total HTTP requests answered, by route pattern, method and status.\n");
    out.push_str("# TYPE vantage_http_requests_total counter\n");
    for ((route, method, status), (count, _)) in &requests {
        let _ = writeln!(
            out,
            "vantage_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
            escape(route)
        );
    }
    out.push_str("# HELP vantage_http_request_duration_seconds_sum Time spent answering, by route pattern.\n");
    out.push_str("# TYPE vantage_http_request_duration_seconds_sum counter\n");
    let mut per_route: BTreeMap<&str, f64> = BTreeMap::new();
    for ((route, _, _), (_, seconds)) in &requests {
        *per_route.entry(route).or_default() += seconds;
    }
    for (route, seconds) in per_route {
        let _ = writeln!(
            out,
            "vantage_http_request_duration_seconds_sum{{route=\"{}\"}} {seconds}",
            escape(route)
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

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    );
}

fn counter(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
    );
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Figures of this process from /proc/self.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessFigures {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
    pub open_fds: usize,
    pub start_time_s: f64,
}

impl ProcessFigures {
    /// Reads /proc/self; figures that cannot be read are 0.
    pub fn read() -> Self {
        // /proc reports times in USER_HZ, fixed at 100 by the kernel ABI.
        const TICKS_PER_SECOND: f64 = 100.0;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the parenthesised command name; utime, stime and starttime are 14, 15 and 22.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let boot_time = std::fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        ProcessFigures {
            rss_bytes: rss_kb * 1024,
            cpu_seconds: (field(14) + field(15)) / TICKS_PER_SECOND,
            open_fds: std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count())
                .unwrap_or(0),
            start_time_s: boot_time + field(22) / TICKS_PER_SECOND,
        }
    }
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
