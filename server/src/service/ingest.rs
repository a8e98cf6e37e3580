//! The rules of the agent stream: who may enroll and with what names, whose answer to a
//! challenge is good, which events are stored, and what goes live. The gRPC layer
//! (`grpc::ingest`) speaks the protocol and calls these; so does local collection, whose
//! samples take the same batch writer.
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use proto::ErrorCode;
use proto::clock::{now_ms, now_s};
use proto::event::Body;
use tokio::sync::mpsc;

use super::Vantage;
use crate::alerts::engine::{CertificateObs, ContainerObs, ContainerStats, Input};
use crate::auth;
use crate::ingest::validate::{self, Invalid};
use crate::live::{HostNames, LiveEvent};
use crate::store::{
    AgentBatch, AgentRow, BatchItem, IngestError, NewAgent, Registration, SampleRow, SpoolReport,
};
use crate::streams::Control;

/// Prefix of enrollment tokens.
pub const ENROLLMENT_TOKEN_PREFIX: &str = "vtg_enr_";
/// Largest clock difference accepted in the authentication answer.
const MAX_SKEW_S: i64 = 300;
/// Lifecycle events older than this are history, not news: stored, never published live.
const FRESH_EVENT_MS: i64 = 120_000;

/// What of a batch is news for the alert rules (live, not a backfill).
#[derive(Default)]
struct News {
    containers: Option<Vec<ContainerObs>>,
    stats: Vec<proto::ContainerSample>,
    certificates: Vec<CertificateObs>,
}

fn container_obs(c: &proto::Container) -> ContainerObs {
    ContainerObs {
        name: c.name.clone(),
        state: app::ContainerState::from_docker(&c.state),
        health: app::ContainerHealth::from_docker(&c.health),
    }
}

fn certificate_obs(scan: &proto::CertificateScan) -> CertificateObs {
    CertificateObs {
        target: scan.target.clone(),
        days_left: (scan.not_after_unix > 0)
            .then(|| (scan.not_after_unix - proto::clock::now_s()).div_euclid(86_400)),
        valid: scan.chain_valid,
        error: scan.error.clone(),
    }
}

/// Why an enrollment was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// No token has that value.
    #[error("the enrollment token is unknown: generate one on the dashboard (Agents)")]
    Refused,
    /// The token (its holder knows it) has enrolled as many agents as it may.
    #[error(
        "the enrollment token is used up: it enrolled its {max_uses} agent(s); generate a new one"
    )]
    UsedUp { max_uses: i64 },
    /// The token (its holder knows it) is past its TTL.
    #[error("the enrollment token has expired; generate a new one")]
    Expired,
    /// A field breaks its rule.
    #[error("{0}")]
    Invalid(String),
    /// The store cannot take it now.
    #[error("the server cannot register agents right now")]
    Unavailable,
}

/// Why a stream's authentication was refused: the code and sentence the agent gets.
#[derive(Debug)]
pub struct Refusal {
    pub code: ErrorCode,
    pub text: String,
    pub retry_after_ms: u64,
}

impl Refusal {
    fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        Refusal {
            code,
            text: text.into(),
            retry_after_ms: 0,
        }
    }
}

/// An agent with an open, authenticated stream.
#[derive(Debug, Clone)]
pub struct StreamAgent {
    pub agent_id: String,
    pub names: HostNames,
    /// The newest event the store holds.
    pub last_seq: u64,
    /// Drops the server already knows of: a gap is accepted only for drops declared since.
    pub known_dropped: u64,
}

/// A committed batch: the agent's new position and the events refused at the edge.
#[derive(Debug)]
pub struct Committed {
    pub last_seq: u64,
    pub refused: Vec<(u64, Invalid)>,
}

/// Checks a name an agent gives at registration (hostname, OS, ...).
fn registration_text(field: &str, text: &str, max: usize) -> Result<(), EnrollError> {
    app::text::check_name(field, text, max).map_err(EnrollError::Invalid)
}

