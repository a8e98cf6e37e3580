//! TLS certificate scans: the certificate a `host:port` presents, or the one in a PEM file,
//! with subject, issuer, SANs, expiry and whether its chain leads to a trusted root.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore};
use tokio::sync::mpsc;

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertTarget {
    /// A TLS endpoint.
    Endpoint { host: String, port: u16 },
    /// A PEM file (leaf first, then its chain).
    File(PathBuf),
}

impl CertTarget {
    /// `host:port`, `[v6]:port`, or a path (anything with a `/`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.contains('/') {
            return Ok(CertTarget::File(PathBuf::from(text)));
        }
        let (host, port) = match text.strip_prefix('[') {
            Some(rest) => rest
                .split_once("]:")
                .ok_or_else(|| format!("{text:?} is not [ipv6]:port"))?,
            None => text
                .rsplit_once(':')
                .ok_or_else(|| format!("{text:?} is not host:port or a file path"))?,
        };
        let port = port
            .parse()
            .map_err(|_| format!("{text:?} has an invalid port"))?;
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        Ok(CertTarget::Endpoint {
            host: host.to_owned(),
            port,
        })
    }

    /// The target as the operator wrote it.
    pub fn name(&self) -> String {
        match self {
            CertTarget::Endpoint { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            CertTarget::Endpoint { host, port } => format!("{host}:{port}"),
            CertTarget::File(path) => path.display().to_string(),
        }
    }
}

impl std::fmt::Display for CertTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Subject, issuer, SANs and expiry of a DER certificate.
pub fn describe(der: &[u8], scan: &mut proto::CertificateScan) -> Result<(), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    scan.subject = cert.subject().to_string();
    scan.issuer = cert.issuer().to_string();
    scan.not_after_unix = cert.validity().not_after.timestamp();
    scan.sans = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| ext.value.general_names.iter().map(san_text).collect())
        .unwrap_or_default();
    Ok(())
}

/// A subject alternative name as people write it: `shop.example`, `10.0.0.5`, `::1`.
fn san_text(name: &x509_parser::extensions::GeneralName<'_>) -> String {
    use x509_parser::extensions::GeneralName;
    match name {
        GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
            (*s).to_owned()
        }
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => <[u8; 4]>::try_from(*bytes)
                .map(|b| std::net::Ipv4Addr::from(b).to_string())
                .unwrap_or_default(),
            16 => <[u8; 16]>::try_from(*bytes)
                .map(|b| std::net::Ipv6Addr::from(b).to_string())
                .unwrap_or_default(),
            _ => name.to_string(),
        },
        other => other.to_string(),
    }
}

