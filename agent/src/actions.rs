//! Restarts the server orders: an order runs only when every check passes, in this order:
//! the token's signature (the server key pinned at enrollment), that it names this agent,
//! its expiry, that its id was never seen (kept across restarts), that the audit log entry
//! of its intent is in a checkpoint signed by the same key and consistent with the last
//! checkpoint this agent accepted (kept), this agent's allow-list, and the app's remediation
//! budget. Then it runs without a shell: an absolute path, a clean environment, a timeout,
//! optionally as a dedicated user, and its exit code and output (64 KiB each) go back.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::eat::{self, Eat};
use crate::tlog::{self, Checkpoint, Hash};

/// The file of what must survive a restart: ids seen, the last checkpoint, recent restarts.
pub const STATE_FILE: &str = "actions.json";
/// Output kept of each stream.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// Clock skew allowed on `issued_at`.
const SKEW_S: i64 = 300;
/// Where the commands are looked for (absolute paths; no `PATH` lookup).
const SYSTEMCTL: &[&str] = &["/usr/bin/systemctl", "/bin/systemctl"];
const DOCKER: &[&str] = &["/usr/bin/docker", "/usr/local/bin/docker"];
/// Where the Compose v2 plugin is installed (`docker compose`).
const COMPOSE_PLUGIN: &[&str] = &[
    "/usr/libexec/docker/cli-plugins/docker-compose",
    "/usr/lib/docker/cli-plugins/docker-compose",
    "/usr/local/lib/docker/cli-plugins/docker-compose",
    "/usr/local/libexec/docker/cli-plugins/docker-compose",
];
const SUDO: &str = "/usr/bin/sudo";

/// What this agent allows, from its flags.
#[derive(Debug, Clone)]
pub struct Policy {
    /// App types it restarts (`--allow-actions`; none by default).
    pub allow: Vec<String>,
    /// The commands a process app may run (`--allow-command`), each exactly as listed.
    pub commands: Vec<Vec<String>>,
    /// Restarts per app per hour.
    pub budget_per_hour: u32,
    pub timeout: Duration,
    /// Run as this user (the agent must be root to switch).
    pub run_as: Option<String>,
    /// Prefix `sudo -n` (for a sudoers rule instead of polkit).
    pub sudo: bool,
    /// The Docker socket, to find a Compose service's containers without the plugin.
    pub docker_socket: PathBuf,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            commands: Vec::new(),
            budget_per_hour: 3,
            timeout: Duration::from_secs(60),
            run_as: None,
            sudo: false,
            docker_socket: PathBuf::from(crate::docker::DEFAULT_SOCKET),
        }
    }
}

/// What is kept across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Kept {
    /// Token ids seen, with their expiry (forgotten once long expired).
    seen: BTreeMap<String, i64>,
    /// The last checkpoint accepted: its signed note.
    checkpoint: Option<String>,
    /// Unix seconds of recent restarts, by `app_type:identifier`.
    restarts: BTreeMap<String, Vec<i64>>,
}

/// Why an order was refused: nothing ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this agent has no server key pinned (enrolled before signed actions): enroll again")]
    NoKey,
    #[error("{0}")]
    Token(#[from] eat::EatError),
    #[error("the token was signed by key {0}, not the server's pinned key")]
    WrongKey(String),
    #[error("the token is for another agent ({0})")]
    OtherAgent(String),
    #[error("the token expired at {0}")]
    Expired(i64),
    #[error("the token's lifetime is longer than 5 minutes or starts in the future")]
    Lifetime,
    #[error("the token {0} was used before")]
    Replayed(String),
    #[error("the audit log does not show this token's intent: {0}")]
    NotLogged(String),
    #[error("the checkpoint is not consistent with the last one this agent accepted: {0}")]
    Inconsistent(String),
    #[error("this agent does not allow {0}")]
    NotAllowed(String),
    #[error("the remediation budget of {app} is spent: {budget} restarts in the last hour")]
    Budget { app: String, budget: u32 },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot keep the agent's action state: {0}")]
    State(String),
}

/// What a refusal is, for the server's records.
impl Refusal {
    /// True when the budget is spent (the server raises an alert).
    pub fn is_budget(&self) -> bool {
        matches!(self, Refusal::Budget { .. })
    }
}

/// An order that passed every check: what to run.
#[derive(Debug, Clone)]
pub struct Approved {
    pub eat: Eat,
    pub argv: Vec<String>,
    /// A Compose service with no Compose plugin here: its containers, found by their
    /// labels when it runs, are appended to `argv` (`docker restart --`).
    pub compose_containers: Option<(String, String)>,
}

