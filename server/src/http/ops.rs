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

/// 200 while the collection loop ran recently enough, else 503 with the reason.
async fn healthz(State(state): State<AppState>) -> Response {
    let live = &state.vantage.live;
    let age = live.collection_age();
    let deadline = state.config.health_deadline();
    if age <= deadline {
        return (
            StatusCode::OK,
            Json(json!({ "status": "ok", "collection_age_s": age.as_secs() })),
        )
            .into_response();
    }
    let last_error = live.collection().last_error;
    let reason = match &last_error {
        Some(e) => format!(
            "the local collection loop last succeeded {}s ago (limit {}s): {e}",
            age.as_secs(),
            deadline.as_secs()
        ),
        None => format!(
            "the local collection loop last succeeded {}s ago (limit {}s)",
            age.as_secs(),
            deadline.as_secs()
        ),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unhealthy", "reason": reason })),
    )
        .into_response()
}

/// 200 when the store answers, else 503.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.vantage.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "store not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not_ready", "reason": "the store does not answer" })),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = crate::metrics::render(&state.http_metrics, &state.vantage.live);
    if let Ok(bytes) = state.vantage.store.size_bytes().await {
        body.push_str(&format!(
            "# HELP vantage_store_size_bytes Bytes the database takes on disk.\n# TYPE vantage_store_size_bytes gauge\nvantage_store_size_bytes {bytes}\n"
        ));
    }
    body.push_str(&format!(
        "# HELP vantage_history_folded_agent_samples_total Host samples of remote agents folded into the rollups.\n# TYPE vantage_history_folded_agent_samples_total counter\nvantage_history_folded_agent_samples_total {}\n",
        state.vantage.store.folded_agent_samples()
    ));
    if let Ok(n) = state.vantage.store.pending_chunks().await {
        body.push_str(&format!(
            "# HELP vantage_history_pending_chunks Chunks of host samples not yet merged and rolled up.\n# TYPE vantage_history_pending_chunks gauge\nvantage_history_pending_chunks {n}\n"
        ));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
