//! RegisterAgent and the Connect stream: enrollment, challenge-response authentication, rate
//! limiting, and committing event batches before acknowledging them.
use proto::clock::now_s;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use proto::agent_message::Body as Up;
use proto::server_message::Body as Down;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::auth;
use crate::ingest::BatchWriter;
use crate::live::{HostNames, LiveEvent};
use crate::service::Vantage;
use crate::store::{AgentBatch, BatchItem, IngestError, NewAgent, SampleRow, SpoolReport};
use proto::ErrorCode;
use proto::event::Body;

/// Largest clock difference accepted in the authentication answer.
const MAX_SKEW_S: i64 = 300;
/// Prefix of enrollment tokens.
pub const ENROLLMENT_TOKEN_PREFIX: &str = "vtg_enr_";

/// What stops a live stream from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Revoked,
    Superseded,
}

/// The live stream of each connected agent, so revocation can end it at once.
#[derive(Default)]
pub struct StreamRegistry {
    next_id: AtomicU64,
    streams: Mutex<HashMap<String, (u64, mpsc::Sender<Control>)>>,
}

impl StreamRegistry {
    fn register(&self, agent_id: &str) -> (u64, mpsc::Receiver<Control>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(2);
        let previous = self
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(agent_id.to_owned(), (id, tx));
        if let Some((_, old)) = previous {
            let _ = old.try_send(Control::Superseded);
        }
        (id, rx)
    }

    /// Removes the stream if it is still the registered one; true if it was.
    fn unregister(&self, agent_id: &str, id: u64) -> bool {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if streams
            .get(agent_id)
            .is_some_and(|(current, _)| *current == id)
        {
            streams.remove(agent_id);
            return true;
        }
        false
    }

    /// Ends the agent's live stream with `Revoked`; false if it has none.
    pub fn revoke(&self, agent_id: &str) -> bool {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams
            .get(agent_id)
            .is_some_and(|(_, tx)| tx.try_send(Control::Revoked).is_ok())
    }
}

/// Intervals and limits handed to agents.
#[derive(Debug, Clone, Copy)]
pub struct IngestSettings {
    pub rate_limit_per_second: u32,
    pub host_interval_s: u32,
    /// Events older than this are refused (history that old is past its retention).
    pub max_event_age_ms: i64,
}

/// The tonic service.
#[derive(Clone)]
pub struct Ingest {
    vantage: Arc<Vantage>,
    writer: BatchWriter,
    settings: IngestSettings,
    /// One bucket per agent, shared by all its streams: reconnecting does not refill it.
    buckets: Arc<Mutex<HashMap<String, TokenBucket>>>,
    shutdown: CancellationToken,
}

impl Ingest {
    pub fn new(
        vantage: Arc<Vantage>,
        settings: IngestSettings,
        shutdown: CancellationToken,
    ) -> Self {
        // Room for a burst of batches (at most 500 events each, so memory stays in tens of MB);
        // past that, agents back off and resend from their spools.
        let writer = BatchWriter::start(vantage.store.clone(), vantage.health.clone(), 256, 256);
        Self {
            vantage,
            writer,
            settings,
            buckets: Arc::default(),
            shutdown,
        }
    }

    /// Takes `n` events from the agent's bucket, or says how long to wait.
    fn take_tokens(&self, agent_id: &str, n: usize) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.get_mut(agent_id) {
            return bucket.take(n);
        }
        buckets
            .entry(agent_id.to_owned())
            .or_insert_with(|| TokenBucket::new(self.settings.rate_limit_per_second))
            .take(n)
    }

    fn agent_settings(&self) -> proto::AgentSettings {
        proto::AgentSettings {
            host_interval_s: self.settings.host_interval_s,
            container_stats_interval_s: 10,
            container_list_interval_s: 30,
            certificate_interval_s: 60,
            rate_limit_per_second: self.settings.rate_limit_per_second,
        }
    }
}

fn message(body: Down) -> Result<proto::ServerMessage, Status> {
    Ok(proto::ServerMessage { body: Some(body) })
}

fn error(kind: ErrorCode, text: impl Into<String>, retry_after_ms: u64) -> Down {
    Down::Error(proto::Error::new(kind, text, retry_after_ms))
}

