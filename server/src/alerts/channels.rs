//! Notification channels: each kind's settings (checked, with their secrets known by name so
//! they can be masked), the message each kind expects, and sending it.
use std::time::{Duration, Instant};

use app::ChannelKind;
use app::alerts::Alert;
use ring::hmac;
use serde_json::{Value, json};

use super::outbound::{OutboundPolicy, check_url, http_client};

/// A channel's settings, checked.
#[derive(Debug, Clone)]
pub enum Target {
    Slack {
        url: reqwest::Url,
    },
    Discord {
        url: reqwest::Url,
    },
    Webhook {
        url: reqwest::Url,
        secret: String,
    },
    Ntfy {
        url: reqwest::Url,
        token: Option<String>,
    },
    Telegram {
        bot_token: String,
        chat_id: String,
        api_url: reqwest::Url,
    },
    Pagerduty {
        routing_key: String,
        url: reqwest::Url,
    },
    Email(Email),
}

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct Email {
    pub host: String,
    pub port: u16,
    /// STARTTLS (true) or TLS from the first byte.
    pub starttls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub ca_pem: Option<String>,
}

/// The settings fields that are secrets, per kind: masked in answers, kept when an update
/// leaves them out.
pub fn secret_fields(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Slack | ChannelKind::Discord => &["url"],
        ChannelKind::Webhook => &["url", "secret"],
        ChannelKind::Ntfy => &["url", "token"],
        ChannelKind::Telegram => &["bot_token"],
        ChannelKind::Pagerduty => &["routing_key"],
        ChannelKind::Email => &["password"],
    }
}

fn allowed_fields(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Slack | ChannelKind::Discord => &["url"],
        ChannelKind::Webhook => &["url", "secret"],
        ChannelKind::Ntfy => &["url", "token"],
        ChannelKind::Telegram => &["bot_token", "chat_id", "api_url"],
        ChannelKind::Pagerduty => &["routing_key", "url"],
        ChannelKind::Email => &[
            "host", "port", "security", "username", "password", "from", "to", "ca_pem",
        ],
    }
}

/// `settings` with every secret masked: the last four characters at most.
pub fn masked(kind: ChannelKind, settings: &Value) -> Value {
    let mut out = settings.clone();
    if let Some(map) = out.as_object_mut() {
        for field in secret_fields(kind) {
            if let Some(Value::String(s)) = map.get_mut(*field) {
                let chars: Vec<char> = s.chars().collect();
                let tail: String = if chars.len() > 12 {
                    chars[chars.len() - 4..].iter().collect()
                } else {
                    String::new()
                };
                *s = format!("…{tail}");
            }
        }
    }
    out
}

/// `new` with the secrets it leaves out taken from `old` (an update that does not repeat
/// them keeps them).
pub fn keep_secrets(kind: ChannelKind, new: &Value, old: &Value) -> Value {
    let mut out = new.clone();
    if let (Some(map), Some(old)) = (out.as_object_mut(), old.as_object()) {
        for field in secret_fields(kind) {
            let given = map.get(*field).and_then(Value::as_str);
            if (given.is_none() || given.is_some_and(|s| s.starts_with('…')))
                && let Some(v) = old.get(*field)
            {
                map.insert((*field).to_owned(), v.clone());
            }
        }
    }
    out
}

fn text(settings: &serde_json::Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match settings.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            if s.chars().any(|c| c.is_control() && c != '\n') {
                return Err(format!("`{field}` may not hold control characters."));
            }
            if s.len() > 8_192 {
                return Err(format!("`{field}` is at most 8192 bytes."));
            }
            Ok(Some(s.trim().to_owned()))
        }
        Some(_) => Err(format!("`{field}` is a string.")),
    }
}

fn required(settings: &serde_json::Map<String, Value>, field: &str) -> Result<String, String> {
    text(settings, field)?.ok_or_else(|| format!("`settings.{field}` is required."))
}

