//! SQL of the alerts: rules, alerts and their timelines, silences, notification channels
//! and deliveries. The rules about them are the service's (`service::alerts`).
use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError};
use proto::clock::now_s;

/// A rule as stored: its spec is the API's JSON.
#[derive(Debug, Clone)]
pub struct AlertRuleRow {
    pub alert_rule_id: i64,
    pub spec: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An alert as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertRow {
    pub alert_id: i64,
    pub alert_rule_id: Option<i64>,
    pub rule_name: String,
    pub severity: String,
    pub state: String,
    /// `None`: the local host, or the fleet when `subject` is `fleet`.
    pub agent_id: Option<String>,
    pub host_label: String,
    pub subject: String,
    pub summary: String,
    pub value: Option<f64>,
    pub culprits: Vec<String>,
    pub started_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at_ms: Option<i64>,
    pub silenced_by: Option<i64>,
    pub last_notified_at_ms: Option<i64>,
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEventRow {
    pub at_ms: i64,
    pub kind: String,
    pub text: String,
}

/// A silence as stored (matcher and weekly window as JSON).
#[derive(Debug, Clone)]
pub struct SilenceRow {
    pub silence_id: i64,
    pub matcher: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: Option<i64>,
    pub weekly: Option<String>,
    pub author: String,
    pub comment: String,
    pub created_at_ms: i64,
}

/// A channel as stored: settings sealed (never in clear text here).
#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub notification_channel_id: i64,
    pub name: String,
    pub kind: String,
    pub settings_sealed: String,
    pub severities: String,
    pub group_wait_s: i64,
    pub repeat_interval_s: Option<i64>,
    pub send_resolved: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a channel row is made of, for create and update.
#[derive(Debug, Clone)]
pub struct ChannelFields<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub settings_sealed: &'a str,
    pub severities: &'a str,
    pub group_wait_s: i64,
    pub repeat_interval_s: Option<i64>,
    pub send_resolved: bool,
}

/// A delivery as stored: `items` is the JSON list of what it carries.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub notification_delivery_id: i64,
    pub notification_channel_id: i64,
    pub items: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub latency_ms: Option<i64>,
}

const ALERT_COLUMNS: &str = "alert_id, alert_rule_id, rule_name, severity, state, agent_id, host_label, \
    subject, summary, value, culprits, started_at_ms, fired_at_ms, resolved_at_ms, acknowledged_by, \
    acknowledged_at_ms, silenced_by, last_notified_at_ms";

fn alert_from_row(r: sqlx::any::AnyRow) -> Result<AlertRow, sqlx::Error> {
    let culprits: String = r.try_get("culprits")?;
    Ok(AlertRow {
        alert_id: r.try_get("alert_id")?,
        alert_rule_id: r.try_get("alert_rule_id")?,
        rule_name: r.try_get("rule_name")?,
        severity: r.try_get("severity")?,
        state: r.try_get("state")?,
        agent_id: r.try_get("agent_id")?,
        host_label: r.try_get("host_label")?,
        subject: r.try_get("subject")?,
        summary: r.try_get("summary")?,
        value: r.try_get("value")?,
        culprits: serde_json::from_str(&culprits).unwrap_or_default(),
        started_at_ms: r.try_get("started_at_ms")?,
        fired_at_ms: r.try_get("fired_at_ms")?,
        resolved_at_ms: r.try_get("resolved_at_ms")?,
        acknowledged_by: r.try_get("acknowledged_by")?,
        acknowledged_at_ms: r.try_get("acknowledged_at_ms")?,
        silenced_by: r.try_get("silenced_by")?,
        last_notified_at_ms: r.try_get("last_notified_at_ms")?,
    })
}

const CHANNEL_COLUMNS: &str = "notification_channel_id, name, kind, settings_sealed, severities, \
    group_wait_s, repeat_interval_s, send_resolved, created_at, updated_at";

