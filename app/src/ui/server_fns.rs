//! Server functions: the dashboard's calls into the server, over the same `Backend` the REST
//! API uses. Mounted under `/_sf/`; cookie-authenticated calls must be same-origin.
use leptos::prelude::*;

use crate::{ApiError, ApiTokenInfo, CreatedApiToken, History, HostSummary, Me};

/// Who is looking at the page, and whether the product still needs its first admin.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Viewer {
    /// True while no account exists.
    pub needs_setup: bool,
    /// The signed-in user, if any.
    pub user: Option<Me>,
}

#[cfg(feature = "ssr")]
mod server {
    use std::sync::Arc;

    use crate::backend::Backend;
    use crate::{ApiError, Me};

    /// Runs a server function's body; an error answers with its own HTTP status (a 401 is a
    /// 401, not leptos' default 500).
    pub async fn answer<T>(
        body: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let result = body.await;
        if let Err(e) = &result
            && let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
        {
            options.set_status(
                axum::http::StatusCode::from_u16(e.status())
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
            );
        }
        result
    }

    /// Now, in unix seconds.
    pub fn now_s() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    pub fn backend() -> Result<Arc<dyn Backend>, ApiError> {
        leptos::prelude::use_context::<Arc<dyn Backend>>().ok_or(ApiError::Internal)
    }

    pub async fn headers() -> Result<axum::http::HeaderMap, ApiError> {
        leptos_axum::extract::<axum::http::HeaderMap>()
            .await
            .map_err(|_| ApiError::Internal)
    }

    /// Who sent the request (the server resolves proxies and checks the host).
    pub async fn client() -> Result<crate::backend::ClientInfo, ApiError> {
        leptos_axum::extract::<axum::Extension<crate::backend::ClientInfo>>()
            .await
            .map(|axum::Extension(c)| c)
            .map_err(|_| ApiError::Internal)
    }

    pub async fn session_token() -> Result<Option<String>, ApiError> {
        Ok(crate::backend::session_cookie(&headers().await?))
    }

    pub async fn current_user() -> Result<Option<Me>, ApiError> {
        match session_token().await? {
            Some(token) => backend()?.session_user(&token).await,
            None => Ok(None),
        }
    }

    async fn require_user() -> Result<Me, ApiError> {
        current_user().await?.ok_or(ApiError::Unauthorized)
    }

    /// The one guard of server functions, as the authentication middleware is REST's: runs
    /// `body` with the signed-in caller and the backend, or answers 401 (403 while an admin
    /// requires a second factor the caller has not set up).
    pub async fn signed_in<T, F, Fut>(body: F) -> Result<T, ApiError>
    where
        F: FnOnce(Me, Arc<dyn Backend>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        answer(async move {
            let me = require_user().await?;
            if me.must_enroll_totp {
                return Err(ApiError::TotpEnrollmentRequired);
            }
            body(me, backend()?).await
        })
        .await
    }

    /// As [`signed_in`], for what stays open before the second factor is set up: the
    /// caller's own account and TOTP enrollment.
    pub async fn signed_in_enrolling<T, F, Fut>(body: F) -> Result<T, ApiError>
    where
        F: FnOnce(Me, Arc<dyn Backend>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        answer(async move {
            let me = require_user().await?;
            body(me, backend()?).await
        })
        .await
    }

    pub fn set_cookie(value: String) {
        if let (Some(response), Ok(value)) = (
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
            axum::http::HeaderValue::try_from(value),
        ) {
            response.append_header(axum::http::header::SET_COOKIE, value);
        }
    }
}

/// The viewer of the current request.
#[server(prefix = "/_sf", endpoint = "viewer")]
pub async fn get_viewer() -> Result<Viewer, ApiError> {
    server::answer(async move {
        let needs_setup = server::backend()?.needs_setup().await?;
        let user = if needs_setup {
            None
        } else {
            server::current_user().await?
        };
        Ok(Viewer { needs_setup, user })
    })
    .await
}

/// Creates the first admin, then sends the browser to the login page.
#[server(prefix = "/_sf", endpoint = "setup")]
pub async fn setup_admin(username: String, password: String) -> Result<(), ApiError> {
    server::answer(async move {
        server::backend()?.setup(username.trim(), &password).await?;
        leptos_axum::redirect("/login");
        Ok(())
    })
    .await
}

