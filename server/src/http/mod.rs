//! HTTP: the REST API, the dashboard, live events and the operations endpoints.
mod api;
mod edge;
mod extract;
mod install;
pub mod openapi;
mod ops;
pub mod query;
mod ui;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use leptos::config::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::HttpMetrics;
use crate::service::Vantage;

pub use extract::Authenticated;
pub use ui::Dashboard;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub vantage: Arc<Vantage>,
    pub http_metrics: Arc<HttpMetrics>,
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
    /// The WASM bundle pages hydrate with (built in, or read from `--site-dir`).
    pub dashboard: Arc<Dashboard>,
    /// Cancelled at shutdown: long-lived responses (SSE) end with it.
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// `/api/v1`: the public routes, then every area behind the authentication middleware.
fn api_router(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .merge(api::auth::routes())
        .merge(api::tokens::routes())
        .merge(api::resources::routes())
        .merge(api::agents::routes())
        .merge(api::events::routes())
        .merge(api::alerts::routes())
        .merge(api::audit::routes())
        .merge(api::users::routes())
        .merge(api::apps::routes())
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state,
            extract::require_auth,
        ));
    Router::new()
        .merge(api::auth::public_routes())
        .route("/openapi.json", axum::routing::get(openapi::openapi_json))
        .merge(protected)
        .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY_BYTES))
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api_router(state.clone()))
        .merge(ops::router())
        .merge(install::router())
        .merge(ui::router(&state))
        .layer(axum::middleware::from_fn(edge::security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            edge::client_info,
        ))
        .with_state(state)
}

/// Counts requests by matched route pattern (never the raw path, to keep labels few).
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || route_family(request.uri().path()),
        |p| p.as_str().to_owned(),
    );
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    state.http_metrics.observe(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn route_family(path: &str) -> String {
    if path.starts_with("/api/") {
        "/api/*".into()
    } else if path.starts_with("/pkg/") {
        "/pkg/*".into()
    } else {
        "other".into()
    }
}

/// Request headers from pairs, for the unit tests of the edge and the extractors.
#[cfg(test)]
pub(crate) fn test_headers(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
    let mut h = axum::http::HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, v.parse().unwrap());
    }
    h
}
