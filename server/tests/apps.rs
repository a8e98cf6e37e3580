//! Applications over real processes: a real agent's inventory, apps tracked through the API
//! with their identifiers checked, a process killed and noticed, an alert after three
//! checks, a signed restart with a one-time code that brings it back, its result in the
//! actions and the audit log (and the log proving it), and the refusals the server makes.
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Sets up one-time codes for the signed-in user; the secret.
async fn enroll_totp(server: &Server, http: &reqwest::Client, csrf: &str) -> String {
    let enrollment: app::users::TotpEnrollment = post_json(
        http,
        server.path("/api/v1/users/me/totp"),
        Some(csrf),
        &json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    let code = totp_code(&enrollment.secret, totp_step() - 1);
    let res = post_json(
        http,
        server.path("/api/v1/users/me/totp/confirm"),
        Some(csrf),
        &json!({"code": code}),
    )
    .await;
    assert_eq!(res.status(), 200);
    enrollment.secret
}

/// A copy of `sleep` under `dir` named `worker`, so its executable path is its own, and the
/// script that starts it again; the worker started.
fn worker(dir: &Path) -> (PathBuf, PathBuf, KillOnDrop) {
    let exe = dir.join("worker");
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let restart = dir.join("restart-worker");
    let marker = dir.join("restarts");
    std::fs::write(
        &restart,
        format!(
            "#!/bin/sh\necho restarted >> {marker}\n{exe} 3600 </dev/null >/dev/null 2>&1 &\necho started worker\n",
            marker = marker.display(),
            exe = exe.display()
        ),
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&restart).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(
        &restart,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let child = std::process::Command::new(&exe)
        .arg("3600")
        .spawn()
        .unwrap();
    (exe, restart, KillOnDrop(child))
}

/// The pids running `exe` now (from /proc).
fn pids_of(exe: &Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            (std::fs::read_link(e.path().join("exe")).ok()? == exe).then_some(pid)
        })
        .collect()
}

/// The id of the first agent to enroll, once it has.
async fn the_agent(server: &Server, http: &reqwest::Client) -> String {
    eventually(Duration::from_secs(20), "the agent", || async {
        let agents: Vec<app::AgentInfo> = get_json(http, server.path("/api/v1/agents")).await;
        agents.first().map(|a| a.id.clone())
    })
    .await
}

/// Waits until app `id` is observed in `state`.
async fn observed(
    server: &Server,
    http: &reqwest::Client,
    id: i64,
    state: app::apps::ObservedState,
) {
    let what = format!("app {id} observed {state}");
    eventually(Duration::from_secs(20), &what, || async {
        (app(server, http, id).await.observed_state == state).then_some(())
    })
    .await
}

async fn app(server: &Server, http: &reqwest::Client, id: i64) -> app::apps::App {
    get_json(http, server.path(&format!("/api/v1/apps/{id}"))).await
}

