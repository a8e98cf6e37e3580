//! The dashboard: server-rendered Leptos pages, their server functions, and the static assets.
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use sha2::Digest;

use app::backend::Backend;
use app::{ApiError, App, shell};

use super::AppState;
use super::extract::same_origin_for_forms;

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
            move || {
                provide_context(backend.clone());
                // The page's policy names the nonce leptos gives its inline hydration script.
                if let (Some(nonce), Some(options)) = (
                    leptos::nonce::use_nonce(),
                    leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
                ) && let Ok(policy) =
                    axum::http::HeaderValue::from_str(&super::edge::page_policy(&nonce))
                {
                    options.insert_header(header::CONTENT_SECURITY_POLICY, policy);
                }
            },
            move || shell(options.clone()),
        )
        .route("/pkg/{file}", get(pkg))
        .route("/style.css", get(style))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(same_origin_for_forms))
}

/// One static asset, compressed once on first use and revalidated by ETag.
struct Asset {
    content_type: &'static str,
    plain: &'static [u8],
    gzip: Vec<u8>,
    etag: String,
}

impl Asset {
    fn new(content_type: &'static str, plain: &'static [u8]) -> Self {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = encoder
            .write_all(plain)
            .and_then(|_| encoder.finish())
            .unwrap_or_default();
        let digest = sha2::Sha256::digest(plain);
        Self {
            content_type,
            plain,
            gzip,
            etag: format!("\"{}\"", hex::encode(&digest[..12])),
        }
    }

    fn respond(&self, headers: &HeaderMap) -> Response {
        let common = [
            (header::CONTENT_TYPE, self.content_type.to_owned()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::ETAG, self.etag.clone()),
            (header::VARY, "Accept-Encoding".to_owned()),
        ];
        let cached = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            == Some(self.etag.as_str());
        if cached {
            return (StatusCode::NOT_MODIFIED, common).into_response();
        }
        let gzip_ok = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        if gzip_ok && !self.gzip.is_empty() {
            (
                common,
                [(header::CONTENT_ENCODING, "gzip")],
                self.gzip.clone(),
            )
                .into_response()
        } else {
            (common, self.plain).into_response()
        }
    }
}

fn frontend_assets() -> Option<&'static (Asset, Asset)> {
    static ASSETS: OnceLock<Option<(Asset, Asset)>> = OnceLock::new();
    ASSETS
        .get_or_init(|| {
            assets::FRONTEND.map(|(js, wasm)| {
                (
                    Asset::new("text/javascript", js),
                    Asset::new("application/wasm", wasm),
                )
            })
        })
        .as_ref()
}

async fn pkg(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let asset = frontend_assets().and_then(|(js, wasm)| match file.as_str() {
        "frontend.js" => Some(js),
        "frontend_bg.wasm" => Some(wasm),
        _ => None,
    });
    match asset {
        Some(asset) => asset.respond(&headers),
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
        return ApiError::NotFound.into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>Not found</title><link rel=stylesheet href=/style.css>\
         <main class=narrow><h1>Page not found</h1><p><a href=/>Back to the dashboard</a></p></main>",
    )
        .into_response()
}
