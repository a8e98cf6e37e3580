//! `/api/v1`: Agents and their enrollment tokens.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use app::backend::ClientInfo;
use app::{AgentPatch, ApiError, NewEnrollmentToken};

use super::parse_id;
use crate::http::AppState;
use crate::http::extract::{ApiJson, Authenticated};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/agents", get(list_agents))
        .route("/agents/builds", get(list_builds))
        .route(
            "/agents/enrollment-tokens",
            get(list_enrollment_tokens).post(create_enrollment_token),
        )
        .route(
            "/agents/enrollment-tokens/{id}",
            get(get_enrollment_token).delete(delete_enrollment_token),
        )
        .route(
            "/agents/{id}",
            get(get_agent).patch(patch_agent).delete(delete_agent),
        )
        .route("/agents/{id}/revoke", post(revoke_agent))
        .route("/agents/{id}/events", get(agent_events))
}

#[utoipa::path(
    post,
    path = "/api/v1/agents/enrollment-tokens",
    tag = "agents",
    summary = "Issue an enrollment token (one host or a fleet) with install snippets.",
    request_body = app::NewEnrollmentToken, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = app::CreatedEnrollmentToken),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 409, description = "Only server mode takes agents.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn create_enrollment_token(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    auth: Authenticated,
    ApiJson(body): ApiJson<NewEnrollmentToken>,
) -> Result<Response, ApiError> {
    let created = state
        .vantage
        .create_enrollment_token_for(&auth.me, body, client.host, client.https)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/agents/enrollment-tokens",
    tag = "agents",
    summary = "Every enrollment token, with its uses and the agents it enrolled.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::EnrollmentTokenInfo>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_enrollment_tokens(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_enrollment_tokens(&auth.me).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/agents/enrollment-tokens/{id}",
    tag = "agents",
    summary = "One enrollment token and the agents it enrolled.",
    params(("id" = i64, Path, description = "The token id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::EnrollmentTokenInfo),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn get_enrollment_token(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = state
        .vantage
        .enrollment_token(&auth.me, parse_id(&id)?)
        .await?;
    Ok(Json(token).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/agents/enrollment-tokens/{id}",
    tag = "agents",
    summary = "Delete an enrollment token: it enrolls no one from now on.",
    params(("id" = i64, Path, description = "The token id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn delete_enrollment_token(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .vantage
        .delete_enrollment_token(&auth.me, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/agents/builds",
    tag = "agents",
    summary = "The agent downloads the snippets fetch, and their state.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::AgentBuildInfo>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_builds(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.agent_builds().await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/agents",
    tag = "agents",
    summary = "Every agent.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::AgentInfo>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_agents(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_agents(&auth.me).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/agents/{id}",
    tag = "agents",
    summary = "One agent.",
    params(("id" = String, Path, description = "The agent id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::AgentInfo),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn get_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.agent(&auth.me, &id).await?).into_response())
}

#[derive(serde::Deserialize)]
struct EventsQuery {
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/agents/{id}/events",
    tag = "agents",
    summary = "The host's timeline, newest first: connects and disconnects, container lifecycle, certificate changes.",
    params(
        ("id" = String, Path, description = "The agent id."),
        ("limit" = Option<i64>, Query, description = "At most this many entries: 1 to 1000 (default 100).")
    ), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::HostEvent>),
        (status = 400, description = "A bad `limit`.", body = app::ErrorBody),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn agent_events(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    crate::http::extract::ApiQuery(q): crate::http::extract::ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000) as u32;
    let events = app::backend::Backend::host_events(&*state.vantage, &auth.me, &id, limit).await?;
    Ok(Json(events).into_response())
}

#[utoipa::path(
    patch,
    path = "/api/v1/agents/{id}",
    tag = "agents",
    summary = "Change an agent's label and/or tags.",
    request_body = app::AgentPatch, params(("id" = String, Path, description = "The agent id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::AgentInfo),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn patch_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<AgentPatch>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.update_agent(&auth.me, &id, patch).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/agents/{id}/revoke",
    tag = "agents",
    summary = "Revoke an agent: its stream ends at once and it never reconnects.",
    params(("id" = String, Path, description = "The agent id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::AgentInfo),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn revoke_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.revoke_agent(&auth.me, &id).await?).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/agents/{id}",
    tag = "agents",
    summary = "Revoke an agent and delete everything it sent.",
    params(("id" = String, Path, description = "The agent id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn delete_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.vantage.delete_agent(&auth.me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
