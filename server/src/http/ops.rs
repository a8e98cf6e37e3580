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
fn unwell(state: &AppState, status: &str, mut reasons: Vec<String>) -> Option<Response> {
    reasons.extend(
        state
            .vantage
            .health
            .problems()
            .into_iter()
            .map(|(part, reason)| format!("{part}: {reason}")),
    );
    if reasons.is_empty() {
        return None;
    }
    Some(
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": status, "reason": reasons.join("; "), "reasons": reasons })),
        )
            .into_response(),
    )
}

/// 200 while the collection loop ran recently enough and nothing is stalled, else 503 with
/// the reasons.
async fn healthz(State(state): State<AppState>) -> Response {
    let live = &state.vantage.live;
    let age = live.collection_age();
    let deadline = state.config.health_deadline();
    if age <= deadline {
        if let Some(response) = unwell(&state, "unhealthy", Vec::new()) {
            return response;
        }
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
    unwell(&state, "unhealthy", vec![reason]).unwrap_or_else(|| StatusCode::OK.into_response())
}

/// 200 when the store answers and nothing is stalled, else 503.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.vantage.store.ping().await {
        Ok(()) => unwell(&state, "not_ready", Vec::new()).unwrap_or_else(|| {
            (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response()
        }),
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
    body.push_str(&format!(
        "# HELP vantage_history_skipped_hours_total Host-hours of history the fold could not process and left unfolded.\n# TYPE vantage_history_skipped_hours_total counter\nvantage_history_skipped_hours_total {}\n",
        state.vantage.store.skipped_hours()
    ));
    body.push_str(&format!(
        "# HELP vantage_history_unreadable_chunks_total Stored history chunks that could not be decoded (skipped wherever read).\n# TYPE vantage_history_unreadable_chunks_total counter\nvantage_history_unreadable_chunks_total {}\n",
        crate::store::unreadable_chunks().count()
    ));
    let health = &state.vantage.health;
    body.push_str("# HELP vantage_task_panics_total Panics of supervised tasks (each was restarted).\n# TYPE vantage_task_panics_total counter\n");
    for (task, n) in health.panics() {
        body.push_str(&format!(
            "vantage_task_panics_total{{task=\"{task}\"}} {n}\n"
        ));
    }
    body.push_str(&format!(
        "# HELP vantage_ingest_refused_events_total Agent events refused by the ingest's checks.\n# TYPE vantage_ingest_refused_events_total counter\nvantage_ingest_refused_events_total {}\n",
        health.refused_events()
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
