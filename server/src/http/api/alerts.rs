//! `/api/v1`: alert rules, alerts (with their timelines and acknowledgements), silences,
//! notification channels and deliveries. The rules are `service::alerts`'.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use app::ApiError;

use super::parse_id;
use crate::http::AppState;
use crate::http::extract::{ApiJson, ApiQuery, Authenticated};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alert-rules", get(list_rules).post(create_rule))
        .route("/alert-rules/preview", post(preview_rule))
        .route(
            "/alert-rules/{id}",
            get(get_rule).put(put_rule).delete(delete_rule),
        )
        .route("/alerts", get(list_alerts))
        .route("/alerts/{id}", get(get_alert))
        .route("/alerts/{id}/ack", post(ack_alert))
        .route("/silences", get(list_silences).post(create_silence))
        .route("/silences/{id}", axum::routing::delete(delete_silence))
        .route(
            "/notification-channels",
            get(list_channels).post(create_channel),
        )
        .route(
            "/notification-channels/{id}",
            get(get_channel).put(put_channel).delete(delete_channel),
        )
        .route("/notification-channels/{id}/test", post(test_channel))
        .route("/notification-deliveries", get(list_deliveries))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    state: Option<app::AlertState>,
    before: Option<i64>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    channel_id: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/alert-rules",
    tag = "alerts",
    summary = "Alert rules, with what each is doing now.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::alerts::AlertRule>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_rules(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_alert_rules(&auth.me).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/alert-rules",
    tag = "alerts",
    summary = "Create an alert rule.",
    request_body = app::alerts::AlertRuleSpec,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = app::alerts::AlertRule),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule; the message says which.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn create_rule(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<app::alerts::AlertRuleSpec>,
) -> Result<Response, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.vantage.create_alert_rule(&auth.me, body).await?),
    )
        .into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/alert-rules/preview",
    tag = "alerts",
    summary = "How often a rule would have fired in the last 24 hours and 7 days.",
    description = "Replays the rule through the live engine (same hysteresis) on the stored samples of the hosts it covers. Nothing is saved.",
    request_body = app::alerts::AlertRuleSpec,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::alerts::RulePreview),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule; the message says which.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn preview_rule(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<app::alerts::AlertRuleSpec>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.preview_alert_rule(&auth.me, body).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/alert-rules/{id}",
    tag = "alerts",
    summary = "One alert rule.",
    params(("id" = i64, Path, description = "The id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::alerts::AlertRule),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn get_rule(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.alert_rule(&auth.me, parse_id(&id)?).await?).into_response())
}

#[utoipa::path(
    put,
    path = "/api/v1/alert-rules/{id}",
    tag = "alerts",
    summary = "Replace an alert rule.",
    params(("id" = i64, Path, description = "The id.")),
    request_body = app::alerts::AlertRuleSpec,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::alerts::AlertRule),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule; the message says which.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn put_rule(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<app::alerts::AlertRuleSpec>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .vantage
            .update_alert_rule(&auth.me, parse_id(&id)?, body)
            .await?,
    )
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/alert-rules/{id}",
    tag = "alerts",
    summary = "Delete an alert rule (its alerts stay in the history).",
    params(("id" = i64, Path, description = "The id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Done."),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn delete_rule(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .vantage
        .delete_alert_rule(&auth.me, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerts",
    summary = "Alerts, newest first.",
    params(("state" = Option<app::AlertState>, Query, description = "`firing` or `resolved`."), ("before" = Option<i64>, Query, description = "Only alerts with a lower id (the next page)."), ("limit" = Option<i64>, Query, description = "1 to 500 (default 100).")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::alerts::Alert>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_alerts(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<AlertsQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .vantage
            .list_alerts(&auth.me, q.state, q.before, q.limit)
            .await?,
    )
    .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/alerts/{id}",
    tag = "alerts",
    summary = "One alert with its timeline.",
    params(("id" = i64, Path, description = "The id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::alerts::AlertDetail),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn get_alert(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.alert_detail(&auth.me, parse_id(&id)?).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/ack",
    tag = "alerts",
    summary = "Acknowledge a firing alert: reminders stop.",
    params(("id" = i64, Path, description = "The id.")),
    request_body = app::alerts::Acknowledgement,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::alerts::AlertDetail),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = 409, description = "In conflict with what exists (name taken, not firing, acknowledged already).", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule; the message says which.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn ack_alert(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<app::alerts::Acknowledgement>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .vantage
            .acknowledge_alert(&auth.me, parse_id(&id)?, body)
            .await?,
    )
    .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/silences",
    tag = "alerts",
    summary = "Silences and maintenance windows.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::alerts::Silence>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_silences(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_silences(&auth.me).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/silences",
    tag = "alerts",
    summary = "Create a silence or a weekly maintenance window.",
    request_body = app::alerts::SilenceSpec,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = app::alerts::Silence),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule; the message says which.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn create_silence(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<app::alerts::SilenceSpec>,
) -> Result<Response, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.vantage.create_silence(&auth.me, body).await?),
    )
        .into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/silences/{id}",
    tag = "alerts",
    summary = "End and delete a silence.",
    params(("id" = i64, Path, description = "The id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Done."),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn delete_silence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .vantage
        .delete_silence(&auth.me, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/notification-channels",
    tag = "alerts",
    summary = "Notification channels (secrets masked).",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::alerts::NotificationChannel>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_channels(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.list_channels(&auth.me).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/notification-channels",
    tag = "alerts",
    summary = "Create a notification channel.",
    request_body = app::alerts::ChannelSpec,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, body = app::alerts::NotificationChannel),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 409, description = "In conflict with what exists (name taken, not firing, acknowledged already).", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule; the message says which.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn create_channel(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<app::alerts::ChannelSpec>,
) -> Result<Response, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.vantage.create_channel(&auth.me, body).await?),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/notification-channels/{id}",
    tag = "alerts",
    summary = "One notification channel (secrets masked).",
    params(("id" = i64, Path, description = "The id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::alerts::NotificationChannel),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn get_channel(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.channel(&auth.me, parse_id(&id)?).await?).into_response())
}

#[utoipa::path(
    put,
    path = "/api/v1/notification-channels/{id}",
    tag = "alerts",
    summary = "Replace a channel; secrets left out (or sent back masked) keep their values.",
    params(("id" = i64, Path, description = "The id.")),
    request_body = app::alerts::ChannelSpec,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::alerts::NotificationChannel),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = 409, description = "In conflict with what exists (name taken, not firing, acknowledged already).", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule; the message says which.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn put_channel(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<app::alerts::ChannelSpec>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .vantage
            .update_channel(&auth.me, parse_id(&id)?, body)
            .await?,
    )
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/notification-channels/{id}",
    tag = "alerts",
    summary = "Delete a channel and its pending deliveries.",
    params(("id" = i64, Path, description = "The id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Done."),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn delete_channel(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .vantage
        .delete_channel(&auth.me, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/notification-channels/{id}/test",
    tag = "alerts",
    summary = "Send a test message now and say how it went.",
    params(("id" = i64, Path, description = "The id.")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::alerts::ChannelTestResult),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn test_channel(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.vantage.test_channel(&auth.me, parse_id(&id)?).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/notification-deliveries",
    tag = "alerts",
    summary = "Notifications sent, pending and failed, newest first.",
    params(("channel_id" = Option<i64>, Query, description = "One channel's deliveries."), ("limit" = Option<i64>, Query, description = "1 to 500 (default 100).")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::alerts::Delivery>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn list_deliveries(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .vantage
            .list_deliveries(&auth.me, q.channel_id, q.limit)
            .await?,
    )
    .into_response())
}
