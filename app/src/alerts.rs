//! Alerts as the API and the dashboard show them: rules, alerts with their timelines,
//! silences, notification channels and deliveries, and the rules each field follows.
//!
//! A rule is a [`Condition`] (what breaches), a [`Scope`] (which hosts and containers), a
//! severity, how long it must breach before it fires (`for`) and how long it must be good
//! before it resolves (`recover_for`). New kinds of condition are new variants of
//! [`Condition`]; nothing else in the model changes.
use serde::{Deserialize, Serialize};

use crate::{
    AlertEventKind, AlertState, ChannelKind, ContainerFigure, DeliveryState, HostFigure, Severity,
};

/// What makes a rule breach, by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A host figure above `above`; good again below `clear_below` (default: `above`).
    HostThreshold {
        metric: HostFigure,
        /// For `disk`: one mount point; absent means the fullest file system.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mount: Option<String>,
        above: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clear_below: Option<f64>,
    },
    /// A container figure above `above`; good again below `clear_below`.
    ContainerThreshold {
        metric: ContainerFigure,
        above: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clear_below: Option<f64>,
    },
    /// An agent silent for longer than `silent_s` seconds.
    AgentDown { silent_s: u64 },
    /// A container that is not running (exited, dead, created).
    ContainerStopped,
    /// A container whose health check fails.
    ContainerUnhealthy,
    /// A container restarted `restarts` times or more within `window_s` seconds.
    ContainerRestarting { restarts: u32, window_s: u64 },
    /// A certificate that expires within `days` days.
    CertificateExpiring { days: i64 },
    /// A certificate whose chain or name does not verify, or that cannot be read.
    CertificateInvalid,
    /// A tracked app whose observed state has differed from its expected state for 3
    /// liveness checks in a row (4 when unknown).
    AppMismatch,
}

impl Condition {
    /// The `kind` as written on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::HostThreshold { .. } => "host_threshold",
            Condition::ContainerThreshold { .. } => "container_threshold",
            Condition::AgentDown { .. } => "agent_down",
            Condition::ContainerStopped => "container_stopped",
            Condition::ContainerUnhealthy => "container_unhealthy",
            Condition::ContainerRestarting { .. } => "container_restarting",
            Condition::CertificateExpiring { .. } => "certificate_expiring",
            Condition::CertificateInvalid => "certificate_invalid",
            Condition::AppMismatch => "app_mismatch",
        }
    }

    /// Whether the rule is about containers (and may name them by glob).
    pub fn is_about_containers(&self) -> bool {
        matches!(
            self,
            Condition::ContainerThreshold { .. }
                | Condition::ContainerStopped
                | Condition::ContainerUnhealthy
                | Condition::ContainerRestarting { .. }
        )
    }
}

/// Which hosts (and containers) a rule or a silence covers. Empty: every host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// One host: an agent id, or `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Every host with this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Containers whose name matches this glob (`*` any run of characters, `?` one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// How long a rule must breach before it fires: a number of consecutive evaluations, or a
/// duration (`"90s"`, `"5m"`, `"1h"`) of breaching without a good evaluation between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Evaluations(u32),
    Seconds(u64),
}

impl Default for Hold {
    fn default() -> Self {
        Hold::Evaluations(1)
    }
}

impl Serialize for Hold {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Hold::Evaluations(n) => serializer.serialize_u32(*n),
            Hold::Seconds(s) => serializer.serialize_str(&format!("{s}s")),
        }
    }
}

impl<'de> Deserialize<'de> for Hold {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Count(u32),
            Text(String),
        }
        match Wire::deserialize(deserializer)? {
            Wire::Count(n) => Ok(Hold::Evaluations(n)),
            Wire::Text(text) => parse_duration_s(&text).map(Hold::Seconds).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`for` is a number of evaluations (3) or a duration (90s, 5m, 1h), not {:?}",
                    text.chars().take(32).collect::<String>()
                ))
            }),
        }
    }
}

#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for Hold {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .description(Some("Consecutive breaching evaluations.")),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]+[smhd]?$"))
                    .description(Some("A duration of breaching: 90s, 5m, 1h.")),
            )
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for Hold {}

