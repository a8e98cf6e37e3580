//! Secrets at rest: ChaCha20-Poly1305 under a 256-bit key kept in a file of the data dir
//! (mode 0600, refused when looser). Each sealed value has its own random nonce and names
//! its purpose as associated data, so a value sealed for one column does not open in another.
//! Replicas sharing one PostgreSQL share this file (`--secret-key-file`).
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

const KEY_LEN: usize = 32;
/// The version byte in front of every sealed value.
const VERSION: u8 = 1;

/// The key secrets are sealed with.
pub struct SealKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(…)")
    }
}

impl SealKey {
    /// Reads the key file, or creates it (0600) with a fresh random key.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let bytes = match std::fs::metadata(path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    bail!(
                        "{} is readable by others (mode {mode:o}); chmod 600 it",
                        path.display()
                    );
                }
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                hex::decode(text.trim())
                    .ok()
                    .filter(|b| b.len() == KEY_LEN)
                    .with_context(|| {
                        format!("{} does not hold a 64-digit hex key", path.display())
                    })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = vec![0u8; KEY_LEN];
                SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| anyhow::anyhow!("no randomness for a new key"))?;
                crate::grpc::tls::write_private(
                    path,
                    format!("{}\n", hex::encode(&bytes)).as_bytes(),
                )?;
                bytes
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let key = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .map_err(|_| anyhow::anyhow!("the secret key has the wrong length"))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// A key for tests.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self::from_bytes(&[7u8; KEY_LEN]).expect("32 bytes")
    }

    /// `plain` sealed for `purpose`, as base64 text.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
        let mut buffer = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buffer.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buffer);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Opens what [`seal`](Self::seal) made for the same purpose.
    pub fn open(&self, purpose: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .context("a sealed value is not base64")?;
        if bytes.len() < 1 + NONCE_LEN || bytes[0] != VERSION {
            bail!("a sealed value has an unknown form");
        }
        let nonce: [u8; NONCE_LEN] = bytes[1..1 + NONCE_LEN].try_into().expect("length checked");
        let mut buffer = bytes[1 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| {
                anyhow::anyhow!("a sealed value does not open: another key file, or it was altered")
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_purpose() {
        let key = SealKey::for_tests();
        let sealed = key.seal("channel", b"https://hooks.slack.com/x").unwrap();
        assert!(!sealed.contains("hooks"));
        assert_eq!(
            key.open("channel", &sealed).unwrap(),
            b"https://hooks.slack.com/x"
        );
        assert!(key.open("totp", &sealed).is_err());
        let other = SealKey::from_bytes(&[8u8; KEY_LEN]).unwrap();
        assert!(other.open("channel", &sealed).is_err());
        // Two seals of one value differ (fresh nonces).
        assert_ne!(
            sealed,
            key.seal("channel", b"https://hooks.slack.com/x").unwrap()
        );
    }

    #[test]
    fn the_key_file_is_private_and_loose_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let first = SealKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = first.seal("p", b"x").unwrap();
        let again = SealKey::load_or_create(&path).unwrap();
        assert_eq!(again.open("p", &sealed).unwrap(), b"x");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SealKey::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