#[tokio::test]
async fn a_killed_process_is_noticed_alerted_and_restarted_with_a_signed_logged_order() {
    let server = Server::start_with(&["--mode", "server", "--app-check-interval", "1s"], None);
    let (http, csrf) = signed_in(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let (exe, restart, first) = worker(dir.path());
    let enrollment = issue_enrollment(&server, &http, &csrf).await;
    let state = tempfile::tempdir().unwrap();
    let mut args = enrollment.agent_flags();
    args.extend(
        [
            "--inventory-check-interval",
            "1s",
            "--allow-actions",
            "process",
            "--allow-command",
            restart.to_str().unwrap(),
        ]
        .map(str::to_owned),
    );
    let _agent = KillOnDrop(spawn_agent(
        state.path(),
        &args,
        std::process::Stdio::inherit(),
    ));
    let agent_id = the_agent(&server, &http).await;

    // The inventory names the worker by its executable.
    let inventory: app::apps::Inventory = eventually(
        Duration::from_secs(20),
        "an inventory with the worker",
        || async {
            let inv: app::apps::Inventory = get_json(
                &http,
                server.path(&format!("/api/v1/agents/{agent_id}/inventory")),
            )
            .await;
            inv.items
                .iter()
                .any(|i| i.identifier == exe.to_str().unwrap())
                .then_some(inv)
        },
    )
    .await;
    let item = inventory
        .items
        .iter()
        .find(|i| i.identifier == exe.to_str().unwrap())
        .unwrap();
    assert_eq!(item.kind, app::apps::AppType::Process);
    assert_eq!(item.observed, app::apps::ObservedState::Running);
    assert!(inventory.taken_at.is_some());

    // A rule of the app kind, then the app.
    let res = post_json(
        &http,
        server.path("/api/v1/alert-rules"),
        Some(&csrf),
        &json!({"name": "apps as expected", "severity": "warning", "condition": {"kind": "app_mismatch"}, "for": 1}),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = post_json(
        &http,
        server.path("/api/v1/apps"),
        Some(&csrf),
        &json!({"agent_id": agent_id, "name": "worker", "app_type": "process",
                "identifier": exe, "restart_command": [restart], "owner_email": "ops@example.com"}),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let tracked: app::apps::App = res.json().await.unwrap();
    observed(
        &server,
        &http,
        tracked.id,
        app::apps::ObservedState::Running,
    )
    .await;

    // Killed: stopped, a mismatch after three checks, the alert naming it.
    drop(first);
    let mismatched = eventually(Duration::from_secs(30), "the mismatch", || async {
        let a = app(&server, &http, tracked.id).await;
        a.mismatch.then_some(a)
    })
    .await;
    assert_eq!(mismatched.observed_state, app::apps::ObservedState::Stopped);
    assert!(mismatched.consecutive_mismatch >= 3);
    let alert = eventually(Duration::from_secs(15), "the app alert", || async {
        let alerts: Vec<app::alerts::Alert> =
            get_json(&http, server.path("/api/v1/alerts?state=firing")).await;
        alerts
            .into_iter()
            .find(|a| a.subject == format!("app:{}", tracked.id))
    })
    .await;
    assert!(alert.summary.contains("worker"), "{}", alert.summary);
    let events: Vec<app::HostEvent> = get_json(
        &http,
        server.path(&format!("/api/v1/agents/{agent_id}/events")),
    )
    .await;
    assert!(
        events.iter().any(
            |e| e.kind == app::HostEventKind::App && e.detail.starts_with("app.state_mismatch")
        )
    );

    // A restart needs a code: none, and one reused, are refused with nothing run.
    let url = server.path(&format!("/api/v1/apps/{}/restart", tracked.id));
    let res = http
        .post(&url)
        .header("x-csrf-token", &csrf)
        .json(&json!({"reason": "worker died"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 401).await, "totp_required");
    let secret = enroll_totp(&server, &http, &csrf).await;
    let reused = totp_code(&secret, totp_step() - 1);
    let res = http
        .post(&url)
        .header("x-csrf-token", &csrf)
        .header("x-totp-code", &reused)
        .json(&json!({"reason": "worker died"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, 401).await,
        "invalid_totp",
        "the code that confirmed is spent"
    );
    let res = http
        .post(&url)
        .header("x-csrf-token", &csrf)
        .header("x-totp-code", totp_code(&secret, totp_step()))
        .json(&json!({"reason": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 422).await, "invalid_reason");
    assert!(!dir.path().join("restarts").exists(), "nothing ran");

    let res = http
        .post(&url)
        .header("x-csrf-token", &csrf)
        .header("x-totp-code", totp_code(&secret, totp_step()))
        .json(&json!({"reason": "worker died"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let order: app::apps::Action = res.json().await.unwrap();
    let done = eventually(Duration::from_secs(20), "the restart's result", || async {
        let actions: Vec<app::apps::Action> = get_json(
            &http,
            server.path(&format!("/api/v1/actions?app_id={}", tracked.id)),
        )
        .await;
        actions
            .into_iter()
            .find(|a| a.eat_id == order.eat_id && a.finished_at.is_some())
    })
    .await;
    assert_eq!(done.state, app::apps::ActionState::Succeeded, "{done:?}");
    assert_eq!(done.exit_code, Some(0));
    assert!(done.stdout.contains("started worker"), "{}", done.stdout);
    assert!(done.duration_ms.unwrap() > 0);
    let back = eventually(Duration::from_secs(20), "running again", || async {
        let a = app(&server, &http, tracked.id).await;
        (a.observed_state == app::apps::ObservedState::Running && !a.mismatch).then_some(a)
    })
    .await;
    assert_eq!(back.budget_left, 2);
    for pid in pids_of(&exe) {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
    eventually(Duration::from_secs(15), "the alert resolved", || async {
        let a: app::alerts::AlertDetail =
            get_json(&http, server.path(&format!("/api/v1/alerts/{}", alert.id))).await;
        (a.alert.state == app::AlertState::Resolved).then_some(())
    })
    .await;

    // The intent was logged before the token, the result after; the log proves the intent.
    let audit: Vec<app::AuditEntry> = get_json(&http, server.path("/api/v1/audit")).await;
    let intent = audit
        .iter()
        .find(|e| e.action == "eat.issue" && e.subject == order.eat_id)
        .unwrap();
    let result = audit
        .iter()
        .find(|e| e.action == "eat.result" && e.subject == order.eat_id)
        .unwrap();
    assert_eq!(intent.index, done.log_index);
    assert_eq!(Some(result.index), done.result_log_index);
    assert!(intent.index < result.index);
    assert!(intent.detail.contains("worker died"));
    let proof: Value = get_json(
        &http,
        server.path(&format!("/api/v1/transparency/proof/{}", intent.index)),
    )
    .await;
    assert_eq!(proof["index"], intent.index);
    let out = server.admin(&["verify-log"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn apps_refuse_identifiers_that_are_not_one_plain_name() {
    let server = Server::start_with(&["--mode", "server"], None);
    let (http, csrf) = signed_in(&server).await;
    let enrollment = issue_enrollment(&server, &http, &csrf).await;
    let state = tempfile::tempdir().unwrap();
    let _agent = KillOnDrop(spawn_agent(
        state.path(),
        &enrollment.agent_flags(),
        std::process::Stdio::inherit(),
    ));
    let agent_id = the_agent(&server, &http).await;
    let track = |app_type: &str, identifier: &str| {
        let body = json!({"agent_id": agent_id, "name": "x", "app_type": app_type, "identifier": identifier,
                          "restart_command": if app_type == "process" { json!(["/usr/local/bin/restart"]) } else { json!([]) }});
        let (http, url, csrf) = (http.clone(), server.path("/api/v1/apps"), csrf.clone());
        async move { post_json(&http, url, Some(&csrf), &body).await }
    };
    for kind in ["systemd", "docker", "compose", "process"] {
        for bad in [
            "x.service;id",
            "--help",
            "../x",
            "$(id)",
            "a\nb",
            "-x",
            "a b",
            "`id`",
            "a'b",
        ] {
            let res = track(kind, bad).await;
            assert_eq!(
                error_code(res, 422).await,
                "invalid_identifier",
                "{kind} {bad:?}"
            );
        }
    }
    let res = track("docker", "nginx.service").await;
    assert_eq!(res.status(), 201);
    let res = track("docker", "nginx.service").await;
    assert_eq!(error_code(res, 409).await, "name_taken");
    let res = track("systemd", "nginx").await;
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nginx.service"),
        "the message says why: {body}"
    );
    let res = track("process", "/usr/bin/worker").await;
    assert_eq!(res.status(), 201);
    let res = post_json(&http, server.path("/api/v1/apps"), Some(&csrf),
        &json!({"agent_id": agent_id, "name": "w", "app_type": "process", "identifier": "/usr/bin/w2"})).await;
    assert_eq!(
        error_code(res, 422).await,
        "invalid_app",
        "a process app needs its restart command"
    );
    let res = post_json(
        &http,
        server.path("/api/v1/apps"),
        Some(&csrf),
        &json!({"agent_id": "nope", "name": "w", "app_type": "docker", "identifier": "web"}),
    )
    .await;
    assert_eq!(error_code(res, 404).await, "unknown_agent");
    let apps: Vec<app::apps::App> = get_json(
        &http,
        server.path(&format!("/api/v1/apps?agent_id={agent_id}&state=unknown")),
    )
    .await;
    assert!(apps.len() <= 2);
    let res = http
        .get(server.path("/api/v1/apps?state=sideways"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, 400).await, "invalid_query");
}

/// The state Docker reports of a container.
fn docker_state(name: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.State.Status}}", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn docker(args: &[&str]) {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Restarts app `id` with a fresh code of step `step`; the finished restart.
async fn restart(
    server: &Server,
    http: &reqwest::Client,
    csrf: &str,
    id: i64,
    code: String,
) -> app::apps::Action {
    let res = http
        .post(server.path(&format!("/api/v1/apps/{id}/restart")))
        .header("x-csrf-token", csrf)
        .header("x-totp-code", code)
        .json(&json!({"reason": "stopped in a test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let order: app::apps::Action = res.json().await.unwrap();
    eventually(Duration::from_secs(60), "the restart's result", || async {
        let actions: Vec<app::apps::Action> =
            get_json(http, server.path(&format!("/api/v1/actions?app_id={id}"))).await;
        actions
            .into_iter()
            .find(|a| a.eat_id == order.eat_id && a.finished_at.is_some())
    })
    .await
}

#[tokio::test]
async fn a_stopped_container_and_compose_service_are_restarted_on_the_real_engine() {
    if let Err(reason) = common::docker::docker_ready() {
        assert!(
            !require_everything(),
            "Docker is required (VANTAGE_REQUIRE_ALL=1): {reason}"
        );
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let compose_bin = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let server = Server::start_with(&["--mode", "server", "--app-check-interval", "1s"], None);
    let (http, csrf) = signed_in(&server).await;
    let secret = enroll_totp(&server, &http, &csrf).await;
    let enrollment = issue_enrollment(&server, &http, &csrf).await;
    let state = tempfile::tempdir().unwrap();
    let mut args = enrollment.agent_flags();
    args.extend(
        [
            "--inventory-check-interval",
            "1s",
            "--allow-actions",
            "docker,compose",
        ]
        .map(str::to_owned),
    );
    let _agent = KillOnDrop(spawn_agent(
        state.path(),
        &args,
        std::process::Stdio::inherit(),
    ));
    let agent_id = the_agent(&server, &http).await;

    let name = format!("vantage-app-{}", hex_id());
    let _container = common::docker::Container(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        common::docker::IMAGE,
        "sleep",
        "3600",
    ]);
    let tracked: app::apps::App = post_json(
        &http,
        server.path("/api/v1/apps"),
        Some(&csrf),
        &json!({"agent_id": agent_id, "name": "web", "app_type": "docker", "identifier": name}),
    )
    .await
    .json()
    .await
    .unwrap();
    observed(
        &server,
        &http,
        tracked.id,
        app::apps::ObservedState::Running,
    )
    .await;
    docker(&["stop", "-t", "0", &name]);
    observed(
        &server,
        &http,
        tracked.id,
        app::apps::ObservedState::Stopped,
    )
    .await;
    let done = restart(
        &server,
        &http,
        &csrf,
        tracked.id,
        totp_code(&secret, totp_step()),
    )
    .await;
    assert_eq!(done.state, app::apps::ActionState::Succeeded, "{done:?}");
    assert_eq!(docker_state(&name), "running");
    observed(
        &server,
        &http,
        tracked.id,
        app::apps::ObservedState::Running,
    )
    .await;

    // A Compose service: started by Compose, tracked as project::service.
    let Some(compose) = compose_bin else {
        assert!(
            !require_everything(),
            "docker-compose is required (VANTAGE_REQUIRE_ALL=1)"
        );
        eprintln!("SKIPPED: the Compose part: no docker-compose here");
        return;
    };
    let project = format!("vantageapp{}", hex_id().to_lowercase());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(
        &file,
        format!(
            "services:\n  worker:\n    image: {}\n    command: [\"sleep\", \"3600\"]\n",
            common::docker::IMAGE
        ),
    )
    .unwrap();
    let compose_cmd = |args: &[&str]| {
        let out = std::process::Command::new(compose)
            .args(["-p", &project, "-f", file.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "compose {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    compose_cmd(&["up", "-d"]);
    struct Down<'a>(&'a dyn Fn(&[&str]));
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            (self.0)(&["down", "-t", "0"]);
        }
    }
    let _down = Down(&compose_cmd);
    let identifier = format!("{project}::worker");
    let inventory: app::apps::Inventory = eventually(
        Duration::from_secs(20),
        "the service in the inventory",
        || async {
            let inv: app::apps::Inventory = get_json(
                &http,
                server.path(&format!("/api/v1/agents/{agent_id}/inventory")),
            )
            .await;
            inv.items
                .iter()
                .any(|i| i.kind == app::apps::AppType::Compose && i.identifier == identifier)
                .then_some(inv)
        },
    )
    .await;
    assert!(
        inventory
            .items
            .iter()
            .any(|i| i.kind == app::apps::AppType::Docker && i.identifier.starts_with(&project))
    );
    let service: app::apps::App = post_json(&http, server.path("/api/v1/apps"), Some(&csrf),
        &json!({"agent_id": agent_id, "name": "worker", "app_type": "compose", "identifier": identifier}))
        .await.json().await.unwrap();
    compose_cmd(&["stop", "-t", "0"]);
    observed(
        &server,
        &http,
        service.id,
        app::apps::ObservedState::Stopped,
    )
    .await;
    let done = restart(
        &server,
        &http,
        &csrf,
        service.id,
        totp_code(&secret, totp_step() + 1),
    )
    .await;
    assert_eq!(done.state, app::apps::ActionState::Succeeded, "{done:?}");
    observed(
        &server,
        &http,
        service.id,
        app::apps::ObservedState::Running,
    )
    .await;
}

#[tokio::test]
async fn a_restart_waits_for_an_offline_agent_unless_its_requester_is_disabled() {
    let server = Server::start_with(&["--mode", "server", "--app-check-interval", "1s"], None);
    let (http, csrf) = signed_in(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let script = dir.path().join("restart-worker");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho ran >> {}\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let enrollment = issue_enrollment(&server, &http, &csrf).await;
    let state = tempfile::tempdir().unwrap();
    let mut args = enrollment.agent_flags();
    args.extend(
        [
            "--allow-actions",
            "process",
            "--allow-command",
            script.to_str().unwrap(),
            "--action-budget",
            "1",
        ]
        .map(str::to_owned),
    );
    let agent = KillOnDrop(spawn_agent(
        state.path(),
        &args,
        std::process::Stdio::inherit(),
    ));
    let online = |want: app::ConnectionState| {
        let (http, url) = (http.clone(), server.path("/api/v1/agents"));
        async move {
            eventually(
                Duration::from_secs(30),
                "the agent's connection",
                || async {
                    let agents: Vec<app::AgentInfo> = get_json(&http, url.clone()).await;
                    agents
                        .into_iter()
                        .find(|a| a.connection_state == want)
                        .map(|a| a.id)
                },
            )
            .await
        }
    };
    let agent_id = online(app::ConnectionState::Connected).await;
    let tracked: app::apps::App = post_json(
        &http,
        server.path("/api/v1/apps"),
        Some(&csrf),
        &json!({"agent_id": agent_id, "name": "worker", "app_type": "process",
                "identifier": "/usr/local/bin/worker", "restart_command": [script]}),
    )
    .await
    .json()
    .await
    .unwrap();
    // An operator with codes, who will be disabled.
    let res = post_json(
        &http,
        server.path("/api/v1/users"),
        Some(&csrf),
        &json!({"username": "olga", "password": PASSWORD, "role": "operator"}),
    )
    .await;
    let olga: app::users::UserInfo = res.json().await.unwrap();
    let (op, op_csrf) = sign_in_as(&server, "olga").await;
    let olga_secret = enroll_totp(&server, &op, &op_csrf).await;
    let admin_secret = enroll_totp(&server, &http, &csrf).await;

    drop(agent);
    online(app::ConnectionState::Disconnected).await;
    let ask = |who: &reqwest::Client, csrf: &str, code: String| {
        let req = who
            .post(server.path(&format!("/api/v1/apps/{}/restart", tracked.id)))
            .header("x-csrf-token", csrf.to_owned())
            .header("x-totp-code", code)
            .json(&json!({"reason": "while offline"}));
        async move { req.send().await.unwrap() }
    };
    let res = ask(&op, &op_csrf, totp_code(&olga_secret, totp_step())).await;
    assert_eq!(res.status(), 202);
    let olgas: app::apps::Action = res.json().await.unwrap();
    assert_eq!(olgas.state, app::apps::ActionState::Pending);
    let res = ask(&http, &csrf, totp_code(&admin_secret, totp_step())).await;
    let admins: app::apps::Action = res.json().await.unwrap();
    assert_eq!(admins.state, app::apps::ActionState::Pending);
    let res = patch_json(
        &http,
        server.path(&format!("/api/v1/users/{}", olga.id)),
        &csrf,
        &json!({"disabled": true}),
    )
    .await;
    assert_eq!(res.status(), 200);

    let _agent = KillOnDrop(spawn_agent(
        state.path(),
        &args,
        std::process::Stdio::inherit(),
    ));
    let state_of = |eat_id: String| {
        let (http, url) = (
            http.clone(),
            server.path(&format!("/api/v1/actions?app_id={}", tracked.id)),
        );
        async move {
            let actions: Vec<app::apps::Action> = get_json(&http, url).await;
            actions.into_iter().find(|a| a.eat_id == eat_id).unwrap()
        }
    };
    let delivered = eventually(
        Duration::from_secs(30),
        "the admin's restart delivered",
        || async {
            let a = state_of(admins.eat_id.clone()).await;
            a.finished_at.is_some().then_some(a)
        },
    )
    .await;
    assert_eq!(
        delivered.state,
        app::apps::ActionState::Succeeded,
        "{delivered:?}"
    );
    let cancelled = state_of(olgas.eat_id.clone()).await;
    assert_eq!(
        cancelled.state,
        app::apps::ActionState::Cancelled,
        "{cancelled:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().lines().count(),
        1,
        "only the admin's ran"
    );
    let audit: Vec<app::AuditEntry> = get_json(&http, server.path("/api/v1/audit")).await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "eat.cancel" && e.subject == olgas.eat_id)
    );

    // Past the agent's budget (one an hour here): refused, nothing runs, and an alert fires.
    let res = post_json(
        &http,
        server.path("/api/v1/alert-rules"),
        Some(&csrf),
        &json!({"name": "apps", "severity": "warning", "condition": {"kind": "app_mismatch"}}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = ask(&http, &csrf, totp_code(&admin_secret, totp_step() + 1)).await;
    let over: app::apps::Action = res.json().await.unwrap();
    let over = eventually(Duration::from_secs(20), "the refusal", || async {
        let a = state_of(over.eat_id.clone()).await;
        a.finished_at.is_some().then_some(a)
    })
    .await;
    assert_eq!(over.state, app::apps::ActionState::Refused, "{over:?}");
    assert!(over.error.contains("budget"), "{}", over.error);
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 1);
    eventually(Duration::from_secs(15), "the budget alert", || async {
        let alerts: Vec<app::alerts::Alert> =
            get_json(&http, server.path("/api/v1/alerts?state=firing")).await;
        alerts
            .into_iter()
            .find(|a| a.subject == format!("app-budget:{}", tracked.id))
    })
    .await;
    // A viewer cannot restart at all.
    let res = post_json(
        &http,
        server.path("/api/v1/users"),
        Some(&csrf),
        &json!({"username": "vera", "password": PASSWORD, "role": "viewer"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let (viewer, viewer_csrf) = sign_in_as(&server, "vera").await;
    let res = ask(&viewer, &viewer_csrf, "123456".into()).await;
    assert_eq!(error_code(res, 403).await, "forbidden");
}

#[tokio::test]
async fn once_sends_a_sample_and_an_inventory_and_exits() {
    let server = Server::start_with(&["--mode", "server"], None);
    let (http, csrf) = signed_in(&server).await;
    let enrollment = issue_enrollment(&server, &http, &csrf).await;
    let state = tempfile::tempdir().unwrap();
    let mut args = enrollment.agent_flags();
    args.push("--once".into());
    let out = std::process::Command::new(agent_binary())
        .args(&args)
        .arg("--state-dir")
        .arg(state.path())
        .env("VANTAGE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agents: Vec<app::AgentInfo> = get_json(&http, server.path("/api/v1/agents")).await;
    let agent_id = &agents[0].id;
    let inventory: app::apps::Inventory = get_json(
        &http,
        server.path(&format!("/api/v1/agents/{agent_id}/inventory")),
    )
    .await;
    let me = agent_binary();
    assert!(
        inventory
            .items
            .iter()
            .any(|i| i.kind == app::apps::AppType::Process && Path::new(&i.identifier) == me),
        "the agent's own executable is in its inventory"
    );
    let summary: Value = get_json(
        &http,
        server.path(&format!("/api/v1/resources/summary?agent_id={agent_id}")),
    )
    .await;
    assert!(
        summary["latest"]["memory_total_bytes"].as_u64().unwrap() > 0,
        "{summary}"
    );
    // Enrolled, it runs --once again from its identity; without a server it says why.
    let down = std::process::Command::new(agent_binary())
        .args(["--once", "--state-dir"])
        .arg(state.path())
        .env("VANTAGE_LOG", "error")
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}
