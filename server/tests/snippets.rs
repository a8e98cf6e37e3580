//! Every install snippet, run as an operator pastes it, against a real server serving the
//! static agent builds (`scripts/build-agents`, found through VANTAGE_TEST_AGENT_DOWNLOADS):
//! the standalone snippet in a network-namespace host (download, verify, install, enroll,
//! samples), a tampered script and a tampered binary refused with nothing installed, the
//! served x86_64 build in a FROM scratch container (no libc at all), docker run and compose
//! against the local engine, and the Kubernetes manifest through a strict schema validator.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::netns::{TestHost, namespaces_available};
use common::*;
use serde_json::{Value, json};

/// Skips (or, under VANTAGE_REQUIRE_ALL=1, fails) with `reason`.
fn skip(reason: &str) {
    assert!(
        !require_everything(),
        "required (VANTAGE_REQUIRE_ALL=1): {reason}"
    );
    eprintln!("SKIPPED: {reason}");
}

/// The directory of static agent builds the test command made.
fn agent_downloads() -> Option<PathBuf> {
    let dir = std::env::var_os("VANTAGE_TEST_AGENT_DOWNLOADS").map(PathBuf::from);
    match dir {
        Some(dir) if dir.join("vantage-agent-linux-x86_64").is_file() => Some(dir),
        _ => {
            skip(
                "VANTAGE_TEST_AGENT_DOWNLOADS names no directory with vantage-agent-linux-x86_64 (scripts/test builds it with scripts/build-agents)",
            );
            None
        }
    }
}

fn docker_available() -> bool {
    let up = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !up {
        skip("no Docker engine answers here");
    }
    up
}

/// A server in server mode on every address, serving the builds in `downloads`.
fn serving(downloads: &Path) -> Server {
    Server::start_with(
        &[
            "--mode",
            "server",
            "--http-listen",
            "0.0.0.0:0",
            "--grpc-listen",
            "0.0.0.0:0",
            "--agent-downloads",
            downloads.to_str().unwrap(),
        ],
        None,
    )
}

/// `path` on `server` as this machine reaches it (the server listens on every address).
fn local(server: &Server, path: &str) -> String {
    format!("{}{path}", server.url.replace("0.0.0.0", "127.0.0.1"))
}

fn port_of(url: &str) -> &str {
    url.rsplit(':').next().unwrap()
}

/// An enrollment token asked for as a client that reached the server at `host:port` would
/// (the snippets then point there).
async fn token_for_host(
    server: &Server,
    http: &reqwest::Client,
    csrf: &str,
    host: &str,
    request: Value,
) -> app::CreatedEnrollmentToken {
    let res = http
        .post(server.path("/api/v1/agents/enrollment-tokens"))
        .header("host", format!("{host}:{}", port_of(&server.url)))
        .header("x-csrf-token", csrf)
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// Runs `script` with `sh -c` (in `namespace` when given), `sudo` as a pass-through shim.
fn run_sh(script: &str, namespace: Option<&str>, work: &Path, env: &[(&str, &Path)]) -> Output {
    let shim = work.join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(shim.join("sudo"), "#!/bin/sh\nexec \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(shim.join("sudo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = match namespace {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "sh", "-c", script]);
            c
        }
        None => {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        }
    };
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap());
    cmd.env("PATH", path).env("VANTAGE_LOG", "warn");
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A host as `/api/v1/resources/hosts` lists it, once it is connected and has figures.
async fn host_with_samples(server: &Server, http: &reqwest::Client, what: &str) -> Value {
    eventually(Duration::from_secs(60), what, || async {
        let hosts: Value = get_json(http, server.path("/api/v1/resources/hosts")).await;
        hosts.as_array()?.iter().find_map(|h| {
            (h["id"] != "local" && h["connection_state"] == "connected" && h["cpu_pct"].is_number())
                .then(|| h.clone())
        })
    })
    .await
}

/// Serves `body` at every path: the man in the middle the checksums are for.
async fn tampering_server(body: Vec<u8>) -> String {
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { body }
    });
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("127.0.0.1:{port}")
}

