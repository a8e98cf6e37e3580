//! Agents and their enrollment: tokens with install snippets, listing, editing, revoking and
//! deleting.
use proto::clock::now_s;
use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};

use app::{
    AgentInfo, AgentPatch, AgentStatus, ApiError, ConnectionState, CreatedEnrollmentToken,
    EnrolledAgent, EnrollmentTokenInfo, Field, HostOverview, Me, Metric, NewEnrollmentToken,
    Sparklines, TokenKind, TokenState,
};

use super::ingest::ENROLLMENT_TOKEN_PREFIX;
use super::snippets::install_templates;
use super::{Vantage, internal};
use crate::auth;
use crate::live::HostNames;
use crate::store::{AgentRow, EnrollmentTokenRow};

/// Where agents reach this server, as the install snippets must say it.
#[derive(Debug, Clone)]
pub struct InstallContext {
    /// `grpcs://host:port`.
    pub grpc_url: String,
    /// `http(s)://host[:port]` of the dashboard, for `install.sh` and the agent download.
    pub http_url: String,
    /// The certificate pin, when the server's certificate is self-signed.
    pub pin: Option<String>,
    /// SHA-256 of `install.sh` as this server serves it at `http_url`.
    pub install_sha256: String,
    /// Where the docker snippets get the image.
    pub image: super::snippets::ImageSource,
    /// The token's uses (`None`: any number) and expiry (RFC 3339), for the snippets' notes.
    pub max_uses: Option<i64>,
    pub expires_at: String,
    pub warnings: Vec<String>,
}

/// The gRPC address for install snippets: `--grpc-public-url`, or the request's host with the
/// gRPC port. Warns when agents elsewhere could not reach it.
pub fn resolve_grpc_url(
    public_url: Option<&str>,
    request_host: Option<&str>,
    grpc_port: u16,
) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    let address = match public_url.map(agent::stream::ServerAddress::parse) {
        Some(Ok(address)) => address,
        Some(Err(e)) => {
            warnings.push(format!(
                "--grpc-public-url is unusable ({e}); using the request's host instead."
            ));
            host_address(request_host, grpc_port)
        }
        None => host_address(request_host, grpc_port),
    };
    if let Some(kind) = unreachable_kind(&address.host) {
        warnings.push(format!(
            "Agents will connect to {address}, {kind}: hosts elsewhere cannot reach it. Set --grpc-public-url \
             (VANTAGE_GRPC_PUBLIC_URL) to the address agents should use, and listen on it with --grpc-listen."
        ));
    }
    (address.to_string(), warnings)
}

fn host_address(request_host: Option<&str>, grpc_port: u16) -> agent::stream::ServerAddress {
    let host = request_host.unwrap_or("localhost");
    let host = if let Some(inner) = host.strip_prefix('[') {
        inner.split(']').next().unwrap_or(inner)
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.parse::<u16>().is_ok())
            .map_or(host, |(h, _)| h)
    };
    agent::stream::ServerAddress {
        host: host.to_owned(),
        port: grpc_port,
    }
}

/// "a loopback address" or "a private address" when the host resolves to one.
fn unreachable_kind(host: &str) -> Option<&'static str> {
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (host, 0)
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip()).collect())
            .unwrap_or_default(),
    };
    if addresses.iter().any(|ip| ip.is_loopback()) {
        return Some("a loopback address");
    }
    let private = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    addresses.iter().any(private).then_some("a private address")
}

fn enrollment_info(
    row: &EnrollmentTokenRow,
    agents: Vec<EnrolledAgent>,
    now: i64,
) -> EnrollmentTokenInfo {
    let state = if row.used_up() {
        TokenState::Used
    } else if row.expires_at <= now {
        TokenState::Expired
    } else {
        TokenState::Active
    };
    EnrollmentTokenInfo {
        id: row.enrollment_token_id,
        masked: row.token_hint.clone(),
        state,
        created_at: app::rfc3339_from_millis(row.created_at * 1000),
        expires_at: app::rfc3339_from_millis(row.expires_at * 1000),
        used_by_agent_id: row.used_by_agent_id.clone(),
        max_uses: row.max_uses,
        uses: row.uses,
        agents,
    }
}

