//! `--metrics-addr`: the agent's own figures for Prometheus (`GET /metrics`) and a liveness
//! check (`GET /healthz`, 503 when its loop is stale). Off by default. The run loop and the
//! collector write into one [`Status`]; the listener only reads it.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};

use crate::exposition::{Histogram, ProcessFigures, counter, gauge};
use crate::spool::Spool;

const COLLECTION_BUCKETS: [f64; 8] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/// What the agent is doing now, as its loops report it.
#[derive(Debug)]
pub struct Status {
    host_interval: Duration,
    started_ms: i64,
    collections: std::sync::Mutex<Histogram>,
    collection_failures: AtomicU64,
    last_collection_ms: AtomicI64,
    last_recorded_ms: AtomicI64,
    connected: AtomicBool,
    sessions: AtomicU64,
    spool_events: AtomicU64,
    spool_bytes: AtomicU64,
    acked_seq: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
}

impl Status {
    pub fn new(host_interval: Duration) -> Self {
        let now = proto::clock::now_ms();
        Self {
            host_interval,
            started_ms: now,
            collections: std::sync::Mutex::new(Histogram::new(&COLLECTION_BUCKETS)),
            collection_failures: AtomicU64::new(0),
            last_collection_ms: AtomicI64::new(0),
            last_recorded_ms: AtomicI64::new(now),
            connected: AtomicBool::new(false),
            sessions: AtomicU64::new(0),
            spool_events: AtomicU64::new(0),
            spool_bytes: AtomicU64::new(0),
            acked_seq: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// A host sample was taken in `took`.
    pub fn collected(&self, took: Duration) {
        self.collections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(took.as_secs_f64());
        self.last_collection_ms
            .store(proto::clock::now_ms(), Ordering::Relaxed);
    }

    pub fn collection_failed(&self) {
        self.collection_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The run loop spooled events (or acknowledged some): it is alive, and this is the spool.
    pub fn spooled(&self, spool: &Spool) {
        self.last_recorded_ms
            .store(proto::clock::now_ms(), Ordering::Relaxed);
        let acked = spool.acked();
        self.spool_events.store(
            spool.next_seq().saturating_sub(acked + 1),
            Ordering::Relaxed,
        );
        self.spool_bytes.store(spool.bytes(), Ordering::Relaxed);
        self.acked_seq.store(acked, Ordering::Relaxed);
        self.dropped.store(spool.dropped(), Ordering::Relaxed);
        self.refused.store(spool.refused(), Ordering::Relaxed);
    }

    pub fn set_connected(&self, connected: bool) {
        if connected {
            self.sessions.fetch_add(1, Ordering::Relaxed);
        }
        self.connected.store(connected, Ordering::Relaxed);
    }

    /// Why the agent is unhealthy, if it is: no host sample, or nothing spooled, for three
    /// host intervals (at least 5 s).
    pub fn stale(&self) -> Option<String> {
        let limit_ms = i64::try_from(
            (self.host_interval * 3)
                .max(Duration::from_secs(5))
                .as_millis(),
        )
        .unwrap_or(i64::MAX);
        let now = proto::clock::now_ms();
        let collected = self.last_collection_ms.load(Ordering::Relaxed);
        let since = if collected == 0 {
            self.started_ms
        } else {
            collected
        };
        if now - since > limit_ms {
            return Some(format!("no host sample for {} s", (now - since) / 1000));
        }
        let recorded = self.last_recorded_ms.load(Ordering::Relaxed);
        if now - recorded > limit_ms {
            return Some(format!(
                "the run loop has spooled nothing for {} s",
                (now - recorded) / 1000
            ));
        }
        None
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        ProcessFigures::read().write(&mut out);
        out.push_str("# HELP vantage_agent_host_collection_duration_seconds Time one host sample takes to collect.\n");
        out.push_str("# TYPE vantage_agent_host_collection_duration_seconds histogram\n");
        self.collections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write(
                &mut out,
                "vantage_agent_host_collection_duration_seconds",
                "",
            );
        counter(
            &mut out,
            "vantage_agent_host_collection_failures_total",
            "Host collections that failed.",
            self.collection_failures.load(Ordering::Relaxed) as f64,
        );
        let last = self.last_collection_ms.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "vantage_agent_host_collection_last_timestamp_seconds",
            "When the last host sample was taken (0: none yet).",
            last as f64 / 1000.0,
        );
        gauge(
            &mut out,
            "vantage_agent_spool_events",
            "Events spooled and not yet acknowledged by the server.",
            self.spool_events.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "vantage_agent_spool_bytes",
            "Size of the on-disk spool.",
            self.spool_bytes.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "vantage_agent_acknowledged_sequence",
            "The highest event sequence number the server committed.",
            self.acked_seq.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "vantage_agent_dropped_events_total",
            "Events the spool dropped (full or too old) before the server had them.",
            self.dropped.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "vantage_agent_refused_events_total",
            "Events the server refused as invalid.",
            self.refused.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "vantage_agent_stream_connected",
            "1 while the stream to the server is authenticated.",
            f64::from(u8::from(self.connected.load(Ordering::Relaxed))),
        );
        counter(
            &mut out,
            "vantage_agent_stream_sessions_total",
            "Streams authenticated since start.",
            self.sessions.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "vantage_agent_healthy",
            "1 when the run loop and the collector are current (what /healthz answers).",
            f64::from(u8::from(self.stale().is_none())),
        );
        out
    }
}

/// Binds `addr` now (a busy port is an error at start-up) and serves until the task is
/// dropped.
pub async fn serve(
    addr: SocketAddr,
    status: Arc<Status>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on --metrics-addr {addr}: {e}"))?;
    tracing::info!(%addr, "metrics listening");
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let status = status.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let status = status.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&status, &request)) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .serve_connection(io, service);
                let _ = tokio::time::timeout(Duration::from_secs(30), connection).await;
            });
        }
    }))
}

fn answer<B>(status: &Status, request: &Request<B>) -> Response<Full<Bytes>> {
    let reply = |code: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = code;
        if let Ok(value) = content_type.parse() {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    if request.method() != hyper::Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match request.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            status.render(),
        ),
        "/healthz" => match status.stale() {
            None => reply(StatusCode::OK, "text/plain", "ok\n".into()),
            Some(reason) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("{reason}\n"),
            ),
        },
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "/metrics or /healthz\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_when_no_sample_arrives_for_three_intervals() {
        let status = Status::new(Duration::from_secs(10));
        assert_eq!(status.stale(), None);
        status
            .last_collection_ms
            .store(proto::clock::now_ms() - 31_000, Ordering::Relaxed);
        assert!(status.stale().unwrap().contains("no host sample for 31 s"));
        status.collected(Duration::from_millis(2));
        assert_eq!(status.stale(), None);
        status
            .last_recorded_ms
            .store(proto::clock::now_ms() - 60_000, Ordering::Relaxed);
        assert!(status.stale().unwrap().contains("spooled nothing"));
        let text = status.render();
        assert!(text.contains("vantage_agent_healthy 0\n"), "{text}");
        assert!(text.contains("vantage_agent_host_collection_duration_seconds_count 1\n"));
    }
}
