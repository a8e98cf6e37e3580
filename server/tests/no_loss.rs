//! No data lost: an agent keeps spooling while the server is killed, and backfills everything
//! exactly once when it comes back.
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

async fn counts(db: &str, agent_id: &str) -> (i64, i64, i64) {
    let store = server::store::Store::open(db).await.unwrap();
    let last_seq = |store: &server::store::Store| {
        let store = store.clone();
        let id = agent_id.to_owned();
        async move { store.agent(&id).await.unwrap().unwrap().last_seq }
    };
    // The samples and the agent's position are two reads: a commit landing between them (the
    // whole backlog is one batch) would pair old samples with a new position. Every commit
    // of this agent moves its position, so a position unchanged across the read of the
    // samples belongs to them.
    let (mut times, last_seq) = loop {
        let seq = last_seq(&store).await;
        let times = store.raw_sample_times(Some(agent_id)).await.unwrap();
        if last_seq(&store).await == seq {
            break (times, seq);
        }
    };
    let samples = times.len() as i64;
    times.dedup();
    store.close().await;
    (samples, times.len() as i64, last_seq)
}

/// A server in server mode on fixed ports (so it can be killed and started again on them),
/// signed in, with one enrollment token issued.
struct Setup {
    server: Server,
    listen: Vec<String>,
    http: reqwest::Client,
    grpc_url: String,
    token: String,
    pin: String,
    db: String,
}

impl Setup {
    async fn start() -> Setup {
        let (http_port, grpc_port) = (free_port(), free_port());
        let listen = vec![
            "--mode".to_owned(),
            "server".to_owned(),
            "--http-listen".to_owned(),
            format!("127.0.0.1:{http_port}"),
            "--grpc-listen".to_owned(),
            format!("127.0.0.1:{grpc_port}"),
        ];
        let args: Vec<&str> = listen.iter().map(String::as_str).collect();
        let server = Server::start_with(&args, None);
        let (http, csrf) = signed_in(&server).await;
        let Enrollment { token, pin, .. } = issue_enrollment(&server, &http, &csrf).await;
        let db = format!(
            "sqlite://{}",
            server.data_path().join("vantage.db").display()
        );
        Setup {
            server,
            listen,
            http,
            grpc_url: format!("grpcs://127.0.0.1:{grpc_port}"),
            token,
            pin,
            db,
        }
    }

    /// Kills the server with SIGKILL, keeping its data directory for [`restart`](Self::restart).
    fn kill_server(&mut self) -> tempfile::TempDir {
        self.server.child.kill().unwrap();
        self.server.child.wait().unwrap();
        std::mem::replace(&mut self.server.data_dir, tempfile::tempdir().unwrap())
    }

    /// Starts the server again on the same ports and store.
    fn restart(&mut self, data_dir: tempfile::TempDir) {
        let args: Vec<&str> = self.listen.iter().map(String::as_str).collect();
        self.server = Server::start_in(data_dir, &args, None);
    }

    /// Starts an agent that enrolls with the token (`run_flags` as for [`agent`]).
    fn enroll(&self, run_flags: Vec<String>) -> std::process::Child {
        agent(
            [
                "--server",
                &self.grpc_url,
                "--enrollment-token",
                &self.token,
                "--server-pin",
                &self.pin,
            ]
            .map(str::to_owned)
            .into_iter()
            .chain(run_flags)
            .collect(),
        )
    }