fn agent_info(row: &AgentRow, connection_state: ConnectionState) -> AgentInfo {
    AgentInfo {
        id: row.agent_id.clone(),
        label: row.label.clone(),
        hostname: row.hostname.clone(),
        tags: row.tags.clone(),
        status: row.status,
        connection_state,
        runtime: row.runtime,
        os: row.os.clone(),
        arch: row.arch.clone(),
        agent_version: row.agent_version.clone(),
        created_at: app::rfc3339_from_millis(row.created_at * 1000),
        last_seen: row.last_seen_at.map(|t| app::rfc3339_from_millis(t * 1000)),
        dropped_events: row.dropped_events.max(0) as u64,
    }
}

fn unknown_agent(agent_id: &str) -> ApiError {
    ApiError::UnknownAgent(agent_id.to_owned())
}

impl Vantage {
    /// Creates an enrollment token (one host, or a fleet), with snippets that reach this
    /// server the way the requesting browser or client does (`request_host` is its Host
    /// header).
    pub async fn create_enrollment_token_for(
        &self,
        caller: &Me,
        request: NewEnrollmentToken,
        request_host: Option<String>,
        https: bool,
    ) -> Result<CreatedEnrollmentToken, ApiError> {
        super::users::allow(caller, app::Role::Admin)?;
        let grpc = self
            .grpc
            .get()
            .cloned()
            .ok_or(ApiError::ServerModeRequired)?;
        let host = request_host.unwrap_or_else(|| "localhost".to_owned());
        let http_url = format!("{}://{host}", if https { "https" } else { "http" });
        // Name resolution for the reachability warning may block.
        let (grpc_url, mut warnings) = tokio::task::spawn_blocking(move || {
            resolve_grpc_url(grpc.public_url.as_deref(), Some(&host), grpc.port)
        })
        .await
        .map_err(internal)?;
        let distribution = self.distribution(&http_url).await?;
        warnings.extend(distribution.warnings);
        let context = InstallContext {
            grpc_url,
            http_url,
            pin: grpc.pin,
            install_sha256: distribution.install_sha256,
            image: distribution.image,
            max_uses: request.max_uses,
            expires_at: String::new(),
            warnings,
        };
        let mut created = self
            .create_enrollment_token(caller, request, context)
            .await?;
        created.builds = distribution.builds;
        Ok(created)
    }

    /// Creates an enrollment token and the snippets that use it. `context.max_uses` and
    /// `expires_at` are taken from the request and the stored token.
    pub async fn create_enrollment_token(
        &self,
        caller: &Me,
        request: NewEnrollmentToken,
        mut context: InstallContext,
    ) -> Result<CreatedEnrollmentToken, ApiError> {
        let ttl_hours = request.ttl_hours.unwrap_or(24);
        app::text::check_enrollment_ttl(ttl_hours).map_err(|m| ApiError::invalid(Field::Ttl, m))?;
        app::text::check_enrollment_max_uses(request.max_uses)
            .map_err(|m| ApiError::invalid(Field::MaxUses, m))?;
        let token = auth::new_secret(ENROLLMENT_TOKEN_PREFIX).map_err(internal)?;
        let hint = auth::mask_with(ENROLLMENT_TOKEN_PREFIX, &token);
        let row = self
            .store
            .create_enrollment_token(
                &auth::sha256_hex(&token),
                &hint,
                caller.user_id,
                now_s() + ttl_hours * 3600,
                request.max_uses,
            )
            .await?;
        tracing::info!(
            user_id = caller.user_id,
            token_id = row.enrollment_token_id,
            ttl_hours,
            max_uses = ?request.max_uses,
            "enrollment token issued"
        );
        let detail = match request.max_uses {
            Some(n) => format!("{hint}, {ttl_hours} h, up to {n} hosts"),
            None => format!("{hint}, {ttl_hours} h"),
        };
        self.audit(super::audit::Act {
            actor: &caller.username,
            action: "enrollment_token.create",
            subject: &row.enrollment_token_id.to_string(),
            detail: &detail,
        })
        .await?;
        let info = enrollment_info(&row, Vec::new(), now_s());
        context.max_uses = row.max_uses;
        context.expires_at = info.expires_at.clone();
        Ok(CreatedEnrollmentToken {
            grpc_url: context.grpc_url.clone(),
            pin: context.pin.clone(),
            install_templates: install_templates(&token, &context),
            token,
            info,
            builds: Vec::new(),
            warnings: context.warnings,
        })
    }

