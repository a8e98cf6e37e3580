//! What the install snippets fetch: `install.sh`, the agent builds and the agent image, each
//! with the SHA-256 the step before it checks.
use std::sync::Arc;

use app::{AgentBuildInfo, ApiError, BuildState};

use super::snippets::{ImageSource, install_script, sha256_hex};
use super::{Vantage, internal};
use crate::downloads::{ARCHITECTURES, Download, Downloads, ReadyFile};

/// What a snippet made now carries about the downloads.
pub(super) struct Distribution {
    pub install_sha256: String,
    pub image: ImageSource,
    pub builds: Vec<AgentBuildInfo>,
    pub warnings: Vec<String>,
}

impl Vantage {
    fn downloads_dir(&self) -> Result<Arc<Downloads>, ApiError> {
        self.downloads.get().cloned().ok_or_else(|| {
            tracing::error!("agent downloads asked for before start-up set them");
            ApiError::Internal
        })
    }

    /// Every download and whether it is there (digests are computed off the runtime).
    pub async fn agent_builds(&self) -> Result<Vec<AgentBuildInfo>, ApiError> {
        let downloads = self.downloads_dir()?;
        tokio::task::spawn_blocking(move || downloads.builds())
            .await
            .map_err(internal)
    }

    /// The file behind `/download/vantage-agent/<target>` (`linux-<arch>`).
    pub async fn agent_download(&self, target: &str) -> Result<ReadyFile, ApiError> {
        let download = target
            .strip_prefix("linux-")
            .and_then(Download::agent)
            .ok_or_else(|| ApiError::UnknownTarget(target.to_owned()))?;
        self.ready_download(download).await
    }

    /// The file behind `/download/vantage-agent-image.tar`.
    pub async fn image_download(&self) -> Result<ReadyFile, ApiError> {
        self.ready_download(Download::Image).await
    }

    async fn ready_download(&self, download: Download) -> Result<ReadyFile, ApiError> {
        let downloads = self.downloads_dir()?;
        let dir = downloads.dir().to_owned();
        let ready = tokio::task::spawn_blocking(move || downloads.ready(download))
            .await
            .map_err(internal)?;
        ready.map_err(|state| ApiError::AgentBuildMissing {
            target: download.target(),
            building: state == BuildState::Building,
            path: dir.join(download.file_name()).display().to_string(),
        })
    }

    /// `install.sh` for a server reached at `vantage_url`, with the digest of every build
    /// that is there now.
    pub async fn install_script(&self, vantage_url: &str) -> Result<String, ApiError> {
        let builds = self.agent_builds().await?;
        Ok(install_script(vantage_url, &build_digests(&builds)))
    }

    /// The digests and warnings a snippet for `http_url` carries.
    pub(super) async fn distribution(&self, http_url: &str) -> Result<Distribution, ApiError> {
        let builds = self.agent_builds().await?;
        let script = install_script(http_url, &build_digests(&builds));
        let registry = self.downloads_dir()?.registry_image().map(str::to_owned);
        let mut warnings = Vec::new();
        for build in &builds {
            let is_image = build.target == Download::Image.target();
            if is_image && registry.is_some() {
                continue;
            }
            let what = if is_image {
                "The agent image (for the docker, compose and Kubernetes snippets)".to_owned()
            } else {
                format!("The agent build for {}", build.target)
            };
            match build.state {
                BuildState::Ready => {}
                BuildState::Building => warnings.push(format!(
                    "{what} is still being built: snippets for it fail until it is done; generate the token again then."
                )),
                BuildState::Missing => warnings.push(format!(
                    "{what} is missing on this server: run scripts/build-agents (or copy it into the downloads directory, see the README) before pasting."
                )),
            }
        }
        let image = match registry {
            Some(name) => ImageSource::Registry(name),
            None => ImageSource::Served {
                sha256: builds
                    .iter()
                    .find(|b| b.target == Download::Image.target())
                    .and_then(|b| b.sha256.clone()),
            },
        };
        Ok(Distribution {
            install_sha256: sha256_hex(script.as_bytes()),
            image,
            builds,
            warnings,
        })
    }
}

/// `(arch, digest)` of each agent build, as `install.sh` carries them.
fn build_digests(builds: &[AgentBuildInfo]) -> Vec<(&'static str, Option<String>)> {
    ARCHITECTURES
        .iter()
        .map(|arch| {
            let target = Download::Agent(arch).target();
            let digest = builds
                .iter()
                .find(|b| b.target == target)
                .and_then(|b| b.sha256.clone());
            (*arch, digest)
        })
        .collect()
}
