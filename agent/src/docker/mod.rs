//! Containers from the Docker Engine API on its unix socket: lifecycle events as they happen,
//! per-container CPU, memory, network and block I/O every stats interval, and the full list
//! every list interval (and right after each event).
mod client;
mod parse;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{Notify, mpsc};

pub use client::{DockerClient, DockerError};
pub use parse::{StatsSnapshot, container_sample, parse_container_list, parse_event, parse_stats};

/// Where the Docker socket is unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Intervals of the container collectors.
#[derive(Debug, Clone, Copy)]
pub struct DockerIntervals {
    pub stats: Duration,
    pub list: Duration,
}

use proto::clock::now_ms;

fn event(time_ms: i64, body: proto::event::Body) -> proto::Event {
    proto::Event {
        time_ms,
        body: Some(body),
    }
}

/// Runs the three container collectors until `events` closes. Without a Docker socket it logs
/// once and returns.
pub async fn watch(
    socket: PathBuf,
    intervals: DockerIntervals,
    events: mpsc::Sender<proto::Event>,
) {
    if !socket.exists() {
        tracing::info!(socket = %socket.display(), "no Docker socket: container collection is off");
        return;
    }
    let client = DockerClient::new(socket);
    let running: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let refresh = Arc::new(Notify::new());
    tokio::join!(
        list_loop(&client, intervals.list, &events, &running, &refresh),
        stats_loop(&client, intervals.stats, &events, &running),
        events_loop(&client, &events, &refresh),
    );
}

async fn list_loop(
    client: &DockerClient,
    every: Duration,
    events: &mpsc::Sender<proto::Event>,
    running: &Mutex<Vec<(String, String)>>,
    refresh: &Notify,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = refresh.notified() => {}
        }
        match client.list().await {
            Ok(containers) => {
                failing = false;
                *running.lock().unwrap_or_else(|e| e.into_inner()) = containers
                    .iter()
                    .filter(|c| c.state == "running")
                    .map(|c| (c.container_id.clone(), c.name.clone()))
                    .collect();
                let list = proto::event::Body::ContainerList(proto::ContainerList { containers });
                if events.send(event(now_ms(), list)).await.is_err() {
                    return;
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot list containers");
            }
            Err(_) => {}
        }
    }
}

async fn stats_loop(
    client: &DockerClient,
    every: Duration,
    events: &mpsc::Sender<proto::Event>,
    running: &Mutex<Vec<(String, String)>>,
) {
    let mut previous: HashMap<String, (StatsSnapshot, Instant)> = HashMap::new();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let containers = running.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // A few stats requests at a time: each takes the engine a moment.
        let results: Vec<_> = futures::stream::iter(containers)
            .map(|(id, name)| {
                let client = client.clone();
                async move {
                    let result = client.stats(&id).await;
                    (id, name, result, Instant::now())
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let time_ms = now_ms();
        let mut seen = HashMap::new();
        for (id, name, result, at) in results {
            let Ok(snapshot) = result else { continue };
            if let Some((earlier, earlier_at)) = previous.get(&id) {
                let sample = container_sample(
                    &id,
                    &name,
                    earlier,
                    &snapshot,
                    at.duration_since(*earlier_at).as_secs_f64(),
                );
                if events
                    .send(event(time_ms, proto::event::Body::ContainerSample(sample)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            seen.insert(id, (snapshot, at));
        }
        previous = seen;
    }
}

async fn events_loop(client: &DockerClient, events: &mpsc::Sender<proto::Event>, refresh: &Notify) {
    let mut failing = false;
    loop {
        match client.events().await {
            Ok(lines) => {
                let mut lines = std::pin::pin!(lines);
                failing = false;
                while let Some(line) = lines.next().await {
                    let Some((time_ms, e)) = parse_event(&line) else {
                        continue;
                    };
                    if events
                        .send(event(time_ms, proto::event::Body::ContainerEvent(e)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    refresh.notify_one();
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot follow container events; retrying");
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
