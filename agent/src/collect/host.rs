use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cpu::StatSnapshot;
use super::*;

/// Everything one collection cycle learns about the host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostSample {
    /// Unix time in milliseconds when the sample was taken.
    pub taken_at_ms: i64,
    pub hostname: String,
    pub uptime_s: u64,
    pub cpu: CpuUsage,
    pub load: LoadAverage,
    pub memory: Memory,
    pub filesystems: Vec<FilesystemUsage>,
    pub network: Vec<InterfaceRate>,
    /// The top processes by CPU and by memory (each at most [`TOP_PROCESSES`], CPU first).
    #[serde(default)]
    pub processes: Vec<ProcessUsage>,
}

impl HostSample {
    /// Used bytes of all reported file systems together (saturating: a sum of reported
    /// figures never overflows, whatever an agent sent).
    pub fn disk_used_bytes(&self) -> u64 {
        self.filesystems
            .iter()
            .map(|f| f.used_bytes)
            .fold(0, u64::saturating_add)
    }

    /// Size of all reported file systems together, as `df` counts it (used + available).
    pub fn disk_size_bytes(&self) -> u64 {
        self.filesystems
            .iter()
            .map(FilesystemUsage::size_bytes)
            .fold(0, u64::saturating_add)
    }

    /// Used share of all reported file systems together, in percent.
    pub fn disk_used_pct(&self) -> f64 {
        percent(self.disk_used_bytes() as f64, self.disk_size_bytes() as f64)
    }

    /// Used share of memory, in percent.
    pub fn memory_used_pct(&self) -> f64 {
        percent(
            self.memory.used_bytes as f64,
            self.memory.total_bytes as f64,
        )
    }

    /// Received bytes per second over all interfaces.
    pub fn net_rx_bytes_per_s(&self) -> f64 {
        self.network.iter().map(|i| i.rx_bytes_per_s).sum()
    }

    /// Transmitted bytes per second over all interfaces.
    pub fn net_tx_bytes_per_s(&self) -> f64 {
        self.network.iter().map(|i| i.tx_bytes_per_s).sum()
    }
}

/// A collection failure: a file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Reads a `/proc` tree and keeps the previous counters, so each [`collect`](Self::collect)
/// reports rates over the time since the one before.
pub struct HostCollector {
    proc_root: PathBuf,
    host_root: Option<PathBuf>,
    previous_stat: StatSnapshot,
    previous_net: BTreeMap<String, InterfaceCounters>,
    previous_at: Instant,
    processes: ProcessCollector,
}

impl HostCollector {
    /// Takes the first counter readings from `proc_root` (normally `/proc`; a host's
    /// `/proc` mounted elsewhere when the agent runs in a container).
    pub fn new(proc_root: impl Into<PathBuf>) -> Result<Self, CollectError> {
        let proc_root = proc_root.into();
        let previous_stat = parse_stat(&read(&proc_root, "stat")?)?;
        let previous_net = parse_net_dev(&read(&proc_root, "net/dev")?)?;
        // Our own /proc: our passwd names the host's users; a host /proc mounted elsewhere:
        // PID 1's.
        let passwd = if proc_root == Path::new("/proc") {
            PathBuf::from("/etc/passwd")
        } else {
            proc_root.join("1/root/etc/passwd")
        };
        Ok(Self {
            processes: ProcessCollector::new(&proc_root, passwd),
            proc_root,
            host_root: None,
            previous_stat,
            previous_net,
            previous_at: Instant::now(),
        })
    }

    /// Where the host's root file system is mounted (a container with `/` mounted read-only
    /// at, say, `/host/root`): file systems are measured there rather than through
    /// `<proc_root>/1/root`, which needs more privileges.
    pub fn with_host_root(mut self, host_root: Option<PathBuf>) -> Self {
        if let Some(root) = &host_root {
            self.processes = self.processes.with_passwd(root.join("etc/passwd"));
        }
        self.host_root = host_root;
        self
    }

    /// Reads every figure once. Rates cover the time since the previous call (or `new`).
    pub fn collect(&mut self) -> Result<HostSample, CollectError> {
        let now = Instant::now();
        let stat = parse_stat(&read(&self.proc_root, "stat")?)?;
        let net = parse_net_dev(&read(&self.proc_root, "net/dev")?)?;
        let elapsed_s = now.duration_since(self.previous_at).as_secs_f64();
        let cores = stat.cores.len();
        let sample = HostSample {
            taken_at_ms: proto::clock::now_ms(),
            hostname: host_name(&self.proc_root, self.host_root.as_deref()),
            uptime_s: parse_uptime(&read(&self.proc_root, "uptime")?)?,
            cpu: cpu_usage(&self.previous_stat, &stat),
            load: parse_loadavg(&read(&self.proc_root, "loadavg")?)?,
            memory: parse_meminfo(&read(&self.proc_root, "meminfo")?)?,
            filesystems: self.filesystems()?,
            network: interface_rates(&self.previous_net, &net, elapsed_s),
            processes: self.processes.collect(cores),
        };
        self.previous_stat = stat;
        self.previous_net = net;
        self.previous_at = now;
        Ok(sample)
    }

