//! Both `/metrics` endpoints checked by Prometheus' own linter (`promtool check metrics`,
//! Debian's `prometheus` package), and the agent's `/healthz` turning 503 when its
//! collector stops producing samples.
mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// `promtool check metrics` on `text`: `Err` with what it printed when it objects.
fn promtool(text: &str) -> Option<Result<(), String>> {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            !require_everything(),
            "promtool is required (VANTAGE_REQUIRE_ALL=1); scripts/test installs Debian's prometheus package"
        );
        eprintln!("SKIPPED: promtool is not installed (apt install prometheus)");
        return None;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(said)
    })
}

#[tokio::test]
async fn the_server_metrics_pass_promtool_with_request_durations_as_a_histogram() {
    let server = Server::start();
    let http = reqwest::Client::new();
    for path in ["/healthz", "/api/v1/auth/me", "/no/such/page"] {
        http.get(server.path(path)).send().await.unwrap();
    }
    let text = http
        .get(server.path("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("# TYPE vantage_http_request_duration_seconds histogram\n"),
        "{text}"
    );
    assert!(text.contains(
        r#"vantage_http_request_duration_seconds_bucket{route="/api/v1/auth/me",le="+Inf"} 1"#
    ));
    if let Some(verdict) = promtool(&text) {
        verdict.unwrap_or_else(|said| panic!("promtool objects: {said}\n{text}"));
    }
}

#[tokio::test]
async fn the_agent_serves_metrics_that_pass_promtool_and_a_healthz_that_tells_staleness() {
    let server = Server::start_with(&["--mode", "server"], None);
    let (http, csrf) = signed_in(&server).await;
    let enrollment = issue_enrollment(&server, &http, &csrf).await;
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut flags = enrollment.agent_flags();
    flags.extend(
        [
            "--host-interval",
            "1s",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ]
        .map(String::from),
    );
    let mut agent = spawn_agent(state.path(), &flags, Stdio::inherit());
    let plain = reqwest::Client::new();
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let text = eventually(
        Duration::from_secs(30),
        "the agent streaming, as its metrics say",
        || async {
            let text = plain
                .get(&metrics_url)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (text.contains("vantage_agent_stream_connected 1\n")
                && text.contains("vantage_agent_acknowledged_sequence ")
                && !text.contains("vantage_agent_acknowledged_sequence 0\n"))
            .then_some(text)
        },
    )
    .await;
    for family in [
        "vantage_agent_host_collection_duration_seconds_count",
        "vantage_agent_spool_events",
        "vantage_agent_dropped_events_total",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(family), "{family}: {text}");
    }
    let health = plain
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    if let Some(verdict) = promtool(&text) {
        verdict.unwrap_or_else(|said| panic!("promtool objects: {said}\n{text}"));
    }
    let _ = agent.kill();
    let _ = agent.wait();

    // A collector with no /proc to read: after three intervals (at least 5 s), 503.
    let empty_proc = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut agent = spawn_agent(
        state.path(),
        &[
            "--host-interval",
            "1s",
            "--proc-root",
            empty_proc.path().to_str().unwrap(),
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
        Stdio::null(),
    );
    let reason = eventually(Duration::from_secs(20), "/healthz 503", || async {
        let res = plain
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .ok()?;
        (res.status() == 503).then_some(res.text().await.ok()?)
    })
    .await;
    assert!(reason.starts_with("no host sample for"), "{reason}");
    let _ = agent.kill();
    let _ = agent.wait();

    // A busy address is one plain sentence at start-up.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(agent_binary())
        .args([
            "--metrics-addr",
            &taken.local_addr().unwrap().to_string(),
            "--state-dir",
        ])
        .arg(state.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot listen on --metrics-addr"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
