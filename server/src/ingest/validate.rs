//! The edge of the ingest: every batch and event an agent sends is checked here, before any
//! of it reaches the store, the live state or the rollups. A refused event is named by its
//! sequence number and code, so the agent can drop and count it instead of resending it.
use proto::event::Body;

/// Most events one batch may hold (the agent sends 16; the load generator up to a few hundred).
pub const MAX_BATCH_EVENTS: usize = 1000;
/// How far ahead of the server's clock an event may be dated.
pub const MAX_FUTURE_MS: i64 = 5 * 60_000;

/// Largest byte count, rate or total an agent can honestly report (1 EiB): far above any host,
/// and small enough that sums of a few thousand never overflow an `i64`.
const MAX_BYTES: u64 = 1 << 60;
const MAX_RATE: f64 = MAX_BYTES as f64;
/// Generous bounds on lists, so one event cannot make the server allocate without limit.
const MAX_CORES: usize = 4096;
const MAX_FILESYSTEMS: usize = 1024;
const MAX_INTERFACES: usize = 1024;
const MAX_PROCESSES: usize = 64;
const MAX_CONTAINERS: usize = 10_000;
const MAX_CONTAINER_LABELS: usize = 512;
const MAX_SANS: usize = 1000;
/// Percentages a little over 100 come from rounding in the collectors.
const MAX_PCT: f64 = 101.0;
/// Container CPU is per core summed: a 4096-core host at full use.
const MAX_CONTAINER_CPU_PCT: f64 = 100.0 * MAX_CORES as f64;

/// Why a batch or an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The in-stream error code: `InvalidBatch` or `InvalidEvent`.
    pub code: proto::ErrorCode,
    /// What was wrong, for the agent's log.
    pub message: String,
}

fn event_error(message: impl Into<String>) -> Invalid {
    Invalid {
        code: proto::ErrorCode::InvalidEvent,
        message: message.into(),
    }
}

/// The times an event may carry: not before `oldest_ms` (older history is past retention)
/// and not more than [`MAX_FUTURE_MS`] after `now_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub oldest_ms: i64,
    pub now_ms: i64,
}

/// Checks a batch's numbering: sequence numbers start at 1, the last one fits the store's
/// signed 64-bit column, and the batch is not larger than [`MAX_BATCH_EVENTS`].
pub fn check_batch(batch: &proto::EventBatch) -> Result<(), Invalid> {
    let refuse = |message: String| {
        Err(Invalid {
            code: proto::ErrorCode::InvalidBatch,
            message,
        })
    };
    if batch.events.len() > MAX_BATCH_EVENTS {
        return refuse(format!(
            "a batch holds at most {MAX_BATCH_EVENTS} events, not {}",
            batch.events.len()
        ));
    }
    if batch.first_seq == 0 {
        return refuse("sequence numbers start at 1".into());
    }
    let last = batch.first_seq.checked_add(batch.events.len() as u64);
    if last.is_none_or(|l| l > i64::MAX as u64) {
        return refuse(format!(
            "first_seq {} leaves no room for {} events",
            batch.first_seq,
            batch.events.len()
        ));
    }
    if batch.dropped_total > i64::MAX as u64 {
        return refuse("dropped_total is out of range".into());
    }
    Ok(())
}

/// Checks one event: its time, every number and every string.
pub fn check_event(event: &proto::Event, window: Window) -> Result<(), Invalid> {
    if event.time_ms < window.oldest_ms {
        return Err(event_error(format!(
            "time_ms {} is older than the server keeps history",
            event.time_ms
        )));
    }
    if event.time_ms > window.now_ms.saturating_add(MAX_FUTURE_MS) {
        return Err(event_error(format!(
            "time_ms {} is more than 5 minutes ahead of the server's clock",
            event.time_ms
        )));
    }
    match &event.body {
        Some(Body::HostSample(s)) => host_sample(s),
        Some(Body::ContainerSample(s)) => container_sample(s),
        Some(Body::ContainerEvent(e)) => {
            name("container_id", &e.container_id, 128)?;
            name("name", &e.name, 255)?;
            name("action", &e.action, 64)?;
            free_text("detail", &e.detail, 4096)
        }
        Some(Body::ContainerList(list)) => {
            if list.containers.len() > MAX_CONTAINERS {
                return Err(event_error(
                    "a container list holds at most 10000 containers",
                ));
            }
            list.containers.iter().try_for_each(container)
        }
        Some(Body::CertificateScan(scan)) => certificate_scan(scan),
        Some(Body::Inventory(snapshot)) => inventory(snapshot),
        None => Err(event_error("the event has no body")),
    }
}

