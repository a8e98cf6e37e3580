//! Fleet enrollment tokens with real agent processes: one token, many hosts, each with its
//! own identity; `max_uses` holds when agents race; a restarted host spends no use; a
//! deleted token enrolls no one.
mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn agents(server: &Server, http: &reqwest::Client) -> Vec<app::AgentInfo> {
    get_json(http, server.path("/api/v1/agents")).await
}

async fn token(server: &Server, http: &reqwest::Client, id: i64) -> app::EnrollmentTokenInfo {
    get_json(
        http,
        server.path(&format!("/api/v1/agents/enrollment-tokens/{id}")),
    )
    .await
}

/// Waits for `n` agents to be listed, connected.
async fn wait_for_connected(server: &Server, http: &reqwest::Client, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = agents(server, http).await;
        let connected = listed
            .iter()
            .filter(|a| a.connection_state == app::ConnectionState::Connected)
            .count();
        if connected == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {n} connected agents: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The exit status and standard error of an agent that must stop by itself.
fn refused(mut agent: Agent) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = agent.0.try_wait().unwrap() {
            assert!(!status.success());
            let mut stderr = String::new();
            use std::io::Read;
            agent
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return stderr;
        }
        assert!(Instant::now() < deadline, "the agent should have given up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn one_fleet_token_enrolls_up_to_its_uses_even_when_hosts_race() {
    let server = Server::start_with(&["--mode", "server"], None);
    let (http, csrf) = signed_in(&server).await;

    // Bad input: a clear 422 and no token.
    for body in [
        json!({"max_uses": 0}),
        json!({"max_uses": 100_001}),
        json!({"max_uses": -3}),
    ] {
        let res = post_json(
            &http,
            server.path("/api/v1/agents/enrollment-tokens"),
            Some(&csrf),
            &body,
        )
        .await;
        assert_eq!(error_code(res, 422).await, "invalid_max_uses", "{body}");
    }
    let res = post_json(
        &http,
        server.path("/api/v1/agents/enrollment-tokens"),
        Some(&csrf),
        &json!({"max_uses": "lots"}),
    )
    .await;
    assert_eq!(res.status(), 422);
    let listed: Vec<app::EnrollmentTokenInfo> =
        get_json(&http, server.path("/api/v1/agents/enrollment-tokens")).await;
    assert!(listed.is_empty(), "bad requests made no token: {listed:?}");

    // The default stays one host.
    let single = issue_enrollment(&server, &http, &csrf).await;
    assert_eq!(single.body.info.max_uses, Some(1));
    assert!(
        single
            .body
            .install_templates
            .kubernetes
            .contains("This token enrolls ONE node")
    );

    let fleet = issue_enrollment_with(
        &server,
        &http,
        &csrf,
        &json!({"ttl_hours": 2, "max_uses": 3}),
    )
    .await;
    assert_eq!(
        (fleet.body.info.max_uses, fleet.body.info.uses),
        (Some(3), 0)
    );
    assert!(
        fleet
            .body
            .install_templates
            .kubernetes
            .contains("A fleet token: up to 3 nodes enroll with it"),
        "{}",
        fleet.body.install_templates.kubernetes
    );

    // Five hosts, separate state dirs, all started at once with the same token.
    let states = tempfile::tempdir().unwrap();
    let mut flags = fleet.agent_flags();
    flags.extend(["--host-interval".into(), "1s".into()]);
    let racing: Vec<Agent> = (0..5)
        .map(|i| {
            Agent(spawn_agent(
                &states.path().join(format!("host-{i}")),
                &flags,
                Stdio::piped(),
            ))
        })
        .collect();
    // Those refused stop by themselves; the three enrolled keep running.
    let mut refusals = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut running = racing;
    while refusals.len() < 2 {
        let mut still = Vec::new();
        for mut agent in running {
            match agent.0.try_wait().unwrap() {
                Some(_) => refusals.push(refused(agent)),
                None => still.push(agent),
            }
        }
        running = still;
        assert!(
            Instant::now() < deadline,
            "two of five should be refused: {refusals:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_connected(&server, &http, 3).await;
    assert_eq!(running.len(), 3);
    for stderr in &refusals {
        assert!(
            stderr.contains("the enrollment token is used up"),
            "one plain sentence: {stderr}"
        );
    }
    let listed = agents(&server, &http).await;
    let mut ids: Vec<&str> = listed.iter().map(|a| a.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each host has its own agent id");
    let info = token(&server, &http, fleet.body.info.id).await;
    assert_eq!((info.uses, info.state), (3, app::TokenState::Used));
    let mut enrolled: Vec<&str> = info.agents.iter().map(|a| a.agent_id.as_str()).collect();
    enrolled.sort();
    assert_eq!(enrolled, ids, "the token lists the agents it enrolled");
    let identities = (0..5)
        .filter(|i| {
            states
                .path()
                .join(format!("host-{i}/identity.json"))
                .exists()
        })
        .count();
    assert_eq!(identities, 3, "refused hosts keep no identity");

    // A restarted host has its identity and spends no use.
    let restarted_dir = (0..5)
        .map(|i| states.path().join(format!("host-{i}")))
        .find(|d| d.join("identity.json").exists())
        .unwrap();
    drop(running);
    wait_for_connected(&server, &http, 0).await;
    let again = Agent(spawn_agent(&restarted_dir, &flags, Stdio::null()));
    wait_for_connected(&server, &http, 1).await;
    let identity: serde_json::Value =
        serde_json::from_slice(&std::fs::read(restarted_dir.join("identity.json")).unwrap())
            .unwrap();
    let connected = agents(&server, &http)
        .await
        .into_iter()
        .find(|a| a.connection_state == app::ConnectionState::Connected)
        .unwrap();
    assert_eq!(identity["agent_id"], connected.id.as_str());
    let info = token(&server, &http, fleet.body.info.id).await;
    assert_eq!(info.uses, 3);
    assert_eq!(agents(&server, &http).await.len(), 3);
    drop(again);

    // Unlimited within the TTL; deleting the token stops new enrollments at once.
    let open = issue_enrollment_with(
        &server,
        &http,
        &csrf,
        &json!({"ttl_hours": 1, "max_uses": null}),
    )
    .await;
    assert_eq!(open.body.info.max_uses, None);
    let mut open_flags = open.agent_flags();
    open_flags.extend(["--host-interval".into(), "1s".into()]);
    let first = Agent(spawn_agent(
        &states.path().join("open-0"),
        &open_flags,
        Stdio::null(),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while token(&server, &http, open.body.info.id).await.uses < 1 {
        assert!(Instant::now() < deadline, "the open token enrolled no one");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let res = http
        .delete(server.path(&format!(
            "/api/v1/agents/enrollment-tokens/{}",
            open.body.info.id
        )))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let late = Agent(spawn_agent(
        &states.path().join("open-1"),
        &open_flags,
        Stdio::piped(),
    ));
    let stderr = refused(late);
    assert!(
        stderr.contains("the enrollment token is unknown"),
        "{stderr}"
    );
    assert!(!states.path().join("open-1/identity.json").exists());
    assert_eq!(agents(&server, &http).await.len(), 4);
    drop(first);
}
