//! `/api/v1`: tracked apps, their restarts (`/actions`) and each agent's inventory.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use app::ApiError;
use app::apps::{AppPatch, NewApp, ObservedState, RestartRequest};

use super::parse_id;
use crate::http::AppState;
use crate::http::extract::{ApiJson, ApiQuery, Authenticated};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/apps", get(list_apps).post(create_app))
        .route(
            "/apps/{id}",
            get(get_app).patch(patch_app).delete(delete_app),
        )
        .route("/apps/{id}/restart", post(restart_app))
        .route("/actions", get(list_actions))
        .route("/agents/{id}/inventory", get(inventory))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AppsQuery {
    /// Only this host's apps.
    agent_id: Option<String>,
    /// Only apps whose host has this tag.
    tag: Option<String>,
    /// Only apps observed so: running, stopped or unknown.
    state: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/apps",
    tag = "apps",
    summary = "Tracked apps with their observed state; filter by host, tag and state.",
    params(AppsQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::apps::App>),
        (status = 400, description = "An unknown state.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_apps(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<AppsQuery>,
) -> Result<Response, ApiError> {
    let observed = q
        .state
        .as_deref()
        .map(|s| s.parse::<ObservedState>().map_err(ApiError::InvalidQuery))
        .transpose()?;
    let apps = state
        .vantage
        .list_apps(&auth.me, q.agent_id.as_deref(), q.tag.as_deref(), observed)
        .await?;
    Ok(Json(apps).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/apps",
    tag = "apps",
    summary = "Track an app on a host (operator); its identifier is checked against its type's grammar.",
    request_body = app::apps::NewApp, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = app::apps::App),
        (status = 403, description = "Viewers track nothing.", body = app::ErrorBody),
        (status = 404, description = "No such host.", body = app::ErrorBody),
        (status = 409, description = "The host tracks this app already.", body = app::ErrorBody),
        (status = 422, description = "An identifier or field breaks its rule; the message says why.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn create_app(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<NewApp>,
) -> Result<Response, ApiError> {
    let app = state.vantage.create_app(&auth.me, body).await?;
    Ok((StatusCode::CREATED, Json(app)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/apps/{id}",
    tag = "apps",
    summary = "One app.",
    params(("id" = i64, Path, description = "The app id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::apps::App),
        (status = 404, description = "No such app.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn get_app(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.get_app(&auth.me, parse_id(&id)?).await?).into_response())
}

#[utoipa::path(
    patch,
    path = "/api/v1/apps/{id}",
    tag = "apps",
    summary = "Change an app's name, expected state, owner, runbook, notes or restart command (operator).",
    params(("id" = i64, Path, description = "The app id.")),
    request_body = app::apps::AppPatch, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::apps::App),
        (status = 404, description = "No such app.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn patch_app(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AppPatch>,
) -> Result<Response, ApiError> {
    let app = state
        .vantage
        .update_app(&auth.me, parse_id(&id)?, body)
        .await?;
    Ok(Json(app).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/apps/{id}",
    tag = "apps",
    summary = "Stop tracking an app (operator); its restarts stay on record.",
    params(("id" = i64, Path, description = "The app id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "No longer tracked."),
        (status = 404, description = "No such app.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn delete_app(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.vantage.delete_app(&auth.me, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/apps/{id}/restart",
    tag = "apps",
    summary = "Restart an app (operator): a one-time code in X-TOTP-Code and a reason. The intent is logged, then a signed token goes to the agent; the answer is the restart, pending or sent.",
    params(
        ("id" = i64, Path, description = "The app id."),
        ("X-TOTP-Code" = String, Header, description = "The six digits of the caller's authenticator app.")
    ),
    request_body = app::apps::RestartRequest, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 202, description = "Signed and sent (or kept for the agent's next stream, for five minutes).", body = app::apps::Action),
        (status = 401, description = "No code (`totp_required`) or a wrong or used one (`invalid_totp`).", body = app::ErrorBody),
        (status = 403, description = "Viewers restart nothing.", body = app::ErrorBody),
        (status = 404, description = "No such app.", body = app::ErrorBody),
        (status = 409, description = "The caller has no one-time codes set up.", body = app::ErrorBody),
        (status = 422, description = "No reason given.", body = app::ErrorBody),
        (status = 429, description = "Too many wrong codes.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn restart_app(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RestartRequest>,
) -> Result<Response, ApiError> {
    let code = headers.get("x-totp-code").and_then(|v| v.to_str().ok());
    let action = state
        .vantage
        .restart_app(&auth.me, parse_id(&id)?, code, &body.reason)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(action)).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ActionsQuery {
    /// Only this app's restarts.
    app_id: Option<i64>,
    /// At most this many (1 to 1000, default 100), newest first.
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/actions",
    tag = "apps",
    summary = "Restarts, newest first: who asked, why, the log entries, and the agent's exit code and output.",
    params(ActionsQuery), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::apps::Action>),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_actions(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<ActionsQuery>,
) -> Result<Response, ApiError> {
    let actions = state
        .vantage
        .actions(&auth.me, q.app_id, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(actions).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/agents/{id}/inventory",
    tag = "apps",
    summary = "The agent's newest inventory: systemd units, containers, Compose services and executables.",
    params(("id" = String, Path, description = "The agent id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::apps::Inventory),
        (status = 404, description = "No such agent.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn inventory(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.inventory(&auth.me, &id).await?).into_response())
}
