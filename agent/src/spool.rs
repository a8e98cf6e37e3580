//! The on-disk spool: every event gets its sequence number and is written here before it is
//! sent, and is deleted only once the server has acknowledged it.
//!
//! Layout: `<state-dir>/spool/seg-<first seq>.log` segments of about 1 MiB, each a run of
//! records `[len u32][crc32 u32][seq u64][protobuf Event]` (little endian), and `state.json`
//! with the acknowledged position and the drop count. A crash can leave a torn record at the
//! end of a segment: opening the spool cuts the segment back to its last whole record.
//! Bounds: past `max_bytes` or `max_age` the oldest segments go, and their unacknowledged
//! events are counted as dropped.
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::Message;

/// Segments are an eighth of the size bound (so the bound drops a small share at a time),
/// between these sizes.
const SEGMENT_BYTES: u64 = 1 << 20;
const MIN_SEGMENT_BYTES: u64 = 8 << 10;
const HEADER: usize = 16;
/// No single event comes near this; anything larger is corruption.
const MAX_RECORD: u32 = 16 << 20;

/// One segment file.
#[derive(Debug, Clone)]
struct Segment {
    path: PathBuf,
    first_seq: u64,
    last_seq: u64,
    bytes: u64,
    /// Event time of the newest record, for the age bound.
    newest_ms: i64,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct State {
    acked: u64,
    dropped: u64,
    /// Events the server refused as invalid (acknowledged past, never resent).
    #[serde(default)]
    refused: u64,
}

/// What went wrong with the spool.
#[derive(Debug, thiserror::Error)]
#[error("spool {path}: {source}")]
pub struct SpoolError {
    path: String,
    source: std::io::Error,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError {
        path: path.display().to_string(),
        source,
    }
}

/// The spool of one agent.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    max_age: Duration,
    segments: VecDeque<Segment>,
    active: Option<File>,
    next_seq: u64,
    state: State,
    unsynced: bool,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .field("next_seq", &self.next_seq)
            .finish()
    }
}