/// Checks a name an agent gives at registration (hostname, label, OS, ...).
fn registration_text(field: &str, text: &str, max: usize) -> Result<(), Status> {
    app::text::check_name(field, text, max).map_err(Status::invalid_argument)
}

#[tonic::async_trait]
impl proto::agent_service_server::AgentService for Ingest {
    async fn register_agent(
        &self,
        request: Request<proto::RegisterAgentRequest>,
    ) -> Result<Response<proto::RegisterAgentResponse>, Status> {
        let r = request.into_inner();
        if !r.enrollment_token.starts_with(ENROLLMENT_TOKEN_PREFIX) {
            return Err(Status::permission_denied(
                "the enrollment token is unknown, used or expired",
            ));
        }
        let key: [u8; 32] = r
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| Status::invalid_argument("public_key must be 32 bytes"))?;
        // A small-order key (the all-zero one among them) would let forged signatures pass.
        let verifying = VerifyingKey::from_bytes(&key)
            .map_err(|_| Status::invalid_argument("public_key is not an Ed25519 key"))?;
        if verifying.is_weak() {
            return Err(Status::invalid_argument(
                "public_key is a weak (small-order) Ed25519 key",
            ));
        }
        let hostname = r.hostname.trim().to_owned();
        registration_text("hostname", &hostname, 253)?;
        if hostname.is_empty() {
            return Err(Status::invalid_argument("hostname is empty"));
        }
        // An empty label means the hostname.
        let label = if r.label.trim().is_empty() {
            hostname.clone()
        } else {
            r.label.trim().to_owned()
        };
        app::text::check_label(&label).map_err(Status::invalid_argument)?;
        for (field, text) in [
            ("os", &r.os),
            ("arch", &r.arch),
            ("agent_version", &r.agent_version),
        ] {
            registration_text(field, text, 64)?;
        }
        let runtime = app::Runtime::from_report(&r.runtime).map_err(Status::invalid_argument)?;
        let agent = NewAgent {
            agent_id: uuid::Uuid::new_v4().to_string(),
            label,
            hostname,
            public_key: base64::engine::general_purpose::STANDARD.encode(key),
            runtime,
            os: r.os.clone(),
            arch: r.arch.clone(),
            agent_version: r.agent_version.clone(),
        };
        let registered = self
            .vantage
            .store
            .register_agent(&auth::sha256_hex(&r.enrollment_token), &agent)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot register an agent");
                Status::unavailable("the server cannot register agents right now")
            })?;
        if !registered {
            tracing::warn!("enrollment refused: unknown, used or expired token");
            return Err(Status::permission_denied(
                "the enrollment token is unknown, used or expired",
            ));
        }
        tracing::info!(agent_id = %agent.agent_id, label = ?agent.label, "agent enrolled");
        self.vantage.live.set_connected(&agent.agent_id, false);
        Ok(Response::new(proto::RegisterAgentResponse {
            agent_id: agent.agent_id,
            eat_verification_key: Vec::new(),
            settings: Some(self.agent_settings()),
        }))
    }

    type ConnectStream = ReceiverStream<Result<proto::ServerMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<proto::AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let inbound = request.into_inner();
        let (out, rx) = mpsc::channel(64);
        let ingest = self.clone();
        tokio::spawn(async move { ingest.session(inbound, out).await });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Refills `rate` tokens per second up to one second's worth; a batch takes its events whole
/// or not at all (never overdrawing).
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: rate,
            last: Instant::now(),
        }
    }

    /// Takes `n` tokens, or says how long to wait before trying again.
    fn take(&mut self, n: usize) -> Result<(), Duration> {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate);
        self.last = now;
        let n = n as f64;
        if self.tokens >= n {
            self.tokens -= n;
            Ok(())
        } else {
            let missing = (n - self.tokens).min(self.rate);
            Err(Duration::from_secs_f64(missing / self.rate).max(Duration::from_millis(1)))
        }
    }
}

type Outbound = mpsc::Sender<Result<proto::ServerMessage, Status>>;

