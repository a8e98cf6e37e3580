//! `/api/v1`: Sign-up of the first admin, sign-in and sign-out, and who is signed in.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use app::backend::{Backend, ClientInfo, session_set_cookie};
use app::{ApiError, Credentials, Me};

use crate::http::AppState;
use crate::http::extract::{ApiJson, Authenticated};

/// Routes that need no credentials.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/setup", post(setup))
        .route("/auth/login", post(login))
}

/// Routes for a signed-in caller.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
}

async fn setup(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    state.vantage.setup(&body.username, &body.password).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "username": body.username })),
    )
        .into_response())
}

async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let token = state
        .vantage
        .login(&body.username, &body.password, client.addr)
        .await?;
    let me = state
        .vantage
        .session_user(&token)
        .await?
        .ok_or(ApiError::Internal)?;
    let cookie = session_set_cookie(Some(&token), client.https);
    Ok(([(header::SET_COOKIE, cookie_value(cookie)?)], Json(me)).into_response())
}

async fn logout(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    if let Some(token) = &auth.session_token {
        state.vantage.logout(token).await?;
    }
    let cookie = session_set_cookie(None, client.https);
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie_value(cookie)?)],
    )
        .into_response())
}

fn cookie_value(cookie: String) -> Result<HeaderValue, ApiError> {
    HeaderValue::try_from(cookie).map_err(|_| ApiError::Internal)
}

async fn me(auth: Authenticated) -> Json<Me> {
    Json(auth.me)
}
