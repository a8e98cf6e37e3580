//! The agent downloads this server hands out: the static agent builds per architecture and
//! the agent's container image (`docker save` form), read from one directory
//! (`--agent-downloads`). Each file's SHA-256 is what the install snippets and `install.sh`
//! carry; it is computed once per version of the file (by size and modification time).
//! `scripts/run` marks a file it is still building with `<file>.building`.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use app::{AgentBuildInfo, BuildState};
use sha2::{Digest, Sha256};

/// The architectures with an agent build, as `install.sh` names them (`uname -m`, folded).
pub const ARCHITECTURES: [&str; 2] = ["x86_64", "aarch64"];
/// The image file's name, which is also its download path under `/download/`.
pub const IMAGE_FILE: &str = "vantage-agent-image.tar";

/// One download: which file, where it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    Agent(&'static str),
    Image,
}

impl Download {
    /// The agent build for `arch`, when there is one.
    pub fn agent(arch: &str) -> Option<Self> {
        ARCHITECTURES
            .iter()
            .find(|a| **a == arch)
            .map(|a| Self::Agent(a))
    }

    /// Every download, agents first.
    pub fn all() -> impl Iterator<Item = Self> {
        ARCHITECTURES
            .iter()
            .map(|a| Self::Agent(a))
            .chain([Self::Image])
    }

    /// The file's name in the directory.
    pub fn file_name(self) -> String {
        match self {
            Self::Agent(arch) => format!("vantage-agent-linux-{arch}"),
            Self::Image => IMAGE_FILE.to_owned(),
        }
    }

    /// `linux-x86_64`, …, `image`.
    pub fn target(self) -> String {
        match self {
            Self::Agent(arch) => format!("linux-{arch}"),
            Self::Image => "image".to_owned(),
        }
    }

    /// The path it is served at.
    pub fn path(self) -> String {
        match self {
            Self::Agent(arch) => format!("/download/vantage-agent/linux-{arch}"),
            Self::Image => format!("/download/{IMAGE_FILE}"),
        }
    }
}

/// A ready download: its file and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyFile {
    pub path: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<SystemTime>,
}

/// The download directory and the digests computed so far.
#[derive(Debug)]
pub struct Downloads {
    dir: PathBuf,
    /// `--agent-image`: the registry image the docker snippets name instead of loading ours.
    registry_image: Option<String>,
    digests: Mutex<HashMap<PathBuf, (Stamp, String)>>,
}

impl Downloads {
    pub fn new(dir: PathBuf, registry_image: Option<String>) -> Self {
        Self {
            dir,
            registry_image,
            digests: Mutex::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn registry_image(&self) -> Option<&str> {
        self.registry_image.as_deref()
    }

    /// The file of `download` with its digest, or its state when it is not there.
    /// Blocking (reads the file when it changed): call it from a blocking task.
    pub fn ready(&self, download: Download) -> Result<ReadyFile, BuildState> {
        let path = self.dir.join(download.file_name());
        let Some(meta) = std::fs::metadata(&path).ok().filter(|m| m.is_file()) else {
            let marker = self.dir.join(format!("{}.building", download.file_name()));
            return Err(if marker.exists() {
                BuildState::Building
            } else {
                BuildState::Missing
            });
        };
        let stamp = Stamp {
            size: meta.len(),
            modified: meta.modified().ok(),
        };
        let known = self
            .digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&path)
            .filter(|(s, _)| *s == stamp)
            .map(|(_, digest)| digest.clone());
        let sha256 = match known {
            Some(digest) => digest,
            None => {
                let digest = sha256_file(&path).map_err(|e| {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read an agent download");
                    BuildState::Missing
                })?;
                self.digests
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(path.clone(), (stamp.clone(), digest.clone()));
                digest
            }
        };
        Ok(ReadyFile {
            path,
            sha256,
            size_bytes: stamp.size,
        })
    }

    /// Every download and its state, as the API lists them.
    pub fn builds(&self) -> Vec<AgentBuildInfo> {
        Download::all()
            .map(|download| {
                let ready = self.ready(download);
                AgentBuildInfo {
                    target: download.target(),
                    state: match &ready {
                        Ok(_) => BuildState::Ready,
                        Err(state) => *state,
                    },
                    path: download.path(),
                    sha256: ready.as_ref().ok().map(|r| r.sha256.clone()),
                    size_bytes: ready.as_ref().ok().map(|r| r.size_bytes),
                }
            })
            .collect()
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_ready_with_its_digest_and_a_marker_means_building() {
        let dir = tempfile::tempdir().unwrap();
        let downloads = Downloads::new(dir.path().to_owned(), None);
        let x86 = Download::agent("x86_64").unwrap();
        assert_eq!(downloads.ready(x86), Err(BuildState::Missing));
        std::fs::write(dir.path().join("vantage-agent-linux-x86_64.building"), "").unwrap();
        assert_eq!(downloads.ready(x86), Err(BuildState::Building));
        std::fs::write(dir.path().join("vantage-agent-linux-x86_64"), b"abc").unwrap();
        let ready = downloads.ready(x86).unwrap();
        // SHA-256("abc"), the FIPS 180-2 example.
        assert_eq!(
            ready.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ready.size_bytes, 3);
        std::fs::write(dir.path().join("vantage-agent-linux-x86_64"), b"abcd").unwrap();
        assert_ne!(downloads.ready(x86).unwrap().sha256, ready.sha256);
        assert_eq!(Download::agent("armv7"), None);
        let builds = downloads.builds();
        assert_eq!(
            builds.iter().map(|b| b.state).collect::<Vec<_>>(),
            [BuildState::Ready, BuildState::Missing, BuildState::Missing]
        );
        assert_eq!(builds[2].path, "/download/vantage-agent-image.tar");
    }
}
