//! `vantage-loadgen`: many simulated agents against a real server. Each is enrolled through
//! the REST API and streams over TLS with real authentication; optional SSE listeners time
//! ingest-to-browser latency; `--past` writes a simulated history as fast as the server takes
//! it. The last line of output is one JSON object with the figures.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use ed25519_dalek::Signer;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use proto::agent_message::Body as Up;
use proto::server_message::Body as Down;
use tokio::sync::{Mutex, mpsc};

/// Simulates a fleet of agents against a Vantage server.
#[derive(Parser, Debug)]
#[command(name = "vantage-loadgen", version, about)]
struct Cli {
    /// The server's HTTP address, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    server_url: String,
    /// An API token of an admin (`vantage admin create-token`).
    #[arg(long, env = "VANTAGE_API_TOKEN", hide_env_values = true)]
    api_token: String,
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
    /// Events per batch in `--past` mode (the agent's own batch size by default).
    #[arg(long, default_value_t = agent::stream::MAX_BATCH_EVENTS)]
    batch_events: usize,
}

#[derive(Default)]
struct Counters {
    events_sent: AtomicU64,
    events_committed: AtomicU64,
    refusals: AtomicU64,
}

use proto::clock::now_ms;

/// A plain-HTTP request; returns status and body.
async fn http(
    url: &str,
    method: &str,
    token: &str,
    body: Option<String>,
) -> anyhow::Result<(u16, Bytes)> {
    let (authority, path) = split_url(url)?;
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .with_context(|| format!("cannot connect to {authority}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", &authority)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("--server-url must be http://HOST:PORT (the loopback dashboard address)")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    Ok((authority.to_owned(), path))
}

/// A deterministic pseudo-random number in [0, 1) for (agent, time step, figure).
fn noise(i: u64, step: i64, figure: u64) -> f64 {
    let mut z = i
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add((step as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_add(figure.wrapping_mul(0x94d0_49bb_1331_11eb));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as f64 / u64::MAX as f64
}

/// A host sample shaped like a small real server (4 cores, 2 file systems, 2 interfaces):
/// figures follow a slow daily-like wave with noise on top, as real hosts do. CPU and network
/// rates jitter every sample, memory moves by up to 16 MiB in whole pages, the disks fill a
/// few blocks per sample; only the totals stay put.
fn host_sample(time_ms: i64, i: u64) -> proto::Event {
    let step = time_ms / 10_000;
    let wave = (step as f64 / 500.0 + i as f64).sin() * 0.5 + 0.5;
    let n = |figure: u64| noise(i, step, figure);
    let cpu = (60.0 * wave + 20.0 * n(0)).clamp(0.0, 100.0);
    let page = 4096u64;
    let mem_used = (3 << 30)
        + (wave * (1u64 << 30) as f64) as u64 / page * page
        + (n(1) * 4096.0) as u64 * page;
    // Load averages come with two decimals; the longer ones follow the wave more smoothly.
    let two_decimals = |v: f64| (v * 100.0).round() / 100.0;
    proto::Event {
        time_ms,
        body: Some(proto::event::Body::HostSample(proto::HostSample {
            hostname: format!("loadgen-{i}"),
            uptime_s: 86_400,
            cpu_pct: cpu,
            cpu_per_core_pct: (0..4)
                .map(|c| (cpu + 10.0 * (n(10 + c) - 0.5)).clamp(0.0, 100.0))
                .collect(),
            load1: two_decimals(4.0 * cpu / 100.0),
            load5: two_decimals(4.0 * wave + 0.2 * n(2)),
            load15: two_decimals(4.0 * wave + 0.05 * n(3)),
            memory_total_bytes: 8 << 30,
            memory_available_bytes: (8 << 30) - mem_used,
            memory_used_bytes: mem_used,
            swap_total_bytes: 2 << 30,
            swap_used_bytes: 100 << 20,
            filesystems: (0..2u64)
                .map(|f| {
                    // Filling by up to 64 KiB per sample, emptied every 100,000 samples.
                    let written = step.rem_euclid(100_000) as u64 * 8 + (n(20 + f) * 8.0) as u64;
                    let used = (40 << 30) + written * page;
                    proto::Filesystem {
                        mount_point: format!("/fs{f}"),
                        device: format!("/dev/sd{f}"),
                        fs_type: "ext4".into(),
                        total_bytes: 100 << 30,
                        used_bytes: used,
                        available_bytes: (100 << 30) - used,
                    }
                })
                .collect(),
            interfaces: (0..2u64)
                .map(|k| proto::Interface {
                    name: format!("eth{k}"),
                    rx_bytes_per_s: 1e5 * wave * (0.8 + 0.4 * n(30 + k)),
                    tx_bytes_per_s: 5e4 * wave * (0.8 + 0.4 * n(40 + k)),
                })
                .collect(),
        })),
    }
}

/// Numeric values the server stores per host sample (one per series, as Prometheus counts
/// samples): CPU, three load averages, memory and swap total/used, disk total/used, network
/// in/out. Per-core, per-file-system and per-interface figures are sent but only their totals
/// are kept in history, so they are not counted.
const VALUES_PER_EVENT: u64 = 12;

struct SimulatedAgent {
    up: mpsc::Sender<proto::AgentMessage>,
    down: tonic::Streaming<proto::ServerMessage>,
    next_seq: u64,
}

async fn enroll_and_connect(
    address: &agent::stream::ServerAddress,
    trust: &agent::stream::ServerTrust,
    token: String,
    i: usize,
) -> anyhow::Result<SimulatedAgent> {
    let channel = agent::stream::connect(address, trust).await?;
    let key = agent::identity::generate_key()?;
    let mut client = proto::agent_service_client::AgentServiceClient::new(channel);
    let registered = client
        .register_agent(proto::RegisterAgentRequest {
            enrollment_token: token,
            public_key: key.verifying_key().to_bytes().to_vec(),
            hostname: format!("loadgen-{i}"),
            label: format!("loadgen-{i}"),
            runtime: "bare".into(),
            os: "linux".into(),
            arch: std::env::consts::ARCH.into(),
            agent_version: env!("CARGO_PKG_VERSION").into(),
        })
        .await?
        .into_inner();
    let (up, rx) = mpsc::channel(16);
    let mut down = client
        .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let Some(proto::ServerMessage {
        body: Some(Down::Challenge(challenge)),
    }) = down.message().await?
    else {
        anyhow::bail!("no challenge");
    };
    let uuid = uuid::Uuid::parse_str(&registered.agent_id)?;
    let timestamp = now_ms() / 1000;
    let signature = key.sign(&proto::auth_message(
        &challenge.nonce,
        uuid.as_bytes(),
        timestamp,
    ));
    let auth = proto::AuthResponse {
        agent_id: registered.agent_id,
        timestamp,
        signature: signature.to_bytes().to_vec(),
    };
    up.send(proto::AgentMessage {
        body: Some(Up::Auth(auth)),
    })
    .await?;
    let Some(proto::ServerMessage {
        body: Some(Down::AuthOk(ok)),
    }) = down.message().await?
    else {
        anyhow::bail!("authentication refused");
    };
    Ok(SimulatedAgent {
        up,
        down,
        next_seq: ok.last_seq + 1,
    })
}

/// Sends `count` events (event `k` made by `event(k)`) in batches as the agent does (at most
/// `MAX_BATCHES_IN_FLIGHT` unanswered) and counts acknowledgements. After a refusal it lets
/// the batches in flight be answered, waits as told, and resends everything after the
/// acknowledged position. Live mode sends one event per call.
async fn drive(
    agent: &mut SimulatedAgent,
    count: u64,
    event: impl Fn(u64) -> proto::Event,
    batch_events: usize,
    counters: &Counters,
) {
    let base = agent.next_seq;
    let end = base + count - 1;
    let mut acked = base - 1;
    let mut sent = acked;
    let mut in_flight = 0usize;
    let mut retry_after: Option<Duration> = None;
    while acked < end {
        while retry_after.is_none()
            && in_flight < agent::stream::MAX_BATCHES_IN_FLIGHT
            && sent < end
        {
            let from = sent + 1 - base;
            let batch: Vec<proto::Event> = (from..(from + batch_events as u64).min(count))
                .map(&event)
                .collect();
            let n = batch.len() as u64;
            let message = proto::AgentMessage {
                body: Some(Up::Batch(proto::EventBatch {
                    first_seq: sent + 1,
                    events: batch,
                    ..Default::default()
                })),
            };
            if agent.up.send(message).await.is_err() {
                return;
            }
            counters.events_sent.fetch_add(n, Ordering::Relaxed);
            sent += n;
            in_flight += 1;
        }
        match agent.down.message().await {
            Ok(Some(proto::ServerMessage {
                body: Some(Down::Ack(ack)),
            })) => {
                counters
                    .events_committed
                    .fetch_add(ack.seq.saturating_sub(acked), Ordering::Relaxed);
                acked = acked.max(ack.seq);
            }
            Ok(Some(proto::ServerMessage {
                body: Some(Down::Error(e)),
            })) => {
                counters.refusals.fetch_add(1, Ordering::Relaxed);
                let wait = Duration::from_millis(e.retry_after_ms.max(50));
                retry_after = Some(retry_after.map_or(wait, |w| w.max(wait)));
            }
            _ => return,
        }
        in_flight -= 1;
        if in_flight == 0
            && let Some(wait) = retry_after.take()
        {
            tokio::time::sleep(wait).await;
            sent = acked;
        }
    }
    agent.next_seq = acked + 1;
}

async fn listen_sse(
    url: String,
    token: String,
    latencies: Arc<Mutex<Vec<f64>>>,
    until: Instant,
) -> anyhow::Result<()> {
    let (authority, _) = split_url(&url)?;
    let stream = tokio::net::TcpStream::connect(&authority).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::get("/api/v1/events")
        .header("host", &authority)
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::<Bytes>::new())?;
    let mut body = sender.send_request(request).await?.into_body();
    let mut buffer = String::new();
    while Instant::now() < until {
        let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until.into(), body.frame()).await else {
            break;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if !event.contains("event: host_sample") {
                continue;
            }
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let Ok(summary) = serde_json::from_str::<serde_json::Value>(data) else {
                continue;
            };
            if summary["label"]
                .as_str()
                .is_some_and(|l| l.starts_with("loadgen-"))
                && let Some(taken) = summary["latest"]["taken_at_ms"].as_i64()
            {
                latencies.lock().await.push((now_ms() - taken) as f64);
            }
        }
    }
    Ok(())
}

/// What the server's /metrics says of its own load.
struct ServerFigures {
    cpu_s: f64,
    rss_bytes: f64,
    store_bytes: f64,
    /// Host samples of agents folded into the rollups so far.
    folded_samples: f64,
}

async fn server_figures(url: &str, token: &str) -> anyhow::Result<ServerFigures> {
    let (_, body) = http(&format!("{url}/metrics"), "GET", token, None).await?;
    let text = String::from_utf8_lossy(&body);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(ServerFigures {
        cpu_s: value("process_cpu_seconds_total"),
        rss_bytes: value("process_resident_memory_bytes"),
        store_bytes: value("vantage_store_size_bytes"),
        folded_samples: value("vantage_history_folded_agent_samples_total"),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn parse_past(text: &str) -> anyhow::Result<Duration> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number.parse().context("--past is a duration such as 24h")?;
    Ok(Duration::from_secs(match unit {
        "h" => n * 3600,
        "m" => n * 60,
        "d" => n * 86_400,
        "" | "s" => n,
        _ => anyhow::bail!("--past takes s, m, h or d"),
    }))
}

async fn run(cli: Cli) -> anyhow::Result<serde_json::Value> {
    let url = cli.server_url.trim_end_matches('/').to_owned();
    let token = cli.api_token.clone();
    let past = cli.past.as_deref().map(parse_past).transpose()?;

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

    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let before = server_figures(&url, &token).await?;
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
            tokio::spawn(async move {
                match past {
                    Some(window) => {
                        let start = now_ms() - window.as_millis() as i64;
                        let count = (window.as_millis() as i64 / interval_ms) as u64;
                        // Events are made as they are sent (and made again, the same, when
                        // a batch is resent): a day of a thousand hosts never sits in memory.
                        let event = move |k: u64| {
                            host_sample(
                                start + k as i64 * interval_ms + (i as i64 * 997) % interval_ms,
                                i as u64,
                            )
                        };
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
                            let sample = host_sample(now_ms(), i as u64);
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
    let committed = counters.events_committed.load(Ordering::Relaxed) as f64;
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
    let samples = committed * VALUES_PER_EVENT;
    let server_cpu_s = (cpu_after - cpu_before).max(0.0);
    let mut lat = latencies.lock().await.clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(serde_json::json!({
        "agents": cli.agents,
        "mode": if past.is_some() { "past" } else { "live" },
        "duration_s": (elapsed * 10.0).round() / 10.0,
        "events_sent": counters.events_sent.load(Ordering::Relaxed),
        "events_committed": committed,
        "refusals": counters.refusals.load(Ordering::Relaxed),
        "samples_committed": samples,
        "server_cpu_s": (server_cpu_s * 1000.0).round() / 1000.0,
        "samples_per_server_cpu_s": if server_cpu_s > 0.0 { (samples as f64 / server_cpu_s).round() } else { 0.0 },
        "sse_listeners": cli.sse,
        "sse_events": lat.len(),
        "sse_latency_p50_ms": percentile(&lat, 0.5),
        "sse_latency_p99_ms": percentile(&lat, 0.99),
        "server_peak_rss_mb": (peak / 1048576.0 * 10.0).round() / 10.0,
        "store_growth_bytes": store_after - store_before,
        "history_settled": settled(&after),
        "bytes_per_stored_sample": if samples > 0 { ((store_after - store_before) / samples as f64 * 100.0).round() / 100.0 } else { 0.0 },
    }))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
