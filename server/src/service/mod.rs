//! The product's rules in one place: the dashboard (through `app::backend::Backend`) and the
//! REST handlers both call these methods.
use proto::clock::now_s;
use std::sync::Arc;
use std::time::Duration;

use app::backend::{Backend, HistoryRequest, SeriesRequest};
use app::{
    AgentInfo, AgentPatch, ApiError, ApiTokenInfo, ContainerInfo, CreatedApiToken,
    CreatedEnrollmentToken, Field, History, HistoryPoint, HostOverview, HostSummary,
    LOCAL_AGENT_ID, Me, SeriesHistory, TokenKind, TopConsumers,
};
use async_trait::async_trait;

use crate::auth;
use crate::live::{HostNames, LiveState};
use crate::store::{ApiTokenRow, Store, StoreError};

/// How long a browser session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(app::backend::SESSION_TTL_S);
/// Password hashes computed at once: one per core of a small server. Memory stays flat
/// (about 19 MiB each) however many sign-ins arrive.
const HASHING_AT_ONCE: usize = 2;
/// How long a sign-in waits for a hashing slot before it is told to come back.
const HASHING_WAIT: Duration = Duration::from_secs(2);

/// The most buckets one history answer may hold.
pub const MAX_HISTORY_BUCKETS: i64 = 10_000;

mod agents;
mod alerts;
mod apps;
pub mod audit;
mod containers;
mod downloads;
mod ingest;
mod ops;
mod processes;
mod snippets;
pub mod subscriptions;
mod users;

pub use agents::{InstallContext, resolve_grpc_url};
pub use ingest::{Committed, ENROLLMENT_TOKEN_PREFIX, EnrollError, Refusal, StreamAgent};
pub use ops::{HealthReport, Retention};
pub use snippets::ImageSource;
pub(crate) use users::writes_allowed;

/// Everything the rules need: the store, the live state, the batch writer, the login
/// throttle and the agents' live streams. Private: every caller (HTTP, server functions,
/// gRPC, workers) goes through the methods.
pub struct Vantage {
    store: Store,
    live: Arc<LiveState>,
    /// Agent batches and local samples, committed together.
    writer: crate::ingest::BatchWriter,
    /// Events older than this are refused (history that old is past its retention).
    max_event_age_ms: i64,
    /// Password hashing (argon2id, 19 MiB each) runs at most this many at a time.
    hashing: Arc<tokio::sync::Semaphore>,
    streams: crate::streams::StreamRegistry,
    /// The gRPC listener, once bound (server mode only).
    grpc: std::sync::OnceLock<GrpcEndpoint>,
    /// The agent builds and image the snippets fetch (set once, at start-up).
    downloads: std::sync::OnceLock<Arc<crate::downloads::Downloads>>,
    /// Open live event streams, by the credentials that opened them.
    subscriptions: Arc<subscriptions::Subscriptions>,
    /// What is wrong inside the server now (a stalled writer, a restarting worker).
    health: Arc<crate::health::Health>,
    /// Rules, alerts and notification queues (set once, at start-up).
    alerting: std::sync::OnceLock<Arc<crate::alerts::Alerting>>,
    /// This service, for the tasks it starts (the notification queues).
    me: std::sync::OnceLock<std::sync::Weak<Vantage>>,
    /// Writes that run behind a call (an agent's connects and disconnects on its timeline),
    /// waited for before the store closes.
    background: tokio_util::task::TaskTracker,
    /// The audit log (set once, at start-up).
    log: std::sync::OnceLock<Arc<crate::transparency::Log>>,
    /// What secrets at rest are sealed with (set once, at start-up).
    seal: std::sync::OnceLock<Arc<crate::seal::SealKey>>,
}

/// An open live event stream: hold `subscription` as long as the stream runs.
pub struct LiveFeed {
    /// Ends (its `ended` token) when the credentials are revoked; forgotten when dropped.
    pub subscription: subscriptions::Subscription,
    /// The current figures, sent first.
    pub first: Arc<crate::live::Published>,
    /// Every change after that, each serialised once for every listener.
    pub updates: tokio::sync::broadcast::Receiver<Arc<crate::live::Published>>,
}

