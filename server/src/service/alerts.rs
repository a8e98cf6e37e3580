//! Alerting's rules: which observations are news, what fires and resolves, what is stored,
//! who is told and when. The engine (`alerts::engine`) keeps the state machines; the
//! recorder here turns their transitions into alerts, timelines and deliveries; each channel
//! has its own queue (`run_channel`), so a slow or failing one never delays another.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::alerts::{
    Acknowledgement, Alert, AlertDetail, AlertEvent, AlertRule, AlertRuleSpec, ChannelSpec,
    ChannelTestResult, Condition, Delivery, NotificationChannel, Silence, SilenceSpec,
};
use app::{
    AlertEventKind, AlertState, ApiError, ChannelKind, DeliveryState, HostFigure, LOCAL_AGENT_ID,
    Me, Severity,
};
use proto::clock::now_ms;
use serde_json::json;

use super::Vantage;
use crate::alerts::channels::{self, Notice, NoticeEvent, NoticeItem};
use crate::alerts::engine::{self, Change, Host, Input, Key, Transition};
use crate::alerts::silences::{ActiveRule, Weekly};
use crate::alerts::{Alerting, engine::FLEET};
use crate::store::{AlertEventRow, AlertRow, ChannelFields, ChannelRow, DeliveryRow, SilenceRow};

/// The purpose channel settings are sealed under.
const CHANNEL_SEAL: &str = "notification_channel.settings";
/// Deliveries are retried for this long, then given up.
const RETRY_FOR_MS: i64 = 3_600_000;
/// How long an agent may take to reconnect after a server start: its backoff's ceiling.
const AGENT_RECONNECT_GRACE_MS: i64 = 60_000;
/// Most alerts one list answer holds.
const ALERTS_PAGE_MAX: i64 = 500;
/// How many processes and containers a CPU or memory alert names.
const CULPRITS: usize = 3;

/// Retry delay after `attempts` failures: 5 s, doubling, at most 5 minutes.
fn backoff_ms(attempts: i64) -> i64 {
    (5_000i64 << attempts.clamp(0, 6)).min(300_000)
}

fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn invalid_rule(why: impl Into<String>) -> ApiError {
    ApiError::invalid(app::Field::AlertRule, why)
}

fn invalid_channel(why: impl Into<String>) -> ApiError {
    ApiError::invalid(app::Field::Channel, why)
}

fn invalid_silence(why: impl Into<String>) -> ApiError {
    ApiError::invalid(app::Field::Silence, why)
}

/// A time in a request (RFC 3339 or unix seconds), as milliseconds.
fn parse_time_ms(field: &str, time: &app::alerts::TimeInput) -> Result<i64, ApiError> {
    let bad = || {
        invalid_silence(format!(
            "`{field}` is RFC 3339 (2026-12-01T08:00:00Z) or unix seconds."
        ))
    };
    match time {
        app::alerts::TimeInput::Seconds(s) if (0..=253_402_300_799).contains(s) => Ok(s * 1_000),
        app::alerts::TimeInput::Seconds(_) => Err(bad()),
        app::alerts::TimeInput::Text(text) => chrono::DateTime::parse_from_rfc3339(text.trim())
            .map(|t| t.timestamp_millis())
            .map_err(|_| bad()),
    }
}

fn alert_info(row: &AlertRow) -> Alert {
    Alert {
        id: row.alert_id,
        rule_id: row.alert_rule_id,
        rule_name: row.rule_name.clone(),
        severity: row.severity.parse().unwrap_or(Severity::Warning),
        state: row.state.parse().unwrap_or(AlertState::Firing),
        agent_id: match (&row.agent_id, row.subject.as_str()) {
            (Some(a), _) => Some(a.clone()),
            (None, FLEET) => None,
            (None, _) => Some(LOCAL_AGENT_ID.to_owned()),
        },
        host_label: row.host_label.clone(),
        subject: row.subject.clone(),
        summary: row.summary.clone(),
        value: row.value,
        culprits: row.culprits.clone(),
        started_at: rfc3339_ms(row.started_at_ms),
        fired_at: row.fired_at_ms.map(rfc3339_ms),
        resolved_at: row.resolved_at_ms.map(rfc3339_ms),
        acknowledged_by: row.acknowledged_by.clone(),
        acknowledged_at: row.acknowledged_at_ms.map(rfc3339_ms),
        silenced_by: row.silenced_by,
    }
}

fn key_of(row: &AlertRow) -> Option<Key> {
    Some(Key {
        rule_id: row.alert_rule_id?,
        agent_id: alert_info(row).agent_id,
        subject: row.subject.clone(),
    })
}

fn silence_info(row: &SilenceRow, now: i64) -> Silence {
    let rule = active_rule(row);
    Silence {
        id: row.silence_id,
        matcher: serde_json::from_str(&row.matcher).unwrap_or_default(),
        starts_at: rfc3339_ms(row.starts_at_ms),
        ends_at: row.ends_at_ms.map(rfc3339_ms),
        weekly: row
            .weekly
            .as_deref()
            .and_then(|w| serde_json::from_str(w).ok()),
        author: row.author.clone(),
        comment: row.comment.clone(),
        created_at: rfc3339_ms(row.created_at_ms),
        active: rule.is_some_and(|r| r.holds(now)),
    }
}

fn active_rule(row: &SilenceRow) -> Option<ActiveRule> {
    let weekly = match row.weekly.as_deref() {
        Some(text) => Some(Weekly::parse(&serde_json::from_str(text).ok()?).ok()?),
        None => None,
    };
    Some(ActiveRule {
        id: row.silence_id,
        matcher: serde_json::from_str(&row.matcher).ok()?,
        starts_at_ms: row.starts_at_ms,
        ends_at_ms: row.ends_at_ms,
        weekly,
    })
}

fn delivery_info(row: &DeliveryRow) -> Delivery {
    let items: Vec<serde_json::Value> = serde_json::from_str(&row.items).unwrap_or_default();
    Delivery {
        id: row.notification_delivery_id,
        channel_id: row.notification_channel_id,
        alert_ids: items
            .iter()
            .filter_map(|i| i["alert_id"].as_i64())
            .collect(),
        events: items
            .iter()
            .filter_map(|i| i["event"].as_str().map(str::to_owned))
            .collect(),
        state: row.state.parse().unwrap_or(DeliveryState::Pending),
        attempts: row.attempts.max(0) as u32,
        created_at: rfc3339_ms(row.created_at_ms),
        next_attempt_at: rfc3339_ms(row.next_attempt_ms),
        sent_at: row.sent_at_ms.map(rfc3339_ms),
        last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.last_error.clone(),
        latency_ms: row.latency_ms.map(|l| l.max(0) as u64),
    }
}

