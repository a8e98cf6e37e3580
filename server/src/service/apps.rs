//! Applications: inventories, tracked apps and their liveness, and restarts. A restart is
//! checked (role, one-time code, the app, a reason), logged as an intent in the audit log,
//! then signed as an Emergency Action Token bound to that entry and pushed over the agent's
//! stream with the entry's inclusion proof, the signed checkpoint and the proof that it
//! extends the last checkpoint the agent accepted. The agent's answer is stored and logged.
use std::collections::HashMap;

use agent::eat::{self, Eat};
use app::apps::{
    Action, ActionState, App, AppPatch, AppType, ExpectedState, Inventory, InventoryItem, NewApp,
    ObservedState,
};
use app::{ApiError, Field, Me, Role};
use proto::clock::{now_ms, now_s};

use super::users::{CodeUse, allow};
use super::{Vantage, audit, internal};
use crate::store::{
    ActionOutcome, AppFields, AppRow, InventoryRow, NewAction, RecentRestarts, StoreError,
};
use crate::streams::Control;

/// Mismatched checks in a row before an app's mismatch counts.
pub const MISMATCH_AFTER: i64 = 3;
/// The same when the observation is `unknown` (the host may just be restarting).
pub const UNKNOWN_AFTER: i64 = 4;
/// How long a restart's token lives.
const EAT_LIFETIME_S: i64 = 300;
/// Restarts of one app per hour, as the server counts them (agents keep their own budget).
pub const BUDGET_PER_HOUR: i64 = 3;

fn unknown_app(id: i64) -> ApiError {
    ApiError::UnknownItem { kind: "app", id }
}

fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|e: String| {
        tracing::error!(error = %e, "stored app data is damaged");
        ApiError::Internal
    })
}

/// What an inventory item's own state means for an app of it.
pub fn observed_of(kind: AppType, state: &str) -> ObservedState {
    match (kind, state) {
        (AppType::Systemd, "active" | "reloading" | "activating" | "refreshing") => {
            ObservedState::Running
        }
        (AppType::Systemd, _) => ObservedState::Stopped,
        (AppType::Docker, "running" | "restarting") => ObservedState::Running,
        (AppType::Docker, _) => ObservedState::Stopped,
        (AppType::Compose, "running") => ObservedState::Running,
        (AppType::Compose, _) => ObservedState::Stopped,
        (AppType::Process, _) => ObservedState::Running,
    }
}

/// Whether the part of an inventory that shows `kind` could not be read (its error names
/// the part, as `agent::inventory` writes it). Processes are always read.
fn kind_unreadable(kind: AppType, errors: &[String]) -> bool {
    let part = match kind {
        AppType::Systemd => agent::inventory::UNITS_PART,
        AppType::Docker | AppType::Compose => agent::inventory::DOCKER_PART,
        AppType::Process => return false,
    };
    errors.iter().any(|e| e.starts_with(part))
}

/// What the newest inventory shows of an app: unknown without one, while the host is
/// offline, or when its part of the inventory could not be read; else running or stopped
/// (absent from the inventory: stopped).
pub fn observe(
    kind: AppType,
    identifier: &str,
    inventory: Option<&InventoryRow>,
    online: bool,
) -> ObservedState {
    let Some(inventory) = inventory.filter(|_| online) else {
        return ObservedState::Unknown;
    };
    if kind_unreadable(kind, &inventory.errors) {
        return ObservedState::Unknown;
    }
    inventory
        .items
        .iter()
        .find(|i| i.kind == kind.as_str() && i.identifier == identifier)
        .map_or(ObservedState::Stopped, |i| observed_of(kind, &i.state))
}

/// Whether a mismatch of `count` checks in a row counts, given the observation.
pub fn mismatch_counts(observed: ObservedState, count: i64) -> bool {
    let after = if observed == ObservedState::Unknown {
        UNKNOWN_AFTER
    } else {
        MISMATCH_AFTER
    };
    count >= after
}

