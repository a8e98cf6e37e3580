//! Conversions between the collectors' types and the protocol messages.
use crate::collect::{
    CpuUsage, FilesystemUsage, HostSample, InterfaceRate, LoadAverage, Memory, ProcessUsage,
};

impl From<&HostSample> for proto::HostSample {
    fn from(s: &HostSample) -> Self {
        proto::HostSample {
            hostname: s.hostname.clone(),
            uptime_s: s.uptime_s,
            cpu_pct: s.cpu.total_pct,
            cpu_per_core_pct: s.cpu.per_core_pct.clone(),
            load1: s.load.one,
            load5: s.load.five,
            load15: s.load.fifteen,
            memory_total_bytes: s.memory.total_bytes,
            memory_available_bytes: s.memory.available_bytes,
            memory_used_bytes: s.memory.used_bytes,
            swap_total_bytes: s.memory.swap_total_bytes,
            swap_used_bytes: s.memory.swap_used_bytes,
            filesystems: s
                .filesystems
                .iter()
                .map(|f| proto::Filesystem {
                    mount_point: f.mount_point.clone(),
                    device: f.device.clone(),
                    fs_type: f.fs_type.clone(),
                    total_bytes: f.total_bytes,
                    used_bytes: f.used_bytes,
                    available_bytes: f.available_bytes,
                })
                .collect(),
            interfaces: s
                .network
                .iter()
                .map(|i| proto::Interface {
                    name: i.name.clone(),
                    rx_bytes_per_s: i.rx_bytes_per_s,
                    tx_bytes_per_s: i.tx_bytes_per_s,
                })
                .collect(),
            processes: s
                .processes
                .iter()
                .map(|p| proto::Process {
                    pid: p.pid,
                    name: p.name.clone(),
                    user: p.user.clone(),
                    cpu_pct: p.cpu_pct,
                    rss_bytes: p.rss_bytes,
                })
                .collect(),
        }
    }
}

/// Rebuilds a collector sample from the wire, with the time the event carries. Figures a
/// remote agent cannot have produced (percentages outside 0 to 100, NaN) are clamped.
pub fn host_sample_from_wire(time_ms: i64, s: proto::HostSample) -> HostSample {
    let pct = |v: f64| {
        if v.is_finite() {
            v.clamp(0.0, 100.0)
        } else {
            0.0
        }
    };
    let non_negative = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
    HostSample {
        taken_at_ms: time_ms,
        hostname: s.hostname,
        uptime_s: s.uptime_s,
        cpu: CpuUsage {
            total_pct: pct(s.cpu_pct),
            per_core_pct: s.cpu_per_core_pct.into_iter().map(pct).collect(),
        },
        load: LoadAverage {
            one: non_negative(s.load1),
            five: non_negative(s.load5),
            fifteen: non_negative(s.load15),
        },
        memory: Memory {
            total_bytes: s.memory_total_bytes,
            available_bytes: s.memory_available_bytes.min(s.memory_total_bytes),
            used_bytes: s.memory_used_bytes.min(s.memory_total_bytes),
            swap_total_bytes: s.swap_total_bytes,
            swap_used_bytes: s.swap_used_bytes.min(s.swap_total_bytes),
        },
        filesystems: s
            .filesystems
            .into_iter()
            .map(|f| FilesystemUsage {
                mount_point: f.mount_point,
                device: f.device,
                fs_type: f.fs_type,
                total_bytes: f.total_bytes,
                used_bytes: f.used_bytes,
                available_bytes: f.available_bytes,
            })
            .collect(),
        network: s
            .interfaces
            .into_iter()
            .map(|i| InterfaceRate {
                name: i.name,
                rx_bytes_per_s: non_negative(i.rx_bytes_per_s),
                tx_bytes_per_s: non_negative(i.tx_bytes_per_s),
            })
            .collect(),
        processes: s
            .processes
            .into_iter()
            .map(|p| ProcessUsage {
                pid: p.pid,
                name: p.name,
                user: p.user,
                cpu_pct: non_negative(p.cpu_pct),
                rss_bytes: p.rss_bytes,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_survives_the_wire_and_bad_figures_are_clamped() {
        let mut collector = crate::collect::HostCollector::new("/proc").unwrap();
        let sample = collector.collect().unwrap();
        let back = host_sample_from_wire(sample.taken_at_ms, proto::HostSample::from(&sample));
        assert_eq!(back, sample);
        let hostile = proto::HostSample {
            cpu_pct: f64::NAN,
            cpu_per_core_pct: vec![250.0],
            ..Default::default()
        };
        let clamped = host_sample_from_wire(0, hostile);
        assert_eq!(clamped.cpu.total_pct, 0.0);
        assert_eq!(clamped.cpu.per_core_pct, vec![100.0]);
    }
}