fn inventory(s: &proto::InventorySnapshot) -> Result<(), Invalid> {
    let max = agent::inventory::MAX_ITEMS;
    for (what, n) in [
        ("units", s.units.len()),
        ("containers", s.containers.len()),
        ("compose_services", s.compose_services.len()),
        ("processes", s.processes.len()),
    ] {
        if n > max {
            return Err(event_error(format!(
                "an inventory holds at most {max} {what}, not {n}"
            )));
        }
    }
    if s.errors.len() > 16 {
        return Err(event_error("an inventory holds at most 16 errors"));
    }
    for e in &s.errors {
        free_text("error", e, 1024)?;
    }
    for u in &s.units {
        name("unit name", &u.name, 255)?;
        for (field, v) in [
            ("load_state", &u.load_state),
            ("active_state", &u.active_state),
            ("sub_state", &u.sub_state),
        ] {
            name(field, v, 64)?;
        }
        free_text("description", &u.description, 1024)?;
    }
    for c in &s.containers {
        name("container name", &c.name, 255)?;
        free_text("image", &c.image, 1024)?;
        name("state", &c.state, 64)?;
    }
    for c in &s.compose_services {
        name("project", &c.project, 255)?;
        name("service", &c.service, 255)?;
        name("state", &c.state, 64)?;
    }
    for p in &s.processes {
        name("exe", &p.exe, 4096)?;
        name("user", &p.user, 64)?;
    }
    Ok(())
}

fn host_sample(s: &proto::HostSample) -> Result<(), Invalid> {
    name("hostname", &s.hostname, 253)?;
    pct("cpu_pct", s.cpu_pct)?;
    if s.cpu_per_core_pct.len() > MAX_CORES {
        return Err(event_error("cpu_per_core_pct holds at most 4096 cores"));
    }
    s.cpu_per_core_pct
        .iter()
        .try_for_each(|v| pct("cpu_per_core_pct", *v))?;
    for (field, v) in [("load1", s.load1), ("load5", s.load5), ("load15", s.load15)] {
        bounded(field, v, 1e6)?;
    }
    for (field, v) in [
        ("memory_total_bytes", s.memory_total_bytes),
        ("memory_available_bytes", s.memory_available_bytes),
        ("memory_used_bytes", s.memory_used_bytes),
        ("swap_total_bytes", s.swap_total_bytes),
        ("swap_used_bytes", s.swap_used_bytes),
        ("uptime_s", s.uptime_s),
    ] {
        bytes(field, v)?;
    }
    if s.filesystems.len() > MAX_FILESYSTEMS {
        return Err(event_error("a sample holds at most 1024 file systems"));
    }
    for f in &s.filesystems {
        name("mount_point", &f.mount_point, 4096)?;
        name("device", &f.device, 4096)?;
        name("fs_type", &f.fs_type, 64)?;
        bytes("total_bytes", f.total_bytes)?;
        bytes("used_bytes", f.used_bytes)?;
        bytes("available_bytes", f.available_bytes)?;
    }
    if s.interfaces.len() > MAX_INTERFACES {
        return Err(event_error("a sample holds at most 1024 interfaces"));
    }
    for i in &s.interfaces {
        name("interface name", &i.name, 64)?;
        bounded("rx_bytes_per_s", i.rx_bytes_per_s, MAX_RATE)?;
        bounded("tx_bytes_per_s", i.tx_bytes_per_s, MAX_RATE)?;
    }
    if s.processes.len() > MAX_PROCESSES {
        return Err(event_error("a sample holds at most 64 processes"));
    }
    for p in &s.processes {
        free_text("process name", &p.name, 64)?;
        free_text("process user", &p.user, 64)?;
        bounded("process cpu_pct", p.cpu_pct, MAX_CONTAINER_CPU_PCT)?;
        bytes("rss_bytes", p.rss_bytes)?;
    }
    Ok(())
}