/// A channel as stored, opened.
struct OpenChannel {
    row: ChannelRow,
    kind: ChannelKind,
    settings: serde_json::Value,
    severities: Vec<Severity>,
}

impl Vantage {
    fn alerting(&self) -> Result<&Arc<Alerting>, ApiError> {
        self.alerting.get().ok_or_else(|| {
            tracing::error!("alerting is not set up");
            ApiError::Internal
        })
    }

    /// Sets alerting up: loads the rules, the alerts still firing (so they resolve once and
    /// never fire twice) and the silences, and resumes the queues with pending deliveries.
    /// Returns the recorder's input, for `workers::alert_recorder`.
    pub async fn start_alerting(self: &Arc<Self>, alerting: Alerting) -> anyhow::Result<()> {
        let alerting = Arc::new(alerting);
        if self.alerting.set(alerting.clone()).is_err() {
            anyhow::bail!("alerting is set up once");
        }
        self.reload_rules().await?;
        let firing = self
            .store
            .list_alerts(Some("firing"), None, 100_000)
            .await?;
        {
            let mut engine = alerting.engine.lock().unwrap_or_else(|e| e.into_inner());
            let mut open = alerting.open.lock().unwrap_or_else(|e| e.into_inner());
            for row in &firing {
                if let Some(key) = key_of(row) {
                    engine.restore_firing(key.clone(), &row.host_label, row.started_at_ms);
                    open.insert(key, row.alert_id);
                }
            }
        }
        self.reload_silences().await?;
        *alerting.tags.lock().unwrap_or_else(|e| e.into_inner()) = self
            .store
            .list_agents()
            .await?
            .into_iter()
            .map(|a| (a.agent_id, a.tags))
            .collect();
        for channel_id in self.store.channels_with_pending().await? {
            self.wake_channel(channel_id);
        }
        tracing::info!(firing = firing.len(), "alerting started");
        Ok(())
    }

    async fn reload_rules(&self) -> Result<(), ApiError> {
        let alerting = self.alerting()?;
        let rules: Vec<engine::Rule> = self
            .store
            .list_alert_rules()
            .await?
            .into_iter()
            .filter_map(|row| {
                let spec = serde_json::from_str(&row.spec)
                    .map_err(|e| tracing::error!(rule = row.alert_rule_id, error = %e, "unreadable alert rule"))
                    .ok()?;
                Some(engine::Rule {
                    id: row.alert_rule_id,
                    spec,
                })
            })
            .collect();
        let ended = alerting
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_rules(rules, now_ms());
        alerting.emit(ended);
        Ok(())
    }

    async fn reload_silences(&self) -> Result<(), ApiError> {
        let alerting = self.alerting()?;
        let rules: Vec<ActiveRule> = self
            .store
            .list_silences()
            .await?
            .iter()
            .filter_map(active_rule)
            .collect();
        *alerting.silences.lock().unwrap_or_else(|e| e.into_inner()) = rules;
        Ok(())
    }

    // ---- observations (from ingest and local collection)

    /// Whether an observation taken at `taken_ms` is news (live) rather than a backfill.
    pub(crate) fn is_live(&self, taken_ms: i64) -> bool {
        self.alerting
            .get()
            .is_some_and(|a| now_ms() - taken_ms <= a.settings.live_window.as_millis() as i64)
    }

