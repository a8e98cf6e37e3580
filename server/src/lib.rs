//! `vantage`: the dashboard, REST API, store and local collection in one process.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod auth;
pub mod config;
pub mod downloads;
pub mod grpc;
pub mod health;
pub mod http;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod net;
pub mod seal;
pub mod service;
pub mod store;
pub mod streams;
pub mod totp;
pub mod transparency;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Mode};
use crate::live::LiveState;
use crate::service::Vantage;
use crate::store::Store;

/// Opens the store named by the configuration (creating the data dir) and migrates it.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    create_private_dir(&config.data_dir)?;
    let url = config.database_url()?;
    tracing::info!(database = %config::redact_url(&url), "opening store");
    let store = Store::open(&url).await?;
    if store.dialect() == store::Dialect::Sqlite {
        restrict_sqlite_files(&url);
    }
    Ok(store)
}

/// The key secrets are sealed with: `--secret-key-file`, or `secret.key` in the data dir
/// (made on first use).
pub fn open_seal_key(config: &Config) -> anyhow::Result<seal::SealKey> {
    let key_file = config
        .secret_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("secret.key"));
    seal::SealKey::load_or_create(&key_file)
}

fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    } else if !dir.is_dir() {
        anyhow::bail!("the data dir {} is not a directory", dir.display());
    }
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

/// The database holds password and token hashes: owner-only access.
fn restrict_sqlite_files(url: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
    }
}

