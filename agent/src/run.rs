//! The agent's life: enroll once, then keep an authenticated stream to the server, sending
//! host samples and reconnecting with backoff until revoked or stopped.
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::ErrorCode;
use proto::agent_message::Body as Up;
use proto::agent_service_client::AgentServiceClient;
use proto::server_message::Body as Down;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::collect::HostCollector;
use crate::identity::{self, Identity};
use crate::metrics::Status;
use crate::spool::Spool;
use crate::stream::{self, ConnectError, ServerAddress, ServerTrust};

/// Everything `vantage-agent run` needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub server: Option<String>,
    pub enrollment_token: Option<String>,
    pub label: Option<String>,
    pub server_pin: Option<String>,
    pub runtime: String,
    pub state_dir: PathBuf,
    pub insecure_skip_tls_verify: bool,
    pub proc_root: PathBuf,
    pub host_interval: Duration,
    /// The host's root file system when mounted elsewhere (containers).
    pub host_root: Option<PathBuf>,
    /// The Docker Engine socket; container collection is off when it does not exist.
    pub docker_socket: PathBuf,
    /// Largest size of the on-disk spool of unacknowledged events.
    pub spool_max_bytes: u64,
    /// Oldest event the spool keeps.
    pub spool_max_age: Duration,
    /// TLS endpoints and certificate files to scan.
    pub cert_targets: Vec<crate::certs::CertTarget>,
    /// How often they are scanned.
    pub cert_interval: Duration,
    /// Where to serve `/metrics` and `/healthz`; off when `None`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The longest between two inventories sent.
    pub inventory_interval: Duration,
    /// How often the inventory is taken to see whether it changed.
    pub inventory_check_interval: Duration,
    /// Whether the inventory is collected and sent at all.
    pub inventory: bool,
    /// What restarts this agent runs.
    pub actions: crate::actions::Policy,
    /// Send one host sample and one inventory, wait for them to be acknowledged, and exit.
    pub once: bool,
}

/// How a run ended without an error.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server revoked this agent: it must not reconnect.
    Revoked(String),
    /// Asked to stop (SIGTERM, Ctrl-C).
    Stopped,
}

/// A stream that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);

/// The existing enrollment, or a new one made with the configured token.
pub async fn ensure_enrolled(config: &RunConfig) -> anyhow::Result<Identity> {
    match identity::load(&identity::path_in(&config.state_dir))? {
        Some(identity) => {
            tracing::info!(agent_id = %identity.agent_id, server = %identity.server, "using the existing enrollment");
            Ok(identity)
        }
        None => enroll(config).await,
    }
}

