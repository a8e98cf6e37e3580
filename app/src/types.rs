//! The data the REST API returns and the dashboard shows.
use serde::{Deserialize, Serialize};

/// The id the API uses for the machine the server itself runs on.
pub const LOCAL_AGENT_ID: &str = "local";

/// Whether the server currently hears from a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Samples arrive on time.
    Connected,
    /// Nothing heard within the staleness threshold.
    Disconnected,
}

/// One row of `GET /api/v1/resources/hosts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostOverview {
    /// `local` or the agent's UUID.
    pub id: String,
    /// Operator-chosen name, the hostname by default.
    pub label: String,
    /// The host's own name.
    pub hostname: String,
    /// Live or not.
    pub connection_state: ConnectionState,
    /// Busy CPU share in percent, when a sample exists.
    pub cpu_pct: Option<f64>,
    /// Used memory share in percent.
    pub memory_pct: Option<f64>,
    /// Used share of all real file systems in percent.
    pub disk_pct: Option<f64>,
    /// Containers running on the host.
    pub running_containers: u32,
    /// When the newest sample was taken (RFC 3339).
    pub last_seen: Option<String>,
    /// The same instant in Unix milliseconds.
    pub last_seen_ms: Option<i64>,
    /// Free-form tags (none for the local host).
    pub tags: Vec<String>,
    /// `active` or `revoked` (the local host is always active).
    pub status: crate::AgentStatus,
    /// The 1-minute load average.
    pub load1: Option<f64>,
    /// CPU cores, to read the load against.
    pub cores: Option<u32>,
    /// Received bytes per second over all interfaces.
    pub net_rx_bytes_per_s: Option<f64>,
    /// Transmitted bytes per second over all interfaces.
    pub net_tx_bytes_per_s: Option<f64>,
    /// Seconds since the host booted.
    pub uptime_s: Option<u64>,
    /// vantage-agent version (`None` for the local host, measured by the server itself).
    pub agent_version: Option<String>,
    /// The last hour of CPU and memory, for the overview's sparklines.
    pub spark: Sparklines,
}

/// The last hour of a host's CPU and memory shares in [`Sparklines::BUCKETS`] equal
/// buckets, oldest first; `None` where nothing was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Sparklines {
    /// Bucket length in seconds.
    pub step_s: i64,
    /// Mean busy CPU share per bucket, percent.
    pub cpu: Vec<Option<f64>>,
    /// Mean used memory share per bucket, percent.
    pub memory: Vec<Option<f64>>,
}

impl Sparklines {
    /// Buckets over the hour: one per two minutes.
    pub const BUCKETS: usize = 30;
    /// The hour they cover.
    pub const SPAN_S: i64 = 3600;
}

/// Per-file-system figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FilesystemFigures {
    /// Where it is mounted.
    pub mount_point: String,
    /// Backing device or share.
    pub device: String,
    /// File system type.
    pub fs_type: String,
    /// Size in bytes as `df` counts it: used plus available (the figure shown as its size).
    pub size_bytes: u64,
    /// Every block of the file system, including those reserved for root.
    pub total_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// Bytes an unprivileged user can still write.
    pub available_bytes: u64,
    /// Used share in percent, as `df` computes it.
    pub used_pct: f64,
}

/// Per-interface network rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InterfaceFigures {
    /// Interface name.
    pub name: String,
    /// Received bytes per second.
    pub rx_bytes_per_s: f64,
    /// Transmitted bytes per second.
    pub tx_bytes_per_s: f64,
}

