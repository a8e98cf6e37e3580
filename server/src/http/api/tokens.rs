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

#[utoipa::path(
    get,
    path = "/api/v1/api-tokens",
    tag = "api-tokens",
    summary = "The caller's API tokens (masked).",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::ApiTokenInfo>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_api_tokens(&auth.me).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/api-tokens",
    tag = "api-tokens",
    summary = "Create an API token (shown once).",
    request_body = app::NewApiToken, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = app::CreatedApiToken),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 403, description = "Viewers cannot create tokens.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule (a role wider than the caller's).", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn create_token(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<NewApiToken>,
) -> Result<Response, ApiError> {
    let created = state
        .vantage
        .create_api_token(&auth.me, &body.name, body.role)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/api-tokens/{id}",
    tag = "api-tokens",
    summary = "Revoke an API token.",
    params(("id" = i64, Path, description = "The token id.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn delete_token(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    state.vantage.delete_api_token(&auth.me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
