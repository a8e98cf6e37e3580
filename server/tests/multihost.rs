//! Agents on their own addresses: each in a network namespace with its own veth link to the
//! server. One is cut off and brought back, and reconnects by itself.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{TestHost, namespaces_available};
use common::*;
use serde_json::Value;

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn agents_on_their_own_addresses_survive_a_cut() {
    if let Err(reason) = namespaces_available() {
        assert!(
            !require_everything(),
            "network namespaces are required (VANTAGE_REQUIRE_ALL=1): {reason}"
        );
        eprintln!(
            "SKIPPED: cannot create network namespaces here ({reason}); run as root with iproute2"
        );
        return;
    }
    let server = Server::start_with(
        &[
            "--mode",
            "server",
            "--grpc-listen",
            "0.0.0.0:0",
            "--agent-stale-threshold-seconds",
            "4",
        ],
        None,
    );
    let port = server.grpc_port();
    let (http, csrf) = signed_in(&server).await;
    let hosts = [
        TestHost::create("a", 41).unwrap(),
        TestHost::create("b", 42).unwrap(),
    ];
    let mut agents = Vec::new();
    let states = tempfile::tempdir().unwrap();
    for (host, label) in hosts.iter().zip(["ns-a", "ns-b"]) {
        let Enrollment { token, pin, .. } = issue_enrollment(&server, &http, &csrf).await;
        let child = Command::new("ip")
            .args(["netns", "exec", &host.namespace])
            .arg(agent_binary())
            .args([
                "--server",
                &format!("grpcs://{}:{port}", host.gateway),
                "--server-pin",
                &pin,
            ])
            .args([
                "--enrollment-token",
                &token,
                "--label",
                label,
                "--host-interval",
                "1s",
            ])
            .arg("--state-dir")
            .arg(states.path().join(label))
            .env("VANTAGE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        agents.push(Agent(child));
    }

    let host_of = |list: &Value, label: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|h| h["label"] == label)
            .cloned()
    };
    let hosts_now = || async {
        http.get(server.path("/api/v1/resources/hosts"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    eventually(
        Duration::from_secs(20),
        "both agents connected from their own addresses",
        || async {
            let list = hosts_now().await;
            ["ns-a", "ns-b"]
                .iter()
                .all(|l| {
                    host_of(&list, l).is_some_and(|h| {
                        h["connection_state"] == "connected" && h["cpu_pct"].is_number()
                    })
                })
                .then_some(())
        },
    )
    .await;

    // Cut host A off: the server notices the silence, host B is unaffected.
    let cut = Instant::now();
    let cut_at = chrono::Utc::now().timestamp();
    hosts[0].set_link(false);
    eventually(Duration::from_secs(15), "host A disconnected", || async {
        (host_of(&hosts_now().await, "ns-a")?["connection_state"] == "disconnected").then_some(())
    })
    .await;
    let b_before = host_of(&hosts_now().await, "ns-b").unwrap()["last_seen"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let b = host_of(&hosts_now().await, "ns-b").unwrap();
    assert_eq!(b["connection_state"], "connected");
    assert_ne!(
        b["last_seen"].as_str().unwrap(),
        b_before,
        "host B keeps streaming"
    );
    // Long enough for the agent to give up on the dead connection.
    tokio::time::sleep(Duration::from_secs(16).saturating_sub(cut.elapsed())).await;

    // Bring it back: the agent reconnects by itself and new samples arrive.
    hosts[0].set_link(true);
    let restored = chrono::Utc::now();
    eventually(
        Duration::from_secs(45),
        "host A back with fresh samples",
        || async {
            let a = host_of(&hosts_now().await, "ns-a")?;
            let seen = chrono::DateTime::parse_from_rfc3339(a["last_seen"].as_str()?).ok()?;
            (a["connection_state"] == "connected" && seen > restored).then_some(())
        },
    )
    .await;
    // What host A measured while cut off arrives too: its spool is backfilled.
    let a_id = host_of(&hosts_now().await, "ns-a").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let outage = restored.timestamp() - cut_at;
    let backfilled = eventually(Duration::from_secs(20), "the outage backfilled", || async {
        let url = format!(
            "/api/v1/resources/history?agent_id={a_id}&metric=cpu&from={cut_at}&to={}&step=1",
            restored.timestamp()
        );
        let history: Value = get_json(&http, server.path(&url)).await;
        let points = history["points"].as_array()?.len() as i64;
        (points >= outage - 3).then_some(points)
    })
    .await;
    assert!(
        backfilled >= outage - 3,
        "{backfilled} samples for a {outage} s outage at one per second"
    );
    for agent in &mut agents {
        assert!(
            agent.0.try_wait().unwrap().is_none(),
            "agents keep running through the cut"
        );
    }
}
