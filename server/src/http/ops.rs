//! `/healthz`, `/readyz` and `/metrics`: for load balancers, orchestrators and Prometheus.
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// 503 with every reason while a part of the server is stalled (the batch writer, a worker
/// restarting after a panic).
fn unwell(status: &str, reasons: Vec<String>) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": status, "reason": reasons.join("; "), "reasons": reasons })),
    )
        .into_response()
}

/// 200 while the collection loop ran recently enough and nothing is stalled, else 503 with
/// the reasons.
#[utoipa::path(get, path = "/healthz", tag = "operations", summary = "Liveness: the collection loop is current and nothing is stalled.",
    responses(
        (status = 200, description = "`{\"status\": \"ok\", \"collection_age_s\"}`", content_type = "application/json"),
        (status = 503, description = "`{\"status\", \"reason\", \"reasons\"}`", content_type = "application/json")
    )
)]
async fn healthz(State(state): State<AppState>) -> Response {
    let report = state.vantage.health_report(state.config.health_deadline());
    if !report.reasons.is_empty() {
        return unwell("unhealthy", report.reasons);
    }
    (
        StatusCode::OK,
        Json(json!({ "status": "ok", "collection_age_s": report.collection_age_s })),
    )
        .into_response()
}

/// 200 when the store answers and nothing is stalled, else 503.
#[utoipa::path(get, path = "/readyz", tag = "operations", summary = "Readiness: the store answers and nothing is stalled.",
    responses(
        (status = 200, description = "Ready.", content_type = "application/json"),
        (status = 503, description = "`{\"status\", \"reason\", \"reasons\"}`", content_type = "application/json")
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.vantage.readiness().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response(),
        Err(reasons) => unwell("not_ready", reasons),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", summary = "Prometheus text exposition.",
    responses((status = 200, description = "Prometheus text format 0.0.4.", content_type = "text/plain"))
)]
async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.vantage.metrics_text(&state.http_metrics).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
