//! The store: one thin boundary over SQLite and PostgreSQL. SQL is written once with
//! `$n` placeholders, which both dialects accept, and types both decode the same way.
mod agents;
mod alerts;
mod apps;
pub mod chunk;
mod containers;
mod history;
mod inventory;
mod samples;
mod tokens;
mod transparency;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

pub use agents::{
    AgentBatch, AgentRow, EnrollmentTokenRow, IngestError, NewAgent, Registration, SpoolReport,
};
pub use alerts::{
    AlertEventRow, AlertRow, AlertRuleRow, ChannelFields, ChannelRow, DeliveryRow, SilenceRow,
};
pub use apps::{ActionOutcome, ActionRow, AppFields, AppRow, NewAction, RecentRestarts};
pub use containers::{BatchItem, CertificateRow, ContainerRow};
pub use history::{Layer, SeriesValue, unreadable_chunks};
pub use inventory::{InventoryItemRow, InventoryRow};
pub use samples::{HistoryBucket, SampleRow};
pub use tokens::{ApiTokenRow, TokenOwner};
pub use transparency::{AuditRow, ServerKeyRow};
pub use users::{SessionUser, TotpRow, UserRow};

/// Which SQL engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The database, shared by every request and worker.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// Samples of remote agents folded into the rollups since the process started.
    folded_agent_samples: Arc<AtomicU64>,
    /// Host-hours the fold could not process and settled unfolded, since the start.
    skipped_hours: Arc<AtomicU64>,
    /// The numbers of the labelled series stored so far.
    series_ids: Arc<history::SeriesIds>,
    /// Turns at writing for the batch writer and the background passes ([`Store::write_turn`]).
    write_turns: Arc<tokio::sync::Mutex<()>>,
    /// The 1-minute figures of the host samples not folded yet.
    unfolded: Arc<history::Unfolded>,
}

/// A store error: unique violations are told apart so handlers can answer 409.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a row with the same unique value exists")]
    Conflict,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Stored data that cannot be what the server wrote (a log node missing or misshapen).
    #[error("{0}")]
    Corrupt(String),
}

impl StoreError {
    fn from_sqlx(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Database(e),
        }
    }
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and applies the migrations.
    /// A SQLite file is created if missing and opened in WAL mode.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            anyhow::bail!(
                "unsupported database URL {:?}: use sqlite://PATH or postgres://…",
                scheme(url)
            );
        };
        let url = match dialect {
            Dialect::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).context("invalid database URL")?;
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        for pragma in [
                            // Takes effect in a new file (and at the next VACUUM of an old
                            // one): pages freed by merged and expired history go back.
                            "pragma auto_vacuum = incremental",
                            "pragma journal_mode = wal",
                            // The WAL file shrinks back to 4 MiB after each checkpoint that
                            // empties it (SQLite otherwise keeps it at its largest size: 25 MB
                            // beside a 48 MB database after a day of a hundred hosts).
                            "pragma journal_size_limit = 4194304",
                            "pragma synchronous = normal",
                            "pragma foreign_keys = on",
                            "pragma busy_timeout = 5000",
                            // Statement journals, sorts and temporary tables in memory: on
                            // files they were most of what live ingest wrote (a multi-row
                            // insert's statement journal passes 64 KiB and spills).
                            "pragma temp_store = memory",
                            // 4 MiB of page cache per connection (SQLite's default is 2 MiB):
                            // a commit of many hosts touches a few hundred pages, and a cache
                            // smaller than that spills them to the WAL before the commit.
                            "pragma cache_size = -4096",
                        ] {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the {dialect:?} store"))?;
        let store = Self {
            pool,
            dialect,
            folded_agent_samples: Arc::default(),
            skipped_hours: Arc::default(),
            write_turns: Arc::default(),
            series_ids: Arc::default(),
            unfolded: Arc::default(),
        };
        store.migrate().await?;
        store
            .convert_legacy_history()
            .await
            .context("cannot convert the stored host history")?;
        store
            .load_unfolded()
            .await
            .context("cannot read the host history not folded yet")?;
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Dialect::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .context("database migrations failed")
    }

    /// A transaction that will write. SQLite takes the write lock at BEGIN (IMMEDIATE), so two
    /// writers wait for each other (busy timeout) instead of failing to upgrade a read lock.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
    }

    /// A turn at writing, taken by the writers that matter to each other: the batch writer
    /// (each commit) and the background passes (each transaction of the fold and of
    /// retention). SQLite has one writer at a time, and a writer that finds the lock taken
    /// sleeps in its busy handler and tries again later; a pass that begins its next
    /// transaction the moment it commits the last then starves the batch writer for the whole
    /// pass (a fold of a thousand host-hours held live samples back 300 to 700 ms). Turns are
    /// handed out in the order asked for. PostgreSQL would need none for its locks, but the
    /// in-memory figures of unfolded samples ([`history::Unfolded`]) follow each commit and
    /// each fold while the turn is held, so it takes turns too.
    pub(crate) async fn write_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_turns.lock().await
    }

    /// Samples of remote agents folded into the rollups since the process started.
    pub fn folded_agent_samples(&self) -> u64 {
        self.folded_agent_samples.load(Ordering::Relaxed)
    }

    /// Host-hours the fold skipped because they could not be processed.
    pub fn skipped_hours(&self) -> u64 {
        self.skipped_hours.load(Ordering::Relaxed)
    }

    /// The SQL engine in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Bytes the database takes on disk (SQLite pages, or PostgreSQL's database size).
    pub async fn size_bytes(&self) -> Result<i64, StoreError> {
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "select page_count * page_size as n from pragma_page_count(), pragma_page_size()"
            }
            Dialect::Postgres => "select pg_database_size(current_database()) as n",
        };
        let row = sqlx::query(sql).fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// Closes every connection; pending writes finish first.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn scheme(url: &str) -> &str {
    url.split_once(':').map_or(url, |(s, _)| s)
}