    fn filesystems(&self) -> Result<Vec<FilesystemUsage>, CollectError> {
        // Our own /proc: our mount namespace is the host's. A host /proc mounted elsewhere:
        // PID 1's view, and its paths are reached through /proc/1/root.
        let own_proc = self.proc_root == Path::new("/proc");
        let mountinfo = if own_proc {
            "self/mountinfo"
        } else {
            "1/mountinfo"
        };
        let mounts = parse_mountinfo(&read(&self.proc_root, mountinfo)?)?;
        Ok(real_mounts(&mounts)
            .into_iter()
            .filter_map(|m| {
                let inside = m.mount_point.trim_start_matches('/');
                let path = if let Some(root) = &self.host_root {
                    root.join(inside)
                } else if own_proc {
                    PathBuf::from(&m.mount_point)
                } else {
                    self.proc_root.join("1/root").join(inside)
                };
                // A mount we cannot stat (permissions, a vanished device) is left out, not fatal.
                let vfs = rustix::fs::statvfs(&path).ok()?;
                let block = vfs.f_frsize.max(1);
                let total_bytes = vfs.f_blocks.saturating_mul(block);
                let free = vfs.f_bfree.saturating_mul(block);
                Some(FilesystemUsage {
                    mount_point: m.mount_point,
                    device: m.source,
                    fs_type: m.fs_type,
                    total_bytes,
                    used_bytes: total_bytes.saturating_sub(free),
                    available_bytes: vfs.f_bavail.saturating_mul(block),
                })
            })
            .filter(|f| f.total_bytes > 0)
            .collect())
    }
}

/// The host's name. With the host's root mounted (a container), its `/etc/hostname`: the
/// kernel's name under `<proc>/sys/kernel/hostname` is the reader's UTS namespace, which in a
/// container without `--uts host` is the container's. Otherwise, or when that file is empty,
/// the kernel's.
pub fn host_name(proc_root: &Path, host_root: Option<&Path>) -> String {
    let from_root = host_root
        .and_then(|root| std::fs::read_to_string(root.join("etc/hostname")).ok())
        .map(|text| text.trim().to_owned())
        .filter(|name| !name.is_empty());
    from_root.unwrap_or_else(|| {
        read(proc_root, "sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default()
    })
}

fn read(proc_root: &Path, file: &str) -> Result<String, CollectError> {
    let path = proc_root.join(file);
    std::fs::read_to_string(&path).map_err(|source| CollectError::Read { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_from_the_live_proc() {
        let mut collector = HostCollector::new("/proc").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let sample = collector.collect().unwrap();
        assert!(sample.memory.total_bytes > 0);
        assert!(!sample.cpu.per_core_pct.is_empty());
        assert!(
            !sample.filesystems.is_empty(),
            "the root file system should be reported"
        );
        assert!(sample.uptime_s > 0);
    }

    #[test]
    fn the_host_name_comes_from_the_host_root_then_the_kernel() {
        let proc_root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc_root.path().join("sys/kernel")).unwrap();
        std::fs::write(
            proc_root.path().join("sys/kernel/hostname"),
            "container-1f2e\n",
        )
        .unwrap();
        let host_root = tempfile::tempdir().unwrap();
        assert_eq!(host_name(proc_root.path(), None), "container-1f2e");
        // No /etc/hostname under the host root (or an empty one): the kernel's name.
        assert_eq!(
            host_name(proc_root.path(), Some(host_root.path())),
            "container-1f2e"
        );
        std::fs::create_dir_all(host_root.path().join("etc")).unwrap();
        std::fs::write(host_root.path().join("etc/hostname"), "  \n").unwrap();
        assert_eq!(
            host_name(proc_root.path(), Some(host_root.path())),
            "container-1f2e"
        );
        std::fs::write(host_root.path().join("etc/hostname"), "db-7\n").unwrap();
        assert_eq!(host_name(proc_root.path(), Some(host_root.path())), "db-7");
    }

    #[test]
    fn a_proc_root_without_files_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = HostCollector::new(dir.path()).err().unwrap().to_string();
        assert!(err.contains("stat"), "{err}");
    }

    #[test]
    fn collects_from_a_copied_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let copy = |from: &str, to: &str| {
            let dest = dir.path().join(to);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(fixtures.join(from), dest).unwrap();
        };
        for f in ["stat", "loadavg", "meminfo", "uptime", "net/dev"] {
            copy(&format!("proc-a/{f}"), f);
        }
        copy("mountinfo-host", "1/mountinfo");
        let mut collector = HostCollector::new(dir.path()).unwrap();
        for f in ["stat", "net/dev"] {
            copy(&format!("proc-b/{f}"), f);
        }
        let sample = collector.collect().unwrap();
        assert_eq!(sample.cpu.per_core_pct.len(), 2);
        assert!(sample.network.iter().any(|i| i.name == "eth0"));
        // The fixture's mount points do not exist under this fake root: none can be stat'ed.
        assert!(sample.filesystems.is_empty());
    }
}