/// What install snippets need to know about the gRPC listener.
#[derive(Debug, Clone)]
pub struct GrpcEndpoint {
    /// The port it listens on.
    pub port: u16,
    /// The certificate pin, when the certificate is self-signed.
    pub pin: Option<String>,
    /// `--grpc-public-url`.
    pub public_url: Option<String>,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => ApiError::Conflict,
            StoreError::Database(e) => {
                tracing::error!(error = %e, "store error");
                ApiError::Internal
            }
            StoreError::Corrupt(what) => {
                tracing::error!(error = %what, "stored data is damaged");
                ApiError::Internal
            }
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "internal error");
    ApiError::Internal
}

impl Vantage {
    /// The service over `store`, with its batch writer started (so it must run inside a
    /// Tokio runtime). Events older than `max_event_age` are refused.
    pub fn new(store: Store, live: Arc<LiveState>, max_event_age: Duration) -> Self {
        let health: Arc<crate::health::Health> = Default::default();
        // Room for a burst of batches (at most 500 events each, so memory stays in tens of MB);
        // past that, agents back off and resend from their spools.
        let writer = crate::ingest::BatchWriter::start(store.clone(), health.clone(), 256, 256);
        Self {
            store,
            live,
            writer,
            max_event_age_ms: i64::try_from(max_event_age.as_millis()).unwrap_or(i64::MAX),
            hashing: Arc::new(tokio::sync::Semaphore::new(HASHING_AT_ONCE)),
            streams: Default::default(),
            grpc: Default::default(),
            downloads: Default::default(),
            health,
            subscriptions: Default::default(),
            alerting: Default::default(),
            me: Default::default(),
            background: Default::default(),
            log: Default::default(),
            seal: Default::default(),
        }
    }

    /// Sets the key secrets at rest are sealed with (once, at start-up).
    pub fn set_seal_key(&self, key: Arc<crate::seal::SealKey>) {
        let _ = self.seal.set(key);
    }

    fn seal_key(&self) -> Result<&Arc<crate::seal::SealKey>, ApiError> {
        self.seal.get().ok_or_else(|| {
            tracing::error!("the seal key is not set up");
            ApiError::Internal
        })
    }

    /// Waits, at most `within`, for the writes still running behind calls: at shutdown,
    /// after the streams have ended and before the store closes. True when all finished.
    pub async fn finish_background_writes(&self, within: Duration) -> bool {
        self.background.close();
        tokio::time::timeout(within, self.background.wait())
            .await
            .is_ok()
    }

    /// The service shared, knowing itself (so it can start tasks that outlive a call).
    pub fn shared(self) -> Arc<Self> {
        Arc::new_cyclic(|me| {
            let _ = self.me.set(me.clone());
            self
        })
    }

    /// What is wrong inside the server now; workers report their panics here.
    pub fn health(&self) -> &Arc<crate::health::Health> {
        &self.health
    }

    /// Records where the gRPC listener is, for install snippets (once, at start-up).
    pub fn set_grpc_endpoint(&self, endpoint: GrpcEndpoint) {
        let _ = self.grpc.set(endpoint);
    }

    /// Records where the agent downloads are (once, at start-up).
    pub fn set_downloads(&self, downloads: crate::downloads::Downloads) {
        let _ = self.downloads.set(Arc::new(downloads));
    }

    /// Opens a live event stream for the credentials behind `keys`: the current figures at
    /// once, then every change, until shutdown or until those credentials are revoked.
    pub fn live_events(&self, keys: Vec<String>) -> LiveFeed {
        LiveFeed {
            subscription: self.subscriptions.open(keys),
            first: crate::live::LiveEvent::HostSample(Box::new(self.live.local_summary()))
                .published(),
            updates: self.live.subscribe(),
        }
    }