/// Signs in and opens the dashboard.
#[server(prefix = "/_sf", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    totp_code: Option<String>,
) -> Result<(), ApiError> {
    server::answer(async move {
        let client = server::client().await?;
        let credentials = crate::Credentials {
            username: username.trim().to_owned(),
            password,
            totp_code: totp_code.filter(|c| !c.trim().is_empty()),
        };
        let token = server::backend()?.login(&credentials, client.addr).await?;
        let https = client.https;
        server::set_cookie(crate::backend::session_set_cookie(Some(&token), https));
        leptos_axum::redirect("/");
        Ok(())
    })
    .await
}

/// Signs out.
#[server(prefix = "/_sf", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    server::answer(async move {
        if let Some(token) = server::session_token().await? {
            server::backend()?.logout(&token).await?;
        }
        let https = server::client().await?.https;
        server::set_cookie(crate::backend::session_set_cookie(None, https));
        leptos_axum::redirect("/login");
        Ok(())
    })
    .await
}

/// The newest figures of a host.
#[server(prefix = "/_sf", endpoint = "summary")]
pub async fn get_host_summary(agent_id: String) -> Result<HostSummary, ApiError> {
    server::signed_in(|me, backend| async move { backend.host_summary(&me, &agent_id).await }).await
}

/// The last `range_s` seconds of a metric.
#[server(prefix = "/_sf", endpoint = "history")]
pub async fn metric_history(
    agent_id: String,
    metric: crate::Metric,
    range_s: i64,
) -> Result<History, ApiError> {
    server::signed_in(|me, backend| async move {
        let request = crate::backend::HistoryRequest {
            agent_id,
            metric,
            from: None,
            to: None,
            last_s: Some(range_s),
            step: None,
        };
        backend.history(&me, request).await
    })
    .await
}

/// The last `range_s` seconds of every labelled series of a host.
#[server(prefix = "/_sf", endpoint = "series")]
pub async fn host_series(agent_id: String, range_s: i64) -> Result<crate::SeriesHistory, ApiError> {
    server::signed_in(|me, backend| async move {
        let request = crate::backend::SeriesRequest {
            agent_id,
            families: Vec::new(),
            from: None,
            to: None,
            last_s: Some(range_s),
            step: None,
        };
        backend.series_history(&me, request).await
    })
    .await
}

/// An agent's newest timeline entries.
#[server(prefix = "/_sf", endpoint = "host_events")]
pub async fn host_events(agent_id: String) -> Result<Vec<crate::HostEvent>, ApiError> {
    server::signed_in(|me, backend| async move { backend.host_events(&me, &agent_id, 50).await })
        .await
}

/// The viewer's API tokens.
#[server(prefix = "/_sf", endpoint = "tokens")]
pub async fn list_tokens() -> Result<Vec<ApiTokenInfo>, ApiError> {
    server::signed_in(|me, backend| async move { backend.list_api_tokens(&me).await }).await
}

/// Creates an API token and returns it, the only time it is shown.
#[server(prefix = "/_sf", endpoint = "create_token")]
pub async fn create_token(name: String, role: Option<String>) -> Result<CreatedApiToken, ApiError> {
    server::signed_in(|me, backend| async move {
        // From a form: empty means the user's own role.
        let role = match role.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                text.parse()
                    .map_err(|m: String| ApiError::invalid(crate::Field::Role, m))?,
            ),
        };
        backend.create_api_token(&me, &name, role).await
    })
    .await
}

/// Revokes one of the viewer's API tokens.
#[server(prefix = "/_sf", endpoint = "delete_token")]
pub async fn delete_token(id: i64) -> Result<(), ApiError> {
    server::signed_in(|me, backend| async move { backend.delete_api_token(&me, id).await }).await
}

/// Every host with its newest figures.
#[server(prefix = "/_sf", endpoint = "hosts")]
pub async fn list_hosts() -> Result<Vec<crate::HostOverview>, ApiError> {
    server::signed_in(|me, backend| async move { backend.hosts(&me).await }).await
}

/// Every registered agent.
#[server(prefix = "/_sf", endpoint = "agents")]
pub async fn list_agents() -> Result<Vec<crate::AgentInfo>, ApiError> {
    server::signed_in(|me, backend| async move { backend.agents(&me).await }).await
}

