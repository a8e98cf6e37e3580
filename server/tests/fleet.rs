//! Server mode with real agents over TLS on loopback: enrollment, pinning, revocation,
//! deletion, clock skew and rate limiting.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ed25519_dalek::Signer;
use serde_json::{Value, json};

struct Fleet {
    server: Server,
    http: reqwest::Client,
    csrf: String,
}

impl Fleet {
    async fn start() -> Fleet {
        let server = Server::start_with(&["--mode", "server"], None);
        let (http, csrf) = signed_in(&server).await;
        Fleet { server, http, csrf }
    }

    fn grpc_url(&self) -> &str {
        self.server
            .grpc_url
            .as_deref()
            .expect("server mode prints its gRPC address")
    }

    async fn enrollment_token(&self) -> (String, String) {
        let enrollment = issue_enrollment(&self.server, &self.http, &self.csrf).await;
        (enrollment.token, enrollment.pin)
    }

    fn agent(&self, state_dir: &std::path::Path, token: &str, pin: &str) -> Child {
        let flags = [
            "--server",
            self.grpc_url(),
            "--enrollment-token",
            token,
            "--server-pin",
            pin,
            "--host-interval",
            "1s",
        ];
        spawn_agent(state_dir, &flags, Stdio::piped())
    }

    async fn get(&self, path: &str) -> Value {
        get_json(&self.http, self.server.path(path)).await
    }

    async fn enrollment_tokens(&self) -> Vec<app::EnrollmentTokenInfo> {
        get_json(
            &self.http,
            self.server.path("/api/v1/agents/enrollment-tokens"),
        )
        .await
    }

    async fn connected_agent(&self) -> Value {
        eventually(
            Duration::from_secs(20),
            "a connected agent with figures",
            || async {
                let hosts = self.get("/api/v1/resources/hosts").await;
                hosts
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|h| {
                        h["id"] != "local"
                            && h["connection_state"] == "connected"
                            && h["cpu_pct"].is_number()
                    })
                    .cloned()
            },
        )
        .await
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn stderr_of(child: Child) -> String {
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned()
}

#[tokio::test]
async fn an_enrolled_agent_streams_metrics_and_can_be_renamed() {
    let fleet = Fleet::start().await;
    let (token, pin) = fleet.enrollment_token().await;
    let state = tempfile::tempdir().unwrap();
    let mut agent = fleet.agent(state.path(), &token, &pin);
    let host = fleet.connected_agent().await;
    let id = host["id"].as_str().unwrap().to_owned();

    // The identity is private to its owner.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.path().join("identity.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let summary = fleet
        .get(&format!("/api/v1/resources/summary?agent_id={id}"))
        .await;
    assert_eq!(summary["connection_state"], "connected");
    assert!(summary["latest"]["memory_total_bytes"].as_u64().unwrap() > 0);
    let history = eventually(Duration::from_secs(15), "stored agent samples", || async {
        let h = fleet
            .get(&format!(
                "/api/v1/resources/history?agent_id={id}&metric=cpu&step=1"
            ))
            .await;
        (h["points"].as_array().unwrap().len() >= 2).then_some(h)
    })
    .await;
    assert_eq!(history["agent_id"], id.as_str());

    // The token was consumed.
    let tokens = fleet.enrollment_tokens().await;
    assert_eq!(tokens[0].state, app::TokenState::Used);
    assert_eq!(tokens[0].used_by_agent_id.as_deref(), Some(id.as_str()));
    assert!(
        !tokens[0].masked.contains(&token[8..]),
        "tokens are listed masked"
    );

    let url = fleet.server.path(&format!("/api/v1/agents/{id}"));
    let body = json!({"label": "db-primary", "tags": ["prod", "db"]});
    let res = patch_json(&fleet.http, url.clone(), &fleet.csrf, &body).await;
    assert_eq!(res.status(), 200);
    let agent_info: app::AgentInfo = get_json(&fleet.http, url.clone()).await;
    assert_eq!(agent_info.label, "db-primary");
    assert_eq!(agent_info.tags, ["prod", "db"]);
    assert_eq!(agent_info.status, app::AgentStatus::Active);
    let res = patch_json(
        &fleet.http,
        url,
        &fleet.csrf,
        &json!({"label": "x".repeat(65)}),
    )
    .await;
    assert_eq!(error_code(res, 422).await, "invalid_label");

    // A restarted agent uses its identity and does not need the (used) token again.
    agent.kill().unwrap();
    agent.wait().unwrap();
    let mut again = spawn_agent(state.path(), &["--host-interval", "1s"], Stdio::null());
    let list = fleet.get("/api/v1/agents").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "no second enrollment");
    let t0 = fleet
        .get(&format!("/api/v1/resources/summary?agent_id={id}"))
        .await["latest"]["taken_at_ms"]
        .as_i64()
        .unwrap();
    eventually(
        Duration::from_secs(15),
        "samples after the restart",
        || async {
            let s = fleet
                .get(&format!("/api/v1/resources/summary?agent_id={id}"))
                .await;
            (s["latest"]["taken_at_ms"].as_i64().unwrap() > t0 + 1500).then_some(())
        },
    )
    .await;
    again.kill().unwrap();
    again.wait().unwrap();
}

