//! Host collectors: CPU, load, memory, filesystems, network, uptime and the top processes
//! from a `/proc` tree.

mod cpu;
mod disk;
mod host;
mod load;
mod memory;
mod net;
mod process;
mod uptime;

pub use cpu::{CpuTimes, CpuUsage, cpu_usage, parse_stat};
pub use disk::{FilesystemUsage, Mount, parse_mountinfo, real_mounts};
pub use host::{HostCollector, HostSample, host_name};
pub use load::{LoadAverage, parse_loadavg};
pub use memory::{Memory, parse_meminfo};
pub use net::{InterfaceCounters, InterfaceRate, interface_rates, parse_net_dev};
pub use process::{
    PidStat, ProcessCollector, ProcessUsage, TOP_PROCESSES, parse_passwd, parse_pid_stat, rank,
};
pub use uptime::parse_uptime;

/// `part` as a percentage of `whole` (0 when there is no whole): the one formula behind
/// every derived share (memory, swap, disk, per file system), on the agent, in the store
/// and on screen.
pub fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part * 100.0 / whole
    } else {
        0.0
    }
}

/// A `/proc` file whose text did not have the expected shape.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unexpected {file} format: {reason}")]
pub struct ParseError {
    /// The file that was parsed, e.g. `/proc/stat`.
    pub file: &'static str,
    /// What was wrong with it.
    pub reason: String,
}

impl ParseError {
    fn new(file: &'static str, reason: impl Into<String>) -> Self {
        Self {
            file,
            reason: reason.into(),
        }
    }
}