    /// The owner of a bearer API token (and the token's id), checked in constant time against
    /// the stored hash.
    pub async fn api_token_user(&self, token: &str) -> Result<Option<(Me, i64)>, ApiError> {
        if !token.starts_with(auth::API_TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = auth::sha256_hex(token);
        let Some((row, owner)) = self.store.api_token_by_hash(&hash).await? else {
            return Ok(None);
        };
        if !auth::constant_time_eq(&row.token_hash, &hash) {
            return Ok(None);
        }
        // Record use at most once a minute: most requests then cost no write.
        if row.last_used_at.is_none_or(|t| t < now_s() - 60) {
            self.store.touch_api_token(row.api_token_id).await?;
        }
        // A token never acts beyond its user's role now, however it was created.
        let role = row
            .role
            .map_or(owner.role, |chosen| chosen.narrowest(owner.role));
        Ok(Some((
            Me {
                user_id: row.user_id,
                username: owner.username,
                role,
                must_enroll_totp: false,
                csrf_token: None,
            },
            row.api_token_id,
        )))
    }

    /// Creates a user from the admin CLI.
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        role: app::Role,
    ) -> Result<i64, ApiError> {
        self.insert_user(
            "cli",
            username,
            password,
            role,
            " by vantage admin create-user",
        )
        .await
    }

    /// The caller the admin CLI acts as: a user by name.
    pub async fn acting_as(&self, username: &str) -> Result<Me, ApiError> {
        match self.store.user_by_name(username).await? {
            Some(u) if !u.disabled => Ok(Me {
                user_id: u.user_id,
                username: u.username,
                role: u.role,
                must_enroll_totp: false,
                csrf_token: None,
            }),
            Some(u) => Err(ApiError::UserDisabled(u.username)),
            None => Err(ApiError::UnknownUser(username.to_owned())),
        }
    }

    /// Checks that an agent id names a known host: `None` for local, else its names.
    pub(crate) async fn resolve_host(&self, agent_id: &str) -> Result<Option<HostNames>, ApiError> {
        if agent_id == LOCAL_AGENT_ID {
            return Ok(None);
        }
        match self.store.agent_names(agent_id).await? {
            Some((label, hostname)) => Ok(Some(HostNames { label, hostname })),
            None => Err(ApiError::UnknownAgent(agent_id.to_owned())),
        }
    }
}

impl Vantage {
    /// Runs `work` (argon2) on a blocking thread once a hashing slot is free; past
    /// [`HASHING_WAIT`] the caller is told the server is busy (503) instead of queueing.
    async fn hash_bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = tokio::time::timeout(HASHING_WAIT, self.hashing.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(ApiError::Busy)?;
        let done = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(internal)?;
        Ok(done)
    }

    async fn checked_password_hash(
        &self,
        username: &str,
        password: &str,
    ) -> Result<String, ApiError> {
        auth::validate_username(username).map_err(|m| ApiError::invalid(Field::Username, m))?;
        auth::validate_password(password).map_err(|m| ApiError::invalid(Field::Password, m))?;
        let password = password.to_owned();
        self.hash_bounded(move || auth::hash_password(&password))
            .await?
            .map_err(internal)
    }
}

/// A token as listed; `user_role` is its owner's role now.
fn token_info(row: &ApiTokenRow, user_role: app::Role) -> ApiTokenInfo {
    ApiTokenInfo {
        id: row.api_token_id,
        name: row.name.clone(),
        masked: row.token_hint.clone(),
        created_at: app::rfc3339_from_millis(row.created_at * 1000),
        last_used_at: row.last_used_at.map(|t| app::rfc3339_from_millis(t * 1000)),
        role: row
            .role
            .map_or(user_role, |chosen| chosen.narrowest(user_role)),
        follows_user_role: row.role.is_none(),
    }
}

#[async_trait]
impl Backend for Vantage {
    async fn needs_setup(&self) -> Result<bool, ApiError> {
        Ok(!self.store.has_users().await?)
    }

