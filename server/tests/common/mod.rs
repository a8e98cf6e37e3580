//! Starts the real `vantage` binary on port 0 with a temporary data dir.
#![allow(dead_code)]

pub mod docker;
pub mod fakeproc;
pub mod netns;
pub mod sink;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Server {
    pub url: String,
    /// `grpcs://127.0.0.1:PORT` in server mode.
    pub grpc_url: Option<String>,
    pub child: Child,
    pub data_dir: tempfile::TempDir,
    pub database_url: Option<String>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_vantage")
}

/// True when the test command asks that nothing be skipped (CI).
pub fn require_everything() -> bool {
    std::env::var("VANTAGE_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// A fresh PostgreSQL database on the throwaway cluster the test command started, or
/// `None` (with a message) when no cluster is configured and skipping is allowed.
pub async fn postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("VANTAGE_TEST_POSTGRES_URL") else {
        assert!(
            !require_everything(),
            "VANTAGE_TEST_POSTGRES_URL is not set but VANTAGE_REQUIRE_ALL=1"
        );
        eprintln!(
            "SKIPPED: set VANTAGE_TEST_POSTGRES_URL (scripts/test does) to run this test against PostgreSQL"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("vantage_test_{}", hex_id());
    let pool = sqlx::AnyPool::connect(&admin_url)
        .await
        .expect("connect to the test cluster");
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url);
    Some(format!("{base}/{name}"))
}

/// A port nothing listens on now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn hex_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

impl Server {
    /// Starts with SQLite in a fresh data dir, collecting every second.
    pub fn start() -> Server {
        Self::start_with(&[], None)
    }

    pub fn start_with(extra: &[&str], database_url: Option<String>) -> Server {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(data_dir, extra, database_url)
    }

    pub fn start_in(
        data_dir: tempfile::TempDir,
        extra: &[&str],
        database_url: Option<String>,
    ) -> Server {
        let mut cmd = Command::new(binary());
        cmd.args(["--host-interval", "1s", "--data-dir"])
            .arg(data_dir.path())
            .args(extra)
            .env_remove("VANTAGE_DATABASE_URL")
            .env("VANTAGE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = &database_url {
            cmd.args(["--database-url", url]);
        }
        if !extra.contains(&"--http-listen") {
            cmd.args(["--http-listen", "127.0.0.1:0"]);
        }
        if !extra.contains(&"--grpc-listen") {
            cmd.args(["--grpc-listen", "127.0.0.1:0"]);
        }
        // Never the builds of this checkout's `target/agent-downloads`: a test sees only
        // what it puts there.
        if !extra.contains(&"--agent-downloads") {
            cmd.arg("--agent-downloads")
                .arg(data_dir.path().join("downloads"));
        }
        let mut child = cmd.spawn().expect("start vantage");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut grpc_url = None;
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("vantage grpc listening on ") {
                        grpc_url = Some(url.to_owned());
                    }
                    if let Some(url) = line.strip_prefix("vantage listening on ") {
                        break url.to_owned();
                    }
                }
                _ => panic!("vantage exited before listening: {:?}", child.wait()),
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            url,
            grpc_url,
            child,
            data_dir,
            database_url,
        }
    }

    pub fn path(&self, p: &str) -> String {
        format!("{}{p}", self.url)
    }

    /// The port the gRPC ingest listens on (server mode).
    pub fn grpc_port(&self) -> String {
        let url = self.grpc_url.as_deref().expect("a server-mode server");
        url.rsplit(':').next().unwrap_or_default().to_owned()
    }

    pub fn data_path(&self) -> &Path {
        self.data_dir.path()
    }

    /// Runs `vantage` with the same store settings (for the admin commands).
    pub fn admin(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut cmd = Command::new(binary());
        cmd.arg("--data-dir")
            .arg(self.data_dir.path())
            .env_remove("VANTAGE_DATABASE_URL")
            .env("VANTAGE_LOG", "warn");
        if let Some(url) = &self.database_url {
            cmd.args(["--database-url", url]);
        }
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run vantage admin");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().expect("admin output")
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "vantage did not stop within {within:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "correct horse battery";

/// Runs setup and logs in; returns the cookie-carrying client and the CSRF token.
pub async fn signed_in(server: &Server) -> (reqwest::Client, String) {
    let http = client();
    let res = http
        .post(server.path("/api/v1/setup"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "setup: {}", res.text().await.unwrap());
    logged_in_as_admin(server, http).await
}

/// Signs the admin in (setup done); the cookie-carrying client and the CSRF token.
pub async fn logged_in_as_admin(
    server: &Server,
    http: reqwest::Client,
) -> (reqwest::Client, String) {
    let csrf = log_in(server, &http, ADMIN, PASSWORD).await;
    (http, csrf)
}

/// A fresh session of `username`: the cookie-carrying client and its CSRF token.
pub async fn sign_in_as(server: &Server, username: &str) -> (reqwest::Client, String) {
    let http = client();
    let csrf = log_in(server, &http, username, PASSWORD).await;
    (http, csrf)
}

/// Signs `username` in on `http`; the session's CSRF token.
async fn log_in(server: &Server, http: &reqwest::Client, username: &str, password: &str) -> String {
    let res = http
        .post(server.path("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{username} signs in");
    let me: Value = res.json().await.unwrap();
    me["csrf_token"].as_str().unwrap().to_owned()
}

/// Asserts the JSON error shape and returns the code.
pub async fn error_code(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status().as_u16(), status, "unexpected status");
    let body: Value = res.json().await.expect("error body is JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error.message"
    );
    code
}

/// Polls until `f` returns Some, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The `vantage-agent` binary built next to this test.
pub fn agent_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let agent = dir.join("vantage-agent");
    assert!(
        agent.exists(),
        "{} is missing: build the workspace (cargo nextest run --workspace)",
        agent.display()
    );
    agent
}

/// An enrollment token issued through the API, with the pin its snippets carry.
pub struct Enrollment {
    pub body: app::CreatedEnrollmentToken,
    pub token: String,
    pub pin: String,
}

impl Enrollment {
    /// The flags that enroll an agent with this token: server, token and pin.
    pub fn agent_flags(&self) -> Vec<String> {
        [
            "--server",
            &self.body.grpc_url,
            "--enrollment-token",
            &self.token,
            "--server-pin",
            &self.pin,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

/// Starts `vantage-agent` with `args` and its state in `state_dir`, logging warnings only,
/// its standard error captured when `stderr` is piped.
pub fn spawn_agent<S: AsRef<std::ffi::OsStr>>(
    state_dir: &Path,
    args: &[S],
    stderr: std::process::Stdio,
) -> std::process::Child {
    std::process::Command::new(agent_binary())
        .args(args)
        .arg("--state-dir")
        .arg(state_dir)
        .env("VANTAGE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start vantage-agent")
}

/// `POST /api/v1/agents/enrollment-tokens` as the signed-in admin: a single-use token.
pub async fn issue_enrollment(server: &Server, http: &reqwest::Client, csrf: &str) -> Enrollment {
    issue_enrollment_with(server, http, csrf, &json!({"ttl_hours": 1})).await
}

/// `POST /api/v1/agents/enrollment-tokens` with `request` (e.g. `{"max_uses": null}`).
pub async fn issue_enrollment_with(
    server: &Server,
    http: &reqwest::Client,
    csrf: &str,
    request: &Value,
) -> Enrollment {
    let res = http
        .post(server.path("/api/v1/agents/enrollment-tokens"))
        .header("x-csrf-token", csrf)
        .json(request)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: app::CreatedEnrollmentToken = res.json().await.unwrap();
    let pin = body.pin.clone().expect("self-signed servers give a pin");
    let standalone = &body.install_templates.standalone;
    assert!(
        standalone.contains(&format!("--server-pin '{pin}'")),
        "the snippet carries the same pin: {standalone}"
    );
    Enrollment {
        token: body.token.clone(),
        pin,
        body,
    }
}

/// The `vantage-loadgen` binary built next to this test.
pub fn loadgen_binary() -> PathBuf {
    agent_binary().with_file_name("vantage-loadgen")
}

/// GET `url` and decode the JSON answer (panics on a transport or decoding error).
pub async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: String) -> T {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// GET `url` and its body as text (panics on a transport error).
pub async fn get_text(http: &reqwest::Client, url: String) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// PATCH `body` as JSON to `url` with the session's CSRF token; the raw answer.
pub async fn patch_json(
    http: &reqwest::Client,
    url: String,
    csrf: &str,
    body: &Value,
) -> reqwest::Response {
    http.patch(url)
        .header("x-csrf-token", csrf)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// POST `body` as JSON to `url`, with the session's CSRF token when given; the raw answer.
pub async fn post_json(
    http: &reqwest::Client,
    url: String,
    csrf: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = http.post(url).json(body);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    request.send().await.unwrap()
}

/// `POST /api/v1/notification-channels/{id}/test`: how sending a test message went. `id` is
/// a channel id as a number or as the JSON value of one.
pub async fn test_channel(
    server: &Server,
    http: &reqwest::Client,
    csrf: &str,
    id: &dyn std::fmt::Display,
) -> app::alerts::ChannelTestResult {
    let url = server.path(&format!("/api/v1/notification-channels/{id}/test"));
    post_json(http, url, Some(csrf), &json!({}))
        .await
        .json()
        .await
        .unwrap()
}

/// A child process killed (and reaped) when dropped, so a failing test leaves none behind.
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The code an authenticator app shows for `secret` (base32) at 30-second step `step`.
pub fn totp_code(secret: &str, step: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .unwrap()
        .generate(step * 30)
        .to_string()
}

/// The TOTP step now.
pub fn totp_step() -> u64 {
    proto::clock::now_s() as u64 / 30
}