/// Renames and retags an agent; `tags` is comma-separated.
#[server(prefix = "/_sf", endpoint = "update_agent")]
pub async fn update_agent(
    agent_id: String,
    label: String,
    tags: String,
) -> Result<crate::AgentInfo, ApiError> {
    server::signed_in(|me, backend| async move {
        let tags = tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        backend
            .update_agent(
                &me,
                &agent_id,
                crate::AgentPatch {
                    label: Some(label),
                    tags: Some(tags),
                },
            )
            .await
    })
    .await
}

/// Revokes an agent.
#[server(prefix = "/_sf", endpoint = "revoke_agent")]
pub async fn revoke_agent(agent_id: String) -> Result<crate::AgentInfo, ApiError> {
    server::signed_in(|me, backend| async move { backend.revoke_agent(&me, &agent_id).await }).await
}

/// Deletes an agent and its data.
#[server(prefix = "/_sf", endpoint = "delete_agent")]
pub async fn delete_agent(agent_id: String) -> Result<(), ApiError> {
    server::signed_in(|me, backend| async move { backend.delete_agent(&me, &agent_id).await }).await
}

/// Issues an enrollment token with install snippets for this browser's view of the server.
#[server(prefix = "/_sf", endpoint = "create_enrollment")]
/// `hosts` is `single` (one host) or `fleet`; a fleet's `fleet_uses` is a number, or empty
/// for any number of hosts within the TTL.
pub async fn create_enrollment(
    ttl_hours: i64,
    hosts: String,
    fleet_uses: String,
) -> Result<crate::CreatedEnrollmentToken, ApiError> {
    server::signed_in(|me, backend| async move {
        let client = server::client().await?;
        let max_uses = match (hosts.as_str(), fleet_uses.trim()) {
            ("fleet", "") => None,
            ("fleet", n) => Some(n.parse::<i64>().map_err(|_| {
                ApiError::invalid(
                    crate::Field::MaxUses,
                    "The number of hosts is a whole number, or empty for any number.",
                )
            })?),
            _ => Some(1),
        };
        let request = crate::NewEnrollmentToken {
            ttl_hours: Some(ttl_hours),
            max_uses,
        };
        backend
            .create_enrollment_token(&me, request, client.host, client.https)
            .await
    })
    .await
}

/// Every enrollment token and the agents each enrolled.
#[server(prefix = "/_sf", endpoint = "enrollment_tokens")]
pub async fn list_enrollment_tokens() -> Result<Vec<crate::EnrollmentTokenInfo>, ApiError> {
    server::signed_in(|me, backend| async move { backend.enrollment_tokens(&me).await }).await
}

/// Deletes an enrollment token.
#[server(prefix = "/_sf", endpoint = "delete_enrollment_token")]
pub async fn delete_enrollment_token(id: i64) -> Result<(), ApiError> {
    server::signed_in(|me, backend| async move { backend.delete_enrollment_token(&me, id).await })
        .await
}

/// The agent downloads and their state.
#[server(prefix = "/_sf", endpoint = "agent_builds")]
pub async fn agent_builds() -> Result<Vec<crate::AgentBuildInfo>, ApiError> {
    server::signed_in(|me, backend| async move { backend.agent_builds(&me).await }).await
}

/// Containers of one host (or all).
#[server(prefix = "/_sf", endpoint = "containers")]
pub async fn list_containers(
    agent_id: Option<String>,
) -> Result<Vec<crate::ContainerInfo>, ApiError> {
    server::signed_in(|me, backend| async move { backend.containers(&me, agent_id).await }).await
}

/// The newest certificate scans of one host (or all), soonest expiry first.
#[server(prefix = "/_sf", endpoint = "certificates")]
pub async fn list_certificates(
    agent_id: Option<String>,
) -> Result<Vec<crate::CertificateInfo>, ApiError> {
    server::signed_in(|me, backend| async move { backend.certificates(&me, agent_id).await }).await
}

/// Top consumers of one host (or all).
#[server(prefix = "/_sf", endpoint = "top")]
pub async fn top_consumers(agent_id: Option<String>) -> Result<crate::TopConsumers, ApiError> {
    server::signed_in(|me, backend| async move { backend.top_consumers(&me, agent_id).await }).await
}

// Alerting. Rule, channel and silence bodies travel as JSON (nested fields), the rest as forms.