/// Checks a kind's settings; the error is a sentence naming the field.
pub fn parse(
    kind: ChannelKind,
    settings: &Value,
    policy: &OutboundPolicy,
) -> Result<Target, String> {
    let map = settings.as_object().ok_or("`settings` is an object.")?;
    if let Some(unknown) = map
        .keys()
        .find(|k| !allowed_fields(kind).contains(&k.as_str()))
    {
        return Err(format!(
            "`settings.{unknown}` is not a {kind} setting; use {}.",
            allowed_fields(kind).join(", ")
        ));
    }
    let url = |field: &str, default: Option<&str>| -> Result<reqwest::Url, String> {
        let value = match (text(map, field)?, default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => return Err(format!("`settings.{field}` is required.")),
        };
        check_url(policy, &value).map_err(|e| format!("`settings.{field}`: {e}"))
    };
    Ok(match kind {
        ChannelKind::Slack => Target::Slack {
            url: url("url", None)?,
        },
        ChannelKind::Discord => Target::Discord {
            url: url("url", None)?,
        },
        ChannelKind::Webhook => {
            let secret = required(map, "secret")?;
            if secret.len() < 16 {
                return Err("`settings.secret` is at least 16 characters.".into());
            }
            Target::Webhook {
                url: url("url", None)?,
                secret,
            }
        }
        ChannelKind::Ntfy => Target::Ntfy {
            url: url("url", None)?,
            token: text(map, "token")?,
        },
        ChannelKind::Telegram => {
            let bot_token = required(map, "bot_token")?;
            if !bot_token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_' || c == '-')
            {
                return Err(
                    "`settings.bot_token` is the token BotFather gave (digits, a colon, letters)."
                        .into(),
                );
            }
            Target::Telegram {
                bot_token,
                chat_id: required(map, "chat_id")?,
                api_url: url("api_url", Some("https://api.telegram.org"))?,
            }
        }
        ChannelKind::Pagerduty => Target::Pagerduty {
            routing_key: required(map, "routing_key")?,
            url: url("url", Some("https://events.pagerduty.com/v2/enqueue"))?,
        },
        ChannelKind::Email => {
            let host = required(map, "host")?;
            if host.contains(['/', ' ', '@']) {
                return Err("`settings.host` is a host name or address.".into());
            }
            let port = match map.get("port") {
                None | Some(Value::Null) => 587,
                Some(v) => v
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p > 0)
                    .ok_or("`settings.port` is 1 to 65535.")?,
            };
            let starttls = match text(map, "security")?.as_deref() {
                None | Some("starttls") => true,
                Some("tls") => false,
                Some(_) => return Err("`settings.security` is starttls or tls.".into()),
            };
            let to: Vec<String> = match map.get("to") {
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or("`settings.to` is a list of addresses.")?,
                Some(Value::String(one)) => vec![one.clone()],
                _ => return Err("`settings.to` is required: a list of addresses.".into()),
            };
            if to.is_empty() || to.len() > 50 {
                return Err("`settings.to` holds 1 to 50 addresses.".into());
            }
            let from = required(map, "from")?;
            for address in to.iter().chain(std::iter::once(&from)) {
                address
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|_| format!("{address:?} is not an email address."))?;
            }
            Target::Email(Email {
                host,
                port,
                starttls,
                username: text(map, "username")?,
                password: text(map, "password")?,
                from,
                to,
                ca_pem: text(map, "ca_pem")?,
            })
        }
    })
}

/// Why a notice went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeEvent {
    Firing,
    Resolved,
    Reminder,
    Test,
}

impl NoticeEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::Firing => "firing",
            NoticeEvent::Resolved => "resolved",
            NoticeEvent::Reminder => "reminder",
            NoticeEvent::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "firing" => NoticeEvent::Firing,
            "resolved" => NoticeEvent::Resolved,
            "reminder" => NoticeEvent::Reminder,
            "test" => NoticeEvent::Test,
            _ => return None,
        })
    }
}

/// One alert in a notice.
#[derive(Debug, Clone)]
pub struct NoticeItem {
    pub alert: Alert,
    pub event: NoticeEvent,
    /// Why it resolved ("unreachable for 4 min, nothing lost (24 samples backfilled)").
    pub note: String,
}

/// What one delivery says: one or more alerts, grouped.
#[derive(Debug, Clone)]
pub struct Notice {
    pub delivery_id: i64,
    pub items: Vec<NoticeItem>,
    /// The dashboard's address, for links.
    pub base_url: Option<String>,
}

