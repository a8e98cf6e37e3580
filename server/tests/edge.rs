//! The HTTP edge against a real server: bounded password hashing, idle connections, a login
//! throttle that strangers cannot turn against the admin, proxy headers, live streams that end
//! with their credential, and JSON errors with security headers everywhere.
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// A client whose connections leave from `source` (any address of 127.0.0.0/8 works).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn login_status(http: &reqwest::Client, server: &Server, password: &str) -> u16 {
    let body = json!({"username": ADMIN, "password": password});
    post_json(http, server.path("/api/v1/auth/login"), None, &body)
        .await
        .status()
        .as_u16()
}

fn peak_rss_bytes(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test]
async fn a_strangers_failures_never_lock_out_a_sign_in_from_elsewhere_even_after_a_restart() {
    let server = Server::start();
    signed_in(&server).await;
    let stranger = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(login_status(&stranger, &server, "wrong password!").await);
    }
    assert!(
        statuses.contains(&429),
        "the stranger is slowed down: {statuses:?}"
    );
    assert_eq!(
        login_status(&client_from("127.0.0.1"), &server, PASSWORD).await,
        200
    );

    // The throttle is in the store: after a restart the stranger's count goes on (one more
    // failure earns a longer delay at once), where a fresh count would let it try again.
    let mut server = server;
    server.terminate(Duration::from_secs(10));
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let server = Server::start_in(data_dir, &[], None);
    let wrong = eventually(Duration::from_secs(40), "the delay to pass", || async {
        let status = login_status(&stranger, &server, "wrong password!").await;
        (status == 401).then_some(status)
    })
    .await;
    assert_eq!(wrong, 401);
    assert_eq!(login_status(&stranger, &server, PASSWORD).await, 429);
    assert_eq!(
        login_status(&client_from("127.0.0.1"), &server, PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn a_hundred_concurrent_wrong_logins_keep_memory_flat() {
    let server = Server::start();
    signed_in(&server).await;
    let mut attempts = Vec::new();
    for i in 0..100 {
        // Each from its own address, so the throttle does not cut the storm short.
        let http = client_from(&format!("127.0.1.{}", i + 1));
        let url = server.path("/api/v1/auth/login");
        attempts.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"username": ADMIN, "password": "wrong password!"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| [401, 503].contains(s)),
        "{statuses:?}"
    );
    let peak = peak_rss_bytes(&server);
    assert!(peak < 200 << 20, "peak RSS {} MB", peak >> 20);
    let res = client().get(server.path("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn idle_connections_leave_the_server_answering() {
    let server = Server::start();
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    let http = client();
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let res = http.get(server.path("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        best = best.min(started.elapsed());
    }
    assert!(
        best < Duration::from_millis(100),
        "/healthz took {best:?} with 1,100 idle connections"
    );
    // The header-read deadline closes connections that never send a request.
    use tokio::io::AsyncReadExt;
    let mut one = idle.pop().unwrap();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(30), one.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "an idle connection is closed: {closed:?}"
    );
}

#[tokio::test]
async fn spoofed_forwarded_headers_change_no_snippet() {
    let server = Server::start_with(&["--mode", "server"], None);
    let (http, csrf) = signed_in(&server).await;
    let issue = |headers: Vec<(&'static str, &'static str)>| {
        let mut req = http
            .post(server.path("/api/v1/agents/enrollment-tokens"))
            .header("x-csrf-token", &csrf)
            .json(&json!({"ttl_hours": 1}));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let spoofed = issue(vec![
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
    ])
    .await;
    let snippets = spoofed["install_templates"].to_string();
    assert!(!snippets.contains("evil.example"), "{snippets}");
    assert!(snippets.contains("http://127.0.0.1:"), "{snippets}");
    let script = client()
        .get(server.path("/install.sh"))
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!script.contains("evil.example"));
    // A Host that is no host name never reaches a snippet.
    let shell = issue(vec![("host", "evil.com$(id)")]).await;
    assert!(!shell.to_string().contains("$(id)"), "{shell}");
}

#[tokio::test]
async fn a_revoked_tokens_live_stream_ends() {
    let server = Server::start();
    let (http, csrf) = signed_in(&server).await;
    let url = server.path("/api/v1/api-tokens");
    let created: Value = post_json(&http, url, Some(&csrf), &json!({"name": "watcher"}))
        .await
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let mut stream = client()
        .get(server.path("/api/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.chunk().await.unwrap().is_some(),
        "the first event arrives"
    );
    let res = http
        .delete(server.path(&format!("/api/v1/api-tokens/{}", created["id"])))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream must end when its token is revoked"
    );
}

#[tokio::test]
async fn every_error_is_json_and_every_answer_carries_security_headers() {
    let server = Server::start();
    let (http, csrf) = signed_in(&server).await;
    // 405 from the router itself.
    let res = http
        .put(server.path("/api/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 405).await, "method_not_allowed");
    // A path that does not decode.
    let res = http
        .get(server.path("/api/v1/agents/%FF%FE"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    // A server function with bad arguments is a 400, not a 500.
    let res = http
        .post(server.path("/_sf/summary"))
        .header("origin", &server.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nonsense=1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Signing in through the dashboard needs our own origin (no login CSRF).
    let res = client()
        .post(server.path("/_sf/login"))
        .header("origin", "https://evil.example")
        .form(&[("username", ADMIN), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 403).await, "cross_origin_request");
    // Control and bidi characters are refused in names.
    for name in ["tab\tname", "nul\0", "rtl\u{202e}txt"] {
        let url = server.path("/api/v1/api-tokens");
        let res = post_json(&http, url, Some(&csrf), &json!({ "name": name })).await;
        assert_eq!(error_code(res, 422).await, "invalid_name");
    }
    // Extreme history ranges are a 400.
    let res = http
        .get(server.path("/api/v1/resources/history?metric=cpu&from=-9223372036854775808&to=9223372036854775807&step=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 400).await, "invalid_time");

    let api = http
        .get(server.path("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["cache-control"], "no-store");
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
    let page = http
        .get(server.path("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("frame-ancestors 'none'") && policy.contains("'nonce-"),
        "{policy}"
    );
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the nonce"
    );
}

#[tokio::test]
async fn postgres_never_sees_a_nul_byte() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let server = Server::start_with(&["--mode", "server"], Some(url));
    let (http, csrf) = signed_in(&server).await;
    // A sign-in with a NUL in the name is an ordinary failure, counted, never a 500.
    for _ in 0..2 {
        let url = server.path("/api/v1/auth/login");
        let body = json!({"username": "ad\u{0}min", "password": "whatever it is"});
        let res = post_json(&http, url, None, &body).await;
        assert_eq!(error_code(res, 401).await, "invalid_credentials");
    }
    let url = server.path("/api/v1/api-tokens");
    let res = post_json(&http, url, Some(&csrf), &json!({ "name": "nul\u{0}name" })).await;
    assert_eq!(error_code(res, 422).await, "invalid_name");
    let url = server.path("/api/v1/setup");
    let res = post_json(
        &http,
        url,
        None,
        &json!({"username": "x\u{0}y", "password": PASSWORD}),
    )
    .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    // The server still answers from the store.
    let res = http.get(server.path("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}