fn container_sample(s: &proto::ContainerSample) -> Result<(), Invalid> {
    name("container_id", &s.container_id, 128)?;
    name("name", &s.name, 255)?;
    bounded("cpu_pct", s.cpu_pct, MAX_CONTAINER_CPU_PCT)?;
    bytes("memory_bytes", s.memory_bytes)?;
    bytes("memory_limit_bytes", s.memory_limit_bytes)?;
    for (field, v) in [
        ("net_rx_bytes_per_s", s.net_rx_bytes_per_s),
        ("net_tx_bytes_per_s", s.net_tx_bytes_per_s),
        ("block_read_bytes_per_s", s.block_read_bytes_per_s),
        ("block_write_bytes_per_s", s.block_write_bytes_per_s),
    ] {
        bounded(field, v, MAX_RATE)?;
    }
    Ok(())
}

fn container(c: &proto::Container) -> Result<(), Invalid> {
    name("container_id", &c.container_id, 128)?;
    name("name", &c.name, 255)?;
    name("image", &c.image, 1024)?;
    name("state", &c.state, 64)?;
    free_text("status", &c.status, 1024)?;
    name("health", &c.health, 64)?;
    if c.labels.len() > MAX_CONTAINER_LABELS {
        return Err(event_error("a container has at most 512 labels"));
    }
    for (k, v) in &c.labels {
        name("label key", k, 1024)?;
        free_text("label value", v, 16 * 1024)?;
    }
    Ok(())
}

fn certificate_scan(s: &proto::CertificateScan) -> Result<(), Invalid> {
    name("target", &s.target, 4096)?;
    free_text("subject", &s.subject, 4096)?;
    free_text("issuer", &s.issuer, 4096)?;
    free_text("error", &s.error, 4096)?;
    if s.sans.len() > MAX_SANS {
        return Err(event_error("a certificate has at most 1000 names"));
    }
    s.sans.iter().try_for_each(|n| name("san", n, 1024))
}

fn name(field: &str, text: &str, max: usize) -> Result<(), Invalid> {
    app::text::check_name(field, text, max).map_err(event_error)
}

fn free_text(field: &str, text: &str, max: usize) -> Result<(), Invalid> {
    if text.len() > max {
        return Err(event_error(format!("{field} is at most {max} bytes")));
    }
    match app::text::forbidden_in_free_text(text) {
        Some(c) => Err(event_error(format!(
            "{field} holds the control character U+{:04X}",
            c as u32
        ))),
        None => Ok(()),
    }
}

fn bounded(field: &str, v: f64, max: f64) -> Result<(), Invalid> {
    if v.is_finite() && (0.0..=max).contains(&v) {
        Ok(())
    } else {
        Err(event_error(format!(
            "{field} = {v} is not between 0 and {max}"
        )))
    }
}

fn pct(field: &str, v: f64) -> Result<(), Invalid> {
    bounded(field, v, MAX_PCT)
}

