//! The load generator against a real server: it enrolls its agents through the REST API,
//! streams over TLS, times SSE delivery and reports one JSON line.
mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn loadgen(server: &Server, token: &str, args: &[&str]) -> Value {
    let out = Command::new(loadgen_binary())
        .args(["--server-url", &server.url, "--api-token", token])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().expect("a JSON line"))
        .expect("the last line is JSON")
}

/// A user `ops` and an API token of theirs, made with the admin commands.
fn api_token(server: &Server) -> String {
    let out = server.admin(
        &[
            "admin",
            "create-user",
            "--username",
            "ops",
            "--password-stdin",
        ],
        Some("a long password\n"),
    );
    assert!(out.status.success());
    let out = server.admin(
        &[
            "admin",
            "create-token",
            "--username",
            "ops",
            "--name",
            "load",
        ],
        None,
    );
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn live_and_past_modes_report_what_the_server_committed() {
    let server = Server::start_with(&["--mode", "server"], None);
    let token = &api_token(&server);

    let live = loadgen(
        &server,
        token,
        &[
            "--agents",
            "6",
            "--duration",
            "4",
            "--sse",
            "2",
            "--interval",
            "1",
        ],
    );
    for key in [
        "agents",
        "duration_s",
        "events_sent",
        "events_committed",
        "samples_committed",
        "server_cpu_s",
        "samples_per_server_cpu_s",
        "sse_latency_p50_ms",
        "sse_latency_p99_ms",
        "server_peak_rss_mb",
        "bytes_per_stored_sample",
    ] {
        assert!(live.get(key).is_some(), "{key} missing from {live}");
    }
    let committed = live["events_committed"].as_u64().unwrap();
    assert!(committed >= 6 * 3, "{live}");
    assert_eq!(live["events_sent"], live["events_committed"], "{live}");
    assert!(
        live["sse_events"].as_u64().unwrap() > 0,
        "SSE listeners saw the samples: {live}"
    );
    assert!(live["server_peak_rss_mb"].as_f64().unwrap() > 1.0);

    // The server agrees: six agents, each with its samples stored.
    let http = reqwest::Client::new();
    let hosts: Value = http
        .get(server.path("/api/v1/resources/hosts"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        hosts
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["label"].as_str().unwrap().starts_with("loadgen-"))
            .count(),
        6
    );

    let past = loadgen(&server, token, &["--agents", "3", "--past", "1h"]);
    assert_eq!(past["events_committed"], 3 * 360, "{past}");
    assert!(past["bytes_per_stored_sample"].as_f64().unwrap() > 0.0);
}

/// A server stopped while agents stream: each agent's disconnect is on its timeline when the
/// server comes back (the writes run behind the streams and were cut off by the closing store).
#[tokio::test]
async fn a_shutdown_puts_every_streaming_agents_disconnect_on_its_timeline() {
    const AGENTS: usize = 40;
    let mut server = Server::start_with(&["--mode", "server"], None);
    let token = api_token(&server);
    let mut load = Command::new(loadgen_binary())
        .args(["--server-url", &server.url, "--api-token", &token])
        .args([
            "--agents",
            &AGENTS.to_string(),
            "--duration",
            "120",
            "--interval",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let hosts = |server: &Server| {
        let (http, url, token) = (
            http.clone(),
            server.path("/api/v1/resources/hosts"),
            token.clone(),
        );
        async move {
            let hosts: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            Some(
                hosts
                    .as_array()?
                    .iter()
                    .filter(|h| {
                        h["label"]
                            .as_str()
                            .is_some_and(|l| l.starts_with("loadgen-"))
                    })
                    .map(|h| {
                        (
                            h["id"].as_str().unwrap().to_owned(),
                            h["cpu_pct"].is_number(),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
        }
    };
    let live = eventually(Duration::from_secs(60), "every agent streaming", || async {
        let hosts = hosts(&server).await?;
        (hosts.iter().filter(|(_, live)| *live).count() == AGENTS).then_some(hosts)
    })
    .await;
    assert!(server.terminate(Duration::from_secs(30)).success());
    let _ = load.kill();
    let _ = load.wait();

    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let server = Server::start_in(data_dir, &["--mode", "server"], None);
    for (id, _) in live {
        let events: Value = http
            .get(server.path(&format!("/api/v1/agents/{id}/events")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let newest = &events.as_array().expect("a list of events")[0];
        assert_eq!(newest["kind"], "disconnected", "agent {id}: {events}");
    }
}

/// History older than the server keeps is refused event by event: the load generator counts
/// those, reports what was stored, and finishes (it waited ten minutes for the refused events
/// to be folded, and miscounted the batches in flight).
#[tokio::test]
async fn past_mode_beyond_the_retention_counts_what_was_refused_and_finishes() {
    let server = Server::start_with(&["--mode", "server", "--retention-raw", "1h"], None);
    let token = api_token(&server);
    let started = std::time::Instant::now();
    let past = loadgen(
        &server,
        &token,
        &["--agents", "1", "--past", "3h", "--interval", "60"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}: {past}",
        started.elapsed()
    );
    // Three hours at a minute: 180 events, the two older hours refused.
    assert_eq!(past["events_committed"], 180, "{past}");
    let refused = past["events_refused"].as_u64().unwrap();
    assert!((110..=125).contains(&refused), "{past}");
    // A host sample of the generator is 26 stored values: 12 totals and 14 labelled series.
    assert_eq!(past["samples_committed"], (180 - refused) * 26, "{past}");
}
