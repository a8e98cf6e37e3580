//! "Would have fired N times": a rule replayed on a host's stored samples through the same
//! engine that evaluates live ones, so the preview has exactly the live hysteresis.
use agent::collect::{CpuUsage, FilesystemUsage, HostSample, InterfaceRate, LoadAverage, Memory};
use app::HostFigure;
use app::alerts::{AlertRuleSpec, Condition};

use super::engine::{Change, Engine, Host, Input, Rule};
use crate::store::SampleRow;

/// Why a rule cannot be replayed on stored history, or `None` when it can.
pub fn unsupported(spec: &AlertRuleSpec) -> Option<&'static str> {
    match &spec.condition {
        Condition::HostThreshold {
            metric: HostFigure::Disk,
            mount: Some(_),
            ..
        } => Some(
            "history keeps all file systems of a host together, not each mount: a rule on one mount cannot be replayed",
        ),
        Condition::HostThreshold { .. } | Condition::AgentDown { .. } => None,
        _ => Some(
            "only host figures and agent_down are kept as history: container and certificate rules cannot be replayed",
        ),
    }
}

/// How often a rule fired when replayed on one host's samples (oldest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replay {
    pub fired: u32,
    /// When it first fired (ms).
    pub first_ms: Option<i64>,
}

/// Replays `spec` on `samples` of one host. `cores` sizes the per-core load (history keeps
/// the load, not the core count). `sweep_ms` is the absence sweep's period: inside a gap
/// between samples longer than it, sweeps see the host silent, as the live sweep would.
pub fn replay(
    spec: &AlertRuleSpec,
    host: Host<'_>,
    samples: &[SampleRow],
    cores: usize,
    sweep_ms: i64,
) -> Replay {
    let Some(first) = samples.first() else {
        return Replay::default();
    };
    let down = matches!(spec.condition, Condition::AgentDown { .. });
    let mut spec = spec.clone();
    spec.enabled = true;
    let mut engine = Engine::default();
    engine.set_rules(vec![Rule { id: 0, spec }], first.ts_ms);
    let mut out = Replay::default();
    let mut count = |changes: Vec<super::engine::Transition>| {
        for t in changes {
            if matches!(t.change, Change::Fired { .. }) {
                out.fired += 1;
                out.first_ms.get_or_insert(t.at_ms);
            }
        }
    };
    let sweep_ms = sweep_ms.max(1_000);
    let mut previous: Option<i64> = None;
    for row in samples {
        if down {
            if let Some(before) = previous {
                let gap = row.ts_ms - before;
                let mut silent = sweep_ms;
                while silent < gap {
                    count(engine.sweep(&[(host, silent)], before.saturating_add(silent)));
                    silent += sweep_ms;
                }
            }
            count(engine.sweep(&[(host, 0)], row.ts_ms));
        } else {
            let sample = as_host_sample(row, cores);
            count(engine.observe(host, Input::Sample(&sample), row.ts_ms));
        }
        previous = Some(row.ts_ms);
    }
    out
}

