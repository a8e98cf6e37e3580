//! Container events, stats and lists from the real Docker engine, through a real agent.
//! The test image is built locally from Debian's static busybox: nothing is pulled.
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::docker::{Container, IMAGE, docker_ready};
use common::*;
use serde_json::Value;

#[tokio::test]
async fn container_list_stats_and_events_reach_the_server() {
    if let Err(reason) = docker_ready() {
        assert!(
            !require_everything(),
            "Docker is required (VANTAGE_REQUIRE_ALL=1): {reason}"
        );
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let server = Server::start_with(&["--mode", "server"], None);
    let (http, csrf) = signed_in(&server).await;
    let enrollment = issue_enrollment(&server, &http, &csrf).await;
    let state = tempfile::tempdir().unwrap();
    let mut flags = enrollment.agent_flags();
    flags.extend(["--host-interval".into(), "1s".into()]);
    let mut agent = spawn_agent(state.path(), &flags, Stdio::inherit());

    let name = format!("vantage-test-{}", hex_id());
    let mut events = http
        .get(server.path("/api/v1/events"))
        .send()
        .await
        .unwrap();
    let started = Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            "com.docker.compose.project=demo",
        ])
        .args([
            "--label",
            "com.docker.compose.service=spin",
            IMAGE,
            "sh",
            "-c",
            "while true; do :; done",
        ])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let _cleanup = Container(name.clone());

    // The list and the stats arrive: the busy loop shows as CPU, and memory is counted.
    let container = eventually(
        Duration::from_secs(30),
        "the container with figures",
        || async {
            let list: Value = get_json(&http, server.path("/api/v1/containers")).await;
            list.as_array()?
                .iter()
                .find(|c| {
                    c["name"] == name.as_str()
                        && c["state"] == "running"
                        && c["cpu_pct"].as_f64().is_some_and(|v| v > 5.0)
                })
                .cloned()
        },
    )
    .await;
    assert_eq!(container["image"], IMAGE);
    assert_eq!(container["compose_project"], "demo");
    assert_eq!(container["compose_service"], "spin");
    assert!(container["memory_bytes"].as_u64().is_some());
    let agent_id = container["agent_id"].as_str().unwrap().to_owned();
    let top: Value = get_json(
        &http,
        server.path(&format!("/api/v1/resources/top?agent_id={agent_id}")),
    )
    .await;
    assert_eq!(
        top["by_cpu"][0]["name"],
        name.as_str(),
        "the busy loop tops the CPU list: {top}"
    );
    let hosts: Value = get_json(&http, server.path("/api/v1/resources/hosts")).await;
    let host = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == agent_id.as_str())
        .unwrap();
    assert!(host["running_containers"].as_u64().unwrap() >= 1);
    let scoped: Value = get_json(
        &http,
        server.path(&format!("/api/v1/containers?agent_id={agent_id}")),
    )
    .await;
    assert!(
        scoped
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == name.as_str())
    );
    let res = http
        .get(server.path("/api/v1/containers?agent_id=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 404).await, "unknown_agent");

    // Stopping it is seen as it happens, on the live stream and in the list.
    assert!(
        Command::new("docker")
            .args(["kill", &name])
            .output()
            .unwrap()
            .status
            .success()
    );
    let mut text = String::new();
    let die = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let chunk = events.chunk().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = text
                .lines()
                .filter(|l| l.starts_with("data: "))
                .find(|l| l.contains(&name) && l.contains("\"die\""))
            {
                return serde_json::from_str::<Value>(&line["data: ".len()..]).unwrap();
            }
        }
    })
    .await
    .expect("a die event on /api/v1/events within 20 s");
    assert_eq!(die["agent_id"], agent_id.as_str());
    assert!(die["detail"].as_str().unwrap().contains("exit code"));
    eventually(
        Duration::from_secs(20),
        "the container listed as exited",
        || async {
            let list: Value = get_json(&http, server.path("/api/v1/containers")).await;
            list.as_array()?
                .iter()
                .find(|c| c["name"] == name.as_str() && c["state"] == "exited")
                .cloned()
        },
    )
    .await;
    agent.kill().unwrap();
    agent.wait().unwrap();
}