fn expected_matches(expected: ExpectedState, observed: ObservedState) -> bool {
    matches!(
        (expected, observed),
        (ExpectedState::Running, ObservedState::Running)
            | (ExpectedState::Stopped, ObservedState::Stopped)
    )
}

/// Checks what an operator sets on an app.
fn check_fields(
    app_type: AppType,
    name: &str,
    owner_email: &str,
    runbook_url: &str,
    notes: &str,
    restart_command: &[String],
) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::invalid(Field::App, m);
    app::text::check_required_name("name", name, 64).map_err(bad)?;
    if !owner_email.is_empty() {
        let ok = owner_email.len() <= 254
            && owner_email
                .split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.starts_with('.'))
            && !owner_email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(bad(format!(
                "owner_email {owner_email:?} is not an e-mail address."
            )));
        }
    }
    if !runbook_url.is_empty() {
        let ok = runbook_url.len() <= 2048
            && (runbook_url.starts_with("https://") || runbook_url.starts_with("http://"))
            && !runbook_url
                .chars()
                .any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(bad("runbook_url is an http:// or https:// address.".into()));
        }
    }
    if notes.chars().count() > 4000 || notes.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad("notes are at most 4000 characters of text.".into()));
    }
    match (app_type, restart_command) {
        (AppType::Process, []) => {
            return Err(bad(
                "A process app needs restart_command: the absolute path of what restarts it, then its arguments.".into(),
            ));
        }
        (AppType::Process, [path, args @ ..]) => {
            proto::identifier::check("process", path)
                .map_err(|m| bad(format!("restart_command: {m}")))?;
            if args.len() > 31
                || args
                    .iter()
                    .any(|a| a.is_empty() || a.len() > 1024 || a.chars().any(|c| c.is_control()))
            {
                return Err(bad(
                    "restart_command takes at most 31 arguments, each 1 to 1024 characters without control characters.".into(),
                ));
            }
        }
        (_, []) => {}
        (_, _) => {
            return Err(bad(format!(
                "Only process apps take a restart_command; a {app_type} app restarts with its own tool."
            )));
        }
    }
    Ok(())
}

impl Vantage {
    /// An agent's newest inventory, each item with its observed state and tracked app.
    pub async fn inventory(&self, _caller: &Me, agent_id: &str) -> Result<Inventory, ApiError> {
        if self.store.agent_names(agent_id).await?.is_none() {
            return Err(ApiError::UnknownAgent(agent_id.to_owned()));
        }
        let row = self.store.inventory(agent_id).await?;
        let tracked: HashMap<(String, String), i64> = self
            .store
            .apps(Some(agent_id))
            .await?
            .into_iter()
            .map(|a| ((a.app_type, a.identifier), a.app_id))
            .collect();
        let Some(row) = row else {
            return Ok(Inventory {
                agent_id: agent_id.to_owned(),
                taken_at: None,
                taken_ms: None,
                errors: Vec::new(),
                items: Vec::new(),
            });
        };
        let mut items = Vec::with_capacity(row.items.len());
        for i in row.items {
            let kind: AppType = parse(&i.kind)?;
            items.push(InventoryItem {
                kind,
                observed: observed_of(kind, &i.state),
                app_id: tracked
                    .get(&(i.kind.clone(), i.identifier.clone()))
                    .copied(),
                identifier: i.identifier,
                name: i.name,
                state: i.state,
                detail: i.detail,
            });
        }
        Ok(Inventory {
            agent_id: agent_id.to_owned(),
            taken_at: Some(app::rfc3339_from_millis(row.taken_ms)),
            taken_ms: Some(row.taken_ms),
            errors: row.errors,
            items,
        })
    }

    /// Asks an agent for a fresh inventory now (false: it is not connected here).
    pub(crate) fn request_inventory(&self, agent_id: &str) -> bool {
        self.streams.send(agent_id, Control::RequestInventory)
    }

    /// The hour's restarts of every app that had any.
    async fn recent_restarts(&self) -> Result<HashMap<i64, RecentRestarts>, ApiError> {
        Ok(self.store.recent_restarts(now_s() - 3600).await?)
    }