/// A stored sample as the engine reads a live one: the file systems as one, the interfaces
/// as one, `cores` cores at the total's busy share.
fn as_host_sample(row: &SampleRow, cores: usize) -> HostSample {
    let bytes = |v: i64| u64::try_from(v).unwrap_or(0);
    HostSample {
        taken_at_ms: row.ts_ms,
        hostname: String::new(),
        uptime_s: 0,
        cpu: CpuUsage {
            total_pct: row.cpu_pct,
            per_core_pct: vec![row.cpu_pct; cores.max(1)],
        },
        load: LoadAverage {
            one: row.load[0],
            five: row.load[1],
            fifteen: row.load[2],
        },
        memory: Memory {
            total_bytes: bytes(row.mem_total),
            available_bytes: bytes(row.mem_total.saturating_sub(row.mem_used)),
            used_bytes: bytes(row.mem_used),
            swap_total_bytes: bytes(row.swap_total),
            swap_used_bytes: bytes(row.swap_used),
        },
        filesystems: vec![FilesystemUsage {
            mount_point: "all file systems".into(),
            device: String::new(),
            fs_type: String::new(),
            total_bytes: bytes(row.disk_total),
            used_bytes: bytes(row.disk_used),
            available_bytes: bytes(row.disk_total.saturating_sub(row.disk_used)),
        }],
        network: vec![InterfaceRate {
            name: "all".into(),
            rx_bytes_per_s: row.net_rx_bps,
            tx_bytes_per_s: row.net_tx_bps,
        }],
        processes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use app::Severity;
    use app::alerts::{Hold, Scope};

    use super::*;

    fn rule(condition: Condition, hold: u32) -> AlertRuleSpec {
        AlertRuleSpec {
            name: "r".into(),
            condition,
            scope: Scope::default(),
            severity: Severity::Warning,
            hold: Hold::Evaluations(hold),
            recover_for: 2,
            channels: Vec::new(),
            enabled: false,
        }
    }

    fn row(ts_ms: i64, cpu: f64) -> SampleRow {
        SampleRow {
            agent_id: None,
            ts_ms,
            cpu_pct: cpu,
            load: [0.0; 3],
            mem_total: 100,
            mem_used: 10,
            swap_total: 0,
            swap_used: 0,
            disk_total: 100,
            disk_used: 10,
            net_rx_bps: 0.0,
            net_tx_bps: 0.0,
            series: Vec::new(),
        }
    }

    const HOST: Host<'static> = Host {
        agent_id: "a",
        label: "a",
        tags: &[],
    };

    #[test]
    fn counts_each_episode_once_with_the_live_hysteresis() {
        let cpu = Condition::HostThreshold {
            metric: HostFigure::Cpu,
            mount: None,
            above: 90.0,
            clear_below: None,
        };
        // Two lone spikes (ignored by for: 3), then two sustained episodes.
        let figures = [
            95.0, 10.0, 95.0, 10.0, 95.0, 95.0, 95.0, 95.0, 10.0, 10.0, 95.0, 95.0, 95.0, 10.0,
            10.0,
        ];
        let samples: Vec<SampleRow> = figures
            .iter()
            .enumerate()
            .map(|(i, v)| row(i as i64 * 10_000, *v))
            .collect();
        let replay_3 = replay(&rule(cpu.clone(), 3), HOST, &samples, 2, 30_000);
        assert_eq!(replay_3.fired, 2);
        assert_eq!(replay_3.first_ms, Some(60_000));
        // for: 1 fires on the first spike; recover_for: 2 holds it over the next lone dip.
        assert_eq!(
            replay(&rule(cpu.clone(), 1), HOST, &samples, 2, 30_000).fired,
            2
        );
        let mut twitchy = rule(cpu, 1);
        twitchy.recover_for = 1;
        assert_eq!(replay(&twitchy, HOST, &samples, 2, 30_000).fired, 4);
    }

    #[test]
    fn a_gap_in_the_samples_is_an_agent_down_episode() {
        let down = rule(Condition::AgentDown { silent_s: 60 }, 1);
        let mut samples: Vec<SampleRow> = (0..10).map(|i| row(i * 10_000, 0.0)).collect();
        // Silent for 5 minutes, back, then silent for 50 s (under the threshold).
        samples.extend((0..10).map(|i| row(390_000 + i * 10_000, 0.0)));
        samples.extend((0..3).map(|i| row(530_000 + i * 10_000, 0.0)));
        let out = replay(&down, HOST, &samples, 1, 30_000);
        assert_eq!(out.fired, 1, "{out:?}");
    }

    #[test]
    fn rules_without_history_say_why() {
        let cert = rule(Condition::CertificateInvalid, 1);
        assert!(unsupported(&cert).unwrap().contains("certificate"));
        let mount = rule(
            Condition::HostThreshold {
                metric: HostFigure::Disk,
                mount: Some("/data".into()),
                above: 90.0,
                clear_below: None,
            },
            1,
        );
        assert!(unsupported(&mount).unwrap().contains("mount"));
    }
}