/// Every figure of one host sample, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostFigures {
    /// When the sample was taken (RFC 3339).
    pub taken_at: String,
    /// Unix milliseconds of the same instant.
    pub taken_at_ms: i64,
    /// Seconds since the host booted.
    pub uptime_s: u64,
    /// Busy CPU share in percent.
    pub cpu_pct: f64,
    /// Busy share per core in percent.
    pub cpu_per_core_pct: Vec<f64>,
    /// 1, 5 and 15 minute load averages.
    pub load: [f64; 3],
    /// Memory size in bytes.
    pub memory_total_bytes: u64,
    /// Used memory in bytes (total minus available).
    pub memory_used_bytes: u64,
    /// Used memory share in percent.
    pub memory_pct: f64,
    /// Swap size in bytes.
    pub swap_total_bytes: u64,
    /// Used swap in bytes.
    pub swap_used_bytes: u64,
    /// Used share of all real file systems in percent: used ÷ (used + available).
    pub disk_pct: f64,
    /// Used bytes of all real file systems.
    pub disk_used_bytes: u64,
    /// Size of all real file systems, as `df` counts it (used + available).
    pub disk_size_bytes: u64,
    /// Each real file system.
    pub filesystems: Vec<FilesystemFigures>,
    /// Received bytes per second over all interfaces.
    pub net_rx_bytes_per_s: f64,
    /// Transmitted bytes per second over all interfaces.
    pub net_tx_bytes_per_s: f64,
    /// Each interface except loopback.
    pub interfaces: Vec<InterfaceFigures>,
}

/// `GET /api/v1/resources/summary`: one host and its newest figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostSummary {
    /// `local` or the agent's UUID.
    pub agent_id: String,
    /// Operator-chosen name.
    pub label: String,
    /// The host's own name.
    pub hostname: String,
    /// Live or not.
    pub connection_state: ConnectionState,
    /// Containers running on the host.
    pub running_containers: u32,
    /// The newest sample; `None` until the first collection finished.
    pub latest: Option<HostFigures>,
}

/// A metric the history API can chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Busy CPU share, percent.
    Cpu,
    /// Used memory share, percent.
    Memory,
    /// Used disk share, percent.
    Disk,
    /// Received bytes per second.
    NetRx,
    /// Transmitted bytes per second.
    NetTx,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 5] = [
        Metric::Cpu,
        Metric::Memory,
        Metric::Disk,
        Metric::NetRx,
        Metric::NetTx,
    ];

    /// The name used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::Disk => "disk",
            Metric::NetRx => "net_rx",
            Metric::NetTx => "net_tx",
        }
    }

    /// The unit of the values.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Cpu | Metric::Memory | Metric::Disk => "percent",
            Metric::NetRx | Metric::NetTx => "bytes_per_second",
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = crate::ApiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| crate::ApiError::InvalidMetric(s.to_owned()))
    }
}

/// A family of labelled series the history API charts beside the host totals: one series
/// per core, file system, interface or container, and swap and load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SeriesFamily {
    /// Busy share of each core, percent; labels `0`, `1`, …
    CpuCore,
    /// Used swap share, percent; one series, `swap`.
    Swap,
    /// Load average; labels `1m`, `5m`, `15m`.
    Load,
    /// Used share of each file system (used ÷ (used + available)), percent; labelled by
    /// mount point.
    Filesystem,
    /// Received bytes per second of each interface, labelled by name.
    InterfaceRx,
    /// Transmitted bytes per second of each interface, labelled by name.
    InterfaceTx,
    /// CPU share of each container (100 = one core), labelled by container name.
    ContainerCpu,
    /// Memory of each container, bytes, labelled by container name.
    ContainerMemory,
}

impl SeriesFamily {
    /// Every family, in display order.
    pub const ALL: [SeriesFamily; 8] = [
        SeriesFamily::CpuCore,
        SeriesFamily::Swap,
        SeriesFamily::Load,
        SeriesFamily::Filesystem,
        SeriesFamily::InterfaceRx,
        SeriesFamily::InterfaceTx,
        SeriesFamily::ContainerCpu,
        SeriesFamily::ContainerMemory,
    ];

    /// The name used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesFamily::CpuCore => "cpu_core",
            SeriesFamily::Swap => "swap",
            SeriesFamily::Load => "load",
            SeriesFamily::Filesystem => "filesystem",
            SeriesFamily::InterfaceRx => "interface_rx",
            SeriesFamily::InterfaceTx => "interface_tx",
            SeriesFamily::ContainerCpu => "container_cpu",
            SeriesFamily::ContainerMemory => "container_memory",
        }
    }

    /// The unit of the values.
    pub fn unit(self) -> &'static str {
        match self {
            SeriesFamily::CpuCore
            | SeriesFamily::Swap
            | SeriesFamily::Filesystem
            | SeriesFamily::ContainerCpu => "percent",
            SeriesFamily::Load => "load",
            SeriesFamily::InterfaceRx | SeriesFamily::InterfaceTx => "bytes_per_second",
            SeriesFamily::ContainerMemory => "bytes",
        }
    }

    /// Every family named in a comma-separated list (`cpu_core,load`), in display order.
    pub fn parse_list(list: &str) -> Result<Vec<SeriesFamily>, crate::ApiError> {
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            out.push(name.parse()?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl std::str::FromStr for SeriesFamily {
    type Err = crate::ApiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SeriesFamily::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| crate::ApiError::InvalidFamily(s.to_owned()))
    }
}

