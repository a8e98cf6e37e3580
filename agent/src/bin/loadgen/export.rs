//! The simulated past as Prometheus text, for a peer store (`--write-prometheus`): every value
//! the Vantage server stores of a host sample, quantised as it stores them, with the
//! sample's own time, so both stores hold the same samples.
use std::io::Write;

use agent::collect::HostSample;

/// Hundredths, as the server keeps percentages and load averages.
fn hundredths(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// One stored value: its metric name, its label (name and value) if any, the value.
pub(crate) type Value = (&'static str, Option<(&'static str, String)>, f64);

/// The values the server stores of one host sample, with their Prometheus names and
/// labels: the twelve totals of a raw history row (`store::history::layout::Raw`) and the
/// labelled series (`store::samples::host_series`: each core, swap, load, each file system
/// and interface), scaled as `store::history::series::scale` does.
pub(crate) fn stored_values(s: &HostSample) -> Vec<Value> {
    let total = |name, v| (name, None, v);
    let mut out = vec![
        total("vantage_cpu_percent", hundredths(s.cpu.total_pct)),
        total("vantage_load1", hundredths(s.load.one)),
        total("vantage_load5", hundredths(s.load.five)),
        total("vantage_load15", hundredths(s.load.fifteen)),
        total("vantage_memory_total_bytes", s.memory.total_bytes as f64),
        total("vantage_memory_used_bytes", s.memory.used_bytes as f64),
        total("vantage_swap_total_bytes", s.memory.swap_total_bytes as f64),
        total("vantage_swap_used_bytes", s.memory.swap_used_bytes as f64),
        total("vantage_disk_size_bytes", s.disk_size_bytes() as f64),
        total("vantage_disk_used_bytes", s.disk_used_bytes() as f64),
        total(
            "vantage_net_rx_bytes_per_second",
            s.net_rx_bytes_per_s().round(),
        ),
        total(
            "vantage_net_tx_bytes_per_second",
            s.net_tx_bytes_per_s().round(),
        ),
    ];
    for (i, pct) in s.cpu.per_core_pct.iter().enumerate() {
        out.push((
            "vantage_cpu_core_percent",
            Some(("core", i.to_string())),
            hundredths(*pct),
        ));
    }
    if s.memory.swap_total_bytes > 0 {
        let used = agent::collect::percent(
            s.memory.swap_used_bytes as f64,
            s.memory.swap_total_bytes as f64,
        );
        out.push(("vantage_swap_used_percent", None, hundredths(used)));
    }
    for (label, v) in [
        ("1m", s.load.one),
        ("5m", s.load.five),
        ("15m", s.load.fifteen),
    ] {
        out.push((
            "vantage_load",
            Some(("window", label.to_owned())),
            hundredths(v),
        ));
    }
    for fs in &s.filesystems {
        out.push((
            "vantage_filesystem_used_percent",
            Some(("mount", fs.mount_point.clone())),
            hundredths(fs.used_pct()),
        ));
    }
    for i in &s.network {
        let label = Some(("interface", i.name.clone()));
        out.push((
            "vantage_interface_rx_bytes_per_second",
            label.clone(),
            i.rx_bytes_per_s.round(),
        ));
        out.push((
            "vantage_interface_tx_bytes_per_second",
            label,
            i.tx_bytes_per_s.round(),
        ));
    }
    out
}

/// Writes `count` samples of each of `agents` simulated hosts, `sample(i, k)` the k-th of
/// host i, as Prometheus text lines with millisecond timestamps. Returns the values written.
pub(crate) fn write_past(
    out: &mut impl Write,
    agents: usize,
    count: u64,
    sample: impl Fn(usize, u64) -> proto::Event,
) -> std::io::Result<u64> {
    let mut written = 0;
    let mut line = String::with_capacity(128);
    for i in 0..agents {
        let host = format!("loadgen-{i}");
        for k in 0..count {
            let event = sample(i, k);
            let Some(proto::event::Body::HostSample(wire)) = event.body else {
                continue;
            };
            let s = agent::stream::wire::host_sample_from_wire(event.time_ms, wire);
            for (name, label, value) in stored_values(&s) {
                use std::fmt::Write as _;
                line.clear();
                let _ = match label {
                    Some((key, v)) => writeln!(
                        line,
                        "{name}{{host=\"{host}\",{key}=\"{v}\"}} {value} {}",
                        event.time_ms
                    ),
                    None => writeln!(line, "{name}{{host=\"{host}\"}} {value} {}", event.time_ms),
                };
                out.write_all(line.as_bytes())?;
                written += 1;
            }
        }
    }
    out.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_value_of_a_sample_is_written_once_with_its_time() {
        let mut out = Vec::new();
        let written = write_past(&mut out, 2, 3, |i, k| {
            crate::drive::host_sample(1_700_000_000_000 + k as i64 * 10_000, i as u64)
        })
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(written, 2 * 3 * crate::drive::VALUES_PER_EVENT);
        assert_eq!(text.lines().count() as u64, written);
        let cpu: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("vantage_cpu_percent{host=\"loadgen-1\"}"))
            .collect();
        assert_eq!(cpu.len(), 3);
        assert!(cpu[2].ends_with(" 1700000020000"), "{}", cpu[2]);
        // Quantised as stored: at most two decimals.
        let value = cpu[0].split(' ').nth(1).unwrap();
        assert!(
            value.split_once('.').is_none_or(|(_, d)| d.len() <= 2),
            "{value}"
        );
        assert!(
            text.contains("vantage_filesystem_used_percent{host=\"loadgen-0\",mount=\"/fs1\"} ")
        );
    }
}
