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

#[utoipa::path(
    post,
    path = "/api/v1/setup",
    tag = "auth",
    summary = "Create the first admin (only while there is no account).",
    request_body = app::Credentials,
    responses(
        (status = 201, description = "The admin exists; sign in next.", body = SetupAnswer),
        (status = 409, description = "An account exists already.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody),
        (status = 503, description = "Busy hashing other passwords; try again.", body = app::ErrorBody)
    )
)]
async fn setup(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    state.vantage.setup(&body.username, &body.password).await?;
    let answer = SetupAnswer {
        username: body.username,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// The answer to setup: the admin's username.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SetupAnswer {
    pub username: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    summary = "Sign in: sets the session cookie.",
    request_body = app::Credentials,
    responses(
        (status = 200, description = "Signed in.", body = app::Me),
        (status = 401, description = "Wrong username or password (`invalid_credentials`), a one-time code needed (`totp_required`) or wrong (`invalid_totp`).", body = app::ErrorBody),
        (status = 429, description = "Too many failed sign-ins from this address, or wrong one-time codes for this user.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody),
        (status = 503, description = "Busy hashing other passwords; try again.", body = app::ErrorBody)
    )
)]
async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let token = state.vantage.login(&body, client.addr).await?;
    let me = state
        .vantage
        .session_user(&token)
        .await?
        .ok_or(ApiError::Internal)?;
    let cookie = session_set_cookie(Some(&token), client.https);
    Ok(([(header::SET_COOKIE, cookie_value(cookie)?)], Json(me)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    summary = "Sign out: ends the session.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Signed out."),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    tag = "auth",
    summary = "Who the caller is.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller.", body = app::Me),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn me(auth: Authenticated) -> Json<Me> {
    Json(auth.me)
}