/// One time bucket of a history series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HistoryPoint {
    /// Start of the bucket, unix seconds.
    pub ts: i64,
    /// Start of the bucket, RFC 3339.
    pub time: String,
    /// Mean of the samples in the bucket.
    pub avg: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

/// `GET /api/v1/resources/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct History {
    /// `local` or the agent's UUID.
    pub agent_id: String,
    /// The metric charted.
    pub metric: Metric,
    /// `percent` or `bytes_per_second`.
    pub unit: String,
    /// Start of the range, unix seconds (inclusive).
    pub from: i64,
    /// End of the range, unix seconds (exclusive).
    pub to: i64,
    /// Bucket width in seconds.
    pub step: i64,
    /// Buckets that hold at least one sample, oldest first.
    pub points: Vec<HistoryPoint>,
}

/// One labelled series of a family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Series {
    /// The core, mount point, interface or container name (`swap`, `1m` …).
    pub label: String,
    /// Buckets that hold at least one value, oldest first.
    pub points: Vec<HistoryPoint>,
}

/// One family's series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FamilyHistory {
    pub family: SeriesFamily,
    /// `percent`, `load`, `bytes` or `bytes_per_second`.
    pub unit: String,
    /// One per label seen in the range, ordered by label (cores by number).
    pub series: Vec<Series>,
}

/// `GET /api/v1/resources/series`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SeriesHistory {
    /// `local` or the agent's UUID.
    pub agent_id: String,
    /// Start of the range, unix seconds (inclusive).
    pub from: i64,
    /// End of the range, unix seconds (exclusive).
    pub to: i64,
    /// Bucket width in seconds.
    pub step: i64,
    /// The families asked for, in display order (each present, even with no series).
    pub families: Vec<FamilyHistory>,
}

impl SeriesHistory {
    /// The series of `family`, if it was asked for.
    pub fn family(&self, family: SeriesFamily) -> Option<&FamilyHistory> {
        self.families.iter().find(|f| f.family == family)
    }
}

/// The signed-in user as `GET /api/v1/auth/me` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Me {
    /// Account id.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// What this caller may do: the user's role, or the API token's narrower one.
    pub role: crate::Role,
    /// An admin requires one-time codes and this user has none yet: until they enroll,
    /// only their own TOTP enrollment, this answer and signing out are open.
    #[serde(default)]
    pub must_enroll_totp: bool,
    /// Send this back as `X-CSRF-Token` on cookie-authenticated POST/PUT/PATCH/DELETE
    /// (absent when authenticated by API token, which needs none).
    pub csrf_token: Option<String>,
}

/// An API token as listed: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiTokenInfo {
    /// Token id, for deletion.
    pub id: i64,
    /// What the owner called it.
    pub name: String,
    /// The first and last characters, e.g. `vtg_api_3f9a…c21d`.
    pub masked: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was last used (RFC 3339).
    pub last_used_at: Option<String>,
    /// The role it acts with: its owner's, or the narrower one chosen at creation.
    pub role: crate::Role,
    /// True when `role` is its owner's role (it follows later changes of it, never past
    /// it); false when a narrower role was chosen at creation.
    pub follows_user_role: bool,
}

/// The answer to token creation: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    /// The full token, `vtg_api_…`.
    pub token: String,
    /// The listed form of the same token.
    #[serde(flatten)]
    pub info: ApiTokenInfo,
}

/// Username and password, for setup and login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Credentials {
    /// Login name.
    pub username: String,
    /// Password in clear; only ever sent over the wire to be hashed or verified.
    pub password: String,
    /// At sign-in, for an account with a second factor: the six-digit code from the
    /// authenticator app, or one of the recovery codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_code: Option<String>,
}