#[tokio::test]
async fn used_expired_and_forged_tokens_are_refused() {
    let fleet = Fleet::start().await;
    let (token, pin) = fleet.enrollment_token().await;
    let first = tempfile::tempdir().unwrap();
    let mut agent = fleet.agent(first.path(), &token, &pin);
    fleet.connected_agent().await;

    let second = tempfile::tempdir().unwrap();
    let mut reuse = fleet.agent(second.path(), &token, &pin);
    let status = wait_exit(&mut reuse, Duration::from_secs(10)).expect("a refused agent exits");
    assert_eq!(status.code(), Some(1));
    let stderr = stderr_of(reuse);
    assert!(
        stderr.contains("refused the enrollment token: the enrollment token is used up"),
        "{stderr}"
    );
    assert!(!second.path().join("identity.json").exists());

    // Expire a fresh token in the store, as time would.
    let (expired, _) = fleet.enrollment_token().await;
    let db = format!(
        "sqlite://{}",
        fleet.server.data_path().join("vantage.db").display()
    );
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db).await.unwrap();
    sqlx::query("update enrollment_token set expires_at = 0 where used_at is null")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let third = tempfile::tempdir().unwrap();
    let mut late = fleet.agent(third.path(), &expired, &pin);
    assert_eq!(
        wait_exit(&mut late, Duration::from_secs(10))
            .unwrap()
            .code(),
        Some(1)
    );
    let stderr = stderr_of(late);
    assert!(
        stderr.contains("the enrollment token has expired"),
        "{stderr}"
    );
    let tokens = fleet.enrollment_tokens().await;
    assert!(tokens.iter().any(|t| t.state == app::TokenState::Expired));

    let fourth = tempfile::tempdir().unwrap();
    let mut forged = fleet.agent(fourth.path(), &format!("vtg_enr_{}", "0".repeat(64)), &pin);
    assert_eq!(
        wait_exit(&mut forged, Duration::from_secs(10))
            .unwrap()
            .code(),
        Some(1)
    );
    let stderr = stderr_of(forged);
    assert!(
        stderr.contains("the enrollment token is unknown"),
        "{stderr}"
    );
    agent.kill().unwrap();
    agent.wait().unwrap();
}

#[tokio::test]
async fn a_wrong_pin_stops_the_agent_before_it_sends_the_token() {
    let fleet = Fleet::start().await;
    let (token, _) = fleet.enrollment_token().await;
    let state = tempfile::tempdir().unwrap();
    let wrong = format!("sha256:{}", "A".repeat(43) + "=");
    let mut agent = fleet.agent(state.path(), &token, &wrong);
    let status = wait_exit(&mut agent, Duration::from_secs(10)).expect("the agent stops");
    assert_eq!(status.code(), Some(1));
    let stderr = stderr_of(agent);
    assert!(stderr.contains("does not match --server-pin"), "{stderr}");
    // The token never reached the server: it is still usable.
    let tokens = fleet.enrollment_tokens().await;
    assert_eq!(tokens[0].state, app::TokenState::Active);
}

