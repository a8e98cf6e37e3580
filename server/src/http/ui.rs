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
    /// The bundle built into the binary, each file with its brotli form when one was made.
    pub struct Files {
        pub js: &'static [u8],
        pub wasm: &'static [u8],
        pub js_br: Option<&'static [u8]>,
        pub wasm_br: Option<&'static [u8]>,
    }

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
        // Only the pages (and the server functions registered with them), not the assets.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            signed_in_pages,
        ))
        .route("/pkg/{file}", get(pkg))
        .route("/style.css", get(style))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(same_origin_for_forms))
}

/// Sends a browser that may not see a page where it should go before anything renders: to
/// the setup page until the first admin exists, then to the sign-in page while it has no
/// session (and from the setup page, which has done its work). Pages stream as their data
/// arrive, so a redirect from inside a page would come after its status was sent; the pages
/// keep theirs (`RequireUser`) for navigation in the browser.
async fn signed_in_pages(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if request.method() != axum::http::Method::GET || path.starts_with("/_sf/") {
        return next.run(request).await;
    }
    let backend: &dyn Backend = state.vantage.as_ref();
    let target = match backend.needs_setup().await {
        Ok(true) => (path != "/setup").then_some("/setup"),
        Ok(false) if path == "/setup" => Some("/login"),
        Ok(false) if path == "/login" => None,
        Ok(false) => match app::backend::session_cookie(request.headers()) {
            Some(token) => match backend.session_user(&token).await {
                Ok(Some(_)) => None,
                Ok(None) => Some("/login"),
                // The page shows the store's error in the API's words.
                Err(_) => None,
            },
            None => Some("/login"),
        },
        Err(_) => None,
    };
    match target {
        Some(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        None => next.run(request).await,
    }
}

/// The dashboard's WASM bundle: the one built into the binary, or the files of `--site-dir`.
/// Its files are served under names that carry their digest (`frontend-<digest>.js`), cached
/// for a year, and under their plain names, revalidated. Gzip is made once, on first use;
/// brotli comes ready-made from the build (`<file>.br`).
pub struct Dashboard {
    files: Option<Bundle>,
    assets: OnceLock<(Asset, Asset)>,
}

/// The bundle's files as read.
struct Bundle {
    js: Bytes,
    wasm: Bytes,
    js_br: Option<Bytes>,
    wasm_br: Option<Bytes>,
    /// The first 16 hex digits of SHA-256 over both files: in the served names.
    digest: String,
}

impl Bundle {
    fn new(js: Bytes, wasm: Bytes, js_br: Option<Bytes>, wasm_br: Option<Bytes>) -> Self {
        let mut hash = sha2::Sha256::new();
        hash.update(&js);
        hash.update(&wasm);
        let digest = hex::encode(&hash.finalize()[..8]);
        Bundle {
            js,
            wasm,
            js_br,
            wasm_br,
            digest,
        }
    }
}

impl Dashboard {
    /// The bundle in `site_dir/pkg` when given (it must be there), else the built-in one.
    pub fn load(site_dir: Option<&FilePath>) -> anyhow::Result<Self> {
        let files = match site_dir {
            Some(dir) => {
                let path = |name: &str| dir.join("pkg").join(name);
                let read = |name: &str| {
                    let path = path(name);
                    std::fs::read(&path).map(Bytes::from).with_context(|| {
                        format!(
                            "--site-dir {}: cannot read the dashboard bundle {} (build it with scripts/build-frontend)",
                            dir.display(),
                            path.display()
                        )
                    })
                };
                // A brotli form older than its file is stale: left out (with a second's grace,
                // for tools that copy the source's time in whole seconds).
                let brotli = |name: &str| {
                    let modified = |p: std::path::PathBuf| {
                        std::fs::metadata(p).and_then(|m| m.modified()).ok()
                    };
                    let grace = std::time::Duration::from_secs(1);
                    let fresh = match (modified(path(&format!("{name}.br"))), modified(path(name)))
                    {
                        (Some(br), Some(file)) => br + grace >= file,
                        _ => false,
                    };
                    fresh
                        .then(|| {
                            std::fs::read(path(&format!("{name}.br")))
                                .ok()
                                .map(Bytes::from)
                        })
                        .flatten()
                };
                Some(Bundle::new(
                    read("frontend.js")?,
                    read("frontend_bg.wasm")?,
                    brotli("frontend.js"),
                    brotli("frontend_bg.wasm"),
                ))
            }
            None => assets::FRONTEND.map(|f| {
                Bundle::new(
                    Bytes::from_static(f.js),
                    Bytes::from_static(f.wasm),
                    f.js_br.map(Bytes::from_static),
                    f.wasm_br.map(Bytes::from_static),
                )
            }),
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

    /// The name pages load the bundle by: `frontend-<digest>` (`.js`, `_bg.wasm`).
    pub fn output_name(&self) -> String {
        match &self.files {
            Some(b) => format!("frontend-{}", b.digest),
            None => "frontend".to_owned(),
        }
    }

    /// The asset a file name asks for, and whether that name is the digest-carrying one.
    fn asset(&self, file: &str) -> Option<(&Asset, bool)> {
        let bundle = self.files.as_ref()?;
        let (js, wasm) = self.assets.get_or_init(|| {
            (
                Asset::new("text/javascript", bundle.js.clone(), bundle.js_br.clone()),
                Asset::new(
                    "application/wasm",
                    bundle.wasm.clone(),
                    bundle.wasm_br.clone(),
                ),
            )
        });
        let versioned = format!("frontend-{}", bundle.digest);
        match file.strip_prefix(&versioned) {
            Some(".js") => return Some((js, true)),
            Some("_bg.wasm") => return Some((wasm, true)),
            _ => {}
        }
        match file {
            "frontend.js" => Some((js, false)),
            "frontend_bg.wasm" => Some((wasm, false)),
            _ => None,
        }
    }
}

/// One static asset, compressed once and revalidated by ETag.
struct Asset {
    content_type: &'static str,
    plain: Bytes,
    gzip: Bytes,
    brotli: Option<Bytes>,
    etag: String,
}

impl Asset {
    fn new(content_type: &'static str, plain: Bytes, brotli: Option<Bytes>) -> Self {
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
            brotli,
            etag: format!("\"{}\"", hex::encode(&digest[..12])),
        }
    }

    /// The answer to a request; `immutable` for the digest-carrying name.
    fn respond(&self, headers: &HeaderMap, immutable: bool) -> Response {
        let cache = if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let common = [
            (header::CONTENT_TYPE, self.content_type.to_owned()),
            (header::CACHE_CONTROL, cache.to_owned()),
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
        let accepts = |coding: &str| {
            headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.split(',').any(|e| {
                        let mut parts = e.split(';').map(str::trim);
                        parts.next() == Some(coding) && !parts.any(|p| p.replace(' ', "") == "q=0")
                    })
                })
        };
        match &self.brotli {
            Some(br) if accepts("br") => {
                return (common, [(header::CONTENT_ENCODING, "br")], br.clone()).into_response();
            }
            _ => {}
        }
        if accepts("gzip") && !self.gzip.is_empty() {
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
        Some((asset, immutable)) => asset.respond(&headers, immutable),
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
