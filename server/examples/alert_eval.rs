//! Alert evaluation cost: the engine with N host-threshold rules (every rule covers every
//! host and is evaluated on every sample) fed samples of 1,000 hosts. Prints one JSON line:
//! nanoseconds of CPU per sample and per rule evaluation. Run by `bench/alerts.sh`.
//!   cargo run --release -p server --example alert_eval -- [RULES] [SAMPLES]
use std::time::Instant;

use agent::collect::{CpuUsage, FilesystemUsage, HostSample, InterfaceRate, LoadAverage, Memory};
use app::alerts::{AlertRuleSpec, Condition, Hold, Scope};
use app::{HostFigure, Severity};
use server::alerts::engine::{Engine, Host, Input, Rule};

fn sample(host: usize, k: usize) -> HostSample {
    let cpu = ((host * 31 + k * 7) % 80) as f64;
    HostSample {
        taken_at_ms: k as i64 * 10_000,
        hostname: format!("host-{host}"),
        uptime_s: 1,
        cpu: CpuUsage {
            total_pct: cpu,
            per_core_pct: vec![cpu; 4],
        },
        load: LoadAverage {
            one: 1.0,
            five: 1.0,
            fifteen: 1.0,
        },
        memory: Memory {
            total_bytes: 8 << 30,
            available_bytes: 4 << 30,
            used_bytes: 4 << 30,
            swap_total_bytes: 2 << 30,
            swap_used_bytes: 1 << 20,
        },
        filesystems: (0..2)
            .map(|f| FilesystemUsage {
                mount_point: format!("/fs{f}"),
                device: format!("/dev/sd{f}"),
                fs_type: "ext4".into(),
                total_bytes: 100 << 30,
                used_bytes: 40 << 30,
                available_bytes: 60 << 30,
            })
            .collect(),
        network: vec![InterfaceRate {
            name: "eth0".into(),
            rx_bytes_per_s: 1e5,
            tx_bytes_per_s: 5e4,
        }],
        processes: Vec::new(),
    }
}

fn cpu_time_s() -> f64 {
    let usage = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = usage.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rules: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let samples: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let metrics = [
        HostFigure::Cpu,
        HostFigure::Memory,
        HostFigure::Disk,
        HostFigure::Load,
        HostFigure::NetRx,
        HostFigure::Swap,
    ];
    let mut engine = Engine::default();
    engine.set_rules(
        (0..rules)
            .map(|r| Rule {
                id: r as i64,
                spec: AlertRuleSpec {
                    name: format!("rule {r}"),
                    condition: Condition::HostThreshold {
                        metric: metrics[r % metrics.len()],
                        mount: None,
                        // Some rules breach now and then (CPU up to 79 %), and pend or fire.
                        above: 70.0 + (r % 30) as f64,
                        clear_below: None,
                    },
                    scope: Scope::default(),
                    severity: Severity::Warning,
                    hold: Hold::Evaluations(3),
                    recover_for: 2,
                    channels: Vec::new(),
                    enabled: true,
                },
            })
            .collect(),
        0,
    );
    const HOSTS: usize = 1_000;
    let ids: Vec<String> = (0..HOSTS).map(|h| format!("agent-{h}")).collect();
    let inputs: Vec<HostSample> = (0..HOSTS).map(|h| sample(h, 0)).collect();
    let tags: Vec<String> = Vec::new();
    let (wall, cpu) = (Instant::now(), cpu_time_s());
    let mut transitions = 0usize;
    for k in 0..samples {
        let h = k % HOSTS;
        let mut s = inputs[h].clone();
        s.cpu.total_pct = ((h * 31 + k / HOSTS * 7) % 80) as f64;
        let host = Host {
            agent_id: &ids[h],
            label: &ids[h],
            tags: &tags,
        };
        transitions += engine.observe(host, Input::Sample(&s), k as i64 * 10).len();
    }
    let wall_s = wall.elapsed().as_secs_f64();
    let cpu_s = (cpu_time_s() - cpu).max(wall_s.min(0.01));
    let per_sample_ns = cpu_s * 1e9 / samples as f64;
    println!(
        "{}",
        serde_json::json!({
            "rules": rules,
            "hosts": HOSTS,
            "samples": samples,
            "transitions": transitions,
            "cpu_s": (cpu_s * 1000.0).round() / 1000.0,
            "eval_cpu_per_sample_us": (per_sample_ns / 10.0).round() / 100.0,
            "eval_cpu_per_rule_ns": (per_sample_ns / rules.max(1) as f64 * 10.0).round() / 10.0,
            "samples_per_cpu_s_one_core": (samples as f64 / cpu_s).round(),
        })
    );
}