#[tokio::test]
async fn revocation_stops_the_agent_for_good_and_delete_purges() {
    let fleet = Fleet::start().await;
    let (token, pin) = fleet.enrollment_token().await;
    let state = tempfile::tempdir().unwrap();
    let mut agent = fleet.agent(state.path(), &token, &pin);
    let id = fleet.connected_agent().await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let revoked_at = Instant::now();
    let res = fleet
        .http
        .post(fleet.server.path(&format!("/api/v1/agents/{id}/revoke")))
        .header("x-csrf-token", &fleet.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let status = wait_exit(&mut agent, Duration::from_secs(2))
        .expect("the agent exits within 2 s of revocation");
    assert!(revoked_at.elapsed() < Duration::from_secs(2));
    assert_eq!(status.code(), Some(3));
    assert!(stderr_of(agent).contains("revoked"));
    assert_eq!(
        fleet.get(&format!("/api/v1/agents/{id}")).await["status"],
        "revoked"
    );
    // Its timeline holds the connect and the disconnect, newest first.
    let kinds = eventually(
        Duration::from_secs(5),
        "the disconnect on the timeline",
        || async {
            let events = fleet.get(&format!("/api/v1/agents/{id}/events")).await;
            let kinds: Vec<String> = events
                .as_array()?
                .iter()
                .filter_map(|e| e["kind"].as_str().map(str::to_owned))
                .collect();
            (kinds.first().map(String::as_str) == Some("disconnected")).then_some(kinds)
        },
    )
    .await;
    assert!(kinds.contains(&"connected".to_owned()), "{kinds:?}");

    // Started again, it is refused at once and does not retry.
    let mut retry = spawn_agent::<&str>(state.path(), &[], Stdio::piped());
    let status = wait_exit(&mut retry, Duration::from_secs(5))
        .expect("a revoked agent does not keep retrying");
    assert_eq!(status.code(), Some(3));

    // Delete purges the agent and everything it sent.
    let res = fleet
        .http
        .delete(fleet.server.path(&format!("/api/v1/agents/{id}")))
        .header("x-csrf-token", &fleet.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = fleet
        .http
        .get(fleet.server.path(&format!("/api/v1/agents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 404).await, "unknown_agent");
    let res = fleet
        .http
        .get(fleet.server.path(&format!(
            "/api/v1/resources/history?agent_id={id}&metric=cpu"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 404).await, "unknown_agent");
    let hosts = fleet.get("/api/v1/resources/hosts").await;
    assert_eq!(hosts.as_array().unwrap().len(), 1);
    let db = format!(
        "sqlite://{}",
        fleet.server.data_path().join("vantage.db").display()
    );
    let store = server::store::Store::open(&db).await.unwrap();
    assert!(store.raw_sample_times(Some(&id)).await.unwrap().is_empty());
    store.close().await;
}

/// A hand-driven agent, to send what the real one never would.
struct RawAgent {
    agent_id: String,
    key: ed25519_dalek::SigningKey,
    channel: tonic::transport::Channel,
}

impl RawAgent {
    async fn enroll(fleet: &Fleet) -> RawAgent {
        let (token, pin) = fleet.enrollment_token().await;
        let address = agent::stream::ServerAddress::parse(fleet.grpc_url()).unwrap();
        let trust =
            agent::stream::ServerTrust::Pinned(agent::stream::tls::parse_pin(&pin).unwrap());
        let channel = agent::stream::connect(&address, &trust).await.unwrap();
        let key = agent::identity::generate_key().unwrap();
        let response = proto::agent_service_client::AgentServiceClient::new(channel.clone())
            .register_agent(proto::RegisterAgentRequest {
                enrollment_token: token,
                public_key: key.verifying_key().to_bytes().to_vec(),
                hostname: "raw".into(),
                label: "raw".into(),
                runtime: "bare".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        RawAgent {
            agent_id: response.agent_id,
            key,
            channel,
        }
    }

    /// Opens a stream and answers the challenge with `timestamp`; returns the sender and the
    /// server's answer to the authentication.
    async fn connect(
        &self,
        timestamp: i64,
    ) -> (
        tokio::sync::mpsc::Sender<proto::AgentMessage>,
        tonic::Streaming<proto::ServerMessage>,
        proto::server_message::Body,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let mut down = proto::agent_service_client::AgentServiceClient::new(self.channel.clone())
            .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let Some(proto::server_message::Body::Challenge(challenge)) =
            down.message().await.unwrap().unwrap().body
        else {
            panic!("expected a challenge first");
        };
        let uuid = uuid::Uuid::parse_str(&self.agent_id).unwrap();
        let signature = self.key.sign(&proto::auth_message(
            &challenge.nonce,
            uuid.as_bytes(),
            timestamp,
        ));
        let auth = proto::AuthResponse {
            agent_id: self.agent_id.clone(),
            timestamp,
            signature: signature.to_bytes().to_vec(),
        };
        tx.send(proto::AgentMessage {
            body: Some(proto::agent_message::Body::Auth(auth)),
        })
        .await
        .unwrap();
        let answer = down.message().await.unwrap().unwrap().body.unwrap();
        (tx, down, answer)
    }
}

/// A host sample the ingest accepts, `i` ms before now.
fn valid_event(i: i64) -> proto::Event {
    proto::Event {
        time_ms: proto::clock::now_s() * 1000 - i,
        body: Some(proto::event::Body::HostSample(proto::HostSample {
            hostname: "raw".into(),
            ..Default::default()
        })),
    }
}

#[tokio::test]
async fn clock_skew_beyond_300_s_is_refused() {
    let fleet = Fleet::start().await;
    let raw = RawAgent::enroll(&fleet).await;
    for skew in [-400, 400] {
        let (_tx, _down, answer) = raw.connect(proto::clock::now_s() + skew).await;
        match answer {
            proto::server_message::Body::Error(e) => assert_eq!(e.code, "clock_skew", "{e:?}"),
            other => panic!("expected clock_skew, got {other:?}"),
        }
    }
    let (_tx, _down, answer) = raw.connect(proto::clock::now_s() + 200).await;
    assert!(
        matches!(answer, proto::server_message::Body::AuthOk(_)),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    let fleet = Fleet::start().await;
    let mut raw = RawAgent::enroll(&fleet).await;
    raw.key = agent::identity::generate_key().unwrap();
    let (_tx, _down, answer) = raw.connect(proto::clock::now_s()).await;
    match answer {
        proto::server_message::Body::Error(e) => assert_eq!(e.code, "unauthenticated"),
        other => panic!("expected unauthenticated, got {other:?}"),
    }
}

#[tokio::test]
async fn the_rate_limit_answers_with_retry_after() {
    let fleet = Fleet::start().await;
    let raw = RawAgent::enroll(&fleet).await;
    let (tx, mut down, answer) = raw.connect(proto::clock::now_s()).await;
    let proto::server_message::Body::AuthOk(ok) = answer else {
        panic!("{answer:?}")
    };
    let batch = |first_seq: u64| proto::EventBatch {
        first_seq,
        events: (0..800).map(valid_event).collect(),
        ..Default::default()
    };
    let send = |b| proto::AgentMessage {
        body: Some(proto::agent_message::Body::Batch(b)),
    };
    tx.send(send(batch(ok.last_seq + 1))).await.unwrap();
    let Some(proto::server_message::Body::Ack(ack)) = down.message().await.unwrap().unwrap().body
    else {
        panic!("first batch is acked")
    };
    assert_eq!(ack.seq, ok.last_seq + 800);
    tx.send(send(batch(ack.seq + 1))).await.unwrap();
    match down.message().await.unwrap().unwrap().body.unwrap() {
        proto::server_message::Body::Error(e) => {
            assert_eq!(e.code, "rate_limited");
            assert!(e.retry_after_ms > 0 && e.retry_after_ms <= 1000, "{e:?}");
        }
        other => panic!("expected rate_limited, got {other:?}"),
    }
    // Reconnecting does not refill the agent's bucket: it is the agent's, not the stream's.
    let (tx, mut down, answer) = raw.connect(proto::clock::now_s()).await;
    assert!(
        matches!(answer, proto::server_message::Body::AuthOk(_)),
        "{answer:?}"
    );
    tx.send(send(batch(ack.seq + 1))).await.unwrap();
    match down.message().await.unwrap().unwrap().body.unwrap() {
        proto::server_message::Body::Error(e) => assert_eq!(e.code, "rate_limited", "{e:?}"),
        other => panic!("a new stream must not refill the bucket, got {other:?}"),
    }
    // A duplicate of the acked batch is acknowledged without being stored twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    tx.send(send(batch(ok.last_seq + 1))).await.unwrap();
    let Some(proto::server_message::Body::Ack(again)) = down.message().await.unwrap().unwrap().body
    else {
        panic!("duplicate acked")
    };
    assert_eq!(again.seq, ack.seq);

    // A gap is refused, unless the agent says its spool dropped those events.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let small = |first_seq: u64, after_dropped: bool| proto::EventBatch {
        first_seq,
        events: vec![valid_event(0)],
        after_dropped,
        dropped_total: 5,
    };
    tx.send(send(small(ack.seq + 6, false))).await.unwrap();
    match down.message().await.unwrap().unwrap().body.unwrap() {
        proto::server_message::Body::Error(e) => assert_eq!(e.code, "sequence_gap"),
        other => panic!("expected sequence_gap, got {other:?}"),
    }
    tx.send(send(small(ack.seq + 6, true))).await.unwrap();
    let Some(proto::server_message::Body::Ack(after_gap)) =
        down.message().await.unwrap().unwrap().body
    else {
        panic!("a declared gap is accepted")
    };
    assert_eq!(after_gap.seq, ack.seq + 6);
    let info = fleet.get(&format!("/api/v1/agents/{}", raw.agent_id)).await;
    assert_eq!(info["dropped_events"], 5, "the drop count reaches the API");
}

#[tokio::test]
async fn embedded_mode_has_no_grpc_and_no_enrollment() {
    let server = Server::start();
    assert!(server.grpc_url.is_none());
    let (http, csrf) = signed_in(&server).await;
    let res = http
        .post(server.path("/api/v1/agents/enrollment-tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 409).await, "server_mode_required");
}

#[tokio::test]
async fn enrollment_token_ttl_is_checked() {
    let fleet = Fleet::start().await;
    for ttl in [0, 169, -1] {
        let res = fleet
            .http
            .post(fleet.server.path("/api/v1/agents/enrollment-tokens"))
            .header("x-csrf-token", &fleet.csrf)
            .json(&json!({"ttl_hours": ttl}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(res, 422).await, "invalid_ttl", "ttl {ttl}");
    }
    let body: Value = fleet
        .http
        .post(fleet.server.path("/api/v1/agents/enrollment-tokens"))
        .header("x-csrf-token", &fleet.csrf)
        .json(&json!({"ttl_hours": 168}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("vtg_enr_"));
    assert!(body["warnings"][0].as_str().unwrap().contains("loopback"));
    let id = body["id"].as_i64().unwrap();
    let res = fleet
        .http
        .delete(
            fleet
                .server
                .path(&format!("/api/v1/agents/enrollment-tokens/{id}")),
        )
        .header("x-csrf-token", &fleet.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn the_self_signed_certificate_survives_restarts_and_bad_files_stop_the_boot() {
    let mut server = Server::start_with(&["--mode", "server"], None);
    let (http, csrf) = signed_in(&server).await;
    let pin_of = |body: Value| body["pin"].as_str().unwrap().to_owned();
    let create = |http: reqwest::Client, url: String, csrf: String| async move {
        http.post(url)
            .header("x-csrf-token", csrf)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let first = pin_of(
        create(
            http.clone(),
            server.path("/api/v1/agents/enrollment-tokens"),
            csrf.clone(),
        )
        .await,
    );
    assert!(server.terminate(Duration::from_secs(10)).success());
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let key_mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(data_dir.path().join("grpc-key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(key_mode, 0o600);
    let server = Server::start_in(data_dir, &["--mode", "server"], None);
    let http = client();
    let me: Value = http
        .post(server.path("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let second = pin_of(create(http, server.path("/api/v1/agents/enrollment-tokens"), csrf).await);
    assert_eq!(first, second, "the pin must not change across restarts");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    for (cert, key, expected) in [
        (
            bad.to_str().unwrap(),
            bad.to_str().unwrap(),
            "no PEM certificate",
        ),
        (
            "/nonexistent/cert.pem",
            "/nonexistent/key.pem",
            "cannot read the gRPC certificate",
        ),
    ] {
        let out = Command::new(binary())
            .args([
                "--mode",
                "server",
                "--http-listen",
                "127.0.0.1:0",
                "--grpc-listen",
                "127.0.0.1:0",
            ])
            .args(["--grpc-tls-cert", cert, "--grpc-tls-key", key, "--data-dir"])
            .arg(dir.path())
            .env("VANTAGE_LOG", "off")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[tokio::test]
async fn the_install_script_downloads_enrolls_and_installs_the_agent() {
    let fleet = Fleet::start().await;
    let http = reqwest::Client::new();
    // Before an agent build is published, the download says what to do.
    let res = http
        .get(fleet.server.path("/download/vantage-agent/linux-x86_64"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 404).await, "agent_build_missing");
    let res = http
        .get(fleet.server.path("/download/vantage-agent/linux-../../etc"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = http
        .get(fleet.server.path("/download/vantage-agent/windows-x86_64"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 404).await, "unknown_target");

    let downloads = fleet.server.data_path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    std::fs::copy(
        agent_binary(),
        downloads.join(format!("vantage-agent-linux-{}", std::env::consts::ARCH)),
    )
    .unwrap();

    let script = http
        .get(fleet.server.path("/install.sh"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.starts_with("#!/bin/sh"));
    assert!(
        script.contains(&format!(
            "VANTAGE_URL=\"${{VANTAGE_URL:-{}}}\"",
            fleet.server.url
        )),
        "the script points back at this server"
    );

    let (token, pin) = fleet.enrollment_token().await;
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin");
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .args([
            "install.sh",
            "--user",
            "--server",
            fleet.grpc_url(),
            "--enrollment-token",
            &token,
            "--server-pin",
            &pin,
        ])
        .env("HOME", home.path())
        .env("VANTAGE_BIN_DIR", &bin)
        .env("VANTAGE_LOG", "warn")
        .env_remove("XDG_STATE_HOME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bin.join("vantage-agent").exists());
    let state = home.path().join(".local/state/vantage-agent");
    assert!(
        state.join("identity.json").exists(),
        "enrolled during install: {stdout}"
    );
    assert!(stdout.contains("is enrolled as"), "{stdout}");
    // No systemd on this machine: the installer prints the command to run instead.
    assert!(
        stdout.contains("--state-dir") && !stdout.contains(&token),
        "the token never lands in a service definition: {stdout}"
    );
    assert_eq!(
        fleet.get("/api/v1/agents").await.as_array().unwrap().len(),
        1
    );

    let out = Command::new(bin.join("vantage-agent"))
        .args(["uninstall", "--user", "--purge", "--state-dir"])
        .arg(&state)
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!state.exists());
}

#[tokio::test]
async fn certificate_scans_of_endpoints_and_files_are_stored() {
    let fleet = Fleet::start().await;
    let (token, pin) = fleet.enrollment_token().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.pem");
    let generated = rcgen::generate_simple_self_signed(vec!["files.internal".to_owned()]).unwrap();
    std::fs::write(&file, generated.cert.pem()).unwrap();
    let endpoint = fleet.grpc_url().trim_start_matches("grpcs://").to_owned();
    let mut agent = Command::new(agent_binary())
        .args([
            "--server",
            fleet.grpc_url(),
            "--enrollment-token",
            &token,
            "--server-pin",
            &pin,
        ])
        .args([
            "--host-interval",
            "1s",
            "--cert-interval",
            "1s",
            "--cert-target",
            &endpoint,
            "--cert-target",
        ])
        .arg(&file)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("VANTAGE_LOG", "warn")
        .spawn()
        .unwrap();
    let certificates = eventually(Duration::from_secs(20), "two certificate scans", || async {
        let list = fleet.get("/api/v1/certificates").await;
        (list.as_array().unwrap().len() == 2).then_some(list)
    })
    .await;
    let by_target = |t: &str| {
        certificates
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["target"] == t)
            .cloned()
            .unwrap()
    };
    let server_cert = by_target(&endpoint);
    assert!(
        server_cert["sans"].to_string().contains("localhost"),
        "{server_cert}"
    );
    assert_eq!(
        server_cert["chain_valid"], false,
        "a self-signed certificate has no trusted chain"
    );
    assert!(!server_cert["error"].as_str().unwrap().is_empty());
    assert!(
        server_cert["days_left"].as_i64().unwrap() > 300,
        "{server_cert}"
    );
    let file_cert = by_target(file.to_str().unwrap());
    assert!(
        file_cert["sans"].to_string().contains("files.internal"),
        "{file_cert}"
    );
    assert!(file_cert["not_after"].as_str().unwrap().ends_with('Z'));
    agent.kill().unwrap();
    agent.wait().unwrap();
}

/// A host sample event with one field made hostile.
fn hostile(time_ms: i64, sample: proto::HostSample) -> proto::Event {
    proto::Event {
        time_ms,
        body: Some(proto::event::Body::HostSample(sample)),
    }
}

/// Reads server messages until an acknowledgement, returning the refusals seen before it.
async fn refusals_until_ack(
    down: &mut tonic::Streaming<proto::ServerMessage>,
) -> (Vec<proto::Error>, u64) {
    let mut refused = Vec::new();
    loop {
        match down.message().await.unwrap().unwrap().body.unwrap() {
            proto::server_message::Body::Error(e) => refused.push(e),
            proto::server_message::Body::Ack(ack) => return (refused, ack.seq),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_hostile_agent_is_refused_event_by_event_while_an_honest_one_streams() {
    let fleet = Fleet::start().await;
    let (token, pin) = fleet.enrollment_token().await;
    let state = tempfile::tempdir().unwrap();
    let mut honest = fleet.agent(state.path(), &token, &pin);
    let honest_id = fleet.connected_agent().await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let raw = RawAgent::enroll(&fleet).await;
    let (tx, mut down, answer) = raw.connect(proto::clock::now_s()).await;
    let proto::server_message::Body::AuthOk(ok) = answer else {
        panic!("{answer:?}")
    };
    let send = |b| proto::AgentMessage {
        body: Some(proto::agent_message::Body::Batch(b)),
    };
    let now_ms = proto::clock::now_s() * 1000;
    let named = |hostname: &str| proto::HostSample {
        hostname: hostname.into(),
        ..Default::default()
    };
    let bad = vec![
        hostile(i64::MIN, named("raw")),
        hostile(i64::MAX, named("raw")),
        hostile(now_ms + 10 * 60_000, named("raw")),
        hostile(
            now_ms,
            proto::HostSample {
                cpu_pct: f64::NAN,
                ..named("raw")
            },
        ),
        hostile(
            now_ms,
            proto::HostSample {
                load1: f64::INFINITY,
                ..named("raw")
            },
        ),
        hostile(now_ms, named("nul\0byte")),
        hostile(now_ms, named("forged\nlog line")),
        hostile(now_ms, named("\u{1b}]0;title\u{7}")),
        hostile(
            now_ms,
            proto::HostSample {
                filesystems: vec![
                    proto::Filesystem {
                        used_bytes: u64::MAX,
                        ..Default::default()
                    };
                    2
                ],
                ..named("raw")
            },
        ),
        proto::Event {
            time_ms: now_ms,
            body: None,
        },
        proto::Event {
            time_ms: now_ms,
            body: Some(proto::event::Body::ContainerList(proto::ContainerList {
                containers: vec![proto::Container {
                    name: "evil\u{202e}gpj.exe".into(),
                    ..Default::default()
                }],
            })),
        },
    ];
    let first = ok.last_seq + 1;
    let mut events = bad.clone();
    events.push(valid_event(0));
    tx.send(send(proto::EventBatch {
        first_seq: first,
        events,
        ..Default::default()
    }))
    .await
    .unwrap();
    let (refused, acked) = refusals_until_ack(&mut down).await;
    assert_eq!(
        acked,
        first + bad.len() as u64,
        "the batch is acknowledged past the bad events"
    );
    assert_eq!(
        refused.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (first..first + bad.len() as u64).collect::<Vec<_>>(),
        "every bad event is named: {refused:?}"
    );
    assert!(refused.iter().all(|e| e.code == "invalid_event"));

    // Batches whose numbering cannot be stored, and an undeclared jump, are refused whole.
    for first_seq in [u64::MAX, i64::MAX as u64, 0] {
        let batch = proto::EventBatch {
            first_seq,
            events: vec![valid_event(0)],
            ..Default::default()
        };
        tx.send(send(batch)).await.unwrap();
        match down.message().await.unwrap().unwrap().body.unwrap() {
            proto::server_message::Body::Error(e) => assert_eq!(e.code, "invalid_batch", "{e:?}"),
            other => panic!("expected invalid_batch for {first_seq}, got {other:?}"),
        }
    }
    let jump = proto::EventBatch {
        first_seq: acked + 100_000_000,
        events: vec![valid_event(0)],
        after_dropped: true,
        dropped_total: 0,
    };
    tx.send(send(jump)).await.unwrap();
    match down.message().await.unwrap().unwrap().body.unwrap() {
        proto::server_message::Body::Error(e) => assert_eq!(e.code, "sequence_gap", "{e:?}"),
        other => panic!("expected sequence_gap, got {other:?}"),
    }

    // A message over the size limit is answered with a code before the stream ends.
    let huge = proto::EventBatch {
        first_seq: acked + 1,
        events: vec![proto::Event {
            time_ms: now_ms,
            body: Some(proto::event::Body::ContainerEvent(proto::ContainerEvent {
                detail: "x".repeat(2 << 20),
                ..Default::default()
            })),
        }],
        ..Default::default()
    };
    tx.send(send(huge)).await.unwrap();
    match down.message().await {
        Ok(Some(proto::ServerMessage {
            body: Some(proto::server_message::Body::Error(e)),
        })) => {
            assert_eq!(e.code, "message_too_large")
        }
        other => panic!("expected message_too_large, got {other:?}"),
    }

    // The server is healthy, the honest agent's samples keep arriving, and of the hostile
    // agent's events exactly the good one is stored.
    let res = fleet
        .http
        .get(fleet.server.path("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let newest = || async {
        fleet
            .get(&format!("/api/v1/resources/summary?agent_id={honest_id}"))
            .await["latest"]["taken_at_ms"]
            .clone()
    };
    let before = newest().await;
    eventually(
        Duration::from_secs(15),
        "the honest agent streams on",
        || async { (newest().await != before).then_some(()) },
    )
    .await;
    let metrics = fleet
        .http
        .get(fleet.server.path("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "vantage_ingest_refused_events_total {}",
            bad.len()
        )),
        "refusals are counted"
    );
    let db = format!(
        "sqlite://{}",
        fleet.server.data_path().join("vantage.db").display()
    );
    let store = server::store::Store::open(&db).await.unwrap();
    assert_eq!(
        store
            .raw_sample_times(Some(&raw.agent_id))
            .await
            .unwrap()
            .len(),
        1
    );
    let honest_times = store.raw_sample_times(Some(&honest_id)).await.unwrap();
    let mut unique = honest_times.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        honest_times.len(),
        "no honest sample stored twice"
    );
    store.close().await;
    let _ = honest.kill();
    let _ = honest.wait();
}