impl Vantage {
    /// Enrolls an agent with a single-use token: checks its key and names, stores it and
    /// returns its new id.
    pub async fn enroll_agent(
        &self,
        r: &proto::RegisterAgentRequest,
    ) -> Result<String, EnrollError> {
        if !r.enrollment_token.starts_with(ENROLLMENT_TOKEN_PREFIX) {
            return Err(EnrollError::Refused);
        }
        let key: [u8; 32] = r
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| EnrollError::Invalid("public_key must be 32 bytes".into()))?;
        // A small-order key (the all-zero one among them) would let forged signatures pass.
        let verifying = VerifyingKey::from_bytes(&key)
            .map_err(|_| EnrollError::Invalid("public_key is not an Ed25519 key".into()))?;
        if verifying.is_weak() {
            return Err(EnrollError::Invalid(
                "public_key is a weak (small-order) Ed25519 key".into(),
            ));
        }
        let hostname = r.hostname.trim().to_owned();
        registration_text("hostname", &hostname, 253)?;
        if hostname.is_empty() {
            return Err(EnrollError::Invalid("hostname is empty".into()));
        }
        // An empty label means the hostname.
        let label = if r.label.trim().is_empty() {
            hostname.clone()
        } else {
            r.label.trim().to_owned()
        };
        app::text::check_label(&label).map_err(EnrollError::Invalid)?;
        for (field, text) in [
            ("os", &r.os),
            ("arch", &r.arch),
            ("agent_version", &r.agent_version),
        ] {
            registration_text(field, text, 64)?;
        }
        let runtime = app::Runtime::from_report(&r.runtime).map_err(EnrollError::Invalid)?;
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
            .store
            .register_agent(&auth::sha256_hex(&r.enrollment_token), &agent)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot register an agent");
                EnrollError::Unavailable
            })?;
        match registered {
            Registration::Registered { .. } => {}
            Registration::Unknown => {
                tracing::warn!("enrollment refused: unknown token");
                return Err(EnrollError::Refused);
            }
            Registration::UsedUp { max_uses } => {
                tracing::warn!(max_uses, "enrollment refused: token used up");
                return Err(EnrollError::UsedUp { max_uses });
            }
            Registration::Expired => {
                tracing::warn!("enrollment refused: token expired");
                return Err(EnrollError::Expired);
            }
        }
        tracing::info!(agent_id = %agent.agent_id, label = ?agent.label, "agent enrolled");
        let detail = format!(
            "{} ({}, {} {})",
            agent.label, agent.hostname, agent.os, agent.arch
        );
        // The agent is registered and its token used: refusing now would strand it (its
        // token cannot enroll it again), so a failed append is only logged (by `audit`).
        let _ = self
            .audit(super::audit::Act {
                actor: &format!("agent:{}", agent.agent_id),
                action: "agent.enroll",
                subject: &agent.agent_id,
                detail: &detail,
            })
            .await;
        self.live.set_connected(&agent.agent_id, false);
        Ok(agent.agent_id)
    }

    /// Checks an agent's signed answer to the challenge `nonce`: a known, active agent whose
    /// key signed (nonce, id, time) with its clock near ours.
    pub async fn authenticate_agent(
        &self,
        nonce: &[u8; 32],
        answer: &proto::AuthResponse,
    ) -> Result<StreamAgent, Refusal> {
        let Ok(uuid) = uuid::Uuid::parse_str(&answer.agent_id) else {
            return Err(Refusal::new(
                ErrorCode::UnknownAgent,
                "agent_id is not a UUID",
            ));
        };
        let agent: AgentRow = match self.store.agent(&answer.agent_id).await {
            Ok(Some(agent)) => agent,
            Ok(None) => {
                return Err(Refusal::new(
                    ErrorCode::UnknownAgent,
                    format!("no agent {} is registered", answer.agent_id),
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot look an agent up");
                return Err(Refusal {
                    retry_after_ms: 2000,
                    ..Refusal::new(ErrorCode::Unavailable, "try again later")
                });
            }
        };
        if agent.status != app::AgentStatus::Active {
            return Err(Refusal::new(
                ErrorCode::AgentRevoked,
                "this agent was revoked",
            ));
        }
        let skew = now_s().saturating_sub(answer.timestamp);
        if skew.unsigned_abs() > MAX_SKEW_S as u64 {
            return Err(Refusal::new(
                ErrorCode::ClockSkew,
                format!("the agent's clock is {skew} s off the server's; fix its time (NTP)"),
            ));
        }
        let verified = base64::engine::general_purpose::STANDARD
            .decode(&agent.public_key)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .and_then(|k| VerifyingKey::from_bytes(&k).ok())
            .zip(Signature::from_slice(&answer.signature).ok())
            .is_some_and(|(key, signature)| {
                key.verify_strict(
                    &proto::auth_message(nonce, uuid.as_bytes(), answer.timestamp),
                    &signature,
                )
                .is_ok()
            });
        if !verified {
            return Err(Refusal::new(
                ErrorCode::Unauthenticated,
                "the signature does not match this agent's key",
            ));
        }
        Ok(StreamAgent {
            names: HostNames {
                label: agent.label.clone(),
                hostname: agent.hostname.clone(),
            },
            last_seq: agent.last_seq.max(0) as u64,
            known_dropped: agent.dropped_events.max(0) as u64,
            agent_id: agent.agent_id,
        })
    }

    /// Registers an authenticated stream (superseding an older one of the same agent) and
    /// marks the agent connected. The receiver says when revocation or a newer stream ends it.
    pub fn stream_opened(&self, agent: &StreamAgent) -> (u64, mpsc::Receiver<Control>) {
        let opened = self.streams.register(&agent.agent_id);
        self.connection(&agent.agent_id, true, "stream opened");
        tracing::info!(agent_id = %agent.agent_id, label = ?agent.names.label, "agent connected");
        opened
    }

    /// The agent sent something: it is connected.
    pub fn stream_heard(&self, agent_id: &str) {
        self.connection(agent_id, true, "heard again");
    }

    /// The stream ended; the agent counts as disconnected unless a newer stream took over.
    pub fn stream_closed(&self, agent_id: &str, stream_id: u64) {
        if self.streams.unregister(agent_id, stream_id) {
            self.connection(agent_id, false, "stream closed");
        }
    }

    /// Sets an agent's connection state; a change goes on its timeline (written in the
    /// background: the stream does not wait for it).
    fn connection(&self, agent_id: &str, connected: bool, why: &'static str) {
        if !self.live.set_connected(agent_id, connected) {
            return;
        }
        let store = self.store.clone();
        let agent_id = agent_id.to_owned();
        let at = proto::clock::now_ms();
        self.background.spawn(async move {
            if let Err(e) = store.record_connection(&agent_id, at, connected, why).await {
                tracing::warn!(%agent_id, error = %e, "cannot add a connection to the timeline");
            }
        });
    }

    /// Marks agents disconnected whose streams have been silent longer than `threshold`.
    pub fn mark_silent_agents(&self, threshold: Duration) {
        for agent_id in self.live.silent_agents(threshold) {
            tracing::info!(%agent_id, "agent silent past the threshold: disconnected");
            self.connection(&agent_id, false, "silent past the threshold");
        }
    }

    /// Checks each event of an agent's batch, commits it through the batch writer and puts
    /// what is news live. Refused events keep their place in the sequence (stored as
    /// nothing) and come back with their numbers and reasons.
    pub async fn ingest_batch(
        &self,
        agent: &StreamAgent,
        batch: proto::EventBatch,
    ) -> Result<Committed, IngestError> {
        let spool = SpoolReport {
            after_dropped: batch.after_dropped,
            dropped_total: batch.dropped_total,
        };
        let agent_id = agent.agent_id.as_str();
        let last_seq = agent.last_seq;
        let mut newest_host: Option<agent::collect::HostSample> = None;
        let mut lifecycle = Vec::new();
        let shared_id: Arc<str> = agent_id.into();
        let now = now_ms();
        let window = validate::Window {
            oldest_ms: now.saturating_sub(self.max_event_age_ms),
            now_ms: now,
        };
        let mut refused = Vec::new();
        let mut news = News::default();
        let first_seq = batch.first_seq;
        let items: Vec<BatchItem> = batch
            .events
            .into_iter()
            .enumerate()
            .map(|(i, event)| {
                let seq = first_seq + i as u64;
                if let Err(invalid) = validate::check_event(&event, window) {
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
                        let row = SampleRow::from_host(Some(shared_id.clone()), &sample);
                        if seq > last_seq
                            && newest_host.as_ref().is_none_or(|n| n.taken_at_ms <= ts_ms)
                        {
                            newest_host = Some(sample);
                        }
                        BatchItem::Host(row)
                    }
                    Some(Body::ContainerList(list)) => {
                        if self.is_live(ts_ms) {
                            news.containers =
                                Some(list.containers.iter().map(container_obs).collect());
                        }
                        BatchItem::ContainerList {
                            ts_ms,
                            containers: list.containers,
                        }
                    }
                    Some(Body::ContainerSample(sample)) => {
                        if self.is_live(ts_ms) {
                            news.stats.push(sample.clone());
                        }
                        BatchItem::ContainerSample { ts_ms, sample }
                    }
                    Some(Body::CertificateScan(scan)) => {
                        if self.is_live(ts_ms) {
                            news.certificates.push(certificate_obs(&scan));
                        }
                        BatchItem::CertificateScan { ts_ms, scan }
                    }
                    Some(Body::ContainerEvent(event)) => {
                        lifecycle.push((ts_ms, event.clone()));
                        BatchItem::ContainerEvent { ts_ms, event }
                    }
                    Some(Body::Inventory(snapshot)) => BatchItem::Inventory { ts_ms, snapshot },
                    _ => BatchItem::Ignored,
                }
            })
            .collect();
        // The newest sample goes to the dashboard as it arrives; the commit (for which the
        // writer gathers other agents' batches) is what history and the acknowledgement wait
        // for. Only the newest: a backfill after an outage is history, not news.
        let label = agent.names.label.as_str();
        let mut news_sample = None;
        if let Some(newest) = newest_host
            && Some(newest.taken_at_ms) > self.live.sample_time_ms(agent_id)
        {
            let live = self.is_live(newest.taken_at_ms);
            if live {
                news_sample = Some(newest.clone());
            }
            self.live
                .record_remote(agent_id, &agent.names, newest, live);
        }
        let new_last = self
            .writer
            .commit(AgentBatch {
                agent_id: agent_id.to_owned(),
                last_seq,
                first_seq,
                items,
                spool,
                known_dropped: agent.known_dropped,
            })
            .await?;
        if !refused.is_empty() {
            tracing::warn!(%agent_id, refused = refused.len(), first = %refused[0].1, "events refused at the edge");
            self.health.count_refused(refused.len() as u64);
        }
        if new_last > last_seq {
            // Alerts judge stored samples only.
            if let Some(newest) = &news_sample {
                self.observe(agent_id, label, Input::Sample(newest));
            }
            if let Some(list) = &news.containers {
                self.observe(agent_id, label, Input::Containers(list));
            }
            if !news.stats.is_empty() {
                let host_memory = self
                    .live
                    .with_sample(agent_id, |s| s.memory.total_bytes)
                    .unwrap_or(0);
                let stats: Vec<ContainerStats> = news
                    .stats
                    .iter()
                    .map(|c| ContainerStats {
                        name: c.name.clone(),
                        cpu_pct: c.cpu_pct,
                        memory_pct: agent::collect::percent(
                            c.memory_bytes as f64,
                            if c.memory_limit_bytes > 0 {
                                c.memory_limit_bytes
                            } else {
                                host_memory
                            } as f64,
                        ),
                    })
                    .collect();
                self.observe(agent_id, label, Input::ContainerStats(&stats));
            }
            if !news.certificates.is_empty() {
                self.observe(agent_id, label, Input::Certificates(&news.certificates));
            }
            let fresh_after = now_ms() - FRESH_EVENT_MS;
            for (ts_ms, event) in lifecycle.into_iter().filter(|(ts, _)| *ts >= fresh_after) {
                if event.action == "start" && self.is_live(ts_ms) {
                    self.observe(
                        agent_id,
                        label,
                        Input::ContainerStarted {
                            name: &event.name,
                            at_ms: ts_ms,
                        },
                    );
                }
                self.live.publish(LiveEvent::ContainerEvent {
                    agent_id: agent_id.to_owned(),
                    container_id: event.container_id,
                    name: event.name,
                    action: event.action,
                    detail: event.detail,
                    time_ms: ts_ms,
                });
            }
        }
        Ok(Committed {
            last_seq: new_last,
            refused,
        })
    }

    /// Stores a sample of this machine through the same batch writer as the agents' and
    /// puts it live.
    pub async fn record_local_sample(&self, sample: agent::collect::HostSample, took: Duration) {
        // Live at once, as an agent's sample is; alerts once it is stored.
        let row = SampleRow::from_host(None, &sample);
        self.live.record_local(sample.clone(), took);
        if let Err(e) = self.writer.commit_local(row).await {
            tracing::error!(error = %e, "cannot store the local sample");
        } else {
            let label = sample.hostname.clone();
            self.observe(app::LOCAL_AGENT_ID, &label, Input::Sample(&sample));
        }
    }

    /// Local collection failed this cycle.
    pub fn record_local_failure(&self, error: String, took: Duration) {
        self.live.record_local_failure(error, took);
    }
}