impl Notice {
    /// `[FIRING:2] CPU 97.1 % on web-1 (above 90.0 %)` — counts, then the first summary.
    pub fn title(&self) -> String {
        let count = |e: NoticeEvent| self.items.iter().filter(|i| i.event == e).count();
        let mut parts = Vec::new();
        for (event, name) in [
            (NoticeEvent::Firing, "FIRING"),
            (NoticeEvent::Reminder, "STILL FIRING"),
            (NoticeEvent::Resolved, "RESOLVED"),
            (NoticeEvent::Test, "TEST"),
        ] {
            match count(event) {
                0 => {}
                n => parts.push(format!("{name}:{n}")),
            }
        }
        let first = self
            .items
            .first()
            .map(|i| i.alert.summary.as_str())
            .unwrap_or("Vantage");
        format!("[{}] {first}", parts.join(", "))
    }

    /// One line per alert.
    pub fn lines(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|item| {
                let a = &item.alert;
                let mut line = match item.event {
                    NoticeEvent::Firing => format!("FIRING [{}] {}", a.severity, a.summary),
                    NoticeEvent::Reminder => format!("STILL FIRING [{}] {}", a.severity, a.summary),
                    NoticeEvent::Resolved => format!("RESOLVED [{}] {}", a.severity, a.summary),
                    NoticeEvent::Test => format!("TEST {}", a.summary),
                };
                if !a.culprits.is_empty() && item.event != NoticeEvent::Resolved {
                    line.push_str(&format!(" — top: {}", a.culprits.join(", ")));
                }
                if !item.note.is_empty() {
                    line.push_str(&format!(" — {}", item.note));
                }
                if let Some(base) = &self.base_url
                    && item.event != NoticeEvent::Test
                {
                    line.push_str(&format!(" {base}/alerts/{}", a.id));
                }
                line
            })
            .collect()
    }

    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    fn worst(&self) -> app::Severity {
        if self.items.iter().any(|i| {
            i.alert.severity == app::Severity::Critical && i.event != NoticeEvent::Resolved
        }) {
            app::Severity::Critical
        } else {
            app::Severity::Warning
        }
    }

    fn all_resolved(&self) -> bool {
        self.items.iter().all(|i| i.event == NoticeEvent::Resolved)
    }
}

/// How a send ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
}

/// Sends notices; one per server, shared by every channel's queue.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    policy: OutboundPolicy,
    timeout: Duration,
}

impl Sender {
    pub fn new(policy: OutboundPolicy, timeout: Duration) -> Self {
        Self {
            http: http_client(policy, timeout),
            policy,
            timeout,
        }
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// Sends `notice` to `target`, within the timeout.
    pub async fn send(&self, target: &Target, notice: &Notice) -> Outcome {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.try_send(target, notice)).await;
        let latency = started.elapsed();
        match result {
            Ok(Ok(status)) => Outcome {
                ok: true,
                status,
                latency,
                error: None,
            },
            Ok(Err((status, error))) => Outcome {
                ok: false,
                status,
                latency,
                error: Some(error),
            },
            Err(_) => Outcome {
                ok: false,
                status: None,
                latency,
                error: Some(format!("no answer within {} s", self.timeout.as_secs())),
            },
        }
    }

