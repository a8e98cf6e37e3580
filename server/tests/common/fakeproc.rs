//! A `/proc` the test writes: the figures a real agent or server reads through `--proc-root`,
//! so a test decides what the host looks like (memory use above all) sample by sample.
use std::path::Path;

pub struct FakeProc {
    dir: tempfile::TempDir,
}

const TOTAL_KB: u64 = 8_000_000;

impl FakeProc {
    /// A host with two cores, 8 GB of memory half used, no swap, no file systems.
    pub fn new() -> FakeProc {
        let proc = FakeProc {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        proc.write(
            "stat",
            "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\n",
        );
        proc.write(
            "net/dev",
            "Inter-|   Receive\n face |bytes\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n",
        );
        proc.write("uptime", "1000.00 1500.00\n");
        proc.write("loadavg", "0.10 0.20 0.30 1/100 1234\n");
        proc.write("1/mountinfo", "");
        proc.write("self/mountinfo", "");
        proc.write("sys/kernel/hostname", "fake-host\n");
        proc.set_memory_used_pct(50);
        proc
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// From the next sample on, memory is this share used.
    pub fn set_memory_used_pct(&self, pct: u64) {
        let available = TOTAL_KB * (100 - pct.min(100)) / 100;
        self.write(
            "meminfo",
            &format!(
                "MemTotal: {TOTAL_KB} kB\nMemFree: {available} kB\nMemAvailable: {available} kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"
            ),
        );
    }

    /// A process in the tree, from the next sample on: `cpu_ticks` of CPU time so far
    /// (raise it between samples to make it busy) and `rss_pages` of resident memory.
    pub fn set_process(&self, pid: u32, name: &str, cpu_ticks: u64, rss_pages: u64) {
        self.write(
            &format!("{pid}/stat"),
            &format!(
                "{pid} ({name}) S 1 {pid} {pid} 0 -1 0 0 0 0 0 {cpu_ticks} 0 0 0 20 0 1 0 500 0 {rss_pages} 0\n"
            ),
        );
    }

    /// Replaced whole (a rename), so a reader never sees half a file.
    fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, &path).unwrap();
    }
}
