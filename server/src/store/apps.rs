//! Tracked apps and their restarts (`action`): rows in, rows out; the rules are the service's.
use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError};
use proto::clock::{now_ms, now_s};

/// An app as stored, with its host's label and tags.
#[derive(Debug, Clone)]
pub struct AppRow {
    pub app_id: i64,
    pub agent_id: String,
    pub host: String,
    pub tags: Vec<String>,
    pub name: String,
    pub app_type: String,
    pub identifier: String,
    pub expected_state: String,
    pub owner_email: String,
    pub runbook_url: String,
    pub notes: String,
    pub restart_command: Vec<String>,
    pub observed_state: String,
    pub consecutive_mismatch: i64,
    pub last_state_change: Option<i64>,
    pub last_checked: Option<i64>,
    pub created_at: i64,
}

/// The fields of an app an operator sets.
#[derive(Debug, Clone)]
pub struct AppFields<'a> {
    pub name: &'a str,
    pub expected_state: &'a str,
    pub owner_email: &'a str,
    pub runbook_url: &'a str,
    pub notes: &'a str,
    pub restart_command: &'a [String],
}

/// A restart as stored.
#[derive(Debug, Clone)]
pub struct ActionRow {
    pub action_id: i64,
    pub eat_id: String,
    pub app_id: Option<i64>,
    pub agent_id: String,
    pub user_id: Option<i64>,
    pub action: String,
    pub app_type: String,
    pub identifier: String,
    pub requested_by: String,
    pub reason: String,
    pub eat: Vec<u8>,
    pub signature: Vec<u8>,
    pub log_index: i64,
    pub result_log_index: Option<i64>,
    pub state: String,
    pub requested_ms: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub finished_ms: Option<i64>,
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
    pub error: String,
}

/// An app's restarts in the current hour.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecentRestarts {
    /// Not refused: what the server counts against the budget.
    pub used: i64,
    /// The newest was refused by the agent for its budget.
    pub budget_refused: bool,
}

/// A new restart's row.
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    pub eat_id: &'a str,
    pub app_id: i64,
    pub agent_id: &'a str,
    pub user_id: i64,
    pub app_type: &'a str,
    pub identifier: &'a str,
    pub requested_by: &'a str,
    pub reason: &'a str,
    pub eat: &'a [u8],
    pub signature: &'a [u8],
    pub log_index: i64,
    pub requested_ms: i64,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// What came back of a restart.
#[derive(Debug, Clone)]
pub struct ActionOutcome<'a> {
    pub state: &'a str,
    pub exit_code: Option<i64>,
    pub stdout: &'a str,
    pub stderr: &'a str,
    pub error: &'a str,
    pub result_log_index: Option<i64>,
}

const APP_COLUMNS: &str = "a.app_id, a.agent_id, g.label as host, g.tags, a.name, a.app_type, \
    a.identifier, a.expected_state, a.owner_email, a.runbook_url, a.notes, a.restart_command, \
    a.observed_state, a.consecutive_mismatch, a.last_state_change, a.last_checked, a.created_at";

fn app_row(r: sqlx::any::AnyRow) -> Result<AppRow, StoreError> {
    let tags: String = r.try_get("tags")?;
    let command: String = r.try_get("restart_command")?;
    Ok(AppRow {
        app_id: r.try_get("app_id")?,
        agent_id: r.try_get("agent_id")?,
        host: r.try_get("host")?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        name: r.try_get("name")?,
        app_type: r.try_get("app_type")?,
        identifier: r.try_get("identifier")?,
        expected_state: r.try_get("expected_state")?,
        owner_email: r.try_get("owner_email")?,
        runbook_url: r.try_get("runbook_url")?,
        notes: r.try_get("notes")?,
        restart_command: serde_json::from_str(&command).unwrap_or_default(),
        observed_state: r.try_get("observed_state")?,
        consecutive_mismatch: r.try_get("consecutive_mismatch")?,
        last_state_change: r.try_get("last_state_change")?,
        last_checked: r.try_get("last_checked")?,
        created_at: r.try_get("created_at")?,
    })
}

const ACTION_COLUMNS: &str = "action_id, eat_id, app_id, agent_id, user_id, action, app_type, \
    identifier, requested_by, reason, eat, signature, log_index, result_log_index, state, \
    requested_ms, issued_at, expires_at, finished_ms, exit_code, stdout, stderr, error";

