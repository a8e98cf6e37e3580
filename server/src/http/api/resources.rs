//! `/api/v1`: Hosts, their figures and history, containers and certificates.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use app::backend::{Backend, HistoryRequest, SeriesRequest};
use app::{
    ApiError, CertificateInfo, ContainerInfo, HostOverview, LOCAL_AGENT_ID, Metric, TopConsumers,
};

use super::HostQuery;
use crate::http::AppState;
use crate::http::extract::{ApiQuery, Authenticated};
use crate::http::query::{parse_step, parse_time};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/resources/hosts", get(hosts))
        .route("/resources/top", get(top))
        .route("/resources/summary", get(summary))
        .route("/resources/history", get(history))
        .route("/resources/series", get(series))
        .route("/containers", get(containers))
        .route("/certificates", get(certificates))
}

#[utoipa::path(
    get,
    path = "/api/v1/resources/hosts",
    tag = "resources",
    summary = "Every host with its newest figures.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::HostOverview>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn hosts(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<HostOverview>>, ApiError> {
    Ok(Json(state.vantage.hosts(&auth.me).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/resources/top",
    tag = "resources",
    summary = "The top containers by CPU and by memory.",
    params(("agent_id" = Option<String>, Query, description = "One host (`local` is this machine); all hosts when absent.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::TopConsumers),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn top(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HostQuery>,
) -> Result<Json<TopConsumers>, ApiError> {
    let scope = q.agent_id.as_deref();
    Ok(Json(state.vantage.top_consumers(&auth.me, scope).await?))
}

/// `from`, `to` and `step` of a history query, parsed.
type Range = (Option<i64>, Option<i64>, Option<i64>);

fn range(from: Option<&str>, to: Option<&str>, step: Option<&str>) -> Result<Range, ApiError> {
    Ok((
        from.map(|t| parse_time("from", t)).transpose()?,
        to.map(|t| parse_time("to", t)).transpose()?,
        step.map(parse_step).transpose()?,
    ))
}

#[derive(Deserialize)]
struct SeriesQuery {
    agent_id: Option<String>,
    family: Option<String>,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/resources/series",
    tag = "resources",
    summary = "Labelled series of one host over a time range: per core, file system, interface and container, swap and load.",
    description = "Each family is read from the coarsest stored layer that fits `step` (raw samples, 1-minute or 1-hour rollups), so a 30-day range reads hundreds of points per series.",
    params(
        ("agent_id" = Option<String>, Query, description = "The host (default `local`)."),
        ("family" = Option<String>, Query, description = "Comma-separated families (`cpu_core,load`); default every one: cpu_core, swap, load, filesystem, interface_rx, interface_tx, container_cpu, container_memory."),
        ("from" = Option<String>, Query, description = "RFC 3339 or unix seconds (default: an hour before `to`)."),
        ("to" = Option<String>, Query, description = "RFC 3339 or unix seconds (default: now)."),
        ("step" = Option<String>, Query, description = "Bucket width: `10s`, `5m`, `1h` or seconds.")
    ), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::SeriesHistory),
        (status = 400, description = "An unknown family.", body = app::ErrorBody),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn series(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> Result<Response, ApiError> {
    let families = q
        .family
        .as_deref()
        .map(app::SeriesFamily::parse_list)
        .transpose()?
        .unwrap_or_default();
    let (from, to, step) = range(q.from.as_deref(), q.to.as_deref(), q.step.as_deref())?;
    let request = SeriesRequest {
        agent_id: q.agent_id.unwrap_or_else(|| LOCAL_AGENT_ID.to_owned()),
        families,
        from,
        to,
        last_s: None,
        step,
    };
    Ok(Json(state.vantage.series_history(&auth.me, request).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/containers",
    tag = "resources",
    summary = "Containers of one host, or of all.",
    params(("agent_id" = Option<String>, Query, description = "One host (`local` is this machine); all hosts when absent.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::ContainerInfo>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn containers(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HostQuery>,
) -> Result<Json<Vec<ContainerInfo>>, ApiError> {
    let scope = q.agent_id.as_deref();
    Ok(Json(state.vantage.containers(&auth.me, scope).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/certificates",
    tag = "resources",
    summary = "The newest certificate scans, soonest expiry first.",
    params(("agent_id" = Option<String>, Query, description = "One host (`local` is this machine); all hosts when absent.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = Vec<app::CertificateInfo>),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn certificates(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HostQuery>,
) -> Result<Json<Vec<CertificateInfo>>, ApiError> {
    let scope = q.agent_id.as_deref();
    Ok(Json(state.vantage.certificates(&auth.me, scope).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/resources/summary",
    tag = "resources",
    summary = "One host's current figures.",
    params(("agent_id" = Option<String>, Query, description = "One host (`local` is this machine); all hosts when absent.")), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::HostSummary),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/resources/history",
    tag = "resources",
    summary = "One metric of one host over a time range.",
    params(
        ("agent_id" = Option<String>, Query, description = "The host (default `local`)."),
        ("metric" = app::Metric, Query, description = "The metric."),
        ("from" = Option<String>, Query, description = "RFC 3339 or unix seconds (default: an hour before `to`)."),
        ("to" = Option<String>, Query, description = "RFC 3339 or unix seconds (default: now)."),
        ("step" = Option<String>, Query, description = "Bucket width: `10s`, `5m`, `1h` or seconds.")
    ), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = app::History),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = 404, description = "No such item.", body = app::ErrorBody),
        (status = 422, description = "A field breaks its rule.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
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
    let (from, to, step) = range(q.from.as_deref(), q.to.as_deref(), q.step.as_deref())?;
    let request = HistoryRequest {
        agent_id: q.agent_id.unwrap_or_else(|| LOCAL_AGENT_ID.to_owned()),
        metric,
        from,
        to,
        last_s: None,
        step,
    };
    Ok(Json(state.vantage.history(&auth.me, request).await?).into_response())
}