/// Alerts newest first: `firing`, `resolved`, or both (`None`).
#[server(prefix = "/_sf", endpoint = "alerts")]
pub async fn list_alerts(
    state: Option<crate::AlertState>,
) -> Result<Vec<crate::alerts::Alert>, ApiError> {
    server::signed_in(|me, backend| async move { backend.alerts(&me, state).await }).await
}

/// One alert with its timeline.
#[server(prefix = "/_sf", endpoint = "alert")]
pub async fn get_alert(id: i64) -> Result<crate::alerts::AlertDetail, ApiError> {
    server::signed_in(|me, backend| async move { backend.alert(&me, id).await }).await
}

/// Acknowledges a firing alert.
#[server(prefix = "/_sf", endpoint = "ack_alert")]
pub async fn ack_alert(id: i64, comment: String) -> Result<crate::alerts::AlertDetail, ApiError> {
    server::signed_in(|me, backend| async move {
        backend
            .acknowledge_alert(&me, id, crate::alerts::Acknowledgement { comment })
            .await
    })
    .await
}

/// Every alert rule with its firing and pending counts.
#[server(prefix = "/_sf", endpoint = "alert_rules")]
pub async fn list_alert_rules() -> Result<Vec<crate::alerts::AlertRule>, ApiError> {
    server::signed_in(|me, backend| async move { backend.alert_rules(&me).await }).await
}

/// Creates a rule (`id` `None`) or replaces one.
#[server(prefix = "/_sf", endpoint = "save_alert_rule", input = leptos::server_fn::codec::Json)]
pub async fn save_alert_rule(
    id: Option<i64>,
    spec: crate::alerts::AlertRuleSpec,
) -> Result<crate::alerts::AlertRule, ApiError> {
    server::signed_in(|me, backend| async move { backend.save_alert_rule(&me, id, spec).await })
        .await
}

/// Deletes a rule.
#[server(prefix = "/_sf", endpoint = "delete_alert_rule")]
pub async fn delete_alert_rule(id: i64) -> Result<(), ApiError> {
    server::signed_in(|me, backend| async move { backend.delete_alert_rule(&me, id).await }).await
}

/// How often a rule would have fired in the last 24 h and 7 d.
#[server(prefix = "/_sf", endpoint = "preview_alert_rule", input = leptos::server_fn::codec::Json)]
pub async fn preview_alert_rule(
    spec: crate::alerts::AlertRuleSpec,
) -> Result<crate::alerts::RulePreview, ApiError> {
    server::signed_in(|me, backend| async move { backend.preview_alert_rule(&me, spec).await })
        .await
}

/// Every notification channel, secrets masked.
#[server(prefix = "/_sf", endpoint = "channels")]
pub async fn list_channels() -> Result<Vec<crate::alerts::NotificationChannel>, ApiError> {
    server::signed_in(|me, backend| async move { backend.channels(&me).await }).await
}

/// Creates a channel (`id` `None`) or replaces one.
#[server(prefix = "/_sf", endpoint = "save_channel", input = leptos::server_fn::codec::Json)]
pub async fn save_channel(
    id: Option<i64>,
    spec: crate::alerts::ChannelSpec,
) -> Result<crate::alerts::NotificationChannel, ApiError> {
    server::signed_in(|me, backend| async move { backend.save_channel(&me, id, spec).await }).await
}

/// Deletes a channel.
#[server(prefix = "/_sf", endpoint = "delete_channel")]
pub async fn delete_channel(id: i64) -> Result<(), ApiError> {
    server::signed_in(|me, backend| async move { backend.delete_channel(&me, id).await }).await
}

/// Sends one test message through a channel now.
#[server(prefix = "/_sf", endpoint = "test_channel")]
pub async fn test_channel(id: i64) -> Result<crate::alerts::ChannelTestResult, ApiError> {
    server::signed_in(|me, backend| async move { backend.test_channel(&me, id).await }).await
}

/// Every silence, active or not.
#[server(prefix = "/_sf", endpoint = "silences")]
pub async fn list_silences() -> Result<Vec<crate::alerts::Silence>, ApiError> {
    server::signed_in(|me, backend| async move { backend.silences(&me).await }).await
}