fn action_row(r: sqlx::any::AnyRow) -> Result<ActionRow, StoreError> {
    Ok(ActionRow {
        action_id: r.try_get("action_id")?,
        eat_id: r.try_get("eat_id")?,
        app_id: r.try_get("app_id")?,
        agent_id: r.try_get("agent_id")?,
        user_id: r.try_get("user_id")?,
        action: r.try_get("action")?,
        app_type: r.try_get("app_type")?,
        identifier: r.try_get("identifier")?,
        requested_by: r.try_get("requested_by")?,
        reason: r.try_get("reason")?,
        eat: r.try_get("eat")?,
        signature: r.try_get("signature")?,
        log_index: r.try_get("log_index")?,
        result_log_index: r.try_get("result_log_index")?,
        state: r.try_get("state")?,
        requested_ms: r.try_get("requested_ms")?,
        issued_at: r.try_get("issued_at")?,
        expires_at: r.try_get("expires_at")?,
        finished_ms: r.try_get("finished_ms")?,
        exit_code: r.try_get("exit_code")?,
        stdout: r.try_get("stdout")?,
        stderr: r.try_get("stderr")?,
        error: r.try_get("error")?,
    })
}

impl Store {
    /// Tracks an app; `Conflict` when the host already tracks that type and identifier.
    pub async fn create_app(
        &self,
        agent_id: &str,
        app_type: &str,
        identifier: &str,
        fields: &AppFields<'_>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "insert into app (agent_id, name, app_type, identifier, expected_state, owner_email, \
             runbook_url, notes, restart_command, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning app_id",
        )
        .bind(agent_id)
        .bind(fields.name)
        .bind(app_type)
        .bind(identifier)
        .bind(fields.expected_state)
        .bind(fields.owner_email)
        .bind(fields.runbook_url)
        .bind(fields.notes)
        .bind(serde_json::to_string(fields.restart_command).unwrap_or_else(|_| "[]".into()))
        .bind(now_s())
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(row.try_get("app_id")?)
    }

    /// Every app, or one host's, in name order.
    pub async fn apps(&self, agent_id: Option<&str>) -> Result<Vec<AppRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {APP_COLUMNS} from app a join agent g on g.agent_id = a.agent_id \
             where ($1 is null or a.agent_id = $1) order by a.name, a.app_id"
        )))
        .bind(agent_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(app_row).collect()
    }

    /// One app.
    pub async fn app(&self, app_id: i64) -> Result<Option<AppRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select {APP_COLUMNS} from app a join agent g on g.agent_id = a.agent_id where a.app_id = $1"
        )))
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(app_row).transpose()
    }

    /// Changes what an operator sets; false when there is no such app.
    pub async fn update_app(&self, app_id: i64, f: &AppFields<'_>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update app set name = $1, expected_state = $2, owner_email = $3, runbook_url = $4, \
             notes = $5, restart_command = $6, \
             consecutive_mismatch = case when expected_state = $2 then consecutive_mismatch else 0 end \
             where app_id = $7",
        )
        .bind(f.name)
        .bind(f.expected_state)
        .bind(f.owner_email)
        .bind(f.runbook_url)
        .bind(f.notes)
        .bind(serde_json::to_string(f.restart_command).unwrap_or_else(|_| "[]".into()))
        .bind(app_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stops tracking an app (its restarts stay, without it); false when there is none.
    pub async fn delete_app(&self, app_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from app where app_id = $1")
            .bind(app_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a liveness check of an app.
    pub async fn record_app_check(
        &self,
        app_id: i64,
        observed: &str,
        consecutive_mismatch: i64,
        changed: bool,
    ) -> Result<(), StoreError> {
        let now = now_s();
        sqlx::query(
            "update app set observed_state = $1, consecutive_mismatch = $2, last_checked = $3, \
             last_state_change = case when $4 = 1 then $3 else last_state_change end where app_id = $5",
        )
        .bind(observed)
        .bind(consecutive_mismatch)
        .bind(now)
        .bind(i64::from(changed))
        .bind(app_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a signed restart.
    pub async fn create_action(&self, a: &NewAction<'_>, state: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "insert into action (eat_id, app_id, agent_id, user_id, action, app_type, identifier, \
             requested_by, reason, eat, signature, log_index, state, requested_ms, issued_at, expires_at) \
             values ($1, $2, $3, $4, 'restart', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             returning action_id",
        )
        .bind(a.eat_id)
        .bind(a.app_id)
        .bind(a.agent_id)
        .bind(a.user_id)
        .bind(a.app_type)
        .bind(a.identifier)
        .bind(a.requested_by)
        .bind(a.reason)
        .bind(a.eat)
        .bind(a.signature)
        .bind(a.log_index)
        .bind(state)
        .bind(a.requested_ms)
        .bind(a.issued_at)
        .bind(a.expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(row.try_get("action_id")?)
    }

    /// Restarts newest first: of one app, or all; at most `limit`.
    pub async fn actions(
        &self,
        app_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ActionRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {ACTION_COLUMNS} from action where ($1 is null or app_id = $1) \
             order by action_id desc limit $2"
        )))
        .bind(app_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(action_row).collect()
    }

    /// A restart by its token's id.
    pub async fn action_by_eat(&self, eat_id: &str) -> Result<Option<ActionRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select {ACTION_COLUMNS} from action where eat_id = $1"
        )))
        .bind(eat_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(action_row).transpose()
    }

    /// The agent's restarts still waiting for its stream, unexpired.
    pub async fn pending_actions(&self, agent_id: &str) -> Result<Vec<ActionRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select {ACTION_COLUMNS} from action where agent_id = $1 and state = 'pending' \
             and expires_at >= $2 order by action_id"
        )))
        .bind(agent_id)
        .bind(now_s())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(action_row).collect()
    }

    /// Moves a restart from `from` to `to` (the one conditional update that decides a race);
    /// true when it moved.
    pub async fn move_action(
        &self,
        eat_id: &str,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("update action set state = $1 where eat_id = $2 and state = $3")
            .bind(to)
            .bind(eat_id)
            .bind(from)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends a restart that is pending or sent with what came back; false when it had ended.
    pub async fn finish_action(
        &self,
        eat_id: &str,
        o: &ActionOutcome<'_>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update action set state = $1, exit_code = $2, stdout = $3, stderr = $4, error = $5, \
             result_log_index = $6, finished_ms = $7 \
             where eat_id = $8 and state in ('pending', 'sent')",
        )
        .bind(o.state)
        .bind(o.exit_code)
        .bind(o.stdout)
        .bind(o.stderr)
        .bind(o.error)
        .bind(o.result_log_index)
        .bind(now_ms())
        .bind(eat_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Cancels a user's pending restarts (they were disabled); their token ids.
    pub async fn cancel_pending_actions_of(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "update action set state = 'cancelled', error = 'its requester was disabled', finished_ms = $1 \
             where user_id = $2 and state = 'pending' returning eat_id",
        )
        .bind(now_ms())
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|r| Ok(r.try_get("eat_id")?)).collect()
    }

    /// Marks restarts that were never delivered and are past their expiry, and restarts sent
    /// whose result never came back `late_s` after their expiry (the agent restarted while
    /// one ran); their ids.
    pub async fn expire_actions(&self, late_s: i64) -> Result<Vec<String>, StoreError> {
        let now = now_s();
        let mut ids: Vec<String> = Vec::new();
        for (sql, cutoff) in [
            (
                "update action set state = 'expired', error = 'not delivered before its expiry', finished_ms = $1 \
                 where state = 'pending' and expires_at < $2 returning eat_id",
                now,
            ),
            (
                "update action set state = 'failed', error = 'no result came back from the agent', finished_ms = $1 \
                 where state = 'sent' and expires_at < $2 returning eat_id",
                now - late_s,
            ),
        ] {
            let rows = sqlx::query(sql)
                .bind(now_ms())
                .bind(cutoff)
                .fetch_all(&self.pool)
                .await?;
            for r in rows {
                ids.push(r.try_get("eat_id")?);
            }
        }
        Ok(ids)
    }

    /// Each app's restarts since `since_s`: how many were not refused, and whether its newest
    /// was refused by its agent for the budget (the agent's own count decides it). Apps with
    /// none are absent.
    pub async fn recent_restarts(
        &self,
        since_s: i64,
    ) -> Result<std::collections::HashMap<i64, RecentRestarts>, StoreError> {
        // One read: the counts per app, joined with each app's newest row.
        let rows = sqlx::query(
            "select r.app_id, r.used, n.state, n.error from (\
               select app_id, \
               sum(case when state in ('pending', 'sent', 'succeeded', 'failed') then 1 else 0 end) as used, \
               max(action_id) as newest from action \
               where app_id is not null and issued_at >= $1 group by app_id\
             ) r join action n on n.action_id = r.newest",
        )
        .bind(since_s)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let budget_refused = r.try_get::<String, _>("state")? == "refused"
                    && r.try_get::<String, _>("error")?.contains("budget");
                Ok((
                    r.try_get::<i64, _>("app_id")?,
                    RecentRestarts {
                        used: r.try_get("used")?,
                        budget_refused,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The size of the last checkpoint the agent accepted.
    pub async fn agent_tlog_size(&self, agent_id: &str) -> Result<u64, StoreError> {
        let row = sqlx::query("select tlog_size from agent where agent_id = $1")
            .bind(agent_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>("tlog_size"))
            .transpose()?
            .unwrap_or(0)
            .max(0) as u64)
    }

    /// Records the size of the last checkpoint the agent accepted.
    pub async fn set_agent_tlog_size(&self, agent_id: &str, size: u64) -> Result<(), StoreError> {
        sqlx::query("update agent set tlog_size = $1 where agent_id = $2")
            .bind(i64::try_from(size).unwrap_or(i64::MAX))
            .bind(agent_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
