//! Applications: what an operator says should run on a host, what the host's inventory shows,
//! and the restarts made on them (`/api/v1/apps`, `/api/v1/actions`,
//! `/api/v1/agents/{id}/inventory`).
use serde::{Deserialize, Serialize};

pub use crate::states::{ActionState, AppType, ExpectedState, ObservedState};

/// One thing the host's inventory shows: a unit, container, Compose service or executable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InventoryItem {
    /// How an app of it would be tracked.
    pub kind: AppType,
    /// What an app of it would name: the unit, container name, `project::service`, path.
    pub identifier: String,
    /// A short name for it.
    pub name: String,
    /// Its own state as the host reported it (`active`, `running`, `exited`, …).
    pub state: String,
    /// That state as an app's observed state.
    pub observed: ObservedState,
    /// Sub-state and description, image, container count, or pid and user.
    pub detail: String,
    /// The tracked app of this item, if any.
    pub app_id: Option<i64>,
}

/// An agent's newest inventory (`GET /api/v1/agents/{id}/inventory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Inventory {
    pub agent_id: String,
    /// When the agent took it (RFC 3339); `None` before the first one arrived.
    pub taken_at: Option<String>,
    pub taken_ms: Option<i64>,
    /// Why a part is missing (systemctl absent, Docker unreachable).
    pub errors: Vec<String>,
    /// Units, containers, Compose services and executables, by kind then identifier.
    pub items: Vec<InventoryItem>,
}

/// A tracked application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct App {
    pub id: i64,
    pub agent_id: String,
    /// The host's label.
    pub host: String,
    /// The host's tags, which the app inherits.
    pub tags: Vec<String>,
    pub name: String,
    pub app_type: AppType,
    pub identifier: String,
    pub expected_state: ExpectedState,
    pub observed_state: ObservedState,
    /// Liveness checks in a row whose observation differed from the expectation.
    pub consecutive_mismatch: u32,
    /// True once the mismatch counts (three checks, or four when unknown).
    pub mismatch: bool,
    /// When the observed state last changed (RFC 3339).
    pub last_state_change: Option<String>,
    /// When it was last checked (RFC 3339).
    pub last_checked: Option<String>,
    pub owner_email: String,
    pub runbook_url: String,
    pub notes: String,
    /// For a process app: the command a restart runs (absolute path, then arguments).
    pub restart_command: Vec<String>,
    /// Restarts left in the current hour's budget (as the server counts them; the agent
    /// keeps its own count and has the last word).
    pub budget_left: u32,
    pub created_at: String,
}

/// Body of `POST /api/v1/apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewApp {
    pub agent_id: String,
    pub name: String,
    pub app_type: AppType,
    pub identifier: String,
    #[serde(default = "running")]
    pub expected_state: ExpectedState,
    #[serde(default)]
    pub owner_email: String,
    #[serde(default)]
    pub runbook_url: String,
    #[serde(default)]
    pub notes: String,
    /// Process apps only: the restart command, absolute path first.
    #[serde(default)]
    pub restart_command: Vec<String>,
}

fn running() -> ExpectedState {
    ExpectedState::Running
}

/// Body of `PATCH /api/v1/apps/{id}`: what is given changes (type, identifier and host stay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AppPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub expected_state: Option<ExpectedState>,
    #[serde(default)]
    pub owner_email: Option<String>,
    #[serde(default)]
    pub runbook_url: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub restart_command: Option<Vec<String>>,
}

/// Body of `POST /api/v1/apps/{id}/restart` (the one-time code goes in `X-TOTP-Code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RestartRequest {
    /// Why, for the log: 3 to 500 characters.
    pub reason: String,
}

/// A restart: what was asked, by whom, and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Action {
    pub id: i64,
    /// The Emergency Action Token's id (UUID).
    pub eat_id: String,
    pub app_id: Option<i64>,
    pub agent_id: String,
    /// `restart`.
    pub action: String,
    pub app_type: AppType,
    pub identifier: String,
    pub requested_by: String,
    pub reason: String,
    pub state: ActionState,
    /// The audit log entry of the intent (before the token was signed).
    pub log_index: u64,
    /// The audit log entry of the result.
    pub result_log_index: Option<u64>,
    pub issued_at: String,
    pub expires_at: String,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    /// At most 64 KiB each.
    pub stdout: String,
    pub stderr: String,
    /// Why it did not run (refused by the agent, expired, cancelled), or how it failed.
    pub error: String,
    /// From the click to the agent's result stored, in milliseconds.
    pub duration_ms: Option<i64>,
}
