//! The dashboard: server-rendered Leptos pages, their server functions, and the static assets.
use std::collections::BTreeMap;
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
    /// A file of the bundle built into the binary, with its brotli form when one was made.
    pub struct File {
        pub name: &'static str,
        pub bytes: &'static [u8],
        pub brotli: Option<&'static [u8]>,
    }

    include!(concat!(env!("OUT_DIR"), "/frontend_assets.rs"));
}

const STYLE: &str = include_str!("../../../style/main.css");

pub fn router(state: &AppState) -> Router<AppState> {
    let backend: Arc<dyn Backend> = state.vantage.clone();
    let options = state.leptos.clone();
    let routes = generate_route_list(App);
    // A page asks early for the chunks its lazy parts need (a host's page, the secondary
    // pages), so they load beside the main module rather than after it.
    let split = leptos::WasmSplitManifest(leptos::prelude::ArcStoredValue::new((
        format!("/{}", state.dashboard.pkg_dir()),
        state.dashboard.split_manifest(),
        "__wasm_split.js".to_owned(),
    )));
    if !state.dashboard.hydrates() {
        tracing::warn!("this build has no WASM bundle: pages render without live updates");
    }
    Router::new()
        .leptos_routes_with_context(
            state,
            routes,
            move || {
                provide_context(backend.clone());
                provide_context(split.clone());
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
        .route("/pkg/{digest}/{file}", get(pkg_versioned))
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
                // Until the second factor an admin requires is set up, only Settings.
                Ok(Some(me)) if me.must_enroll_totp => (path != "/settings").then_some("/settings"),
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
/// Its files are served under a directory that carries the bundle's digest
/// (`/pkg/<digest>/frontend.js`), cached for a year, and under their plain names
/// (`/pkg/frontend.js`), revalidated. The files name each other relatively (the chunks'
/// loader imports `./frontend.js`), so a page and its chunks always come from one bundle.
/// Gzip is made once, on first use; brotli comes ready-made from the build (`<file>.br`).
pub struct Dashboard {
    files: Option<Bundle>,
    assets: OnceLock<BTreeMap<String, Asset>>,
}

/// The bundle's files as read, by name: the main module (`frontend.js`,
/// `frontend_bg.wasm`), the chunks of the pages outside it (`*.wasm`), their loader
/// (`__wasm_split.js`) and which chunks each needs (`__wasm_split_manifest.json`).
struct Bundle {
    files: BTreeMap<String, (Bytes, Option<Bytes>)>,
    /// The first 16 hex digits of SHA-256 over every file's name and bytes.
    digest: String,
}

/// The file naming the chunks each split point of the bundle needs.
const SPLIT_MANIFEST: &str = "__wasm_split_manifest.json";

impl Bundle {
    /// None unless the main module's two files are there.
    fn new(files: BTreeMap<String, (Bytes, Option<Bytes>)>) -> Option<Self> {
        if !files.contains_key("frontend.js") || !files.contains_key("frontend_bg.wasm") {
            return None;
        }
        let mut hash = sha2::Sha256::new();
        for (name, (bytes, _)) in &files {
            hash.update((name.len() as u64).to_le_bytes());
            hash.update(name.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        }
        let digest = hex::encode(&hash.finalize()[..8]);
        Some(Bundle { files, digest })
    }
}

impl Dashboard {
    /// The bundle in `site_dir/pkg` when given (it must be there), else the built-in one.
    pub fn load(site_dir: Option<&FilePath>) -> anyhow::Result<Self> {
        let files = match site_dir {
            Some(dir) => Some(read_bundle(&dir.join("pkg")).with_context(|| {
                format!(
                    "--site-dir {}: cannot read the dashboard bundle in {} (build it with scripts/build-frontend)",
                    dir.display(),
                    dir.join("pkg").display()
                )
            })?),
            None => Bundle::new(
                assets::FRONTEND
                    .iter()
                    .map(|f| {
                        (
                            f.name.to_owned(),
                            (Bytes::from_static(f.bytes), f.brotli.map(Bytes::from_static)),
                        )
                    })
                    .collect(),
            ),
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

    /// Where pages load the bundle from: `pkg/<digest>` (without a bundle, `pkg`).
    pub fn pkg_dir(&self) -> String {
        match &self.files {
            Some(b) => format!("pkg/{}", b.digest),
            None => "pkg".to_owned(),
        }
    }

    /// Which chunks each split point of the bundle needs (`{"host_page_…": ["chunk_3", …]}`),
    /// for the page to ask for them early; empty for a bundle without chunks.
    pub fn split_manifest(&self) -> std::collections::HashMap<String, Vec<String>> {
        self.files
            .as_ref()
            .and_then(|b| b.files.get(SPLIT_MANIFEST))
            .and_then(|(bytes, _)| serde_json::from_slice(bytes).ok())
            .unwrap_or_default()
    }

    /// The asset a file name asks for.
    fn asset(&self, file: &str) -> Option<&Asset> {
        let bundle = self.files.as_ref()?;
        let assets = self.assets.get_or_init(|| {
            bundle
                .files
                .iter()
                .map(|(name, (bytes, brotli))| {
                    (
                        name.clone(),
                        Asset::new(content_type(name), bytes.clone(), brotli.clone()),
                    )
                })
                .collect()
        });
        assets.get(file)
    }

    /// The digest in the bundle's directory name.
    fn digest(&self) -> Option<&str> {
        self.files.as_ref().map(|b| b.digest.as_str())
    }
}

/// Every file of a bundle directory (brotli forms beside their files; one older than its
/// file is stale and left out, with a second's grace for tools that copy the source's time
/// in whole seconds).
fn read_bundle(pkg: &FilePath) -> anyhow::Result<Bundle> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(pkg)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.ends_with(".br") || !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let modified = |p: &FilePath| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let brotli_path = pkg.join(format!("{name}.br"));
        let fresh = match (modified(&brotli_path), modified(&path)) {
            (Some(br), Some(file)) => br + std::time::Duration::from_secs(1) >= file,
            _ => false,
        };
        let brotli = fresh
            .then(|| std::fs::read(&brotli_path).ok().map(Bytes::from))
            .flatten();
        files.insert(name, (Bytes::from(bytes), brotli));
    }
    Bundle::new(files).context("frontend.js or frontend_bg.wasm is missing")
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
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

/// A bundle file by its plain name: revalidated on each use.
async fn pkg(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    match state.dashboard.asset(&file) {
        Some(asset) => asset.respond(&headers, false),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// A bundle file under the bundle's digest: the same bytes for as long as the name lives.
async fn pkg_versioned(
    State(state): State<AppState>,
    Path((digest, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match state.dashboard.asset(&file) {
        Some(asset) if state.dashboard.digest() == Some(digest.as_str()) => {
            asset.respond(&headers, true)
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
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
