//! `/api/v1`: API tokens of the signed-in user.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};

use app::backend::Backend;
use app::{ApiError, NewApiToken};

use super::parse_id;
use crate::http::AppState;
use crate::http::extract::{ApiJson, Authenticated};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api-tokens", get(list_tokens).post(create_token))
        .route("/api-tokens/{id}", delete(delete_token))
}

async fn list_tokens(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_api_tokens(&auth.me).await?).into_response())
}

async fn create_token(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<NewApiToken>,
) -> Result<Response, ApiError> {
    let created = state.vantage.create_api_token(&auth.me, &body.name).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn delete_token(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    state.vantage.delete_api_token(&auth.me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