    /// The id of the enrolled agent, once it has stored `samples` sequence numbers.
    async fn agent_with_samples(&self, samples: i64) -> String {
        let agent_id = eventually(Duration::from_secs(20), "the agent enrolled", || async {
            let agents: serde_json::Value = self
                .http
                .get(self.server.path("/api/v1/agents"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            agents.as_array()?.first()?["id"]
                .as_str()
                .map(str::to_owned)
        })
        .await;
        eventually(
            Duration::from_secs(20),
            "samples from the agent",
            || async { (counts(&self.db, &agent_id).await.2 >= samples).then_some(()) },
        )
        .await;
        agent_id
    }
}

/// Agent flags: host samples every `interval` and nothing else (no Docker, no inventory), so
/// every sequence number is one stored sample; `extra` flags; the state in `state`.
fn agent_flags(state: &std::path::Path, interval: &str, extra: &[&str]) -> Vec<String> {
    [
        "--host-interval",
        interval,
        "--docker-socket",
        "/nonexistent",
        "--no-inventory",
    ]
    .iter()
    .chain(extra)
    .map(|f| f.to_string())
    .chain(["--state-dir".to_owned(), state.display().to_string()])
    .collect()
}

/// Starts `vantage-agent` with `args` as [`agent_flags`] makes them, quiet.
fn agent(args: Vec<String>) -> std::process::Child {
    // The flags end with `--state-dir DIR`, which spawn_agent takes on its own.
    let (flags, state) = args.split_at(args.len() - 2);
    spawn_agent(std::path::Path::new(&state[1]), flags, Stdio::null())
}

#[tokio::test]
async fn a_killed_server_loses_nothing_and_duplicates_nothing() {
    let mut setup = Setup::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut agent_process = setup.enroll(agent_flags(state.path(), "1s", &[]));
    let agent_id = setup.agent_with_samples(2).await;
    let db = setup.db.clone();

    // kill -9 mid-ingest, stay away for a while, come back on the same store and ports.
    let data_dir = setup.kill_server();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let spooled = std::fs::read_dir(state.path().join("spool"))
        .unwrap()
        .count();
    assert!(
        spooled >= 2,
        "the agent keeps spooling while the server is away"
    );
    let (before, _, seq_before) = counts(&db, &agent_id).await;
    setup.restart(data_dir);

    let (samples, distinct, last_seq) =
        eventually(Duration::from_secs(40), "the outage backfilled", || async {
            let (samples, distinct, last_seq) = counts(&db, &agent_id).await;
            (last_seq >= seq_before + 8).then_some((samples, distinct, last_seq))
        })
        .await;
    assert!(
        samples > before + 5,
        "samples taken during the outage arrive: {before} -> {samples}"
    );
    assert_eq!(
        samples, last_seq,
        "every sequence number is stored: nothing lost"
    );
    assert_eq!(distinct, samples, "and nothing twice");

    // The agent restarted mid-stream numbers on from its spool: still nothing twice.
    agent_process.kill().unwrap();
    agent_process.wait().unwrap();
    let mut agent_process = agent(agent_flags(state.path(), "1s", &[]));
    let (samples, distinct, last_seq) = eventually(
        Duration::from_secs(20),
        "samples after the agent restart",
        || async {
            let (samples, distinct, l) = counts(&db, &agent_id).await;
            (l >= last_seq + 3).then_some((samples, distinct, l))
        },
    )
    .await;
    assert_eq!(samples, last_seq);
    assert_eq!(distinct, samples);
    agent_process.kill().unwrap();
    agent_process.wait().unwrap();
}

/// `strace`, which can kill a process exactly at a chosen system call; `None` (with a
/// message) when it is missing and skipping is allowed.
fn strace() -> Option<&'static str> {
    let found = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some("strace");
    }
    assert!(
        !require_everything(),
        "strace is missing but VANTAGE_REQUIRE_ALL=1 (scripts/test installs it)"
    );
    eprintln!("SKIPPED: install strace to kill the agent inside its spool writes");
    None
}

