//! Alerts end to end: the real server (its local host reading a `/proc` the test writes, or
//! real agents), real HTTP receivers on loopback, rules through the REST API.
mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use app::alerts::{Alert, AlertDetail, AlertRule, Delivery, NotificationChannel};
use common::fakeproc::FakeProc;
use common::netns::{TestHost, namespaces_available};
use common::sink::Sink;
use common::*;
use serde_json::{Value, json};

const SECRET: &str = "0123456789abcdef-shared";

async fn create(http: &reqwest::Client, url: String, csrf: &str, body: Value) -> Value {
    let res = post_json(http, url, Some(csrf), &body).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn webhook(
    server: &Server,
    http: &reqwest::Client,
    csrf: &str,
    sink: &Sink,
    path: &str,
    group_wait_s: u64,
) -> i64 {
    let channel = create(
        http,
        server.path("/api/v1/notification-channels"),
        csrf,
        json!({"name": format!("hook {path}"), "kind": "webhook", "group_wait_s": group_wait_s,
               "settings": {"url": format!("{}{path}", sink.url), "secret": SECRET}}),
    )
    .await;
    channel["id"].as_i64().unwrap()
}

async fn memory_rule(
    server: &Server,
    http: &reqwest::Client,
    csrf: &str,
    hold: u32,
    channels: &[i64],
) -> AlertRule {
    let rule = create(
        http,
        server.path("/api/v1/alert-rules"),
        csrf,
        json!({"name": "memory high", "severity": "critical", "for": hold, "recover_for": 2,
               "channels": channels, "scope": {"agent_id": "local"},
               "condition": {"kind": "host_threshold", "metric": "memory", "above": 80}}),
    )
    .await;
    serde_json::from_value(rule).unwrap()
}

async fn alerts(server: &Server, http: &reqwest::Client) -> Vec<Alert> {
    get_json(http, server.path("/api/v1/alerts")).await
}

async fn detail(server: &Server, http: &reqwest::Client, id: i64) -> AlertDetail {
    get_json(http, server.path(&format!("/api/v1/alerts/{id}"))).await
}

/// The webhook signature a receiver checks: HMAC-SHA256 over "<t>.<body>", t recent.
fn verify_signature(r: &common::sink::Received) {
    let header = r.header("x-vantage-signature");
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature header {header:?}"));
    let t: i64 = t.parse().unwrap();
    assert!(
        (proto::clock::now_s() - t).abs() < 300,
        "a recent timestamp"
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let expected = hex::decode(v1).unwrap();
    ring::hmac::verify(&key, format!("{t}.{}", r.body).as_bytes(), &expected)
        .expect("the HMAC verifies with the shared secret");
    let wrong = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"another secret entirely");
    assert!(ring::hmac::verify(&wrong, format!("{t}.{}", r.body).as_bytes(), &expected).is_err());
}

fn local_server(proc: &FakeProc, extra: &[&str]) -> Server {
    let mut args = vec![
        "--proc-root",
        proc.path().to_str().unwrap(),
        "--notify-allow-loopback",
        "--alert-sweep",
        "1s",
    ];
    args.extend_from_slice(extra);
    Server::start_with(&args, None)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_ignores_short_spikes_fires_once_after_for_and_resolves_once() {
    let proc = FakeProc::new();
    // The culprit: a process holding 2 GiB, beside a small one.
    proc.set_process(4242, "pg hog", 0, 524_288);
    proc.set_process(77, "sshd", 0, 1_000);
    let sink = Sink::start().await;
    let server = local_server(&proc, &[]);
    let (http, csrf) = signed_in(&server).await;
    let hook = webhook(&server, &http, &csrf, &sink, "/hook", 0).await;
    let rule = memory_rule(&server, &http, &csrf, 3, &[hook]).await;
    assert_eq!((rule.firing, rule.pending), (0, 0));

    // Two spikes of at most two samples each (one a second) never fire a for: 3 rule.
    for _ in 0..2 {
        proc.set_memory_used_pct(95);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        proc.set_memory_used_pct(40);
        tokio::time::sleep(Duration::from_millis(2_500)).await;
    }
    assert!(
        alerts(&server, &http).await.is_empty(),
        "short spikes fired"
    );

    proc.set_memory_used_pct(95);
    let breached = Instant::now();
    let firing = eventually(Duration::from_secs(20), "the alert to fire", || async {
        alerts(&server, &http)
            .await
            .into_iter()
            .find(|a| a.state == app::AlertState::Firing)
    })
    .await;
    assert!(
        breached.elapsed() >= Duration::from_secs(2),
        "three samples a second apart"
    );
    assert_eq!(firing.severity, app::Severity::Critical);
    assert!(
        firing.summary.starts_with("memory 95.0 % on "),
        "{}",
        firing.summary
    );
    // It names the processes holding the most memory when it fired, biggest first.
    assert!(
        firing.culprits[0].starts_with("process pg hog (pid 4242, ")
            && firing.culprits[0].ends_with(") 2048 MiB"),
        "{:?}",
        firing.culprits
    );
    assert!(firing.culprits[1].starts_with("process sshd (pid 77, "));
    let got = sink.wait_for("/hook", 1, Duration::from_secs(10)).await;
    verify_signature(&got[0]);
    let body = got[0].json();
    assert_eq!(body["alerts"][0]["event"], "firing");
    assert_eq!(body["alerts"][0]["alert"]["id"], firing.id);
    assert_eq!(
        got[0].header("x-vantage-delivery"),
        body["delivery_id"].to_string()
    );

    // It stays firing while it breaches: no second message.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.received("/hook").len(), 1, "fires once");

    proc.set_memory_used_pct(40);
    let resolved = eventually(Duration::from_secs(20), "the alert to resolve", || async {
        let d = detail(&server, &http, firing.id).await;
        (d.alert.state == app::AlertState::Resolved).then_some(d)
    })
    .await;
    let got = sink.wait_for("/hook", 2, Duration::from_secs(10)).await;
    assert_eq!(got[1].json()["alerts"][0]["event"], "resolved");
    verify_signature(&got[1]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.received("/hook").len(), 2, "resolves once");
    assert_eq!(
        alerts(&server, &http).await.len(),
        1,
        "one alert in the history"
    );

    // The timeline says why, step by step: read again now that the resolve notice went out
    // (the copy taken when the alert resolved can precede its delivery).
    let resolved = detail(&server, &http, resolved.alert.id).await;
    let kinds: Vec<&str> = resolved.timeline.iter().map(|e| e.kind.as_str()).collect();
    let texts: Vec<&str> = resolved.timeline.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        &kinds[..4],
        ["pending", "pending", "pending", "firing"],
        "{texts:?}"
    );
    assert!(
        texts[0].starts_with("1 of 3 breaching evaluations: memory 95.0 %"),
        "{texts:?}"
    );
    assert!(texts[2].starts_with("3 of 3"), "{texts:?}");
    assert!(
        kinds.contains(&"notified") && kinds.contains(&"recovering"),
        "{kinds:?}"
    );
    assert!(
        texts.iter().any(
            |t| t.starts_with("notified hook /hook (webhook) in ") && t.ends_with("status 200")
        ),
        "{texts:?}"
    );
    let resolved_at = kinds
        .iter()
        .position(|k| *k == "resolved")
        .expect("resolved");
    assert_eq!(
        texts[resolved_at],
        "2 good evaluations in a row: memory 40.0 %"
    );
    assert_eq!(
        kinds[resolved_at + 1..],
        ["notified"],
        "then the resolve notice went out"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_http_channel_kind_sends_what_its_receiver_expects() {
    let proc = FakeProc::new();
    let sink = Sink::start().await;
    let server = local_server(&proc, &[]);
    let (http, csrf) = signed_in(&server).await;
    let u = |p: &str| format!("{}{p}", sink.url);
    let kinds = [
        ("slack", json!({"url": u("/slack")}), "/slack"),
        ("discord", json!({"url": u("/discord")}), "/discord"),
        (
            "webhook",
            json!({"url": u("/webhook"), "secret": SECRET}),
            "/webhook",
        ),
        (
            "ntfy",
            json!({"url": u("/alerts-topic"), "token": "tk_ntfy_secret"}),
            "/alerts-topic",
        ),
        (
            "telegram",
            json!({"bot_token": "123456:ABC-def", "chat_id": "-1001", "api_url": u("/tg/")}),
            "/tg/bot123456:ABC-def/sendMessage",
        ),
        (
            "pagerduty",
            json!({"routing_key": "R0UT1NGKEY0000000000", "url": u("/pd")}),
            "/pd",
        ),
    ];
    let mut ids = Vec::new();
    for (kind, settings, path) in &kinds {
        let channel: NotificationChannel = serde_json::from_value(
            create(
                &http,
                server.path("/api/v1/notification-channels"),
                &csrf,
                json!({"name": kind, "kind": kind, "group_wait_s": 0, "settings": settings}),
            )
            .await,
        )
        .unwrap();
        // Secrets never come back.
        let shown = channel.settings.to_string();
        for secret in [
            "tk_ntfy_secret",
            "123456:ABC-def",
            "R0UT1NGKEY0000000000",
            SECRET,
            "/slack",
        ] {
            assert!(!shown.contains(secret), "{kind} shows a secret: {shown}");
        }
        let test = test_channel(&server, &http, &csrf, &channel.id).await;
        assert!(test.ok, "{kind}: {test:?}");
        assert_eq!(test.status, Some(200));
        sink.wait_for(path, 1, Duration::from_secs(5)).await;
        ids.push(channel.id);
    }
    let first = |p: &str| sink.received(p).remove(0);
    assert!(
        first("/slack").json()["text"]
            .as_str()
            .unwrap()
            .contains("Test message from Vantage")
    );
    let discord = first("/discord").json();
    assert!(
        discord["content"]
            .as_str()
            .unwrap()
            .contains("Test message")
    );
    assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
    verify_signature(&first("/webhook"));
    let ntfy = first("/alerts-topic");
    assert_eq!(ntfy.header("authorization"), "Bearer tk_ntfy_secret");
    assert_eq!(ntfy.header("priority"), "4");
    assert!(ntfy.header("title").starts_with("[TEST:1]"));
    let tg = first("/tg/bot123456:ABC-def/sendMessage").json();
    assert_eq!(tg["chat_id"], "-1001");
    let pd = first("/pd").json();
    assert_eq!(pd["routing_key"], "R0UT1NGKEY0000000000");
    assert_eq!(pd["event_action"], "trigger");

    // A real alert through all of them at once; PagerDuty gets trigger, then resolve, with
    // one dedup key.
    create(
        &http,
        server.path("/api/v1/alert-rules"),
        &csrf,
        json!({"name": "memory", "for": 1, "recover_for": 1, "channels": ids,
               "condition": {"kind": "host_threshold", "metric": "memory", "above": 80}}),
    )
    .await;
    proc.set_memory_used_pct(95);
    let pd = sink.wait_for("/pd", 2, Duration::from_secs(15)).await;
    let trigger = pd[1].json();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "warning");
    proc.set_memory_used_pct(10);
    let pd = sink.wait_for("/pd", 3, Duration::from_secs(15)).await;
    let resolve = pd[2].json();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    for (_, _, path) in &kinds {
        sink.wait_for(path, 3, Duration::from_secs(10)).await;
    }
    let ntfy = sink.received("/alerts-topic");
    assert_eq!(
        ntfy[2].header("tags"),
        "white_check_mark",
        "a resolve notice is calm"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_receiver_is_retried_and_recorded_while_the_others_deliver_on_time() {
    let proc = FakeProc::new();
    let sink = Sink::start().await;
    sink.fail("/broken", 2);
    sink.slow("/slow", Duration::from_secs(30));
    let server = local_server(&proc, &[]);
    let (http, csrf) = signed_in(&server).await;
    let broken = webhook(&server, &http, &csrf, &sink, "/broken", 0).await;
    let slow = webhook(&server, &http, &csrf, &sink, "/slow", 0).await;
    let good = webhook(&server, &http, &csrf, &sink, "/good", 0).await;
    memory_rule(&server, &http, &csrf, 1, &[broken, slow, good]).await;
    proc.set_memory_used_pct(95);
    let fired = Instant::now();
    sink.wait_for("/good", 1, Duration::from_secs(10)).await;
    assert!(
        fired.elapsed() < Duration::from_secs(5),
        "a slow and a failing channel delay nobody"
    );
    // 500, 500, then through: after 5 s and 10 s of backoff.
    let got = sink.wait_for("/broken", 1, Duration::from_secs(40)).await;
    assert_eq!(got.len(), 1);
    let deliveries: Vec<Delivery> = get_json(
        &http,
        server.path(&format!(
            "/api/v1/notification-deliveries?channel_id={broken}"
        )),
    )
    .await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].state, app::DeliveryState::Sent);
    assert_eq!(deliveries[0].attempts, 3);
    let alert = alerts(&server, &http).await.remove(0);
    let timeline = detail(&server, &http, alert.id).await.timeline;
    let failures = timeline
        .iter()
        .filter(|e| e.kind == app::AlertEventKind::NotifyFailed && e.text.contains("/broken"))
        .count();
    assert_eq!(failures, 2, "{timeline:?}");
    assert!(
        timeline
            .iter()
            .any(|e| e.text.contains("the receiver answered 500")),
        "{timeline:?}"
    );
    // The slow one timed out (10 s) and is being retried, recorded as such.
    let slow_deliveries: Vec<Delivery> = get_json(
        &http,
        server.path(&format!(
            "/api/v1/notification-deliveries?channel_id={slow}"
        )),
    )
    .await;
    assert_eq!(slow_deliveries[0].state, app::DeliveryState::Pending);
    assert!(
        slow_deliveries[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("no answer within 10 s"),
        "{slow_deliveries:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_during_retries_resumes_and_sends_once() {
    let proc = FakeProc::new();
    let sink = Sink::start().await;
    sink.fail("/hook", u32::MAX);
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut server = local_server(&proc, &["--http-listen", &listen]);
    let (http, csrf) = signed_in(&server).await;
    let hook = webhook(&server, &http, &csrf, &sink, "/hook", 0).await;
    memory_rule(&server, &http, &csrf, 1, &[hook]).await;
    proc.set_memory_used_pct(95);
    eventually(Duration::from_secs(15), "a failed attempt", || async {
        let d: Vec<Delivery> =
            get_json(&http, server.path("/api/v1/notification-deliveries")).await;
        d.first().filter(|d| d.attempts >= 1).cloned()
    })
    .await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let data = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    sink.fail("/hook", 0);
    let args = [
        "--proc-root",
        proc.path().to_str().unwrap(),
        "--notify-allow-loopback",
        "--alert-sweep",
        "1s",
        "--http-listen",
        &listen,
    ];
    let server = Server::start_in(data, &args, None);
    let got = sink.wait_for("/hook", 1, Duration::from_secs(20)).await;
    assert_eq!(got[0].json()["alerts"][0]["event"], "firing");
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        sink.received("/hook").len(),
        1,
        "sent once, not again after the restart"
    );
    let http = client();
    http.post(server.path("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let all = alerts(&server, &http).await;
    assert_eq!(
        all.len(),
        1,
        "the firing alert was not fired again: {all:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_and_loopback_targets_are_refused() {
    let proc = FakeProc::new();
    let server = Server::start_with(&["--proc-root", proc.path().to_str().unwrap()], None);
    let (http, csrf) = signed_in(&server).await;
    for (url, why) in [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://127.0.0.1:9/hook", "--notify-allow-loopback"),
        ("http://[::1]:9/hook", "--notify-allow-loopback"),
    ] {
        let res = post_json(
            &http,
            server.path("/api/v1/notification-channels"),
            Some(&csrf),
            &json!({"name": "x", "kind": "slack", "settings": {"url": url}}),
        )
        .await;
        assert_eq!(res.status(), 422, "{url}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_channel");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{url}: {body}"
        );
    }
    // A name is checked on what it resolves to, at send time.
    let channel = create(
        &http,
        server.path("/api/v1/notification-channels"),
        &csrf,
        json!({"name": "by name", "kind": "slack", "settings": {"url": "http://localhost:9/hook"}}),
    )
    .await;
    let test = test_channel(&server, &http, &csrf, &channel["id"]).await;
    assert!(!test.ok);
    assert!(test.error.unwrap().contains("loopback"));
    // Bad rules and channels are 422 with a sentence, and change nothing.
    for body in [
        json!({"name": "", "condition": {"kind": "agent_down", "silent_s": 60}}),
        json!({"name": "x", "condition": {"kind": "host_threshold", "metric": "cpu", "above": 150}}),
        json!({"name": "x", "condition": {"kind": "agent_down", "silent_s": 60}, "channels": [999]}),
        json!({"name": "x", "condition": {"kind": "host_threshold", "metric": "cpu", "above": 90, "clear_below": 95}}),
        json!({"name": "x", "condition": {"kind": "agent_down", "silent_s": 60}, "for": "soon"}),
    ] {
        let res = post_json(
            &http,
            server.path("/api/v1/alert-rules"),
            Some(&csrf),
            &body,
        )
        .await;
        assert_eq!(res.status(), 422, "{body}");
    }
    let rules: Vec<AlertRule> = get_json(&http, server.path("/api/v1/alert-rules")).await;
    assert!(rules.is_empty());
    // The key that seals channel secrets is private, and the secret is not in the database.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.data_path().join("secret.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let db = std::fs::read(server.data_path().join("vantage.db")).unwrap();
    assert!(
        !db.windows(b"localhost:9".len())
            .any(|w| w == b"localhost:9"),
        "the URL is sealed at rest"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn silenced_alerts_are_recorded_and_notify_nobody_and_acknowledgements_record_who() {
    let proc = FakeProc::new();
    let sink = Sink::start().await;
    let server = local_server(&proc, &[]);
    let (http, csrf) = signed_in(&server).await;
    let hook = webhook(&server, &http, &csrf, &sink, "/hook", 0).await;
    let rule = memory_rule(&server, &http, &csrf, 1, &[hook]).await;
    let silence = create(&http, server.path("/api/v1/silences"), &csrf,
        json!({"matcher": {"rule_id": rule.id}, "ends_at": proto::clock::now_s() + 600, "comment": "disk swap"})).await;
    assert_eq!(silence["active"], true);
    assert_eq!(silence["author"], ADMIN);
    proc.set_memory_used_pct(95);
    let alert = eventually(Duration::from_secs(15), "the silenced alert", || async {
        alerts(&server, &http).await.pop()
    })
    .await;
    assert_eq!(alert.silenced_by, silence["id"].as_i64());
    let timeline = detail(&server, &http, alert.id).await.timeline;
    assert!(
        timeline
            .iter()
            .any(|e| e.kind == app::AlertEventKind::Silenced),
        "{timeline:?}"
    );
    proc.set_memory_used_pct(10);
    eventually(Duration::from_secs(15), "it resolves", || async {
        (detail(&server, &http, alert.id).await.alert.state == app::AlertState::Resolved)
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        sink.received("/hook").is_empty(),
        "a silence holds every notification back"
    );

    // Without the silence it notifies; acknowledging records who, once.
    let res = http
        .delete(server.path(&format!("/api/v1/silences/{}", silence["id"])))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    proc.set_memory_used_pct(95);
    sink.wait_for("/hook", 1, Duration::from_secs(15)).await;
    let firing = alerts(&server, &http)
        .await
        .into_iter()
        .find(|a| a.state == app::AlertState::Firing)
        .unwrap();
    let acked: AlertDetail = post_json(
        &http,
        server.path(&format!("/api/v1/alerts/{}/ack", firing.id)),
        Some(&csrf),
        &json!({"comment": "on it"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(acked.alert.acknowledged_by.as_deref(), Some(ADMIN));
    assert_eq!(
        acked.timeline.last().unwrap().text,
        "acknowledged by admin: on it"
    );
    let again = post_json(
        &http,
        server.path(&format!("/api/v1/alerts/{}/ack", firing.id)),
        Some(&csrf),
        &json!({}),
    )
    .await;
    assert_eq!(error_code(again, 409).await, "alert_already_acknowledged");
    let res = post_json(
        &http,
        server.path(&format!("/api/v1/alerts/{}/ack", alert.id)),
        Some(&csrf),
        &json!({}),
    )
    .await;
    assert_eq!(error_code(res, 409).await, "alert_not_firing");
}

/// A server in server mode on fixed ports, with an agent-down rule (20 s) to a webhook.
struct Fleet {
    server: Server,
    args: Vec<String>,
    http: reqwest::Client,
    csrf: String,
    sink: Sink,
}

impl Fleet {
    async fn start() -> Fleet {
        Fleet::start_on("127.0.0.1").await
    }

    /// A server whose gRPC port listens on `grpc_ip` (all addresses: agents in network
    /// namespaces reach it through their gateway).
    async fn start_on(grpc_ip: &str) -> Fleet {
        let sink = Sink::start().await;
        let args: Vec<String> = [
            "--mode",
            "server",
            "--notify-allow-loopback",
            "--alert-sweep",
            "1s",
            "--http-listen",
            &format!("127.0.0.1:{}", free_port()),
            "--grpc-listen",
            &format!("{grpc_ip}:{}", free_port()),
        ]
        .map(str::to_owned)
        .to_vec();
        let server = Server::start_with(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
        let (http, csrf) = signed_in(&server).await;
        let hook = webhook(&server, &http, &csrf, &sink, "/hook", 0).await;
        create(&http, server.path("/api/v1/alert-rules"), &csrf,
            json!({"name": "agent down", "channels": [hook], "condition": {"kind": "agent_down", "silent_s": 20}})).await;
        Fleet {
            server,
            args,
            http,
            csrf,
            sink,
        }
    }

    /// Waits until at least `n` agents are enrolled and every one is connected.
    async fn all_connected(&self, n: usize) {
        eventually(Duration::from_secs(30), "every agent to report", || async {
            let hosts: Vec<Value> = get_json(&self.http, self.server.path("/api/v1/agents")).await;
            (hosts.len() >= n && hosts.iter().all(|h| h["connection_state"] == "connected"))
                .then_some(())
        })
        .await;
    }

    async fn agents(&self, n: usize, extra: &[&str]) -> Vec<(KillOnDrop, tempfile::TempDir)> {
        let enrollment = issue_enrollment_with(
            &self.server,
            &self.http,
            &self.csrf,
            &json!({"max_uses": null}),
        )
        .await;
        let mut out = Vec::new();
        for i in 0..n {
            let state = tempfile::tempdir().unwrap();
            let mut flags = enrollment.agent_flags();
            flags.extend(
                ["--host-interval", "1s", "--label", &format!("host-{i:02}")].map(str::to_owned),
            );
            flags.extend(extra.iter().map(|s| s.to_string()));
            out.push((
                KillOnDrop(spawn_agent(state.path(), &flags, Stdio::null())),
                state,
            ));
        }
        self.all_connected(n).await;
        out
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_down_fires_once_resolves_once_and_ten_at_once_give_one_alert() {
    let fleet = Fleet::start().await;
    let mut agents = fleet.agents(12, &[]).await;
    // One agent dies: one alert, one message; it comes back with nothing spooled.
    let (mut first, first_state) = agents.remove(0);
    first.kill().unwrap();
    first.wait().unwrap();
    let got = fleet
        .sink
        .wait_for("/hook", 1, Duration::from_secs(45))
        .await;
    let fired = &got[0].json()["alerts"][0]["alert"];
    assert_eq!(fired["subject"], "host");
    assert!(
        fired["summary"]
            .as_str()
            .unwrap()
            .starts_with("agent host-00 has not reported for 2"),
        "{fired}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fleet.sink.received("/hook").len(), 1, "once");
    let _back = KillOnDrop(spawn_agent(
        first_state.path(),
        &["--host-interval", "1s"],
        Stdio::null(),
    ));
    let got = fleet
        .sink
        .wait_for("/hook", 2, Duration::from_secs(30))
        .await;
    let resolved = &got[1].json()["alerts"][0];
    assert_eq!(resolved["event"], "resolved");
    assert!(
        resolved["note"]
            .as_str()
            .unwrap()
            .starts_with("down, no data for "),
        "{resolved}"
    );

    // Ten of twelve die at once: one fleet-wide alert, not ten.
    for (child, _) in agents.iter_mut().take(10) {
        child.kill().unwrap();
    }
    let got = fleet
        .sink
        .wait_for("/hook", 3, Duration::from_secs(45))
        .await;
    let storm = &got[2].json()["alerts"][0]["alert"];
    assert_eq!(storm["subject"], "fleet");
    // Killed together, they cross the 20 s mark within a second of each other: most in one
    // sweep, the rest join the outage in the next ones.
    let summary = storm["summary"].as_str().unwrap();
    let (count, rest) = summary
        .split_once(" of 12 agents stopped reporting at once")
        .expect(summary);
    let count: usize = count.parse().unwrap();
    assert!((6..=10).contains(&count), "{summary}");
    assert!(rest.contains("host-01") || count < 10, "{summary}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        fleet.sink.received("/hook").len(),
        3,
        "one message for the outage"
    );
    for (child, _) in agents.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_restart_raises_no_agent_down_alert() {
    let mut fleet = Fleet::start().await;
    let mut agents = fleet.agents(3, &[]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut server = std::mem::replace(&mut fleet.server, Server::start());
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let data = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    // Down for longer than the rule's 20 s: the agents spool meanwhile.
    tokio::time::sleep(Duration::from_secs(25)).await;
    fleet.server = Server::start_in(
        data,
        &fleet.args.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    let http = client();
    http.post(fleet.server.path("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let all = alerts(&fleet.server, &http).await;
    assert!(all.is_empty(), "the restart looked like an outage: {all:?}");
    assert!(fleet.sink.received("/hook").is_empty());
    for (child, _) in agents.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn backfilled_breaches_never_fire() {
    // The agent reads a /proc the test writes; the server is killed while it breaches and
    // restarted once the host is well again: its spool's breaching samples fill the history
    // and fire nothing.
    let proc = FakeProc::new();
    let mut fleet = Fleet::start().await;
    create(&fleet.http, fleet.server.path("/api/v1/alert-rules"), &fleet.csrf,
        json!({"name": "memory", "channels": [1], "condition": {"kind": "host_threshold", "metric": "memory", "above": 80}})).await;
    let mut agents = fleet
        .agents(1, &["--proc-root", proc.path().to_str().unwrap()])
        .await;
    let mut server = std::mem::replace(&mut fleet.server, Server::start());
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let data = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    proc.set_memory_used_pct(95);
    tokio::time::sleep(Duration::from_secs(40)).await;
    proc.set_memory_used_pct(30);
    // Longer than the live window (10 s here): every breaching sample is a backfill.
    tokio::time::sleep(Duration::from_secs(15)).await;
    fleet.server = Server::start_in(
        data,
        &fleet.args.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    );
    let http = client();
    http.post(fleet.server.path("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    // The backfill arrives (the history has the breach) …
    eventually(
        Duration::from_secs(90),
        "the backfill (after the agent's reconnect backoff)",
        || async {
            let history: Value = get_json(
                &http,
                fleet.server.path(&format!(
                "/api/v1/resources/history?agent_id={}&metric=memory&step=1",
                get_json::<Vec<Value>>(&http, fleet.server.path("/api/v1/agents")).await[0]["id"]
                    .as_str()
                    .unwrap()
            )),
            )
            .await;
            history["points"]
                .as_array()?
                .iter()
                .any(|p| p["max"].as_f64() > Some(90.0))
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    // … and nothing fired for it.
    assert!(alerts(&fleet.server, &http).await.is_empty());
    assert!(fleet.sink.received("/hook").is_empty());
    for (child, _) in agents.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_busiest_process_is_shown_and_a_preview_replays_stored_history() {
    let proc = std::sync::Arc::new(FakeProc::new());
    proc.set_process(500, "burner", 0, 100);
    proc.set_process(501, "idle one", 0, 50);
    let server = local_server(&proc, &[]);
    let (http, csrf) = signed_in(&server).await;

    // "burner" uses one core: 100 ticks a second (the kernel's USER_HZ here).
    let ticks = rustix::param::clock_ticks_per_second();
    let burning = {
        let proc = proc.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            loop {
                let used = (start.elapsed().as_secs_f64() * ticks as f64) as u64;
                proc.set_process(500, "burner", used, 100);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let top = eventually(
        Duration::from_secs(15),
        "burner to top the list",
        || async {
            let top: app::TopConsumers =
                get_json(&http, server.path("/api/v1/resources/top?agent_id=local")).await;
            let busy = top
                .processes_by_cpu
                .first()
                .is_some_and(|p| p.name == "burner" && p.cpu_pct > 50.0);
            busy.then_some(top)
        },
    )
    .await;
    burning.abort();
    let burner = &top.processes_by_cpu[0];
    assert!(burner.cpu_pct < 150.0, "one core's worth: {burner:?}");
    assert_eq!((burner.pid, burner.agent_id.as_str()), (500, "local"));
    assert!(
        top.processes_by_cpu.iter().all(|p| p.name != "idle one"),
        "an idle process uses no CPU"
    );
    assert_eq!(top.processes_by_memory[0].name, "burner");
    assert_eq!(top.processes_by_memory[1].rss_bytes, 50 * 4096);

    // Two sustained breaches and one lone spike, a sample a second, into the history.
    for (pct, secs) in [
        (95, 6.0),
        (40, 5.0),
        (95, 1.2),
        (40, 5.0),
        (95, 6.0),
        (40, 3.0),
    ] {
        proc.set_memory_used_pct(pct);
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    }
    let preview = |hold: u32, recover_for: u32| {
        let body = json!({"name": "memory high", "for": hold, "recover_for": recover_for,
                          "scope": {"agent_id": "local"},
                          "condition": {"kind": "host_threshold", "metric": "memory", "above": 80}});
        let http = &http;
        let csrf = &csrf;
        let url = server.path("/api/v1/alert-rules/preview");
        async move {
            let res = post_json(http, url, Some(csrf), &body).await;
            assert_eq!(res.status(), 200);
            res.json::<app::alerts::RulePreview>().await.unwrap()
        }
    };
    let patient = preview(3, 2).await;
    assert!(patient.supported, "{patient:?}");
    assert_eq!((patient.hosts_in_scope, patient.hosts_evaluated), (1, 1));
    let day = &patient.windows[0];
    assert_eq!(day.window_s, 86_400);
    assert!(day.samples >= 20, "{day:?}");
    assert_eq!((day.fired, day.hosts_fired), (2, 1), "{patient:?}");
    assert_eq!(patient.windows[1].fired, 2, "the week holds the same day");
    let twitchy = preview(1, 1).await;
    assert_eq!(twitchy.windows[0].fired, 3, "the spike fires a for: 1 rule");
    assert!(
        alerts(&server, &http).await.is_empty(),
        "a preview fires nothing"
    );

    // A container rule has no stored history to replay, and says so; a bad rule is a 422.
    let res = post_json(
        &http,
        server.path("/api/v1/alert-rules/preview"),
        Some(&csrf),
        &json!({"name": "stopped", "condition": {"kind": "container_stopped"}}),
    )
    .await;
    let answer: app::alerts::RulePreview = res.json().await.unwrap();
    assert!(!answer.supported && answer.note.unwrap().contains("container"));
    let res = post_json(
        &http,
        server.path("/api/v1/alert-rules/preview"),
        Some(&csrf),
        &json!({"name": "", "condition": {"kind": "agent_down", "silent_s": 60}}),
    )
    .await;
    assert_eq!(res.status(), 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_agents_cut_off_by_the_network_give_one_alert_and_return_with_nothing_lost() {
    if let Err(reason) = namespaces_available() {
        assert!(
            !require_everything(),
            "network namespaces are required (VANTAGE_REQUIRE_ALL=1): {reason}"
        );
        eprintln!("SKIPPED: cannot create network namespaces here ({reason}); run as root");
        return;
    }
    let fleet = Fleet::start_on("0.0.0.0").await;
    let port = fleet.server.grpc_port();
    // Ten agents behind one link, as behind one switch; two more on this machine.
    let site = TestHost::create("c", 43).unwrap();
    let enrollment = issue_enrollment_with(
        &fleet.server,
        &fleet.http,
        &fleet.csrf,
        &json!({"max_uses": null}),
    )
    .await;
    let flags_for = |server: String, label: String| -> Vec<String> {
        let mut flags = enrollment.agent_flags();
        let at = flags.iter().position(|f| f == "--server").unwrap();
        flags[at + 1] = server;
        flags.extend([
            "--host-interval".into(),
            "1s".into(),
            "--label".into(),
            label,
        ]);
        flags
    };
    let states = tempfile::tempdir().unwrap();
    let mut agents = Vec::new();
    for i in 0..10 {
        let state = states.path().join(format!("cut-{i}"));
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &site.namespace])
            .arg(agent_binary())
            .args(flags_for(
                format!("grpcs://{}:{port}", site.gateway),
                format!("cut-{i}"),
            ))
            .arg("--state-dir")
            .arg(&state)
            .env("VANTAGE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        agents.push(KillOnDrop(child));
    }
    for i in 0..2 {
        let state = states.path().join(format!("home-{i}"));
        agents.push(KillOnDrop(spawn_agent(
            &state,
            &flags_for(format!("grpcs://127.0.0.1:{port}"), format!("home-{i}")),
            Stdio::null(),
        )));
    }
    fleet.all_connected(12).await;

    // The link goes down: one message for the ten, none per agent.
    site.set_link(false);
    let got = fleet
        .sink
        .wait_for("/hook", 1, Duration::from_secs(60))
        .await;
    let storm = &got[0].json()["alerts"][0]["alert"];
    assert_eq!(storm["subject"], "fleet");
    let summary = storm["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("10 of 12 agents stopped reporting at once"),
        "{summary}"
    );
    assert!(
        summary.contains("cut-0") && !summary.contains("home-"),
        "{summary}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(fleet.sink.received("/hook").len(), 1, "one message");

    // Back: the agents reconnect by themselves and send what they measured meanwhile.
    site.set_link(true);
    let got = fleet
        .sink
        .wait_for("/hook", 2, Duration::from_secs(90))
        .await;
    let resolved = &got[1].json()["alerts"][0];
    assert_eq!(resolved["event"], "resolved");
    assert_eq!(resolved["alert"]["id"], storm["id"]);
    let note = resolved["note"].as_str().unwrap();
    let (head, tail) = note
        .split_once(" samples backfilled)")
        .map(|(h, t)| (h, t.is_empty()))
        .unwrap_or_else(|| panic!("{note}"));
    assert!(tail, "{note}");
    assert!(
        head.starts_with("every agent is reporting again: 10 agents unreachable for "),
        "{note}"
    );
    let backfilled: u64 = head.rsplit('(').next().unwrap().parse().unwrap();
    // Ten agents, one sample a second, silent for 20 s or more before it fired.
    assert!(backfilled >= 10 * 15, "{note}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        fleet.sink.received("/hook").len(),
        2,
        "it resolves once, and no agent resolves on its own"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clear_threshold_holds_an_alert_and_reminders_stop_once_acknowledged() {
    let proc = FakeProc::new();
    let sink = Sink::start().await;
    let server = local_server(&proc, &[]);
    let (http, csrf) = signed_in(&server).await;
    let channel = create(
        &http,
        server.path("/api/v1/notification-channels"),
        &csrf,
        json!({"name": "reminding hook", "kind": "webhook", "group_wait_s": 0, "repeat_interval_s": 60,
               "settings": {"url": format!("{}/remind", sink.url), "secret": SECRET}}),
    )
    .await;
    create(
        &http,
        server.path("/api/v1/alert-rules"),
        &csrf,
        json!({"name": "memory high", "for": 1, "recover_for": 1, "channels": [channel["id"]],
               "scope": {"agent_id": "local"},
               "condition": {"kind": "host_threshold", "metric": "memory", "above": 90, "clear_below": 80}}),
    )
    .await;
    let events = |got: &[common::sink::Received]| -> Vec<String> {
        got.iter()
            .map(|r| r.json()["alerts"][0]["event"].as_str().unwrap().to_owned())
            .collect()
    };

    proc.set_memory_used_pct(95);
    sink.wait_for("/remind", 1, Duration::from_secs(20)).await;
    let fired = Instant::now();
    // Between the clear threshold and the firing one, it holds: no resolve.
    proc.set_memory_used_pct(85);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(events(&sink.received("/remind")), ["firing"]);

    // Still firing and unacknowledged: a reminder after repeat_interval, not before.
    let got = sink.wait_for("/remind", 2, Duration::from_secs(90)).await;
    assert!(
        fired.elapsed() >= Duration::from_secs(55),
        "{:?}",
        fired.elapsed()
    );
    assert_eq!(events(&got), ["firing", "reminder"]);
    let alert = alerts(&server, &http).await.remove(0);
    let res = post_json(
        &http,
        server.path(&format!("/api/v1/alerts/{}/ack", alert.id)),
        Some(&csrf),
        &json!({"comment": "on it"}),
    )
    .await;
    assert_eq!(res.status(), 200);

    // Acknowledged: past another interval, no second reminder; below the clear threshold
    // it resolves, and the resolve notice still goes out.
    tokio::time::sleep(Duration::from_secs(65)).await;
    assert_eq!(events(&sink.received("/remind")), ["firing", "reminder"]);
    proc.set_memory_used_pct(70);
    let got = sink.wait_for("/remind", 3, Duration::from_secs(20)).await;
    assert_eq!(events(&got), ["firing", "reminder", "resolved"]);
    let detail = detail(&server, &http, alert.id).await;
    let kinds: Vec<&str> = detail.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"acknowledged"), "{kinds:?}");
    assert_eq!(
        detail.timeline.last().map(|e| e.kind.as_str()),
        Some("notified")
    );
}