/// Body of `POST /api/v1/api-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewApiToken {
    /// A name to recognise the token by.
    pub name: String,
    /// A narrower role than its owner's to act with (default: the owner's, following it).
    #[serde(default)]
    pub role: Option<crate::Role>,
}

/// Formats unix milliseconds as RFC 3339 in UTC with second precision.
pub fn rfc3339_from_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Reads what [`rfc3339_from_millis`] writes (`2026-11-18T11:06:40Z`, fractions allowed)
/// back as unix milliseconds; `None` for any other text.
pub fn millis_from_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !text.ends_with('Z') {
        return None;
    }
    let num = |from: usize, to: usize| text.get(from..to)?.parse::<i64>().ok();
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, min, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant), the inverse of `civil_from_days`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + h * 3600 + min * 60 + sec) * 1000)
}

// Howard Hinnant's days-to-civil algorithm; keeps the WASM build free of a date crate.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_from_millis(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_from_millis(1_795_000_000_000),
            "2026-11-18T11:06:40Z"
        );
        assert_eq!(rfc3339_from_millis(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn reads_rfc3339_back() {
        for ms in [0, 951_782_400_000, 1_795_000_000_000, 4_102_444_799_000] {
            assert_eq!(millis_from_rfc3339(&rfc3339_from_millis(ms)), Some(ms));
        }
        assert_eq!(
            millis_from_rfc3339("2026-11-18T11:06:40.5Z"),
            Some(1_795_000_000_000)
        );
        assert_eq!(millis_from_rfc3339("yesterday"), None);
        assert_eq!(millis_from_rfc3339("2026-13-18T11:06:40Z"), None);
    }

    #[test]
    fn metric_names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(m.as_str().parse::<Metric>().unwrap(), m);
        }
        assert_eq!(
            "swap".parse::<Metric>().unwrap_err().code(),
            "invalid_metric"
        );
    }
}

/// A registered agent as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AgentInfo {
    /// The agent's UUID.
    pub id: String,
    /// Operator-chosen name (at most 64 characters).
    pub label: String,
    /// The host's own name.
    pub hostname: String,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// `active` or `revoked`.
    pub status: crate::AgentStatus,
    /// Live or not.
    pub connection_state: ConnectionState,
    /// docker, swarm, kubernetes, systemd or bare.
    pub runtime: crate::Runtime,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// vantage-agent version.
    pub agent_version: String,
    /// When it enrolled (RFC 3339).
    pub created_at: String,
    /// When it last committed events (RFC 3339).
    pub last_seen: Option<String>,
    /// Events the agent's spool had to drop (full or too old) and the server never got.
    pub dropped_events: u64,
}

/// Body of `PATCH /api/v1/agents/{id}`: fields left out are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    /// New label, 1 to 64 characters.
    pub label: Option<String>,
    /// New tags (replace the old ones).
    pub tags: Option<Vec<String>>,
}

/// Body of `POST /api/v1/agents/enrollment-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewEnrollmentToken {
    /// Hours the token stays usable, 1 to 168 (default 24).
    #[serde(default)]
    pub ttl_hours: Option<i64>,
    /// How many agents it may enroll, 1 to 100000: absent means 1 (one host), `null` any
    /// number within its TTL (a fleet: DaemonSets, autoscaling groups, golden images).
    #[serde(default = "single_use")]
    pub max_uses: Option<i64>,
}

fn single_use() -> Option<i64> {
    Some(1)
}

impl Default for NewEnrollmentToken {
    fn default() -> Self {
        Self {
            ttl_hours: None,
            max_uses: single_use(),
        }
    }
}

/// An agent an enrollment token enrolled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EnrolledAgent {
    pub agent_id: String,
    pub label: String,
}

/// Whether the server can hand out one agent download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AgentBuildInfo {
    /// `linux-x86_64`, `linux-aarch64` or `image` (the container image, `docker save` form).
    pub target: String,
    /// `ready`, `building` (`scripts/run` is still making it) or `missing`.
    pub state: crate::BuildState,
    /// Where it is served, relative to the dashboard.
    pub path: String,
    /// Hex SHA-256 of the file, when ready.
    pub sha256: Option<String>,
    pub size_bytes: Option<u64>,
}

