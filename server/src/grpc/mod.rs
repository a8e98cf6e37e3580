//! The gRPC/TLS ingest for remote agents (server mode). Plaintext is never served.
mod ingest;
pub mod tls;

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use ingest::{Ingest, IngestSettings};

/// HTTP/2 flow-control window per agent connection (and its one stream).
const RECEIVE_WINDOW: u32 = 64 << 10;
/// Largest message an agent may send (a batch is a few KiB; a container list can be more).
pub(crate) const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Serves the agent protocol over TLS until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    max_connections: usize,
    certificate: &tls::ServerCertificate,
    ingest: Ingest,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            &certificate.cert_pem,
            &certificate.key_pem,
        ))
        // A client that opens a connection and never finishes the handshake is dropped.
        .timeout(crate::net::TLS_HANDSHAKE_TIMEOUT);
    Server::builder()
        .tls_config(tls)
        .context("invalid gRPC TLS configuration")?
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        // Each agent has one stream; a small window means an agent can never park more than
        // this much unread data in the server's memory, however far behind the writer is.
        .initial_stream_window_size(Some(RECEIVE_WINDOW))
        .initial_connection_window_size(Some(RECEIVE_WINDOW))
        .add_service(
            proto::agent_service_server::AgentServiceServer::new(ingest)
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(
            crate::net::accept_slotted(listener, max_connections, "grpc", shutdown.clone())
                .map(|accepted| accepted.map(|(conn, _)| conn)),
            shutdown.cancelled_owned(),
        )
        .await
        .context("gRPC server failed")
}
