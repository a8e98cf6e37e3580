//! The server logic the dashboard needs, as a trait the `server` crate implements and
//! provides as Leptos context. REST handlers call the same implementation.
use async_trait::async_trait;

use crate::alerts::{
    Acknowledgement, Alert, AlertDetail, AlertRule, AlertRuleSpec, ChannelSpec, ChannelTestResult,
    NotificationChannel, RulePreview, Silence, SilenceSpec,
};
use crate::users::{
    MyAccountPatch, NewUser, RecoveryCodes, SignInPolicy, TotpEnrollment, UserInfo, UserPatch,
};
use crate::{
    AgentInfo, AgentPatch, AlertState, ApiError, ApiTokenInfo, ContainerInfo, CreatedApiToken,
    CreatedEnrollmentToken, History, HostOverview, HostSummary, Me, Metric, SeriesFamily,
    SeriesHistory, TopConsumers,
};

/// A history request with every part already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    /// `local` or an agent UUID.
    pub agent_id: String,
    /// What to chart.
    pub metric: Metric,
    /// Range start, unix seconds; `None`: [`last_s`](Self::last_s) before `to`.
    pub from: Option<i64>,
    /// Range end (excluded), unix seconds; `None`: now, the current second included.
    pub to: Option<i64>,
    /// Without `from`: how far before `to` the range starts (default
    /// [`DEFAULT_HISTORY_RANGE_S`]).
    pub last_s: Option<i64>,
    /// Bucket width in seconds; `None` picks [`default_history_step`].
    pub step: Option<i64>,
}

/// A labelled-series request with every part already parsed; the range as in
/// [`HistoryRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRequest {
    /// `local` or an agent UUID.
    pub agent_id: String,
    /// The families to read; empty means every one.
    pub families: Vec<SeriesFamily>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub last_s: Option<i64>,
    pub step: Option<i64>,
}

/// The range of a history request that names neither `from` nor `last_s`: one hour.
pub const DEFAULT_HISTORY_RANGE_S: i64 = 3600;

/// The step of a history request that names none: about 120 buckets, at least 10 s.
pub fn default_history_step(span_s: i64) -> i64 {
    (span_s / 120).max(10)
}