#[tokio::test]
async fn the_standalone_snippet_installs_enrolls_and_streams_from_its_own_host() {
    let Some(downloads) = agent_downloads() else {
        return;
    };
    if let Err(reason) = namespaces_available() {
        return skip(&format!("cannot create network namespaces here: {reason}"));
    }
    if Path::new("/run/systemd/system").is_dir() {
        // install.sh as root would install a system service on this machine.
        return skip("systemd runs here: the root install would write /etc/systemd/system");
    }
    let server = serving(&downloads);
    let (http, csrf) = signed_in(&server).await;
    let host = TestHost::create("s", 51).unwrap();
    let created = token_for_host(&server, &http, &csrf, &host.gateway, json!({})).await;
    let snippet = &created.install_templates.standalone;
    assert!(
        snippet.contains(&format!(
            "'http://{}:{}/install.sh'",
            host.gateway,
            port_of(&server.url)
        )),
        "{snippet}"
    );
    let x86 = created
        .builds
        .iter()
        .find(|b| b.target == "linux-x86_64")
        .unwrap();
    assert_eq!(x86.state, app::BuildState::Ready, "{:?}", created.builds);

    let work = tempfile::tempdir().unwrap();
    let (bin, state) = (work.path().join("bin"), work.path().join("state"));
    let out = run_sh(
        snippet,
        Some(&host.namespace),
        work.path(),
        &[("VANTAGE_BIN_DIR", &bin), ("VANTAGE_STATE_DIR", &state)],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let served = std::fs::read(downloads.join("vantage-agent-linux-x86_64")).unwrap();
    assert_eq!(
        std::fs::read(bin.join("vantage-agent")).unwrap(),
        served,
        "the served static build was installed"
    );
    assert!(stdout.contains("is enrolled as"), "{stdout}");
    assert!(state.join("identity.json").exists());

    // The service manager is absent here: start the installed agent as the installer says.
    let mut agent = Command::new("ip")
        .args(["netns", "exec", &host.namespace])
        .arg(bin.join("vantage-agent"))
        .arg("--state-dir")
        .arg(&state)
        .env("VANTAGE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let listed = host_with_samples(&server, &http, "samples from the namespace host").await;
    let agents: Vec<app::AgentInfo> = get_json(&http, server.path("/api/v1/agents")).await;
    assert_eq!(agents.len(), 1);
    assert_eq!(listed["id"], agents[0].id.as_str());
    let _ = agent.kill();
    let _ = agent.wait();
}

// The tampering server answers on another thread while the shell blocks this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_install_script_or_agent_binary_is_refused_and_nothing_is_installed() {
    let Some(downloads) = agent_downloads() else {
        return;
    };
    let server = serving(&downloads);
    let (http, csrf) = signed_in(&server).await;
    let created = token_for_host(&server, &http, &csrf, "127.0.0.1", json!({})).await;
    let snippet = created.install_templates.standalone.clone();
    let genuine_url = local(&server, "/install.sh");
    let genuine = reqwest::get(&genuine_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let (bin, state) = (work.path().join("bin"), work.path().join("state"));
    let marker = work.path().join("pwned");

    // 1. The script is swapped on the way: one added line.
    let evil = genuine.replacen(
        "set -eu\n",
        &format!("set -eu\ntouch {}\n", marker.display()),
        1,
    );
    let evil_host = tampering_server(evil.into_bytes()).await;
    let tampered = snippet.replace(&format!("127.0.0.1:{}", port_of(&server.url)), &evil_host);
    assert_ne!(tampered, snippet);
    let out = run_sh(
        &tampered,
        None,
        work.path(),
        &[("VANTAGE_BIN_DIR", &bin), ("VANTAGE_STATE_DIR", &state)],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "install.sh does not match the SHA-256 in this snippet; nothing was installed."
        ),
        "{}",
        text(&out)
    );
    assert!(!marker.exists(), "the tampered script never ran");
    assert!(!bin.exists() && !state.exists());

    // 2. The genuine script, but the binary is swapped on the way.
    let mut evil_binary = std::fs::read(downloads.join("vantage-agent-linux-x86_64")).unwrap();
    evil_binary.extend_from_slice(b"\n#backdoor");
    let evil_host = tampering_server(evil_binary).await;
    let script = work.path().join("install.sh");
    std::fs::write(&script, &genuine).unwrap();
    let url_override = PathBuf::from(format!("http://{evil_host}"));
    let out = run_sh(
        &format!(
            "sh {} --server {} --enrollment-token {}",
            script.display(),
            created.grpc_url,
            created.token
        ),
        None,
        work.path(),
        &[
            ("VANTAGE_BIN_DIR", &bin),
            ("VANTAGE_STATE_DIR", &state),
            ("VANTAGE_URL", &url_override),
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "the downloaded vantage-agent does not match the SHA-256 this installer carries"
        ) && stderr.contains("nothing was installed"),
        "{}",
        text(&out)
    );
    assert!(!bin.join("vantage-agent").exists() && !state.exists());
    let agents: Vec<app::AgentInfo> = get_json(&http, server.path("/api/v1/agents")).await;
    assert!(agents.is_empty(), "nothing enrolled");
    let tokens: Vec<app::EnrollmentTokenInfo> =
        get_json(&http, server.path("/api/v1/agents/enrollment-tokens")).await;
    assert_eq!(tokens[0].uses, 0, "the token is still unused");

    // 3. An architecture without a build: one sentence, non-zero, nothing installed.
    let no_arm = genuine
        .lines()
        .filter(|l| !l.contains("x86_64) want="))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&script, no_arm).unwrap();
    let out = run_sh(
        &format!("sh {}", script.display()),
        None,
        work.path(),
        &[("VANTAGE_BIN_DIR", &bin)],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("had no vantage-agent build for linux-x86_64"),
        "{}",
        text(&out)
    );
    assert!(!bin.exists());
}

