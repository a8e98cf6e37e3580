use sqlx::Row;

use super::{Store, StoreError};

/// One stored host sample: the figures the history charts need.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    /// `None` for the local host. Shared: a batch's rows all name the same agent.
    pub agent_id: Option<std::sync::Arc<str>>,
    pub ts_ms: i64,
    pub cpu_pct: f64,
    pub load: [f64; 3],
    pub mem_total: i64,
    pub mem_used: i64,
    pub swap_total: i64,
    pub swap_used: i64,
    /// Used plus available bytes of all real file systems (what `df` divides by).
    pub disk_total: i64,
    pub disk_used: i64,
    pub net_rx_bps: f64,
    pub net_tx_bps: f64,
    /// The labelled series: each core, swap, load, each file system and interface.
    pub series: Vec<super::SeriesValue>,
}

impl SampleRow {
    /// The stored form of a collector sample.
    pub fn from_host(
        agent_id: Option<std::sync::Arc<str>>,
        s: &agent::collect::HostSample,
    ) -> Self {
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        SampleRow {
            agent_id,
            ts_ms: s.taken_at_ms,
            cpu_pct: s.cpu.total_pct,
            load: [s.load.one, s.load.five, s.load.fifteen],
            mem_total: int(s.memory.total_bytes),
            mem_used: int(s.memory.used_bytes),
            swap_total: int(s.memory.swap_total_bytes),
            swap_used: int(s.memory.swap_used_bytes),
            disk_total: int(s.disk_size_bytes()),
            disk_used: int(s.disk_used_bytes()),
            net_rx_bps: s.net_rx_bytes_per_s(),
            net_tx_bps: s.net_tx_bytes_per_s(),
            series: host_series(s),
        }
    }
}

/// The labelled series of a collector sample.
fn host_series(s: &agent::collect::HostSample) -> Vec<super::SeriesValue> {
    use app::SeriesFamily as F;
    let value = |family, label: &str, value| super::SeriesValue {
        family,
        label: label.to_owned(),
        value,
    };
    let mut out = Vec::with_capacity(s.cpu.per_core_pct.len() + 4 + 3 * s.network.len());
    for (i, pct) in s.cpu.per_core_pct.iter().enumerate() {
        out.push(value(F::CpuCore, &i.to_string(), *pct));
    }
    if s.memory.swap_total_bytes > 0 {
        let used = agent::collect::percent(
            s.memory.swap_used_bytes as f64,
            s.memory.swap_total_bytes as f64,
        );
        out.push(value(F::Swap, "swap", used));
    }
    for (label, v) in [
        ("1m", s.load.one),
        ("5m", s.load.five),
        ("15m", s.load.fifteen),
    ] {
        out.push(value(F::Load, label, v));
    }
    for fs in &s.filesystems {
        out.push(value(F::Filesystem, &fs.mount_point, fs.used_pct()));
    }
    for i in &s.network {
        out.push(value(F::InterfaceRx, &i.name, i.rx_bytes_per_s));
        out.push(value(F::InterfaceTx, &i.name, i.tx_bytes_per_s));
    }
    out
}

impl SampleRow {
    /// A charted figure of this sample, derived as the collector's sample derives it.
    pub fn figure(&self, metric: app::Metric) -> f64 {
        use agent::collect::percent;
        match metric {
            app::Metric::Cpu => self.cpu_pct,
            app::Metric::Memory => percent(self.mem_used as f64, self.mem_total as f64),
            app::Metric::Disk => percent(self.disk_used as f64, self.disk_total as f64),
            app::Metric::NetRx => self.net_rx_bps,
            app::Metric::NetTx => self.net_tx_bps,
        }
    }
}

/// One time bucket of a history query.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryBucket {
    /// Bucket start, unix milliseconds.
    pub start_ms: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

impl Store {
    /// Label and hostname of a registered agent.
    pub async fn agent_names(
        &self,
        agent_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("select label, hostname from agent where agent_id = $1")
            .bind(agent_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("label")?, r.try_get("hostname")?)))
            .transpose()
    }
}