/// Creates a silence; with `lasting_s` (and no `ends_at`) it ends that long from now.
#[server(prefix = "/_sf", endpoint = "create_silence", input = leptos::server_fn::codec::Json)]
pub async fn create_silence(
    spec: crate::alerts::SilenceSpec,
    lasting_s: Option<i64>,
) -> Result<crate::alerts::Silence, ApiError> {
    let mut spec = spec;
    server::signed_in(|me, backend| async move {
        if let Some(lasting) = lasting_s
            && spec.ends_at.is_none()
            && spec.weekly.is_none()
        {
            spec.ends_at = Some(crate::alerts::TimeInput::Seconds(
                server::now_s().saturating_add(lasting),
            ));
        }
        backend.create_silence(&me, spec).await
    })
    .await
}

/// Silences an alert's rule on its host (or everywhere, for a fleet alert) for `lasting_s`.
#[server(prefix = "/_sf", endpoint = "silence_alert")]
pub async fn silence_alert(id: i64, lasting_s: i64) -> Result<crate::alerts::Silence, ApiError> {
    server::signed_in(|me, backend| async move {
        let alert = backend.alert(&me, id).await?.alert;
        let spec = crate::alerts::SilenceSpec {
            matcher: crate::alerts::SilenceMatcher {
                rule_id: alert.rule_id,
                agent_id: alert.agent_id,
                tag: None,
                container: alert.subject.strip_prefix("container:").map(str::to_owned),
            },
            starts_at: None,
            ends_at: Some(crate::alerts::TimeInput::Seconds(
                server::now_s().saturating_add(lasting_s.clamp(60, 30 * 86_400)),
            )),
            weekly: None,
            comment: format!("silenced from alert {id}: {}", alert.rule_name),
        };
        backend.create_silence(&me, spec).await
    })
    .await
}

/// Ends and removes a silence.
#[server(prefix = "/_sf", endpoint = "delete_silence")]
pub async fn delete_silence(id: i64) -> Result<(), ApiError> {
    server::signed_in(|me, backend| async move { backend.delete_silence(&me, id).await }).await
}

/// Every account (admin).
#[server(prefix = "/_sf", endpoint = "users")]
pub async fn list_users() -> Result<Vec<crate::users::UserInfo>, ApiError> {
    server::signed_in(|me, backend| async move { backend.users(&me).await }).await
}

/// Creates an account (admin).
#[server(prefix = "/_sf", endpoint = "add_user")]
pub async fn add_user(
    username: String,
    password: String,
    role: crate::Role,
) -> Result<crate::users::UserInfo, ApiError> {
    server::signed_in(|me, backend| async move {
        let new = crate::users::NewUser {
            username,
            password,
            role,
        };
        backend.add_user(&me, new).await
    })
    .await
}

/// Changes a user's role or disables / enables them (admin).
#[server(prefix = "/_sf", endpoint = "update_user")]
pub async fn update_user(
    id: i64,
    patch: crate::users::UserPatch,
) -> Result<crate::users::UserInfo, ApiError> {
    server::signed_in(|me, backend| async move { backend.update_user(&me, id, patch).await }).await
}

/// The caller's own account, with the sign-in policy.
#[server(prefix = "/_sf", endpoint = "my_account")]
pub async fn my_account() -> Result<(crate::users::UserInfo, crate::users::SignInPolicy), ApiError>
{
    server::signed_in_enrolling(|me, backend| async move {
        Ok((
            backend.my_account(&me).await?,
            backend.sign_in_policy(&me).await?,
        ))
    })
    .await
}

/// Asks (or stops asking) for a one-time code at every sign-in.
#[server(prefix = "/_sf", endpoint = "totp_at_sign_in")]
pub async fn set_totp_at_sign_in(on: bool) -> Result<crate::users::UserInfo, ApiError> {
    server::signed_in_enrolling(|me, backend| async move {
        let patch = crate::users::MyAccountPatch {
            totp_at_sign_in: Some(on),
        };
        backend.update_my_account(&me, patch).await
    })
    .await
}

/// Starts TOTP enrollment: the secret and its QR code, shown once.
#[server(prefix = "/_sf", endpoint = "begin_totp")]
pub async fn begin_totp() -> Result<crate::users::TotpEnrollment, ApiError> {
    server::signed_in_enrolling(|me, backend| async move { backend.begin_totp(&me).await }).await
}

/// Confirms TOTP with a code; the recovery codes, shown once.
#[server(prefix = "/_sf", endpoint = "confirm_totp")]
pub async fn confirm_totp(code: String) -> Result<crate::users::RecoveryCodes, ApiError> {
    server::signed_in_enrolling(|me, backend| async move { backend.confirm_totp(&me, &code).await })
        .await
}

