//! What the run measures: ingest-to-browser latency over SSE and the server's own figures.
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use proto::clock::now_ms;
use tokio::sync::Mutex;

use super::*;

/// What a listener reads of a `host_sample` event: the rest of it is skipped unparsed.
#[derive(serde::Deserialize)]
struct Seen {
    label: String,
    latest: Option<SeenFigures>,
}

#[derive(serde::Deserialize)]
struct SeenFigures {
    taken_at_ms: i64,
}

/// One event seen: when it arrived (ms since the run started) and how late.
pub(crate) type Latency = (f64, f64);

pub(crate) async fn listen_sse(
    url: String,
    token: String,
    latencies: Arc<Mutex<Vec<Latency>>>,
    started: Instant,
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
        // The time of arrival, before any parsing: the generator's own work is not counted.
        let (arrived_ms, at) = (now_ms(), started.elapsed().as_secs_f64() * 1000.0);
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.push_str(&String::from_utf8_lossy(&data));
        let mut seen = Vec::new();
        let mut consumed = 0;
        while let Some(end) = buffer[consumed..].find("\n\n") {
            let event = &buffer[consumed..consumed + end];
            consumed += end + 2;
            if !event.contains("event: host_sample") {
                continue;
            }
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            if let Ok(Seen {
                label,
                latest: Some(f),
            }) = serde_json::from_str::<Seen>(data)
                && label.starts_with("loadgen-")
            {
                seen.push((at, (arrived_ms - f.taken_at_ms) as f64));
            }
        }
        buffer.drain(..consumed);
        if !seen.is_empty() {
            latencies.lock().await.extend(seen);
        }
    }
    Ok(())
}

/// What the server's /metrics says of its own load.
pub(crate) struct ServerFigures {
    pub(crate) cpu_s: f64,
    pub(crate) rss_bytes: f64,
    pub(crate) store_bytes: f64,
    /// Host samples of agents folded into the rollups so far.
    pub(crate) folded_samples: f64,
}

pub(crate) async fn server_figures(url: &str, token: &str) -> anyhow::Result<ServerFigures> {
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

/// The p99 latency of each 10-second window of the run, in order: a steady figure is the
/// path's cost, one slow window a stall (a fold, a checkpoint).
pub(crate) fn p99_by_window(seen: &[Latency]) -> Vec<f64> {
    let mut windows: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    for (at, latency) in seen {
        windows
            .entry((*at / 10_000.0) as u64)
            .or_default()
            .push(*latency);
    }
    windows
        .into_values()
        .map(|mut w| {
            w.sort_by(|a, b| a.total_cmp(b));
            percentile(&w, 0.99)
        })
        .collect()
}

/// CPU seconds this process has used (user and system).
pub(crate) fn own_cpu_s() -> f64 {
    agent::exposition::ProcessFigures::read().cpu_seconds
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
