//! `GET /install.sh` and `GET /download/vantage-agent/linux-<arch>`: what the standalone
//! install snippet fetches. Binaries are served from `<data-dir>/downloads/`.
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use app::ApiError;
use app::backend::ClientInfo;
use axum::Extension;

use super::AppState;

const INSTALL_SCRIPT: &str = include_str!("assets/install.sh");
/// Architectures the installer asks for.
pub const ARCHITECTURES: [&str; 3] = ["x86_64", "aarch64", "armv7"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/install.sh", get(install_script))
        .route("/download/vantage-agent/{target}", get(download))
}

async fn install_script(Extension(client): Extension<ClientInfo>) -> Response {
    // The host was checked against host-name grammar: nothing else reaches the script.
    let host = client.host.unwrap_or_else(|| "localhost".to_owned());
    let scheme = if client.https { "https" } else { "http" };
    let script = INSTALL_SCRIPT.replace("__VANTAGE_URL__", &format!("{scheme}://{host}"));
    (
        [(header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8")],
        script,
    )
        .into_response()
}

async fn download(State(state): State<AppState>, Path(target): Path<String>) -> Response {
    let arch = target
        .strip_prefix("linux-")
        .filter(|a| ARCHITECTURES.contains(a));
    let Some(arch) = arch else {
        return ApiError::UnknownTarget(target).into_response();
    };
    let file = state
        .config
        .data_dir
        .join("downloads")
        .join(format!("vantage-agent-linux-{arch}"));
    match tokio::fs::read(&file).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"vantage-agent\"".to_owned(),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => ApiError::AgentBuildMissing {
            arch: arch.to_owned(),
            path: file.display().to_string(),
        }
        .into_response(),
    }
}
