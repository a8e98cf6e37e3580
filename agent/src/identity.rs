//! The agent's identity: its id, its Ed25519 key and the server it enrolled with, kept in
//! `identity.json` in the state dir, readable by the owner only.
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

/// File name inside the state dir.
pub const FILE_NAME: &str = "identity.json";

/// What enrollment produced.
#[derive(Clone, Serialize, Deserialize)]
pub struct Identity {
    /// The UUID the server gave this agent.
    pub agent_id: String,
    /// Ed25519 secret key, base64 of 32 bytes.
    pub private_key: String,
    /// `grpcs://host:port` of the server.
    pub server: String,
    /// SPKI pin of the server certificate, when pinned.
    pub server_pin: Option<String>,
    /// The label the agent enrolled with.
    pub label: String,
    /// Unix seconds.
    pub enrolled_at: i64,
    /// The server's Ed25519 key for action tokens and log checkpoints, base64, pinned at
    /// enrollment (absent for agents enrolled before signed actions: they run none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_key: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Identity")
            .field("agent_id", &self.agent_id)
            .field("server", &self.server)
            .finish()
    }
}

/// Why an identity file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` and start again"
    )]
    TooOpen { path: String, mode: u32 },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({reason}); remove it and enroll again with a new token")]
    Damaged { path: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A fresh Ed25519 key from the operating system's randomness.
pub fn generate_key() -> anyhow::Result<SigningKey> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(SigningKey::from_bytes(&secret))
}

impl Identity {
    /// The signing key.
    pub fn signing_key(&self, path: &Path) -> Result<SigningKey, IdentityError> {
        let damaged = |reason: &str| IdentityError::Damaged {
            path: path.display().to_string(),
            reason: reason.into(),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.private_key)
            .map_err(|_| damaged("key is not base64"))?;
        let secret: [u8; 32] = bytes
            .try_into()
            .map_err(|_| damaged("key is not 32 bytes"))?;
        Ok(SigningKey::from_bytes(&secret))
    }

    /// The agent id as 16 bytes.
    pub fn uuid(&self, path: &Path) -> Result<uuid::Uuid, IdentityError> {
        uuid::Uuid::parse_str(&self.agent_id).map_err(|_| IdentityError::Damaged {
            path: path.display().to_string(),
            reason: "agent_id is not a UUID".into(),
        })
    }

    /// Encodes a key for storage.
    pub fn encode_key(key: &SigningKey) -> String {
        base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
    }
}

/// The identity file in `state_dir`.
pub fn path_in(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Loads the identity; `None` when the agent has not enrolled yet. A file other users can
/// read is refused rather than used.
pub fn load(path: &Path) -> Result<Option<Identity>, IdentityError> {
    let shown = path.display().to_string();
    if let Some(dir) = path.parent().filter(|d| d.exists()) {
        crate::files::check_private_dir(dir).map_err(|e| IdentityError::Read {
            path: shown.clone(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()),
        })?;
    }
    // Not followed: a symlink in the state dir is refused, never read through.
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(IdentityError::Read {
                path: shown,
                source,
            });
        }
    };
    if !metadata.is_file() {
        return Err(IdentityError::Damaged {
            path: shown,
            reason: "it is a symlink or not a regular file".into(),
        });
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::TooOpen { path: shown, mode });
    }
    let bytes = crate::files::read_regular(path).map_err(|source| IdentityError::Read {
        path: shown.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| IdentityError::Damaged {
        path: shown.clone(),
        reason: "it is not UTF-8".into(),
    })?;
    let identity: Identity = serde_json::from_str(&text).map_err(|e| IdentityError::Damaged {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    identity.signing_key(path)?;
    identity.uuid(path)?;
    Ok(Some(identity))
}

/// Writes the identity atomically with mode 0600 (the state dir is created 0700).
pub fn save(path: &Path, identity: &Identity) -> Result<(), IdentityError> {
    let shown = path.display().to_string();
    let write_error = |source| IdentityError::Write {
        path: shown.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_error)?;
        crate::files::check_private_dir(dir).map_err(|e| {
            write_error(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                e.to_string(),
            ))
        })?;
    }
    let text =
        serde_json::to_vec_pretty(identity).map_err(|e| write_error(std::io::Error::other(e)))?;
    crate::files::write_private(path, &text).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Identity {
        let key = generate_key().unwrap();
        Identity {
            agent_id: uuid::Uuid::new_v4().to_string(),
            private_key: Identity::encode_key(&key),
            server: "grpcs://vantage.example:8443".into(),
            server_pin: Some("sha256:abc".into()),
            label: "web-1".into(),
            enrolled_at: 1,
            server_key: None,
        }
    }

    #[test]
    fn saved_identity_is_private_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir.path().join("state"));
        assert!(load(&path).unwrap().is_none());
        let identity = sample();
        save(&path, &identity).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.agent_id, identity.agent_id);
        assert_eq!(
            loaded.signing_key(&path).unwrap().to_bytes(),
            identity.signing_key(&path).unwrap().to_bytes()
        );
        assert!(!format!("{loaded:?}").contains(&identity.private_key));
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        save(&path, &sample()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_damaged_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        std::fs::write(&path, "{not json").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("damaged"));
    }

    #[test]
    fn a_symlinked_identity_or_a_loose_state_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let real = dir.path().join("elsewhere.json");
        save(&real, &sample()).unwrap();
        let path = path_in(dir.path());
        std::os::unix::fs::symlink(&real, &path).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("symlink"));
        std::fs::remove_file(&path).unwrap();
        save(&path, &sample()).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("chmod 700"));
        assert!(
            save(&path, &sample())
                .unwrap_err()
                .to_string()
                .contains("chmod 700")
        );
    }
}
