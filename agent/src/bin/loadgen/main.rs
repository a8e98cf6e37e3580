//! `vantage-loadgen`: many simulated agents against a real server. Each is enrolled through
//! the REST API and streams over TLS with real authentication; optional SSE listeners time
//! ingest-to-browser latency; `--past` writes a simulated history as fast as the server takes
//! it; `--alert-rules` times breach-to-webhook latency; `--write-prometheus` writes the same
//! past as Prometheus text for a peer store instead. The last line of output is one JSON
//! object with the figures.
#![forbid(unsafe_code)]

mod alerting;
mod drive;
mod enrol;
mod export;
mod report;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use proto::clock::now_ms;
use tokio::sync::Mutex;

use drive::*;
use enrol::*;
use report::*;

/// Simulates a fleet of agents against a Vantage server.
#[derive(Parser, Debug)]
#[command(name = "vantage-loadgen", version, about)]
struct Cli {
    /// The server's HTTP address, e.g. http://127.0.0.1:8080.
    #[arg(long, required_unless_present = "write_prometheus")]
    server_url: Option<String>,
    /// An API token of an admin (`vantage admin create-token`).
    #[arg(
        long,
        env = "VANTAGE_API_TOKEN",
        hide_env_values = true,
        required_unless_present = "write_prometheus"
    )]
    api_token: Option<String>,
    /// Simulated agents.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Seconds of live streaming.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// SSE listeners timing ingest-to-browser latency.
    #[arg(long, default_value_t = 0)]
    sse: usize,
    /// Seconds between one agent's samples.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Instead of streaming live, write this much simulated past per agent (e.g. `24h`) as
    /// fast as the server takes it.
    #[arg(long)]
    past: Option<String>,
    /// `--past` ends at this time (unix milliseconds; default now): two runs given the same
    /// value make the same samples.
    #[arg(long)]
    until_ms: Option<i64>,
    /// With `--past`: write the samples as Prometheus text with timestamps to this file (`-`:
    /// standard output) instead of sending them to a server, every value the server stores
    /// of a sample, quantised as it stores them (for `/api/v1/import/prometheus` of a peer).
    #[arg(long, requires = "past")]
    write_prometheus: Option<String>,
    /// Events per batch in `--past` mode (the agent's own batch size by default).
    #[arg(long, default_value_t = agent::stream::MAX_BATCH_EVENTS)]
    batch_events: usize,
    /// Live mode: create this many alert rules (one fires on a breaching sample, the others
    /// are evaluated and stay quiet) and a webhook channel to a receiver in this process.
    /// The server must run with `--notify-allow-loopback`.
    #[arg(long, default_value_t = 0)]
    alert_rules: usize,
    /// The webhook channel's `group_wait_s`.
    #[arg(long, default_value_t = 0)]
    group_wait: u64,
    /// Live mode: from this many seconds on, every agent's samples breach (CPU 99.5 %).
    #[arg(long)]
    breach_after: Option<u64>,
}

fn parse_past(text: &str) -> anyhow::Result<Duration> {
    agent::units::parse_duration(text)
        .with_context(|| format!("--past is a duration such as 24h, not {text:?}"))
}

/// The `k`-th sample of simulated host `i` in a past of `window` ending at `until_ms`.
fn past_sample(
    until_ms: i64,
    window: Duration,
    interval_ms: i64,
    i: usize,
    k: u64,
) -> proto::Event {
    let start = until_ms - window.as_millis() as i64;
    host_sample(
        start + k as i64 * interval_ms + (i as i64 * 997) % interval_ms,
        i as u64,
    )
}

/// `--write-prometheus`: the past, as text, to a file or standard output.
fn write_prometheus(cli: &Cli, target: &str) -> anyhow::Result<serde_json::Value> {
    let window = parse_past(cli.past.as_deref().unwrap_or_default())?;
    let until = cli.until_ms.unwrap_or_else(now_ms);
    let interval_ms = cli.interval.max(1) as i64 * 1000;
    let count = (window.as_millis() as i64 / interval_ms) as u64;
    let sample = |i, k| past_sample(until, window, interval_ms, i, k);
    let started = Instant::now();
    let written = if target == "-" {
        export::write_past(
            &mut std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock()),
            cli.agents,
            count,
            sample,
        )
    } else {
        let file =
            std::fs::File::create(target).with_context(|| format!("cannot create {target}"))?;
        export::write_past(
            &mut std::io::BufWriter::with_capacity(1 << 20, file),
            cli.agents,
            count,
            sample,
        )
    }
    .with_context(|| format!("cannot write the samples to {target}"))?;
    Ok(serde_json::json!({
        "agents": cli.agents,
        "mode": "write_prometheus",
        "samples_per_host": count,
        "values_written": written,
        "until_ms": until,
        "duration_s": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    }))
}

