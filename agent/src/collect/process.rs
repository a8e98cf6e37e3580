//! The processes using the most CPU and memory, from `/proc/<pid>/stat`: what a CPU or
//! memory alert names as the likely culprit.
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::ParseError;

/// How many processes each ranking keeps (by CPU and by memory; one process may be in both).
pub const TOP_PROCESSES: usize = 10;

/// One process of the top lists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProcessUsage {
    pub pid: u32,
    /// The kernel's name for it (`comm`, at most 15 bytes).
    pub name: String,
    /// The owner's user name (the numeric id when the host's passwd does not name it).
    pub user: String,
    /// Share of one core in percent over the last interval (a process on two busy cores: 200).
    pub cpu_pct: f64,
    /// Resident memory.
    pub rss_bytes: u64,
}

/// The figures of one `/proc/<pid>/stat` line this collector uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidStat {
    pub pid: u32,
    pub name: String,
    /// User plus system time, in clock ticks.
    pub cpu_ticks: u64,
    /// When the process started, in clock ticks after boot: a reused pid has a new one.
    pub start_ticks: u64,
    /// Resident pages.
    pub rss_pages: u64,
}

const STAT: &str = "/proc/<pid>/stat";

/// Parses `/proc/<pid>/stat`. The name sits in parentheses and may itself hold spaces and
/// parentheses, so the fields are counted from the last `)`.
pub fn parse_pid_stat(text: &str) -> Result<PidStat, ParseError> {
    let open = text
        .find('(')
        .ok_or_else(|| ParseError::new(STAT, "no name in parentheses"))?;
    let close = text
        .rfind(')')
        .filter(|&c| c > open)
        .ok_or_else(|| ParseError::new(STAT, "no closing parenthesis"))?;
    let pid = text[..open]
        .trim()
        .parse::<u32>()
        .map_err(|e| ParseError::new(STAT, format!("pid: {e}")))?;
    let name = text[open + 1..close].to_owned();
    // Field 3 (state) is index 0 here: utime is field 14, stime 15, starttime 22, rss 24.
    let fields: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let number = |index: usize, what: &str| -> Result<u64, ParseError> {
        fields
            .get(index)
            .ok_or_else(|| ParseError::new(STAT, format!("no {what} field")))?
            .parse::<i64>()
            .map(|v| v.max(0) as u64)
            .map_err(|e| ParseError::new(STAT, format!("{what}: {e}")))
    };
    Ok(PidStat {
        pid,
        name,
        cpu_ticks: number(11, "utime")?.saturating_add(number(12, "stime")?),
        start_ticks: number(19, "starttime")?,
        rss_pages: number(21, "rss")?,
    })
}

/// The CPU ticks each process had at the previous reading, keyed by pid and start time.
pub type Readings = HashMap<(u32, u64), u64>;

/// Ranks the processes of this reading: the `n` using the most CPU since `previous` (over
/// `elapsed_s` seconds) and the `n` with the most resident memory, each once, CPU first.
/// A process absent from `previous` (new, or a reused pid) counts from zero CPU.
pub fn rank(
    previous: &Readings,
    now: &[PidStat],
    elapsed_s: f64,
    ticks_per_s: u64,
    n: usize,
) -> Vec<(PidStat, f64)> {
    let scale = if elapsed_s > 0.0 && ticks_per_s > 0 {
        100.0 / (elapsed_s * ticks_per_s as f64)
    } else {
        0.0
    };
    let mut rated: Vec<(&PidStat, f64)> = now
        .iter()
        .map(|p| {
            let used = previous
                .get(&(p.pid, p.start_ticks))
                .map_or(0, |before| p.cpu_ticks.saturating_sub(*before));
            (p, used as f64 * scale)
        })
        .collect();
    rated.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.pid.cmp(&b.0.pid)));
    let mut top: Vec<(PidStat, f64)> = rated
        .iter()
        .take(n)
        .filter(|(_, cpu)| *cpu > 0.0)
        .map(|(p, cpu)| ((*p).clone(), *cpu))
        .collect();
    rated.sort_by(|a, b| {
        b.0.rss_pages
            .cmp(&a.0.rss_pages)
            .then(a.0.pid.cmp(&b.0.pid))
    });
    for (p, cpu) in rated.iter().take(n) {
        if p.rss_pages > 0 && !top.iter().any(|(t, _)| t.pid == p.pid) {
            top.push(((*p).clone(), *cpu));
        }
    }
    top
}

