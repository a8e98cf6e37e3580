//! `/api/v1`: Hosts, their figures and history, containers and certificates.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use app::backend::{Backend, HistoryRequest};
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
        .route("/containers", get(containers))
        .route("/certificates", get(certificates))
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
) -> Result<Json<TopConsumers>, ApiError> {
    let scope = q.agent_id.as_deref();
    Ok(Json(state.vantage.top_consumers(&auth.me, scope).await?))
}

async fn containers(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HostQuery>,
) -> Result<Json<Vec<ContainerInfo>>, ApiError> {
    let scope = q.agent_id.as_deref();
    Ok(Json(state.vantage.containers(&auth.me, scope).await?))
}

async fn certificates(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(q): ApiQuery<HostQuery>,
) -> Result<Json<Vec<CertificateInfo>>, ApiError> {
    let scope = q.agent_id.as_deref();
    Ok(Json(state.vantage.certificates(&auth.me, scope).await?))
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
    let to = q.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
    let from = q
        .from
        .as_deref()
        .map(|t| parse_time("from", t))
        .transpose()?;
    let step = q.step.as_deref().map(parse_step).transpose()?;
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
