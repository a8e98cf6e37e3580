//! `/api/v1`: JSON in, JSON out, errors as `{"error":{"code","message"}}`.
use proto::clock::now_s;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::BroadcastStream;

use app::backend::{Backend, ClientInfo, HistoryRequest, session_set_cookie};
use app::{
    AgentPatch, ApiError, Credentials, HostOverview, LOCAL_AGENT_ID, Me, Metric, NewApiToken,
    NewEnrollmentToken,
};
use axum::Extension;

use super::AppState;
use super::extract::{ApiJson, ApiQuery, Authenticated, require_auth};
use super::query::{parse_step, parse_time};

/// Request bodies above this size are refused with 413.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(state: AppState) -> axum::Router<AppState> {
    let protected = Router::new()
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/api-tokens", get(list_tokens).post(create_token))
        .route("/api-tokens/{id}", delete(delete_token))
        .route("/resources/hosts", get(hosts))
        .route("/resources/top", get(top))
        .route("/containers", get(containers))
        .route("/certificates", get(certificates))
        .route("/agents", get(list_agents))
        .route(
            "/agents/enrollment-tokens",
            get(list_enrollment_tokens).post(create_enrollment_token),
        )
        .route(
            "/agents/enrollment-tokens/{id}",
            delete(delete_enrollment_token),
        )
        .route(
            "/agents/{id}",
            get(get_agent).patch(patch_agent).delete(delete_agent),
        )
        .route("/agents/{id}/revoke", post(revoke_agent))
        .route("/resources/summary", get(summary))
        .route("/resources/history", get(history))
        .route("/events", get(events))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state, require_auth));
    Router::new()
        .route("/setup", post(setup))
        .route("/auth/login", post(login))
        .merge(protected)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
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

async fn hosts(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<HostOverview>>, ApiError> {
    Ok(Json(state.vantage.hosts(&auth.me).await?))
}

async fn top(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HostQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .vantage
            .top_consumers(&auth.me, q.agent_id.as_deref())
            .await?,
    )
    .into_response())
}

async fn containers(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HostQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .vantage
            .containers(&auth.me, q.agent_id.as_deref())
            .await?,
    )
    .into_response())
}

async fn certificates(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HostQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .vantage
            .certificates(&auth.me, q.agent_id.as_deref())
            .await?,
    )
    .into_response())
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::InvalidId)
}

async fn create_enrollment_token(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    auth: Authenticated,
    ApiJson(body): ApiJson<NewEnrollmentToken>,
) -> Result<Response, ApiError> {
    let created = state
        .vantage
        .create_enrollment_token_for(&auth.me, body.ttl_hours, client.host, client.https)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list_enrollment_tokens(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_enrollment_tokens(&auth.me).await?).into_response())
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

#[derive(Deserialize)]
struct HostQuery {
    agent_id: Option<String>,
}

async fn summary(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HostQuery>,
) -> Result<Response, ApiError> {
    let agent_id = q.agent_id.unwrap_or_else(|| LOCAL_AGENT_ID.to_owned());
    Ok(Json(state.vantage.host_summary(&auth.me, &agent_id).await?).into_response())
}

#[derive(Deserialize)]
struct HistoryQuery {
    agent_id: Option<String>,
    metric: Option<String>,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
}

async fn history(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Response, ApiError> {
    let metric: Metric = q
        .metric
        .as_deref()
        .ok_or(ApiError::MissingMetric)?
        .parse()?;
    let now = now_s();
    let to =
        q.to.as_deref()
            .map(|t| parse_time("to", t))
            .transpose()?
            .unwrap_or(now);
    let from = q
        .from
        .as_deref()
        .map(|t| parse_time("from", t))
        .transpose()?
        .unwrap_or(to.saturating_sub(3600));
    let step = q.step.as_deref().map(parse_step).transpose()?;
    let request = HistoryRequest {
        agent_id: q.agent_id.unwrap_or_else(|| LOCAL_AGENT_ID.to_owned()),
        metric,
        from,
        to,
        step,
    };
    Ok(Json(state.vantage.history(&auth.me, request).await?).into_response())
}

/// Server-sent events: the current figures at once, then every change.
/// The stream ends at shutdown and as soon as the credential that opened it is revoked.
async fn events(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let crate::service::LiveFeed {
        subscription,
        first,
        updates,
    } = state.vantage.live_events(auth.stream_keys);
    let ended = subscription.ended.clone();
    let updates = BroadcastStream::new(updates).filter_map(|e| async move { e.ok() });
    let stream = futures::stream::iter([first])
        .chain(updates)
        .map(move |e| {
            // Held by the stream: dropping the stream forgets the subscription.
            let _ = &subscription;
            Ok(Event::default().event(e.name()).data(e.json()))
        })
        .take_until(state.shutdown.cancelled_owned())
        .take_until(ended.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