/// Enrolls if needed, then streams until revoked or `shutdown` resolves.
pub async fn run(
    config: RunConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Outcome> {
    let status = Arc::new(Status::new(config.host_interval));
    let metrics = match config.metrics_addr {
        Some(addr) => Some(crate::metrics::serve(addr, status.clone()).await?),
        None => None,
    };
    let identity_path = identity::path_in(&config.state_dir);
    let identity = ensure_enrolled(&config).await?;
    let address = ServerAddress::parse(&identity.server).map_err(anyhow::Error::msg)?;
    let trust = trust(
        identity.server_pin.as_deref(),
        config.insecure_skip_tls_verify,
    )?;
    let key = identity.signing_key(&identity_path)?;
    let uuid = identity.uuid(&identity_path)?;

    let server_key = identity
        .server_key
        .as_deref()
        .and_then(crate::actions::decode_key);
    let mut guard = crate::actions::Guard::open(
        &config.state_dir,
        server_key,
        server_key.map(|k| crate::tlog::origin_of(&k)),
        *uuid.as_bytes(),
        config.actions.clone(),
    )?;
    let (results_tx, mut results) = mpsc::channel::<proto::ActionResult>(16);
    let inventory_asked = Arc::new(tokio::sync::Notify::new());
    let (events_tx, mut events) = mpsc::channel(1024);
    let sources = crate::inventory::Sources {
        proc_root: config.proc_root.clone(),
        passwd: config
            .host_root
            .as_deref()
            .map_or_else(|| PathBuf::from("/etc/passwd"), |r| r.join("etc/passwd")),
        docker_socket: config.docker_socket.clone(),
    };
    if config.once {
        return once(
            &config, &identity, &address, &trust, &key, &uuid, sources, &status,
        )
        .await;
    }
    let inventory = tokio::spawn({
        let (asked, events) = (inventory_asked.clone(), events_tx.clone());
        let (on, every, check) = (
            config.inventory,
            config.inventory_interval,
            config.inventory_check_interval,
        );
        async move {
            if on {
                crate::inventory::watch(sources, every, check, asked, events).await
            }
        }
    });
    // Container stats follow the host interval; the full list comes every three of them.
    let intervals = crate::docker::DockerIntervals {
        stats: config.host_interval,
        list: config.host_interval * 3,
    };
    let certificates = tokio::spawn(crate::certs::watch(
        config.cert_targets.clone(),
        config.cert_interval,
        events_tx.clone(),
    ));
    let containers = tokio::spawn(crate::docker::watch(
        config.docker_socket.clone(),
        intervals,
        events_tx.clone(),
    ));
    let collector = tokio::spawn(collect_host(
        config.host_root.clone(),
        config.proc_root.clone(),
        config.host_interval,
        events_tx,
        status.clone(),
    ));
    let spool_dir = config.state_dir.join("spool");
    let mut spool = Spool::open(&spool_dir, config.spool_max_bytes, config.spool_max_age)?;
    status.spooled(&spool);
    let mut backoff = Backoff::default();
    let mut last_failure = String::new();
    tokio::pin!(shutdown);
    let outcome = loop {
        let session = Session {
            address: &address,
            trust: &trust,
            key: &key,
            uuid: *uuid.as_bytes(),
            agent_id: &identity.agent_id,
            status: &status,
            once: false,
        };
        let started = Instant::now();
        let mut work = Work {
            events: &mut events,
            guard: &mut guard,
            results: &mut results,
            results_tx: &results_tx,
            inventory_asked: &inventory_asked,
        };
        let end = tokio::select! {
            end = session.run(&mut spool, &mut work) => end,
            _ = &mut shutdown => break Ok(Outcome::Stopped),
        };
        status.set_connected(false);
        let reason = match end {
            SessionEnd::Revoked(reason) => break Ok(Outcome::Revoked(reason)),
            SessionEnd::Fatal(e) => break Err(e),
            SessionEnd::Retry(reason) => reason,
            SessionEnd::Done => break Ok(Outcome::Stopped),
        };
        if started.elapsed() >= STABLE_AFTER {
            backoff = Backoff::default();
        }
        let delay = backoff.next_delay();
        // Each kind of failure is logged once, not on every attempt.
        if reason != last_failure {
            tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "stream to the server lost; retrying with backoff");
            last_failure = reason;
        }
        let wake = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => break,
                Some(event) = events.recv() => {
                    record(&mut spool, event, &mut events);
                    status.spooled(&spool);
                }
                _ = &mut shutdown => return Ok(Outcome::Stopped),
            }
        }
    };
    collector.abort();
    containers.abort();
    certificates.abort();
    inventory.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    outcome
}

fn trust(pin: Option<&str>, insecure: bool) -> anyhow::Result<ServerTrust> {
    if insecure {
        tracing::warn!(
            "TLS VERIFICATION IS OFF (--grpc-insecure-skip-tls-verify): anyone on the network path can read and \
             change this agent's traffic. Use this for development only."
        );
        return Ok(ServerTrust::InsecureSkipVerify);
    }
    match pin {
        Some(pin) => Ok(ServerTrust::Pinned(
            stream::tls::parse_pin(pin).map_err(anyhow::Error::msg)?,
        )),
        None => Ok(ServerTrust::SystemRoots),
    }
}