/// What a signed-in browser session or an API token may do.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// True while no user exists: the UI then shows the create-admin page.
    async fn needs_setup(&self) -> Result<bool, ApiError>;
    /// Creates the first admin; 409 once any user exists.
    async fn setup(&self, username: &str, password: &str) -> Result<(), ApiError>;
    /// Checks a password (throttled per username and address, and per address) and opens a
    /// session; returns its cookie value.
    async fn login(
        &self,
        credentials: &crate::Credentials,
        client: std::net::IpAddr,
    ) -> Result<String, ApiError>;
    /// Ends the session behind a cookie value, if any.
    async fn logout(&self, session_token: &str) -> Result<(), ApiError>;
    /// The user behind a session cookie value, if it is valid.
    async fn session_user(&self, session_token: &str) -> Result<Option<Me>, ApiError>;
    /// Newest figures of one host.
    async fn host_summary(&self, me: &Me, agent_id: &str) -> Result<HostSummary, ApiError>;
    /// Bucketed history of one metric of one host.
    async fn history(&self, me: &Me, request: HistoryRequest) -> Result<History, ApiError>;
    /// Bucketed labelled series (per core, file system, interface, container; swap, load)
    /// of one host.
    async fn series_history(
        &self,
        me: &Me,
        request: SeriesRequest,
    ) -> Result<SeriesHistory, ApiError>;
    /// A user's API tokens, masked.
    async fn list_api_tokens(&self, me: &Me) -> Result<Vec<ApiTokenInfo>, ApiError>;
    /// Creates an API token; the secret is in the answer and nowhere else.
    async fn create_api_token(
        &self,
        me: &Me,
        name: &str,
        role: Option<crate::Role>,
    ) -> Result<CreatedApiToken, ApiError>;
    /// Revokes one of the user's API tokens.
    async fn delete_api_token(&self, me: &Me, token_id: i64) -> Result<(), ApiError>;
    /// The local host and every agent with their newest figures.
    async fn hosts(&self, me: &Me) -> Result<Vec<HostOverview>, ApiError>;
    /// Every registered agent.
    async fn agents(&self, me: &Me) -> Result<Vec<AgentInfo>, ApiError>;
    /// Renames or retags an agent.
    async fn update_agent(
        &self,
        me: &Me,
        agent_id: &str,
        patch: AgentPatch,
    ) -> Result<AgentInfo, ApiError>;
    /// Revokes an agent; its live stream ends at once.
    async fn revoke_agent(&self, me: &Me, agent_id: &str) -> Result<AgentInfo, ApiError>;
    /// Revokes an agent and deletes everything it sent.
    async fn delete_agent(&self, me: &Me, agent_id: &str) -> Result<(), ApiError>;
    /// An enrollment token (one host or a fleet) with install snippets for a client that
    /// reached the server at `request_host` (over HTTPS or not).
    async fn create_enrollment_token(
        &self,
        me: &Me,
        request: crate::NewEnrollmentToken,
        request_host: Option<String>,
        https: bool,
    ) -> Result<CreatedEnrollmentToken, ApiError>;
    /// Every enrollment token, with the agents each enrolled.
    async fn enrollment_tokens(&self, me: &Me)
    -> Result<Vec<crate::EnrollmentTokenInfo>, ApiError>;
    /// Deletes an enrollment token: it enrolls no one from then on.
    async fn delete_enrollment_token(&self, me: &Me, id: i64) -> Result<(), ApiError>;
    /// The agent downloads and whether each is there (ready, building, missing).
    async fn agent_builds(&self, me: &Me) -> Result<Vec<crate::AgentBuildInfo>, ApiError>;
    /// Containers of one host, or of all.
    async fn containers(
        &self,
        me: &Me,
        agent_id: Option<String>,
    ) -> Result<Vec<ContainerInfo>, ApiError>;
    /// The newest certificate scans of one host or of all, soonest expiry first.
    async fn certificates(
        &self,
        me: &Me,
        agent_id: Option<String>,
    ) -> Result<Vec<crate::CertificateInfo>, ApiError>;
    /// An agent's timeline, newest first, at most `limit` entries.
    async fn host_events(
        &self,
        me: &Me,
        agent_id: &str,
        limit: u32,
    ) -> Result<Vec<crate::HostEvent>, ApiError>;
    /// Top CPU and memory consumers, on one host or all.
    async fn top_consumers(
        &self,
        me: &Me,
        agent_id: Option<String>,
    ) -> Result<TopConsumers, ApiError>;

    // Alerting: the same methods the `/api/v1` alert routes call.
    /// Alerts newest first, firing or resolved or both.
    async fn alerts(&self, me: &Me, state: Option<AlertState>) -> Result<Vec<Alert>, ApiError>;
    /// One alert with its timeline.
    async fn alert(&self, me: &Me, id: i64) -> Result<AlertDetail, ApiError>;
    /// Acknowledges a firing alert.
    async fn acknowledge_alert(
        &self,
        me: &Me,
        id: i64,
        ack: Acknowledgement,
    ) -> Result<AlertDetail, ApiError>;
    async fn alert_rules(&self, me: &Me) -> Result<Vec<AlertRule>, ApiError>;
    /// Creates a rule (`id` `None`) or replaces one.
    async fn save_alert_rule(
        &self,
        me: &Me,
        id: Option<i64>,
        spec: AlertRuleSpec,
    ) -> Result<AlertRule, ApiError>;
    async fn delete_alert_rule(&self, me: &Me, id: i64) -> Result<(), ApiError>;
    /// How often a rule would have fired, from stored history.
    async fn preview_alert_rule(
        &self,
        me: &Me,
        spec: AlertRuleSpec,
    ) -> Result<RulePreview, ApiError>;
    async fn channels(&self, me: &Me) -> Result<Vec<NotificationChannel>, ApiError>;
    /// Creates a channel (`id` `None`) or replaces one (masked secrets are kept).
    async fn save_channel(
        &self,
        me: &Me,
        id: Option<i64>,
        spec: ChannelSpec,
    ) -> Result<NotificationChannel, ApiError>;
    async fn delete_channel(&self, me: &Me, id: i64) -> Result<(), ApiError>;
    /// Sends one test message now.
    async fn test_channel(&self, me: &Me, id: i64) -> Result<ChannelTestResult, ApiError>;
    async fn silences(&self, me: &Me) -> Result<Vec<Silence>, ApiError>;
    async fn create_silence(&self, me: &Me, spec: SilenceSpec) -> Result<Silence, ApiError>;
    async fn delete_silence(&self, me: &Me, id: i64) -> Result<(), ApiError>;

    // Accounts: the same methods the `/api/v1/users` routes call.
    /// Every account (admin).
    async fn users(&self, me: &Me) -> Result<Vec<UserInfo>, ApiError>;
    /// Creates an account with a role (admin).
    async fn add_user(&self, me: &Me, new: NewUser) -> Result<UserInfo, ApiError>;
    /// Changes a role, disables or enables (admin); disabling ends sessions and tokens.
    async fn update_user(&self, me: &Me, id: i64, patch: UserPatch) -> Result<UserInfo, ApiError>;
    /// The caller's own account.
    async fn my_account(&self, me: &Me) -> Result<UserInfo, ApiError>;
    /// The caller's own settings (the sign-in second factor).
    async fn update_my_account(&self, me: &Me, patch: MyAccountPatch)
    -> Result<UserInfo, ApiError>;
    /// A new TOTP secret for the caller, shown once.
    async fn begin_totp(&self, me: &Me) -> Result<TotpEnrollment, ApiError>;
    /// Confirms it with a code; the recovery codes, shown once.
    async fn confirm_totp(&self, me: &Me, code: &str) -> Result<RecoveryCodes, ApiError>;
    /// Turns one-time codes off with a code or a recovery code.
    async fn disable_totp(&self, me: &Me, code: &str) -> Result<(), ApiError>;
    /// The sign-in rules.
    async fn sign_in_policy(&self, me: &Me) -> Result<SignInPolicy, ApiError>;
    /// Sets the sign-in rules (admin).
    async fn set_sign_in_policy(
        &self,
        me: &Me,
        policy: SignInPolicy,
    ) -> Result<SignInPolicy, ApiError>;

    // Applications: the same methods the `/api/v1/apps` routes call.
    /// Tracked apps, filtered by host, tag and observed state.
    async fn apps(
        &self,
        me: &Me,
        agent_id: Option<String>,
        tag: Option<String>,
        state: Option<crate::apps::ObservedState>,
    ) -> Result<Vec<crate::apps::App>, ApiError>;
    async fn app(&self, me: &Me, id: i64) -> Result<crate::apps::App, ApiError>;
    async fn create_app(
        &self,
        me: &Me,
        new: crate::apps::NewApp,
    ) -> Result<crate::apps::App, ApiError>;
    async fn delete_app(&self, me: &Me, id: i64) -> Result<(), ApiError>;
    /// An agent's newest inventory.
    async fn inventory(&self, me: &Me, agent_id: &str) -> Result<crate::apps::Inventory, ApiError>;
    /// Restarts an app with a one-time code and a reason.
    async fn restart_app(
        &self,
        me: &Me,
        id: i64,
        code: &str,
        reason: &str,
    ) -> Result<crate::apps::Action, ApiError>;
    /// Restarts, newest first: of one app or all.
    async fn actions(
        &self,
        me: &Me,
        app_id: Option<i64>,
    ) -> Result<Vec<crate::apps::Action>, ApiError>;
    /// Audit log entries, newest first, before `before`.
    async fn audit_log(
        &self,
        me: &Me,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<crate::AuditEntry>, ApiError>;
    /// The transparency log's signed head now.
    async fn checkpoint(&self, me: &Me) -> Result<crate::TransparencyCheckpoint, ApiError>;
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

/// Who sent a request, as far as the server can tell: the server puts one in every request.
/// Proxy headers count only when the connection comes from a trusted proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address: the connection's peer, or what a trusted proxy reports.
    pub addr: std::net::IpAddr,
    /// The host the client addressed (`Host`, or a trusted proxy's `X-Forwarded-Host`), only
    /// when it is a valid `host[:port]`: it reaches install snippets.
    pub host: Option<String>,
    /// The request reached us over HTTPS (as a trusted proxy says).
    pub https: bool,
}

/// True for `name[:port]`, `ipv4[:port]` or `[ipv6][:port]`: DNS labels of letters, digits
/// and inner hyphens, at most 253 characters; nothing a shell or YAML would treat specially.
pub fn is_valid_host(text: &str) -> bool {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return false,
            },
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return false;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !host.is_empty() && host.len() <= 253 && host.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_grammar() {
        for ok in [
            "vantage.example.com",
            "localhost:8080",
            "10.0.0.1:80",
            "[::1]:8080",
            "[fd00::1]",
            "a-b.c",
        ] {
            assert!(is_valid_host(ok), "{ok}");
        }
        for bad in [
            "evil.com$(id)",
            "a b",
            "x;rm -rf",
            "",
            ":80",
            "host:0",
            "host:99999",
            "-a.com",
            "a..b",
            "[::1",
            "[zz]:1",
            "h\n",
            "`id`",
            "a'b",
        ] {
            assert!(!is_valid_host(bad), "{bad}");
        }
    }
}
