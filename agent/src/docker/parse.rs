//! Pure parsers over Docker Engine API JSON, tested on captured answers.
use serde::Deserialize;

/// `GET /containers/json?all=1` into protocol containers.
pub fn parse_container_list(json: &[u8]) -> Result<Vec<proto::Container>, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Item {
        id: String,
        #[serde(default)]
        names: Vec<String>,
        #[serde(default)]
        image: String,
        #[serde(default)]
        state: String,
        #[serde(default)]
        status: String,
        #[serde(default)]
        created: i64,
        #[serde(default)]
        labels: Option<std::collections::HashMap<String, String>>,
    }
    let items: Vec<Item> = serde_json::from_slice(json)?;
    Ok(items
        .into_iter()
        .map(|i| proto::Container {
            health: health_from_status(&i.status).to_owned(),
            name: i
                .names
                .first()
                .map(|n| n.trim_start_matches('/').to_owned())
                .unwrap_or_default(),
            container_id: i.id,
            image: i.image,
            state: i.state,
            status: i.status,
            created_unix: i.created,
            labels: i.labels.unwrap_or_default(),
        })
        .collect())
}

fn health_from_status(status: &str) -> &'static str {
    if status.contains("(healthy)") {
        "healthy"
    } else if status.contains("(unhealthy)") {
        "unhealthy"
    } else if status.contains("(health: starting)") {
        "starting"
    } else {
        ""
    }
}

/// The cumulative counters of one `GET /containers/{id}/stats?stream=false` answer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StatsSnapshot {
    pub cpu_total_ns: u64,
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    /// Usage minus the page cache, as `docker stats` shows it.
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
}

