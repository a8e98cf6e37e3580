//! `vantage-agent`: enrolls once with a one-time token, then streams this host's figures to a
//! Vantage server over an authenticated TLS stream.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The Vantage agent: streams this host's metrics to a Vantage server.
#[derive(Parser)]
#[command(name = "vantage-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: RunArgs,
}

/// Without a command the agent runs in the foreground.
#[derive(clap::Subcommand)]
enum Command {
    /// Enrolls now (if needed) and installs the agent as a service (systemd, launchd).
    Install {
        /// A per-user service (`systemctl --user`, ~/Library/LaunchAgents) instead of a system one.
        #[arg(long)]
        user: bool,
    },
    /// Stops and removes the service; the identity stays in the state dir unless --purge.
    Uninstall {
        /// A per-user service.
        #[arg(long)]
        user: bool,
        /// Also delete the state dir (the agent must then be enrolled again).
        #[arg(long)]
        purge: bool,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The server's gRPC address, `grpcs://HOST[:PORT]` (port 443 unless given).
    #[arg(long, env = "VANTAGE_SERVER", global = true)]
    server: Option<String>,

    /// One-time enrollment token (`vtg_enr_…`), needed for the first start only.
    #[arg(
        long,
        env = "VANTAGE_ENROLLMENT_TOKEN",
        hide_env_values = true,
        global = true
    )]
    enrollment_token: Option<String>,

    /// Name shown on the dashboard, at most 64 characters; the hostname by default.
    #[arg(long, env = "VANTAGE_LABEL", global = true)]
    label: Option<String>,

    /// SHA-256 pin of the server's public key (`sha256:…`), for a self-signed server.
    #[arg(long, env = "VANTAGE_SERVER_PIN", global = true)]
    server_pin: Option<String>,

    /// What runs on this host; detected when not given.
    #[arg(long, env = "VANTAGE_RUNTIME", value_enum, global = true)]
    runtime: Option<Runtime>,

    /// Where the identity (and later the spool) is kept.
    #[arg(
        long,
        env = "VANTAGE_STATE_DIR",
        default_value = "/var/lib/vantage-agent",
        global = true
    )]
    state_dir: PathBuf,

    /// Skip TLS verification entirely. Development only: the connection can be intercepted.
    #[arg(long, env = "VANTAGE_GRPC_INSECURE_SKIP_TLS_VERIFY", global = true)]
    grpc_insecure_skip_tls_verify: bool,

    /// Where the host's /proc is mounted (set when running in a container).
    #[arg(
        long,
        env = "VANTAGE_PROC_ROOT",
        default_value = "/proc",
        global = true
    )]
    proc_root: PathBuf,

    /// How often host metrics are sent, e.g. `10s` (`500ms` and up are accepted).
    #[arg(long, env = "VANTAGE_HOST_INTERVAL", default_value = "10s", value_parser = parse_interval, global = true)]
    host_interval: Duration,

    /// Where the host's root file system is mounted read-only (containers), for disk figures.
    #[arg(long, env = "VANTAGE_HOST_ROOT", global = true)]
    host_root: Option<PathBuf>,

    /// The Docker Engine API socket; containers are not collected when it is absent.
    #[arg(long, env = "VANTAGE_DOCKER_SOCKET", default_value = agent::docker::DEFAULT_SOCKET, global = true)]
    docker_socket: PathBuf,

    /// Largest on-disk spool of unsent events, e.g. `128MB`; past it the oldest are dropped.
    #[arg(long, env = "VANTAGE_SPOOL_MAX_BYTES", default_value = "128MB", value_parser = parse_bytes, global = true)]
    spool_max_bytes: u64,

    /// Oldest unsent event kept, e.g. `24h`.
    #[arg(long, env = "VANTAGE_SPOOL_MAX_AGE", default_value = "24h", value_parser = parse_age, global = true)]
    spool_max_age: Duration,

    /// A TLS endpoint (`host:port`) or PEM file whose certificate to watch; repeat or separate
    /// with commas.
    #[arg(long = "cert-target", env = "VANTAGE_CERT_TARGETS", value_delimiter = ',', value_parser = parse_cert_target, global = true)]
    cert_targets: Vec<agent::certs::CertTarget>,

    /// How often certificates are scanned, e.g. `60s`.
    #[arg(long, env = "VANTAGE_CERT_INTERVAL", default_value = "60s", value_parser = parse_scan_interval, global = true)]
    cert_interval: Duration,

    /// Serve the agent's own Prometheus metrics at `/metrics` and a liveness check at
    /// `/healthz` on this address, e.g. `127.0.0.1:9101`. Off by default.
    #[arg(long, env = "VANTAGE_METRICS_ADDR", global = true)]
    metrics_addr: Option<std::net::SocketAddr>,

    /// How often a full inventory (systemd units, containers, Compose services, executables)
    /// is sent even when nothing changed, e.g. `6h`.
    #[arg(long, env = "VANTAGE_INVENTORY_INTERVAL", default_value = "6h", value_parser = parse_scan_interval, global = true)]
    inventory_interval: Duration,

    /// How often the inventory is taken to see whether it changed (sent only then), e.g. `30s`.
    #[arg(long, env = "VANTAGE_INVENTORY_CHECK_INTERVAL", default_value = "30s", value_parser = parse_scan_interval, global = true)]
    inventory_check_interval: Duration,

    /// Collect and send no inventory (what runs on this host): its apps then show as unknown.
    #[arg(long, env = "VANTAGE_NO_INVENTORY", global = true)]
    no_inventory: bool,

    /// App types this agent restarts when the server sends a signed, logged order:
    /// systemd, docker, compose, process (comma-separated). None by default.
    #[arg(long = "allow-actions", env = "VANTAGE_ALLOW_ACTIONS", value_delimiter = ',', value_parser = parse_action_kind, global = true)]
    allow_actions: Vec<String>,

    /// A command a process app may run to restart (absolute path, then arguments, split on
    /// spaces), exactly as the app names it. Repeat for more.
    #[arg(long = "allow-command", env = "VANTAGE_ALLOW_COMMANDS", value_delimiter = ';', value_parser = parse_allowed_command, global = true)]
    allow_commands: Vec<Vec<String>>,

    /// Restarts per app per hour; past it the agent refuses (and the server shows it).
    #[arg(
        long,
        env = "VANTAGE_ACTION_BUDGET",
        default_value_t = 3,
        global = true
    )]
    action_budget: u32,

    /// How long a restart may run before it is killed, e.g. `60s`.
    #[arg(long, env = "VANTAGE_ACTION_TIMEOUT", default_value = "60s", value_parser = parse_scan_interval, global = true)]
    action_timeout: Duration,

    /// Run restarts as this user (the agent must run as root to switch).
    #[arg(long, env = "VANTAGE_ACTION_USER", global = true)]
    action_user: Option<String>,

    /// Run systemctl and docker through `sudo -n` (for a sudoers rule instead of polkit).
    #[arg(long, env = "VANTAGE_ACTION_SUDO", global = true)]
    action_sudo: bool,

    /// Send one host sample and one inventory, wait until the server acknowledged them, and
    /// exit (enrolling first when needed).
    #[arg(long, global = true)]
    once: bool,

    /// Log filter, e.g. `info` or `debug`.
    #[arg(long, env = "VANTAGE_LOG", default_value = "info", global = true)]
    log: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Runtime {
    Docker,
    Swarm,
    Kubernetes,
    Systemd,
    Bare,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Swarm => "swarm",
            Runtime::Kubernetes => "kubernetes",
            Runtime::Systemd => "systemd",
            Runtime::Bare => "bare",
        }
    }

    /// Best guess from the environment: a Kubernetes service account, a Docker socket, systemd.
    fn detect() -> Runtime {
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            Runtime::Kubernetes
        } else if std::path::Path::new("/var/run/docker.sock").exists() {
            Runtime::Docker
        } else if std::path::Path::new("/run/systemd/system").is_dir() {
            Runtime::Systemd
        } else {
            Runtime::Bare
        }
    }
}