async fn enroll(config: &RunConfig) -> anyhow::Result<Identity> {
    let (Some(server), Some(token)) = (&config.server, &config.enrollment_token) else {
        anyhow::bail!(
            "this agent is not enrolled yet: give --server grpcs://HOST:PORT and --enrollment-token (from the dashboard's \"Generate enrollment token\")"
        );
    };
    let address = ServerAddress::parse(server).map_err(anyhow::Error::msg)?;
    let trust = trust(
        config.server_pin.as_deref(),
        config.insecure_skip_tls_verify,
    )?;
    let hostname = crate::collect::host_name(&config.proc_root, config.host_root.as_deref());
    let label = config.label.clone().unwrap_or_else(|| hostname.clone());
    if label.chars().count() > 64 {
        anyhow::bail!("--label is at most 64 characters");
    }
    // The handshake (and the pin check) completes before the token leaves this host.
    let channel = stream::connect(&address, &trust).await?;
    let key = identity::generate_key()?;
    let request = proto::RegisterAgentRequest {
        enrollment_token: token.clone(),
        public_key: key.verifying_key().to_bytes().to_vec(),
        hostname,
        label: label.clone(),
        runtime: config.runtime.clone(),
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let response = AgentServiceClient::new(channel)
        .register_agent(request)
        .await
        .map_err(|status| match status.code() {
            tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
                anyhow::anyhow!(
                    "the server refused the enrollment token: {}",
                    status.message()
                )
            }
            _ => anyhow::anyhow!("enrollment failed: {}", status.message()),
        })?;
    let response = response.into_inner();
    let identity = Identity {
        agent_id: response.agent_id,
        private_key: Identity::encode_key(&key),
        server: address.to_string(),
        server_pin: config.server_pin.clone(),
        label,
        enrolled_at: proto::clock::now_s(),
        server_key: (response.eat_verification_key.len() == 32).then(|| {
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                &response.eat_verification_key,
            )
        }),
    };
    if identity.server_key.is_none() {
        tracing::warn!(
            "the server gave no key for signed actions: this agent will run no restarts"
        );
    }
    identity::save(&identity::path_in(&config.state_dir), &identity)?;
    tracing::info!(agent_id = %identity.agent_id, "enrolled");
    Ok(identity)
}

async fn collect_host(
    host_root: Option<PathBuf>,
    proc_root: PathBuf,
    interval: Duration,
    events: mpsc::Sender<proto::Event>,
    status: Arc<Status>,
) {
    let mut collector = match HostCollector::new(&proc_root) {
        Ok(c) => c.with_host_root(host_root),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the host's /proc; no host samples will be sent");
            return;
        }
    };
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + interval.min(Duration::from_secs(1)),
        interval,
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let result = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let result = collector.collect();
            (collector, result, started.elapsed())
        })
        .await;
        let Ok((c, result, took)) = result else {
            return;
        };
        collector = c;
        match result {
            Ok(sample) => {
                status.collected(took);
                let event = proto::Event {
                    time_ms: sample.taken_at_ms,
                    body: Some(proto::event::Body::HostSample(proto::HostSample::from(
                        &sample,
                    ))),
                };
                if events.send(event).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                status.collection_failed();
                tracing::warn!(error = %e, "host collection failed");
            }
        }
    }
}

enum SessionEnd {
    Revoked(String),
    Retry(String),
    Fatal(anyhow::Error),
    /// `--once`: everything sent was acknowledged.
    Done,
}

/// What a session works through besides the spool: new events, restart orders and their
/// results, and the server's requests for an inventory.
struct Work<'a> {
    events: &'a mut mpsc::Receiver<proto::Event>,
    guard: &'a mut crate::actions::Guard,
    /// Results of restarts run, waiting for a stream (they outlive a session).
    results: &'a mut mpsc::Receiver<proto::ActionResult>,
    results_tx: &'a mpsc::Sender<proto::ActionResult>,
    inventory_asked: &'a tokio::sync::Notify,
}

struct Session<'a> {
    address: &'a ServerAddress,
    trust: &'a ServerTrust,
    key: &'a ed25519_dalek::SigningKey,
    uuid: [u8; 16],
    agent_id: &'a str,
    status: &'a Status,
    /// Ends the session once the spool is empty (`--once`).
    once: bool,
}