/// Parses one stats answer.
pub fn parse_stats(json: &[u8]) -> Result<StatsSnapshot, serde_json::Error> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Stats {
        cpu_stats: CpuStats,
        memory_stats: MemoryStats,
        networks: Option<std::collections::HashMap<String, Network>>,
        blkio_stats: BlkioStats,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct CpuStats {
        cpu_usage: CpuUsage,
        system_cpu_usage: u64,
        online_cpus: u32,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct CpuUsage {
        total_usage: u64,
        percpu_usage: Option<Vec<u64>>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct MemoryStats {
        usage: u64,
        limit: u64,
        stats: std::collections::HashMap<String, u64>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Network {
        rx_bytes: u64,
        tx_bytes: u64,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct BlkioStats {
        io_service_bytes_recursive: Option<Vec<Blkio>>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Blkio {
        op: String,
        value: u64,
    }
    let s: Stats = serde_json::from_slice(json)?;
    // cgroup v1 reports the page cache as `cache` (or total_inactive_file), v2 as inactive_file.
    let cache = ["total_inactive_file", "inactive_file", "cache"]
        .iter()
        .find_map(|k| s.memory_stats.stats.get(*k))
        .copied()
        .unwrap_or(0);
    let online = if s.cpu_stats.online_cpus > 0 {
        s.cpu_stats.online_cpus
    } else {
        s.cpu_stats
            .cpu_usage
            .percpu_usage
            .as_ref()
            .map_or(1, |p| p.len().max(1) as u32)
    };
    let networks = s.networks.unwrap_or_default();
    let blkio = s.blkio_stats.io_service_bytes_recursive.unwrap_or_default();
    let block = |op: &str| {
        blkio
            .iter()
            .filter(|b| b.op.eq_ignore_ascii_case(op))
            .map(|b| b.value)
            .sum()
    };
    Ok(StatsSnapshot {
        cpu_total_ns: s.cpu_stats.cpu_usage.total_usage,
        system_cpu_ns: s.cpu_stats.system_cpu_usage,
        online_cpus: online,
        memory_bytes: s.memory_stats.usage.saturating_sub(cache),
        memory_limit_bytes: s.memory_stats.limit,
        net_rx_bytes: networks.values().map(|n| n.rx_bytes).sum(),
        net_tx_bytes: networks.values().map(|n| n.tx_bytes).sum(),
        block_read_bytes: block("read"),
        block_write_bytes: block("write"),
    })
}

/// A container's figures between two snapshots `elapsed_s` apart. CPU is a share of the
/// whole host as `docker stats` computes it (100 % per core).
pub fn container_sample(
    id: &str,
    name: &str,
    earlier: &StatsSnapshot,
    later: &StatsSnapshot,
    elapsed_s: f64,
) -> proto::ContainerSample {
    let cpu_delta = later.cpu_total_ns.saturating_sub(earlier.cpu_total_ns) as f64;
    let system_delta = later.system_cpu_ns.saturating_sub(earlier.system_cpu_ns) as f64;
    let cpu_pct = if system_delta > 0.0 {
        cpu_delta / system_delta * f64::from(later.online_cpus) * 100.0
    } else {
        0.0
    };
    let rate = |a: u64, b: u64| {
        if elapsed_s > 0.0 {
            b.saturating_sub(a) as f64 / elapsed_s
        } else {
            0.0
        }
    };
    proto::ContainerSample {
        container_id: id.to_owned(),
        name: name.to_owned(),
        cpu_pct,
        memory_bytes: later.memory_bytes,
        memory_limit_bytes: later.memory_limit_bytes,
        net_rx_bytes_per_s: rate(earlier.net_rx_bytes, later.net_rx_bytes),
        net_tx_bytes_per_s: rate(earlier.net_tx_bytes, later.net_tx_bytes),
        block_read_bytes_per_s: rate(earlier.block_read_bytes, later.block_read_bytes),
        block_write_bytes_per_s: rate(earlier.block_write_bytes, later.block_write_bytes),
    }
}

/// One line of `GET /events`: a container lifecycle event we report, or `None`.
pub fn parse_event(json: &[u8]) -> Option<(i64, proto::ContainerEvent)> {
    #[derive(Deserialize)]
    struct Event {
        #[serde(rename = "Type", default)]
        kind: String,
        #[serde(rename = "Action", default)]
        action: String,
        #[serde(rename = "Actor", default)]
        actor: Actor,
        #[serde(rename = "timeNano", default)]
        time_nano: i64,
    }
    #[derive(Deserialize, Default)]
    struct Actor {
        #[serde(rename = "ID", default)]
        id: String,
        #[serde(rename = "Attributes", default)]
        attributes: std::collections::HashMap<String, String>,
    }
    let e: Event = serde_json::from_slice(json).ok()?;
    if e.kind != "container" {
        return None;
    }
    // "health_status: healthy" carries its detail after the colon.
    let (action, detail) = match e.action.split_once(": ") {
        Some((a, d)) => (a.to_owned(), d.to_owned()),
        None => (
            e.action.clone(),
            e.actor
                .attributes
                .get("exitCode")
                .map(|c| format!("exit code {c}"))
                .unwrap_or_default(),
        ),
    };
    if !matches!(
        action.as_str(),
        "start" | "stop" | "die" | "pause" | "unpause" | "health_status"
    ) {
        return None;
    }
    let name = e.actor.attributes.get("name").cloned().unwrap_or_default();
    Some((
        e.time_nano / 1_000_000,
        proto::ContainerEvent {
            container_id: e.actor.id,
            name,
            action,
            detail,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_containers_with_names_labels_and_health() {
        let list = parse_container_list(include_bytes!(
            "../../tests/fixtures/docker/containers.json"
        ))
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            (
                list[0].name.as_str(),
                list[0].state.as_str(),
                list[0].health.as_str()
            ),
            ("web", "running", "healthy")
        );
        assert_eq!(list[0].labels["com.docker.compose.service"], "web");
        assert_eq!(
            (
                list[1].name.as_str(),
                list[1].state.as_str(),
                list[1].health.as_str()
            ),
            ("batch", "exited", "")
        );
        assert!(parse_container_list(b"{\"message\":\"nope\"}").is_err());
    }

    #[test]
    fn stats_give_cpu_memory_network_and_block_rates() {
        let a = parse_stats(include_bytes!("../../tests/fixtures/docker/stats-1.json")).unwrap();
        let b = parse_stats(include_bytes!("../../tests/fixtures/docker/stats-2.json")).unwrap();
        assert_eq!(a.memory_bytes, 40 * 1024 * 1024, "usage minus page cache");
        let s = container_sample("id", "web", &a, &b, 10.0);
        // 2 s of CPU over 20 s of system time on 2 cores = 20 %.
        assert!((s.cpu_pct - 20.0).abs() < 1e-9, "{}", s.cpu_pct);
        assert_eq!(s.memory_bytes, 50 * 1024 * 1024);
        assert_eq!(s.net_rx_bytes_per_s, 2000.0);
        assert_eq!(s.net_tx_bytes_per_s, 100.0);
        assert_eq!(s.block_read_bytes_per_s, 1000.0);
        assert_eq!(s.block_write_bytes_per_s, 0.0);
    }

    #[test]
    fn events_of_interest_only() {
        let die = br#"{"status":"die","id":"abc","Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"137","name":"web"}},"time":1795000000,"timeNano":1795000000123456789}"#;
        let (ms, e) = parse_event(die).unwrap();
        assert_eq!(ms, 1_795_000_000_123);
        assert_eq!(
            (e.action.as_str(), e.name.as_str(), e.detail.as_str()),
            ("die", "web", "exit code 137")
        );
        let health = br#"{"Type":"container","Action":"health_status: unhealthy","Actor":{"ID":"abc","Attributes":{"name":"web"}},"timeNano":1}"#;
        let (_, e) = parse_event(health).unwrap();
        assert_eq!(
            (e.action.as_str(), e.detail.as_str()),
            ("health_status", "unhealthy")
        );
        let exec = br#"{"Type":"container","Action":"exec_start: sh","Actor":{"ID":"abc","Attributes":{}},"timeNano":1}"#;
        assert!(parse_event(exec).is_none());
        assert!(parse_event(br#"{"Type":"network","Action":"connect"}"#).is_none());
        assert!(parse_event(b"garbage").is_none());
    }
}