fn parse_action_kind(text: &str) -> Result<String, String> {
    let kind = text.trim();
    if proto::identifier::KINDS.contains(&kind) {
        Ok(kind.to_owned())
    } else {
        Err(format!(
            "{kind:?} is not an app type; use systemd, docker, compose or process"
        ))
    }
}

fn parse_allowed_command(text: &str) -> Result<Vec<String>, String> {
    let argv: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    match argv.first() {
        None => Err("an allowed command is empty".into()),
        Some(path) => proto::identifier::check("process", path)
            .map(|()| argv.clone())
            .map_err(|m| format!("{text:?}: {m}")),
    }
}

fn parse_cert_target(text: &str) -> Result<agent::certs::CertTarget, String> {
    agent::certs::CertTarget::parse(text)
}

/// `512KB`, `128MB`, `2GB` (binary multiples), at least 64 KB.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let bytes = agent::units::parse_bytes(text)
        .ok_or_else(|| format!("{text:?} is not a size such as 128MB (KB, MB or GB)"))?;
    if bytes < 64 << 10 {
        return Err(format!(
            "{text:?} is too small; the spool needs at least 64KB"
        ));
    }
    Ok(bytes)
}

/// `30m`, `24h`, `7d` or seconds; at least a minute.
fn parse_age(text: &str) -> Result<Duration, String> {
    let age = agent::units::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not an age such as 24h (s, m, h or d)"))?;
    if age < Duration::from_secs(60) {
        return Err(format!(
            "{text:?} is too short; keep events at least a minute"
        ));
    }
    Ok(age)
}

