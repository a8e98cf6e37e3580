//! The `vantage` binary: parse flags, then serve or run an admin command.
// One measured exception (below): everything else stays free of unsafe code.
#![deny(unsafe_code)]

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use server::config::{AdminCommand, Cli, Command, Config};
use server::live::LiveState;
use server::service::Vantage;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vantage: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None => serve(cli.config).await,
            Some(Command::Admin(command)) => admin(cli.config, command).await,
            Some(Command::VerifyLog {
                checkpoint,
                public_key,
            }) => verify_log(cli.config, checkpoint, public_key).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vantage: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        mode = ?config.mode,
        http_listen = %config.http_listen,
        data_dir = %config.data_dir.display(),
        host_interval = ?config.host_interval(),
        "starting vantage {}",
        env!("CARGO_PKG_VERSION")
    );
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.http_listen))?;
    let grpc_listener = match config.mode {
        server::config::Mode::Server => Some(
            tokio::net::TcpListener::bind(config.grpc_listen)
                .await
                .with_context(|| format!("cannot listen on {} for gRPC", config.grpc_listen))?,
        ),
        server::config::Mode::Embedded => None,
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    server::run(config, listener, grpc_listener, shutdown).await
}

async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
    }
    shutdown.cancel();
}

async fn admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let vantage = Vantage::new(
        store.clone(),
        std::sync::Arc::new(LiveState::new()),
        config.retention_raw,
    );
    // What the commands do goes in the audit log, as from the dashboard.
    let key = server::open_seal_key(&config)?;
    vantage.set_log(server::transparency::Log::open(store.clone(), &key).await?);
    let result = match command {
        AdminCommand::CreateUser { username, role, .. } => {
            let password = read_password()?;
            vantage
                .create_user(&username, &password, role)
                .await
                .map(|_| eprintln!("created user {username:?}"))
        }
        AdminCommand::CreateToken {
            username,
            name,
            role,
        } => {
            use app::backend::Backend;
            match vantage.acting_as(&username).await {
                Ok(me) => vantage
                    .create_api_token(&me, &name, role)
                    .await
                    .map(|t| println!("{}", t.token)),
                Err(e) => Err(e),
            }
        }
    };
    store.close().await;
    result.map_err(|e| anyhow::anyhow!(e.message()))
}

async fn verify_log(
    config: Config,
    checkpoint: Option<std::path::PathBuf>,
    public_key: Option<String>,
) -> anyhow::Result<()> {
    use base64::Engine as _;
    let saved = match &checkpoint {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the checkpoint {}", path.display()))?;
            // The API's JSON, or the note itself.
            Some(match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) => v["note"]
                    .as_str()
                    .with_context(|| format!("{} has no \"note\"", path.display()))?
                    .to_owned(),
                Err(_) => text,
            })
        }
        None => None,
    };
    let key = match public_key {
        Some(text) => {
            let bytes: [u8; 32] = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .context("--public-key is not a base64 Ed25519 public key (32 bytes)")?;
            Some(
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .context("--public-key is not an Ed25519 public key")?,
            )
        }
        None => None,
    };
    let url = config.database_url()?;
    if let Some(path) = url.strip_prefix("sqlite://")
        && !std::path::Path::new(path.split('?').next().unwrap_or(path)).exists()
    {
        anyhow::bail!("there is no database at {path}");
    }
    let store = server::open_store(&config).await?;
    let result = server::transparency::verify_log(&store, saved.as_deref(), key).await;
    store.close().await;
    let verified = result?;
    println!(
        "the audit log {} verifies: {} entries, {} signed checkpoints agree with them",
        verified.origin, verified.entries, verified.checkpoints
    );
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}

/// glibc gives each thread that allocates its own arena (up to eight per core), and memory
/// freed in one arena is not reused by another; and free memory inside a heap goes back to
/// the system only at its top. Allocations of 1 MiB and more are mapped on their own, so
/// they go back to the system when freed. With a thousand agent streams moving between worker threads
/// both cost tens of MB (`bench/ingest.sh`: the 24 h backfill storm peaked about 15 MB
/// higher without the arena limit). So: two arenas, and every 10 s a trim that returns the
/// free pages of every heap.
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter; called before any thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
            // A fixed threshold also turns off glibc's dynamic one, which after the first
            // argon2 hash (19 MiB) would serve every later one from the heap, where freed
            // blocks stay: 100 concurrent sign-ins then peaked at 250 MB instead of 77 MB.
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
        let trimmer = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(10));
                    // SAFETY: malloc_trim takes the allocator's own locks; it is safe to call
                    // from any thread at any time.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                }
            });
        if let Err(e) = trimmer {
            eprintln!("vantage: cannot start the memory trimmer: {e}");
        }
    }
}
