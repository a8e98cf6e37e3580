//! Command-line flags and environment variables of `vantage`.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Vantage: monitor and repair a fleet of Linux hosts.
#[derive(Debug, Parser)]
#[command(name = "vantage", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings of the server and of the admin commands.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// `embedded` monitors this machine; `server` also takes remote agents.
    #[arg(long, env = "VANTAGE_MODE", value_enum, default_value_t = Mode::Embedded, global = true)]
    pub mode: Mode,

    /// Address of the dashboard and REST API. Use port 0 to pick a free port.
    #[arg(
        long,
        env = "VANTAGE_HTTP_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub http_listen: SocketAddr,

    /// Directory for the SQLite store and other state; created when missing.
    #[arg(
        long,
        env = "VANTAGE_DATA_DIR",
        default_value = "./vantage-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`; default: SQLite file in the data dir.
    #[arg(
        long,
        env = "VANTAGE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// File holding the database URL, for secrets mounted as files.
    #[arg(
        long,
        env = "VANTAGE_DATABASE_URL_FILE",
        global = true,
        conflicts_with = "database_url"
    )]
    pub database_url_file: Option<PathBuf>,

    /// How often the local collector reads host figures, e.g. `10s`, `1m`, `500ms`: the same
    /// setting, by the same name, as the agent's. `--collect-interval` is the older spelling.
    #[arg(long, alias = "collect-interval", env = "VANTAGE_HOST_INTERVAL", value_parser = parse_duration, global = true)]
    host_interval: Option<Duration>,

    /// The older environment name of `--host-interval`.
    #[arg(long = "legacy-collect-interval", hide = true, env = "VANTAGE_COLLECT_INTERVAL", value_parser = parse_duration, global = true)]
    legacy_collect_interval: Option<Duration>,

    /// Where this host's /proc is mounted (set when Vantage runs in a container).
    #[arg(
        long,
        env = "VANTAGE_PROC_ROOT",
        default_value = "/proc",
        global = true
    )]
    pub proc_root: PathBuf,

    /// gRPC/TLS address agents stream to (server mode only).
    #[arg(
        long,
        env = "VANTAGE_GRPC_LISTEN",
        default_value = "127.0.0.1:8443",
        global = true
    )]
    pub grpc_listen: SocketAddr,

    /// PEM certificate (chain) for the gRPC listener; without it a self-signed one is created
    /// in the data dir and agents pin its key.
    #[arg(
        long,
        env = "VANTAGE_GRPC_TLS_CERT",
        requires = "grpc_tls_key",
        global = true
    )]
    pub grpc_tls_cert: Option<PathBuf>,

    /// PEM private key of `--grpc-tls-cert`.
    #[arg(
        long,
        env = "VANTAGE_GRPC_TLS_KEY",
        requires = "grpc_tls_cert",
        global = true
    )]
    pub grpc_tls_key: Option<PathBuf>,

    /// Address agents use to reach the gRPC listener, `grpcs://HOST[:PORT]` (port 443 unless
    /// given); inferred from the request's Host when unset.
    #[arg(long, env = "VANTAGE_GRPC_PUBLIC_URL", global = true)]
    pub grpc_public_url: Option<String>,

    /// Directory of the agent downloads (`vantage-agent-linux-x86_64`, `-aarch64`,
    /// `vantage-agent-image.tar`). Default: `agent-downloads` beside the binary's build
    /// directory (where `scripts/run` builds them) when that exists, else `<data-dir>/downloads`.
    #[arg(long, env = "VANTAGE_AGENT_DOWNLOADS", global = true)]
    pub agent_downloads: Option<PathBuf>,

    /// Serve the dashboard's WASM bundle from `DIR/pkg` (every file there: `frontend.js`,
    /// `frontend_bg.wasm`, the chunks and their loader and manifest, with their `.br` forms)
    /// instead of the one built into the binary. `scripts/run` passes `target/site`, so the
    /// bundle and the server build side by side and neither waits for the other.
    #[arg(long, value_name = "DIR", global = true)]
    pub site_dir: Option<PathBuf>,

    /// A registry image for the docker and Kubernetes snippets (e.g.
    /// `registry.example/vantage-agent:0.1.0`). Unset: they load the image this server serves
    /// at /download/vantage-agent-image.tar first.
    #[arg(long, env = "VANTAGE_AGENT_IMAGE", global = true)]
    pub agent_image: Option<String>,

    /// Events per second each agent may send before being told to back off.
    #[arg(
        long,
        env = "VANTAGE_AGENT_RATE_LIMIT_PER_SECOND",
        default_value_t = 1000,
        global = true
    )]
    pub agent_rate_limit_per_second: u32,

    /// Seconds of silence after which an agent counts as disconnected.
    #[arg(
        long,
        env = "VANTAGE_AGENT_STALE_THRESHOLD_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub agent_stale_threshold_seconds: u64,

    /// Most open connections per listener (HTTP, gRPC); past it new ones are closed at once.
    /// Lowered to fit the open-file limit, which is raised to its hard limit at start.
    #[arg(
        long,
        env = "VANTAGE_MAX_CONNECTIONS",
        default_value_t = 4096,
        global = true
    )]
    pub max_connections: usize,

    /// Reverse proxies whose `X-Forwarded-For`, `-Host` and `-Proto` headers are believed,
    /// as addresses or CIDR ranges, comma-separated (`127.0.0.1,10.0.0.0/8`). Default: none,
    /// so a client cannot choose the address the login throttle sees or the host snippets name.
    #[arg(
        long,
        env = "VANTAGE_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<crate::net::Cidr>,

    /// How long raw host samples are kept, e.g. `7d`.
    #[arg(long, env = "VANTAGE_RETENTION_RAW", default_value = "7d", value_parser = parse_duration, global = true)]
    pub retention_raw: Duration,

    /// How long 1-minute rollups are kept.
    #[arg(long, env = "VANTAGE_RETENTION_1M", default_value = "30d", value_parser = parse_duration, global = true)]
    pub retention_1m: Duration,

    /// How long 1-hour rollups are kept.
    #[arg(long, env = "VANTAGE_RETENTION_1H", default_value = "365d", value_parser = parse_duration, global = true)]
    pub retention_1h: Duration,

    /// Let notifications reach loopback addresses (127.0.0.0/8, ::1), for a receiver on
    /// this machine. Link-local and cloud metadata addresses are refused regardless.
    #[arg(long, env = "VANTAGE_NOTIFY_ALLOW_LOOPBACK", global = true)]
    pub notify_allow_loopback: bool,

    /// How often alerting looks for silent agents and due reminders, e.g. `30s`.
    #[arg(long, env = "VANTAGE_ALERT_SWEEP", default_value = "30s", value_parser = parse_duration, global = true)]
    pub alert_sweep: Duration,

    /// How often each tracked app's observed state is checked against its inventory, e.g.
    /// `60s`; a mismatch counts after 3 checks in a row (4 when unknown).
    #[arg(long, env = "VANTAGE_APP_CHECK_INTERVAL", default_value = "60s", value_parser = parse_duration, global = true)]
    pub app_check_interval: Duration,

    /// The key that seals secrets at rest (notification channel settings). Created (mode
    /// 0600) when missing. Default: `<data-dir>/secret.key`; replicas sharing one PostgreSQL
    /// need the same file.
    #[arg(long, env = "VANTAGE_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,

    /// The dashboard's address as people reach it (`https://vantage.example`), for links in
    /// notifications.
    #[arg(long, env = "VANTAGE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Log filter, e.g. `info` or `server=debug,info`.
    #[arg(long, env = "VANTAGE_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// How `vantage` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Dashboard, API and collectors for this machine only.
    Embedded,
    /// Embedded plus the gRPC/TLS ingest for remote agents.
    Server,
}