/// User names by numeric id, from a passwd file.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

/// Reads every process under a `/proc` tree and keeps the previous CPU counters, so each
/// reading ranks by CPU used since the one before.
pub struct ProcessCollector {
    proc_root: PathBuf,
    passwd: PathBuf,
    users: HashMap<u32, String>,
    previous: Readings,
    /// When the previous scan began: shares are over the time between scans, not between
    /// calls, so a slow scan of thousands of pids does not inflate them.
    previous_at: Instant,
    ticks_per_s: u64,
    page_bytes: u64,
}

impl ProcessCollector {
    /// `passwd` names the host's users (under the host's root when the agent runs in a
    /// container). The first reading is taken here.
    pub fn new(proc_root: &Path, passwd: PathBuf) -> Self {
        let mut collector = Self {
            proc_root: proc_root.to_owned(),
            users: HashMap::new(),
            passwd,
            previous: Readings::new(),
            previous_at: Instant::now(),
            ticks_per_s: rustix::param::clock_ticks_per_second(),
            page_bytes: rustix::param::page_size() as u64,
        };
        collector.previous = readings(&collector.scan());
        collector.previous_at = Instant::now();
        collector
    }

    /// Names users from this passwd file instead.
    pub fn with_passwd(mut self, passwd: PathBuf) -> Self {
        self.passwd = passwd;
        self.users.clear();
        self
    }

    /// The top processes by CPU since the previous call, and by memory. Processes that vanish
    /// while being read are left out. A share is at most `cores` × 100: the kernel counts
    /// CPU time in whole ticks, so over a short interval one tick more can read as more time
    /// than the host's cores have.
    pub fn collect(&mut self, cores: usize) -> Vec<ProcessUsage> {
        let started = Instant::now();
        let now = self.scan();
        let elapsed_s = started.duration_since(self.previous_at).as_secs_f64();
        let top = rank(
            &self.previous,
            &now,
            elapsed_s,
            self.ticks_per_s,
            TOP_PROCESSES,
        );
        self.previous = readings(&now);
        self.previous_at = started;
        let most = cores.max(1) as f64 * 100.0;
        top.into_iter()
            .map(|(p, cpu_pct)| ProcessUsage {
                user: self.user_of(p.pid),
                pid: p.pid,
                name: p.name,
                cpu_pct: cpu_pct.min(most),
                rss_bytes: p.rss_pages.saturating_mul(self.page_bytes),
            })
            .collect()
    }

    fn scan(&self) -> Vec<PidStat> {
        let Ok(entries) = std::fs::read_dir(&self.proc_root) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name();
                let name = name.to_str()?;
                if !name.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let text = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                parse_pid_stat(&text).ok()
            })
            .collect()
    }

    /// The owner of `/proc/<pid>`, by name. The passwd file is read again when an id is new
    /// (a user added since), at most once per id.
    fn user_of(&mut self, pid: u32) -> String {
        let Ok(meta) = std::fs::metadata(self.proc_root.join(pid.to_string())) else {
            return String::new();
        };
        let uid = meta.uid();
        if !self.users.contains_key(&uid) {
            // Merged, not replaced: ids the file does not name keep their number, so each
            // is looked up once.
            if let Ok(text) = std::fs::read_to_string(&self.passwd) {
                self.users.extend(parse_passwd(&text));
            }
            self.users.entry(uid).or_insert_with(|| uid.to_string());
        }
        self.users[&uid].clone()
    }
}