/// `10s`, `10` (seconds) or `500ms`; at least 100 ms.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = agent::units::parse_duration(text).ok_or_else(|| {
        format!(
            "{text:?} is not an interval such as 10s or 500ms (a whole number of seconds or milliseconds)"
        )
    })?;
    if interval < Duration::from_millis(100) {
        return Err(format!("{text:?} is too short; use 100ms or more"));
    }
    Ok(interval)
}

/// As [`parse_interval`], at least a second.
fn parse_scan_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_interval(text)?;
    if interval < Duration::from_secs(1) {
        return Err(format!("{text:?} is too short; use 1s or more"));
    }
    Ok(interval)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = cli.run;
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = agent::run::RunConfig {
        server: args.server,
        enrollment_token: args.enrollment_token,
        label: args.label,
        server_pin: args.server_pin,
        runtime: args
            .runtime
            .unwrap_or_else(Runtime::detect)
            .name()
            .to_owned(),
        state_dir: args.state_dir,
        insecure_skip_tls_verify: args.grpc_insecure_skip_tls_verify,
        proc_root: args.proc_root,
        host_interval: args.host_interval,
        host_root: args.host_root,
        docker_socket: args.docker_socket.clone(),
        spool_max_bytes: args.spool_max_bytes,
        spool_max_age: args.spool_max_age,
        cert_targets: args.cert_targets,
        cert_interval: args.cert_interval,
        metrics_addr: args.metrics_addr,
        inventory_interval: args.inventory_interval,
        inventory_check_interval: args.inventory_check_interval,
        inventory: !args.no_inventory,
        actions: agent::actions::Policy {
            allow: args.allow_actions,
            commands: args.allow_commands,
            budget_per_hour: args.action_budget,
            timeout: args.action_timeout,
            run_as: args.action_user,
            sudo: args.action_sudo,
            docker_socket: args.docker_socket.clone(),
        },
        once: args.once,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vantage-agent: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        None => runtime.block_on(agent::run::run(config, stop_signal())),
        Some(Command::Install { user }) => runtime
            .block_on(install(config, user))
            .map(|()| agent::run::Outcome::Stopped),
        Some(Command::Uninstall { user, purge }) => {
            uninstall(&config, user, purge).map(|()| agent::run::Outcome::Stopped)
        }
    };
    match result {
        Ok(agent::run::Outcome::Stopped) => ExitCode::SUCCESS,
        Ok(agent::run::Outcome::Revoked(reason)) => {
            eprintln!(
                "vantage-agent: this agent was revoked by the server ({reason}); it will not reconnect. Enroll again with a new token."
            );
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("vantage-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Enrolls first, so a bad token or pin shows now rather than in a service log; the service
/// then runs from the saved identity and never sees the token.
async fn install(config: agent::run::RunConfig, user: bool) -> anyhow::Result<()> {
    let identity = agent::run::ensure_enrolled(&config).await?;
    let binary = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find this program's path: {e}"))?;
    let state_dir = std::path::absolute(&config.state_dir).unwrap_or(config.state_dir.clone());
    let mut command = vec![
        binary.display().to_string(),
        "--state-dir".into(),
        state_dir.display().to_string(),
    ];
    command.extend(["--runtime".into(), config.runtime.clone()]);
    command.extend([
        "--host-interval".into(),
        format!("{}ms", config.host_interval.as_millis()),
    ]);
    if config.proc_root != std::path::Path::new("/proc") {
        command.extend(["--proc-root".into(), config.proc_root.display().to_string()]);
    }
    if let Some(root) = &config.host_root {
        command.extend(["--host-root".into(), root.display().to_string()]);
    }
    if config.docker_socket != std::path::Path::new(agent::docker::DEFAULT_SOCKET) {
        command.extend([
            "--docker-socket".into(),
            config.docker_socket.display().to_string(),
        ]);
    }
    command.extend([
        "--spool-max-bytes".into(),
        config.spool_max_bytes.to_string(),
    ]);
    command.extend([
        "--spool-max-age".into(),
        format!("{}s", config.spool_max_age.as_secs()),
    ]);
    for target in &config.cert_targets {
        command.extend(["--cert-target".into(), target.to_string()]);
    }
    if !config.inventory {
        command.push("--no-inventory".into());
    }
    if !config.actions.allow.is_empty() {
        command.extend(["--allow-actions".into(), config.actions.allow.join(",")]);
    }
    for allowed in &config.actions.commands {
        command.extend(["--allow-command".into(), allowed.join(" ")]);
    }
    command.extend([
        "--action-budget".into(),
        config.actions.budget_per_hour.to_string(),
        "--inventory-interval".into(),
        format!("{}s", config.inventory_interval.as_secs()),
    ]);
    if let Some(user) = &config.actions.run_as {
        command.extend(["--action-user".into(), user.clone()]);
    }
    if config.actions.sudo {
        command.push("--action-sudo".into());
    }
    if config.insecure_skip_tls_verify {
        command.push("--grpc-insecure-skip-tls-verify".into());
    }
    let plan = agent::install::ServicePlan { user, command };
    let message = agent::install::install(&plan, agent::install::detect())?;
    println!(
        "vantage-agent {} is enrolled as {}; {message}",
        env!("CARGO_PKG_VERSION"),
        identity.agent_id
    );
    Ok(())
}

fn uninstall(config: &agent::run::RunConfig, user: bool, purge: bool) -> anyhow::Result<()> {
    let message = agent::install::uninstall(user, agent::install::detect())?;
    println!("{message}");
    if purge && config.state_dir.exists() {
        std::fs::remove_dir_all(&config.state_dir)
            .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", config.state_dir.display()))?;
        println!("removed {}", config.state_dir.display());
    }
    Ok(())
}

async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("stopping");
}
