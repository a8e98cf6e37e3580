//! A real `vantage-agent` against a server that plays by no rules: a gRPC/TLS stand-in that
//! enrolls it with a key of the test's, then sends it restart orders the real server never
//! would (replayed, expired, for another agent, tampered, not in the log, on a forked log,
//! past the budget, off the allow-list, with an identifier that is not one plain name). Each
//! is refused and nothing runs; a good order runs, once, and a replay after the agent
//! restarts is refused too.
mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::eat::{self, Eat};
use agent::tlog::{self, Checkpoint, Hash};
use common::*;
use ed25519_dalek::SigningKey;
use proto::agent_message::Body as Up;
use proto::server_message::Body as Down;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

const AGENT: &str = "6a1c3f0e-2b4d-4e8f-9a7b-1c2d3e4f5a6b";

/// The stand-in: enrolls anyone, acknowledges everything, and relays orders and results.
struct Rogue {
    key: [u8; 32],
    /// Orders for the agent's stream (taken by each new stream).
    orders: Arc<Mutex<Option<mpsc::Receiver<proto::Action>>>>,
    results: mpsc::Sender<proto::ActionResult>,
    connected: mpsc::Sender<()>,
}

#[tonic::async_trait]
impl proto::agent_service_server::AgentService for Rogue {
    async fn register_agent(
        &self,
        _request: Request<proto::RegisterAgentRequest>,
    ) -> Result<Response<proto::RegisterAgentResponse>, Status> {
        Ok(Response::new(proto::RegisterAgentResponse {
            agent_id: AGENT.into(),
            eat_verification_key: self.key.to_vec(),
            settings: None,
        }))
    }