fn readings(stats: &[PidStat]) -> Readings {
    stats
        .iter()
        .map(|p| ((p.pid, p.start_ticks), p.cpu_ticks))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pid")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn parses_a_stat_line_whose_name_holds_spaces_and_parentheses() {
        let stat = parse_pid_stat(&fixture("tricky-name")).unwrap();
        assert_eq!(stat.pid, 4242);
        assert_eq!(stat.name, "tmux: (server) x");
        assert_eq!(stat.cpu_ticks, 1250 + 250);
        assert_eq!(stat.start_ticks, 98_765);
        assert_eq!(stat.rss_pages, 2048);
    }

    #[test]
    fn parses_a_real_stat_line() {
        let stat = parse_pid_stat(&fixture("postgres")).unwrap();
        assert_eq!(stat.name, "postgres");
        assert_eq!(stat.pid, 812);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert_eq!(parse_pid_stat(&own).unwrap().pid, std::process::id());
    }

    #[test]
    fn rejects_truncated_or_nameless_lines() {
        for bad in [
            "",
            "12 cat R 1 2",
            "12 (cat) R 1 2 3",
            "x (cat) R",
            "12 )cat( R",
        ] {
            assert!(parse_pid_stat(bad).is_err(), "{bad:?}");
        }
    }

    fn stat(pid: u32, cpu_ticks: u64, rss_pages: u64) -> PidStat {
        PidStat {
            pid,
            name: format!("p{pid}"),
            cpu_ticks,
            start_ticks: 7,
            rss_pages,
        }
    }

    #[test]
    fn ranks_by_cpu_since_the_last_reading_then_by_memory_each_once() {
        let before = readings(&[stat(1, 100, 10), stat(2, 100, 500), stat(3, 0, 20)]);
        // Over 2 s at 100 ticks/s: pid 1 used 300 ticks (150 %), pid 3 used 50 (25 %), pid 2
        // nothing, pid 4 is new (its ticks predate this interval: zero).
        let now = [
            stat(1, 400, 10),
            stat(2, 100, 500),
            stat(3, 50, 20),
            stat(4, 9000, 5),
        ];
        let top = rank(&before, &now, 2.0, 100, 2);
        let summary: Vec<(u32, f64)> = top.iter().map(|(p, c)| (p.pid, *c)).collect();
        assert_eq!(summary, vec![(1, 150.0), (3, 25.0), (2, 0.0)]);
    }

    #[test]
    fn a_reused_pid_counts_from_zero() {
        let before = readings(&[stat(1, 100, 10)]);
        let mut reborn = stat(1, 500, 10);
        reborn.start_ticks = 99;
        let top = rank(&before, &[reborn], 1.0, 100, 10);
        assert_eq!(top[0].1, 0.0);
    }

    #[test]
    fn reads_a_proc_tree_and_names_users() {
        let root = tempfile::tempdir().unwrap();
        let write = |pid: u32, ticks: u64| {
            let dir = root.path().join(pid.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("stat"),
                format!(
                    "{pid} (worker {pid}) S 1 1 1 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0 5 0 {} 0\n",
                    pid * 10
                ),
            )
            .unwrap();
        };
        write(100, 0);
        write(200, 0);
        std::fs::create_dir_all(root.path().join("sys")).unwrap();
        let passwd = root.path().join("passwd");
        let me = rustix::process::getuid().as_raw();
        std::fs::write(&passwd, format!("van:x:{me}:{me}::/:/bin/false\n")).unwrap();
        let mut collector = ProcessCollector::new(root.path(), passwd);
        // One second ago, pid 200 had used nothing; now it has used one second.
        collector.previous_at -= std::time::Duration::from_secs(1);
        write(200, collector.ticks_per_s);
        let top = collector.collect(4);
        assert_eq!(top[0].pid, 200);
        assert_eq!(top[0].name, "worker 200");
        assert!((95.0..=100.0).contains(&top[0].cpu_pct), "{top:?}");
        assert_eq!(top[0].user, "van");
        assert_eq!(top[0].rss_bytes, 2000 * collector.page_bytes);
        assert_eq!(top.len(), 2, "pid 100 joins for its memory: {top:?}");

        // Ten seconds of ticks within one: more than two cores can give, so it reads as
        // both cores, full.
        collector.previous_at -= std::time::Duration::from_secs(1);
        write(200, 11 * collector.ticks_per_s);
        let top = collector.collect(2);
        assert_eq!(top[0].pid, 200);
        assert_eq!(top[0].cpu_pct, 200.0, "{top:?}");
    }
}
