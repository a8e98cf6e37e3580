//! The alerting run: rules and a webhook channel created through the REST API, a webhook
//! receiver here that notes when each message arrives, and breaching samples whose send
//! times it is measured against.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;

use super::*;

/// The CPU a breaching sample reports; the firing rule is "CPU above 95".
pub(crate) const BREACH_CPU_PCT: f64 = 99.5;

/// Webhook messages as they arrived.
pub(crate) type Received = Arc<Mutex<Vec<(Instant, Bytes)>>>;

/// Starts a webhook receiver on loopback; returns its URL and what it receives.
pub(crate) async fn start_sink() -> anyhow::Result<(String, Received)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let received: Received = Arc::default();
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let store = store.clone();
                        async move {
                            let body = request.into_body().collect().await?.to_bytes();
                            store.lock().await.push((Instant::now(), body));
                            Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::new())))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((url, received))
}

/// Creates the webhook channel and `rules` rules: one that every breaching sample fires
/// ("CPU above 95", `for: 1`) and `rules - 1` that are evaluated on every sample and never
/// fire (memory, disk, load, network and swap above what the simulated hosts reach).
pub(crate) async fn create_rules(
    url: &str,
    token: &str,
    sink_url: &str,
    rules: usize,
    group_wait_s: u64,
) -> anyhow::Result<()> {
    let channel = serde_json::json!({
        "name": "loadgen sink", "kind": "webhook", "group_wait_s": group_wait_s,
        "settings": {"url": sink_url, "secret": "loadgen-shared-secret-0123456789"},
    });
    let (status, body) = http(
        &format!("{url}/api/v1/notification-channels"),
        "POST",
        token,
        Some(channel.to_string()),
    )
    .await?;
    anyhow::ensure!(
        status == 201,
        "the server refused the webhook channel ({status}): {} (is it started with --notify-allow-loopback?)",
        String::from_utf8_lossy(&body)
    );
    let channel_id = serde_json::from_slice::<serde_json::Value>(&body)?["id"]
        .as_i64()
        .unwrap_or_default();
    let quiet = ["memory", "disk", "load", "net_rx", "swap"];
    for r in 0..rules {
        let condition = if r == 0 {
            serde_json::json!({"kind": "host_threshold", "metric": "cpu", "above": 95})
        } else {
            let metric = quiet[r % quiet.len()];
            let above = match metric {
                "load" => 1_000.0,
                "net_rx" => 1e15,
                _ => 99.99,
            };
            serde_json::json!({"kind": "host_threshold", "metric": metric, "above": above + r as f64 / 1e6})
        };
        let rule = serde_json::json!({
            "name": format!("loadgen rule {r}"), "for": 1, "channels": [channel_id],
            "condition": condition,
        });
        let (status, body) = http(
            &format!("{url}/api/v1/alert-rules"),
            "POST",
            token,
            Some(rule.to_string()),
        )
        .await?;
        anyhow::ensure!(
            status == 201,
            "the server refused an alert rule ({status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// A sample that breaches the firing rule.
pub(crate) fn breaching(mut event: proto::Event) -> proto::Event {
    if let Some(proto::event::Body::HostSample(s)) = &mut event.body {
        s.cpu_pct = BREACH_CPU_PCT;
    }
    event
}

/// From each agent's first breaching sample (when it was sent) to the webhook message that
/// carried its alert: latencies in ms, and how many messages carried firing alerts.
pub(crate) async fn notify_figures(
    breached: &HashMap<usize, Instant>,
    received: &Received,
) -> (Vec<f64>, usize, usize) {
    let mut latencies = Vec::new();
    let mut messages = 0;
    let mut alerts = 0;
    for (at, body) in received.lock().await.iter() {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(body) else {
            continue;
        };
        let mut firing = false;
        for item in message["alerts"].as_array().into_iter().flatten() {
            if item["event"] != "firing" {
                continue;
            }
            firing = true;
            alerts += 1;
            let agent = item["alert"]["host_label"]
                .as_str()
                .and_then(|l| l.strip_prefix("loadgen-"))
                .and_then(|i| i.parse::<usize>().ok());
            if let Some(sent) = agent.and_then(|i| breached.get(&i)) {
                latencies.push(at.saturating_duration_since(*sent).as_secs_f64() * 1000.0);
            }
        }
        messages += usize::from(firing);
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    (latencies, messages, alerts)
}