impl Session<'_> {
    async fn run(&self, spool: &mut Spool, work: &mut Work<'_>) -> SessionEnd {
        let events = &mut *work.events;
        let channel = match stream::connect(self.address, self.trust).await {
            Ok(c) => c,
            Err(e @ ConnectError::PinMismatch(_)) => return SessionEnd::Fatal(e.into()),
            Err(e) => return SessionEnd::Retry(e.to_string()),
        };
        let (up, up_rx) = mpsc::channel::<proto::AgentMessage>(64);
        let mut down = match AgentServiceClient::new(channel)
            .connect(ReceiverStream::new(up_rx))
            .await
        {
            Ok(response) => response.into_inner(),
            Err(status) => {
                return SessionEnd::Retry(format!(
                    "the server refused the stream: {}",
                    status.message()
                ));
            }
        };
        let send = |body: Up| {
            let up = up.clone();
            async move {
                up.send(proto::AgentMessage { body: Some(body) })
                    .await
                    .is_ok()
            }
        };

        // Challenge, signed answer, then the server's committed position.
        let nonce = match next(&mut down).await {
            Ok(Down::Challenge(c)) => c.nonce,
            Ok(other) => return end_for(other),
            Err(end) => return end,
        };
        let auth = crate::stream::answer_challenge(self.key, self.agent_id, &self.uuid, &nonce);
        if !send(Up::Auth(auth)).await {
            return SessionEnd::Retry("the stream closed during authentication".into());
        }
        // Everything at or below the server's position is committed there.
        let (mut server_seq, rate_limit) = match next(&mut down).await {
            Ok(Down::AuthOk(ok)) => (
                ok.last_seq,
                ok.settings.map_or(0, |s| s.rate_limit_per_second),
            ),
            Ok(other) => return end_for(other),
            Err(end) => return end,
        };
        if let Err(e) = spool.ack(server_seq) {
            tracing::error!(error = %e, "cannot update the spool");
        }
        tracing::info!(server = %self.address, resume_after = server_seq, "stream authenticated");
        self.status.set_connected(true);
        self.status.spooled(spool);
        let mut sent = server_seq;
        // The last sequence number of each batch sent and not yet answered.
        let mut in_flight: VecDeque<u64> = VecDeque::new();
        let mut paused_until: Option<tokio::time::Instant> = None;
        // A batch never holds more events than the server lets an agent send per second.
        let batch_events = match rate_limit {
            0 => stream::MAX_BATCH_EVENTS,
            n => stream::MAX_BATCH_EVENTS.min(n as usize),
        };
        loop {
            if paused_until.is_none() && in_flight.len() < stream::MAX_BATCHES_IN_FLIGHT {
                match spool.read_after(sent, batch_events) {
                    Ok(batch) if !batch.is_empty() => {
                        let first_seq = batch[0].0;
                        let last_seq = batch[batch.len() - 1].0;
                        let batch = proto::EventBatch {
                            first_seq,
                            events: batch.into_iter().map(|(_, e)| e).collect(),
                            // Right after the server's position, a jump means our spool dropped
                            // those events: the server may accept the gap.
                            after_dropped: sent == server_seq && first_seq > server_seq + 1,
                            dropped_total: spool.dropped(),
                        };
                        if !send(Up::Batch(batch)).await {
                            return SessionEnd::Retry("the stream closed".into());
                        }
                        sent = last_seq;
                        in_flight.push_back(last_seq);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot read the spool"),
                }
            }
            if self.once && spool.is_empty() && in_flight.is_empty() {
                return SessionEnd::Done;
            }
            let pause = paused_until;
            tokio::select! {
                Some(event) = events.recv() => {
                    record(spool, event, events);
                    self.status.spooled(spool);
                }
                Some(result) = work.results.recv() => {
                    if !send(Up::ActionResult(result.clone())).await {
                        // Kept for the next stream.
                        let _ = work.results_tx.try_send(result);
                        return SessionEnd::Retry("the stream closed".into());
                    }
                }
                message = next(&mut down) => match message {
                    Ok(Down::Ack(ack)) => {
                        server_seq = server_seq.max(ack.seq);
                        while in_flight.front().is_some_and(|last| *last <= ack.seq) {
                            in_flight.pop_front();
                        }
                        if let Err(e) = spool.ack(ack.seq) {
                            tracing::error!(error = %e, "cannot update the spool");
                        }
                        self.status.spooled(spool);
                    }
                    Ok(Down::Error(e)) if e.error_code() == ErrorCode::InvalidEvent => {
                        // The server stored the rest of the batch and acknowledges past this
                        // one: count it, never send it again.
                        tracing::warn!(seq = e.seq, reason = %e.message, "the server refused an event");
                        if let Err(e) = spool.count_refused(1) {
                            tracing::error!(error = %e, "cannot update the spool");
                        }
                    }
                    Ok(Down::Error(e)) if e.retry_after_ms > 0 => {
                        // The answer to the oldest batch in flight.
                        in_flight.pop_front();
                        tracing::debug!(code = %e.code, retry_after_ms = e.retry_after_ms, "server asked to slow down");
                        paused_until = Some(tokio::time::Instant::now() + Duration::from_millis(e.retry_after_ms.min(60_000)));
                    }
                    Ok(Down::RequestInventory(_)) => work.inventory_asked.notify_one(),
                    Ok(Down::Action(order)) => act(work.guard, order, work.results_tx.clone()),
                    Ok(other) => {
                        if let end @ (SessionEnd::Revoked(_) | SessionEnd::Fatal(_)) = end_for(other) {
                            return end;
                        }
                    }
                    Err(end) => return end,
                },
                _ = tokio::time::sleep_until(pause.unwrap_or_else(tokio::time::Instant::now)), if pause.is_some() => {
                    // The refused batch and everything after it go again.
                    paused_until = None;
                    sent = server_seq;
                    in_flight.clear();
                }
            }
        }
    }
}

