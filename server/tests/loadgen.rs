//! The load generator against a real server: it enrolls its agents through the REST API,
//! streams over TLS, times SSE delivery and reports one JSON line.
mod common;

use std::process::Command;

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

#[tokio::test]
async fn live_and_past_modes_report_what_the_server_committed() {
    let server = Server::start_with(&["--mode", "server"], None);
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
    let token = String::from_utf8(
        server
            .admin(
                &[
                    "admin",
                    "create-token",
                    "--username",
                    "ops",
                    "--name",
                    "load",
                ],
                None,
            )
            .stdout,
    )
    .unwrap();
    let token = token.trim();

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
