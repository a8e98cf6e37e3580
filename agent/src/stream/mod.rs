//! The stream client: TLS channel, enrollment, and the authenticated event stream.
pub mod tls;
pub mod wire;

use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tonic::transport::{Channel, Endpoint};

pub use tls::ServerTrust;

/// Most events in one batch: a batch of host samples is about 5 KiB, so a server taking a
/// thousand agents' backfills at once holds little per stream (`bench/ingest.sh`, 24 h of
/// past for 1,000 agents: peak RSS 100 MB with 16, 116 MB with 25, 184 MB with 100), while
/// the per-batch cost stays low (0.8 M samples per server CPU-second with 16).
pub const MAX_BATCH_EVENTS: usize = 16;

/// Batches sent and not yet answered. One: the server then holds at most one batch of each
/// agent, which keeps a thousand agents backfilling at once within its memory budget (two
/// cost about 20 KB more per agent in `bench/ingest.sh`). Throughput hardly suffers: the
/// server commits many agents' batches together, so its writer, not the round trip, sets the
/// pace of a storm.
pub const MAX_BATCHES_IN_FLIGHT: usize = 1;

/// The signed answer to the server's challenge: (nonce, agent id, now) signed with the
/// agent's key, as the server checks it. The one place an agent (or a simulated one) signs in.
pub fn answer_challenge(
    key: &ed25519_dalek::SigningKey,
    agent_id: &str,
    uuid: &[u8; 16],
    nonce: &[u8],
) -> proto::AuthResponse {
    use ed25519_dalek::Signer;
    let timestamp = proto::clock::now_s();
    let signature = key.sign(&proto::auth_message(nonce, uuid, timestamp));
    proto::AuthResponse {
        agent_id: agent_id.to_owned(),
        timestamp,
        signature: signature.to_bytes().to_vec(),
    }
}

/// `grpcs://host[:port]`, the port 443 unless given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    pub host: String,
    pub port: u16,
}

impl ServerAddress {
    /// Parses `grpcs://host[:port]` (IPv6 hosts in brackets). Plaintext schemes are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text.trim().strip_prefix("grpcs://").ok_or_else(|| {
            format!("the server address must start with grpcs:// (TLS is required), not {text:?}")
        })?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!("{text:?} is not grpcs://host[:port]"));
        }
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| format!("{text:?} has an unclosed [ ]"))?;
            (host.to_owned(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse()
                .map_err(|_| format!("{text:?} has an invalid port"))?,
            None => 443,
        };
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        Ok(Self { host, port })
    }
}

impl std::fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "grpcs://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "grpcs://{}:{}", self.host, self.port)
        }
    }
}

/// Why a channel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server presented a certificate other than the pinned one: never retried.
    #[error(
        "the server at {0} presented a certificate that does not match --server-pin; refusing to talk to it"
    )]
    PinMismatch(String),
    #[error("cannot connect to {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("{0}")]
    Config(String),
}

/// Opens an HTTP/2 channel over TLS, verified as `trust` says. Nothing is sent before the
/// handshake has accepted the server.
pub async fn connect(
    address: &ServerAddress,
    trust: &ServerTrust,
) -> Result<Channel, ConnectError> {
    let config = tls::client_config(trust).map_err(ConnectError::Config)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let server_name = ServerName::try_from(address.host.clone()).map_err(|_| {
        ConnectError::Config(format!("{} is not a valid server name", address.host))
    })?;
    let (host, port) = (address.host.clone(), address.port);
    // The URI only names the authority for HTTP/2; TLS happens in the connector below.
    let endpoint = Endpoint::from_shared(format!("http://{}", authority(address)))
        .map_err(|e| ConnectError::Config(e.to_string()))?
        .connect_timeout(Duration::from_secs(10))
        // A dead path (cut cable, dropped route) is noticed within about 15 s.
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    let connect = tower::service_fn(move |_| {
        let (connector, server_name, host) = (connector.clone(), server_name.clone(), host.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let stream = connector.connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    endpoint.connect_with_connector(connect).await.map_err(|e| {
        let chain = error_chain(&e);
        if chain.contains(tls::PIN_MISMATCH) {
            ConnectError::PinMismatch(address.to_string())
        } else {
            ConnectError::Unreachable {
                address: address.to_string(),
                reason: chain,
            }
        }
    })
}

fn authority(address: &ServerAddress) -> String {
    if address.host.contains(':') {
        format!("[{}]:{}", address.host, address.port)
    } else {
        format!("{}:{}", address.host, address.port)
    }
}

/// Every message of an error and its sources, joined.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            ServerAddress::parse("grpcs://v.example").unwrap(),
            ServerAddress {
                host: "v.example".into(),
                port: 443
            }
        );
        assert_eq!(
            ServerAddress::parse("grpcs://10.0.0.5:8443/").unwrap().port,
            8443
        );
        assert_eq!(
            ServerAddress::parse("grpcs://[::1]:8443").unwrap().host,
            "::1"
        );
        assert_eq!(
            ServerAddress::parse("grpcs://[::1]:8443")
                .unwrap()
                .to_string(),
            "grpcs://[::1]:8443"
        );
        assert!(
            ServerAddress::parse("http://v.example")
                .unwrap_err()
                .contains("TLS")
        );
        assert!(ServerAddress::parse("grpcs://v.example:http").is_err());
        assert!(ServerAddress::parse("grpcs://").is_err());
        assert!(ServerAddress::parse("grpcs://a/b").is_err());
    }
}