    /// Every enrollment token, masked, with the agents each enrolled.
    pub async fn list_enrollment_tokens(
        &self,
        _caller: &Me,
    ) -> Result<Vec<EnrollmentTokenInfo>, ApiError> {
        let now = now_s();
        let mut enrolled = self.enrolled_agents().await?;
        Ok(self
            .store
            .list_enrollment_tokens()
            .await?
            .iter()
            .map(|r| {
                let agents = enrolled.remove(&r.enrollment_token_id).unwrap_or_default();
                enrollment_info(r, agents, now)
            })
            .collect())
    }

    /// One enrollment token and the agents it enrolled.
    pub async fn enrollment_token(
        &self,
        _caller: &Me,
        id: i64,
    ) -> Result<EnrollmentTokenInfo, ApiError> {
        let row = self
            .store
            .enrollment_token(id)
            .await?
            .ok_or(ApiError::UnknownToken {
                kind: TokenKind::Enrollment,
                id,
            })?;
        let agents = self
            .enrolled_agents()
            .await?
            .remove(&id)
            .unwrap_or_default();
        Ok(enrollment_info(&row, agents, now_s()))
    }

    async fn enrolled_agents(&self) -> Result<HashMap<i64, Vec<EnrolledAgent>>, ApiError> {
        let mut by_token: HashMap<i64, Vec<EnrolledAgent>> = HashMap::new();
        for (token_id, agent_id, label) in self.store.agents_by_enrollment_token().await? {
            by_token
                .entry(token_id)
                .or_default()
                .push(EnrolledAgent { agent_id, label });
        }
        Ok(by_token)
    }

    /// Deletes an enrollment token.
    pub async fn delete_enrollment_token(&self, caller: &Me, id: i64) -> Result<(), ApiError> {
        super::users::allow(caller, app::Role::Admin)?;
        if !self.store.delete_enrollment_token(id).await? {
            return Err(ApiError::UnknownToken {
                kind: TokenKind::Enrollment,
                id,
            });
        }
        self.audit(super::audit::Act {
            actor: &caller.username,
            action: "enrollment_token.delete",
            subject: &id.to_string(),
            detail: "",
        })
        .await?;
        Ok(())
    }

    fn connection_state(&self, agent_id: &str) -> ConnectionState {
        self.live
            .summary(
                agent_id,
                &HostNames {
                    label: String::new(),
                    hostname: String::new(),
                },
            )
            .connection_state
    }

    /// Every agent.
    pub async fn list_agents(&self, _caller: &Me) -> Result<Vec<AgentInfo>, ApiError> {
        let rows = self.store.list_agents().await?;
        Ok(rows
            .iter()
            .map(|r| agent_info(r, self.connection_state(&r.agent_id)))
            .collect())
    }

    /// One agent.
    pub async fn agent(&self, _caller: &Me, agent_id: &str) -> Result<AgentInfo, ApiError> {
        let row = self
            .store
            .agent(agent_id)
            .await?
            .ok_or_else(|| unknown_agent(agent_id))?;
        Ok(agent_info(&row, self.connection_state(agent_id)))
    }