    async fn setup(&self, username: &str, password: &str) -> Result<(), ApiError> {
        if self.store.has_users().await? {
            return Err(setup_done());
        }
        let hash = self.checked_password_hash(username, password).await?;
        self.store
            .create_first_user(username, &hash)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => setup_done(),
                e => e.into(),
            })?;
        tracing::info!(%username, "first admin created");
        self.audit(audit::Act {
            actor: username,
            action: "setup",
            subject: username,
            detail: "first admin created",
        })
        .await?;
        Ok(())
    }

    async fn login(
        &self,
        credentials: &app::Credentials,
        client: std::net::IpAddr,
    ) -> Result<String, ApiError> {
        let (username, password) = (credentials.username.as_str(), credentials.password.as_str());
        let (pair, address) = auth::login_scopes(username, client);
        let now = now_s();
        let mut wait = None;
        for (scope, failures, last_at) in self.store.login_failures(&[&pair, &address]).await? {
            let free = if scope == pair {
                auth::FREE_FAILURES_PER_PAIR
            } else {
                auth::FREE_FAILURES_PER_ADDRESS
            };
            wait = wait.max(auth::retry_after(failures, last_at, free, now));
        }
        if let Some(seconds) = wait {
            tracing::warn!(username = ?username, %client, "sign-in refused: too many failures");
            return Err(ApiError::TooManyAttempts {
                retry_after_s: seconds,
            });
        }
        // A name that cannot exist skips the hash but counts like any failure.
        let user = match auth::validate_username(username) {
            Ok(()) => self.store.user_by_name(username).await?,
            Err(_) => None,
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let attempt = password.to_owned();
        let ok = self
            .hash_bounded(move || auth::verify_password(stored.as_deref(), &attempt))
            .await?;
        let Some(user) = user.filter(|_| ok) else {
            self.store
                .record_login_failure(&[&pair, &address], auth::FORGET_AFTER_S)
                .await?;
            // Debug formatting escapes what a forged name could hold (line breaks, ESC).
            tracing::info!(username = ?username, %client, "sign-in failed");
            return Err(ApiError::InvalidCredentials);
        };
        if user.disabled {
            // Told like a wrong password: a disabled account's name is not confirmed.
            tracing::info!(username = %user.username, %client, "sign-in refused: disabled");
            return Err(ApiError::InvalidCredentials);
        }
        let policy = self.sign_in_policy_now().await?;
        if user.totp_enabled && (user.totp_at_sign_in || policy.require_totp) {
            let Some(code) = credentials
                .totp_code
                .as_deref()
                .filter(|c| !c.trim().is_empty())
            else {
                return Err(ApiError::TotpRequired);
            };
            self.check_code(user.user_id, code, users::CodeUse::SignIn, None)
                .await?;
        }
        self.store.clear_login_failures(&pair).await?;
        let token = auth::new_secret("").map_err(internal)?;
        let csrf = auth::new_secret("").map_err(internal)?;
        let expires_at = now_s() + SESSION_TTL.as_secs() as i64;
        self.store
            .create_session(user.user_id, &auth::sha256_hex(&token), &csrf, expires_at)
            .await?;
        tracing::info!(username = %user.username, "login");
        self.audit(audit::Act {
            actor: &user.username,
            action: "login",
            subject: &user.username,
            detail: &format!("from {client}"),
        })
        .await?;
        Ok(token)
    }

    async fn logout(&self, session_token: &str) -> Result<(), ApiError> {
        let hash = auth::sha256_hex(session_token);
        self.store.delete_session(&hash).await?;
        self.subscriptions.end(&subscriptions::session_key(&hash));
        Ok(())
    }

    async fn session_user(&self, session_token: &str) -> Result<Option<Me>, ApiError> {
        let user = self
            .store
            .session_user(&auth::sha256_hex(session_token))
            .await?;
        Ok(user.map(|u| self.me_of_session(u)))
    }

    async fn host_summary(&self, _caller: &Me, agent_id: &str) -> Result<HostSummary, ApiError> {
        match self.resolve_host(agent_id).await? {
            None => Ok(self.live.local_summary()),
            Some(names) => {
                let mut summary = self.live.summary(agent_id, &names);
                summary.running_containers = self
                    .store
                    .running_containers()
                    .await?
                    .get(agent_id)
                    .copied()
                    .unwrap_or(0);
                Ok(summary)
            }
        }
    }

    async fn history(&self, _caller: &Me, r: HistoryRequest) -> Result<History, ApiError> {
        let (from, to, step) = history_range(r.from, r.to, r.last_s, r.step)?;
        let agent = self
            .resolve_host(&r.agent_id)
            .await?
            .map(|_| r.agent_id.as_str());
        let ms = history_ms;
        let buckets = self
            .store
            .history(agent, r.metric, ms(from)?, ms(to)?, ms(step)?)
            .await?;
        Ok(History {
            agent_id: r.agent_id.clone(),
            metric: r.metric,
            unit: r.metric.unit().to_owned(),
            from,
            to,
            step,
            points: buckets.into_iter().map(history_point).collect(),
        })
    }

    async fn series_history(
        &self,
        _caller: &Me,
        r: SeriesRequest,
    ) -> Result<SeriesHistory, ApiError> {
        let (from, to, step) = history_range(r.from, r.to, r.last_s, r.step)?;
        let agent = self
            .resolve_host(&r.agent_id)
            .await?
            .map(|_| r.agent_id.as_str());
        let families = if r.families.is_empty() {
            app::SeriesFamily::ALL.to_vec()
        } else {
            r.families.clone()
        };
        let ms = history_ms;
        let read = self
            .store
            .series_history(agent, &families, ms(from)?, ms(to)?, ms(step)?)
            .await?;
        Ok(SeriesHistory {
            agent_id: r.agent_id.clone(),
            from,
            to,
            step,
            families: read
                .into_iter()
                .map(|(family, series)| app::FamilyHistory {
                    family,
                    unit: family.unit().to_owned(),
                    series: series
                        .into_iter()
                        .map(|(label, buckets)| app::Series {
                            label,
                            points: buckets.into_iter().map(history_point).collect(),
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    async fn list_api_tokens(&self, me: &Me) -> Result<Vec<ApiTokenInfo>, ApiError> {
        let user_role = self.my_account(me).await?.role;
        Ok(self
            .store
            .list_api_tokens(me.user_id)
            .await?
            .iter()
            .map(|row| token_info(row, user_role))
            .collect())
    }

    async fn create_api_token(
        &self,
        me: &Me,
        name: &str,
        role: Option<app::Role>,
    ) -> Result<CreatedApiToken, ApiError> {
        users::allow(me, app::Role::Operator)?;
        let name = name.trim();
        app::text::check_token_name(name).map_err(|m| ApiError::invalid(Field::Name, m))?;
        if let Some(role) = role.filter(|r| !me.role.allows(*r)) {
            return Err(ApiError::invalid(
                Field::Role,
                format!(
                    "A token acts with your role or a narrower one: {role} is wider than {}.",
                    me.role
                ),
            ));
        }
        // A token made by a narrower token is no wider than the one that made it.
        let user_role = self.my_account(me).await?.role;
        let role = role.or((me.role != user_role).then_some(me.role));
        let token = auth::new_secret(auth::API_TOKEN_PREFIX).map_err(internal)?;
        let row = self
            .store
            .create_api_token(
                me.user_id,
                name,
                &auth::sha256_hex(&token),
                &auth::mask(&token),
                role,
            )
            .await?;
        tracing::info!(
            user_id = me.user_id,
            token_id = row.api_token_id,
            "API token created"
        );
        self.audit(audit::Act {
            actor: &me.username,
            action: "api_token.create",
            subject: &row.api_token_id.to_string(),
            detail: &format!(
                "{name} ({}), role {}",
                row.token_hint,
                row.role.map_or("of its user", |r| r.as_str())
            ),
        })
        .await?;
        Ok(CreatedApiToken {
            token,
            info: token_info(&row, user_role),
        })
    }

    async fn delete_api_token(&self, me: &Me, token_id: i64) -> Result<(), ApiError> {
        users::allow(me, app::Role::Operator)?;
        if !self.store.delete_api_token(me.user_id, token_id).await? {
            return Err(ApiError::UnknownToken {
                kind: TokenKind::Api,
                id: token_id,
            });
        }
        self.subscriptions.end(&subscriptions::token_key(token_id));
        tracing::info!(user_id = me.user_id, token_id, "API token revoked");
        self.audit(audit::Act {
            actor: &me.username,
            action: "api_token.revoke",
            subject: &token_id.to_string(),
            detail: "",
        })
        .await?;
        Ok(())
    }

    async fn hosts(&self, me: &Me) -> Result<Vec<HostOverview>, ApiError> {
        Vantage::hosts(self, me).await
    }

    async fn agents(&self, me: &Me) -> Result<Vec<AgentInfo>, ApiError> {
        self.list_agents(me).await
    }

    async fn update_agent(
        &self,
        me: &Me,
        agent_id: &str,
        patch: AgentPatch,
    ) -> Result<AgentInfo, ApiError> {
        Vantage::update_agent(self, me, agent_id, patch).await
    }

    async fn revoke_agent(&self, me: &Me, agent_id: &str) -> Result<AgentInfo, ApiError> {
        Vantage::revoke_agent(self, me, agent_id).await
    }

    async fn delete_agent(&self, me: &Me, agent_id: &str) -> Result<(), ApiError> {
        Vantage::delete_agent(self, me, agent_id).await
    }

    async fn create_enrollment_token(
        &self,
        me: &Me,
        request: app::NewEnrollmentToken,
        request_host: Option<String>,
        https: bool,
    ) -> Result<CreatedEnrollmentToken, ApiError> {
        self.create_enrollment_token_for(me, request, request_host, https)
            .await
    }

    async fn enrollment_tokens(&self, me: &Me) -> Result<Vec<app::EnrollmentTokenInfo>, ApiError> {
        self.list_enrollment_tokens(me).await
    }

    async fn delete_enrollment_token(&self, me: &Me, id: i64) -> Result<(), ApiError> {
        Vantage::delete_enrollment_token(self, me, id).await
    }

    async fn agent_builds(&self, _me: &Me) -> Result<Vec<app::AgentBuildInfo>, ApiError> {
        Vantage::agent_builds(self).await
    }

    async fn containers(
        &self,
        me: &Me,
        agent_id: Option<String>,
    ) -> Result<Vec<ContainerInfo>, ApiError> {
        Vantage::containers(self, me, agent_id.as_deref()).await
    }

    async fn certificates(
        &self,
        me: &Me,
        agent_id: Option<String>,
    ) -> Result<Vec<app::CertificateInfo>, ApiError> {
        Vantage::certificates(self, me, agent_id.as_deref()).await
    }

    async fn host_events(
        &self,
        _caller: &Me,
        agent_id: &str,
        limit: u32,
    ) -> Result<Vec<app::HostEvent>, ApiError> {
        if self.store.agent_names(agent_id).await?.is_none() {
            return Err(ApiError::UnknownAgent(agent_id.to_owned()));
        }
        Ok(self.store.host_events(agent_id, i64::from(limit)).await?)
    }

    async fn top_consumers(
        &self,
        me: &Me,
        agent_id: Option<String>,
    ) -> Result<TopConsumers, ApiError> {
        Vantage::top_consumers(self, me, agent_id.as_deref()).await
    }

    async fn alerts(
        &self,
        me: &Me,
        state: Option<app::AlertState>,
    ) -> Result<Vec<app::alerts::Alert>, ApiError> {
        self.list_alerts(me, state, None, None).await
    }

    async fn alert(&self, me: &Me, id: i64) -> Result<app::alerts::AlertDetail, ApiError> {
        self.alert_detail(me, id).await
    }

    async fn acknowledge_alert(
        &self,
        me: &Me,
        id: i64,
        ack: app::alerts::Acknowledgement,
    ) -> Result<app::alerts::AlertDetail, ApiError> {
        Vantage::acknowledge_alert(self, me, id, ack).await
    }

    async fn alert_rules(&self, me: &Me) -> Result<Vec<app::alerts::AlertRule>, ApiError> {
        self.list_alert_rules(me).await
    }

    async fn save_alert_rule(
        &self,
        me: &Me,
        id: Option<i64>,
        spec: app::alerts::AlertRuleSpec,
    ) -> Result<app::alerts::AlertRule, ApiError> {
        match id {
            Some(id) => self.update_alert_rule(me, id, spec).await,
            None => self.create_alert_rule(me, spec).await,
        }
    }

    async fn delete_alert_rule(&self, me: &Me, id: i64) -> Result<(), ApiError> {
        Vantage::delete_alert_rule(self, me, id).await
    }

    async fn preview_alert_rule(
        &self,
        me: &Me,
        spec: app::alerts::AlertRuleSpec,
    ) -> Result<app::alerts::RulePreview, ApiError> {
        Vantage::preview_alert_rule(self, me, spec).await
    }

    async fn channels(&self, me: &Me) -> Result<Vec<app::alerts::NotificationChannel>, ApiError> {
        self.list_channels(me).await
    }

    async fn save_channel(
        &self,
        me: &Me,
        id: Option<i64>,
        spec: app::alerts::ChannelSpec,
    ) -> Result<app::alerts::NotificationChannel, ApiError> {
        match id {
            Some(id) => self.update_channel(me, id, spec).await,
            None => self.create_channel(me, spec).await,
        }
    }

    async fn delete_channel(&self, me: &Me, id: i64) -> Result<(), ApiError> {
        Vantage::delete_channel(self, me, id).await
    }

    async fn test_channel(
        &self,
        me: &Me,
        id: i64,
    ) -> Result<app::alerts::ChannelTestResult, ApiError> {
        Vantage::test_channel(self, me, id).await
    }

    async fn silences(&self, me: &Me) -> Result<Vec<app::alerts::Silence>, ApiError> {
        self.list_silences(me).await
    }

    async fn create_silence(
        &self,
        me: &Me,
        spec: app::alerts::SilenceSpec,
    ) -> Result<app::alerts::Silence, ApiError> {
        Vantage::create_silence(self, me, spec).await
    }

    async fn delete_silence(&self, me: &Me, id: i64) -> Result<(), ApiError> {
        Vantage::delete_silence(self, me, id).await
    }

    async fn users(&self, me: &Me) -> Result<Vec<app::users::UserInfo>, ApiError> {
        Vantage::users(self, me).await
    }

    async fn add_user(
        &self,
        me: &Me,
        new: app::users::NewUser,
    ) -> Result<app::users::UserInfo, ApiError> {
        Vantage::add_user(self, me, new).await
    }

    async fn update_user(
        &self,
        me: &Me,
        id: i64,
        patch: app::users::UserPatch,
    ) -> Result<app::users::UserInfo, ApiError> {
        Vantage::update_user(self, me, id, patch).await
    }

    async fn my_account(&self, me: &Me) -> Result<app::users::UserInfo, ApiError> {
        Vantage::my_account(self, me).await
    }

    async fn update_my_account(
        &self,
        me: &Me,
        patch: app::users::MyAccountPatch,
    ) -> Result<app::users::UserInfo, ApiError> {
        Vantage::update_my_account(self, me, patch).await
    }

    async fn begin_totp(&self, me: &Me) -> Result<app::users::TotpEnrollment, ApiError> {
        Vantage::begin_totp(self, me).await
    }

    async fn confirm_totp(
        &self,
        me: &Me,
        code: &str,
    ) -> Result<app::users::RecoveryCodes, ApiError> {
        Vantage::confirm_totp(self, me, code).await
    }

    async fn disable_totp(&self, me: &Me, code: &str) -> Result<(), ApiError> {
        Vantage::disable_totp(self, me, code).await
    }

    async fn sign_in_policy(&self, me: &Me) -> Result<app::users::SignInPolicy, ApiError> {
        Vantage::sign_in_policy(self, me).await
    }

    async fn set_sign_in_policy(
        &self,
        me: &Me,
        policy: app::users::SignInPolicy,
    ) -> Result<app::users::SignInPolicy, ApiError> {
        Vantage::set_sign_in_policy(self, me, policy).await
    }

    async fn apps(
        &self,
        me: &Me,
        agent_id: Option<String>,
        tag: Option<String>,
        state: Option<app::apps::ObservedState>,
    ) -> Result<Vec<app::apps::App>, ApiError> {
        self.list_apps(me, agent_id.as_deref(), tag.as_deref(), state)
            .await
    }

    async fn app(&self, me: &Me, id: i64) -> Result<app::apps::App, ApiError> {
        self.get_app(me, id).await
    }

    async fn create_app(
        &self,
        me: &Me,
        new: app::apps::NewApp,
    ) -> Result<app::apps::App, ApiError> {
        Vantage::create_app(self, me, new).await
    }

    async fn delete_app(&self, me: &Me, id: i64) -> Result<(), ApiError> {
        Vantage::delete_app(self, me, id).await
    }

    async fn inventory(&self, me: &Me, agent_id: &str) -> Result<app::apps::Inventory, ApiError> {
        Vantage::inventory(self, me, agent_id).await
    }

    async fn restart_app(
        &self,
        me: &Me,
        id: i64,
        code: &str,
        reason: &str,
    ) -> Result<app::apps::Action, ApiError> {
        Vantage::restart_app(self, me, id, Some(code), reason).await
    }

    async fn actions(
        &self,
        me: &Me,
        app_id: Option<i64>,
    ) -> Result<Vec<app::apps::Action>, ApiError> {
        Vantage::actions(self, me, app_id, 100).await
    }

    async fn audit_log(
        &self,
        me: &Me,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<app::AuditEntry>, ApiError> {
        Ok(self
            .audit_entries(me, before, limit)
            .await?
            .into_iter()
            .map(audit::entry)
            .collect())
    }

    async fn checkpoint(&self, me: &Me) -> Result<app::TransparencyCheckpoint, ApiError> {
        let head = self.signed_head(me).await?;
        Ok(audit::checkpoint_info(head))
    }
}

fn setup_done() -> ApiError {
    ApiError::SetupDone
}

/// The range and step of a history request, checked: `from` before `to`, both within
/// 1970–9999, a step of at least a second and at most [`MAX_HISTORY_BUCKETS`] buckets.
fn history_range(
    from: Option<i64>,
    to: Option<i64>,
    last_s: Option<i64>,
    step: Option<i64>,
) -> Result<(i64, i64, i64), ApiError> {
    let out_of_range = || ApiError::InvalidRange("`from` and `to` must lie between 1970 and 9999.");
    let to = to.unwrap_or_else(|| now_s() + 1);
    let from = match (from, last_s) {
        (Some(from), _) => from,
        (None, Some(last)) if last < 1 => {
            return Err(ApiError::InvalidRange(
                "The range must be at least 1 second.",
            ));
        }
        (None, last) => to
            .checked_sub(last.unwrap_or(app::backend::DEFAULT_HISTORY_RANGE_S))
            .ok_or_else(out_of_range)?,
    };
    if from >= to {
        return Err(ApiError::InvalidRange("`from` must be earlier than `to`."));
    }
    let span = to.checked_sub(from).ok_or_else(out_of_range)?;
    let step = step.unwrap_or_else(|| app::backend::default_history_step(span));
    if step < 1 {
        return Err(ApiError::InvalidStep);
    }
    if span / step > MAX_HISTORY_BUCKETS {
        return Err(ApiError::TooManyPoints {
            max: MAX_HISTORY_BUCKETS,
        });
    }
    Ok((from, to, step))
}

/// Unix seconds of a history request as milliseconds.
fn history_ms(s: i64) -> Result<i64, ApiError> {
    s.checked_mul(1000).ok_or(ApiError::InvalidRange(
        "`from` and `to` must lie between 1970 and 9999.",
    ))
}

/// A stored bucket as the API shows it.
fn history_point(b: crate::store::HistoryBucket) -> HistoryPoint {
    HistoryPoint {
        ts: b.start_ms / 1000,
        time: app::rfc3339_from_millis(b.start_ms),
        avg: b.avg,
        min: b.min,
        max: b.max,
    }
}