    async fn try_send(
        &self,
        target: &Target,
        notice: &Notice,
    ) -> Result<Option<u16>, (Option<u16>, String)> {
        match target {
            Target::Slack { url } => {
                self.post_json(
                    url,
                    &json!({ "text": format!("*{}*\n{}", notice.title(), notice.text()) }),
                    &[],
                )
                .await
            }
            Target::Discord { url } => {
                let mut content = format!("**{}**\n{}", notice.title(), notice.text());
                truncate(&mut content, 2_000);
                self.post_json(
                    url,
                    &json!({ "content": content, "allowed_mentions": { "parse": [] } }),
                    &[],
                )
                .await
            }
            Target::Webhook { url, secret } => {
                let body = webhook_body(notice).to_string();
                let timestamp = proto::clock::now_s();
                let signature = sign(secret, timestamp, &body);
                let headers = [
                    ("x-vantage-timestamp", timestamp.to_string()),
                    (
                        "x-vantage-signature",
                        format!("t={timestamp},v1={signature}"),
                    ),
                    ("x-vantage-delivery", notice.delivery_id.to_string()),
                ];
                self.post(url, body, "application/json", &headers).await
            }
            Target::Ntfy { url, token } => {
                let resolved = notice.all_resolved();
                let (priority, tags) = match (resolved, notice.worst()) {
                    (true, _) => ("3", "white_check_mark"),
                    (false, app::Severity::Critical) => ("5", "rotating_light"),
                    (false, app::Severity::Warning) => ("4", "warning"),
                };
                let mut title = notice.title();
                truncate(&mut title, 250);
                let mut headers = vec![
                    ("title", title),
                    ("priority", priority.to_owned()),
                    ("tags", tags.to_owned()),
                ];
                if let Some(token) = token {
                    headers.push(("authorization", format!("Bearer {token}")));
                }
                self.post(url, notice.text(), "text/plain; charset=utf-8", &headers)
                    .await
            }
            Target::Telegram {
                bot_token,
                chat_id,
                api_url,
            } => {
                let url = reqwest::Url::parse(&format!(
                    "{}/bot{bot_token}/sendMessage",
                    api_url.as_str().trim_end_matches('/')
                ))
                .map_err(|_| (None, "the Telegram API URL does not take a path".to_owned()))?;
                let mut text = format!("{}\n{}", notice.title(), notice.text());
                truncate(&mut text, 4_096);
                self.post_json(
                    &url,
                    &json!({ "chat_id": chat_id, "text": text, "disable_web_page_preview": true }),
                    &[],
                )
                .await
            }
            Target::Pagerduty { routing_key, url } => {
                // One event per alert: PagerDuty deduplicates by key, so a retry is harmless.
                let mut last = None;
                for item in &notice.items {
                    let a = &item.alert;
                    let action = match item.event {
                        NoticeEvent::Resolved => "resolve",
                        _ => "trigger",
                    };
                    let event = json!({
                        "routing_key": routing_key,
                        "event_action": action,
                        "dedup_key": format!("vantage-alert-{}", a.id),
                        "payload": {
                            "summary": truncated(&a.summary, 1_024),
                            "source": a.host_label,
                            "severity": a.severity.as_str(),
                            "component": a.subject,
                            "group": a.rule_name,
                            "custom_details": { "culprits": a.culprits, "rule": a.rule_name, "note": item.note },
                        },
                        "client": "Vantage",
                    });
                    last = self.post_json(url, &event, &[]).await?;
                }
                Ok(last)
            }
            Target::Email(email) => self.send_email(email, notice).await,
        }
    }

    async fn post_json(
        &self,
        url: &reqwest::Url,
        body: &Value,
        headers: &[(&str, String)],
    ) -> Result<Option<u16>, (Option<u16>, String)> {
        self.post(url, body.to_string(), "application/json", headers)
            .await
    }

    async fn post(
        &self,
        url: &reqwest::Url,
        body: String,
        content_type: &str,
        headers: &[(&str, String)],
    ) -> Result<Option<u16>, (Option<u16>, String)> {
        // Literal addresses never reach the resolver: check them here, at every send.
        check_url(&self.policy, url.as_str()).map_err(|e| (None, e))?;
        let mut request = self
            .http
            .post(url.clone())
            .header("content-type", content_type)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(|e| {
            let text = if e.is_timeout() {
                format!("no answer within {} s", self.timeout.as_secs())
            } else {
                describe(&e)
            };
            (None, text)
        })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(Some(status))
        } else {
            let mut text = response.text().await.unwrap_or_default();
            truncate(&mut text, 200);
            Err((
                Some(status),
                format!("the receiver answered {status}: {}", text.trim()),
            ))
        }
    }

    async fn send_email(
        &self,
        email: &Email,
        notice: &Notice,
    ) -> Result<Option<u16>, (Option<u16>, String)> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

        let fail = |e: String| (None, e);
        // Resolved once and checked; the connection goes to that address, and TLS still
        // verifies the certificate for the configured name.
        let address = self
            .policy
            .resolve(&email.host, email.port)
            .await
            .map_err(fail)?
            .into_iter()
            .next()
            .ok_or_else(|| fail(format!("{} resolves to no address", email.host)))?;
        let mut tls = TlsParameters::builder(email.host.clone());
        if let Some(pem) = &email.ca_pem {
            let ca = Certificate::from_pem(pem.as_bytes())
                .map_err(|e| fail(format!("`ca_pem` is not a PEM certificate: {e}")))?;
            tls = tls.add_root_certificate(ca);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| fail(format!("cannot set up TLS: {e}")))?;
        let mut transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
                .port(address.port())
                .tls(if email.starttls {
                    Tls::Required(tls)
                } else {
                    Tls::Wrapper(tls)
                })
                .timeout(Some(self.timeout));
        if let (Some(user), Some(password)) = (&email.username, &email.password) {
            transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let transport = transport.build();
        let mut message = Message::builder()
            .from(
                email
                    .from
                    .parse()
                    .map_err(|_| fail("`from` is not an address".into()))?,
            )
            .subject(truncated(&notice.title(), 200));
        for to in &email.to {
            message = message.to(to
                .parse()
                .map_err(|_| fail(format!("{to:?} is not an address")))?);
        }
        let message = message
            .body(notice.text())
            .map_err(|e| fail(format!("cannot build the message: {e}")))?;
        match transport.send(message).await {
            Ok(response) => Ok(Some(u16::from(response.code()))),
            Err(e) => Err((e.status().map(u16::from), format!("SMTP: {e}"))),
        }
    }
}

