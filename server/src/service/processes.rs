//! The processes using the most CPU and memory, from each host's newest sample: the top
//! lists the API and dashboard show and the culprits CPU and memory alerts name.
use agent::collect::ProcessUsage;
use app::{ApiError, LOCAL_AGENT_ID, ProcessInfo};

use super::Vantage;

/// The top processes of one host or of every host: highest CPU first, and most resident
/// memory first, `n` of each.
pub struct TopProcesses {
    pub by_cpu: Vec<ProcessInfo>,
    pub by_memory: Vec<ProcessInfo>,
}

impl Vantage {
    /// The top processes of `agent_id` (the local host with `local`), or of every host.
    pub(super) async fn top_processes(
        &self,
        agent_id: Option<&str>,
        n: usize,
    ) -> Result<TopProcesses, ApiError> {
        let local_label = || self.live.local_summary().label;
        let hosts: Vec<(String, String)> = match agent_id {
            Some(LOCAL_AGENT_ID) => vec![(LOCAL_AGENT_ID.to_owned(), local_label())],
            Some(id) => {
                let names = self.resolve_host(id).await?;
                vec![(id.to_owned(), names.map(|n| n.label).unwrap_or_default())]
            }
            None => std::iter::once((LOCAL_AGENT_ID.to_owned(), local_label()))
                .chain(
                    self.store
                        .list_agents()
                        .await?
                        .into_iter()
                        .map(|a| (a.agent_id, a.label)),
                )
                .collect(),
        };
        let mut all: Vec<ProcessInfo> = Vec::new();
        for (id, label) in hosts {
            self.live.with_sample(&id, |s| {
                let measured_at = app::rfc3339_from_millis(s.taken_at_ms);
                all.extend(
                    s.processes
                        .iter()
                        .map(|p| info(&id, &label, &measured_at, p)),
                );
            });
        }
        Ok(rank(all, n))
    }
}

fn info(agent_id: &str, host_label: &str, measured_at: &str, p: &ProcessUsage) -> ProcessInfo {
    ProcessInfo {
        agent_id: agent_id.to_owned(),
        host_label: host_label.to_owned(),
        pid: p.pid,
        name: p.name.clone(),
        user: p.user.clone(),
        cpu_pct: p.cpu_pct,
        rss_bytes: p.rss_bytes,
        measured_at: measured_at.to_owned(),
    }
}

fn rank(mut all: Vec<ProcessInfo>, n: usize) -> TopProcesses {
    all.sort_by(|a, b| b.cpu_pct.total_cmp(&a.cpu_pct));
    let by_cpu = all
        .iter()
        .filter(|p| p.cpu_pct > 0.0)
        .take(n)
        .cloned()
        .collect();
    all.sort_by_key(|p| std::cmp::Reverse(p.rss_bytes));
    all.truncate(n);
    TopProcesses {
        by_cpu,
        by_memory: all,
    }
}

/// How a CPU or memory alert names a process: `process postgres (812, postgres) 93 % CPU`.
pub fn culprit(p: &ProcessInfo, by_memory: bool) -> String {
    if by_memory {
        format!(
            "process {} (pid {}, {}) {:.0} MiB",
            p.name,
            p.pid,
            p.user,
            p.rss_bytes as f64 / 1_048_576.0
        )
    } else {
        format!(
            "process {} (pid {}, {}) {:.0} % CPU",
            p.name, p.pid, p.user, p.cpu_pct
        )
    }
}
