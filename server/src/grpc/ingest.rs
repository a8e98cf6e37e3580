//! RegisterAgent and the Connect stream as the protocol has them: the challenge, the
//! per-agent rate limit, and the answers (acknowledgements, refusals, back-off). The rules
//! (who may enroll, whose signature is good, what is stored) are the service's.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::ErrorCode;
use proto::agent_message::Body as Up;
use proto::server_message::Body as Down;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::service::{Committed, EnrollError, StreamAgent, Vantage};
use crate::store::IngestError;
use crate::streams::Control;

/// Intervals and limits handed to agents.
#[derive(Debug, Clone, Copy)]
pub struct IngestSettings {
    pub rate_limit_per_second: u32,
    pub host_interval_s: u32,
}

/// The tonic service.
#[derive(Clone)]
pub struct Ingest {
    vantage: Arc<Vantage>,
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
        Self {
            vantage,
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

#[tonic::async_trait]
impl proto::agent_service_server::AgentService for Ingest {
    async fn register_agent(
        &self,
        request: Request<proto::RegisterAgentRequest>,
    ) -> Result<Response<proto::RegisterAgentResponse>, Status> {
        let r = request.into_inner();
        let agent_id = self.vantage.enroll_agent(&r).await.map_err(|e| match e {
            EnrollError::Refused | EnrollError::UsedUp { .. } | EnrollError::Expired => {
                Status::permission_denied(e.to_string())
            }
            EnrollError::Invalid(text) => Status::invalid_argument(text),
            EnrollError::Unavailable => Status::unavailable(e.to_string()),
        })?;
        Ok(Response::new(proto::RegisterAgentResponse {
            agent_id,
            eat_verification_key: self.vantage.action_key().to_vec(),
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
        let Some(mut agent) = self.authenticate(&mut inbound, &out).await else {
            return;
        };
        let agent_id = agent.agent_id.clone();
        let (stream_id, mut control) = self.vantage.stream_opened(&agent);
        let ok = proto::AuthOk {
            last_seq: agent.last_seq,
            settings: Some(self.agent_settings()),
        };
        let _ = out.send(message(Down::AuthOk(ok))).await;
        // Restarts signed while the agent was away go now, if they have not expired.
        let vantage = self.vantage.clone();
        let pending_for = agent_id.clone();
        tokio::spawn(async move { vantage.deliver_pending(&pending_for).await });
        let reason = loop {
            let incoming = tokio::select! {
                c = control.recv() => {
                    match c {
                        Some(Control::Revoked) => {
                            let revoked = proto::Revoked { reason: "revoked by an operator".into() };
                            let _ = out.send(message(Down::Revoked(revoked))).await;
                            break "revoked";
                        }
                        Some(Control::RequestInventory) => {
                            let _ = out.send(message(Down::RequestInventory(proto::RequestInventory {}))).await;
                            continue;
                        }
                        Some(Control::Action(order)) => {
                            let _ = out.send(message(Down::Action(*order))).await;
                            continue;
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
                Ok(Some(proto::AgentMessage {
                    body: Some(Up::ActionResult(result)),
                })) => {
                    self.vantage.stream_heard(&agent_id);
                    if let Err(e) = self.vantage.record_action_result(&agent_id, result).await {
                        tracing::error!(%agent_id, error = %e, "cannot record a restart's result");
                    }
                    continue;
                }
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
            self.vantage.stream_heard(&agent_id);
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
            match self.vantage.ingest_batch(&agent, batch).await {
                Ok(Committed { last_seq, refused }) => {
                    agent.last_seq = last_seq;
                    agent.known_dropped = agent.known_dropped.max(dropped_total);
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
                Err(e @ (IngestError::Unavailable | IngestError::Store(_))) => {
                    if let IngestError::Store(e) = e {
                        tracing::error!(%agent_id, error = %e, "cannot commit a batch");
                    }
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
        self.vantage.stream_closed(&agent_id, stream_id);
        tracing::info!(%agent_id, %reason, "agent stream ended");
    }

    /// Challenge, signed answer, checks. Answers the agent and returns `None` on failure.
    async fn authenticate(
        &self,
        inbound: &mut Streaming<proto::AgentMessage>,
        out: &Outbound,
    ) -> Option<StreamAgent> {
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
        match self.vantage.authenticate_agent(&nonce, &answer).await {
            Ok(agent) => Some(agent),
            Err(refusal) => {
                tracing::warn!(agent_id = ?answer.agent_id, code = refusal.code.as_str_name(), "agent authentication refused");
                let _ = out
                    .send(message(error(
                        refusal.code,
                        refusal.text,
                        refusal.retry_after_ms,
                    )))
                    .await;
                None
            }
        }
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
}