    type ConnectStream = ReceiverStream<Result<proto::ServerMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<proto::AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let mut inbound = request.into_inner();
        let (out, rx) = mpsc::channel(16);
        let mut orders = self.orders.lock().unwrap().take();
        let (results, connected, slot) = (
            self.results.clone(),
            self.connected.clone(),
            self.orders.clone(),
        );
        tokio::spawn(async move {
            let send = |body| out.send(Ok(proto::ServerMessage { body: Some(body) }));
            let _ = send(Down::Challenge(proto::AuthChallenge { nonce: vec![7; 32] })).await;
            let _ = inbound.message().await;
            let _ = send(Down::AuthOk(proto::AuthOk {
                last_seq: 0,
                settings: None,
            }))
            .await;
            let _ = connected.send(()).await;
            loop {
                let order = async {
                    match orders.as_mut() {
                        Some(o) => o.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    m = inbound.message() => match m {
                        Ok(Some(proto::AgentMessage { body: Some(Up::Batch(b)) })) => {
                            let seq = b.first_seq + b.events.len() as u64 - 1;
                            let _ = send(Down::Ack(proto::Ack { seq })).await;
                        }
                        Ok(Some(proto::AgentMessage { body: Some(Up::ActionResult(r)) })) => {
                            let _ = results.send(r).await;
                        }
                        Ok(Some(_)) => {}
                        _ => break,
                    },
                    Some(o) = order => { let _ = send(Down::Action(o)).await; }
                }
            }
            // The next stream gets the orders.
            *slot.lock().unwrap() = orders;
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A log of the test's own, kept whole in memory.
struct Log {
    key: SigningKey,
    origin: String,
    leaves: Vec<Hash>,
    entries: Vec<proto::AuditEntry>,
}

fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => tlog::empty_root(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            tlog::node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

impl Log {
    fn new(key: SigningKey) -> Log {
        let origin = tlog::origin_of(&key.verifying_key());
        let mut log = Log {
            key,
            origin,
            leaves: Vec::new(),
            entries: Vec::new(),
        };
        for i in 0..3 {
            log.append("admin", "login", "admin", &format!("from test {i}"));
        }
        log
    }

    fn append(&mut self, actor: &str, action: &str, subject: &str, detail: &str) -> u64 {
        let index = self.leaves.len() as u64;
        let entry = proto::AuditEntry {
            ts_ms: 1_800_000_000_000 + index as i64,
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            detail: detail.into(),
        };
        self.leaves.push(tlog::leaf_hash(&tlog::audit_leaf(
            index,
            entry.ts_ms,
            actor,
            action,
            subject,
            detail,
        )));
        self.entries.push(entry);
        index
    }

    fn hashes(&self, plan: &tlog::ProofPlan) -> Vec<Vec<u8>> {
        let nodes: Vec<Hash> = plan
            .nodes()
            .iter()
            .map(|n| mth(&self.leaves[n.start() as usize..n.end() as usize]))
            .collect();
        plan.assemble(&nodes)
            .unwrap()
            .iter()
            .map(|h| h.to_vec())
            .collect()
    }

    fn checkpoint(&self) -> String {
        Checkpoint {
            origin: self.origin.clone(),
            size: self.leaves.len() as u64,
            root: mth(&self.leaves),
        }
        .sign(&self.key)
    }

    /// Logs a token's intent, signs it, and makes the order with every proof, consistent from
    /// a checkpoint of `from` entries.
    fn order(&mut self, mut token: Eat, from: u64) -> proto::Action {
        token.key_id = tlog::key_id(&self.origin, &self.key.verifying_key());
        token.log_index = self.append(
            "olga",
            eat::INTENT_ACTION,
            &token.eat_id_text(),
            &eat::intent_detail(&token),
        );
        self.prove(&token, from)
    }

    fn prove(&self, token: &Eat, from: u64) -> proto::Action {
        let (bytes, signature) = token.sign(&self.key);
        let size = self.leaves.len() as u64;
        proto::Action {
            eat: bytes,
            signature: signature.to_vec(),
            entry: Some(self.entries[token.log_index as usize].clone()),
            checkpoint: self.checkpoint(),
            inclusion: self.hashes(&tlog::inclusion_nodes(token.log_index, size).unwrap()),
            consistency_from: from,
            consistency: self.hashes(&tlog::consistency_nodes(from, size).unwrap()),
        }
    }
}

fn token(command: &Path) -> Eat {
    let now = proto::clock::now_s();
    Eat {
        eat_id: *uuid::Uuid::new_v4().as_bytes(),
        key_id: [0; 4],
        agent_id: *uuid::Uuid::parse_str(AGENT).unwrap().as_bytes(),
        action: "restart".into(),
        app_type: "process".into(),
        identifier: "/usr/local/bin/worker".into(),
        command: vec![command.display().to_string()],
        issued_at_s: now,
        expires_at_s: now + 300,
        requested_by: "olga".into(),
        reason: "test".into(),
        log_index: 0,
    }
}

fn runs(marker: &Path) -> usize {
    std::fs::read_to_string(marker)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

struct Harness {
    orders: mpsc::Sender<proto::Action>,
    results: mpsc::Receiver<proto::ActionResult>,
    connected: mpsc::Receiver<()>,
    slot: Arc<Mutex<Option<mpsc::Receiver<proto::Action>>>>,
}

impl Harness {
    async fn answer(&mut self, order: proto::Action) -> proto::ActionResult {
        self.orders.send(order).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), self.results.recv())
            .await
            .expect("the agent answers")
            .unwrap()
    }
}

async fn rogue(key: &SigningKey) -> (String, Harness) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let identity =
        tonic::transport::Identity::from_pem(cert.cert.pem(), cert.signing_key.serialize_pem());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (orders_tx, orders_rx) = mpsc::channel(4);
    let (results_tx, results) = mpsc::channel(4);
    let (connected_tx, connected) = mpsc::channel(4);
    let slot = Arc::new(Mutex::new(Some(orders_rx)));
    let service = Rogue {
        key: key.verifying_key().to_bytes(),
        orders: slot.clone(),
        results: results_tx,
        connected: connected_tx,
    };
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .unwrap()
            .add_service(proto::agent_service_server::AgentServiceServer::new(
                service,
            ))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    (
        format!("grpcs://127.0.0.1:{port}"),
        Harness {
            orders: orders_tx,
            results,
            connected,
            slot,
        },
    )
}

#[tokio::test]
async fn the_agent_runs_only_what_is_signed_logged_fresh_allowed_and_within_budget() {
    let key = SigningKey::from_bytes(&[42; 32]);
    let (url, mut h) = rogue(&key).await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let script = dir.path().join("restart-worker");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho ran >> {}\nenv\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--server",
        &url,
        "--enrollment-token",
        "vtg_enr_anything",
        "--grpc-insecure-skip-tls-verify",
        "--allow-actions",
        "process,docker",
        "--allow-command",
        script.to_str().unwrap(),
        "--action-budget",
        "2",
        "--host-interval",
        "30s",
        "--inventory-check-interval",
        "600s",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut agent = KillOnDrop(spawn_agent(
        state.path(),
        &args,
        std::process::Stdio::inherit(),
    ));
    tokio::time::timeout(Duration::from_secs(20), h.connected.recv())
        .await
        .expect("the agent connects");
    let mut log = Log::new(key.clone());

    // A good order runs once, with a clean environment, and says what it ran.
    let good = log.order(token(&script), 0);
    let first = h.answer(good.clone()).await;
    assert!(!first.refused, "{}", first.error);
    assert_eq!(first.exit_code, 0);
    // Nothing of the agent's environment (it runs with VANTAGE_LOG set) reaches the command.
    assert!(
        first.stdout.contains("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
        "{}",
        first.stdout
    );
    assert!(
        !first.stdout.contains("VANTAGE") && !first.stdout.contains("HOME="),
        "{}",
        first.stdout
    );
    assert_eq!(runs(&marker), 1);
    let mut size = first.checkpoint_size;
    assert_eq!(size, log.leaves.len() as u64);

    // The same order again: refused.
    let again = h.answer(good.clone()).await;
    assert!(
        again.refused && again.error.contains("used before"),
        "{again:?}"
    );

    let refused = |r: &proto::ActionResult, why: &str| {
        assert!(r.refused, "expected a refusal ({why}), got {r:?}");
        assert!(r.error.contains(why), "{why:?} not in {:?}", r.error);
    };
    // Expired.
    let mut old = token(&script);
    old.issued_at_s -= 600;
    old.expires_at_s -= 600;
    let o = log.order(old, size);
    refused(&h.answer(o).await, "expired");
    // For another agent.
    let mut other = token(&script);
    other.agent_id = *uuid::Uuid::new_v4().as_bytes();
    let o = log.order(other, size);
    refused(&h.answer(o).await, "another agent");
    // A field changed after signing.
    let mut o = log.order(token(&script), size);
    let at = o.eat.len() - 20;
    o.eat[at] ^= 1;
    refused(&h.answer(o).await, "signature");
    // Signed by another key.
    let mut stranger = Log::new(SigningKey::from_bytes(&[9; 32]));
    let o = stranger.order(token(&script), 0);
    refused(&h.answer(o).await, "signature");
    // Not in the log: the entry at its index is another intent.
    let mut unlogged = token(&script);
    unlogged.key_id = tlog::key_id(&log.origin, &key.verifying_key());
    unlogged.log_index = 1;
    refused(
        &h.answer(log.prove(&unlogged, size)).await,
        "not this token's intent",
    );
    // A proof that does not lead to the checkpoint's root.
    let mut o = log.order(token(&script), size);
    if let Some(first) = o.inclusion.first_mut() {
        first[0] ^= 1;
    }
    refused(&h.answer(o).await, "inclusion proof");
    // A checkpoint that is not consistent with the last one accepted: a forked log.
    let mut fork = Log::new(key.clone());
    for _ in 0..size {
        fork.append("mallory", "login", "mallory", "rewritten");
    }
    let o = fork.order(token(&script), size);
    refused(&h.answer(o).await, "not consistent");
    // Off the allow-list: a command not listed, a kind not allowed.
    let o = log.order(token(Path::new("/usr/bin/id")), size);
    refused(&h.answer(o).await, "--allow-command");
    let mut unit = token(&script);
    unit.app_type = "systemd".into();
    unit.identifier = "nginx.service".into();
    unit.command.clear();
    let o = log.order(unit, size);
    refused(&h.answer(o).await, "--allow-actions");
    // Identifiers that are not one plain name.
    for bad in ["--help", "x.service;id", "../x", "$(id)", "a\nb", "-x"] {
        let mut t = token(&script);
        t.app_type = "docker".into();
        t.identifier = bad.into();
        t.command.clear();
        let o = log.order(t, size);
        let r = h.answer(o).await;
        assert!(r.refused, "{bad:?}: {r:?}");
    }
    assert_eq!(runs(&marker), 1, "nothing refused ran");

    // The budget: two restarts an hour (one spent), the third refused.
    let o = log.order(token(&script), size);
    let r = h.answer(o).await;
    assert!(!r.refused, "{}", r.error);
    size = r.checkpoint_size;
    let o = log.order(token(&script), size);
    let r = h.answer(o).await;
    assert!(r.refused && r.budget_spent, "{r:?}");
    assert_eq!(runs(&marker), 2);

    // After a restart the agent still knows what it saw: the first order is refused again.
    drop(agent);
    let state_file = state.path().join(agent::actions::STATE_FILE);
    let mode = std::fs::metadata(&state_file).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    agent = KillOnDrop(spawn_agent(
        state.path(),
        &args,
        std::process::Stdio::inherit(),
    ));
    tokio::time::timeout(Duration::from_secs(30), h.connected.recv())
        .await
        .expect("the agent reconnects");
    while h.slot.lock().unwrap().is_some() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replay = h.answer(good).await;
    assert!(
        replay.refused && replay.error.contains("used before"),
        "{replay:?}"
    );
    assert_eq!(runs(&marker), 2);
    drop(agent);
}
