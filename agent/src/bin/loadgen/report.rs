//! What the run measures: ingest-to-browser latency over SSE and the server's own figures.
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use proto::clock::now_ms;
use tokio::sync::Mutex;

use super::*;

pub(crate) async fn listen_sse(
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

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