    fn app_of(row: AppRow, recent: &HashMap<i64, RecentRestarts>) -> Result<App, ApiError> {
        let app_type: AppType = parse(&row.app_type)?;
        let expected: ExpectedState = parse(&row.expected_state)?;
        let observed: ObservedState = parse(&row.observed_state)?;
        let used = recent.get(&row.app_id).map_or(0, |r| r.used);
        let mismatch = !expected_matches(expected, observed)
            && mismatch_counts(observed, row.consecutive_mismatch);
        Ok(App {
            id: row.app_id,
            agent_id: row.agent_id,
            host: row.host,
            tags: row.tags,
            name: row.name,
            app_type,
            identifier: row.identifier,
            expected_state: expected,
            observed_state: observed,
            consecutive_mismatch: u32::try_from(row.consecutive_mismatch).unwrap_or(u32::MAX),
            mismatch,
            last_state_change: row
                .last_state_change
                .map(|s| app::rfc3339_from_millis(s * 1000)),
            last_checked: row.last_checked.map(|s| app::rfc3339_from_millis(s * 1000)),
            owner_email: row.owner_email,
            runbook_url: row.runbook_url,
            notes: row.notes,
            restart_command: row.restart_command,
            budget_left: u32::try_from((BUDGET_PER_HOUR - used).max(0)).unwrap_or(0),
            created_at: app::rfc3339_from_millis(row.created_at * 1000),
        })
    }

    /// Tracked apps, filtered by host, tag and observed state.
    pub async fn list_apps(
        &self,
        _caller: &Me,
        agent_id: Option<&str>,
        tag: Option<&str>,
        state: Option<ObservedState>,
    ) -> Result<Vec<App>, ApiError> {
        let recent = self.recent_restarts().await?;
        let mut out = Vec::new();
        for row in self.store.apps(agent_id).await? {
            if tag.is_some_and(|t| !row.tags.iter().any(|x| x == t)) {
                continue;
            }
            let app = Self::app_of(row, &recent)?;
            if state.is_some_and(|s| s != app.observed_state) {
                continue;
            }
            out.push(app);
        }
        Ok(out)
    }

    /// One app.
    pub async fn get_app(&self, _caller: &Me, id: i64) -> Result<App, ApiError> {
        let row = self.store.app(id).await?.ok_or_else(|| unknown_app(id))?;
        Self::app_of(row, &self.recent_restarts().await?)
    }