    /// Changes label and/or tags.
    pub async fn update_agent(
        &self,
        caller: &Me,
        agent_id: &str,
        patch: AgentPatch,
    ) -> Result<AgentInfo, ApiError> {
        super::users::allow(caller, app::Role::Admin)?;
        // An empty label means the hostname.
        let hostname;
        let mut label = patch.label.as_deref().map(str::trim);
        if label == Some("") {
            hostname = self
                .store
                .agent(agent_id)
                .await?
                .ok_or_else(|| unknown_agent(agent_id))?
                .hostname;
            label = Some(hostname.as_str());
        }
        if let Some(label) = label {
            app::text::check_label(label).map_err(|m| ApiError::invalid(Field::Label, m))?;
        }
        let tags: Option<Vec<String>> = patch
            .tags
            .map(|t| t.into_iter().map(|t| t.trim().to_owned()).collect());
        if let Some(tags) = &tags {
            app::text::check_tags(tags).map_err(|m| ApiError::invalid(Field::Tags, m))?;
        }
        if !self
            .store
            .update_agent(agent_id, label, tags.as_deref())
            .await?
        {
            return Err(unknown_agent(agent_id));
        }
        let agent = self.agent(caller, agent_id).await?;
        let names = HostNames {
            label: agent.label.clone(),
            hostname: agent.hostname.clone(),
        };
        self.live.rename(agent_id, names);
        self.alert_tags_changed(agent_id, Some(&agent.tags));
        Ok(agent)
    }

    /// Revokes an agent: it may never connect again, and its live stream ends now.
    pub async fn revoke_agent(&self, caller: &Me, agent_id: &str) -> Result<AgentInfo, ApiError> {
        super::users::allow(caller, app::Role::Admin)?;
        if !self.store.revoke_agent(agent_id).await? {
            return Err(unknown_agent(agent_id));
        }
        self.streams.revoke(agent_id);
        tracing::info!(%agent_id, "agent revoked");
        self.audit(super::audit::Act {
            actor: &caller.username,
            action: "agent.revoke",
            subject: agent_id,
            detail: "",
        })
        .await?;
        self.agent(caller, agent_id).await
    }

    /// Revokes an agent and deletes every row that belongs to it.
    pub async fn delete_agent(&self, caller: &Me, agent_id: &str) -> Result<(), ApiError> {
        super::users::allow(caller, app::Role::Admin)?;
        self.store.revoke_agent(agent_id).await?;
        self.streams.revoke(agent_id);
        if !self.store.delete_agent(agent_id).await? {
            return Err(unknown_agent(agent_id));
        }
        self.live.remove(agent_id);
        self.alert_tags_changed(agent_id, None);
        tracing::info!(%agent_id, "agent deleted with its data");
        self.audit(super::audit::Act {
            actor: &caller.username,
            action: "agent.delete",
            subject: agent_id,
            detail: "with its data",
        })
        .await?;
        Ok(())
    }

    /// The local host and every agent, with their newest figures, running containers and
    /// the last hour of CPU and memory (the fleet overview's rows).
    pub async fn hosts(&self, _caller: &Me) -> Result<Vec<HostOverview>, ApiError> {
        let running = self.store.running_containers().await?;
        let now_ms = proto::clock::now_ms();
        let mut sparks = self.sparklines(now_ms).await?;
        let local = std::iter::once((self.live.local_summary(), None));
        let agents = self.store.list_agents().await?.into_iter().map(|row| {
            let names = HostNames {
                label: row.label.clone(),
                hostname: row.hostname.clone(),
            };
            (self.live.summary(&row.agent_id, &names), Some(row))
        });
        Ok(local
            .chain(agents)
            .map(|(s, row)| {
                let f = s.latest.as_ref();
                let key = row.as_ref().map(|r| r.agent_id.clone());
                HostOverview {
                    running_containers: running.get(&s.agent_id).copied().unwrap_or(0),
                    id: s.agent_id.clone(),
                    label: s.label.clone(),
                    hostname: s.hostname.clone(),
                    connection_state: s.connection_state,
                    cpu_pct: f.map(|f| f.cpu_pct),
                    memory_pct: f.map(|f| f.memory_pct),
                    disk_pct: f.map(|f| f.disk_pct),
                    last_seen: f.map(|f| f.taken_at.clone()),
                    last_seen_ms: f.map(|f| f.taken_at_ms),
                    load1: f.map(|f| f.load[0]),
                    cores: f.map(|f| f.cpu_per_core_pct.len() as u32),
                    net_rx_bytes_per_s: f.map(|f| f.net_rx_bytes_per_s),
                    net_tx_bytes_per_s: f.map(|f| f.net_tx_bytes_per_s),
                    uptime_s: f.map(|f| f.uptime_s),
                    spark: sparks.remove(&key).unwrap_or_else(empty_sparklines),
                    tags: row.as_ref().map(|r| r.tags.clone()).unwrap_or_default(),
                    status: row.as_ref().map_or(AgentStatus::Active, |r| r.status),
                    agent_version: row.map(|r| r.agent_version),
                }
            })
            .collect())
    }

