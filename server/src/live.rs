//! The newest sample of each host, in memory, and the bus that pushes changes to SSE clients.
use std::sync::RwLock;
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
}

impl LiveEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::HostSample(_) => "host_sample",
        }
    }

    /// The SSE data line.
    pub fn json(&self) -> String {
        match self {
            LiveEvent::HostSample(summary) => serde_json::to_string(summary).unwrap_or_default(),
        }
    }
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

/// Latest figures and the live event bus.
pub struct LiveState {
    started: Instant,
    local: RwLock<Option<HostSample>>,
    collection: RwLock<CollectionStatus>,
    events: broadcast::Sender<LiveEvent>,
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
            local: RwLock::new(None),
            collection: RwLock::new(CollectionStatus {
                last_success: None,
                last_error: None,
                runs: 0,
                failures: 0,
                last_duration: Duration::ZERO,
            }),
            events: broadcast::channel(256).0,
        }
    }

    /// Subscribes to live events.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
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
        *self.local.write().unwrap_or_else(|e| e.into_inner()) = Some(sample);
        // No subscribers is normal: nobody has the dashboard open.
        let _ = self
            .events
            .send(LiveEvent::HostSample(Box::new(self.local_summary())));
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
        self.local.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The local host as the API shows it. Connected while the newest sample is recent.
    pub fn local_summary(&self) -> HostSummary {
        let sample = self.local_sample();
        let hostname = sample
            .as_ref()
            .map(|s| s.hostname.clone())
            .unwrap_or_else(local_hostname);
        let fresh = self
            .collection()
            .last_success
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60));
        HostSummary {
            agent_id: LOCAL_AGENT_ID.to_owned(),
            label: hostname.clone(),
            hostname,
            connection_state: if fresh {
                ConnectionState::Connected
            } else {
                ConnectionState::Disconnected
            },
            running_containers: 0,
            latest: sample.as_ref().map(figures),
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
        filesystems: s
            .filesystems
            .iter()
            .map(|f| {
                let usable = f.used_bytes + f.available_bytes;
                FilesystemFigures {
                    mount_point: f.mount_point.clone(),
                    device: f.device.clone(),
                    fs_type: f.fs_type.clone(),
                    total_bytes: f.total_bytes,
                    used_bytes: f.used_bytes,
                    available_bytes: f.available_bytes,
                    used_pct: if usable == 0 {
                        0.0
                    } else {
                        round2(f.used_bytes as f64 * 100.0 / usable as f64)
                    },
                }
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
