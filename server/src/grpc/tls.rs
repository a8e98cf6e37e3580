//! The gRPC listener's certificate: the operator's, or a self-signed one kept in the data dir.
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// A certificate and key in PEM, and the SPKI pin agents check.
pub struct ServerCertificate {
    pub cert_pem: String,
    pub key_pem: String,
    /// `sha256:<base64>` of the leaf's public key.
    pub pin: String,
    /// True when Vantage made it (agents must pin it); false for an operator's certificate.
    pub self_signed: bool,
}

const CERT_FILE: &str = "grpc-cert.pem";
const KEY_FILE: &str = "grpc-key.pem";

/// Loads `--grpc-tls-cert`/`--grpc-tls-key`, or the self-signed pair in the data dir, making
/// one on first start. Anything unreadable or mismatched is a clear boot error.
pub fn load_or_create(config: &Config) -> anyhow::Result<ServerCertificate> {
    match (&config.grpc_tls_cert, &config.grpc_tls_key) {
        (Some(cert), Some(key)) => load(cert, key, false),
        _ => {
            let cert = config.data_dir.join(CERT_FILE);
            let key = config.data_dir.join(KEY_FILE);
            if cert.exists() || key.exists() {
                return load(&cert, &key, true);
            }
            create(&cert, &key, config)?;
            tracing::info!(cert = %cert.display(), "created a self-signed gRPC certificate; install snippets carry its pin");
            load(&cert, &key, true)
        }
    }
}

fn load(cert_path: &Path, key_path: &Path, self_signed: bool) -> anyhow::Result<ServerCertificate> {
    let cert_pem = std::fs::read_to_string(cert_path)
        .with_context(|| format!("cannot read the gRPC certificate {}", cert_path.display()))?;
    let key_pem = std::fs::read_to_string(key_path)
        .with_context(|| format!("cannot read the gRPC key {}", key_path.display()))?;
    let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{} is not a PEM certificate: {e}", cert_path.display()))?;
    let leaf = certs
        .first()
        .ok_or_else(|| anyhow::anyhow!("{} holds no PEM certificate", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("{} is not a PEM private key: {e}", key_path.display()))?;
    // Building a TLS configuration checks that the key belongs to the certificate.
    rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(certs.clone(), key))
    .map_err(|e| {
        anyhow::anyhow!(
            "the gRPC certificate {} and key {} do not work together: {e}",
            cert_path.display(),
            key_path.display()
        )
    })?;
    let pin = agent::stream::tls::spki_pin(leaf)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?;
    Ok(ServerCertificate {
        cert_pem,
        key_pem,
        pin,
        self_signed,
    })
}

fn create(cert_path: &Path, key_path: &Path, config: &Config) -> anyhow::Result<()> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(hostname) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        names.push(hostname.trim().to_owned());
    }
    if let Some(host) = config
        .grpc_public_url
        .as_deref()
        .and_then(|u| agent::stream::ServerAddress::parse(u).ok())
    {
        names.push(host.host);
    }
    names.sort();
    names.dedup();
    let generated =
        rcgen::generate_simple_self_signed(names).context("cannot generate a certificate")?;
    write_private(key_path, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert_path, generated.cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    Ok(())
}

/// Creates `path` (it must not exist) mode 0600 with `bytes`, synced: for keys.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