#[tokio::test]
async fn the_served_build_runs_in_a_root_file_system_without_any_libc() {
    let Some(downloads) = agent_downloads() else {
        return;
    };
    if !docker_available() {
        return;
    }
    let server = serving(&downloads);
    // What the server serves, not what the build left behind.
    let served = reqwest::get(local(&server, "/download/vantage-agent/linux-x86_64"))
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    let digest = served.headers()["x-checksum-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = served.bytes().await.unwrap();
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), digest);

    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("vantage-agent"), &bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        context.path().join("vantage-agent"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY vantage-agent /vantage-agent\nENTRYPOINT [\"/vantage-agent\"]\n",
    )
    .unwrap();
    let tag = format!("vantage-scratch-test:{}", hex_id());
    let out = Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(context.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = Command::new("docker")
        .args(["run", "--rm", &tag, "--version"])
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("vantage-agent {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Removes the docker_run snippet's container and volume, before and after.
struct DockerRunCleanup;

impl DockerRunCleanup {
    fn now() -> Self {
        Self::remove();
        DockerRunCleanup
    }

    fn remove() {
        let _ = Command::new("docker")
            .args(["rm", "-f", "vantage-agent"])
            .output();
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", "vantage-agent-state"])
            .output();
    }
}

impl Drop for DockerRunCleanup {
    fn drop(&mut self) {
        Self::remove();
    }
}

#[tokio::test]
async fn the_docker_run_snippet_loads_the_served_image_and_streams() {
    let Some(downloads) = agent_downloads() else {
        return;
    };
    if !docker_available() {
        return;
    }
    if !downloads.join("vantage-agent-image.tar").is_file() {
        return skip(
            "the downloads directory has no vantage-agent-image.tar (scripts/build-agents builds it when Docker answers)",
        );
    }
    let server = serving(&downloads);
    let (http, csrf) = signed_in(&server).await;
    let created = token_for_host(&server, &http, &csrf, "127.0.0.1", json!({})).await;
    let load = created
        .install_templates
        .image_load
        .clone()
        .expect("no --agent-image: the snippet loads the served image");
    assert!(created.install_templates.docker_run.starts_with(&load));
    let _cleanup = DockerRunCleanup::now();
    let work = tempfile::tempdir().unwrap();
    let out = run_sh(
        &created.install_templates.docker_run,
        None,
        work.path(),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let host = host_with_samples(&server, &http, "samples from the docker_run agent").await;
    // The host's name, not the container's, though the container has its own UTS namespace.
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap();
    assert_eq!(host["hostname"], hostname.trim(), "{host}");
}

/// Each compose tool on this machine: Debian's docker-compose (1.29) and the v2 plugin.
fn compose_tools() -> Vec<Vec<&'static str>> {
    let mut tools = Vec::new();
    let works = |cmd: &[&str]| {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(&["docker-compose"]) {
        tools.push(vec!["docker-compose"]);
    }
    if works(&["docker", "compose"]) {
        tools.push(vec!["docker", "compose"]);
    }
    tools
}

#[tokio::test]
async fn the_compose_snippet_runs_with_each_compose_tool_here() {
    let Some(downloads) = agent_downloads() else {
        return;
    };
    if !docker_available() {
        return;
    }
    let tools = compose_tools();
    if tools.is_empty() {
        return skip("neither docker-compose nor the docker compose plugin is installed");
    }
    let server = serving(&downloads);
    let (http, csrf) = signed_in(&server).await;
    for (i, tool) in tools.iter().enumerate() {
        let created = token_for_host(&server, &http, &csrf, "127.0.0.1", json!({})).await;
        let templates = &created.install_templates;
        let work = tempfile::tempdir().unwrap();
        if let Some(load) = &templates.image_load {
            let out = run_sh(load, None, work.path(), &[]);
            assert!(out.status.success(), "{}", text(&out));
        }
        let project = format!("vantagecompose{}{i}", std::process::id());
        let file = work.path().join("docker-compose.yml");
        std::fs::write(&file, &templates.docker_compose).unwrap();
        let compose = |args: &[&str]| {
            Command::new(tool[0])
                .args(&tool[1..])
                .args(["-p", &project, "-f"])
                .arg(&file)
                .args(args)
                .output()
                .unwrap()
        };
        let out = compose(&["config", "-q"]);
        assert!(
            out.status.success(),
            "{tool:?} accepts the file: {}",
            text(&out)
        );
        let out = compose(&["up", "-d"]);
        let up = out.status.success();
        let result = if up {
            Some(host_with_samples(&server, &http, "samples from the compose agent").await)
        } else {
            None
        };
        let down = compose(&["down", "-v"]);
        assert!(up, "{tool:?} up: {}", text(&out));
        assert!(down.status.success(), "{}", text(&down));
        let host = result.unwrap();
        let hostname = std::fs::read_to_string("/etc/hostname").unwrap();
        assert_eq!(host["hostname"], hostname.trim(), "{host}");
        // Next tool, next agent: forget this one.
        let res = http
            .delete(server.path(&format!("/api/v1/agents/{}", host["id"].as_str().unwrap())))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
}

#[tokio::test]
async fn the_kubernetes_manifest_passes_a_strict_schema_validator() {
    let validator =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../end2end/.venv/bin/kubernetes-validate");
    if !validator.exists() {
        return skip(
            "kubernetes-validate is not installed (scripts/test installs it into end2end/.venv)",
        );
    }
    let downloads = tempfile::tempdir().unwrap();
    let server = serving(downloads.path());
    let (http, csrf) = signed_in(&server).await;
    for request in [
        json!({}),
        json!({"max_uses": null}),
        json!({"max_uses": 50}),
    ] {
        let created = token_for_host(&server, &http, &csrf, "vantage.example", request).await;
        let file = downloads.path().join("vantage-agent.yaml");
        std::fs::write(&file, &created.install_templates.kubernetes).unwrap();
        let out = Command::new(&validator)
            .args(["--strict", "--kubernetes-version", "1.33.0"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.matches(" passed for resource ").count(),
            6,
            "six resources, each valid: {stdout}"
        );
    }
}

#[tokio::test]
async fn a_missing_build_is_warned_about_and_its_snippet_stops_with_one_sentence() {
    let empty = tempfile::tempdir().unwrap();
    let server = serving(empty.path());
    let (http, csrf) = signed_in(&server).await;
    let created = token_for_host(&server, &http, &csrf, "127.0.0.1", json!({})).await;
    assert!(
        created
            .builds
            .iter()
            .all(|b| b.state == app::BuildState::Missing),
        "{:?}",
        created.builds
    );
    for target in ["linux-x86_64", "linux-aarch64"] {
        assert!(
            created
                .warnings
                .iter()
                .any(|w| w.contains(&format!("The agent build for {target} is missing"))),
            "{:?}",
            created.warnings
        );
    }
    let work = tempfile::tempdir().unwrap();
    let load = created.install_templates.image_load.unwrap();
    let out = run_sh(&load, None, work.path(), &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("vantage: cannot download the agent image (is it built on the server?); nothing was loaded."),
        "{}",
        text(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("does not match"));
    // The standalone snippet gets as far as install.sh, which names the missing build.
    let bin = work.path().join("bin");
    let out = run_sh(
        &created.install_templates.standalone,
        None,
        work.path(),
        &[("VANTAGE_BIN_DIR", &bin)],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("had no vantage-agent build for linux-x86_64"),
        "{}",
        text(&out)
    );
    assert!(!bin.exists());
    // While scripts/run is still building it, the download says so.
    std::fs::write(empty.path().join("vantage-agent-linux-x86_64.building"), "").unwrap();
    let res = reqwest::get(local(&server, "/download/vantage-agent/linux-x86_64"))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "agent_build_missing");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is still being built"),
        "{body}"
    );
}
