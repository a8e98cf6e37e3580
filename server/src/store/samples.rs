use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError};

/// One stored host sample: the figures the history charts need.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    /// `None` for the local host.
    pub agent_id: Option<String>,
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
}

impl SampleRow {
    /// The stored form of a collector sample.
    pub fn from_host(agent_id: Option<String>, s: &agent::collect::HostSample) -> Self {
        let disk_used: u64 = s.filesystems.iter().map(|f| f.used_bytes).sum();
        let disk_usable: u64 = s
            .filesystems
            .iter()
            .map(|f| f.used_bytes.saturating_add(f.available_bytes))
            .sum();
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
            disk_total: int(disk_usable),
            disk_used: int(disk_used),
            net_rx_bps: s.net_rx_bytes_per_s(),
            net_tx_bps: s.net_tx_bytes_per_s(),
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

/// The start of an INSERT into `host_sample`; `VALUES` tuples follow.
pub const INSERT_SAMPLE_HEAD: &str = "insert into host_sample (agent_id, ts, cpu_pct, load1, load5, load15, mem_total, \
     mem_used, swap_total, swap_used, disk_total, disk_used, net_rx_bps, net_tx_bps) values";

/// The SQL expression of each chartable metric over `host_sample`.
pub fn metric_expression(metric: app::Metric) -> &'static str {
    match metric {
        app::Metric::Cpu => "cpu_pct",
        app::Metric::Memory => {
            "case when mem_total > 0 then cast(mem_used as double precision) * 100.0 / mem_total else 0.0 end"
        }
        app::Metric::Disk => {
            "case when disk_total > 0 then cast(disk_used as double precision) * 100.0 / disk_total else 0.0 end"
        }
        app::Metric::NetRx => "net_rx_bps",
        app::Metric::NetTx => "net_tx_bps",
    }
}

impl Store {
    /// Appends a sample.
    pub async fn insert_host_sample(&self, s: &SampleRow) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        super::agents::insert_samples(&mut tx, &[s]).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Average, minimum and maximum of `metric` per `step_ms` bucket in `[from_ms, to_ms)`,
    /// from raw samples for steps under a minute, else from the 1-minute or 1-hour rollups.
    pub async fn history(
        &self,
        agent_id: Option<&str>,
        metric: app::Metric,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<HistoryBucket>, StoreError> {
        let value = metric_expression(metric);
        let host = if agent_id.is_some() {
            "agent_id = $4"
        } else {
            "agent_id is null"
        };
        // The coarsest layer that still fits the step: rollups for wide ranges.
        let sql = match super::Layer::for_step(step_ms) {
            super::Layer::Raw => format!(
                "select (ts / $1) * $1 as bucket, avg({value}) as avg_v, min({value}) as min_v, max({value}) as max_v \
                 from host_sample where ts >= $2 and ts < $3 and {host} group by 1 order by 1"
            ),
            layer => super::rollups::rollup_history_sql(layer, metric, host),
        };
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(step_ms)
            .bind(from_ms)
            .bind(to_ms);
        if let Some(id) = agent_id {
            query = query.bind(id.to_owned());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| {
                Ok(HistoryBucket {
                    start_ms: r.try_get("bucket")?,
                    avg: r.try_get("avg_v")?,
                    min: r.try_get("min_v")?,
                    max: r.try_get("max_v")?,
                })
            })
            .collect()
    }

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