/// Reads whole records from `reader`; stops at the first torn or corrupt one and reports the
/// offset after the last good record.
fn scan(reader: &mut impl Read, mut on_record: impl FnMut(u64, &[u8])) -> u64 {
    let mut offset = 0u64;
    let mut header = [0u8; HEADER];
    let mut body = Vec::new();
    loop {
        if reader.read_exact(&mut header).is_err() {
            return offset;
        }
        let len = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default());
        let seq = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        if len > MAX_RECORD {
            return offset;
        }
        body.resize(len as usize, 0);
        if reader.read_exact(&mut body).is_err() {
            return offset;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header[8..16]);
        hasher.update(&body);
        if hasher.finalize() != crc {
            return offset;
        }
        on_record(seq, &body);
        offset += (HEADER + body.len()) as u64;
    }
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, repairing a torn tail.
    /// A directory that other users could write, or a segment or state file that is a
    /// symlink or not a regular file, is refused: the agent never truncates or writes through
    /// what someone else placed there.
    pub fn open(dir: &Path, max_bytes: u64, max_age: Duration) -> Result<Spool, SpoolError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err(dir))?;
        crate::files::check_private_dir(dir)
            .map_err(|e| err(dir)(std::io::Error::new(std::io::ErrorKind::PermissionDenied, e)))?;
        let state_path = dir.join("state.json");
        let state: State = match crate::files::read_regular(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(err(&state_path)(e)),
        };
        let mut names: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(err(dir))? {
            let entry = entry.map_err(err(dir))?;
            let path = entry.path();
            let is_segment = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".log"));
            if !is_segment {
                continue;
            }
            // file_type does not follow symlinks.
            if !entry.file_type().map_err(err(&path))?.is_file() {
                return Err(err(&path)(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "a spool segment is a symlink or not a regular file; remove it and start again",
                )));
            }
            names.push(path);
        }
        names.sort();
        let mut segments = VecDeque::new();
        for path in names {
            let file = crate::files::open_regular(&path, false).map_err(err(&path))?;
            let mut first = None;
            let mut last = 0;
            let mut newest_ms = i64::MIN;
            let good = scan(&mut BufReader::new(file), |seq, body| {
                first.get_or_insert(seq);
                last = seq;
                if let Ok(event) = proto::Event::decode(body) {
                    newest_ms = newest_ms.max(event.time_ms);
                }
            });
            let size = std::fs::symlink_metadata(&path).map_err(err(&path))?.len();
            if good < size {
                tracing::warn!(segment = %path.display(), kept = good, size, "spool segment ends in a torn record; cutting it off");
                crate::files::open_regular(&path, true)
                    .and_then(|f| f.set_len(good))
                    .map_err(err(&path))?;
            }
            match first {
                Some(first_seq) => segments.push_back(Segment {
                    path,
                    first_seq,
                    last_seq: last,
                    bytes: good,
                    newest_ms,
                }),
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let next_seq = segments
            .back()
            .map_or(state.acked.saturating_add(1), |s| {
                s.last_seq.saturating_add(1)
            })
            .max(state.acked.saturating_add(1));
        let mut spool = Spool {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(MIN_SEGMENT_BYTES, SEGMENT_BYTES),
            max_age,
            segments,
            active: None,
            next_seq,
            state,
            unsynced: false,
        };
        let acked = spool.state.acked;
        spool.ack(acked)?;
        Ok(spool)
    }

    /// Numbers and writes an event; it is durable after the next [`sync`](Self::sync).
    pub fn append(&mut self, event: &proto::Event) -> Result<u64, SpoolError> {
        let seq = self.next_seq;
        let body = event.encode_to_vec();
        let mut record = Vec::with_capacity(HEADER + body.len());
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&seq.to_le_bytes());
        hasher.update(&body);
        record.extend_from_slice(&(body.len() as u32).to_le_bytes());
        record.extend_from_slice(&hasher.finalize().to_le_bytes());
        record.extend_from_slice(&seq.to_le_bytes());
        record.extend_from_slice(&body);
        let rotate = self
            .segments
            .back()
            .is_none_or(|s| s.bytes >= self.segment_bytes)
            || self.active.is_none();
        if rotate {
            self.sync()?;
            let path = self.dir.join(format!("seg-{seq:020}.log"));
            let file = crate::files::create_private(&path, true).map_err(err(&path))?;
            // A reopened spool appends to a fresh segment; the old tail stays as it was.
            self.segments.push_back(Segment {
                path,
                first_seq: seq,
                last_seq: seq,
                bytes: 0,
                newest_ms: event.time_ms,
            });
            self.active = Some(file);
        }
        let segment = self
            .segments
            .back_mut()
            .expect("a segment exists after rotation");
        let file = self.active.as_mut().expect("an active segment is open");
        file.write_all(&record).map_err(err(&segment.path))?;
        segment.last_seq = seq;
        segment.bytes += record.len() as u64;
        segment.newest_ms = segment.newest_ms.max(event.time_ms);
        self.next_seq = self.next_seq.saturating_add(1);
        self.unsynced = true;
        Ok(seq)
    }

    /// Flushes appended events to disk.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced {
            if let (Some(file), Some(segment)) = (&self.active, self.segments.back()) {
                file.sync_data().map_err(err(&segment.path))?;
            }
            self.unsynced = false;
        }
        Ok(())
    }

    /// The server committed everything up to `seq`: whole segments at or below it go.
    pub fn ack(&mut self, seq: u64) -> Result<(), SpoolError> {
        let seq = seq
            .min(self.next_seq.saturating_sub(1))
            .max(self.state.acked);
        while self.segments.len() > 1 && self.segments.front().is_some_and(|s| s.last_seq <= seq) {
            if let Some(segment) = self.segments.pop_front() {
                std::fs::remove_file(&segment.path).map_err(err(&segment.path))?;
            }
        }
        if seq != self.state.acked {
            self.state.acked = seq;
            self.save_state()?;
        }
        Ok(())
    }

    fn save_state(&self) -> Result<(), SpoolError> {
        let path = self.dir.join("state.json");
        let text = serde_json::to_vec(&self.state).unwrap_or_default();
        crate::files::write_private(&path, &text).map_err(err(&path))
    }

    /// Applies the size and age bounds: the oldest segments go, and their unacknowledged
    /// events are counted as dropped. Returns how many were dropped now.
    pub fn enforce_bounds(&mut self, now_ms: i64) -> Result<u64, SpoolError> {
        let mut dropped = 0u64;
        let max_age_ms = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
        loop {
            let total: u64 = self.segments.iter().map(|s| s.bytes).sum();
            let Some(oldest) = self.segments.front() else {
                break;
            };
            let too_big = total > self.max_bytes;
            // Saturating: a segment whose events do not decode has no time (i64::MIN).
            let too_old = now_ms.saturating_sub(oldest.newest_ms) > max_age_ms;
            if !(too_big || too_old) {
                break;
            }
            let last = self.segments.len() == 1;
            let oldest = self.segments.pop_front().expect("checked above");
            let unacked_from = oldest.first_seq.max(self.state.acked.saturating_add(1));
            if oldest.last_seq >= unacked_from {
                dropped =
                    dropped.saturating_add((oldest.last_seq - unacked_from).saturating_add(1));
            }
            std::fs::remove_file(&oldest.path).map_err(err(&oldest.path))?;
            if last {
                self.active = None;
            }
            self.state.acked = self.state.acked.max(oldest.last_seq);
        }
        if dropped > 0 {
            self.state.dropped = self.state.dropped.saturating_add(dropped);
            self.save_state()?;
            tracing::warn!(
                dropped,
                total_dropped = self.state.dropped,
                "spool full or too old: oldest events dropped"
            );
        }
        Ok(dropped)
    }

    /// Up to `max_events` events after `seq`, oldest first. Reads from disk: memory holds one
    /// batch, however large the spool.
    pub fn read_after(
        &self,
        seq: u64,
        max_events: usize,
    ) -> Result<Vec<(u64, proto::Event)>, SpoolError> {
        let mut out = Vec::new();
        for segment in self.segments.iter().filter(|s| s.last_seq > seq) {
            let file =
                crate::files::open_regular(&segment.path, false).map_err(err(&segment.path))?;
            scan(
                &mut BufReader::new(file).take(segment.bytes),
                |record_seq, body| {
                    if record_seq > seq
                        && out.len() < max_events
                        && let Ok(event) = proto::Event::decode(body)
                    {
                        out.push((record_seq, event));
                    }
                },
            );
            if out.len() >= max_events {
                break;
            }
        }
        Ok(out)
    }

    /// The highest acknowledged sequence number.
    /// True when every event spooled was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.next_seq() <= self.acked() + 1
    }

    pub fn acked(&self) -> u64 {
        self.state.acked
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Events dropped since the spool was created.
    pub fn dropped(&self) -> u64 {
        self.state.dropped
    }

    /// Counts events the server refused; they are acknowledged past like any other.
    pub fn count_refused(&mut self, n: u64) -> Result<(), SpoolError> {
        self.state.refused = self.state.refused.saturating_add(n);
        self.save_state()
    }

    /// Events the server refused since the spool was created.
    pub fn refused(&self) -> u64 {
        self.state.refused
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t: i64) -> proto::Event {
        proto::Event {
            time_ms: t,
            body: Some(proto::event::Body::HostSample(proto::HostSample {
                hostname: "h".repeat(200),
                ..Default::default()
            })),
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn numbers_survive_reopening_and_acks_delete() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 30, DAY).unwrap();
        for t in 0..10 {
            assert_eq!(spool.append(&event(t)).unwrap(), t as u64 + 1);
        }
        spool.sync().unwrap();
        drop(spool);
        let mut spool = Spool::open(dir.path(), 1 << 30, DAY).unwrap();
        assert_eq!(spool.next_seq(), 11);
        let batch = spool.read_after(4, 3).unwrap();
        assert_eq!(
            batch
                .iter()
                .map(|(s, e)| (*s, e.time_ms))
                .collect::<Vec<_>>(),
            vec![(5, 4), (6, 5), (7, 6)]
        );
        spool.ack(10).unwrap();
        drop(spool);
        let spool = Spool::open(dir.path(), 1 << 30, DAY).unwrap();
        assert_eq!(spool.acked(), 10);
        assert_eq!(
            spool.next_seq(),
            11,
            "numbering goes on after everything was acked"
        );
        assert!(spool.read_after(10, 10).unwrap().is_empty());
    }

    /// A closed spool in `dir` holding `n` synced events; the path of its one segment.
    fn spooled(dir: &Path, n: i64) -> PathBuf {
        let mut spool = Spool::open(dir, 1 << 30, DAY).unwrap();
        for t in 0..n {
            spool.append(&event(t)).unwrap();
        }
        spool.sync().unwrap();
        drop(spool);
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".log"))
            .unwrap()
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_spool_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let segment = spooled(dir.path(), 5);
        // A crash in the middle of writing the sixth record.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap();
        file.write_all(&[200, 1, 0, 0, 1, 2, 3]).unwrap();
        drop(file);
        let mut spool = Spool::open(dir.path(), 1 << 30, DAY).unwrap();
        assert_eq!(spool.next_seq(), 6);
        assert_eq!(spool.read_after(0, 100).unwrap().len(), 5);
        assert_eq!(spool.append(&event(5)).unwrap(), 6);
        assert_eq!(spool.read_after(0, 100).unwrap().len(), 6);
    }

    #[test]
    fn a_corrupted_record_ends_the_segment_there() {
        let dir = tempfile::tempdir().unwrap();
        let segment = spooled(dir.path(), 3);
        let mut bytes = std::fs::read(&segment).unwrap();
        let record = bytes.len() / 3;
        bytes[record + HEADER + 5] ^= 0xff;
        std::fs::write(&segment, bytes).unwrap();
        let spool = Spool::open(dir.path(), 1 << 30, DAY).unwrap();
        assert_eq!(
            spool.read_after(0, 100).unwrap().len(),
            1,
            "only the record before the damage stays"
        );
    }

    #[test]
    fn the_size_bound_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 3 * SEGMENT_BYTES, DAY).unwrap();
        let mut written = 0u64;
        while spool.bytes() < 5 * SEGMENT_BYTES {
            spool.append(&event(written as i64)).unwrap();
            written += 1;
        }
        let dropped = spool.enforce_bounds(0).unwrap();
        assert!(dropped > 0);
        assert!(spool.bytes() <= 3 * SEGMENT_BYTES);
        assert_eq!(spool.dropped(), dropped);
        let left = spool.read_after(0, usize::MAX).unwrap();
        assert_eq!(
            left.len() as u64 + dropped,
            written,
            "every event is either kept or counted"
        );
        assert_eq!(left.last().unwrap().0, written, "the newest survive");
        assert_eq!(left[0].0, spool.acked() + 1);
        drop(spool);
        assert_eq!(
            Spool::open(dir.path(), 3 * SEGMENT_BYTES, DAY)
                .unwrap()
                .dropped(),
            dropped,
            "the count is kept"
        );
    }

    #[test]
    fn the_age_bound_drops_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 30, Duration::from_secs(60)).unwrap();
        spool.append(&event(0)).unwrap();
        spool.append(&event(1_000)).unwrap();
        assert_eq!(spool.enforce_bounds(30_000).unwrap(), 0);
        assert_eq!(spool.enforce_bounds(120_000).unwrap(), 2);
        assert!(spool.read_after(0, 10).unwrap().is_empty());
        assert_eq!(
            spool.append(&event(120_000)).unwrap(),
            3,
            "numbering continues after a drop"
        );
    }

    #[test]
    fn a_symlinked_segment_is_refused_and_its_target_untouched() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        let segment = spooled(&spool_dir, 3);
        Spool::open(&spool_dir, 1 << 30, DAY)
            .unwrap()
            .ack(1)
            .unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "not a spool segment, must stay whole").unwrap();
        std::fs::remove_file(&segment).unwrap();
        std::os::unix::fs::symlink(&victim, &segment).unwrap();
        let error = Spool::open(&spool_dir, 1 << 30, DAY)
            .unwrap_err()
            .to_string();
        assert!(error.contains("symlink"), "{error}");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "not a spool segment, must stay whole"
        );
        // The state file is private, and a loose spool dir is refused.
        let state = std::fs::metadata(spool_dir.join("state.json")).unwrap();
        assert_eq!(state.permissions().mode() & 0o777, 0o600);
        std::fs::remove_file(&segment).unwrap();
        std::fs::set_permissions(&spool_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = Spool::open(&spool_dir, 1 << 30, DAY)
            .unwrap_err()
            .to_string();
        assert!(error.contains("chmod 700"), "{error}");
    }

    /// Found by the spool_reader fuzz target: a checksummed record whose body is no event
    /// (and a sequence number at the top of the range) once made the age bound overflow.
    #[test]
    fn a_record_that_is_no_event_neither_panics_nor_stays() {
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&spool_dir)
            .unwrap();
        let body = [0xffu8; 6];
        let seq = u64::MAX;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&seq.to_le_bytes());
        hasher.update(&body);
        let mut record = Vec::new();
        record.extend_from_slice(&(body.len() as u32).to_le_bytes());
        record.extend_from_slice(&hasher.finalize().to_le_bytes());
        record.extend_from_slice(&seq.to_le_bytes());
        record.extend_from_slice(&body);
        std::fs::write(spool_dir.join("seg-00000000000000000001.log"), &record).unwrap();
        let mut spool = Spool::open(&spool_dir, 1 << 30, DAY).unwrap();
        assert!(
            spool.read_after(0, 100).unwrap().is_empty(),
            "nothing to send"
        );
        spool.enforce_bounds(1_800_000_000_000).unwrap();
        assert_eq!(
            spool.bytes(),
            0,
            "a segment with no dated event is dropped as too old"
        );
        spool.append(&event(1)).unwrap();
    }
}
