//! `/api/v1`: JSON in, JSON out, errors as `{"error":{"code","message"}}`. One router per
//! area (`auth`, `tokens`, `agents`, `resources`, `events`, `alerts`, `audit`, `users`, `apps`), merged in `http::router`.
use serde::Deserialize;

use app::ApiError;

pub mod agents;
pub mod alerts;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod events;
pub mod resources;
pub mod tokens;
pub mod users;

/// Request bodies above this size are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub(super) fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::InvalidId)
}

#[derive(Deserialize)]
pub(super) struct HostQuery {
    pub(super) agent_id: Option<String>,
}
