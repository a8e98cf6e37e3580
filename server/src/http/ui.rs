//! The dashboard: server-rendered Leptos pages, their server functions, and the static assets.
use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;

use app::backend::Backend;
use app::{ApiError, App, shell};

use super::AppState;
use super::extract::same_origin_for_cookies;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/frontend_assets.rs"));
}

const STYLE: &str = include_str!("../../../style/main.css");

pub fn router(state: &AppState) -> Router<AppState> {
    let backend: Arc<dyn Backend> = state.vantage.clone();
    let options = state.leptos.clone();
    let routes = generate_route_list(App);
    if assets::FRONTEND.is_none() {
        tracing::warn!("this build has no WASM bundle: pages render without live updates");
    }
    Router::new()
        .leptos_routes_with_context(
            state,
            routes,
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .route("/pkg/{file}", get(pkg).layer(CompressionLayer::new()))
        .route("/style.css", get(style))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(same_origin_for_cookies))
}

async fn pkg(Path(file): Path<String>) -> Response {
    let found = assets::FRONTEND.and_then(|(js, wasm)| match file.as_str() {
        "frontend.js" => Some(("text/javascript", js)),
        "frontend_bg.wasm" => Some(("application/wasm", wasm)),
        _ => None,
    });
    match found {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
        .into_response()
}

async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return ApiError::not_found("not_found", "There is no such API route.").into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>Not found</title><link rel=stylesheet href=/style.css>\
         <main class=narrow><h1>Page not found</h1><p><a href=/>Back to the dashboard</a></p></main>",
    )
        .into_response()
}
