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
    /// The server's gRPC address, `grpcs://HOST[:PORT]` (port 443 unless given).
    #[arg(long, env = "VANTAGE_SERVER")]
    server: Option<String>,

    /// One-time enrollment token (`vtg_enr_…`), needed for the first start only.
    #[arg(long, env = "VANTAGE_ENROLLMENT_TOKEN", hide_env_values = true)]
    enrollment_token: Option<String>,

    /// Name shown on the dashboard, at most 64 characters; the hostname by default.
    #[arg(long, env = "VANTAGE_LABEL")]
    label: Option<String>,

    /// SHA-256 pin of the server's public key (`sha256:…`), for a self-signed server.
    #[arg(long, env = "VANTAGE_SERVER_PIN")]
    server_pin: Option<String>,

    /// What runs on this host; detected when not given.
    #[arg(long, env = "VANTAGE_RUNTIME", value_enum)]
    runtime: Option<Runtime>,

    /// Where the identity (and later the spool) is kept.
    #[arg(
        long,
        env = "VANTAGE_STATE_DIR",
        default_value = "/var/lib/vantage-agent"
    )]
    state_dir: PathBuf,

    /// Skip TLS verification entirely. Development only: the connection can be intercepted.
    #[arg(long, env = "VANTAGE_GRPC_INSECURE_SKIP_TLS_VERIFY")]
    grpc_insecure_skip_tls_verify: bool,

    /// Where the host's /proc is mounted (set when running in a container).
    #[arg(long, env = "VANTAGE_PROC_ROOT", default_value = "/proc")]
    proc_root: PathBuf,

    /// How often host metrics are sent, e.g. `10s`.
    #[arg(long, env = "VANTAGE_HOST_INTERVAL", default_value = "10s", value_parser = parse_seconds)]
    host_interval: Duration,

    /// Log filter, e.g. `info` or `debug`.
    #[arg(long, env = "VANTAGE_LOG", default_value = "info")]
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

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds = text.trim().trim_end_matches('s');
    match seconds.parse::<u64>() {
        Ok(s) if s >= 1 => Ok(Duration::from_secs(s)),
        _ => Err(format!(
            "{text:?} is not a whole number of seconds such as 10s"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = agent::run::RunConfig {
        server: cli.server,
        enrollment_token: cli.enrollment_token,
        label: cli.label,
        server_pin: cli.server_pin,
        runtime: cli
            .runtime
            .unwrap_or_else(Runtime::detect)
            .name()
            .to_owned(),
        state_dir: cli.state_dir,
        insecure_skip_tls_verify: cli.grpc_insecure_skip_tls_verify,
        proc_root: cli.proc_root,
        host_interval: cli.host_interval,
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
    match runtime.block_on(agent::run::run(config, stop_signal())) {
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