/// One-off commands that work on the configured store and exit.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Account administration for automation and bootstrap.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Checks the audit log offline: every entry in order, each giving its leaf, and every
    /// signed checkpoint (those the store keeps, and `--checkpoint`) agreeing with the
    /// entries. Exits non-zero naming the first entry edited, removed or reordered, or the
    /// checkpoint the log forked from. Needs no secret.
    VerifyLog {
        /// A checkpoint saved earlier: its note, or the JSON of
        /// `GET /api/v1/transparency/checkpoint`.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The log's Ed25519 public key, base64 (default: the one the store names; give it
        /// to not trust the store for it).
        #[arg(long, value_name = "BASE64")]
        public_key: Option<String>,
    },
}

/// `vantage admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Creates a user; the password is read from standard input.
    CreateUser {
        /// Login name (letters, digits, `.`, `_`, `-`; at most 64).
        #[arg(long)]
        username: String,
        /// Read the password from standard input (the only way, so it stays out of `ps`).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// What the user may do: viewer (read only), operator (apps, restarts, silences,
        /// alert rules) or admin (also users, agents, tokens, channels).
        #[arg(long, default_value = "admin", value_parser = parse_role)]
        role: app::Role,
    },
    /// Creates an API token for a user and prints only the token.
    CreateToken {
        /// The owner of the token.
        #[arg(long)]
        username: String,
        /// A name to recognise the token by.
        #[arg(long)]
        name: String,
        /// A narrower role than the user's for the token (default: the user's).
        #[arg(long, value_parser = parse_role)]
        role: Option<app::Role>,
    },
}