/// Checks a restart order and, if every check passes, runs it in the background; either way
/// the answer goes on `results`. Nothing runs for a refused order.
fn act(
    guard: &mut crate::actions::Guard,
    order: proto::Action,
    results: mpsc::Sender<proto::ActionResult>,
) {
    let now = proto::clock::now_s();
    let eat_id = crate::eat::Eat::decode(&order.eat)
        .map(|e| e.eat_id_text())
        .unwrap_or_default();
    match guard.check(&order, now) {
        Err(refusal) => {
            tracing::warn!(%eat_id, reason = %refusal, "restart order refused; nothing ran");
            let result = proto::ActionResult {
                eat_id,
                exit_code: -1,
                error: refusal.to_string(),
                checkpoint_size: guard.checkpoint_size(),
                refused: true,
                budget_spent: refusal.is_budget(),
                ..Default::default()
            };
            let _ = results.try_send(result);
        }
        Ok(approved) => {
            tracing::info!(
                %eat_id,
                app_type = %approved.eat.app_type,
                identifier = %approved.eat.identifier,
                requested_by = %approved.eat.requested_by,
                "running a signed restart"
            );
            let checkpoint_size = guard.checkpoint_size();
            let runner = guard.runner();
            tokio::spawn(async move {
                let outcome = runner.run(&approved).await;
                tracing::info!(%eat_id, exit_code = outcome.exit_code, error = %outcome.error, "restart finished");
                let _ = results
                    .send(proto::ActionResult {
                        eat_id,
                        exit_code: outcome.exit_code,
                        stdout: outcome.stdout,
                        stderr: outcome.stderr,
                        error: outcome.error,
                        checkpoint_size,
                        refused: false,
                        budget_spent: false,
                    })
                    .await;
            });
        }
    }
}