fn channel_from_row(r: sqlx::any::AnyRow) -> Result<ChannelRow, sqlx::Error> {
    Ok(ChannelRow {
        notification_channel_id: r.try_get("notification_channel_id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        settings_sealed: r.try_get("settings_sealed")?,
        severities: r.try_get("severities")?,
        group_wait_s: r.try_get("group_wait_s")?,
        repeat_interval_s: r.try_get("repeat_interval_s")?,
        send_resolved: r.try_get::<i64, _>("send_resolved")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const DELIVERY_COLUMNS: &str = "notification_delivery_id, notification_channel_id, items, state, \
    attempts, next_attempt_ms, created_at_ms, sent_at_ms, last_status, last_error, latency_ms";

fn delivery_from_row(r: sqlx::any::AnyRow) -> Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        notification_delivery_id: r.try_get("notification_delivery_id")?,
        notification_channel_id: r.try_get("notification_channel_id")?,
        items: r.try_get("items")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        next_attempt_ms: r.try_get("next_attempt_ms")?,
        created_at_ms: r.try_get("created_at_ms")?,
        sent_at_ms: r.try_get("sent_at_ms")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        latency_ms: r.try_get("latency_ms")?,
    })
}

const SILENCE_COLUMNS: &str =
    "silence_id, matcher, starts_at_ms, ends_at_ms, weekly, author, comment, created_at_ms";

fn silence_from_row(r: sqlx::any::AnyRow) -> Result<SilenceRow, sqlx::Error> {
    Ok(SilenceRow {
        silence_id: r.try_get("silence_id")?,
        matcher: r.try_get("matcher")?,
        starts_at_ms: r.try_get("starts_at_ms")?,
        ends_at_ms: r.try_get("ends_at_ms")?,
        weekly: r.try_get("weekly")?,
        author: r.try_get("author")?,
        comment: r.try_get("comment")?,
        created_at_ms: r.try_get("created_at_ms")?,
    })
}

fn rule_from_row(r: sqlx::any::AnyRow) -> Result<AlertRuleRow, sqlx::Error> {
    Ok(AlertRuleRow {
        alert_rule_id: r.try_get("alert_rule_id")?,
        spec: r.try_get("spec")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Adds one timeline entry, in a transaction or on the pool.
async fn insert_event<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    alert_id: i64,
    event: &AlertEventRow,
) -> Result<(), StoreError> {
    sqlx::query("insert into alert_event (alert_id, at_ms, kind, text) values ($1, $2, $3, $4)")
        .bind(alert_id)
        .bind(event.at_ms)
        .bind(&event.kind)
        .bind(&event.text)
        .execute(executor)
        .await?;
    Ok(())
}

/// The store's form of an agent id: the local host is NULL.
fn stored_agent(agent_id: Option<&str>) -> Option<&str> {
    agent_id.filter(|a| *a != app::LOCAL_AGENT_ID)
}

impl Store {
    // ---- rules

    pub async fn list_alert_rules(&self) -> Result<Vec<AlertRuleRow>, StoreError> {
        let rows = sqlx::query(
            "select alert_rule_id, spec, created_at, updated_at from alert_rule order by alert_rule_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(rule_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn alert_rule(&self, id: i64) -> Result<Option<AlertRuleRow>, StoreError> {
        let row = sqlx::query(
            "select alert_rule_id, spec, created_at, updated_at from alert_rule where alert_rule_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(rule_from_row).transpose()?)
    }

    pub async fn create_alert_rule(
        &self,
        name: &str,
        spec: &str,
    ) -> Result<AlertRuleRow, StoreError> {
        let now = now_s();
        let row = sqlx::query(
            "insert into alert_rule (name, spec, created_at, updated_at) values ($1, $2, $3, $3) \
             returning alert_rule_id, spec, created_at, updated_at",
        )
        .bind(name)
        .bind(spec)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(rule_from_row(row)?)
    }

    /// Replaces a rule's spec; `None` if there is no such rule.
    pub async fn update_alert_rule(
        &self,
        id: i64,
        name: &str,
        spec: &str,
    ) -> Result<Option<AlertRuleRow>, StoreError> {
        let row = sqlx::query(
            "update alert_rule set name = $1, spec = $2, updated_at = $3 where alert_rule_id = $4 \
             returning alert_rule_id, spec, created_at, updated_at",
        )
        .bind(name)
        .bind(spec)
        .bind(now_s())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(rule_from_row).transpose()?)
    }

    pub async fn delete_alert_rule(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from alert_rule where alert_rule_id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- alerts

    /// Stores a firing alert with the timeline that led to it, in one transaction.
    pub async fn insert_alert(
        &self,
        alert: &AlertRow,
        events: &[AlertEventRow],
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "insert into alert (alert_rule_id, rule_name, severity, state, agent_id, host_label, subject, \
             summary, value, culprits, started_at_ms, fired_at_ms, silenced_by) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning alert_id",
        )
        .bind(alert.alert_rule_id)
        .bind(&alert.rule_name)
        .bind(&alert.severity)
        .bind(&alert.state)
        .bind(stored_agent(alert.agent_id.as_deref()))
        .bind(&alert.host_label)
        .bind(&alert.subject)
        .bind(&alert.summary)
        .bind(alert.value)
        .bind(serde_json::to_string(&alert.culprits).unwrap_or_else(|_| "[]".into()))
        .bind(alert.started_at_ms)
        .bind(alert.fired_at_ms)
        .bind(alert.silenced_by)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        let alert_id: i64 = row.try_get("alert_id")?;
        for event in events {
            insert_event(&mut *tx, alert_id, event).await?;
        }
        tx.commit().await?;
        Ok(alert_id)
    }

    /// Adds a timeline entry.
    pub async fn add_alert_event(
        &self,
        alert_id: i64,
        event: &AlertEventRow,
    ) -> Result<(), StoreError> {
        insert_event(&self.pool, alert_id, event).await
    }

    /// Marks a firing alert resolved and records why; false if it was not firing.
    pub async fn resolve_alert(
        &self,
        alert_id: i64,
        event: &AlertEventRow,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "update alert set state = 'resolved', resolved_at_ms = $1 where alert_id = $2 and state = 'firing'",
        )
        .bind(event.at_ms)
        .bind(alert_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut *tx, alert_id, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records who acknowledged a firing alert; false if it is not firing (or was already
    /// acknowledged).
    pub async fn acknowledge_alert(
        &self,
        alert_id: i64,
        who: &str,
        at_ms: i64,
        comment: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "update alert set acknowledged_by = $1, acknowledged_at_ms = $2 \
             where alert_id = $3 and state = 'firing' and acknowledged_by is null",
        )
        .bind(who)
        .bind(at_ms)
        .bind(alert_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let text = if comment.is_empty() {
            format!("acknowledged by {who}")
        } else {
            format!("acknowledged by {who}: {comment}")
        };
        let event = AlertEventRow {
            at_ms,
            kind: app::AlertEventKind::Acknowledged.as_str().into(),
            text,
        };
        insert_event(&mut *tx, alert_id, &event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records that notifications went out for the alert now (reminders count from here).
    pub async fn set_alert_notified(&self, alert_id: i64, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query("update alert set last_notified_at_ms = $1 where alert_id = $2")
            .bind(at_ms)
            .bind(alert_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn alert(&self, alert_id: i64) -> Result<Option<AlertRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select {ALERT_COLUMNS} from alert where alert_id = $1"
        )))
        .bind(alert_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(alert_from_row).transpose()?)
    }

    /// Alerts newest first; `state` filters, `before` pages (ids below it).
    pub async fn list_alerts(
        &self,
        state: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {ALERT_COLUMNS} from alert where ($1 is null or state = $1) \
             and ($2 is null or alert_id < $2) order by alert_id desc limit $3"
        )))
        .bind(state)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(alert_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn alert_events(&self, alert_id: i64) -> Result<Vec<AlertEventRow>, StoreError> {
        let rows = sqlx::query(
            "select at_ms, kind, text from alert_event where alert_id = $1 order by alert_event_id",
        )
        .bind(alert_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AlertEventRow {
                    at_ms: r.try_get("at_ms")?,
                    kind: r.try_get("kind")?,
                    text: r.try_get("text")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    // ---- silences

    pub async fn create_silence(&self, s: &SilenceRow) -> Result<SilenceRow, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "insert into silence (matcher, starts_at_ms, ends_at_ms, weekly, author, comment, created_at_ms) \
             values ($1, $2, $3, $4, $5, $6, $7) returning {SILENCE_COLUMNS}"
        )))
        .bind(&s.matcher)
        .bind(s.starts_at_ms)
        .bind(s.ends_at_ms)
        .bind(&s.weekly)
        .bind(&s.author)
        .bind(&s.comment)
        .bind(s.created_at_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(silence_from_row(row)?)
    }

    pub async fn list_silences(&self) -> Result<Vec<SilenceRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {SILENCE_COLUMNS} from silence order by silence_id desc"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(silence_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn delete_silence(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from silence where silence_id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- channels

    pub async fn create_channel(&self, c: &ChannelFields<'_>) -> Result<ChannelRow, StoreError> {
        let now = now_s();
        let row = sqlx::query(AssertSqlSafe(format!(
            "insert into notification_channel (name, kind, settings_sealed, severities, group_wait_s, \
             repeat_interval_s, send_resolved, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning {CHANNEL_COLUMNS}"
        )))
        .bind(c.name)
        .bind(c.kind)
        .bind(c.settings_sealed)
        .bind(c.severities)
        .bind(c.group_wait_s)
        .bind(c.repeat_interval_s)
        .bind(i64::from(c.send_resolved))
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(channel_from_row(row)?)
    }

    pub async fn update_channel(
        &self,
        id: i64,
        c: &ChannelFields<'_>,
    ) -> Result<Option<ChannelRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "update notification_channel set name = $1, kind = $2, settings_sealed = $3, severities = $4, \
             group_wait_s = $5, repeat_interval_s = $6, send_resolved = $7, updated_at = $8 \
             where notification_channel_id = $9 returning {CHANNEL_COLUMNS}"
        )))
        .bind(c.name)
        .bind(c.kind)
        .bind(c.settings_sealed)
        .bind(c.severities)
        .bind(c.group_wait_s)
        .bind(c.repeat_interval_s)
        .bind(i64::from(c.send_resolved))
        .bind(now_s())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(row.map(channel_from_row).transpose()?)
    }

    pub async fn list_channels(&self) -> Result<Vec<ChannelRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {CHANNEL_COLUMNS} from notification_channel order by notification_channel_id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(channel_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn channel(&self, id: i64) -> Result<Option<ChannelRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select {CHANNEL_COLUMNS} from notification_channel where notification_channel_id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(channel_from_row).transpose()?)
    }

    pub async fn delete_channel(&self, id: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("delete from notification_channel where notification_channel_id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- deliveries

    /// Queues `item` (one JSON object) for a channel: into the delivery still gathering its
    /// group (not attempted, due after now) when there is one, else into a new delivery due at
    /// `due_ms`. Returns the delivery's id.
    pub async fn enqueue_delivery(
        &self,
        channel_id: i64,
        item: &serde_json::Value,
        now_ms: i64,
        due_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let open = sqlx::query(
            "select notification_delivery_id, items from notification_delivery \
             where notification_channel_id = $1 and state = 'pending' and attempts = 0 and next_attempt_ms > $2 \
             order by notification_delivery_id desc limit 1",
        )
        .bind(channel_id)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let id = match open {
            Some(row) if due_ms > now_ms => {
                let id: i64 = row.try_get("notification_delivery_id")?;
                let items: String = row.try_get("items")?;
                let mut items: Vec<serde_json::Value> =
                    serde_json::from_str(&items).unwrap_or_default();
                items.push(item.clone());
                sqlx::query("update notification_delivery set items = $1 where notification_delivery_id = $2")
                    .bind(serde_json::Value::Array(items).to_string())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            _ => {
                let row = sqlx::query(
                    "insert into notification_delivery (notification_channel_id, items, state, next_attempt_ms, created_at_ms) \
                     values ($1, $2, 'pending', $3, $4) returning notification_delivery_id",
                )
                .bind(channel_id)
                .bind(serde_json::Value::Array(vec![item.clone()]).to_string())
                .bind(due_ms)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await?;
                row.try_get("notification_delivery_id")?
            }
        };
        tx.commit().await?;
        Ok(id)
    }

    /// A channel's pending deliveries, soonest first.
    pub async fn pending_deliveries(
        &self,
        channel_id: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {DELIVERY_COLUMNS} from notification_delivery \
             where notification_channel_id = $1 and state = 'pending' order by next_attempt_ms, notification_delivery_id"
        )))
        .bind(channel_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Channels with anything pending (to resume after a start).
    pub async fn channels_with_pending(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "select distinct notification_channel_id from notification_delivery where state = 'pending'",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| r.try_get("notification_channel_id"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Records one attempt's outcome: `state` sent, pending (with the next attempt) or failed.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_delivery_attempt(
        &self,
        id: i64,
        state: &str,
        next_attempt_ms: i64,
        at_ms: i64,
        status: Option<i64>,
        error: Option<&str>,
        latency_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update notification_delivery set state = $1, attempts = attempts + 1, next_attempt_ms = $2, \
             sent_at_ms = case when $1 = 'sent' then $3 else sent_at_ms end, last_status = $4, last_error = $5, \
             latency_ms = $6 where notification_delivery_id = $7",
        )
        .bind(state)
        .bind(next_attempt_ms)
        .bind(at_ms)
        .bind(status)
        .bind(error)
        .bind(latency_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deliveries newest first, optionally of one channel.
    pub async fn list_deliveries(
        &self,
        channel_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {DELIVERY_COLUMNS} from notification_delivery \
             where ($1 is null or notification_channel_id = $1) order by notification_delivery_id desc limit $2"
        )))
        .bind(channel_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?)
    }
}