fn parse_role(text: &str) -> Result<app::Role, String> {
    text.parse()
}

impl Config {
    /// The store URL: the flag, the file, or SQLite in the data dir.
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        if let Some(path) = &self.database_url_file {
            let url = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read database URL file {}: {e}", path.display())
            })?;
            return Ok(url.trim().to_owned());
        }
        Ok(format!(
            "sqlite://{}",
            self.data_dir.join("vantage.db").display()
        ))
    }

    /// Where the agent downloads are: `--agent-downloads`, else `target/agent-downloads`
    /// when this binary runs from `target/<profile>/` and that directory exists (what
    /// `scripts/run` builds), else `<data-dir>/downloads`.
    pub fn agent_downloads(&self) -> PathBuf {
        if let Some(dir) = &self.agent_downloads {
            return dir.clone();
        }
        let beside_build = std::env::current_exe().ok().and_then(|exe| {
            let dir = exe.parent()?.parent()?.join("agent-downloads");
            dir.is_dir().then_some(dir)
        });
        beside_build.unwrap_or_else(|| self.data_dir.join("downloads"))
    }

    /// `--host-interval` (or its older names), 10 s by default.
    pub fn host_interval(&self) -> Duration {
        self.host_interval
            .or(self.legacy_collect_interval)
            .unwrap_or(Duration::from_secs(10))
    }

    /// Time after which a silent collection loop makes `/healthz` fail: 3 intervals, at least 30 s.
    pub fn health_deadline(&self) -> Duration {
        (self.host_interval() * 3).max(Duration::from_secs(30))
    }
}

/// The database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Parses `10s`, `500ms`, `2m`, `1h`, `7d` or a plain number of seconds; at least 100 ms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = agent::units::parse_duration(text).ok_or_else(|| {
        format!("{text:?} is not a duration such as 10s or 500ms (units ms, s, m, h or d)")
    })?;
    if duration < Duration::from_millis(100) {
        return Err(format!(
            "{text:?} is too short; the shortest interval is 100ms"
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("fast").is_err());
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("10w").is_err());
        assert!(parse_duration("0").is_err());
    }

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact_url("postgres://vantage:s3cret@db:5432/v"),
            "postgres://vantage:***@db:5432/v"
        );
        assert_eq!(
            redact_url("sqlite://./data/vantage.db"),
            "sqlite://./data/vantage.db"
        );
    }

    #[test]
    fn health_deadline_is_at_least_30s() {
        let cli = Cli::parse_from(["vantage", "--collect-interval", "1s"]);
        assert_eq!(cli.config.health_deadline(), Duration::from_secs(30));
        let cli = Cli::parse_from(["vantage", "--host-interval", "20s"]);
        assert_eq!(cli.config.health_deadline(), Duration::from_secs(60));
        assert_eq!(cli.config.host_interval(), Duration::from_secs(20));
        let cli = Cli::parse_from(["vantage"]);
        assert_eq!(cli.config.host_interval(), Duration::from_secs(10));
    }
}
