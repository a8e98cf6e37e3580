//! The dashboard: server-rendered Leptos pages, their server functions, and the static assets.
use std::path::Path as FilePath;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
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
    if !state.dashboard.hydrates() {
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

/// The dashboard's WASM bundle: the one built into the binary, or the files of `--site-dir`.
/// Each file is compressed once, on first use.
pub struct Dashboard {
    files: Option<(Bytes, Bytes)>,
    assets: OnceLock<(Asset, Asset)>,
}

impl Dashboard {
    /// The bundle in `site_dir/pkg` when given (it must be there), else the built-in one.
    pub fn load(site_dir: Option<&FilePath>) -> anyhow::Result<Self> {
        let files = match site_dir {
            Some(dir) => {
                let read = |name: &str| {
                    let path = dir.join("pkg").join(name);
                    std::fs::read(&path).map(Bytes::from).with_context(|| {
                        format!(
                            "--site-dir {}: cannot read the dashboard bundle {} (build it with scripts/build-frontend)",
                            dir.display(),
                            path.display()
                        )
                    })
                };
                Some((read("frontend.js")?, read("frontend_bg.wasm")?))
            }
            None => assets::FRONTEND
                .map(|(js, wasm)| (Bytes::from_static(js), Bytes::from_static(wasm))),
        };
        Ok(Self {
            files,
            assets: OnceLock::new(),
        })
    }

    /// Whether pages can hydrate (a bundle exists).
    pub fn hydrates(&self) -> bool {
        self.files.is_some()
    }

    fn asset(&self, file: &str) -> Option<&Asset> {
        let (js, wasm) = self.files.as_ref()?;
        let (js, wasm) = self.assets.get_or_init(|| {
            (
                Asset::new("text/javascript", js.clone()),
                Asset::new("application/wasm", wasm.clone()),
            )
        });
        match file {
            "frontend.js" => Some(js),
            "frontend_bg.wasm" => Some(wasm),
            _ => None,
        }
    }
}

/// One static asset, compressed once and revalidated by ETag.
struct Asset {
    content_type: &'static str,
    plain: Bytes,
    gzip: Bytes,
    etag: String,
}

impl Asset {
    fn new(content_type: &'static str, plain: Bytes) -> Self {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = encoder
            .write_all(&plain)
            .and_then(|_| encoder.finish())
            .unwrap_or_default();
        let digest = sha2::Sha256::digest(&plain);
        Self {
            content_type,
            plain,
            gzip: gzip.into(),
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
            (common, self.plain.clone()).into_response()
        }
    }
}

async fn pkg(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    match state.dashboard.asset(&file) {
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
