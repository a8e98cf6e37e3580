use super::ParseError;

/// Cumulative CPU time counters of one line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    pub busy: u64,
    pub idle: u64,
}

impl CpuTimes {
    fn total(self) -> u64 {
        self.busy.saturating_add(self.idle)
    }

    /// Busy share of the time between `earlier` and `self`, in percent (0 to 100).
    pub fn busy_pct_since(self, earlier: CpuTimes) -> f64 {
        let total = self.total().saturating_sub(earlier.total());
        if total == 0 {
            return 0.0;
        }
        let busy = self.busy.saturating_sub(earlier.busy);
        (busy as f64 * 100.0 / total as f64).clamp(0.0, 100.0)
    }
}

/// The aggregate `cpu` line and one entry per `cpuN` line of `/proc/stat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatSnapshot {
    pub total: CpuTimes,
    pub cores: Vec<CpuTimes>,
}

/// CPU busy percentage over an interval, total and per core.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CpuUsage {
    pub total_pct: f64,
    pub per_core_pct: Vec<f64>,
}

/// Parses `/proc/stat` into CPU counters. Idle time counts `idle` and `iowait`;
/// `guest` time is already included in `user` and is not counted twice.
pub fn parse_stat(text: &str) -> Result<StatSnapshot, ParseError> {
    let mut snapshot = StatSnapshot::default();
    let mut saw_total = false;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(label) = fields.next() else { continue };
        if !label.starts_with("cpu") {
            continue;
        }
        let values = fields
            .map(|f| f.parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ParseError::new("/proc/stat", format!("{label}: {e}")))?;
        if values.len() < 4 {
            return Err(ParseError::new(
                "/proc/stat",
                format!("{label} has {} fields", values.len()),
            ));
        }
        let field = |i: usize| values.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal guest guest_nice
        let idle = field(3).saturating_add(field(4));
        let busy = [0, 1, 2, 5, 6, 7]
            .iter()
            .map(|&i| field(i))
            .fold(0u64, u64::saturating_add);
        let times = CpuTimes { busy, idle };
        if label == "cpu" {
            snapshot.total = times;
            saw_total = true;
        } else {
            snapshot.cores.push(times);
        }
    }
    if !saw_total {
        return Err(ParseError::new("/proc/stat", "no aggregate cpu line"));
    }
    Ok(snapshot)
}

/// CPU usage between two snapshots. Cores that appeared or vanished in between
/// (CPU hotplug) are reported from the newer snapshot's count, as 0 where unknown.
pub fn cpu_usage(earlier: &StatSnapshot, later: &StatSnapshot) -> CpuUsage {
    let per_core_pct = later
        .cores
        .iter()
        .enumerate()
        .map(|(i, now)| {
            earlier
                .cores
                .get(i)
                .map_or(0.0, |before| now.busy_pct_since(*before))
        })
        .collect();
    CpuUsage {
        total_pct: later.total.busy_pct_since(earlier.total),
        per_core_pct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_total_and_cores_from_a_captured_file() {
        let snap = parse_stat(include_str!("../../tests/fixtures/proc-a/stat")).unwrap();
        assert_eq!(snap.cores.len(), 2);
        assert!(snap.total.busy > 0 && snap.total.idle > 0);
    }

    #[test]
    fn usage_between_two_captures_is_a_percentage() {
        let a = parse_stat(include_str!("../../tests/fixtures/proc-a/stat")).unwrap();
        let b = parse_stat(include_str!("../../tests/fixtures/proc-b/stat")).unwrap();
        let usage = cpu_usage(&a, &b);
        assert!((0.0..=100.0).contains(&usage.total_pct));
        assert_eq!(usage.per_core_pct.len(), 2);
    }

    #[test]
    fn busy_share_counts_iowait_as_idle() {
        let a = parse_stat("cpu 100 0 100 700 100 0 0 0 0 0\ncpu0 100 0 100 700 100 0 0 0 0 0\n")
            .unwrap();
        let b = parse_stat("cpu 200 0 200 800 200 0 0 0 0 0\ncpu0 200 0 200 800 200 0 0 0 0 0\n")
            .unwrap();
        let usage = cpu_usage(&a, &b);
        assert!((usage.total_pct - 50.0).abs() < 1e-9, "{usage:?}");
        assert_eq!(usage.per_core_pct, vec![50.0]);
    }

    #[test]
    fn counters_going_backwards_do_not_underflow() {
        let a = parse_stat("cpu 500 0 500 500 0 0 0 0 0 0\n").unwrap();
        let b = parse_stat("cpu 100 0 100 100 0 0 0 0 0 0\n").unwrap();
        assert_eq!(cpu_usage(&a, &b).total_pct, 0.0);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_stat("intr 1 2 3\n").is_err());
        assert!(parse_stat("cpu x y z w\n").is_err());
        assert!(parse_stat("cpu 1 2\n").is_err());
    }
}