/// Seconds in `90`, `90s`, `5m`, `1h` or `1d`; `None` for anything else (or zero, or more
/// than a year).
pub fn parse_duration_s(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let seconds = n.checked_mul(match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    })?;
    (1..=366 * 86_400).contains(&seconds).then_some(seconds)
}

fn warning() -> Severity {
    Severity::Warning
}

fn two() -> u32 {
    2
}

fn yes() -> bool {
    true
}

/// Body of `POST /api/v1/alert-rules` and `PUT /api/v1/alert-rules/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSpec {
    /// 1 to 100 characters.
    pub name: String,
    pub condition: Condition,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default = "warning")]
    pub severity: Severity,
    /// Breaching evaluations (or a duration) before it fires; default 1.
    #[serde(rename = "for", default)]
    pub hold: Hold,
    /// Consecutive good evaluations before it resolves; default 2.
    #[serde(default = "two")]
    pub recover_for: u32,
    /// Notification channels (ids) it pages.
    #[serde(default)]
    pub channels: Vec<i64>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// The most characters in a rule, channel or silence name or comment.
pub const ALERT_NAME_MAX: usize = 100;
/// The most channels one rule pages.
pub const RULE_CHANNELS_MAX: usize = 16;

impl AlertRuleSpec {
    /// Checks every field; the error is a sentence naming the field.
    pub fn check(&self) -> Result<(), String> {
        crate::text::check_required_name("A rule name", self.name.trim(), ALERT_NAME_MAX)?;
        let finite = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("`{name}` is a number of at least 0."))
            }
        };
        match &self.condition {
            Condition::HostThreshold {
                metric,
                mount,
                above,
                clear_below,
            } => {
                finite("above", *above)?;
                if let Some(clear) = clear_below {
                    finite("clear_below", *clear)?;
                    if clear > above {
                        return Err("`clear_below` is at most `above`.".into());
                    }
                }
                let percent = matches!(
                    metric,
                    HostFigure::Cpu | HostFigure::Memory | HostFigure::Swap | HostFigure::Disk
                );
                if percent && *above > 100.0 {
                    return Err(format!("`above` is a percentage (0 to 100) for {metric}."));
                }
                if let Some(mount) = mount {
                    if *metric != HostFigure::Disk {
                        return Err("`mount` belongs to the disk metric only.".into());
                    }
                    if !mount.starts_with('/') {
                        return Err("`mount` is an absolute mount point such as /data.".into());
                    }
                    crate::text::check_name("A mount point", mount, 4096)?;
                }
            }
            Condition::ContainerThreshold {
                above, clear_below, ..
            } => {
                finite("above", *above)?;
                if let Some(clear) = clear_below {
                    finite("clear_below", *clear)?;
                    if clear > above {
                        return Err("`clear_below` is at most `above`.".into());
                    }
                }
            }
            Condition::AgentDown { silent_s } => {
                if !(10..=7 * 86_400).contains(silent_s) {
                    return Err("`silent_s` is 10 seconds to 7 days.".into());
                }
            }
            Condition::ContainerRestarting { restarts, window_s } => {
                if !(1..=1_000).contains(restarts) {
                    return Err("`restarts` is 1 to 1000.".into());
                }
                if !(10..=7 * 86_400).contains(window_s) {
                    return Err("`window_s` is 10 seconds to 7 days.".into());
                }
            }
            Condition::CertificateExpiring { days } => {
                if !(1..=3_650).contains(days) {
                    return Err("`days` is 1 to 3650.".into());
                }
            }
            Condition::ContainerStopped
            | Condition::ContainerUnhealthy
            | Condition::CertificateInvalid
            | Condition::AppMismatch => {}
        }
        self.scope.check(self.condition.is_about_containers())?;
        match self.hold {
            Hold::Evaluations(n) if !(1..=1_000).contains(&n) => {
                return Err("`for` is 1 to 1000 evaluations, or a duration.".into());
            }
            _ => {}
        }
        if !(1..=1_000).contains(&self.recover_for) {
            return Err("`recover_for` is 1 to 1000 evaluations.".into());
        }
        if self.channels.len() > RULE_CHANNELS_MAX {
            return Err(format!(
                "A rule pages at most {RULE_CHANNELS_MAX} channels."
            ));
        }
        Ok(())
    }
}

