//! TLS to the server: certificate pinning by SPKI SHA-256, the system roots, or (development
//! only) no verification at all. The pin is checked during the handshake, before any request.
use std::sync::Arc;

use base64::Engine;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How the agent decides that it talks to the right server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// The server's certificate must carry this SPKI SHA-256 (self-signed servers).
    Pinned([u8; 32]),
    /// A certificate chain to one of the system's trusted roots, for the server's name.
    SystemRoots,
    /// Anything goes. Development only: a network attacker can read and change everything.
    InsecureSkipVerify,
}

/// The pin of a DER certificate: `sha256:` and the base64 SHA-256 of its SubjectPublicKeyInfo.
pub fn spki_pin(cert_der: &[u8]) -> Result<String, String> {
    Ok(format_pin(&spki_sha256(cert_der)?))
}

/// `sha256:<base64>` of a digest.
pub fn format_pin(digest: &[u8; 32]) -> String {
    format!(
        "sha256:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn spki_sha256(cert_der: &[u8]) -> Result<[u8; 32], String> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    Ok(Sha256::digest(cert.subject_public_key_info().as_ref()).into())
}

/// Reads `sha256:<base64>` (or `sha256:<hex>`).
pub fn parse_pin(text: &str) -> Result<[u8; 32], String> {
    let body = text
        .trim()
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("a pin starts with sha256: ({text:?} does not)"))?;
    let bytes = if body.len() == 64 && body.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&body[i * 2..i * 2 + 2], 16).unwrap_or(0))
            .collect()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| format!("{text:?} is not a valid sha256 pin"))?
    };
    bytes
        .try_into()
        .map_err(|_| format!("{text:?} is not 32 bytes long"))
}

/// A rustls client configuration for `trust`, offering HTTP/2.
pub fn client_config(trust: &ServerTrust) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = match trust {
        ServerTrust::SystemRoots => {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(
                    "no trusted root certificates found on this system; give --server-pin".into(),
                );
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        ServerTrust::Pinned(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pin: *pin,
                provider,
                accept_any: false,
            }))
            .with_no_client_auth(),
        ServerTrust::InsecureSkipVerify => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pin: [0; 32],
                provider,
                accept_any: true,
            }))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts exactly the certificate whose public key hashes to the pin (names do not matter:
/// the key is the identity), and checks the handshake signatures with that key.
#[derive(Debug)]
struct PinnedVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
    accept_any: bool,
}

/// The message a pin mismatch carries, so the agent can tell it from other TLS errors.
pub const PIN_MISMATCH: &str = "server certificate does not match the pinned key";

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.accept_any {
            return Ok(ServerCertVerified::assertion());
        }
        let digest = spki_sha256(end_entity).map_err(rustls::Error::General)?;
        if bool::from(digest.ct_eq(&self.pin)) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(PIN_MISMATCH.into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_round_trip_in_base64_and_hex() {
        let digest = [7u8; 32];
        let pin = format_pin(&digest);
        assert!(pin.starts_with("sha256:"));
        assert_eq!(parse_pin(&pin).unwrap(), digest);
        assert_eq!(
            parse_pin(&format!("sha256:{}", "07".repeat(32))).unwrap(),
            digest
        );
        assert!(parse_pin("md5:abc").is_err());
        assert!(parse_pin("sha256:AAAA").is_err());
        assert!(parse_pin("sha256:@@@").is_err());
    }
}
