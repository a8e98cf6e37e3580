//! The Prometheus text exposition format, as both binaries write it: gauges, counters,
//! histograms and the `process_*` figures of this process (read from `/proc/self`).
use std::fmt::Write;

/// One gauge with its help and type lines.
pub fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    );
}

/// One counter with its help and type lines.
pub fn counter(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
    );
}

/// A label value as the text format writes it.
pub fn escape(label: &str) -> String {
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
    /// The four `process_*` families, as Prometheus' client libraries name them.
    pub fn write(&self, out: &mut String) {
        gauge(
            out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            self.rss_bytes as f64,
        );
        counter(
            out,
            "process_cpu_seconds_total",
            "User and system CPU time in seconds.",
            self.cpu_seconds,
        );
        gauge(
            out,
            "process_open_fds",
            "Open file descriptors.",
            self.open_fds as f64,
        );
        gauge(
            out,
            "process_start_time_seconds",
            "Start time since the epoch in seconds.",
            self.start_time_s,
        );
    }

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

/// A cumulative histogram with fixed upper bounds (the `+Inf` bucket is implied).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations at or below each bound (not yet cumulative).
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += value;
    }

    /// The `_bucket`, `_sum` and `_count` lines of `name` with `labels` (`a="b"`, or empty);
    /// the HELP and TYPE lines are the caller's, once per family.
    pub fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_writes_cumulative_buckets_sum_and_count() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        for v in [0.0625, 0.5, 0.75, 3.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.write(&mut out, "t_seconds", "route=\"/x\"");
        assert_eq!(
            out,
            "t_seconds_bucket{route=\"/x\",le=\"0.1\"} 1\n\
             t_seconds_bucket{route=\"/x\",le=\"1\"} 3\n\
             t_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n\
             t_seconds_sum{route=\"/x\"} 4.3125\n\
             t_seconds_count{route=\"/x\"} 4\n"
        );
        let mut bare = String::new();
        Histogram::new(&[1.0]).write(&mut bare, "b", "");
        assert_eq!(
            bare,
            "b_bucket{le=\"1\"} 0\nb_bucket{le=\"+Inf\"} 0\nb_sum 0\nb_count 0\n"
        );
    }

    #[test]
    fn process_figures_come_from_proc_self() {
        let p = ProcessFigures::read();
        assert!(p.rss_bytes > 1_000_000 && p.open_fds > 0 && p.start_time_s > 1.6e9);
    }
}
