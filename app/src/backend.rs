//! The server logic the dashboard needs, as a trait the `server` crate implements and
//! provides as Leptos context. REST handlers call the same implementation.
use async_trait::async_trait;

use crate::{
    AgentInfo, AgentPatch, ApiError, ApiTokenInfo, ContainerInfo, CreatedApiToken,
    CreatedEnrollmentToken, History, HostOverview, HostSummary, Me, Metric, TopConsumers,
};

/// A history request with every part already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    /// `local` or an agent UUID.
    pub agent_id: String,
    /// What to chart.
    pub metric: Metric,
    /// Range start, unix seconds.
    pub from: i64,
    /// Range end, unix seconds.
    pub to: i64,
    /// Bucket width in seconds; `None` picks one that gives about 120 buckets.
    pub step: Option<i64>,
}

/// What a signed-in browser session or an API token may do.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// True while no user exists: the UI then shows the create-admin page.
    async fn needs_setup(&self) -> Result<bool, ApiError>;
    /// Creates the first admin; 409 once any user exists.
    async fn setup(&self, username: &str, password: &str) -> Result<(), ApiError>;
    /// Checks a password (throttled) and opens a session; returns its cookie value.
    async fn login(&self, username: &str, password: &str) -> Result<String, ApiError>;
    /// Ends the session behind a cookie value, if any.
    async fn logout(&self, session_token: &str) -> Result<(), ApiError>;
    /// The user behind a session cookie value, if it is valid.
    async fn session_user(&self, session_token: &str) -> Result<Option<Me>, ApiError>;
    /// Newest figures of one host.
    async fn host_summary(&self, agent_id: &str) -> Result<HostSummary, ApiError>;
    /// Bucketed history of one metric of one host.
    async fn history(&self, request: HistoryRequest) -> Result<History, ApiError>;
    /// A user's API tokens, masked.
    async fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiTokenInfo>, ApiError>;
    /// Creates an API token; the secret is in the answer and nowhere else.
    async fn create_api_token(&self, user_id: i64, name: &str)
    -> Result<CreatedApiToken, ApiError>;
    /// Revokes one of the user's API tokens.
    async fn delete_api_token(&self, user_id: i64, token_id: i64) -> Result<(), ApiError>;
    /// The local host and every agent with their newest figures.
    async fn hosts(&self) -> Result<Vec<HostOverview>, ApiError>;
    /// Every registered agent.
    async fn agents(&self) -> Result<Vec<AgentInfo>, ApiError>;
    /// Renames or retags an agent.
    async fn update_agent(&self, agent_id: &str, patch: AgentPatch) -> Result<AgentInfo, ApiError>;
    /// Revokes an agent; its live stream ends at once.
    async fn revoke_agent(&self, agent_id: &str) -> Result<AgentInfo, ApiError>;
    /// Revokes an agent and deletes everything it sent.
    async fn delete_agent(&self, agent_id: &str) -> Result<(), ApiError>;
    /// A single-use enrollment token with install snippets for a client that reached the
    /// server at `request_host` (over HTTPS or not).
    async fn create_enrollment_token(
        &self,
        user_id: i64,
        ttl_hours: Option<i64>,
        request_host: Option<String>,
        https: bool,
    ) -> Result<CreatedEnrollmentToken, ApiError>;
    /// Containers of one host, or of all.
    async fn containers(&self, agent_id: Option<String>) -> Result<Vec<ContainerInfo>, ApiError>;
    /// Top CPU and memory consumers, on one host or all.
    async fn top_consumers(&self, agent_id: Option<String>) -> Result<TopConsumers, ApiError>;
}

/// How long a browser session lasts, in seconds (the cookie and the stored session agree).
pub const SESSION_TTL_S: u64 = 7 * 24 * 3600;

/// The `Set-Cookie` value that opens a session (`token`) or, with `None`, clears it.
/// HttpOnly and SameSite=Strict always; Secure when the request came over HTTPS.
pub fn session_set_cookie(token: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(token) => {
            format!(
                "{}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_TTL_S}{secure}",
                crate::SESSION_COOKIE
            )
        }
        None => format!(
            "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}",
            crate::SESSION_COOKIE
        ),
    }
}

/// True when the request reached us over HTTPS (directly or through a proxy that says so).
pub fn request_is_https(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The value of the session cookie, if the request carries one.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == crate::SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The host the client addressed: `X-Forwarded-Host` (first value) or `Host`.
pub fn request_host(headers: &axum::http::HeaderMap) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
    };
    header("x-forwarded-host")
        .or_else(|| header("host"))
        .filter(|h| !h.is_empty())
}
