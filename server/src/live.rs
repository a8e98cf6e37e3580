//! The newest sample of each host, in memory, and the bus that pushes changes to SSE clients.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use agent::collect::HostSample;
use app::{
    ConnectionState, FilesystemFigures, HostFigures, HostSummary, InterfaceFigures, LOCAL_AGENT_ID,
};
use tokio::sync::broadcast;

/// Something the dashboard wants to hear about as it happens.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A host sent a new sample.
    HostSample(Box<HostSummary>),
    /// An agent connected or went away.
    AgentStatus {
        agent_id: String,
        connection_state: ConnectionState,
    },
    /// An alert fired, resolved or was acknowledged.
    Alert(Box<app::alerts::Alert>),
    /// A container started, stopped, died, paused, unpaused or changed health.
    ContainerEvent {
        agent_id: String,
        container_id: String,
        name: String,
        action: String,
        detail: String,
        time_ms: i64,
    },
    /// A tracked app's observed state changed.
    AppState {
        agent_id: String,
        app_id: i64,
        observed_state: app::apps::ObservedState,
        mismatch: bool,
    },
    /// An agent answered a restart.
    ActionResult {
        agent_id: String,
        app_id: i64,
        eat_id: String,
        state: app::apps::ActionState,
    },
}

/// A live event as every listener sends it: named and serialised once, when published, however
/// many dashboards are open.
#[derive(Debug)]
pub struct Published {
    pub name: &'static str,
    pub data: String,
}

impl LiveEvent {
    /// This event, serialised for the listeners.
    pub fn published(&self) -> Arc<Published> {
        Arc::new(Published {
            name: self.name(),
            data: self.json(),
        })
    }

    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::HostSample(_) => "host_sample",
            LiveEvent::AgentStatus { .. } => "agent_status",
            LiveEvent::ContainerEvent { .. } => "container_event",
            LiveEvent::Alert(_) => "alert",
            LiveEvent::AppState { .. } => "app_state",
            LiveEvent::ActionResult { .. } => "action_result",
        }
    }

    /// The SSE data line.
    pub fn json(&self) -> String {
        match self {
            LiveEvent::HostSample(summary) => serde_json::to_string(summary).unwrap_or_default(),
            LiveEvent::Alert(alert) => serde_json::to_string(alert).unwrap_or_default(),
            LiveEvent::AgentStatus {
                agent_id,
                connection_state,
            } => serde_json::to_string(&AgentStatusData {
                agent_id,
                connection_state: *connection_state,
            })
            .unwrap_or_default(),
            LiveEvent::ContainerEvent {
                agent_id,
                container_id,
                name,
                action,
                detail,
                time_ms,
            } => serde_json::to_string(&ContainerEventData {
                agent_id,
                container_id,
                name,
                action,
                detail,
                time: app::rfc3339_from_millis(*time_ms),
            })
            .unwrap_or_default(),
            LiveEvent::AppState {
                agent_id,
                app_id,
                observed_state,
                mismatch,
            } => serde_json::to_string(&AppStateData {
                agent_id,
                app_id: *app_id,
                observed_state: *observed_state,
                mismatch: *mismatch,
            })
            .unwrap_or_default(),
            LiveEvent::ActionResult {
                agent_id,
                app_id,
                eat_id,
                state,
            } => serde_json::to_string(&ActionResultData {
                agent_id,
                app_id: *app_id,
                eat_id,
                state: *state,
            })
            .unwrap_or_default(),
        }
    }
}

#[derive(serde::Serialize)]
struct AppStateData<'a> {
    agent_id: &'a str,
    app_id: i64,
    observed_state: app::apps::ObservedState,
    mismatch: bool,
}

#[derive(serde::Serialize)]
struct ActionResultData<'a> {
    agent_id: &'a str,
    app_id: i64,
    eat_id: &'a str,
    state: app::apps::ActionState,
}

// The data of the events about one agent name it first (fields serialise in declaration
// order), so a page that follows one host can skip the others' unparsed.
#[derive(serde::Serialize)]
struct AgentStatusData<'a> {
    agent_id: &'a str,
    connection_state: ConnectionState,
}

#[derive(serde::Serialize)]
struct ContainerEventData<'a> {
    agent_id: &'a str,
    container_id: &'a str,
    name: &'a str,
    action: &'a str,
    detail: &'a str,
    time: String,
}