async fn run(cli: Cli) -> anyhow::Result<serde_json::Value> {
    // Both are required by clap unless --write-prometheus, which never reaches here.
    let url = cli
        .server_url
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let token = cli.api_token.clone().unwrap_or_default();
    let past = cli.past.as_deref().map(parse_past).transpose()?;
    let until = cli.until_ms.unwrap_or_else(now_ms);

    // Enrollment tokens through the REST API; the first answer says where gRPC is and its pin.
    let mut tokens = Vec::with_capacity(cli.agents);
    let mut target = None;
    for _ in 0..cli.agents {
        let (status, body) = http(
            &format!("{url}/api/v1/agents/enrollment-tokens"),
            "POST",
            &token,
            Some("{\"ttl_hours\":1}".into()),
        )
        .await?;
        anyhow::ensure!(
            status == 201,
            "the server refused an enrollment token ({status}): {}",
            String::from_utf8_lossy(&body)
        );
        let created: serde_json::Value = serde_json::from_slice(&body)?;
        if target.is_none() {
            let grpc = created["grpc_url"]
                .as_str()
                .context("the enrollment answer names no grpc_url")?
                .to_owned();
            let pin = created["pin"].as_str().map(str::to_owned);
            target = Some((grpc, pin));
        }
        tokens.push(created["token"].as_str().unwrap_or_default().to_owned());
    }
    let (grpc, pin) = target.context("no agents requested")?;
    let address = agent::stream::ServerAddress::parse(&grpc).map_err(anyhow::Error::msg)?;
    let trust = match pin {
        Some(pin) => agent::stream::ServerTrust::Pinned(
            agent::stream::tls::parse_pin(&pin).map_err(anyhow::Error::msg)?,
        ),
        None => agent::stream::ServerTrust::SystemRoots,
    };

    // Enroll and connect, a few dozen at a time.
    let mut agents = Vec::with_capacity(cli.agents);
    for chunk in tokens.chunks(32).enumerate() {
        let (offset, chunk) = chunk;
        let connecting = chunk
            .iter()
            .enumerate()
            .map(|(j, token)| enroll_and_connect(&address, &trust, token.clone(), offset * 32 + j));
        for agent in futures::future::join_all(connecting).await {
            agents.push(agent?);
        }
    }
    eprintln!(
        "vantage-loadgen: {} agents enrolled and authenticated",
        agents.len()
    );

    let sink = if cli.alert_rules > 0 {
        let (sink_url, received) = alerting::start_sink().await?;
        alerting::create_rules(&url, &token, &sink_url, cli.alert_rules, cli.group_wait).await?;
        Some(received)
    } else {
        None
    };
    let breached: Arc<Mutex<std::collections::HashMap<usize, Instant>>> = Arc::default();
    let breach_after = cli.breach_after.map(Duration::from_secs);

    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let before = server_figures(&url, &token).await?;
    let own_cpu_before = own_cpu_s();
    let started = Instant::now();
    let interval_ms = cli.interval.max(1) as i64 * 1000;
    let stop_at = started + Duration::from_secs(cli.duration);
    let mut listeners = Vec::new();
    if past.is_none() {
        for _ in 0..cli.sse {
            listeners.push(tokio::spawn(listen_sse(
                url.clone(),
                token.clone(),
                latencies.clone(),
                started,
                stop_at + Duration::from_secs(2),
            )));
        }
    }
    let peak_rss = Arc::new(Mutex::new(0.0f64));
    let sampler = {
        let (url, token, peak_rss) = (url.clone(), token.clone(), peak_rss.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(now) = server_figures(&url, &token).await {
                    let mut peak = peak_rss.lock().await;
                    *peak = peak.max(now.rss_bytes);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let batch_events = cli.batch_events.max(1);
    let tasks: Vec<_> = agents
        .into_iter()
        .enumerate()
        .map(|(i, mut agent)| {
            let counters = counters.clone();
            let breached = breached.clone();
            tokio::spawn(async move {
                match past {
                    Some(window) => {
                        let count = (window.as_millis() as i64 / interval_ms) as u64;
                        // Events are made as they are sent (and made again, the same, when
                        // a batch is resent): a day of a thousand hosts never sits in memory.
                        let event = move |k: u64| past_sample(until, window, interval_ms, i, k);
                        drive(&mut agent, count, event, batch_events, &counters).await;
                    }
                    None => {
                        // Spread the agents over the interval, then one sample per interval each.
                        let offset =
                            Duration::from_millis((i as u64 * 7919) % (interval_ms as u64));
                        tokio::time::sleep(offset).await;
                        let mut ticker =
                            tokio::time::interval(Duration::from_millis(interval_ms as u64));
                        while Instant::now() < stop_at {
                            ticker.tick().await;
                            let mut sample = host_sample(now_ms(), i as u64);
                            if breach_after.is_some_and(|after| started.elapsed() >= after) {
                                sample = alerting::breaching(sample);
                                breached.lock().await.entry(i).or_insert_with(Instant::now);
                            }
                            drive(&mut agent, 1, |_| sample.clone(), 1, &counters).await;
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for listener in listeners {
        let _ = listener.await;
    }
    // The server's work is done once the history it was sent is merged and rolled up: wait
    // for that (its CPU counts), so the store size is that of the settled layout.
    // Refused events are acknowledged but never stored, so never folded.
    let committed = counters
        .events_committed
        .load(Ordering::Relaxed)
        .saturating_sub(counters.events_refused.load(Ordering::Relaxed)) as f64;
    let settled = |f: &ServerFigures| f.folded_samples - before.folded_samples >= committed;
    let settle_by = Instant::now() + Duration::from_secs(600);
    let mut after = server_figures(&url, &token).await?;
    while !settled(&after) && Instant::now() < settle_by {
        tokio::time::sleep(Duration::from_secs(1)).await;
        after = server_figures(&url, &token).await?;
    }
    sampler.abort();
    let (cpu_after, store_after) = (after.cpu_s, after.store_bytes);
    let (cpu_before, store_before) = (before.cpu_s, before.store_bytes);
    let peak = peak_rss.lock().await.max(after.rss_bytes);
    let committed = counters.events_committed.load(Ordering::Relaxed);
    let refused = counters.events_refused.load(Ordering::Relaxed);
    // What was stored: the acknowledged events but those refused.
    let samples = committed.saturating_sub(refused) * VALUES_PER_EVENT;
    let server_cpu_s = (cpu_after - cpu_before).max(0.0);
    let seen = latencies.lock().await.clone();
    let by_window = p99_by_window(&seen);
    let mut lat: Vec<f64> = seen.iter().map(|(_, l)| *l).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let own_cpu = own_cpu_s() - own_cpu_before;
    let (notify, messages, alerts_notified) = match &sink {
        Some(received) => {
            // Give the last breaches' notifications time to arrive (one group_wait and more).
            tokio::time::sleep(Duration::from_secs(cli.group_wait + 3)).await;
            alerting::notify_figures(&*breached.lock().await, received).await
        }
        None => (Vec::new(), 0, 0),
    };
    let breached_agents = breached.lock().await.len();
    Ok(serde_json::json!({
        "agents": cli.agents,
        "mode": if past.is_some() { "past" } else { "live" },
        "duration_s": (elapsed * 10.0).round() / 10.0,
        "events_sent": counters.events_sent.load(Ordering::Relaxed),
        "events_committed": committed,
        "refusals": counters.refusals.load(Ordering::Relaxed),
        "events_refused": refused,
        "samples_committed": samples,
        "server_cpu_s": (server_cpu_s * 1000.0).round() / 1000.0,
        "samples_per_server_cpu_s": if server_cpu_s > 0.0 { (samples as f64 / server_cpu_s).round() } else { 0.0 },
        "sse_listeners": cli.sse,
        "sse_events": lat.len(),
        "sse_latency_p50_ms": percentile(&lat, 0.5),
        "sse_latency_p99_ms": percentile(&lat, 0.99),
        "sse_latency_max_ms": lat.last().copied().unwrap_or(0.0),
        "sse_latency_p99_by_10s_ms": by_window,
        // Near 100 % of its one core, the generator's own queueing adds to the latencies.
        "loadgen_cpu_pct": (own_cpu / elapsed * 1000.0).round() / 10.0,
        "server_peak_rss_mb": (peak / 1048576.0 * 10.0).round() / 10.0,
        "store_growth_bytes": store_after - store_before,
        "history_settled": settled(&after),
        "bytes_per_stored_sample": if samples > 0 { ((store_after - store_before) / samples as f64 * 100.0).round() / 100.0 } else { 0.0 },
        "alert_rules": cli.alert_rules,
        "group_wait_s": cli.group_wait,
        "breached_agents": breached_agents,
        "alerts_notified": alerts_notified,
        "webhook_messages": messages,
        "notify_latency_p50_ms": percentile(&notify, 0.5),
        "notify_latency_p99_ms": percentile(&notify, 0.99),
        "notify_latency_max_ms": notify.last().copied().unwrap_or(0.0),
    }))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(target) = cli.write_prometheus.clone() {
        return match write_prometheus(&cli, &target) {
            Ok(result) => {
                // Standard output holds the samples: the figures go to standard error.
                if target == "-" {
                    eprintln!("{result}");
                } else {
                    println!("{result}");
                }
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vantage-loadgen: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vantage-loadgen: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(result) => {
            println!("{result}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vantage-loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