/// Serves until `shutdown` is cancelled, then stops the workers and closes the store.
/// In server mode `grpc_listener` must be given: agents stream to it over TLS.
pub async fn run(
    config: Config,
    listener: TcpListener,
    grpc_listener: Option<TcpListener>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // In server mode the certificate is checked before anything else starts.
    let certificate = match config.mode {
        Mode::Server => {
            create_private_dir(&config.data_dir)?;
            Some(grpc::tls::load_or_create(&config)?)
        }
        Mode::Embedded => None,
    };
    let open_files = net::raise_open_file_limit();
    let listeners = if grpc_listener.is_some() { 2 } else { 1 };
    let cap = net::connection_cap(config.max_connections, open_files, listeners);
    let store = open_store(&config).await?;
    let live = Arc::new(LiveState::new());
    let vantage = Vantage::new(store.clone(), live, config.retention_raw).shared();
    let downloads = config.agent_downloads();
    tracing::info!(dir = %downloads.display(), "agent downloads");
    vantage.set_downloads(downloads::Downloads::new(
        downloads,
        config.agent_image.clone(),
    ));
    let key = Arc::new(open_seal_key(&config)?);
    vantage.set_log(transparency::Log::open(store.clone(), &key).await?);
    vantage.set_seal_key(key.clone());
    let (alerting, transitions) = alerts::Alerting::new(
        alerts::AlertSettings {
            sweep: config.alert_sweep,
            live_window: (config.host_interval() * 2).max(Duration::from_secs(10)),
            policy: alerts::outbound::OutboundPolicy {
                allow_loopback: config.notify_allow_loopback,
            },
            send_timeout: Duration::from_secs(10),
            base_url: config
                .public_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned()),
        },
        key,
    );
    vantage.start_alerting(alerting).await?;
    let transitions: workers::Transitions = Arc::new(tokio::sync::Mutex::new(transitions));
    let config = Arc::new(config);

    let health = vantage.health().clone();
    let retention = service::Retention {
        raw: config.retention_raw,
        minute: config.retention_1m,
        hour: config.retention_1h,
    };
    let mut workers = vec![
        tokio::spawn(workers::supervised(
            "local_collection",
            health.clone(),
            shutdown.clone(),
            {
                let (proc_root, interval) = (config.proc_root.clone(), config.host_interval());
                let (vantage, shutdown) = (vantage.clone(), shutdown.clone());
                move || {
                    workers::local_collection(
                        proc_root.clone(),
                        interval,
                        vantage.clone(),
                        shutdown.clone(),
                    )
                }
            },
        )),
        tokio::spawn(workers::supervised(
            "housekeeping",
            health.clone(),
            shutdown.clone(),
            {
                let (vantage, shutdown) = (vantage.clone(), shutdown.clone());
                move || workers::housekeeping(vantage.clone(), retention, shutdown.clone())
            },
        )),
        tokio::spawn(workers::supervised(
            "alert_recorder",
            health.clone(),
            shutdown.clone(),
            {
                let (vantage, shutdown) = (vantage.clone(), shutdown.clone());
                move || {
                    workers::alert_recorder(vantage.clone(), transitions.clone(), shutdown.clone())
                }
            },
        )),
        tokio::spawn(workers::supervised(
            "app_liveness",
            health.clone(),
            shutdown.clone(),
            {
                let (vantage, shutdown, period) =
                    (vantage.clone(), shutdown.clone(), config.app_check_interval);
                move || workers::app_liveness(vantage.clone(), period, shutdown.clone())
            },
        )),
        tokio::spawn(workers::supervised(
            "alert_sweep",
            health.clone(),
            shutdown.clone(),
            {
                let (vantage, shutdown, period) =
                    (vantage.clone(), shutdown.clone(), config.alert_sweep);
                move || workers::alert_sweep(vantage.clone(), period, shutdown.clone())
            },
        )),
    ];

    if let Some(certificate) = certificate {
        let grpc_listener = grpc_listener.context("server mode needs a gRPC listener")?;
        let address = grpc_listener
            .local_addr()
            .context("gRPC listener has no address")?;
        vantage.set_grpc_endpoint(service::GrpcEndpoint {
            port: address.port(),
            pin: certificate.self_signed.then(|| certificate.pin.clone()),
            public_url: config.grpc_public_url.clone(),
        });
        let settings = grpc::IngestSettings {
            rate_limit_per_second: config.agent_rate_limit_per_second,
            host_interval_s: config.host_interval().as_secs().max(1) as u32,
        };
        let ingest = grpc::Ingest::new(vantage.clone(), settings, shutdown.clone());
        let grpc_shutdown = shutdown.clone();
        workers.push(tokio::spawn(async move {
            if let Err(e) = grpc::serve(
                grpc_listener,
                cap,
                &certificate,
                ingest,
                grpc_shutdown.clone(),
            )
            .await
            {
                tracing::error!(error = %format!("{e:#}"), "gRPC ingest stopped");
                grpc_shutdown.cancel();
            }
        }));
        let stale = Duration::from_secs(config.agent_stale_threshold_seconds.max(1));
        workers.push(tokio::spawn(workers::supervised(
            "agent_staleness",
            health.clone(),
            shutdown.clone(),
            {
                let (vantage, shutdown) = (vantage.clone(), shutdown.clone());
                move || workers::agent_staleness(vantage.clone(), stale, shutdown.clone())
            },
        )));
        tracing::info!(%address, "gRPC/TLS ingest listening");
        println!("vantage grpc listening on grpcs://{address}");
    }

    let dashboard = http::Dashboard::load(config.site_dir.as_deref())?;
    // Pages load the bundle by a name that carries its digest, so browsers may keep it.
    let leptos = leptos::config::LeptosOptions::builder()
        .output_name("frontend")
        .site_pkg_dir(dashboard.pkg_dir())
        .build();
    let state = http::AppState {
        vantage: vantage.clone(),
        dashboard: Arc::new(dashboard),
        http_metrics: Default::default(),
        config: config.clone(),
        leptos,
        shutdown: shutdown.clone(),
    };
    let address = listener.local_addr().context("listener has no address")?;
    tracing::info!(%address, mode = ?config.mode, "serving");
    // Tests and scripts read this line to learn the port when started with port 0.
    println!("vantage listening on http://{address}");
    net::serve_http(listener, http::router(state), cap, shutdown.clone()).await;

    shutdown.cancel();
    let stop = futures::future::join_all(workers);
    if tokio::time::timeout(Duration::from_secs(10), stop)
        .await
        .is_err()
    {
        tracing::warn!("workers did not stop within 10 s");
    }
    // The streams have ended; their last timeline writes go in before the store closes.
    if !vantage
        .finish_background_writes(Duration::from_secs(5))
        .await
    {
        tracing::warn!("timeline writes did not finish within 5 s");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