/// Commands that install an agent, one per environment, all complete and runnable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InstallTemplates {
    /// For a Linux host with systemd: fetches `install.sh`, checks its SHA-256, runs it.
    pub standalone: String,
    /// Fetches the server's agent image, checks its SHA-256 and loads it into Docker; absent
    /// when the server names a registry image (`--agent-image`).
    pub image_load: Option<String>,
    /// `docker run …`, after `image_load` when there is one.
    pub docker_run: String,
    /// A `docker-compose.yml` service (run `image_load` first when there is one).
    pub docker_compose: String,
    /// Namespace, Secret, RBAC and DaemonSet.
    pub kubernetes: String,
}

/// An enrollment token as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EnrollmentTokenInfo {
    /// Token id, for deletion.
    pub id: i64,
    /// `vtg_enr_abcd…wxyz`.
    pub masked: String,
    /// `active`, `used` or `expired`.
    pub state: crate::TokenState,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// The first agent it enrolled.
    pub used_by_agent_id: Option<String>,
    /// How many agents it may enroll; `null`: any number within its TTL.
    pub max_uses: Option<i64>,
    /// How many it has enrolled.
    pub uses: i64,
    /// The agents it enrolled (those not deleted since), by label.
    pub agents: Vec<EnrolledAgent>,
}

/// The answer to enrollment-token creation: the only time the token is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedEnrollmentToken {
    /// `vtg_enr_…`, single use.
    pub token: String,
    /// The listed form.
    #[serde(flatten)]
    pub info: EnrollmentTokenInfo,
    /// The `grpcs://host:port` agents enroll with (what the snippets carry).
    pub grpc_url: String,
    /// The server certificate's `sha256:` pin, when it is self-signed.
    pub pin: Option<String>,
    /// Ready-to-paste install commands carrying the token, server address and pin.
    pub install_templates: InstallTemplates,
    /// The downloads the snippets fetch, and whether each is there.
    pub builds: Vec<AgentBuildInfo>,
    /// Things the operator should know (e.g. a loopback address agents cannot reach, a
    /// missing agent build).
    pub warnings: Vec<String>,
}

/// A container as `GET /api/v1/containers` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ContainerInfo {
    /// The agent of the host it runs on.
    pub agent_id: String,
    /// That host's label.
    pub host_label: String,
    /// Docker's container id.
    pub container_id: String,
    /// Container name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// running, exited, paused, created, restarting or dead.
    pub state: crate::ContainerState,
    /// Docker's status text, e.g. `Up 2 hours (healthy)`.
    pub status: String,
    /// healthy, unhealthy, starting, or empty without a health check.
    pub health: crate::ContainerHealth,
    /// Compose project and service, when it belongs to one.
    pub compose_project: Option<String>,
    /// See `compose_project`.
    pub compose_service: Option<String>,
    /// Share of the host's CPU in percent (100 % per core), from the newest sample.
    pub cpu_pct: Option<f64>,
    /// Memory in use (without page cache).
    pub memory_bytes: Option<u64>,
    /// Memory limit.
    pub memory_limit_bytes: Option<u64>,
    /// Received bytes per second.
    pub net_rx_bytes_per_s: Option<f64>,
    /// Sent bytes per second.
    pub net_tx_bytes_per_s: Option<f64>,
    /// Block reads per second.
    pub block_read_bytes_per_s: Option<f64>,
    /// Block writes per second.
    pub block_write_bytes_per_s: Option<f64>,
    /// When the figures were measured (RFC 3339).
    pub stats_at: Option<String>,
}

/// `GET /api/v1/resources/top`: the running containers and the processes using the most
/// CPU and memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopConsumers {
    /// Containers, highest CPU first.
    pub by_cpu: Vec<ContainerInfo>,
    /// Containers, most memory first.
    pub by_memory: Vec<ContainerInfo>,
    /// Processes, highest CPU first (from each host's newest sample).
    #[serde(default)]
    pub processes_by_cpu: Vec<ProcessInfo>,
    /// Processes, most resident memory first.
    #[serde(default)]
    pub processes_by_memory: Vec<ProcessInfo>,
}

