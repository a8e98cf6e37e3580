//! Live figures, history, SSE, bad input and the operations endpoints, against the real server.
mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn summary(http: &reqwest::Client, server: &Server) -> Value {
    get_json(http, summary_url(server)).await
}

fn summary_url(server: &Server) -> String {
    server.path("/api/v1/resources/summary?agent_id=local")
}

#[tokio::test]
async fn local_figures_are_live_and_kept_in_history() {
    let server = Server::start();
    let (http, _) = signed_in(&server).await;

    let (first, f) = eventually(Duration::from_secs(15), "a first sample", || async {
        let s: app::HostSummary = get_json(&http, summary_url(&server)).await;
        let latest = s.latest.clone()?;
        Some((s, latest))
    })
    .await;
    assert_eq!(first.agent_id, app::LOCAL_AGENT_ID);
    assert_eq!(first.connection_state, app::ConnectionState::Connected);
    assert!((0.0..=100.0).contains(&f.cpu_pct));
    assert!(!f.cpu_per_core_pct.is_empty());
    assert!(f.memory_total_bytes > 0 && f.memory_pct > 0.0);
    assert!(
        !f.filesystems.is_empty(),
        "the root file system is reported"
    );
    assert!(f.interfaces.iter().all(|i| i.name != "lo"));
    // The disk gauge is the file systems' used share of their size, as df counts it.
    let used: u64 = f.filesystems.iter().map(|fs| fs.used_bytes).sum();
    let size: u64 = f.filesystems.iter().map(|fs| fs.size_bytes).sum();
    assert_eq!((f.disk_used_bytes, f.disk_size_bytes), (used, size));

    // A newer sample replaces it.
    let t0 = f.taken_at_ms;
    eventually(Duration::from_secs(10), "a newer sample", || async {
        let s: app::HostSummary = get_json(&http, summary_url(&server)).await;
        (s.latest?.taken_at_ms > t0).then_some(())
    })
    .await;

    let hosts: Vec<app::HostOverview> =
        get_json(&http, server.path("/api/v1/resources/hosts")).await;
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].id, app::LOCAL_AGENT_ID);
    assert_eq!(hosts[0].connection_state, app::ConnectionState::Connected);
    assert!(
        hosts[0].cpu_pct.is_some() && hosts[0].memory_pct.is_some() && hosts[0].disk_pct.is_some()
    );
    assert_eq!(hosts[0].running_containers, 0);

    // Stored samples come back as buckets with avg <= max and min <= avg.
    let history = eventually(Duration::from_secs(15), "three stored samples", || async {
        let h: app::History = get_json(
            &http,
            server.path("/api/v1/resources/history?agent_id=local&metric=memory&step=1"),
        )
        .await;
        (h.points.len() >= 3).then_some(h)
    })
    .await;
    assert_eq!((history.unit.as_str(), history.step), ("percent", 1));
    for p in &history.points {
        assert!(
            p.min <= p.avg && p.avg <= p.max && p.max <= 100.0 && p.min > 0.0,
            "{p:?}"
        );
        assert!(p.time.ends_with('Z'));
    }
    // One wide bucket holds them all.
    let now = chrono::Utc::now();
    let from = (now - chrono::Duration::minutes(5)).to_rfc3339();
    let wide: app::History = http
        .get(server.path("/api/v1/resources/history"))
        .query(&[
            ("metric", "cpu"),
            ("from", from.as_str()),
            ("to", &(now.timestamp() + 5).to_string()),
            ("step", "10m"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !wide.points.is_empty() && wide.points.len() <= 2,
        "{wide:?}"
    );
    // Without a range: the last hour of each metric, in about 120 buckets of at least 10 s.
    for metric in app::Metric::ALL {
        let url = format!("/api/v1/resources/history?metric={}", metric.as_str());
        let h: app::History = get_json(&http, server.path(&url)).await;
        assert_eq!(h.metric, metric);
        assert_eq!((h.to - h.from, h.step), (3600, 30), "{metric:?}");
    }

    // The labelled series: a line per core, per file system, per interface, and load.
    let series = eventually(Duration::from_secs(15), "stored series", || async {
        let s: app::SeriesHistory = get_json(
            &http,
            server.path("/api/v1/resources/series?agent_id=local&step=1"),
        )
        .await;
        let cores = s.family(app::SeriesFamily::CpuCore)?;
        (cores.series.len() == f.cpu_per_core_pct.len()
            && cores.series.iter().all(|c| c.points.len() >= 2))
        .then_some(s)
    })
    .await;
    let order: Vec<app::SeriesFamily> = series.families.iter().map(|f| f.family).collect();
    assert_eq!(
        order,
        app::SeriesFamily::ALL.to_vec(),
        "every family, in order"
    );
    let labels = |family| -> Vec<String> {
        series
            .family(family)
            .unwrap()
            .series
            .iter()
            .map(|s| s.label.clone())
            .collect()
    };
    let cores: Vec<String> = (0..f.cpu_per_core_pct.len())
        .map(|i| i.to_string())
        .collect();
    assert_eq!(labels(app::SeriesFamily::CpuCore), cores);
    assert_eq!(labels(app::SeriesFamily::Load), vec!["1m", "5m", "15m"]);
    let mut mounts: Vec<String> = f
        .filesystems
        .iter()
        .map(|fs| fs.mount_point.clone())
        .collect();
    mounts.sort();
    let mut stored = labels(app::SeriesFamily::Filesystem);
    stored.sort();
    assert_eq!(stored, mounts);
    let fs = &series.family(app::SeriesFamily::Filesystem).unwrap().series[0];
    assert!(
        fs.points
            .iter()
            .all(|p| p.min <= p.avg && p.avg <= p.max && p.max <= 100.0)
    );
    // One family asked for, one answered; 30 days come from the 1-hour rollups.
    let month: app::SeriesHistory = get_json(
        &http,
        server.path("/api/v1/resources/series?family=load&from=0&to=2592000"),
    )
    .await;
    assert_eq!((month.families.len(), month.step), (1, 21_600));
}

#[tokio::test]
async fn events_stream_pushes_samples() {
    let server = Server::start();
    let (http, _) = signed_in(&server).await;
    let mut res = http
        .get(server.path("/api/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    let mut samples = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while samples.len() < 2 {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("events within 15 s")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if event.contains("event: host_sample") {
                let data = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                let v: Value = serde_json::from_str(data).unwrap();
                if !v["latest"].is_null() {
                    samples.push(v["latest"]["taken_at_ms"].as_i64().unwrap());
                }
            }
        }
    }
    assert!(
        samples[1] > samples[0],
        "a second, newer sample arrives: {samples:?}"
    );
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_the_server_keeps_serving() {
    let server = Server::start();
    let (http, csrf) = signed_in(&server).await;

    let login = server.path("/api/v1/auth/login");
    let res = http
        .post(&login)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 400).await, "malformed_json");
    let res = http
        .post(&login)
        .header("content-type", "application/json")
        .body("{\"username\": 5}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 422).await, "invalid_body");
    let res = http
        .post(&login)
        .body("username=admin")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 415).await, "unsupported_media_type");
    let huge = format!(
        "{{\"username\":\"admin\",\"password\":\"{}\"}}",
        "x".repeat(200_000)
    );
    // The server closes a connection whose body it refused; use one of its own.
    let res = reqwest::Client::new()
        .post(&login)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 413).await, "payload_too_large");
    let res = http
        .post(server.path("/api/v1/api-tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "   "}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 422).await, "invalid_name");
    let res = http
        .delete(server.path("/api/v1/api-tokens/abc"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 400).await, "invalid_id");

    for (query, status, code) in [
        (
            "/api/v1/resources/summary?agent_id=4c1b0a3e-0000-4000-8000-000000000000",
            404,
            "unknown_agent",
        ),
        (
            "/api/v1/resources/history?agent_id=nope&metric=cpu",
            404,
            "unknown_agent",
        ),
        (
            "/api/v1/resources/history?metric=cpu&from=2000&to=1000",
            400,
            "invalid_range",
        ),
        (
            "/api/v1/resources/history?metric=cpu&from=1000&to=1000",
            400,
            "invalid_range",
        ),
        (
            "/api/v1/resources/history?metric=swap",
            400,
            "invalid_metric",
        ),
        ("/api/v1/resources/history", 400, "missing_metric"),
        (
            "/api/v1/resources/series?family=cpu_core,bogus",
            400,
            "invalid_family",
        ),
        (
            "/api/v1/resources/series?agent_id=nope",
            404,
            "unknown_agent",
        ),
        ("/api/v1/agents/nope/events", 404, "unknown_agent"),
        (
            "/api/v1/resources/series?from=0&to=2000000000&step=1",
            400,
            "too_many_points",
        ),
        (
            "/api/v1/resources/history?metric=cpu&from=yesterday",
            400,
            "invalid_time",
        ),
        (
            "/api/v1/resources/history?metric=cpu&step=0",
            400,
            "invalid_step",
        ),
        (
            "/api/v1/resources/history?metric=cpu&from=0&to=2000000000&step=1",
            400,
            "too_many_points",
        ),
    ] {
        let res = http.get(server.path(query)).send().await.unwrap();
        assert_eq!(error_code(res, status).await, code, "{query}");
    }

    let health = reqwest::get(server.path("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200, "still serving after bad input");
    let me = http
        .get(server.path("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = Server::start();
    let (http, _) = signed_in(&server).await;
    eventually(Duration::from_secs(15), "a first sample", || async {
        (!summary(&http, &server).await["latest"].is_null()).then_some(())
    })
    .await;

    let res = reqwest::get(server.path("/healthz")).await.unwrap();
    assert_eq!(res.status(), 200);
    let res = reqwest::get(server.path("/readyz")).await.unwrap();
    assert_eq!(res.status(), 200);

    let text = reqwest::get(server.path("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
            .parse()
            .unwrap()
    };
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_cpu_seconds_total") > 0.0);
    assert!(value("vantage_collection_runs_total") >= 1.0);
    assert!(value("vantage_host_memory_total_bytes") > 0.0);
    assert!((0.0..=100.0).contains(&value("vantage_host_cpu_percent")));
    assert!(
        text.contains(r#"vantage_http_requests_total{route="/api/v1/resources/summary",method="GET",status="200"}"#),
        "requests are counted by route pattern"
    );
}

#[tokio::test]
async fn healthz_fails_with_the_reason_when_collection_stops() {
    // A /proc root with nothing in it: every collection fails.
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(&["--proc-root", empty.path().to_str().unwrap()], None);
    let res = reqwest::get(server.path("/healthz")).await.unwrap();
    assert_eq!(
        res.status(),
        200,
        "healthy during the first 30 s grace period"
    );
    let body: Value = eventually(Duration::from_secs(45), "healthz to turn 503", || async {
        let res = reqwest::get(server.path("/healthz")).await.unwrap();
        if res.status() == 503 {
            Some(res.json().await.unwrap())
        } else {
            None
        }
    })
    .await;
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("collection") && reason.contains("stat"),
        "{reason}"
    );
    // The store is fine, so the server is still ready.
    assert_eq!(
        reqwest::get(server.path("/readyz")).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn sigterm_stops_gracefully_with_clients_connected() {
    let mut server = Server::start();
    let (http, _) = signed_in(&server).await;
    let mut events = http
        .get(server.path("/api/v1/events"))
        .send()
        .await
        .unwrap();
    let _ = events.chunk().await.unwrap();
    let status = server.terminate(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");

    // Restart on the same data dir: the account is still there.
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let server = Server::start_in(data_dir, &[], None);
    logged_in_as_admin(&server, client()).await;
}

#[tokio::test]
async fn the_store_file_and_data_dir_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    let _ = signed_in(&server).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(server.data_path()), 0o700);
    assert_eq!(mode(&server.data_path().join("vantage.db")), 0o600);
}

#[tokio::test]
async fn boot_errors_are_one_clear_line() {
    for (args, expected) in [
        (
            vec!["--database-url", "mysql://x"],
            "unsupported database URL",
        ),
        (vec!["--collect-interval", "soon"], "not a duration"),
        (vec!["--http-listen", "nonsense"], "invalid value"),
        (
            vec!["--site-dir", "/nonexistent"],
            "cannot read the dashboard bundle in /nonexistent/pkg",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(binary())
            .arg("--data-dir")
            .arg(dir.path())
            .args(&args)
            .env("VANTAGE_LOG", "off")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test]
async fn the_dashboard_bundle_is_served_compressed_and_revalidated() {
    let server = Server::start();
    let http = reqwest::Client::builder().no_gzip().build().unwrap();
    let res = http
        .get(server.path("/pkg/frontend_bg.wasm"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    if res.status() == 404 {
        assert!(
            !require_everything(),
            "the server was built without the WASM bundle"
        );
        eprintln!("SKIPPED: no WASM bundle in this build (run scripts/build-frontend first)");
        return;
    }
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/wasm");
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let compressed = res.bytes().await.unwrap().len();
    let plain = http
        .get(server.path("/pkg/frontend_bg.wasm"))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert_eq!(&plain[..4], b"\0asm");
    assert!(
        compressed < plain.len() / 2,
        "gzip {compressed} vs {}",
        plain.len()
    );
    let res = http
        .get(server.path("/pkg/frontend_bg.wasm"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    let res = http
        .get(server.path("/pkg/frontend.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");

    // Pages load the bundle from a directory named by its digest: kept for a year.
    let page = http
        .get(server.path("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page.find("/pkg/").expect("the page names the bundle") + "/pkg/".len();
    let digest = &page[at..at + 16];
    assert!(
        digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "{digest}: {page}"
    );
    let dir = format!("/pkg/{digest}");
    assert!(page.contains(&format!("{dir}/frontend.js")), "{page}");
    assert!(page.contains(&format!("{dir}/frontend_bg.wasm")), "{page}");
    let res = http
        .get(server.path(&format!("{dir}/frontend_bg.wasm")))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    // Brotli when the build made it (scripts/build-frontend always does).
    match res
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned())
    {
        Some(e) if e == "br" => {
            let br = res.bytes().await.unwrap().len();
            assert!(br < compressed, "brotli {br} vs gzip {compressed}");
        }
        other => {
            assert!(
                !require_everything(),
                "no brotli form of the bundle ({other:?}): build it with scripts/build-frontend"
            );
            eprintln!("SKIPPED: this bundle has no brotli form");
        }
    }
    let gzip_only = http
        .get(server.path(&format!("{dir}/frontend.js")))
        .header("accept-encoding", "gzip, br;q=0")
        .send()
        .await
        .unwrap();
    assert_eq!(gzip_only.headers()["content-encoding"], "gzip");

    // The pages outside the main module come in chunks, each listed by the manifest beside
    // the bundle and served from the same directory.
    let manifest: Value = get_json(
        &http,
        server.path(&format!("{dir}/__wasm_split_manifest.json")),
    )
    .await;
    let points = manifest.as_object().expect("split points");
    assert!(
        points.keys().any(|k| k.starts_with("host_page_"))
            && points.keys().any(|k| k.starts_with("secondary_page_")),
        "{manifest}"
    );
    for chunk in points.values().flat_map(|c| c.as_array().unwrap()) {
        let res = http
            .get(server.path(&format!("{dir}/{}.wasm", chunk.as_str().unwrap())))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{chunk}");
        assert_eq!(res.headers()["content-type"], "application/wasm");
        assert_eq!(&res.bytes().await.unwrap()[..4], b"\0asm", "{chunk}");
    }
    // A host's page asks for its chunks early; the sign-in page needs none.
    assert!(!page.contains("split_host_page_"), "{page}");
    let (signed_in, _) = signed_in(&server).await;
    let host_page = get_text(&signed_in, server.path("/hosts/local")).await;
    let preloads: Vec<&str> = host_page
        .split("<link ")
        .skip(1)
        .filter_map(|l| l.split_once('>').map(|(attrs, _)| attrs))
        .filter(|attrs| attrs.contains("rel=\"preload\""))
        .collect();
    for chunk in points
        .iter()
        .find(|(k, _)| k.starts_with("host_page_"))
        .map(|(_, c)| c.as_array().unwrap().clone())
        .unwrap()
    {
        let href = format!("{dir}/{}.wasm", chunk.as_str().unwrap());
        assert!(
            preloads
                .iter()
                .any(|l| l.contains(&format!("href=\"{href}\""))),
            "{href} is not preloaded: {preloads:?}"
        );
    }

    assert_eq!(
        http.get(server.path("/pkg/0000000000000000/frontend.js"))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "another digest is not this bundle"
    );
    for missing in ["/pkg/other.js", &format!("{dir}/other.js")] {
        assert_eq!(
            http.get(server.path(missing))
                .send()
                .await
                .unwrap()
                .status(),
            404,
            "{missing}"
        );
    }
    let css = http.get(server.path("/style.css")).send().await.unwrap();
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn host_rows_carry_the_last_hour_as_sparklines_from_the_rollups() {
    let server = Server::start();
    let (http, _) = signed_in(&server).await;
    // A live hour is folded into the rollups only once it is due; the samples not folded yet
    // are in the sparklines from their commit on.
    let row = eventually(Duration::from_secs(15), "a sparkline bucket", || async {
        let hosts: Vec<app::HostOverview> =
            get_json(&http, server.path("/api/v1/resources/hosts")).await;
        let local = hosts.into_iter().next()?;
        local.spark.cpu.iter().any(Option::is_some).then_some(local)
    })
    .await;
    let spark = &row.spark;
    assert_eq!(spark.step_s, 120);
    assert_eq!((spark.cpu.len(), spark.memory.len()), (30, 30));
    // Only the newest buckets hold figures (the server just started), and they are shares.
    assert!(spark.cpu[..27].iter().all(Option::is_none), "{spark:?}");
    let memory = spark.memory.iter().flatten().copied().collect::<Vec<_>>();
    assert!(!memory.is_empty() && memory.iter().all(|m| *m > 0.0 && *m <= 100.0));
    // To a tenth of a percent: a thousand hosts' page carries 60 of these each.
    assert!(
        memory
            .iter()
            .all(|m| m.to_string().split('.').nth(1).is_none_or(|d| d.len() <= 1)),
        "{memory:?}"
    );
    assert!(
        spark
            .cpu
            .iter()
            .flatten()
            .all(|c| (0.0..=100.0).contains(c))
    );
    // The row's other figures come from the newest sample.
    assert!(row.load1.is_some() && row.cores.unwrap_or(0) >= 1 && row.uptime_s.is_some());
    assert_eq!(row.status, app::AgentStatus::Active);
    assert!(row.agent_version.is_none() && row.last_seen_ms.is_some());
}

#[tokio::test]
async fn a_page_carries_each_resource_once_and_no_failed_copy() {
    let server = Server::start();
    let (http, _) = signed_in(&server).await;
    for page in ["/", "/hosts/local", "/agents", "/containers"] {
        let html = get_text(&http, server.path(page)).await;
        // Each resource's data once: a page whose components are built again on a suspense's
        // passes carried two or three copies (and a failed one could be hydrated instead).
        // (Short ones such as an empty list may well be two resources' own.)
        let data: Vec<&str> = html
            .split("__RESOLVED_RESOURCES[")
            .skip(1)
            .filter_map(|rest| rest.split("\";").next())
            .collect();
        assert!(!data.is_empty(), "{page}: no resource data");
        let long: Vec<&str> = data
            .iter()
            .filter_map(|d| d.split_once("] = \"").map(|(_, v)| v))
            .filter(|v| v.len() > 40)
            .collect();
        let unique: std::collections::BTreeSet<&str> = long.iter().copied().collect();
        assert_eq!(long.len(), unique.len(), "{page}: a resource's data twice");
        if let Some(at) = html.find(r#"{\"Err\""#) {
            let end = (at + 300).min(html.len());
            panic!("{page}: a resource failed: {}", &html[at..end]);
        }
        if page == "/hosts/local" {
            let summaries = html.matches(r#"\"agent_id\":\"local\",\"label\""#).count();
            assert_eq!(summaries, 1, "the host's summary, once");
        }
    }
}
