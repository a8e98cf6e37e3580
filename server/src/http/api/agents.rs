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
}

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

async fn list_enrollment_tokens(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_enrollment_tokens(&auth.me).await?).into_response())
}

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

async fn list_builds(
    State(state): State<AppState>,
    _auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.agent_builds().await?).into_response())
}

async fn list_agents(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_agents(&auth.me).await?).into_response())
}

async fn get_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.agent(&auth.me, &id).await?).into_response())
}

async fn patch_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<AgentPatch>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.update_agent(&auth.me, &id, patch).await?).into_response())
}

async fn revoke_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.revoke_agent(&auth.me, &id).await?).into_response())
}

async fn delete_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.vantage.delete_agent(&auth.me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