impl Scope {
    /// One of agent and tag at most; a container glob only where containers are meant.
    pub fn check(&self, containers: bool) -> Result<(), String> {
        if self.agent_id.is_some() && self.tag.is_some() {
            return Err("A scope names one agent or one tag, not both.".into());
        }
        if let Some(agent) = &self.agent_id {
            crate::text::check_required_name("The scope's agent_id", agent, 64)?;
        }
        if let Some(tag) = &self.tag {
            crate::text::check_required_name("The scope's tag", tag, crate::text::TAG_MAX)?;
        }
        if let Some(glob) = &self.container {
            if !containers {
                return Err("A container glob belongs to container rules only.".into());
            }
            crate::text::check_required_name("The container glob", glob, 255)?;
        }
        Ok(())
    }
}

/// `*` matches any run of characters, `?` exactly one; everything else itself.
pub fn glob_matches(glob: &str, text: &str) -> bool {
    let (glob, text): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    // Iterative matching with one backtrack point: linear in practice, no recursion.
    let (mut g, mut t, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        if g < glob.len() && (glob[g] == '?' || glob[g] == text[t]) {
            g += 1;
            t += 1;
        } else if g < glob.len() && glob[g] == '*' {
            star = Some(g);
            mark = t;
            g += 1;
        } else if let Some(s) = star {
            g = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|c| *c == '*')
}

/// `POST /api/v1/alert-rules/preview`: how often a rule would have fired, replayed on the
/// stored samples of the hosts it covers through the live engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RulePreview {
    /// False when the rule's kind has no stored history to replay; `note` says why.
    pub supported: bool,
    /// Why it cannot be replayed, or what the replay approximates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Hosts the rule covers now.
    pub hosts_in_scope: u32,
    /// Hosts replayed (at most [`PREVIEW_HOSTS_MAX`], in agent id order).
    pub hosts_evaluated: u32,
    /// The last 24 hours, then the last 7 days.
    pub windows: Vec<PreviewWindow>,
}

/// Most hosts one preview replays.
pub const PREVIEW_HOSTS_MAX: usize = 100;

/// One window of a [`RulePreview`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PreviewWindow {
    /// The window's length in seconds (86400, 604800).
    pub window_s: i64,
    /// How many times it would have fired, over all hosts.
    pub fired: u32,
    /// On how many hosts.
    pub hosts_fired: u32,
    /// Samples replayed.
    pub samples: u64,
    /// The first time it would have fired (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_fired_at: Option<String>,
}

/// A rule as listed, with what it is doing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AlertRule {
    pub id: i64,
    /// The rule as it was written (the body of POST and PUT).
    pub spec: AlertRuleSpec,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Its alerts firing now.
    pub firing: u32,
    /// Subjects breaching now that have not breached for long enough yet.
    pub pending: u32,
}

/// An alert: one rule about one subject (a host, a container, a mount, a certificate, or
/// the fleet), from its first breach to its resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: i64,
    /// The rule (absent once deleted).
    pub rule_id: Option<i64>,
    pub rule_name: String,
    pub severity: Severity,
    /// `firing` or `resolved` (pending breaches are on the rule).
    pub state: AlertState,
    /// The host, or absent for a fleet-wide alert.
    pub agent_id: Option<String>,
    pub host_label: String,
    /// What it is about: `host`, `container:NAME`, `mount:/PATH`, `certificate:TARGET`,
    /// `fleet`.
    pub subject: String,
    /// The message, with the likely cause.
    pub summary: String,
    /// The figure that breached, when there is one.
    pub value: Option<f64>,
    /// The top processes and containers when it fired (CPU and memory alerts).
    pub culprits: Vec<String>,
    /// First breach (RFC 3339).
    pub started_at: String,
    pub fired_at: Option<String>,
    pub resolved_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
    /// The silence holding its notifications back, when one does.
    pub silenced_by: Option<i64>,
}

/// One entry of an alert's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AlertEvent {
    /// RFC 3339 with milliseconds.
    pub at: String,
    pub kind: AlertEventKind,
    /// What happened, in a sentence ("2 of 3 breaching evaluations: cpu 97.1 %").
    pub text: String,
}

/// `GET /api/v1/alerts/{id}`: the alert and why it did what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: Alert,
    /// Oldest first.
    pub timeline: Vec<AlertEvent>,
}

fn ten() -> u64 {
    10
}