/// `--once`: one host sample and one inventory, sent and acknowledged, then out.
#[allow(clippy::too_many_arguments)]
async fn once(
    config: &RunConfig,
    identity: &Identity,
    address: &ServerAddress,
    trust: &ServerTrust,
    key: &ed25519_dalek::SigningKey,
    uuid: &uuid::Uuid,
    sources: crate::inventory::Sources,
    status: &Arc<Status>,
) -> anyhow::Result<Outcome> {
    let mut spool = Spool::open(
        &config.state_dir.join("spool"),
        config.spool_max_bytes,
        config.spool_max_age,
    )?;
    let (events_tx, mut events) = mpsc::channel(16);
    let mut collector =
        HostCollector::new(&config.proc_root)?.with_host_root(config.host_root.clone());
    // CPU shares need two readings.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sample = tokio::task::spawn_blocking(move || collector.collect()).await??;
    let host = proto::Event {
        time_ms: sample.taken_at_ms,
        body: Some(proto::event::Body::HostSample(proto::HostSample::from(
            &sample,
        ))),
    };
    let inventory = proto::Event {
        time_ms: proto::clock::now_ms(),
        body: Some(proto::event::Body::Inventory(
            crate::inventory::take(&sources).await,
        )),
    };
    record(&mut spool, host, &mut events);
    record(&mut spool, inventory, &mut events);
    drop(events_tx);
    let mut guard = crate::actions::Guard::open(
        &config.state_dir,
        None,
        None,
        *uuid.as_bytes(),
        crate::actions::Policy::default(),
    )?;
    let (results_tx, mut results) = mpsc::channel(1);
    let asked = tokio::sync::Notify::new();
    let session = Session {
        address,
        trust,
        key,
        uuid: *uuid.as_bytes(),
        agent_id: &identity.agent_id,
        status,
        once: true,
    };
    let mut work = Work {
        events: &mut events,
        guard: &mut guard,
        results: &mut results,
        results_tx: &results_tx,
        inventory_asked: &asked,
    };
    let deadline = Duration::from_secs(60);
    match tokio::time::timeout(deadline, session.run(&mut spool, &mut work)).await {
        Ok(SessionEnd::Done) => Ok(Outcome::Stopped),
        Ok(SessionEnd::Revoked(reason)) => Ok(Outcome::Revoked(reason)),
        Ok(SessionEnd::Fatal(e)) => Err(e),
        Ok(SessionEnd::Retry(reason)) => anyhow::bail!("could not send to the server: {reason}"),
        Err(_) => anyhow::bail!("the server did not acknowledge within a minute"),
    }
}

/// Spools `event` and any others already waiting, then makes them durable with one sync and
/// applies the spool's bounds.
fn record(spool: &mut Spool, event: proto::Event, events: &mut mpsc::Receiver<proto::Event>) {
    let mut write = |event: proto::Event| {
        if let Err(e) = spool.append(&event) {
            tracing::error!(error = %e, "cannot spool an event; it is lost");
        }
    };
    write(event);
    while let Ok(event) = events.try_recv() {
        write(event);
    }
    if let Err(e) = spool.sync() {
        tracing::error!(error = %e, "cannot sync the spool");
    }
    if let Err(e) = spool.enforce_bounds(proto::clock::now_ms()) {
        tracing::error!(error = %e, "cannot trim the spool");
    }
}

async fn next(down: &mut tonic::Streaming<proto::ServerMessage>) -> Result<Down, SessionEnd> {
    match down.message().await {
        Ok(Some(proto::ServerMessage { body: Some(body) })) => Ok(body),
        Ok(Some(_)) => Err(SessionEnd::Retry("the server sent an empty message".into())),
        Ok(None) => Err(SessionEnd::Retry("the server closed the stream".into())),
        Err(status) => Err(SessionEnd::Retry(format!(
            "stream error: {}",
            status.message()
        ))),
    }
}

/// What an unexpected or terminal server message means for the session.
fn end_for(message: Down) -> SessionEnd {
    match message {
        Down::Revoked(r) => SessionEnd::Revoked(r.reason),
        Down::Error(e) if e.error_code() == ErrorCode::AgentRevoked => {
            SessionEnd::Revoked(e.message)
        }
        Down::Error(e) if e.error_code() == ErrorCode::UnknownAgent => {
            SessionEnd::Fatal(anyhow::anyhow!(
                "the server does not know this agent ({}); it was probably deleted: enroll again with a new token",
                e.message
            ))
        }
        Down::Error(e) => SessionEnd::Retry(format!("{}: {}", e.code, e.message)),
        _ => SessionEnd::Retry("the server sent a message out of order".into()),
    }
}

/// 1 s doubling to 60 s, each delay drawn between half and all of the current step.
#[derive(Debug)]
pub struct Backoff {
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            step: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        let mut random = [0u8; 2];
        let _ = getrandom::fill(&mut random);
        let fraction = 0.5 + f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX) / 2.0;
        let delay = self.step.mul_f64(fraction);
        self.step = (self.step * 2).min(Duration::from_secs(60));
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_minute_with_jitter() {
        let mut b = Backoff::default();
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(500) && delays[0] <= Duration::from_secs(1));
        assert!(delays[3] >= Duration::from_secs(4) && delays[3] <= Duration::from_secs(8));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(delays[9] >= Duration::from_secs(30));
    }
}