impl Ingest {
    async fn session(&self, mut inbound: Streaming<proto::AgentMessage>, out: Outbound) {
        let Some(agent) = self.authenticate(&mut inbound, &out).await else {
            return;
        };
        let agent_id = agent.agent_id.clone();
        let (stream_id, mut control) = self.vantage.streams.register(&agent_id);
        let live = &self.vantage.live;
        live.set_connected(&agent_id, true);
        tracing::info!(%agent_id, label = ?agent.label, "agent connected");
        let names = HostNames {
            label: agent.label.clone(),
            hostname: agent.hostname.clone(),
        };
        let mut last_seq = agent.last_seq.max(0) as u64;
        // Drops the server already knows of: a gap is accepted only for drops declared since.
        let mut known_dropped = agent.dropped_events.max(0) as u64;
        let ok = proto::AuthOk {
            last_seq,
            settings: Some(self.agent_settings()),
        };
        let _ = out.send(message(Down::AuthOk(ok))).await;
        let reason = loop {
            let incoming = tokio::select! {
                c = control.recv() => {
                    match c {
                        Some(Control::Revoked) => {
                            let revoked = proto::Revoked { reason: "revoked by an operator".into() };
                            let _ = out.send(message(Down::Revoked(revoked))).await;
                            break "revoked";
                        }
                        _ => {
                            let _ = out.send(message(error(ErrorCode::Superseded, "a newer stream of this agent took over", 0))).await;
                            break "superseded";
                        }
                    }
                }
                _ = self.shutdown.cancelled() => {
                    let _ = out.send(message(error(ErrorCode::ServerShutdown, "the server is restarting", 1000))).await;
                    break "server shutdown";
                }
                m = inbound.message() => m,
            };
            let batch = match incoming {
                Ok(Some(proto::AgentMessage {
                    body: Some(Up::Batch(batch)),
                })) => batch,
                Ok(Some(_)) => continue,
                Ok(None) => break "the agent closed the stream",
                Err(status) if status.code() == tonic::Code::OutOfRange => {
                    let text = format!("a message is at most {} bytes", super::MAX_MESSAGE_BYTES);
                    let _ = out
                        .send(message(error(ErrorCode::MessageTooLarge, text, 0)))
                        .await;
                    break "a message over the size limit";
                }
                Err(_) => break "the stream broke",
            };
            live.set_connected(&agent_id, true);
            if let Err(invalid) = crate::ingest::validate::check_batch(&batch) {
                tracing::warn!(%agent_id, error = %invalid, "batch refused");
                let _ = out
                    .send(message(error(invalid.code, invalid.message, 0)))
                    .await;
                continue;
            }
            if batch.events.len() as u64 > u64::from(self.settings.rate_limit_per_second.max(1)) {
                let text = format!(
                    "a batch holds at most {} events (the rate limit per second)",
                    self.settings.rate_limit_per_second
                );
                let _ = out
                    .send(message(error(ErrorCode::BatchTooLarge, text, 1000)))
                    .await;
                continue;
            }
            if let Err(wait) = self.take_tokens(&agent_id, batch.events.len()) {
                let retry = wait.as_millis().max(1) as u64;
                let text = format!(
                    "more than {} events per second",
                    self.settings.rate_limit_per_second
                );
                let _ = out
                    .send(message(error(ErrorCode::RateLimited, text, retry)))
                    .await;
                continue;
            }
            let dropped_total = batch.dropped_total;
            match self
                .commit(&agent_id, &names, last_seq, known_dropped, batch)
                .await
            {
                Ok((new_last, refused)) => {
                    last_seq = new_last;
                    known_dropped = known_dropped.max(dropped_total);
                    for (seq, invalid) in refused {
                        let refusal = proto::Error {
                            seq,
                            ..proto::Error::new(invalid.code, invalid.message, 0)
                        };
                        let _ = out.send(message(Down::Error(refusal))).await;
                    }
                    let _ = out
                        .send(message(Down::Ack(proto::Ack { seq: last_seq })))
                        .await;
                }
                Err(IngestError::Invalid(text)) => {
                    let _ = out
                        .send(message(error(ErrorCode::InvalidBatch, text, 0)))
                        .await;
                }
                Err(IngestError::Gap { .. }) => {
                    let _ = out
                        .send(message(error(
                            ErrorCode::SequenceGap,
                            "resend from the last acknowledged event",
                            500,
                        )))
                        .await;
                }
                Err(IngestError::Superseded) => break "superseded",
                Err(IngestError::Overloaded) => {
                    let _ = out
                        .send(message(error(
                            ErrorCode::Overloaded,
                            "the server is behind; resend later",
                            1000,
                        )))
                        .await;
                }
                Err(IngestError::Unavailable) => {
                    let _ = out
                        .send(message(error(
                            ErrorCode::Unavailable,
                            "the server cannot store events right now",
                            2000,
                        )))
                        .await;
                }
                Err(IngestError::Store(e)) => {
                    tracing::error!(%agent_id, error = %e, "cannot commit a batch");
                    let _ = out
                        .send(message(error(
                            ErrorCode::Unavailable,
                            "the server cannot store events right now",
                            2000,
                        )))
                        .await;
                }
            }
        };
        if self.vantage.streams.unregister(&agent_id, stream_id) {
            live.set_connected(&agent_id, false);
        }
        tracing::info!(%agent_id, %reason, "agent stream ended");
    }