    /// Tracks an app (operator): its identifier checked against its type's grammar.
    pub async fn create_app(&self, caller: &Me, new: NewApp) -> Result<App, ApiError> {
        allow(caller, Role::Operator)?;
        if self.store.agent_names(&new.agent_id).await?.is_none() {
            return Err(ApiError::UnknownAgent(new.agent_id));
        }
        proto::identifier::check(new.app_type.as_str(), &new.identifier)
            .map_err(|m| ApiError::invalid(Field::Identifier, m))?;
        let name = new.name.trim();
        check_fields(
            new.app_type,
            name,
            new.owner_email.trim(),
            new.runbook_url.trim(),
            &new.notes,
            &new.restart_command,
        )?;
        let id = self
            .store
            .create_app(
                &new.agent_id,
                new.app_type.as_str(),
                &new.identifier,
                &AppFields {
                    name,
                    expected_state: new.expected_state.as_str(),
                    owner_email: new.owner_email.trim(),
                    runbook_url: new.runbook_url.trim(),
                    notes: &new.notes,
                    restart_command: &new.restart_command,
                },
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict => {
                    ApiError::NameTaken(format!("{} {} on this host", new.app_type, new.identifier))
                }
                e => e.into(),
            })?;
        tracing::info!(by = %caller.username, app_id = id, app_type = %new.app_type, identifier = %new.identifier, "app tracked");
        self.audit(audit::Act {
            actor: &caller.username,
            action: "app.create",
            subject: &id.to_string(),
            detail: &format!(
                "{} {} on {} expected {}",
                new.app_type, new.identifier, new.agent_id, new.expected_state
            ),
        })
        .await?;
        self.request_inventory(&new.agent_id);
        self.get_app(caller, id).await
    }

    /// Changes what an operator sets on an app.
    pub async fn update_app(&self, caller: &Me, id: i64, patch: AppPatch) -> Result<App, ApiError> {
        allow(caller, Role::Operator)?;
        let row = self.store.app(id).await?.ok_or_else(|| unknown_app(id))?;
        let app_type: AppType = parse(&row.app_type)?;
        let name = patch
            .name
            .as_deref()
            .map(str::trim)
            .unwrap_or(&row.name)
            .to_owned();
        let expected = match patch.expected_state {
            Some(e) => e,
            None => parse(&row.expected_state)?,
        };
        let owner = patch
            .owner_email
            .as_deref()
            .map(str::trim)
            .unwrap_or(&row.owner_email)
            .to_owned();
        let runbook = patch
            .runbook_url
            .as_deref()
            .map(str::trim)
            .unwrap_or(&row.runbook_url)
            .to_owned();
        let notes = patch.notes.clone().unwrap_or_else(|| row.notes.clone());
        let command = patch
            .restart_command
            .clone()
            .unwrap_or_else(|| row.restart_command.clone());
        check_fields(app_type, &name, &owner, &runbook, &notes, &command)?;
        let fields = AppFields {
            name: &name,
            expected_state: expected.as_str(),
            owner_email: &owner,
            runbook_url: &runbook,
            notes: &notes,
            restart_command: &command,
        };
        if !self.store.update_app(id, &fields).await? {
            return Err(unknown_app(id));
        }
        let mut changed = Vec::new();
        if name != row.name {
            changed.push(format!("name {name:?}"));
        }
        if expected.as_str() != row.expected_state {
            changed.push(format!("expected {expected}"));
        }
        if command != row.restart_command {
            changed.push(format!("restart command {:?}", command.join(" ")));
        }
        if owner != row.owner_email || runbook != row.runbook_url || notes != row.notes {
            changed.push("owner, runbook or notes".into());
        }
        self.audit(audit::Act {
            actor: &caller.username,
            action: "app.update",
            subject: &id.to_string(),
            detail: &changed.join(", "),
        })
        .await?;
        self.get_app(caller, id).await
    }

    /// Stops tracking an app; its restarts stay in the records.
    pub async fn delete_app(&self, caller: &Me, id: i64) -> Result<(), ApiError> {
        allow(caller, Role::Operator)?;
        let row = self.store.app(id).await?.ok_or_else(|| unknown_app(id))?;
        if !self.store.delete_app(id).await? {
            return Err(unknown_app(id));
        }
        self.observe_apps_gone(&row);
        self.audit(audit::Act {
            actor: &caller.username,
            action: "app.delete",
            subject: &id.to_string(),
            detail: &format!("{} {} on {}", row.app_type, row.identifier, row.agent_id),
        })
        .await?;
        Ok(())
    }

    /// An app no longer tracked resolves its mismatch alert.
    fn observe_apps_gone(&self, row: &AppRow) {
        let obs = [crate::alerts::engine::AppObs {
            app_id: row.app_id,
            name: row.name.clone(),
            mismatch: false,
            expected: row.expected_state.clone(),
            observed: row.observed_state.clone(),
            budget_spent: false,
        }];
        self.observe(
            &row.agent_id,
            &row.host,
            crate::alerts::engine::Input::Apps(&obs),
        );
    }

    /// One liveness pass (the worker's, every `--app-check-interval`): each app's observed
    /// state from its host's newest inventory, the mismatch count, the host timeline's
    /// `app.state_mismatch` entry when a mismatch starts to count, and the alert engine told.
    pub async fn check_apps(&self) -> Result<(), ApiError> {
        let apps = self.store.apps(None).await?;
        let recent = self.recent_restarts().await?;
        let mut inventories: HashMap<String, Option<InventoryRow>> = HashMap::new();
        let mut by_host: HashMap<String, (String, Vec<crate::alerts::engine::AppObs>)> =
            HashMap::new();
        for row in apps {
            if !inventories.contains_key(&row.agent_id) {
                let inv = self.store.inventory(&row.agent_id).await?;
                inventories.insert(row.agent_id.clone(), inv);
            }
            let app_type: AppType = parse(&row.app_type)?;
            let expected: ExpectedState = parse(&row.expected_state)?;
            let before: ObservedState = parse(&row.observed_state)?;
            let online = self.live.is_connected(&row.agent_id);
            let observed = observe(
                app_type,
                &row.identifier,
                inventories[&row.agent_id].as_ref(),
                online,
            );
            let count = if expected_matches(expected, observed) {
                0
            } else {
                row.consecutive_mismatch + 1
            };
            let changed = observed != before || row.last_state_change.is_none();
            self.store
                .record_app_check(row.app_id, observed.as_str(), count, changed)
                .await?;
            let counts = count > 0 && mismatch_counts(observed, count);
            let started = counts && !mismatch_counts(observed, count - 1);
            if started {
                let detail = format!("expected {expected}, observed {observed} for {count} checks");
                tracing::warn!(app_id = row.app_id, app = %row.name, %detail, "app state mismatch");
                self.store
                    .record_host_event(
                        &row.agent_id,
                        now_ms(),
                        app::HostEventKind::App,
                        &row.name,
                        &format!("app.state_mismatch: {detail}"),
                    )
                    .await?;
            }
            // The page follows the state and the marker: both changes are news.
            if changed || started {
                self.live.publish(crate::live::LiveEvent::AppState {
                    agent_id: row.agent_id.clone(),
                    app_id: row.app_id,
                    observed_state: observed,
                    mismatch: counts,
                });
            }
            let budget_spent = recent.get(&row.app_id).is_some_and(|r| r.budget_refused);
            by_host
                .entry(row.agent_id.clone())
                .or_insert_with(|| (row.host.clone(), Vec::new()))
                .1
                .push(crate::alerts::engine::AppObs {
                    app_id: row.app_id,
                    name: row.name.clone(),
                    mismatch: counts,
                    expected: expected.to_string(),
                    observed: observed.to_string(),
                    budget_spent,
                });
        }
        for (agent_id, (label, obs)) in by_host {
            self.observe(&agent_id, &label, crate::alerts::engine::Input::Apps(&obs));
        }
        // A result later than the agent's longest run (its default timeout, twice) will not come.
        for eat_id in self.store.expire_actions(120).await? {
            tracing::info!(%eat_id, "restart ended without a result: never delivered, or none came back");
        }
        Ok(())
    }

    /// Restarts an app (operator or admin, with a one-time code and a reason): the intent is
    /// logged first, then the token signed over it and sent (or kept for the agent's next
    /// stream, until it expires).
    pub async fn restart_app(
        &self,
        caller: &Me,
        id: i64,
        totp_code: Option<&str>,
        reason: &str,
    ) -> Result<Action, ApiError> {
        let requested_ms = now_ms();
        allow(caller, Role::Operator)?;
        let reason = reason.trim();
        if !(3..=500).contains(&reason.chars().count()) || reason.chars().any(|c| c.is_control()) {
            return Err(ApiError::invalid(
                Field::Reason,
                "Give a reason of 3 to 500 characters (it goes in the audit log).",
            ));
        }
        let code = totp_code
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or(ApiError::TotpRequired)?;
        let row = self.store.app(id).await?.ok_or_else(|| unknown_app(id))?;
        self.check_code(caller.user_id, code, CodeUse::Action, None)
            .await?;
        let app_type: AppType = parse(&row.app_type)?;
        proto::identifier::check(app_type.as_str(), &row.identifier)
            .map_err(|m| ApiError::invalid(Field::Identifier, m))?;
        let log = self.log()?;
        let agent_uuid = uuid::Uuid::parse_str(&row.agent_id).map_err(internal)?;
        let issued_at = now_s();
        let mut token = Eat {
            eat_id: *uuid::Uuid::new_v4().as_bytes(),
            key_id: log.key_id(),
            agent_id: *agent_uuid.as_bytes(),
            action: "restart".into(),
            app_type: app_type.as_str().into(),
            identifier: row.identifier.clone(),
            command: if app_type == AppType::Process {
                row.restart_command.clone()
            } else {
                Vec::new()
            },
            issued_at_s: issued_at,
            expires_at_s: issued_at + EAT_LIFETIME_S,
            requested_by: caller.username.clone(),
            reason: reason.to_owned(),
            log_index: 0,
        };
        let eat_id = token.eat_id_text();
        // The intent goes in the log first: no token exists that the log does not show.
        token.log_index = self
            .audit(audit::Act {
                actor: &caller.username,
                action: eat::INTENT_ACTION,
                subject: &eat_id,
                detail: &eat::intent_detail(&token),
            })
            .await?;
        let (bytes, signature) = log.sign_eat(&token);
        self.store
            .create_action(
                &NewAction {
                    eat_id: &eat_id,
                    app_id: row.app_id,
                    agent_id: &row.agent_id,
                    user_id: caller.user_id,
                    app_type: app_type.as_str(),
                    identifier: &row.identifier,
                    requested_by: &caller.username,
                    reason,
                    eat: &bytes,
                    signature: &signature,
                    log_index: i64::try_from(token.log_index).map_err(internal)?,
                    requested_ms,
                    issued_at,
                    expires_at: token.expires_at_s,
                },
                ActionState::Pending.as_str(),
            )
            .await?;
        tracing::info!(by = %caller.username, app_id = id, %eat_id, log_index = token.log_index, "restart signed");
        self.deliver(&row.agent_id, &eat_id).await?;
        self.action(caller, &eat_id).await
    }

    /// Pushes a pending restart onto its agent's stream, with the proofs; stays pending when
    /// the agent is not connected.
    pub(crate) async fn deliver(&self, agent_id: &str, eat_id: &str) -> Result<bool, ApiError> {
        let Some(row) = self.store.action_by_eat(eat_id).await? else {
            return Ok(false);
        };
        if row.state != ActionState::Pending.as_str() || row.expires_at < now_s() {
            return Ok(false);
        }
        let log = self.log()?;
        let (head, note) = log.checkpoint().await?;
        let index = u64::try_from(row.log_index).map_err(internal)?;
        let inclusion = log
            .inclusion(index, head.size)
            .await?
            .ok_or(ApiError::Internal)?;
        let from = self.store.agent_tlog_size(agent_id).await?.min(head.size);
        let consistency = log
            .consistency(from, head.size)
            .await?
            .ok_or(ApiError::Internal)?;
        let entry = self.audit_entry(index).await?.ok_or(ApiError::Internal)?;
        let order = proto::Action {
            eat: row.eat.clone(),
            signature: row.signature.clone(),
            entry: Some(proto::AuditEntry {
                ts_ms: entry.ts_ms,
                actor: entry.actor,
                action: entry.action,
                subject: entry.subject,
                detail: entry.detail,
            }),
            checkpoint: note,
            inclusion: inclusion.iter().map(|h| h.to_vec()).collect(),
            consistency_from: from,
            consistency: consistency.iter().map(|h| h.to_vec()).collect(),
        };
        // Claimed first, so a reconnect racing this never sends it twice.
        if !self.store.move_action(eat_id, "pending", "sent").await? {
            return Ok(false);
        }
        if self
            .streams
            .send(agent_id, Control::Action(Box::new(order)))
        {
            Ok(true)
        } else {
            self.store.move_action(eat_id, "sent", "pending").await?;
            Ok(false)
        }
    }

    /// Sends an agent's pending restarts when its stream opens.
    pub(crate) async fn deliver_pending(&self, agent_id: &str) {
        let pending = match self.store.pending_actions(agent_id).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(%agent_id, error = %e, "cannot read pending restarts");
                return;
            }
        };
        for a in pending {
            if let Err(e) = self.deliver(agent_id, &a.eat_id).await {
                tracing::error!(%agent_id, eat_id = %a.eat_id, error = %e, "cannot deliver a restart");
            }
        }
    }

    /// What an agent answered to a restart: stored, logged, and told live.
    pub async fn record_action_result(
        &self,
        agent_id: &str,
        result: proto::ActionResult,
    ) -> Result<(), ApiError> {
        let Some(row) = self.store.action_by_eat(&result.eat_id).await? else {
            tracing::warn!(%agent_id, eat_id = %result.eat_id, "a result for an unknown restart");
            return Ok(());
        };
        if row.agent_id != agent_id {
            tracing::warn!(%agent_id, eat_id = %result.eat_id, "a result from another agent");
            return Ok(());
        }
        if result.checkpoint_size > 0 {
            self.store
                .set_agent_tlog_size(agent_id, result.checkpoint_size)
                .await?;
        }
        let state = if result.refused {
            ActionState::Refused
        } else if result.exit_code == 0 && result.error.is_empty() {
            ActionState::Succeeded
        } else {
            ActionState::Failed
        };
        let cut = |s: &str| -> String {
            let mut end = s.len().min(agent::actions::MAX_OUTPUT);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_owned()
        };
        let detail = match state {
            ActionState::Refused => format!("refused by the agent: {}", result.error),
            _ => format!(
                "exit code {}{}",
                result.exit_code,
                if result.error.is_empty() {
                    String::new()
                } else {
                    format!(": {}", result.error)
                }
            ),
        };
        let index = self
            .audit(audit::Act {
                actor: &format!("agent:{agent_id}"),
                action: "eat.result",
                subject: &row.eat_id,
                detail: &format!("{state}: {detail}"),
            })
            .await?;
        let finished = self
            .store
            .finish_action(
                &row.eat_id,
                &ActionOutcome {
                    state: state.as_str(),
                    exit_code: (!result.refused).then_some(i64::from(result.exit_code)),
                    stdout: &cut(&result.stdout),
                    stderr: &cut(&result.stderr),
                    error: &cut(&result.error),
                    result_log_index: i64::try_from(index).ok(),
                },
            )
            .await?;
        if !finished {
            tracing::warn!(%agent_id, eat_id = %row.eat_id, "a second result for a restart: ignored");
            return Ok(());
        }
        tracing::info!(%agent_id, eat_id = %row.eat_id, %state, %detail, "restart result");
        if result.budget_spent {
            self.store
                .record_host_event(
                    agent_id,
                    now_ms(),
                    app::HostEventKind::App,
                    &row.identifier,
                    "app.budget_spent: the agent refused a restart past its hourly budget",
                )
                .await?;
        }
        if let Some(app_id) = row.app_id {
            self.live.publish(crate::live::LiveEvent::ActionResult {
                agent_id: agent_id.to_owned(),
                app_id,
                eat_id: row.eat_id.clone(),
                state,
            });
        }
        // The inventory shows the app's new state at once, not at the next check.
        self.request_inventory(agent_id);
        Ok(())
    }

    /// A restart by its token's id.
    pub async fn action(&self, _caller: &Me, eat_id: &str) -> Result<Action, ApiError> {
        let row = self
            .store
            .action_by_eat(eat_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        action_of(row)
    }

    /// Restarts, newest first: of one app or all.
    pub async fn actions(
        &self,
        _caller: &Me,
        app_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Action>, ApiError> {
        self.store
            .actions(app_id, i64::from(limit.clamp(1, 1000)))
            .await?
            .into_iter()
            .map(action_of)
            .collect()
    }

    /// A disabled user's restarts not yet delivered never will be.
    pub(crate) async fn cancel_pending_actions(
        &self,
        user_id: i64,
        username: &str,
    ) -> Result<(), ApiError> {
        for eat_id in self.store.cancel_pending_actions_of(user_id).await? {
            tracing::info!(%eat_id, user = %username, "pending restart cancelled: its requester was disabled");
            self.audit(audit::Act {
                actor: "server",
                action: "eat.cancel",
                subject: &eat_id,
                detail: &format!("{username} was disabled"),
            })
            .await?;
        }
        Ok(())
    }
}

fn action_of(row: crate::store::ActionRow) -> Result<Action, ApiError> {
    Ok(Action {
        id: row.action_id,
        eat_id: row.eat_id,
        app_id: row.app_id,
        agent_id: row.agent_id,
        action: row.action,
        app_type: parse(&row.app_type)?,
        identifier: row.identifier,
        requested_by: row.requested_by,
        reason: row.reason,
        state: parse(&row.state)?,
        log_index: row.log_index.max(0) as u64,
        result_log_index: row.result_log_index.map(|i| i.max(0) as u64),
        issued_at: app::rfc3339_from_millis(row.issued_at * 1000),
        expires_at: app::rfc3339_from_millis(row.expires_at * 1000),
        finished_at: row.finished_ms.map(app::rfc3339_from_millis),
        exit_code: row.exit_code.and_then(|c| i32::try_from(c).ok()),
        stdout: row.stdout,
        stderr: row.stderr,
        error: row.error,
        duration_ms: row.finished_ms.map(|f| f - row.requested_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_waits_longer_than_a_plain_mismatch() {
        assert!(!mismatch_counts(ObservedState::Stopped, 2));
        assert!(mismatch_counts(ObservedState::Stopped, 3));
        assert!(!mismatch_counts(ObservedState::Unknown, 3));
        assert!(mismatch_counts(ObservedState::Unknown, 4));
    }

    #[test]
    fn an_app_absent_from_a_readable_inventory_is_stopped() {
        let inventory = InventoryRow {
            taken_ms: 1,
            errors: vec!["Docker containers: connection refused".into()],
            items: vec![crate::store::InventoryItemRow {
                kind: "systemd".into(),
                identifier: "nginx.service".into(),
                name: "nginx.service".into(),
                state: "failed".into(),
                detail: String::new(),
            }],
        };
        let seen = |kind, id: &str| observe(kind, id, Some(&inventory), true);
        assert_eq!(
            seen(AppType::Systemd, "nginx.service"),
            ObservedState::Stopped
        );
        assert_eq!(
            seen(AppType::Systemd, "gone.service"),
            ObservedState::Stopped
        );
        assert_eq!(seen(AppType::Process, "/usr/bin/x"), ObservedState::Stopped);
        assert_eq!(
            seen(AppType::Docker, "web"),
            ObservedState::Unknown,
            "Docker unreadable"
        );
        assert_eq!(
            observe(AppType::Systemd, "nginx.service", Some(&inventory), false),
            ObservedState::Unknown,
            "host offline"
        );
        assert_eq!(
            observe(AppType::Process, "/x", None, true),
            ObservedState::Unknown
        );
    }

    #[test]
    fn process_apps_need_an_allowed_looking_command_and_others_none() {
        let check = |t, cmd: &[&str]| {
            let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            check_fields(t, "worker", "", "", "", &cmd)
        };
        assert!(check(AppType::Process, &[]).is_err());
        assert!(check(AppType::Process, &["restart-worker"]).is_err());
        assert!(
            check(
                AppType::Process,
                &["/usr/local/bin/restart-worker", "--now"]
            )
            .is_ok()
        );
        assert!(check(AppType::Process, &["/bin/sh;id"]).is_err());
        assert!(check(AppType::Docker, &["/usr/bin/docker"]).is_err());
        assert!(check(AppType::Docker, &[]).is_ok());
        assert!(check_fields(AppType::Docker, "web", "not-an-email", "", "", &[]).is_err());
        assert!(check_fields(AppType::Docker, "web", "", "javascript:alert(1)", "", &[]).is_err());
        assert!(
            check_fields(
                AppType::Docker,
                "web",
                "ops@example.com",
                "https://wiki/x",
                "",
                &[]
            )
            .is_ok()
        );
    }
}