/// A process among a host's top consumers of CPU or memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProcessInfo {
    /// The host it runs on.
    pub agent_id: String,
    /// That host's label.
    pub host_label: String,
    pub pid: u32,
    /// The kernel's name for it (at most 15 bytes).
    pub name: String,
    /// Its owner.
    pub user: String,
    /// Share of one core in percent over the last host interval (may exceed 100).
    pub cpu_pct: f64,
    /// Resident memory.
    pub rss_bytes: u64,
    /// When it was measured (RFC 3339).
    pub measured_at: String,
}

/// What an entry of a host's timeline tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostEventKind {
    /// The agent's stream opened.
    Connected,
    /// The agent's stream closed, or fell silent past the threshold.
    Disconnected,
    /// A container lifecycle event (start, stop, die, health …).
    Container,
    /// A watched certificate appeared, was renewed or changed validity.
    Certificate,
    /// A tracked app's state stopped matching (`app.state_mismatch`), or its restart budget
    /// ran out.
    App,
}

impl HostEventKind {
    pub const ALL: [HostEventKind; 5] = [
        HostEventKind::Connected,
        HostEventKind::Disconnected,
        HostEventKind::Container,
        HostEventKind::Certificate,
        HostEventKind::App,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HostEventKind::Connected => "connected",
            HostEventKind::Disconnected => "disconnected",
            HostEventKind::Container => "container",
            HostEventKind::Certificate => "certificate",
            HostEventKind::App => "app",
        }
    }
}

/// One entry of a host's timeline, `GET /api/v1/agents/{id}/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostEvent {
    /// When it happened, unix milliseconds.
    pub ts_ms: i64,
    /// When it happened, RFC 3339.
    pub time: String,
    pub kind: HostEventKind,
    /// The container's name or the certificate's target; empty for connections.
    pub subject: String,
    /// What happened, in words (`die: exit code 137`, `renewed: expires 2027-03-01`).
    pub detail: String,
}

/// The newest scan of a watched certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CertificateInfo {
    /// The agent that scans it.
    pub agent_id: String,
    /// That host's label.
    pub host_label: String,
    /// `host:port` or a file path.
    pub target: String,
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Subject alternative names.
    pub sans: Vec<String>,
    /// Expiry (RFC 3339).
    pub not_after: Option<String>,
    /// Whole days until expiry (negative once expired).
    pub days_left: Option<i64>,
    /// The chain leads to a root the agent's host trusts (and fits the name).
    pub chain_valid: bool,
    /// Why the scan or the verification failed.
    pub error: String,
    /// When it was scanned (RFC 3339).
    pub scanned_at: String,
}

/// One act of the audit log, `GET /api/v1/audit`: the leaf of the same index of the
/// transparency log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Its place in the log, from 0.
    pub index: u64,
    /// When it happened, unix milliseconds.
    pub ts_ms: i64,
    /// When it happened, RFC 3339.
    pub time: String,
    /// Who acted: a username, `agent:<id>`, or `cli` (`vantage admin`).
    pub actor: String,
    /// What was done: `login`, `setup`, `api_token.create`, `api_token.revoke`,
    /// `enrollment_token.create`, `enrollment_token.delete`, `agent.enroll`,
    /// `agent.revoke`, `agent.delete`, `user.create`.
    pub action: String,
    /// What it was done to (a username, token id or agent id).
    pub subject: String,
    pub detail: String,
}

/// The transparency log's signed head, `GET /api/v1/transparency/checkpoint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TransparencyCheckpoint {
    /// The log's name (the first line of the note).
    pub origin: String,
    /// How many entries the head covers.
    pub size: u64,
    /// The RFC 6962 root hash, base64.
    pub root: String,
    /// The C2SP checkpoint: a signed note (text, then a blank line, then `— <origin> <sig>`).
    pub note: String,
    /// The log's Ed25519 public key, base64 (32 bytes).
    pub public_key: String,
}

/// `GET /api/v1/transparency/proof/{index}`: an entry and the proof it is in the tree of
/// `size` entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    /// The entry's RFC 6962 leaf hash, base64.
    pub leaf_hash: String,
    /// The audit path, base64 hashes, leaf to root (RFC 9162, 2.1.3).
    pub proof: Vec<String>,
    pub entry: AuditEntry,
}

/// `GET /api/v1/transparency/consistency?from=&to=`: the proof that the log of `from`
/// entries is a prefix of the log of `to` entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// Base64 hashes (RFC 9162, 2.1.4).
    pub proof: Vec<String>,
}
