//! The gRPC/TLS ingest for remote agents (server mode). Plaintext is never served.
mod ingest;
pub mod tls;

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use ingest::{ENROLLMENT_TOKEN_PREFIX, Ingest, IngestSettings, StreamRegistry};

/// Serves the agent protocol over TLS until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    certificate: &tls::ServerCertificate,
    ingest: Ingest,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let tls = ServerTlsConfig::new().identity(Identity::from_pem(
        &certificate.cert_pem,
        &certificate.key_pem,
    ));
    Server::builder()
        .tls_config(tls)
        .context("invalid gRPC TLS configuration")?
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(proto::agent_service_server::AgentServiceServer::new(ingest))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await
        .context("gRPC server failed")
}