#[tokio::test]
async fn an_agent_killed_inside_spool_writes_restarts_and_duplicates_nothing() {
    let Some(strace) = strace() else {
        return;
    };
    let setup = Setup::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut agent_process = setup.enroll(agent_flags(state.path(), "1s", &[]));
    let agent_id = setup.agent_with_samples(2).await;
    agent_process.kill().unwrap();
    agent_process.wait().unwrap();
    let db = setup.db.clone();

    // Kill the agent with SIGKILL exactly at a system call of its spool: after a record is
    // written but before it is synced (fdatasync), while the acknowledged position is being
    // replaced (rename), while segment and state files are opened (openat). Every run must
    // start from what the last one left, get as far as the chosen call, and die there.
    for (call, when) in [
        ("fdatasync", 1),
        ("rename", 1),
        ("fdatasync", 3),
        ("openat", 20),
        ("rename", 3),
        ("fdatasync", 6),
        ("openat", 45),
    ] {
        let mut traced = Command::new(strace)
            .args([
                "-f",
                "-qq",
                "-o",
                "/dev/null",
                "-e",
                &format!("trace={call}"),
                "-e",
                &format!("inject={call}:signal=KILL:when={when}"),
            ])
            .arg(agent_binary())
            .args(agent_flags(state.path(), "1s", &[]))
            .env("VANTAGE_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = eventually(
            Duration::from_secs(30),
            "the agent reaching the injected kill",
            || {
                let done = traced.try_wait().unwrap();
                async move { done }
            },
        )
        .await;
        use std::os::unix::process::ExitStatusExt;
        assert!(
            status.signal() == Some(9) || status.code() == Some(128 + 9),
            "killed at {call} #{when}, not {status:?}: the restarted agent did not get there"
        );
    }

    // A plain restart carries on: every sequence number is stored once, none lost, none twice.
    let (_, _, seq_before) = counts(&db, &agent_id).await;
    let mut agent_process = agent(agent_flags(state.path(), "1s", &[]));
    let (samples, distinct, last_seq) = eventually(
        Duration::from_secs(30),
        "samples after the kills",
        || async {
            let (samples, distinct, l) = counts(&db, &agent_id).await;
            (l >= seq_before + 3).then_some((samples, distinct, l))
        },
    )
    .await;
    agent_process.kill().unwrap();
    agent_process.wait().unwrap();
    assert_eq!(samples, last_seq, "every sequence number is stored");
    assert_eq!(distinct, samples, "and nothing twice");
    let store = server::store::Store::open(&db).await.unwrap();
    let row = store.agent(&agent_id).await.unwrap().unwrap();
    assert_eq!(
        row.dropped_events, 0,
        "no event was dropped to get past a damaged spool"
    );
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The agent's own count of dropped events, from its spool state.
fn spool_dropped(state: &std::path::Path) -> u64 {
    std::fs::read(state.join("spool/state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["dropped"].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_full_spool_drops_the_oldest_counts_them_and_stays_small() {
    const BOUND: u64 = 64 << 10;
    let mut setup = Setup::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut agent_process = setup.enroll(agent_flags(
        state.path(),
        "100ms",
        &["--spool-max-bytes", "64KB"],
    ));
    let agent_id = setup.agent_with_samples(5).await;
    let db = setup.db.clone();

    // The server goes away; the agent spools until its bound, then drops the oldest.
    let data_dir = setup.kill_server();
    let spool = state.path().join("spool");
    let (mut largest, mut rss_at_first_drop, mut rss_peak) = (0u64, 0u64, 0u64);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    // Events are about 200 bytes here: this many dropped means the bound was hit repeatedly
    // (segments are an eighth of it).
    while spool_dropped(state.path()) < BOUND / 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the spool never dropped enough: {} so far",
            spool_dropped(state.path())
        );
        largest = largest.max(dir_bytes(&spool));
        let rss = rss_kib(agent_process.id());
        if spool_dropped(state.path()) > 0 && rss_at_first_drop == 0 {
            rss_at_first_drop = rss;
        }
        rss_peak = rss_peak.max(rss);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        largest <= BOUND + BOUND / 8 + 4096,
        "the spool stays within its bound plus one segment: {largest} bytes"
    );
    assert!(
        rss_at_first_drop > 0 && rss_peak < rss_at_first_drop + 4096,
        "memory stays flat while events are dropped: {rss_at_first_drop} KiB at the first drop, peak {rss_peak} KiB"
    );

    // Back again: what was kept arrives, what was dropped is counted, nothing else is missing.
    setup.restart(data_dir);
    let last_before = counts(&db, &agent_id).await.2;
    eventually(
        Duration::from_secs(60),
        "the agent back and caught up",
        || async {
            let (_, _, last_seq) = counts(&db, &agent_id).await;
            (last_seq as u64 >= last_before as u64 + spool_dropped(state.path()) + 20).then_some(())
        },
    )
    .await;
    agent_process.kill().unwrap();
    agent_process.wait().unwrap();
    let (samples, distinct, last_seq) = counts(&db, &agent_id).await;
    let store = server::store::Store::open(&db).await.unwrap();
    let dropped = store
        .agent(&agent_id)
        .await
        .unwrap()
        .unwrap()
        .dropped_events;
    assert_eq!(
        dropped as u64,
        spool_dropped(state.path()),
        "the server shows the agent's drop count"
    );
    assert_eq!(distinct, samples, "nothing stored twice");
    assert_eq!(
        samples + dropped,
        last_seq,
        "every sequence number is stored or counted as dropped"
    );
}