#[tokio::test]
async fn the_docker_run_snippet_with_a_registry_image_starts_a_working_agent() {
    if let Err(reason) = docker_ready() {
        assert!(
            !require_everything(),
            "Docker is required (VANTAGE_REQUIRE_ALL=1): {reason}"
        );
        eprintln!("SKIPPED: {reason}");
        return;
    }
    // The image the snippet names (as with --agent-image NAME for a registry image), built
    // locally from the agent binary next to this test.
    let id = hex_id();
    let stage = tempfile::tempdir().unwrap();
    let rootfs = stage.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("usr/local/bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("var/lib/vantage-agent")).unwrap();
    std::fs::copy(agent_binary(), rootfs.join("usr/local/bin/vantage-agent")).unwrap();
    let ldd = Command::new("ldd").arg(agent_binary()).output().unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let target = rootfs.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(lib, target).unwrap();
    }
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/docker/Dockerfile"),
        stage.path().join("Dockerfile"),
    )
    .unwrap();
    let tag = format!("vantage-agent-registry-test:{id}");
    let built = Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(stage.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let server = Server::start_with(&["--mode", "server", "--agent-image", &tag], None);
    let (http, csrf) = signed_in(&server).await;
    let created = issue_enrollment(&server, &http, &csrf).await.body;
    assert_eq!(
        created.install_templates.image_load, None,
        "a registry image is pulled, not loaded from this server"
    );
    assert!(
        created
            .install_templates
            .docker_run
            .ends_with(&format!("  {tag}"))
    );
    assert!(
        created
            .install_templates
            .kubernetes
            .contains(&format!("image: {tag}\n"))
    );
    assert!(
        !created.warnings.iter().any(|w| w.contains("agent image")),
        "{:?}",
        created.warnings
    );
    let name = format!("vantage-agent-{id}");
    // Run the snippet as a user would paste it, with a name and volume of its own.
    let snippet = created
        .install_templates
        .docker_run
        .replace("--name vantage-agent ", &format!("--name {name} "))
        .replace(
            "vantage-agent-state:",
            &format!("vantage-agent-state-{id}:"),
        );
    let run = Command::new("sh").arg("-c").arg(&snippet).output().unwrap();
    let container = Container(name.clone());
    assert!(
        run.status.success(),
        "{snippet}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let host = eventually(
        Duration::from_secs(30),
        "the containerised agent streaming",
        || async {
            let hosts: Vec<app::HostOverview> =
                get_json(&http, server.path("/api/v1/resources/hosts")).await;
            hosts.into_iter().find(|h| {
                h.id != app::LOCAL_AGENT_ID
                    && h.connection_state == app::ConnectionState::Connected
                    && h.cpu_pct.is_some()
            })
        },
    )
    .await;
    let agent: app::AgentInfo =
        get_json(&http, server.path(&format!("/api/v1/agents/{}", host.id))).await;
    assert_eq!(
        agent.runtime,
        app::Runtime::Docker,
        "the agent detects the Docker socket"
    );
    // The host's own memory, read through /host/proc.
    let figures = |agent_id: String| {
        let http = http.clone();
        let url = server.path(&format!("/api/v1/resources/summary?agent_id={agent_id}"));
        async move {
            let summary: app::HostSummary = get_json(&http, url).await;
            summary.latest.expect("a sample")
        }
    };
    let remote = figures(host.id.clone()).await;
    let local = figures(app::LOCAL_AGENT_ID.to_owned()).await;
    assert_eq!(remote.memory_total_bytes, local.memory_total_bytes);
    // And its disks, through the read-only root mount, measured the way the gauge shows them.
    assert!(!remote.filesystems.is_empty(), "{remote:?}");
    assert!(
        (remote.disk_pct - local.disk_pct).abs() < 2.0,
        "{} vs {}",
        remote.disk_pct,
        local.disk_pct
    );
    drop(container);
    let _ = Command::new("docker")
        .args(["volume", "rm", "-f", &format!("vantage-agent-state-{id}")])
        .output();
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
}