    /// Every host's last hour of CPU and memory in [`Sparklines::BUCKETS`] buckets, keyed
    /// by agent id (`None`: the local host), from one read of the 1-minute rollups.
    async fn sparklines(
        &self,
        now_ms: i64,
    ) -> Result<HashMap<Option<String>, Sparklines>, ApiError> {
        let step_ms = Sparklines::SPAN_S * 1_000 / Sparklines::BUCKETS as i64;
        // Buckets aligned to the step, the newest one holding now.
        let first_ms = (now_ms.div_euclid(step_ms) + 1 - Sparklines::BUCKETS as i64) * step_ms;
        let means = self
            .store
            .fleet_means(
                &[Metric::Cpu, Metric::Memory],
                first_ms,
                now_ms + 1,
                step_ms,
            )
            .await?;
        Ok(means
            .into_iter()
            .map(|(host, series)| {
                let mut spark = empty_sparklines();
                for (ts, values) in series {
                    let Ok(i) = usize::try_from((ts - first_ms) / step_ms) else {
                        continue;
                    };
                    if i < Sparklines::BUCKETS {
                        spark.cpu[i] = values.first().copied().map(tenth);
                        spark.memory[i] = values.get(1).copied().map(tenth);
                    }
                }
                (host, spark)
            })
            .collect())
    }
}

/// A share to a tenth of a percent: all a 16-pixel line can show, and the overview's page
/// carries 60 of these per host (rollup means have all their digits: 41.7 is 4 bytes of JSON,
/// 41.733333333333334 is 18).
fn tenth(pct: f64) -> f64 {
    (pct * 10.0).round() / 10.0
}

fn empty_sparklines() -> Sparklines {
    Sparklines {
        step_s: Sparklines::SPAN_S / Sparklines::BUCKETS as i64,
        cpu: vec![None; Sparklines::BUCKETS],
        memory: vec![None; Sparklines::BUCKETS],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_url_from_flag_or_host_with_warnings() {
        let (url, warnings) = resolve_grpc_url(
            Some("grpcs://vantage.example.com"),
            Some("127.0.0.1:8080"),
            8443,
        );
        assert_eq!(url, "grpcs://vantage.example.com:443");
        assert!(
            warnings.is_empty() || warnings[0].contains("vantage.example.com"),
            "{warnings:?}"
        );
        let (url, warnings) = resolve_grpc_url(None, Some("127.0.0.1:8080"), 8443);
        assert_eq!(url, "grpcs://127.0.0.1:8443");
        assert!(warnings[0].contains("loopback"), "{warnings:?}");
        let (url, warnings) = resolve_grpc_url(None, Some("192.168.1.20"), 9443);
        assert_eq!(url, "grpcs://192.168.1.20:9443");
        assert!(warnings[0].contains("private"), "{warnings:?}");
        let (url, _) = resolve_grpc_url(None, Some("[::1]:8080"), 8443);
        assert_eq!(url, "grpcs://[::1]:8443");
        let (_, warnings) = resolve_grpc_url(Some("http://x"), Some("203.0.113.9"), 8443);
        assert!(warnings[0].contains("unusable"));
    }
}
