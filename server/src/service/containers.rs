//! Containers across hosts and the top consumers.
use app::{ApiError, CertificateInfo, ContainerInfo, LOCAL_AGENT_ID, Me, TopConsumers};
use proto::clock::now_ms;

use super::Vantage;
use crate::store::ContainerRow;

/// How many containers each top list holds.
const TOP: i64 = 5;

fn info(row: ContainerRow) -> ContainerInfo {
    let unsigned = |v: Option<i64>| v.map(|v| v.max(0) as u64);
    ContainerInfo {
        compose_project: row.labels.get("com.docker.compose.project").cloned(),
        compose_service: row.labels.get("com.docker.compose.service").cloned(),
        agent_id: row.agent_id,
        host_label: row.host_label,
        container_id: row.container_id,
        name: row.name,
        image: row.image,
        state: row.state,
        status: row.status,
        health: row.health,
        cpu_pct: row.cpu_pct.map(|v| (v * 100.0).round() / 100.0),
        memory_bytes: unsigned(row.memory_bytes),
        memory_limit_bytes: unsigned(row.memory_limit_bytes),
        net_rx_bytes_per_s: row.net_rx_bps,
        net_tx_bytes_per_s: row.net_tx_bps,
        block_read_bytes_per_s: row.block_read_bps,
        block_write_bytes_per_s: row.block_write_bps,
        stats_at: row.stats_ms.map(app::rfc3339_from_millis),
    }
}

impl Vantage {
    /// `None` for every host; the local host has no containers of its own yet.
    async fn container_scope(&self, agent_id: Option<&str>) -> Result<Option<String>, ApiError> {
        match agent_id {
            None => Ok(None),
            Some(LOCAL_AGENT_ID) => Ok(Some(LOCAL_AGENT_ID.to_owned())),
            Some(id) => {
                self.resolve_host(id).await?;
                Ok(Some(id.to_owned()))
            }
        }
    }

    /// Containers of one host, or of all hosts.
    pub async fn containers(
        &self,
        _caller: &Me,
        agent_id: Option<&str>,
    ) -> Result<Vec<ContainerInfo>, ApiError> {
        let scope = self.container_scope(agent_id).await?;
        Ok(self
            .store
            .containers(scope.as_deref())
            .await?
            .into_iter()
            .map(info)
            .collect())
    }

    /// The running containers and the processes using the most CPU and memory, on one host
    /// or all.
    pub async fn top_consumers(
        &self,
        _caller: &Me,
        agent_id: Option<&str>,
    ) -> Result<TopConsumers, ApiError> {
        let scope = self.container_scope(agent_id).await?;
        let by_cpu = self
            .store
            .top_containers(scope.as_deref(), false, TOP)
            .await?;
        let by_memory = self
            .store
            .top_containers(scope.as_deref(), true, TOP)
            .await?;
        let processes = self.top_processes(agent_id, TOP as usize).await?;
        Ok(TopConsumers {
            by_cpu: by_cpu.into_iter().map(info).collect(),
            by_memory: by_memory.into_iter().map(info).collect(),
            processes_by_cpu: processes.by_cpu,
            processes_by_memory: processes.by_memory,
        })
    }

    /// Watched certificates, of one host or all, soonest expiry first.
    pub async fn certificates(
        &self,
        _caller: &Me,
        agent_id: Option<&str>,
    ) -> Result<Vec<CertificateInfo>, ApiError> {
        let scope = self.container_scope(agent_id).await?;
        let now = now_ms();
        Ok(self
            .store
            .certificates(scope.as_deref())
            .await?
            .into_iter()
            .map(|c| CertificateInfo {
                agent_id: c.agent_id,
                host_label: c.host_label,
                target: c.target,
                subject: c.subject,
                issuer: c.issuer,
                sans: c.sans,
                not_after: c.not_after_ms.map(app::rfc3339_from_millis),
                days_left: c.not_after_ms.map(|t| (t - now).div_euclid(86_400_000)),
                chain_valid: c.chain_valid,
                error: c.error,
                scanned_at: app::rfc3339_from_millis(c.scanned_ms),
            })
            .collect())
    }
}
