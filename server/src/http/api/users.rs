//! `/api/v1/users`: accounts and roles (admin), the caller's own account and one-time codes,
//! and the sign-in policy.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};

use app::ApiError;
use app::users::{MyAccountPatch, NewUser, SignInPolicy, TotpCode, UserPatch};

use super::parse_id;
use crate::http::AppState;
use crate::http::extract::{ApiJson, Authenticated};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/policy", get(get_policy).put(put_policy))
        .route("/users/me", get(get_me).patch(patch_me))
        .route("/users/me/totp", post(begin_totp).delete(disable_totp))
        .route("/users/me/totp/confirm", post(confirm_totp))
        .route("/users/{id}", patch(update_user))
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    summary = "Every account (admin).",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::users::UserInfo>),
        (status = 403, description = "Only admins list users.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_users(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.users(&auth.me).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    summary = "Create an account with a role (admin).",
    request_body = app::users::NewUser, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = app::users::UserInfo),
        (status = 403, description = "Only admins create users.", body = app::ErrorBody),
        (status = 409, description = "The username is taken.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn create_user(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let user = state.vantage.add_user(&auth.me, body).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Change a role, disable or enable (admin). Disabling ends the user's sessions, API tokens and live streams at once.",
    params(("id" = i64, Path, description = "The user id.")),
    request_body = app::users::UserPatch, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::users::UserInfo),
        (status = 403, description = "Only admins change users.", body = app::ErrorBody),
        (status = 404, description = "No such user.", body = app::ErrorBody),
        (status = 409, description = "It would leave no active admin.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn update_user(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserPatch>,
) -> Result<Response, ApiError> {
    let user = state
        .vantage
        .update_user(&auth.me, parse_id(&id)?, body)
        .await?;
    Ok(Json(user).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    summary = "The caller's own account.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::users::UserInfo),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn get_me(State(state): State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.my_account(&auth.me).await?).into_response())
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/me",
    tag = "users",
    summary = "Change the caller's own settings: `totp_at_sign_in` asks for a one-time code at every sign-in.",
    request_body = app::users::MyAccountPatch, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::users::UserInfo),
        (status = 409, description = "One-time codes are not set up.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn patch_me(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<MyAccountPatch>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.update_my_account(&auth.me, body).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/users/me/totp",
    tag = "users",
    summary = "Start TOTP enrollment: a new secret, its otpauth URI and QR code (shown once; it counts once confirmed).",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = app::users::TotpEnrollment),
        (status = 409, description = "One-time codes are set up already.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn begin_totp(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let enrollment = state.vantage.begin_totp(&auth.me).await?;
    Ok((StatusCode::CREATED, Json(enrollment)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/users/me/totp/confirm",
    tag = "users",
    summary = "Confirm TOTP with a code from the app: answers ten one-time recovery codes (shown once).",
    request_body = app::users::TotpCode, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::users::RecoveryCodes),
        (status = 401, description = "The code is wrong, expired or used.", body = app::ErrorBody),
        (status = 409, description = "Nothing to confirm, or confirmed already.", body = app::ErrorBody),
        (status = 429, description = "Too many wrong codes; wait.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn confirm_totp(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<TotpCode>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.confirm_totp(&auth.me, &body.code).await?).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/me/totp",
    tag = "users",
    summary = "Turn one-time codes off, with a current code or a recovery code.",
    request_body = app::users::TotpCode, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Turned off."),
        (status = 401, description = "The code is wrong, expired or used.", body = app::ErrorBody),
        (status = 409, description = "One-time codes are not set up.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn disable_totp(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<TotpCode>,
) -> Result<StatusCode, ApiError> {
    state.vantage.disable_totp(&auth.me, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/users/policy",
    tag = "users",
    summary = "The sign-in policy.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::users::SignInPolicy),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn get_policy(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.sign_in_policy(&auth.me).await?).into_response())
}

#[utoipa::path(
    put,
    path = "/api/v1/users/policy",
    tag = "users",
    summary = "Set the sign-in policy (admin): `require_totp` makes every account sign in with a one-time code.",
    request_body = app::users::SignInPolicy, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::users::SignInPolicy),
        (status = 403, description = "Only admins set the policy.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn put_policy(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<SignInPolicy>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.set_sign_in_policy(&auth.me, body).await?).into_response())
}