fn system_roots() -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    Arc::new(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Whether the chain verifies for `name` against the system roots (the error when not).
fn verify_chain(
    roots: Arc<RootCertStore>,
    chain: &[CertificateDer<'static>],
    name: &ServerName<'static>,
) -> Result<(), String> {
    let (leaf, intermediates) = chain.split_first().ok_or("no certificate")?;
    if roots.is_empty() {
        return Err("no trusted root certificates on this host".into());
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(leaf, intermediates, name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Accepts any certificate (nothing is sent over the connection) and keeps the chain.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.chain.lock().unwrap_or_else(|e| e.into_inner()) = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

async fn fetch_chain(host: &str, port: u16) -> Result<Vec<CertificateDer<'static>>, String> {
    let recorder = Arc::new(Recorder {
        chain: Mutex::default(),
        provider: provider(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name =
        ServerName::try_from(host.to_owned()).map_err(|_| format!("{host} is not a valid name"))?;
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| "connection timed out".to_owned())?
    .map_err(|e| format!("cannot connect: {e}"))?;
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| "TLS handshake timed out".to_owned())?
    .map_err(|e| format!("TLS handshake failed: {e}"))?;
    Ok(recorder
        .chain
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone())
}

/// Scans one target now.
pub async fn scan(target: &CertTarget, roots: Arc<RootCertStore>) -> proto::CertificateScan {
    let mut scan = proto::CertificateScan {
        target: target.name(),
        ..Default::default()
    };
    let result = match target {
        CertTarget::Endpoint { host, port } => fetch_chain(host, *port).await.and_then(|chain| {
            let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
            Ok((chain, name))
        }),
        CertTarget::File(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|pem| {
                CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{} is not PEM: {e}", path.display()))
            })
            .and_then(|chain| {
                let first = chain
                    .first()
                    .ok_or_else(|| format!("{} holds no certificate", path.display()))?;
                // A file names no host: check the chain for the certificate's own first DNS name.
                let mut facts = proto::CertificateScan::default();
                describe(first, &mut facts)?;
                let dns = facts
                    .sans
                    .iter()
                    .find_map(|s| s.strip_prefix("DNSName(").and_then(|r| r.strip_suffix(')')))
                    .unwrap_or("localhost");
                let name = ServerName::try_from(dns.to_owned()).map_err(|e| e.to_string())?;
                Ok((chain, name))
            }),
    };
    match result {
        Ok((chain, name)) => {
            if let Err(e) = chain
                .first()
                .ok_or_else(|| "no certificate presented".to_owned())
                .and_then(|leaf| describe(leaf, &mut scan))
            {
                scan.error = e;
                return scan;
            }
            match verify_chain(roots, &chain, &name) {
                Ok(()) => scan.chain_valid = true,
                Err(e) => scan.error = e,
            }
        }
        Err(e) => scan.error = e,
    }
    scan
}

/// Scans every target every `interval` until `events` closes.
pub async fn watch(
    targets: Vec<CertTarget>,
    interval: Duration,
    events: mpsc::Sender<proto::Event>,
) {
    if targets.is_empty() {
        return;
    }
    tracing::info!(
        targets = targets.len(),
        every_s = interval.as_secs(),
        "watching certificates"
    );
    let roots = system_roots();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        for target in &targets {
            let result = scan(target, roots.clone()).await;
            tracing::debug!(%target, error = %result.error, chain_valid = result.chain_valid, "certificate scanned");
            let event = proto::Event {
                time_ms: proto::clock::now_ms(),
                body: Some(proto::event::Body::CertificateScan(result)),
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            CertTarget::parse("example.com:443").unwrap(),
            CertTarget::Endpoint {
                host: "example.com".into(),
                port: 443
            }
        );
        assert_eq!(
            CertTarget::parse("[::1]:8443").unwrap(),
            CertTarget::Endpoint {
                host: "::1".into(),
                port: 8443
            }
        );
        assert_eq!(
            CertTarget::parse("/etc/ssl/site.pem").unwrap(),
            CertTarget::File("/etc/ssl/site.pem".into())
        );
        assert!(CertTarget::parse("example.com").is_err());
        assert!(CertTarget::parse("example.com:https").is_err());
    }

    #[tokio::test]
    async fn a_self_signed_file_is_described_and_not_trusted() {
        let generated = rcgen::generate_simple_self_signed(vec![
            "app.internal".to_owned(),
            "10.0.0.5".to_owned(),
            "::1".to_owned(),
        ])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        std::fs::write(&path, generated.cert.pem()).unwrap();
        let scan = scan(&CertTarget::File(path), system_roots()).await;
        // Names as people write them, not as the parser prints its enum.
        assert_eq!(scan.sans, ["app.internal", "10.0.0.5", "::1"], "{scan:?}");
        assert!(scan.not_after_unix > 0);
        assert!(!scan.chain_valid);
        assert!(!scan.error.is_empty());
    }

    #[tokio::test]
    async fn unreadable_targets_report_errors() {
        let scan = scan(
            &CertTarget::File("/nonexistent/cert.pem".into()),
            system_roots(),
        )
        .await;
        assert!(scan.error.contains("cannot read"));
        let scan = super::scan(
            &CertTarget::Endpoint {
                host: "127.0.0.1".into(),
                port: 1,
            },
            system_roots(),
        )
        .await;
        assert!(scan.error.contains("cannot connect"), "{}", scan.error);
    }
}