/// How a run went.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
    pub error: String,
}

/// The checks and what they keep.
pub struct Guard {
    path: PathBuf,
    kept: Kept,
    key: Option<VerifyingKey>,
    origin: Option<String>,
    agent_id: [u8; 16],
    policy: Policy,
}

impl Guard {
    /// Loads what was kept in `state_dir`. `key` is the server key pinned at enrollment,
    /// `origin` the log's name it signs checkpoints under.
    pub fn open(
        state_dir: &Path,
        key: Option<VerifyingKey>,
        origin: Option<String>,
        agent_id: [u8; 16],
        policy: Policy,
    ) -> anyhow::Result<Guard> {
        let path = state_dir.join(STATE_FILE);
        let kept = match crate::files::read_regular(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!(
                    "{} is damaged ({e}); it keeps which restarts ran, so it is not replaced: remove it to start over",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Kept::default(),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        Ok(Guard {
            path,
            kept,
            key,
            origin,
            agent_id,
            policy,
        })
    }

    /// The size of the last checkpoint accepted (0: none yet), which the server proves from.
    pub fn checkpoint_size(&self) -> u64 {
        self.kept
            .checkpoint
            .as_deref()
            .and_then(|note| note.lines().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    fn save(&self) -> Result<(), Refusal> {
        let bytes = serde_json::to_vec(&self.kept).map_err(|e| Refusal::State(e.to_string()))?;
        crate::files::write_private(&self.path, &bytes).map_err(|e| Refusal::State(e.to_string()))
    }

    /// Runs every check on an order, at unix time `now`. The token's id is kept as seen as
    /// soon as its signature, agent and expiry pass, so it never passes twice; the checkpoint
    /// and the restart are kept once everything passed.
    pub fn check(&mut self, order: &proto::Action, now: i64) -> Result<Approved, Refusal> {
        let (Some(key), Some(origin)) = (self.key, self.origin.clone()) else {
            return Err(Refusal::NoKey);
        };
        // 1. Signature (and the encoding).
        let eat = Eat::verify(&order.eat, &order.signature, &key)?;
        let key_id = tlog::key_id(&origin, &key);
        if eat.key_id != key_id {
            return Err(Refusal::WrongKey(hex(&eat.key_id)));
        }
        // 2. This agent.
        if eat.agent_id != self.agent_id {
            return Err(Refusal::OtherAgent(
                uuid::Uuid::from_bytes(eat.agent_id).to_string(),
            ));
        }
        // 3. Expiry.
        if now > eat.expires_at_s {
            return Err(Refusal::Expired(eat.expires_at_s));
        }
        if eat.expires_at_s - eat.issued_at_s > eat::MAX_LIFETIME_S
            || eat.issued_at_s > now + SKEW_S
        {
            return Err(Refusal::Lifetime);
        }
        // 4. Never seen.
        let id = eat.eat_id_text();
        if self.kept.seen.contains_key(&id) {
            return Err(Refusal::Replayed(id));
        }
        self.kept.seen.retain(|_, expires| *expires + SKEW_S >= now);
        self.kept.seen.insert(id.clone(), eat.expires_at_s);
        self.save()?;
        // 5. In the log, under a checkpoint consistent with the last one accepted.
        let head = self.logged(order, &eat, &origin, &key)?;
        // 6. The allow-list.
        let argv = self.allowed(&eat)?;
        // 7. The budget.
        let app = format!("{}:{}", eat.app_type, eat.identifier);
        let recent = self.kept.restarts.entry(app.clone()).or_default();
        recent.retain(|t| *t > now - 3600);
        if recent.len() as u32 >= self.policy.budget_per_hour {
            let budget = self.policy.budget_per_hour;
            // The checkpoint was verified: keep it even though nothing runs.
            self.kept.checkpoint = Some(head);
            self.save()?;
            return Err(Refusal::Budget { app, budget });
        }
        recent.push(now);
        self.kept.checkpoint = Some(head);
        self.save()?;
        let compose_containers = (eat.app_type == "compose"
            && !COMPOSE_PLUGIN.iter().any(|p| Path::new(p).exists()))
        .then(|| {
            let (project, service) = eat.identifier.split_once("::").unwrap_or_default();
            (project.to_owned(), service.to_owned())
        });
        Ok(Approved {
            eat,
            argv,
            compose_containers,
        })
    }

    /// Checks the order's log entry and checkpoint; the checkpoint's note to keep.
    fn logged(
        &self,
        order: &proto::Action,
        eat: &Eat,
        origin: &str,
        key: &VerifyingKey,
    ) -> Result<String, Refusal> {
        let not_logged = |why: &str| Refusal::NotLogged(why.to_owned());
        let entry = order
            .entry
            .as_ref()
            .ok_or_else(|| not_logged("the order carries no log entry"))?;
        if entry.action != eat::INTENT_ACTION || entry.subject != eat.eat_id_text() {
            return Err(not_logged("the entry is not this token's intent"));
        }
        let expected = format!("intent sha256:{}", eat.intent_sha256());
        if !entry.detail.starts_with(&expected) {
            return Err(not_logged("the entry names another intent"));
        }
        let leaf = tlog::leaf_hash(&tlog::audit_leaf(
            eat.log_index,
            entry.ts_ms,
            &entry.actor,
            &entry.action,
            &entry.subject,
            &entry.detail,
        ));
        let head = Checkpoint::verify(&order.checkpoint, origin, key)
            .map_err(|e| not_logged(&format!("the checkpoint: {e}")))?;
        let proof = hashes(&order.inclusion).map_err(|e| not_logged(&e))?;
        tlog::verify_inclusion(&leaf, eat.log_index, head.size, &proof, &head.root)
            .map_err(|e| not_logged(&format!("the inclusion proof: {e}")))?;
        if let Some(last) = &self.kept.checkpoint {
            let last = Checkpoint::verify(last, origin, key)
                .map_err(|e| Refusal::Inconsistent(format!("the kept checkpoint: {e}")))?;
            if order.consistency_from != last.size {
                return Err(Refusal::Inconsistent(format!(
                    "the proof starts at {} entries, the last accepted checkpoint has {}",
                    order.consistency_from, last.size
                )));
            }
            let proof = hashes(&order.consistency).map_err(Refusal::Inconsistent)?;
            tlog::verify_consistency(last.size, head.size, &proof, &last.root, &head.root)
                .map_err(|e| Refusal::Inconsistent(e.to_string()))?;
        }
        Ok(order.checkpoint.clone())
    }

    /// The command the order runs, if this agent allows it.
    fn allowed(&self, eat: &Eat) -> Result<Vec<String>, Refusal> {
        if eat.action != "restart" {
            return Err(Refusal::NotAllowed(format!("the action {:?}", eat.action)));
        }
        proto::identifier::check(&eat.app_type, &eat.identifier).map_err(Refusal::Invalid)?;
        if !self.policy.allow.contains(&eat.app_type) {
            return Err(Refusal::NotAllowed(format!(
                "{} restarts (--allow-actions)",
                eat.app_type
            )));
        }
        let find = |paths: &[&str]| {
            paths
                .iter()
                .find(|p| Path::new(p).exists())
                .map(|p| (*p).to_owned())
                .ok_or_else(|| Refusal::Invalid(format!("{} is not installed here", paths[0])))
        };
        let mut argv = match eat.app_type.as_str() {
            "systemd" => vec![
                find(SYSTEMCTL)?,
                "restart".into(),
                "--".into(),
                eat.identifier.clone(),
            ],
            "docker" => vec![
                find(DOCKER)?,
                "restart".into(),
                "--".into(),
                eat.identifier.clone(),
            ],
            "compose" => {
                let (project, service) = eat
                    .identifier
                    .split_once("::")
                    .ok_or_else(|| Refusal::Invalid("not project::service".into()))?;
                if COMPOSE_PLUGIN.iter().any(|p| Path::new(p).exists()) {
                    vec![
                        find(DOCKER)?,
                        "compose".into(),
                        "-p".into(),
                        project.into(),
                        "restart".into(),
                        "--".into(),
                        service.into(),
                    ]
                } else {
                    // Without the plugin (Compose v1 needs the project's files): the service's
                    // containers, by name, as `docker compose restart` would.
                    vec![find(DOCKER)?, "restart".into(), "--".into()]
                }
            }
            "process" => {
                if eat.command.is_empty() || !self.policy.commands.contains(&eat.command) {
                    return Err(Refusal::NotAllowed(format!(
                        "the command {:?} (not among --allow-command)",
                        eat.command.join(" ")
                    )));
                }
                eat.command.clone()
            }
            other => return Err(Refusal::Invalid(format!("unknown app type {other:?}"))),
        };
        if !argv[0].starts_with('/') {
            return Err(Refusal::Invalid(
                "the command is not an absolute path".into(),
            ));
        }
        if self.policy.sudo && eat.app_type != "process" {
            argv.splice(0..0, [SUDO.to_owned(), "-n".to_owned()]);
        }
        Ok(argv)
    }

    /// What runs approved orders (apart from the guard, so a run does not hold it).
    pub fn runner(&self) -> Runner {
        Runner {
            timeout: self.policy.timeout,
            run_as: self.policy.run_as.clone(),
            docker_socket: self.policy.docker_socket.clone(),
        }
    }
}

/// Runs approved orders: no shell, a clean environment, the timeout, the run-as user.
#[derive(Debug, Clone)]
pub struct Runner {
    timeout: Duration,
    run_as: Option<String>,
    docker_socket: PathBuf,
}

impl Runner {
    pub async fn run(&self, approved: &Approved) -> Outcome {
        let mut argv = approved.argv.clone();
        if let Some((project, service)) = &approved.compose_containers {
            let listed = crate::docker::DockerClient::new(self.docker_socket.clone())
                .list()
                .await;
            let names: Vec<String> = match listed {
                Ok(list) => list
                    .into_iter()
                    .filter(|c| {
                        c.labels.get("com.docker.compose.project") == Some(project)
                            && c.labels.get("com.docker.compose.service") == Some(service)
                    })
                    .map(|c| c.name)
                    .filter(|n| proto::identifier::check("docker", n).is_ok())
                    .collect(),
                Err(e) => {
                    return Outcome {
                        exit_code: -1,
                        error: format!("cannot list the Compose service's containers: {e}"),
                        ..Outcome::default()
                    };
                }
            };
            if names.is_empty() {
                return Outcome {
                    exit_code: -1,
                    error: format!("no container of Compose service {project}::{service}"),
                    ..Outcome::default()
                };
            }
            argv.extend(names);
        }
        run_command(&argv, self.timeout, self.run_as.as_deref()).await
    }
}

fn hashes(parts: &[Vec<u8>]) -> Result<Vec<Hash>, String> {
    parts
        .iter()
        .map(|p| {
            p.as_slice()
                .try_into()
                .map_err(|_| "a proof hash is not 32 bytes".to_owned())
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `argv` with nothing inherited but a minimal `PATH`, stdin closed, in `/`, killed
/// after `timeout`; output cut at [`MAX_OUTPUT`] bytes each.
pub async fn run_command(argv: &[String], timeout: Duration, run_as: Option<&str>) -> Outcome {
    use tokio::io::AsyncReadExt;
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(user) = run_as {
        match lookup_user(user) {
            Some((uid, gid)) => {
                command.uid(uid).gid(gid);
            }
            None => {
                return Outcome {
                    exit_code: -1,
                    error: format!("the user {user:?} (--action-user) does not exist"),
                    ..Outcome::default()
                };
            }
        }
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                exit_code: -1,
                error: format!("cannot start {}: {e}", argv[0]),
                ..Outcome::default()
            };
        }
    };
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let read = |pipe: Option<tokio::process::ChildStdout>| async move {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = (&mut p).take(MAX_OUTPUT as u64).read_to_end(&mut buf).await;
            // Whatever is past the limit is drained, so the command never blocks on a pipe.
            let _ = tokio::io::copy(&mut p, &mut tokio::io::sink()).await;
        }
        String::from_utf8_lossy(&buf).into_owned()
    };
    let read_err = |pipe: Option<tokio::process::ChildStderr>| async move {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = (&mut p).take(MAX_OUTPUT as u64).read_to_end(&mut buf).await;
            let _ = tokio::io::copy(&mut p, &mut tokio::io::sink()).await;
        }
        String::from_utf8_lossy(&buf).into_owned()
    };
    let work = async {
        let (stdout, stderr) = tokio::join!(read(out.take()), read_err(err.take()));
        let status = child.wait().await;
        (stdout, stderr, status)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((stdout, stderr, Ok(status))) => Outcome {
            exit_code: status.code().unwrap_or(-1),
            error: if status.success() {
                String::new()
            } else if status.code().is_none() {
                "killed by a signal".into()
            } else {
                String::new()
            },
            stdout,
            stderr,
        },
        Ok((stdout, stderr, Err(e))) => Outcome {
            exit_code: -1,
            stdout,
            stderr,
            error: format!("cannot wait for {}: {e}", argv[0]),
        },
        Err(_) => Outcome {
            exit_code: -1,
            error: format!("timed out after {} s and was killed", timeout.as_secs()),
            ..Outcome::default()
        },
    }
}

/// A user's uid and gid, from /etc/passwd.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// The pinned server key as kept in the identity file (base64).
pub fn decode_key(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = BASE64.decode(text).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}
