//! What the install snippets fetch, without signing in: `GET /install.sh`,
//! `GET /download/vantage-agent/linux-<arch>` and `GET /download/vantage-agent-image.tar`,
//! from the agent downloads directory (`--agent-downloads`). Each answer carries its SHA-256
//! in `X-Checksum-Sha256`; what checks it is the step before (snippet, `install.sh`).
use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use app::ApiError;
use app::backend::ClientInfo;

use super::AppState;
use crate::downloads::{IMAGE_FILE, ReadyFile};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/install.sh", get(install_script))
        .route("/download/vantage-agent/{target}", get(agent))
        .route(&format!("/download/{IMAGE_FILE}"), get(image))
}

#[utoipa::path(get, path = "/install.sh", tag = "install", summary = "The agent installer, carrying the SHA-256 of each agent build.",
    responses((status = 200, description = "A POSIX shell script.", content_type = "text/x-shellscript"), (status = "4XX", description = "Refused; `code` says why.", body = app::ErrorBody))
)]
async fn install_script(
    State(state): State<AppState>,
    Extension(client): Extension<ClientInfo>,
) -> Result<Response, ApiError> {
    // The host was checked against host-name grammar: nothing else reaches the script.
    let host = client.host.unwrap_or_else(|| "localhost".to_owned());
    let scheme = if client.https { "https" } else { "http" };
    let script = state
        .vantage
        .install_script(&format!("{scheme}://{host}"))
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8")],
        script,
    )
        .into_response())
}

#[utoipa::path(get, path = "/download/vantage-agent/{target}", tag = "install", summary = "A static agent build.",
    params(("target" = String, Path, description = "`linux-x86_64` or `linux-aarch64`.")),
    responses(
        (status = 200, description = "The binary; `X-Checksum-Sha256` carries its digest.", content_type = "application/octet-stream"),
        (status = 404, description = "`unknown_target`, or `agent_build_missing` (also while it is being built).", body = app::ErrorBody),
        (status = "4XX", description = "Refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn agent(
    State(state): State<AppState>,
    Path(target): Path<String>,
) -> Result<Response, ApiError> {
    let file = state.vantage.agent_download(&target).await?;
    send(file, "application/octet-stream", "vantage-agent").await
}

#[utoipa::path(get, path = "/download/vantage-agent-image.tar", tag = "install", summary = "The agent image, `docker save` form.",
    responses(
        (status = 200, description = "A tar archive for `docker load`; `X-Checksum-Sha256` carries its digest.", content_type = "application/x-tar"),
        (status = 404, description = "`agent_build_missing`.", body = app::ErrorBody),
        (status = "4XX", description = "Refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn image(State(state): State<AppState>) -> Result<Response, ApiError> {
    let file = state.vantage.image_download().await?;
    send(file, "application/x-tar", IMAGE_FILE).await
}

/// Streams the file (an image is hundreds of megabytes: never read whole into memory).
async fn send(file: ReadyFile, content_type: &str, name: &str) -> Result<Response, ApiError> {
    let opened = tokio::fs::File::open(&file.path).await.map_err(|e| {
        tracing::error!(path = %file.path.display(), error = %e, "cannot open an agent download");
        ApiError::Internal
    })?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(opened));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CONTENT_LENGTH, file.size_bytes.to_string()),
            (
                header::HeaderName::from_static("x-checksum-sha256"),
                file.sha256,
            ),
        ],
        body,
    )
        .into_response())
}