/// Where the local collection loop stands.
#[derive(Debug, Clone)]
pub struct CollectionStatus {
    pub last_success: Option<Instant>,
    pub last_error: Option<String>,
    pub runs: u64,
    pub failures: u64,
    pub last_duration: Duration,
}

/// What is known right now about one host.
#[derive(Debug, Clone, Default)]
struct HostLive {
    sample: Option<HostSample>,
    /// A stream (or, for the local host, the collection loop) is live.
    connected: bool,
    last_seen: Option<Instant>,
    /// When a live sample (not a backfill) last arrived: what agent-down alerts go by.
    last_live: Option<Instant>,
    /// The newest names an operator gave, when they changed after the stream opened.
    renamed: Option<HostNames>,
}

/// Names of a host, from the store (agents) or the machine (local).
#[derive(Debug, Clone)]
pub struct HostNames {
    pub label: String,
    pub hostname: String,
}

/// Latest figures of every host and the live event bus.
pub struct LiveState {
    started: Instant,
    hosts: RwLock<HashMap<String, HostLive>>,
    collection: RwLock<CollectionStatus>,
    events: broadcast::Sender<Arc<Published>>,
}

impl Default for LiveState {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveState {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            hosts: RwLock::new(HashMap::new()),
            collection: RwLock::new(CollectionStatus {
                last_success: None,
                last_error: None,
                runs: 0,
                failures: 0,
                last_duration: Duration::ZERO,
            }),
            events: broadcast::channel(1024).0,
        }
    }

    /// Subscribes to live events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.events.subscribe()
    }

    /// Whether anyone listens: when nobody has a dashboard open, events are not even made.
    pub fn listened(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Serialises `event` once and hands the same bytes to every listener.
    pub fn publish(&self, event: LiveEvent) {
        if self.listened() {
            // A listener that left between the check and the send is no error.
            let _ = self.events.send(event.published());
        }
    }

    /// Records a successful local collection and tells SSE clients.
    pub fn record_local(&self, sample: HostSample, took: Duration) {
        {
            let mut status = self.collection.write().unwrap_or_else(|e| e.into_inner());
            status.last_success = Some(Instant::now());
            status.last_error = None;
            status.runs += 1;
            status.last_duration = took;
        }
        self.store_sample(LOCAL_AGENT_ID, sample, true);
        if self.listened() {
            self.publish(LiveEvent::HostSample(Box::new(self.local_summary())));
        }
    }

    /// Records a sample a remote agent sent (and committed) and tells SSE clients.
    /// `live`: the sample is news (not a backfill), which is what agent-down alerts go by.
    pub fn record_remote(&self, agent_id: &str, names: &HostNames, sample: HostSample, live: bool) {
        self.store_sample(agent_id, sample, live);
        if !self.listened() {
            return;
        }
        let renamed = self
            .hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent_id)
            .and_then(|h| h.renamed.clone());
        let names = renamed.as_ref().unwrap_or(names);
        self.publish(LiveEvent::HostSample(Box::new(
            self.summary(agent_id, names),
        )));
    }

    /// An operator renamed a host: live updates use the new names from now on.
    pub fn rename(&self, agent_id: &str, names: HostNames) {
        self.hosts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(agent_id.to_owned())
            .or_default()
            .renamed = Some(names);
    }

    fn store_sample(&self, host: &str, sample: HostSample, live: bool) {
        let now = Instant::now();
        let mut hosts = self.hosts.write().unwrap_or_else(|e| e.into_inner());
        let entry = hosts.entry(host.to_owned()).or_default();
        entry.sample = Some(sample);
        entry.last_seen = Some(now);
        if live {
            entry.last_live = Some(now);
        }
    }

    /// Marks an agent's stream live or gone; tells SSE clients when that changes.
    /// Returns whether the state changed.
    pub fn set_connected(&self, agent_id: &str, connected: bool) -> bool {
        let changed = {
            let mut hosts = self.hosts.write().unwrap_or_else(|e| e.into_inner());
            let entry = hosts.entry(agent_id.to_owned()).or_default();
            if connected {
                entry.last_seen = Some(Instant::now());
                // The first stream since this server started counts as live: its backlog
                // may be all it sends at first. Later reconnects do not (see `record_remote`).
                entry.last_live.get_or_insert_with(Instant::now);
            }
            std::mem::replace(&mut entry.connected, connected) != connected
        };
        if changed {
            let connection_state = if connected {
                ConnectionState::Connected
            } else {
                ConnectionState::Disconnected
            };
            self.publish(LiveEvent::AgentStatus {
                agent_id: agent_id.to_owned(),
                connection_state,
            });
        }
        changed
    }

    /// True while the agent's stream is open.
    pub fn is_connected(&self, agent_id: &str) -> bool {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent_id)
            .is_some_and(|h| h.connected)
    }

    /// Agents whose stream is open but silent for longer than `threshold`.
    pub fn silent_agents(&self, threshold: Duration) -> Vec<String> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(id, h)| {
                *id != LOCAL_AGENT_ID
                    && h.connected
                    && h.last_seen.is_none_or(|t| t.elapsed() > threshold)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// When a live sample of the agent last arrived (or its first stream since this server
    /// started opened), if either happened. Set by `record_remote` and `set_connected`.
    pub fn last_live(&self, agent_id: &str) -> Option<Instant> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent_id)
            .and_then(|h| h.last_live)
    }

    /// Forgets a deleted agent.
    pub fn remove(&self, agent_id: &str) {
        self.hosts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(agent_id);
    }

    /// Records a failed local collection.
    pub fn record_local_failure(&self, error: String, took: Duration) {
        let mut status = self.collection.write().unwrap_or_else(|e| e.into_inner());
        status.last_error = Some(error);
        status.runs += 1;
        status.failures += 1;
        status.last_duration = took;
    }

    /// The collection loop's state.
    pub fn collection(&self) -> CollectionStatus {
        self.collection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How long since the loop last succeeded (since start when it never did).
    pub fn collection_age(&self) -> Duration {
        self.collection()
            .last_success
            .unwrap_or(self.started)
            .elapsed()
    }

    /// The newest local sample.
    pub fn local_sample(&self) -> Option<HostSample> {
        self.sample(LOCAL_AGENT_ID)
    }

    /// When the newest sample of a host was taken, without copying the sample.
    pub fn sample_time_ms(&self, host: &str) -> Option<i64> {
        self.with_sample(host, |s| s.taken_at_ms)
    }

    /// Reads the newest sample of a host in place (no copy of the whole sample).
    pub fn with_sample<T>(&self, host: &str, read: impl FnOnce(&HostSample) -> T) -> Option<T> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .and_then(|h| h.sample.as_ref().map(read))
    }

    /// The newest sample of a host.
    pub fn sample(&self, host: &str) -> Option<HostSample> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .and_then(|h| h.sample.clone())
    }

    /// The local host as the API shows it. Connected while the newest sample is recent.
    pub fn local_summary(&self) -> HostSummary {
        let hostname = self
            .local_sample()
            .map(|s| s.hostname)
            .unwrap_or_else(local_hostname);
        self.summary(
            LOCAL_AGENT_ID,
            &HostNames {
                label: hostname.clone(),
                hostname,
            },
        )
    }

    /// A host as the API shows it.
    pub fn summary(&self, host: &str, names: &HostNames) -> HostSummary {
        let live = self
            .hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .cloned()
            .unwrap_or_default();
        let connected = if host == LOCAL_AGENT_ID {
            self.collection()
                .last_success
                .is_some_and(|t| t.elapsed() < Duration::from_secs(60))
        } else {
            live.connected
        };
        HostSummary {
            agent_id: host.to_owned(),
            label: names.label.clone(),
            hostname: if names.hostname.is_empty() {
                live.sample
                    .as_ref()
                    .map(|s| s.hostname.clone())
                    .unwrap_or_default()
            } else {
                names.hostname.clone()
            },
            connection_state: if connected {
                ConnectionState::Connected
            } else {
                ConnectionState::Disconnected
            },
            running_containers: 0,
            latest: live.sample.as_ref().map(figures),
        }
    }
}

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Converts a collector sample into the figures the API and dashboard show.
pub fn figures(s: &HostSample) -> HostFigures {
    HostFigures {
        taken_at: app::rfc3339_from_millis(s.taken_at_ms),
        taken_at_ms: s.taken_at_ms,
        uptime_s: s.uptime_s,
        cpu_pct: round2(s.cpu.total_pct),
        cpu_per_core_pct: s.cpu.per_core_pct.iter().copied().map(round2).collect(),
        load: [s.load.one, s.load.five, s.load.fifteen],
        memory_total_bytes: s.memory.total_bytes,
        memory_used_bytes: s.memory.used_bytes,
        memory_pct: round2(s.memory_used_pct()),
        swap_total_bytes: s.memory.swap_total_bytes,
        swap_used_bytes: s.memory.swap_used_bytes,
        disk_pct: round2(s.disk_used_pct()),
        disk_used_bytes: s.disk_used_bytes(),
        disk_size_bytes: s.disk_size_bytes(),
        filesystems: s
            .filesystems
            .iter()
            .map(|f| FilesystemFigures {
                mount_point: f.mount_point.clone(),
                device: f.device.clone(),
                fs_type: f.fs_type.clone(),
                size_bytes: f.size_bytes(),
                total_bytes: f.total_bytes,
                used_bytes: f.used_bytes,
                available_bytes: f.available_bytes,
                used_pct: round2(f.used_pct()),
            })
            .collect(),
        net_rx_bytes_per_s: round2(s.net_rx_bytes_per_s()),
        net_tx_bytes_per_s: round2(s.net_tx_bytes_per_s()),
        interfaces: s
            .network
            .iter()
            .map(|i| InterfaceFigures {
                name: i.name.clone(),
                rx_bytes_per_s: round2(i.rx_bytes_per_s),
                tx_bytes_per_s: round2(i.tx_bytes_per_s),
            })
            .collect(),
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use agent::collect::{CpuUsage, FilesystemUsage, LoadAverage, Memory};

    use super::*;

    fn filesystem(mount_point: &str, total: u64, used: u64, available: u64) -> FilesystemUsage {
        FilesystemUsage {
            mount_point: mount_point.into(),
            device: "/dev/sda1".into(),
            fs_type: "ext4".into(),
            total_bytes: total,
            used_bytes: used,
            available_bytes: available,
        }
    }

    /// The host page skips other hosts' events by their first field (`live::names_agent` in
    /// the app): every event about one agent must start with its id.
    #[test]
    fn every_event_about_an_agent_names_it_first() {
        let events = [
            LiveEvent::AgentStatus {
                agent_id: "a1".into(),
                connection_state: ConnectionState::Connected,
            },
            LiveEvent::ContainerEvent {
                agent_id: "a1".into(),
                container_id: "c0ffee".into(),
                name: "web".into(),
                action: "die".into(),
                detail: "exit code 137".into(),
                time_ms: 1_700_000_000_000,
            },
            LiveEvent::HostSample(Box::new(HostSummary {
                agent_id: "a1".into(),
                label: "web".into(),
                hostname: "web".into(),
                connection_state: ConnectionState::Connected,
                running_containers: 0,
                latest: None,
            })),
        ];
        for event in events {
            let json = event.json();
            assert!(
                json.starts_with(r#"{"agent_id":"a1","#),
                "{}: {json}",
                event.name()
            );
            let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(parsed["agent_id"], "a1");
        }
    }

    #[test]
    fn gauge_and_table_show_disk_size_and_share_the_same_way() {
        // 5 % reserved for root: the size df shows is used + available, not every block.
        let root = filesystem("/", 100 << 30, 20 << 30, 75 << 30);
        let data = filesystem("/data", 10 << 30, 5 << 30, 5 << 30);
        let sample = HostSample {
            taken_at_ms: 1_000,
            hostname: "h".into(),
            uptime_s: 1,
            cpu: CpuUsage {
                total_pct: 1.0,
                per_core_pct: vec![1.0],
            },
            load: LoadAverage {
                one: 0.0,
                five: 0.0,
                fifteen: 0.0,
            },
            memory: Memory {
                total_bytes: 4,
                available_bytes: 3,
                used_bytes: 1,
                swap_total_bytes: 0,
                swap_used_bytes: 0,
            },
            filesystems: vec![root, data],
            network: Vec::new(),
            processes: Vec::new(),
        };
        let f = figures(&sample);
        assert_eq!(f.filesystems[0].size_bytes, 95 << 30);
        assert_eq!(f.filesystems[0].used_pct, round2(20.0 * 100.0 / 95.0));
        let sizes: u64 = f.filesystems.iter().map(|fs| fs.size_bytes).sum();
        let used: u64 = f.filesystems.iter().map(|fs| fs.used_bytes).sum();
        assert_eq!((f.disk_size_bytes, f.disk_used_bytes), (sizes, used));
        assert_eq!(f.disk_pct, round2(25.0 * 100.0 / 105.0));
        // The stored row and its charted figure agree with the gauge.
        let row = crate::store::SampleRow::from_host(None, &sample);
        assert_eq!(round2(row.figure(app::Metric::Disk)), f.disk_pct);
        assert_eq!(round2(row.figure(app::Metric::Memory)), f.memory_pct);
    }
}