/// Turns one-time codes off with a code or a recovery code.
#[server(prefix = "/_sf", endpoint = "disable_totp")]
pub async fn disable_totp(code: String) -> Result<(), ApiError> {
    server::signed_in_enrolling(|me, backend| async move { backend.disable_totp(&me, &code).await })
        .await
}

/// Requires (or stops requiring) one-time codes for every account (admin).
#[server(prefix = "/_sf", endpoint = "sign_in_policy")]
pub async fn set_sign_in_policy(
    require_totp: bool,
) -> Result<crate::users::SignInPolicy, ApiError> {
    server::signed_in(|me, backend| async move {
        let policy = crate::users::SignInPolicy { require_totp };
        backend.set_sign_in_policy(&me, policy).await
    })
    .await
}

/// Tracked apps, filtered.
#[server(prefix = "/_sf", endpoint = "apps")]
pub async fn list_apps(
    agent_id: Option<String>,
    tag: Option<String>,
    state: Option<String>,
) -> Result<Vec<crate::apps::App>, ApiError> {
    server::signed_in(|me, backend| async move {
        let state = state
            .map(|s| s.parse().map_err(ApiError::InvalidQuery))
            .transpose()?;
        backend.apps(&me, agent_id, tag, state).await
    })
    .await
}

/// One app.
#[server(prefix = "/_sf", endpoint = "app")]
pub async fn get_app(id: i64) -> Result<crate::apps::App, ApiError> {
    server::signed_in(|me, backend| async move { backend.app(&me, id).await }).await
}

/// Tracks an app.
#[server(prefix = "/_sf", endpoint = "create_app")]
pub async fn create_app(new: crate::apps::NewApp) -> Result<crate::apps::App, ApiError> {
    server::signed_in(|me, backend| async move { backend.create_app(&me, new).await }).await
}

/// Stops tracking an app.
#[server(prefix = "/_sf", endpoint = "delete_app")]
pub async fn delete_app(id: i64) -> Result<(), ApiError> {
    server::signed_in(|me, backend| async move { backend.delete_app(&me, id).await }).await
}

/// An agent's newest inventory.
#[server(prefix = "/_sf", endpoint = "inventory")]
pub async fn agent_inventory(agent_id: String) -> Result<crate::apps::Inventory, ApiError> {
    server::signed_in(|me, backend| async move { backend.inventory(&me, &agent_id).await }).await
}

/// Restarts an app with a one-time code and a reason.
#[server(prefix = "/_sf", endpoint = "restart_app")]
pub async fn restart_app(
    id: i64,
    code: String,
    reason: String,
) -> Result<crate::apps::Action, ApiError> {
    server::signed_in(
        |me, backend| async move { backend.restart_app(&me, id, &code, &reason).await },
    )
    .await
}

/// Restarts, newest first.
#[server(prefix = "/_sf", endpoint = "actions")]
pub async fn list_actions(app_id: Option<i64>) -> Result<Vec<crate::apps::Action>, ApiError> {
    server::signed_in(|me, backend| async move { backend.actions(&me, app_id).await }).await
}

/// Audit log entries, newest first.
#[server(prefix = "/_sf", endpoint = "audit")]
pub async fn audit_entries(
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<crate::AuditEntry>, ApiError> {
    server::signed_in(|me, backend| async move { backend.audit_log(&me, before, limit).await })
        .await
}

/// The transparency log's signed head.
#[server(prefix = "/_sf", endpoint = "checkpoint")]
pub async fn audit_checkpoint() -> Result<crate::TransparencyCheckpoint, ApiError> {
    server::signed_in(|me, backend| async move { backend.checkpoint(&me).await }).await
}

/// How many alerts are firing, for the menu; none shown (rather than an error) while an admin's
/// policy makes the caller enroll one-time codes first.
#[server(prefix = "/_sf", endpoint = "firing_count")]
pub async fn firing_alert_count() -> Result<usize, ApiError> {
    server::signed_in_enrolling(|me, backend| async move {
        if me.must_enroll_totp {
            return Ok(0);
        }
        Ok(backend
            .alerts(&me, Some(crate::AlertState::Firing))
            .await?
            .len())
    })
    .await
}