    /// Challenge, signed answer, checks. Answers the agent and returns `None` on failure.
    async fn authenticate(
        &self,
        inbound: &mut Streaming<proto::AgentMessage>,
        out: &Outbound,
    ) -> Option<crate::store::AgentRow> {
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).ok()?;
        out.send(message(Down::Challenge(proto::AuthChallenge {
            nonce: nonce.to_vec(),
        })))
        .await
        .ok()?;
        let answer = match tokio::time::timeout(Duration::from_secs(10), inbound.message()).await {
            Ok(Ok(Some(proto::AgentMessage {
                body: Some(Up::Auth(a)),
            }))) => a,
            _ => {
                let _ = out
                    .send(message(error(
                        ErrorCode::Unauthenticated,
                        "expected an authentication answer",
                        0,
                    )))
                    .await;
                return None;
            }
        };
        let claimed = answer.agent_id.clone();
        let refuse = |code: ErrorCode, text: String| async move {
            tracing::warn!(agent_id = ?claimed, code = code.as_str_name(), "agent authentication refused");
            let _ = out.send(message(error(code, text, 0))).await;
            None
        };
        let Ok(uuid) = uuid::Uuid::parse_str(&answer.agent_id) else {
            return refuse(ErrorCode::UnknownAgent, "agent_id is not a UUID".into()).await;
        };
        let agent = match self.vantage.store.agent(&answer.agent_id).await {
            Ok(Some(agent)) => agent,
            Ok(None) => {
                return refuse(
                    ErrorCode::UnknownAgent,
                    format!("no agent {} is registered", answer.agent_id),
                )
                .await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot look an agent up");
                let _ = out
                    .send(message(error(
                        ErrorCode::Unavailable,
                        "try again later",
                        2000,
                    )))
                    .await;
                return None;
            }
        };
        if agent.status != app::AgentStatus::Active {
            return refuse(ErrorCode::AgentRevoked, "this agent was revoked".into()).await;
        }
        let skew = now_s().saturating_sub(answer.timestamp);
        if skew.unsigned_abs() > MAX_SKEW_S as u64 {
            return refuse(
                ErrorCode::ClockSkew,
                format!("the agent's clock is {skew} s off the server's; fix its time (NTP)"),
            )
            .await;
        }
        let verified = base64::engine::general_purpose::STANDARD
            .decode(&agent.public_key)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .and_then(|k| VerifyingKey::from_bytes(&k).ok())
            .zip(Signature::from_slice(&answer.signature).ok())
            .is_some_and(|(key, signature)| {
                key.verify_strict(
                    &proto::auth_message(&nonce, uuid.as_bytes(), answer.timestamp),
                    &signature,
                )
                .is_ok()
            });
        if !verified {
            return refuse(
                ErrorCode::Unauthenticated,
                "the signature does not match this agent's key".into(),
            )
            .await;
        }
        Some(agent)
    }

    /// Checks each event and commits the batch; refused events keep their place in the
    /// sequence (stored as nothing) and come back with their numbers and reasons.
    async fn commit(
        &self,
        agent_id: &str,
        names: &HostNames,
        last_seq: u64,
        known_dropped: u64,
        batch: proto::EventBatch,
    ) -> Result<(u64, Vec<(u64, crate::ingest::validate::Invalid)>), IngestError> {
        let spool = SpoolReport {
            after_dropped: batch.after_dropped,
            dropped_total: batch.dropped_total,
        };
        let mut newest_host: Option<agent::collect::HostSample> = None;
        let mut lifecycle = Vec::new();
        let agent: std::sync::Arc<str> = agent_id.into();
        let now_ms = proto::clock::now_ms();
        let window = crate::ingest::validate::Window {
            oldest_ms: now_ms.saturating_sub(self.settings.max_event_age_ms),
            now_ms,
        };
        let mut refused = Vec::new();
        let first_seq = batch.first_seq;
        let items: Vec<BatchItem> = batch
            .events
            .into_iter()
            .enumerate()
            .map(|(i, event)| {
                let seq = first_seq + i as u64;
                if let Err(invalid) = crate::ingest::validate::check_event(&event, window) {
                    // Duplicates of committed events are skipped anyway: no need to refuse them.
                    if seq > last_seq {
                        refused.push((seq, invalid));
                    }
                    return BatchItem::Ignored;
                }
                let ts_ms = event.time_ms;
                match event.body {
                    Some(Body::HostSample(s)) => {
                        let sample = agent::stream::wire::host_sample_from_wire(ts_ms, s);
                        let row = SampleRow::from_host(Some(agent.clone()), &sample);
                        if newest_host.as_ref().is_none_or(|n| n.taken_at_ms <= ts_ms) {
                            newest_host = Some(sample);
                        }
                        BatchItem::Host(row)
                    }
                    Some(Body::ContainerList(list)) => BatchItem::ContainerList {
                        ts_ms,
                        containers: list.containers,
                    },
                    Some(Body::ContainerSample(sample)) => {
                        BatchItem::ContainerSample { ts_ms, sample }
                    }
                    Some(Body::CertificateScan(scan)) => BatchItem::CertificateScan { ts_ms, scan },
                    Some(Body::ContainerEvent(event)) => {
                        lifecycle.push((ts_ms, event.clone()));
                        BatchItem::ContainerEvent { ts_ms, event }
                    }
                    _ => BatchItem::Ignored,
                }
            })
            .collect();
        let new_last = self
            .writer
            .commit(AgentBatch {
                agent_id: agent_id.to_owned(),
                last_seq,
                first_seq,
                items,
                spool,
                known_dropped,
            })
            .await?;
        if !refused.is_empty() {
            tracing::warn!(%agent_id, refused = refused.len(), first = %refused[0].1, "events refused at the edge");
            self.vantage.health.count_refused(refused.len() as u64);
        }
        if new_last > last_seq {
            let live = &self.vantage.live;
            // Only the newest sample goes live: a backfill after an outage is history, not news.
            if let Some(newest) = newest_host
                && newest.taken_at_ms > live.sample(agent_id).map_or(i64::MIN, |s| s.taken_at_ms)
            {
                live.record_remote(agent_id, names, newest);
            }
            let fresh_after = proto::clock::now_ms() - 120_000;
            for (ts_ms, event) in lifecycle.into_iter().filter(|(ts, _)| *ts >= fresh_after) {
                live.publish(LiveEvent::ContainerEvent {
                    agent_id: agent_id.to_owned(),
                    container_id: event.container_id,
                    name: event.name,
                    action: event.action,
                    detail: event.detail,
                    time_ms: ts_ms,
                });
            }
        }
        Ok((new_last, refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refuses_past_the_rate_and_refills() {
        let mut bucket = TokenBucket::new(100);
        assert!(bucket.take(60).is_ok());
        assert!(
            bucket.take(101).is_err(),
            "a batch larger than the bucket never fits"
        );
        let wait = bucket.take(60).unwrap_err();
        assert!(
            wait > Duration::from_millis(100) && wait < Duration::from_millis(300),
            "{wait:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(bucket.take(60).is_ok());
    }

    #[test]
    fn a_stream_registered_again_supersedes_the_old_one() {
        let registry = StreamRegistry::default();
        let (first, mut first_rx) = registry.register("a");
        let (second, _second_rx) = registry.register("a");
        assert_eq!(first_rx.try_recv().unwrap(), Control::Superseded);
        assert!(
            !registry.unregister("a", first),
            "the old stream must not remove the new one"
        );
        assert!(registry.revoke("a"));
        assert!(registry.unregister("a", second));
        assert!(!registry.revoke("a"));
    }
}