    /// Evaluates the rules on a live observation of a host.
    pub(crate) fn observe(&self, agent_id: &str, label: &str, input: Input<'_>) {
        let Some(alerting) = self.alerting.get() else {
            return;
        };
        let tags = alerting
            .tags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent_id)
            .cloned()
            .unwrap_or_default();
        let host = Host {
            agent_id,
            label,
            tags: &tags,
        };
        let transitions = alerting
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(host, input, now_ms());
        alerting.emit(transitions);
    }

    /// An agent's tags changed (or it was deleted: `None`).
    pub(crate) fn alert_tags_changed(&self, agent_id: &str, tags: Option<&[String]>) {
        if let Some(alerting) = self.alerting.get() {
            let mut map = alerting.tags.lock().unwrap_or_else(|e| e.into_inner());
            match tags {
                Some(tags) => map.insert(agent_id.to_owned(), tags.to_vec()),
                None => map.remove(agent_id),
            };
        }
    }

    /// The absence sweep, and reminders and silences that ended. Agents count as silent at
    /// most since this server started.
    pub async fn alert_sweep(&self) -> Result<(), ApiError> {
        let alerting = self.alerting()?.clone();
        let agents = self.store.list_agents().await?;
        *alerting.tags.lock().unwrap_or_else(|e| e.into_inner()) = agents
            .iter()
            .map(|a| (a.agent_id.clone(), a.tags.clone()))
            .collect();
        let now = now_ms();
        let silent: Vec<(String, String, Vec<String>, i64)> = agents
            .iter()
            .filter(|a| a.status == app::AgentStatus::Active)
            .map(|a| {
                // Silent since its last live sample (or its first stream since this server
                // started): a reconnect, or a backlog still being sent, is not back yet (the
                // backlog comes first, so it is all stored by the time the agent is back).
                // Neither yet: silent at most since the start plus the agents' reconnect
                // backoff (up to a minute), so a server restart never looks like an outage.
                let silent_ms = self.live.last_live(&a.agent_id).map_or(
                    (now - alerting.started_ms - AGENT_RECONNECT_GRACE_MS).max(0),
                    |t| t.elapsed().as_millis() as i64,
                );
                (
                    a.agent_id.clone(),
                    a.label.clone(),
                    a.tags.clone(),
                    silent_ms,
                )
            })
            .collect();
        let hosts: Vec<(Host<'_>, i64)> = silent
            .iter()
            .map(|(id, label, tags, ms)| {
                (
                    Host {
                        agent_id: id,
                        label,
                        tags,
                    },
                    *ms,
                )
            })
            .collect();
        let transitions = alerting
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sweep(&hosts, now);
        alerting.emit(transitions);
        self.remind(now).await
    }

    /// Reminders for alerts still firing, unacknowledged and unsilenced.
    async fn remind(&self, now: i64) -> Result<(), ApiError> {
        let firing = self
            .store
            .list_alerts(Some("firing"), None, 100_000)
            .await?;
        if firing.is_empty() {
            return Ok(());
        }
        let channels = self.open_channels().await?;
        let rules = self.rule_specs().await?;
        for alert in firing {
            if alert.acknowledged_by.is_some() || alert.silenced_by.is_some() {
                continue;
            }
            let Some(spec) = alert.alert_rule_id.and_then(|id| rules.get(&id)) else {
                continue;
            };
            let last = alert
                .last_notified_at_ms
                .or(alert.fired_at_ms)
                .unwrap_or(now);
            let mut reminded = false;
            for channel in channels
                .iter()
                .filter(|c| spec.channels.contains(&c.row.notification_channel_id))
            {
                let Some(every) = channel.row.repeat_interval_s else {
                    continue;
                };
                if now - last < every * 1_000 || !channel.wants(spec.severity) {
                    continue;
                }
                let item = json!({"alert_id": alert.alert_id, "event": "reminder"});
                self.store
                    .enqueue_delivery(channel.row.notification_channel_id, &item, now, now)
                    .await?;
                self.wake_channel(channel.row.notification_channel_id);
                reminded = true;
            }
            if reminded {
                self.store.set_alert_notified(alert.alert_id, now).await?;
                let text = "reminder: still firing".to_owned();
                self.store
                    .add_alert_event(
                        alert.alert_id,
                        &AlertEventRow {
                            at_ms: now,
                            kind: AlertEventKind::Reminder.as_str().into(),
                            text,
                        },
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn rule_specs(&self) -> Result<HashMap<i64, AlertRuleSpec>, ApiError> {
        Ok(self
            .store
            .list_alert_rules()
            .await?
            .into_iter()
            .filter_map(|r| Some((r.alert_rule_id, serde_json::from_str(&r.spec).ok()?)))
            .collect())
    }

    // ---- the recorder

    /// Stores one transition, tells the dashboard and queues the notifications.
    pub async fn record_transition(&self, t: Transition) -> Result<(), ApiError> {
        let alerting = self.alerting()?.clone();
        match t.change {
            Change::Fired {
                summary,
                value,
                steps,
            } => {
                self.record_fired(
                    &alerting,
                    &t.key,
                    &t.rule,
                    &t.host_label,
                    t.at_ms,
                    summary,
                    value,
                    steps,
                )
                .await
            }
            Change::Recovering { text } => {
                let id = alerting
                    .open
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&t.key)
                    .copied();
                if let Some(id) = id {
                    self.store
                        .add_alert_event(
                            id,
                            &AlertEventRow {
                                at_ms: t.at_ms,
                                kind: AlertEventKind::Recovering.as_str().into(),
                                text,
                            },
                        )
                        .await?;
                }
                Ok(())
            }
            Change::Resolved { text, agents } => {
                self.record_resolved(&alerting, &t.key, &t.rule, t.at_ms, text, &agents)
                    .await
            }
        }
    }

    /// How many samples the agents measured while they were down (from `since_ms` to their
    /// newest sample, which brought them back): what their spools delivered late, now stored.
    async fn measured_while_down(&self, agents: &[&str], since_ms: i64) -> u64 {
        let mut total = 0;
        for agent in agents {
            let until = self.live.sample_time_ms(agent).unwrap_or_else(now_ms);
            match self.store.raw_samples(Some(agent), since_ms, until).await {
                Ok(rows) => total += rows.len() as u64,
                Err(e) => tracing::warn!(error = %e, "cannot count an agent's backfilled samples"),
            }
        }
        total
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_fired(
        &self,
        alerting: &Alerting,
        key: &Key,
        rule: &engine::Rule,
        host_label: &str,
        at_ms: i64,
        summary: String,
        value: Option<f64>,
        steps: Vec<(i64, String)>,
    ) -> Result<(), ApiError> {
        let spec = &rule.spec;
        // The sweep keeps every agent's tags; no store round trip per alert.
        let tags = key
            .agent_id
            .as_deref()
            .and_then(|id| {
                alerting
                    .tags
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(id)
                    .cloned()
            })
            .unwrap_or_default();
        let silence = alerting
            .silences
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|s| {
                s.holds(at_ms) && s.covers(rule.id, key.agent_id.as_deref(), &tags, &key.subject)
            })
            .map(|s| s.id);
        let culprits = self.culprits(spec, key.agent_id.as_deref()).await;
        let mut events: Vec<AlertEventRow> = steps
            .into_iter()
            .map(|(at, text)| AlertEventRow {
                at_ms: at,
                kind: AlertEventKind::Pending.as_str().into(),
                text,
            })
            .collect();
        let mut fired_text = summary.clone();
        if !culprits.is_empty() {
            fired_text.push_str(&format!("; top: {}", culprits.join(", ")));
        }
        events.push(AlertEventRow {
            at_ms,
            kind: AlertEventKind::Firing.as_str().into(),
            text: fired_text,
        });
        if let Some(id) = silence {
            events.push(AlertEventRow {
                at_ms,
                kind: AlertEventKind::Silenced.as_str().into(),
                text: format!("silence {id} holds its notifications back"),
            });
        }
        let row = AlertRow {
            alert_rule_id: Some(rule.id),
            rule_name: spec.name.clone(),
            severity: spec.severity.as_str().into(),
            state: AlertState::Firing.as_str().into(),
            agent_id: key.agent_id.clone(),
            host_label: host_label.to_owned(),
            subject: key.subject.clone(),
            summary,
            value,
            culprits,
            started_at_ms: events.first().map_or(at_ms, |e| e.at_ms),
            fired_at_ms: Some(at_ms),
            silenced_by: silence,
            ..Default::default()
        };
        let alert_id = self.store.insert_alert(&row, &events).await?;
        alerting
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), alert_id);
        tracing::info!(alert_id, rule = %spec.name, subject = %key.subject, "alert firing");
        self.publish_alert(alert_id).await;
        if silence.is_none() {
            self.notify(alert_id, spec, NoticeEvent::Firing, "", at_ms)
                .await?;
        }
        Ok(())
    }

    async fn record_resolved(
        &self,
        alerting: &Alerting,
        key: &Key,
        rule: &engine::Rule,
        at_ms: i64,
        text: String,
        fleet_agents: &[String],
    ) -> Result<(), ApiError> {
        let id = alerting
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        let Some(alert_id) = id else {
            return Ok(());
        };
        let Some(alert) = self.store.alert(alert_id).await? else {
            return Ok(());
        };
        // An agent-down alert starts once the agent was silent for `silent_s`.
        let silent_before_ms = match rule.spec.condition {
            Condition::AgentDown { silent_s } => silent_s as i64 * 1_000,
            _ => 0,
        };
        let down_since = alert.started_at_ms - silent_before_ms;
        let gap = engine::human_duration_ms(at_ms - down_since);
        let text = match (&rule.spec.condition, key.agent_id.as_deref()) {
            (Condition::AgentDown { .. }, Some(agent)) if key.subject != FLEET => {
                match self.measured_while_down(&[agent], down_since).await {
                    0 => format!("down, no data for {gap}"),
                    n => format!("unreachable for {gap}, nothing lost ({n} samples backfilled)"),
                }
            }
            (Condition::AgentDown { .. }, None) if !fleet_agents.is_empty() => {
                let agents: Vec<&str> = fleet_agents.iter().map(String::as_str).collect();
                match self.measured_while_down(&agents, down_since).await {
                    0 => format!("{text}: down, no data for {gap}"),
                    n => format!(
                        "{text}: {} agents unreachable for {gap}, nothing lost ({n} samples backfilled)",
                        agents.len()
                    ),
                }
            }
            _ => text,
        };
        let event = AlertEventRow {
            at_ms,
            kind: AlertEventKind::Resolved.as_str().into(),
            text: text.clone(),
        };
        if !self.store.resolve_alert(alert_id, &event).await? {
            return Ok(());
        }
        tracing::info!(alert_id, subject = %key.subject, "alert resolved");
        self.publish_alert(alert_id).await;
        if alert.silenced_by.is_none() {
            self.notify(alert_id, &rule.spec, NoticeEvent::Resolved, &text, at_ms)
                .await?;
        }
        Ok(())
    }

    /// The top three processes and containers (by CPU or memory) of the host at the moment a
    /// CPU or memory alert fires.
    async fn culprits(&self, spec: &AlertRuleSpec, agent_id: Option<&str>) -> Vec<String> {
        let by_memory = match spec.condition {
            Condition::HostThreshold {
                metric: HostFigure::Cpu,
                ..
            } => false,
            Condition::HostThreshold {
                metric: HostFigure::Memory,
                ..
            } => true,
            _ => return Vec::new(),
        };
        let Some(agent) = agent_id else {
            return Vec::new();
        };
        let mut named = match self.top_processes(Some(agent), CULPRITS).await {
            Ok(top) => {
                let list = if by_memory { top.by_memory } else { top.by_cpu };
                list.iter()
                    .map(|p| super::processes::culprit(p, by_memory))
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the top processes for an alert");
                Vec::new()
            }
        };
        match self
            .store
            .top_containers(Some(agent), by_memory, CULPRITS as i64)
            .await
        {
            Ok(rows) => named.extend(rows.into_iter().map(|c| {
                match (by_memory, c.cpu_pct, c.memory_bytes) {
                    (false, Some(cpu), _) => format!("container {} {cpu:.0} % CPU", c.name),
                    (true, _, Some(mem)) => {
                        format!("container {} {:.0} MiB", c.name, mem as f64 / 1_048_576.0)
                    }
                    _ => format!("container {}", c.name),
                }
            })),
            Err(e) => tracing::warn!(error = %e, "cannot read the top containers for an alert"),
        }
        named
    }

    async fn publish_alert(&self, alert_id: i64) {
        if let Ok(Some(row)) = self.store.alert(alert_id).await {
            self.live
                .publish(crate::live::LiveEvent::Alert(Box::new(alert_info(&row))));
        }
    }

    /// Queues a notice of `alert_id` for each channel of the rule that wants it.
    async fn notify(
        &self,
        alert_id: i64,
        spec: &AlertRuleSpec,
        event: NoticeEvent,
        note: &str,
        now: i64,
    ) -> Result<(), ApiError> {
        if spec.channels.is_empty() {
            return Ok(());
        }
        let channels = self.open_channels().await?;
        let mut queued = false;
        for channel in channels
            .iter()
            .filter(|c| spec.channels.contains(&c.row.notification_channel_id))
        {
            if !channel.wants(spec.severity)
                || (event == NoticeEvent::Resolved && !channel.row.send_resolved)
            {
                continue;
            }
            let item = json!({"alert_id": alert_id, "event": event.as_str(), "note": note});
            let due = now + channel.row.group_wait_s.max(0) * 1_000;
            self.store
                .enqueue_delivery(channel.row.notification_channel_id, &item, now, due)
                .await?;
            self.wake_channel(channel.row.notification_channel_id);
            queued = true;
        }
        if queued && event == NoticeEvent::Firing {
            self.store.set_alert_notified(alert_id, now).await?;
        }
        Ok(())
    }

    // ---- channel queues

    /// Wakes a channel's queue, starting it if it is not running.
    fn wake_channel(&self, channel_id: i64) {
        let Some(alerting) = self.alerting.get() else {
            return;
        };
        let mut queues = alerting.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = queues.get(&channel_id) {
            notify.notify_one();
            return;
        }
        let notify = Arc::new(tokio::sync::Notify::new());
        queues.insert(channel_id, notify.clone());
        if let Some(me) = self.me.get().and_then(std::sync::Weak::upgrade) {
            tokio::spawn(async move { me.run_channel(channel_id, notify).await });
        }
    }

    /// One channel's queue: sends what is due, oldest first, one at a time; sleeps until the
    /// next is due or something new arrives; stops when the channel is deleted.
    async fn run_channel(self: Arc<Self>, channel_id: i64, notify: Arc<tokio::sync::Notify>) {
        loop {
            let next = match self.send_due(channel_id).await {
                Ok(Some(next)) => next,
                Ok(None) => {
                    if let Some(alerting) = self.alerting.get() {
                        alerting
                            .queues
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&channel_id);
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(channel_id, error = %e, "notification queue error; retrying in 5 s");
                    Some(now_ms() + 5_000)
                }
            };
            let wait = next.map_or(Duration::from_secs(3_600), |at| {
                Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64)
            });
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends the channel's due deliveries; the time the next one is due (`Some(None)`: none
    /// pending), or `None` when the channel is gone.
    async fn send_due(&self, channel_id: i64) -> Result<Option<Option<i64>>, ApiError> {
        let Some(channel) = self.open_channel(channel_id).await? else {
            return Ok(None);
        };
        let alerting = self.alerting()?.clone();
        let pending = self.store.pending_deliveries(channel_id).await?;
        let mut next = None;
        for delivery in pending {
            let now = now_ms();
            if delivery.next_attempt_ms > now {
                next = Some(next.map_or(delivery.next_attempt_ms, |n: i64| {
                    n.min(delivery.next_attempt_ms)
                }));
                continue;
            }
            let notice = self.notice(&delivery).await?;
            if notice.items.is_empty() {
                self.store
                    .record_delivery_attempt(
                        delivery.notification_delivery_id,
                        "failed",
                        now,
                        now,
                        None,
                        Some("its alerts were deleted"),
                        0,
                    )
                    .await?;
                continue;
            }
            let outcome =
                match channels::parse(channel.kind, &channel.settings, alerting.sender.policy()) {
                    Ok(target) => alerting.sender.send(&target, &notice).await,
                    Err(e) => channels::Outcome {
                        ok: false,
                        status: None,
                        latency: Duration::ZERO,
                        error: Some(e),
                    },
                };
            let done = now_ms();
            let latency_ms = outcome.latency.as_millis() as i64;
            let (state, next_attempt) = if outcome.ok {
                ("sent", done)
            } else if done - delivery.created_at_ms + backoff_ms(delivery.attempts) > RETRY_FOR_MS {
                ("failed", done)
            } else {
                let at = done + backoff_ms(delivery.attempts);
                next = Some(next.map_or(at, |n: i64| n.min(at)));
                ("pending", at)
            };
            self.store
                .record_delivery_attempt(
                    delivery.notification_delivery_id,
                    state,
                    next_attempt,
                    done,
                    outcome.status.map(i64::from),
                    outcome.error.as_deref(),
                    latency_ms,
                )
                .await?;
            let attempt = delivery.attempts + 1;
            let (kind, text) = match state {
                "sent" => (
                    AlertEventKind::Notified,
                    format!(
                        "notified {} ({}) in {latency_ms} ms{}",
                        channel.row.name,
                        channel.kind,
                        outcome
                            .status
                            .map(|s| format!(", status {s}"))
                            .unwrap_or_default()
                    ),
                ),
                "failed" => (
                    AlertEventKind::NotifyFailed,
                    format!(
                        "gave up notifying {} after {attempt} attempts: {}",
                        channel.row.name,
                        outcome.error.as_deref().unwrap_or("failed")
                    ),
                ),
                _ => (
                    AlertEventKind::NotifyFailed,
                    format!(
                        "notifying {} failed (attempt {attempt}, next in {}): {}",
                        channel.row.name,
                        engine::human_duration_ms(backoff_ms(delivery.attempts)),
                        outcome.error.as_deref().unwrap_or("failed")
                    ),
                ),
            };
            if outcome.ok {
                tracing::info!(channel = %channel.row.name, delivery = delivery.notification_delivery_id, latency_ms, "notification sent");
            } else {
                tracing::warn!(channel = %channel.row.name, delivery = delivery.notification_delivery_id, attempt, error = outcome.error.as_deref().unwrap_or(""), "notification failed");
            }
            for item in &notice.items {
                if item.event != NoticeEvent::Test {
                    self.store
                        .add_alert_event(
                            item.alert.id,
                            &AlertEventRow {
                                at_ms: done,
                                kind: kind.as_str().into(),
                                text: text.clone(),
                            },
                        )
                        .await?;
                }
            }
        }
        Ok(Some(next))
    }

    /// What a delivery says, from its alerts as they are now.
    async fn notice(&self, delivery: &DeliveryRow) -> Result<Notice, ApiError> {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(&delivery.items).unwrap_or_default();
        let mut notice = Notice {
            delivery_id: delivery.notification_delivery_id,
            items: Vec::new(),
            base_url: self.alerting()?.settings.base_url.clone(),
        };
        for item in items {
            let (Some(id), Some(event)) = (
                item["alert_id"].as_i64(),
                item["event"].as_str().and_then(NoticeEvent::parse),
            ) else {
                continue;
            };
            if let Some(row) = self.store.alert(id).await? {
                notice.items.push(NoticeItem {
                    alert: alert_info(&row),
                    event,
                    note: item["note"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
        Ok(notice)
    }

    async fn open_channels(&self) -> Result<Vec<OpenChannel>, ApiError> {
        let rows = self.store.list_channels().await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| self.open_row(row).ok())
            .collect())
    }

    async fn open_channel(&self, id: i64) -> Result<Option<OpenChannel>, ApiError> {
        match self.store.channel(id).await? {
            Some(row) => Ok(Some(self.open_row(row)?)),
            None => Ok(None),
        }
    }

    fn open_row(&self, row: ChannelRow) -> Result<OpenChannel, ApiError> {
        let alerting = self.alerting()?;
        let kind: ChannelKind = row.kind.parse().map_err(super::internal)?;
        let plain = alerting.key.open(CHANNEL_SEAL, &row.settings_sealed).map_err(|e| {
            tracing::error!(channel = row.notification_channel_id, error = %e, "cannot open a channel's settings");
            ApiError::Internal
        })?;
        let settings = serde_json::from_slice(&plain).map_err(super::internal)?;
        let severities = serde_json::from_str(&row.severities).unwrap_or_default();
        Ok(OpenChannel {
            row,
            kind,
            settings,
            severities,
        })
    }

    fn channel_info(&self, channel: &OpenChannel) -> NotificationChannel {
        NotificationChannel {
            id: channel.row.notification_channel_id,
            name: channel.row.name.clone(),
            kind: channel.kind,
            settings: channels::masked(channel.kind, &channel.settings),
            severities: channel.severities.clone(),
            group_wait_s: channel.row.group_wait_s.max(0) as u64,
            repeat_interval_s: channel.row.repeat_interval_s.map(|r| r.max(0) as u64),
            send_resolved: channel.row.send_resolved,
            created_at: app::rfc3339_from_millis(channel.row.created_at * 1_000),
            updated_at: app::rfc3339_from_millis(channel.row.updated_at * 1_000),
        }
    }

    // ---- the API: rules

    fn rule_info(
        &self,
        row: crate::store::AlertRuleRow,
        counts: &HashMap<i64, (u32, u32)>,
    ) -> Option<AlertRule> {
        let spec = serde_json::from_str(&row.spec).ok()?;
        let (firing, pending) = counts.get(&row.alert_rule_id).copied().unwrap_or_default();
        Some(AlertRule {
            id: row.alert_rule_id,
            spec,
            created_at: app::rfc3339_from_millis(row.created_at * 1_000),
            updated_at: app::rfc3339_from_millis(row.updated_at * 1_000),
            firing,
            pending,
        })
    }

    fn rule_counts(&self) -> HashMap<i64, (u32, u32)> {
        self.alerting
            .get()
            .map(|a| a.engine.lock().unwrap_or_else(|e| e.into_inner()).counts())
            .unwrap_or_default()
    }

    async fn check_rule(&self, spec: &mut AlertRuleSpec) -> Result<(), ApiError> {
        spec.name = spec.name.trim().to_owned();
        spec.check().map_err(invalid_rule)?;
        if let Some(agent) = &spec.scope.agent_id
            && agent != LOCAL_AGENT_ID
            && self.store.agent(agent).await?.is_none()
        {
            return Err(invalid_rule(format!("No agent has the id {agent:?}.")));
        }
        for id in &spec.channels {
            if self.store.channel(*id).await?.is_none() {
                return Err(invalid_rule(format!(
                    "No notification channel has the id {id}."
                )));
            }
        }
        spec.channels.sort_unstable();
        spec.channels.dedup();
        Ok(())
    }

    pub async fn list_alert_rules(&self, _caller: &Me) -> Result<Vec<AlertRule>, ApiError> {
        let counts = self.rule_counts();
        Ok(self
            .store
            .list_alert_rules()
            .await?
            .into_iter()
            .filter_map(|r| self.rule_info(r, &counts))
            .collect())
    }

    pub async fn alert_rule(&self, _caller: &Me, id: i64) -> Result<AlertRule, ApiError> {
        let row = self
            .store
            .alert_rule(id)
            .await?
            .ok_or(ApiError::UnknownItem {
                kind: "alert rule",
                id,
            })?;
        self.rule_info(row, &self.rule_counts())
            .ok_or(ApiError::Internal)
    }

    pub async fn create_alert_rule(
        &self,
        caller: &Me,
        mut spec: AlertRuleSpec,
    ) -> Result<AlertRule, ApiError> {
        super::users::allow(caller, app::Role::Operator)?;
        self.check_rule(&mut spec).await?;
        let text = serde_json::to_string(&spec).map_err(super::internal)?;
        let row = self.store.create_alert_rule(&spec.name, &text).await?;
        self.reload_rules().await?;
        tracing::info!(rule = row.alert_rule_id, by = %caller.username, "alert rule created");
        self.alert_rule(caller, row.alert_rule_id).await
    }

    /// How often `spec` would have fired in the last 24 hours and 7 days: the rule replayed
    /// through the live engine on the stored samples of the hosts it covers (at most
    /// [`app::alerts::PREVIEW_HOSTS_MAX`] of them).
    pub async fn preview_alert_rule(
        &self,
        caller: &Me,
        mut spec: AlertRuleSpec,
    ) -> Result<app::alerts::RulePreview, ApiError> {
        super::users::allow(caller, app::Role::Operator)?;
        use crate::alerts::preview;
        const WINDOWS_S: [i64; 2] = [86_400, 7 * 86_400];
        self.check_rule(&mut spec).await?;
        let sweep_ms = self.alerting()?.settings.sweep.as_millis() as i64;
        let mut hosts: Vec<(String, String, Vec<String>)> = Vec::new();
        if self.live.local_sample().is_some() {
            hosts.push((
                LOCAL_AGENT_ID.to_owned(),
                self.live.local_summary().label,
                Vec::new(),
            ));
        }
        hosts.extend(
            self.store
                .list_agents()
                .await?
                .into_iter()
                .map(|a| (a.agent_id, a.label, a.tags)),
        );
        hosts.retain(|(id, label, tags)| {
            engine::in_scope(
                &spec,
                engine::Host {
                    agent_id: id,
                    label,
                    tags,
                },
            )
        });
        let mut windows: Vec<app::alerts::PreviewWindow> = WINDOWS_S
            .iter()
            .map(|&window_s| app::alerts::PreviewWindow {
                window_s,
                fired: 0,
                hosts_fired: 0,
                samples: 0,
                first_fired_at: None,
            })
            .collect();
        let unsupported = preview::unsupported(&spec);
        let evaluated = if unsupported.is_some() {
            0
        } else {
            hosts.len().min(app::alerts::PREVIEW_HOSTS_MAX)
        };
        let now = now_ms();
        let mut first: [Option<i64>; 2] = [None; 2];
        for (id, label, tags) in hosts.iter().take(evaluated) {
            let stored = (id != LOCAL_AGENT_ID).then_some(id.as_str());
            let rows = self
                .store
                .raw_samples(stored, now - WINDOWS_S[1] * 1_000, now)
                .await?;
            let cores = self
                .live
                .with_sample(id, |s| s.cpu.per_core_pct.len())
                .unwrap_or(1);
            let host = engine::Host {
                agent_id: id,
                label,
                tags,
            };
            for (i, window_s) in WINDOWS_S.iter().enumerate() {
                let from = now - window_s * 1_000;
                let start = rows.partition_point(|r| r.ts_ms < from);
                let replay = preview::replay(&spec, host, &rows[start..], cores, sweep_ms);
                let w = &mut windows[i];
                w.samples += (rows.len() - start) as u64;
                w.fired += replay.fired;
                w.hosts_fired += u32::from(replay.fired > 0);
                if let Some(at) = replay.first_ms {
                    first[i] = Some(first[i].map_or(at, |f: i64| f.min(at)));
                }
            }
        }
        for (w, at) in windows.iter_mut().zip(first) {
            w.first_fired_at = at.map(app::rfc3339_from_millis);
        }
        let approximate = matches!(
            spec.condition,
            Condition::HostThreshold {
                metric: HostFigure::Disk,
                mount: None,
                ..
            }
        )
        .then_some(
            "history keeps all file systems of a host together: the replay checks their combined share, where the live rule checks the fullest one",
        );
        Ok(app::alerts::RulePreview {
            supported: unsupported.is_none(),
            note: unsupported.or(approximate).map(str::to_owned),
            hosts_in_scope: hosts.len() as u32,
            hosts_evaluated: evaluated as u32,
            windows,
        })
    }

    pub async fn update_alert_rule(
        &self,
        caller: &Me,
        id: i64,
        mut spec: AlertRuleSpec,
    ) -> Result<AlertRule, ApiError> {
        super::users::allow(caller, app::Role::Operator)?;
        self.check_rule(&mut spec).await?;
        let text = serde_json::to_string(&spec).map_err(super::internal)?;
        self.store
            .update_alert_rule(id, &spec.name, &text)
            .await?
            .ok_or(ApiError::UnknownItem {
                kind: "alert rule",
                id,
            })?;
        self.reload_rules().await?;
        self.alert_rule(caller, id).await
    }

    pub async fn delete_alert_rule(&self, caller: &Me, id: i64) -> Result<(), ApiError> {
        super::users::allow(caller, app::Role::Operator)?;
        if !self.store.delete_alert_rule(id).await? {
            return Err(ApiError::UnknownItem {
                kind: "alert rule",
                id,
            });
        }
        self.reload_rules().await?;
        tracing::info!(rule = id, by = %caller.username, "alert rule deleted");
        Ok(())
    }

    // ---- the API: alerts

    pub async fn list_alerts(
        &self,
        _caller: &Me,
        state: Option<AlertState>,
        before: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<Alert>, ApiError> {
        let limit = limit.unwrap_or(100).clamp(1, ALERTS_PAGE_MAX);
        let rows = self
            .store
            .list_alerts(state.map(|s| s.as_str()), before, limit)
            .await?;
        Ok(rows.iter().map(alert_info).collect())
    }

    pub async fn alert_detail(&self, _caller: &Me, id: i64) -> Result<AlertDetail, ApiError> {
        let row = self
            .store
            .alert(id)
            .await?
            .ok_or(ApiError::UnknownItem { kind: "alert", id })?;
        let timeline = self
            .store
            .alert_events(id)
            .await?
            .into_iter()
            .map(|e| AlertEvent {
                at: rfc3339_ms(e.at_ms),
                kind: e.kind.parse().unwrap_or(AlertEventKind::Firing),
                text: e.text,
            })
            .collect();
        Ok(AlertDetail {
            alert: alert_info(&row),
            timeline,
        })
    }

    /// Acknowledges a firing alert: reminders stop, and the timeline says who.
    pub async fn acknowledge_alert(
        &self,
        caller: &Me,
        id: i64,
        ack: Acknowledgement,
    ) -> Result<AlertDetail, ApiError> {
        super::users::allow(caller, app::Role::Operator)?;
        let comment = ack.comment.trim().to_owned();
        app::text::check_name("A comment", &comment, 500)
            .map_err(|e| ApiError::invalid(app::Field::Comment, e))?;
        let row = self
            .store
            .alert(id)
            .await?
            .ok_or(ApiError::UnknownItem { kind: "alert", id })?;
        if row.state != AlertState::Firing.as_str() {
            return Err(ApiError::NotFiring(id));
        }
        if !self
            .store
            .acknowledge_alert(id, &caller.username, now_ms(), &comment)
            .await?
        {
            return Err(ApiError::AlreadyAcknowledged(id));
        }
        self.publish_alert(id).await;
        self.alert_detail(caller, id).await
    }

    // ---- the API: silences

    pub async fn list_silences(&self, _caller: &Me) -> Result<Vec<Silence>, ApiError> {
        let now = now_ms();
        Ok(self
            .store
            .list_silences()
            .await?
            .iter()
            .map(|s| silence_info(s, now))
            .collect())
    }

    pub async fn create_silence(
        &self,
        caller: &Me,
        spec: SilenceSpec,
    ) -> Result<Silence, ApiError> {
        super::users::allow(caller, app::Role::Operator)?;
        let now = now_ms();
        let comment = spec.comment.trim().to_owned();
        app::text::check_required_name("A silence's comment", &comment, 500)
            .map_err(invalid_silence)?;
        let m = &spec.matcher;
        if let Some(agent) = &m.agent_id {
            app::text::check_required_name("The matcher's agent_id", agent, 64)
                .map_err(invalid_silence)?;
        }
        if let Some(tag) = &m.tag {
            app::text::check_required_name("The matcher's tag", tag, app::text::TAG_MAX)
                .map_err(invalid_silence)?;
        }
        if let Some(glob) = &m.container {
            app::text::check_required_name("The matcher's container glob", glob, 255)
                .map_err(invalid_silence)?;
        }
        let starts = match &spec.starts_at {
            Some(t) => parse_time_ms("starts_at", t)?,
            None => now,
        };
        let ends = spec
            .ends_at
            .as_ref()
            .map(|t| parse_time_ms("ends_at", t))
            .transpose()?;
        if let Some(w) = &spec.weekly {
            Weekly::parse(w).map_err(invalid_silence)?;
        }
        match ends {
            Some(end) if end <= starts => {
                return Err(invalid_silence("`ends_at` is after `starts_at`."));
            }
            Some(end) if end <= now => return Err(invalid_silence("`ends_at` is in the past.")),
            None if spec.weekly.is_none() => {
                return Err(invalid_silence(
                    "Give `ends_at`, or `weekly` for a standing maintenance window.",
                ));
            }
            _ => {}
        }
        let row = SilenceRow {
            silence_id: 0,
            matcher: serde_json::to_string(&spec.matcher).map_err(super::internal)?,
            starts_at_ms: starts,
            ends_at_ms: ends,
            weekly: spec
                .weekly
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(super::internal)?,
            author: caller.username.clone(),
            comment,
            created_at_ms: now,
        };
        let row = self.store.create_silence(&row).await?;
        self.reload_silences().await?;
        tracing::info!(silence = row.silence_id, by = %caller.username, "silence created");
        Ok(silence_info(&row, now))
    }

    pub async fn delete_silence(&self, caller: &Me, id: i64) -> Result<(), ApiError> {
        super::users::allow(caller, app::Role::Operator)?;
        if !self.store.delete_silence(id).await? {
            return Err(ApiError::UnknownItem {
                kind: "silence",
                id,
            });
        }
        self.reload_silences().await?;
        tracing::info!(silence = id, by = %caller.username, "silence deleted");
        Ok(())
    }

    // ---- the API: channels and deliveries

    fn seal_channel(
        &self,
        spec: &ChannelSpec,
        settings: &serde_json::Value,
    ) -> Result<(String, String), ApiError> {
        let alerting = self.alerting()?;
        channels::parse(spec.kind, settings, alerting.sender.policy()).map_err(invalid_channel)?;
        let text = serde_json::to_vec(settings).map_err(super::internal)?;
        let sealed = alerting
            .key
            .seal(CHANNEL_SEAL, &text)
            .map_err(super::internal)?;
        let severities = serde_json::to_string(&spec.severities).map_err(super::internal)?;
        Ok((sealed, severities))
    }

    pub async fn list_channels(&self, _caller: &Me) -> Result<Vec<NotificationChannel>, ApiError> {
        Ok(self
            .open_channels()
            .await?
            .iter()
            .map(|c| self.channel_info(c))
            .collect())
    }

    pub async fn channel(&self, _caller: &Me, id: i64) -> Result<NotificationChannel, ApiError> {
        let channel = self.open_channel(id).await?.ok_or(ApiError::UnknownItem {
            kind: "notification channel",
            id,
        })?;
        Ok(self.channel_info(&channel))
    }

    pub async fn create_channel(
        &self,
        caller: &Me,
        mut spec: ChannelSpec,
    ) -> Result<NotificationChannel, ApiError> {
        super::users::allow(caller, app::Role::Admin)?;
        spec.name = spec.name.trim().to_owned();
        spec.check().map_err(invalid_channel)?;
        let (sealed, severities) = self.seal_channel(&spec, &spec.settings)?;
        let row = self
            .store
            .create_channel(&channel_fields(&spec, &sealed, &severities))
            .await
            .map_err(|e| name_taken(e, &spec.name))?;
        tracing::info!(channel = row.notification_channel_id, kind = %spec.kind, by = %caller.username, "notification channel created");
        Ok(self.channel_info(&self.open_row(row)?))
    }

    pub async fn update_channel(
        &self,
        caller: &Me,
        id: i64,
        mut spec: ChannelSpec,
    ) -> Result<NotificationChannel, ApiError> {
        super::users::allow(caller, app::Role::Admin)?;
        spec.name = spec.name.trim().to_owned();
        spec.check().map_err(invalid_channel)?;
        let old = self.open_channel(id).await?.ok_or(ApiError::UnknownItem {
            kind: "notification channel",
            id,
        })?;
        let settings = if old.kind == spec.kind {
            channels::keep_secrets(spec.kind, &spec.settings, &old.settings)
        } else {
            spec.settings.clone()
        };
        let (sealed, severities) = self.seal_channel(&spec, &settings)?;
        let row = self
            .store
            .update_channel(id, &channel_fields(&spec, &sealed, &severities))
            .await
            .map_err(|e| name_taken(e, &spec.name))?
            .ok_or(ApiError::UnknownItem {
                kind: "notification channel",
                id,
            })?;
        Ok(self.channel_info(&self.open_row(row)?))
    }

    pub async fn delete_channel(&self, caller: &Me, id: i64) -> Result<(), ApiError> {
        super::users::allow(caller, app::Role::Admin)?;
        if !self.store.delete_channel(id).await? {
            return Err(ApiError::UnknownItem {
                kind: "notification channel",
                id,
            });
        }
        self.wake_channel(id);
        tracing::info!(channel = id, by = %caller.username, "notification channel deleted");
        Ok(())
    }

    /// Sends a test message now and says how it went (it is not queued or retried).
    pub async fn test_channel(&self, caller: &Me, id: i64) -> Result<ChannelTestResult, ApiError> {
        super::users::allow(caller, app::Role::Admin)?;
        let channel = self.open_channel(id).await?.ok_or(ApiError::UnknownItem {
            kind: "notification channel",
            id,
        })?;
        let alerting = self.alerting()?;
        let now = now_ms();
        let notice = Notice {
            delivery_id: 0,
            items: vec![NoticeItem {
                alert: Alert {
                    id: 0,
                    rule_id: None,
                    rule_name: "test".into(),
                    severity: Severity::Warning,
                    state: AlertState::Firing,
                    agent_id: None,
                    host_label: "vantage".into(),
                    subject: "test".into(),
                    summary: format!(
                        "Test message from Vantage, sent by {} to {}",
                        caller.username, channel.row.name
                    ),
                    value: None,
                    culprits: Vec::new(),
                    started_at: rfc3339_ms(now),
                    fired_at: Some(rfc3339_ms(now)),
                    resolved_at: None,
                    acknowledged_by: None,
                    acknowledged_at: None,
                    silenced_by: None,
                },
                event: NoticeEvent::Test,
                note: String::new(),
            }],
            base_url: alerting.settings.base_url.clone(),
        };
        let outcome =
            match channels::parse(channel.kind, &channel.settings, alerting.sender.policy()) {
                Ok(target) => alerting.sender.send(&target, &notice).await,
                Err(e) => channels::Outcome {
                    ok: false,
                    status: None,
                    latency: Duration::ZERO,
                    error: Some(e),
                },
            };
        Ok(ChannelTestResult {
            ok: outcome.ok,
            status: outcome.status,
            latency_ms: outcome.latency.as_millis() as u64,
            error: outcome.error,
        })
    }

    pub async fn list_deliveries(
        &self,
        _caller: &Me,
        channel_id: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<Delivery>, ApiError> {
        let limit = limit.unwrap_or(100).clamp(1, ALERTS_PAGE_MAX);
        Ok(self
            .store
            .list_deliveries(channel_id, limit)
            .await?
            .iter()
            .map(delivery_info)
            .collect())
    }
}

/// A channel's row from its spec and its sealed settings.
fn channel_fields<'a>(
    spec: &'a ChannelSpec,
    sealed: &'a str,
    severities: &'a str,
) -> ChannelFields<'a> {
    ChannelFields {
        name: &spec.name,
        kind: spec.kind.as_str(),
        settings_sealed: sealed,
        severities,
        group_wait_s: spec.group_wait_s as i64,
        repeat_interval_s: spec.repeat_interval_s.map(|r| r as i64),
        send_resolved: spec.send_resolved,
    }
}

fn name_taken(e: crate::store::StoreError, name: &str) -> ApiError {
    match e {
        crate::store::StoreError::Conflict => ApiError::NameTaken(name.to_owned()),
        e => e.into(),
    }
}

impl OpenChannel {
    fn wants(&self, severity: Severity) -> bool {
        self.severities.is_empty() || self.severities.contains(&severity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_five_minutes() {
        assert_eq!(backoff_ms(0), 5_000);
        assert_eq!(backoff_ms(1), 10_000);
        assert_eq!(backoff_ms(5), 160_000);
        assert_eq!(backoff_ms(6), 300_000);
        assert_eq!(backoff_ms(60), 300_000);
    }
}