fn bytes(field: &str, v: u64) -> Result<(), Invalid> {
    if v <= MAX_BYTES {
        Ok(())
    } else {
        Err(event_error(format!("{field} = {v} is out of range")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000_000;
    const WINDOW: Window = Window {
        oldest_ms: NOW - 7 * 86_400_000,
        now_ms: NOW,
    };

    fn sample(s: proto::HostSample) -> proto::Event {
        proto::Event {
            time_ms: NOW,
            body: Some(Body::HostSample(s)),
        }
    }

    #[test]
    fn an_honest_sample_passes() {
        let mut collector = agent::collect::HostCollector::new("/proc").unwrap();
        let s = collector.collect().unwrap();
        assert_eq!(
            check_event(&sample(proto::HostSample::from(&s)), WINDOW),
            Ok(())
        );
    }

    #[test]
    fn times_outside_the_window_are_refused() {
        for time_ms in [
            i64::MIN,
            i64::MAX,
            WINDOW.oldest_ms - 1,
            NOW + MAX_FUTURE_MS + 1,
        ] {
            let event = proto::Event {
                time_ms,
                ..sample(Default::default())
            };
            assert_eq!(
                check_event(&event, WINDOW).unwrap_err().code,
                proto::ErrorCode::InvalidEvent
            );
        }
        let edge = proto::Event {
            time_ms: NOW + MAX_FUTURE_MS,
            ..sample(Default::default())
        };
        assert!(check_event(&edge, WINDOW).is_ok());
    }

    #[test]
    fn bad_figures_and_strings_are_refused() {
        let bad = [
            proto::HostSample {
                cpu_pct: f64::NAN,
                ..Default::default()
            },
            proto::HostSample {
                cpu_pct: -1.0,
                ..Default::default()
            },
            proto::HostSample {
                load1: f64::INFINITY,
                ..Default::default()
            },
            proto::HostSample {
                memory_total_bytes: u64::MAX,
                ..Default::default()
            },
            proto::HostSample {
                hostname: "a\0b".into(),
                ..Default::default()
            },
            proto::HostSample {
                hostname: "a\nforged log line".into(),
                ..Default::default()
            },
            proto::HostSample {
                filesystems: vec![proto::Filesystem {
                    used_bytes: u64::MAX,
                    ..Default::default()
                }],
                ..Default::default()
            },
            proto::HostSample {
                cpu_per_core_pct: vec![0.0; MAX_CORES + 1],
                ..Default::default()
            },
        ];
        for s in bad {
            assert!(check_event(&sample(s.clone()), WINDOW).is_err(), "{s:?}");
        }
        let body_less = proto::Event {
            time_ms: NOW,
            body: None,
        };
        assert!(check_event(&body_less, WINDOW).is_err());
    }

    #[test]
    fn batches_must_number_sanely() {
        let batch = |first_seq, n| proto::EventBatch {
            first_seq,
            events: vec![sample(Default::default()); n],
            ..Default::default()
        };
        assert!(check_batch(&batch(1, 16)).is_ok());
        assert!(check_batch(&batch(0, 1)).is_err());
        assert!(check_batch(&batch(u64::MAX, 1)).is_err());
        assert!(check_batch(&batch(i64::MAX as u64, 1)).is_err());
        assert!(check_batch(&batch(i64::MAX as u64 - 1, 1)).is_ok());
        assert!(check_batch(&batch(1, MAX_BATCH_EVENTS + 1)).is_err());
        let dropped = proto::EventBatch {
            dropped_total: u64::MAX,
            ..batch(1, 1)
        };
        assert!(check_batch(&dropped).is_err());
    }

    proptest! {
        /// Whatever an agent sends, checking never panics, and what passes can be stored:
        /// its time is in the window and every figure is finite and in range.
        #[test]
        fn the_validator_never_panics_and_passes_only_storable_samples(
            time_ms in any::<i64>(),
            cpu in any::<f64>(),
            load in any::<f64>(),
            total in any::<u64>(),
            used in any::<u64>(),
            hostname in ".{0,40}",
            rate in any::<f64>(),
        ) {
            let event = proto::Event {
                time_ms,
                body: Some(Body::HostSample(proto::HostSample {
                    hostname,
                    cpu_pct: cpu,
                    load1: load,
                    memory_total_bytes: total,
                    memory_used_bytes: used,
                    filesystems: vec![proto::Filesystem { total_bytes: total, used_bytes: used, ..Default::default() }; 3],
                    interfaces: vec![proto::Interface { name: "eth0".into(), rx_bytes_per_s: rate, tx_bytes_per_s: rate }],
                    ..Default::default()
                })),
            };
            if check_event(&event, WINDOW).is_ok() {
                prop_assert!((WINDOW.oldest_ms..=NOW + MAX_FUTURE_MS).contains(&time_ms));
                prop_assert!(cpu.is_finite() && (0.0..=MAX_PCT).contains(&cpu));
                prop_assert!(load.is_finite() && load >= 0.0);
                prop_assert!(total <= MAX_BYTES && used <= MAX_BYTES);
                prop_assert!(rate.is_finite() && rate >= 0.0);
                let sample = agent::stream::wire::host_sample_from_wire(time_ms, match event.body {
                    Some(Body::HostSample(s)) => s,
                    _ => unreachable!(),
                });
                let row = crate::store::SampleRow::from_host(None, &sample);
                prop_assert!(row.disk_used >= 0 && row.disk_total >= 0);
            }
        }

        #[test]
        fn batch_numbering_never_overflows(first_seq in any::<u64>(), n in 0usize..40) {
            let batch = proto::EventBatch {
                first_seq,
                events: vec![proto::Event::default(); n],
                ..Default::default()
            };
            if check_batch(&batch).is_ok() {
                prop_assert!(first_seq >= 1);
                prop_assert!(first_seq.checked_add(n as u64).is_some_and(|l| l <= i64::MAX as u64));
            }
        }
    }
}