/// The webhook's JSON body.
pub fn webhook_body(notice: &Notice) -> Value {
    json!({
        "version": 1,
        "delivery_id": notice.delivery_id,
        "title": notice.title(),
        "alerts": notice.items.iter().map(|i| json!({
            "event": i.event.as_str(),
            "note": i.note,
            "alert": i.alert,
        })).collect::<Vec<_>>(),
    })
}

/// The webhook signature: hex HMAC-SHA256 with the channel's secret over
/// `"<timestamp>.<body>"`. A receiver recomputes it and refuses a timestamp more than five
/// minutes away from its clock, so a captured request cannot be replayed later.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    hex::encode(tag.as_ref())
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max.saturating_sub(1);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
}

fn truncated(text: &str, max: usize) -> String {
    let mut t = text.to_owned();
    truncate(&mut t, max);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OutboundPolicy {
        OutboundPolicy::default()
    }

    #[test]
    fn secrets_are_masked_and_kept_on_update() {
        let settings = json!({"url": "https://hooks.slack.com/services/T000/B000/abcdefgh1234"});
        let shown = masked(ChannelKind::Slack, &settings);
        assert_eq!(shown["url"], "…1234");
        let kept = keep_secrets(ChannelKind::Slack, &shown, &settings);
        assert_eq!(kept, settings);
        let short = masked(
            ChannelKind::Webhook,
            &json!({"url": "https://x.example/h", "secret": "0123456789abcdef"}),
        );
        assert_eq!(short["secret"], "…cdef");
    }

    #[test]
    fn settings_are_checked_per_kind() {
        let err = parse(
            ChannelKind::Webhook,
            &json!({"url": "https://x.example/h", "secret": "short"}),
            &policy(),
        )
        .unwrap_err();
        assert!(err.contains("16"), "{err}");
        let err = parse(
            ChannelKind::Slack,
            &json!({"url": "https://x.example/h", "channel": "#ops"}),
            &policy(),
        )
        .unwrap_err();
        assert!(err.contains("settings.channel"), "{err}");
        let err = parse(
            ChannelKind::Discord,
            &json!({"url": "http://169.254.169.254/"}),
            &policy(),
        )
        .unwrap_err();
        assert!(err.contains("metadata"), "{err}");
        let err = parse(
            ChannelKind::Email,
            &json!({"host": "smtp.example", "from": "ops@example.com", "to": ["not an address"]}),
            &policy(),
        )
        .unwrap_err();
        assert!(err.contains("not an email address"), "{err}");
        assert!(matches!(
            parse(
                ChannelKind::Pagerduty,
                &json!({"routing_key": "R0UT1NG"}),
                &policy()
            )
            .unwrap(),
            Target::Pagerduty { .. }
        ));
    }

    #[test]
    fn the_webhook_signature_is_hmac_sha256_over_timestamp_and_body() {
        // RFC 4231 test case 2 shape: key "Jefe", known message.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let expected = hex::encode(hmac::sign(&key, b"1700000000.{\"a\":1}").as_ref());
        assert_eq!(sign("Jefe", 1_700_000_000, "{\"a\":1}"), expected);
        assert_ne!(sign("Jefe", 1_700_000_001, "{\"a\":1}"), expected);
    }
}