/// Body of `POST /api/v1/notification-channels` and `PUT …/{id}`.
///
/// `settings` by kind (secret fields marked *; on update, a secret left out keeps its value):
/// - `slack`, `discord`: `url`* (the incoming webhook)
/// - `webhook`: `url`*, `secret`* (16+ characters; the HMAC-SHA256 key)
/// - `ntfy`: `url`* (server and topic, `https://ntfy.sh/mytopic`), `token`*
/// - `telegram`: `bot_token`*, `chat_id`, `api_url` (default `https://api.telegram.org`)
/// - `pagerduty`: `routing_key`*, `url` (default `https://events.pagerduty.com/v2/enqueue`)
/// - `email`: `host`, `port` (587), `security` (`starttls` or `tls`), `username`,
///   `password`*, `from`, `to` (a list), `ca_pem` (a private CA to trust)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// 1 to 100 characters, unique.
    pub name: String,
    pub kind: ChannelKind,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub settings: serde_json::Value,
    /// Only alerts of these severities; empty: every one.
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// Alerts within this many seconds go out as one message (0 to 3600, default 10).
    #[serde(default = "ten")]
    pub group_wait_s: u64,
    /// Remind about an alert still firing (and not acknowledged) this often; absent: never.
    #[serde(default)]
    pub repeat_interval_s: Option<u64>,
    /// Send a notice when an alert resolves (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl ChannelSpec {
    /// The fields that do not depend on the kind.
    pub fn check(&self) -> Result<(), String> {
        crate::text::check_required_name("A channel name", self.name.trim(), ALERT_NAME_MAX)?;
        if self.group_wait_s > 3_600 {
            return Err("`group_wait_s` is 0 to 3600.".into());
        }
        if let Some(r) = self.repeat_interval_s
            && !(60..=7 * 86_400).contains(&r)
        {
            return Err("`repeat_interval_s` is 60 seconds to 7 days.".into());
        }
        if !self.settings.is_object() {
            return Err("`settings` is an object.".into());
        }
        Ok(())
    }
}

/// A channel as listed: its secrets masked (the last four characters at most).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotificationChannel {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub settings: serde_json::Value,
    pub severities: Vec<Severity>,
    pub group_wait_s: u64,
    pub repeat_interval_s: Option<u64>,
    pub send_resolved: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /api/v1/notification-channels/{id}/test`: how sending a test message went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChannelTestResult {
    pub ok: bool,
    /// The receiver's HTTP status (or SMTP reply code).
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// One notification to one channel (it may carry several alerts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: i64,
    pub channel_id: i64,
    /// The alerts it carries.
    pub alert_ids: Vec<i64>,
    /// What for, per alert: `firing`, `resolved`, `reminder` or `test`.
    pub events: Vec<String>,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_at: String,
    /// When it is (or was last) due.
    pub next_attempt_at: String,
    pub sent_at: Option<String>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub latency_ms: Option<u64>,
}

/// What a silence covers: every field given must match. Empty: everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SilenceMatcher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// A container name glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// A weekly maintenance window, in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WeeklyWindow {
    /// Days it starts on: `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, UTC.
    pub start: String,
    /// 1 to 10080 minutes.
    pub duration_minutes: u32,
}

/// A time in a request: unix seconds, or RFC 3339 text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum TimeInput {
    Seconds(i64),
    Text(String),
}

/// Body of `POST /api/v1/silences`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    #[serde(default)]
    pub matcher: SilenceMatcher,
    /// RFC 3339 or unix seconds; default now.
    #[serde(default)]
    pub starts_at: Option<TimeInput>,
    /// RFC 3339 or unix seconds; absent only with `weekly` (a standing window).
    #[serde(default)]
    pub ends_at: Option<TimeInput>,
    #[serde(default)]
    pub weekly: Option<WeeklyWindow>,
    /// Why (1 to 100 characters).
    pub comment: String,
}

/// A silence as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Silence {
    pub id: i64,
    pub matcher: SilenceMatcher,
    pub starts_at: String,
    pub ends_at: Option<String>,
    pub weekly: Option<WeeklyWindow>,
    pub author: String,
    pub comment: String,
    pub created_at: String,
    /// It holds notifications back right now.
    pub active: bool,
}

/// Body of `POST /api/v1/alerts/{id}/ack`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    #[serde(default)]
    pub comment: String,
}
