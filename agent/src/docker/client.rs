//! A small HTTP/1.1 client for the Docker Engine API over its unix socket.
use std::path::PathBuf;

use bytes::Bytes;
use futures::Stream;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::parse::{StatsSnapshot, parse_container_list, parse_stats};

/// A failed Docker API call.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker socket: {0}")]
    Connect(#[from] std::io::Error),
    #[error("Docker API error: {0}")]
    Http(#[from] hyper::Error),
    #[error("Docker answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("unexpected Docker answer: {0}")]
    Parse(#[from] serde_json::Error),
}

/// Talks to one Docker Engine.
#[derive(Debug, Clone)]
pub struct DockerClient {
    socket: PathBuf,
}

impl DockerClient {
    pub fn new(socket: PathBuf) -> Self {
        Self { socket }
    }

    async fn request(&self, path: &str) -> Result<hyper::Response<Incoming>, DockerError> {
        let stream = tokio::net::UnixStream::connect(&self.socket).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, "docker")
            .body(Empty::<Bytes>::new())
            .map_err(|e| DockerError::Status {
                status: 0,
                message: e.to_string(),
            })?;
        let response = sender.send_request(request).await?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            return Err(DockerError::Status {
                status,
                message: String::from_utf8_lossy(&body).trim().to_owned(),
            });
        }
        Ok(response)
    }

    async fn get(&self, path: &str) -> Result<Bytes, DockerError> {
        Ok(self
            .request(path)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes())
    }

    /// Every container, running or not.
    pub async fn list(&self) -> Result<Vec<proto::Container>, DockerError> {
        Ok(parse_container_list(
            &self.get("/containers/json?all=1").await?,
        )?)
    }

    /// One reading of a container's counters.
    pub async fn stats(&self, id: &str) -> Result<StatsSnapshot, DockerError> {
        let id: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        Ok(parse_stats(
            &self
                .get(&format!(
                    "/containers/{id}/stats?stream=false&one-shot=true"
                ))
                .await?,
        )?)
    }

    /// Container events as they happen, one JSON document per item.
    pub async fn events(&self) -> Result<impl Stream<Item = Vec<u8>>, DockerError> {
        let body = self
            .request("/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D")
            .await?
            .into_body();
        Ok(futures::stream::unfold(
            (body, Vec::<u8>::new()),
            |(mut body, mut buffer)| async move {
                loop {
                    if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buffer.drain(..=end).collect();
                        return Some((line, (body, buffer)));
                    }
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                buffer.extend_from_slice(&data);
                            }
                        }
                        _ => return None,
                    }
                }
            },
        ))
    }
}
